"""The application: wiring (explicit, no singletons) and the transport-neutral request router.

``App(config)`` opens the store, the clock and the scheduler, then lets each service package
install itself (register its JSON services, admin routes and scheduled tasks). ``App.handle``
turns one :class:`~hsmkms.http.HttpRequest` into one :class:`~hsmkms.http.HttpResponse`; the
ASGI server (:mod:`hsmkms.server`) and in-process mode (:mod:`hsmkms.testing`) both call it.

Requests are handled one at a time under ``App.lock`` (state lives in memory and SQLite has one
writer anyway); each runs in one unit of work, so a failed request changes nothing.
"""

from __future__ import annotations

import base64
import binascii
import importlib
import importlib.util
import logging
import os
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hsmkms.clock import Clock
from hsmkms.config import Config
from hsmkms.context import RequestContext
from hsmkms.crypto import RootKey
from hsmkms.errors import InternalFailure, ServiceError, UnknownOperationException
from hsmkms.http import HttpRequest, HttpResponse
from hsmkms.protocol.awsjson import CONTENT_TYPE, JsonService
from hsmkms.scheduler import Scheduler
from hsmkms.store.base import Store
from hsmkms.store.codec import Codec
from hsmkms.store.sqlite import SqliteDatabase

log = logging.getLogger("hsmkms")

#: Packages that install themselves into the app, in order (each has ``install(app)``).
SERVICE_PACKAGES = ("hsmkms.admin", "hsmkms.faults", "hsmkms.ec2", "hsmkms.cloudhsm", "hsmkms.hsm",
                    "hsmkms.kms", "hsmkms.trail")

AdminRoute = Callable[[HttpRequest, str], HttpResponse]
#: Checks who sent a request before it is dispatched, and raises a ServiceError (e.g. AWS's
#: ``UnrecognizedClientException`` or ``InvalidSignatureException``) to refuse it. SigV4
#: signature verification plugs in here; today no authenticator is installed.
Authenticator = Callable[[HttpRequest, "RequestContext"], None]
#: (ctx, target prefix, operation, params, result or None, error or None)
CallObserver = Callable[[RequestContext, str, str, dict[str, Any], "dict[str, Any] | None",
                         "ServiceError | None"], None]


#: Request and event ids must be unique, not secret: a seeded generator, not a system call
#: per id (``os.urandom`` per request showed in profiles; docs/benchmarks.md).
_IDS = random.Random(os.urandom(32))  # noqa: S311 - identifiers, not secrets
_VERSION_4 = (0x4 << 76) | (0x2 << 62)
_VERSION_MASK = ~((0xF << 76) | (0x3 << 62))


def random_uuid(high32: int | None = None) -> str:
    """A random version-4 UUID string; ``high32`` replaces its first 32 bits."""
    n = (_IDS.getrandbits(128) & _VERSION_MASK) | _VERSION_4
    if high32 is not None:
        n = (n & ((1 << 96) - 1)) | ((high32 & 0xFFFFFFFF) << 96)
    h = f"{n:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def new_request_id() -> str:
    return random_uuid()


def load_root_key(config: Config) -> RootKey:
    if config.root_key:
        try:
            return RootKey(base64.b64decode(config.root_key, validate=True))
        except (binascii.Error, ValueError) as exc:
            raise SystemExit(f"HSMKMS_ROOT_KEY must be base64 of 32 bytes: {exc}") from None
    path = config.data_dir / "root.key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(base64.b64encode(os.urandom(32)) + b"\n")
    try:
        return RootKey(base64.b64decode(path.read_bytes().strip(), validate=True))
    except (binascii.Error, ValueError) as exc:
        raise SystemExit(f"{path} must hold base64 of 32 bytes: {exc}") from None


