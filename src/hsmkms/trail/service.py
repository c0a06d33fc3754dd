"""The trail service (``app.trail``): records KMS calls and KMS service events, flushes them to
the event history in batches, and answers lookups.

Other packages use three methods:

* ``note(request_id, *, additional_event_data=None, resources=None)`` during a KMS request, to
  add ``additionalEventData`` members and key ARNs to that request's event;
* ``record_service_event(scope, event_name, now, *, resources, additional_event_data=None,
  response_elements=None) -> event id`` for events KMS causes itself, e.g. at the end of a
  deletion waiting period::

      app.trail.record_service_event(scope, "DeleteKey", now, resources=[key.arn],
                                     response_elements={"keyId": key.arn},
                                     additional_event_data={...})  # CloudHSM keys only

* ``flush()`` to write everything recorded so far.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hsmkms.app import random_uuid
from hsmkms.trail import record
from hsmkms.trail.log import Batch, EventLog, Query, Row

if TYPE_CHECKING:
    from hsmkms.context import RequestContext
    from hsmkms.errors import ServiceError
    from hsmkms.protocol.awsjson import Operation
    from hsmkms.store.base import Database

log = logging.getLogger(__name__)

KMS_PREFIX = "TrentService"
#: Calls are turned into rows (on the request thread, under the app lock) once this many wait
#: after a response, or on a tick once the oldest is this old (seconds of real time) ...
SLICE = 32
PREPARE_AGE = 0.25
#: ... and the writer thread inserts the rows once this many wait, or once the oldest row has
#: waited this long: big transactions cost far less per event than small ones (10 against 21
#: CPU µs for 512 against 32; docs/benchmarks.md), and SQLite runs without the GIL, so the
#: event loop goes on serving meanwhile.
WRITE_SIZE = 512
WRITE_AGE = 0.5


def event_id(now: float) -> str:
    """A version-4 UUID whose first 32 bits are the event's second: ids of new events land at
    the end of the event id index instead of at random places in it (a random key costs every
    insert several times more as the history grows; docs/benchmarks.md)."""
    return random_uuid(int(now))


class _Note:
    __slots__ = ("extra", "resources")

    def __init__(self) -> None:
        self.extra: dict[str, Any] = {}
        self.resources: list[str] = []


class Trail:
    def __init__(self, db: Database, kms_operations: Mapping[str, Operation]) -> None:
        self._log = EventLog(db)
        self._operations = kms_operations
        self._buffer: list[record.Call | record.Event] = []
        self._oldest = 0.0
        self._notes: dict[str, _Note] = {}
        #: Prepared rows for the writer, guarded by ``_ready_cond``.
        self._ready = Batch()
        self._ready_since = 0.0
        self._ready_cond = threading.Condition()
        #: Held while rows are taken from ``_ready`` and written: rows go in in order.
        self._write_lock = threading.Lock()
        self._closed = False
        self._writer = threading.Thread(target=self._write_forever, name="hsmkms-trail",
                                        daemon=True)
        self._writer.start()

    # -- the API other packages call ----------------------------------------------------------

    def note(self, request_id: str, *, additional_event_data: dict[str, Any] | None = None,
             resources: list[str] | None = None) -> None:
        entry = self._notes.get(request_id)
        if entry is None:
            entry = self._notes[request_id] = _Note()
        if additional_event_data:
            entry.extra.update(additional_event_data)
        if resources:
            entry.resources.extend(resources)

    def record_service_event(self, scope: str, event_name: str, now: float, *,
                             resources: list[str],
                             additional_event_data: dict[str, Any] | None = None,
                             response_elements: dict[str, Any] | None = None) -> str:
        ident = event_id(now)
        self._append(record.service_event(
            scope, event_name, now, ident, resources=resources,
            additional_event_data=additional_event_data, response_elements=response_elements))
        return ident

    def flush(self) -> None:
        """Write everything recorded so far before returning (lookups, close)."""
        self._prepare()
        self._write_ready()

    def close(self) -> None:
        with self._ready_cond:
            self._closed = True
            self._ready_cond.notify()
        self._writer.join(timeout=10)
        self.flush()

    # -- wiring ---------------------------------------------------------------------------------

    def observe(self, ctx: RequestContext, prefix: str, operation: str, params: dict[str, Any],
                result: dict[str, Any] | None, error: ServiceError | None) -> None:
        """The app's call observer: cheap, it only keeps what the record will need."""
        if prefix != KMS_PREFIX or operation not in self._operations:
            return
        extra: Mapping[str, Any] | None = None
        noted: tuple[str, ...] = ()
        entry = self._notes.pop(ctx.request_id, None) if self._notes else None
        if entry is not None:
            extra, noted = entry.extra, tuple(entry.resources)
        self._append(record.Call(
            ctx.account, ctx.region, ctx.request_id, ctx.now, ctx.access_key_id, ctx.source_ip,
            ctx.user_agent, operation, params, result,
            None if error is None else error.code(), None if error is None else error.message,
            extra, noted))

    def background(self) -> None:
        """Tick duty: prepare the calls that have waited long enough."""
        # Runs between requests (under the app lock), so a note left now belongs to a request
        # that never reached the observer (e.g. not a KMS call): drop it.
        self._notes.clear()
        if self._buffer and (len(self._buffer) >= WRITE_SIZE
                             or time.monotonic() - self._oldest >= PREPARE_AGE):
            self._prepare()

    def after_response(self) -> None:
        """Server duty after each response: prepare a small slice once enough is waiting."""
        if len(self._buffer) >= SLICE:
            self._prepare()

    def lookup(self, query: Query) -> list[Row]:
        self.flush()
        return self._log.lookup(query)

    # -- internals ------------------------------------------------------------------------------

    def _append(self, item: record.Call | record.Event) -> None:
        if not self._buffer:
            self._oldest = time.monotonic()
        self._buffer.append(item)

    def _prepare(self) -> None:
        """Turn the buffered calls into rows for the writer (caller holds the app lock)."""
        calls, self._buffer = self._buffer, []
        if not calls:
            return
        try:
            batch = self._log.prepare([self._finish(item) for item in calls])
        except Exception:
            # Losing trail events must never fail a request or wedge the ticker.
            log.exception("could not record %d CloudTrail events; dropped", len(calls))
            return
        with self._ready_cond:
            if not self._ready.events:
                self._ready_since = time.monotonic()
            self._ready.extend(batch)
            if len(self._ready.events) >= WRITE_SIZE:
                self._ready_cond.notify()

    def _write_due(self) -> bool:
        return len(self._ready.events) >= WRITE_SIZE or (
            bool(self._ready.events) and time.monotonic() - self._ready_since >= WRITE_AGE)

    def _write_forever(self) -> None:
        while True:
            with self._ready_cond:
                while not self._closed and not self._write_due():
                    self._ready_cond.wait(WRITE_AGE / 2)
                if self._closed:
                    return
            self._write_ready()

    def _write_ready(self) -> None:
        with self._write_lock:
            with self._ready_cond:
                batch, self._ready = self._ready, Batch()
            if not batch.events:
                return
            try:
                self._log.write(batch)
            except Exception:
                log.exception("could not write %d CloudTrail events; dropped",
                              len(batch.events))

    def _finish(self, item: record.Call | record.Event) -> record.Event:
        if isinstance(item, record.Event):
            return item
        op = self._operations.get(item.operation)
        return record.api_call_event(item, event_id(item.now), op.input if op else None,
                                     op.output if op else None)
