"""``hsmkms serve --demo``: a ready CloudHSM-backed KMS, built the way a user would build it.

Once the server answers, a thread drives it with the same tools a user points at AWS - boto3
for EC2, CloudHSM v2 and KMS, and ``cloudhsm-cli`` for what happens inside the HSMs:

1. a cluster in two default subnets, its first HSM, the CSR signed by a generated CA,
   ``InitializeCluster``, ``cloudhsm-cli cluster activate``;
2. a second HSM in another Availability Zone;
3. the crypto user ``kmsuser``;
4. a CloudHSM key store, connected, and one KMS key in it.

Everything it made is remembered in ``<data-dir>/demo.json`` (mode 0600), so running it again
reuses what exists and only builds what is missing. It then prints the ids, the passwords and
commands to try, including how to break and fix things as in the AWS troubleshooting guide.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import shutil
import string
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config as BotoConfig
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

STATE_FILE = "demo.json"
#: Long enough for the realistic timing profile (HSM creation 7 min, connection 5 min).
WAIT_LIMIT = 3600.0
TELL_AFTER = 5.0
CREDENTIALS = {"aws_access_key_id": "AKIAIOSFODNN7EXAMPLE",
               "aws_secret_access_key": "demo-secret-access-key"}


def _password() -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(16))


def make_ca() -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hsmkms demo CA")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return key, cert


def sign_csr(csr_pem: str, ca_key: rsa.RSAPrivateKey, ca_cert: x509.Certificate) -> str:
    csr = x509.load_pem_x509_csr(csr_pem.encode())
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(csr.subject).issuer_name(ca_cert.subject)
            .public_key(csr.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=3650))
            .sign(ca_key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


class Demo:
    def __init__(self, endpoint: str, data_dir: Path, region: str = "us-east-1",
                 credentials: dict[str, str] | None = None, admin_token: str = "") -> None:
        self.endpoint = endpoint
        self.credentials = credentials or CREDENTIALS
        self.admin_token = admin_token
        self.region = region
        self.path = Path(data_dir) / STATE_FILE
        self.state: dict[str, Any] = json.loads(self.path.read_text()) if self.path.exists() \
            else {}
        cfg = BotoConfig(retries={"max_attempts": 3, "mode": "standard"})
        self.ec2, self.hsm, self.kms = (
            boto3.client(name, region_name=region, endpoint_url=endpoint, config=cfg,
                         **self.credentials) for name in ("ec2", "cloudhsmv2", "kms"))

    def save(self) -> None:
        """Write atomically (a reader never sees a half-written file), mode 0600."""
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(self.state, f, indent=2)
        tmp.replace(self.path)

    def cli(self, *args: str, role: str | None = None, pin: str | None = None) -> Any:
        exe = shutil.which("cloudhsm-cli")
        command = [exe] if exe else [sys.executable, "-m", "hsmkms.cloudhsm_cli.main"]
        env = {**os.environ, "AWS_ENDPOINT_URL": self.endpoint, "AWS_REGION": self.region,
               "CLOUDHSM_CLUSTER_ID": self.state["cluster_id"]}
        if self.admin_token:
            env["HSMKMS_ADMIN_TOKEN"] = self.admin_token
        if role and pin:
            env.update(CLOUDHSM_ROLE=role, CLOUDHSM_PIN=pin)
        done = subprocess.run([*command, *args], env=env, capture_output=True, text=True,  # noqa: S603
                              check=False, timeout=60)
        out = json.loads(done.stdout) if done.stdout.strip().startswith("{") else {}
        if done.returncode != 0 and out.get("error_code") != 0:
            raise RuntimeError(f"cloudhsm-cli {' '.join(args)} failed: {done.stdout}"
                               f"{done.stderr}")
        return out.get("data")

    def wait(self, what: str, check: Any, timeout: float = WAIT_LIMIT) -> Any:
        """Poll until ``check()`` is truthy. With ``HSMKMS_TIMING=realistic`` steps take AWS-like
        minutes (an HSM about 7), so say what we wait for when it takes a while."""
        start = time.monotonic()
        told = False
        while time.monotonic() - start < timeout:
            value = check()
            if value:
                return value
            if not told and time.monotonic() - start > TELL_AFTER:
                print(f"hsmkms demo: waiting for {what}...", flush=True)  # noqa: T201
                told = True
            time.sleep(0.2)
        raise RuntimeError(f"demo: timed out waiting for {what}")

    def cluster(self) -> dict[str, Any] | None:
        if "cluster_id" not in self.state:
            return None
        found = self.hsm.describe_clusters(Filters={"clusterIds": [self.state["cluster_id"]]})
        clusters = [c for c in found["Clusters"] if c["State"] != "DELETED"]
        return clusters[0] if clusters else None

    def cluster_state(self, *states: str) -> Any:
        cluster = self.cluster()
        return cluster if cluster is not None and cluster["State"] in states else None

    def build(self) -> dict[str, Any]:
        self._follow_store()
        self._cluster()
        self._hsms()
        self._kmsuser()
        self._key_store()
        self._key()
        self.save()
        return self.state

    def _follow_store(self) -> None:
        """The guide's repairs point the store at a cluster restored from a backup: from then
        on the demo's cluster is the store's (so a restart reuses it and prints its id)."""
        store_id = self.state.get("store_id")
        if not store_id:
            return
        try:
            [store] = self.kms.describe_custom_key_stores(
                CustomKeyStoreId=store_id)["CustomKeyStores"]
        except self.kms.exceptions.CustomKeyStoreNotFoundException:
            return
        if store["CloudHsmClusterId"] == self.state.get("cluster_id"):
            return
        self.state["cluster_id"] = store["CloudHsmClusterId"]
        cluster = self.cluster()
        if cluster is not None:
            self.state["zones"] = sorted(cluster["SubnetMapping"])[:2]
        self.save()

    def _cluster(self) -> None:
        if self.cluster() is not None:
            return
        subnets = self.ec2.describe_subnets(
            Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
        chosen = sorted(subnets, key=lambda s: s["AvailabilityZone"])[:2]
        created = self.hsm.create_cluster(HsmType="hsm1.medium",
                                          SubnetIds=[s["SubnetId"] for s in chosen])
        self.state = {"cluster_id": created["Cluster"]["ClusterId"],
                      "zones": [s["AvailabilityZone"] for s in chosen],
                      "admin_password": _password(), "kmsuser_password": _password()}
        self.save()
        self.wait("the cluster", lambda: self.cluster_state("UNINITIALIZED"))

    def _hsms(self) -> None:
        cid, zones = self.state["cluster_id"], self.state["zones"]
        cluster = self.cluster()
        assert cluster is not None
        if cluster["State"] == "UNINITIALIZED":
            if not cluster.get("Hsms"):
                self.hsm.create_hsm(ClusterId=cid, AvailabilityZone=zones[0])
            cluster = self.wait("the cluster CSR", lambda: (
                c if (c := self.cluster()) and c.get("Certificates", {}).get("ClusterCsr")
                else None))
            ca_key, ca_cert = make_ca()
            anchor = ca_cert.public_bytes(serialization.Encoding.PEM).decode()
            self.state["trust_anchor"] = anchor
            self.save()
            self.hsm.initialize_cluster(
                ClusterId=cid, TrustAnchor=anchor,
                SignedCert=sign_csr(cluster["Certificates"]["ClusterCsr"], ca_key, ca_cert))
            cluster = self.wait("initialization", lambda: self.cluster_state("INITIALIZED"))
        if cluster["State"] == "INITIALIZED":
            self.cli("cluster", "activate", "--password", self.state["admin_password"])
            self.wait("activation", lambda: self.cluster_state("ACTIVE"))
        cluster = self.cluster()
        assert cluster is not None
        if len([h for h in cluster.get("Hsms", []) if h["State"] != "DELETE_IN_PROGRESS"]) < 2:
            used = {h["AvailabilityZone"] for h in cluster.get("Hsms", [])}
            zone = next(z for z in zones if z not in used)
            self.hsm.create_hsm(ClusterId=cid, AvailabilityZone=zone)
        self.wait("two active HSMs", lambda: (
            c if (c := self.cluster()) and sum(h["State"] == "ACTIVE" for h in c["Hsms"]) >= 2
            else None))

    def _kmsuser(self) -> None:
        users = self.cli("user", "list")["users"]
        if any(u["username"] == "kmsuser" for u in users):
            return
        self.cli("user", "create", "--username", "kmsuser", "--role", "crypto-user",
                 "--password", self.state["kmsuser_password"],
                 role="admin", pin=f"admin:{self.state['admin_password']}")

    def _key_store(self) -> None:
        stores = self.kms.describe_custom_key_stores()["CustomKeyStores"]
        mine = [s for s in stores if s["CustomKeyStoreId"] == self.state.get("store_id")]
        if not mine:
            store_id = self.kms.create_custom_key_store(
                CustomKeyStoreName="hsmkms-demo", CloudHsmClusterId=self.state["cluster_id"],
                TrustAnchorCertificate=self.state["trust_anchor"],
                KeyStorePassword=self.state["kmsuser_password"])["CustomKeyStoreId"]
            self.state["store_id"] = store_id
            self.save()
            mine = self.kms.describe_custom_key_stores(
                CustomKeyStoreId=store_id)["CustomKeyStores"]
        if mine[0]["ConnectionState"] == "FAILED":
            self.kms.disconnect_custom_key_store(CustomKeyStoreId=self.state["store_id"])
            self.wait("disconnection", lambda: self._store_state() == "DISCONNECTED")
        if self._store_state() == "DISCONNECTED":
            self.kms.connect_custom_key_store(CustomKeyStoreId=self.state["store_id"])
        self.wait("the connection", lambda: self._store_state() in ("CONNECTED", "FAILED"))
        if self._store_state() != "CONNECTED":
            store = self.kms.describe_custom_key_stores(
                CustomKeyStoreId=self.state["store_id"])["CustomKeyStores"][0]
            raise RuntimeError(f"demo: the key store failed to connect: {store}")

    def _store_state(self) -> str:
        return str(self.kms.describe_custom_key_stores(
            CustomKeyStoreId=self.state["store_id"])["CustomKeyStores"][0]["ConnectionState"])

    def _key_exists(self, key_id: str) -> bool:
        try:
            self.kms.describe_key(KeyId=key_id)
        except self.kms.exceptions.NotFoundException:
            return False
        return True

    def _key(self) -> None:
        key_id = self.state.get("key_id")
        if key_id and self._key_exists(key_id):
            return
        key = self.kms.create_key(Origin="AWS_CLOUDHSM", CustomKeyStoreId=self.state["store_id"],
                                  Description="hsmkms demo key")["KeyMetadata"]
        self.state["key_id"] = key["KeyId"]


def banner(endpoint: str, s: dict[str, Any], credentials: dict[str, str] | None = None,
           admin_token: str = "") -> str:
    cid, store, key = s["cluster_id"], s["store_id"], s["key_id"]
    akid, secret = ("test", "test") if credentials is None else (
        credentials["aws_access_key_id"], credentials["aws_secret_access_key"])
    auth = "" if credentials is None else f"""
  root credentials (signatures are checked)
    AWS_ACCESS_KEY_ID={akid}
    AWS_SECRET_ACCESS_KEY={secret}
  admin token      {admin_token}  (HSMKMS_ADMIN_TOKEN for cloudhsm-cli and hsmkms fault)
