"""GetKeyLastUsage over a real server with real boto3 (spec kms-keys.md §7, §8): empty before any
use; each successful tracked operation (ReEncrypt on both keys) becomes the key's last usage,
whose CloudTrailEventId is the LookupEvents EventId of that call and KmsRequestId the request
id its caller got; failed, dry-run and untracked calls change nothing; aliases are refused;
every key state answers; it survives restarts (SQLite and PostgreSQL); the call itself is
logged. Tests sharing the module server each use their own Region."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from hsmkms.testing.server import ServerProcess

ACCOUNT = "111122223333"
MESSAGE = b"used by GetKeyLastUsage tests"
DAY = 86400


def error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    resp = exc.value.response
    return (resp["Error"]["Code"], resp["Error"]["Message"],
            resp["ResponseMetadata"]["HTTPStatusCode"])


class Region:
    """The KMS and CloudTrail clients of one Region of a server."""

    def __init__(self, server: ServerProcess, region: str) -> None:
        self.name = region
        self.kms = server.client("kms", region)
        self.trail = server.client("cloudtrail", region)

    def key(self, spec: str = "SYMMETRIC_DEFAULT", usage: str = "ENCRYPT_DECRYPT"
            ) -> dict[str, Any]:
        meta: dict[str, Any] = self.kms.create_key(KeySpec=spec, KeyUsage=usage)["KeyMetadata"]
        return meta

    def last_usage(self, key_id: str) -> dict[str, Any]:
        out: dict[str, Any] = self.kms.get_key_last_usage(KeyId=key_id)
        out.pop("ResponseMetadata")
        return out

    def event_of(self, operation: str, request_id: str) -> dict[str, Any]:
        """The LookupEvents entry of the call answered with ``request_id``."""
        found = [e for page in self.trail.get_paginator("lookup_events").paginate(
                     LookupAttributes=[{"AttributeKey": "EventName",
                                        "AttributeValue": operation}])
                 for e in page["Events"]
                 if json.loads(e["CloudTrailEvent"]).get("requestID") == request_id]
        assert len(found) == 1, (operation, request_id)
        return found[0]

    def assert_used(self, meta: dict[str, Any], operation: str, response: dict[str, Any]
                    ) -> dict[str, Any]:
        """The key's last usage is ``response``'s call: its operation, its request id, its
        CloudTrail event and time; the rest of the answer as before any use."""
        request_id = response["ResponseMetadata"]["RequestId"]
        event = self.event_of(operation, request_id)
        out = self.last_usage(meta["KeyId"])
        usage = out["KeyLastUsage"]
        assert set(usage) == {"Operation", "Timestamp", "CloudTrailEventId", "KmsRequestId"}
        assert (usage["Operation"], usage["KmsRequestId"], usage["CloudTrailEventId"]) == (
            operation, request_id, event["EventId"])
        # The event's time is the use's, in whole seconds.
        assert usage["Timestamp"].replace(microsecond=0) == event["EventTime"]
        assert usage["Timestamp"] >= meta["CreationDate"]
        assert (out["KeyId"], out["KeyCreationDate"], out["TrackingStartDate"]) == (
            meta["Arn"], meta["CreationDate"], meta["CreationDate"])
        return usage


def peer_public_key() -> bytes:
    return ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


# -- before any use ------------------------------------------------------------------------------


def test_a_new_key_has_no_usage_and_the_answer_has_exactly_aws_fields(
        module_server: ServerProcess,
        raw: Callable[..., tuple[int, dict[str, str], bytes]]) -> None:
    region = Region(module_server, "eu-west-1")
    meta = region.key()
    for key_id in (meta["KeyId"], meta["Arn"]):
        assert region.last_usage(key_id) == {
            "KeyId": meta["Arn"], "KeyLastUsage": {},
            # Created after this data store began tracking: tracked since its creation.
            "TrackingStartDate": meta["CreationDate"], "KeyCreationDate": meta["CreationDate"]}
    # On the wire: an empty KeyLastUsage object, epoch-second dates.
    status, headers, body = raw(module_server, "TrentService.GetKeyLastUsage",
                                {"KeyId": meta["KeyId"]},
                                {"Authorization": "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EX"
                                 f"AMPLE/20250101/{region.name}/kms/aws4_request, SignedHeade"
                                 "rs=host, Signature=" + "0" * 64})
    doc = json.loads(body)
    assert status == 200
    assert headers["x-amzn-requestid"]
    assert sorted(doc) == ["KeyCreationDate", "KeyId", "KeyLastUsage", "TrackingStartDate"]
    assert doc["KeyLastUsage"] == {}
    assert doc["KeyId"] == meta["Arn"]
    assert doc["KeyCreationDate"] == doc["TrackingStartDate"]
    assert round(doc["KeyCreationDate"], 3) == round(meta["CreationDate"].timestamp(), 3)
    # Untracked calls are no use: GetPublicKey, DescribeKey, management calls, GetKeyLastUsage.
    region.kms.describe_key(KeyId=meta["KeyId"])
    region.kms.update_key_description(KeyId=meta["KeyId"], Description="still unused")
    region.kms.disable_key(KeyId=meta["KeyId"])
    region.kms.enable_key(KeyId=meta["KeyId"])
    region.kms.generate_random(NumberOfBytes=16)
    signing = region.key("ECC_NIST_P256", "SIGN_VERIFY")
    region.kms.get_public_key(KeyId=signing["KeyId"])
    assert region.last_usage(meta["KeyId"])["KeyLastUsage"] == {}
    assert region.last_usage(signing["KeyId"])["KeyLastUsage"] == {}


# -- each tracked operation ----------------------------------------------------------------------


def test_symmetric_operations_each_become_the_last_usage(module_server: ServerProcess) -> None:
    region = Region(module_server, "eu-west-2")
    kms, meta = region.kms, region.key()
    key = meta["KeyId"]
    encrypted = kms.encrypt(KeyId=key, Plaintext=b"secret", EncryptionContext={"a": "b"})
    region.assert_used(meta, "Encrypt", encrypted)
    decrypted = kms.decrypt(CiphertextBlob=encrypted["CiphertextBlob"],
                            EncryptionContext={"a": "b"})
    first = region.assert_used(meta, "Decrypt", decrypted)
    # The same operation again: the later call is the last usage.
    again = kms.decrypt(CiphertextBlob=encrypted["CiphertextBlob"], EncryptionContext={"a": "b"})
    assert region.assert_used(meta, "Decrypt", again)["CloudTrailEventId"] != first[
        "CloudTrailEventId"]
    calls: list[tuple[str, Callable[[], dict[str, Any]]]] = [
        ("GenerateDataKey", lambda: kms.generate_data_key(KeyId=key, KeySpec="AES_256")),
        ("GenerateDataKeyWithoutPlaintext",
         lambda: kms.generate_data_key_without_plaintext(KeyId=key, NumberOfBytes=16)),
        ("GenerateDataKeyPair",
         lambda: kms.generate_data_key_pair(KeyId=key, KeyPairSpec="ECC_NIST_P256")),
        ("GenerateDataKeyPairWithoutPlaintext",
         lambda: kms.generate_data_key_pair_without_plaintext(KeyId=key,
                                                              KeyPairSpec="ECC_NIST_P256")),
        # An alias names the key in the call: the use is still the key's.
        ("Encrypt", lambda: kms.encrypt(KeyId=f"alias/used-{region.name}", Plaintext=b"x")),
    ]
    kms.create_alias(AliasName=f"alias/used-{region.name}", TargetKeyId=key)
    for operation, call in calls:
        region.assert_used(meta, operation, call())


def test_reencrypt_is_a_use_of_both_keys(module_server: ServerProcess) -> None:
    region = Region(module_server, "eu-west-3")
    kms, source, destination = region.kms, region.key(), region.key()
    blob = kms.encrypt(KeyId=source["KeyId"], Plaintext=b"moved")["CiphertextBlob"]
    moved = kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=destination["Arn"])
    on_source = region.assert_used(source, "ReEncrypt", moved)
    on_destination = region.assert_used(destination, "ReEncrypt", moved)
    # One call, one event: both keys name it.
    assert on_source == on_destination
    event = region.event_of("ReEncrypt", moved["ResponseMetadata"]["RequestId"])
    assert sorted(r["ResourceName"] for r in event["Resources"]) == sorted(
        [source["Arn"], destination["Arn"]])
    # A later use of one key moves only that key's usage.
    decrypted = kms.decrypt(CiphertextBlob=moved["CiphertextBlob"])
    region.assert_used(destination, "Decrypt", decrypted)
    assert region.last_usage(source["KeyId"])["KeyLastUsage"] == on_source


def test_sign_and_verify(module_server: ServerProcess) -> None:
    region = Region(module_server, "eu-central-1")
    kms, meta = region.kms, region.key("ECC_NIST_P256", "SIGN_VERIFY")
    signed = kms.sign(KeyId=meta["KeyId"], Message=MESSAGE, SigningAlgorithm="ECDSA_SHA_256")
    region.assert_used(meta, "Sign", signed)
    verified = kms.verify(KeyId=meta["Arn"], Message=MESSAGE, Signature=signed["Signature"],
                          SigningAlgorithm="ECDSA_SHA_256")
    assert verified["SignatureValid"] is True
    used = region.assert_used(meta, "Verify", verified)

    # A signature that does not verify is an error, not a use; nor is a dry run.
    with pytest.raises(ClientError) as bad:
        kms.verify(KeyId=meta["KeyId"], Message=b"another message",
                   Signature=signed["Signature"], SigningAlgorithm="ECDSA_SHA_256")
    assert error(bad)[0] == "KMSInvalidSignatureException"
    with pytest.raises(ClientError) as dry:
        kms.sign(KeyId=meta["KeyId"], Message=MESSAGE, SigningAlgorithm="ECDSA_SHA_256",
                 DryRun=True)
    assert error(dry)[0] == "DryRunOperationException"
    assert region.last_usage(meta["KeyId"])["KeyLastUsage"] == used


def test_generate_mac_and_verify_mac(module_server: ServerProcess) -> None:
    region = Region(module_server, "eu-north-1")
    kms, meta = region.kms, region.key("HMAC_256", "GENERATE_VERIFY_MAC")
    made = kms.generate_mac(KeyId=meta["KeyId"], Message=MESSAGE, MacAlgorithm="HMAC_SHA_256")
    region.assert_used(meta, "GenerateMac", made)
    checked = kms.verify_mac(KeyId=meta["KeyId"], Message=MESSAGE, Mac=made["Mac"],
                             MacAlgorithm="HMAC_SHA_256")
    used = region.assert_used(meta, "VerifyMac", checked)
    with pytest.raises(ClientError) as bad:
        kms.verify_mac(KeyId=meta["KeyId"], Message=b"tampered", Mac=made["Mac"],
                       MacAlgorithm="HMAC_SHA_256")
    assert error(bad)[0] == "KMSInvalidMacException"
    with pytest.raises(ClientError) as dry:
        kms.generate_mac(KeyId=meta["KeyId"], Message=MESSAGE, MacAlgorithm="HMAC_SHA_256",
                         DryRun=True)
    assert error(dry)[0] == "DryRunOperationException"
    assert region.last_usage(meta["KeyId"])["KeyLastUsage"] == used


def test_derive_shared_secret_encapsulate_and_decapsulate(module_server: ServerProcess) -> None:
    region = Region(module_server, "us-west-1")
    kms = region.kms
    agree = region.key("ECC_NIST_P256", "KEY_AGREEMENT")
    derived = kms.derive_shared_secret(KeyId=agree["KeyId"], KeyAgreementAlgorithm="ECDH",
                                       PublicKey=peer_public_key())
    region.assert_used(agree, "DeriveSharedSecret", derived)
    kem = region.key("ML_KEM_768", "ENCAPSULATE_DECAPSULATE")
    sealed = kms.encapsulate(KeyId=kem["KeyId"], EncapsulationAlgorithm="ML_KEM")
    region.assert_used(kem, "Encapsulate", sealed)
    opened = kms.decapsulate(KeyId=kem["KeyId"], EncapsulationAlgorithm="ML_KEM",
                             SharedSecretCiphertextBlob=sealed["SharedSecretCiphertextBlob"])
    assert opened["SharedSecret"] == sealed["SharedSecret"]
    region.assert_used(kem, "Decapsulate", opened)


def test_failed_and_dry_run_calls_are_no_use(module_server: ServerProcess) -> None:
    region = Region(module_server, "us-west-2")
    kms, meta = region.kms, region.key()
    key = meta["KeyId"]
    blob = kms.encrypt(KeyId=key, Plaintext=b"kept")["CiphertextBlob"]
    used = region.last_usage(key)["KeyLastUsage"]
    assert used["Operation"] == "Encrypt"
    refused = [
        lambda: kms.encrypt(KeyId=key, Plaintext=b"x", DryRun=True),
        lambda: kms.decrypt(CiphertextBlob=blob, DryRun=True),
        lambda: kms.generate_data_key(KeyId=key, KeySpec="AES_256", DryRun=True),
        lambda: kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=key, DryRun=True),
        # Wrong encryption context: InvalidCiphertextException.
        lambda: kms.decrypt(CiphertextBlob=blob, EncryptionContext={"not": "this"}),
        lambda: kms.generate_data_key(KeyId=key),  # neither KeySpec nor NumberOfBytes
    ]
    for call in refused:
        with pytest.raises(ClientError):
            call()
    kms.disable_key(KeyId=key)
    with pytest.raises(ClientError) as disabled:
        kms.encrypt(KeyId=key, Plaintext=b"x")
    assert error(disabled)[0] == "DisabledException"
    assert region.last_usage(key)["KeyLastUsage"] == used


# -- which keys, which states ----------------------------------------------------------------------


def test_aliases_and_unknown_keys_are_refused(module_server: ServerProcess) -> None:
    region = Region(module_server, "ap-south-1")
    kms, meta = region.kms, region.key()
    name = f"alias/last-usage-{region.name}"
    kms.create_alias(AliasName=name, TargetKeyId=meta["KeyId"])
    alias_arn = f"arn:aws:kms:{region.name}:{ACCOUNT}:{name}"
    missing = "0b5d1b3e-0000-4000-8000-000000000000"
    cases = {
        name: f"Invalid keyId '{name}'",
        alias_arn: f"Invalid keyId '{alias_arn}'",
        missing: f"Key 'arn:aws:kms:{region.name}:{ACCOUNT}:key/{missing}' does not exist",
        "not-a-key": "Invalid keyId 'not-a-key'",
    }
    for key_id, message in cases.items():
        with pytest.raises(ClientError) as exc:
            kms.get_key_last_usage(KeyId=key_id)
        assert error(exc) == ("NotFoundException", message, 400)


def test_every_key_state_answers_pending_deletion_included(module_server: ServerProcess) -> None:
    region = Region(module_server, "ap-northeast-1")
    kms, meta = region.kms, region.key()
    key = meta["KeyId"]
    used = region.assert_used(meta, "Encrypt", kms.encrypt(KeyId=key, Plaintext=b"x"))
    kms.disable_key(KeyId=key)
    assert region.last_usage(key)["KeyLastUsage"] == used
    kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
    assert kms.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "PendingDeletion"
    assert region.last_usage(meta["Arn"]) == {
        "KeyId": meta["Arn"], "KeyLastUsage": used, "TrackingStartDate": meta["CreationDate"],
        "KeyCreationDate": meta["CreationDate"]}
    # Unused and pending deletion: empty.
    unused = region.key()
    kms.schedule_key_deletion(KeyId=unused["KeyId"], PendingWindowInDays=7)
    assert region.last_usage(unused["KeyId"])["KeyLastUsage"] == {}


def test_the_call_itself_is_logged_and_is_no_use(module_server: ServerProcess) -> None:
    region = Region(module_server, "ca-central-1")
    meta = region.key()
    asked = region.kms.get_key_last_usage(KeyId=meta["KeyId"])
    event = region.event_of("GetKeyLastUsage", asked["ResponseMetadata"]["RequestId"])
    record = json.loads(event["CloudTrailEvent"])
    assert event["ReadOnly"] == "true"
    assert event["Resources"] == [{"ResourceType": "AWS::KMS::Key",
                                   "ResourceName": meta["Arn"]}]
    assert (record["eventName"], record["eventSource"], record["eventType"],
            record["readOnly"], record["awsRegion"]) == (
        "GetKeyLastUsage", "kms.amazonaws.com", "AwsApiCall", True, region.name)
    assert record["requestParameters"] == {"keyId": meta["KeyId"]}
    assert record["responseElements"] is None
    assert "errorCode" not in record
    # A refused call is logged too, with its error.
    with pytest.raises(ClientError):
        region.kms.get_key_last_usage(KeyId="alias/nothing-here")
    failed = [json.loads(e["CloudTrailEvent"]) for e in region.trail.lookup_events(
        LookupAttributes=[{"AttributeKey": "EventName",
                           "AttributeValue": "GetKeyLastUsage"}])["Events"]]
    assert [(r["requestParameters"], r.get("errorCode")) for r in failed] == [
        ({"keyId": "alias/nothing-here"}, "NotFoundException"),
        ({"keyId": meta["KeyId"]}, None)]
    assert region.last_usage(meta["KeyId"])["KeyLastUsage"] == {}


# -- durability ------------------------------------------------------------------------------------


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    node = ServerProcess(tmp_path / "data").start()
    try:
        yield node
    finally:
        node.kill()


def test_usage_and_tracking_start_survive_restarts(server: ServerProcess) -> None:
    region = Region(server, "us-east-1")
    meta, other = region.key(), region.key()
    region.assert_used(meta, "Encrypt", region.kms.encrypt(KeyId=meta["KeyId"], Plaintext=b"x"))
    # A use not yet asked about (still buffered by the trail) is written by a graceful stop.
    before = region.last_usage(meta["KeyId"])
    last = region.kms.encrypt(KeyId=other["KeyId"], Plaintext=b"y")
    server.restart()
    region = Region(server, "us-east-1")
    region.assert_used(other, "Encrypt", last)
    assert region.last_usage(meta["KeyId"]) == before
    # After kill -9 too (asked once, so written), and uses go on being recorded.
    server.restart(hard=True)
    region = Region(server, "us-east-1")
    assert region.last_usage(meta["KeyId"]) == before
    region.assert_used(meta, "GenerateDataKey",
                       region.kms.generate_data_key(KeyId=meta["KeyId"], NumberOfBytes=32))


def test_a_data_store_from_before_tracking_reports_unknown_use_before_its_start(
        server: ServerProcess) -> None:
    """An hsmkms data store older than GetKeyLastUsage (simulated: the migration and the meta
    entry undone) starts tracking at its first start with it: its older keys' usage is empty
    with a TrackingStartDate after their creation ("unknown before tracking start")."""
    region = Region(server, "us-east-1")
    old = region.key()
    region.kms.encrypt(KeyId=old["KeyId"], Plaintext=b"used before tracking")
    server.stop()
    db = sqlite3.connect(server.data_dir / "hsmkms.db")
    with db:
        db.execute("DROP TABLE trail_key_usage")
        db.execute("DELETE FROM schema_migrations WHERE version = 5")
        db.execute("DELETE FROM meta WHERE key = 'key_usage_tracking_start'")
    db.close()
    server.start()
    ahead = server.advance(DAY)  # the upgrade happened a day later
    server.restart()  # the tracking start was recorded at the first start, not this one
    region = Region(server, "us-east-1")
    out = region.last_usage(old["KeyId"])
    assert out["KeyLastUsage"] == {}
    assert out["KeyCreationDate"] == old["CreationDate"]
    assert old["CreationDate"] < out["TrackingStartDate"]
    assert out["TrackingStartDate"].timestamp() < ahead
    # Keys created since are tracked from their creation; uses are recorded again.
    new = region.key()
    assert new["CreationDate"] > out["TrackingStartDate"]
    assert region.last_usage(new["KeyId"])["TrackingStartDate"] == new["CreationDate"]
    used = region.kms.encrypt(KeyId=old["KeyId"], Plaintext=b"tracked")
    usage = region.last_usage(old["KeyId"])
    assert usage["KeyLastUsage"]["KmsRequestId"] == used["ResponseMetadata"]["RequestId"]
    assert usage["TrackingStartDate"] == out["TrackingStartDate"]


def test_on_postgresql(tmp_path: Path, postgres_schema: str) -> None:
    node = ServerProcess(tmp_path / "pg", env={"HSMKMS_DATABASE": postgres_schema}).start()
    try:
        region = Region(node, "us-east-1")
        source, destination = region.key(), region.key()
        assert region.last_usage(source["KeyId"])["KeyLastUsage"] == {}
        blob = region.kms.encrypt(KeyId=source["KeyId"], Plaintext=b"pg")["CiphertextBlob"]
        moved = region.kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=destination["KeyId"])
        used = region.assert_used(source, "ReEncrypt", moved)
        assert region.assert_used(destination, "ReEncrypt", moved) == used
        with pytest.raises(ClientError):
            region.kms.encrypt(KeyId=source["KeyId"], Plaintext=b"x", DryRun=True)
        node.restart()
        region = Region(node, "us-east-1")
        assert region.last_usage(source["KeyId"]) == {
            "KeyId": source["Arn"], "KeyLastUsage": used,
            "TrackingStartDate": source["CreationDate"],
            "KeyCreationDate": source["CreationDate"]}
        region.assert_used(destination, "Decrypt",
                           region.kms.decrypt(CiphertextBlob=moved["CiphertextBlob"],
                                              KeyId=destination["Arn"]))
    finally:
        node.kill()


def test_timestamps_are_the_server_clock(server: ServerProcess) -> None:
    """The usage is dated by the server's clock (advanced here), as its event is."""
    region = Region(server, "us-east-1")
    meta = region.key()
    ahead = server.advance(30 * DAY)
    used = region.assert_used(meta, "Encrypt",
                              region.kms.encrypt(KeyId=meta["KeyId"], Plaintext=b"x"))
    assert used["Timestamp"].timestamp() >= ahead - 0.001  # the wire rounds to milliseconds
    assert used["Timestamp"] - meta["CreationDate"] >= dt.timedelta(days=30)


