"""The fault API (``/_hsmkms/faults`` and ``hsmkms fault``): only for what AWS gives no way to
cause. Its effects on key stores are tested with the guide procedures
(test_guide_connection_errors.py, test_guide_failing_keys.py)."""

from __future__ import annotations

import subprocess
import sys
import urllib.error
from pathlib import Path

import pytest
from guide_helpers import build_env, error

from hsmkms.testing.server import ServerProcess


def hsmkms(server: ServerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    """The ``hsmkms fault`` command line."""
    return subprocess.run([sys.executable, "-m", "hsmkms", "fault",  # noqa: S603
                           "--endpoint-url", server.endpoint, *args],
                          capture_output=True, text=True, timeout=30, check=False)


def test_fault_api_add_list_clear_and_bad_input(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data").start()
    try:
        for body, message in (
                ({"fault": "nope", "cluster_id": "cluster-aaaaaaaaaaa"},
                 ("fault must be one of network-errors, pkcs11-sessions-exhausted, "
                  "internal-error, hsm-unreachable")),
                ({"fault": "network-errors", "cluster_id": "nope"},
                 "cluster_id must be a CloudHSM cluster id (cluster-...)"),
                ([1], "the body must be a JSON object")):
            with pytest.raises(urllib.error.HTTPError) as caught:
                server.admin("POST", "faults", body)
            assert caught.value.code == 400
            assert message in caught.value.read().decode()
        assert server.admin("GET", "faults") == {"faults": []}
        added = hsmkms(server, "add", "pkcs11-sessions-exhausted", "--cluster-id",
                       "cluster-aaaaaaaaaaa")
        assert added.returncode == 0, added.stderr
        [listed] = server.admin("GET", "faults")["faults"]
        assert (listed["fault"], listed["cluster_id"]) == (
            "pkcs11-sessions-exhausted", "cluster-aaaaaaaaaaa")
        assert listed["fault_id"] in added.stdout
        # Faults are state: they survive a restart.
        server.restart(hard=True)
        assert [f["fault_id"] for f in server.admin("GET", "faults")["faults"]] == \
            [listed["fault_id"]]
        assert listed["fault_id"] in hsmkms(server, "list").stdout
        assert hsmkms(server, "clear").returncode == 0
        assert server.admin("GET", "faults") == {"faults": []}
        with pytest.raises(urllib.error.HTTPError) as caught:
            server.admin("DELETE", f"faults/{listed['fault_id']}")
        assert caught.value.code == 404
    finally:
        server.kill()


def test_generate_random_through_a_broken_cluster(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data").start()
    try:
        env = build_env(server)
        assert len(env.kms.generate_random(NumberOfBytes=32,
                                           CustomKeyStoreId=env.store_id)["Plaintext"]) == 32
        fault_id = server.admin("POST", "faults", {"fault": "network-errors",
                                                   "cluster_id": env.cluster_id})["fault_id"]
        assert error(env.kms.generate_random, NumberOfBytes=32,
                     CustomKeyStoreId=env.store_id) == (
            "KMSInternalException",
            (f"KMS cannot communicate with the CloudHSM cluster {env.cluster_id} of the custom "
             f"key store {env.store_id}. Retry the request."))
        server.admin("DELETE", f"faults/{fault_id}")
        env.delete_all_hsms()
        assert error(env.kms.generate_random, NumberOfBytes=32,
                     CustomKeyStoreId=env.store_id)[0] == "KMSInternalException"
        # A connected store survives a kill -9: still CONNECTED and usable after the restart.
        env.add_hsms(2)
        key_id = env.create_key()
        blob = env.encrypt(key_id, b"durable")
        server.restart(hard=True)
        assert env.state() == "CONNECTED"
        assert env.decrypt(blob) == b"durable"
    finally:
        server.kill()
