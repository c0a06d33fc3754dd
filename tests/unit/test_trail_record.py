"""hsmkms.trail.record: the pure record builders."""

from __future__ import annotations

import calendar
import json
from typing import Any

import pytest

from hsmkms.protocol.awsjson import JsonService
from hsmkms.trail import record

ACCOUNT = "111122223333"
REGION = "us-west-2"
KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{KEY_ID}"


@pytest.fixture(scope="module")
def kms() -> JsonService:
    return JsonService("kms", {})


def call(operation: str, params: dict[str, Any], result: dict[str, Any] | None = None, *,
         error: tuple[str, str | None] | None = None, akid: str = "AKIAEXAMPLE",
         extra: dict[str, Any] | None = None, noted: tuple[str, ...] = ()) -> record.Call:
    return record.Call(ACCOUNT, REGION, "req-1", 1639146231.75, akid, "192.0.2.0", "agent/1",
                       operation, params, result, error[0] if error else None,
                       error[1] if error else None, extra, noted)


def build(kms: JsonService, c: record.Call) -> record.Event:
    op = kms.operations[c.operation]
    return record.api_call_event(c, "evt-1", op.input, op.output)


def test_decapitalize_follows_the_java_bean_rule() -> None:
    assert record.decapitalize("KeyId") == "keyId"
    assert record.decapitalize("AWSAccountId") == "AWSAccountId"
    assert record.decapitalize("CloudHsmClusterId") == "cloudHsmClusterId"
    assert record.decapitalize("X") == "x"


def test_times() -> None:
    t = calendar.timegm((2021, 10, 14, 17, 39, 50))
    assert record.human_time(t + 0.9) == "Oct 14, 2021, 5:39:50 PM"
    assert record.human_time(calendar.timegm((2021, 1, 2, 0, 5, 9))) == "Jan 2, 2021, 12:05:09 AM"
    assert record.human_time(calendar.timegm((2021, 1, 2, 12, 0, 0))) == "Jan 2, 2021, 12:00:00 PM"
    assert record.iso_time(calendar.timegm((2021, 12, 10, 14, 23, 51)) + 0.5) == \
        "2021-12-10T14:23:51Z"


def test_read_only_table() -> None:
    for op in ("Encrypt", "Decrypt", "GenerateRandom", "DescribeKey", "ListKeys",
               "DescribeCustomKeyStores", "GetKeyPolicy"):
        assert record.read_only(op), op
    for op in ("CreateKey", "ScheduleKeyDeletion", "ConnectCustomKeyStore", "PutKeyPolicy",
               "DeleteCustomKeyStore", "TagResource"):
        assert not record.read_only(op), op


def test_encrypt_event_omits_plaintext_and_names_the_key(kms: JsonService) -> None:
    params = {"KeyId": KEY_ID, "Plaintext": b"top secret", "EncryptionContext": {"Dept": "IT"}}
    result = {"CiphertextBlob": b"blob", "KeyId": ARN, "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}
    event = build(kms, call("Encrypt", params, result))
    assert event.record == {
        "eventVersion": "1.08",
        "userIdentity": event.record["userIdentity"],
        "eventTime": "2021-12-10T14:23:51Z", "eventSource": "kms.amazonaws.com",
        "eventName": "Encrypt", "awsRegion": REGION, "sourceIPAddress": "192.0.2.0",
        "userAgent": "agent/1",
        "requestParameters": {"keyId": KEY_ID, "encryptionContext": {"Dept": "IT"},
                              "encryptionAlgorithm": "SYMMETRIC_DEFAULT"},
        "responseElements": None, "requestID": "req-1", "eventID": "evt-1", "readOnly": True,
        "resources": [{"accountId": ACCOUNT, "type": "AWS::KMS::Key", "ARN": ARN}],
        "eventType": "AwsApiCall", "managementEvent": True, "recipientAccountId": ACCOUNT,
        "eventCategory": "Management",
    }
    assert (event.scope, event.time, event.read_only, event.username) == \
        (f"{ACCOUNT}/{REGION}", 1639146231, "true", "AKIAEXAMPLE")
    assert event.resources == (("AWS::KMS::Key", ARN),)


def test_failed_call_carries_error_code_and_message(kms: JsonService) -> None:
    event = build(kms, call("DescribeKey", {"KeyId": "alias/missing"},
                            error=("NotFoundException", "Alias alias/missing is not found.")))
    rec = event.record
    assert rec["errorCode"] == "NotFoundException"
    assert rec["errorMessage"] == "Alias alias/missing is not found."
    assert rec["responseElements"] is None
    assert "resources" not in rec
    # An error without a message member (InvalidCiphertextException) has no errorMessage.
    rec = build(kms, call("Decrypt", {"CiphertextBlob": b"x"},
                          error=("InvalidCiphertextException", None))).record
    assert rec["errorCode"] == "InvalidCiphertextException"
    assert "errorMessage" not in rec
    assert rec["requestParameters"] == {"encryptionAlgorithm": "SYMMETRIC_DEFAULT"}


def test_create_key_event(kms: JsonService) -> None:
    created = calendar.timegm((2022, 8, 10, 22, 38, 27))
    meta = {"AWSAccountId": ACCOUNT, "KeyId": KEY_ID, "Arn": ARN, "CreationDate": created,
            "Enabled": True, "Description": "", "KeyUsage": "ENCRYPT_DECRYPT",
            "KeyState": "Enabled", "Origin": "AWS_KMS", "KeyManager": "CUSTOMER",
            "CustomerMasterKeySpec": "SYMMETRIC_DEFAULT", "KeySpec": "SYMMETRIC_DEFAULT",
            "EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"], "MultiRegion": False}
    rec = build(kms, call("CreateKey", {"Tags": [{"TagKey": "k", "TagValue": "v"}]},
                          {"KeyMetadata": meta})).record
    assert rec["requestParameters"] == {
        "description": "", "origin": "AWS_KMS", "bypassPolicyLockoutSafetyCheck": False,
        "keyUsage": "ENCRYPT_DECRYPT", "customerMasterKeySpec": "SYMMETRIC_DEFAULT",
        "keySpec": "SYMMETRIC_DEFAULT", "tags": [{"tagKey": "k", "tagValue": "v"}]}
    assert rec["responseElements"] == {"keyMetadata": {
        "AWSAccountId": ACCOUNT, "keyId": KEY_ID, "arn": ARN,
        "creationDate": "Aug 10, 2022, 10:38:27 PM", "enabled": True, "description": "",
        "keyUsage": "ENCRYPT_DECRYPT", "keyState": "Enabled", "origin": "AWS_KMS",
        "keyManager": "CUSTOMER", "customerMasterKeySpec": "SYMMETRIC_DEFAULT",
        "keySpec": "SYMMETRIC_DEFAULT", "encryptionAlgorithms": ["SYMMETRIC_DEFAULT"],
        "multiRegion": False}}
    assert rec["readOnly"] is False
    assert rec["resources"] == [{"accountId": ACCOUNT, "type": "AWS::KMS::Key", "ARN": ARN}]


