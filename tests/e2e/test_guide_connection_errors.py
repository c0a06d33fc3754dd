"""Guide: "How to fix a connection failure" - every ConnectionErrorCode from its real cause to
its documented repair (spec kms.md 1.3-1.5), with boto3, the AWS CLI and ``cloudhsm-cli``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from guide_helpers import (
    KMSUSER_PASSWORD,
    Env,
    build_env,
    clear_fault,
    error,
    fault,
    module_env_server,
)

from hsmkms.testing.server import ServerProcess

CANNOT_COMMUNICATE = (
    "KMS cannot communicate with your CloudHSM cluster. This might be a transient network "
    "issue. If you see this error repeatedly, verify that the Network ACLs and the security "
    "group rules for the VPC of your AWS CloudHSM cluster are correct.")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = module_env_server(tmp_path_factory)
    try:
        yield srv
    finally:
        srv.kill()


@pytest.fixture(scope="module")
def env(server: ServerProcess) -> Env:
    """One connected store reused by the tests that put it back as they found it."""
    return build_env(server)


def failed_with(env: Env, code: str) -> None:
    store = env.connect(expect="FAILED")
    assert store["ConnectionErrorCode"] == code
    # "You cannot connect an AWS CloudHSM key store with a FAILED connection state."
    assert error(env.kms.connect_custom_key_store, CustomKeyStoreId=env.store_id) == (
        "CustomKeyStoreInvalidStateException",
        f"The custom key store {env.store_id} has a connection state of FAILED. Disconnect it "
        "before you try to connect it again.")


def failed_with_cli(env: Env, code: str) -> None:
    """The same, read with the AWS CLI as in the guide's examples."""
    failed_with(env, code)
    code_, out = env.aws("kms", "describe-custom-key-stores", "--custom-key-store-id",
                         env.store_id)
    assert code_ == 0, out
    assert out["CustomKeyStores"][0]["ConnectionState"] == "FAILED"
    assert out["CustomKeyStores"][0]["ConnectionErrorCode"] == code


def test_invalid_credentials(env: Env) -> None:
    key_id = env.create_key()
    env.disconnect()
    # Someone changes kmsuser's password in the cluster (cloudhsm-cli user change-password).
    env.set_kmsuser_password("changedPass3")
    failed_with_cli(env, "INVALID_CREDENTIALS")
    # Repair ("How to fix invalid kmsuser credentials"): disconnect, tell KMS the password,
    # connect.
    env.disconnect()
    code, out = env.aws("kms", "update-custom-key-store", "--custom-key-store-id",
                        env.store_id, "--key-store-password", "changedPass3")
    assert (code, out) == (0, None)
    env.connect()
    assert env.decrypt(env.encrypt(key_id)) == b"guide"
    # KMS rotated the password again: the one we know no longer works.
    code, out = env.cli("login", "--username", "kmsuser", "--role", "crypto-user",
                        "--password", "changedPass3")
    assert code == 1, out


def test_user_locked_out(env: Env) -> None:
    env.disconnect()
    # Wrong passwords with cloudhsm-cli until the HSMs lock kmsuser out ("after five failed
    # attempts ... AWS CloudHSM locks the user account"; each HSM counts its own failures).
    for attempt in range(1, 21):
        code, out = env.cli("login", "--username", "kmsuser", "--role", "crypto-user",
                            "--password", "notThePassword")
        assert code == 1, out
        _, users = env.as_admin("user", "list")
        row = next(u for u in users["data"]["users"] if u["username"] == "kmsuser")
        if row["locked"] != "false":
            break
    assert attempt >= 5
    failed_with_cli(env, "USER_LOCKED_OUT")
    # Repair: disconnect, change the password as admin (clears the lockout), update, connect.
    env.disconnect()
    env.set_kmsuser_password("unlocked4")
    _, users = env.as_admin("user", "list")
    assert next(u for u in users["data"]["users"] if u["username"] == "kmsuser")[
        "locked"] == "false"
    env.update_password()
    env.connect()


