"""Key rotation over a real server with real boto3 and the AWS CLI (spec kms-keys.md 3, 8;
kms.md 2.8): automatic rotation on the clock (a jump of several periods, a restart in the middle),
on-demand rotation, the rotation history, every error with its message, old ciphertexts after
many rotations, and the ``RotateKey`` events CloudTrail records."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from conftest import run_aws

from hsmkms.testing.server import ServerProcess

DAY = 86400.0
ACCOUNT = "111122223333"
#: botocore's datetimes carry milliseconds: a date the server computed compares to this.
MS = 0.0015


def error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    resp = exc.value.response
    return (resp["Error"]["Code"], resp["Error"].get("Message"),
            resp["ResponseMetadata"]["HTTPStatusCode"])


def body(resp: dict[str, Any]) -> dict[str, Any]:
    """A response without its metadata, datetimes as epoch seconds."""
    return {k: (v.timestamp() if hasattr(v, "timestamp") else v)
            for k, v in resp.items() if k != "ResponseMetadata"}


def clock(server: ServerProcess) -> float:
    return float(server.admin("GET", "clock")["now"])


def new_key(kms: Any, **kwargs: Any) -> dict[str, Any]:
    return kms.create_key(**kwargs)["KeyMetadata"]  # type: ignore[no-any-return]


def rotations(kms: Any, key_id: str, include: str = "ALL_KEY_MATERIAL") -> list[dict[str, Any]]:
    pages = kms.get_paginator("list_key_rotations").paginate(
        KeyId=key_id, IncludeKeyMaterial=include)
    return [body(r) for page in pages for r in page["Rotations"]]


def rotate_now(server: ServerProcess, kms: Any, key_id: str) -> str:
    """An on-demand rotation, completed by moving the clock past its duration; the new
    material id."""
    kms.rotate_key_on_demand(KeyId=key_id)
    server.advance(60)
    status = kms.get_key_rotation_status(KeyId=key_id)
    assert "OnDemandRotationStartDate" not in status
    return str(kms.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"])


@pytest.fixture(scope="module")
def kms(module_server: ServerProcess) -> Any:
    return module_server.client("kms")


@pytest.fixture(scope="module")
def loose(module_server: ServerProcess) -> Any:
    """A client that sends what botocore would refuse to (the server's validation answers)."""
    return module_server.client("kms", config=Config(parameter_validation=False))


@pytest.fixture(scope="module")
def realistic(realistic_server: ServerProcess) -> ServerProcess:
    return realistic_server


# -- automatic rotation: settings and status ----------------------------------------------------


def test_status_of_a_new_key_then_enabled_then_a_new_period_then_disabled(
        module_server: ServerProcess, kms: Any) -> None:
    key = new_key(kms)
    arn = key["Arn"]
    assert body(kms.get_key_rotation_status(KeyId=key["KeyId"])) == {
        "KeyId": arn, "KeyRotationEnabled": False}
    before = clock(module_server)
    assert body(kms.enable_key_rotation(KeyId=key["KeyId"])) == {}
    after = clock(module_server)
    status = body(kms.get_key_rotation_status(KeyId=arn))
    assert set(status) == {"KeyId", "KeyRotationEnabled", "RotationPeriodInDays",
                           "NextRotationDate"}
    assert (status["KeyId"], status["KeyRotationEnabled"], status["RotationPeriodInDays"]) == (
        arn, True, 365)
    assert before + 365 * DAY - MS <= status["NextRotationDate"] <= after + 365 * DAY + MS
    enabled_at = status["NextRotationDate"] - 365 * DAY
    # Another period: the schedule still counts from the day rotation was enabled.
    module_server.advance(10 * DAY)
    kms.enable_key_rotation(KeyId=key["KeyId"], RotationPeriodInDays=180)
    status = body(kms.get_key_rotation_status(KeyId=key["KeyId"]))
    assert status["RotationPeriodInDays"] == 180
    assert status["NextRotationDate"] == pytest.approx(enabled_at + 180 * DAY, abs=MS)
    # Disabled: only the key and false.
    assert body(kms.disable_key_rotation(KeyId=key["KeyId"])) == {}
    assert body(kms.get_key_rotation_status(KeyId=key["KeyId"])) == {
        "KeyId": arn, "KeyRotationEnabled": False}
    # Enabled again: a new schedule from now.
    now = clock(module_server)
    kms.enable_key_rotation(KeyId=key["KeyId"], RotationPeriodInDays=90)
    status = body(kms.get_key_rotation_status(KeyId=key["KeyId"]))
    assert status["RotationPeriodInDays"] == 90
    assert now + 90 * DAY - MS <= status["NextRotationDate"] <= clock(module_server) + 90 * DAY
    # Disabling twice, or a key whose rotation was never on, is fine.
    kms.disable_key_rotation(KeyId=key["KeyId"])
    kms.disable_key_rotation(KeyId=key["KeyId"])


def test_period_limits_are_model_validated(loose: Any, kms: Any) -> None:
    key_id = new_key(kms)["KeyId"]
    for days, bound in ((89, "greater than or equal to 90"), (2561, "less than or equal to 2560"),
                        (0, "greater than or equal to 90")):
        with pytest.raises(ClientError) as exc:
            loose.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=days)
        assert error(exc) == (
            "ValidationException",
            (f"1 validation error detected: Value '{days}' at 'rotationPeriodInDays' failed "
             f"to satisfy constraint: Member must have value {bound}"), 400)
    assert body(kms.get_key_rotation_status(KeyId=key_id))["KeyRotationEnabled"] is False
    for days in (90, 2560):
        kms.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=days)
        assert kms.get_key_rotation_status(KeyId=key_id)["RotationPeriodInDays"] == days


