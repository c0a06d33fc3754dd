"""Guide: "How to delete orphaned key material" - the DeleteKey service event in CloudTrail
(``backingKeysDeletionStatus``) and ``cloudhsm-cli key delete --filter attr.id=0x<id>``
(spec kms.md 5.2, 1.5 item 12)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from guide_helpers import Env, build_env, clear_fault, error, fault, module_env_server

from hsmkms.testing.server import ServerProcess

DAY = 86400


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = module_env_server(tmp_path_factory)
    try:
        yield srv
    finally:
        srv.kill()


@pytest.fixture(scope="module")
def env(server: ServerProcess) -> Env:
    return build_env(server)


def delete_key_events(env: Env) -> list[dict[str, Any]]:
    code, out = env.aws("cloudtrail", "lookup-events", "--lookup-attributes",
                        "AttributeKey=EventName,AttributeValue=DeleteKey")
    assert code == 0, out
    return [json.loads(e["CloudTrailEvent"]) for e in out["Events"]]


def event_for(env: Env, arn: str) -> dict[str, Any]:
    [record] = [r for r in delete_key_events(env) if r["responseElements"]["keyId"] == arn]
    return record


def test_deletion_while_disconnected_leaves_orphaned_key_material(env: Env) -> None:
    key_id = env.create_key("to be deleted")
    arn = env.key_arn(key_id)
    backing = env.backing_key_id(key_id)
    env.kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    env.disconnect()
    env.server.advance(7 * DAY + 3600)
    assert error(env.kms.describe_key, KeyId=key_id)[0] == "NotFoundException"
    record = event_for(env, arn)
    assert set(record) == {
        "eventVersion", "userIdentity", "eventTime", "eventSource", "eventName", "awsRegion",
        "sourceIPAddress", "userAgent", "requestParameters", "responseElements",
        "additionalEventData", "eventID", "readOnly", "resources", "eventType",
        "recipientAccountId", "managementEvent", "eventCategory"}
    assert record["eventVersion"] == "1.08"
    assert record["userIdentity"] == {"accountId": "111122223333", "invokedBy": "AWS Internal"}
    assert (record["eventSource"], record["eventName"], record["awsRegion"]) == (
        "kms.amazonaws.com", "DeleteKey", "us-east-1")
    assert record["sourceIPAddress"] == record["userAgent"] == "AWS Internal"
    assert record["requestParameters"] is None
    assert record["responseElements"] == {"keyId": arn}
    assert record["additionalEventData"] == {
        "customKeyStoreId": env.store_id, "clusterId": env.cluster_id,
        "backingKeys": f'[{{"backingKeyId":"{backing}"}}]',
        "backingKeysDeletionStatus":
            f'[{{"backingKeyId":"{backing}","deletionStatus":"FAILURE"}}]'}
    assert record["readOnly"] is False
    assert record["resources"] == [{"accountId": "111122223333", "type": "AWS::KMS::Key",
                                    "ARN": arn}]
    assert (record["eventType"], record["recipientAccountId"], record["managementEvent"],
            record["eventCategory"]) == ("AwsServiceEvent", "111122223333", True, "Management")

    # The key material is still in the cluster: log in as kmsuser and delete it by id.
    env.set_kmsuser_password("orphanPass1")
    code, out = env.as_kmsuser("key", "list", "--filter", f"attr.id=0x{backing}", "--verbose")
    assert code == 0, out
    assert out["data"]["total_key_count"] == 1
    # The backing key as KMS made it (spec cloudhsm.md 4.4): AES-256, a token key that never
    # leaves the HSM, owned by kmsuser, labelled with the KMS key's ARN, used to encrypt.
    [found] = out["data"]["matched_keys"]
    attrs = found["attributes"]
    assert (attrs["key-type"], attrs["label"], attrs["id"], attrs["key-length-bytes"]) == (
        "aes", arn, f"0x{backing}", 32)
    assert (attrs["token"], attrs["extractable"], attrs["encrypt"], attrs["decrypt"]) == (
        True, False, True, True)
    assert found["key-info"]["key-owners"] == [{"username": "kmsuser", "key-coverage": "full"}]
    code, out = env.as_kmsuser("key", "delete", "--filter", f"attr.id=0x{backing}")
    assert (code, out) == (0, {"error_code": 0, "data": {"message": "Key deleted successfully"}})
    code, out = env.as_kmsuser("key", "list", "--filter", f"attr.id=0x{backing}")
    assert out["data"]["total_key_count"] == 0
    # Log out (single-command mode did) and reconnect.
    env.update_password()
    env.connect()


def test_deletion_while_connected_deletes_the_key_material(env: Env) -> None:
    key_id = env.create_key("deleted cleanly")
    arn = env.key_arn(key_id)
    backing = env.backing_key_id(key_id)
    env.kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    # The ScheduleKeyDeletion event names the backing key with its handle (DG example).
    code, out = env.aws("cloudtrail", "lookup-events", "--lookup-attributes",
                        "AttributeKey=EventName,AttributeValue=ScheduleKeyDeletion")
    assert code == 0, out
    [scheduled] = [json.loads(e["CloudTrailEvent"]) for e in out["Events"]
                   if json.loads(e["CloudTrailEvent"])["requestParameters"]["keyId"] == key_id]
    [entry] = json.loads(scheduled["additionalEventData"]["backingKeys"])
    assert set(scheduled["additionalEventData"]) == {"customKeyStoreId", "clusterId",
                                                     "backingKeys"}
    assert entry == {"keyHandle": entry["keyHandle"], "backingKeyId": backing}
    assert entry["keyHandle"].isdigit()
    env.server.advance(7 * DAY + 3600)
    status = json.loads(event_for(env, arn)["additionalEventData"][
        "backingKeysDeletionStatus"])
    assert status == [{"backingKeyId": backing, "deletionStatus": "SUCCESS"}]
    code, out = env.as_admin("key", "list", "--filter", f"attr.id=0x{backing}")
    assert code == 0, out
    assert out["data"]["total_key_count"] == 0


def test_deletion_while_the_cluster_is_unreachable_fails_too(env: Env) -> None:
    key_id = env.create_key("unreachable")
    arn = env.key_arn(key_id)
    backing = env.backing_key_id(key_id)
    env.kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    fault_id = fault(env.server, "network-errors", env.cluster_id)
    try:
        env.server.advance(7 * DAY + 3600)
    finally:
        clear_fault(env.server, fault_id)
    status = json.loads(event_for(env, arn)["additionalEventData"][
        "backingKeysDeletionStatus"])
    assert status == [{"backingKeyId": backing, "deletionStatus": "FAILURE"}]
    code, out = env.as_admin("key", "list", "--filter", f"attr.id=0x{backing}")
    assert out["data"]["total_key_count"] == 1
