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
requests behind them), one holding the node's lock. A connection that broke is made again, and
what can safely run twice is tried once more on the new one (:class:`_Link`).
"""

from __future__ import annotations

import contextlib
import functools
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

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
T = TypeVar("T")


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


Conn = psycopg.Connection[tuple[object, ...]]


def connect(url: str) -> Conn:
    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS)
    except psycopg.Error as exc:
        raise DatabaseUnreachable(
            f"cannot connect to PostgreSQL: {' '.join(str(exc).split())}") from None


class _Link:
    """One connection, used by one caller at a time, made again once it broke (the server
    restarted, say). What was running when it broke fails, except work that may safely run
    twice (``idempotent``: reads, and writes of whole documents), tried once more on a new
    connection."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._conn = connect(url)
        self._lock = threading.Lock()

    def run(self, work: Callable[[Conn], T], *, idempotent: bool) -> T:
        with self._lock:
            if self._conn.broken or self._conn.closed:
                self._conn = connect(self._url)
            try:
                return work(self._conn)
            except psycopg.OperationalError:
                if not idempotent or not self._conn.broken:
                    raise
            self._conn = connect(self._url)
            return work(self._conn)

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class PostgresDatabase:
    def __init__(self, url: str) -> None:
        self.url = url
        #: Requests; the trail's writer thread (its batches don't wait behind requests, nor
        #: requests behind them); the node's lock, held as long as the node runs.
        self._main = _Link(url)
        self._log = _Link(url)
        self._node: Conn | None = None
        self._main.run(self._migrate, idempotent=False)

    @staticmethod
    def _lock_args(name: str) -> tuple[str, Params]:
        """The arguments of an advisory lock function for ``name`` in the current schema."""
        return ("%s, hashtext(current_schema() || %s)", (_LOCK_CLASS, "/" + name))

    def _migrate(self, c: Conn) -> None:
        args, params = self._lock_args(_MIGRATING)
        with c.transaction():
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
        rows = self._main.run(lambda c: c.execute(
            "SELECT scope, id, body FROM documents WHERE kind = %s ORDER BY created",
            (kind,)).fetchall(), idempotent=True)
        for scope, ident, body in rows:
            yield str(scope), str(ident), str(body)

    def write(self, puts: list[Row], deletes: list[tuple[str, str, str]]) -> None:
        def work(c: Conn) -> None:
            if len(puts) + len(deletes) == 1:
                # One statement is a transaction of its own: no BEGIN and COMMIT to send (most
                # requests change one document; this halves the driver's CPU for them).
                c.execute(*((_UPSERT, puts[0]) if puts else (_DELETE, deletes[0])))
                return
            with c.transaction(), c.cursor() as cur:
                if puts:
                    cur.executemany(_UPSERT, puts)
                if deletes:
                    cur.executemany(_DELETE, deletes)

        # Whole documents put or deleted: done twice, the outcome is the same.
        self._main.run(work, idempotent=True)

    def get_meta(self, key: str) -> str | None:
        row = self._main.run(lambda c: c.execute(
            "SELECT value FROM meta WHERE key = %s", (key,)).fetchone(), idempotent=True)
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self._main.run(lambda c: c.execute(
            "INSERT INTO meta (key, value) VALUES (%s, %s) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, value)),
            idempotent=True)

    def init_meta(self, key: str, value: str) -> str:
        def work(c: Conn) -> str:
            c.execute("INSERT INTO meta (key, value) VALUES (%s, %s) "
                      "ON CONFLICT (key) DO NOTHING", (key, value))
            row = c.execute("SELECT value FROM meta WHERE key = %s", (key,)).fetchone()
            assert row is not None  # just written, and never deleted
            return str(row[0])

        return self._main.run(work, idempotent=True)

    def join(self) -> bool:
        if self._node is None:
            self._node = connect(self.url)
        args, params = self._lock_args(_SERVING)
        row = self._node.execute(f"SELECT pg_try_advisory_lock({args})", params).fetchone()
        return bool(row is not None and row[0])

    def execute(self, sql: str, params: Params = ()) -> list[tuple[object, ...]]:
        """Raw access for append-only logs with their own tables (the trail); ``?``
        placeholders."""
        def work(c: Conn) -> list[tuple[object, ...]]:
            with c.cursor() as cur:
                cur.execute(placeholders(sql), params)
                return cur.fetchall() if cur.description is not None else []

        return self._main.run(work, idempotent=sql.lstrip()[:6].upper() == "SELECT")

    def executemany(self, *batches: tuple[str, list[tuple[object, ...]]]) -> None:
        def work(c: Conn) -> None:
            with c.transaction(), c.cursor() as cur:
                for sql, rows in batches:
                    if rows:
                        cur.executemany(placeholders(sql), rows)

        # Tried again on a new connection too: a batch whose COMMIT did reach the server before
        # the connection broke is refused whole the second time by a primary key (the trail's
        # events have one), so nothing is written twice, and a batch that did not is not lost.
        self._log.run(work, idempotent=True)

    def indexed(self, table: str, index: str) -> str:  # noqa: ARG002 - no hints here
        return table

    def close(self) -> None:
        if self._node is not None and not self._node.closed:
            # Before closing: the server drops a closed session's locks a moment later, and a
            # node starting in that moment must not find this one still serving.
            with contextlib.suppress(psycopg.Error):
                self._node.execute("SELECT pg_advisory_unlock_all()")
            self._node.close()
        self._main.close()
        self._log.close()