# -- errors -------------------------------------------------------------------------------------

OPERATIONS = ("enable_key_rotation", "disable_key_rotation", "get_key_rotation_status",
              "rotate_key_on_demand", "list_key_rotations")


def test_unknown_keys(kms: Any) -> None:
    missing = "11111111-2222-4333-8444-555555555555"
    arn = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{missing}"
    for operation in OPERATIONS:
        for key_id in (missing, arn):
            with pytest.raises(ClientError) as exc:
                getattr(kms, operation)(KeyId=key_id)
            assert error(exc) == ("NotFoundException", f"Key '{arn}' does not exist", 400)


def test_disabled_key(kms: Any) -> None:
    key = new_key(kms)
    kms.disable_key(KeyId=key["KeyId"])
    for operation in ("enable_key_rotation", "disable_key_rotation", "rotate_key_on_demand"):
        with pytest.raises(ClientError) as exc:
            getattr(kms, operation)(KeyId=key["KeyId"])
        assert error(exc) == ("DisabledException", f"{key['Arn']} is disabled.", 400), operation
    assert body(kms.get_key_rotation_status(KeyId=key["KeyId"])) == {
        "KeyId": key["Arn"], "KeyRotationEnabled": False}
    assert body(kms.list_key_rotations(KeyId=key["KeyId"])) == {"Rotations": [],
                                                                "Truncated": False}


def test_pending_deletion_reports_false_and_cancelling_restores(
        module_server: ServerProcess, kms: Any) -> None:
    key = new_key(kms)
    kms.enable_key_rotation(KeyId=key["KeyId"], RotationPeriodInDays=400)
    enabled = body(kms.get_key_rotation_status(KeyId=key["KeyId"]))
    kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    assert body(kms.get_key_rotation_status(KeyId=key["KeyId"])) == {
        "KeyId": key["Arn"], "KeyRotationEnabled": False}
    for operation in ("enable_key_rotation", "disable_key_rotation", "rotate_key_on_demand"):
        with pytest.raises(ClientError) as exc:
            getattr(kms, operation)(KeyId=key["KeyId"])
        assert error(exc) == ("KMSInvalidStateException", f"{key['Arn']} is pending deletion.",
                              400), operation
    assert len(rotations(kms, key["KeyId"])) == 1  # listed while pending deletion
    module_server.advance(DAY)
    kms.cancel_key_deletion(KeyId=key["KeyId"])  # the key is Disabled now
    assert body(kms.get_key_rotation_status(KeyId=key["KeyId"])) == enabled


