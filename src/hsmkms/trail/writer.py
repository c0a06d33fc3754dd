"""The trail's writer process (``python -m hsmkms.trail.writer``, started by
:meth:`hsmkms.trail.service.Trail.start_writer_process`): it builds the rows of the calls the
server hands it and inserts them, with its own SQLite connection, on a core of its own.

On its standard input come frames (a kind byte, a 4-byte length, a payload): first ``SETUP``
(the database's path and, by ``eventSource``, each audited operation's request and response
shapes), then ``CALLS`` (a pickled list of :data:`~hsmkms.trail.record.CallFields` and
:class:`~hsmkms.trail.record.Event`), ``SYNC`` (commit everything so far, then write one
``ACK`` byte to standard output) and ``CLOSE`` (the same, then end). Rows are inserted in
transactions of up to ``WRITE_SIZE`` or once the oldest waited ``WRITE_AGE``. At the end of its
input (the server stopped or was killed) it writes what it was handed and ends. SIGINT and
SIGTERM, which reach the whole process group, are ignored: the server stops first and closes
the pipe.

**A database it cannot write.** The server writes the same SQLite file, so a transaction may
find it locked beyond the busy timeout (``BUSY_MS``, short: meanwhile this process reads no
frames), or fail for another passing reason (``sqlite3.OperationalError``: locked, busy, disk
I/O, disk full). Then nothing is dropped: the rows stay pending, an error is logged, and the
write is tried again after a backoff (``RETRY_FIRST`` doubling up to ``RETRY_MAX`` seconds),
frames being read meanwhile. A ``SYNC`` or ``CLOSE`` is acknowledged only once everything is
committed: it retries for up to ``SYNC_SECONDS``, and if the database still refuses, answers
``NAK`` instead of ``ACK`` (the server logs it; the rows stay pending and are retried) — a
lookup then misses them until they are written, never silently. Memory stays bounded: past
``MAX_PENDING`` rows the oldest are dropped, each time with an error naming how many; at the
end (``CLOSE``, the end of input) rows still refused are lost, with an error. Any other failure
(a row the database rejects) cannot be cured by retrying: logged with its traceback, dropped.
"""

from __future__ import annotations

import logging
import os
import pickle
import select
import signal
import sqlite3
import struct
import sys
import time
from typing import TYPE_CHECKING

from hsmkms.ids import IdSource
from hsmkms.trail import record
from hsmkms.trail.log import Batch, EventLog

if TYPE_CHECKING:
    from hsmkms.protocol.model import Node

log = logging.getLogger("hsmkms.trail.writer")

_HEAD = struct.Struct("<BI")
SETUP, CALLS, SYNC, CLOSE = 1, 2, 3, 4
ACK = b"1"
#: Answers a SYNC or CLOSE when the database refused the rows for SYNC_SECONDS (kept, retried).
NAK = b"0"
#: The same batching as the writer thread's (hsmkms.trail.service).
WRITE_SIZE = 512
WRITE_AGE = 0.5
#: This process's SQLite busy timeout (ms) and its retries of a refused transaction (seconds);
#: a SYNC retries this long at most (the server waits ACK_SECONDS, more than this plus one
#: busy timeout); and the most rows kept unwritten.
BUSY_MS = 1000
RETRY_FIRST = 0.05
RETRY_MAX = 2.0
SYNC_SECONDS = 5.0
MAX_PENDING = 200_000

Operations = dict[str, dict[str, tuple["Node | None", "Node | None"]]]


def frame(kind: int, payload: bytes) -> bytes:
    return _HEAD.pack(kind, len(payload)) + payload


