"""``hsmkms doctor`` as a command: usage errors (exit 2), the standard AWS resolution of
endpoint, Region and profile, what it says when there is nothing or nothing reachable, and the
``--json`` document against its documented schema (docs/doctor.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from guide_helpers import Env, build_env, module_env_server

from hsmkms.testing.server import ServerProcess, free_port

HSMKMS = Path(sys.executable).with_name("hsmkms")
STATUSES = {"ok", "fail", "warn", "skip"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = module_env_server(tmp_path_factory)
    try:
        yield srv
    finally:
        srv.kill()


def hermetic(server: ServerProcess | None, tmp: Path, **extra: str) -> dict[str, str]:
    """The test server's environment, without the machine's AWS configuration."""
    base = server.cli_env() if server else {
        k: v for k, v in ServerProcess(tmp).cli_env().items() if k != "AWS_ENDPOINT_URL"}
    env = {**base, "AWS_CONFIG_FILE": str(tmp / "config"),
           "AWS_SHARED_CREDENTIALS_FILE": str(tmp / "credentials")}
    for name in ("AWS_PROFILE", "CLOUDHSM_ROLE", "CLOUDHSM_PIN"):
        env.pop(name, None)
    env.update(extra)
    return {k: v for k, v in env.items() if v != ""}


def doctor(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    exe = [str(HSMKMS)] if HSMKMS.exists() else [sys.executable, "-m", "hsmkms"]
    done = subprocess.run([*exe, "doctor", *args], env=env, capture_output=True, text=True,  # noqa: S603
                          timeout=120, check=False)
    assert "Traceback" not in done.stderr, done.stderr
    return done


def validate(doc: Any) -> None:
    """The documented schema, version 1: exactly these fields, of these types."""
    assert set(doc) == {"schema_version", "healthy", "exit_status", "region", "endpoint_url",
                        "target", "checks"}
    assert doc["schema_version"] == 1
    assert isinstance(doc["healthy"], bool)
    assert doc["exit_status"] == (0 if doc["healthy"] else 1)
    assert isinstance(doc["region"], str)
    assert doc["endpoint_url"] is None or isinstance(doc["endpoint_url"], str)
    assert set(doc["target"]) == {"custom_key_store_id", "key_id"}
    assert all(v is None or isinstance(v, str) for v in doc["target"].values())
    for c in doc["checks"]:
        assert set(c) == {"check", "subject", "status", "summary", "cause", "guide",
                          "evidence", "fix"}
        assert all(isinstance(c[k], str) for k in ("check", "subject", "summary"))
        assert c["status"] in STATUSES
        assert all(c[k] is None or isinstance(c[k], str) for k in ("cause", "guide"))
        assert all(isinstance(x, str) for k in ("evidence", "fix") for x in c[k])
    assert doc["healthy"] == all(c["status"] != "fail" for c in doc["checks"])


# -- usage errors: exit 2 --------------------------------------------------------------------


def test_both_targets_is_a_usage_error(tmp_path: Path) -> None:
    done = doctor(hermetic(None, tmp_path), "--key-id", "k", "--custom-key-store-id", "c")
    assert done.returncode == 2
    assert done.stderr.endswith("hsmkms doctor: error: argument --custom-key-store-id: not "
                                "allowed with argument --key-id\n")
    assert done.stdout == ""


def test_unknown_option_is_a_usage_error(tmp_path: Path) -> None:
    done = doctor(hermetic(None, tmp_path), "--cluster", "x")
    assert done.returncode == 2
    assert "unrecognized arguments: --cluster x" in done.stderr


def test_unknown_profile_is_a_usage_error(tmp_path: Path) -> None:
    done = doctor(hermetic(None, tmp_path), "--profile", "nope")
    assert done.returncode == 2
    assert done.stderr == "hsmkms doctor: The config profile (nope) could not be found\n"


def test_no_region_is_a_usage_error(tmp_path: Path) -> None:
    env = hermetic(None, tmp_path, AWS_DEFAULT_REGION="", AWS_REGION="")
    done = doctor(env)
    assert done.returncode == 2
    assert done.stderr == "hsmkms doctor: You must specify a region.\n"


# -- where it looks --------------------------------------------------------------------------


def test_endpoint_region_and_profile_from_the_aws_configuration(
        server: ServerProcess, tmp_path: Path) -> None:
    """No AWS_ENDPOINT_URL: a profile's endpoint_url and region (the AWS CLI's own config
    file), or --endpoint-url and --region."""
    env = hermetic(None, tmp_path, AWS_DEFAULT_REGION="", AWS_REGION="")  # else they win
    (tmp_path / "config").write_text(
        f"[profile emulator]\nregion = eu-west-1\nendpoint_url = {server.endpoint}\n")
    # A named profile takes its credentials from the files, not the environment.
    (tmp_path / "credentials").write_text(
        "[emulator]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\n"
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n")
    done = doctor(env, "--profile", "emulator", "--json")
    doc = json.loads(done.stdout)
    validate(doc)
    assert (doc["region"], doc["endpoint_url"]) == ("eu-west-1", server.endpoint)
    assert (done.returncode, doc["checks"]) == (0, [])
    done = doctor(env, "--endpoint-url", server.endpoint, "--region", "ap-south-1")
    assert done.returncode == 0
    assert done.stdout == (f"hsmkms doctor: region ap-south-1 at {server.endpoint}\n\n"
                           "no AWS CloudHSM key store in this account and Region: nothing to "
                           "check\n\nall is well\n")


def test_an_unreachable_endpoint_is_said_plainly(tmp_path: Path) -> None:
    env = hermetic(None, tmp_path, AWS_MAX_ATTEMPTS="1")
    endpoint = f"http://127.0.0.1:{free_port()}"
    done = doctor(env, "--endpoint-url", endpoint)
    assert done.returncode == 1
    assert done.stderr == (f'hsmkms doctor: Could not connect to the endpoint URL: '
                           f'"{endpoint}/"\n')


def test_a_key_that_does_not_exist(server: ServerProcess, tmp_path: Path) -> None:
    missing = "1234abcd-12ab-34cd-56ef-1234567890ab"
    done = doctor(hermetic(server, tmp_path), "--key-id", missing, "--json")
    assert done.returncode == 1
    doc = json.loads(done.stdout)
    validate(doc)
    assert doc["target"] == {"custom_key_store_id": None, "key_id": missing}
    [check] = doc["checks"]
    assert (check["check"], check["status"], check["cause"]) == (
        "doctor.target", "fail", "NotFoundException")
    assert check["summary"] == (f"Key 'arn:aws:kms:us-east-1:111122223333:key/{missing}' "
                                "does not exist")


def test_a_store_that_does_not_exist(server: ServerProcess, tmp_path: Path) -> None:
    done = doctor(hermetic(server, tmp_path), "--custom-key-store-id", "cks-0123456789abcdef0")
    assert done.returncode == 1
    assert ("✗ doctor.target custom key store cks-0123456789abcdef0: " in done.stdout)


def test_keys_outside_cloudhsm_key_stores(server: ServerProcess, tmp_path: Path) -> None:
    kms = server.client("kms")
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    env = hermetic(server, tmp_path)
    done = doctor(env, "--key-id", key_id)
    assert done.returncode == 0
    assert f"✓ key.state {key_id}: the key is Enabled" in done.stdout
    kms.disable_key(KeyId=key_id)
    done = doctor(env, "--key-id", key_id)
    # Disabled is a choice, not a fault: a warning with the way back, exit 0.
    assert done.returncode == 0
    assert f"! key.state {key_id}: the key is Disabled" in done.stdout
    assert f"      $ aws kms enable-key --key-id {key_id}\n" in done.stdout


# -- --json ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def env(server: ServerProcess) -> Env:
    return build_env(server)


def test_json_of_a_healthy_and_a_broken_store(env: Env, tmp_path: Path) -> None:
    shell = hermetic(env.server, tmp_path)
    done = doctor(shell, "--custom-key-store-id", env.store_id, "--json")
    doc = json.loads(done.stdout)
    validate(doc)
    assert (done.returncode, doc["healthy"]) == (0, True)
    assert doc["target"] == {"custom_key_store_id": env.store_id, "key_id": None}
    assert [c["check"] for c in doc["checks"]] == [
        "store.crypto", "store.connection", "cluster.state", "cluster.hsms", "cluster.subnets",
        "cluster.security-group", "hsm.kmsuser", "store.trust-anchor", "trail.deletions"]
    env.disconnect()
    try:
        done = doctor(shell, "--custom-key-store-id", env.store_id, "--json", "--no-probe")
        doc = json.loads(done.stdout)
        validate(doc)
        assert (done.returncode, doc["healthy"]) == (1, False)
        [conn] = [c for c in doc["checks"] if c["status"] == "fail"]
        said = conn["evidence"].pop()
        assert said.startswith("CloudTrail: DisconnectCustomKeyStore at 20"), said
        assert said.endswith("Z by AKIAIOSFODNN7EXAMPLE")
        assert conn == {
            "check": "store.connection", "subject": env.store_id, "status": "fail",
            "summary": "the key store is DISCONNECTED: its KMS keys are Unavailable",
            "cause": "DISCONNECTED", "guide": "How to fix unavailable KMS keys",
            "evidence": [(f"aws kms describe-custom-key-stores --custom-key-store-id "
                         f"{env.store_id}: ConnectionState DISCONNECTED")],
            "fix": [f"aws kms connect-custom-key-store --custom-key-store-id {env.store_id}",
                    (f"aws kms describe-custom-key-stores --custom-key-store-id "
                    f"{env.store_id}")]}
    finally:
        env.connect()


def test_hsm_checks_with_a_wrong_password_say_so(env: Env, tmp_path: Path) -> None:
    shell = hermetic(env.server, tmp_path, CLOUDHSM_ROLE="admin",
                     CLOUDHSM_PIN="admin:notThePassword1")
    key_id = env.create_key()
    done = doctor(shell, "--key-id", key_id, "--hsm-checks", "--json")
    doc = json.loads(done.stdout)
    validate(doc)
    # user list needs no login: kmsuser is checked; the backing key is not looked for.
    [kmsuser] = [c for c in doc["checks"] if c["check"] == "hsm.kmsuser"]
    assert kmsuser["status"] == "ok"
    [backing] = [c for c in doc["checks"] if c["check"] == "hsm.backing-key"]
    assert (backing["status"], backing["evidence"]) == ("skip", [
        "cloudhsm-cli key list as admin failed: Incorrect authentication credentials."])
    assert done.returncode == 0


def test_a_reader_that_goes_away_ends_it_quietly(env: Env, tmp_path: Path) -> None:
    """``hsmkms doctor | head -1``: no traceback, killed by SIGPIPE as a C tool would be."""
    exe = str(HSMKMS) if HSMKMS.exists() else f"{sys.executable} -m hsmkms"
    done = subprocess.run(["bash", "-o", "pipefail", "-c",  # noqa: S603,S607 - a user's shell
                           f"{exe} doctor --custom-key-store-id {env.store_id} | head -1"],
                          env=hermetic(env.server, tmp_path), capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.stdout.startswith("hsmkms doctor: region us-east-1 at ")
    assert "Traceback" not in done.stderr
    assert done.returncode in (0, 141)  # 141: SIGPIPE reached it before it finished