@pytest.mark.parametrize(("spec", "usage"), [("RSA_4096", "ENCRYPT_DECRYPT"),
                                             ("ECC_NIST_P256", "SIGN_VERIFY"),
                                             ("HMAC_256", "GENERATE_VERIFY_MAC")])
def test_keys_that_do_not_rotate(kms: Any, spec: str, usage: str) -> None:
    key = new_key(kms, KeySpec=spec, KeyUsage=usage)
    for operation in ("enable_key_rotation", "disable_key_rotation", "rotate_key_on_demand",
                      "list_key_rotations"):
        with pytest.raises(ClientError) as exc:
            getattr(kms, operation)(KeyId=key["KeyId"])
        # AWS answers with an empty message (recorded for RotateKeyOnDemand on RSA_4096).
        assert error(exc) == ("UnsupportedOperationException", "", 400), operation
    assert body(kms.get_key_rotation_status(KeyId=key["KeyId"])) == {"KeyRotationEnabled": False}


def test_aliases_are_not_key_ids_here(kms: Any) -> None:
    key = new_key(kms)
    kms.create_alias(AliasName="alias/rotation-by-alias", TargetKeyId=key["KeyId"])
    for operation in OPERATIONS:
        with pytest.raises(ClientError) as exc:
            getattr(kms, operation)(KeyId="alias/rotation-by-alias")
        assert error(exc) == ("NotFoundException", "Invalid keyId 'alias/rotation-by-alias'",
                              400)


# -- on demand ----------------------------------------------------------------------------------


def test_on_demand_rotation_is_asynchronous_and_keeps_the_automatic_schedule(
        realistic: ServerProcess) -> None:
    kms = realistic.client("kms")
    key = new_key(kms)
    kms.enable_key_rotation(KeyId=key["KeyId"], RotationPeriodInDays=90)
    before = body(kms.get_key_rotation_status(KeyId=key["KeyId"]))
    started_after = clock(realistic)
    assert body(kms.rotate_key_on_demand(KeyId=key["KeyId"])) == {"KeyId": key["Arn"]}
    # Under way for 10 s of clock time (the realistic profile).
    during = body(kms.get_key_rotation_status(KeyId=key["KeyId"]))
    assert during == {**before, "OnDemandRotationStartDate": during["OnDemandRotationStartDate"]}
    started = during["OnDemandRotationStartDate"]
    assert started >= started_after - MS
    with pytest.raises(ClientError) as exc:  # one at a time
        kms.rotate_key_on_demand(KeyId=key["KeyId"])
    assert error(exc) == ("ConflictException",
                          f"An on-demand rotation of {key['Arn']} is already in progress.", 400)
    realistic.advance(10)
    after = body(kms.get_key_rotation_status(KeyId=key["KeyId"]))
    assert after == before  # no OnDemandRotationStartDate; NextRotationDate unchanged
    current = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["CurrentKeyMaterialId"]
    assert current != key["CurrentKeyMaterialId"]
    [first, rotated] = rotations(kms, key["KeyId"])
    assert first == {"KeyId": key["Arn"], "KeyMaterialId": key["CurrentKeyMaterialId"],
                     "KeyMaterialState": "NON_CURRENT"}
    assert rotated == {"KeyId": key["Arn"], "KeyMaterialId": current,
                       "KeyMaterialState": "CURRENT", "RotationType": "ON_DEMAND",
                       "RotationDate": rotated["RotationDate"]}
    # Completed when it was due: 10 s after it started.
    assert rotated["RotationDate"] == pytest.approx(started + 10, abs=0.01)


