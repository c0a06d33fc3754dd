"""In-process mode (``hsmkms_inprocess``): boto3 clients answered by an App in this process,
without a socket; independent instances; other boto3 clients untouched."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError

from hsmkms.testing.inprocess import ENDPOINT, InProcess
from hsmkms.testing.server import TEST_CREDENTIALS, ServerProcess


def test_clients_work_without_a_socket(hsmkms_inprocess: InProcess,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    kms = hsmkms_inprocess.client("kms")

    def no_network(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("in-process mode opened a connection")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    key = kms.create_key(Description="in process")["KeyMetadata"]
    assert key["Description"] == "in process"
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"p")["CiphertextBlob"]
    out = kms.decrypt(CiphertextBlob=blob)
    assert out["Plaintext"] == b"p"
    assert out["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert out["ResponseMetadata"]["RequestId"]
    with pytest.raises(ClientError) as exc:
        kms.describe_key(KeyId="nope")
    assert exc.value.response["Error"] == {"Code": "NotFoundException",
                                           "Message": "Invalid keyId 'nope'"}
    with pytest.raises(ClientError) as exc:
        kms.decrypt(CiphertextBlob=blob[:-1] + bytes([blob[-1] ^ 1]))
    assert exc.value.response["Error"]["Code"] == "InvalidCiphertextException"
    assert "message" not in exc.value.response
    loose = hsmkms_inprocess.client("kms", config=Config(parameter_validation=False))
    with pytest.raises(ClientError) as exc:
        loose.generate_random(NumberOfBytes=0)
    assert exc.value.response["Error"]["Code"] == "ValidationException"
    assert kms.list_keys()["Keys"] == [{"KeyId": key["KeyId"], "KeyArn": key["Arn"]}]


def test_clock_and_scheduled_work(hsmkms_inprocess: InProcess) -> None:
    kms = hsmkms_inprocess.client("kms")
    key = kms.create_key()["KeyMetadata"]
    kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    hsmkms_inprocess.advance(7 * 86400 + 60)
    assert kms.list_keys()["Keys"] == []


def test_two_instances_do_not_interfere(tmp_path: Path) -> None:
    with InProcess(tmp_path / "one") as one, InProcess(tmp_path / "two") as two:
        a, b = one.client("kms"), two.client("kms")
        key_a = a.create_key()["KeyMetadata"]
        key_b = b.create_key()["KeyMetadata"]
        assert [k["KeyId"] for k in a.list_keys()["Keys"]] == [key_a["KeyId"]]
        assert [k["KeyId"] for k in b.list_keys()["Keys"]] == [key_b["KeyId"]]
        blob = a.encrypt(KeyId=key_a["KeyId"], Plaintext=b"p")["CiphertextBlob"]
        with pytest.raises(ClientError) as exc:
            b.decrypt(CiphertextBlob=blob)
        # The key never existed in the other instance: as a damaged blob would be.
        assert exc.value.response["Error"]["Code"] == "InvalidCiphertextException"
        one.advance(3600)
        assert abs(two.app.clock.offset) < 1


def test_state_persists_across_instances(tmp_path: Path) -> None:
    with InProcess(tmp_path / "d") as first:
        kms = first.client("kms")
        key = kms.create_key()["KeyMetadata"]
        blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"kept")["CiphertextBlob"]
    with InProcess(tmp_path / "d") as second:
        assert second.client("kms").decrypt(CiphertextBlob=blob)["Plaintext"] == b"kept"


def test_other_boto3_clients_are_unaffected(hsmkms_inprocess: InProcess,
                                            hsmkms_server: ServerProcess) -> None:
    inproc = hsmkms_inprocess.client("kms")
    inproc_key = inproc.create_key()["KeyMetadata"]["KeyId"]
    # An ordinary client in the same process still talks HTTP to wherever it points.
    normal = boto3.client("kms", region_name="us-east-1", endpoint_url=hsmkms_server.endpoint,
                          **TEST_CREDENTIALS)
    server_key = normal.create_key()["KeyMetadata"]["KeyId"]
    assert [k["KeyId"] for k in normal.list_keys()["Keys"]] == [server_key]
    assert [k["KeyId"] for k in inproc.list_keys()["Keys"]] == [inproc_key]
    # ... and one pointed at the in-process endpoint is not answered by it.
    stray = boto3.client("kms", region_name="us-east-1", endpoint_url=ENDPOINT,
                         config=Config(retries={"max_attempts": 1},
                                       connect_timeout=2, read_timeout=2),
                         **TEST_CREDENTIALS)
    with pytest.raises(EndpointConnectionError):
        stray.list_keys()


def test_client_options_match_the_server_fixture(hsmkms_inprocess: InProcess) -> None:
    other = hsmkms_inprocess.client("kms", region="eu-west-1",
                                    credentials={"aws_access_key_id": "444455556666"})
    meta = other.create_key()["KeyMetadata"]
    assert meta["Arn"] == f"arn:aws:kms:eu-west-1:444455556666:key/{meta['KeyId']}"
