"""``hsmkms doctor`` against every failure of the guide "Troubleshooting a custom key store":
each failure is produced on a real server as the guide tests do (boto3, the AWS CLI,
``cloudhsm-cli``, admin faults), then the real ``hsmkms doctor`` command runs with
``AWS_ENDPOINT_URL`` and must name the cause, print the guide's fix with the right ids and exit
1; where the fix is a command, the test runs the command the doctor printed, and the doctor
then exits 0."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import cloudhsm_helpers as ch
import pytest
from guide_helpers import (
    ADMIN_PASSWORD,
    Env,
    build_env,
    clear_fault,
    fault,
    module_env_server,
)

from hsmkms.testing.server import ServerProcess

HSMKMS = Path(sys.executable).with_name("hsmkms")
DAY = 86400


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = module_env_server(tmp_path_factory)
    try:
        yield srv
    finally:
        srv.kill()


@pytest.fixture(scope="module")
def env(server: ServerProcess) -> Env:
    """One connected store; every test that breaks it repairs it (and checks the doctor is
    happy again)."""
    return build_env(server)


@pytest.fixture(scope="module")
def spares(server: ServerProcess) -> list[Env]:
    """Connected stores of their own (built together) for the failures that can't be undone
    or that leave a trace: a deleted kmsuser, a deleted cluster, a failed key deletion, and
    one in two small subnets (whose addresses run out, then one is deleted)."""
    small = _small_subnets(server.client("ec2"))
    with ThreadPoolExecutor(max_workers=4) as pool:
        built = [pool.submit(build_env, server) for _ in range(3)]
        built.append(pool.submit(build_env, server, subnet_ids=small))
        return [b.result() for b in built]


def doctor_env(server: ServerProcess, **extra: str) -> dict[str, str]:
    env = {**server.cli_env(), "AWS_CONFIG_FILE": "/nonexistent",
           "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", **extra}
    for name in ("CLOUDHSM_ROLE", "CLOUDHSM_PIN", "AWS_PROFILE"):
        if name not in extra:
            env.pop(name, None)
    return env


def doctor(server: ServerProcess, *args: str, **extra: str) -> tuple[int, str]:
    """``hsmkms doctor ...`` as a user runs it: (exit status, stdout)."""
    exe = [str(HSMKMS)] if HSMKMS.exists() else [sys.executable, "-m", "hsmkms"]
    done = subprocess.run([*exe, "doctor", *args], env=doctor_env(server, **extra),  # noqa: S603
                          capture_output=True, text=True, timeout=120, check=False)
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, done.stdout


def report(server: ServerProcess, *args: str, **extra: str) -> tuple[int, dict[str, Any]]:
    code, out = doctor(server, *args, "--json", **extra)
    doc = json.loads(out)
    assert doc["exit_status"] == code
    return code, doc


def check(doc: dict[str, Any], name: str) -> dict[str, Any]:
    [found] = [c for c in doc["checks"] if c["check"] == name]
    return found


def failing(doc: dict[str, Any]) -> dict[str, str | None]:
    return {c["check"]: c["cause"] for c in doc["checks"] if c["status"] == "fail"}


def run_fix(env: Env, line: str) -> None:
    """Run one AWS CLI command exactly as the doctor printed it."""
    assert line.startswith("aws "), line
    code, out = env.aws(*shlex.split(line)[1:])
    assert code == 0, (line, out)


def healthy(env: Env, *args: str) -> None:
    code, doc = report(env.server, "--custom-key-store-id", env.store_id, *args)
    assert (code, failing(doc)) == (0, {}), doc


def as_admin() -> dict[str, str]:
    return {"CLOUDHSM_ROLE": "admin", "CLOUDHSM_PIN": f"admin:{ADMIN_PASSWORD}"}


# -- a healthy store -----------------------------------------------------------------------


def test_a_healthy_store_exits_0_with_every_check_passed(env: Env) -> None:
    key_id = env.create_key()
    code, out = doctor(env.server, "--key-id", key_id, "--hsm-checks", **as_admin())
    assert code == 0, out
    for line in (f"✓ key.state {key_id}: the key is Enabled",
                 f"✓ key.crypto {key_id}: a cryptographic request succeeded",
                 f"✓ store.connection {env.store_id}: the key store is CONNECTED",
                 f"✓ cluster.state {env.cluster_id}: the cluster is ACTIVE",
                 f"✓ cluster.hsms {env.cluster_id}: 2 active HSMs in 2 Availability Zones",
                 (f"✓ hsm.kmsuser {env.cluster_id}: kmsuser exists, is a crypto user and is "
                 "not locked"),
                 f"✓ hsm.backing-key {key_id}: the key material is in the cluster",
                 (f"✓ store.trust-anchor {env.store_id}: the cluster certificate was issued by "
                 "the key store's trust anchor")):
        assert line in out, out
    assert "✗" not in out
    assert out.rstrip().endswith("all is well")


# -- "How to fix unavailable KMS keys" ------------------------------------------------------


def test_unavailable_key_in_a_disconnected_store(env: Env) -> None:
    key_id = env.create_key()
    env.disconnect()
    code, doc = report(env.server, "--key-id", key_id)
    assert code == 1
    state = check(doc, "key.state")
    assert (state["status"], state["cause"]) == ("fail", "STORE_DISCONNECTED")
    assert f"its key store {env.store_id} is DISCONNECTED" in state["evidence"]
    # Who disconnected it and when (CloudTrail).
    said = state["evidence"][-1]
    assert said.startswith("CloudTrail: DisconnectCustomKeyStore at 20"), said
    assert said.endswith(" by AKIAIOSFODNN7EXAMPLE")
    assert state["fix"] == [
        f"aws kms connect-custom-key-store --custom-key-store-id {env.store_id}",
        f"aws kms describe-custom-key-stores --custom-key-store-id {env.store_id}"]
    assert check(doc, "store.connection")["cause"] == "DISCONNECTED"
    assert not [c for c in doc["checks"] if c["check"] == "key.crypto"]  # no probe: Unavailable
    run_fix(env, state["fix"][0])
    env.server.advance(1)
    env.wait("CONNECTED")
    code, doc = report(env.server, "--key-id", key_id)
    assert (code, failing(doc)) == (0, {})


def test_pending_deletion_in_a_disconnected_store_would_orphan_its_key_material(
        env: Env) -> None:
    key_id = env.create_key()
    env.kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    env.disconnect()
    code, doc = report(env.server, "--key-id", key_id)
    assert code == 1
    state = check(doc, "key.state")
    assert (state["status"], state["cause"]) == ("fail", "PENDING_DELETION")
    assert "KMS will not be able to delete the backing key" in state["summary"]
    assert state["evidence"][2].startswith("CloudTrail: ScheduleKeyDeletion at 20")
    assert state["fix"] == [f"aws kms cancel-key-deletion --key-id {key_id}",
                            f"aws kms enable-key --key-id {key_id}"]
    # "This allows you to cancel the scheduled key deletion without reconnecting".
    run_fix(env, state["fix"][0])
    env.connect()
    env.kms.enable_key(KeyId=key_id)  # the fix's second line (cancelled keys are Disabled)
    code, doc = report(env.server, "--key-id", key_id)
    assert (code, failing(doc)) == (0, {})


# -- "How to fix a failing KMS key" ---------------------------------------------------------


def test_all_hsms_deleted_then_insufficient_cloudhsm_hsms(env: Env) -> None:
    key_id = env.create_key()
    env.delete_all_hsms()
    # CONNECTED, Enabled, yet crypto fails: no active HSM.
    code, doc = report(env.server, "--key-id", key_id)
    assert code == 1
    assert failing(doc) == {"key.crypto": "NO_ACTIVE_HSMS", "cluster.hsms": "NO_ACTIVE_HSMS"}
    zones = sorted(env.cluster()["SubnetMapping"])
    create = [f"aws cloudhsmv2 create-hsm --cluster-id {env.cluster_id} "
              f"--availability-zone {zone}" for zone in zones[:2]]
    assert check(doc, "key.crypto")["fix"] == create
    # Reconnecting now fails: INSUFFICIENT_CLOUDHSM_HSMS.
    env.disconnect()
    env.connect(expect="FAILED")
    code, doc = report(env.server, "--custom-key-store-id", env.store_id)
    assert code == 1
    conn = check(doc, "store.connection")
    assert conn["cause"] == "INSUFFICIENT_CLOUDHSM_HSMS"
    assert conn["guide"] == "How to fix a connection failure"
    assert conn["fix"] == [
        f"aws cloudhsmv2 describe-clusters --filters clusterIds={env.cluster_id}", *create,
        f"aws kms disconnect-custom-key-store --custom-key-store-id {env.store_id}",
        f"aws kms connect-custom-key-store --custom-key-store-id {env.store_id}",
        f"aws kms describe-custom-key-stores --custom-key-store-id {env.store_id}"]
    for line in create:
        run_fix(env, line)
    ch.wait_hsms_active(env.hsm, env.cluster_id, 2)
    env.disconnect()
    env.connect()
    healthy(env)


def test_pkcs11_sessions_exhausted(env: Env) -> None:
    key_id = env.create_key()
    fault_id = fault(env.server, "pkcs11-sessions-exhausted", env.cluster_id)
    try:
        code, out = doctor(env.server, "--key-id", key_id)
        assert code == 1
        assert (f"✗ key.crypto {key_id}: a cryptographic request failed: the cluster has no "
                "free PKCS #11 session (burst traffic); back off and retry") in out
        assert "cause: PKCS11_SESSIONS_EXHAUSTED (guide: How to fix a failing KMS key)" in out
        assert "Encrypt: KMSInternalException: " in out
    finally:
        clear_fault(env.server, fault_id)


def test_transient_network_errors(env: Env) -> None:
    """The network-errors fault: crypto cannot reach the cluster although every rule is in
    place - the guide's answer is to retry."""
    key_id = env.create_key()
    fault_id = fault(env.server, "network-errors", env.cluster_id)
    try:
        code, doc = report(env.server, "--key-id", key_id)
    finally:
        clear_fault(env.server, fault_id)
    assert (code, failing(doc)) == (1, {"key.crypto": "NETWORK"})
    crypto = check(doc, "key.crypto")
    assert crypto["guide"] == "How to respond to a cryptographic operation failure"
    assert crypto["fix"] == [("# retry the request; if it keeps failing, check the network ACLs "
                             "of the cluster's VPC")]
    assert check(doc, "cluster.security-group")["status"] == "ok"