def test_on_demand_conflicts_with_an_automatic_rotation_due_within_20_minutes(
        realistic: ServerProcess) -> None:
    kms = realistic.client("kms")
    key = new_key(kms)
    kms.enable_key_rotation(KeyId=key["KeyId"], RotationPeriodInDays=90)
    realistic.advance(90 * DAY - 19 * 60)
    with pytest.raises(ClientError) as exc:
        kms.rotate_key_on_demand(KeyId=key["KeyId"])
    assert error(exc) == (
        "ConflictException",
        f"An automatic rotation of {key['Arn']} is in progress or due within 20 minutes.", 400)
    realistic.advance(20 * 60)  # the automatic rotation happened
    assert body(kms.rotate_key_on_demand(KeyId=key["KeyId"])) == {"KeyId": key["Arn"]}
    realistic.advance(10)
    assert [r["RotationType"] for r in rotations(kms, key["KeyId"], "ROTATIONS_ONLY")] == [
        "AUTOMATIC", "ON_DEMAND"]


def test_the_on_demand_limit_is_25_by_default(module_server: ServerProcess, kms: Any) -> None:
    key = new_key(kms)
    for _ in range(25):
        kms.rotate_key_on_demand(KeyId=key["KeyId"])
        module_server.advance(2)
    with pytest.raises(ClientError) as exc:
        kms.rotate_key_on_demand(KeyId=key["KeyId"])
    assert error(exc) == (
        "LimitExceededException",
        ("The on-demand rotations limit has been reached for the given keyId. No more "
         f"on-demand rotations can be performed for this key: {key['Arn']}"), 400)
    assert len(rotations(kms, key["KeyId"], "ROTATIONS_ONLY")) == 25


def test_the_on_demand_limit_is_a_setting(tmp_path: Any) -> None:
    server = ServerProcess(tmp_path / "data", env={"HSMKMS_ON_DEMAND_ROTATIONS": "2"}).start()
    try:
        kms = server.client("kms")
        key = new_key(kms)
        for _ in range(2):
            kms.rotate_key_on_demand(KeyId=key["Arn"])
            server.advance(2)
        with pytest.raises(ClientError) as exc:
            kms.rotate_key_on_demand(KeyId=key["Arn"])
        assert error(exc)[0] == "LimitExceededException"
        # Automatic rotations do not count.
        kms.enable_key_rotation(KeyId=key["KeyId"], RotationPeriodInDays=90)
        server.advance(91 * DAY)
        assert [r["RotationType"] for r in rotations(kms, key["KeyId"], "ROTATIONS_ONLY")] == [
            "ON_DEMAND", "ON_DEMAND", "AUTOMATIC"]
    finally:
        server.kill()


# -- materials over time ------------------------------------------------------------------------


def test_old_ciphertexts_decrypt_after_many_rotations(module_server: ServerProcess,
                                                      kms: Any) -> None:
    key = new_key(kms)
    kms.enable_key_rotation(KeyId=key["KeyId"], RotationPeriodInDays=90)
    made: list[tuple[bytes, bytes, str]] = []
    material = key["CurrentKeyMaterialId"]
    for i in range(12):
        data = kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256",
                                     EncryptionContext={"n": str(i)})
        assert data["KeyMaterialId"] == material
        made.append((data["CiphertextBlob"], data["Plaintext"], material))
        if i % 2:
            module_server.advance(90 * DAY)  # an automatic rotation
            material = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"][
                "CurrentKeyMaterialId"]
        else:
            material = rotate_now(module_server, kms, key["KeyId"])
        assert material != made[-1][2]
    assert len({m for _b, _p, m in made}) == 12
    history = rotations(kms, key["KeyId"])
    assert [r["KeyMaterialId"] for r in history] == [m for _b, _p, m in made] + [material]
    assert [r.get("RotationType") for r in history] == [None] + ["ON_DEMAND", "AUTOMATIC"] * 6
    for i, (blob, plaintext, used) in enumerate(made):
        out = kms.decrypt(CiphertextBlob=blob, EncryptionContext={"n": str(i)})
        assert (out["Plaintext"], out["KeyMaterialId"], out["KeyId"]) == (
            plaintext, used, key["Arn"])
    again = kms.re_encrypt(CiphertextBlob=made[0][0], SourceEncryptionContext={"n": "0"},
                           DestinationKeyId=key["KeyId"])
    assert (again["SourceKeyMaterialId"], again["DestinationKeyMaterialId"]) == (
        made[0][2], material)
    assert kms.decrypt(CiphertextBlob=again["CiphertextBlob"])["KeyMaterialId"] == material


