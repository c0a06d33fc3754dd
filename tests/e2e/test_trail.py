"""CloudTrail for KMS over a real server: real boto3 and the real AWS CLI call KMS, then
``LookupEvents`` (spec kms.md section 5). Tests sharing the module server each use their own
Region, so they see only their own events."""

from __future__ import annotations

import base64
import datetime as dt
import json
import subprocess
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from hsmkms.testing.server import ServerProcess

ACCOUNT = "111122223333"
AKID = "AKIAIOSFODNN7EXAMPLE"
DAY = 86400
Aws = Callable[..., subprocess.CompletedProcess[str]]


def error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    resp = exc.value.response
    return (resp["Error"]["Code"], resp["Error"]["Message"],
            resp["ResponseMetadata"]["HTTPStatusCode"])


def events(trail: Any, **kwargs: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for page in trail.get_paginator("lookup_events").paginate(**kwargs):
        found.extend(page["Events"])
    return found


def records(trail: Any, **kwargs: Any) -> list[dict[str, Any]]:
    return [json.loads(e["CloudTrailEvent"]) for e in events(trail, **kwargs)]


def by_name(name: str) -> dict[str, Any]:
    return {"LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": name}]}


def test_every_kms_call_is_recorded_successful_or_not(module_server: ServerProcess) -> None:
    region = "eu-west-1"
    kms, trail = module_server.client("kms", region), module_server.client("cloudtrail", region)
    meta = kms.create_key(Description="trail")["KeyMetadata"]
    blob = kms.encrypt(KeyId=meta["KeyId"], Plaintext=b"hello",
                       EncryptionContext={"Dept": "IT"})["CiphertextBlob"]
    kms.decrypt(CiphertextBlob=blob, EncryptionContext={"Dept": "IT"})
    kms.generate_random(NumberOfBytes=32)
    kms.list_keys()
    with pytest.raises(ClientError) as too_many:
        kms.generate_random(NumberOfBytes=2000)
    with pytest.raises(ClientError) as missing:
        kms.describe_key(KeyId="alias/does-not-exist")

    found = events(trail)
    assert [e["EventName"] for e in found] == [
        "DescribeKey", "GenerateRandom", "ListKeys", "GenerateRandom", "Decrypt", "Encrypt",
        "CreateKey"]
    key = {"ResourceType": "AWS::KMS::Key", "ResourceName": meta["Arn"]}
    assert [e["Resources"] for e in found] == [[], [], [], [], [key], [key], [key]]
    assert [e["ReadOnly"] for e in found] == ["true"] * 6 + ["false"]
    for e in found:
        assert set(e) == {"EventId", "EventName", "ReadOnly", "AccessKeyId", "EventTime",
                          "EventSource", "Username", "Resources", "CloudTrailEvent"}
        assert (e["AccessKeyId"], e["Username"], e["EventSource"]) == \
            (AKID, AKID, "kms.amazonaws.com")
        assert isinstance(e["EventTime"], dt.datetime)
        assert json.loads(e["CloudTrailEvent"])["eventID"] == e["EventId"]

    described, bad_random, listed, random, decrypt, encrypt, create = (
        json.loads(e["CloudTrailEvent"]) for e in found)
    assert encrypt["requestParameters"] == {"keyId": meta["KeyId"],
                                            "encryptionContext": {"Dept": "IT"},
                                            "encryptionAlgorithm": "SYMMETRIC_DEFAULT"}
    assert encrypt["responseElements"] is None
    assert encrypt["resources"] == [{"accountId": ACCOUNT, "type": "AWS::KMS::Key",
                                     "ARN": meta["Arn"]}]
    assert decrypt["requestParameters"] == {"encryptionContext": {"Dept": "IT"},
                                            "encryptionAlgorithm": "SYMMETRIC_DEFAULT"}
    assert random["requestParameters"] == {"numberOfBytes": 32}
    assert random["resources"] == []
    assert listed["requestParameters"] is None
    assert "resources" not in listed
    key_meta = create["responseElements"]["keyMetadata"]
    assert key_meta["AWSAccountId"] == ACCOUNT
    assert key_meta["arn"] == meta["Arn"]
    assert key_meta["keyState"] == "Enabled"
    assert key_meta["creationDate"] == f"{meta['CreationDate']:%b} {meta['CreationDate'].day}, " \
        f"{meta['CreationDate']:%Y}, {meta['CreationDate'].hour % 12 or 12}:" \
        f"{meta['CreationDate']:%M:%S} {'AM' if meta['CreationDate'].hour < 12 else 'PM'}"
    assert create["requestParameters"]["description"] == "trail"
    assert create["requestID"] == create_request_id(found[-1])

    assert bad_random["errorCode"] == "ValidationException"
    assert bad_random["errorMessage"] == too_many.value.response["Error"]["Message"]
    assert described["errorCode"] == "NotFoundException"
    assert described["errorMessage"] == missing.value.response["Error"]["Message"]
    assert described["requestParameters"] == {"keyId": "alias/does-not-exist"}
    assert described["responseElements"] is None
    assert described["requestID"] == missing.value.response["ResponseMetadata"]["RequestId"]

    identity = create["userIdentity"]
    assert identity == {"type": "IAMUser", "principalId": identity["principalId"],
                        "arn": f"arn:aws:iam::{ACCOUNT}:user/{AKID}", "accountId": ACCOUNT,
                        "accessKeyId": AKID, "userName": AKID}
    assert create["eventVersion"] == "1.08"
    assert create["eventSource"] == "kms.amazonaws.com"
    assert create["awsRegion"] == region
    assert create["sourceIPAddress"] == "127.0.0.1"
    assert create["userAgent"].startswith("Boto3/")
    assert create["eventType"] == "AwsApiCall"
    assert create["managementEvent"] is True
    assert create["recipientAccountId"] == ACCOUNT
    assert create["eventCategory"] == "Management"
    assert dt.datetime.strptime(create["eventTime"], "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=dt.UTC) == found[-1]["EventTime"]


def create_request_id(event: dict[str, Any]) -> str:
    return str(json.loads(event["CloudTrailEvent"])["requestID"])


def test_secrets_never_reach_the_trail(module_server: ServerProcess) -> None:
    region = "eu-central-1"
    kms, trail = module_server.client("kms", region), module_server.client("cloudtrail", region)
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    secret = b"PLAINTEXT-7f3a9c-do-not-log"
    blob = kms.encrypt(KeyId=key, Plaintext=secret)["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == secret
    data_key = kms.generate_data_key(KeyId=key, KeySpec="AES_256")
    random = kms.generate_random(NumberOfBytes=64)["Plaintext"]
    with pytest.raises(ClientError):
        kms.encrypt(KeyId="alias/missing", Plaintext=secret)
    bodies = [e["CloudTrailEvent"] for e in events(trail)]
    assert len(bodies) == 6
    needles = [secret, blob, data_key["Plaintext"], data_key["CiphertextBlob"], random]
    for needle in needles:
        for form in (needle.decode("latin-1"), base64.b64encode(needle).decode()):
            assert all(form not in body for body in bodies)


def test_lookup_attributes(module_server: ServerProcess) -> None:
    region = "ap-southeast-2"
    kms, trail = module_server.client("kms", region), module_server.client("cloudtrail", region)
    other_user = "AKIAOTHERUSER0000001"
    other = module_server.client("kms", region, credentials={"aws_access_key_id": other_user})
    first = kms.create_key()["KeyMetadata"]
    second = other.create_key()["KeyMetadata"]
    kms.encrypt(KeyId=second["Arn"], Plaintext=b"x")
    other.generate_random(NumberOfBytes=8)

    def names(key: str, value: str) -> list[str]:
        found = events(trail, LookupAttributes=[{"AttributeKey": key, "AttributeValue": value}])
        return [e["EventName"] for e in found]

    assert names("EventName", "CreateKey") == ["CreateKey", "CreateKey"]
    assert names("ReadOnly", "true") == ["GenerateRandom", "Encrypt"]
    assert names("ReadOnly", "false") == ["CreateKey", "CreateKey"]
    assert names("Username", other_user) == ["GenerateRandom", "CreateKey"]
    assert names("AccessKeyId", AKID) == ["Encrypt", "CreateKey"]
    assert names("ResourceName", second["Arn"]) == ["Encrypt", "CreateKey"]
    assert names("ResourceName", first["Arn"]) == ["CreateKey"]
    assert names("ResourceType", "AWS::KMS::Key") == ["Encrypt", "CreateKey", "CreateKey"]
    assert names("EventSource", "kms.amazonaws.com") == [
        "GenerateRandom", "Encrypt", "CreateKey", "CreateKey"]
    assert names("EventSource", "ec2.amazonaws.com") == []
    newest = events(trail)[0]
    assert names("EventId", newest["EventId"]) == ["GenerateRandom"]
    assert names("EventName", "Nothing") == []


def test_pagination(module_server: ServerProcess) -> None:
    region = "sa-east-1"
    kms, trail = module_server.client("kms", region), module_server.client("cloudtrail", region)
    for n in range(1, 8):
        kms.generate_random(NumberOfBytes=n)
    pages = list(trail.get_paginator("lookup_events").paginate(
        PaginationConfig={"PageSize": 3}))
    assert [len(p["Events"]) for p in pages] == [3, 3, 1]
    assert "NextToken" not in pages[-1]
    sizes = [json.loads(e["CloudTrailEvent"])["requestParameters"]["numberOfBytes"]
             for p in pages for e in p["Events"]]
    assert sizes == [7, 6, 5, 4, 3, 2, 1]
    assert len(trail.lookup_events()["Events"]) == 7
    assert "NextToken" not in trail.lookup_events()

    token = trail.lookup_events(MaxResults=2)["NextToken"]
    with pytest.raises(ClientError) as changed:
        trail.lookup_events(NextToken=token, **by_name("GenerateRandom"))
    code, message, status = error(changed)
    assert (code, status) == ("InvalidNextTokenException", 400)
    assert message.startswith("Invalid NextToken")
    with pytest.raises(ClientError) as garbage:
        trail.lookup_events(NextToken="not-a-token")
    assert error(garbage)[0] == "InvalidNextTokenException"
    # the same parameters may continue with another page size
    assert len(trail.lookup_events(NextToken=token, MaxResults=50)["Events"]) == 5


def test_lookup_errors(module_server: ServerProcess,
                       raw: Callable[..., tuple[int, dict[str, str], bytes]]) -> None:
    trail = module_server.client("cloudtrail", "ca-central-1")
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "a"},
                               {"AttributeKey": "Username", "AttributeValue": "b"}]},
         "InvalidLookupAttributesException",
         "You can specify only one lookup attribute per request."),
        ({"LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "a" * 2001}]},
         "InvalidLookupAttributesException",
         "The value of lookup attribute EventName must be between 1 and 2000 characters long."),
        ({"LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "_" * 1001}]},
         "InvalidLookupAttributesException",
         "The value of lookup attribute EventName must be between 1 and 2000 characters long."),
        ({"MaxResults": 51}, "InvalidMaxResultsException", "MaxResults must be between 1 and 50."),
        ({"StartTime": 2000, "EndTime": 1000}, "InvalidTimeRangeException",
         "Start time must not be after end time."),
        ({"LookupAttributes": [{"AttributeKey": "Username", "AttributeValue": "a"}],
          "EventCategory": "insight"}, "InvalidLookupAttributesException",
         "Lookup attribute Username is not supported for Insights events."),
    ]
    for params, code, message in cases:
        with pytest.raises(ClientError) as exc:
            trail.lookup_events(**params)
        assert error(exc) == (code, message, 400), params
    assert trail.lookup_events(EventCategory="insight")["Events"] == []

    target = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents"
    status, _headers, body = raw(module_server, target, {"LookupAttributes": [
        {"AttributeKey": "Bogus", "AttributeValue": "x"}]})
    assert status == 400
    assert json.loads(body) == {"__type": "ValidationException", "Message": (
        "1 validation error detected: Value 'Bogus' at 'lookupAttributes.1.member.attributeKey' "
        "failed to satisfy constraint: Member must satisfy enum value set: [EventId, EventName, "
        "ReadOnly, Username, ResourceType, ResourceName, EventSource, AccessKeyId]")}
    status, _headers, body = raw(module_server, target, {"MaxResults": 0})
    assert (status, json.loads(body)["__type"]) == (400, "InvalidMaxResultsException")
    status, _headers, body = raw(module_server, target, {"MaxResults": "ten"})
    assert (status, json.loads(body)["__type"]) == (400, "SerializationException")
    with pytest.raises(ClientError) as other_op:
        trail.describe_trails()
    assert error(other_op)[0] == "NotImplementedYetException"


def test_regions_and_accounts_are_separate(module_server: ServerProcess) -> None:
    module_server.client("kms", "us-west-1").generate_random(NumberOfBytes=4)
    account = "444455556666"
    module_server.client("kms", "us-west-1", credentials={
        "aws_access_key_id": account}).generate_random(NumberOfBytes=5)
    assert len(events(module_server.client("cloudtrail", "us-west-1"))) == 1
    assert events(module_server.client("cloudtrail", "us-west-2")) == []
    own = records(module_server.client("cloudtrail", "us-west-1", credentials={
        "aws_access_key_id": account}))
    assert [r["requestParameters"] for r in own] == [{"numberOfBytes": 5}]
    assert own[0]["userIdentity"] == {"type": "Root", "principalId": account,
                                      "arn": f"arn:aws:iam::{account}:root",
                                      "accountId": account, "accessKeyId": account}
    assert own[0]["recipientAccountId"] == account


def test_time_range_and_ninety_day_window(hsmkms_server: ServerProcess) -> None:
    kms, trail = hsmkms_server.client("kms"), hsmkms_server.client("cloudtrail")
    kms.generate_random(NumberOfBytes=1)
    early = trail.lookup_events()["Events"][0]["EventTime"]
    hsmkms_server.advance(3600)
    kms.generate_random(NumberOfBytes=2)
    late = trail.lookup_events()["Events"][0]["EventTime"]
    assert late - early >= dt.timedelta(seconds=3600)

    def sizes(**kwargs: Any) -> list[int]:
        return [r["requestParameters"]["numberOfBytes"] for r in records(trail, **kwargs)]

    assert sizes() == [2, 1]
    assert sizes(StartTime=early + dt.timedelta(minutes=30)) == [2]
    assert sizes(EndTime=early + dt.timedelta(minutes=30)) == [1]
    assert sizes(StartTime=early, EndTime=early) == [1]  # both bounds are inclusive
    assert sizes(StartTime=late, EndTime=late) == [2]
    assert sizes(EndTime=early - dt.timedelta(seconds=1)) == []
    hsmkms_server.advance(90 * DAY - 1800)  # the first event is now more than 90 days old
    assert sizes() == [2]
    assert sizes(StartTime=early - dt.timedelta(days=1)) == [2]


def test_events_survive_a_graceful_restart(hsmkms_server: ServerProcess) -> None:
    kms = hsmkms_server.client("kms")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.encrypt(KeyId=key, Plaintext=b"x")
    kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
    hsmkms_server.restart()  # at once: the events are still in the buffer when it stops
    found = records(hsmkms_server.client("cloudtrail"))
    assert [r["eventName"] for r in found] == ["ScheduleKeyDeletion", "Encrypt", "CreateKey"]
    response = found[0]["responseElements"]
    assert set(response) == {"keyId", "deletionDate", "keyState", "pendingWindowInDays"}
    assert (response["keyState"], response["pendingWindowInDays"]) == ("PendingDeletion", 7)
    kms = hsmkms_server.client("kms")
    kms.cancel_key_deletion(KeyId=key)
    newest = records(hsmkms_server.client("cloudtrail"), MaxResults=1)[0]
    assert newest["eventName"] == "CancelKeyDeletion"
    assert newest["responseElements"] == {"keyId": response["keyId"]}


def test_aws_cli_lookup_events(module_server: ServerProcess, aws: Aws) -> None:
    kms = module_server.client("kms")  # us-east-1, the CLI's Region
    key = kms.create_key(Description="cli")["KeyMetadata"]
    done = aws(module_server, "kms", "describe-key", "--key-id", key["KeyId"])
    assert done.returncode == 0, done.stderr
    done = aws(module_server, "cloudtrail", "lookup-events", "--lookup-attributes",
               f"AttributeKey=ResourceName,AttributeValue={key['Arn']}")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert [e["EventName"] for e in out["Events"]] == ["DescribeKey", "CreateKey"]
    described = json.loads(out["Events"][0]["CloudTrailEvent"])
    assert described["userAgent"].startswith("aws-cli/1.")
    assert described["requestParameters"] == {"keyId": key["KeyId"]}
    assert out["Events"][0]["Resources"] == [{"ResourceType": "AWS::KMS::Key",
                                              "ResourceName": key["Arn"]}]
    done = aws(module_server, "cloudtrail", "lookup-events", "--max-items", "1",
               "--lookup-attributes", "AttributeKey=EventName,AttributeValue=CreateKey",
               "--query", "Events[].EventName", "--output", "text")
    assert (done.returncode, done.stdout.splitlines()[0]) == (0, "CreateKey"), done.stderr
    done = aws(module_server, "cloudtrail", "lookup-events", "--start-time",
               "2030-01-02T00:00:00Z", "--end-time", "2030-01-01T00:00:00Z")
    assert done.returncode == 255  # AWS CLI v1: a service error
    assert "An error occurred (InvalidTimeRangeException) when calling the LookupEvents " \
        "operation: Start time must not be after end time." in done.stderr


def test_delete_key_service_event_at_the_end_of_the_waiting_period(
        hsmkms_server: ServerProcess) -> None:
    kms, trail = hsmkms_server.client("kms"), hsmkms_server.client("cloudtrail")
    arn = kms.create_key()["KeyMetadata"]["Arn"]
    kms.schedule_key_deletion(KeyId=arn, PendingWindowInDays=7)
    hsmkms_server.advance(7 * DAY + 1)
    [event] = events(trail, **by_name("DeleteKey"))
    assert "AccessKeyId" not in event and "Username" not in event
    assert event["Resources"] == [{"ResourceType": "AWS::KMS::Key", "ResourceName": arn}]
    assert event["ReadOnly"] == "false"
    rec = json.loads(event["CloudTrailEvent"])
    assert rec == {
        "eventVersion": "1.08", "userIdentity": {"accountId": ACCOUNT, "invokedBy": "AWS Internal"},
        "eventTime": rec["eventTime"], "eventSource": "kms.amazonaws.com",
        "eventName": "DeleteKey", "awsRegion": "us-east-1", "sourceIPAddress": "AWS Internal",
        "userAgent": "AWS Internal", "requestParameters": None,
        "responseElements": {"keyId": arn}, "eventID": event["EventId"], "readOnly": False,
        "resources": [{"accountId": ACCOUNT, "type": "AWS::KMS::Key", "ARN": arn}],
        "eventType": "AwsServiceEvent", "recipientAccountId": ACCOUNT, "managementEvent": True,
        "eventCategory": "Management"}
    assert [e["EventName"] for e in events(trail)] == [
        "DeleteKey", "ScheduleKeyDeletion", "CreateKey"]
