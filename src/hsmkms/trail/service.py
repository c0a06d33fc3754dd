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

**The writer process** (:meth:`Trail.start_writer_process`, what ``hsmkms serve`` runs): the
request thread only keeps each call as it was (``record.Call``, cheap) and hands them, pickled,
in slices of :data:`SLICE` (or once the oldest is :data:`PREPARE_AGE` old) through a pipe to a
process forked at start, which turns them into rows and inserts them with its own SQLite
connection, on another core: building and inserting an event costs the request thread about
nothing (``bench/instructions.py``). Read-your-writes: a lookup first hands over what is
buffered and waits until the writer process has committed it (one round trip through the
pipe). What a crash may lose: ``kill -9`` of the server loses the calls still in its buffer
(at most :data:`SLICE` calls or :data:`PREPARE_AGE` seconds of them); what the writer process
was handed it still writes, reading the pipe to its end before it exits. A writer process that
dies is replaced by the writer thread (without the process, as in process mode and tests).
A database the writer process cannot write for now (the server holds it locked) delays rows,
never drops them silently (:mod:`hsmkms.trail.writer`): a lookup then waits for the commit at
most about ``SYNC_SECONDS`` and, refused (``NAK``), logs an error and answers without them.

**Never blocking on the pipe.** The pipe holds about 4,000 calls (:data:`PIPE_BYTES`); a writer
process waiting on a locked database reads nothing meanwhile, and a blocking write into a full
pipe would stall the event loop under the app lock. So the pipe is non-blocking: what it does
not take waits in memory (:attr:`Trail.backlog`, at most :data:`BACKLOG_BYTES`; past that a
slice is dropped with an error) and goes out on the next send or tick, in order. Only a lookup
or the close waits for the pipe (at most ``ACK_SECONDS``), as it waits for the commit anyway.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import pickle
import select
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from hsmkms.audit import KeyUsage
from hsmkms.scope import Scope
from hsmkms.trail import record
from hsmkms.trail.log import Batch, EventLog, Query, Row
from hsmkms.trail.writer import (
    ACK,
    CALLS,
    CLOSE,
    MAX_PENDING,
    NAK,
    RETRY_FIRST,
    RETRY_MAX,
    SETUP,
    SYNC,
    bound,
    frame,
)

if TYPE_CHECKING:
    from hsmkms.audit import Caller
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
#: How long a lookup or the close waits for the writer process to acknowledge, at most.
ACK_SECONDS = 10.0
#: The pipe to the writer process holds this much (Linux's default most a user may ask for):
#: about 4,000 calls.
PIPE_BYTES = 1 << 20
#: Frames the pipe did not take wait in memory up to this many bytes (about 250,000 calls).
BACKLOG_BYTES = 64 << 20


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
           "ec2": "ec2.amazonaws.com", "iam": record.IAM_SOURCE, "sts": record.STS_SOURCE}


class Unmodelled:
    """An operation audited without model shapes (IAM's and STS's hand-written handlers)."""

    input: Node | None = None
    output: Node | None = None


def unmodelled(operations: Iterable[str]) -> dict[str, HasNodes]:
    return dict.fromkeys(operations, Unmodelled())
AfterCommit = Callable[[Callable[[], None]], None]


#: The meta entry that records when the data store began tracking key usage.
TRACKING_START = "key_usage_tracking_start"

#: Errors whose events carry another code than the API's: KMS's authorization failures are
#: recorded as ``AccessDenied`` (spec authz.md §6, §10 Q14: the only captured value).
TRAIL_CODES = {"AccessDeniedException": "AccessDenied"}


