"""hsmkms.app: the authenticator seam (where SigV4 verification will plug in) and the request id
every response carries."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from conftest import DUMMY_AUTHORIZATION

from hsmkms.context import RequestContext
from hsmkms.errors import ClientError as HsmkmsClientError
from hsmkms.http import HttpRequest, credential_scope
from hsmkms.testing.inprocess import InProcess


class UnrecognizedClientException(HsmkmsClientError):
    pass


@pytest.fixture
def inproc(tmp_path: Path) -> Iterator[InProcess]:
    with InProcess(tmp_path / "data") as running:
        yield running


def test_an_authenticator_refuses_before_anything_runs(inproc: InProcess) -> None:
    seen: list[tuple[str, str]] = []

    def refuse_other_keys(req: HttpRequest, ctx: RequestContext) -> None:
        seen.append((ctx.access_key_id, req.headers.get("x-amz-target", "")))
        if ctx.access_key_id != "AKIAIOSFODNN7EXAMPLE":
            raise UnrecognizedClientException("The security token included in the request is "
                                              "invalid.")

    inproc.app.authenticators.append(refuse_other_keys)
    kms: Any = inproc.client("kms")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    stranger: Any = inproc.client("kms", credentials={"aws_access_key_id": "AKIDSTRANGER"})
    with pytest.raises(ClientError) as exc:
        stranger.create_key()
    assert exc.value.response["Error"] == {
        "Code": "UnrecognizedClientException",
        "Message": "The security token included in the request is invalid."}
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert [k["KeyId"] for k in kms.list_keys()["Keys"]] == [key]
    assert seen[:2] == [("AKIAIOSFODNN7EXAMPLE", "TrentService.CreateKey"),
                        ("AKIDSTRANGER", "TrentService.CreateKey")]


def test_the_query_protocol_is_authenticated_too(inproc: InProcess) -> None:
    def refuse(_req: HttpRequest, _ctx: RequestContext) -> None:
        raise UnrecognizedClientException("The security token included in the request is "
                                          "invalid.")

    ec2: Any = inproc.client("ec2")
    before = len(ec2.describe_vpcs()["Vpcs"])
    inproc.app.authenticators.append(refuse)
    with pytest.raises(ClientError) as exc:
        ec2.create_vpc(CidrBlock="10.9.0.0/16")
    assert exc.value.response["Error"]["Code"] == "UnrecognizedClientException"
    inproc.app.authenticators.remove(refuse)
    assert len(ec2.describe_vpcs()["Vpcs"]) == before


def test_responses_outside_services_carry_a_request_id(inproc: InProcess) -> None:
    for req in (HttpRequest("GET", "/_hsmkms/health", {}),
                HttpRequest("GET", "/nowhere", {}),
                HttpRequest("POST", "/", {"x-amz-target": "Nope.Op"}, b"{}")):
        response = inproc.app.handle(req)
        ids = [v for k, v in response.headers if k == "x-amzn-requestid"]
        assert len(ids) == 1
        assert len(ids[0]) == 36


def test_json_errors_carry_their_own_request_id(inproc: InProcess) -> None:
    """Each JSON service answers errors in one style built once: the headers still name each
    request's own id."""
    missing = json.dumps({"KeyId": "00000000-0000-0000-0000-000000000000"}).encode()
    seen = set()
    for _ in range(2):
        response = inproc.app.handle(HttpRequest(
            "POST", "/", {"x-amz-target": "TrentService.DescribeKey",
                          "authorization": DUMMY_AUTHORIZATION,
                          "content-type": "application/x-amz-json-1.1"}, missing))
        assert response.status == 400
        assert [k for k, _ in response.headers] == ["content-type", "x-amzn-requestid"]
        assert response.headers[0] == ("content-type", "application/x-amz-json-1.1")
        assert json.loads(response.body)["__type"] == "NotFoundException"
        seen.add(response.headers[1][1])
    assert len(seen) == 2


def test_the_credential_scope_is_read_in_linear_time() -> None:
    """``Credential=`` repeated over 200 KB took a backtracking regex about 15 s; requests
    reach this parse in process with no header limit, so it must not depend on one."""
    worst = "AWS4-HMAC-SHA256 " + "Credential=" * 20_000  # seconds for a backtracking regex
    assert credential_scope(worst) is None
    signed = ("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250101/eu-west-1/kms/aws4_request, "
              "SignedHeaders=host;x-amz-date, Signature=00")
    assert credential_scope(signed) == ("AKIDEXAMPLE", "eu-west-1", "kms")
    for odd in ("Credential=AKID/20250101/EU-WEST-1/kms/aws4_request",
                "Credential=AKID/20250101/eu-west-1/kms", "Credential=/d/r/s/aws4_request",
                "Credential=AKID//r/s/aws4_request", "SignedHeaders=host"):
        assert credential_scope(odd) is None, odd
