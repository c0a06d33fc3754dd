"""The IAM subset over the query protocol against a real server (``--auth enforce``), through
boto3 and the AWS CLI: users, access keys, roles, inline and managed policies, with IAM's error
codes, statuses and messages (spec authz.md §3.1-3.4)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import botocore.exceptions
import pytest
from botocore.config import Config as BotoConfig

from hsmkms.testing.server import ServerProcess
from tests.conftest import ENFORCE_ACCOUNT as ACCOUNT

ALLOW_ALL = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]})


def trust(*principals: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": list(principals)},
         "Action": "sts:AssumeRole"}]})


def error_of(call: Callable[[], Any]) -> tuple[int, str, str]:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call()
    response = caught.value.response
    return (response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"],
            response["Error"]["Message"])


@pytest.fixture(scope="module")
def iam(enforce_server: ServerProcess) -> Any:
    return enforce_server.client("iam")


def test_users_create_get_list_delete(iam: Any) -> None:
    made = iam.create_user(UserName="Alice", Path="/team/")["User"]
    assert made["UserName"] == "Alice" and made["Path"] == "/team/"
    assert made["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/team/Alice"
    assert re.fullmatch(r"AIDA[A-Z2-7]{17}", made["UserId"])
    assert iam.get_user(UserName="Alice")["User"] == made
    assert [u["UserName"] for u in iam.list_users(PathPrefix="/team/")["Users"]] == ["Alice"]
    # names are unique without regard to case
    assert error_of(lambda: iam.create_user(UserName="alice")) == (
        409, "EntityAlreadyExists", "User with name alice already exists.")
    iam.delete_user(UserName="Alice")
    assert error_of(lambda: iam.get_user(UserName="Alice")) == (
        404, "NoSuchEntity", "The user with name Alice cannot be found.")
    assert error_of(lambda: iam.delete_user(UserName="Alice")) == (
        404, "NoSuchEntity", "The user with name Alice cannot be found.")


def test_bad_user_names_are_refused(iam: Any) -> None:
    assert error_of(lambda: iam.create_user(UserName="bad name")) == (
        400, "ValidationError", "1 validation error detected: Value 'bad name' at 'userName' "
        "failed to satisfy constraint: Member must satisfy regular expression pattern: "
        "[\\w+=,.@-]+")
    assert error_of(lambda: iam.create_user(UserName="u", Path="nopath")) == (
        400, "ValidationError", "The specified value for path is invalid. It must begin and "
        "end with / and contain only alphanumeric characters and/or / characters.")
    assert "bad name" not in [u["UserName"] for u in iam.list_users()["Users"]]


def test_root_get_user_without_a_name(iam: Any) -> None:
    user = iam.get_user()["User"]
    assert user["UserId"] == ACCOUNT and user["Arn"] == f"arn:aws:iam::{ACCOUNT}:root"


def test_access_keys_lifecycle_and_quota(iam: Any) -> None:
    iam.create_user(UserName="keyed")
    first = iam.create_access_key(UserName="keyed")["AccessKey"]
    assert re.fullmatch(r"AKIA[A-Z2-7]{16}", first["AccessKeyId"])
    assert len(first["SecretAccessKey"]) == 40 and first["Status"] == "Active"
    second = iam.create_access_key(UserName="keyed")["AccessKey"]
    assert error_of(lambda: iam.create_access_key(UserName="keyed")) == (
        409, "LimitExceeded", "Cannot exceed quota for AccessKeysPerUser: 2")
    listed = iam.list_access_keys(UserName="keyed")["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in listed] == [first["AccessKeyId"], second["AccessKeyId"]]
    assert all("SecretAccessKey" not in k for k in listed)
    iam.update_access_key(UserName="keyed", AccessKeyId=first["AccessKeyId"], Status="Inactive")
    assert [k["Status"] for k in iam.list_access_keys(UserName="keyed")[
        "AccessKeyMetadata"]] == ["Inactive", "Active"]
    assert error_of(lambda: iam.delete_user(UserName="keyed")) == (
        409, "DeleteConflict", "Cannot delete entity, must delete access keys first.")
    assert error_of(lambda: iam.delete_access_key(UserName="keyed",
                                                  AccessKeyId="AKIAEXAMPLEEXAMPLE12")) == (
        404, "NoSuchEntity", "The Access Key with id AKIAEXAMPLEEXAMPLE12 cannot be found.")
    for key in (first, second):
        iam.delete_access_key(UserName="keyed", AccessKeyId=key["AccessKeyId"])
    iam.delete_user(UserName="keyed")


def test_secrets_are_not_stored_in_clear(iam: Any, enforce_server: ServerProcess) -> None:
    iam.create_user(UserName="sealed")
    secret = iam.create_access_key(UserName="sealed")["AccessKey"]["SecretAccessKey"]
    files = [p for p in enforce_server.data_dir.rglob("*") if p.is_file()]
    assert files and all(secret.encode() not in p.read_bytes() for p in files)


def test_roles_and_trust_policies(iam: Any) -> None:
    role = iam.create_role(RoleName="Reader", AssumeRolePolicyDocument=trust(ACCOUNT),
                           Description="reads", MaxSessionDuration=7200)["Role"]
    assert role["Arn"] == f"arn:aws:iam::{ACCOUNT}:role/Reader"
    assert re.fullmatch(r"AROA[A-Z2-7]{17}", role["RoleId"])
    assert role["AssumeRolePolicyDocument"] == json.loads(trust(ACCOUNT))  # decoded by boto3
    got = iam.get_role(RoleName="Reader")["Role"]
    assert (got["MaxSessionDuration"], got["Description"]) == (7200, "reads")
    assert "Reader" in [r["RoleName"] for r in iam.list_roles()["Roles"]]
    assert error_of(lambda: iam.create_role(RoleName="reader",
                                            AssumeRolePolicyDocument=trust(ACCOUNT))) == (
        409, "EntityAlreadyExists", "Role with name reader already exists.")
    iam.update_assume_role_policy(RoleName="Reader",
                                  PolicyDocument=trust(f"arn:aws:iam::{ACCOUNT}:root"))
    assert iam.get_role(RoleName="Reader")["Role"]["AssumeRolePolicyDocument"][
        "Statement"][0]["Principal"] == {"AWS": [f"arn:aws:iam::{ACCOUNT}:root"]}
    iam.delete_role(RoleName="Reader")
    assert error_of(lambda: iam.get_role(RoleName="Reader")) == (
        404, "NoSuchEntity", "The role with name Reader cannot be found.")


def test_malformed_trust_and_session_limits(iam: Any, enforce_server: ServerProcess) -> None:
    assert error_of(lambda: iam.create_role(RoleName="Broken",
                                            AssumeRolePolicyDocument="{not json")) == (
        400, "MalformedPolicyDocument", "Syntax errors in policy.")
    with_resource = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole",
         "Resource": "*"}]})
    assert error_of(lambda: iam.create_role(RoleName="Broken",
                                            AssumeRolePolicyDocument=with_resource)) == (
        400, "MalformedPolicyDocument", "Has prohibited field Resource")
    unchecked = enforce_server.client("iam", config=BotoConfig(parameter_validation=False))
    assert error_of(lambda: unchecked.create_role(RoleName="Broken", MaxSessionDuration=60,
                                            AssumeRolePolicyDocument=trust(ACCOUNT))) == (
        400, "ValidationError", "1 validation error detected: Value '60' at "
        "'maxSessionDuration' failed to satisfy constraint: Member must have value greater "
        "than or equal to 3600")
    assert error_of(lambda: iam.get_role(RoleName="Broken"))[1] == "NoSuchEntity"


def test_inline_policies_of_users_and_roles(iam: Any) -> None:
    iam.create_user(UserName="inl")
    iam.put_user_policy(UserName="inl", PolicyName="kms", PolicyDocument=ALLOW_ALL)
    got = iam.get_user_policy(UserName="inl", PolicyName="kms")
    assert (got["UserName"], got["PolicyName"], got["PolicyDocument"]) == (
        "inl", "kms", json.loads(ALLOW_ALL))
    assert iam.list_user_policies(UserName="inl")["PolicyNames"] == ["kms"]
    assert error_of(lambda: iam.delete_user(UserName="inl")) == (
        409, "DeleteConflict", "Cannot delete entity, must delete policies first.")
    assert error_of(lambda: iam.get_user_policy(UserName="inl", PolicyName="nope")) == (
        404, "NoSuchEntity", "The user policy with name nope cannot be found.")
    with_principal = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"}]})
    assert error_of(lambda: iam.put_user_policy(UserName="inl", PolicyName="p",
                                                PolicyDocument=with_principal)) == (
        400, "MalformedPolicyDocument", "Policy document should not specify a principal.")
    big = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": f"kms:Action{n:04d}", "Resource": "*"}
        for n in range(60)]})
    assert error_of(lambda: iam.put_user_policy(UserName="inl", PolicyName="big",
                                                PolicyDocument=big)) == (
        409, "LimitExceeded", "Maximum policy size of 2048 bytes exceeded for user inl")
    iam.delete_user_policy(UserName="inl", PolicyName="kms")
    assert iam.list_user_policies(UserName="inl")["PolicyNames"] == []
    iam.delete_user(UserName="inl")

    iam.create_role(RoleName="inlrole", AssumeRolePolicyDocument=trust(ACCOUNT))
    iam.put_role_policy(RoleName="inlrole", PolicyName="kms", PolicyDocument=ALLOW_ALL)
    assert iam.get_role_policy(RoleName="inlrole", PolicyName="kms")["PolicyDocument"] == \
        json.loads(ALLOW_ALL)
    assert iam.list_role_policies(RoleName="inlrole")["PolicyNames"] == ["kms"]
    assert error_of(lambda: iam.delete_role(RoleName="inlrole")) == (
        409, "DeleteConflict", "Cannot delete entity, must delete policies first.")
    iam.delete_role_policy(RoleName="inlrole", PolicyName="kms")
    assert error_of(lambda: iam.delete_role_policy(RoleName="inlrole", PolicyName="kms")) == (
        404, "NoSuchEntity", "The role policy with name kms cannot be found.")
    iam.delete_role(RoleName="inlrole")


def test_managed_policies_attach_and_detach(iam: Any) -> None:
    made = iam.create_policy(PolicyName="KmsAll", Path="/app/", PolicyDocument=ALLOW_ALL,
                             Description="all of KMS")["Policy"]
    arn = f"arn:aws:iam::{ACCOUNT}:policy/app/KmsAll"
    assert made["Arn"] == arn and made["DefaultVersionId"] == "v1"
    assert re.fullmatch(r"ANPA[A-Z2-7]{17}", made["PolicyId"])
    assert error_of(lambda: iam.create_policy(PolicyName="KmsAll", PolicyDocument=ALLOW_ALL)) \
        == (409, "EntityAlreadyExists",
            "A policy called KmsAll already exists. Duplicate names are not allowed.")
    version = iam.get_policy_version(PolicyArn=arn, VersionId="v1")["PolicyVersion"]
    assert version["Document"] == json.loads(ALLOW_ALL) and version["IsDefaultVersion"]
    iam.create_user(UserName="managed")
    iam.create_role(RoleName="managedrole", AssumeRolePolicyDocument=trust(ACCOUNT))
    iam.attach_user_policy(UserName="managed", PolicyArn=arn)
    iam.attach_role_policy(RoleName="managedrole", PolicyArn=arn)
    assert iam.get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"] == 2
    assert iam.list_attached_user_policies(UserName="managed")["AttachedPolicies"] == [
        {"PolicyName": "KmsAll", "PolicyArn": arn}]
    assert iam.list_attached_role_policies(RoleName="managedrole")["AttachedPolicies"] == [
        {"PolicyName": "KmsAll", "PolicyArn": arn}]
    assert [p["Arn"] for p in iam.list_policies(Scope="Local")["Policies"]] == [arn]
    assert error_of(lambda: iam.delete_policy(PolicyArn=arn)) == (
        409, "DeleteConflict", "Cannot delete a policy attached to entities.")
    assert error_of(lambda: iam.delete_user(UserName="managed")) == (
        409, "DeleteConflict", "Cannot delete entity, must detach all policies first.")
    missing = f"arn:aws:iam::{ACCOUNT}:policy/Nope"
    assert error_of(lambda: iam.attach_user_policy(UserName="managed", PolicyArn=missing)) == (
        404, "NoSuchEntity", f"Policy {missing} does not exist or is not attachable.")
    iam.detach_user_policy(UserName="managed", PolicyArn=arn)
    iam.detach_role_policy(RoleName="managedrole", PolicyArn=arn)
    assert error_of(lambda: iam.detach_user_policy(UserName="managed", PolicyArn=arn)) == (
        404, "NoSuchEntity", f"Policy {arn} was not found.")
    iam.delete_policy(PolicyArn=arn)
    assert error_of(lambda: iam.get_policy(PolicyArn=arn)) == (
        404, "NoSuchEntity", f"Policy {arn} does not exist or is not attachable.")
    iam.delete_user(UserName="managed")
    iam.delete_role(RoleName="managedrole")


def test_listing_pages(iam: Any) -> None:
    for n in range(3):
        iam.create_user(UserName=f"pager{n}", Path="/pager/")
    first = iam.list_users(PathPrefix="/pager/", MaxItems=2)
    assert first["IsTruncated"] and [u["UserName"] for u in first["Users"]] == [
        "pager0", "pager1"]
    rest = iam.list_users(PathPrefix="/pager/", MaxItems=2, Marker=first["Marker"])
    assert not rest["IsTruncated"] and [u["UserName"] for u in rest["Users"]] == ["pager2"]
    names = [u["UserName"] for page in iam.get_paginator("list_users").paginate(
        PathPrefix="/pager/", PaginationConfig={"PageSize": 1}) for u in page["Users"]]
    assert names == ["pager0", "pager1", "pager2"]


def test_unknown_action(enforce_server: ServerProcess) -> None:
    iam = enforce_server.client("iam")
    assert error_of(lambda: iam.create_group(GroupName="g")) == (
        400, "InvalidAction", "Could not find operation CreateGroup for version 2010-05-08")


def test_aws_cli_creates_a_user_and_keys(enforce_server: ServerProcess,
                                         aws: Callable[..., Any]) -> None:
    made = aws(enforce_server, "iam", "create-user", "--user-name", "cli-user")
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["User"]["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/cli-user"
    keys = aws(enforce_server, "iam", "create-access-key", "--user-name", "cli-user")
    assert keys.returncode == 0, keys.stderr
    assert json.loads(keys.stdout)["AccessKey"]["UserName"] == "cli-user"
    missing = aws(enforce_server, "iam", "get-user", "--user-name", "nobody")
    assert missing.returncode == 255
    assert ("An error occurred (NoSuchEntity) when calling the GetUser operation: The user "
            "with name nobody cannot be found.") in missing.stderr


#: Odd values per member: every IAM answer to them is an error of the caller's (4xx, a code),
#: never a server failure or a body that is not XML.
ODD = {"UserName": ["\x00\ufffex", "a" * 500], "RoleName": ["a" * 500, "\x01"],
       "PolicyArn": ["arn:aws:iam::x", f"arn:aws:iam::{ACCOUNT}:policy/" + "p" * 300],
       "PolicyDocument": ["[" * 5000, "{}", '{"Statement": []}', "\x00",
                          '{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":7,'
                          '"Resource":"*"}}'],
       "AssumeRolePolicyDocument": ["{}", "[" * 5000, "null"],
       "MaxItems": ["abc", "0", "99999999999999999999"], "Marker": ["-1", "x", "999"],
       "PolicyName": ["\x00", "q" * 200], "AccessKeyId": ["A", "\x00" * 30],
       "Status": ["X", "Expired"], "Path": ["x", "/\x00/"], "VersionId": ["v9", ""],
       "MaxSessionDuration": ["1e9", "-1", "99999999999999999999999"],
       "PathPrefix": ["\x00"], "Scope": ["x"], "OnlyAttached": ["maybe"],
       "Description": ["\x00"]}


def test_odd_input_gets_client_errors(enforce_server: ServerProcess) -> None:
    iam = enforce_server.client("iam", config=BotoConfig(parameter_validation=False))
    model = iam.meta.service_model
    operations = ["CreateUser", "GetUser", "ListUsers", "DeleteUser", "CreateAccessKey",
                  "ListAccessKeys", "UpdateAccessKey", "DeleteAccessKey", "CreateRole",
                  "GetRole", "ListRoles", "DeleteRole", "UpdateAssumeRolePolicy",
                  "PutUserPolicy", "PutRolePolicy", "GetUserPolicy", "GetRolePolicy",
                  "ListUserPolicies", "ListRolePolicies", "DeleteUserPolicy",
                  "DeleteRolePolicy", "CreatePolicy", "GetPolicy", "GetPolicyVersion",
                  "ListPolicies", "DeletePolicy", "AttachUserPolicy", "AttachRolePolicy",
                  "DetachUserPolicy", "DetachRolePolicy", "ListAttachedUserPolicies",
                  "ListAttachedRolePolicies"]
    before = iam.list_users()["Users"]
    for operation in operations:
        shape = model.operation_model(operation).input_shape
        members = [m for m in (shape.members if shape is not None else []) if m in ODD]
        for attempt in range(3):
            params = {m: ODD[m][attempt % len(ODD[m])] for m in members}
            try:
                iam._make_api_call(operation, params)  # noqa: SLF001 - unvalidated on purpose
            except botocore.exceptions.ClientError as err:
                status = err.response["ResponseMetadata"]["HTTPStatusCode"]
                assert 400 <= status < 500 and err.response["Error"]["Code"], (operation, params)
            else:
                assert operation.startswith("List"), (operation, params)
    assert iam.list_users()["Users"] == before


def test_any_signing_region_is_accepted(enforce_server: ServerProcess) -> None:
    """With an endpoint URL botocore signs IAM with the client's Region (spec authz.md §2.1,
    §10 Q19): IAM answers whatever Region the scope names; its events stay in us-east-1."""
    iam = enforce_server.client("iam", region="eu-west-1")
    iam.create_user(UserName="regional")
    trail = enforce_server.client("cloudtrail", region="us-east-1")
    found = trail.lookup_events(LookupAttributes=[
        {"AttributeKey": "Username", "AttributeValue": "root"}])["Events"]
    events = [json.loads(e["CloudTrailEvent"]) for e in found if e["EventName"] == "CreateUser"]
    assert any(e["requestParameters"] == {"userName": "regional"} and
               e["awsRegion"] == "us-east-1" for e in events)
