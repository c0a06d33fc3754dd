"""PostgreSQL, for a database kept apart from the node (``hsmkms serve --database
postgresql://user@host:port/dbname``), through psycopg 3 (the ``postgres`` extra).

What differs from SQLite is kept here, behind the same :class:`~hsmkms.store.base.Database`:

* placeholders: callers of :meth:`PostgresDatabase.execute` write ``?``, psycopg wants ``%s``;
* types: the migrations' ``INTEGER`` is 64 bits in SQLite and 32 here, so it reads ``BIGINT``
  (``REAL``: ``DOUBLE PRECISION``); creation order is an identity column (migration 0004);
* no planner hints (:meth:`PostgresDatabase.indexed`): PostgreSQL's planner keeps statistics;
* start-up: several nodes may start at once, so the migrations run in one transaction under a
  transaction-level advisory lock (the others wait, then find nothing left to do);
* nodes: :meth:`PostgresDatabase.join` takes a session-level advisory lock on a connection of
  its own, held until the node closes or dies (PostgreSQL drops it with the connection).

The tables live in the first schema of the connection's ``search_path`` (``public`` unless
the URL says ``?options=-csearch_path%3Dname``): one database can hold several hsmkms
deployments, one schema each, and every lock is taken per schema.

Every commit is durable once it returns (PostgreSQL's default ``synchronous_commit``).
Connections are used one statement or transaction at a time, under a lock each: one for the
request path, one for the trail's writer thread (its batches don't wait behind requests, nor
requests behind them), one holding the node's lock.
"""

from __future__ import annotations

import contextlib
import functools
import re
import threading
import time
from collections.abc import Iterator

import psycopg

from hsmkms.store.base import Row, StoreRefused
from hsmkms.store.migrate import migrations, statements

#: Advisory lock ids (``pg_advisory_*lock(int, int)``): this constant, and a hash of the schema.
_LOCK_CLASS = 0x686B6D73  # "hkms"
_MIGRATING = "migrate"
_SERVING = "serve"
#: PostgreSQL's types for the migrations' SQLite ones.
_TYPES = {"INTEGER": "BIGINT", "REAL": "DOUBLE PRECISION"}
_TYPE_NAMES = re.compile(r"\b(INTEGER|REAL)\b")
CONNECT_TIMEOUT_SECONDS = 10
_UPSERT = ("INSERT INTO documents (kind, scope, id, body) VALUES (%s, %s, %s, %s) "
           "ON CONFLICT (kind, scope, id) DO UPDATE SET body = excluded.body")
_DELETE = "DELETE FROM documents WHERE kind = %s AND scope = %s AND id = %s"

Params = tuple[object, ...]


class DatabaseUnreachable(StoreRefused):
    """No connection to the PostgreSQL server could be made."""


@functools.lru_cache(maxsize=256)
def placeholders(sql: str) -> str:
    """``sql`` with ``?`` placeholders in psycopg's style (``%s``; a ``%`` of the SQL itself
    doubled), leaving string literals and quoted names alone."""
    out: list[str] = []
    quote = ""
    for char in sql:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "?":
            out.append("%s")
            continue
        if char == "%":
            out.append("%%")
            continue
        out.append(char)
    return "".join(out)


def schema_sql(sql: str) -> str:
    """A migration statement with PostgreSQL's column types."""
    return _TYPE_NAMES.sub(lambda m: _TYPES[m.group(1)], sql)