"""
    token = f" HSMKMS_ADMIN_TOKEN={admin_token}" if admin_token else ""
    console_login = "  (log in with the admin token)" if admin_token else ""
    return f"""
hsmkms demo ready at {endpoint}
  web console    {endpoint}/_hsmkms/console{console_login}
  cluster        {cid}  (ACTIVE, HSMs in {', '.join(s['zones'])})
  key store      {store}  (CONNECTED)
  KMS key        {key}
  admin password   {s['admin_password']}
  kmsuser password {s['kmsuser_password']}  (as created; KMS rotated it when it connected)
{auth}
Try it (in another shell):
  export AWS_ENDPOINT_URL={endpoint} AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1 \\
         AWS_ACCESS_KEY_ID={akid} AWS_SECRET_ACCESS_KEY={secret} \\
         CLOUDHSM_CLUSTER_ID={cid}{token}
  aws kms encrypt --key-id {key} --plaintext fileb://<(echo -n hello)
  aws kms describe-custom-key-stores --custom-key-store-id {store}
  cloudhsm-cli user list
  cloudhsm-cli cluster hsm-info

Break and fix it (the AWS guide "Troubleshooting a custom key store"):
  aws kms disconnect-custom-key-store --custom-key-store-id {store}
  aws kms describe-key --key-id {key}          # KeyState: Unavailable
  cloudhsm-cli interactive                      # login --username admin --role admin
      # then: user change-password --username kmsuser --role crypto-user
      #       logout (before logging in as another user, e.g. kmsuser), quit
  aws kms connect-custom-key-store --custom-key-store-id {store}
  aws kms describe-custom-key-stores --custom-key-store-id {store}   # FAILED, INVALID_CREDENTIALS
      # (read ConnectionErrorCode now: it is shown only while the store is FAILED)
  aws kms disconnect-custom-key-store --custom-key-store-id {store}
  aws kms update-custom-key-store --custom-key-store-id {store} --key-store-password <new>
  aws kms connect-custom-key-store --custom-key-store-id {store}    # CONNECTED again
  hsmkms fault add network-errors --cluster-id {cid}   # crypto: KMSInvalidStateException
  hsmkms fault clear
"""


def run_demo(endpoint: str, data_dir: Path, credentials: dict[str, str] | None = None,
             admin_token: str = "") -> dict[str, Any]:
    """Build (or reuse) the demo and print how to use it; ``credentials``: the root key of a
    server in ``verify``/``enforce`` (None: ``off``, where any key works)."""
    state = Demo(endpoint, data_dir, credentials=credentials, admin_token=admin_token).build()
    print(banner(endpoint, state, credentials, admin_token), flush=True)  # noqa: T201 - the demo's output is for people
    return state
