"""Bench: CloudHSM-origin CreateKey and Encrypt, in process (issue 9, part 4).

Builds an App in process (a two-HSM ACTIVE cluster, kmsuser, a CONNECTED key store) and prints:
* the median time of CloudHSM-origin ``CreateKey`` with 10 backing keys in the cluster and with
  1,000 (the HSM contents are rows of their own, so this should not grow with the key count);
* the median time of ``Encrypt`` with a CloudHSM key and with an AWS_KMS key.

Run: ``.venv/bin/python bench/cloudhsm_keys.py [--samples 20] [--keys 1000]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from hsmkms.demo import make_ca, sign_csr
from hsmkms.testing.inprocess import InProcess

SCOPE = "111122223333/us-east-1"
ADMIN_PASSWORD = "admin-pass-1"  # noqa: S105 - a throwaway cluster
KMSUSER_PASSWORD = "kmsuser-pass-1"  # noqa: S105


def _wait(check: Callable[[], Any], timeout: float = 30.0) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise RuntimeError("timed out")


def _cluster(hsm: Any, cluster_id: str) -> dict[str, Any]:
    found: dict[str, Any] = hsm.describe_clusters(
        Filters={"clusterIds": [cluster_id]})["Clusters"][0]
    return found


def _active_hsms(hsm: Any, cluster_id: str) -> int:
    return sum(h["State"] == "ACTIVE" for h in _cluster(hsm, cluster_id).get("Hsms", []))


def _hsm_call(inproc: InProcess, name: str, *args: Any) -> Any:
    app = inproc.app
    with app.lock, app.store.unit_of_work():
        return getattr(app.hsm, name)(*args)


def active_cluster(inproc: InProcess, **create: Any) -> tuple[str, str, list[dict[str, Any]]]:
    """An ACTIVE one-HSM cluster in the first two default subnets: (cluster id, trust anchor
    PEM, subnets); ``create``: more CreateCluster parameters."""
    ec2, hsm = inproc.client("ec2"), inproc.client("cloudhsmv2")
    subnets = sorted(ec2.describe_subnets()["Subnets"], key=lambda s: s["AvailabilityZone"])[:2]
    cluster_id = hsm.create_cluster(HsmType="hsm1.medium", SubnetIds=[
        s["SubnetId"] for s in subnets], **create)["Cluster"]["ClusterId"]
    _wait(lambda: _cluster(hsm, cluster_id)["State"] == "UNINITIALIZED")
    hsm.create_hsm(ClusterId=cluster_id, AvailabilityZone=subnets[0]["AvailabilityZone"])
    csr = _wait(lambda: _cluster(hsm, cluster_id).get("Certificates", {}).get("ClusterCsr"))
    ca_key, ca_cert = make_ca()
    anchor = ca_cert.public_bytes(serialization.Encoding.PEM).decode()
    hsm.initialize_cluster(ClusterId=cluster_id, TrustAnchor=anchor,
                           SignedCert=sign_csr(csr, ca_key, ca_cert))
    _wait(lambda: _cluster(hsm, cluster_id)["State"] == "INITIALIZED")
    _hsm_call(inproc, "activate", SCOPE, cluster_id, ADMIN_PASSWORD, inproc.app.clock.now())
    _wait(lambda: _cluster(hsm, cluster_id)["State"] == "ACTIVE")
    return cluster_id, anchor, subnets


def build(inproc: InProcess) -> tuple[str, str]:
    """An ACTIVE two-HSM cluster with kmsuser, and a CONNECTED key store: (cluster, store)."""
    hsm, kms = inproc.client("cloudhsmv2"), inproc.client("kms")
    cluster_id, anchor, subnets = active_cluster(inproc)
    now = inproc.app.clock.now()
    admin = _hsm_call(inproc, "login", SCOPE, cluster_id, "admin", ADMIN_PASSWORD, "admin",
                      "cloudhsm-cli", now)
    _hsm_call(inproc, "create_user", admin, "kmsuser", "crypto-user", KMSUSER_PASSWORD)
    _hsm_call(inproc, "logout", admin)
    hsm.create_hsm(ClusterId=cluster_id, AvailabilityZone=subnets[1]["AvailabilityZone"])
    _wait(lambda: _active_hsms(hsm, cluster_id) == 2)
    store_id = kms.create_custom_key_store(
        CustomKeyStoreName="bench", CloudHsmClusterId=cluster_id,
        TrustAnchorCertificate=anchor, KeyStorePassword=KMSUSER_PASSWORD)["CustomKeyStoreId"]
    kms.connect_custom_key_store(CustomKeyStoreId=store_id)
    _wait(lambda: kms.describe_custom_key_stores(CustomKeyStoreId=store_id)[
        "CustomKeyStores"][0]["ConnectionState"] == "CONNECTED")
    return cluster_id, store_id


def _median_ms(fn: Callable[[], Any], samples: int) -> float:
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--keys", type=int, default=1000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp, InProcess(Path(tmp) / "data") as inproc:
        _cluster_id, store_id = build(inproc)
        kms = inproc.client("kms")

        def create() -> str:
            return str(kms.create_key(Origin="AWS_CLOUDHSM", CustomKeyStoreId=store_id)[
                "KeyMetadata"]["KeyId"])

        while len(kms.list_keys(Limit=1000)["Keys"]) < 10:
            create()
        small = _median_ms(create, args.samples)
        for _ in range(args.keys - 10 - args.samples):
            create()
        large = _median_ms(create, args.samples)
        hsm_key = create()
        kms_key = kms.create_key()["KeyMetadata"]["KeyId"]
        hsm_enc = _median_ms(lambda: kms.encrypt(KeyId=hsm_key, Plaintext=b"x" * 64),
                             args.samples * 5)
        kms_enc = _median_ms(lambda: kms.encrypt(KeyId=kms_key, Plaintext=b"x" * 64),
                             args.samples * 5)
    print(f"CreateKey (AWS_CLOUDHSM), ~10 keys:        {small:7.2f} ms")
    print(f"CreateKey (AWS_CLOUDHSM), ~{args.keys} keys:     {large:7.2f} ms")
    print(f"  ratio large/small:                    {large / small:7.2f} (target <= 1.3)")
    print(f"Encrypt, AWS_CLOUDHSM key:              {hsm_enc:7.2f} ms")
    print(f"Encrypt, AWS_KMS key:                   {kms_enc:7.2f} ms")
    print(f"  ratio CloudHSM/AWS_KMS:               {hsm_enc / kms_enc:7.2f} (target <= 1.5)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