def test_user_logged_in_then_log_out_and_reconnect(env: Env) -> None:
    """"How to log in as kmsuser" and "How to log out and reconnect", with an interactive
    cloudhsm-cli session (pexpect)."""
    import pexpect  # noqa: PLC0415

    key_id = env.create_key()
    # 1. Disconnect.
    code, out = env.aws("kms", "disconnect-custom-key-store", "--custom-key-store-id",
                        env.store_id)
    assert code == 0, out
    env.wait("DISCONNECTED")
    # 2.-4. As admin, set a known kmsuser password; log in as kmsuser interactively.
    session = pexpect.spawn(
        "cloudhsm-cli", ["interactive"], encoding="utf-8", timeout=20,
        env={**env.server.cli_env(), "CLOUDHSM_CLUSTER_ID": env.cluster_id})
    try:
        session.expect_exact("aws-cloudhsm > ")
        session.sendline("login --username admin --role admin")
        session.expect_exact("Enter password:")
        session.sendline("Admin-Password1")
        session.expect_exact('"role": "admin"')
        session.expect_exact("aws-cloudhsm > ")
        session.sendline("user change-password --username kmsuser --role crypto-user "
                         "--password tempPassword")
        session.expect_exact('"error_code": 0')
        session.expect_exact("aws-cloudhsm > ")
        session.sendline("logout")
        session.expect_exact("aws-cloudhsm > ")
        session.sendline("login --username kmsuser --role crypto-user")
        session.expect_exact("Enter password:")
        session.sendline("tempPassword")
        session.expect_exact('"username": "kmsuser"')
        session.expect_exact("aws-cloudhsm > ")
        # While kmsuser is logged in, KMS cannot connect.
        env.update_password("tempPassword")
        failed_with(env, "USER_LOGGED_IN")
        # Log out and reconnect.
        session.sendline("logout")
        session.expect_exact("Logout successful")
        session.expect_exact("aws-cloudhsm > ")
        env.disconnect()
        env.kms.update_custom_key_store(CustomKeyStoreId=env.store_id,
                                        KeyStorePassword="tempPassword")
        code, out = env.aws("kms", "connect-custom-key-store", "--custom-key-store-id",
                            env.store_id)
        assert (code, out) == (0, None)
        assert env.wait("CONNECTED", "FAILED")["ConnectionState"] == "CONNECTED"
        session.sendline("quit")
        session.expect(pexpect.EOF)
    finally:
        session.close(force=True)
    assert env.decrypt(env.encrypt(key_id)) == b"guide"


def test_user_not_found(server: ServerProcess) -> None:
    other = build_env(server, connect=False)
    code, out = other.as_admin("user", "delete", "--username", "kmsuser", "--role",
                               "crypto-user")
    assert code == 0, out
    failed_with(other, "USER_NOT_FOUND")
    other.disconnect()
    code, out = other.as_admin("user", "create", "--username", "kmsuser", "--role",
                               "crypto-user", "--password", "recreated5")
    assert code == 0, out
    other.update_password("recreated5")
    other.connect()


def test_network_errors_from_a_revoked_security_group_rule(env: Env) -> None:
    key_id = env.create_key()
    sg = env.cluster()["SecurityGroup"]
    permission = f"IpProtocol=tcp,FromPort=2223,ToPort=2225,UserIdGroupPairs=[{{GroupId={sg}}}]"
    code, out = env.aws("ec2", "revoke-security-group-ingress", "--group-id", sg,
                        "--ip-permissions", permission)
    assert code == 0, out
    # Still CONNECTED (KMS never leaves CONNECTED on its own), but crypto fails.
    assert env.state() == "CONNECTED"
    assert error(env.kms.encrypt, KeyId=key_id, Plaintext=b"x") == (
        "KMSInvalidStateException", CANNOT_COMMUNICATE)
    env.disconnect()
    failed_with(env, "NETWORK_ERRORS")
    code, out = env.aws("ec2", "authorize-security-group-ingress", "--group-id", sg,
                        "--ip-permissions", permission)
    assert code == 0, out
    env.disconnect()
    env.connect()
    assert env.decrypt(env.encrypt(key_id)) == b"guide"