def test_internal_error(env: Env) -> None:
    key_id = env.create_key()
    fault_id = fault(env.server, "internal-error", env.cluster_id)
    try:
        code, doc = report(env.server, "--key-id", key_id)
        assert (code, failing(doc)) == (1, {"key.crypto": "INTERNAL_ERROR"})
        env.disconnect()
        env.connect(expect="FAILED")
        code, doc = report(env.server, "--custom-key-store-id", env.store_id)
        assert (code, failing(doc)) == (1, {"store.connection": "INTERNAL_ERROR"})
        # "Retry the request. For ConnectCustomKeyStore requests, disconnect ... first".
        assert check(doc, "store.connection")["fix"] == [
            f"aws kms disconnect-custom-key-store --custom-key-store-id {env.store_id}",
            f"aws kms connect-custom-key-store --custom-key-store-id {env.store_id}",
            f"aws kms describe-custom-key-stores --custom-key-store-id {env.store_id}"]
    finally:
        clear_fault(env.server, fault_id)
    env.disconnect()
    env.connect()


def test_key_material_deleted_from_the_cluster(env: Env) -> None:
    key_id = env.create_key("material")
    backing = env.backing_key_id(key_id)
    env.disconnect()
    env.set_kmsuser_password("auditPass1")
    code, out = env.as_kmsuser("key", "delete", "--filter", f"attr.id=0x{backing}")
    assert code == 0, out
    env.update_password()
    env.connect()
    code, doc = report(env.server, "--key-id", key_id, "--hsm-checks", **as_admin())
    assert code == 1
    assert failing(doc) == {"key.crypto": "KEY_MATERIAL_DELETED",
                            "hsm.backing-key": "KEY_MATERIAL_DELETED"}
    crypto = check(doc, "key.crypto")
    assert crypto["guide"] == "How to recover deleted key material for a KMS key"
    latest = env.backups()[-1]["BackupId"]
    fix = crypto["fix"]
    assert fix[0] == f"aws cloudhsmv2 describe-backups --filters clusterIds={env.cluster_id}"
    assert fix[1].startswith("aws cloudhsmv2 create-cluster --hsm-type hsm1.medium --subnet-ids ")
    assert fix[1].endswith(f" --source-backup-id {latest}")
    assert f'aws-cloudhsm > key list --filter attr.id="0x{backing}"' in fix
    assert fix[-3:] == [
        (f"aws kms update-custom-key-store --custom-key-store-id {env.store_id} "
        "--cloud-hsm-cluster-id <new-cluster-id>"),
        f"aws kms connect-custom-key-store --custom-key-store-id {env.store_id}",
        f"aws kms describe-custom-key-stores --custom-key-store-id {env.store_id}"]
    assert check(doc, "hsm.backing-key")["evidence"] == [
        f'cloudhsm-cli key list --filter attr.id="0x{backing}" as admin: no such key']
    # The store itself is fine: its own probe (GenerateRandom) and checks pass.
    healthy(env)


