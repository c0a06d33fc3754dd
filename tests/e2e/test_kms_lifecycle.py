"""Key lifecycle over a real server with real boto3: every key-state error with AWS's message
(spec kms.md 1.1 footnotes, 3.4), identifiers, deletion windows and the clock."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from hsmkms.testing.server import ServerProcess

ACCOUNT = "111122223333"
REGION = "us-east-1"
DAY = 86400


def error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    resp = exc.value.response
    return resp["Error"]["Code"], resp["Error"]["Message"], resp["ResponseMetadata"][
        "HTTPStatusCode"]


@pytest.fixture(scope="module")
def kms(module_server: ServerProcess) -> Any:
    return module_server.client("kms")


def new_key(kms: Any, **kwargs: Any) -> dict[str, Any]:
    return kms.create_key(**kwargs)["KeyMetadata"]


def test_create_key_defaults(kms: Any) -> None:
    meta = new_key(kms, Description="first")
    key_id = meta["KeyId"]
    assert uuid.UUID(key_id).version == 4
    assert meta["Arn"] == f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{key_id}"
    assert isinstance(meta["CreationDate"], dt.datetime)
    expected = {
        "AWSAccountId": ACCOUNT, "KeyId": key_id, "Arn": meta["Arn"],
        "CreationDate": meta["CreationDate"], "Enabled": True, "Description": "first",
        "KeyUsage": "ENCRYPT_DECRYPT", "KeyState": "Enabled", "Origin": "AWS_KMS",
        "KeyManager": "CUSTOMER", "CustomerMasterKeySpec": "SYMMETRIC_DEFAULT",
        "KeySpec": "SYMMETRIC_DEFAULT", "EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"],
        "MultiRegion": False, "CurrentKeyMaterialId": meta["CurrentKeyMaterialId"],
    }
    assert meta == expected
    assert len(meta["CurrentKeyMaterialId"]) == 64
    int(meta["CurrentKeyMaterialId"], 16)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"] == expected


def test_describe_by_arn_alias_and_alias_arn(kms: Any) -> None:
    meta = new_key(kms)
    name = f"alias/describe-{uuid.uuid4().hex[:8]}"
    kms.create_alias(AliasName=name, TargetKeyId=meta["KeyId"])
    for ident in (meta["KeyId"], meta["Arn"], name, f"arn:aws:kms:{REGION}:{ACCOUNT}:{name}"):
        assert kms.describe_key(KeyId=ident)["KeyMetadata"]["KeyId"] == meta["KeyId"]


@pytest.mark.parametrize(("ident", "message"), [
    ("nope", "Invalid keyId 'nope'"),
    ("11111111-2222-3333-4444-55555555555", "Invalid keyId '11111111-2222-3333-4444-55555555555'"),
    ("00000000-0000-0000-0000-000000000000",
     f"Key 'arn:aws:kms:{REGION}:{ACCOUNT}:key/00000000-0000-0000-0000-000000000000' "
     "does not exist"),
    (f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/00000000-0000-0000-0000-000000000000",
     "Invalid arn eu-west-1"),
    ("alias/does-not-exist", f"Alias arn:aws:kms:{REGION}:{ACCOUNT}:alias/does-not-exist "
     "is not found."),
    # Recorded from AWS by LocalStack (test_get_key_invalid_uuid, test_get_key_does_not_exist).
    ("fake-key-id", "Invalid keyId 'fake-key-id'"),
    ("134f2428cec14b25a1ae9048164dba47", "Invalid keyId '134f2428cec14b25a1ae9048164dba47'"),
    ("mrk-fake-key-id", "Invalid keyId 'mrk-fake-key-id'"),
    ("mrk-d3b95762d3b95762d3b95762d3b95762",
     f"Key 'arn:aws:kms:{REGION}:{ACCOUNT}:key/mrk-d3b95762d3b95762d3b95762d3b95762' "
     "does not exist"),
    (f"arn:aws:kms:{REGION}:{ACCOUNT}:key/00000000-0000-0000-0000-000000000001",
     f"Key 'arn:aws:kms:{REGION}:{ACCOUNT}:key/00000000-0000-0000-0000-000000000001' "
     "does not exist"),
])
def test_describe_not_found_messages(kms: Any, ident: str, message: str) -> None:
    with pytest.raises(ClientError) as exc:
        kms.describe_key(KeyId=ident)
    assert error(exc) == ("NotFoundException", message, 400)


def test_disable_enable_and_disabled_errors(kms: Any) -> None:
    meta = new_key(kms)
    key_id, arn = meta["KeyId"], meta["Arn"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"secret")["CiphertextBlob"]
    kms.disable_key(KeyId=key_id)
    kms.disable_key(KeyId=key_id)  # idempotent
    desc = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert (desc["KeyState"], desc["Enabled"]) == ("Disabled", False)
    calls = {
        "Encrypt": lambda: kms.encrypt(KeyId=key_id, Plaintext=b"x"),
        "Decrypt": lambda: kms.decrypt(CiphertextBlob=blob),
        "GenerateDataKey": lambda: kms.generate_data_key(KeyId=key_id, KeySpec="AES_256"),
        "GenerateDataKeyWithoutPlaintext": lambda: kms.generate_data_key_without_plaintext(
            KeyId=key_id, NumberOfBytes=16),
        "ReEncrypt": lambda: kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=key_id),
    }
    for name, call in calls.items():
        with pytest.raises(ClientError) as exc:
            call()
        assert error(exc) == ("DisabledException", f"{arn} is disabled.", 400), name
    # Management works on a disabled key.
    kms.update_key_description(KeyId=key_id, Description="still manageable")
    kms.tag_resource(KeyId=key_id, Tags=[{"TagKey": "k", "TagValue": "v"}])
    kms.enable_key(KeyId=key_id)
    kms.enable_key(KeyId=key_id)
    desc = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert (desc["KeyState"], desc["Enabled"], desc["Description"]) == (
        "Enabled", True, "still manageable")
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"secret"


def test_management_ops_refuse_aliases(kms: Any) -> None:
    meta = new_key(kms)
    name = f"alias/mgmt-{uuid.uuid4().hex[:8]}"
    kms.create_alias(AliasName=name, TargetKeyId=meta["KeyId"])
    alias_arn = f"arn:aws:kms:{REGION}:{ACCOUNT}:{name}"
    calls = [
        lambda k: kms.enable_key(KeyId=k),
        lambda k: kms.disable_key(KeyId=k),
        lambda k: kms.schedule_key_deletion(KeyId=k),
        lambda k: kms.cancel_key_deletion(KeyId=k),
        lambda k: kms.update_key_description(KeyId=k, Description="d"),
        lambda k: kms.tag_resource(KeyId=k, Tags=[{"TagKey": "a", "TagValue": "b"}]),
        lambda k: kms.untag_resource(KeyId=k, TagKeys=["a"]),
        lambda k: kms.list_resource_tags(KeyId=k),
        lambda k: kms.get_key_policy(KeyId=k, PolicyName="default"),
        lambda k: kms.put_key_policy(KeyId=k, PolicyName="default",
                                     Policy='{"Statement": []}'),
        lambda k: kms.list_key_policies(KeyId=k),
        lambda k: kms.create_alias(AliasName=f"alias/x-{uuid.uuid4().hex[:6]}", TargetKeyId=k),
    ]
    for ident in (name, alias_arn):
        for call in calls:
            with pytest.raises(ClientError) as exc:
                call(ident)
            assert error(exc) == ("NotFoundException", f"Invalid keyId '{ident}'", 400)
    assert kms.describe_key(KeyId=meta["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled"


def test_schedule_and_cancel_deletion(kms: Any) -> None:
    meta = new_key(kms)
    key_id, arn = meta["KeyId"], meta["Arn"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"p")["CiphertextBlob"]
    resp = kms.schedule_key_deletion(KeyId=key_id)
    assert resp["KeyId"] == arn
    assert resp["KeyState"] == "PendingDeletion"
    assert resp["PendingWindowInDays"] == 30
    desc = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert desc["KeyState"] == "PendingDeletion"
    assert desc["Enabled"] is False
    assert desc["DeletionDate"] == resp["DeletionDate"]
    created = desc["CreationDate"]
    assert dt.timedelta(days=30) <= resp["DeletionDate"] - created < dt.timedelta(days=30,
                                                                                    minutes=5)
    pending = f"{arn} is pending deletion."
    for call in (lambda: kms.encrypt(KeyId=key_id, Plaintext=b"x"),
                 lambda: kms.decrypt(CiphertextBlob=blob),
                 lambda: kms.generate_data_key(KeyId=key_id, NumberOfBytes=8),
                 lambda: kms.enable_key(KeyId=key_id),
                 lambda: kms.disable_key(KeyId=key_id),
                 lambda: kms.schedule_key_deletion(KeyId=key_id),
                 lambda: kms.update_key_description(KeyId=key_id, Description="x"),
                 lambda: kms.tag_resource(KeyId=key_id, Tags=[{"TagKey": "a", "TagValue": ""}]),
                 lambda: kms.untag_resource(KeyId=key_id, TagKeys=["a"]),
                 lambda: kms.create_alias(AliasName=f"alias/p-{uuid.uuid4().hex[:6]}",
                                          TargetKeyId=key_id)):
        with pytest.raises(ClientError) as exc:
            call()
        assert error(exc) == ("KMSInvalidStateException", pending, 400)
    # Reads and policies work in every state.
    assert kms.list_resource_tags(KeyId=key_id)["Tags"] == []
    assert kms.list_key_policies(KeyId=key_id)["PolicyNames"] == ["default"]
    kms.get_key_policy(KeyId=key_id, PolicyName="default")
    assert kms.cancel_key_deletion(KeyId=key_id)["KeyId"] == arn
    desc = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert desc["KeyState"] == "Disabled"  # never back to Enabled
    assert "DeletionDate" not in desc
    with pytest.raises(ClientError) as exc:
        kms.cancel_key_deletion(KeyId=key_id)
    assert error(exc) == ("KMSInvalidStateException", f"{arn} is not pending deletion.", 400)
    kms.enable_key(KeyId=key_id)
    with pytest.raises(ClientError) as exc:
        kms.cancel_key_deletion(KeyId=arn)
    assert error(exc) == ("KMSInvalidStateException", f"{arn} is not pending deletion.", 400)


@pytest.mark.parametrize("days", [7, 8, 29, 30])
def test_schedule_window_in_range(kms: Any, days: int) -> None:
    meta = new_key(kms)
    resp = kms.schedule_key_deletion(KeyId=meta["Arn"], PendingWindowInDays=days)
    assert resp["PendingWindowInDays"] == days
    delta = resp["DeletionDate"] - meta["CreationDate"]
    assert dt.timedelta(days=days) <= delta < dt.timedelta(days=days, minutes=5)


@pytest.mark.parametrize("days", [1, 6, 31, 365])
def test_schedule_window_out_of_range(kms: Any, days: int) -> None:
    meta = new_key(kms)
    with pytest.raises(ClientError) as exc:
        kms.schedule_key_deletion(KeyId=meta["KeyId"], PendingWindowInDays=days)
    assert error(exc) == ("ValidationException", "PendingWindowInDays must be between 7 and 30",
                          400)
    assert kms.describe_key(KeyId=meta["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled"


def test_schedule_window_model_range(module_server: ServerProcess, raw: Any) -> None:
    status, _h, body = raw(module_server, "TrentService.ScheduleKeyDeletion",
                           {"KeyId": str(uuid.uuid4()), "PendingWindowInDays": 366})
    assert status == 400
    assert body == (b'{"__type": "ValidationException", "message": "1 validation error detected: '
                    b"Value '366' at 'pendingWindowInDays' failed to satisfy constraint: Member "
                    b'must have value less than or equal to 365"}')


def test_update_key_description(kms: Any) -> None:
    meta = new_key(kms, Description="before")
    kms.update_key_description(KeyId=meta["Arn"], Description="")
    assert kms.describe_key(KeyId=meta["KeyId"])["KeyMetadata"]["Description"] == ""
    kms.update_key_description(KeyId=meta["KeyId"], Description="after")
    assert kms.describe_key(KeyId=meta["KeyId"])["KeyMetadata"]["Description"] == "after"


def test_key_arn_other_account(kms: Any) -> None:
    meta = new_key(kms)
    other = f"arn:aws:kms:{REGION}:444455556666:key/{meta['KeyId']}"
    with pytest.raises(ClientError) as exc:
        kms.describe_key(KeyId=other)
    assert error(exc) == ("NotFoundException", f"Key '{other}' does not exist", 400)


def test_regions_are_separate(module_server: ServerProcess, kms: Any) -> None:
    meta = new_key(kms)
    west = module_server.client("kms", region="eu-west-1")
    with pytest.raises(ClientError) as exc:
        west.describe_key(KeyId=meta["KeyId"])
    assert error(exc) == ("NotFoundException",
                          f"Key 'arn:aws:kms:eu-west-1:{ACCOUNT}:key/{meta['KeyId']}' does not "
                          "exist", 400)
    with pytest.raises(ClientError) as exc:
        west.describe_key(KeyId=meta["Arn"])
    assert error(exc) == ("NotFoundException", f"Invalid arn {REGION}", 400)
    west_key = new_key(west)
    assert west_key["Arn"].startswith(f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/")
    assert west_key["KeyId"] not in {k["KeyId"] for k in kms.list_keys(Limit=1000)["Keys"]}


def test_account_from_access_key(module_server: ServerProcess) -> None:
    """An access key id of 12 digits names the account (hsmkms convention)."""
    other = module_server.client("kms", credentials={"aws_access_key_id": "444455556666"})
    meta = new_key(other)
    assert meta["AWSAccountId"] == "444455556666"
    assert meta["Arn"] == f"arn:aws:kms:{REGION}:444455556666:key/{meta['KeyId']}"


def test_incompatible_usage_is_refused(kms: Any) -> None:
    with pytest.raises(ClientError) as exc:
        kms.create_key(KeyUsage="SIGN_VERIFY")
    assert error(exc) == ("ValidationException",
                          "KeyUsage SIGN_VERIFY is not compatible with KeySpec SYMMETRIC_DEFAULT",
                          400)


def test_deletion_after_clock_advance(hsmkms_server: ServerProcess) -> None:
    kms = hsmkms_server.client("kms")
    seven = new_key(kms)
    thirty = new_key(kms)
    cancelled = new_key(kms)
    kms.create_alias(AliasName="alias/goes-away", TargetKeyId=seven["KeyId"])
    kms.create_alias(AliasName="alias/stays", TargetKeyId=cancelled["KeyId"])
    kms.schedule_key_deletion(KeyId=seven["KeyId"], PendingWindowInDays=7)
    kms.schedule_key_deletion(KeyId=thirty["KeyId"])
    kms.schedule_key_deletion(KeyId=cancelled["KeyId"], PendingWindowInDays=7)
    kms.cancel_key_deletion(KeyId=cancelled["KeyId"])
    hsmkms_server.advance(7 * DAY - 120)
    assert kms.describe_key(KeyId=seven["KeyId"])["KeyMetadata"]["KeyState"] == "PendingDeletion"
    hsmkms_server.advance(240)
    with pytest.raises(ClientError) as exc:
        kms.describe_key(KeyId=seven["KeyId"])
    assert error(exc) == ("NotFoundException", f"Key '{seven['Arn']}' does not exist", 400)
    with pytest.raises(ClientError) as exc:
        kms.describe_key(KeyId="alias/goes-away")
    assert error(exc) == ("NotFoundException",
                          f"Alias arn:aws:kms:{REGION}:{ACCOUNT}:alias/goes-away is not found.",
                          400)
    names = [a["AliasName"] for a in kms.list_aliases()["Aliases"]]
    assert names == ["alias/stays"]
    # The name of a deleted key's alias can be reused.
    kms.create_alias(AliasName="alias/goes-away", TargetKeyId=cancelled["KeyId"])
    assert kms.describe_key(KeyId=thirty["KeyId"])["KeyMetadata"]["KeyState"] == "PendingDeletion"
    assert kms.describe_key(KeyId=cancelled["KeyId"])["KeyMetadata"]["KeyState"] == "Disabled"
    hsmkms_server.advance(23 * DAY + 60)
    with pytest.raises(ClientError) as exc:
        kms.describe_key(KeyId=thirty["KeyId"])
    assert error(exc)[0] == "NotFoundException"
    assert [k["KeyId"] for k in kms.list_keys()["Keys"]] == [cancelled["KeyId"]]
    assert [a["AliasName"] for a in kms.list_aliases()["Aliases"]] == ["alias/goes-away",
                                                                        "alias/stays"]
    health = hsmkms_server.admin("GET", "health")
    assert health["failed_job_runs"] == 0
