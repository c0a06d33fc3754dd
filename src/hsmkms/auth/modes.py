"""The three auth modes (``hsmkms serve --auth off|verify|enforce``, spec authz.md §10 Q1).

* ``off`` (the default): today's behaviour. A request must carry SigV4 authentication
  (:func:`hsmkms.forgery.require_signature`), which is not checked; a 12-digit access key id
  picks the account. Nothing of this module runs per request.
* ``verify``: every AWS request's signature is checked (:class:`Verifier`) against the
  accounts' root access keys (:mod:`hsmkms.auth.credentials`); the key's account is the
  caller's. The admin surface needs ``Authorization: Bearer <admin token>`` (``GET
  /_hsmkms/health`` stays open), the ``cloudhsm-cli`` route that or SigV4.
* ``enforce``: ``verify``, then key policies decide who may use a key
  (:mod:`hsmkms.kms.authz`).
"""

from __future__ import annotations

import enum
import hmac
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from hsmkms.auth import sigv4
from hsmkms.auth.credentials import (
    AccessKey,
    AccessKeys,
    admin_token,
    bootstrap,
)
from hsmkms.auth.errors import EC2, JSON, QUERY, answer
from hsmkms.auth.sigv4 import Failure, SigV4Error
from hsmkms.errors import ClientError
from hsmkms.principal import root as root_principal
from hsmkms.scope import Scope

if TYPE_CHECKING:
    from hsmkms.config import Config
    from hsmkms.context import RequestContext
    from hsmkms.http import HttpRequest
    from hsmkms.store.base import Store

log = logging.getLogger("hsmkms.auth")


class Mode(enum.Enum):
    OFF = "off"
    VERIFY = "verify"
    ENFORCE = "enforce"


#: Seconds a request's signing time may be off the wall clock, per signing name (spec §2.4:
#: 5 minutes for KMS, observed; 15 for STS, IAM and EC2; CloudHSM and CloudTrail unrecorded: 5).
SKEW_WINDOWS: dict[str, int] = {"kms": 300, "cloudhsm": 300, "cloudtrail": 300, "ec2": 900,
                                "iam": 900, "sts": 900}
DEFAULT_WINDOW = 300


class Unauthorized(ClientError):
    """An admin or ``cloudhsm-cli`` request without the admin token (hsmkms's own API)."""

    status: ClassVar[int] = 401


ADMIN_REFUSED = ("The admin routes need 'Authorization: Bearer <token>' with the admin token "
                 "(HSMKMS_ADMIN_TOKEN, or the file admin-token in the server's data dir).")
#: Admin routes open to anyone in every mode (liveness probes).
OPEN_ADMIN = frozenset({("GET", "/_hsmkms/health")})


def protocol_of(req: HttpRequest, service: str) -> str:
    if "x-amz-target" in req.headers:
        return JSON
    return EC2 if service == "ec2" else QUERY


@dataclass(frozen=True, slots=True)
class Verified:
    key: AccessKey
    auth: sigv4.Authentication


class Verifier:
    """Checks a request's SigV4 authentication against the known access keys."""

    def __init__(self, keys: AccessKeys, wall: Callable[[], float] = time.time, *,
                 long_messages: bool = False) -> None:
        self.keys = keys
        self.wall = wall
        self.long_messages = long_messages

    def check(self, req: HttpRequest, service: str, now: float) -> Verified:
        """The access key that signed ``req`` for ``service``, or :class:`SigV4Error`
        (``now``: the emulated clock, for temporary credentials' expiry)."""
        auth = sigv4.parse(req.headers, req.query)
        sigv4.check_time(auth, self.wall(), SKEW_WINDOWS.get(service, DEFAULT_WINDOW))
        sigv4.check_scope(auth, service)
        key = self.keys.get(auth.access_key_id)
        if key is None:
            raise SigV4Error(Failure.UNKNOWN_KEY, sigv4.UNKNOWN_KEY)
        sigv4.verify(auth, key.secret_text, req.method, req.path, req.query, req.headers,
                     req.body)
        if key.session_token or auth.session_token is not None:
            if not key.session_token or not hmac.compare_digest(
                    key.session_token.encode(),
                    (auth.session_token or "").encode("utf-8", "surrogateescape")):
                raise SigV4Error(Failure.INVALID_TOKEN, sigv4.INVALID_TOKEN)
            if now >= key.expires:
                raise SigV4Error(Failure.EXPIRED_TOKEN, sigv4.EXPIRED_TOKEN)
        return Verified(key, auth)

    def authenticate(self, req: HttpRequest, service: str, now: float) -> Verified:
        """:meth:`check`, its failure answered as ``req``'s protocol answers it."""
        try:
            return self.check(req, service, now)
        except SigV4Error as err:
            if err.canonical_request:
                log.info("signature mismatch; expected canonical request %r, string to sign "
                         "%r", without_token(err.canonical_request), err.string_to_sign)
            raise answer(protocol_of(req, service), err,
                         long_messages=self.long_messages) from None


