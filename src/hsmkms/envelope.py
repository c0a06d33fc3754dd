"""The one error and unit-of-work envelope every route runs in (AWS JSON, EC2 query, admin,
``cloudhsm-cli``).

:meth:`Envelope.run` takes the app lock, opens the route's unit of work, authenticates AWS
requests, turns a :class:`~hsmkms.errors.ServiceError` or an unexpected exception into the
route's own error answer (:class:`Style`), and, once the unit of work has ended, hands the call
to the audit recorder: a call whose writes were committed is recorded as a success, a call that
was rolled back (its error, or its commit failing) only as a failure.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from hsmkms.errors import ServiceError, ValidationException

if TYPE_CHECKING:
    import threading

    from hsmkms.context import RequestContext
    from hsmkms.http import HttpRequest, HttpResponse
    from hsmkms.store.base import Store

log = logging.getLogger("hsmkms")


@dataclass(slots=True)
class Exchange:
    """What a route tells the audit recorder about its call; a route that leaves ``service``
    empty is not audited (admin routes, ``cloudhsm-cli``)."""

    #: The AWS service's signing name (``kms``, ``cloudhsm``, ``ec2``, ``cloudtrail``).
    service: str = ""
    operation: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] | None = None


class CallRecorder(Protocol):
    def record_call(self, ctx: RequestContext, call: Exchange,
                    error: ServiceError | None) -> None:
        """Record a call whose unit of work has ended (``error`` None: it committed)."""


@dataclass(frozen=True, slots=True)
class Style:
    """How a route answers what went wrong."""

    #: The answer to a service error.
    answer: Callable[[ServiceError, RequestContext], HttpResponse]
    #: The error an unexpected exception is reported as ...
    internal: Callable[[], ServiceError]
    #: ... and its answer, when it is not ``answer``'s.
    internal_answer: Callable[[ServiceError, RequestContext], HttpResponse] | None = None
    #: Whether the route runs in a unit of work (admin routes that run scheduled work, which
    #: opens units of work of its own, do not).
    unit_of_work: bool = True
    #: Whether the app's authenticators check the request first (AWS protocols).
    authenticate: bool = False
    #: Whether a ``ValueError`` is the caller's fault, answered as a ``ValidationException``
    #: with its text (admin routes validate their JSON bodies by raising it).
    value_error_is_invalid: bool = False
    #: The answer to a request refused before the route runs (one a web page could have
    #: forged, :mod:`hsmkms.forgery`), when it is not ``answer``'s.
    refused: Callable[[ServiceError, RequestContext], HttpResponse] | None = None


Authenticate = Callable[["HttpRequest", "RequestContext"], None]
Body = Callable[[Exchange], "HttpResponse"]


class Envelope:
    def __init__(self, store: Store, lock: threading.RLock, authenticate: Authenticate) -> None:
        self._store = store
        self._lock = lock
        self._authenticate = authenticate
        self.recorders: list[CallRecorder] = []


    def run(self, req: HttpRequest, ctx: RequestContext, style: Style, body: Body,
            label: str) -> HttpResponse:
        """Run ``body`` for ``req``; ``label`` names the request in logs."""
        call = Exchange()
        error: ServiceError | None = None
        with self._lock:
            try:
                work = self._store.unit_of_work() if style.unit_of_work \
                    else contextlib.nullcontext()
                with work:
                    if style.authenticate:
                        self._authenticate(req, ctx)
                    response = body(call)
            except ServiceError as err:
                error = err
                response = style.answer(err, ctx)
            except Exception as exc:  # noqa: BLE001 - a route's failure is answered, not raised
                error, response = self._unexpected(exc, ctx, style, label)
            if call.service:
                for recorder in self.recorders:
                    recorder.record_call(ctx, call, error)
        return response

    @staticmethod
    def _unexpected(exc: Exception, ctx: RequestContext, style: Style,
                    label: str) -> tuple[ServiceError, HttpResponse]:
        if style.value_error_is_invalid and isinstance(exc, ValueError):
            invalid = ValidationException(str(exc))
            return invalid, style.answer(invalid, ctx)
        log.error("internal error in %s", label, exc_info=exc)
        error = style.internal()
        return error, (style.internal_answer or style.answer)(error, ctx)


#: An admin route: ``fn(request, rest of the path)``.
AdminRoute = Callable[["HttpRequest", str], "HttpResponse"]
#: A query-protocol service: the request and its context in, the answer out, telling the
#: envelope what to audit through the :class:`Exchange`.
QueryHandler = Callable[["HttpRequest", "RequestContext", Exchange], "HttpResponse"]


class Routes(Protocol):
    """Where a package registers what it serves (the app): packages get this, not the app."""

    def add_admin_route(self, method: str, prefix: str, fn: AdminRoute,
                        style: Style = ...) -> None: ...

    def add_query_service(self, name: str, handler: QueryHandler, style: Style) -> None: ...
