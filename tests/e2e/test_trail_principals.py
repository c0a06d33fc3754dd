"""CloudTrail with IAM principals (``--auth enforce``): each event's ``userIdentity`` is the real
caller (IAMUser, AssumedRole with its session context, Root; AWSAccount in the key owner's copy
of another account's call), IAM calls are recorded as ``iam.amazonaws.com`` in us-east-1 and STS
calls as ``sts.amazonaws.com``, without secrets (spec authz.md §3.7, §6)."""

from __future__ import annotations

import json
from typing import Any

import botocore.exceptions
import pytest

from hsmkms.testing.server import ServerProcess
from tests.conftest import ENFORCE_ACCOUNT as ACCOUNT
from tests.conftest import ENFORCE_OTHER as OTHER
from tests.conftest import ENFORCE_OTHER_ROOT
from tests.e2e.iam_helpers import allow, make_user, role_arn, session_of, trust, user_arn


def events(server: ServerProcess, name: str, region: str = "us-east-1",
           credentials: dict[str, str] | None = None) -> list[dict[str, Any]]:
    trail = server.client("cloudtrail", region=region, credentials=credentials or {})
    found = trail.lookup_events(LookupAttributes=[
        {"AttributeKey": "EventName", "AttributeValue": name}])["Events"]
    return [json.loads(e["CloudTrailEvent"]) for e in found]


@pytest.fixture(scope="module")
def iam(enforce_server: ServerProcess) -> Any:
    return enforce_server.client("iam")


def test_iam_user_identity_and_iam_events(enforce_server: ServerProcess, iam: Any) -> None:
    creds = make_user(iam, "traced")
    user = iam.get_user(UserName="traced")["User"]
    iam.put_user_policy(UserName="traced", PolicyName="kms", PolicyDocument=allow("kms:*"))
    enforce_server.client("kms", credentials=creds).list_keys()
    [event] = [e for e in events(enforce_server, "ListKeys")
               if e["userIdentity"].get("userName") == "traced"]
    assert event["userIdentity"] == {
        "type": "IAMUser", "principalId": user["UserId"], "arn": user_arn("traced"),
        "accountId": ACCOUNT, "accessKeyId": creds["aws_access_key_id"], "userName": "traced"}
    [created] = [e for e in events(enforce_server, "CreateUser")
                 if e["requestParameters"] == {"userName": "traced"}]
    assert (created["eventSource"], created["awsRegion"], created["readOnly"],
            created["eventType"], created["managementEvent"], created["eventCategory"]) == (
        "iam.amazonaws.com", "us-east-1", False, "AwsApiCall", True, "Management")
    assert created["userIdentity"]["type"] == "Root"
    assert created["responseElements"]["user"]["userId"] == user["UserId"]
    [key_event] = [e for e in events(enforce_server, "CreateAccessKey")
                   if e["requestParameters"] == {"userName": "traced"}]
    assert key_event["responseElements"]["accessKey"]["accessKeyId"] == \
        creds["aws_access_key_id"]
    assert creds["aws_secret_access_key"] not in json.dumps(key_event)
    [got] = [e for e in events(enforce_server, "GetUser")
             if e["requestParameters"] == {"userName": "traced"}]
    assert got["readOnly"] is True and got["responseElements"] is None


def test_assumed_role_identity_and_sts_events(enforce_server: ServerProcess, iam: Any) -> None:
    creds = make_user(iam, "roler")
    role = iam.create_role(RoleName="Traced", AssumeRolePolicyDocument=trust(
        user_arn("roler")))["Role"]
    iam.put_role_policy(RoleName="Traced", PolicyName="kms", PolicyDocument=allow("kms:*"))
    answer = enforce_server.client("sts", credentials=creds).assume_role(
        RoleArn=role_arn("Traced"), RoleSessionName="traced-session")
    session = session_of(answer["Credentials"])
    key = enforce_server.client("kms", credentials=session).create_key()["KeyMetadata"]
    [event] = [e for e in events(enforce_server, "CreateKey")
               if e["responseElements"]["keyMetadata"]["keyId"] == key["KeyId"]]
    identity = event["userIdentity"]
    creation = identity["sessionContext"]["attributes"].pop("creationDate")
    assert creation.endswith("Z") and len(creation) == 20
    assert identity == {
        "type": "AssumedRole", "principalId": f"{role['RoleId']}:traced-session",
        "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/Traced/traced-session",
        "accountId": ACCOUNT, "accessKeyId": session["aws_access_key_id"],
        "sessionContext": {
            "sessionIssuer": {"type": "Role", "principalId": role["RoleId"],
                              "arn": role_arn("Traced"), "accountId": ACCOUNT,
                              "userName": "Traced"},
            "attributes": {"mfaAuthenticated": "false"}}}
    [assumed] = [e for e in events(enforce_server, "AssumeRole")
                 if e["requestParameters"]["roleSessionName"] == "traced-session"]
    assert (assumed["eventSource"], assumed["awsRegion"], assumed["readOnly"]) == (
        "sts.amazonaws.com", "us-east-1", False)
    assert assumed["userIdentity"]["userName"] == "roler"
    assert assumed["requestParameters"]["roleArn"] == role_arn("Traced")
    credentials = assumed["responseElements"]["credentials"]
    assert credentials["accessKeyId"] == session["aws_access_key_id"]
    assert set(credentials) == {"accessKeyId", "expiration"}
    assert assumed["responseElements"]["assumedRoleUser"] == {
        "assumedRoleId": f"{role['RoleId']}:traced-session",
        "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/Traced/traced-session"}
    assert session["aws_secret_access_key"] not in json.dumps(assumed)
    assert session["aws_session_token"] not in json.dumps(assumed)


def test_denied_call_keeps_access_denied(enforce_server: ServerProcess, iam: Any) -> None:
    creds = make_user(iam, "refused")
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        enforce_server.client("kms", credentials=creds).list_aliases()
    message = caught.value.response["Error"]["Message"]
    [event] = [e for e in events(enforce_server, "ListAliases")
               if e["userIdentity"].get("userName") == "refused"]
    assert (event["errorCode"], event["errorMessage"]) == ("AccessDenied", message)


def test_cross_account_call_as_the_owner_sees_it(enforce_server: ServerProcess,
                                                 iam: Any) -> None:
    root_kms = enforce_server.client("kms")
    meta = root_kms.create_key(Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
         "Action": "kms:*", "Resource": "*"},
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OTHER}:root"},
         "Action": "kms:DescribeKey", "Resource": "*"}]}))["KeyMetadata"]
    other_iam = enforce_server.client("iam", credentials=ENFORCE_OTHER_ROOT)
    creds = make_user(other_iam, "guest")
    other_iam.put_user_policy(UserName="guest", PolicyName="d",
                              PolicyDocument=allow("kms:DescribeKey"))
    enforce_server.client("kms", credentials=creds).describe_key(KeyId=meta["Arn"])
    guest_id = other_iam.get_user(UserName="guest")["User"]["UserId"]
    [mine] = [e for e in events(enforce_server, "DescribeKey", credentials=ENFORCE_OTHER_ROOT)
              if e["userIdentity"].get("userName") == "guest"]
    assert mine["userIdentity"]["arn"] == user_arn("guest", OTHER)
    [owners] = [e for e in events(enforce_server, "DescribeKey")
                if e.get("sharedEventID") == mine["sharedEventID"]]
    assert owners["userIdentity"] == {"type": "AWSAccount", "principalId": guest_id,
                                      "accountId": OTHER}
