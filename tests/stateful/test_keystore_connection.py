"""Hypothesis stateful test of the connection attempt against a real in-process cluster: break
and repair the things the guide lists (kmsuser's password in the cluster, the password the
store holds, the cluster security group rule, a network fault) in any order and check that
every connection attempt ends exactly as the guide's ConnectionErrorCode table says, that
KMS's ENIs exist only while CONNECTED, and that crypto works exactly when CONNECTED and the
network is healthy."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from test_keystore_states import ADMIN, KMSUSER, World

from hsmkms.testing import InProcess

KMS = "<the secret KMS rotated it to>"
PASSWORDS = st.sampled_from(["firstPass1", "secondPass2", KMSUSER])


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with tempfile.TemporaryDirectory() as tmp, InProcess(Path(tmp)) as inproc:
        yield World(inproc)


class ConnectionMachine(RuleBasedStateMachine):
    world: World
    key_id = ""

    def __init__(self) -> None:
        super().__init__()
        w = self.world
        self.sg = w.inproc.client("cloudhsmv2").describe_clusters(
            Filters={"clusterIds": [w.cluster_id]})["Clusters"][0]["SecurityGroup"]
        self.ec2 = w.inproc.client("ec2")
        self.key_id = ""
        self.fault_id = ""
        self.rule_present = True
        self.cluster_password = ""
        self.store_password = ""
        self.state = "DISCONNECTED"
        self.failures = 0

    @initialize()
    def start_disconnected_with_known_passwords(self) -> None:
        w = self.world
        if w.state() in ("CONNECTED", "FAILED", "CONNECTING"):
            w.kms.disconnect_custom_key_store(CustomKeyStoreId=w.store_id)
            w.settle("DISCONNECTED")
        for fault in w.inproc.app.faults.all():  # type: ignore[attr-defined]
            with w.inproc.app.lock, w.inproc.app.store.unit_of_work():
                w.inproc.app.faults.remove(fault.fault_id)  # type: ignore[attr-defined]
        if not self._has_rule():
            self._authorize()
        if not ConnectionMachine.key_id:
            self._admin_sets(KMSUSER)
            w.kms.update_custom_key_store(CustomKeyStoreId=w.store_id, KeyStorePassword=KMSUSER)
            w.kms.connect_custom_key_store(CustomKeyStoreId=w.store_id)
            assert w.settle("CONNECTED", "FAILED") == "CONNECTED"
            ConnectionMachine.key_id = w.kms.create_key(
                Origin="AWS_CLOUDHSM", CustomKeyStoreId=w.store_id)["KeyMetadata"]["KeyId"]
            w.kms.disconnect_custom_key_store(CustomKeyStoreId=w.store_id)
            w.settle("DISCONNECTED")
        self.key_id = ConnectionMachine.key_id
        self._admin_sets(KMSUSER)
        w.kms.update_custom_key_store(CustomKeyStoreId=w.store_id, KeyStorePassword=KMSUSER)
        self.store_password = KMSUSER

    # -- the world ----------------------------------------------------------------------------

    def _admin_sets(self, password: str) -> None:
        w = self.world
        token = w.cli("login", {"username": "admin", "role": "admin",
                                "password": ADMIN})["token"]
        done = w.cli("user-change-password", {"username": "kmsuser", "role": "crypto-user",
                                              "password": password}, token)
        w.cli("logout", {}, token)
        assert done["error_code"] == 0, done
        self.cluster_password = password
        self.failures = 0  # an admin's password change clears the lockout

    def _permission(self) -> list[dict[str, Any]]:
        return [{"IpProtocol": "tcp", "FromPort": 2223, "ToPort": 2225,
                 "UserIdGroupPairs": [{"GroupId": self.sg}]}]

    def _has_rule(self) -> bool:
        group = self.ec2.describe_security_groups(GroupIds=[self.sg])["SecurityGroups"][0]
        return any(p.get("FromPort") == 2223 and p.get("ToPort") == 2225
                   for p in group["IpPermissions"])

    def _authorize(self) -> None:
        self.ec2.authorize_security_group_ingress(GroupId=self.sg,
                                                  IpPermissions=self._permission())
        self.rule_present = True

    def network_ok(self) -> bool:
        return self.rule_present and not self.fault_id

    # -- rules: break and repair --------------------------------------------------------------

    @precondition(lambda self: self.state == "DISCONNECTED")
    @rule(password=PASSWORDS)
    def admin_changes_kmsuser_password(self, password: str) -> None:
        self._admin_sets(password)

    @precondition(lambda self: self.state == "DISCONNECTED")
    @rule(password=PASSWORDS)
    def update_store_password(self, password: str) -> None:
        self.world.kms.update_custom_key_store(CustomKeyStoreId=self.world.store_id,
                                               KeyStorePassword=password)
        self.store_password = password

    @rule()
    def toggle_security_group_rule(self) -> None:
        if self.rule_present:
            self.ec2.revoke_security_group_ingress(GroupId=self.sg,
                                                   IpPermissions=self._permission())
            self.rule_present = False
        else:
            self._authorize()

    @rule()
    def toggle_network_fault(self) -> None:
        w = self.world
        with w.inproc.app.lock, w.inproc.app.store.unit_of_work():
            faults = w.inproc.app.faults  # type: ignore[attr-defined]
            if self.fault_id:
                faults.remove(self.fault_id)
                self.fault_id = ""
            else:
                self.fault_id = faults.add("network-errors", w.cluster_id,
                                           w.inproc.app.clock.now()).fault_id

    # -- rules: connect and disconnect --------------------------------------------------------

    @precondition(lambda self: self.state == "DISCONNECTED")
    @rule()
    def connect(self) -> None:
        w = self.world
        w.kms.connect_custom_key_store(CustomKeyStoreId=w.store_id)
        outcome = w.settle("CONNECTED", "FAILED")
        code = w.kms.describe_custom_key_stores(CustomKeyStoreId=w.store_id)[
            "CustomKeyStores"][0].get("ConnectionErrorCode")
        got = outcome if code is None else code
        right = self.store_password == self.cluster_password
        if not self.network_ok():
            assert got == "NETWORK_ERRORS"
        elif self.failures >= 5:  # locked on some HSM, depending on which HSMs counted them
            assert got in ("USER_LOCKED_OUT", "CONNECTED" if right else "INVALID_CREDENTIALS")
        else:
            assert got == ("CONNECTED" if right else "INVALID_CREDENTIALS")
        if got == "INVALID_CREDENTIALS":
            self.failures += 1
        if got == "CONNECTED":
            self.failures = 0
            self.cluster_password = self.store_password = KMS
        self.state = outcome

    @precondition(lambda self: self.state == "FAILED")
    @rule()
    def connect_while_failed_is_refused(self) -> None:
        w = self.world
        try:
            w.kms.connect_custom_key_store(CustomKeyStoreId=w.store_id)
        except ClientError as err:
            assert err.response["Error"]["Code"] == "CustomKeyStoreInvalidStateException"
        else:
            raise AssertionError("connect on a FAILED store succeeded")

    @precondition(lambda self: self.state in ("CONNECTED", "FAILED"))
    @rule()
    def disconnect(self) -> None:
        w = self.world
        w.kms.disconnect_custom_key_store(CustomKeyStoreId=w.store_id)
        assert w.settle("DISCONNECTED") == "DISCONNECTED"
        self.state = "DISCONNECTED"

    # -- invariants ---------------------------------------------------------------------------

    @invariant()
    def store_state_and_network_match(self) -> None:
        w = self.world
        assert w.state() == self.state
        enis = self.ec2.describe_network_interfaces(Filters=[
            {"Name": "description",
             "Values": [f"KMS managed ENI for cluster {w.cluster_id}"]}])["NetworkInterfaces"]
        assert len(enis) == (2 if self.state == "CONNECTED" else 0)

    @invariant()
    def crypto_works_exactly_when_connected_and_reachable(self) -> None:
        if not self.key_id:
            return
        try:
            self.world.kms.encrypt(KeyId=self.key_id, Plaintext=b"x")
            worked = True
        except ClientError as err:
            assert err.response["Error"]["Code"] == "KMSInvalidStateException"
            worked = False
        assert worked == (self.state == "CONNECTED" and self.network_ok())


ConnectionMachine.TestCase.settings = settings(
    max_examples=20, stateful_step_count=12, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def test_connection_state_machine(world: World) -> None:
    ConnectionMachine.world = world
    ConnectionMachine.TestCase().runTest()