def _widen(fd: int) -> None:
    """A pipe of PIPE_BYTES (Linux): a writer process late by a fraction of a second (its CPU
    busy elsewhere) does not make the request thread wait on a full pipe."""
    try:
        import fcntl  # noqa: PLC0415 - POSIX only
    except ImportError:
        return
    if hasattr(fcntl, "F_SETPIPE_SZ"):
        with contextlib.suppress(OSError):
            fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)


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
        self._buffer: list[record.CallFields | record.Event] = []
        self._oldest = 0.0
        #: Prepared rows for the writer, guarded by ``_ready_cond``.
        self._ready = Batch()
        self._ready_since = 0.0
        self._ready_cond = threading.Condition()
        #: Held while rows are taken from ``_ready`` and written: rows go in in order.
        self._write_lock = threading.Lock()
        self._closed = False
        self._writer: threading.Thread | None = None
        #: The writer process, once started (its stdin takes frames, its stdout acknowledges).
        self._process: subprocess.Popen[bytes] | None = None
        #: Sends the writer process its setup (joined before anything else is sent).
        self._setup: threading.Thread | None = None
        self._db = db
        #: Frames (bytes) the pipe to the writer process did not take yet, in order.
        self.backlog = bytearray()
        if writer:
            self._start_writer_thread()

    def _start_writer_thread(self) -> None:
        self._closed = False
        self._writer = threading.Thread(target=self._write_forever, name="hsmkms-trail",
                                        daemon=True)
        self._writer.start()

    def start_writer_process(self, path: str) -> None:
        """From now on, rows are built and inserted by a writer process
        (:mod:`hsmkms.trail.writer`) with its own connection to the database at ``path`` (see
        the module's doc). The server calls it before it serves."""
        if self._writer is not None:  # not needed any more
            with self._ready_cond:
                self._closed = True
                self._ready_cond.notify()
            self._writer.join(timeout=10)
            self._writer = None
        self.flush()
        operations = {source: {name: (op.input, op.output)
                               for name, op in audited.operations.items()}
                      for source, audited in self._by_source.items()}
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "hsmkms.trail.writer"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True)
        except OSError:
            log.exception("the CloudTrail writer process could not start: the server writes "
                          "events itself")
            self._start_writer_thread()
            return
        assert proc.stdin is not None
        assert proc.stdout is not None
        _widen(proc.stdin.fileno())
        self._closed = False
        self._process = proc
        # The shapes (~140 KB pickled) fill the pipe until the process has started and reads
        # them: sent from a thread, so that the server starts meanwhile (_send waits for it).
        self._setup = threading.Thread(target=self._send_setup, args=(path, operations),
                                       name="hsmkms-trail-setup", daemon=True)
        self._setup.start()

    def _send_setup(self, path: str, operations: object) -> None:
        with contextlib.suppress(OSError):  # a process gone: the next _send finds out
            self._write_all(frame(SETUP, pickle.dumps((path, operations),
                                                      protocol=pickle.HIGHEST_PROTOCOL)))

    def audit(self, name: str, audited: Audited) -> None:
        """Record the calls of the service signed as ``name`` (KMS joins once it is built with
        this trail as its :class:`~hsmkms.audit.AuditLog`)."""
        self._services[name] = audited
        self._by_source[audited.source] = audited

    # -- the API other packages call ----------------------------------------------------------

    def record_service_event(self, scope: str, event_name: str, when: float, *,
                             resources: list[str],
                             additional_event_data: dict[str, Any] | None = None,
                             response_elements: dict[str, Any] | None = None,
                             service_event_details: dict[str, Any] | None = None) -> None:
        """Record an event a service raises itself, dated ``when``; inside a unit of work, only
        once it commits."""
        ident = self._ids.event_id(when)
        event = record.service_event(
            scope, event_name, when, ident, resources=resources,
            additional_event_data=additional_event_data, response_elements=response_elements,
            service_event_details=service_event_details)
        self._after_commit(lambda: self._append(event))

    def record_call_event(self, scope: str, operation: str, when: float, *, caller: Caller,
                          params: dict[str, Any], result: dict[str, Any] | None,
                          invoked_by: str, resources: bool = True) -> None:
        """Record a KMS call made on a caller's behalf in another Region (see
        :class:`~hsmkms.audit.AuditLog`); inside a unit of work, only once it commits."""
        account, region = Scope(scope).parts()
        audited = self._by_source.get(record.KMS_SOURCE)
        op = audited.operations.get(operation) if audited is not None else None
        call = record.Call(account, region, caller.request_id, when, caller.access_key_id,
                           caller.source_ip, caller.user_agent, operation, params, result,
                           None, None, None, ())
        event = record.api_call_event(call, self._ids.event_id(when),
                                      op.input if op is not None else None,
                                      op.output if op is not None else None)
        event.stored["by"] = invoked_by
        if not resources:
            event = dataclasses.replace(event, resources=())
        self._after_commit(lambda: self._append(event))

    def flush(self) -> None:
        """Write everything recorded so far before returning (lookups, close)."""
        self._prepare()
        if self._process is not None and self._send(SYNC, b"") and not self._acknowledged():
            self._lost_process()
        self._write_ready()

    def close(self) -> None:
        if self._process is not None:
            self._prepare()
            proc = self._process
            if self._send(CLOSE, b"") and not self._acknowledged():
                log.error("the CloudTrail writer process ended before writing everything")
            self._process = None
            with contextlib.suppress(OSError):
                assert proc.stdin is not None
                proc.stdin.close()
            try:
                proc.wait(timeout=ACK_SECONDS)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        with self._ready_cond:
            self._closed = True
            self._ready_cond.notify()
        if self._writer is not None:
            self._writer.join(timeout=10)
        self.flush()
        if self._ready.events:
            log.error("could not write %d CloudTrail events before closing; lost",
                      len(self._ready.events))

    def _send(self, kind: int, payload: bytes) -> bool:
        """One frame to the writer process, never blocking for a CALLS frame (what the pipe
        does not take waits in :attr:`backlog`); a SYNC or CLOSE waits until the pipe took
        everything (at most ACK_SECONDS). False (and the server writes events itself from then
        on) if the process is gone or stuck."""
        assert self._process is not None
        assert self._process.stdin is not None
        fd = self._process.stdin.fileno()
        if self._setup is not None:
            self._setup.join()
            self._setup = None
            os.set_blocking(fd, False)  # the setup is written whole: blocking until here
        data = frame(kind, payload)
        if kind == CALLS and len(self.backlog) + len(data) > BACKLOG_BYTES:
            log.error("the CloudTrail writer process is %d bytes behind: a slice of events "
                      "dropped", len(self.backlog))
            return True
        self.backlog += data
        try:
            self._pump(fd)
            taken = kind == CALLS or self._drain(fd)
        except OSError:
            taken = False
        if not taken:
            self._lost_process()
        return taken

    def _drain(self, fd: int) -> bool:
        """Wait until the pipe took the whole backlog (at most ACK_SECONDS)."""
        deadline = time.monotonic() + ACK_SECONDS
        while self.backlog:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([], [fd], [], left)[1]:
                return False
            self._pump(fd)
        return True

    def _pump(self, fd: int) -> None:
        """Write what the pipe takes of the backlog now."""
        backlog = self.backlog
        while backlog:
            try:
                written = os.write(fd, backlog[:PIPE_BYTES])
            except BlockingIOError:
                return
            del backlog[:written]

    def _write_all(self, data: bytes) -> None:
        assert self._process is not None
        assert self._process.stdin is not None
        view = memoryview(data)
        while view:
            view = view[os.write(self._process.stdin.fileno(), view):]

    def _acknowledged(self) -> bool:
        """Wait (at most ACK_SECONDS) for the writer process to say it committed all it was
        handed before."""
        assert self._process is not None
        assert self._process.stdout is not None
        fd = self._process.stdout.fileno()
        if not select.select([fd], [], [], ACK_SECONDS)[0]:
            return False
        answer = os.read(fd, 1)
        if answer == NAK:
            log.error("the CloudTrail writer process could not commit the latest events yet "
                      "(the database refuses them for now): it keeps them and retries; until "
                      "then lookups miss them")
            return True
        return answer == ACK

    def _lost_process(self) -> None:
        log.error("the CloudTrail writer process is gone: events not yet written are lost; "
                  "the server writes them itself from now on")
        proc, self._process = self._process, None
        self.backlog.clear()
        if proc is not None:
            proc.kill()
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()
            proc.wait()
        self._log = EventLog(self._db)  # numbered on from what the process wrote
        self._start_writer_thread()

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
        who = None if ctx.principal is None else record.principal_identity(ctx.principal,
                                                                             ctx.access_key_id)
        # A tuple of record.Call's fields: cheaper to make and to pickle than the dataclass.
        item: record.CallFields
        if error is None:
            item = (ctx.account, ctx.region, ctx.request_id, ctx.now, ctx.access_key_id,
                    ctx.source_ip, ctx.user_agent, call.operation, call.params, call.result,
                    None, None, dict(detail.additional_event_data) or None,
                    tuple(detail.resources), audited.source, who)
        else:
            item = (ctx.account, ctx.region, ctx.request_id, ctx.now, ctx.access_key_id,
                    ctx.source_ip, ctx.user_agent, call.operation, call.params, None,
                    _error_code(audited.source, error), error.message,
                    dict(detail.additional_event_data) or None, tuple(detail.resources),
                    audited.source, who)
        self._append(item)

    def background(self) -> None:
        """Tick duty: prepare the calls that have waited long enough; hand the writer process
        what its pipe did not take before."""
        if self.backlog and self._process is not None and self._process.stdin is not None:
            try:
                self._pump(self._process.stdin.fileno())
            except OSError:
                self._lost_process()
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

    # -- key usage (the hsmkms.audit.UsageLog port) ---------------------------------------------

    def track_key_usage(self, now: float) -> float:
        """When this data store began tracking key usage: ``now`` the first time it is asked
        (recorded in the store's meta; of several nodes starting at once, one sets it), the
        recorded time ever after."""
        return float(self._db.init_meta(TRACKING_START, repr(now)))

    def last_key_usage(self, scope: str, key_arn: str) -> KeyUsage | None:
        """The latest successful tracked use of the key (what its event recorded), written
        first like a lookup (read-your-writes)."""
        self.flush()
        use = self._log.last_use(scope, key_arn)
        if use is None:
            return None
        return KeyUsage(use.operation, use.time, use.event_id, use.request_id)

    # -- internals ------------------------------------------------------------------------------

    def _append(self, item: record.CallFields | record.Event) -> None:
        if not self._buffer:
            self._oldest = self._monotonic()
        self._buffer.append(item)

    def _prepare(self) -> None:
        """Turn the buffered calls into rows for the writer (caller holds the app lock)."""
        calls, self._buffer = self._buffer, []
        if not calls:
            return
        if self._process is not None:
            try:
                payload = pickle.dumps(calls, protocol=pickle.HIGHEST_PROTOCOL)
            except Exception:
                log.exception("could not record %d CloudTrail events; dropped", len(calls))
                return
            if self._send(CALLS, payload):
                return
        try:
            batch = self._log.prepare([e for item in calls for e in self._finish(item)])
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
        backoff = RETRY_FIRST
        while True:
            with self._ready_cond:
                while not self._closed and not self._write_due():
                    self._ready_cond.wait(WRITE_AGE / 2)
                if self._closed:
                    return
            if self._write_ready():
                backoff = RETRY_FIRST
                continue
            with self._ready_cond:  # refused: kept, tried again after a backoff
                if not self._closed:
                    self._ready_cond.wait(backoff)
            backoff = min(backoff * 2, RETRY_MAX)

    def _write_ready(self) -> bool:
        """Insert the prepared rows; whether it did. Rows the database refuses are kept for
        the next attempt (at most MAX_PENDING of them: past that the oldest are dropped, with
        an error), as the writer process keeps them (hsmkms.trail.writer)."""
        with self._write_lock:
            with self._ready_cond:
                batch, self._ready = self._ready, Batch()
            if not batch.events:
                return True
            try:
                self._log.write(batch)
            except Exception:
                log.exception("could not write %d CloudTrail events; kept for a retry",
                              len(batch.events))
                with self._ready_cond:
                    batch.extend(self._ready)  # numbered before what came meanwhile
                    self._ready = batch
                    bound(batch, MAX_PENDING)
                return False
            return True

    def _finish(self, item: record.CallFields | record.Event) -> list[record.Event]:
        if isinstance(item, record.Event):
            return [item]
        call = record.Call(*item)
        op = self._by_source[call.source].operations.get(call.operation)
        return record.api_call_events(call, lambda: self._ids.event_id(call.now),
                                      op.input if op else None, op.output if op else None)

