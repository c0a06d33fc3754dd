"""The ``hsm-unreachable`` fault end to end: one HSM stops answering, so user operations reach
only the others and the cluster's users drift apart exactly as spec cloudhsm.md 3.5 describes
(``cluster-coverage``, ``role``, ``locked`` read ``inconsistent``) and are repaired with the
real ``cloudhsm-cli``; keys are synchronised again when the HSM answers; KMS keeps working
through the other HSMs and fails as a network failure when none answers."""

from __future__ import annotations

import subprocess
import sys
import urllib.error
from typing import Any

import cloudhsm_helpers as ch
import pytest
from guide_helpers import build_env, error
from test_cloudhsm_cli import Session, as_admin, as_cu, cli, describe, new_cluster, user_row
from test_cloudhsm_cli_sessions import LOCKED, WRONG, add_user, try_login

from hsmkms.kms.connection import CANNOT_COMMUNICATE
from hsmkms.testing.server import ServerProcess


@pytest.fixture
def server(hsmkms_server: ServerProcess) -> ServerProcess:
    return hsmkms_server


def hsm_ids(server: ServerProcess, cid: str) -> list[str]:
    return [h["HsmId"] for h in describe(server.client("cloudhsmv2"), cid)["Hsms"]]


def unreachable(server: ServerProcess, cid: str, hsm_id: str) -> str:
    """``hsmkms fault add hsm-unreachable --cluster-id X --hsm-id Y``; the fault id."""
    done = subprocess.run([sys.executable, "-m", "hsmkms", "fault", "--endpoint-url",  # noqa: S603
                           server.endpoint, "add", "hsm-unreachable", "--cluster-id", cid,
                           "--hsm-id", hsm_id], capture_output=True, text=True, timeout=30,
                          check=True)
    return next(f["fault_id"] for f in server.admin("GET", "faults")["faults"]
                if f["fault_id"] in done.stdout)


def reachable(server: ServerProcess, fault_id: str) -> None:
    server.admin("DELETE", f"faults/{fault_id}")


def states(server: ServerProcess, cid: str) -> tuple[str, list[str]]:
    found = describe(server.client("cloudhsmv2"), cid)
    return found["State"], [h["State"] for h in found["Hsms"]]


def test_user_operations_skip_an_unreachable_hsm_and_are_repaired(server: ServerProcess) -> None:
    cid = new_cluster(server, 2)
    _first, second = hsm_ids(server, cid)
    add_user(server, cid, "alice", "alicepw1")
    add_user(server, cid, "carol", "carolpw1")
    away = unreachable(server, cid, second)
    assert server.admin("GET", "faults")["faults"][0]["hsm_id"] == second
    assert states(server, cid) == ("ACTIVE", ["ACTIVE", "DEGRADED"])
    assert len(cli(server, cid, "cluster", "hsm-info")["data"]["hsms"]) == 1

    add_user(server, cid, "bob", "bobpass1")  # created on the first HSM only
    assert user_row(server, cid, "bob")["cluster-coverage"] == "full"  # of the HSMs it reaches
    assert as_admin(server, cid, "user", "change-password", "--username", "alice", "--role",
                    "crypto-user", "--password", "alicepw2")["error_code"] == 0
    for _ in range(5):  # a single reachable HSM: five failures lock carol there
        assert try_login(server, cid, "carol", "wrongpw1") == WRONG
    assert try_login(server, cid, "carol", "carolpw1") == LOCKED

    reachable(server, away)
    assert states(server, cid) == ("ACTIVE", ["ACTIVE", "ACTIVE"])
    # users are not synchronised: the second HSM has no bob, alice's old password, carol open
    assert user_row(server, cid, "bob") == {"username": "bob", "role": "crypto-user",
                                            "locked": "false", "mfa": [],
                                            "cluster-coverage": "inconsistent"}
    assert user_row(server, cid, "carol")["locked"] == "inconsistent"
    assert try_login(server, cid, "alice", "alicepw2") == WRONG  # the stale HSM refuses it
    # repairs (spec 3.5): finish the create; an admin changes the password
    assert as_admin(server, cid, "user", "create", "--username", "bob", "--role", "crypto-user",
                    "--password", "bobpass1")["error_code"] == 0
    assert user_row(server, cid, "bob")["cluster-coverage"] == "full"
    for name, password in (("alice", "alicepw3"), ("carol", "carolpw3")):
        assert as_admin(server, cid, "user", "change-password", "--username", name, "--role",
                        "crypto-user", "--password", password)["error_code"] == 0
        assert try_login(server, cid, name, password)["error_code"] == 0
    assert user_row(server, cid, "carol")["locked"] == "false"


