"""Shared test helpers on top of the ``hsmkms`` pytest plugin.

* ``module_server``: one real ``hsmkms serve`` per test module (for tests that don't interfere);
  tests that need clean state use the plugin's per-test ``hsmkms_server``.
* ``raw``: send a JSON 1.1 request by hand (``raw(server, "TrentService.Op", body)``) and get
  ``(status, headers, body bytes)`` back, to see exactly what goes over the wire (with a dummy
  SigV4 ``Authorization`` header unless ``signed=False``).
* ``aws``: run the real AWS CLI v1 against a server; returns the ``CompletedProcess``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hsmkms.testing.server import ServerProcess

RawResult = tuple[int, dict[str, str], bytes]


@pytest.fixture(scope="module")
def module_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("module") / "hsmkms-data").start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture(scope="module")
def realistic_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server with ``HSMKMS_TIMING=realistic``: asynchronous steps last long enough (in clock
    time) for a test to watch them under way."""
    server = ServerProcess(tmp_path_factory.mktemp("realistic") / "hsmkms-data",
                           env={"HSMKMS_TIMING": "realistic"}).start()
    try:
        yield server
    finally:
        server.kill()


#: ``enforce_server``'s accounts and root keys (the second account's from HSMKMS_ROOT_KEYS).
ENFORCE_ACCOUNT, ENFORCE_OTHER = "111122223333", "444455556666"
ENFORCE_ROOT = {"aws_access_key_id": "AKIAENFORCEDROOTKEY1",
                "aws_secret_access_key": "enforcedRootSecretAccessKey0000000000000"}
ENFORCE_OTHER_ROOT = {"aws_access_key_id": "AKIAOTHERACCOUNTROOT",
                      "aws_secret_access_key": "otherAccountRootSecretAccessKey000000000"}


def start_enforce_server(data_dir: Path) -> ServerProcess:
    """``hsmkms serve --auth enforce`` with two accounts' root keys (ENFORCE_*)."""
    return ServerProcess(data_dir, args=["--auth", "enforce"], env={
        "HSMKMS_ACCOUNT": ENFORCE_ACCOUNT,
        "HSMKMS_ROOT_ACCESS_KEY_ID": ENFORCE_ROOT["aws_access_key_id"],
        "HSMKMS_ROOT_SECRET_ACCESS_KEY": ENFORCE_ROOT["aws_secret_access_key"],
        "HSMKMS_ROOT_KEYS": f"{ENFORCE_OTHER}:{ENFORCE_OTHER_ROOT['aws_access_key_id']}:"
                            f"{ENFORCE_OTHER_ROOT['aws_secret_access_key']}"}).start()


@pytest.fixture(scope="module")
def enforce_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One ``--auth enforce`` server per module (see :func:`start_enforce_server`)."""
    server = start_enforce_server(tmp_path_factory.mktemp("enforce") / "hsmkms-data")
    try:
        yield server
    finally:
        server.kill()


#: A SigV4-shaped Authorization header (not a valid signature: hsmkms does not verify them
#: yet, but refuses requests that carry none); its scope names the test credentials' key.
DUMMY_AUTHORIZATION = (
    "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20250101/us-east-1/kms/aws4_request, "
    "SignedHeaders=host;x-amz-date;x-amz-target, Signature=" + "0" * 64)


def raw_request(server: ServerProcess, target: str | None, body: bytes | dict[str, Any] | None,
                headers: dict[str, str] | None = None, path: str = "/", *,
                signed: bool = True) -> RawResult:
    """``signed``: send :data:`DUMMY_AUTHORIZATION` (AWS routes refuse unsigned requests);
    admin paths (``/_hsmkms/...``) get ``Content-Type: application/json``, as they require."""
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    admin = path.startswith("/_hsmkms/")
    hdrs = {"Content-Type": "application/json" if admin else "application/x-amz-json-1.1"}
    if signed and not admin:
        hdrs["Authorization"] = DUMMY_AUTHORIZATION
    hdrs.update(headers or {})
    if target is not None:
        hdrs["X-Amz-Target"] = target
    req = urllib.request.Request(server.endpoint + path, data=data, method="POST",  # noqa: S310
                                 headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 - loopback
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, {k.lower(): v for k, v in err.headers.items()}, err.read()


@pytest.fixture(scope="session")
def raw() -> Callable[..., RawResult]:
    return raw_request


def run_aws(server: ServerProcess, *args: str, stdin: bytes | None = None,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("aws")
    cmd = [str(exe) if exe.exists() else "aws", *args]
    return subprocess.run(cmd, env=server.cli_env(), capture_output=True, text=True,  # noqa: S603
                          timeout=60, input=None if stdin is None else stdin.decode(),
                          cwd=cwd, check=False)


@pytest.fixture(scope="session")
def aws() -> Callable[..., subprocess.CompletedProcess[str]]:
    return run_aws


#: Where the PostgreSQL tests make their database (trust auth on this project's machines; CI
#: starts the server: .ci/run). Override with HSMKMS_TEST_POSTGRES.
POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A new database ``hsmkms_test_<random>`` for this test run (dropped at its end); its URL.
    An unreachable server fails the tests that need it: they are never skipped."""
    import os  # noqa: PLC0415
    import secrets  # noqa: PLC0415

    import psycopg  # noqa: PLC0415

    admin_url = os.environ.get("HSMKMS_TEST_POSTGRES", POSTGRES_ADMIN_URL)
    name = f"hsmkms_test_{secrets.token_hex(6)}"
    try:
        admin = psycopg.connect(admin_url, autocommit=True, connect_timeout=10)
    except psycopg.Error as exc:
        pytest.fail(f"PostgreSQL is not reachable at {admin_url} (start it, or set "
                    f"HSMKMS_TEST_POSTGRES): {exc}")
    with admin:
        admin.execute(f"CREATE DATABASE {name}")
        try:
            yield admin_url.rsplit("/", 1)[0] + "/" + name
        finally:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def postgres_schema(postgres_database: str) -> str:
    """A URL of the run's database whose tables go in a new, empty schema of their own (so
    that every test starts from nothing, in one database)."""
    import secrets  # noqa: PLC0415

    import psycopg  # noqa: PLC0415

    schema = f"t_{secrets.token_hex(6)}"
    with psycopg.connect(postgres_database, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    return f"{postgres_database}?options=-csearch_path%3D{schema}"


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Say where the tests' artifacts went (the web console's screenshots)."""
    factory = getattr(config, "_tmp_path_factory", None)
    if factory is None:
        return
    base = factory.getbasetemp()
    found = [p for p in (base / "artifacts", base.parent / "artifacts") if p.is_dir()]
    if found:
        terminalreporter.write_line(f"test artifacts (screenshots): {found[0]}")
