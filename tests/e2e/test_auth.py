"""``--auth verify|enforce`` against a real server: SigV4 verified with AWS's errors per
protocol (boto3, the AWS CLI with the generated credentials file, hand-built requests), root
keys per account, the admin token, and the bundled clients (spec authz.md §2, §10 Q1, Q2, Q7)."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import botocore.exceptions
import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from hsmkms.testing.server import ServerProcess

OTHER_ACCOUNT, OTHER_AKID = "444455556666", "AKIAOTHERACCOUNTKEY1"
OTHER_SECRET = "otherSecretKeyForTheSecondAccount0000000"  # noqa: S105

RawAnswer = tuple[int, dict[str, str], bytes]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data = tmp_path_factory.mktemp("auth") / "hsmkms-data"
    proc = ServerProcess(data, env={
        "HSMKMS_AUTH": "verify",
        "HSMKMS_ROOT_KEYS": f"{OTHER_ACCOUNT}:{OTHER_AKID}:{OTHER_SECRET}"}).start()
    try:
        yield proc
    finally:
        proc.kill()


def send(server: ServerProcess, headers: dict[str, str], body: bytes = b"{}",
         path: str = "/", query: str = "") -> RawAnswer:
    url = server.endpoint + path + (f"?{query}" if query else "")
    req = urllib.request.Request(url, data=body, method="POST",  # noqa: S310
                                 headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 - loopback
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, {k.lower(): v for k, v in err.headers.items()}, err.read()


def signed(server: ServerProcess, body: bytes, *, target: str | None = "TrentService.ListKeys",
           creds: dict[str, str] | None = None, at: dt.datetime | None = None,
           service: str = "kms", content_type: str = "application/x-amz-json-1.1",
           host: str | None = None, region: str = "us-east-1") -> dict[str, str]:
    """Headers botocore's signer makes for ``body`` (signed at ``at``, default now)."""
    creds = creds or server.root_credentials
    headers = {"Content-Type": content_type}
    if target:
        headers["X-Amz-Target"] = target
    req = AWSRequest("POST", f"http://{host or server.endpoint[7:]}/", data=body,
                     headers=headers)
    signer = SigV4Auth(Credentials(creds["aws_access_key_id"], creds["aws_secret_access_key"]),
                       service, region)
    when = (at or dt.datetime.now(dt.UTC)).replace(tzinfo=None)
    with mock.patch("botocore.auth.get_current_datetime", return_value=when):
        signer.add_auth(req)
    return dict(req.headers.items())


def error_of(call: Any) -> dict[str, Any]:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call()
    resp = caught.value.response
    return {"code": resp["Error"]["Code"], "message": resp["Error"].get("Message"),
            "status": resp["ResponseMetadata"]["HTTPStatusCode"]}


# -- start-up and credentials ---------------------------------------------------------------


def test_generated_credentials_file(server: ServerProcess) -> None:
    path = server.data_dir / "credentials"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert "[hsmkms-root]\naws_access_key_id = AKIA" in text
    creds = server.root_credentials
    assert len(creds["aws_access_key_id"]) == 20
    assert len(creds["aws_secret_access_key"]) == 40
    token = server.data_dir / "admin-token"
    assert stat.S_IMODE(token.stat().st_mode) == 0o600
    # The start-up lines say the mode and where the credentials are (printed once the server
    # answers, by a thread of its own: wait for them).
    deadline = time.monotonic() + 20
    while "listening on" not in server.log_path.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (f"auth verify: root credentials {path.resolve()} (profile hsmkms-root); admin "
            f"token {token.resolve()}") in server.log_path.read_text()


