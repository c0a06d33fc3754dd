"""Aliases over a real server (spec kms.md 2.4): naming rules, duplicates, UpdateAlias,
DeleteAlias, ListAliases."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from hsmkms.testing.server import ServerProcess

ACCOUNT = "111122223333"
REGION = "us-east-1"
PREFIX_MESSAGE = ('Alias must start with the prefix "alias/". Please see '
                  "https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html")


def error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    resp = exc.value.response
    return resp["Error"]["Code"], resp["Error"]["Message"], resp["ResponseMetadata"][
        "HTTPStatusCode"]


def alias_arn(name: str) -> str:
    return f"arn:aws:kms:{REGION}:{ACCOUNT}:{name}"


@pytest.fixture(scope="module")
def kms(module_server: ServerProcess) -> Any:
    return module_server.client("kms")


@pytest.fixture
def key(kms: Any) -> dict[str, Any]:
    return kms.create_key()["KeyMetadata"]


def unique(prefix: str = "alias/t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def test_create_alias_by_id_and_arn(kms: Any, key: dict[str, Any]) -> None:
    by_id, by_arn = unique(), unique()
    assert kms.create_alias(AliasName=by_id, TargetKeyId=key["KeyId"])[
        "ResponseMetadata"]["HTTPStatusCode"] == 200
    kms.create_alias(AliasName=by_arn, TargetKeyId=key["Arn"])
    listed = kms.list_aliases(KeyId=key["KeyId"])
    assert listed["Truncated"] is False
    entries = sorted(listed["Aliases"], key=lambda a: a["AliasName"])
    assert [e["AliasName"] for e in entries] == sorted([by_id, by_arn])
    for entry in entries:
        assert set(entry) == {"AliasName", "AliasArn", "TargetKeyId", "CreationDate",
                              "LastUpdatedDate"}
        assert entry["AliasArn"] == alias_arn(entry["AliasName"])
        assert entry["TargetKeyId"] == key["KeyId"]
        assert isinstance(entry["CreationDate"], dt.datetime)
    assert kms.list_aliases(KeyId=key["Arn"])["Aliases"] == listed["Aliases"]


@pytest.mark.parametrize("name", ["foo", "aliasfoo", "Alias/foo", "arn:aws:kms:x"])
def test_alias_prefix(kms: Any, key: dict[str, Any], name: str) -> None:
    with pytest.raises(ClientError) as exc:
        kms.create_alias(AliasName=name, TargetKeyId=key["KeyId"])
    assert error(exc) == ("ValidationException", PREFIX_MESSAGE, 400)


def test_alias_pattern_and_length(kms: Any, key: dict[str, Any]) -> None:
    with pytest.raises(ClientError) as exc:
        kms.create_alias(AliasName="alias/bad name", TargetKeyId=key["KeyId"])
    assert error(exc) == ("ValidationException",
                          "1 validation error detected: Value 'alias/bad name' at 'aliasName' "
                          "failed to satisfy constraint: Member must satisfy regular expression "
                          "pattern: ^[a-zA-Z0-9:/_-]+$", 400)
    long_name = "alias/" + "a" * 251
    with pytest.raises(ClientError) as exc:
        kms.create_alias(AliasName=long_name, TargetKeyId=key["KeyId"])
    assert error(exc) == ("ValidationException",
                          f"1 validation error detected: Value '{long_name}' at 'aliasName' "
                          "failed to satisfy constraint: Member must have length less than or "
                          "equal to 256", 400)
    kms.create_alias(AliasName="alias/" + "b" * 250, TargetKeyId=key["KeyId"])


def test_reserved_prefix(kms: Any, key: dict[str, Any]) -> None:
    with pytest.raises(ClientError) as exc:
        kms.create_alias(AliasName="alias/aws/mine", TargetKeyId=key["KeyId"])
    assert error(exc) == ("InvalidAliasNameException",
                          "Alias names that begin with alias/aws/ are reserved for AWS managed "
                          "keys.", 400)


def test_duplicate_alias(kms: Any, key: dict[str, Any]) -> None:
    name = unique()
    kms.create_alias(AliasName=name, TargetKeyId=key["KeyId"])
    other = kms.create_key()["KeyMetadata"]
    with pytest.raises(ClientError) as exc:
        kms.create_alias(AliasName=name, TargetKeyId=other["KeyId"])
    assert error(exc) == ("AlreadyExistsException",
                          f"An alias with the name {alias_arn(name)} already exists", 400)
    assert kms.describe_key(KeyId=name)["KeyMetadata"]["KeyId"] == key["KeyId"]


def test_alias_target_must_be_a_key(kms: Any) -> None:
    name = unique()
    with pytest.raises(ClientError) as exc:
        kms.create_alias(AliasName=unique(), TargetKeyId="alias/whatever")
    assert error(exc) == ("NotFoundException", "Invalid keyId 'alias/whatever'", 400)
    missing = str(uuid.uuid4())
    with pytest.raises(ClientError) as exc:
        kms.create_alias(AliasName=name, TargetKeyId=missing)
    assert error(exc) == ("NotFoundException",
                          f"Key 'arn:aws:kms:{REGION}:{ACCOUNT}:key/{missing}' does not exist",
                          400)


def test_update_alias(kms: Any, key: dict[str, Any]) -> None:
    name = unique()
    kms.create_alias(AliasName=name, TargetKeyId=key["KeyId"])
    before = kms.list_aliases(KeyId=key["KeyId"])["Aliases"][0]
    other = kms.create_key()["KeyMetadata"]
    kms.update_alias(AliasName=name, TargetKeyId=other["Arn"])
    assert kms.describe_key(KeyId=name)["KeyMetadata"]["KeyId"] == other["KeyId"]
    assert kms.list_aliases(KeyId=key["KeyId"])["Aliases"] == []
    after = kms.list_aliases(KeyId=other["KeyId"])["Aliases"][0]
    assert after["CreationDate"] == before["CreationDate"]
    assert after["LastUpdatedDate"] >= before["LastUpdatedDate"]
    blob = kms.encrypt(KeyId=name, Plaintext=b"p")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["KeyId"] == other["Arn"]
    # Unknown alias; alias as target; pending-deletion target ([10]).
    missing = unique()
    with pytest.raises(ClientError) as exc:
        kms.update_alias(AliasName=missing, TargetKeyId=key["KeyId"])
    assert error(exc) == ("NotFoundException", f"Alias {alias_arn(missing)} is not found.", 400)
    with pytest.raises(ClientError) as exc:
        kms.update_alias(AliasName=name, TargetKeyId=name)
    assert error(exc) == ("NotFoundException", f"Invalid keyId '{name}'", 400)
    kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    with pytest.raises(ClientError) as exc:
        kms.update_alias(AliasName=name, TargetKeyId=key["KeyId"])
    assert error(exc) == ("KMSInvalidStateException", f"{key['Arn']} is pending deletion.", 400)
    # The *current* target may be pending deletion.
    kms.schedule_key_deletion(KeyId=other["KeyId"], PendingWindowInDays=7)
    third = kms.create_key()["KeyMetadata"]
    kms.update_alias(AliasName=name, TargetKeyId=third["KeyId"])
    assert kms.describe_key(KeyId=name)["KeyMetadata"]["KeyId"] == third["KeyId"]


def test_delete_alias(kms: Any, key: dict[str, Any]) -> None:
    name = unique()
    kms.create_alias(AliasName=name, TargetKeyId=key["KeyId"])
    kms.disable_key(KeyId=key["KeyId"])
    kms.delete_alias(AliasName=name)  # works in any key state
    with pytest.raises(ClientError) as exc:
        kms.describe_key(KeyId=name)
    assert error(exc) == ("NotFoundException", f"Alias {alias_arn(name)} is not found.", 400)
    with pytest.raises(ClientError) as exc:
        kms.delete_alias(AliasName=name)
    assert error(exc) == ("NotFoundException", f"Alias {alias_arn(name)} is not found.", 400)
    with pytest.raises(ClientError) as exc:
        kms.delete_alias(AliasName="nope")
    assert error(exc) == ("ValidationException", PREFIX_MESSAGE, 400)
    # The name is free again.
    kms.create_alias(AliasName=name, TargetKeyId=key["KeyId"])
    kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    kms.delete_alias(AliasName=name)


def test_alias_on_pending_deletion_key_still_resolves(kms: Any, key: dict[str, Any]) -> None:
    name = unique()
    kms.create_alias(AliasName=name, TargetKeyId=key["KeyId"])
    kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    meta = kms.describe_key(KeyId=name)["KeyMetadata"]
    assert meta["KeyState"] == "PendingDeletion"
    with pytest.raises(ClientError) as exc:
        kms.encrypt(KeyId=name, Plaintext=b"p")
    assert error(exc) == ("KMSInvalidStateException", f"{key['Arn']} is pending deletion.", 400)


def test_alias_required_members(module_server: ServerProcess) -> None:
    loose = module_server.client("kms", config=Config(parameter_validation=False))
    with pytest.raises(ClientError) as exc:
        loose.create_alias()
    assert error(exc) == ("ValidationException",
                          "2 validation errors detected: Value null at 'aliasName' failed to "
                          "satisfy constraint: Member must not be null; Value null at "
                          "'targetKeyId' failed to satisfy constraint: Member must not be null",
                          400)


def test_list_aliases_unknown_key(kms: Any) -> None:
    missing = str(uuid.uuid4())
    with pytest.raises(ClientError) as exc:
        kms.list_aliases(KeyId=missing)
    assert error(exc) == ("NotFoundException",
                          f"Key 'arn:aws:kms:{REGION}:{ACCOUNT}:key/{missing}' does not exist",
                          400)


def test_alias_limit_per_key(kms: Any, key: dict[str, Any]) -> None:
    base = unique("alias/many")
    for i in range(50):
        kms.create_alias(AliasName=f"{base}-{i:02d}", TargetKeyId=key["KeyId"])
    with pytest.raises(ClientError) as exc:
        kms.create_alias(AliasName=f"{base}-50", TargetKeyId=key["KeyId"])
    code, _message, status = error(exc)
    assert (code, status) == ("LimitExceededException", 400)
    paginator = kms.get_paginator("list_aliases")
    names = [a["AliasName"] for page in paginator.paginate(KeyId=key["KeyId"],
                                                           PaginationConfig={"PageSize": 7})
             for a in page["Aliases"]]
    assert names == [f"{base}-{i:02d}" for i in range(50)]
