"""The ``cloudhsm-cli`` HTTP API: ``POST /_hsmkms/cloudhsm-cli/<command>``.

Request body (JSON): ``{"region": ..., "access_key_id": ..., "cluster_id": ...,
"token": <session token from login, optional>, "args": {...}}``. The account is the access key
id when it is a 12-digit account id, else the configured account (as for AWS requests); the
region defaults to the server's (``HSMKMS_REGION``). Answers carry the CLI envelope:

* HTTP 200 ``{"error_code": 0, "data": ...}`` or ``{"error_code": 1, "data": "<message>"}``
  for every command that ran, successful or not (the HSMs refused it);
* HTTP 400 for a body that is not a JSON object, 404 for an unknown command, 500 for an
  unexpected error, each with ``error_code`` 1.

``"token"`` is added whenever the client's session token changes: the new token after
``login``, ``""`` after ``logout`` or when the token sent names no live session (it idled out),
so the client forgets it. Failed logins are committed (they count toward the lockout), other
failures change nothing.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hsmkms.envelope import Style
from hsmkms.errors import InternalFailure, ServiceError
from hsmkms.hsm import passwords
from hsmkms.hsm.errors import (
    AlreadyLoggedIn,
    HsmError,
    InvalidInput,
    NotLoggedIn,
    QuorumRefused,
    SessionKeyRefused,
)
from hsmkms.http import HttpRequest, HttpResponse
from hsmkms.scope import Scope

if TYPE_CHECKING:
    from hsmkms.context import RequestContext
    from hsmkms.envelope import Routes
    from hsmkms.hsm.service import HsmService
    from hsmkms.store.base import Store

Handler = Callable[["Call"], Any]
CLIENT = "cloudhsm-cli"

log = logging.getLogger(__name__)


class Call:
    def __init__(self, service: HsmService, doc: dict[str, Any], *, now: float, account: str,
                 region: str, account_of: Callable[[str], str | None] | None = None) -> None:
        self.hsm, self.doc = service, doc
        self.args: dict[str, Any] = doc.get("args") or {}
        if not isinstance(self.args, dict):
            raise InvalidInput("args must be an object.")
        akid = str(doc.get("access_key_id") or "")
        if account_of is not None:  # --auth verify/enforce: the key's own account
            account = account_of(akid) or account
        elif len(akid) == 12 and akid.isdigit():
            account = akid
        self.scope = Scope.of(account, doc.get("region") or region)
        self.cluster_id = str(doc.get("cluster_id") or "")
        self.token = str(doc.get("token") or "")
        #: The token the client must hold after this call, when it changes: a new one after
        #: ``login``, ``""`` after ``logout`` or when the server no longer honours the token.
        self.token_out: str | None = None
        self.now = now

    def arg(self, name: str, default: Any = None) -> Any:
        value = self.args.get(name, default)
        if value is None:
            raise InvalidInput(f"Missing argument --{name.replace('_', '-')}.")
        return value

    def text(self, name: str) -> str:
        value = self.arg(name)
        if not isinstance(value, str):
            raise InvalidInput(f"Invalid value for --{name.replace('_', '-')}: expected text.")
        return value

    def logged_in(self) -> str:
        if not self.token:
            raise NotLoggedIn
        found = self.hsm.touch(self.token, self.now)
        if self.cluster_id and found.cluster_id != self.cluster_id:
            raise NotLoggedIn
        return self.token

    def need_cluster(self) -> str:
        if not self.cluster_id:
            raise InvalidInput("No cluster selected: pass --cluster-id or set "
                               "CLOUDHSM_CLUSTER_ID.")
        return self.cluster_id


def _alive(c: Call) -> bool:
    """The client's session still exists (a command for another cluster is refused, but the
    login it holds is not to be forgotten)."""
    try:
        c.hsm.session(c.token, c.now)
    except NotLoggedIn:
        return False
    return True


def _login(c: Call) -> dict[str, Any]:
    if c.token:
        try:
            c.hsm.session(c.token, c.now)
            raise AlreadyLoggedIn
        except NotLoggedIn:
            c.token_out = ""  # the old session ended (idle timeout): forget it even if this fails
    token = c.hsm.login(c.scope, c.need_cluster(), c.text("username"),
                        c.text("password"), c.text("role"), CLIENT, c.now)
    found = c.hsm.session(token, c.now)
    c.token_out = token
    return {"username": found.username, "role": found.role}


def _logout(c: Call) -> str:
    c.hsm.logout(c.logged_in())
    c.token_out = ""
    return "Logout successful"


def _user_list(c: Call) -> dict[str, Any]:
    return {"users": c.hsm.list_users(c.scope, c.need_cluster())}


def _user_create(c: Call) -> dict[str, Any]:
    c.hsm.create_user(c.logged_in(), c.text("username"), c.text("role"),
                      c.text("password"))
    return {"username": c.text("username").lower(), "role": c.text("role")}


def _user_delete(c: Call) -> dict[str, Any]:
    c.hsm.delete_user(c.logged_in(), c.text("username"), c.text("role"))
    return {"username": c.text("username").lower(), "role": c.text("role")}


def _user_change_password(c: Call) -> dict[str, Any]:
    c.hsm.change_password(c.logged_in(), c.text("username"), c.text("role"),
                          c.text("password"))
    return {"username": c.text("username").lower(), "role": c.text("role")}


def _int_arg(c: Call, name: str, default: int) -> int:
    raw = c.args.get(name)
    raw = default if raw is None else raw
    try:
        return int(raw)
    except (TypeError, ValueError, OverflowError):
        raise InvalidInput(f"Invalid value for --{name.replace('_', '-')}: {raw}") from None


def _terms(c: Call, *, required: bool) -> list[str]:
    terms = _strings(c, "filter")
    if required and not terms:
        raise InvalidInput("Missing argument --filter.")
    return terms


def _key_list(c: Call) -> dict[str, Any]:
    return c.hsm.key_list(c.logged_in(), _terms(c, required=False),
                          _int_arg(c, "max_items", 10), _int_arg(c, "starting_token", 0),
                          verbose=c.args.get("verbose") is True)


def _key_change(op: str, message: str, *names: str) -> Handler:
    def handler(c: Call) -> dict[str, Any]:
        extra = {n: c.text(n) for n in names}
        c.hsm.key_change(c.logged_in(), _terms(c, required=True), op, **extra)
        return {"message": message}
    return handler


def _strings(c: Call, name: str) -> list[str]:
    value = c.args.get(name) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidInput(f"--{name.replace('_', '-')} takes a list of values.")
    return value


def _key_generate_aes(c: Call) -> dict[str, Any]:
    from hsmkms.hsm import keys  # noqa: PLC0415 - keeps the route table at the top readable

    token = c.logged_in()
    if c.args.get("session"):
        raise SessionKeyRefused
    if _int_arg(c, "manage_key_quorum_value", 0) or _int_arg(c, "use_key_quorum_value", 0):
        raise QuorumRefused
    attrs = keys.creation_attributes(_strings(c, "attributes"))
    share = tuple(passwords.normalise_username(u) for u in _strings(c, "share_crypto_users"))
    ref = c.hsm.generate(token, _int_arg(c, "key_length_bytes", 0), c.text("label"),
                         attrs, share)
    return {"key": c.hsm.describe_key(token, ref)}


def _cluster_activate(c: Call) -> str:
    c.hsm.activate(c.scope, c.need_cluster(), c.text("password"), c.now)
    return "Cluster activation successful"


def _cluster_hsm_info(c: Call) -> dict[str, Any]:
    return {"hsms": c.hsm.hsm_info(c.scope, c.need_cluster())}


COMMANDS: dict[str, Handler] = {
    "login": _login,
    "logout": _logout,
    "user-list": _user_list,
    "user-create": _user_create,
    "user-delete": _user_delete,
    "user-change-password": _user_change_password,
    "key-list": _key_list,
    "key-delete": _key_change("delete", "Key deleted successfully"),
    "key-share": _key_change("share", "Key shared successfully", "username", "role"),
    "key-unshare": _key_change("unshare", "Key unshared successfully", "username", "role"),
    "key-set-attribute": _key_change("set-attribute", "Attribute set successfully",
                                     "name", "value"),
    "key-generate-symmetric-aes": _key_generate_aes,
    "cluster-activate": _cluster_activate,
    "cluster-hsm-info": _cluster_hsm_info,
}


def install_routes(routes: Routes, service: HsmService, store: Store,
                   now: Callable[[], float], *, account: str, region: str,
                   account_of: Callable[[str], str | None] | None = None) -> None:
    """``account_of``: the account of an access key id, when keys are verified (the
    app's auth hook checks the request first; without it a 12-digit key id is the account)."""
    def route(req: HttpRequest, rest: str) -> HttpResponse:
        handler = COMMANDS.get(rest)
        if handler is None:
            return HttpResponse.of_json(404, {"error_code": 1,
                                              "data": f"Unknown command '{rest}'."})
        try:
            doc = req.json()
        except ValueError:
            doc = None
        if not isinstance(doc, dict):
            return HttpResponse.of_json(400, {"error_code": 1,
                                              "data": "The request body must be a JSON object."})
        # The envelope's unit of work commits a failed login's failure count; any other
        # failure changes nothing (its own nested unit of work is rolled back).
        inner = contextlib.nullcontext if rest == "login" else store.unit_of_work
        call: Call | None = None
        try:
            call = Call(service, doc, now=now(), account=account, region=region,
                        account_of=account_of)
            with inner():
                answer: dict[str, Any] = {"error_code": 0, "data": handler(call)}
        except HsmError as err:
            answer = {"error_code": 1, "data": err.message}
            if isinstance(err, NotLoggedIn) and call is not None and call.token \
                    and not _alive(call):
                call.token_out = ""  # expired or unknown: the client must forget it
        if call is not None and call.token_out is not None:
            answer["token"] = call.token_out
        return HttpResponse.of_json(200, answer)

    routes.add_admin_route("POST", "cloudhsm-cli", route, CLI_STYLE)


def _internal_answer(err: ServiceError, ctx: RequestContext) -> HttpResponse:
    # Not an HSM error: a fault of hsmkms itself (e.g. in the store), which the client only
    # sees as an internal error; the log says what it was.
    log.error("cloudhsm-cli %s: %s: %s", ctx.request_id, err.code(), err.message)
    return HttpResponse.of_json(500, {"error_code": 1, "data": "Internal error."})


def _refused(err: ServiceError, _ctx: RequestContext) -> HttpResponse:
    """A request a web page could have forged (hsmkms.forgery), in the CLI's envelope."""
    return HttpResponse.of_json(err.status, {"error_code": 1, "data": err.message})


#: The CLI routes run in one unit of work; anything but an HSM error (answered above, with
#: ``error_code`` 1) is the CLI's internal error.
CLI_STYLE = Style(_internal_answer, lambda: InternalFailure("Internal error."),
                  refused=_refused)
