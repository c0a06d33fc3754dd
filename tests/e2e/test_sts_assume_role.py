"""STS AssumeRole and GetCallerIdentity against a real server (``--auth enforce``): trust
policies decide who may assume a role, temporary credentials expire on the server's clock, the
AWS CLI's ``role_arn``/``source_profile`` profiles work unchanged (spec authz.md §3.5, §3.6)."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from botocore.config import Config as BotoConfig

from hsmkms.testing.server import ServerProcess
from tests.conftest import ENFORCE_ACCOUNT as ACCOUNT
from tests.conftest import ENFORCE_OTHER as OTHER
from tests.conftest import ENFORCE_OTHER_ROOT, start_enforce_server
from tests.e2e.iam_helpers import (
    allow,
    document,
    error_of,
    make_user,
    role_arn,
    session_of,
    trust,
    user_arn,
)


@pytest.fixture(scope="module")
def iam(enforce_server: ServerProcess) -> Any:
    return enforce_server.client("iam")


def test_get_caller_identity_per_principal(enforce_server: ServerProcess, iam: Any) -> None:
    root = enforce_server.client("sts").get_caller_identity()
    assert (root["UserId"], root["Account"], root["Arn"]) == (
        ACCOUNT, ACCOUNT, f"arn:aws:iam::{ACCOUNT}:root")
    creds = make_user(iam, "who")
    me = enforce_server.client("sts", credentials=creds).get_caller_identity()
    user_id = iam.get_user(UserName="who")["User"]["UserId"]
    assert (me["UserId"], me["Account"], me["Arn"]) == (user_id, ACCOUNT, user_arn("who"))
    role = iam.create_role(RoleName="Whoami", AssumeRolePolicyDocument=trust(user_arn("who")))
    answer = enforce_server.client("sts", credentials=creds).assume_role(
        RoleArn=role_arn("Whoami"), RoleSessionName="probe")
    session = enforce_server.client("sts", credentials=session_of(answer["Credentials"]))
    found = session.get_caller_identity()
    role_id = role["Role"]["RoleId"]
    assert (found["UserId"], found["Account"], found["Arn"]) == (
        f"{role_id}:probe", ACCOUNT, f"arn:aws:sts::{ACCOUNT}:assumed-role/Whoami/probe")
    assert answer["AssumedRoleUser"] == {
        "AssumedRoleId": f"{role_id}:probe",
        "Arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/Whoami/probe"}
    assert re.fullmatch(r"ASIA[A-Z2-7]{16}", answer["Credentials"]["AccessKeyId"])


def test_trust_policy_naming_the_user_is_enough(enforce_server: ServerProcess, iam: Any) -> None:
    named = make_user(iam, "named")
    other = make_user(iam, "stranger")
    iam.create_role(RoleName="ForNamed", AssumeRolePolicyDocument=trust(user_arn("named")))
    enforce_server.client("sts", credentials=named).assume_role(
        RoleArn=role_arn("ForNamed"), RoleSessionName="ok")
    assert error_of(lambda: enforce_server.client("sts", credentials=other).assume_role(
        RoleArn=role_arn("ForNamed"), RoleSessionName="no")) == (
        403, "AccessDenied", f"User: {user_arn('stranger')} is not authorized to perform: "
        f"sts:AssumeRole on resource: {role_arn('ForNamed')}")
    # a role that does not exist is refused the same way
    assert error_of(lambda: enforce_server.client("sts", credentials=named).assume_role(
        RoleArn=role_arn("Missing"), RoleSessionName="no")) == (
        403, "AccessDenied", f"User: {user_arn('named')} is not authorized to perform: "
        f"sts:AssumeRole on resource: {role_arn('Missing')}")


def test_account_trust_needs_an_identity_policy(enforce_server: ServerProcess,
                                                iam: Any) -> None:
    creds = make_user(iam, "delegated")
    iam.create_role(RoleName="ForAccount", AssumeRolePolicyDocument=trust(ACCOUNT))
    sts = enforce_server.client("sts", credentials=creds)
    assert error_of(lambda: sts.assume_role(RoleArn=role_arn("ForAccount"),
                                            RoleSessionName="s1"))[:2] == (403, "AccessDenied")
    iam.put_user_policy(UserName="delegated", PolicyName="assume",
                        PolicyDocument=allow("sts:AssumeRole", role_arn("ForAccount")))
    sts.assume_role(RoleArn=role_arn("ForAccount"), RoleSessionName="s1")
    iam.put_user_policy(UserName="delegated", PolicyName="deny", PolicyDocument=document(
        {"Effect": "Deny", "Action": "sts:*", "Resource": "*"}))
    assert error_of(lambda: sts.assume_role(RoleArn=role_arn("ForAccount"),
                                            RoleSessionName="s1"))[:2] == (403, "AccessDenied")


def test_external_id_condition(enforce_server: ServerProcess, iam: Any) -> None:
    creds = make_user(iam, "partner")
    iam.create_role(RoleName="WithExternalId", AssumeRolePolicyDocument=trust(
        user_arn("partner"), Condition={"StringEquals": {"sts:ExternalId": "secret-42"}}))
    sts = enforce_server.client("sts", credentials=creds)
    assert error_of(lambda: sts.assume_role(RoleArn=role_arn("WithExternalId"),
                                            RoleSessionName="s1"))[:2] == (403, "AccessDenied")
    assert error_of(lambda: sts.assume_role(RoleArn=role_arn("WithExternalId"),
                                            RoleSessionName="s1", ExternalId="wrong-id"))[:2] \
        == (403, "AccessDenied")
    sts.assume_role(RoleArn=role_arn("WithExternalId"), RoleSessionName="s1",
                    ExternalId="secret-42")


def test_root_may_not_assume_roles(enforce_server: ServerProcess, iam: Any) -> None:
    iam.create_role(RoleName="NotForRoot", AssumeRolePolicyDocument=trust(ACCOUNT))
    assert error_of(lambda: enforce_server.client("sts").assume_role(
        RoleArn=role_arn("NotForRoot"), RoleSessionName="s1")) == (
        403, "AccessDenied", "Roles may not be assumed by root accounts.")


def test_duration_limits(enforce_server: ServerProcess, iam: Any) -> None:
    creds = make_user(iam, "timed")
    iam.create_role(RoleName="Short", AssumeRolePolicyDocument=trust(user_arn("timed")))
    sts = enforce_server.client("sts", credentials=creds)
    assert error_of(lambda: sts.assume_role(RoleArn=role_arn("Short"), RoleSessionName="s1",
                                            DurationSeconds=7200)) == (
        400, "ValidationError",
        "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
    unchecked = enforce_server.client("sts", credentials=creds,
                                      config=BotoConfig(parameter_validation=False))
    assert error_of(lambda: unchecked.assume_role(RoleArn=role_arn("Short"),
                                                  RoleSessionName="s1", DurationSeconds=60)) == (
        400, "ValidationError", "1 validation error detected: Value '60' at 'durationSeconds' "
        "failed to satisfy constraint: Member must have value greater than or equal to 900")
    assert error_of(lambda: unchecked.assume_role(RoleArn=role_arn("Short"),
                                                  RoleSessionName="x")) == (
        400, "ValidationError", "1 validation error detected: Value 'x' at 'roleSessionName' "
        "failed to satisfy constraint: Member must have length greater than or equal to 2")


def test_credentials_expire_on_the_server_clock(enforce_server: ServerProcess,
                                                iam: Any) -> None:
    creds = make_user(iam, "expiring")
    iam.create_role(RoleName="Expiring", AssumeRolePolicyDocument=trust(user_arn("expiring")))
    iam.put_role_policy(RoleName="Expiring", PolicyName="kms", PolicyDocument=allow("kms:*"))
    now = enforce_server.advance(0)
    answer = enforce_server.client("sts", credentials=creds).assume_role(
        RoleArn=role_arn("Expiring"), RoleSessionName="short", DurationSeconds=900)
    expiration = answer["Credentials"]["Expiration"]
    assert abs(expiration.timestamp() - (now + 900)) < 5
    session = session_of(answer["Credentials"])
    kms = enforce_server.client("kms", credentials=session)
    kms.list_keys()
    enforce_server.advance(901)
    assert error_of(kms.list_keys) == (
        400, "ExpiredTokenException", "The security token included in the request is expired")
    assert error_of(enforce_server.client("sts", credentials=session).get_caller_identity) == (
        403, "ExpiredToken", "The security token included in the request is expired")


def test_inactive_and_deleted_keys_do_not_authenticate(enforce_server: ServerProcess,
                                                        iam: Any) -> None:
    creds = make_user(iam, "paused")
    sts = enforce_server.client("sts", credentials=creds)
    sts.get_caller_identity()
    iam.update_access_key(UserName="paused", AccessKeyId=creds["aws_access_key_id"],
                          Status="Inactive")
    assert error_of(sts.get_caller_identity) == (
        403, "InvalidClientTokenId", "The security token included in the request is invalid.")
    assert error_of(enforce_server.client("kms", credentials=creds).list_keys) == (
        400, "UnrecognizedClientException",
        "The security token included in the request is invalid.")
    iam.update_access_key(UserName="paused", AccessKeyId=creds["aws_access_key_id"],
                          Status="Active")
    sts.get_caller_identity()
    iam.delete_access_key(UserName="paused", AccessKeyId=creds["aws_access_key_id"])
    assert error_of(sts.get_caller_identity)[1] == "InvalidClientTokenId"


def test_cross_account_role(enforce_server: ServerProcess, iam: Any) -> None:
    creds = make_user(iam, "visitor")
    other_iam = enforce_server.client("iam", credentials=ENFORCE_OTHER_ROOT)
    other_iam.create_role(RoleName="Guest", AssumeRolePolicyDocument=trust(ACCOUNT))
    sts = enforce_server.client("sts", credentials=creds)
    assert error_of(lambda: sts.assume_role(RoleArn=role_arn("Guest", OTHER),
                                            RoleSessionName="v1"))[:2] == (403, "AccessDenied")
    iam.put_user_policy(UserName="visitor", PolicyName="assume",
                        PolicyDocument=allow("sts:AssumeRole", role_arn("Guest", OTHER)))
    answer = sts.assume_role(RoleArn=role_arn("Guest", OTHER), RoleSessionName="v1")
    found = enforce_server.client("sts", credentials=session_of(answer["Credentials"])
                                  ).get_caller_identity()
    assert (found["Account"], found["Arn"]) == (
        OTHER, f"arn:aws:sts::{OTHER}:assumed-role/Guest/v1")
    # CloudTrail: the caller's account logs the call as its user made it, the role's account
    # as made by the caller's account
    def assume_events(credentials: dict[str, str]) -> list[dict[str, Any]]:
        found = enforce_server.client("cloudtrail", credentials=credentials).lookup_events(
            LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "AssumeRole"}])
        return [e for e in (json.loads(x["CloudTrailEvent"]) for x in found["Events"])
                if e["requestParameters"]["roleArn"] == role_arn("Guest", OTHER)
                and "errorCode" not in e]
    [mine] = assume_events({})
    [theirs] = assume_events(ENFORCE_OTHER_ROOT)
    user_id = iam.get_user(UserName="visitor")["User"]["UserId"]
    assert mine["userIdentity"]["arn"] == user_arn("visitor")
    assert theirs["userIdentity"] == {"type": "AWSAccount", "principalId": user_id,
                                      "accountId": ACCOUNT}
    assert theirs["sharedEventID"] == mine["sharedEventID"]


def test_aws_cli_profile_with_role_arn_and_source_profile(
        enforce_server: ServerProcess, iam: Any, tmp_path: Path) -> None:
    creds = make_user(iam, "cli-source")
    iam.create_role(RoleName="CliRole", AssumeRolePolicyDocument=trust(user_arn("cli-source")))
    iam.put_role_policy(RoleName="CliRole", PolicyName="kms", PolicyDocument=allow("kms:*"))
    key = enforce_server.client("kms").create_key()["KeyMetadata"]["KeyId"]
    (tmp_path / "credentials").write_text(
        f"[src]\naws_access_key_id = {creds['aws_access_key_id']}\n"
        f"aws_secret_access_key = {creds['aws_secret_access_key']}\n")
    (tmp_path / "config").write_text(
        "[profile src]\nregion = us-east-1\n"
        f"[profile viarole]\nregion = us-east-1\nrole_arn = {role_arn('CliRole')}\n"
        "source_profile = src\nrole_session_name = cli-session\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    # HOME: the CLI caches assumed-role credentials under ~/.aws/cli/cache
    env.update({"HOME": str(tmp_path), "AWS_CONFIG_FILE": str(tmp_path / "config"),
                "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
                "AWS_ENDPOINT_URL": enforce_server.endpoint, "AWS_MAX_ATTEMPTS": "1",
                "AWS_PAGER": ""})
    exe = Path(sys.executable).with_name("aws")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(exe), *args], env=env, capture_output=True, text=True,  # noqa: S603
                              timeout=60, check=False)

    who = run("--profile", "viarole", "sts", "get-caller-identity")
    assert who.returncode == 0, who.stderr
    assert json.loads(who.stdout)["Arn"] == \
        f"arn:aws:sts::{ACCOUNT}:assumed-role/CliRole/cli-session"
    encrypted = run("--profile", "viarole", "kms", "encrypt", "--key-id", key,
                    "--plaintext", "aGVsbG8=", "--query", "KeyId", "--output", "text")
    assert encrypted.returncode == 0, encrypted.stderr
    assert encrypted.stdout.strip().endswith(key)
    direct = run("--profile", "src", "kms", "encrypt", "--key-id", key, "--plaintext",
                 "aGVsbG8=")
    assert direct.returncode == 255
    assert (f"User: {user_arn('cli-source')} is not authorized to perform: kms:Encrypt"
            in direct.stderr)


def test_expiration_is_iso_utc(enforce_server: ServerProcess, iam: Any) -> None:
    creds = make_user(iam, "isotime")
    iam.create_role(RoleName="Iso", AssumeRolePolicyDocument=trust(user_arn("isotime")))
    answer = enforce_server.client("sts", credentials=creds).assume_role(
        RoleArn=role_arn("Iso"), RoleSessionName="s1")
    assert answer["Credentials"]["Expiration"].tzinfo is not None
    assert answer["Credentials"]["Expiration"].utcoffset() == dt.timedelta(0)


def test_keys_and_sessions_survive_a_restart(tmp_path: Path) -> None:
    server = start_enforce_server(tmp_path / "hsmkms-data")
    try:
        iam = server.client("iam")
        creds = make_user(iam, "durable")
        iam.create_role(RoleName="Durable", AssumeRolePolicyDocument=trust(user_arn("durable")))
        answer = server.client("sts", credentials=creds).assume_role(
            RoleArn=role_arn("Durable"), RoleSessionName="kept", DurationSeconds=900)
        short = server.client("sts", credentials=creds).assume_role(
            RoleArn=role_arn("Durable"), RoleSessionName="gone", DurationSeconds=900)
        server.restart()
        assert server.client("sts", credentials=creds).get_caller_identity()["Arn"] == \
            user_arn("durable")
        session = server.client("sts", credentials=session_of(answer["Credentials"]))
        assert session.get_caller_identity()["Arn"].endswith("assumed-role/Durable/kept")
        server.advance(901)
        server.restart()
        assert error_of(server.client("sts", credentials=session_of(
            short["Credentials"])).get_caller_identity) == (
            403, "InvalidClientTokenId", "The security token included in the request is invalid.")
    finally:
        server.kill()
