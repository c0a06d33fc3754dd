"""SQLite, the default database: one file in the data dir, WAL, one writer.

``synchronous=NORMAL`` in WAL mode makes every committed transaction survive a crash of the
process (``kill -9``); only an operating-system crash or power loss could lose the last ones.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from hsmkms.store.base import Row
from hsmkms.store.migrate import migrations, statements

#: executemany inserts this many rows at a time and then yields the CPU: a big transaction of
#: the trail writer's (cheaper per row) then never keeps a busy core from the event loop for
#: more than a fraction of a millisecond (p99 4-5 ms -> about 2 ms; docs/benchmarks.md).
_CHUNK = 32
#: Past this size, the WAL is truncated once writes pause (a burst otherwise leaves the file at
#: its largest for ever: a passive checkpoint reuses it from the start but never shrinks it).
WAL_LIMIT_BYTES = 4 * 1024 * 1024
#: How often the checkpointer looks (seconds).
CHECKPOINT_SECONDS = 1.0


#: The database and its companions hold sealed secrets and every key's metadata: owner only.
PRIVATE = 0o600
COMPANIONS = ("", "-wal", "-shm", "-journal")


def make_private(path: Path | str) -> None:
    """Create the database file mode 0600 before SQLite opens it (SQLite gives the WAL and
    SHM files the database file's mode, whatever the umask), and bring files an older
    version or a copy left more open back to 0600."""
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE))
    for suffix in COMPANIONS:
        with contextlib.suppress(FileNotFoundError):
            Path(f"{path}{suffix}").chmod(PRIVATE)


class SqliteDatabase:
    def __init__(self, path: Path | str) -> None:
        self._lock = threading.Lock()
        make_private(path)
        self._conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA busy_timeout=5000")
        # Checkpoints fsync; inside a COMMIT on the request path they stall it for 10-17 ms
        # (docs/benchmarks.md). A thread with its own connection checkpoints once a second.
        self._conn.execute("PRAGMA wal_autocheckpoint=0")
        #: Write transactions so far: the checkpointer truncates only when none came for a round.
        self._writes = 0
        self._migrate()
        self._path = str(path)
        self._stop = threading.Event()
        self._checkpointer = threading.Thread(target=self._checkpoint_forever,
                                              name="hsmkms-wal-checkpoint", daemon=True)
        self._checkpointer.start()

    def _checkpoint_forever(self) -> None:
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        wal = Path(self._path + "-wal")
        try:
            conn.execute("PRAGMA busy_timeout=5000")
            last = -1
            while not self._stop.wait(CHECKPOINT_SECONDS):
                size = wal.stat().st_size if wal.exists() else 0
                # Truncating makes writers wait: only once a burst is over (no write for a whole
                # round; a WAL reused from its start keeps its size under steady writes), and
                # only when the file is big; otherwise a passive checkpoint.
                idle = self._writes == last
                last = self._writes
                mode = "TRUNCATE" if size > WAL_LIMIT_BYTES and idle else "PASSIVE"
                try:
                    conn.execute(f"PRAGMA wal_checkpoint({mode})")
                except sqlite3.Error:
                    continue  # busy or closing: the next round will do it
        finally:
            conn.close()

    def _migrate(self) -> None:
        c = self._conn
        c.execute("CREATE TABLE IF NOT EXISTS schema_migrations "
                  "(version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)")
        done = {v for (v,) in c.execute("SELECT version FROM schema_migrations")}
        for version, sql in migrations("sqlite"):
            if version in done:
                continue
            c.execute("BEGIN IMMEDIATE")  # another process starting at once waits here ...
            try:
                if c.execute("SELECT 1 FROM schema_migrations WHERE version = ?",
                             (version,)).fetchone():  # ... and finds it applied
                    c.execute("COMMIT")
                    continue
                for statement in statements(sql):
                    c.execute(statement)
                c.execute("INSERT INTO schema_migrations VALUES (?, ?)", (version, time.time()))
                c.execute("COMMIT")
            except BaseException:
                c.execute("ROLLBACK")
                raise

    def load(self, kind: str) -> Iterator[tuple[str, str, str]]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT scope, id, body FROM documents WHERE kind = ? ORDER BY rowid", (kind,)
            ).fetchall()
        yield from rows

    def write(self, puts: list[Row], deletes: list[tuple[str, str, str]]) -> None:
        with self._lock:
            self._writes += 1
            c = self._conn
            c.execute("BEGIN IMMEDIATE")
            try:
                if puts:
                    c.executemany(
                        "INSERT INTO documents (kind, scope, id, body) VALUES (?, ?, ?, ?) "
                        "ON CONFLICT (kind, scope, id) DO UPDATE SET body = excluded.body", puts)
                if deletes:
                    c.executemany(
                        "DELETE FROM documents WHERE kind = ? AND scope = ? AND id = ?", deletes)
                c.execute("COMMIT")
            except BaseException:
                c.execute("ROLLBACK")
                raise

    def get_meta(self, key: str) -> str | None:
        with self._lock:
            row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, value))

    def init_meta(self, key: str, value: str) -> str:
        with self._lock:
            self._conn.execute("INSERT INTO meta (key, value) VALUES (?, ?) "
                               "ON CONFLICT (key) DO NOTHING", (key, value))
            row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0])

    def join(self) -> bool:
        # One process per data dir: it is always the first (and only) node.
        return True

    def execute(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        """Raw access for append-only logs with their own tables (the trail)."""
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def executemany(self, *batches: tuple[str, list[tuple[object, ...]]]) -> None:
        # Called by the trail's writer thread; SQLite runs without the GIL.
        with self._lock:
            self._writes += 1
            c = self._conn
            c.execute("BEGIN IMMEDIATE")
            try:
                for sql, rows in batches:
                    for start in range(0, len(rows), _CHUNK):
                        c.executemany(sql, rows[start:start + _CHUNK])
                        os.sched_yield()
                c.execute("COMMIT")
            except BaseException:
                c.execute("ROLLBACK")
                raise

    def indexed(self, table: str, index: str) -> str:
        # Without statistics SQLite would rather walk another index (the time index) even for
        # a rare value; the hint names the one to use.
        return f"{table} INDEXED BY {index}"

    def close(self) -> None:
        self._stop.set()
        self._checkpointer.join(timeout=5)
        with self._lock:
            with contextlib.suppress(sqlite3.Error):  # the WAL stays valid: replayed at start
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._conn.close()