def test_a_clock_jump_of_three_periods_makes_three_rotations_at_their_dates(
        hsmkms_server: ServerProcess) -> None:
    kms, trail = hsmkms_server.client("kms"), hsmkms_server.client("cloudtrail")
    key = new_key(kms)
    kms.enable_key_rotation(KeyId=key["KeyId"], RotationPeriodInDays=90)
    first_due = kms.get_key_rotation_status(KeyId=key["KeyId"])["NextRotationDate"].timestamp()
    hsmkms_server.advance(3 * 90 * DAY + 3600)
    done = rotations(kms, key["KeyId"], "ROTATIONS_ONLY")
    assert [r["RotationType"] for r in done] == ["AUTOMATIC"] * 3
    assert [r["KeyMaterialState"] for r in done] == ["NON_CURRENT", "NON_CURRENT", "CURRENT"]
    for i, entry in enumerate(done):
        assert entry["RotationDate"] == pytest.approx(first_due + i * 90 * DAY, abs=MS)
    status = body(kms.get_key_rotation_status(KeyId=key["KeyId"]))
    assert status["NextRotationDate"] == pytest.approx(first_due + 3 * 90 * DAY, abs=MS)
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["CurrentKeyMaterialId"] == done[
        2]["KeyMaterialId"]
    # LookupEvents covers the last 90 days: the last rotation is in it.
    [event] = trail.lookup_events(LookupAttributes=[
        {"AttributeKey": "EventName", "AttributeValue": "RotateKey"}])["Events"]
    record = json.loads(event["CloudTrailEvent"])
    assert record == {
        "eventVersion": "1.08",
        "userIdentity": {"accountId": ACCOUNT, "invokedBy": "AWS Internal"},
        "eventTime": record["eventTime"], "eventSource": "kms.amazonaws.com",
        "eventName": "RotateKey", "awsRegion": "us-east-1", "sourceIPAddress": "AWS Internal",
        "userAgent": "AWS Internal", "requestParameters": None, "responseElements": None,
        "eventID": event["EventId"], "readOnly": False,
        "resources": [{"accountId": ACCOUNT, "type": "AWS::KMS::Key", "ARN": key["Arn"]}],
        "eventType": "AwsServiceEvent", "recipientAccountId": ACCOUNT,
        "serviceEventDetails": {"rotationType": "AUTOMATIC", "keyId": key["KeyId"],
                                "keyMaterialId": done[2]["KeyMaterialId"]},
        "eventCategory": "Management"}
    assert event["EventTime"].timestamp() == int(done[2]["RotationDate"])
    assert event["Resources"] == [{"ResourceType": "AWS::KMS::Key", "ResourceName": key["Arn"]}]
    # Set the clock back to real time (the server stopped): all three are within 90 days.
    hsmkms_server.stop()
    reset = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "hsmkms", "clock", "reset", "--data-dir",
         str(hsmkms_server.data_dir)], capture_output=True, text=True, timeout=60, check=False)
    assert reset.returncode == 0, reset.stderr
    hsmkms_server.start()
    trail = hsmkms_server.client("cloudtrail")
    found = trail.lookup_events(LookupAttributes=[
        {"AttributeKey": "EventName", "AttributeValue": "RotateKey"}])["Events"]
    details = [json.loads(e["CloudTrailEvent"])["serviceEventDetails"] for e in found]
    assert details == [{"rotationType": "AUTOMATIC", "keyId": key["KeyId"],
                        "keyMaterialId": r["KeyMaterialId"]} for r in reversed(done)]
    assert [e["EventTime"].timestamp() for e in found] == [
        int(r["RotationDate"]) for r in reversed(done)]


