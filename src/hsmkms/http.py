"""Transport-neutral requests and responses (the ASGI server and in-process mode both use them)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

#: SigV4 ``Credential=<access key id>/<date>/<region>/<service>/aws4_request``; a scope whose
#: region or service is not a plain lower-case name is ignored (the defaults apply).
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/[^/]+/([a-z0-9-]+)/([a-z0-9-]+)/")


@dataclass(slots=True)
class HttpRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes = b""
    query: str = ""
    client: str = "127.0.0.1"

    def credential_scope(self) -> tuple[str, str, str] | None:
        """``(access key id, region, service)`` from a SigV4 Authorization header."""
        match = _CREDENTIAL.search(self.headers.get("authorization", ""))
        return (match.group(1), match.group(2), match.group(3)) if match else None

    def json(self) -> Any:
        return json.loads(self.body) if self.body.strip() else {}


@dataclass(slots=True)
class HttpResponse:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def of_json(cls, status: int, doc: object) -> HttpResponse:
        return cls(status, json.dumps(doc).encode(), [("content-type", "application/json")])
