"""The trail service (``app.trail``): records API calls (KMS, CloudHSM, EC2) and the events
services raise themselves, flushes them to the event history in batches, and answers lookups.

* :meth:`Trail.record_call` is the envelope's :class:`~hsmkms.envelope.CallRecorder`: it runs
  after the call's unit of work has ended, so a call is recorded as it was committed. What a
  call's event carries beyond its request and response comes from ``ctx.audit``.
* :meth:`Trail.record_service_event` (the :class:`~hsmkms.audit.AuditLog` port) for events a
  service causes itself, e.g. ``DeleteKey`` at the end of a waiting period; inside a unit of
  work the event is kept only if that unit of work commits::

      trail.record_service_event(scope, "DeleteKey", due, resources=[key.arn],
                                 response_elements={"keyId": key.arn})

* :meth:`Trail.flush` writes everything recorded so far.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from hsmkms.trail import record
from hsmkms.trail.log import Batch, EventLog, Query, Row

if TYPE_CHECKING:
    from hsmkms.context import RequestContext
    from hsmkms.envelope import Exchange
    from hsmkms.errors import ServiceError
    from hsmkms.ids import IdSource
    from hsmkms.protocol.model import Node
    from hsmkms.store.base import Database

log = logging.getLogger(__name__)

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


class HasNodes(Protocol):
    """An operation of a compiled service model (JSON or query protocol)."""

    @property
    def input(self) -> Node | None: ...

    @property
    def output(self) -> Node | None: ...


@dataclass(frozen=True, slots=True)
class Audited:
    """A service whose calls become events: its ``eventSource`` and its operations (their
    request and response shapes say what the event may log)."""

    source: str
    operations: Mapping[str, HasNodes]


#: ``eventSource`` of each audited service, by signing name (CloudHSM User Guide, "Logging
#: AWS CloudHSM API calls with AWS CloudTrail": cloudhsm.amazonaws.com; EC2's is
#: ec2.amazonaws.com).
SOURCES = {"kms": record.KMS_SOURCE, "cloudhsm": "cloudhsm.amazonaws.com",
           "ec2": "ec2.amazonaws.com"}
AfterCommit = Callable[[Callable[[], None]], None]


#: Errors whose events carry another code than the API's: KMS's authorization failures are
#: recorded as ``AccessDenied`` (spec authz.md §6, §10 Q14: the only captured value).
TRAIL_CODES = {"AccessDeniedException": "AccessDenied"}


def _error_code(source: str, error: ServiceError) -> str:
    """EC2's events name the party at fault before the code (``Client.UnauthorizedOperation``,
    ``Server.InternalError``), as EC2's SOAP-era error codes did; other services' do not."""
    if source == SOURCES["ec2"]:
        return ("Server." if error.fault else "Client.") + error.code()
    code = error.code()
    return TRAIL_CODES.get(code, code)


class Trail:
    def __init__(self, db: Database, ids: IdSource, after_commit: AfterCommit,
                 services: Mapping[str, Audited], *,
                 monotonic: Callable[[], float] = time.monotonic, writer: bool = True) -> None:
        """``services``: the audited services by signing name; ``monotonic``: the clock that
        ages buffers (tests pass their own); ``writer``: start the writer thread (tests that
        drive :meth:`write_if_due` themselves pass False)."""
        self._log = EventLog(db)
        self._ids = ids
        self._after_commit = after_commit
        self._services: dict[str, Audited] = {}
        self._by_source: dict[str, Audited] = {}
        for name, audited in services.items():
            self.audit(name, audited)
        self._monotonic = monotonic
        self._buffer: list[record.Call | record.Event] = []
        self._oldest = 0.0
        #: Prepared rows for the writer, guarded by ``_ready_cond``.
        self._ready = Batch()
        self._ready_since = 0.0
        self._ready_cond = threading.Condition()
        #: Held while rows are taken from ``_ready`` and written: rows go in in order.
        self._write_lock = threading.Lock()
        self._closed = False
        self._writer: threading.Thread | None = None
        if writer:
            self._writer = threading.Thread(target=self._write_forever, name="hsmkms-trail",
                                            daemon=True)
            self._writer.start()

    def audit(self, name: str, audited: Audited) -> None:
        """Record the calls of the service signed as ``name`` (KMS joins once it is built with
        this trail as its :class:`~hsmkms.audit.AuditLog`)."""
        self._services[name] = audited
        self._by_source[audited.source] = audited

    # -- the API other packages call ----------------------------------------------------------

    def record_service_event(self, scope: str, event_name: str, when: float, *,
                             resources: list[str],
                             additional_event_data: dict[str, Any] | None = None,
                             response_elements: dict[str, Any] | None = None) -> None:
        """Record an event a service raises itself, dated ``when``; inside a unit of work, only
        once it commits."""
        ident = self._ids.event_id(when)
        event = record.service_event(
            scope, event_name, when, ident, resources=resources,
            additional_event_data=additional_event_data, response_elements=response_elements)
        self._after_commit(lambda: self._append(event))

    def flush(self) -> None:
        """Write everything recorded so far before returning (lookups, close)."""
        self._prepare()
        self._write_ready()

    def close(self) -> None:
        with self._ready_cond:
            self._closed = True
            self._ready_cond.notify()
        if self._writer is not None:
            self._writer.join(timeout=10)
        self.flush()

    # -- wiring ---------------------------------------------------------------------------------

    def record_call(self, ctx: RequestContext, call: Exchange,
                    error: ServiceError | None) -> None:
        """The envelope's recorder (after the call's unit of work ended): cheap, it only keeps
        what the record will need. Calls of services not audited, and of operations their
        model does not have, are not recorded."""
        audited = self._services.get(call.service)
        if audited is None or call.operation not in audited.operations:
            return
        detail = ctx.audit
        self._append(record.Call(
            ctx.account, ctx.region, ctx.request_id, ctx.now, ctx.access_key_id, ctx.source_ip,
            ctx.user_agent, call.operation, call.params,
            call.result if error is None else None,
            None if error is None else _error_code(audited.source, error),
            None if error is None else error.message,
            dict(detail.additional_event_data) or None, tuple(detail.resources),
            audited.source))

    def background(self) -> None:
        """Tick duty: prepare the calls that have waited long enough."""
        if self._buffer and (len(self._buffer) >= WRITE_SIZE
                             or self._monotonic() - self._oldest >= PREPARE_AGE):
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
            self._oldest = self._monotonic()
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
                self._ready_since = self._monotonic()
            self._ready.extend(batch)
            if len(self._ready.events) >= WRITE_SIZE:
                self._ready_cond.notify()

    def _write_due(self) -> bool:
        return len(self._ready.events) >= WRITE_SIZE or (
            bool(self._ready.events) and self._monotonic() - self._ready_since >= WRITE_AGE)

    def write_if_due(self) -> bool:
        """What the writer thread does when it wakes: write the prepared rows if enough wait
        or the oldest has waited ``WRITE_AGE``; whether it wrote."""
        with self._ready_cond:
            due = self._write_due()
        if due:
            self._write_ready()
        return due

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
        op = self._by_source[item.source].operations.get(item.operation)
        return record.api_call_event(item, self._ids.event_id(item.now),
                                     op.input if op else None, op.output if op else None)
