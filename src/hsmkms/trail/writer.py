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
"""

from __future__ import annotations

import logging
import os
import pickle
import select
import signal
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
#: The same batching as the writer thread's (hsmkms.trail.service).
WRITE_SIZE = 512
WRITE_AGE = 0.5

Operations = dict[str, dict[str, tuple["Node | None", "Node | None"]]]


def frame(kind: int, payload: bytes) -> bytes:
    return _HEAD.pack(kind, len(payload)) + payload


class Writer:
    def __init__(self, path: str, operations: Operations, acks: int) -> None:
        from hsmkms.store.sqlite import SqliteDatabase  # noqa: PLC0415 - only this process

        self._operations = operations
        self._acks = acks
        self._db = SqliteDatabase(path)
        self._log = EventLog(self._db)
        self._ids = IdSource()
        self._pending = Batch()
        self._since = 0.0

    def close(self) -> None:
        self._write()
        self._db.close()

    def handle(self, kind: int, payload: bytes) -> bool:
        """One frame; False once the server closed."""
        if kind == CALLS:
            self._add(pickle.loads(payload))  # noqa: S301 - from the server that started us
        else:
            self._write()
            os.write(self._acks, ACK)
            if kind == CLOSE:
                return False
        if len(self._pending.events) >= WRITE_SIZE:
            self._write()
        return True

    def wait(self) -> float | None:
        """Seconds until the pending rows are due (None: none pending)."""
        if not self._pending.events:
            return None
        return max(0.0, self._since + WRITE_AGE - time.monotonic())

    def due(self) -> None:
        if self._pending.events and time.monotonic() - self._since >= WRITE_AGE:
            self._write()

    def _add(self, items: list[record.CallFields | record.Event]) -> None:
        try:
            batch = self._log.prepare([self._finish(item) for item in items])
        except Exception:
            log.exception("could not record %d CloudTrail events; dropped", len(items))
            return
        if not self._pending.events:
            self._since = time.monotonic()
        self._pending.extend(batch)

    def _finish(self, item: record.CallFields | record.Event) -> record.Event:
        if isinstance(item, record.Event):
            return item
        call = record.Call(*item)
        nodes = self._operations.get(call.source, {}).get(call.operation, (None, None))
        return record.api_call_event(call, self._ids.event_id(call.now), *nodes)

    def _write(self) -> None:
        batch, self._pending = self._pending, Batch()
        if not batch.events:
            return
        try:
            self._log.write(batch)
        except Exception:
            log.exception("could not write %d CloudTrail events; dropped", len(batch.events))


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