def test_a_rotation_due_while_the_server_was_down_happens_when_it_starts(
        hsmkms_server: ServerProcess) -> None:
    kms = hsmkms_server.client("kms")
    key = new_key(kms)
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"before the restart")["CiphertextBlob"]
    kms.enable_key_rotation(KeyId=key["KeyId"], RotationPeriodInDays=90)
    due = kms.get_key_rotation_status(KeyId=key["KeyId"])["NextRotationDate"].timestamp()
    hsmkms_server.advance(89 * DAY)
    assert rotations(kms, key["KeyId"], "ROTATIONS_ONLY") == []
    hsmkms_server.stop()
    # Move the persisted clock forward by hand, as if two days passed while it was stopped.
    import sqlite3  # noqa: PLC0415

    db = sqlite3.connect(hsmkms_server.data_dir / "hsmkms.db")
    with db:
        [(offset,)] = db.execute("SELECT value FROM meta WHERE key = 'clock_offset'").fetchall()
        db.execute("UPDATE meta SET value = ? WHERE key = 'clock_offset'",
                   (repr(float(offset) + 2 * DAY),))
    db.close()
    hsmkms_server.start()
    hsmkms_server.advance(0)  # runs what is due, and answers once it is done
    kms = hsmkms_server.client("kms")
    [done] = rotations(kms, key["KeyId"], "ROTATIONS_ONLY")
    assert (done["RotationType"], done["KeyMaterialState"]) == ("AUTOMATIC", "CURRENT")
    assert done["RotationDate"] == pytest.approx(due, abs=MS)
    assert kms.get_key_rotation_status(KeyId=key["KeyId"])["NextRotationDate"].timestamp() == \
        pytest.approx(due + 90 * DAY, abs=MS)
    out = kms.decrypt(CiphertextBlob=blob)
    assert (out["Plaintext"], out["KeyMaterialId"]) == (b"before the restart",
                                                        key["CurrentKeyMaterialId"])


def test_an_on_demand_rotation_under_way_survives_a_restart(tmp_path: Any) -> None:
    server = ServerProcess(tmp_path / "data", env={"HSMKMS_TIMING": "realistic"}).start()
    try:
        kms = server.client("kms")
        key = new_key(kms)
        kms.rotate_key_on_demand(KeyId=key["KeyId"])
        # Under way for 10 s of clock time (the realistic profile): it survives kill -9.
        started = kms.get_key_rotation_status(KeyId=key["KeyId"])["OnDemandRotationStartDate"]
        server.restart(hard=True)
        server.advance(10)
        kms = server.client("kms")
        [done] = rotations(kms, key["KeyId"], "ROTATIONS_ONLY")
        assert done["RotationType"] == "ON_DEMAND"
        assert done["RotationDate"] == pytest.approx(started.timestamp() + 10, abs=0.01)
        assert "OnDemandRotationStartDate" not in kms.get_key_rotation_status(KeyId=key["KeyId"])
    finally:
        server.kill()


def test_a_disabled_key_is_not_rotated_and_rotates_when_enabled_after_a_whole_period(
        module_server: ServerProcess, kms: Any) -> None:
    key = new_key(kms)
    kms.enable_key_rotation(KeyId=key["KeyId"], RotationPeriodInDays=90)
    due = kms.get_key_rotation_status(KeyId=key["KeyId"])["NextRotationDate"].timestamp()
    kms.disable_key(KeyId=key["KeyId"])
    module_server.advance(100 * DAY)
    assert rotations(kms, key["KeyId"], "ROTATIONS_ONLY") == []
    status = body(kms.get_key_rotation_status(KeyId=key["KeyId"]))  # still on, date passed
    assert (status["KeyRotationEnabled"], status["NextRotationDate"]) == (
        True, pytest.approx(due, abs=MS))
    before = clock(module_server)
    kms.enable_key(KeyId=key["KeyId"])
    after = clock(module_server)
    module_server.advance(0)
    [done] = rotations(kms, key["KeyId"], "ROTATIONS_ONLY")
    assert done["RotationType"] == "AUTOMATIC"
    assert before - MS <= done["RotationDate"] <= after + MS  # dated at the EnableKey call
    assert kms.get_key_rotation_status(KeyId=key["KeyId"])["NextRotationDate"].timestamp() == \
        pytest.approx(done["RotationDate"] + 90 * DAY, abs=MS)