class App:
    def __init__(self, config: Config) -> None:
        self.config = config
        Path(config.data_dir).mkdir(parents=True, exist_ok=True)
        self.root_key = load_root_key(config)
        self.db = SqliteDatabase(Path(config.data_dir) / "hsmkms.db")
        self.store = Store(self.db, Codec(self.root_key.seal, self.root_key.unseal))
        self.clock = Clock(self.db)
        self.scheduler = Scheduler(self.store, self.clock.now)
        self.lock = threading.RLock()
        self.json_services: dict[str, JsonService] = {}
        self.query_handlers: dict[str, Callable[[HttpRequest, RequestContext], HttpResponse]] = {}
        self.admin_routes: list[tuple[str, str, AdminRoute]] = []
        self.call_observers: list[CallObserver] = []
        #: Run in order before every AWS request (JSON and query protocols); see Authenticator.
        self.authenticators: list[Authenticator] = []
        self.background: list[Callable[[], None]] = []
        #: Run first when the app closes (e.g. flush buffers completely).
        self.closing: list[Callable[[], None]] = []
        #: Small duties the server runs after a response is sent (not on in-process calls).
        self.after_response: list[Callable[[], None]] = []
        self.started = time.time()
        self._install()

    def _install(self) -> None:
        for name in SERVICE_PACKAGES:
            if importlib.util.find_spec(name) is not None:
                install = getattr(importlib.import_module(name), "install", None)
                if install is not None:  # a package still being written has none yet
                    install(self)

    # -- registration -------------------------------------------------------------------------

    def add_json_service(self, service: JsonService) -> None:
        self.json_services[service.target_prefix] = service

    def add_admin_route(self, method: str, prefix: str, fn: AdminRoute) -> None:
        """``fn(request, rest_of_path)`` for ``method`` on paths under ``/_hsmkms/<prefix>``.

        Routes run under the app lock but not in a unit of work: one that changes state opens
        its own (``with app.store.unit_of_work(): ...``).
        """
        self.admin_routes.append((method, "/_hsmkms/" + prefix, fn))

    # -- request handling ---------------------------------------------------------------------

    def context(self, req: HttpRequest, service: str = "", operation: str = "") -> RequestContext:
        account, region, akid = self.config.account, self.config.region, ""
        scope = req.credential_scope()
        if scope is not None:
            akid, region = scope[0], scope[1]
            if len(akid) == 12 and akid.isdigit():
                account = akid
        return RequestContext(account=account, region=region, request_id=new_request_id(),
                              now=self.clock.now(), access_key_id=akid, source_ip=req.client,
                              user_agent=req.headers.get("user-agent", ""), service=service,
                              operation=operation)

    def authenticate(self, req: HttpRequest, ctx: RequestContext) -> None:
        """Raise the AWS error that refuses ``req`` (protocol adapters call this first)."""
        for check in self.authenticators:
            check(req, ctx)

    def handle(self, req: HttpRequest) -> HttpResponse:
        response = self._route(req)
        if not any(name == "x-amzn-requestid" for name, _ in response.headers):
            response.headers.append(("x-amzn-requestid", new_request_id()))
        return response

    def _route(self, req: HttpRequest) -> HttpResponse:
        if req.path.startswith("/_hsmkms/"):
            return self._admin(req)
        target = req.headers.get("x-amz-target")
        if req.method == "POST" and target:
            return self._json(req, target)
        if self.query_handlers and (req.method == "POST" or "Action=" in req.query):
            ctx = self.context(req)
            service = req.credential_scope()
            name = service[2] if service else "ec2"
            handler = self.query_handlers.get(name) or self.query_handlers.get("ec2")
            if handler is not None:
                with self.lock, self.store.unit_of_work():
                    return handler(req, ctx)
        err = UnknownOperationException("No AWS service answers this request.")
        return HttpResponse(404, _generic_error_body(err), [("content-type", CONTENT_TYPE)])

    def _json(self, req: HttpRequest, target: str) -> HttpResponse:
        prefix, _, operation = target.rpartition(".")
        service = self.json_services.get(prefix)
        ctx = self.context(req, prefix, operation)
        headers = [("content-type", CONTENT_TYPE), ("x-amzn-requestid", ctx.request_id)]
        if service is None:
            err = UnknownOperationException(f"Unknown target {target}.")
            return HttpResponse(400, _generic_error_body(err), headers)
        params: dict[str, Any] = {}
        try:
            with self.lock:
                try:
                    with self.store.unit_of_work():
                        self.authenticate(req, ctx)
                        op, params = service.parse(operation, req.body)
                        result = service.invoke(ctx, op, params)
                        body = service.serialize(op, result)
                        self._observe(ctx, prefix, operation, params, result, None)
                except ServiceError as err:
                    self._observe(ctx, prefix, operation, params, None, err)
                    raise
            return HttpResponse(200, body, headers)
        except ServiceError as err:
            return HttpResponse(err.status, service.error_body(err), headers)
        except Exception:
            log.exception("internal error in %s", target)
            err = InternalFailure("The request processing has failed because of an unknown "
                                  "error, exception or failure.")
            with self.lock:
                self._observe(ctx, prefix, operation, params, None, err)
            return HttpResponse(500, service.error_body(err), headers)

    def _observe(self, ctx: RequestContext, prefix: str, operation: str, params: dict[str, Any],
                 result: dict[str, Any] | None, error: ServiceError | None) -> None:
        for observer in self.call_observers:
            observer(ctx, prefix, operation, params, result, error)

    def _admin(self, req: HttpRequest) -> HttpResponse:
        for method, prefix, fn in self.admin_routes:
            if req.method == method and (req.path == prefix or req.path.startswith(prefix + "/")):
                try:
                    with self.lock:
                        return fn(req, req.path[len(prefix):].lstrip("/"))
                except ServiceError as err:
                    return HttpResponse.of_json(err.status, {"__type": err.code(),
                                                             "message": err.message})
                except ValueError as err:
                    return HttpResponse.of_json(400, {"__type": "ValidationException",
                                                      "message": str(err)})
        return HttpResponse.of_json(404, {"__type": "NotFound",
                                          "message": f"No admin route {req.method} {req.path}"})

    # -- background work ----------------------------------------------------------------------

    def tick(self) -> None:
        """Run due scheduled work and background duties; the server calls this often."""
        with self.lock:
            self.scheduler.run_due()
            for duty in self.background:
                duty()

    def close(self) -> None:
        with self.lock:
            for duty in self.closing:
                duty()
            for duty in self.background:
                duty()
            self.db.close()


def _generic_error_body(err: ServiceError) -> bytes:
    import json  # noqa: PLC0415

    return json.dumps({"__type": err.code(), "message": err.message}).encode()
