"""Test mode: ``mock_hsmkms`` catches the clients the code under test builds itself (fixture,
context manager, decorator), is undone on exit and leaves other services alone;
``hsmkms_server`` sets the environment and takes a port; ``client_config`` sends once."""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import botocore.session
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError

from hsmkms.http import HttpRequest, HttpResponse
from hsmkms.testing import HsmkmsMock, InProcess, ServerProcess, free_port, mock_hsmkms
from hsmkms.testing.server import TEST_CREDENTIALS

if TYPE_CHECKING:
    from collections.abc import Iterator

ORIGINAL_CREATE_CLIENT = botocore.session.Session.create_client
AWS_VARS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION",
            "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_ENDPOINT_URL")


@pytest.fixture(autouse=True)
def no_aws_configuration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """As on a CI machine: no credentials, no region, no config files."""
    for name in AWS_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    yield
    assert botocore.session.Session.create_client is ORIGINAL_CREATE_CLIENT


# -- the code under test: it builds its own clients, as application code does -----------------

def roundtrip(data: bytes) -> tuple[str, bytes]:
    kms = boto3.client("kms")
    key = kms.create_key(Description="made by the code under test")["KeyMetadata"]
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=data)["CiphertextBlob"]
    return key["Arn"], kms.decrypt(CiphertextBlob=blob)["Plaintext"]


def nowhere(service: str, **kwargs: Any) -> Any:
    """A client pointed at a port nobody listens on: reaching the network fails at once."""
    return boto3.client(service, region_name="us-east-1", endpoint_url=f"http://127.0.0.1:{free_port()}",
                        **TEST_CREDENTIALS,
                        config=Config(connect_timeout=2, retries={"total_max_attempts": 1}),
                        **kwargs)


# -- catching clients ---------------------------------------------------------------------------

def test_fixture_catches_a_client_the_code_builds(hsmkms_mock: HsmkmsMock) -> None:
    arn, plain = roundtrip(b"secret")
    assert plain == b"secret"
    assert arn.startswith("arn:aws:kms:us-east-1:111122223333:key/")
    # The fixture's own client sees what the code under test made.
    assert [k["KeyArn"] for k in hsmkms_mock.inprocess.client("kms").list_keys()["Keys"]] == [arn]


def test_context_manager_catches_a_client_the_code_builds() -> None:
    with mock_hsmkms() as mock:
        arn, plain = roundtrip(b"in a with block")
        assert plain == b"in a with block"
        key_id = arn.rsplit("/", 1)[1]
        assert mock.inprocess.client("kms").describe_key(KeyId=key_id)["KeyMetadata"]["Arn"] == arn


@mock_hsmkms
def test_decorator_catches_a_client_the_code_builds() -> None:
    assert roundtrip(b"decorated")[1] == b"decorated"


@mock_hsmkms(account="444455556666")
def test_decorator_with_options() -> None:
    assert roundtrip(b"x")[0].startswith("arn:aws:kms:us-east-1:444455556666:key/")


def test_decorated_calls_each_get_a_fresh_app() -> None:
    @mock_hsmkms
    def count_keys() -> int:
        kms = boto3.client("kms")
        kms.create_key()
        return len(kms.list_keys()["Keys"])

    assert count_keys() == 1
    assert count_keys() == 1


