"""What a web page could forge, refused.

A page a developer opens can send requests to ``http://127.0.0.1:4599`` (forms, ``fetch`` in
``no-cors`` mode) and, by DNS rebinding, even read the answers under its own host name. So:

* the admin and ``cloudhsm-cli`` routes (:func:`check_admin`) take a ``Host`` that names this
  server (a loopback name or address, the address the request arrived on, or the configured
  host), no ``Origin`` but their own, and only ``application/json`` bodies (a page can send
  ``text/plain``, form and multipart bodies without asking; JSON needs a CORS preflight,
  which hsmkms never grants);
* an AWS API request must carry SigV4 authentication, in the ``Authorization`` header or a
  presigned query (:func:`require_signature`, an app authenticator): a page cannot set that
  header on a cross-origin request. Unsigned, AWS answers ``MissingAuthenticationToken``
  [spec authz.md §2.6-2.7]; hsmkms does so in every auth mode.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, ClassVar
from urllib.parse import parse_qsl, urlsplit

from hsmkms.errors import ClientError

if TYPE_CHECKING:
    from hsmkms.context import RequestContext
    from hsmkms.http import HttpRequest

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})
#: Methods whose body a route reads (a page's form can POST).
_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})
#: The presigned-URL parameters of SigV4 [AWS: "Authenticating Requests: Using Query
#: Parameters"].
_PRESIGNED = frozenset({"X-Amz-Credential", "X-Amz-Algorithm"})


class MissingAuthenticationTokenException(ClientError):
    """The JSON services' answer to an unsigned request: HTTP 400, as a JSON 1.x service
    answers it (spec authz.md 2.6-2.7, from a captured DynamoDB answer)."""


class MissingAuthenticationToken(ClientError):
    """EC2's (query protocol) answer to an unsigned request: HTTP 403 (EC2's common errors)."""

    status: ClassVar[int] = 403


class UnsupportedMediaType(ClientError):
    status: ClassVar[int] = 415


class ForbiddenOrigin(ClientError):
    status: ClassVar[int] = 403


class ForbiddenHost(ClientError):
    status: ClassVar[int] = 403


def require_signature(req: HttpRequest, _ctx: RequestContext) -> None:
    """Refuse an AWS request with no SigV4 authentication at all (not its verification)."""
    if req.headers.get("authorization", "").startswith("AWS4-"):
        return
    if "X-Amz-" in req.query and any(k in _PRESIGNED for k, _ in parse_qsl(req.query)):
        return
    if "x-amz-target" in req.headers:
        raise MissingAuthenticationTokenException("Request is missing Authentication Token")
    raise MissingAuthenticationToken("Request is missing Authentication Token")


def check_admin(req: HttpRequest, configured_host: str,
                allowed: frozenset[str] = frozenset()) -> None:
    """Refuse an admin or ``cloudhsm-cli`` request a web page could have sent; ``allowed``:
    further host names that name this server (``--allowed-hosts``, lower case)."""
    host = req.headers.get("host")
    if host is not None and not _names_this_server(host, req.server, configured_host, allowed):
        raise ForbiddenHost(f"The Host header {host!r} does not name this server; admin "
                            "routes answer only to a loopback name or address or the "
                            "server's own.")
    origin = req.headers.get("origin")
    if origin is not None and (host is None or _netloc(origin) != host.lower()):
        raise ForbiddenOrigin(f"Requests from web pages (Origin {origin!r}) are refused.")
    if req.method in _WITH_BODY or req.body:
        media = req.headers.get("content-type", "").partition(";")[0].strip().lower()
        if media != "application/json":
            raise UnsupportedMediaType("Admin routes take only application/json bodies "
                                       "(Content-Type: application/json).")


def _netloc(origin: str) -> str:
    try:
        parts = urlsplit(origin)
    except ValueError:
        return ""
    return parts.netloc.lower() if parts.scheme in ("http", "https") else ""


def _hostname(host: str) -> str:
    """``Host`` without its port, brackets and trailing dot, lower-cased."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    name, colon, port = host.rpartition(":")
    if colon and port.isdigit() and ":" not in name:
        host = name
    return host.rstrip(".")


def _names_this_server(host: str, server: str, configured: str,
                       allowed: frozenset[str]) -> bool:
    name = _hostname(host)
    if name in LOOPBACK_NAMES or name in allowed \
            or (name and name in (server.lower(), configured.lower())):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False
