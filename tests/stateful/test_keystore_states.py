"""Hypothesis stateful tests of CloudHSM key stores and the states of their keys, against a real
in-process app (``hsmkms.testing.InProcess``) with a real cluster: two HSMs, kmsuser, a store.

The model keeps, per key, the state the user set (Enabled / Disabled / PendingDeletion) and,
for the store, whether it is connected. The properties (spec kms.md 1.1 "Unavailable overlay"):
* DescribeKey reports the set state while the store is CONNECTED, ``Unavailable`` otherwise -
  except PendingDeletion, reported always; so reconnecting restores each key's prior state;
* Encrypt succeeds exactly for reported-Enabled keys: a PendingDeletion, Disabled or
  Unavailable key never encrypts, with the AWS error for its state.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    precondition,
    rule,
)

from hsmkms.http import HttpRequest
from hsmkms.testing import InProcess

ADMIN, KMSUSER = "Admin-Password1", "kmsPassword1"


def _ca() -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    import datetime  # noqa: PLC0415

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "stateful CA")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return key, cert


class World:
    """One app, one cluster, one key store - shared by every example (building a cluster per
    example would dominate the run time); each example starts from a CONNECTED store."""

    def __init__(self, inproc: InProcess) -> None:
        self.inproc = inproc
        self.kms = inproc.client("kms")
        hsm, ec2 = inproc.client("cloudhsmv2"), inproc.client("ec2")
        subnets = sorted(ec2.describe_subnets()["Subnets"], key=lambda s: s["AvailabilityZone"])
        cid = hsm.create_cluster(HsmType="hsm1.medium",
                                 SubnetIds=[s["SubnetId"] for s in subnets[:2]])[
            "Cluster"]["ClusterId"]
        self.cluster_id = cid
        inproc.advance(5)
        zones = sorted(self._cluster(hsm)["SubnetMapping"])
        hsm.create_hsm(ClusterId=cid, AvailabilityZone=zones[0])
        inproc.advance(5)
        ca_key, ca = _ca()
        csr = x509.load_pem_x509_csr(self._cluster(hsm)["Certificates"]["ClusterCsr"].encode())
        signed = (x509.CertificateBuilder().subject_name(csr.subject).issuer_name(ca.subject)
                  .public_key(csr.public_key()).serial_number(x509.random_serial_number())
                  .not_valid_before(ca.not_valid_before_utc)
                  .not_valid_after(ca.not_valid_after_utc).sign(ca_key, hashes.SHA256()))
        pem = lambda c: c.public_bytes(serialization.Encoding.PEM).decode()  # noqa: E731
        hsm.initialize_cluster(ClusterId=cid, SignedCert=pem(signed), TrustAnchor=pem(ca))
        inproc.advance(5)
        assert self.cli("cluster-activate", {"password": ADMIN})["error_code"] == 0
        hsm.create_hsm(ClusterId=cid, AvailabilityZone=zones[1])
        inproc.advance(5)
        token = self.cli("login", {"username": "admin", "role": "admin",
                                   "password": ADMIN})["token"]
        created = self.cli("user-create", {"username": "kmsuser", "role": "crypto-user",
                                           "password": KMSUSER}, token)
        assert created["error_code"] == 0, created
        self.cli("logout", {}, token)
        self.store_id = self.kms.create_custom_key_store(
            CustomKeyStoreName="stateful", CloudHsmClusterId=cid, TrustAnchorCertificate=pem(ca),
            KeyStorePassword=KMSUSER)["CustomKeyStoreId"]

    def _cluster(self, hsm: Any) -> dict[str, Any]:
        return dict(hsm.describe_clusters(Filters={"clusterIds": [self.cluster_id]})[
            "Clusters"][0])

    def cli(self, command: str, args: dict[str, Any], token: str = "") -> dict[str, Any]:
        """The ``cloudhsm-cli`` HTTP API, called in process."""
        body = json.dumps({"cluster_id": self.cluster_id, "token": token, "args": args})
        resp = self.inproc.app.handle(HttpRequest(
            "POST", f"/_hsmkms/cloudhsm-cli/{command}",
            {"content-type": "application/json"}, body.encode()))
        return dict(json.loads(resp.body))

    def state(self) -> str:
        return str(self.kms.describe_custom_key_stores(CustomKeyStoreId=self.store_id)[
            "CustomKeyStores"][0]["ConnectionState"])

    def settle(self, *wanted: str) -> str:
        for _ in range(20):
            self.inproc.advance(1)
            state = self.state()
            if state in wanted:
                return state
        raise AssertionError(f"the store stayed {self.state()}")


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with tempfile.TemporaryDirectory() as tmp, InProcess(Path(tmp)) as inproc:
        yield World(inproc)


class KeyStoreMachine(RuleBasedStateMachine):
    world: World
    keys = Bundle("keys")

    def __init__(self) -> None:
        super().__init__()
        self.set_state: dict[str, str] = {}
        self.connected = True

    @initialize()
    def start_connected(self) -> None:
        w = self.world
        if w.state() == "FAILED":
            w.kms.disconnect_custom_key_store(CustomKeyStoreId=w.store_id)
            w.settle("DISCONNECTED")
        if w.state() == "DISCONNECTED":
            w.kms.connect_custom_key_store(CustomKeyStoreId=w.store_id)
        assert w.settle("CONNECTED") == "CONNECTED"

    # -- helpers ------------------------------------------------------------------------------

    def reported(self, key_id: str) -> str:
        state = self.set_state[key_id]
        if state == "PendingDeletion" or self.connected:
            return state
        return "Unavailable"

    def call(self, method: str, **kwargs: Any) -> str | None:
        try:
            getattr(self.world.kms, method)(**kwargs)
        except ClientError as err:
            return str(err.response["Error"]["Code"])
        return None

    # -- rules --------------------------------------------------------------------------------

    @precondition(lambda self: self.connected)
    @rule(target=keys)
    def create_key(self) -> str:
        meta = self.world.kms.create_key(Origin="AWS_CLOUDHSM",
                                         CustomKeyStoreId=self.world.store_id)["KeyMetadata"]
        self.set_state[meta["KeyId"]] = "Enabled"
        return str(meta["KeyId"])

    @precondition(lambda self: not self.connected)
    @rule()
    def create_key_refused(self) -> None:
        assert self.call("create_key", Origin="AWS_CLOUDHSM",
                         CustomKeyStoreId=self.world.store_id) == \
            "CustomKeyStoreInvalidStateException"

    @rule(key=keys, enable=st.booleans())
    def enable_or_disable(self, key: str, enable: bool) -> None:
        code = self.call("enable_key" if enable else "disable_key", KeyId=key)
        if self.set_state[key] == "PendingDeletion":
            assert code == "KMSInvalidStateException"
        else:
            # Succeeds even while Unavailable; takes effect on reconnect (footnote 12).
            assert code is None
            self.set_state[key] = "Enabled" if enable else "Disabled"

    @rule(key=keys)
    def schedule_deletion(self, key: str) -> None:
        code = self.call("schedule_key_deletion", KeyId=key, PendingWindowInDays=30)
        if self.set_state[key] == "PendingDeletion":
            assert code == "KMSInvalidStateException"
        else:
            assert code is None
            self.set_state[key] = "PendingDeletion"

    @rule(key=keys)
    def cancel_deletion(self, key: str) -> None:
        code = self.call("cancel_key_deletion", KeyId=key)
        if self.set_state[key] == "PendingDeletion":
            assert code is None
            self.set_state[key] = "Disabled"
        else:
            assert code == "KMSInvalidStateException"

    @rule(key=keys)
    def encrypt(self, key: str) -> None:
        code = self.call("encrypt", KeyId=key, Plaintext=b"stateful")
        expected = {"Enabled": None, "Disabled": "DisabledException",
                    "PendingDeletion": "KMSInvalidStateException",
                    "Unavailable": "KMSInvalidStateException"}[self.reported(key)]
        assert code == expected

    @precondition(lambda self: self.connected)
    @rule()
    def disconnect(self) -> None:
        w = self.world
        w.kms.disconnect_custom_key_store(CustomKeyStoreId=w.store_id)
        self.connected = False  # keys are Unavailable from DISCONNECTING on
        for key in self.set_state:
            assert w.kms.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == \
                self.reported(key)
        assert w.settle("DISCONNECTED") == "DISCONNECTED"

    @precondition(lambda self: not self.connected)
    @rule()
    def connect(self) -> None:
        w = self.world
        w.kms.connect_custom_key_store(CustomKeyStoreId=w.store_id)
        assert w.settle("CONNECTED", "FAILED") == "CONNECTED"
        self.connected = True

    @rule(key=consumes(keys))
    def forget(self, key: str) -> None:
        """Keep the bundle small; the key stays in the model and is still checked."""
        del key

    # -- invariants ---------------------------------------------------------------------------

    @invariant()
    def reported_states_match_the_model(self) -> None:
        for key, _ in self.set_state.items():
            meta = self.world.kms.describe_key(KeyId=key)["KeyMetadata"]
            assert meta["KeyState"] == self.reported(key), key
            assert meta["Enabled"] is (self.reported(key) == "Enabled")


KeyStoreMachine.TestCase.settings = settings(
    max_examples=25, stateful_step_count=15, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def test_key_store_state_machine(world: World) -> None:
    KeyStoreMachine.world = world
    KeyStoreMachine.TestCase().runTest()
