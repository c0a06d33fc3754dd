"""In-process mode: boto3 clients answered by an App in this process, without a socket.

Each client gets its own ``before-send`` handler on its own event system (``client.meta.events``),
so nothing global is patched and other clients keep talking to wherever they point.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Self
from urllib.parse import urlsplit

import boto3
from botocore.awsrequest import AWSPreparedRequest, AWSResponse

from hsmkms.app import App
from hsmkms.config import Config
from hsmkms.http import HttpRequest
from hsmkms.testing.server import TEST_CREDENTIALS, client_config

ENDPOINT = "http://hsmkms.invalid"


class _RawBody:
    """The minimal file-like object botocore reads a response body from."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_kwargs: Any) -> Any:
        yield self._body

    def read(self, *_args: Any) -> bytes:
        body, self._body = self._body, b""
        return body


class InProcess:
    def __init__(self, data_dir: Path, **config: Any) -> None:
        # A fresh app: its own data dir, never a database named by HSMKMS_DATABASE.
        self.app = App(Config.from_env({"data_dir": str(data_dir), "database": "", **config}))
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick, name="hsmkms-ticker", daemon=True)
        self._ticker.start()

    def _tick(self) -> None:
        while not self._stop.wait(0.05):
            self.app.tick()

    def close(self) -> None:
        self._stop.set()
        self._ticker.join()
        self.app.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def send(self, request: AWSPreparedRequest, **_kwargs: Any) -> AWSResponse:
        parts = urlsplit(request.url)
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        elif not isinstance(body, bytes):
            body = body.read()
        headers = {k.lower(): (v.decode() if isinstance(v, bytes) else v)
                   for k, v in request.headers.items()}
        headers.setdefault("host", parts.netloc)  # as the HTTP client would send it
        resp = self.app.handle(HttpRequest(request.method, parts.path or "/", headers, body,
                                           parts.query))
        return AWSResponse(request.url, resp.status, dict(resp.headers), _RawBody(resp.body))

    @property
    def root_credentials(self) -> dict[str, str]:
        """The default account's root access key (``verify``/``enforce``; in ``off`` the
        test credentials, which are not checked)."""
        auth = self.app.auth
        if auth is None:
            return dict(TEST_CREDENTIALS)
        return {"aws_access_key_id": auth.root.access_key_id,
                "aws_secret_access_key": auth.root.secret_text}

    def client(self, service: str, region: str = "us-east-1", **kwargs: Any) -> Any:
        creds = {**self.root_credentials, **kwargs.pop("credentials", {})}
        client = boto3.client(service, region_name=region, endpoint_url=ENDPOINT,
                              config=client_config(kwargs.pop("config", None)),
                              **creds, **kwargs)
        client.meta.events.register("before-send", self.send)
        return client

    def advance(self, seconds: float) -> float:
        with self.app.lock:
            self.app.clock.advance(seconds)
            self.app.scheduler.run_due()
            return self.app.clock.now()
