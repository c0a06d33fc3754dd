"""Which :class:`~hsmkms.store.base.Database` a node opens: SQLite in its data dir unless it is
given a PostgreSQL URL."""

from __future__ import annotations

import urllib.parse
from pathlib import Path

from hsmkms.store.base import Database, StoreRefused
from hsmkms.store.sqlite import SqliteDatabase


def open_database(url: str, data_dir: Path) -> Database:
    """``url``: a libpq URL (``postgresql://...``), or empty for ``<data_dir>/hsmkms.db``."""
    if not url:
        return SqliteDatabase(data_dir / "hsmkms.db")
    try:
        from hsmkms.store.postgres import PostgresDatabase  # noqa: PLC0415 - an optional extra
    except ImportError:
        raise StoreRefused("a postgresql:// database needs the PostgreSQL driver: "
                           "pip install 'hsmkms[postgres]'") from None
    return PostgresDatabase(url)


def describe(url: str, data_dir: Path) -> str:
    """Where the state is, for messages (a URL without its password)."""
    return redacted(url) if url else str(data_dir)


def _password_params(query: str) -> bool:
    return any(name.strip().lower() == "password"
               for name, _, _ in (part.partition("=") for part in query.split("&")))


def has_password(url: str) -> bool:
    """Whether the URL carries a password (``user:password@`` or a ``password=`` parameter)."""
    parts = urllib.parse.urlsplit(url)
    return parts.password is not None or _password_params(parts.query)


def redacted(url: str) -> str:
    """The URL without its password (``user:password@`` or ``?password=``), to show in
    messages and logs."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is not None:
        host = parts.hostname or ""
        netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
        parts = parts._replace(netloc=netloc)
    if _password_params(parts.query):
        query = "&".join(
            f"{name}=***" if name.strip().lower() == "password" else f"{name}{eq}{value}"
            for name, eq, value in (part.partition("=") for part in parts.query.split("&")))
        parts = parts._replace(query=query)
    return urllib.parse.urlunsplit(parts)