def test_kmsuser_locked_out_then_user_locked_out(env: Env) -> None:
    key_id = env.create_key()
    for _ in range(20):  # wrong passwords through the cloudhsm-cli route (no process each)
        ch.cli(env.server, "login", env.cluster_id, username="kmsuser", role="crypto-user",
               password="guessing1")  # noqa: S106 - a wrong one, on purpose
        users = ch.cli(env.server, "user-list", env.cluster_id)["data"]["users"]
        locked = next(u for u in users if u["username"] == "kmsuser")["locked"]
        if locked != "false":
            break
    code, doc = report(env.server, "--key-id", key_id, "--hsm-checks")
    assert code == 1
    assert failing(doc) == {"key.crypto": "KMSUSER_LOCKED_OUT", "hsm.kmsuser": "USER_LOCKED_OUT"}
    # "true", or "inconsistent" while only some HSMs have locked it (each counts its own).
    assert check(doc, "hsm.kmsuser")["evidence"][0] == (
        f"cloudhsm-cli user list: kmsuser role crypto-user, locked {locked}, "
        "cluster-coverage full")
    env.disconnect()
    env.connect(expect="FAILED")
    code, out = doctor(env.server, "--custom-key-store-id", env.store_id)
    assert code == 1
    assert (f"✗ store.connection {env.store_id}: the last connection attempt FAILED with "
            "USER_LOCKED_OUT") in out
    assert "cause: USER_LOCKED_OUT (guide: How to fix invalid kmsuser credentials)" in out
    assert f"""      $ aws kms disconnect-custom-key-store --custom-key-store-id {env.store_id}
      $ cloudhsm-cli interactive --cluster-id {env.cluster_id}
      aws-cloudhsm > login --username admin --role admin
      aws-cloudhsm > user change-password --username kmsuser --role crypto-user
      aws-cloudhsm > logout
      aws-cloudhsm > quit
      $ aws kms update-custom-key-store --custom-key-store-id {env.store_id} \
--key-store-password <kmsuser-password>
      $ aws kms connect-custom-key-store --custom-key-store-id {env.store_id}
""" in out
    env.disconnect()
    env.set_kmsuser_password("unlocked4")
    env.update_password()
    env.connect()