def test_an_inconsistent_role_is_repaired_by_delete_then_create(server: ServerProcess) -> None:
    cid = new_cluster(server, 2)
    first, second = hsm_ids(server, cid)
    away = unreachable(server, cid, second)
    add_user(server, cid, "dave", "davepass1")  # crypto-user on the first HSM
    reachable(server, away)
    away = unreachable(server, cid, first)
    assert as_admin(server, cid, "user", "create", "--username", "dave", "--role", "admin",
                    "--password", "davepass1")["error_code"] == 0  # admin on the second
    reachable(server, away)
    assert user_row(server, cid, "dave") == {"username": "dave", "role": "inconsistent",
                                             "locked": "false", "mfa": [],
                                             "cluster-coverage": "full"}
    for role in ("crypto-user", "admin"):
        assert as_admin(server, cid, "user", "delete", "--username", "dave", "--role",
                        role) == {"error_code": 0, "data": {"username": "dave", "role": role}}
    assert "dave" not in [u["username"] for u in cli(server, cid, "user", "list")["data"][
        "users"]]
    add_user(server, cid, "dave", "davepass1")
    assert user_row(server, cid, "dave") == {"username": "dave", "role": "crypto-user",
                                             "locked": "false", "mfa": [],
                                             "cluster-coverage": "full"}


def key_info(server: ServerProcess, cid: str, label: str) -> Any:
    listed = as_cu(server, cid, "alice", "alicepw1", "key", "list", "--filter",
                   f"attr.label={label}", "--verbose")["data"]["matched_keys"]
    return listed[0] if listed else None


def test_keys_are_synchronised_when_the_hsm_answers_again(server: ServerProcess) -> None:
    cid = new_cluster(server, 2)
    _first, second = hsm_ids(server, cid)
    add_user(server, cid, "alice", "alicepw1")
    s = Session(server, cid)
    try:
        assert s.login("alice", "crypto-user", "alicepw1")["error_code"] == 0
        for label in ("kept", "doomed"):
            assert s.run(f"key generate-symmetric aes --label {label} --key-length-bytes 16")[
                "error_code"] == 0
        away = unreachable(server, cid, second)
        made = s.run("key generate-symmetric aes --label new --key-length-bytes 32")
        assert made["data"]["key"]["key-info"]["cluster-coverage"] == "full"  # reachable HSMs
        assert s.run("key delete --filter attr.label=doomed")["error_code"] == 0
        assert s.run("key set-attribute --filter attr.label=kept --name encrypt --value "
                     "true")["error_code"] == 0
        reachable(server, away)
        # the session outlives the fault; the second HSM now has the same keys
        for label in ("new", "kept"):
            info = s.run(f"key list --filter attr.label={label} --verbose")["data"][
                "matched_keys"][0]
            assert info["key-info"]["cluster-coverage"] == "full"
            assert info["key-info"]["key-owners"] == [{"username": "alice",
                                                        "key-coverage": "full"}]
        assert key_info(server, cid, "kept")["attributes"]["encrypt"] is True
        assert key_info(server, cid, "doomed") is None  # deleted keys do not come back
        assert s.run("key list")["data"]["total_key_count"] == 2
    finally:
        s.quit()


def test_keys_come_back_from_the_backup_when_the_up_to_date_hsms_were_deleted(
        server: ServerProcess) -> None:
    """The HSM that stayed reachable is deleted while the other is away: the backup its
    deletion took carries the keys made meanwhile, and its tombstones the keys deleted."""
    hsm = server.client("cloudhsmv2")
    cid = new_cluster(server, 2)
    first, second = hsm_ids(server, cid)
    add_user(server, cid, "alice", "alicepw1")
    s = Session(server, cid)
    try:
        assert s.login("alice", "crypto-user", "alicepw1")["error_code"] == 0
        assert s.run("key generate-symmetric aes --label doomed --key-length-bytes 16")[
            "error_code"] == 0
        away = unreachable(server, cid, first)
        assert s.run("key generate-symmetric aes --label fresh --key-length-bytes 16")[
            "error_code"] == 0
        assert s.run("key delete --filter attr.label=doomed")["error_code"] == 0
    finally:
        s.quit()
    hsm.delete_hsm(ClusterId=cid, HsmId=second)
    ch.wait_for(lambda: hsm_ids(server, cid), lambda ids: ids == [first])
    reachable(server, away)
    assert key_info(server, cid, "fresh") is not None
    assert key_info(server, cid, "doomed") is None


