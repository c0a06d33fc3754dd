"""Key material over time in multi-Region sets, with real boto3 against a real server running
the ``realistic`` timing profile (replica creation 5 s, primary update 30 s of clock time), so
that imported material can expire, and rotations can come due, while a step is under way:

* material that expires while its key is ``Updating`` leaves the key ``PendingImport`` when the
  step completes (never ``Enabled`` without material);
* automatic rotation follows the set's primary through UpdatePrimaryRegion;
* an EXTERNAL primary pending replica deletion can lose its material and still be cancelled.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError
from import_helpers import NO_EXPIRY, import_material

from hsmkms.testing.server import ServerProcess

ACCOUNT = "111122223333"
EAST, WEST, EU = "us-east-1", "us-west-2", "eu-west-1"
DAY = 86400
CREATION = 5  # seconds of clock time (timing profile "realistic")
UPDATE = 30


def arn(region: str, key_id: str) -> str:
    return f"arn:aws:kms:{region}:{ACCOUNT}:key/{key_id}"


def material_id(key_id: str, material: bytes) -> str:
    return hmac.new(b"kms-key-material-id" + key_id.encode(), material,
                    hashlib.sha256).hexdigest()


def error(call: Callable[..., Any], **params: Any) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as exc:
        call(**params)
    resp = exc.value.response
    return resp["Error"]["Code"], resp["Error"]["Message"], resp["ResponseMetadata"][
        "HTTPStatusCode"]


@pytest.fixture(scope="module")
def server(realistic_server: ServerProcess) -> ServerProcess:
    return realistic_server


class Regions:
    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.clients = {r: server.client("kms", r) for r in (EAST, WEST, EU)}

    def describe(self, region: str, key_id: str) -> dict[str, Any]:
        meta: dict[str, Any] = self.clients[region].describe_key(KeyId=key_id)["KeyMetadata"]
        return meta

    def external_set(self, material: bytes) -> str:
        """An EXTERNAL primary in us-east-1 and its replica in us-west-2, both Enabled with
        ``material`` (which does not expire)."""
        east = self.clients[EAST]
        key_id: str = east.create_key(Origin="EXTERNAL", MultiRegion=True)["KeyMetadata"][
            "KeyId"]
        import_material(east, key_id, material)
        east.replicate_key(KeyId=key_id, ReplicaRegion=WEST)
        self.server.advance(CREATION + 1)
        import_material(self.clients[WEST], key_id, material)
        assert self.describe(WEST, key_id)["KeyState"] == "Enabled"
        return key_id


@pytest.fixture(scope="module")
def regions(server: ServerProcess) -> Regions:
    return Regions(server)


def test_material_expiring_while_updating_leaves_the_key_pending_import(
        regions: Regions) -> None:
    east, west = regions.clients[EAST], regions.clients[WEST]
    material = os.urandom(32)
    key_id = regions.external_set(material)
    valid_to = regions.server.advance(0) + 10
    import_material(east, key_id, material, ExpirationModel="KEY_MATERIAL_EXPIRES",
                    ValidTo=valid_to)
    east.update_primary_region(KeyId=key_id, PrimaryRegion=WEST)
    assert regions.describe(EAST, key_id)["KeyState"] == "Updating"
    regions.server.advance(15)  # the material expired at +10 s; the update ends at +30 s
    assert regions.describe(EAST, key_id)["KeyState"] == "Updating"
    assert error(east.encrypt, KeyId=key_id, Plaintext=b"x") == (
        "KMSInvalidStateException", f"{arn(EAST, key_id)} is pending import.", 400)
    regions.server.advance(45)
    old = regions.describe(EAST, key_id)
    assert (old["KeyState"], old["Enabled"]) == ("PendingImport", False)
    assert old["MultiRegionConfiguration"]["MultiRegionKeyType"] == "REPLICA"
    assert "ExpirationModel" not in old
    for call, params in ((east.encrypt, {"Plaintext": b"x"}),
                         (east.generate_data_key, {"KeySpec": "AES_256"})):
        assert error(call, KeyId=key_id, **params) == (
            "KMSInvalidStateException", f"{arn(EAST, key_id)} is pending import.", 400)
    # The new primary kept its own material; importing again repairs the old one.
    blob = west.encrypt(KeyId=key_id, Plaintext=b"p")["CiphertextBlob"]
    assert regions.describe(WEST, key_id)["KeyState"] == "Enabled"
    import_material(east, key_id, material, **NO_EXPIRY)
    assert regions.describe(EAST, key_id)["KeyState"] == "Enabled"
    assert east.decrypt(CiphertextBlob=blob)["Plaintext"] == b"p"


def test_primary_pending_replica_deletion_loses_its_material_and_is_cancelled(
        regions: Regions) -> None:
    east = regions.clients[EAST]
    material = os.urandom(32)
    key_id = regions.external_set(material)
    east.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    assert regions.describe(EAST, key_id)["KeyState"] == "PendingReplicaDeletion"
    # Deleted: the key stays pending replica deletion.
    east.delete_imported_key_material(KeyId=key_id)
    assert regions.describe(EAST, key_id)["KeyState"] == "PendingReplicaDeletion"
    # Cancelled, it has nothing to be Disabled with: it waits for its material.
    east.cancel_key_deletion(KeyId=key_id)
    meta = regions.describe(EAST, key_id)
    assert (meta["KeyState"], meta["Enabled"]) == ("PendingImport", False)
    assert "DeletionDate" not in meta
    import_material(east, key_id, material)
    assert regions.describe(EAST, key_id)["KeyState"] == "Enabled"
    # Expiring: the same.
    valid_to = regions.server.advance(0) + 10
    import_material(east, key_id, material, ExpirationModel="KEY_MATERIAL_EXPIRES",
                    ValidTo=valid_to)
    east.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    regions.server.advance(60)
    assert regions.describe(EAST, key_id)["KeyState"] == "PendingReplicaDeletion"
    east.cancel_key_deletion(KeyId=key_id)
    assert regions.describe(EAST, key_id)["KeyState"] == "PendingImport"
    assert regions.describe(WEST, key_id)["KeyState"] == "Enabled"


# -- automatic rotation of a multi-Region set -----------------------------------------------


def automatic_rotations(kms: Any, key_id: str) -> list[float]:
    got = kms.list_key_rotations(KeyId=key_id)["Rotations"]
    return [r["RotationDate"].timestamp() for r in got if r["RotationType"] == "AUTOMATIC"]


def aws_set(regions: Regions, period: int) -> tuple[str, float]:
    """An AWS_KMS primary in us-east-1 rotating every ``period`` days, with its replica in
    us-west-2; returns the key id and the first NextRotationDate."""
    east = regions.clients[EAST]
    key_id: str = east.create_key(MultiRegion=True)["KeyMetadata"]["KeyId"]
    east.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=period)
    east.replicate_key(KeyId=key_id, ReplicaRegion=WEST)
    regions.server.advance(CREATION + 1)
    first = east.get_key_rotation_status(KeyId=key_id)["NextRotationDate"].timestamp()
    return key_id, first


def test_automatic_rotation_follows_the_primary_after_the_old_one_is_deleted(
        regions: Regions) -> None:
    east, west = regions.clients[EAST], regions.clients[WEST]
    key_id, first = aws_set(regions, 90)
    east.update_primary_region(KeyId=key_id, PrimaryRegion=WEST)
    regions.server.advance(UPDATE + 1)
    east.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    regions.server.advance(8 * DAY)
    assert error(east.describe_key, KeyId=key_id)[0] == "NotFoundException"
    now = regions.server.advance(90 * DAY)
    assert automatic_rotations(west, key_id) == [pytest.approx(first, abs=0.001)]
    status = west.get_key_rotation_status(KeyId=key_id)
    assert status["KeyRotationEnabled"] is True
    assert status["NextRotationDate"].timestamp() == pytest.approx(first + 90 * DAY, abs=0.001)
    assert status["NextRotationDate"].timestamp() > now
    # One rotation per period, however far the clock jumps.
    regions.server.advance(200 * DAY)
    assert automatic_rotations(west, key_id) == [
        pytest.approx(first + n * 90 * DAY, abs=0.001) for n in range(3)]


def test_automatic_rotation_due_while_updating_still_happens(regions: Regions) -> None:
    east, west = regions.clients[EAST], regions.clients[WEST]
    key_id, first = aws_set(regions, 90)
    blob = east.encrypt(KeyId=key_id, Plaintext=b"before")["CiphertextBlob"]
    now = regions.server.advance(0)
    regions.server.advance(first - now - 10)  # 10 s before the rotation is due
    east.update_primary_region(KeyId=key_id, PrimaryRegion=WEST)
    regions.server.advance(UPDATE + 1)  # due while both keys are Updating
    assert [regions.describe(r, key_id)["KeyState"] for r in (EAST, WEST)] == [
        "Enabled", "Enabled"]
    for kms in (east, west):
        assert automatic_rotations(kms, key_id) == [pytest.approx(first, abs=0.001)]
        assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"before"
    assert west.get_key_rotation_status(KeyId=key_id)["NextRotationDate"].timestamp() == (
        pytest.approx(first + 90 * DAY, abs=0.001))
    regions.server.advance(90 * DAY)
    assert automatic_rotations(west, key_id) == [
        pytest.approx(first, abs=0.001), pytest.approx(first + 90 * DAY, abs=0.001)]
    # Both members hold the same current material.
    assert regions.describe(EAST, key_id)["CurrentKeyMaterialId"] == regions.describe(
        WEST, key_id)["CurrentKeyMaterialId"]


# -- materials pending rotation as the set changes --------------------------------------------


def test_a_new_replica_and_a_deleted_one_re_evaluate_the_pending_material(
        regions: Regions) -> None:
    east, west = regions.clients[EAST], regions.clients[WEST]
    first, second = os.urandom(32), os.urandom(32)
    key_id = regions.external_set(first)
    new = material_id(key_id, second)

    def pending_state(region: str) -> str:
        got = regions.clients[region].list_key_rotations(
            KeyId=key_id, IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"]
        return str(next(e for e in got if e["KeyMaterialId"] == new)["KeyMaterialState"])

    import_material(east, key_id, second, ImportType="NEW_KEY_MATERIAL", **NO_EXPIRY)
    import_material(west, key_id, second, **NO_EXPIRY)
    assert [pending_state(r) for r in (EAST, WEST)] == ["PENDING_ROTATION"] * 2
    # A new replica lacks it: the set waits for it again.
    east.replicate_key(KeyId=key_id, ReplicaRegion=EU)
    assert [pending_state(r) for r in (EAST, WEST)] == [
        "PENDING_MULTI_REGION_IMPORT_AND_ROTATION"] * 2
    assert error(east.rotate_key_on_demand, KeyId=key_id) == (
        "KMSInvalidStateException",
        f"No available key material pending rotation for the key: {arn(EAST, key_id)}.", 400)
    regions.server.advance(CREATION + 1)
    assert regions.describe(EU, key_id)["KeyState"] == "PendingImport"
    # That replica goes without importing it: the others all have it, it is pending rotation.
    regions.clients[EU].schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    regions.server.advance(8 * DAY)
    assert error(regions.clients[EU].describe_key, KeyId=key_id)[0] == "NotFoundException"
    assert [pending_state(r) for r in (EAST, WEST)] == ["PENDING_ROTATION"] * 2
    east.rotate_key_on_demand(KeyId=key_id)
    regions.server.advance(UPDATE)
    for region in (EAST, WEST):
        meta = regions.describe(region, key_id)
        assert (meta["KeyState"], meta["CurrentKeyMaterialId"]) == ("Enabled", new), region