# -- "How to fix a connection failure" -------------------------------------------------------


def test_invalid_credentials(env: Env) -> None:
    env.disconnect()
    env.set_kmsuser_password("changedPass3")
    env.connect(expect="FAILED")
    code, doc = report(env.server, "--custom-key-store-id", env.store_id, "--hsm-checks")
    assert code == 1
    assert failing(doc) == {"store.connection": "INVALID_CREDENTIALS",
                            "hsm.kmsuser": "INVALID_CREDENTIALS"}
    conn = check(doc, "store.connection")
    assert conn["guide"] == "How to fix invalid kmsuser credentials"
    sid, cid = env.store_id, env.cluster_id
    assert conn["fix"] == [
        f"aws kms disconnect-custom-key-store --custom-key-store-id {sid}",
        f"cloudhsm-cli interactive --cluster-id {cid}",
        "aws-cloudhsm > login --username admin --role admin",
        "aws-cloudhsm > user change-password --username kmsuser --role crypto-user",
        "aws-cloudhsm > logout", "aws-cloudhsm > quit",
        (f"aws kms update-custom-key-store --custom-key-store-id {sid} "
        "--key-store-password <kmsuser-password>"),
        f"aws kms connect-custom-key-store --custom-key-store-id {sid}",
        f"aws kms describe-custom-key-stores --custom-key-store-id {sid}"]
    # The fix: disconnect, then the update as printed (the password is the one set above).
    env.disconnect()
    run_fix(env, conn["fix"][6].replace("<kmsuser-password>", "changedPass3"))
    env.connect()
    healthy(env)


