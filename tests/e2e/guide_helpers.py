"""Helpers for the key-store tests: a user's environment, built and driven the way the AWS
troubleshooting guide ("Troubleshooting a custom key store") drives it.

* :func:`build_env`: an ACTIVE cluster with two HSMs in different zones, the crypto user
  ``kmsuser`` (created with the real ``cloudhsm-cli``), a CloudHSM key store and (optionally) the
  store connected - all through boto3, the real ``cloudhsm-cli`` and the public APIs.
* :class:`Env`: that environment plus the commands a user types: ``env.cli(...)`` runs
  ``cloudhsm-cli`` (JSON parsed), ``env.aws(...)`` the AWS CLI v1 (JSON parsed), and waits for
  store states.
"""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cloudhsm_helpers as ch
from botocore.exceptions import ClientError

from hsmkms.testing.server import ServerProcess

KMSUSER_PASSWORD = "kmsPassword1"  # noqa: S105 - test value
ADMIN_PASSWORD = ch.ADMIN_PASSWORD
CLI = Path(sys.executable).with_name("cloudhsm-cli")
AWS = Path(sys.executable).with_name("aws")
#: A module server with room for many clusters (the 10-store quota needs 11 of them).
ROOMY = {"HSMKMS_MAX_CLUSTERS": "16", "HSMKMS_MAX_HSMS": "40"}


def module_env_server(tmp_path_factory: Any, **env: str) -> ServerProcess:
    data = tmp_path_factory.mktemp("keystores") / "hsmkms-data"
    return ServerProcess(data, env={**ROOMY, **env}).start()


def run_cli(server: ServerProcess, cluster_id: str, *args: str, role: str | None = None,
            pin: str | None = None, stdin: str | None = None) -> tuple[int, Any]:
    """Run the real ``cloudhsm-cli``; returns (exit status, parsed JSON or raw text)."""
    env = {**server.cli_env(), "CLOUDHSM_CLUSTER_ID": cluster_id}
    env.pop("CLOUDHSM_ROLE", None)
    env.pop("CLOUDHSM_PIN", None)
    if role is not None and pin is not None:
        env.update(CLOUDHSM_ROLE=role, CLOUDHSM_PIN=pin)
    exe = [str(CLI)] if CLI.exists() else [sys.executable, "-m", "hsmkms.cloudhsm_cli.main"]
    done = subprocess.run([*exe, *args], env=env, capture_output=True, text=True,  # noqa: S603
                          input=stdin, timeout=60, check=False)
    try:
        return done.returncode, json.loads(done.stdout)
    except json.JSONDecodeError:
        return done.returncode, done.stdout + done.stderr


