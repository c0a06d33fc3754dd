"""Reusable CloudHSM test helpers (real boto3 against a real ``hsmkms serve``).

* :func:`make_ca` / :func:`sign_csr`: a self-signed issuing CA made with ``cryptography`` and the
  cluster certificate it issues for a CSR.
* :func:`subnets`: the default VPC's subnets, one per availability zone.
* :func:`wait_for`: poll until a predicate holds (the "fast" profile finishes within ~1 s).
* :func:`uninitialized_cluster`, :func:`initialized_cluster`, :func:`active_cluster`: clusters in
  the named state, built step by step through the public APIs (activation through the
  ``cloudhsm-cli`` admin route, as ``cloudhsm-cli cluster activate`` does).
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from hsmkms.testing.server import ServerProcess

ADMIN_PASSWORD = "Admin-Password1"  # noqa: S105 - test value


@dataclass(frozen=True)
class Ca:
    key: rsa.RSAPrivateKey
    cert: x509.Certificate

    @property
    def pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()


def make_ca(name: str = "Test Root CA", key_size: int = 2048) -> Ca:
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return Ca(key, cert)


def sign_csr(csr_pem: str, ca: Ca) -> str:
    csr = x509.load_pem_x509_csr(csr_pem.encode())
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(csr.subject).issuer_name(ca.cert.subject)
            .public_key(csr.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .sign(ca.key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def wait_for(fetch: Callable[[], Any], ok: Callable[[Any], bool], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if ok(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting; last value: {value!r}")
        time.sleep(0.05)


def subnets(server: ServerProcess, region: str = "us-east-1", **client: Any) -> list[str]:
    """One default subnet per availability zone, in zone order (``client``: e.g. credentials
    of another account)."""
    ec2 = server.client("ec2", region=region, **client)
    found = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])
    ordered = sorted(found["Subnets"], key=lambda s: s["AvailabilityZone"])
    return [s["SubnetId"] for s in ordered]


def describe(hsm: Any, cluster_id: str) -> dict[str, Any]:
    return hsm.describe_clusters(Filters={"clusterIds": [cluster_id]})["Clusters"][0]


def wait_state(hsm: Any, cluster_id: str, state: str, timeout: float = 10.0) -> dict[str, Any]:
    return wait_for(lambda: describe(hsm, cluster_id), lambda c: c["State"] == state, timeout)


def wait_hsms_active(hsm: Any, cluster_id: str, count: int) -> dict[str, Any]:
    return wait_for(lambda: describe(hsm, cluster_id),
                    lambda c: sum(h["State"] == "ACTIVE" for h in c["Hsms"]) == count)


def uninitialized_cluster(server: ServerProcess, zones: int = 2, with_hsm: bool = True,
                          **kwargs: Any) -> dict[str, Any]:
    hsm = server.client("cloudhsmv2")
    ids = subnets(server)[:zones]
    cluster_id = hsm.create_cluster(HsmType="hsm1.medium", SubnetIds=ids,
                                    **kwargs)["Cluster"]["ClusterId"]
    cluster = wait_state(hsm, cluster_id, "UNINITIALIZED")
    if with_hsm:
        zone = sorted(cluster["SubnetMapping"])[0]
        hsm.create_hsm(ClusterId=cluster_id, AvailabilityZone=zone)
        cluster = wait_hsms_active(hsm, cluster_id, 1)
    return cluster


def initialized_cluster(server: ServerProcess, ca: Ca | None = None,
                        **kwargs: Any) -> tuple[dict[str, Any], Ca]:
    """An INITIALIZED cluster with one ACTIVE HSM, claimed with ``ca`` (a new CA by default)."""
    ca = ca or make_ca()
    hsm = server.client("cloudhsmv2")
    cluster = uninitialized_cluster(server, **kwargs)
    signed = sign_csr(cluster["Certificates"]["ClusterCsr"], ca)
    hsm.initialize_cluster(ClusterId=cluster["ClusterId"], SignedCert=signed, TrustAnchor=ca.pem)
    return wait_state(hsm, cluster["ClusterId"], "INITIALIZED"), ca


def activate(server: ServerProcess, cluster_id: str, password: str = ADMIN_PASSWORD) -> Any:
    return server.admin("POST", "cloudhsm-cli/cluster-activate",
                        {"cluster_id": cluster_id, "args": {"password": password}})


def active_cluster(server: ServerProcess, hsms: int = 1, ca: Ca | None = None,
                   **kwargs: Any) -> tuple[dict[str, Any], Ca]:
    """An ACTIVE cluster with ``hsms`` ACTIVE HSMs in different zones (round robin)."""
    cluster, ca = initialized_cluster(server, ca, **kwargs)
    cluster_id = cluster["ClusterId"]
    answer = activate(server, cluster_id)
    assert answer["error_code"] == 0, answer
    hsm = server.client("cloudhsmv2")
    zones = sorted(cluster["SubnetMapping"])
    for i in range(1, hsms):
        hsm.create_hsm(ClusterId=cluster_id, AvailabilityZone=zones[i % len(zones)])
    return wait_hsms_active(hsm, cluster_id, hsms), ca


def cli(server: ServerProcess, command: str, cluster_id: str, token: str = "",
        **args: Any) -> Any:
    """One ``cloudhsm-cli`` command through the server's route (what the console script sends)."""
    return server.admin("POST", f"cloudhsm-cli/{command}",
                        {"cluster_id": cluster_id, "token": token, "args": args})


def create_crypto_user(server: ServerProcess, cluster_id: str, username: str,
                       password: str = "User-Password1") -> None:  # noqa: S107 - test value
    login = cli(server, "login", cluster_id, username="admin", role="admin",
                password=ADMIN_PASSWORD)
    assert login["error_code"] == 0, login
    made = cli(server, "user-create", cluster_id, login["token"], username=username,
               role="crypto-user", password=password)
    assert made["error_code"] == 0, made
    assert cli(server, "logout", cluster_id, login["token"])["error_code"] == 0


def usernames(server: ServerProcess, cluster_id: str) -> list[str]:
    answer = cli(server, "user-list", cluster_id)
    assert answer["error_code"] == 0, answer
    return sorted(u["username"] for u in answer["data"]["users"])