def test_network_errors_fault(env: Env) -> None:
    key_id = env.create_key()
    fault_id = fault(env.server, "network-errors", env.cluster_id)
    try:
        assert error(env.kms.generate_data_key, KeyId=key_id, NumberOfBytes=32) == (
            "KMSInvalidStateException", CANNOT_COMMUNICATE)
        assert error(env.kms.create_key, Origin="AWS_CLOUDHSM",
                     CustomKeyStoreId=env.store_id) == (
            "KMSInvalidStateException", CANNOT_COMMUNICATE)
        env.disconnect()
        failed_with(env, "NETWORK_ERRORS")
    finally:
        clear_fault(env.server, fault_id)
    # "Disconnect the AWS CloudHSM key store, wait a few minutes, and try to connect again."
    env.disconnect()
    env.server.advance(180)
    env.connect()
    assert env.decrypt(env.encrypt(key_id)) == b"guide"


def test_internal_error_fault(env: Env) -> None:
    key_id = env.create_key()
    fault_id = fault(env.server, "internal-error", env.cluster_id)
    try:
        code, message = error(env.kms.encrypt, KeyId=key_id, Plaintext=b"x")
        assert (code, message) == (
            "KMSInternalException",
            "KMS could not complete the request because of an internal error. Retry the "
            "request.")
        env.disconnect()
        failed_with(env, "INTERNAL_ERROR")
    finally:
        clear_fault(env.server, fault_id)
    env.disconnect()
    env.connect()
    assert env.decrypt(env.encrypt(key_id)) == b"guide"


def test_insufficient_cloudhsm_hsms(env: Env) -> None:
    key_id = env.create_key()
    blob = env.encrypt(key_id, b"kept")
    env.disconnect()
    env.delete_all_hsms()
    failed_with(env, "INSUFFICIENT_CLOUDHSM_HSMS")
    # "add at least one HSM to the cluster ... best to create them in different zones".
    env.add_hsms(2)
    env.disconnect()
    env.connect()
    assert env.decrypt(blob) == b"kept"


def test_cluster_not_found_then_restored_from_a_backup(server: ServerProcess) -> None:
    other = build_env(server)
    key_id = other.create_key()
    blob = other.encrypt(key_id, b"survives")
    other.disconnect()
    other.delete_all_hsms()
    other.hsm.delete_cluster(ClusterId=other.cluster_id)
    import cloudhsm_helpers as ch  # noqa: PLC0415

    ch.wait_state(other.hsm, other.cluster_id, "DELETED")
    failed_with(other, "CLUSTER_NOT_FOUND")
    # Restore the most recent backup of the original, point the store at it, reconnect.
    code, out = other.aws("cloudhsmv2", "describe-backups", "--filters",
                          f"clusterIds={other.cluster_id}")
    assert code == 0, out
    latest = max(out["Backups"], key=lambda b: b["CreateTimestamp"])
    assert latest["BackupState"] == "READY"
    new_cluster = other.restore(latest["BackupId"])
    other.disconnect()
    code, out = other.aws("kms", "update-custom-key-store", "--custom-key-store-id",
                          other.store_id, "--cloud-hsm-cluster-id", new_cluster)
    assert (code, out) == (0, None)
    other.connect()
    assert other.store()["CloudHsmClusterId"] == new_cluster
    assert other.kms.describe_key(KeyId=key_id)["KeyMetadata"]["CloudHsmClusterId"] == \
        new_cluster
    assert other.decrypt(blob) == b"survives"


