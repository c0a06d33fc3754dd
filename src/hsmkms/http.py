"""Transport-neutral requests and responses (the ASGI server and in-process mode both use them)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

#: A region or service name in a credential scope: a plain lower-case name.
_NAME = re.compile(r"[a-z0-9-]+")
_CREDENTIAL = "Credential="


def credential_scope(authorization: str) -> tuple[str, str, str] | None:
    """``(access key id, region, service)`` from a SigV4 Authorization header's
    ``Credential=<access key id>/<date>/<region>/<service>/aws4_request``; ``None`` for a
    scope whose region or service is not a plain lower-case name (the defaults apply).

    Linear in the header's length: one search, one split, no backtracking (a regex over the
    whole header took seconds for a 100 KB header, on the event loop).
    """
    start = authorization.find(_CREDENTIAL)
    if start < 0:
        return None
    value = authorization[start + len(_CREDENTIAL):]
    for stop in (",", " ", "\t"):
        value = value.partition(stop)[0]
    parts = value.split("/", 4)
    if len(parts) < 5 or not parts[0] or not parts[1]:
        return None
    akid, _date, region, service, _rest = parts
    if not _NAME.fullmatch(region) or not _NAME.fullmatch(service):
        return None
    return akid, region, service


@dataclass(slots=True)
class HttpRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes = b""
    query: str = ""
    client: str = "127.0.0.1"
    #: The local address the request arrived on ("" in process).
    server: str = ""

    def credential_scope(self) -> tuple[str, str, str] | None:
        """``(access key id, region, service)`` from a SigV4 Authorization header."""
        return credential_scope(self.headers.get("authorization", ""))

    def json(self) -> Any:
        """The body as JSON; ``ValueError`` for a body that is not (too deeply nested
        included: ``json`` raises ``RecursionError`` for those)."""
        try:
            return json.loads(self.body) if self.body.strip() else {}
        except RecursionError:
            raise ValueError("The request body is nested too deeply.") from None


@dataclass(slots=True)
class HttpResponse:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def of_json(cls, status: int, doc: object) -> HttpResponse:
        return cls(status, json.dumps(doc).encode(), [("content-type", "application/json")])
