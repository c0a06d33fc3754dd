"""Tags and key policies over a real server (spec kms.md 2.6, 2.7, 4.9)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from hsmkms.testing.server import ServerProcess

ACCOUNT = "111122223333"
REGION = "us-east-1"
DEFAULT_POLICY = """{
  "Version" : "2012-10-17",
  "Id" : "key-default-1",
  "Statement" : [ {
    "Sid" : "Enable IAM User Permissions",
    "Effect" : "Allow",
    "Principal" : {
      "AWS" : "arn:aws:iam::111122223333:root"
    },
    "Action" : "kms:*",
    "Resource" : "*"
  } ]
}"""


def error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    resp = exc.value.response
    return resp["Error"]["Code"], resp["Error"]["Message"], resp["ResponseMetadata"][
        "HTTPStatusCode"]


@pytest.fixture(scope="module")
def kms(module_server: ServerProcess) -> Any:
    return module_server.client("kms")


@pytest.fixture
def key(kms: Any) -> dict[str, Any]:
    return kms.create_key()["KeyMetadata"]


def tags(**kv: str) -> list[dict[str, str]]:
    return [{"TagKey": k, "TagValue": v} for k, v in kv.items()]


# -- tags ---------------------------------------------------------------------------------------


def test_tags_at_creation_and_round_trip(kms: Any) -> None:
    meta = kms.create_key(Tags=tags(b="2", a="1", Empty=""))["KeyMetadata"]
    resp = kms.list_resource_tags(KeyId=meta["KeyId"])
    resp.pop("ResponseMetadata")
    assert resp == {"Tags": tags(Empty="", a="1", b="2"), "Truncated": False}
    kms.tag_resource(KeyId=meta["Arn"], Tags=tags(a="overwritten", c="3"))
    assert kms.list_resource_tags(KeyId=meta["Arn"])["Tags"] == tags(
        Empty="", a="overwritten", b="2", c="3")
    kms.untag_resource(KeyId=meta["KeyId"], TagKeys=["b", "not-there"])
    assert kms.list_resource_tags(KeyId=meta["KeyId"])["Tags"] == tags(
        Empty="", a="overwritten", c="3")


def test_tag_rules(kms: Any, key: dict[str, Any]) -> None:
    with pytest.raises(ClientError) as exc:
        kms.tag_resource(KeyId=key["KeyId"], Tags=tags(**{"aws:thing": "x"}))
    assert error(exc) == ("TagException", "Tags beginning with aws: are reserved", 400)
    with pytest.raises(ClientError) as exc:
        kms.tag_resource(KeyId=key["KeyId"],
                         Tags=[{"TagKey": "d", "TagValue": "1"}, {"TagKey": "d", "TagValue": "2"}])
    assert error(exc) == ("TagException", "Duplicate tag keys", 400)
    with pytest.raises(ClientError) as exc:
        kms.create_key(Tags=[{"TagKey": f"k{i}", "TagValue": "v"} for i in range(51)])
    assert error(exc) == ("TagException", "Too many tags", 400)
    kms.tag_resource(KeyId=key["KeyId"], Tags=[{"TagKey": f"k{i}", "TagValue": "v"}
                                               for i in range(50)])
    with pytest.raises(ClientError) as exc:
        kms.tag_resource(KeyId=key["KeyId"], Tags=tags(one_more="x"))
    assert error(exc) == ("TagException", "Too many tags", 400)
    # Overwriting an existing tag at the limit is fine.
    kms.tag_resource(KeyId=key["KeyId"], Tags=tags(k0="new"))
    assert len(kms.list_resource_tags(KeyId=key["KeyId"])["Tags"]) == 50
    with pytest.raises(ClientError) as exc:
        kms.tag_resource(KeyId=key["KeyId"], Tags=tags(**{"x" * 129: "v"}))
    assert error(exc) == ("ValidationException",
                          f"1 validation error detected: Value '{'x' * 129}' at "
                          "'tags.1.member.tagKey' failed to satisfy constraint: Member must have "
                          "length less than or equal to 128", 400)


def test_failed_create_key_leaves_nothing(kms: Any) -> None:
    before = {k["KeyId"] for k in kms.list_keys(Limit=1000)["Keys"]}
    with pytest.raises(ClientError):
        kms.create_key(Tags=tags(**{"aws:x": "y"}))
    with pytest.raises(ClientError):
        kms.create_key(Policy="not json")
    assert {k["KeyId"] for k in kms.list_keys(Limit=1000)["Keys"]} == before


def test_tag_unknown_key(kms: Any) -> None:
    missing = str(uuid.uuid4())
    with pytest.raises(ClientError) as exc:
        kms.tag_resource(KeyId=missing, Tags=tags(a="b"))
    assert error(exc) == ("NotFoundException",
                          f"Key 'arn:aws:kms:{REGION}:{ACCOUNT}:key/{missing}' does not exist",
                          400)


# -- policies -----------------------------------------------------------------------------------


def test_default_policy_text(kms: Any, key: dict[str, Any]) -> None:
    resp = kms.get_key_policy(KeyId=key["KeyId"], PolicyName="default")
    assert resp["Policy"] == DEFAULT_POLICY
    assert resp["PolicyName"] == "default"
    assert kms.get_key_policy(KeyId=key["Arn"])["Policy"] == DEFAULT_POLICY


def test_default_policy_names_the_callers_account(module_server: ServerProcess) -> None:
    other = module_server.client("kms", credentials={"aws_access_key_id": "444455556666"})
    key_id = other.create_key()["KeyMetadata"]["KeyId"]
    assert other.get_key_policy(KeyId=key_id)["Policy"] == DEFAULT_POLICY.replace(
        ACCOUNT, "444455556666")


def test_put_get_round_trip(kms: Any, key: dict[str, Any]) -> None:
    policy = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "x", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
        "Action": "kms:*", "Resource": "*"}]})
    kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=policy)
    assert json.loads(kms.get_key_policy(KeyId=key["KeyId"], PolicyName="default")[
        "Policy"]) == json.loads(policy)
    created = kms.create_key(Policy=policy)["KeyMetadata"]
    assert json.loads(kms.get_key_policy(KeyId=created["KeyId"])["Policy"]) == json.loads(policy)


def test_list_key_policies(kms: Any, key: dict[str, Any]) -> None:
    resp = kms.list_key_policies(KeyId=key["KeyId"])
    assert resp["PolicyNames"] == ["default"]
    assert resp["Truncated"] is False
    pages = list(kms.get_paginator("list_key_policies").paginate(KeyId=key["Arn"]))
    assert [n for p in pages for n in p["PolicyNames"]] == ["default"]


def test_policy_errors(kms: Any, key: dict[str, Any]) -> None:
    with pytest.raises(ClientError) as exc:
        kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy="{not json")
    assert error(exc) == ("MalformedPolicyDocumentException",
                          "The policy document is not valid JSON.", 400)
    with pytest.raises(ClientError) as exc:
        kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy="[]")
    assert error(exc)[0] == "MalformedPolicyDocumentException"
    assert kms.get_key_policy(KeyId=key["KeyId"])["Policy"] == DEFAULT_POLICY
    with pytest.raises(ClientError) as exc:
        kms.get_key_policy(KeyId=key["KeyId"], PolicyName="other")
    code, _message, status = error(exc)
    assert (code, status) == ("NotFoundException", 400)
    big = json.dumps({"Statement": [], "Pad": "x" * 33000})
    with pytest.raises(ClientError) as exc:
        kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=big)
    assert error(exc)[0] == "LimitExceededException"
    with pytest.raises(ClientError) as exc:
        kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default",
                           Policy='{"Statement": [], "x": "\u0100"}')
    assert error(exc) == (
        "ValidationException",
        "1 validation error detected: Value '{\"Statement\": [], \"x\": \"\u0100\"}' at 'policy' "
        "failed to satisfy constraint: Member must satisfy regular expression pattern: "
        "[\\u0009\\u000A\\u000D\\u0020-\\u00FF]+", 400)


def test_policies_work_in_every_state(kms: Any, key: dict[str, Any]) -> None:
    kms.disable_key(KeyId=key["KeyId"])
    kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy='{"Statement": []}')
    kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy='{"Statement": [1]}')
    assert kms.get_key_policy(KeyId=key["KeyId"])["Policy"] == '{"Statement": [1]}'
