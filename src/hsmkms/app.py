"""The application: explicit wiring (no singletons, no package scanning) and the
transport-neutral request router.

``App(config)`` opens the store, the clock and the scheduler, then builds each service with the
ports it needs, in order (the EC2 network, CloudHSM, the HSMs, faults, KMS, the trail), and
registers their routes. ``App.handle`` turns one :class:`~hsmkms.http.HttpRequest` into one
:class:`~hsmkms.http.HttpResponse`; the ASGI server (:mod:`hsmkms.server`) and in-process mode
(:mod:`hsmkms.testing`) both call it.

Requests are handled one at a time under ``App.lock`` (state lives in memory and SQLite has one
writer anyway); each runs in the :class:`~hsmkms.envelope.Envelope`, in one unit of work, so a
failed request changes nothing, and its CloudTrail event is recorded once that unit of work has
ended.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from hsmkms import admin, faults, forgery, kms, webconsole
from hsmkms.auth import modes as auth_modes
from hsmkms.auth import sts
from hsmkms.clock import Clock
from hsmkms.cloudhsm.api import CloudHsmApi
from hsmkms.cloudhsm.service import CloudHsmService
from hsmkms.config import Config
from hsmkms.context import RequestContext
from hsmkms.crypto import RootKey
from hsmkms.ec2 import api as ec2_api
from hsmkms.ec2.network import Network
from hsmkms.envelope import AdminRoute, Envelope, Exchange, QueryHandler, Style
from hsmkms.errors import InternalFailure, ServiceError, UnknownOperationException
from hsmkms.faults import Faults
from hsmkms.hsm.routes import install_routes as install_cli_routes
from hsmkms.hsm.service import HsmService
from hsmkms.http import HttpRequest, HttpResponse
from hsmkms.iam import api as iam_api
from hsmkms.iam.directory import Directory
from hsmkms.ids import IdSource
from hsmkms.kms.authz import KeyPolicyAuthorizer
from hsmkms.kms.grants import Grants
from hsmkms.protocol.awsjson import CONTENT_TYPE, JsonService
from hsmkms.scheduler import Scheduler
from hsmkms.store import node
from hsmkms.store.base import Store
from hsmkms.store.codec import Codec
from hsmkms.store.databases import open_database
from hsmkms.trail import api as trail_api
from hsmkms.trail.service import SOURCES, Audited, Trail, unmodelled

log = logging.getLogger("hsmkms")

#: Checks who sent a request before it is dispatched, and raises a ServiceError (e.g. AWS's
#: ``UnrecognizedClientException`` or ``InvalidSignatureException``) to refuse it. SigV4
#: signature verification plugs in here; today no authenticator is installed.
Authenticator = Callable[[HttpRequest, RequestContext], None]
#: Target prefixes other SDKs send for a JSON service, besides the model's ``targetPrefix``:
#: the AWS SDK for JavaScript v3 sends ``CloudTrail_20131101.LookupEvents`` where botocore
#: sends ``com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents``.
TARGET_ALIASES = {"CloudTrail_20131101": "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101"}

#: How long one tick may run due scheduled work before leaving the rest to the next tick.
TICK_BUDGET_SECONDS = 0.05

_INTERNAL = ("The request processing has failed because of an unknown error, exception or "
             "failure.")


def _admin_answer(err: ServiceError, _ctx: RequestContext) -> HttpResponse:
    return HttpResponse.of_json(err.status, {"__type": err.code(), "message": err.message})


#: Admin routes: JSON ``{"__type", "message"}``; they open units of work of their own.
ADMIN_STYLE = Style(_admin_answer, lambda: InternalFailure(_INTERNAL), unit_of_work=False,
                    value_error_is_invalid=True)


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
    network: Network
    cloudhsm: CloudHsmService
    hsm: HsmService
    faults: Faults
    trail: Trail

    def __init__(self, config: Config, ids: IdSource | None = None) -> None:
        self.config = config
        self.ids = ids or IdSource()
        Path(config.data_dir).mkdir(parents=True, exist_ok=True)
        self.root_key = load_root_key(config)
        self.db = open_database(config.database, Path(config.data_dir))
        try:
            self.store = Store(self.db, Codec(self.root_key.seal, self.root_key.unseal))
            node.join(self.db, config.shared())
        except BaseException:
            self.db.close()
            raise
        self.clock = Clock(self.db)
        self.scheduler = Scheduler(self.store, self.clock.now, self.ids)
        self.lock = threading.RLock()
        self.json_services: dict[str, JsonService] = {}
        self.query_handlers: dict[str, QueryHandler] = {}
        self._query_styles: dict[str, Style] = {}
        #: One envelope style per JSON service, by target prefix (built at registration).
        self._json_styles: dict[str, Style] = {}
        #: (method, path prefix, route, style, whether the route checks who calls itself)
        self.admin_routes: list[tuple[str, str, AdminRoute, Style, bool]] = []
        #: Run in order before every AWS request (JSON and query protocols); see Authenticator.
        self.authenticators: list[Authenticator] = []
        self.envelope = Envelope(self.store, self.lock, self.authenticate)
        self.background: list[Callable[[], None]] = []
        #: Run first when the app closes (e.g. flush buffers completely).
        self.closing: list[Callable[[], None]] = []
        #: Small duties the server runs after a response is sent (not on in-process calls).
        self.after_response: list[Callable[[], None]] = []
        self.started = time.time()
        self._allowed_hosts = frozenset(
            name.strip().lower().rstrip(".") for name in config.allowed_hosts.split(",")
            if name.strip())
        #: Set once :meth:`close` begins: scheduled work in progress stops after its job.
        self.stopping = False
        self._wire()

    def _wire(self) -> None:
        """Build the services, each with what it needs, and register their routes."""
        admin.install(self)
        #: ``verify``/``enforce`` (None: ``off``, where nothing of it runs per request).
        self.auth = auth_modes.build(self.config, self.store, self.clock.now())
        self.authenticators.append(forgery.require_signature if self.auth is None
                                   else self.auth.authenticator(self._signing_name))
        #: IAM's users, roles and policies (verify/enforce only).
        directory = Directory(self.store) if self.auth is not None else None
        #: Operations of IAM and STS (audited without model shapes), by signing name.
        query_audited: dict[str, Audited] = {}
        if self.auth is not None and directory is not None:
            self.auth.keys.also_from(directory.credential)
            query_audited["iam"] = Audited(SOURCES["iam"], unmodelled(iam_api.register(
                self, directory, enforce=self.auth.enforce)))
            query_audited["sts"] = Audited(SOURCES["sts"], unmodelled(sts.register(
                self, self.auth.keys, directory, enforce=self.auth.enforce)))
        self.network = Network(self.store, new_id=self.ids.prefixed)
        ec2 = ec2_api.register(self, self.network)
        self.cloudhsm = CloudHsmService(self.store, self.scheduler, self.config, self.network,
                                        rand=self.ids.bytes)
        cloudhsm = self.add_json_service(JsonService("cloudhsmv2",
                                                     CloudHsmApi(self.cloudhsm).handlers()))
        self.hsm = HsmService(self.store, self.clock.now, self.cloudhsm,
                              pkcs11_sessions=self.config.pkcs11_sessions,
                              cli_idle_timeout=self.config.cli_idle_timeout)
        install_cli_routes(self, self.hsm, self.store, self.clock.now, account=self.config.account,
                           region=self.config.region,
                           account_of=None if self.auth is None else self.auth.account_of)
        self.faults = Faults(self.store, self.ids, self.hsm)
        faults.install_routes(self, self.faults, self.store, self.clock.now)
        self.trail = Trail(self.db, self.ids, self.store.after_commit, {
            "cloudhsm": Audited(SOURCES["cloudhsm"], cloudhsm.operations),
            "ec2": Audited(SOURCES["ec2"], ec2.operations), **query_audited})
        trent = self.add_json_service(kms.build(
            store=self.store, scheduler=self.scheduler, now=self.clock.now, config=self.config,
            clusters=self.cloudhsm, hsm=self.hsm, network=self.network, faults=self.faults,
            audit=self.trail, usage=self.trail,
            tracking_start=self.trail.track_key_usage(self.clock.now()), ids=self.ids,
            authz=KeyPolicyAuthorizer(Grants(self.store), directory.identity_policies)
            if self.auth is not None and self.auth.enforce and directory is not None
            else None))
        self.trail.audit("kms", Audited(SOURCES["kms"], trent.operations))
        self.envelope.recorders.append(self.trail)
        self.add_json_service(trail_api.build(self.trail, self.clock.now))
        self.background.append(self.trail.background)
        self.closing.append(self.trail.close)
        self.after_response.append(self.trail.after_response)
        self.console = webconsole.install(self)

    # -- registration -------------------------------------------------------------------------

    def add_json_service(self, service: JsonService) -> JsonService:
        self.json_services[service.target_prefix] = service
        self._json_styles[service.target_prefix] = _json_style(service)
        return service

    def add_admin_route(self, method: str, prefix: str, fn: AdminRoute,
                        style: Style = ADMIN_STYLE, *, own_auth: bool = False) -> None:
        """``fn(request, rest_of_path)`` for ``method`` on paths under ``/_hsmkms/<prefix>``.

        Routes run in the envelope with ``style`` (by default: under the app lock but not in
        a unit of work: one that changes state opens its own, ``with app.store.unit_of_work()``).
        ``own_auth``: the route decides itself who may call it (the web console's login), in
        place of the admin token of ``verify``/``enforce``; the forgery checks still apply.
        """
        self.admin_routes.append((method, "/_hsmkms/" + prefix, fn, style, own_auth))

    # -- request handling ---------------------------------------------------------------------

    def context(self, req: HttpRequest, service: str = "", operation: str = "") -> RequestContext:
        account, region, akid = self.config.account, self.config.region, ""
        # verify/enforce: the defaults until the signature is verified; the authenticator
        # then sets the verified key's account, access key id and signed region.
        scope = req.credential_scope() if self.auth is None else None
        if scope is not None:
            akid, region = scope[0], scope[1]
            if len(akid) == 12 and akid.isdigit():
                account = akid
        return RequestContext(account=account, region=region, request_id=self.ids.request_id(),
                              now=self.clock.now(), access_key_id=akid, source_ip=req.client,
                              user_agent=req.headers.get("user-agent", ""), service=service,
                              operation=operation)

    def authenticate(self, req: HttpRequest, ctx: RequestContext) -> None:
        """Raise the AWS error that refuses ``req`` (the envelope calls this first)."""
        for check in self.authenticators:
            check(req, ctx)

    def preparable(self, req: HttpRequest) -> bool:
        """Whether ``req`` has work to do before it takes the lock (:meth:`prepare_and_handle`,
        in a worker thread: the server offloads it)."""
        prefix, _, operation = req.headers.get("x-amz-target", "").rpartition(".")
        service = self.json_services.get(TARGET_ALIASES.get(prefix, prefix))
        return service is not None and operation in service.prepared_operations

    def prepare_and_handle(self, req: HttpRequest) -> HttpResponse:
        """:meth:`handle`, after the service's slow preparation done without the lock."""
        prefix, _, operation = req.headers.get("x-amz-target", "").rpartition(".")
        service = self.json_services.get(TARGET_ALIASES.get(prefix, prefix))
        if service is not None and service.prepare is not None:
            service.prepare(operation, req.body)
        return self.handle(req)

    def handle(self, req: HttpRequest) -> HttpResponse:
        response = self._route(req)
        if not any(name == "x-amzn-requestid" for name, _ in response.headers):
            response.headers.append(("x-amzn-requestid", self.ids.request_id()))
        return response

    def _route(self, req: HttpRequest) -> HttpResponse:
        if req.path.startswith("/_hsmkms/"):
            return self._admin(req)
        target = req.headers.get("x-amz-target")
        if req.method == "POST" and target:
            return self._json(req, target)
        if self.query_handlers and (req.method == "POST" or "Action=" in req.query):
            name = self._query_service(req)
            if name in self.query_handlers:
                ctx = self.context(req)
                query, style = self.query_handlers[name], self._query_styles[name]
                return self.envelope.run(req, ctx, style, lambda call: query(req, ctx, call),
                                         f"{name} request")
        err = UnknownOperationException("No AWS service answers this request.")
        return HttpResponse(404, _generic_error_body(err), [("content-type", CONTENT_TYPE)])

    def _signing_name(self, req: HttpRequest, ctx: RequestContext) -> str:
        """The signing name of the service ``req`` is routed to (what its scope must say)."""
        if ctx.service:
            service = self.json_services.get(TARGET_ALIASES.get(ctx.service, ctx.service))
            return service.signing_name if service is not None else ""
        return self._query_service(req)

    def _query_service(self, req: HttpRequest) -> str:
        """The query service ``req`` goes to: its credential scope's, else EC2. In
        verify/enforce, the scope the verifier reads (the same parse: header or presigned
        query), so what routes a request is what its signature covers."""
        if self.auth is not None:
            name = self.auth.signed_service(req)
        else:
            scope = req.credential_scope()
            name = scope[2] if scope is not None else ""
        return name if name in self.query_handlers else "ec2"

    def add_query_service(self, name: str, handler: QueryHandler, style: Style) -> None:
        """Serve a query-protocol service (``name``: its signing name) in ``style``."""
        self.query_handlers[name] = handler
        self._query_styles[name] = style

    def _json(self, req: HttpRequest, target: str) -> HttpResponse:
        prefix, _, operation = target.rpartition(".")
        name = TARGET_ALIASES.get(prefix, prefix)
        service = self.json_services.get(name)
        ctx = self.context(req, prefix, operation)
        if service is None:
            err = UnknownOperationException(f"Unknown target {target}.")
            return HttpResponse(400, _generic_error_body(err), _json_headers(ctx))
        json_service = service

        def body(call: Exchange) -> HttpResponse:
            call.service, call.operation = json_service.signing_name, operation
            op, call.params = json_service.parse(operation, req.body)
            call.result = json_service.invoke(ctx, op, call.params)
            return HttpResponse(200, json_service.serialize(op, call.result), _json_headers(ctx))

        return self.envelope.run(req, ctx, self._json_styles[name], body, target)

    def _admin(self, req: HttpRequest) -> HttpResponse:
        for method, prefix, fn, style, own_auth in self.admin_routes:
            if req.method == method and (req.path == prefix or req.path.startswith(prefix + "/")):
                ctx = self.context(req)
                try:
                    forgery.check_admin(req, self.config.host, self._allowed_hosts)
                    if self.auth is not None and not own_auth:
                        self.auth.check_admin(req, ctx.now)
                except ServiceError as err:
                    return (style.refused or style.answer)(err, ctx)
                body = _admin_body(fn, req, req.path[len(prefix):].lstrip("/"))
                return self.envelope.run(req, ctx, style, body, req.path)
        return HttpResponse.of_json(404, {"__type": "NotFound",
                                          "message": f"No admin route {req.method} {req.path}"})

    def admin_refusal(self, req: HttpRequest,
                      check: Callable[[HttpRequest], None]) -> HttpResponse | None:
        """The answer refusing an admin request the server answers itself (the console's
        event stream): the forgery checks, then ``check``; None if it may go on."""
        try:
            forgery.check_admin(req, self.config.host, self._allowed_hosts)
            check(req)
        except ServiceError as err:
            return _admin_answer(err, self.context(req))
        return None

    # -- background work ----------------------------------------------------------------------

    def tick(self) -> None:
        """Run due scheduled work and background duties; the server calls this often."""
        with self.lock:
            # A slice of the due work per tick: a backlog (a server back after months) does not
            # hold the lock, and the event loop, for longer than this at a time.
            deadline = time.monotonic() + TICK_BUDGET_SECONDS
            self.scheduler.run_due(
                stop=lambda: self.stopping or time.monotonic() > deadline)
            for duty in self.background:
                duty()

    def close(self) -> None:
        # A clock jump running in a worker thread lets the lock go between jobs: it must not
        # run another once the database is closed.
        self.stopping = True
        with self.lock:
            for duty in self.closing:
                duty()
            for duty in self.background:
                duty()
            self.db.close()


def _admin_body(fn: AdminRoute, req: HttpRequest, rest: str) -> Callable[[Exchange], HttpResponse]:
    def body(_call: Exchange) -> HttpResponse:  # admin calls are not audited
        return fn(req, rest)
    return body


def _json_headers(ctx: RequestContext) -> list[tuple[str, str]]:
    return [("content-type", CONTENT_TYPE), ("x-amzn-requestid", ctx.request_id)]


def _internal_failure() -> ServiceError:
    return InternalFailure(_INTERNAL)


def _json_style(service: JsonService) -> Style:
    """How a JSON service answers errors (built once per service): its error body, with the
    request's id."""
    def answer(err: ServiceError, ctx: RequestContext) -> HttpResponse:
        return HttpResponse(err.status, service.error_body(err), _json_headers(ctx))
    return Style(answer, _internal_failure, authenticate=True)


def _generic_error_body(err: ServiceError) -> bytes:
    return json.dumps({"__type": err.code(), "message": err.message}).encode()