def run_aws(server: ServerProcess, *args: str) -> tuple[int, Any]:
    """Run the real AWS CLI v1; returns (exit status, parsed JSON, or stderr on failure)."""
    exe = [str(AWS)] if AWS.exists() else ["aws"]
    done = subprocess.run([*exe, *args, "--output", "json"], env=server.cli_env(),  # noqa: S603
                          capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        return done.returncode, done.stderr.strip()
    return 0, json.loads(done.stdout) if done.stdout.strip() else None


def error(call: Any, *args: Any, **kwargs: Any) -> tuple[str, str]:
    """Call a boto3 method that must fail; return (code, message)."""
    try:
        call(*args, **kwargs)
    except ClientError as err:
        return err.response["Error"]["Code"], err.response["Error"].get("Message", "")
    raise AssertionError(f"{call.__name__} did not fail")


@dataclass
class Env:
    server: ServerProcess
    cluster_id: str
    ca: ch.Ca
    store_id: str = ""
    kmsuser_password: str = KMSUSER_PASSWORD
    kms: Any = field(init=False)
    hsm: Any = field(init=False)
    ec2: Any = field(init=False)

    def __post_init__(self) -> None:
        self.kms = self.server.client("kms")
        self.hsm = self.server.client("cloudhsmv2")
        self.ec2 = self.server.client("ec2")

    # -- the user's tools ---------------------------------------------------------------------

    def cli(self, *args: str, role: str | None = None, pin: str | None = None,
            stdin: str | None = None, cluster_id: str | None = None) -> tuple[int, Any]:
        return run_cli(self.server, cluster_id or self.cluster_id, *args, role=role, pin=pin,
                       stdin=stdin)

    def as_admin(self, *args: str, cluster_id: str | None = None) -> tuple[int, Any]:
        return self.cli(*args, role="admin", pin=f"admin:{ADMIN_PASSWORD}",
                        cluster_id=cluster_id)

    def as_kmsuser(self, *args: str, password: str | None = None) -> tuple[int, Any]:
        return self.cli(*args, role="crypto-user",
                        pin=f"kmsuser:{password or self.kmsuser_password}")

    def set_kmsuser_password(self, password: str, cluster_id: str | None = None) -> None:
        """As admin: ``user change-password --username kmsuser --role crypto-user``."""
        code, out = self.as_admin("user", "change-password", "--username", "kmsuser",
                                  "--role", "crypto-user", "--password", password,
                                  cluster_id=cluster_id)
        assert code == 0, out
        if cluster_id in (None, self.cluster_id):
            self.kmsuser_password = password

    def aws(self, *args: str) -> tuple[int, Any]:
        return run_aws(self.server, *args)

    # -- the key store ------------------------------------------------------------------------

    def store(self) -> dict[str, Any]:
        found = self.kms.describe_custom_key_stores(CustomKeyStoreId=self.store_id)
        return dict(found["CustomKeyStores"][0])

    def state(self) -> str:
        return str(self.store()["ConnectionState"])

    def wait(self, *states: str, timeout: float = 15.0) -> dict[str, Any]:
        return dict(ch.wait_for(self.store, lambda s: s["ConnectionState"] in states, timeout))

    def connect(self, *, expect: str = "CONNECTED") -> dict[str, Any]:
        self.kms.connect_custom_key_store(CustomKeyStoreId=self.store_id)
        self.server.advance(1)  # the attempt is due: run it now rather than wait for it
        store = self.wait("CONNECTED", "FAILED")
        assert store["ConnectionState"] == expect, store
        return store

    def disconnect(self) -> dict[str, Any]:
        self.kms.disconnect_custom_key_store(CustomKeyStoreId=self.store_id)
        self.server.advance(1)
        return self.wait("DISCONNECTED")

    def update_password(self, password: str | None = None) -> None:
        self.kms.update_custom_key_store(CustomKeyStoreId=self.store_id,
                                         KeyStorePassword=password or self.kmsuser_password)

    def create_key(self, description: str = "") -> str:
        meta = self.kms.create_key(Origin="AWS_CLOUDHSM", CustomKeyStoreId=self.store_id,
                                   Description=description)["KeyMetadata"]
        return str(meta["KeyId"])

    def key_state(self, key_id: str) -> str:
        return str(self.kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"])

    def encrypt(self, key_id: str, plaintext: bytes = b"guide") -> bytes:
        return bytes(self.kms.encrypt(KeyId=key_id, Plaintext=plaintext)["CiphertextBlob"])

    def decrypt(self, blob: bytes) -> bytes:
        return bytes(self.kms.decrypt(CiphertextBlob=blob)["Plaintext"])

    # -- the cluster --------------------------------------------------------------------------

    def cluster(self, cluster_id: str | None = None) -> dict[str, Any]:
        return ch.describe(self.hsm, cluster_id or self.cluster_id)

    def backing_key_id(self, key_id: str) -> str:
        """The backing key id KMS logged for the key's CreateKey (CloudTrail)."""
        trail = self.server.client("cloudtrail")
        events = trail.lookup_events(LookupAttributes=[
            {"AttributeKey": "ResourceName", "AttributeValue": self.key_arn(key_id)}])["Events"]
        for event in events:
            record = json.loads(event["CloudTrailEvent"])
            if record["eventName"] == "CreateKey":
                backing = json.loads(record["additionalEventData"]["backingKey"])
                return str(backing["backingKeyId"])
        raise AssertionError(f"no CreateKey event for {key_id}: {events}")

    def key_arn(self, key_id: str) -> str:
        return str(self.kms.describe_key(KeyId=key_id)["KeyMetadata"]["Arn"])

    def delete_all_hsms(self, cluster_id: str | None = None) -> None:
        cid = cluster_id or self.cluster_id
        for h in self.cluster(cid)["Hsms"]:
            self.hsm.delete_hsm(ClusterId=cid, HsmId=h["HsmId"])
        ch.wait_for(lambda: self.cluster(cid), lambda c: not c["Hsms"])

    def add_hsms(self, count: int, cluster_id: str | None = None) -> dict[str, Any]:
        cid = cluster_id or self.cluster_id
        cluster = self.cluster(cid)
        zones = sorted(cluster["SubnetMapping"])
        used = [h["AvailabilityZone"] for h in cluster["Hsms"]]
        for i in range(count):
            free = [z for z in zones if z not in used] or zones
            zone = free[i % len(free)]
            used.append(zone)
            self.hsm.create_hsm(ClusterId=cid, AvailabilityZone=zone)
        return dict(ch.wait_hsms_active(self.hsm, cid, len(used)))

    def restore(self, backup_id: str, hsms: int = 2) -> str:
        """CreateCluster --source-backup-id, then add ``hsms`` HSMs; the new cluster id."""
        subnets = ch.subnets(self.server)[:2]
        cid = self.hsm.create_cluster(HsmType="hsm1.medium", SubnetIds=subnets,
                                      SourceBackupId=backup_id)["Cluster"]["ClusterId"]
        ch.wait_state(self.hsm, cid, "ACTIVE")
        if hsms:
            self.add_hsms(hsms, cid)
        return str(cid)

    def backups(self, cluster_id: str | None = None) -> list[dict[str, Any]]:
        found = self.hsm.describe_backups(
            Filters={"clusterIds": [cluster_id or self.cluster_id]})["Backups"]
        return sorted(found, key=lambda b: b["CreateTimestamp"])


def make_cluster(server: ServerProcess, hsms: int = 2,
                 subnet_ids: list[str] | None = None) -> tuple[str, ch.Ca]:
    """An ACTIVE cluster with ``hsms`` ACTIVE HSMs and the CU ``kmsuser``."""
    ca = ch.make_ca()
    hsm = server.client("cloudhsmv2")
    ids = subnet_ids or ch.subnets(server)[:2]
    cid = hsm.create_cluster(HsmType="hsm1.medium", SubnetIds=ids)["Cluster"]["ClusterId"]
    cluster = ch.wait_state(hsm, cid, "UNINITIALIZED")
    zones = sorted(cluster["SubnetMapping"])
    hsm.create_hsm(ClusterId=cid, AvailabilityZone=zones[0])
    cluster = ch.wait_hsms_active(hsm, cid, 1)
    cluster = ch.wait_for(lambda: ch.describe(hsm, cid),
                          lambda c: c.get("Certificates", {}).get("ClusterCsr"))
    hsm.initialize_cluster(ClusterId=cid, TrustAnchor=ca.pem,
                           SignedCert=ch.sign_csr(cluster["Certificates"]["ClusterCsr"], ca))
    ch.wait_state(hsm, cid, "INITIALIZED")
    code, out = run_cli(server, cid, "cluster", "activate", "--password", ADMIN_PASSWORD)
    assert code == 0, out
    ch.wait_state(hsm, cid, "ACTIVE")
    for i in range(1, hsms):
        hsm.create_hsm(ClusterId=cid, AvailabilityZone=zones[i % len(zones)])
    ch.wait_hsms_active(hsm, cid, hsms)
    code, out = run_cli(server, cid, "user", "create", "--username", "kmsuser", "--role",
                        "crypto-user", "--password", KMSUSER_PASSWORD, role="admin",
                        pin=f"admin:{ADMIN_PASSWORD}")
    assert code == 0, out
    return cid, ca


def build_env(server: ServerProcess, *, connect: bool = True, name: str | None = None,
              hsms: int = 2, subnet_ids: list[str] | None = None) -> Env:
    cid, ca = make_cluster(server, hsms, subnet_ids)
    env = Env(server, cid, ca)
    env.store_id = env.kms.create_custom_key_store(
        CustomKeyStoreName=name or f"store-{cid}", CloudHsmClusterId=cid,
        TrustAnchorCertificate=ca.pem, KeyStorePassword=KMSUSER_PASSWORD)["CustomKeyStoreId"]
    if connect:
        env.connect()
    return env


def build_envs(server: ServerProcess, count: int, **kwargs: Any) -> list[Env]:
    """Several independent environments, built concurrently."""
    with ThreadPoolExecutor(max_workers=min(count, 6)) as pool:
        return list(pool.map(lambda _i: build_env(server, **kwargs), range(count)))


def make_clusters(server: ServerProcess, count: int, hsms: int = 2) -> list[tuple[str, ch.Ca]]:
    with ThreadPoolExecutor(max_workers=min(count, 6)) as pool:
        return list(pool.map(lambda _i: make_cluster(server, hsms), range(count)))


def fault(server: ServerProcess, kind: str, cluster_id: str) -> str:
    return str(server.admin("POST", "faults", {"fault": kind, "cluster_id": cluster_id})
               ["fault_id"])


def clear_fault(server: ServerProcess, fault_id: str) -> None:
    server.admin("DELETE", f"faults/{fault_id}")


__all__ = ["ADMIN_PASSWORD", "KMSUSER_PASSWORD", "Env", "build_env", "build_envs",
           "clear_fault", "error", "fault", "make_cluster", "make_clusters",
           "module_env_server", "run_aws", "run_cli"]