class PostgresDatabase:
    def __init__(self, url: str) -> None:
        self.url = url
        self._conn = self._connect()
        self._lock = threading.Lock()
        self._log_conn = self._connect()
        self._log_lock = threading.Lock()
        self._node: psycopg.Connection[tuple[object, ...]] | None = None
        self._migrate()

    def _connect(self) -> psycopg.Connection[tuple[object, ...]]:
        try:
            return psycopg.connect(self.url, autocommit=True,
                                   connect_timeout=CONNECT_TIMEOUT_SECONDS)
        except psycopg.Error as exc:
            raise DatabaseUnreachable(
                f"cannot connect to PostgreSQL: {' '.join(str(exc).split())}") from None

    def _lock_args(self, name: str) -> tuple[str, Params]:
        """The arguments of an advisory lock function for ``name`` in the current schema."""
        return ("%s, hashtext(current_schema() || %s)", (_LOCK_CLASS, "/" + name))

    def _migrate(self) -> None:
        c = self._conn
        args, params = self._lock_args(_MIGRATING)
        with self._lock, c.transaction():
            if c.execute("SELECT current_schema()").fetchone() in (None, (None,)):
                raise StoreRefused("the connection's search_path names no schema that exists")
            c.execute(f"SELECT pg_advisory_xact_lock({args})", params)
            c.execute("CREATE TABLE IF NOT EXISTS schema_migrations "
                      "(version BIGINT PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)")
            done = {row[0] for row in c.execute("SELECT version FROM schema_migrations")}
            for version, sql in migrations("postgresql"):
                if version in done:
                    continue
                for statement in statements(sql):
                    c.execute(schema_sql(statement))
                c.execute("INSERT INTO schema_migrations VALUES (%s, %s)", (version, time.time()))

    def load(self, kind: str) -> Iterator[tuple[str, str, str]]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT scope, id, body FROM documents WHERE kind = %s ORDER BY created",
                (kind,)).fetchall()
        for scope, ident, body in rows:
            yield str(scope), str(ident), str(body)

    def write(self, puts: list[Row], deletes: list[tuple[str, str, str]]) -> None:
        with self._lock:
            if len(puts) + len(deletes) == 1:
                # One statement is a transaction of its own: no BEGIN and COMMIT to send (most
                # requests change one document; this halves the driver's CPU for them).
                self._conn.execute(*((_UPSERT, puts[0]) if puts else (_DELETE, deletes[0])))
                return
            with self._conn.transaction(), self._conn.cursor() as cur:
                if puts:
                    cur.executemany(_UPSERT, puts)
                if deletes:
                    cur.executemany(_DELETE, deletes)

    def get_meta(self, key: str) -> str | None:
        with self._lock:
            row = self._conn.execute("SELECT value FROM meta WHERE key = %s", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT INTO meta (key, value) VALUES (%s, %s) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, value))

    def init_meta(self, key: str, value: str) -> str:
        with self._lock:
            self._conn.execute("INSERT INTO meta (key, value) VALUES (%s, %s) "
                               "ON CONFLICT (key) DO NOTHING", (key, value))
            row = self._conn.execute("SELECT value FROM meta WHERE key = %s", (key,)).fetchone()
        assert row is not None  # just written, and never deleted
        return str(row[0])

    def join(self) -> bool:
        if self._node is None:
            self._node = self._connect()
        args, params = self._lock_args(_SERVING)
        row = self._node.execute(f"SELECT pg_try_advisory_lock({args})",
                                 params).fetchone()
        return bool(row is not None and row[0])

    def execute(self, sql: str, params: Params = ()) -> list[tuple[object, ...]]:
        """Raw access for append-only logs with their own tables (the trail); ``?``
        placeholders."""
        with self._lock, self._conn.cursor() as cur:
            cur.execute(placeholders(sql), params)
            return cur.fetchall() if cur.description is not None else []

    def executemany(self, *batches: tuple[str, list[tuple[object, ...]]]) -> None:
        with self._log_lock, self._log_conn.transaction(), self._log_conn.cursor() as cur:
            for sql, rows in batches:
                if rows:
                    cur.executemany(placeholders(sql), rows)

    def indexed(self, table: str, index: str) -> str:  # noqa: ARG002 - no hints here
        return table

    def close(self) -> None:
        if self._node is not None and not self._node.closed:
            # Before closing: the server drops a closed session's locks a moment later, and a
            # node starting in that moment must not find this one still serving.
            with contextlib.suppress(psycopg.Error):
                self._node.execute("SELECT pg_advisory_unlock_all()")
        for conn in (self._conn, self._log_conn, self._node):
            if conn is not None:
                conn.close()