def test_user_logged_in(env: Env) -> None:
    import pexpect  # noqa: PLC0415

    env.disconnect()
    env.set_kmsuser_password("tempPassword")
    session = pexpect.spawn("cloudhsm-cli", ["interactive"], encoding="utf-8", timeout=20,
                            env={**env.server.cli_env(), "CLOUDHSM_CLUSTER_ID": env.cluster_id})
    try:
        session.expect_exact("aws-cloudhsm > ")
        session.sendline("login --username kmsuser --role crypto-user --password tempPassword")
        session.expect_exact('"username": "kmsuser"')
        env.update_password("tempPassword")
        env.connect(expect="FAILED")
        code, doc = report(env.server, "--custom-key-store-id", env.store_id)
        assert code == 1
        conn = check(doc, "store.connection")
        assert (conn["cause"], conn["guide"]) == ("USER_LOGGED_IN",
                                                  "How to log out and reconnect")
        assert conn["fix"][:2] == ["# in the cloudhsm-cli session logged in as kmsuser:",
                                   "aws-cloudhsm > logout"]
        assert conn["fix"][2:] == [
            "# if you changed the kmsuser password to log in, tell KMS the current one:",
            (f"aws kms update-custom-key-store --custom-key-store-id {env.store_id} "
            "--key-store-password <kmsuser-password>"),
            f"aws kms disconnect-custom-key-store --custom-key-store-id {env.store_id}",
            f"aws kms connect-custom-key-store --custom-key-store-id {env.store_id}",
            f"aws kms describe-custom-key-stores --custom-key-store-id {env.store_id}"]
        kmsuser = check(doc, "hsm.kmsuser")
        assert kmsuser["cause"] == "USER_LOGGED_IN"
        assert ("the key store reports USER_LOGGED_IN: a session other than KMS's is logged in "
                "as kmsuser") in kmsuser["evidence"]
        session.sendline("logout")
        session.expect_exact("Logout successful")
        session.sendline("quit")
        session.expect(pexpect.EOF)
    finally:
        session.close(force=True)
    env.disconnect()
    env.connect()


def test_user_not_found(server: ServerProcess, spares: list[Env]) -> None:
    other = spares[0]
    other.disconnect()
    code, out = other.as_admin("user", "delete", "--username", "kmsuser", "--role",
                               "crypto-user")
    assert code == 0, out
    other.connect(expect="FAILED")
    code, doc = report(server, "--custom-key-store-id", other.store_id, "--hsm-checks")
    assert code == 1
    assert failing(doc) == {"store.connection": "USER_NOT_FOUND",
                            "hsm.kmsuser": "USER_NOT_FOUND"}
    kmsuser = check(doc, "hsm.kmsuser")
    assert kmsuser["evidence"] == ["cloudhsm-cli user list: no kmsuser"]
    assert kmsuser["fix"][:6] == [
        f"aws kms disconnect-custom-key-store --custom-key-store-id {other.store_id}",
        f"cloudhsm-cli interactive --cluster-id {other.cluster_id}",
        "aws-cloudhsm > login --username admin --role admin",
        "aws-cloudhsm > user create --username kmsuser --role crypto-user",
        "aws-cloudhsm > logout", "aws-cloudhsm > quit"]
    assert check(doc, "store.connection")["fix"] == kmsuser["fix"]


