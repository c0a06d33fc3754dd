"""AWS Signature Version 4, verified (spec authz.md §2): pure functions of the request as sent.

:func:`parse` reads the authentication a request carries (the ``Authorization`` header or a
presigned query) in the order a Coral service checks it (§2.6), :func:`check_time` applies the
service's clock-skew window to the *wall* clock the caller passes (§10 Q2: clients sign with
real time, whatever the emulated clock says), :func:`check_scope` the credential scope, and
:func:`verify` recomputes the signature from the raw path, query, signed headers and body. Each
failure is a :class:`SigV4Error` naming a protocol-neutral :class:`Failure`; the protocols'
codes, statuses and bodies are :mod:`hsmkms.auth.errors`' business.

No HTTP objects, no clock, no store: headers are a mapping of lower-case names.
"""

from __future__ import annotations

import base64
import calendar
import datetime as dt
import enum
import functools
import hashlib
import hmac
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_tz
from urllib.parse import quote, unquote

ALGORITHM = "AWS4-HMAC-SHA256"
TERMINATOR = "aws4_request"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
#: The longest a presigned request may be valid (seconds), as for every SigV4 service.
MAX_EXPIRES = 604800

SIGNATURE_MISMATCH = ("The request signature we calculated does not match the signature you "
                      "provided. Check your AWS Secret Access Key and signing method. Consult "
                      "the service documentation for details.")
MISSING_TOKEN = "Request is missing Authentication Token"  # noqa: S105 - a message
UNKNOWN_KEY = "The security token included in the request is invalid."
#: A known temporary key id with a token that is not its own: no final period (spec §2.5).
INVALID_TOKEN = "The security token included in the request is invalid"  # noqa: S105 - a message
EXPIRED_TOKEN = "The security token included in the request is expired"  # noqa: S105 - a message

_PRESIGNED_REQUIRED = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-Date",
                       "X-Amz-SignedHeaders")


class Failure(enum.Enum):
    """Why a request's authentication was refused, whatever the protocol."""

    MISSING = "missing"                  # no authentication at all
    INCOMPLETE = "incomplete"            # a malformed Authorization header or presigned query
    INVALID_SIGNATURE = "invalid"        # scope, skew, unsigned host, or a wrong signature
    UNKNOWN_KEY = "unknown-key"          # no such access key id
    INVALID_TOKEN = "invalid-token"  # noqa: S105 - a session token that is not the key's
    EXPIRED_TOKEN = "expired-token"  # noqa: S105 - temporary credentials past their expiry
    SKEW = "skew"                        # signed too long ago or too far ahead


class SigV4Error(Exception):
    def __init__(self, failure: Failure, message: str, *, canonical_request: str = "",
                 string_to_sign: str = "") -> None:
        super().__init__(message)
        self.failure = failure
        self.message = message
        #: What the server expected (for a mismatch), for logs and the protocols that say it.
        self.canonical_request = canonical_request
        self.string_to_sign = string_to_sign


@dataclass(frozen=True, slots=True)
class Authentication:
    """What a request's SigV4 authentication says (not yet verified)."""

    access_key_id: str
    scope_date: str
    region: str
    service: str
    terminator: str
    signed_headers: tuple[str, ...]
    signature: str
    #: The request time, ISO-8601 basic (``20260102T030405Z``), and as epoch seconds.
    amz_date: str
    timestamp: float
    presigned: bool = False
    #: Seconds a presigned request stays valid (``X-Amz-Expires``).
    expires: int = 0
    session_token: str | None = None

    @property
    def scope(self) -> str:
        return f"{self.scope_date}/{self.region}/{self.service}/{self.terminator}"


def has_authentication(headers: Mapping[str, str], query: str) -> bool:
    """Whether a request carries any SigV4 authentication (cheap; not validated)."""
    return headers.get("authorization", "").startswith("AWS4-") or (
        "X-Amz-Algorithm=" in query)


def _hashed(header: str) -> str:
    """The header in an error message: its SHA-256, base64 (never the signature itself;
    spec §10 Q3)."""
    digest = base64.b64encode(hashlib.sha256(header.encode("utf-8", "replace")).digest())
    return f"(Hashed with SHA-256 and encoded with Base64) Authorization={digest.decode()}"


def _query_pairs(query: str) -> list[tuple[str, str]]:
    pairs = []
    for part in query.split("&"):
        if part:
            name, _, value = part.partition("=")
            pairs.append((unquote(name), unquote(value)))
    return pairs


