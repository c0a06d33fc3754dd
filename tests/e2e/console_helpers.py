"""Helpers for the web console's tests: plain HTTP to ``/_hsmkms/console`` and a reader of its
server-sent event stream."""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
from dataclasses import dataclass, field
from typing import Any

CONSOLE = "/_hsmkms/console"


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def cookies(self) -> list[str]:
        return [v for k, v in self.headers.items() if k == "set-cookie"]


def call(port: int, method: str, path: str, body: Any = None, *, host: str = "127.0.0.1",
         headers: dict[str, str] | None = None) -> Answer:
    """One request (``body``: JSON-encoded unless bytes); the answer whatever its status."""
    conn = http.client.HTTPConnection(host, port, timeout=30)
    try:
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        sent = {"content-type": "application/json"} if data is not None else {}
        sent.update(headers or {})
        conn.request(method, CONSOLE + path, body=data, headers=sent)
        resp = conn.getresponse()
        found = {k.lower(): v for k, v in resp.getheaders()}
        return Answer(resp.status, found, resp.read())
    finally:
        conn.close()


@dataclass
class Stream:
    """An open ``GET /_hsmkms/console/events``."""

    conn: http.client.HTTPConnection
    response: http.client.HTTPResponse
    events: list[dict[str, Any]] = field(default_factory=list)

    def next_event(self) -> dict[str, Any] | None:
        """The next event (None: the stream ended); socket timeouts raise."""
        data: list[str] = []
        while True:
            line = self.response.readline()
            if not line:
                return None
            text = line.decode().rstrip("\n")
            if text.startswith("data: "):
                data.append(text[6:])
            elif not text and data:
                event = json.loads("\n".join(data))
                self.events.append(event)
                return dict(event)

    def until(self, wanted: Any, limit: int = 500, *, seen: bool = False) -> dict[str, Any]:
        """Read events until one for which ``wanted(event)`` is true (``seen``: or the first
        such of those already read)."""
        if seen:
            found = [e for e in self.events if wanted(e)]
            if found:
                return dict(found[0])
        for _ in range(limit):
            event = self.next_event()
            assert event is not None, f"the stream ended; events: {self.events}"
            if wanted(event):
                return event
        raise AssertionError(f"no such event among {self.events}")

    def close(self) -> None:
        self.conn.close()


def stream(port: int, *, host: str = "127.0.0.1", headers: dict[str, str] | None = None,
           timeout: float = 30) -> tuple[int, Stream | Answer]:
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    conn.request("GET", CONSOLE + "/events", headers=headers or {})
    resp = conn.getresponse()
    if resp.status != 200:
        answer = Answer(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
        conn.close()
        return resp.status, answer
    return 200, Stream(conn, resp)


def non_loopback_address() -> str | None:
    """An IPv4 address of this machine that is not a loopback one (None: there is none): the
    source address of a route to a documentation address (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("198.51.100.1", 9))
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if address.startswith("127.") or address == "0.0.0.0" else address  # noqa: S104


#: A documentation address put on the loopback interface when the machine has no other one.
BORROWED = "192.0.2.77"


def borrowed_address() -> str:
    """:data:`BORROWED`, added to ``lo`` (as root) so that this machine can call itself from a
    non-loopback address; fails, never skips, when that is impossible. Left in place: the
    address is reserved for documentation and routes nowhere."""
    if BORROWED not in subprocess.run(["ip", "-4", "addr", "show", "dev", "lo"],  # noqa: S607
                                      capture_output=True, text=True, check=True).stdout:
        subprocess.run(["ip", "addr", "add", f"{BORROWED}/32", "dev", "lo"],  # noqa: S603, S607
                       check=True)
    return BORROWED
