"""``hsmkms serve --demo``: a CONNECTED CloudHSM key store with a usable key, built through the
public APIs; running it again reuses what exists."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import cloudhsm_helpers as ch
from guide_helpers import run_cli

from hsmkms.testing.server import ServerProcess


def demo_state(server: ServerProcess) -> dict[str, Any]:
    path = server.data_dir / "demo.json"

    def read() -> dict[str, Any]:
        return json.loads(path.read_text()) if path.exists() else {}

    return dict(ch.wait_for(read, lambda s: "key_id" in s, timeout=60))


def test_demo_builds_a_connected_environment_and_is_idempotent(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", args=["--demo"]).start()
    try:
        state = demo_state(server)
        assert stat.S_IMODE((server.data_dir / "demo.json").stat().st_mode) == 0o600
        kms, hsm = server.client("kms"), server.client("cloudhsmv2")
        [store] = kms.describe_custom_key_stores()["CustomKeyStores"]
        assert store["CustomKeyStoreId"] == state["store_id"]
        assert store["ConnectionState"] == "CONNECTED"
        assert store["CloudHsmClusterId"] == state["cluster_id"]
        cluster = ch.describe(hsm, state["cluster_id"])
        assert cluster["State"] == "ACTIVE"
        active = [h for h in cluster["Hsms"] if h["State"] == "ACTIVE"]
        assert len({h["AvailabilityZone"] for h in active}) == 2
        meta = kms.describe_key(KeyId=state["key_id"])["KeyMetadata"]
        assert (meta["KeyState"], meta["Origin"]) == ("Enabled", "AWS_CLOUDHSM")
        blob = kms.encrypt(KeyId=state["key_id"], Plaintext=b"demo")["CiphertextBlob"]
        assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"demo"
        assert "hsmkms demo ready" in server.log_path.read_text()
        assert f"  web console    {server.endpoint}/_hsmkms/console\n" in \
            server.log_path.read_text()

        # Again (a graceful restart runs the demo a second time): the same environment,
        # nothing new.
        server.restart()
        ch.wait_for(lambda: server.log_path.read_text().count("hsmkms demo ready"),
                    lambda n: n >= 2, timeout=60)
        again = demo_state(server)
        assert again == state
        assert len(hsm.describe_clusters()["Clusters"]) == 1
        assert len(kms.describe_custom_key_stores()["CustomKeyStores"]) == 1
        assert [k["KeyId"] for k in kms.list_keys()["Keys"]] == [state["key_id"]]
        assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"demo"
    finally:
        server.kill()


def test_demo_follows_its_store_to_a_restored_cluster(tmp_path: Path) -> None:
    """After the guide's repair (a cluster restored from a backup, the store pointed at it), a
    restart reuses that cluster and prints its id instead of building a new environment."""
    server = ServerProcess(tmp_path / "data", args=["--demo"]).start()
    try:
        state = demo_state(server)
        kms, hsm = server.client("kms"), server.client("cloudhsmv2")
        store_id, old = state["store_id"], state["cluster_id"]
        server.advance(86400 + 60)  # the daily backup: the first one that holds kmsuser
        kms.disconnect_custom_key_store(CustomKeyStoreId=store_id)
        ch.wait_for(lambda: kms.describe_custom_key_stores(CustomKeyStoreId=store_id),
                    lambda r: r["CustomKeyStores"][0]["ConnectionState"] == "DISCONNECTED")
        backup = max(hsm.describe_backups(Filters={"clusterIds": [old]})["Backups"],
                     key=lambda b: b["CreateTimestamp"])
        new = hsm.create_cluster(HsmType="hsm1.medium", SubnetIds=ch.subnets(server)[:2],
                                 SourceBackupId=backup["BackupId"])["Cluster"]["ClusterId"]
        cluster = ch.wait_state(hsm, new, "ACTIVE")
        for zone in sorted(cluster["SubnetMapping"])[:2]:
            hsm.create_hsm(ClusterId=new, AvailabilityZone=zone)
        ch.wait_hsms_active(hsm, new, 2)
        # The backup predates KMS's last password rotation: set a known kmsuser password and
        # tell KMS (the guide's "To avoid resetting the kmsuser password" case).
        code, out = run_cli(server, new, "user", "change-password", "--username", "kmsuser",
                            "--role", "crypto-user", "--password", "restoredPass1",
                            role="admin", pin=f"admin:{state['admin_password']}")
        assert code == 0, out
        kms.update_custom_key_store(CustomKeyStoreId=store_id, CloudHsmClusterId=new,
                                    KeyStorePassword="restoredPass1")

        server.restart()
        ch.wait_for(lambda: server.log_path.read_text().count("hsmkms demo ready"),
                    lambda n: n >= 2, timeout=60)
        again = demo_state(server)
        assert again["cluster_id"] == new
        banner = server.log_path.read_text().rsplit("hsmkms demo ready", 1)[1]
        assert f"cluster        {new}" in banner
        assert f"CLOUDHSM_CLUSTER_ID={new}" in banner
        assert len(hsm.describe_clusters()["Clusters"]) == 2  # nothing new was built
        [store] = kms.describe_custom_key_stores()["CustomKeyStores"]
        assert (store["CloudHsmClusterId"], store["ConnectionState"]) == (new, "CONNECTED")
        assert kms.describe_key(KeyId=state["key_id"])["KeyMetadata"]["KeyState"] == "Enabled"
    finally:
        server.kill()