def parse(headers: Mapping[str, str], query: str) -> Authentication:
    """The request's authentication, or the :class:`SigV4Error` a Coral service answers."""
    header = headers.get("authorization")
    presigned = "X-Amz-Algorithm=" in query
    if header is not None and presigned:
        raise SigV4Error(Failure.INVALID_SIGNATURE,
                         "Found both 'X-Amz-Algorithm' as a query-string param and "
                         "'Authorization' as HTTP header.")
    if presigned:
        return _parse_presigned(dict(_query_pairs(query)), headers)
    if header is None or not header.startswith("AWS4-"):
        raise SigV4Error(Failure.MISSING, MISSING_TOKEN)
    return _parse_header(header, headers)


def _parse_header(header: str, headers: Mapping[str, str]) -> Authentication:
    algorithm, _, rest = header.partition(" ")
    parts: dict[str, str] = {}
    for raw in rest.split(","):
        part = raw.strip()
        if not part:
            continue
        name, eq, value = part.partition("=")
        if not eq:
            raise SigV4Error(Failure.INCOMPLETE,
                             f"'{part}' not a valid key=value pair (missing equal-sign) in "
                             f"Authorization header: {_hashed(header)}.")
        name = name.strip()
        if name in parts:  # which one counts would be a guess: refuse (never the first/last)
            raise SigV4Error(Failure.INCOMPLETE,
                             f"'{name}' appears more than once in Authorization header: "
                             f"{_hashed(header)}.")
        parts[name] = value.strip()
    problems = "".join(
        f"Authorization header requires '{name}' parameter. "
        for name in ("Credential", "Signature", "SignedHeaders") if not parts.get(name))
    date = headers.get("x-amz-date") or headers.get("date")
    if date is None:
        problems += ("Authorization header requires existence of either a 'X-Amz-Date' or a "
                     "'Date' header. ")
    if problems:
        raise SigV4Error(Failure.INCOMPLETE, problems + _hashed(header))
    assert date is not None
    amz_date, timestamp = _request_time(date, from_date_header="x-amz-date" not in headers)
    return _authentication(algorithm, parts["Credential"], parts["SignedHeaders"],
                           parts["Signature"], amz_date, timestamp,
                           session_token=headers.get("x-amz-security-token"))


def _parse_presigned(params: dict[str, str], headers: Mapping[str, str]) -> Authentication:
    for name in _PRESIGNED_REQUIRED:
        if not params.get(name):
            raise SigV4Error(Failure.INCOMPLETE,
                             f"AWS query-string parameters must include '{name}'. "
                             "Re-examine the query-string parameters.")
    amz_date, timestamp = _request_time(params["X-Amz-Date"], from_date_header=False)
    raw_expires = params.get("X-Amz-Expires", str(MAX_EXPIRES))
    # isascii: "²".isdigit() is true, and int() refuses it.
    if not (raw_expires.isascii() and raw_expires.isdigit()) or not (
            1 <= int(raw_expires) <= MAX_EXPIRES):
        raise SigV4Error(Failure.INCOMPLETE,
                         f"X-Amz-Expires must be a whole number of seconds from 1 to "
                         f"{MAX_EXPIRES}, not '{raw_expires}'.")
    token = params.get("X-Amz-Security-Token", headers.get("x-amz-security-token"))
    return _authentication(params["X-Amz-Algorithm"], params["X-Amz-Credential"],
                           params["X-Amz-SignedHeaders"], params["X-Amz-Signature"], amz_date,
                           timestamp, presigned=True, expires=int(raw_expires),
                           session_token=token)


def _authentication(algorithm: str, credential: str, signed: str, signature: str,
                    amz_date: str, timestamp: float, *, presigned: bool = False,
                    expires: int = 0, session_token: str | None = None) -> Authentication:
    if algorithm != ALGORITHM:
        raise SigV4Error(Failure.INCOMPLETE,
                         f"Unsupported AWS 'algorithm': '{algorithm}' (only {ALGORITHM} for "
                         "now). ")
    names = tuple(signed.split(";"))
    if "host" not in names:
        raise SigV4Error(Failure.INVALID_SIGNATURE,
                         "'Host' must be a 'SignedHeader' in the AWS Authorization.")
    scope = credential.split("/")
    if len(scope) != 5:
        raise SigV4Error(Failure.INCOMPLETE,
                         "Credential must have exactly 5 slash-delimited elements, e.g. "
                         f"keyid/date/region/service/term, got '{credential}'")
    akid, date, region, service, terminator = scope
    return Authentication(akid, date, region, service, terminator, names, signature, amz_date,
                          timestamp, presigned, expires, session_token)


#: A region in a credential scope: lower case, as AWS's are (``US-EAST-1`` is refused).
_REGION = re.compile(r"[a-z0-9-]+")
_SIGNATURE = re.compile(r"[0-9a-f]{64}")
_BASIC = re.compile(r"(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z")