def test_custom_key_store_events_hide_password_and_certificate(kms: JsonService) -> None:
    params = {"CustomKeyStoreName": "ExampleKeyStore", "CloudHsmClusterId": "cluster-abc",
              "TrustAnchorCertificate": "-----BEGIN CERTIFICATE-----",
              "KeyStorePassword": "kmsPswd"}
    rec = build(kms, call("CreateCustomKeyStore", params,
                          {"CustomKeyStoreId": "cks-1234567890abcdef0"})).record
    assert rec["requestParameters"] == {"customKeyStoreName": "ExampleKeyStore",
                                        "clusterId": "cluster-abc"}
    assert rec["responseElements"] == {"customKeyStoreId": "cks-1234567890abcdef0"}
    assert "resources" not in rec
    assert "kmsPswd" not in json.dumps(rec)
    assert "CERTIFICATE" not in json.dumps(rec)
    upd = build(kms, call("UpdateCustomKeyStore", {
        "CustomKeyStoreId": "cks-1", "KeyStorePassword": "newPswd",
        "NewCustomKeyStoreName": "n"}, {},
        extra={"customKeyStoreName": "ExampleKeyStore", "clusterId": "cluster-abc"})).record
    assert upd["requestParameters"] == {"customKeyStoreId": "cks-1",
                                        "newCustomKeyStoreName": "n"}
    assert upd["responseElements"] is None
    assert upd["additionalEventData"] == {"customKeyStoreName": "ExampleKeyStore",
                                          "clusterId": "cluster-abc"}


def test_schedule_key_deletion_response(kms: JsonService) -> None:
    when = calendar.timegm((2021, 12, 17, 14, 23, 51))
    rec = build(kms, call("ScheduleKeyDeletion", {"KeyId": ARN, "PendingWindowInDays": 7},
                          {"KeyId": ARN, "DeletionDate": when, "KeyState": "PendingDeletion",
                           "PendingWindowInDays": 7})).record
    assert rec["responseElements"] == {"keyId": ARN, "deletionDate": "Dec 17, 2021, 2:23:51 PM",
                                       "keyState": "PendingDeletion", "pendingWindowInDays": 7}


def test_generate_random_has_empty_resources(kms: JsonService) -> None:
    rec = build(kms, call("GenerateRandom", {"NumberOfBytes": 16},
                          {"Plaintext": b"0123456789abcdef"})).record
    assert rec["resources"] == []
    assert rec["requestParameters"] == {"numberOfBytes": 16}
    assert rec["responseElements"] is None


def test_list_keys_without_parameters_logs_null(kms: JsonService) -> None:
    rec = build(kms, call("ListKeys", {}, {"Keys": []})).record
    assert rec["requestParameters"] is None
    assert "resources" not in rec


