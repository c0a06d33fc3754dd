"""``cloudhsm-cli`` end to end: a real server, clusters built with boto3, the real console script.

Covers every command in single-command and interactive mode, the documented errors, lockout and
unlock, inconsistency across HSMs, PKCS #11 session exhaustion, idle timeout, persistence across
a restart, and the contents of a cluster restored from a backup.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from typing import Any

import pexpect
import pytest
from cryptography.hazmat.primitives import serialization

from hsmkms.demo import make_ca, sign_csr
from hsmkms.testing.server import ServerProcess

ADMIN_PW = "adminpass1"
PROMPT = "aws-cloudhsm > "


# -- helpers ------------------------------------------------------------------------------------


def wait(check: Any, what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def describe(hsm: Any, cid: str) -> dict[str, Any]:
    return hsm.describe_clusters(Filters={"clusterIds": [cid]})["Clusters"][0]  # type: ignore[no-any-return]


def new_cluster(server: ServerProcess, n_hsms: int = 1, *, activate: bool = True) -> str:
    """An ACTIVE (or only INITIALIZED) cluster with ``n_hsms`` ACTIVE HSMs, built with boto3."""
    ec2, hsm = server.client("ec2"), server.client("cloudhsmv2")
    subnets = sorted(ec2.describe_subnets(Filters=[{"Name": "default-for-az",
                                                    "Values": ["true"]}])["Subnets"],
                     key=lambda s: s["AvailabilityZone"])[:max(2, n_hsms)]
    cid = hsm.create_cluster(HsmType="hsm1.medium",
                             SubnetIds=[s["SubnetId"] for s in subnets])["Cluster"]["ClusterId"]
    wait(lambda: describe(hsm, cid)["State"] == "UNINITIALIZED", "UNINITIALIZED")
    hsm.create_hsm(ClusterId=cid, AvailabilityZone=subnets[0]["AvailabilityZone"])
    csr = wait(lambda: describe(hsm, cid).get("Certificates", {}).get("ClusterCsr"), "CSR")
    ca_key, ca_cert = make_ca()
    hsm.initialize_cluster(ClusterId=cid, SignedCert=sign_csr(csr, ca_key, ca_cert),
                           TrustAnchor=ca_cert.public_bytes(serialization.Encoding.PEM).decode())
    wait(lambda: describe(hsm, cid)["State"] == "INITIALIZED", "INITIALIZED")
    if not activate:
        return cid
    out = cli(server, cid, "cluster", "activate", "--password", ADMIN_PW)
    assert out == {"error_code": 0, "data": "Cluster activation successful"}
    wait(lambda: describe(hsm, cid)["State"] == "ACTIVE", "ACTIVE")
    for sub in subnets[1:n_hsms]:
        hsm.create_hsm(ClusterId=cid, AvailabilityZone=sub["AvailabilityZone"])
    wait(lambda: sum(h["State"] == "ACTIVE" for h in describe(hsm, cid)["Hsms"]) == n_hsms,
         f"{n_hsms} active HSMs")
    return cid


def command() -> list[str]:
    exe = shutil.which("cloudhsm-cli")
    return [exe] if exe else [sys.executable, "-m", "hsmkms.cloudhsm_cli.main"]


def env_for(server: ServerProcess, cid: str, role: str | None = None,
            pin: str | None = None) -> dict[str, str]:
    env = {**server.cli_env(), "CLOUDHSM_CLUSTER_ID": cid}
    env.pop("CLOUDHSM_ROLE", None)
    env.pop("CLOUDHSM_PIN", None)
    if role and pin:
        env.update(CLOUDHSM_ROLE=role, CLOUDHSM_PIN=pin)
    return env


def run(server: ServerProcess, cid: str, *args: str, role: str | None = None,
        pin: str | None = None, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*command(), *args], env=env_for(server, cid, role, pin),  # noqa: S603
                          capture_output=True, text=True, timeout=60, input=stdin, check=False)


def cli(server: ServerProcess, cid: str, *args: str, role: str | None = None,
        pin: str | None = None, stdin: str | None = None) -> Any:
    done = run(server, cid, *args, role=role, pin=pin, stdin=stdin)
    doc = json.loads(done.stdout)
    assert done.returncode == (0 if doc["error_code"] == 0 else 1), done
    return doc


def as_admin(server: ServerProcess, cid: str, *args: str) -> Any:
    return cli(server, cid, *args, role="admin", pin=f"admin:{ADMIN_PW}")


def as_cu(server: ServerProcess, cid: str, user: str, pw: str, *args: str) -> Any:
    return cli(server, cid, *args, role="crypto-user", pin=f"{user}:{pw}")


def interactive(server: ServerProcess, cid: str, lines: list[str]) -> list[Any]:
    """Run an interactive session fed from stdin; returns each command's output, in order."""
    done = subprocess.run([*command(), "interactive"], env=env_for(server, cid),  # noqa: S603
                          input="\n".join(lines) + "\n", capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done
    chunks = [c.strip() for c in done.stdout.split(PROMPT)[1:]]
    return [json.loads(c) if c.startswith("{") else c for c in chunks if c]


class Session:
    """An interactive ``cloudhsm-cli`` on a pseudo-terminal (passwords read with getpass)."""

    def __init__(self, server: ServerProcess, cid: str) -> None:
        exe, *rest = command()
        self.p = pexpect.spawn(exe, [*rest, "interactive"], env=env_for(server, cid),
                               encoding="utf-8", timeout=30)
        self.p.expect_exact(PROMPT)

    def run(self, line: str, *passwords: str) -> Any:
        self.p.sendline(line)
        for pw in passwords:
            self.p.expect("password:")
            self.p.sendline(pw)
        self.p.expect_exact(PROMPT)
        text = self.p.before
        return json.loads(text[text.index("{"):])

    def login(self, user: str, role: str, pw: str) -> Any:
        return self.run(f"login --username {user} --role {role}", pw)

    def quit(self) -> None:
        self.p.sendline("quit")
        self.p.expect(pexpect.EOF)
        self.p.close()
        assert self.p.exitstatus == 0


def failure(message: str) -> dict[str, Any]:
    return {"error_code": 1, "data": message}


def user_row(server: ServerProcess, cid: str, name: str) -> dict[str, Any]:
    users = cli(server, cid, "user", "list")["data"]["users"]
    return next(u for u in users if u["username"] == name)  # type: ignore[no-any-return]


@pytest.fixture
def server(hsmkms_server: ServerProcess) -> ServerProcess:
    return hsmkms_server


# -- activation, users ----------------------------------------------------------------------------


def test_activate_and_user_lifecycle(server: ServerProcess) -> None:
    cid = new_cluster(server, activate=False)
    users = cli(server, cid, "user", "list")
    assert users == {"error_code": 0, "data": {"users": [
        {"username": "admin", "role": "unactivated-admin", "locked": "false", "mfa": [],
         "cluster-coverage": "full"},
        {"username": "app_user", "role": "internal(APPLIANCE_USER)", "locked": "false",
         "mfa": [], "cluster-coverage": "full"}]}}
    # activation prompts twice when --password is omitted (stdin is not a tty here)
    assert cli(server, cid, "cluster", "activate", stdin="adminpass1\nmismatch1\n") == failure(
        "Passwords do not match.")
    assert cli(server, cid, "cluster", "activate", stdin=f"{ADMIN_PW}\n{ADMIN_PW}\n") == {
        "error_code": 0, "data": "Cluster activation successful"}
    assert cli(server, cid, "cluster", "activate", "--password", ADMIN_PW) == failure(
        "The cluster is already activated.")
    wait(lambda: describe(server.client("cloudhsmv2"), cid)["State"] == "ACTIVE", "ACTIVE")
    assert user_row(server, cid, "admin")["role"] == "admin"

    created = as_admin(server, cid, "user", "create", "--username", "Alice", "--role",
                       "crypto-user", "--password", "alicepw1")
    assert created == {"error_code": 0, "data": {"username": "alice", "role": "crypto-user"}}
    assert as_admin(server, cid, "user", "create", "--username", "alice", "--role",
                    "crypto-user", "--password", "alicepw1") == failure("User already exists.")
    assert user_row(server, cid, "alice") == {"username": "alice", "role": "crypto-user",
                                              "locked": "false", "mfa": [],
                                              "cluster-coverage": "full"}
    # a crypto user may change only their own password, and may not manage users
    assert as_cu(server, cid, "alice", "alicepw1", "user", "change-password", "--username",
                 "alice", "--role", "crypto-user", "--password", "alicepw2") == {
        "error_code": 0, "data": {"username": "alice", "role": "crypto-user"}}
    assert as_cu(server, cid, "alice", "alicepw2", "user", "create", "--username", "eve",
                 "--role", "crypto-user", "--password", "evepass1") == failure(
        "Only an admin can manage users.")
    assert as_cu(server, cid, "alice", "alicepw2", "user", "change-password", "--username",
                 "admin", "--role", "admin", "--password", "hijacked1") == failure(
        "A crypto user can change only their own password.")
    # bad input
    assert as_admin(server, cid, "user", "create", "--username", "bad-name", "--role",
                    "crypto-user", "--password", "whatever1")["error_code"] == 1
    assert as_admin(server, cid, "user", "create", "--username", "bob", "--role",
                    "crypto-user", "--password", "a:b:c:d:e") == failure(
        "Invalid password: a password is 7 to 32 characters and cannot contain ':'.")
    for control in ("tab\tpass1", "ctrl\x01pass1"):
        assert as_admin(server, cid, "user", "create", "--username", "bob", "--role",
                        "crypto-user", "--password", control) == failure(
            "Invalid password: a password can contain only printable characters.")
    assert "bob" not in [u["username"] for u in cli(server, cid, "user", "list")["data"][
        "users"]]
    assert as_admin(server, cid, "user", "delete", "--username", "nobody", "--role",
                    "crypto-user") == failure("User does not exist.")
    assert as_admin(server, cid, "user", "delete", "--username", "alice", "--role",
                    "crypto-user") == {"error_code": 0,
                                       "data": {"username": "alice", "role": "crypto-user"}}
    assert [u["username"] for u in cli(server, cid, "user", "list")["data"]["users"]] == [
        "admin", "app_user"]


def test_login_errors_and_not_logged_in(server: ServerProcess) -> None:
    cid = new_cluster(server)
    assert cli(server, cid, "login", "--username", "admin", "--role", "admin", "--password",
               ADMIN_PW) == {"error_code": 0, "data": {"username": "admin", "role": "admin"}}
    assert cli(server, cid, "login", "--username", "nobody", "--role", "crypto-user",
               "--password", "whatever1") == failure("User does not exist.")
    assert cli(server, cid, "login", "--username", "admin", "--role", "admin", "--password",
               "wrongpass") == failure("Incorrect authentication credentials.")
    assert cli(server, cid, "user", "create", "--username", "bob", "--role", "crypto-user",
               "--password", "bobpass1") == failure(
        "You must be logged in to perform this operation.")
    assert cli(server, cid, "logout") == failure(
        "You must be logged in to perform this operation.")
    # with CLOUDHSM_ROLE/CLOUDHSM_PIN, logout logs in from the environment, then out
    assert cli(server, cid, "logout", role="admin", pin=f"admin:{ADMIN_PW}") == {
        "error_code": 0, "data": "Logout successful"}
    assert cli(server, cid, "logout", role="admin", pin="admin:wrongpass") == failure(
        "Incorrect authentication credentials.")
    # wrong credentials in CLOUDHSM_PIN: the command is not run
    assert cli(server, cid, "key", "list", role="admin", pin="admin:wrongpass") == failure(
        "Incorrect authentication credentials.")
    assert cli(server, cid, "key", "list", role="admin", pin="adminnocolon") == failure(
        "CLOUDHSM_PIN must be <username>:<password>.")
    assert cli(server, "cluster-doesnotexist1", "user", "list") == failure(
        "Cluster cluster-doesnotexist1 not found.")
    # the cluster from --cluster-id, the server from --endpoint-url when the environment has none
    env = {k: v for k, v in server.cli_env().items()
           if k not in ("CLOUDHSM_CLUSTER_ID", "AWS_ENDPOINT_URL", "CLOUDHSM_ROLE",
                        "CLOUDHSM_PIN")}
    bare = [*command(), "cluster", "hsm-info"]
    done = subprocess.run(bare, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    assert (done.returncode, json.loads(done.stdout)) == (1, failure(
        "No hsmkms endpoint: set AWS_ENDPOINT_URL or pass --endpoint-url."))
    done = subprocess.run([*bare, "--endpoint-url", server.endpoint], env=env,  # noqa: S603
                          capture_output=True, text=True, check=False)
    assert (done.returncode, json.loads(done.stdout)) == (1, failure(
        "No cluster selected: pass --cluster-id or set CLOUDHSM_CLUSTER_ID."))
    done = subprocess.run([*bare, "--endpoint-url", server.endpoint, "--cluster-id", cid],  # noqa: S603
                          env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0
    assert len(json.loads(done.stdout)["data"]["hsms"]) == 1
    # usage errors exit 2, as clap's, with nothing on stdout
    done = run(server, cid, "user", "create", "--username", "x")
    assert done.returncode == 2
    assert "--role" in done.stderr
    assert done.stdout == ""


def test_cluster_hsm_info(server: ServerProcess) -> None:
    cid = new_cluster(server, 2)
    info = cli(server, cid, "cluster", "hsm-info")["data"]["hsms"]
    assert len(info) == 2
    assert info[0]["vendor"] == "Marvell Semiconductors, Inc."
    assert info[0]["model"] == "NITROX-III CNN35XX-NFBE"
    assert info[0]["fips-state"] == "2 [FIPS mode with single factor authentication]"
    assert set(info[0]) == {"vendor", "model", "serial-number", "hardware-version-major",
                            "hardware-version-minor", "firmware-version-major",
                            "firmware-version-minor", "firmware-build-number", "firmware-id",
                            "fips-state"}
    assert all(isinstance(v, str) for v in info[0].values())
    assert info[0]["serial-number"] != info[1]["serial-number"]


# -- robustness of the server side ---------------------------------------------------------------


def post(server: ServerProcess, path: str, body: bytes) -> tuple[int, Any]:
    import urllib.error  # noqa: PLC0415
    import urllib.request  # noqa: PLC0415

    req = urllib.request.Request(f"{server.endpoint}/_hsmkms/cloudhsm-cli/{path}",  # noqa: S310
                                 data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 - loopback
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_bad_requests_get_envelopes_and_change_nothing(server: ServerProcess) -> None:
    cid = new_cluster(server)
    assert post(server, "no-such-command", b"{}") == (404, failure(
        "Unknown command 'no-such-command'."))
    assert post(server, "user-list", b"not json") == (400, failure(
        "The request body must be a JSON object."))
    assert post(server, "user-list", b"[1, 2]") == (400, failure(
        "The request body must be a JSON object."))
    assert post(server, "user-list", json.dumps({"cluster_id": cid, "args": "x"}).encode()) \
        == (200, failure("args must be an object."))
    token = server.admin("POST", "cloudhsm-cli/login", {
        "cluster_id": cid, "args": {"username": "admin", "role": "admin",
                                    "password": ADMIN_PW}})["token"]
    weird: list[tuple[str, dict[str, Any], str]] = [
        ("user-create", {"username": 7, "role": "crypto-user", "password": "whatever1"},
         "Invalid value for --username: expected text."),
        ("user-create", {"username": "x" * 40, "role": "crypto-user", "password": "whatever1"},
         ("Invalid username: a username is 1 to 31 characters, letters, digits and "
          "underscores only.")),
        ("user-create", {"username": "x", "role": "boss", "password": "whatever1"},
         "Invalid role 'boss': use admin or crypto-user."),
        ("user-create", {"username": "x", "role": "crypto-user"},
         "Missing argument --password."),
        ("key-list", {"filter": "attr.label=x"},
         "--filter takes a list of values."),
        ("key-list", {"max_items": "many"}, "Invalid value for --max-items: many"),
        ("key-list", {"max_items": float("inf")}, "Invalid value for --max-items: inf"),
        ("key-list", {"max_items": 0},
         "Invalid pagination: max-items must be positive."),
        ("key-list", {"starting_token": "-1"},
         "Invalid value for --starting-token: -1. Use the next_token of an earlier answer."),
        ("key-list", {"starting_token": "ten"}, "Invalid value for --starting-token: ten"),
        ("key-generate-symmetric-aes", {"label": "x", "key_length_bytes": 10**12},
         "Invalid key-length-bytes: AES keys are 16, 24 or 32 bytes long."),
        ("key-generate-symmetric-aes", {"label": "x", "key_length_bytes": 16,
                                        "attributes": [1]},
         "--attributes takes a list of values."),
    ]
    for op, args, message in weird:
        answer = server.admin("POST", f"cloudhsm-cli/{op}",
                              {"cluster_id": cid, "token": token, "args": args})
        assert answer == failure(message), (op, args)
    assert [u["username"] for u in cli(server, cid, "user", "list")["data"]["users"]] == [
        "admin", "app_user"]
    assert server.admin("GET", "health")["status"] == "ok"


def test_sigterm_ends_an_interactive_session(server: ServerProcess) -> None:
    import signal  # noqa: PLC0415

    cid = new_cluster(server)
    as_admin(server, cid, "user", "create", "--username", "kmsuser", "--role", "crypto-user",
             "--password", "kmspass1")
    proc = subprocess.Popen([*command(), "interactive"], env=env_for(server, cid),  # noqa: S603
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdin is not None
    assert proc.stdout is not None
    proc.stdin.write("login --username kmsuser --role crypto-user --password kmspass1\n")
    proc.stdin.flush()
    lines = [proc.stdout.readline()]
    while lines[-1].rstrip("\n") != "}":
        lines.append(proc.stdout.readline())
    assert json.loads("".join(lines).split(PROMPT)[-1])["error_code"] == 0
    assert as_admin(server, cid, "user", "delete", "--username", "kmsuser", "--role",
                    "crypto-user") == failure("User is currently logged in.")
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=10)
    proc.stdout.close()
    proc.stdin.close()
    assert as_admin(server, cid, "user", "delete", "--username", "kmsuser", "--role",
                    "crypto-user")["error_code"] == 0


def test_without_a_region_in_the_environment_the_server_uses_its_own(tmp_path: Any) -> None:
    server = ServerProcess(tmp_path / "data", env={"HSMKMS_REGION": "eu-west-1"}).start()
    try:
        ec2 = server.client("ec2", region="eu-west-1")
        subnets = [s["SubnetId"] for s in ec2.describe_subnets(Filters=[
            {"Name": "default-for-az", "Values": ["true"]}])["Subnets"]][:2]
        cid = server.client("cloudhsmv2", region="eu-west-1").create_cluster(
            HsmType="hsm1.medium", SubnetIds=subnets)["Cluster"]["ClusterId"]
        env = {k: v for k, v in env_for(server, cid).items()
               if k not in ("AWS_REGION", "AWS_DEFAULT_REGION")}
        done = subprocess.run([*command(), "user", "list"], env=env,  # noqa: S603
                              capture_output=True, text=True, timeout=60, check=False)
        # found in eu-west-1 (it has no HSM yet); us-east-1 would not know the cluster
        assert json.loads(done.stdout) == failure("The cluster has no active HSM.")
        done = subprocess.run([*command(), "user", "list"],  # noqa: S603
                              env={**env, "AWS_REGION": "us-east-1"}, capture_output=True,
                              text=True, timeout=60, check=False)
        assert json.loads(done.stdout) == failure(f"Cluster {cid} not found.")
    finally:
        server.kill()