def test_network_errors_from_a_revoked_security_group_rule(env: Env) -> None:
    key_id = env.create_key()
    sg = env.cluster()["SecurityGroup"]
    rule = f"IpProtocol=tcp,FromPort=2223,ToPort=2225,UserIdGroupPairs=[{{GroupId={sg}}}]"
    env.ec2.revoke_security_group_ingress(GroupId=sg, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 2223, "ToPort": 2225,
        "UserIdGroupPairs": [{"GroupId": sg}]}])
    code, doc = report(env.server, "--key-id", key_id)
    assert code == 1
    assert failing(doc) == {"key.crypto": "NETWORK", "cluster.security-group":
                            "SECURITY_GROUP_RULES"}
    rules = check(doc, "cluster.security-group")
    assert rules["evidence"] == [f"inbound TCP 2223-2225 from {sg}: missing",
                                 f"outbound TCP 2223-2225 to {sg}: allowed"]
    assert rules["fix"] == [(f"aws ec2 authorize-security-group-ingress --group-id {sg} "
                            f"--ip-permissions {rule}")]
    env.disconnect()
    env.connect(expect="FAILED")
    code, doc = report(env.server, "--custom-key-store-id", env.store_id)
    conn = check(doc, "store.connection")
    assert conn["cause"] == "NETWORK_ERRORS"
    assert conn["fix"] == [*rules["fix"],
                           (f"aws kms disconnect-custom-key-store --custom-key-store-id "
                           f"{env.store_id}"), "# wait a few minutes",
                           (f"aws kms connect-custom-key-store --custom-key-store-id "
                           f"{env.store_id}"),
                           (f"aws kms describe-custom-key-stores --custom-key-store-id "
                           f"{env.store_id}")]
    run_fix(env, conn["fix"][0])
    env.disconnect()
    env.connect()
    healthy(env)


def test_cluster_not_found(server: ServerProcess, spares: list[Env]) -> None:
    other = spares[1]
    key_id = other.create_key()
    zones = sorted(other.cluster()["SubnetMapping"])
    subnets = [other.cluster()["SubnetMapping"][z] for z in zones]
    other.delete_all_hsms()
    other.hsm.delete_cluster(ClusterId=other.cluster_id)
    ch.wait_state(other.hsm, other.cluster_id, "DELETED")
    # Still CONNECTED: the key fails, the cluster is gone.
    code, doc = report(server, "--key-id", key_id)
    assert code == 1
    assert failing(doc) == {"key.crypto": "CLUSTER_DELETED", "cluster.state":
                            "CLUSTER_NOT_FOUND"}
    latest = other.backups()[-1]["BackupId"]
    restore = [
        f"aws cloudhsmv2 describe-backups --filters clusterIds={other.cluster_id}",
        (f"aws cloudhsmv2 create-cluster --hsm-type hsm1.medium --subnet-ids "
        f"{' '.join(subnets)} --source-backup-id {latest}"),
        *(f"aws cloudhsmv2 create-hsm --cluster-id <new-cluster-id> --availability-zone {z}"
          for z in zones),
        f"aws kms disconnect-custom-key-store --custom-key-store-id {other.store_id}",
        (f"aws kms update-custom-key-store --custom-key-store-id {other.store_id} "
        "--cloud-hsm-cluster-id <new-cluster-id>"),
        f"aws kms connect-custom-key-store --custom-key-store-id {other.store_id}",
        f"aws kms describe-custom-key-stores --custom-key-store-id {other.store_id}"]
    assert check(doc, "cluster.state")["fix"] == restore
    other.disconnect()
    other.connect(expect="FAILED")
    code, doc = report(server, "--custom-key-store-id", other.store_id)
    assert (code, failing(doc)) == (1, {"store.connection": "CLUSTER_NOT_FOUND",
                                        "cluster.state": "CLUSTER_NOT_FOUND"})
    assert check(doc, "store.connection")["fix"] == [
        f"aws cloudhsmv2 describe-clusters --filters clusterIds={other.cluster_id}", *restore]
    # The printed create-cluster works as printed.
    code, out = other.aws(*shlex.split(restore[1])[1:])
    assert code == 0, out
    assert out["Cluster"]["SourceBackupId"] == latest