def _request_time(value: str, *, from_date_header: bool) -> tuple[str, float]:
    """``(ISO-8601 basic, epoch seconds)`` of ``X-Amz-Date`` (or an RFC 1123 ``Date``)."""
    if from_date_header:
        parsed = parsedate_tz(value)
        if parsed is not None:
            stamp = calendar.timegm(parsed[:9]) - (parsed[9] or 0)
            return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(stamp)), float(stamp)
    else:
        found = _BASIC.fullmatch(value)
        if found is not None:
            try:  # datetime checks the ranges (strptime was a third of the verification)
                year, month, day, hour, minute, second = (int(g) for g in found.groups())
                moment = dt.datetime(year, month, day, hour, minute, second, tzinfo=dt.UTC)
            except ValueError:
                pass
            else:
                return value, moment.timestamp()
    raise SigV4Error(Failure.INCOMPLETE,
                     f"Date must be in ISO-8601 'basic format'. Got '{value}'. See "
                     "http://en.wikipedia.org/wiki/ISO_8601")


def _basic(stamp: float) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(stamp))


def check_time(auth: Authentication, now: float, window: int) -> None:
    """Refuse a request signed more than ``window`` seconds before or after ``now`` (the
    wall clock); a presigned one is good from ``window`` before its date until it expires."""
    minutes = f"{window // 60} min."
    if auth.timestamp > now + window:
        raise SigV4Error(Failure.SKEW,
                         f"Signature not yet current: {auth.amz_date} is still later than "
                         f"{_basic(now + window)} ({_basic(now)} + {minutes})")
    if auth.presigned:
        if now > auth.timestamp + auth.expires:
            raise SigV4Error(Failure.SKEW,
                             f"Signature expired: {auth.amz_date} is now earlier than "
                             f"{_basic(now - auth.expires)} ({_basic(now)} - "
                             f"{auth.expires} sec.)")
        return
    if auth.timestamp < now - window:
        raise SigV4Error(Failure.SKEW,
                         f"Signature expired: {auth.amz_date} is now earlier than "
                         f"{_basic(now - window)} ({_basic(now)} - {minutes})")


def check_scope(auth: Authentication, service: str, *, any_region: bool = True,
                regions: frozenset[str] = frozenset()) -> None:
    """The credential scope: a region (``regions``, unless ``any_region``), the routed
    service's signing name, the terminator, and the date of the request."""
    problems = ""
    region_ok = _REGION.fullmatch(auth.region) is not None and (
        any_region or auth.region in regions)
    if not region_ok:
        problems += f"Credential should be scoped to a valid region, not '{auth.region}'. "
    if auth.service != service:
        problems += f"Credential should be scoped to correct service: '{service}'. "
    if auth.terminator != TERMINATOR:
        problems += ("Credential should be scoped with a valid terminator: 'aws4_request', not "
                     f"'{auth.terminator}'. ")
    if auth.scope_date != auth.amz_date[:8]:
        problems += ("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of "
                     f"date from HTTP: '{auth.scope_date}' != '{auth.amz_date[:8]}', from "
                     f"'{auth.amz_date}'.")
    if problems:
        raise SigV4Error(Failure.INVALID_SIGNATURE, problems.rstrip())


# -- the signature ---------------------------------------------------------------------------


def _encode(text: str) -> str:
    return quote(text, safe="-_.~")


def canonical_uri(path: str) -> str:
    """The path as botocore signs it: normalised, then percent-encoded (``/`` kept)."""
    if path == "/" or not path:  # every AWS API request hsmkms serves
        return "/"
    return quote(path, safe="/~")


def canonical_query(query: str, *, presigned: bool = False) -> str:
    if not query:
        return ""
    pairs = sorted((_encode(n), _encode(v)) for n, v in _query_pairs(query)
                   if not (presigned and n == "X-Amz-Signature"))
    return "&".join(f"{n}={v}" for n, v in pairs)


def payload_hash(headers: Mapping[str, str], body: bytes, signed: tuple[str, ...]) -> str:
    """SHA-256 of the body; a signed ``X-Amz-Content-SHA256`` that disagrees with the body is
    refused (spec §10 Q20), ``UNSIGNED-PAYLOAD`` included: only S3 accepts an unsigned body,
    and hsmkms serves no S3 (the KMS, CloudHSM, STS, IAM, EC2 and CloudTrail APIs hash it)."""
    actual = hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256
    declared = headers.get("x-amz-content-sha256")
    if declared is None or "x-amz-content-sha256" not in signed:
        return actual
    if declared.lower() != actual:
        raise SigV4Error(Failure.INVALID_SIGNATURE, SIGNATURE_MISMATCH)
    return declared


