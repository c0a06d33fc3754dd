"""``hsmkms serve --demo``: a CONNECTED CloudHSM key store with a usable key, built through the
public APIs; running it again reuses what exists."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import cloudhsm_helpers as ch

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
