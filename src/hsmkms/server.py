"""The ASGI adapter and the uvicorn runner (uvloop + httptools, bounded by
:mod:`hsmkms.connection`), one port for every service."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from hsmkms.app import App
from hsmkms.config import Config
from hsmkms.connection import BoundedHttpTools
from hsmkms.http import HttpRequest, HttpResponse
from hsmkms.protocol.awsjson import CONTENT_TYPE
from hsmkms.webconsole import CLOCK_PATH as CONSOLE_CLOCK_PATH
from hsmkms.webconsole import EVENTS_PATH

log = logging.getLogger("hsmkms")
TICK_SECONDS = 0.05
#: Seconds an open connection may idle between requests (uvicorn's default, made explicit).
TIMEOUT_KEEP_ALIVE = 5
#: The admin call that advances the clock (run in a worker thread).
CLOCK_PATH = "/_hsmkms/clock"
#: The calls run in a worker thread: the clock's (the admin route's and the console's).
THREADED_PATHS = frozenset({CLOCK_PATH, CONSOLE_CLOCK_PATH})
#: How often an event stream looks for new events, and sends a comment when it has none
#: for this long (so that proxies and the client see the connection is alive).
STREAM_POLL_SECONDS = 0.2
STREAM_KEEPALIVE_SECONDS = 15.0
#: Bodies up to this many times the limit are read to the end (and dropped) before the 413.
DRAIN_FACTOR = 16
#: Requests with bodies up to this size are answered directly on the event loop
#: (hsmkms.connection); larger ones through the ASGI adapter.
DIRECT_MAX_BODY = 64 * 1024

Scope = dict[str, Any]


class AsgiApp:
    def __init__(self, app: App) -> None:
        self.app = app
        self._ticker: asyncio.Task[None] | None = None

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        if scope["method"] == "GET" and scope["path"] == EVENTS_PATH:
            await self._stream(scope, receive, send)
            return
        response = await self._read_and_handle(scope, receive)
        headers = [(k.encode(), v.encode()) for k, v in response.headers]
        headers.append((b"content-length", str(len(response.body)).encode()))
        await send({"type": "http.response.start", "status": response.status,
                    "headers": headers})
        await send({"type": "http.response.body", "body": response.body})
        if self.app.after_response:
            with self.app.lock:
                for duty in self.app.after_response:
                    duty()

    async def _read_and_handle(self, scope: Scope, receive: Any) -> HttpResponse:
        limit = self.app.config.max_body
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope["headers"]}
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit * DRAIN_FACTOR:
            return _too_large(limit, self.app.ids.request_id())
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return HttpResponse(400)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size <= limit:
                chunks.append(chunk)
            elif size > limit * DRAIN_FACTOR:
                return _too_large(limit, self.app.ids.request_id())
            if not message.get("more_body"):
                break
        if size > limit:
            # Read (and dropped) to the end, so that the client, still sending, gets to read
            # the 413 instead of a connection reset.
            return _too_large(limit, self.app.ids.request_id())
        client = scope.get("client") or ("127.0.0.1", 0)
        server = scope.get("server") or ("", 0)
        req = HttpRequest(scope["method"], scope["path"], headers, b"".join(chunks),
                          scope.get("query_string", b"").decode("latin-1"), client[0],
                          server[0] or "")
        return await self._dispatch(req)

    async def _stream(self, scope: Scope, receive: Any, send: Any) -> None:
        """The console's timeline as server-sent events: polled from the timeline (no app
        lock, never blocking the loop) until the client goes away or the server stops."""
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope["headers"]}
        client = scope.get("client") or ("127.0.0.1", 0)
        server = scope.get("server") or ("", 0)
        req = HttpRequest("GET", scope["path"], headers, b"",
                          scope.get("query_string", b"").decode("latin-1"), client[0],
                          server[0] or "")
        with self.app.lock:
            refusal = self.app.console.refusal(req)
        if refusal is not None:
            await _send_whole(send, refusal)
            return
        timeline = self.app.console.timeline
        gone = asyncio.Event()

        async def watch_disconnect() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            gone.set()

        watcher = asyncio.create_task(watch_disconnect())
        last = timeline.last
        # Where the page's snapshot ended (``?after=N``) or, on a reconnection, the browser's
        # Last-Event-ID: what happened since is sent first (if it is still kept).
        resume = headers.get("last-event-id", "") or parse_qs(req.query).get("after", [""])[0]
        if resume.isdigit() and int(resume) < last:
            last = int(resume)
        with self.app.lock:  # the states as the stream starts: changes are told from here
            timeline.streams += 1
            timeline.watch()
        try:
            await send({"type": "http.response.start", "status": 200, "headers": [
                (b"content-type", b"text/event-stream; charset=utf-8"),
                (b"cache-control", b"no-store"), (b"x-accel-buffering", b"no")]})
            await send({"type": "http.response.body", "body": b"retry: 1000\n\n",
                        "more_body": True})
            quiet = 0.0
            while not gone.is_set() and not timeline.closed:
                events = timeline.since(last)
                if events:
                    last = events[-1]["seq"]
                    chunk = "".join(f"id: {e['seq']}\ndata: {json.dumps(e)}\n\n"
                                    for e in events)
                    await send({"type": "http.response.body", "body": chunk.encode(),
                                "more_body": True})
                    quiet = 0.0
                elif quiet >= STREAM_KEEPALIVE_SECONDS:
                    await send({"type": "http.response.body", "body": b": alive\n\n",
                                "more_body": True})
                    quiet = 0.0
                await asyncio.sleep(STREAM_POLL_SECONDS)  # a timer, no task: cheap per stream
                quiet += STREAM_POLL_SECONDS
            if not gone.is_set():
                await send({"type": "http.response.body", "body": b""})
        finally:
            with self.app.lock:
                timeline.streams -= 1
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher

    async def _dispatch(self, req: HttpRequest) -> HttpResponse:
        if req.method == "POST" and req.path.rstrip("/") in THREADED_PATHS:
            # A clock jump may run due work for seconds, letting go of the app lock between
            # slices of it (hsmkms.admin): off the event loop, other requests go on meanwhile.
            return await asyncio.to_thread(self.app.handle, req)
        if req.method == "POST" and self.app.preparable(req):
            # Slow key generation (RSA) runs in the thread without the app lock, so requests
            # on the event loop go on meanwhile (hsmkms.kms.keygen).
            return await asyncio.to_thread(self.app.prepare_and_handle, req)
        return self.app.handle(req)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._ticker = asyncio.create_task(self._tick_forever())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._ticker is not None:
                    self._ticker.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await self._ticker
                self.app.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _tick_forever(self) -> None:
        while True:
            try:
                self.app.tick()
            except Exception:
                log.exception("background work failed")
            await asyncio.sleep(TICK_SECONDS)


async def _send_whole(send: Any, response: HttpResponse) -> None:
    headers = [(k.encode(), v.encode()) for k, v in response.headers]
    headers.append((b"content-length", str(len(response.body)).encode()))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})


def _too_large(limit: int, request_id: str) -> HttpResponse:
    response = HttpResponse.of_json(413, {
        "__type": "RequestEntityTooLargeException",
        "message": f"The request body is larger than the limit of {limit} bytes."})
    response.headers = [("content-type", CONTENT_TYPE), ("x-amzn-requestid", request_id)]
    return response


def _server_class(uvicorn: Any) -> Any:
    """uvicorn's server, except for the end: uvicorn re-raises SIGTERM/SIGINT once its
    graceful shutdown is done, so the process ends "killed by a signal" (143 or 130 in a
    shell). hsmkms stops as asked and says so with exit status 0, which is what a supervisor
    or a CI script that stops it expects."""
    import signal  # noqa: PLC0415
    import threading  # noqa: PLC0415

    from uvicorn.server import HANDLED_SIGNALS  # noqa: PLC0415

    class Server(uvicorn.Server):  # type: ignore[misc]
        @contextlib.contextmanager
        def capture_signals(self) -> Any:
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            originals = {sig: signal.signal(sig, self.handle_exit) for sig in HANDLED_SIGNALS}
            try:
                yield
            finally:
                for sig, handler in originals.items():
                    signal.signal(sig, handler)

    return Server


def _protocol(app: App) -> type[BoundedHttpTools]:
    """The connection protocol: bounded (:mod:`hsmkms.connection`), and answering every
    request directly on the event loop, as the ASGI adapter would, but those the adapter runs
    in a worker thread (:meth:`AsgiApp._dispatch`): a clock jump, and a request with slow work
    to prepare (CreateKey, GenerateDataKeyPair*: RSA generation, hsmkms.kms.keygen), which on
    the event loop would stall every connection, health checks and the ticker meanwhile."""

    class Protocol(BoundedHttpTools):
        request_timeout = float(app.config.request_timeout)
        # Bodies past uvicorn's read high-water mark (and 413s) take the ASGI path.
        direct_max_body = min(app.config.max_body, DIRECT_MAX_BODY)

        def takes(self, req: HttpRequest) -> bool:
            if req.method == "GET":
                return req.path != EVENTS_PATH  # a stream takes the ASGI path
            return req.method != "POST" or not (req.path.rstrip("/") in THREADED_PATHS
                                                or app.preparable(req))

        def shutdown(self) -> None:
            # A graceful stop ends the console's event streams (they would hold it up).
            app.console.timeline.close()
            super().shutdown()

        def answer(self, req: HttpRequest) -> HttpResponse:
            return app.handle(req)

        def answered(self) -> None:
            if app.after_response:
                with app.lock:
                    for duty in app.after_response:
                        duty()

    return Protocol


def _raise_open_files_limit() -> None:
    """Up to the hard limit: each connection holds a descriptor, and a soft limit of 1,024
    made health checks fail behind 1,100 silent connections."""
    import resource  # noqa: PLC0415 - POSIX only, and only the server needs it

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 1 << 16)), hard))


def serve(config: Config, *, demo: bool = False) -> None:
    import gc  # noqa: PLC0415
    import threading  # noqa: PLC0415
    import urllib.request  # noqa: PLC0415

    import uvicorn  # noqa: PLC0415 - only the server needs it

    app = App(config)
    # The botocore models and compiled shapes live as long as the process: keep them out of
    # every full collection (a gen-2 collection of them took 90-340 ms under load).
    gc.collect()
    gc.freeze()
    # CloudTrail rows are built and inserted by a process of their own (hsmkms.trail.writer),
    # which opens the SQLite file; on PostgreSQL the trail's writer thread keeps the job.
    if not config.database:
        app.trail.start_writer_process(str(Path(config.data_dir) / "hsmkms.db"))
    _raise_open_files_limit()
    # Between requests a connection may idle TIMEOUT_KEEP_ALIVE seconds; during one, the
    # protocol's request deadline applies (hsmkms.connection). No limit_concurrency: past it
    # uvicorn answers 503, health checks included.
    server = _server_class(uvicorn)(uvicorn.Config(
        AsgiApp(app), host=config.host, port=config.port, loop="uvloop",
        http=_protocol(app), lifespan="on", log_level=config.log_level, access_log=False,
        timeout_keep_alive=TIMEOUT_KEEP_ALIVE, timeout_graceful_shutdown=5))
    if demo:
        host = "127.0.0.1" if config.host in ("0.0.0.0", "::") else config.host  # noqa: S104
        endpoint = f"http://{host}:{config.port}"

        def build_demo() -> None:
            from hsmkms.demo import run_demo  # noqa: PLC0415

            while not server.started:
                if server.should_exit:
                    return
                threading.Event().wait(0.05)
            urllib.request.urlopen(f"{endpoint}/_hsmkms/health", timeout=10).close()  # noqa: S310
            try:
                if app.auth is None:
                    run_demo(endpoint, config.data_dir)
                else:
                    root = app.auth.root
                    run_demo(endpoint, config.data_dir,
                             {"aws_access_key_id": root.access_key_id,
                              "aws_secret_access_key": root.secret_text},
                             app.auth.admin_token)
            except Exception:
                log.exception("the demo environment could not be built")

        threading.Thread(target=build_demo, name="hsmkms-demo", daemon=True).start()
    server.run()