def test_the_last_hsm_can_be_deleted_while_unreachable(server: ServerProcess) -> None:
    """DeleteHsm backs up the cluster first; with no HSM answering, the departing one is
    what there is to back up (it holds the newest contents left)."""
    hsm = server.client("cloudhsmv2")
    cid = new_cluster(server, 1)
    [only] = hsm_ids(server, cid)
    add_user(server, cid, "alice", "alicepw1")
    unreachable(server, cid, only)
    before = len(hsm.describe_backups(Filters={"clusterIds": [cid]})["Backups"])
    hsm.delete_hsm(ClusterId=cid, HsmId=only)
    ch.wait_for(lambda: hsm_ids(server, cid), lambda ids: ids == [])
    backups = hsm.describe_backups(Filters={"clusterIds": [cid]})["Backups"]
    assert len(backups) == before + 1


def test_fault_api_checks_the_hsm(server: ServerProcess) -> None:
    cid = new_cluster(server, 2)
    first, _second = hsm_ids(server, cid)
    for body, message in (
            ({"fault": "hsm-unreachable", "cluster_id": cid},
             "hsm-unreachable needs hsm_id, an HSM id (hsm-...)"),
            ({"fault": "hsm-unreachable", "cluster_id": cid, "hsm_id": "hsm-zzzzzzzzzzz"},
             f"HSM hsm-zzzzzzzzzzz is not in cluster {cid}."),
            ({"fault": "hsm-unreachable", "cluster_id": "cluster-zzzzzzzzzzz",
              "hsm_id": first}, "Cluster cluster-zzzzzzzzzzz not found."),
            ({"fault": "network-errors", "cluster_id": cid, "hsm_id": first},
             "network-errors is a fault of the whole cluster: it takes no hsm_id")):
        with pytest.raises(urllib.error.HTTPError) as caught:
            server.admin("POST", "faults", body)
        assert caught.value.code == 400
        assert message in caught.value.read().decode()
    away = unreachable(server, cid, first)
    with pytest.raises(urllib.error.HTTPError) as caught:
        server.admin("POST", "faults", {"fault": "hsm-unreachable", "cluster_id": cid,
                                        "hsm_id": first})
    assert f"HSM {first} is already unreachable." in caught.value.read().decode()
    server.restart(hard=True)  # the fault and the HSM's state are state: both survive
    assert states(server, cid) == ("ACTIVE", ["DEGRADED", "ACTIVE"])
    # the HSM is deleted while unreachable: removing the fault still works
    server.client("cloudhsmv2").delete_hsm(ClusterId=cid, HsmId=first)
    reachable(server, away)
    assert server.admin("GET", "faults") == {"faults": []}


def test_kms_works_through_the_other_hsm_and_fails_as_a_network_failure_without_any(
        server: ServerProcess) -> None:
    env = build_env(server)
    key_id = env.create_key()
    blob = env.encrypt(key_id, b"reachable")
    first, second = [h["HsmId"] for h in env.cluster()["Hsms"]]
    away = [unreachable(server, env.cluster_id, first)]
    assert env.decrypt(env.encrypt(key_id, b"one left")) == b"one left"
    assert env.decrypt(blob) == b"reachable"
    away.append(unreachable(server, env.cluster_id, second))
    assert error(env.kms.encrypt, KeyId=key_id, Plaintext=b"none") == (
        "KMSInvalidStateException", CANNOT_COMMUNICATE)
    # CreateKey fails the same way: the cluster is configured right, KMS can't reach it.
    assert error(env.kms.create_key, Origin="AWS_CLOUDHSM",
                 CustomKeyStoreId=env.store_id)[0] == "KMSInvalidStateException"
    assert error(env.kms.create_key, Origin="AWS_CLOUDHSM", CustomKeyStoreId=env.store_id)[
        1].startswith("KMS cannot communicate with your CloudHSM cluster")
    env.disconnect()
    store = env.connect(expect="FAILED")
    assert store["ConnectionErrorCode"] == "NETWORK_ERRORS"
    for fault_id in away:
        reachable(server, fault_id)
    env.disconnect()
    env.connect()
    assert env.decrypt(blob) == b"reachable"