def test_key_arns_from_answer_request_and_notes() -> None:
    other = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/mrk-" + "a" * 32
    assert record.key_arns(ACCOUNT, REGION, {"KeyId": "alias/x"}, {"KeyId": ARN}) == [ARN]
    assert record.key_arns(ACCOUNT, REGION, {"KeyId": KEY_ID}, None) == [ARN]
    assert record.key_arns(ACCOUNT, REGION, {"KeyId": "not-a-key"}, None) == []
    assert record.key_arns(ACCOUNT, REGION, {"SourceKeyId": ARN, "DestinationKeyId": other},
                           {"SourceKeyId": ARN, "KeyId": other}) == [ARN, other]
    assert record.key_arns(ACCOUNT, "cn-north-1", {"KeyId": KEY_ID}, None) == [
        f"arn:aws-cn:kms:cn-north-1:{ACCOUNT}:key/{KEY_ID}"]
    assert record.key_arns(ACCOUNT, REGION, {}, None, [ARN, ARN]) == [ARN]


def test_user_identity() -> None:
    iam, name = record.user_identity(ACCOUNT, "AKIAIOSFODNN7EXAMPLE", REGION)
    assert name == "AKIAIOSFODNN7EXAMPLE"
    assert iam["type"] == "IAMUser"
    assert iam["arn"] == f"arn:aws:iam::{ACCOUNT}:user/AKIAIOSFODNN7EXAMPLE"
    assert iam["principalId"].startswith("AIDA")
    assert len(iam["principalId"]) == 21
    assert iam == record.user_identity(ACCOUNT, "AKIAIOSFODNN7EXAMPLE", REGION)[0]
    root, name = record.user_identity("444455556666", "444455556666", REGION)
    assert name == "root"
    assert root == {"type": "Root", "principalId": "444455556666",
                    "arn": "arn:aws:iam::444455556666:root", "accountId": "444455556666",
                    "accessKeyId": "444455556666"}


def test_delete_key_service_event_matches_the_guide() -> None:
    """The CloudHSM key store guide's DeleteKey example, field for field."""
    guide = json.loads("""{ "eventVersion": "1.08", "userIdentity": { "accountId": "111122223333",
    "invokedBy": "AWS Internal" }, "eventTime": "2021-12-10T14:23:51Z", "eventSource":
    "kms.amazonaws.com", "eventName": "DeleteKey", "awsRegion": "us-west-2", "sourceIPAddress":
    "AWS Internal", "userAgent": "AWS Internal", "requestParameters": null, "responseElements":
    { "keyId":"arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab" },
    "additionalEventData": { "customKeyStoreId": "cks-1234567890abcdef0", "clusterId":
    "cluster-1a23b4cdefg", "backingKeys": "[{\\"backingKeyId\\":\\"backing-key-id\\"}]",
    "backingKeysDeletionStatus":
    "[{\\"backingKeyId\\":\\"backing-key-id\\",\\"deletionStatus\\":\\"FAILURE\\"}]" },
    "eventID": "c21f1f47-f52b-4ffe-bff0-6d994403cf40", "readOnly": false, "resources": [ {
    "accountId": "111122223333", "type": "AWS::KMS::Key", "ARN":
    "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab" } ],
    "eventType": "AwsServiceEvent", "recipientAccountId": "111122223333", "managementEvent": true,
    "eventCategory": "Management" }""")
    event = record.service_event(
        f"{ACCOUNT}/{REGION}", "DeleteKey", calendar.timegm((2021, 12, 10, 14, 23, 51)),
        "c21f1f47-f52b-4ffe-bff0-6d994403cf40", resources=[ARN],
        additional_event_data=guide["additionalEventData"],
        response_elements={"keyId": ARN})
    assert event.record == guide
    assert list(event.record) == list(guide)  # same member order, too
    assert (event.username, event.access_key_id, event.read_only) == (None, None, "false")


def test_rotate_key_service_event_carries_its_details() -> None:
    """CloudTrail user guide, "AWS service events": RotateKey's serviceEventDetails, between
    recipientAccountId and eventCategory."""
    arn = "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    details = {"rotationType": "AUTOMATIC", "keyId": "1234abcd-12ab-34cd-56ef-1234567890ab",
               "keyMaterialId": "ab" * 32}
    event = record.service_event("111122223333/us-west-2", "RotateKey", 1610588519.0,
                                 "a24b3967-ddad-417f-9b22-2332b918db06", resources=[arn],
                                 additional_event_data=None, response_elements=None,
                                 service_event_details=details)
    rec = record.expand(event.scope, event.time, event.event_id, event.event_name, None,
                        [arn], event.stored)
    assert list(rec)[-4:] == ["eventType", "recipientAccountId", "serviceEventDetails",
                              "eventCategory"]
    assert "managementEvent" not in rec
    assert rec["serviceEventDetails"] == details
    assert (rec["requestParameters"], rec["responseElements"]) == (None, None)
