"""One migration history for every dialect.

The scripts in ``migrations/`` are numbered (``NNNN_name.sql``) and applied in order, once each;
each dialect records the numbers it applied in its ``schema_migrations`` table. A script is
written in the SQL both dialects accept. Where they differ, a line ``-- dialect: <name>`` starts
a part that only that dialect runs (``sqlite`` or ``postgresql``), and ``-- dialect: all`` ends
it; column types are mapped by the dialect's class (PostgreSQL's ``INTEGER`` is 32 bits, so it
reads ``BIGINT`` there: SQLite's are 64).
"""

from __future__ import annotations

import re
import sqlite3
from importlib import resources

_MARKER = re.compile(r"^--\s*dialect:\s*(\w+)\s*$")
DIALECTS = ("sqlite", "postgresql")


def migrations(dialect: str = "sqlite") -> list[tuple[int, str]]:
    """``(version, script)`` of every migration, in order, with only the parts ``dialect`` runs
    (a version whose script has none for it is still listed, and recorded as applied)."""
    if dialect not in DIALECTS:
        raise ValueError(f"unknown dialect {dialect!r}")
    folder = resources.files("hsmkms.store") / "migrations"
    return sorted((int(entry.name.split("_", 1)[0]), for_dialect(entry.read_text(), dialect))
                  for entry in folder.iterdir() if entry.name.endswith(".sql"))


def for_dialect(script: str, dialect: str) -> str:
    """The lines of ``script`` that ``dialect`` runs (see the module docstring)."""
    kept: list[str] = []
    current = "all"
    for line in script.splitlines(keepends=True):
        marker = _MARKER.match(line.strip())
        if marker is not None:
            current = marker.group(1)
            if current not in (*DIALECTS, "all"):
                raise ValueError(f"unknown dialect {current!r} in a migration")
            continue
        if current in ("all", dialect):
            kept.append(line)
    return "".join(kept)


def statements(sql: str) -> list[str]:
    """Split a migration script into statements; a ``;`` inside a comment or a string literal
    does not end a statement (``sqlite3.complete_statement`` knows the tokens, which are the
    same in PostgreSQL's SQL for what the scripts use: quotes, ``--`` and ``/* */``)."""
    found: list[str] = []
    pending = ""
    for line in sql.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            found.append(pending.strip())
            pending = ""
    if pending.strip() and any(not ln.strip().startswith("--") and ln.strip()
                               for ln in pending.splitlines()):
        found.append(pending.strip())  # a last statement without ';': let the database judge it
    return found