def test_aws_cli_with_the_generated_credentials_file(server: ServerProcess) -> None:
    env = {k: v for k, v in server.cli_env().items()
           if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    env.update(AWS_SHARED_CREDENTIALS_FILE=str(server.data_dir / "credentials"),
               AWS_PROFILE="hsmkms-root", AWS_CONFIG_FILE=os.devnull)
    exe = Path(sys.executable).with_name("aws")
    done = subprocess.run([str(exe), "kms", "create-key", "--output", "json"],  # noqa: S603
                          env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["KeyMetadata"]["Arn"].startswith(
        "arn:aws:kms:us-east-1:111122223333:key/")
    env["AWS_SECRET_ACCESS_KEY"] = "x" * 40
    env["AWS_ACCESS_KEY_ID"] = server.root_credentials["aws_access_key_id"]
    done = subprocess.run([str(exe), "kms", "list-keys"], env=env,  # noqa: S603
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 255  # AWS CLI v1: a service error
    assert ("An error occurred (InvalidSignatureException) when calling the ListKeys operation: "
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method. Consult the service "
            "documentation for details.") in done.stderr


def test_each_account_has_its_root_key(server: ServerProcess) -> None:
    other = server.client("kms", credentials={"aws_access_key_id": OTHER_AKID,
                                              "aws_secret_access_key": OTHER_SECRET})
    arn = other.create_key()["KeyMetadata"]["Arn"]
    assert arn.startswith(f"arn:aws:kms:us-east-1:{OTHER_ACCOUNT}:key/")
    mine = server.client("kms").list_keys()["Keys"]
    assert arn not in {k["KeyArn"] for k in mine}


# -- SigV4 refusals, per protocol -----------------------------------------------------------


def test_wrong_secret(server: ServerProcess) -> None:
    bad = {**server.root_credentials, "aws_secret_access_key": "x" * 40}
    assert error_of(server.client("kms", credentials=bad).list_keys) == {
        "code": "InvalidSignatureException", "status": 400,
        "message": "The request signature we calculated does not match the signature you "
                   "provided. Check your AWS Secret Access Key and signing method. Consult the "
                   "service documentation for details."}
    assert error_of(server.client("ec2", credentials=bad).describe_vpcs) == {
        "code": "AuthFailure", "status": 401,
        "message": "AWS was not able to validate the provided access credentials"}
    assert error_of(server.client("cloudhsmv2", credentials=bad).describe_clusters)["code"] == \
        "InvalidSignatureException"


def test_unknown_access_key(server: ServerProcess) -> None:
    for akid in ("AKIAIOSFODNN7EXAMPLE", "123456789012"):
        creds = {"aws_access_key_id": akid, "aws_secret_access_key": "x" * 40}
        assert error_of(server.client("kms", credentials=creds).list_keys) == {
            "code": "UnrecognizedClientException", "status": 400,
            "message": "The security token included in the request is invalid."}
        assert error_of(server.client("ec2", credentials=creds).describe_vpcs)["code"] == \
            "AuthFailure"


def test_unsigned_request(server: ServerProcess) -> None:
    status, _h, body = send(server, {"Content-Type": "application/x-amz-json-1.1",
                                     "X-Amz-Target": "TrentService.ListKeys"})
    assert (status, json.loads(body)) == (400, {
        "__type": "MissingAuthenticationTokenException",
        "message": "Request is missing Authentication Token"})


def test_incomplete_authorization_header(server: ServerProcess) -> None:
    status, _h, body = send(server, {
        "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "TrentService.ListKeys",
        "Authorization": "AWS4-HMAC-SHA256 Credential=AKIA/20261202/us-east-1/kms/aws4_request"})
    doc = json.loads(body)
    assert (status, doc["__type"]) == (400, "IncompleteSignatureException")
    assert doc["message"].startswith("Authorization header requires 'Signature' parameter. ")


def test_signed_for_another_service(server: ServerProcess) -> None:
    status, _h, body = send(server, signed(server, b"{}", service="cloudhsm"), b"{}")
    assert (status, json.loads(body)) == (400, {
        "__type": "InvalidSignatureException",
        "message": "Credential should be scoped to correct service: 'kms'."})


def test_port_in_host_header(server: ServerProcess) -> None:
    """The Host header carries the port, and it is signed: signed without it, refused."""
    port = server.endpoint.rsplit(":", 1)[1]
    assert send(server, signed(server, b"{}"))[0] == 200
    status, _h, body = send(server, signed(server, b"{}", host="127.0.0.1"), b"{}")
    assert (status, json.loads(body)["__type"]) == (400, "InvalidSignatureException")
    assert port  # the port the client used is part of what both sides sign


@pytest.mark.parametrize(("minutes", "ok"), [(-4, True), (-6, False), (4, True), (6, False)])
def test_clock_skew_on_the_wall_clock(server: ServerProcess, minutes: int, ok: bool) -> None:  # noqa: FBT001
    at = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes)
    status, _h, body = send(server, signed(server, b"{}", at=at))
    if ok:
        assert status == 200
        return
    doc = json.loads(body)
    assert (status, doc["__type"]) == (400, "InvalidSignatureException")
    word = "expired" if minutes < 0 else "not yet current"
    assert doc["message"].startswith(f"Signature {word}: {at:%Y%m%dT%H%M%SZ} is ")
    assert doc["message"].endswith(" min.)")


def test_ec2_skew_window_is_fifteen_minutes(server: ServerProcess) -> None:
    body = b"Action=DescribeVpcs&Version=2016-11-15"
    form = "application/x-www-form-urlencoded; charset=utf-8"
    at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)
    headers = signed(server, body, target=None, service="ec2", content_type=form, at=at)
    assert send(server, headers, body)[0] == 200
    at -= dt.timedelta(minutes=10)
    headers = signed(server, body, target=None, service="ec2", content_type=form, at=at)
    status, _h, answer = send(server, headers, body)
    assert status == 400
    assert b"<Code>RequestExpired</Code>" in answer


def test_emulated_clock_jump_does_not_break_signing(server: ServerProcess) -> None:
    server.advance(30 * 86400)
    assert server.client("kms").list_keys()["Keys"] is not None


# -- admin surface and the bundled clients --------------------------------------------------


def admin_call(server: ServerProcess, method: str, path: str,
               token: str | None) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(f"{server.endpoint}/_hsmkms/{path}", method=method,  # noqa: S310
                                 headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_admin_needs_the_token_but_health_is_open(server: ServerProcess) -> None:
    status, health = admin_call(server, "GET", "health", None)
    assert (status, health["status"], health["auth"]) == (200, "ok", "verify")
    for token in (None, "wrong"):
        status, doc = admin_call(server, "GET", "clock", token)
        assert (status, doc["__type"]) == (401, "Unauthorized")
    assert admin_call(server, "GET", "clock", server.admin_token)[0] == 200


def test_hsmkms_fault_reads_the_token(server: ServerProcess) -> None:
    cmd = [sys.executable, "-m", "hsmkms", "fault", "--endpoint-url", server.endpoint, "list"]
    env = {k: v for k, v in os.environ.items() if k != "HSMKMS_ADMIN_TOKEN"}
    refused = subprocess.run(cmd, env={**env, "HSMKMS_DATA_DIR": "/nonexistent"},  # noqa: S603
                             capture_output=True, text=True, timeout=60, check=False)
    assert refused.returncode != 0
    assert "401" in refused.stderr
    for extra in ({"HSMKMS_ADMIN_TOKEN": server.admin_token},
                  {"HSMKMS_DATA_DIR": str(server.data_dir)}):
        done = subprocess.run(cmd, env={**env, **extra}, capture_output=True,  # noqa: S603
                              text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == {"faults": []}


def run_cli(env: dict[str, str], *args: str) -> dict[str, Any]:
    exe = Path(sys.executable).with_name("cloudhsm-cli")
    done = subprocess.run([str(exe), *args], env=env, capture_output=True,  # noqa: S603
                          text=True, timeout=60, check=False)
    doc: dict[str, Any] = json.loads(done.stdout)
    return doc


def test_cloudhsm_cli_with_token_or_sigv4(server: ServerProcess) -> None:
    base = {k: v for k, v in server.cli_env().items() if k != "HSMKMS_ADMIN_TOKEN"}
    base["HSMKMS_DATA_DIR"] = "/nonexistent"
    no_cluster = {"error_code": 1, "data": "No cluster selected: pass --cluster-id or set "
                                           "CLOUDHSM_CLUSTER_ID."}
    # Signed with the root key (no admin token): the route runs.
    assert run_cli(base, "user", "list") == no_cluster
    # With the admin token and no AWS credentials: the route runs.
    token_only = {k: v for k, v in base.items() if not k.startswith("AWS_SECRET")}
    token_only["HSMKMS_ADMIN_TOKEN"] = server.admin_token
    assert run_cli(token_only, "user", "list") == no_cluster
    # Neither: refused, in the CLI's envelope.
    neither = {**base, "AWS_SECRET_ACCESS_KEY": "x" * 40}
    doc = run_cli(neither, "user", "list")
    assert doc["error_code"] == 1
    assert doc["data"].startswith("The request signature we calculated does not match")


# -- in-process mode ------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["off", "verify", "enforce"])
def test_in_process_modes(tmp_path: Path, mode: str) -> None:
    from hsmkms.testing import mock_hsmkms  # noqa: PLC0415
    from hsmkms.testing.inprocess import InProcess  # noqa: PLC0415

    with InProcess(tmp_path / "inproc", auth=mode) as hk:
        assert hk.client("kms").create_key()["KeyMetadata"]["KeyId"]
        bad = {"aws_access_key_id": hk.root_credentials["aws_access_key_id"],
               "aws_secret_access_key": "x" * 40}
        wrong = hk.client("kms", credentials=bad)
        if mode == "off":
            assert wrong.list_keys()["Keys"]  # signatures are not checked
        else:
            assert error_of(wrong.list_keys)["code"] == "InvalidSignatureException"
    with mock_hsmkms(data_dir=tmp_path / "mock", auth=mode):
        import boto3  # noqa: PLC0415

        assert boto3.client("kms").create_key()["KeyMetadata"]["KeyId"]


# -- STS: who am I --------------------------------------------------------------------------


def test_sts_get_caller_identity(server: ServerProcess) -> None:
    sts = server.client("sts")
    identity = sts.get_caller_identity()
    assert (identity["Account"], identity["UserId"], identity["Arn"]) == (
        "111122223333", "111122223333", "arn:aws:iam::111122223333:root")
    other = server.client("sts", credentials={"aws_access_key_id": OTHER_AKID,
                                              "aws_secret_access_key": OTHER_SECRET})
    assert other.get_caller_identity()["Arn"] == f"arn:aws:iam::{OTHER_ACCOUNT}:root"
    akid = server.root_credentials["aws_access_key_id"]
    assert sts.get_access_key_info(AccessKeyId=akid)["Account"] == "111122223333"
    assert sts.get_access_key_info(AccessKeyId="AKIARZPUZDIKGB2VALC4")["Account"] == \
        "123456789012"


def test_sts_authentication_failures_are_query_errors(server: ServerProcess) -> None:
    bad = {**server.root_credentials, "aws_secret_access_key": "x" * 40}
    err = error_of(server.client("sts", credentials=bad).get_caller_identity)
    assert (err["code"], err["status"]) == ("SignatureDoesNotMatch", 403)
    assert err["message"].startswith(
        "The request signature we calculated does not match the signature you provided. "
        "Check your AWS Secret Access Key and signing method. Consult the service "
        "documentation for details.\n\nThe Canonical String for this request should have "
        "been\n'POST\n/\n")
    unknown = {"aws_access_key_id": "AKIAIOSFODNN7EXAMPLE", "aws_secret_access_key": "x" * 40}
    assert error_of(server.client("sts", credentials=unknown).get_caller_identity) == {
        "code": "InvalidClientTokenId", "status": 403,
        "message": "The security token included in the request is invalid."}


def test_aws_cli_sts_get_caller_identity_with_the_credentials_file(
        server: ServerProcess) -> None:
    env = {k: v for k, v in server.cli_env().items()
           if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    env.update(AWS_SHARED_CREDENTIALS_FILE=str(server.data_dir / "credentials"),
               AWS_PROFILE="hsmkms-root", AWS_CONFIG_FILE=os.devnull)
    exe = Path(sys.executable).with_name("aws")
    done = subprocess.run([str(exe), "sts", "get-caller-identity", "--output",  # noqa: S603
                           "json"], env=env, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"UserId": "111122223333", "Account": "111122223333",
                                       "Arn": "arn:aws:iam::111122223333:root"}


def test_cloudhsm_cli_route_binds_the_body_to_the_signing_key(server: ServerProcess) -> None:
    from hsmkms.auth.sigv4 import sign_request  # noqa: PLC0415

    creds = server.root_credentials
    host = server.endpoint[len("http://"):]
    for named, status in ((creds["aws_access_key_id"], 200), (OTHER_AKID, 401)):
        body = json.dumps({"access_key_id": named, "args": {}}).encode()
        headers = sign_request("POST", "/_hsmkms/cloudhsm-cli/user-list",
                               {"host": host, "content-type": "application/json"}, body,
                               access_key_id=creds["aws_access_key_id"],
                               secret=creds["aws_secret_access_key"], region="us-east-1",
                               service="cloudhsm", now=time.time())
        headers.pop("host")
        got, _h, answer = send(server, headers, body, path="/_hsmkms/cloudhsm-cli/user-list")
        assert got == status
        assert json.loads(answer)["error_code"] == 1  # no cluster selected / refused


def test_cloudhsm_cli_route_needs_the_signers_access_key_id(server: ServerProcess) -> None:
    """A body without access_key_id (or an empty one) must not fall back to the default
    account: signed by another account's key, it is refused."""
    from hsmkms.auth.sigv4 import sign_request  # noqa: PLC0415

    host = server.endpoint[len("http://"):]
    for doc in ({}, {"access_key_id": ""}, {"access_key_id": None}, {"access_key_id": []},
                {"access_key_id": OTHER_AKID}):
        body = json.dumps({**doc, "args": {}}).encode()
        headers = sign_request("POST", "/_hsmkms/cloudhsm-cli/user-list",
                               {"host": host, "content-type": "application/json"}, body,
                               access_key_id=OTHER_AKID, secret=OTHER_SECRET,
                               region="us-east-1", service="cloudhsm", now=time.time())
        headers.pop("host")
        got, _h, answer = send(server, headers, body, path="/_hsmkms/cloudhsm-cli/user-list")
        expected = 200 if doc.get("access_key_id") == OTHER_AKID else 401
        assert (doc, got) == (doc, expected)
        assert json.loads(answer)["error_code"] == 1


# -- the request runs as the key that signed it ------------------------------------------


OTHER = {"aws_access_key_id": OTHER_AKID, "aws_secret_access_key": OTHER_SECRET}


def test_a_second_credential_in_the_header_is_refused(server: ServerProcess) -> None:
    """The victim's key id first, the attacker's signed Credential second: refused, not run
    as the victim."""
    victim = server.root_credentials["aws_access_key_id"]
    headers = signed(server, b"{}", creds=OTHER)
    algorithm, _, rest = headers["Authorization"].partition(" ")
    day = headers["X-Amz-Date"][:8]
    headers["Authorization"] = (f"{algorithm} Credential={victim}/{day}/us-east-1/kms/"
                                f"aws4_request, {rest}")
    status, _h, body = send(server, headers)
    assert status == 400
    doc = json.loads(body)
    assert doc["__type"] == "IncompleteSignatureException"
    assert doc["message"].startswith("'Credential' appears more than once in Authorization "
                                     "header: (Hashed with SHA-256 and encoded with Base64)")


def test_an_uppercase_region_is_refused(server: ServerProcess) -> None:
    status, _h, body = send(server, signed(server, b"{}", creds=OTHER, region="US-EAST-1"))
    assert (status, json.loads(body)) == (400, {
        "__type": "InvalidSignatureException",
        "message": "Credential should be scoped to a valid region, not 'US-EAST-1'."})


def _presigned(method: str, url: str, creds: dict[str, str], service: str,
               headers: dict[str, str] | None = None) -> AWSRequest:
    """A presigned URL as botocore makes it (signing the headers given, an empty body)."""
    req = AWSRequest(method, url, headers=headers or {})
    SigV4QueryAuth(Credentials(creds["aws_access_key_id"], creds["aws_secret_access_key"]),
                   service, "us-east-1", expires=60).add_auth(req)
    return req


def test_a_presigned_request_runs_as_its_signer(server: ServerProcess) -> None:
    mine = server.client("kms").create_key()["KeyMetadata"]["Arn"]
    req = _presigned("POST", f"{server.endpoint}/", OTHER, "kms", {
        "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "TrentService.ListKeys"})
    status, _h, body = send(server, dict(req.headers.items()), b"",
                            query=req.url.split("?", 1)[1])
    assert status == 200, body
    arns = [k["KeyArn"] for k in json.loads(body)["Keys"]]
    assert mine not in arns
    assert all(arn.startswith(f"arn:aws:kms:us-east-1:{OTHER_ACCOUNT}:key/") for arn in arns)
    # A presigned STS query is routed to STS by the scope it signed, and answers the signer.
    req = _presigned("GET", f"{server.endpoint}/?Action=GetCallerIdentity&Version=2011-06-15",
                     OTHER, "sts")
    with urllib.request.urlopen(req.url, timeout=30) as resp:  # noqa: S310 - loopback
        text = resp.read().decode()
    assert f"<Arn>arn:aws:iam::{OTHER_ACCOUNT}:root</Arn>" in text


def test_a_presigned_url_is_not_replayable_as_another_operation(server: ServerProcess) -> None:
    """A leaked presigned ListKeys URL (x-amz-target signed) cannot run CreateKey, and one
    that did not sign its target is refused."""
    req = _presigned("POST", f"{server.endpoint}/", OTHER, "kms", {
        "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "TrentService.ListKeys"})
    query = req.url.split("?", 1)[1]
    headers = {**dict(req.headers.items()), "X-Amz-Target": "TrentService.CreateKey"}
    status, _h, body = send(server, headers, b"", query=query)
    assert (status, json.loads(body)["__type"]) == (400, "InvalidSignatureException")
    bare = _presigned("POST", f"{server.endpoint}/", OTHER, "kms")
    status, _h, body = send(server, {"Content-Type": "application/x-amz-json-1.1",
                                     "X-Amz-Target": "TrentService.CreateKey"}, b"",
                            query=bare.url.split("?", 1)[1])
    assert (status, json.loads(body)) == (400, {
        "__type": "InvalidSignatureException",
        "message": "'X-Amz-Target' must be a 'SignedHeader' in the AWS Authorization."})