def test_a_key_enabled_again_within_its_period_keeps_its_schedule(
        module_server: ServerProcess, kms: Any) -> None:
    key = new_key(kms)
    kms.enable_key_rotation(KeyId=key["KeyId"], RotationPeriodInDays=90)
    due = kms.get_key_rotation_status(KeyId=key["KeyId"])["NextRotationDate"].timestamp()
    kms.disable_key(KeyId=key["KeyId"])
    module_server.advance(30 * DAY)
    kms.enable_key(KeyId=key["KeyId"])
    module_server.advance(0)
    assert rotations(kms, key["KeyId"], "ROTATIONS_ONLY") == []
    assert kms.get_key_rotation_status(KeyId=key["KeyId"])["NextRotationDate"].timestamp() == \
        pytest.approx(due, abs=MS)
    module_server.advance(61 * DAY)
    [done] = rotations(kms, key["KeyId"], "ROTATIONS_ONLY")
    assert done["RotationDate"] == pytest.approx(due, abs=MS)


def test_a_shorter_period_already_passed_rotates_at_once(module_server: ServerProcess,
                                                        kms: Any) -> None:
    key = new_key(kms)
    kms.enable_key_rotation(KeyId=key["KeyId"], RotationPeriodInDays=365)
    module_server.advance(100 * DAY)
    kms.enable_key_rotation(KeyId=key["KeyId"], RotationPeriodInDays=90)
    module_server.advance(0)
    [done] = rotations(kms, key["KeyId"], "ROTATIONS_ONLY")
    assert done["RotationType"] == "AUTOMATIC"
    status = body(kms.get_key_rotation_status(KeyId=key["KeyId"]))
    assert status["NextRotationDate"] == pytest.approx(done["RotationDate"] + 90 * DAY, abs=MS)


def test_disabling_rotation_stops_the_schedule(module_server: ServerProcess, kms: Any) -> None:
    key = new_key(kms)
    kms.enable_key_rotation(KeyId=key["KeyId"], RotationPeriodInDays=90)
    kms.disable_key_rotation(KeyId=key["KeyId"])
    module_server.advance(200 * DAY)
    assert rotations(kms, key["KeyId"], "ROTATIONS_ONLY") == []


# -- the history --------------------------------------------------------------------------------


