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
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

#: The most bytes a request line and its headers may take in all.
MAX_HEAD = 64 * 1024
#: After a refusal the rest of what the client sends is read and dropped (up to this many
#: bytes, for up to LINGER_SECONDS), so that it gets to read the answer rather than a
#: connection reset.
DRAIN_BYTES = 16 * MAX_HEAD
LINGER_SECONDS = 2.0
_TOO_LARGE = "RequestHeaderFieldsTooLarge"


class BoundedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol with a head-size limit and a request deadline."""

    #: Seconds for a whole request to arrive (``0``: no deadline); set by the server.
    request_timeout: float = 30.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True
        self._head_bytes = 0
        self._drained: int | None = None  # bytes dropped since a refusal, once refused
        self._deadline: asyncio.TimerHandle | None = None

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
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        self._in_head, self._head_bytes = True, 0
        super().on_message_complete()

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