def _small_subnets(ec2: Any) -> list[str]:
    """Two /28 subnets (11 usable addresses each) in two zones of the default VPC."""
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])
    zones = sorted(z["ZoneName"] for z in ec2.describe_availability_zones()[
        "AvailabilityZones"])
    base = len(ec2.describe_subnets()["Subnets"])
    return [ec2.create_subnet(VpcId=vpc["Vpcs"][0]["VpcId"],
                              CidrBlock=f"172.31.{200 + base + i}.0/28",
                              AvailabilityZone=zones[-1 - i])["Subnet"]["SubnetId"]
            for i in range(2)]


def test_insufficient_free_addresses_then_subnet_not_found(env: Env,
                                                          spares: list[Env]) -> None:
    small = spares[3]
    small.disconnect()
    subnet_id = small.cluster()["Hsms"][0]["SubnetId"]
    free = small.ec2.describe_subnets(SubnetIds=[subnet_id])["Subnets"][0][
        "AvailableIpAddressCount"]
    enis = [small.ec2.create_network_interface(SubnetId=subnet_id)["NetworkInterface"][
        "NetworkInterfaceId"] for _ in range(free)]
    small.connect(expect="FAILED")
    code, doc = report(env.server, "--custom-key-store-id", small.store_id)
    assert code == 1
    assert failing(doc) == {"store.connection": "INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET",
                            "cluster.subnets": "INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET"}
    subnets = check(doc, "cluster.subnets")
    assert f"no free IP address in {subnet_id}" in subnets["summary"]
    assert any(e.startswith(f"{subnet_id} (") and e.endswith("AvailableIpAddressCount 0")
               for e in subnets["evidence"])
    assert check(doc, "store.connection")["fix"][:2] == [
        f"aws ec2 describe-network-interfaces --filters Name=subnet-id,Values={subnet_id}",
        "aws ec2 delete-network-interface --network-interface-id <unused-eni-id>"]
    # "move or delete other resources that are using the IP addresses": one is enough (two
    # are preferable: a warning).
    small.ec2.delete_network_interface(NetworkInterfaceId=enis.pop())
    small.disconnect()
    code, doc = report(env.server, "--custom-key-store-id", small.store_id)
    assert check(doc, "cluster.subnets")["status"] == "warn"  # one free: two are preferable
    assert failing(doc) == {"store.connection": "DISCONNECTED"}
    small.connect()

    # Now a subnet disappears: SUBNET_NOT_FOUND.
    for eni in enis:
        small.ec2.delete_network_interface(NetworkInterfaceId=eni)
    small.disconnect()
    doomed = small.cluster()["Hsms"][1]
    small.hsm.delete_hsm(ClusterId=small.cluster_id, HsmId=doomed["HsmId"])
    ch.wait_for(small.cluster, lambda c: len(c["Hsms"]) == 1)
    small.ec2.delete_subnet(SubnetId=doomed["SubnetId"])
    small.connect(expect="FAILED")
    code, doc = report(env.server, "--custom-key-store-id", small.store_id)
    assert code == 1
    assert failing(doc) == {"store.connection": "SUBNET_NOT_FOUND",
                            "cluster.subnets": "SUBNET_NOT_FOUND"}
    assert f"{doomed['SubnetId']} ({doomed['AvailabilityZone']}): InvalidSubnetID.NotFound" in \
        check(doc, "cluster.subnets")["evidence"]
    create = check(doc, "store.connection")["fix"][1]
    kept = next(s for s in small.cluster()["SubnetMapping"].values() if s != doomed["SubnetId"])
    assert create == (f"aws cloudhsmv2 create-cluster --hsm-type hsm1.medium --subnet-ids "
                      f"{kept} <subnet-id> --source-backup-id {small.backups()[-1]['BackupId']}")