def _small_subnets(env: Env) -> list[str]:
    """Two /28 subnets (11 usable addresses each) in two zones of the default VPC."""
    vpc = env.ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])
    vpc_id = vpc["Vpcs"][0]["VpcId"]
    zones = sorted(z["ZoneName"] for z in env.ec2.describe_availability_zones()[
        "AvailabilityZones"])
    base = len(env.ec2.describe_subnets()["Subnets"])
    return [env.ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"172.31.{200 + base + i}.0/28",
                                  AvailabilityZone=zones[-1 - i])["Subnet"]["SubnetId"]
            for i in range(2)]


def test_insufficient_free_addresses_in_subnet(env: Env) -> None:
    small = build_env(env.server, subnet_ids=_small_subnets(env))
    key_id = small.create_key()
    small.disconnect()
    subnet_id = small.cluster()["Hsms"][0]["SubnetId"]
    free = small.ec2.describe_subnets(SubnetIds=[subnet_id])["Subnets"][0][
        "AvailableIpAddressCount"]
    enis = [small.ec2.create_network_interface(SubnetId=subnet_id, Description="filler")[
        "NetworkInterface"]["NetworkInterfaceId"] for _ in range(free)]
    assert small.ec2.describe_subnets(SubnetIds=[subnet_id])["Subnets"][0][
        "AvailableIpAddressCount"] == 0
    failed_with(small, "INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET")
    # Nothing of KMS's half-built network is left behind.
    assert not small.ec2.describe_network_interfaces(Filters=[
        {"Name": "description",
         "Values": [f"KMS managed ENI for cluster {small.cluster_id}"]}])["NetworkInterfaces"]
    # "move or delete other resources that are using the IP addresses in the subnet".
    code, out = small.aws("ec2", "delete-network-interface", "--network-interface-id", enis[0])
    assert code == 0, out
    small.disconnect()
    small.connect()
    assert small.decrypt(small.encrypt(key_id)) == b"guide"


def test_subnet_not_found_then_a_new_cluster_from_a_backup(env: Env) -> None:
    lost = build_env(env.server, subnet_ids=_small_subnets(env))
    key_id = lost.create_key()
    blob = lost.encrypt(key_id, b"moved")
    lost.disconnect()
    # A subnet can be deleted only once nothing uses it: remove the HSM living there first.
    doomed = lost.cluster()["Hsms"][1]
    lost.hsm.delete_hsm(ClusterId=lost.cluster_id, HsmId=doomed["HsmId"])
    import cloudhsm_helpers as ch  # noqa: PLC0415

    ch.wait_for(lost.cluster, lambda c: len(c["Hsms"]) == 1)
    code, out = lost.aws("ec2", "delete-subnet", "--subnet-id", doomed["SubnetId"])
    assert code == 0, out
    failed_with(lost, "SUBNET_NOT_FOUND")
    # A cluster from the most recent backup, in subnets that exist (the default ones).
    latest = lost.backups()[-1]["BackupId"]
    new_cluster = lost.restore(latest)
    lost.disconnect()
    lost.kms.update_custom_key_store(CustomKeyStoreId=lost.store_id,
                                     CloudHsmClusterId=new_cluster)
    lost.connect()
    assert lost.decrypt(blob) == b"moved"


def test_wrong_password_attempts_count_toward_the_lockout(server: ServerProcess) -> None:
    """KMS's own failed logins count: a wrong KeyStorePassword retried enough locks kmsuser."""
    other = build_env(server, connect=False)
    other.update_password("wrongPassword7")
    codes = []
    for _ in range(12):
        store = other.connect(expect="FAILED")
        codes.append(store["ConnectionErrorCode"])
        other.disconnect()
        if codes[-1] == "USER_LOCKED_OUT":
            break
    assert codes[0] == "INVALID_CREDENTIALS"
    assert codes[-1] == "USER_LOCKED_OUT"
    other.set_kmsuser_password(KMSUSER_PASSWORD)
    other.update_password(KMSUSER_PASSWORD)
    other.connect()