def test_every_way_to_build_a_client_and_any_region(hsmkms_mock: HsmkmsMock) -> None:
    from_session = boto3.Session().client("kms", region_name="eu-west-1")
    assert ":eu-west-1:" in from_session.create_key()["KeyMetadata"]["Arn"]
    bare = botocore.session.get_session().create_client("kms", region_name="ap-southeast-2")
    assert ":ap-southeast-2:" in bare.create_key()["KeyMetadata"]["Arn"]
    # Even one that names a real endpoint: answered in-process, never sent.
    pointed = boto3.client("kms", endpoint_url="https://kms.us-west-2.amazonaws.com",
                           region_name="us-west-2")
    pointed.create_key()
    assert len(pointed.list_keys()["Keys"]) == 1
    assert boto3.client("ec2").describe_vpcs()["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert boto3.client("cloudhsmv2").describe_clusters()["Clusters"] == []
    events = boto3.client("cloudtrail", region_name="eu-west-1").lookup_events()["Events"]
    assert [e["EventName"] for e in events] == ["CreateKey"]
    assert hsmkms_mock.app is not None


def test_requests_are_still_signed_by_botocore(hsmkms_mock: HsmkmsMock) -> None:
    seen: list[str] = []
    kms = boto3.client("kms", region_name="eu-central-1")
    kms.meta.events.register("before-send",
                             lambda request, **_: seen.append(request.headers["Authorization"]))
    kms.list_keys()
    assert seen[0].startswith(b"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/")
    assert b"/eu-central-1/kms/aws4_request" in seen[0]
    assert hsmkms_mock.app is not None


def test_clients_made_in_other_threads_are_caught(hsmkms_mock: HsmkmsMock) -> None:
    results: list[bytes] = []
    threads = [threading.Thread(target=lambda: results.append(roundtrip(b"t")[1]))
               for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [b"t"] * 3
    assert len(hsmkms_mock.inprocess.client("kms").list_keys()["Keys"]) == 3


def test_mocks_nest() -> None:
    with mock_hsmkms():
        kms = boto3.client("kms")
        outer_key = kms.create_key()["KeyMetadata"]["KeyId"]
        with mock_hsmkms():
            assert boto3.client("kms").list_keys()["Keys"] == []
            assert kms.list_keys()["Keys"] == []  # the innermost active mock answers
        assert [k["KeyId"] for k in kms.list_keys()["Keys"]] == [outer_key]
    assert botocore.session.Session.create_client is ORIGINAL_CREATE_CLIENT


# -- undone on exit; other services untouched ------------------------------------------------------

def test_nothing_is_caught_after_exit() -> None:
    before = dict(os.environ)
    with mock_hsmkms():
        kept = nowhere("kms")
        assert kept.list_keys()["Keys"] == []
        assert os.environ["AWS_DEFAULT_REGION"] == "us-east-1"
    assert dict(os.environ) == before
    assert boto3.DEFAULT_SESSION is None
    assert botocore.session.Session.create_client is ORIGINAL_CREATE_CLIENT
    with pytest.raises(EndpointConnectionError):
        nowhere("kms").list_keys()
    with pytest.raises(EndpointConnectionError):
        kept.list_keys()  # made inside, used after: goes where it points, as without hsmkms


def test_existing_settings_and_default_session_are_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "111122223333")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "mine")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "sa-east-1")
    session = boto3.Session()
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", session)
    before = dict(os.environ)
    with mock_hsmkms():
        assert ":sa-east-1:111122223333:" in roundtrip(b"x")[0]
        assert boto3.DEFAULT_SESSION is not session
    assert dict(os.environ) == before
    assert boto3.DEFAULT_SESSION is session


def test_a_lone_secret_is_not_paired_with_a_test_key_id(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "mine")
    with mock_hsmkms():
        assert (os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"]) == (
            TEST_CREDENTIALS["aws_access_key_id"], TEST_CREDENTIALS["aws_secret_access_key"])
        roundtrip(b"x")
    assert "AWS_ACCESS_KEY_ID" not in os.environ
    assert os.environ["AWS_SECRET_ACCESS_KEY"] == "mine"


def test_mocks_must_end_innermost_first() -> None:
    outer = mock_hsmkms().start()
    inner = mock_hsmkms().start()
    try:
        with pytest.raises(RuntimeError, match="stop the mocks started inside this one first"):
            outer.stop()
    finally:
        inner.stop()
        outer.stop()
    assert botocore.session.Session.create_client is ORIGINAL_CREATE_CLIENT


def test_a_region_from_the_config_file_is_kept(tmp_path: Path) -> None:
    (tmp_path / "no-config").write_text("[default]\nregion = ca-central-1\n")
    with mock_hsmkms():
        assert "AWS_DEFAULT_REGION" not in os.environ
        assert ":ca-central-1:" in roundtrip(b"x")[0]