# -- "How to delete orphaned key material" ---------------------------------------------------


def test_orphaned_key_material_from_a_failed_backing_key_deletion(spares: list[Env]) -> None:
    env = spares[2]  # its trail keeps the failed deletion: a store of its own
    key_id = env.create_key("orphan")
    arn = env.key_arn(key_id)
    backing = env.backing_key_id(key_id)
    env.kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    env.disconnect()
    env.server.advance(7 * DAY + 3600)
    env.connect()
    # Asked about the key that is gone: when it went, and what it left behind.
    code, doc = report(env.server, "--key-id", key_id)
    assert (code, failing(doc)) == (1, {"doctor.target": "NotFoundException",
                                        "key.state": "ORPHANED_KEY_MATERIAL",
                                        "trail.deletions": "ORPHANED_KEY_MATERIAL"})
    gone = check(doc, "key.state")
    assert gone["subject"] == arn
    assert gone["evidence"][0].endswith(f"backing key {backing} FAILURE")
    assert f'aws-cloudhsm > key delete --filter attr.id="0x{backing}"' in gone["fix"]
    code, doc = report(env.server, "--custom-key-store-id", env.store_id, "--hsm-checks",
                       **as_admin())
    assert (code, failing(doc)) == (1, {"trail.deletions": "ORPHANED_KEY_MATERIAL"})
    trail = check(doc, "trail.deletions")
    assert trail["guide"] == "How to delete orphaned key material"
    assert any(e.endswith(f"DeleteKey {arn}: backing key {backing} FAILURE")
               for e in trail["evidence"])
    sid, cid = env.store_id, env.cluster_id
    assert trail["fix"] == [
        f"aws kms disconnect-custom-key-store --custom-key-store-id {sid}",
        f"cloudhsm-cli interactive --cluster-id {cid}",
        "aws-cloudhsm > login --username admin --role admin",
        "aws-cloudhsm > user change-password --username kmsuser --role crypto-user",
        "aws-cloudhsm > logout",
        "aws-cloudhsm > login --username kmsuser --role crypto-user",
        f'aws-cloudhsm > key delete --filter attr.id="0x{backing}"',
        "aws-cloudhsm > logout", "aws-cloudhsm > quit",
        (f"aws kms update-custom-key-store --custom-key-store-id {sid} "
        "--key-store-password <kmsuser-password>"),
        f"aws kms connect-custom-key-store --custom-key-store-id {sid}",
        f"aws kms describe-custom-key-stores --custom-key-store-id {sid}"]
    # Follow it: the key material goes; the doctor (with a login that sees keys) is content.
    env.disconnect()
    env.set_kmsuser_password("orphanPass1")
    code, out = env.as_kmsuser("key", "delete", "--filter", f"attr.id=0x{backing}")
    assert code == 0, out
    env.update_password()
    env.connect()
    code, doc = report(env.server, "--custom-key-store-id", env.store_id, "--hsm-checks",
                       **as_admin())
    assert (code, failing(doc)) == (0, {}), doc
    assert any(e.endswith("FAILURE (gone from the cluster now)")
               for e in check(doc, "trail.deletions")["evidence"])


def test_every_store_of_the_account_by_default(env: Env) -> None:
    code, doc = report(env.server)
    subjects = {c["subject"] for c in doc["checks"] if c["check"] == "store.connection"}
    assert env.store_id in subjects
    assert len(subjects) > 1  # the other tests' stores too
    assert code == (1 if failing(doc) else 0)
