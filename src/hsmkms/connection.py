"""One HTTP connection, bounded: uvicorn's httptools protocol with two limits added.

* **Head size.** A request's line and headers together may take at most :data:`MAX_HEAD`
  bytes. Data is fed to the parser in slices that never take a head past the limit, so a client
  streaming an endless header holds at most that much memory (the parser buffers a header value
  until it ends); a longer head is answered 431 with a JSON body and the connection closed.
* **Request deadline.** From the moment a connection opens, and from the first byte of each
  further request on it, the whole request (head and body) must arrive within
  ``request_timeout`` seconds, else the connection is closed: silent, slowloris and
  stalled-body connections end. The time the app takes to answer is not limited; between
  requests uvicorn's keep-alive timeout applies.

A body held while its app call waits is bounded by uvicorn (it pauses reading past 64 KiB) and
by the ASGI adapter (``max_body``).

**Direct answers.** A request the subclass takes (:meth:`BoundedHttpTools.takes`, from its
head: one quick to answer; a plain
request with a ``Content-Length`` within ``direct_max_body``, no ``Expect``, no upgrade, no
``X-Forwarded-*`` header for uvicorn's proxy-headers middleware to apply, nothing of an ASGI
request still in flight on the connection) is not handed to an ASGI task: its body is collected
as it arrives and, once the request is complete, :meth:`BoundedHttpTools.answer` answers it on
the event loop and the answer is written as uvicorn writes one (its ``date`` and ``server``
headers, ``connection: close`` when the request or a graceful stop asks for it, the keep-alive
timeout armed after it). Every other request takes uvicorn's ASGI path unchanged. Per request
this saves uvicorn's task, its request/response cycle, the ASGI messages and the middleware:
about a third of the server's instructions per request (``bench/instructions.py``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.parse
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import (
    HEADER_VALUE_RE,
    STATUS_LINE,
    HttpToolsProtocol,
)

from hsmkms.http import HttpRequest, HttpResponse

log = logging.getLogger("hsmkms")

#: The most bytes a request line and its headers may take in all.
MAX_HEAD = 64 * 1024
#: After a refusal the rest of what the client sends is read and dropped (up to this many
#: bytes, for up to LINGER_SECONDS), so that it gets to read the answer rather than a
#: connection reset.
DRAIN_BYTES = 16 * MAX_HEAD
LINGER_SECONDS = 2.0
_TOO_LARGE = "RequestHeaderFieldsTooLarge"
#: Request headers that send a request the ASGI way: uvicorn's proxy-headers middleware reads
#: the first two; a body of unknown length or an expected 100-continue is uvicorn's to handle.
_ASGI_ONLY = frozenset({"x-forwarded-for", "x-forwarded-proto", "transfer-encoding", "expect",
                        "upgrade"})
_INTERNAL_ERROR = b"".join([
    STATUS_LINE[500], b"content-type: text/plain; charset=utf-8\r\n",
    b"content-length: 21\r\nconnection: close\r\n\r\nInternal Server Error"])


class BoundedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol with a head-size limit and a request deadline."""

    #: Seconds for a whole request to arrive (``0``: no deadline); set by the server.
    request_timeout: float = 30.0
    #: The largest body a request answered directly may declare (``0``: none is).
    direct_max_body: int = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True
        self._head_bytes = 0
        self._drained: int | None = None  # bytes dropped since a refusal, once refused
        self._deadline: asyncio.TimerHandle | None = None
        #: The request being read for a direct answer (its body still arriving), if any.
        self._direct: HttpRequest | None = None
        self._direct_body: list[bytes] = []
        self._direct_keep_alive = True

    # -- direct answers (the subclass's) -----------------------------------------------------

    def takes(self, req: HttpRequest) -> bool:  # noqa: ARG002
        """Whether ``req`` (its head read, its body still to come) is answered directly
        (:meth:`answer`): an answer made on the event loop, so it must be quick."""
        return False

    def answer(self, req: HttpRequest) -> HttpResponse:
        """The answer to a request taken by :meth:`takes`, read whole."""
        raise NotImplementedError

    def answered(self) -> None:
        """Runs after a direct answer was written."""

    # -- the deadline -------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._deadline is None and self.request_timeout > 0:
            self._deadline = self.loop.call_later(self.request_timeout, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()

    # -- the head limit -----------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._drained is not None:
            self._drained += len(data)
            if self._drained > DRAIN_BYTES:
                self.transport.close()
            return
        while data and self._in_head and self._drained is None \
                and not self.transport.is_closing():
            room = MAX_HEAD - self._head_bytes
            if room <= 0:
                self._refuse_head()
                return
            piece, data = data[:room], data[room:]
            self._head_bytes += len(piece)
            super().data_received(piece)
        if data and self._drained is None and not self.transport.is_closing():
            super().data_received(data)

    def on_message_begin(self) -> None:
        if self.direct_max_body:
            # What uvicorn's on_message_begin sets, but its ASGI scope, made only for a request
            # that takes the ASGI path (_asgi_scope).
            self.url = b""
            self.expect_100_continue = False
            self.headers = []
        else:
            super().on_message_begin()
        self._arm()

    def _asgi_scope(self) -> None:
        url, headers, expect = self.url, self.headers, self.expect_100_continue
        super().on_message_begin()
        self.url, self.expect_100_continue = url, expect
        self.headers.extend(headers)  # the list the scope holds

    def on_headers_complete(self) -> None:
        self._in_head = False
        if self.direct_max_body:
            if self._take_directly():
                return
            self._asgi_scope()
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if self._direct is not None:
            self._direct_body.append(body)
        else:
            super().on_body(body)

    def on_message_complete(self) -> None:
        self._disarm()
        self._in_head, self._head_bytes = True, 0
        if self._direct is not None:
            self._answer_directly()
        else:
            super().on_message_complete()

    def shutdown(self) -> None:
        """Graceful stop: a request being read directly is answered, then the connection
        closed (as uvicorn does for one in its ASGI cycle)."""
        if self._direct is not None:
            self._direct_keep_alive = False
        else:
            super().shutdown()

    def _take_directly(self) -> bool:
        if (self.cycle is not None and not self.cycle.response_complete) or self.pipeline:
            return False  # an ASGI request is in flight: answers go out in order
        parser = self.parser
        method = parser.get_method().decode("ascii")
        if method == "HEAD":
            return False
        headers = {name.decode("latin-1"): value.decode("latin-1")
                   for name, value in self.headers}
        if not _ASGI_ONLY.isdisjoint(headers):
            return False
        declared = headers.get("content-length", "0")
        if not (declared.isascii() and declared.isdigit()) \
                or int(declared) > self.direct_max_body:
            return False
        url = httptools.parse_url(self.url)
        path = url.path.decode("ascii")
        if "%" in path:
            path = urllib.parse.unquote(path)
        client = self.client[0] if self.client else "127.0.0.1"
        server = self.server[0] if self.server else ""
        req = HttpRequest(method, path, headers, b"", (url.query or b"").decode("latin-1"),
                          client, server)
        if not self.takes(req):
            return False
        self._direct = req
        self._direct_body = []
        self._direct_keep_alive = parser.should_keep_alive() \
            and parser.get_http_version() != "1.0"
        return True

    def _answer_directly(self) -> None:
        req, self._direct = self._direct, None
        assert req is not None
        req.body = b"".join(self._direct_body)
        self._direct_body = []
        try:
            response = self.answer(req)
            content = _head(response, self.server_state.default_headers)
        except Exception:
            log.exception("internal error answering %s %s", req.method, req.path)
            self.transport.write(_INTERNAL_ERROR)
            self.transport.close()
            return
        if self.transport.is_closing():
            return  # the client went away meanwhile
        if not self._direct_keep_alive:
            content.append(b"connection: close\r\n")
        content.append(b"\r\n")
        content.append(response.body)
        self.transport.write(b"".join(content))
        self.server_state.total_requests += 1
        if not self._direct_keep_alive:
            self.transport.close()
        elif not self.transport.is_closing():
            self._unset_keepalive_if_required()
            self.timeout_keep_alive_task = self.loop.call_later(
                self.timeout_keep_alive, self.timeout_keep_alive_handler)
        self.answered()

    def _refuse_head(self) -> None:
        """431 with a JSON body, in the AWS JSON protocol's shape when the headers seen so far
        name a JSON operation; the rest of what the client sends is dropped, then the
        connection closed."""
        json_api = any(name == b"x-amz-target" for name, _ in self.headers or ())
        body = json.dumps({
            "__type": _TOO_LARGE,
            "message": f"The request line and headers are larger than the limit of "
                       f"{MAX_HEAD} bytes."}).encode()
        content_type = b"application/x-amz-json-1.1" if json_api else b"application/json"
        self.transport.write(b"".join([
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n",
            b"content-type: ", content_type, b"\r\n",
            b"content-length: ", str(len(body)).encode(), b"\r\n",
            b"connection: close\r\n\r\n", body]))
        self._drained = 0
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER_SECONDS, self.transport.close)


def _head(response: HttpResponse, default_headers: list[tuple[bytes, bytes]]) -> list[bytes]:
    """The status line and headers of a direct answer, as uvicorn writes an ASGI one (its
    default ``date`` and ``server`` headers first; a header value with a control character is
    an error, not a response split)."""
    content = [STATUS_LINE[response.status]]
    content.extend(b"%s: %s\r\n" % pair for pair in default_headers)
    for name, value in response.headers:
        raw = value.encode("latin-1")
        if HEADER_VALUE_RE.search(raw):
            raise ValueError(f"invalid value of response header {name}")
        content.append(b"%s: %s\r\n" % (name.encode("latin-1"), raw))
    content.append(b"content-length: %d\r\n" % len(response.body))
    return content