def canonical_request(method: str, path: str, query: str, headers: Mapping[str, str],
                      signed: tuple[str, ...], payload: str, *, presigned: bool = False) -> str:
    lines = "".join(f"{name}:{' '.join(headers.get(name, '').split())}\n"
                    for name in sorted(signed))
    return "\n".join((method.upper(), canonical_uri(path),
                      canonical_query(query, presigned=presigned), lines,
                      ";".join(sorted(signed)), payload))


def string_to_sign(amz_date: str, scope: str, canonical: str) -> str:
    digest = hashlib.sha256(canonical.encode("utf-8", "surrogateescape")).hexdigest()
    return f"{ALGORITHM}\n{amz_date}\n{scope}\n{digest}"


@functools.lru_cache(maxsize=256)
def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = hmac.digest(("AWS4" + secret).encode(), date.encode(), "sha256")
    for part in (region, service, TERMINATOR):
        key = hmac.digest(key, part.encode(), "sha256")
    return key


@functools.lru_cache(maxsize=256)
def _keyed_mac(secret: str, date: str, region: str, service: str) -> hmac.HMAC:
    """An HMAC-SHA256 keyed with the signing key, to copy (a copy costs a third of keying a
    new one)."""
    return hmac.new(signing_key(secret, date, region, service), digestmod=hashlib.sha256)


def sign(secret: str, auth: Authentication, to_sign: str) -> str:
    mac = _keyed_mac(secret, auth.scope_date, auth.region, auth.service).copy()
    mac.update(to_sign.encode())
    return mac.hexdigest()


def verify(auth: Authentication, secret: str, method: str, path: str, query: str,
           headers: Mapping[str, str], body: bytes) -> None:
    """Recompute the signature over the request as sent; refuse a mismatch.

    The body is always signed (no ``UNSIGNED-PAYLOAD``: that is S3's), and a JSON-protocol
    request's ``X-Amz-Target`` (its operation) must be a signed header, or a presigned URL
    that signs only ``host`` could be replayed as any operation (spec authz.md §2).
    """
    if "x-amz-target" in headers and "x-amz-target" not in auth.signed_headers:
        raise SigV4Error(Failure.INVALID_SIGNATURE,
                         "'X-Amz-Target' must be a 'SignedHeader' in the AWS Authorization.")
    payload = payload_hash(headers, body, auth.signed_headers)
    canonical = canonical_request(method, path, query, headers, auth.signed_headers, payload,
                                  presigned=auth.presigned)
    to_sign = string_to_sign(auth.amz_date, auth.scope, canonical)
    # A signature that is not 64 lower-case hex digits cannot match (and compare_digest
    # refuses non-ASCII text with a TypeError: bytes are compared).
    if _SIGNATURE.fullmatch(auth.signature) is not None and hmac.compare_digest(
            sign(secret, auth, to_sign).encode(), auth.signature.encode()):
        return
    raise SigV4Error(Failure.INVALID_SIGNATURE, SIGNATURE_MISMATCH,
                     canonical_request=canonical, string_to_sign=to_sign)


def long_mismatch(err: SigV4Error) -> str:
    """The mismatch message with what the server expected, as older Coral services (and the
    query services) word it."""
    return (f"{SIGNATURE_MISMATCH}\n\nThe Canonical String for this request should have "
            f"been\n'{err.canonical_request}'\n\nThe String-to-Sign should have been\n"
            f"'{err.string_to_sign}'\n")


def sign_request(method: str, path: str, headers: dict[str, str], body: bytes, *,
                 access_key_id: str, secret: str, region: str, service: str, now: float,
                 session_token: str | None = None) -> dict[str, str]:
    """``headers`` (lower-case names, ``host`` included) plus ``x-amz-date`` and the
    ``Authorization`` header signing them: the client side, for hsmkms's own stdlib-only
    clients (``cloudhsm-cli``)."""
    out = dict(headers)
    out["x-amz-date"] = _basic(now)
    if session_token:
        out["x-amz-security-token"] = session_token
    names = tuple(sorted(out))
    auth = Authentication(access_key_id, out["x-amz-date"][:8], region, service, TERMINATOR,
                          names, "", out["x-amz-date"], now, session_token=session_token)
    canonical = canonical_request(method, path, "", out, names,
                                  hashlib.sha256(body).hexdigest())
    signature = sign(secret, auth, string_to_sign(auth.amz_date, auth.scope, canonical))
    out["authorization"] = (f"{ALGORITHM} Credential={access_key_id}/{auth.scope}, "
                            f"SignedHeaders={';'.join(names)}, Signature={signature}")
    return out
