"""A real ``hsmkms serve`` in a subprocess, for tests and benchmarks."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config as BotoConfig

TEST_CREDENTIALS = {"aws_access_key_id": "AKIAIOSFODNN7EXAMPLE",
                    "aws_secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}


def client_config(extra: BotoConfig | None = None) -> BotoConfig:
    """No retries (tests see every error once), merged with the caller's own ``config=``.

    botocore's ``retries["max_attempts"]`` counts retries after the first attempt (1 means two
    requests); ``total_max_attempts`` counts every request, the first included."""
    base = BotoConfig(retries={"total_max_attempts": 1, "mode": "standard"})
    return base if extra is None else base.merge(extra)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    def __init__(self, data_dir: Path, port: int | None = None,
                 env: dict[str, str] | None = None, args: list[str] | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.env = dict(env or {})
        self.args = list(args or [])
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}-server.log"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> ServerProcess:
        # Its own data dir: a database named in this environment is not the server's to use.
        env = {**{k: v for k, v in os.environ.items() if k != "HSMKMS_DATABASE"}, **self.env}
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "hsmkms", "serve", "--port", str(self.port),
             "--data-dir", str(self.data_dir), *self.args],
            env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hsmkms exited early; see {self.log_path}:\n"
                                   + self.log_path.read_text()[-3000:])
            try:
                self.admin("GET", "health")
            except OSError:
                time.sleep(0.05)
            else:
                return self
        raise RuntimeError(f"hsmkms did not become healthy; see {self.log_path}")

    def stop(self) -> int | None:
        """Graceful stop (SIGTERM), as an operator would."""
        if self.proc is None:
            return None
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=15)
        self.proc = None
        return code

    def kill(self) -> None:
        """``kill -9``: no chance to flush anything."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=15)
            self.proc = None

    def restart(self, *, hard: bool = False) -> ServerProcess:
        if hard:
            self.kill()
        else:
            self.stop()
        return self.start()

    @property
    def admin_token(self) -> str:
        """The admin token of a server in ``verify``/``enforce`` ("" when it has none)."""
        from hsmkms.auth.credentials import find_admin_token  # noqa: PLC0415

        return find_admin_token({"HSMKMS_ADMIN_TOKEN": self.env.get("HSMKMS_ADMIN_TOKEN", "")},
                                str(self.data_dir))

    @property
    def root_credentials(self) -> dict[str, str]:
        """The default account's root key (given, or from ``<data dir>/credentials``); the
        test credentials when there is none (``--auth off``: they are not checked)."""
        from hsmkms.auth.credentials import CREDENTIALS_FILE, read_credentials_file  # noqa: PLC0415

        if self.env.get("HSMKMS_ROOT_ACCESS_KEY_ID"):
            return {"aws_access_key_id": self.env["HSMKMS_ROOT_ACCESS_KEY_ID"],
                    "aws_secret_access_key": self.env.get("HSMKMS_ROOT_SECRET_ACCESS_KEY", "")}
        found = read_credentials_file(self.data_dir / CREDENTIALS_FILE)
        if found is None:
            return dict(TEST_CREDENTIALS)
        return {"aws_access_key_id": found[0], "aws_secret_access_key": found[1]}

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        headers = {"content-type": "application/json"}
        token = self.admin_token
        if token:
            headers["authorization"] = f"Bearer {token}"
        req = urllib.request.Request(f"{self.endpoint}/_hsmkms/{path}", data=data,  # noqa: S310
                                     method=method, headers=headers)
        with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 - loopback only
            raw = resp.read()
        return json.loads(raw) if raw else None

    def advance(self, seconds: float) -> float:
        return float(self.admin("POST", "clock", {"advance_seconds": seconds})["now"])

    def client(self, service: str, region: str = "us-east-1", **kwargs: Any) -> Any:
        creds = {**self.root_credentials, **kwargs.pop("credentials", {})}
        return boto3.client(service, region_name=region, endpoint_url=self.endpoint,
                            config=client_config(kwargs.pop("config", None)), **creds, **kwargs)

    def cli_env(self, region: str = "us-east-1") -> dict[str, str]:
        """Environment for the AWS CLI and ``cloudhsm-cli`` pointed at this server."""
        creds = self.root_credentials
        env = {**os.environ, "AWS_ENDPOINT_URL": self.endpoint, "AWS_DEFAULT_REGION": region,
               "AWS_REGION": region, "AWS_ACCESS_KEY_ID": creds["aws_access_key_id"],
               "AWS_SECRET_ACCESS_KEY": creds["aws_secret_access_key"],
               "AWS_MAX_ATTEMPTS": "1", "AWS_PAGER": ""}
        token = self.admin_token
        if token:  # the admin token of a server in verify/enforce, for cloudhsm-cli and hsmkms
            env["HSMKMS_ADMIN_TOKEN"] = token
        return env
