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
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hsmkms.app import random_uuid
from hsmkms.trail import record
from hsmkms.trail.log import EventLog, Query, Row

if TYPE_CHECKING:
    from hsmkms.context import RequestContext
    from hsmkms.errors import ServiceError
    from hsmkms.protocol.awsjson import Operation
    from hsmkms.store.base import Database

log = logging.getLogger(__name__)

KMS_PREFIX = "TrentService"
#: Flush when the oldest buffered event is this old (seconds of real time) ...
FLUSH_AGE = 1.0
#: ... or when this many events are waiting.
FLUSH_SIZE = 512
#: After a response is sent, flush when this many wait: small batches keep each flush short,
#: so no request waits long behind one (p99, docs/benchmarks.md suggestion 1).
SLICE = 32


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
        batch, self._buffer = self._buffer, []
        if not batch:
            return
        events = [self._finish(item) for item in batch]
        try:
            self._log.append(events)
        except Exception:
            # Losing trail events must never fail a request or wedge the ticker.
            log.exception("could not write %d CloudTrail events; dropped", len(events))

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
        """Tick duty: flush a batch that is old or large enough."""
        # Runs between requests (under the app lock), so a note left now belongs to a request
        # that never reached the observer (e.g. not a KMS call): drop it.
        self._notes.clear()
        if self._buffer and (len(self._buffer) >= FLUSH_SIZE
                             or time.monotonic() - self._oldest >= FLUSH_AGE):
            self.flush()

    def after_response(self) -> None:
        """Server duty after each response: write a small slice once enough is waiting."""
        if len(self._buffer) >= SLICE:
            self.flush()

    def lookup(self, query: Query) -> list[Row]:
        self.flush()
        return self._log.lookup(query)

    # -- internals ------------------------------------------------------------------------------

    def _append(self, item: record.Call | record.Event) -> None:
        if not self._buffer:
            self._oldest = time.monotonic()
        self._buffer.append(item)

    def _finish(self, item: record.Call | record.Event) -> record.Event:
        if isinstance(item, record.Event):
            return item
        op = self._operations.get(item.operation)
        return record.api_call_event(item, event_id(item.now), op.input if op else None,
                                     op.output if op else None)