def test_in_process_where_the_trail_writes_from_a_thread(tmp_path: Path) -> None:
    """``mock_hsmkms`` (no server, no writer process: the trail's writer thread) answers the
    same way."""
    import boto3  # noqa: PLC0415

    from hsmkms.testing import mock  # noqa: PLC0415

    with mock.mock_hsmkms(data_dir=tmp_path / "inprocess"):
        kms = boto3.client("kms", region_name="us-east-1")
        trail = boto3.client("cloudtrail", region_name="us-east-1")
        meta = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]
        assert kms.get_key_last_usage(KeyId=meta["KeyId"])["KeyLastUsage"] == {}
        made = kms.generate_mac(KeyId=meta["KeyId"], Message=MESSAGE,
                                MacAlgorithm="HMAC_SHA_256")
        usage = kms.get_key_last_usage(KeyId=meta["Arn"])["KeyLastUsage"]
        event = trail.lookup_events(LookupAttributes=[
            {"AttributeKey": "EventName", "AttributeValue": "GenerateMac"}])["Events"][0]
        assert (usage["Operation"], usage["KmsRequestId"], usage["CloudTrailEventId"]) == (
            "GenerateMac", made["ResponseMetadata"]["RequestId"], event["EventId"])


def test_denied_calls_are_no_use_and_the_key_policy_governs_the_call(tmp_path: Path) -> None:
    """``--auth enforce``: a call the key policy denies is no use; GetKeyLastUsage itself needs
    ``kms:GetKeyLastUsage`` (spec authz.md §4.6: a key-policy operation)."""
    akid, secret = "AKIALASTUSAGEROOTKEY", "lastUsageRootSecretAccessKey000000000000"
    node = ServerProcess(tmp_path / "enforce", args=["--auth", "enforce"], env={
        "HSMKMS_ROOT_ACCESS_KEY_ID": akid, "HSMKMS_ROOT_SECRET_ACCESS_KEY": secret}).start()
    root = f"arn:aws:iam::{ACCOUNT}:root"

    def key_policy(*denied: str) -> str:
        return json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": root}, "Action": "kms:*", "Resource": "*"},
            {"Effect": "Deny", "Principal": "*", "Action": list(denied), "Resource": "*"}]})

    try:
        kms = node.client("kms")
        meta = kms.create_key(Policy=key_policy("kms:Encrypt"))["KeyMetadata"]
        with pytest.raises(ClientError) as denied:
            kms.encrypt(KeyId=meta["KeyId"], Plaintext=b"x")
        assert error(denied)[0] == "AccessDeniedException"
        assert kms.get_key_last_usage(KeyId=meta["KeyId"])["KeyLastUsage"] == {}
        kms.generate_data_key(KeyId=meta["KeyId"], NumberOfBytes=32)
        assert kms.get_key_last_usage(KeyId=meta["KeyId"])["KeyLastUsage"]["Operation"] == \
            "GenerateDataKey"
        closed = kms.create_key(Policy=key_policy("kms:GetKeyLastUsage"))["KeyMetadata"]
        with pytest.raises(ClientError) as refused:
            kms.get_key_last_usage(KeyId=closed["Arn"])
        assert error(refused) == (
            "AccessDeniedException",
            (f"User: {root} is not authorized to perform: kms:GetKeyLastUsage on resource: "
             f"{closed['Arn']} with an explicit deny in a resource-based policy"), 400)
    finally:
        node.kill()
