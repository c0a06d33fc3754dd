"""Key material over time in multi-Region sets, with real boto3 against a real server running
the ``realistic`` timing profile (replica creation 5 s, primary update 30 s of clock time), so
that imported material can expire, and rotations can come due, while a step is under way:

* material that expires while its key is ``Updating`` leaves the key ``PendingImport`` when the
  step completes (never ``Enabled`` without material);
* automatic rotation follows the set's primary through UpdatePrimaryRegion;
* an EXTERNAL primary pending replica deletion can lose its material and still be cancelled.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from import_helpers import NO_EXPIRY, import_material

from hsmkms.testing.server import ServerProcess

ACCOUNT = "111122223333"
EAST, WEST = "us-east-1", "us-west-2"
DAY = 86400
CREATION = 5  # seconds of clock time (timing profile "realistic")
UPDATE = 30


def arn(region: str, key_id: str) -> str:
    return f"arn:aws:kms:{region}:{ACCOUNT}:key/{key_id}"


def error(call: Callable[..., Any], **params: Any) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as exc:
        call(**params)
    resp = exc.value.response
    return resp["Error"]["Code"], resp["Error"]["Message"], resp["ResponseMetadata"][
        "HTTPStatusCode"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = ServerProcess(tmp_path_factory.mktemp("lifecycle") / "hsmkms-data",
                        env={"HSMKMS_TIMING": "realistic"}).start()
    try:
        yield srv
    finally:
        srv.kill()


class Regions:
    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.clients = {r: server.client("kms", r) for r in (EAST, WEST)}

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
    regions.server.advance(60)  # the material expires at +10 s, the update completes at +30 s
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
