"""Multi-Region keys against one real server, with boto3 clients in three Regions (spec
kms-keys.md 5, 6, 8; kms.md 1.1): CreateKey MultiRegion, ReplicateKey (Creating until the clock
moves), DescribeKey from every member, cross-Region crypto, UpdatePrimaryRegion through
Updating, the deletion rules, the recorded errors, CloudTrail, and a restart in the middle.

The server runs the ``realistic`` timing profile (replica creation 5 s, primary update 30 s of
clock time), so a step started by a call is still under way when the next call looks at it;
``POST /_hsmkms/clock`` past the step completes it.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from botocore.exceptions import ClientError

from hsmkms.kms.keyspecs import SPECS
from hsmkms.testing.server import ServerProcess

ACCOUNT = "111122223333"
EAST, WEST, EU = "us-east-1", "us-west-2", "eu-west-1"
DAY = 86400
CREATION = 5  # seconds of clock time (timing profile "realistic")
UPDATE = 30
MRK = re.compile(r"^mrk-[0-9a-f]{32}$")


def arn(region: str, key_id: str) -> str:
    return f"arn:aws:kms:{region}:{ACCOUNT}:key/{key_id}"


def member(region: str, key_id: str) -> dict[str, str]:
    return {"Arn": arn(region, key_id), "Region": region}


def error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    resp = exc.value.response
    return resp["Error"]["Code"], resp["Error"]["Message"], resp["ResponseMetadata"][
        "HTTPStatusCode"]


def default_policy() -> dict[str, Any]:
    return {"Version": "2012-10-17", "Id": "key-default-1", "Statement": [{
        "Sid": "Enable IAM User Permissions", "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*",
        "Resource": "*"}]}


@pytest.fixture(scope="module")
def server(realistic_server: ServerProcess) -> ServerProcess:
    return realistic_server


class Regions:
    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.east = server.client("kms", EAST)
        self.west = server.client("kms", WEST)
        self.eu = server.client("kms", EU)

    def of(self, region: str) -> Any:
        return {EAST: self.east, WEST: self.west, EU: self.eu}[region]

    def describe(self, region: str, key_id: str) -> dict[str, Any]:
        return self.of(region).describe_key(KeyId=key_id)["KeyMetadata"]  # type: ignore[no-any-return]

    def state(self, region: str, key_id: str) -> str:
        return str(self.describe(region, key_id)["KeyState"])

    def primary(self, **kwargs: Any) -> dict[str, Any]:
        return self.east.create_key(MultiRegion=True, **kwargs)["KeyMetadata"]  # type: ignore[no-any-return]

    def replicated(self, key_id: str, *regions: str) -> None:
        """Replicas of ``key_id`` in ``regions``, their creation completed."""
        for region in regions:
            self.east.replicate_key(KeyId=key_id, ReplicaRegion=region)
        self.server.advance(CREATION + 1)


@pytest.fixture(scope="module")
def kms(server: ServerProcess) -> Regions:
    return Regions(server)


# -- CreateKey ------------------------------------------------------------------------------


def test_create_multi_region_key(kms: Regions) -> None:
    meta = kms.primary(Description="primary")
    key_id = meta["KeyId"]
    assert MRK.match(key_id), key_id
    assert meta["Arn"] == arn(EAST, key_id)
    assert meta["MultiRegion"] is True
    assert meta["MultiRegionConfiguration"] == {
        "MultiRegionKeyType": "PRIMARY", "PrimaryKey": member(EAST, key_id), "ReplicaKeys": []}
    assert (meta["KeyState"], meta["Enabled"], meta["Origin"]) == ("Enabled", True, "AWS_KMS")
    assert meta["CurrentKeyMaterialId"]
    assert kms.describe(EAST, key_id) == meta
    single = kms.east.create_key()["KeyMetadata"]
    assert single["MultiRegion"] is False
    assert "MultiRegionConfiguration" not in single


def test_every_spec_allowed_single_region_is_allowed_multi_region(kms: Regions) -> None:
    """Spec kms-keys.md 10 Q15: every key spec may be multi-Region."""
    made = 0
    for spec in SPECS.values():
        usage = next(iter(spec.usages))
        refused: dict[str, Any] | None = None
        try:
            kms.east.create_key(KeySpec=spec.name, KeyUsage=usage)
        except ClientError as err:  # SM2 outside China: refused alike below
            refused = err.response["Error"]
        if refused is not None:
            with pytest.raises(ClientError) as exc:
                kms.east.create_key(KeySpec=spec.name, KeyUsage=usage, MultiRegion=True)
            assert exc.value.response["Error"] == refused
            continue
        meta = kms.east.create_key(KeySpec=spec.name, KeyUsage=usage,
                                   MultiRegion=True)["KeyMetadata"]
        assert MRK.match(meta["KeyId"])
        assert (meta["KeySpec"], meta["KeyUsage"], meta["MultiRegion"]) == (spec.name, usage,
                                                                             True)
        made += 1
    assert made == len(SPECS) - 1  # all but SM2


def test_unknown_and_malformed_mrk_ids(kms: Regions) -> None:
    """LS test_get_key_invalid_uuid / test_get_key_does_not_exist."""
    with pytest.raises(ClientError) as exc:
        kms.east.describe_key(KeyId="mrk-fake-key-id")
    assert error(exc) == ("NotFoundException", "Invalid keyId 'mrk-fake-key-id'", 400)
    unknown = "mrk-d3b95762d3b95762d3b95762d3b95762"
    with pytest.raises(ClientError) as exc:
        kms.east.describe_key(KeyId=unknown)
    assert error(exc) == ("NotFoundException", f"Key '{arn(EAST, unknown)}' does not exist", 400)


# -- ReplicateKey ---------------------------------------------------------------------------


def test_replicate_key_creating_then_enabled(kms: Regions) -> None:
    primary = kms.primary(Description="test replicated key")
    key_id = primary["KeyId"]
    with pytest.raises(ClientError) as exc:  # LS test_replicate_key: not there before
        kms.west.describe_key(KeyId=key_id)
    assert error(exc) == ("NotFoundException", f"Key '{arn(WEST, key_id)}' does not exist", 400)
    blob = kms.east.encrypt(KeyId=key_id, Plaintext=b"made before the replica")["CiphertextBlob"]

    answer = kms.east.replicate_key(KeyId=key_id, ReplicaRegion=WEST)
    replica = answer["ReplicaKeyMetadata"]
    created = replica.pop("CreationDate")
    assert replica == {
        "AWSAccountId": ACCOUNT, "KeyId": key_id, "Arn": arn(WEST, key_id),
        "Enabled": False, "Description": "", "KeyUsage": "ENCRYPT_DECRYPT",
        "KeyState": "Creating", "Origin": "AWS_KMS", "KeyManager": "CUSTOMER",
        "CustomerMasterKeySpec": "SYMMETRIC_DEFAULT", "KeySpec": "SYMMETRIC_DEFAULT",
        "EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"], "MultiRegion": True,
        "MultiRegionConfiguration": {
            "MultiRegionKeyType": "REPLICA", "PrimaryKey": member(EAST, key_id),
            "ReplicaKeys": [member(WEST, key_id)]}}
    assert created >= primary["CreationDate"]
    assert json.loads(answer["ReplicaPolicy"]) == default_policy()
    assert answer["ReplicaTags"] == []

    # Creating: described, not usable (kms.md 1.1 footnote 14).
    assert kms.state(WEST, key_id) == "Creating"
    assert "CurrentKeyMaterialId" not in kms.describe(WEST, key_id)
    for call in (lambda: kms.west.encrypt(KeyId=key_id, Plaintext=b"x"),
                 lambda: kms.west.decrypt(CiphertextBlob=blob),
                 lambda: kms.west.enable_key(KeyId=key_id),
                 lambda: kms.west.disable_key(KeyId=key_id)):
        with pytest.raises(ClientError) as exc:
            call()
        assert error(exc) == ("KMSInvalidStateException", f"{arn(WEST, key_id)} is creating.",
                              400)
    kms.west.update_key_description(KeyId=key_id, Description="replica")  # management works

    kms.server.advance(CREATION + 1)
    described = kms.describe(WEST, key_id)
    assert (described["KeyState"], described["Enabled"]) == ("Enabled", True)
    assert described["CurrentKeyMaterialId"] == primary["CurrentKeyMaterialId"]
    assert described["Description"] == "replica"
    # The replica decrypts what the primary encrypted before it existed.
    assert kms.west.decrypt(CiphertextBlob=blob)["Plaintext"] == b"made before the replica"


def test_every_member_reports_the_same_set(kms: Regions) -> None:
    key_id = kms.primary()["KeyId"]
    kms.replicated(key_id, WEST, EU)
    replicas = [member(WEST, key_id), member(EU, key_id)]
    for region, kind in ((EAST, "PRIMARY"), (WEST, "REPLICA"), (EU, "REPLICA")):
        meta = kms.describe(region, key_id)
        assert meta["Arn"] == arn(region, key_id)
        assert meta["MultiRegionConfiguration"] == {
            "MultiRegionKeyType": kind, "PrimaryKey": member(EAST, key_id),
            "ReplicaKeys": replicas}, region


def test_replica_properties_shared_and_independent(kms: Regions) -> None:
    policy = json.dumps({**default_policy(), "Id": "replica-policy"})
    primary = kms.primary(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY",
                          Description="signing", Tags=[{"TagKey": "side", "TagValue": "east"}])
    key_id = primary["KeyId"]
    answer = kms.east.replicate_key(KeyId=key_id, ReplicaRegion=WEST, Description="west copy",
                                    Policy=policy,
                                    Tags=[{"TagKey": "side", "TagValue": "west"}])
    assert answer["ReplicaPolicy"] == policy
    assert answer["ReplicaTags"] == [{"TagKey": "side", "TagValue": "west"}]
    replica = answer["ReplicaKeyMetadata"]
    assert (replica["KeySpec"], replica["KeyUsage"], replica["SigningAlgorithms"]) == (
        "ECC_NIST_P256", "SIGN_VERIFY", ["ECDSA_SHA_256"])
    assert replica["Description"] == "west copy"
    kms.server.advance(CREATION + 1)
    assert kms.west.get_key_policy(KeyId=key_id)["Policy"] == policy
    assert json.loads(kms.east.get_key_policy(KeyId=key_id)["Policy"]) == default_policy()
    assert kms.west.list_resource_tags(KeyId=key_id)["Tags"] == [
        {"TagKey": "side", "TagValue": "west"}]
    assert kms.east.list_resource_tags(KeyId=key_id)["Tags"] == [
        {"TagKey": "side", "TagValue": "east"}]
    # Same material: the public keys are equal, and signatures verify across Regions.
    assert kms.west.get_public_key(KeyId=key_id)["PublicKey"] == kms.east.get_public_key(
        KeyId=key_id)["PublicKey"]
    signature = kms.east.sign(KeyId=key_id, Message=b"m",
                              SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    assert kms.west.verify(KeyId=key_id, Message=b"m", Signature=signature,
                           SigningAlgorithm="ECDSA_SHA_256")["SignatureValid"] is True
    # Disabling one member leaves the others as they are.
    kms.east.disable_key(KeyId=key_id)
    assert kms.state(WEST, key_id) == "Enabled"
    kms.west.sign(KeyId=key_id, Message=b"m", SigningAlgorithm="ECDSA_SHA_256")


def test_hmac_macs_verify_across_members(kms: Regions) -> None:
    key_id = kms.primary(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyId"]
    kms.replicated(key_id, EU)
    mac = kms.eu.generate_mac(KeyId=key_id, Message=b"m", MacAlgorithm="HMAC_SHA_256")["Mac"]
    assert kms.east.generate_mac(KeyId=key_id, Message=b"m",
                                 MacAlgorithm="HMAC_SHA_256")["Mac"] == mac
    assert kms.east.verify_mac(KeyId=key_id, Message=b"m", Mac=mac,
                               MacAlgorithm="HMAC_SHA_256")["MacValid"] is True


def test_replicate_errors(kms: Regions) -> None:
    key_id = kms.primary()["KeyId"]
    kms.replicated(key_id, WEST)

    def refused(client: Any, **params: Any) -> tuple[str, str, int]:
        with pytest.raises(ClientError) as exc:
            client.replicate_key(**params)
        return error(exc)

    # LS test_replicate_replica_key_should_fail: a replica is no primary.
    assert refused(kms.west, KeyId=key_id, ReplicaRegion=EU) == (
        "UnsupportedOperationException", f"{arn(WEST, key_id)} is not a multi-region primary key.",
        400)
    single = kms.east.create_key()["KeyMetadata"]
    assert refused(kms.east, KeyId=single["KeyId"], ReplicaRegion=WEST) == (
        "UnsupportedOperationException", f"{single['Arn']} is not a multi-region primary key.",
        400)
    assert refused(kms.east, KeyId=key_id, ReplicaRegion=WEST) == (
        "AlreadyExistsException", f"A replica of {arn(EAST, key_id)} already exists in {WEST}.",
        400)
    assert refused(kms.east, KeyId=key_id, ReplicaRegion=EAST) == (
        "ValidationException", f"The replica Region {EAST} is the Region of the primary key.",
        400)
    assert refused(kms.east, KeyId=key_id, ReplicaRegion="cn-north-1") == (
        "ValidationException",
        "The replica Region cn-north-1 is not in the partition of the primary key (aws).", 400)
    assert refused(kms.east, KeyId=key_id, ReplicaRegion="nowhere")[0] == "ValidationException"
    assert refused(kms.east, KeyId=key_id, ReplicaRegion=EU,
                   Tags=[{"TagKey": "aws:x", "TagValue": "y"}]) == (
        "TagException", "Tags beginning with aws: are reserved", 400)
    assert refused(kms.east, KeyId=key_id, ReplicaRegion=EU, Policy="not json")[0] == (
        "MalformedPolicyDocumentException")
    assert refused(kms.east, KeyId=arn(WEST, key_id), ReplicaRegion=EU) == (
        "NotFoundException", f"Invalid arn {WEST}", 400)
    kms.east.disable_key(KeyId=key_id)
    assert refused(kms.east, KeyId=key_id, ReplicaRegion=EU) == (
        "DisabledException", f"{arn(EAST, key_id)} is disabled.", 400)
    # Nothing was made by the refused calls.
    with pytest.raises(ClientError) as exc:
        kms.eu.describe_key(KeyId=key_id)
    assert error(exc)[0] == "NotFoundException"
    assert kms.describe(EAST, key_id)["MultiRegionConfiguration"]["ReplicaKeys"] == [
        member(WEST, key_id)]


# -- cross-Region use -----------------------------------------------------------------------


def test_ciphertext_decrypts_in_every_region(kms: Regions) -> None:
    key_id = kms.primary()["KeyId"]
    kms.replicated(key_id, WEST, EU)
    context = {"app": "mrk"}
    for source in (EAST, WEST, EU):
        blob = kms.of(source).encrypt(KeyId=key_id, Plaintext=source.encode(),
                                      EncryptionContext=context)["CiphertextBlob"]
        for target in (EAST, WEST, EU):
            client = kms.of(target)
            for key_param in ({}, {"KeyId": key_id}, {"KeyId": arn(target, key_id)}):
                answer = client.decrypt(CiphertextBlob=blob, EncryptionContext=context,
                                        **key_param)
                assert answer["Plaintext"] == source.encode()
                assert answer["KeyId"] == arn(target, key_id)
            # A key ARN of another Region is refused as for any key (kms.md 2).
            other = EAST if target != EAST else WEST
            with pytest.raises(ClientError) as exc:
                client.decrypt(CiphertextBlob=blob, EncryptionContext=context,
                               KeyId=arn(other, key_id))
            assert error(exc) == ("NotFoundException", f"Invalid arn {other}", 400)


# -- UpdatePrimaryRegion --------------------------------------------------------------------


def test_update_primary_region_through_updating(kms: Regions) -> None:
    key_id = kms.primary()["KeyId"]
    kms.replicated(key_id, WEST, EU)
    blob = kms.east.encrypt(KeyId=key_id, Plaintext=b"p")["CiphertextBlob"]
    assert kms.east.update_primary_region(KeyId=key_id, PrimaryRegion=WEST)[
        "ResponseMetadata"]["HTTPStatusCode"] == 200
    assert (kms.state(EAST, key_id), kms.state(WEST, key_id), kms.state(EU, key_id)) == (
        "Updating", "Updating", "Enabled")
    # Updating: crypto works, Enable/Disable/ReplicateKey/ScheduleKeyDeletion don't ([15]).
    assert kms.west.decrypt(CiphertextBlob=blob)["Plaintext"] == b"p"
    assert kms.east.decrypt(CiphertextBlob=blob)["Plaintext"] == b"p"
    for call in (lambda: kms.east.disable_key(KeyId=key_id),
                 lambda: kms.east.schedule_key_deletion(KeyId=key_id)):
        with pytest.raises(ClientError) as exc:
            call()
        assert error(exc) == ("KMSInvalidStateException", f"{arn(EAST, key_id)} is updating.",
                              400)
    with pytest.raises(ClientError) as exc:
        kms.west.replicate_key(KeyId=key_id, ReplicaRegion="ap-southeast-1")
    assert error(exc) == ("KMSInvalidStateException", f"{arn(WEST, key_id)} is updating.", 400)

    kms.server.advance(UPDATE + 1)
    replicas = [member(EU, key_id), member(EAST, key_id)]
    for region, kind in ((WEST, "PRIMARY"), (EAST, "REPLICA"), (EU, "REPLICA")):
        meta = kms.describe(region, key_id)
        assert meta["KeyState"] == "Enabled", region
        assert meta["MultiRegionConfiguration"] == {
            "MultiRegionKeyType": kind, "PrimaryKey": member(WEST, key_id),
            "ReplicaKeys": replicas}, region
    # The new primary replicates; the old one no longer can.
    kms.west.replicate_key(KeyId=key_id, ReplicaRegion="ap-southeast-1")
    with pytest.raises(ClientError) as exc:
        kms.east.replicate_key(KeyId=key_id, ReplicaRegion="ap-southeast-2")
    assert error(exc) == ("UnsupportedOperationException",
                          f"{arn(EAST, key_id)} is not a multi-region primary key.", 400)


def test_update_primary_region_errors(kms: Regions) -> None:
    key_id = kms.primary()["KeyId"]
    kms.replicated(key_id, WEST)

    def refused(client: Any, **params: Any) -> tuple[str, str, int]:
        with pytest.raises(ClientError) as exc:
            client.update_primary_region(KeyId=key_id, **params)
        return error(exc)

    assert refused(kms.west, PrimaryRegion=EAST) == (
        "UnsupportedOperationException", f"{arn(WEST, key_id)} is not a multi-region primary key.",
        400)
    assert refused(kms.east, PrimaryRegion=EU) == (
        "NotFoundException", f"Key '{arn(EU, key_id)}' does not exist", 400)
    assert refused(kms.east, PrimaryRegion=EAST) == (
        "ValidationException", f"{arn(EAST, key_id)} is already the primary key in {EAST}.", 400)
    kms.west.disable_key(KeyId=key_id)  # the new primary must be Enabled too
    assert refused(kms.east, PrimaryRegion=WEST) == (
        "DisabledException", f"{arn(WEST, key_id)} is disabled.", 400)
    kms.west.enable_key(KeyId=key_id)
    kms.east.disable_key(KeyId=key_id)
    assert refused(kms.east, PrimaryRegion=WEST) == (
        "DisabledException", f"{arn(EAST, key_id)} is disabled.", 400)
    assert kms.describe(WEST, key_id)["MultiRegionConfiguration"]["PrimaryKey"] == member(
        EAST, key_id)
    # A replica still being created cannot become the primary ([14]).
    kms.east.enable_key(KeyId=key_id)
    kms.east.replicate_key(KeyId=key_id, ReplicaRegion=EU)
    assert refused(kms.east, PrimaryRegion=EU) == (
        "KMSInvalidStateException", f"{arn(EU, key_id)} is creating.", 400)


# -- deletion -------------------------------------------------------------------------------


def test_primary_waits_for_its_replicas(kms: Regions) -> None:
    key_id = kms.primary()["KeyId"]
    kms.replicated(key_id, WEST, EU)
    answer = kms.east.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    assert "DeletionDate" not in answer
    assert (answer["KeyId"], answer["KeyState"], answer["PendingWindowInDays"]) == (
        arn(EAST, key_id), "PendingReplicaDeletion", 7)
    meta = kms.describe(EAST, key_id)
    assert (meta["KeyState"], meta["Enabled"], meta["PendingDeletionWindowInDays"]) == (
        "PendingReplicaDeletion", False, 7)
    assert "DeletionDate" not in meta
    with pytest.raises(ClientError) as exc:
        kms.east.encrypt(KeyId=key_id, Plaintext=b"x")
    assert error(exc)[0] == "KMSInvalidStateException"
    with pytest.raises(ClientError) as exc:
        kms.east.replicate_key(KeyId=key_id, ReplicaRegion="ap-southeast-1")
    assert error(exc)[0] == "KMSInvalidStateException"
    kms.west.encrypt(KeyId=key_id, Plaintext=b"replicas unaffected")

    kms.west.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    eu_deletion = kms.eu.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=30)[
        "DeletionDate"].timestamp()
    kms.server.advance(8 * DAY)  # WEST is deleted, EU is not: the primary still waits
    with pytest.raises(ClientError) as exc:
        kms.west.describe_key(KeyId=key_id)
    assert error(exc) == ("NotFoundException", f"Key '{arn(WEST, key_id)}' does not exist", 400)
    meta = kms.describe(EAST, key_id)
    assert meta["KeyState"] == "PendingReplicaDeletion"
    assert meta["MultiRegionConfiguration"]["ReplicaKeys"] == [member(EU, key_id)]

    kms.server.advance(23 * DAY)  # EU's window ends: the primary's 7 days start then
    meta = kms.describe(EAST, key_id)
    assert meta["KeyState"] == "PendingDeletion"
    assert meta["MultiRegionConfiguration"]["ReplicaKeys"] == []
    assert "PendingDeletionWindowInDays" not in meta
    assert meta["DeletionDate"].timestamp() == pytest.approx(eu_deletion + 7 * DAY, abs=0.002)
    kms.server.advance(7 * DAY + 60)
    with pytest.raises(ClientError) as exc:
        kms.east.describe_key(KeyId=key_id)
    assert error(exc)[0] == "NotFoundException"


def test_cancel_deletion_of_either_pending_state(kms: Regions) -> None:
    key_id = kms.primary()["KeyId"]
    kms.replicated(key_id, WEST)
    kms.east.schedule_key_deletion(KeyId=key_id)
    assert kms.east.cancel_key_deletion(KeyId=key_id)["KeyId"] == arn(EAST, key_id)
    assert kms.state(EAST, key_id) == "Disabled"
    kms.west.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    assert kms.state(WEST, key_id) == "PendingDeletion"
    kms.west.cancel_key_deletion(KeyId=key_id)
    assert kms.state(WEST, key_id) == "Disabled"
    with pytest.raises(ClientError) as exc:
        kms.east.cancel_key_deletion(KeyId=key_id)
    assert error(exc) == ("KMSInvalidStateException",
                          f"{arn(EAST, key_id)} is not pending deletion.", 400)


def test_replicate_again_after_the_replica_was_deleted(kms: Regions) -> None:
    key_id = kms.primary()["KeyId"]
    kms.replicated(key_id, WEST)
    blob = kms.east.encrypt(KeyId=key_id, Plaintext=b"again")["CiphertextBlob"]
    kms.west.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    kms.server.advance(7 * DAY + 60)
    assert kms.describe(EAST, key_id)["MultiRegionConfiguration"]["ReplicaKeys"] == []
    kms.replicated(key_id, WEST)
    assert kms.west.decrypt(CiphertextBlob=blob)["Plaintext"] == b"again"


# -- CloudTrail -----------------------------------------------------------------------------


def _record(server: ServerProcess, region: str, name: str, key_id: str) -> dict[str, Any]:
    """The newest ``name`` event of ``region`` about ``key_id``."""
    trail = server.client("cloudtrail", region)
    found = trail.lookup_events(LookupAttributes=[
        {"AttributeKey": "EventName", "AttributeValue": name}])["Events"]
    return next(json.loads(e["CloudTrailEvent"]) for e in found
                if key_id in e["CloudTrailEvent"])


def test_cloudtrail_events(kms: Regions) -> None:
    key_id = kms.primary()["KeyId"]
    kms.east.replicate_key(KeyId=key_id, ReplicaRegion=WEST, Description="d")
    replicate = _record(kms.server, EAST, "ReplicateKey", key_id)
    assert replicate["requestParameters"] == {"keyId": key_id, "replicaRegion": WEST,
                                              "description": "d"}
    assert replicate["responseElements"]["replicaKeyMetadata"]["keyState"] == "Creating"
    assert replicate["responseElements"]["replicaKeyMetadata"]["arn"] == arn(WEST, key_id)
    assert json.loads(replicate["responseElements"]["replicaPolicy"]) == default_policy()
    assert replicate["resources"] == [{"accountId": ACCOUNT, "type": "AWS::KMS::Key",
                                       "ARN": arn(EAST, key_id)}]
    create = _record(kms.server, WEST, "CreateKey", key_id)
    assert create["awsRegion"] == WEST
    assert create["userIdentity"]["invokedBy"] == "kms.amazonaws.com"
    assert create["requestParameters"]["multiRegion"] is True
    assert create["responseElements"]["keyMetadata"]["arn"] == arn(WEST, key_id)
    assert create["requestID"] == replicate["requestID"]

    kms.server.advance(CREATION + 1)
    kms.east.update_primary_region(KeyId=key_id, PrimaryRegion=WEST)
    old = _record(kms.server, EAST, "UpdatePrimaryRegion", key_id)
    assert old["requestParameters"] == {"keyId": key_id, "primaryRegion": WEST}
    assert "invokedBy" not in old["userIdentity"]
    new = _record(kms.server, WEST, "UpdatePrimaryRegion", key_id)
    assert new["requestParameters"] == {"keyId": arn(WEST, key_id), "primaryRegion": WEST}
    assert new["userIdentity"]["invokedBy"] == "kms.amazonaws.com"
    assert "resources" not in new


# -- durability -----------------------------------------------------------------------------


def test_state_across_a_restart(server: ServerProcess, kms: Regions) -> None:
    key_id = kms.primary()["KeyId"]
    blob = kms.east.encrypt(KeyId=key_id, Plaintext=b"durable")["CiphertextBlob"]
    kms.east.replicate_key(KeyId=key_id, ReplicaRegion=WEST)
    server.restart(hard=True)
    west = server.client("kms", WEST)
    # A restart may take longer than the creation (5 s of real time): the replica is still
    # Creating or already Enabled; the clock past the creation completes it either way, as
    # only a job that survived the restart can.
    assert west.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] in ("Creating",
                                                                         "Enabled")
    server.advance(CREATION + 1)
    assert west.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"
    assert west.decrypt(CiphertextBlob=blob)["Plaintext"] == b"durable"
    east = server.client("kms", EAST)
    east.update_primary_region(KeyId=key_id, PrimaryRegion=WEST)
    server.restart()
    east = server.client("kms", EAST)
    assert east.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Updating"
    server.advance(UPDATE + 1)
    meta = east.describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["KeyState"] == "Enabled"
    assert meta["MultiRegionConfiguration"]["PrimaryKey"] == member(WEST, key_id)