class Writer:
    def __init__(self, path: str, operations: Operations, acks: int, *,
                 busy_ms: int = BUSY_MS, sync_seconds: float = SYNC_SECONDS,
                 max_pending: int = MAX_PENDING) -> None:
        from hsmkms.store.sqlite import SqliteDatabase  # noqa: PLC0415 - only this process

        self._operations = operations
        self._acks = acks
        self._db = SqliteDatabase(path)
        self._db.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
        self._sync_seconds = sync_seconds
        self._max_pending = max_pending
        self._log = EventLog(self._db)
        self._ids = IdSource()
        self._pending = Batch()
        self._since = 0.0
        #: While the database refuses the pending rows: when to try again, and the next wait.
        self._retry_at: float | None = None
        self._backoff = RETRY_FIRST

    def close(self) -> None:
        if not self._write_within(self._sync_seconds):
            log.error("could not write %d CloudTrail events before ending; lost",
                      len(self._pending.events))
        self._db.close()

    def handle(self, kind: int, payload: bytes) -> bool:
        """One frame; False once the server closed."""
        if kind == CALLS:
            self._add(pickle.loads(payload))  # noqa: S301 - from the server that started us
        else:
            # Acknowledged only once committed (NAK: refused for now, kept and retried).
            os.write(self._acks, ACK if self._write_within(self._sync_seconds) else NAK)
            if kind == CLOSE:
                return False
        if len(self._pending.events) >= WRITE_SIZE and self._retry_at is None:
            self._write()
        return True

    def wait(self) -> float | None:
        """Seconds until the pending rows are due (None: none pending)."""
        if not self._pending.events:
            return None
        due = self._since + WRITE_AGE if self._retry_at is None else self._retry_at
        return max(0.0, due - time.monotonic())

    def due(self) -> None:
        if self._pending.events:
            wait = self.wait()
            if wait is not None and wait <= 0:
                self._write()

    @property
    def pending(self) -> int:
        """Rows not written yet."""
        return len(self._pending.events)

    def _write_within(self, seconds: float) -> bool:
        """Write everything pending, retrying a refusal for up to ``seconds``; whether all is
        committed."""
        deadline = time.monotonic() + seconds
        while not self._write():
            now = time.monotonic()
            if now >= deadline:
                return False
            retry_at = self._retry_at if self._retry_at is not None else now
            time.sleep(max(0.0, min(retry_at, deadline) - now))
        return True

    def _add(self, items: list[record.CallFields | record.Event]) -> None:
        try:
            batch = self._log.prepare([e for item in items for e in self._finish(item)])
        except Exception:
            log.exception("could not record %d CloudTrail events; dropped", len(items))
            return
        if not self._pending.events:
            self._since = time.monotonic()
        self._pending.extend(batch)
        if self._retry_at is not None:  # the database refuses rows: keep them bounded
            self._bound()

    def _finish(self, item: record.CallFields | record.Event) -> list[record.Event]:
        if isinstance(item, record.Event):
            return [item]
        call = record.Call(*item)
        nodes = self._operations.get(call.source, {}).get(call.operation, (None, None))
        return record.api_call_events(call, lambda: self._ids.event_id(call.now), *nodes)

    def _write(self) -> bool:
        """Insert the pending rows; whether nothing is pending any more (False: the database
        refused them for now, kept for a retry after the backoff)."""
        batch = self._pending
        if not batch.events:
            return True
        refused: sqlite3.OperationalError | None = None
        try:
            self._log.write(batch)
        except sqlite3.OperationalError as exc:  # locked, busy, disk I/O, disk full
            refused = exc
        except Exception:
            log.exception("could not write %d CloudTrail events; dropped", len(batch.events))
        if refused is not None:
            self._retry_at = time.monotonic() + self._backoff
            log.error("could not write %d CloudTrail events (%s); kept, retrying in %.2f s",
                      len(batch.events), refused, self._backoff)
            self._backoff = min(self._backoff * 2, RETRY_MAX)
            self._bound()
            return False
        self._pending = Batch()
        self._retry_at, self._backoff = None, RETRY_FIRST
        return True

    def _bound(self) -> None:
        bound(self._pending, self._max_pending)


def bound(batch: Batch, most: int) -> None:
    """Drop the oldest rows of ``batch`` past ``most`` (with their resource rows), saying so."""
    events = batch.events
    excess = len(events) - most
    if excess <= 0:
        return
    last = events[excess - 1][0]
    del events[:excess]
    batch.resources = [row for row in batch.resources if row[0] > last]  # type: ignore[operator]
    batch.usage = {k: use for k, use in batch.usage.items()
                   if use[0] > last}  # type: ignore[operator]
    log.error("the database refused CloudTrail events for too long: dropped the %d oldest of "
              "them (at most %d are kept)", excess, most)


def serve(calls: int, acks: int) -> None:
    """Read frames from ``calls`` until CLOSE or its end."""
    reader = _Reader(acks)
    try:
        while True:
            writer = reader.writer
            if not select.select([calls], [], [], writer.wait() if writer else None)[0]:
                if writer is not None:
                    writer.due()
                continue
            data = os.read(calls, 1 << 20)
            if not data or not reader.feed(data):
                return  # closed, or the server is gone: write what it handed over (finally)
    finally:
        if reader.writer is not None:
            reader.writer.close()


class _Reader:
    def __init__(self, acks: int) -> None:
        self._acks = acks
        self._buf = bytearray()
        self.writer: Writer | None = None

    def feed(self, data: bytes) -> bool:
        """Handle the whole frames received so far; False once the server closed."""
        buf = self._buf
        buf += data
        start = 0
        while len(buf) - start >= _HEAD.size:
            kind, size = _HEAD.unpack_from(buf, start)
            end = start + _HEAD.size + size
            if len(buf) < end:
                break
            payload = bytes(buf[start + _HEAD.size:end])
            start = end
            if kind == SETUP:
                path, operations = pickle.loads(payload)  # noqa: S301 - our server's
                self.writer = Writer(path, operations, self._acks)
            elif self.writer is not None and not self.writer.handle(kind, payload):
                return False
        del buf[:start]
        if self.writer is not None:
            self.writer.due()
        return True


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(level=logging.WARNING, format="hsmkms trail writer: %(message)s")
    serve(sys.stdin.fileno(), sys.stdout.fileno())
    return 0


if __name__ == "__main__":
    sys.exit(main())
