"""Multi-Region keys with imported key material (spec kms-keys.md 4.6, 3.1, 4.4, 4.5, 6) with
real boto3 against one real server and clients in several Regions: a replica of an EXTERNAL
primary takes the primary's material through its own import parameters (and nothing else), new
material for rotation goes PENDING_MULTI_REGION_IMPORT_AND_ROTATION -> PENDING_ROTATION as every
replica takes it, RotateKeyOnDemand on the primary rotates the whole set, and a pending material
deleted on the primary goes from the replicas too (on a replica: from that replica only).
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
STEP = 2  # seconds of clock time past any asynchronous step of the "fast" profile (1 s)
PENDING_MR = "PENDING_MULTI_REGION_IMPORT_AND_ROTATION"


def arn(region: str, key_id: str) -> str:
    return f"arn:aws:kms:{region}:{ACCOUNT}:key/{key_id}"


def material_id(key_id: str, material: bytes) -> str:
    return hmac.new(b"kms-key-material-id" + key_id.encode(), material,
                    hashlib.sha256).hexdigest()


def error(call: Callable[..., Any], *args: Any, **params: Any) -> dict[str, str]:
    with pytest.raises(ClientError) as exc:
        call(*args, **params)
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return dict(exc.value.response["Error"])


class Regions:
    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.clients = {r: server.client("kms", r) for r in (EAST, WEST, EU)}

    def describe(self, region: str, key_id: str) -> dict[str, Any]:
        meta: dict[str, Any] = self.clients[region].describe_key(KeyId=key_id)["KeyMetadata"]
        return meta

    def materials(self, region: str, key_id: str) -> dict[str, dict[str, Any]]:
        """ListKeyRotations ALL_KEY_MATERIAL of the member in ``region``, by material id."""
        got = self.clients[region].list_key_rotations(KeyId=key_id,
                                                      IncludeKeyMaterial="ALL_KEY_MATERIAL")
        return {e["KeyMaterialId"]: e for e in got["Rotations"]}

    def external_set(self, material: bytes, *replicas: str) -> str:
        """An EXTERNAL multi-Region primary in us-east-1 with ``material`` imported, and its
        replicas (PendingImport, nothing imported into them)."""
        east = self.clients[EAST]
        key_id: str = east.create_key(Origin="EXTERNAL", MultiRegion=True)["KeyMetadata"][
            "KeyId"]
        import_material(east, key_id, material)
        for region in replicas:
            east.replicate_key(KeyId=key_id, ReplicaRegion=region)
        self.server.advance(STEP)
        for region in replicas:
            assert self.describe(region, key_id)["KeyState"] == "PendingImport"
        return key_id


@pytest.fixture(scope="module")
def regions(module_server: ServerProcess) -> Regions:
    return Regions(module_server)


def test_replica_takes_the_primary_material_and_decrypts_across_regions(
        regions: Regions) -> None:
    east, west = regions.clients[EAST], regions.clients[WEST]
    material = os.urandom(32)
    key_id = regions.external_set(material, WEST)
    mid = material_id(key_id, material)
    assert error(west.encrypt, KeyId=key_id, Plaintext=b"x") == {
        "Code": "KMSInvalidStateException", "Message": f"{arn(WEST, key_id)} is pending import."}
    # Other material: refused, nothing changes.
    assert error(import_material, west, key_id, os.urandom(32)) == {
        "Code": "IncorrectKeyMaterialException",
        "Message": "The key material is not the key material previously imported into KMS key "
                   f"{arn(EAST, key_id)}."}
    # New material goes into the primary only.
    assert error(import_material, west, key_id, material, ImportType="NEW_KEY_MATERIAL",
                 **NO_EXPIRY) == {
        "Code": "UnsupportedOperationException",
        "Message": f"{arn(WEST, key_id)} is a multi-Region replica key. Import new key material "
                   f"into its primary key in {EAST}, then import the same key material into "
                   "this key with ImportType EXISTING_KEY_MATERIAL."}
    assert regions.describe(WEST, key_id)["KeyState"] == "PendingImport"
    assert regions.materials(WEST, key_id) == {}
    # The same material, with the replica's own parameters and its own expiry.
    valid_to = regions.server.advance(0) + 10 * DAY
    done = import_material(west, key_id, material, ValidTo=valid_to,
                           ExpirationModel="KEY_MATERIAL_EXPIRES")
    assert (done["KeyId"], done["KeyMaterialId"]) == (arn(WEST, key_id), mid)
    replica, primary = regions.describe(WEST, key_id), regions.describe(EAST, key_id)
    assert (replica["KeyState"], replica["Enabled"], replica["CurrentKeyMaterialId"],
            replica["ExpirationModel"]) == ("Enabled", True, mid, "KEY_MATERIAL_EXPIRES")
    assert replica["ValidTo"].timestamp() == pytest.approx(valid_to, abs=0.001)
    assert (primary["CurrentKeyMaterialId"], primary["ExpirationModel"]) == (
        mid, "KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert "ValidTo" not in primary
    # A ciphertext of either Region decrypts in the other, under the one material.
    for source, target in ((east, west), (west, east)):
        blob = source.encrypt(KeyId=key_id, Plaintext=b"across")["CiphertextBlob"]
        out = target.decrypt(CiphertextBlob=blob)
        assert (out["Plaintext"], out["KeyId"], out["KeyMaterialId"]) == (
            b"across", arn(target.meta.region_name, key_id), mid)
    # Re-importing into the replica: the same material only, as for any key.
    again = import_material(west, key_id, material, ImportType="EXISTING_KEY_MATERIAL",
                            KeyMaterialId=mid, **NO_EXPIRY)
    assert again["KeyMaterialId"] == mid
    assert "ValidTo" not in regions.describe(WEST, key_id)


def test_new_material_is_pending_until_every_replica_has_it_then_rotates_the_set(
        regions: Regions) -> None:
    east = regions.clients[EAST]
    first, second = os.urandom(32), os.urandom(32)
    key_id = regions.external_set(first, WEST, EU)
    for region in (WEST, EU):
        import_material(regions.clients[region], key_id, first)
    old, new = material_id(key_id, first), material_id(key_id, second)
    olds = {r: c.encrypt(KeyId=key_id, Plaintext=r.encode())["CiphertextBlob"]
            for r, c in regions.clients.items()}
    done = import_material(east, key_id, second, ImportType="NEW_KEY_MATERIAL",
                           KeyMaterialDescription="next", **NO_EXPIRY)
    assert done["KeyMaterialId"] == new
    entry = regions.materials(EAST, key_id)[new]
    assert entry == {"KeyId": arn(EAST, key_id), "KeyMaterialId": new,
                     "KeyMaterialDescription": "next", "ImportState": "IMPORTED",
                     "KeyMaterialState": PENDING_MR,
                     "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"}
    assert new not in regions.materials(WEST, key_id)
    nothing_pending = {"Code": "KMSInvalidStateException",
                       "Message": "No available key material pending rotation for the key: "
                                  f"{arn(EAST, key_id)}."}
    assert error(east.rotate_key_on_demand, KeyId=key_id) == nothing_pending
    # One replica has it: still pending the other one, in both.
    import_material(regions.clients[WEST], key_id, second,
                    ImportType="EXISTING_KEY_MATERIAL", **NO_EXPIRY)
    for region in (EAST, WEST):
        assert regions.materials(region, key_id)[new]["KeyMaterialState"] == PENDING_MR
    assert error(east.rotate_key_on_demand, KeyId=key_id) == nothing_pending
    # Every replica has it: PENDING_ROTATION everywhere.
    import_material(regions.clients[EU], key_id, second, **NO_EXPIRY)
    for region in (EAST, WEST, EU):
        listed = regions.materials(region, key_id)
        assert listed[new]["KeyMaterialState"] == "PENDING_ROTATION"
        assert listed[old]["KeyMaterialState"] == "CURRENT"
        assert "RotationDate" not in listed[new]
        assert regions.describe(region, key_id)["CurrentKeyMaterialId"] == old
    # A replica's rotation is its primary's.
    assert error(regions.clients[WEST].rotate_key_on_demand, KeyId=key_id)["Code"] == (
        "UnsupportedOperationException")
    assert east.rotate_key_on_demand(KeyId=key_id)["KeyId"] == arn(EAST, key_id)
    rotated_at = regions.server.advance(STEP)
    for region, client in regions.clients.items():
        meta = regions.describe(region, key_id)
        assert (meta["KeyState"], meta["CurrentKeyMaterialId"]) == ("Enabled", new)
        listed = regions.materials(region, key_id)
        assert (listed[old]["KeyMaterialState"], listed[new]["KeyMaterialState"],
                listed[new]["RotationType"]) == ("NON_CURRENT", "CURRENT", "ON_DEMAND")
        assert listed[new]["RotationDate"].timestamp() <= rotated_at
        # Encrypt answers no material id: GenerateDataKey does, and Decrypt names the one used.
        assert client.generate_data_key(KeyId=key_id, NumberOfBytes=32)["KeyMaterialId"] == new
        blob = client.encrypt(KeyId=key_id, Plaintext=b"n")["CiphertextBlob"]
        for other in regions.clients.values():
            assert other.decrypt(CiphertextBlob=blob)["KeyMaterialId"] == new
        for source, blob in olds.items():
            out = client.decrypt(CiphertextBlob=blob)
            assert (out["Plaintext"], out["KeyMaterialId"]) == (source.encode(), old)


def test_deleting_pending_material_on_the_primary_deletes_it_from_the_replicas(
        regions: Regions) -> None:
    east, west = regions.clients[EAST], regions.clients[WEST]
    first, second = os.urandom(32), os.urandom(32)
    key_id = regions.external_set(first, WEST)
    import_material(west, key_id, first)
    old, new = material_id(key_id, first), material_id(key_id, second)
    import_material(east, key_id, second, ImportType="NEW_KEY_MATERIAL", **NO_EXPIRY)
    import_material(west, key_id, second, **NO_EXPIRY)
    for region in (EAST, WEST):
        assert regions.materials(region, key_id)[new]["KeyMaterialState"] == "PENDING_ROTATION"
    # On a replica: that replica only.
    gone = west.delete_imported_key_material(KeyId=key_id, KeyMaterialId=new)
    assert (gone["KeyId"], gone["KeyMaterialId"]) == (arn(WEST, key_id), new)
    assert set(regions.materials(WEST, key_id)) == {old}
    assert regions.materials(EAST, key_id)[new]["KeyMaterialState"] == "PENDING_ROTATION"
    import_material(west, key_id, second, **NO_EXPIRY)
    assert regions.materials(WEST, key_id)[new]["KeyMaterialState"] == "PENDING_ROTATION"
    # On the primary: from every member.
    gone = east.delete_imported_key_material(KeyId=key_id, KeyMaterialId=new)
    assert (gone["KeyId"], gone["KeyMaterialId"]) == (arn(EAST, key_id), new)
    for region in (EAST, WEST):
        assert set(regions.materials(region, key_id)) == {old}
        meta = regions.describe(region, key_id)
        assert (meta["KeyState"], meta["CurrentKeyMaterialId"]) == ("Enabled", old)
    assert error(east.rotate_key_on_demand, KeyId=key_id)["Code"] == (
        "KMSInvalidStateException")
    # The material no member has any more cannot come back into the replica.
    assert error(import_material, west, key_id, second, **NO_EXPIRY)[
        "Code"] == "IncorrectKeyMaterialException"


def test_hmac_replica_takes_the_primary_material(regions: Regions) -> None:
    east, west = regions.clients[EAST], regions.clients[WEST]
    material = os.urandom(32)
    key_id: str = east.create_key(Origin="EXTERNAL", MultiRegion=True, KeySpec="HMAC_256",
                                  KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["KeyId"]
    import_material(east, key_id, material)
    east.replicate_key(KeyId=key_id, ReplicaRegion=WEST)
    regions.server.advance(STEP)
    assert error(import_material, west, key_id, os.urandom(32))[
        "Code"] == "IncorrectKeyMaterialException"
    done = import_material(west, key_id, material)
    assert done["KeyMaterialId"] == material_id(key_id, material)
    assert regions.describe(WEST, key_id)["KeyState"] == "Enabled"
    expected = hmac.new(material, b"msg", "sha256").digest()
    for client in (east, west):
        assert client.generate_mac(KeyId=key_id, Message=b"msg",
                                   MacAlgorithm="HMAC_SHA_256")["Mac"] == expected
