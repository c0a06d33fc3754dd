"""The web console at ``/_hsmkms/console``, served by the server itself (issue 15).

A page (:file:`static/console.html`, plain JavaScript and CSS shipped as package data: no
framework, nothing fetched from outside the machine) that shows accounts and Regions, clusters
with their HSMs per Availability Zone, key stores with their connection state and the doctor's
checks, keys, a live timeline (server-sent events), the clock and the faults.

Routes (admin routes: the app's Host, Origin and JSON-body checks apply first):

* ``GET /_hsmkms/console`` the page; ``GET /_hsmkms/console/static/<file>`` its script and
  style;
* ``GET /_hsmkms/console/session``: whether the caller may use the console (the page asks
  first: show the login form, or the refusal);
* ``POST /_hsmkms/console/login`` ``{"token": <admin token>}`` (``verify``/``enforce``): sets
  the session cookie (``HttpOnly; SameSite=Strict``); ``POST /_hsmkms/console/logout``;
* ``GET /_hsmkms/console/api/state``, ``GET /_hsmkms/console/api/doctor?store=<id>``: what the
  page shows, read in process (:mod:`hsmkms.webconsole.views`);
* ``POST /_hsmkms/console/api/clock`` ``{"advance_seconds": N}``, ``POST
  /_hsmkms/console/api/faults`` (the body of ``POST /_hsmkms/faults``), ``DELETE
  /_hsmkms/console/api/faults/<fault_id>``: the console's writes;
* ``GET /_hsmkms/console/events``: the timeline as ``text/event-stream``
  (:mod:`hsmkms.server` streams it; :mod:`hsmkms.webconsole.events`).

Who may use it (:class:`Gate`): in ``off`` mode only loopback clients (the console has no
login there); in ``verify``/``enforce`` a session made with the admin token (or the admin
bearer token itself). Writes also need an ``Origin`` header naming this server (a browser's
same-origin ``fetch`` sends it; the app refuses a foreign one) besides the JSON body.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from importlib import resources
from typing import TYPE_CHECKING, ClassVar
from urllib.parse import parse_qs

from hsmkms import admin
from hsmkms.errors import ClientError
from hsmkms.http import HttpRequest, HttpResponse
from hsmkms.webconsole import views
from hsmkms.webconsole.events import Timeline

if TYPE_CHECKING:
    from hsmkms.app import App

PATH = "/_hsmkms/console"
EVENTS_PATH = PATH + "/events"
CLOCK_PATH = PATH + "/api/clock"
COOKIE = "hsmkms_console"
#: A session lasts this long (real time) after its login.
SESSION_SECONDS = 12 * 3600
#: The most sessions kept (the oldest goes first).
MAX_SESSIONS = 256
STATIC = {"console.js": "text/javascript; charset=utf-8",
          "console.css": "text/css; charset=utf-8"}
#: The page may load only its own script and style and talk only to its own server.
SECURITY_HEADERS = [
    ("content-security-policy", (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")),
    ("x-content-type-options", "nosniff"), ("referrer-policy", "no-referrer"),
    ("cache-control", "no-store"), ("x-frame-options", "DENY")]


class ConsoleUnauthorized(ClientError):
    status: ClassVar[int] = 401


class ConsoleForbidden(ClientError):
    status: ClassVar[int] = 403


LOGIN_NEEDED = "The console needs a login with the admin token."
LOOPBACK_ONLY = ("With --auth off the console answers only to loopback clients (it has no "
                 "login); use verify or enforce to reach it from elsewhere.")
NO_ORIGIN = "The console's writes need an Origin header naming this server."


def is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.partition("%")[0]).is_loopback
    except ValueError:
        return False


def cookies(req: HttpRequest) -> dict[str, str]:
    found: dict[str, str] = {}
    for part in req.headers.get("cookie", "").split(";"):
        name, eq, value = part.strip().partition("=")
        if eq and name not in found:
            found[name] = value
    return found


class Gate:
    """Who may use the console: loopback clients in ``off``; a session (or the admin bearer
    token) in ``verify``/``enforce``."""

    def __init__(self, admin_token: str | None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.admin_token = admin_token
        self._monotonic = monotonic
        self._sessions: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def needs_login(self) -> bool:
        return self.admin_token is not None

    def login(self, token: object) -> str:
        """A new session id for the right admin token; :class:`ConsoleUnauthorized` else."""
        if self.admin_token is None:
            raise ConsoleForbidden("The console has no login with --auth off.")
        if not isinstance(token, str) or not hmac.compare_digest(
                token.strip().encode("utf-8", "surrogateescape"), self.admin_token.encode()):
            raise ConsoleUnauthorized("That is not the admin token.")
        sid = secrets.token_urlsafe(32)
        with self._lock:
            self._sessions[sid] = self._monotonic() + SESSION_SECONDS
            while len(self._sessions) > MAX_SESSIONS:
                self._sessions.popitem(last=False)
        return sid

    def logout(self, req: HttpRequest) -> None:
        with self._lock:
            self._sessions.pop(cookies(req).get(COOKIE, ""), None)

    def check(self, req: HttpRequest) -> None:
        """Raise the refusal of a request that may not use the console."""
        if self.admin_token is None:
            if not is_loopback(req.client):
                raise ConsoleForbidden(LOOPBACK_ONLY)
            return
        scheme, _, token = req.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
                token.strip().encode("utf-8", "surrogateescape"), self.admin_token.encode()):
            return
        sid = cookies(req).get(COOKIE, "")
        with self._lock:
            expires = self._sessions.get(sid)
            if expires is not None and expires <= self._monotonic():
                del self._sessions[sid]
                expires = None
        if expires is None:
            raise ConsoleUnauthorized(LOGIN_NEEDED)

    @staticmethod
    def check_write(req: HttpRequest) -> None:
        """A write needs an Origin (the app has already refused one that is not this
        server's, and a body that is not JSON)."""
        if not req.headers.get("origin"):
            raise ConsoleForbidden(NO_ORIGIN)


def _static(name: str) -> bytes:
    return resources.files("hsmkms.webconsole").joinpath("static", name).read_bytes()


def _page(body: bytes, content_type: str) -> HttpResponse:
    return HttpResponse(200, body, [("content-type", content_type), *SECURITY_HEADERS])


def _json(status: int, doc: object) -> HttpResponse:
    return HttpResponse(status, json.dumps(doc).encode(),
                        [("content-type", "application/json"), *SECURITY_HEADERS])


class Console:
    """The console's routes, its gate and its timeline (``app.console``)."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.gate = Gate(app.auth.admin_token if app.auth is not None else None)
        self.timeline = Timeline(app.store, app.clock.now)

    def install(self) -> None:
        app = self.app
        app.add_admin_route("GET", "console", self.get, own_auth=True)
        app.add_admin_route("POST", "console", self.post, own_auth=True)
        app.add_admin_route("DELETE", "console", self.delete, own_auth=True)
        app.envelope.recorders.append(self.timeline)
        app.background.append(self.timeline.watch)
        app.closing.append(self.timeline.close)

    # -- routes -----------------------------------------------------------------------------

    def get(self, req: HttpRequest, rest: str) -> HttpResponse:
        if rest in ("", "index.html"):
            return _page(_static("console.html"), "text/html; charset=utf-8")
        if rest.startswith("static/") and rest[7:] in STATIC:
            return _page(_static(rest[7:]), STATIC[rest[7:]])
        if rest == "session":
            return self._session(req)
        self.gate.check(req)
        return self._read(req, rest)

    def _session(self, req: HttpRequest) -> HttpResponse:
        """What the page asks first: may it look, or must it log in?"""
        try:
            self.gate.check(req)
        except ClientError as err:
            return _json(200, {"allowed": False, "login": self.gate.needs_login,
                               "message": err.message})
        return _json(200, {"allowed": True, "login": self.gate.needs_login})

    def _read(self, req: HttpRequest, rest: str) -> HttpResponse:
        if rest == "api/state":
            doc = views.state(self.app)
            doc["login"] = self.gate.needs_login
            doc["timeline"] = self.timeline.recent(100)
            return _json(200, doc)
        if rest == "api/doctor":
            store_id = (parse_qs(req.query).get("store") or [""])[0]
            report = views.doctor(self.app, store_id)
            if report is None:
                return _json(404, {"__type": "NotFound",
                                   "message": f"No custom key store {store_id}"})
            return _json(200, report)
        if rest == "events":  # the server streams it; in process: what happened so far
            return _json(200, {"events": self.timeline.recent(100)})
        return _not_found(req)

    def post(self, req: HttpRequest, rest: str) -> HttpResponse:
        if rest == "login":
            doc = req.json()
            sid = self.gate.login(doc.get("token") if isinstance(doc, dict) else None)
            response = _json(200, {"login": True})
            response.headers.append(("set-cookie", (
                f"{COOKIE}={sid}; Path={PATH}; HttpOnly; SameSite=Strict; "
                f"Max-Age={SESSION_SECONDS}")))
            return response
        if rest == "logout":
            self.gate.logout(req)
            response = _json(200, {"login": False})
            response.headers.append(("set-cookie", (
                f"{COOKIE}=; Path={PATH}; HttpOnly; SameSite=Strict; Max-Age=0")))
            return response
        self.gate.check(req)
        self.gate.check_write(req)
        doc = req.json()
        if not isinstance(doc, dict):
            raise ValueError("the body must be a JSON object")  # noqa: TRY004 - admin: 400
        if rest == "api/clock":
            answer = admin.advance(self.app, doc)
            self._admin_event("AdvanceClock", {"advance_seconds": str(doc["advance_seconds"])})
            return _json(200, answer)
        if rest == "api/faults":
            with self.app.store.unit_of_work():
                fault = self.app.faults.add(
                    doc.get("fault"), doc.get("cluster_id"),  # type: ignore[arg-type]
                    self.app.clock.now(), doc.get("hsm_id"))
            self._admin_event("AddFault", {"FaultId": fault.fault_id, "Fault": fault.fault,
                                           "ClusterId": fault.cluster_id})
            return _json(200, {"fault_id": fault.fault_id})
        return _not_found(req)

    def delete(self, req: HttpRequest, rest: str) -> HttpResponse:
        self.gate.check(req)
        self.gate.check_write(req)
        if rest.startswith("api/faults/"):
            fault_id = rest[len("api/faults/"):]
            with self.app.store.unit_of_work():
                found = self.app.faults.remove(fault_id)
            if not found:
                return _json(404, {"__type": "NotFound", "message": f"No fault {fault_id}"})
            self._admin_event("ClearFault", {"FaultId": fault_id})
            return _json(200, {"fault_id": fault_id, "removed": True})
        return _not_found(req)

    def _admin_event(self, name: str, detail: dict[str, str]) -> None:
        self.timeline.publish({"kind": "admin", "time": self.app.clock.now(), "account": "",
                               "region": "", "source": "hsmkms", "name": name, "error": None,
                               "detail": detail})

    # -- the event stream (hsmkms.server) ---------------------------------------------------

    def refusal(self, req: HttpRequest) -> HttpResponse | None:
        """The answer refusing ``GET /_hsmkms/console/events`` (None: it may stream)."""
        return self.app.admin_refusal(req, self.gate.check)


def _not_found(req: HttpRequest) -> HttpResponse:
    return _json(404, {"__type": "NotFound", "message": f"No console route {req.method} "
                       f"{req.path}"})


def install(app: App) -> Console:
    console = Console(app)
    console.install()
    return console