_TOKEN_IN_HEADERS = re.compile(r"^(x-amz-security-token:).*$", re.MULTILINE)
_TOKEN_IN_QUERY = re.compile(r"(X-Amz-Security-Token=)[^&\n]*")


def without_token(canonical: str) -> str:
    """A canonical request with a signed session token's value hidden (it is a credential;
    logs keep only that one was there)."""
    canonical = _TOKEN_IN_HEADERS.sub(r"\1***", canonical)
    return _TOKEN_IN_QUERY.sub(r"\1***", canonical)


class Auth:
    """What ``verify`` and ``enforce`` add to the app (``off`` has none of it)."""

    def __init__(self, mode: Mode, keys: AccessKeys, root: AccessKey, token: str,
                 verifier: Verifier) -> None:
        self.mode = mode
        self.keys = keys
        self.root = root
        self.admin_token = token
        self.verifier = verifier

    @property
    def enforce(self) -> bool:
        return self.mode is Mode.ENFORCE

    def account_of(self, akid: str) -> str | None:
        return self.keys.account_of(akid)

    @staticmethod
    def signed_service(req: HttpRequest) -> str:
        """The service of ``req``'s credential scope as the verifier parses it ("" for none)."""
        try:
            return sigv4.parse(req.headers, req.query).service
        except SigV4Error:
            return ""

    def authenticator(self, service_of: Callable[[HttpRequest, RequestContext], str]
                      ) -> Callable[[HttpRequest, RequestContext], None]:
        """The app authenticator: verify each AWS request for the service it is routed to,
        then make the request's context the verified key's: its account, its access key id,
        and the region of the scope it signed (whatever the header says elsewhere)."""
        verifier = self.verifier

        def authenticate(req: HttpRequest, ctx: RequestContext) -> None:
            verified = verifier.authenticate(req, service_of(req, ctx), ctx.now)
            ctx.account = verified.key.account
            ctx.access_key_id = verified.key.access_key_id
            ctx.principal = verified.key.principal or root_principal(verified.key.account)
            ctx.region = verified.auth.region
            ctx.scope = Scope.of(ctx.account, ctx.region)

        return authenticate

    def has_admin_token(self, req: HttpRequest) -> bool:
        scheme, _, token = req.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            token.strip().encode(), self.admin_token.encode())

    def check_admin(self, req: HttpRequest, now: float) -> None:
        """An admin request needs the admin token; the ``cloudhsm-cli`` route takes SigV4
        (signing name ``cloudhsm``) instead, and then its body must name the signer's access
        key id (``access_key_id``: the route's account is that key's; a body without it would
        fall back to the default account)."""
        if (req.method, req.path) in OPEN_ADMIN or self.has_admin_token(req):
            return
        if req.path.startswith("/_hsmkms/cloudhsm-cli/") and sigv4.has_authentication(
                req.headers, req.query):
            try:
                signer = self.verifier.check(req, "cloudhsm", now).key.access_key_id
            except SigV4Error as err:
                raise Unauthorized(err.message) from None
            try:
                doc = req.json()
            except ValueError:
                return  # the route answers a body that is not JSON
            if not isinstance(doc, dict):
                return  # the route answers a body that is not a JSON object
            if doc.get("access_key_id") != signer:
                raise Unauthorized("The access_key_id of the request is not the key that "
                                   "signed it.")
            return
        raise Unauthorized(ADMIN_REFUSED)


def build(config: Config, store: Store, now: float | None = None) -> Auth | None:
    """The auth of ``config``'s mode (None for ``off``): root keys installed (and STS's
    temporary credentials that have not expired at ``now``), admin token ready."""
    mode = Mode(config.auth)
    if mode is Mode.OFF:
        return None
    keys = AccessKeys(store)
    root = bootstrap(keys, config.data_dir, account=config.account, region=config.region,
                     akid=config.root_access_key_id, secret=config.root_secret_access_key,
                     others=config.root_keys, now=now)
    token = admin_token(config.data_dir, config.admin_token)
    return Auth(mode, keys, root, token, Verifier(keys))