def test_exit_on_error_undoes_everything() -> None:
    before = dict(os.environ)
    with pytest.raises(RuntimeError, match="boom"), mock_hsmkms():
        raise RuntimeError("boom")
    assert dict(os.environ) == before
    assert botocore.session.Session.create_client is ORIGINAL_CREATE_CLIENT


def test_other_services_are_untouched(hsmkms_mock: HsmkmsMock) -> None:
    calls = [nowhere("s3").list_buckets, nowhere("sts").get_caller_identity,
             nowhere("sqs").list_queues]
    for call in calls:
        with pytest.raises(EndpointConnectionError):
            call()
    assert hsmkms_mock.app is not None


def test_clients_made_before_the_mock_are_not_caught() -> None:
    early = nowhere("kms")
    with mock_hsmkms(), pytest.raises(EndpointConnectionError):
        early.list_keys()


# -- hsmkms_server: environment and port -----------------------------------------------------------

INNER_TESTS = """
import os, subprocess, sys
import boto3
import pytest

def test_env_is_set(hsmkms_server):
    assert os.environ["AWS_ENDPOINT_URL"] == hsmkms_server.endpoint
    assert os.environ["AWS_DEFAULT_REGION"] == "us-east-1"
    key = boto3.client("kms").create_key()["KeyMetadata"]["KeyId"]
    code = "import boto3; print(boto3.client('kms').list_keys()['Keys'][0]['KeyId'])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == key

def test_env_is_restored_after():
    for name in ("AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID",
                 "AWS_SECRET_ACCESS_KEY"):
        assert name not in os.environ, name

class TestPinnedPort:
    @pytest.fixture
    def hsmkms_server_port(self):
        return PORT

    def test_port(self, hsmkms_server):
        assert hsmkms_server.endpoint == f"http://127.0.0.1:{PORT}"
        assert boto3.client("kms").list_keys()["Keys"] == []
"""


def test_server_fixture_sets_and_restores_env_and_takes_a_port(tmp_path: Path) -> None:
    port = free_port()
    inner = textwrap.dedent(INNER_TESTS).replace("PORT", str(port))
    (tmp_path / "test_inner.py").write_text(inner)
    env = {k: v for k, v in os.environ.items() if k not in AWS_VARS}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
               str(tmp_path / "test_inner.py")]
    proc = subprocess.run(command,  # noqa: S603 - our interpreter, our test file
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "3 passed" in proc.stdout


# -- client_config sends each request once -------------------------------------------------------

@pytest.fixture
def always_500() -> Iterator[tuple[int, list[str]]]:
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", "0")))
            hits.append(self.headers.get("x-amz-target", ""))
            body = b'{"__type":"KMSInternalException","message":"boom"}'
            self.send_response(500)
            self.send_header("content-type", "application/x-amz-json-1.1")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], hits
    finally:
        server.shutdown()
        server.server_close()


def test_server_client_sends_a_500_once(tmp_path: Path, always_500: tuple[int, list[str]]) -> None:
    port, hits = always_500
    kms = ServerProcess(tmp_path / "unused", port=port).client("kms")  # not started: port only
    with pytest.raises(ClientError) as exc:
        kms.list_keys()
    assert exc.value.response["Error"]["Code"] == "KMSInternalException"
    assert hits == ["TrentService.ListKeys"]


def test_inprocess_client_sends_a_500_once(hsmkms_inprocess: InProcess,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    hits: list[str] = []

    def fail(req: HttpRequest) -> HttpResponse:
        hits.append(req.headers["x-amz-target"])
        return HttpResponse.of_json(500, {"__type": "KMSInternalException", "message": "boom"})

    monkeypatch.setattr(hsmkms_inprocess.app, "handle", fail)
    with pytest.raises(ClientError) as exc:
        hsmkms_inprocess.client("kms").list_keys()
    assert exc.value.response["Error"]["Code"] == "KMSInternalException"
    assert hits == ["TrentService.ListKeys"]