def test_list_key_rotations_pages_oldest_first(module_server: ServerProcess, kms: Any,
                                               loose: Any) -> None:
    key = new_key(kms)
    made = [key["CurrentKeyMaterialId"]] + [rotate_now(module_server, kms, key["KeyId"])
                                            for _ in range(7)]
    first = kms.list_key_rotations(KeyId=key["KeyId"], Limit=3)
    assert (len(first["Rotations"]), first["Truncated"]) == (3, True)
    assert [r["KeyMaterialId"] for r in first["Rotations"]] == made[1:4]
    assert all(set(r) == {"KeyId", "KeyMaterialId", "KeyMaterialState", "RotationDate",
                          "RotationType"} for r in first["Rotations"])
    rest = kms.list_key_rotations(KeyId=key["KeyId"], Marker=first["NextMarker"])
    assert [r["KeyMaterialId"] for r in rest["Rotations"]] == made[4:]
    assert rest["Truncated"] is False
    assert "NextMarker" not in rest
    pages = list(kms.get_paginator("list_key_rotations").paginate(
        KeyId=key["KeyId"], PaginationConfig={"PageSize": 2}))
    assert [len(p["Rotations"]) for p in pages] == [2, 2, 2, 1]
    assert [r["KeyMaterialId"] for p in pages for r in p["Rotations"]] == made[1:]
    every = rotations(kms, key["KeyId"], "ALL_KEY_MATERIAL")
    assert [r["KeyMaterialId"] for r in every] == made
    assert every[0] == {"KeyId": key["Arn"], "KeyMaterialId": made[0],
                        "KeyMaterialState": "NON_CURRENT"}
    assert [r["KeyMaterialState"] for r in every] == ["NON_CURRENT"] * 7 + ["CURRENT"]
    dates = [r["RotationDate"] for r in every[1:]]
    assert dates == sorted(dates)
    assert body(kms.list_key_rotations(KeyId=new_key(kms)["KeyId"],
                                       IncludeKeyMaterial="ALL_KEY_MATERIAL"))["Rotations"][0][
        "KeyMaterialState"] == "CURRENT"
    with pytest.raises(ClientError) as exc:
        kms.list_key_rotations(KeyId=key["KeyId"], Marker="not-a-marker")
    assert error(exc) == ("InvalidMarkerException", "Invalid marker", 400)
    for limit, bound in ((0, "greater than or equal to 1"), (1001, "less than or equal to 1000")):
        with pytest.raises(ClientError) as exc:
            loose.list_key_rotations(KeyId=key["KeyId"], Limit=limit)
        assert error(exc) == (
            "ValidationException",
            (f"1 validation error detected: Value '{limit}' at 'limit' failed to satisfy "
             f"constraint: Member must have value {bound}"), 400)
    with pytest.raises(ClientError) as exc:
        loose.list_key_rotations(KeyId=key["KeyId"], IncludeKeyMaterial="SOME")
    assert error(exc) == (
        "ValidationException",
        ("1 validation error detected: Value 'SOME' at 'includeKeyMaterial' failed to satisfy "
         "constraint: Member must satisfy enum value set: [ALL_KEY_MATERIAL, ROTATIONS_ONLY]"),
        400)


def test_aws_cli_list_key_rotations(module_server: ServerProcess, kms: Any) -> None:
    key = new_key(kms)
    material = rotate_now(module_server, kms, key["KeyId"])
    done = run_aws(module_server, "kms", "list-key-rotations", "--key-id", key["KeyId"],
                   "--include-key-material", "ALL_KEY_MATERIAL")
    assert done.returncode == 0, done.stderr
    listed = json.loads(done.stdout)
    assert [(r["KeyId"], r["KeyMaterialId"], r["KeyMaterialState"], r.get("RotationType"))
            for r in listed["Rotations"]] == [
        (key["Arn"], key["CurrentKeyMaterialId"], "NON_CURRENT", None),
        (key["Arn"], material, "CURRENT", "ON_DEMAND")]
    assert "NextMarker" not in listed  # the CLI fetched every page


# -- CloudTrail ---------------------------------------------------------------------------------


def test_on_demand_rotation_events(module_server: ServerProcess, kms: Any) -> None:
    trail = module_server.client("cloudtrail")
    key = new_key(kms)
    kms.rotate_key_on_demand(KeyId=key["KeyId"])
    module_server.advance(60)
    material = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["CurrentKeyMaterialId"]
    mine = trail.lookup_events(LookupAttributes=[
        {"AttributeKey": "ResourceName", "AttributeValue": key["Arn"]}])["Events"]
    names = [e["EventName"] for e in mine]
    assert names[:3] == ["DescribeKey", "RotateKey", "RotateKeyOnDemand"]
    call = json.loads(mine[2]["CloudTrailEvent"])
    assert (call["eventType"], call["requestParameters"], call["responseElements"],
            call["readOnly"]) == ("AwsApiCall", {"keyId": key["KeyId"]}, {"keyId": key["Arn"]},
                                  False)
    rotated = json.loads(mine[1]["CloudTrailEvent"])
    assert rotated["serviceEventDetails"] == {"rotationType": "ON_DEMAND",
                                              "keyId": key["KeyId"], "keyMaterialId": material}
    status = json.loads(trail.lookup_events(LookupAttributes=[
        {"AttributeKey": "EventName", "AttributeValue": "GetKeyRotationStatus"}],
        MaxResults=1)["Events"][0]["CloudTrailEvent"])
    assert status["readOnly"] is True
