"""hsmkms.trail.service and .log through an App built in the test: notes, service events,
batching, flushing on close, persistence, indexes."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from hsmkms.app import App
from hsmkms.config import Config
from hsmkms.context import RequestContext
from hsmkms.errors import ValidationException
from hsmkms.trail.log import EventLog, Query
from hsmkms.trail.service import PREPARE_AGE, SLICE, WRITE_AGE, WRITE_SIZE

SCOPE = "111122223333/us-west-2"
ARN = "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
EVERYTHING = (-1.0, float("inf"))


def make_app(path: Path) -> App:
    return App(Config.from_env({"data_dir": str(path)}))


def ctx(app: App, request_id: str = "req-1") -> RequestContext:
    return RequestContext("111122223333", "us-west-2", request_id, app.clock.now(),
                          "AKIAEXAMPLE", "192.0.2.1", "test/1", "TrentService", "")


def stored(app: App, **query: Any) -> list[dict[str, Any]]:
    rows = app.trail.lookup(Query(SCOPE, *EVERYTHING, **query))  # type: ignore[attr-defined]
    return [json.loads(r.body) for r in rows]


def test_service_event_is_buffered_then_flushed(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    trail = app.trail  # type: ignore[attr-defined]
    event_id = trail.record_service_event(
        SCOPE, "DeleteKey", app.clock.now(), resources=[ARN], response_elements={"keyId": ARN},
        additional_event_data={"customKeyStoreId": "cks-1234567890abcdef0"})
    assert app.db.execute("SELECT COUNT(*) FROM trail_events") == [(0,)]
    app.tick()  # younger than a second: still buffered
    assert app.db.execute("SELECT COUNT(*) FROM trail_events") == [(0,)]
    [event] = stored(app)  # a lookup flushes first
    assert event["eventID"] == event_id
    assert event["eventType"] == "AwsServiceEvent"
    assert event["userIdentity"] == {"accountId": "111122223333", "invokedBy": "AWS Internal"}
    assert event["additionalEventData"] == {"customKeyStoreId": "cks-1234567890abcdef0"}
    assert "requestID" not in event
    assert [json.loads(r.body)["eventID"] for r in trail.lookup(Query(
        SCOPE, *EVERYTHING, attribute=("ResourceName", ARN)))] == [event_id]
    app.close()


def test_notes_are_merged_into_the_requests_event(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    trail = app.trail  # type: ignore[attr-defined]
    other = ARN.replace("1234abcd", "5678abcd")
    trail.note("req-1", additional_event_data={"customKeyStoreId": "cks-1"}, resources=[ARN])
    trail.note("req-1", additional_event_data={"clusterId": "cluster-1"}, resources=[other])
    trail.note("req-elsewhere", additional_event_data={"x": "y"})
    trail.observe(ctx(app), "TrentService", "ConnectCustomKeyStore",
                  {"CustomKeyStoreId": "cks-1"}, {}, None)
    trail.observe(ctx(app, "req-2"), "TrentService", "Encrypt", {"KeyId": "alias/a"}, None,
                  ValidationException("bad"))
    trail.observe(ctx(app, "req-3"), "BaldrApiService", "DescribeClusters", {}, {}, None)
    trail.observe(ctx(app, "req-4"), "TrentService", "NoSuchOperation", {}, None,
                  ValidationException("bad"))
    app.tick()  # drops notes of requests that never reached the observer
    assert trail._notes == {}  # noqa: SLF001
    newest, oldest = stored(app)
    assert oldest["eventName"] == "ConnectCustomKeyStore"
    assert oldest["additionalEventData"] == {"customKeyStoreId": "cks-1",
                                             "clusterId": "cluster-1"}
    assert [r["ARN"] for r in oldest["resources"]] == [ARN, other]
    assert oldest["requestParameters"] == {"customKeyStoreId": "cks-1"}
    assert newest["errorCode"] == "ValidationException"
    assert newest["errorMessage"] == "bad"
    assert "additionalEventData" not in newest
    app.close()


def written(app: App, count: int, within: float = 3.0) -> float:
    """Wait until ``count`` events are in the table; the seconds it took."""
    start = time.monotonic()
    while app.db.execute("SELECT COUNT(*) FROM trail_events") != [(count,)]:
        assert time.monotonic() - start < within, app.db.execute(
            "SELECT COUNT(*) FROM trail_events")
        time.sleep(0.01)
    return time.monotonic() - start


def test_large_buffer_is_written_at_once_and_close_writes_the_rest(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    trail = app.trail  # type: ignore[attr-defined]
    for i in range(WRITE_SIZE):
        trail.observe(ctx(app, f"r{i}"), "TrentService", "GenerateRandom",
                      {"NumberOfBytes": 8}, {"Plaintext": b"12345678"}, None)
    app.tick()
    assert written(app, WRITE_SIZE) < WRITE_AGE  # a full batch does not wait for its age
    trail.observe(ctx(app, "last"), "TrentService", "ListKeys", {}, {"Keys": []}, None)
    app.close()
    reopened = make_app(tmp_path)
    events = stored(reopened, limit=2)
    assert [e["requestID"] for e in events] == ["last", f"r{WRITE_SIZE - 1}"]
    # sequence numbers continue after a restart: new events sort after old ones
    reopened.trail.observe(  # type: ignore[attr-defined]
        ctx(reopened, "after"), "TrentService", "ListKeys", {}, {"Keys": []}, None)
    assert stored(reopened, limit=1)[0]["requestID"] == "after"
    reopened.close()


def test_a_few_events_are_written_within_about_a_second(tmp_path: Path) -> None:
    """The bound on what a crash can lose: without lookups, a slice waits at most
    PREPARE_AGE (plus a tick) to become rows, rows at most WRITE_AGE to be written."""
    app = make_app(tmp_path)
    trail = app.trail  # type: ignore[attr-defined]
    for i in range(3):
        trail.observe(ctx(app, f"r{i}"), "TrentService", "GenerateRandom",
                      {"NumberOfBytes": 8}, {"Plaintext": b"12345678"}, None)
    start = time.monotonic()
    while app.db.execute("SELECT COUNT(*) FROM trail_events") != [(3,)]:
        app.tick()
        time.sleep(0.05)
        assert time.monotonic() - start < PREPARE_AGE + WRITE_AGE + 0.5
    for i in range(SLICE):  # after responses, a full slice becomes rows at once
        trail.observe(ctx(app, f"s{i}"), "TrentService", "GenerateRandom",
                      {"NumberOfBytes": 8}, {"Plaintext": b"12345678"}, None)
    trail.after_response()
    assert written(app, 3 + SLICE) < WRITE_AGE + 0.5
    app.close()


def test_window_attributes_and_keyset_pages(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    trail = app.trail  # type: ignore[attr-defined]
    t0 = int(app.clock.now())
    for i in range(5):
        trail.record_service_event(SCOPE, "DeleteKey" if i % 2 else "Other", t0 + i,
                                   resources=[ARN] if i < 3 else [])
    trail.record_service_event("444455556666/us-west-2", "DeleteKey", t0, resources=[ARN])
    log: EventLog = trail._log  # noqa: SLF001
    trail.flush()
    assert [r.time for r in log.lookup(Query(SCOPE, *EVERYTHING))] == [t0 + i for i in (4, 3, 2, 1, 0)]
    assert [r.time for r in log.lookup(Query(SCOPE, t0 + 1, t0 + 3))] == [t0 + 3, t0 + 2, t0 + 1]
    names = log.lookup(Query(SCOPE, *EVERYTHING, attribute=("EventName", "DeleteKey")))
    assert [r.time for r in names] == [t0 + 3, t0 + 1]
    typed = log.lookup(Query(SCOPE, *EVERYTHING, attribute=("ResourceType", "AWS::KMS::Key")))
    assert [r.time for r in typed] == [t0 + 2, t0 + 1, t0]
    page = log.lookup(Query(SCOPE, *EVERYTHING, limit=2))
    last = page[-1]
    rest = log.lookup(Query(SCOPE, *EVERYTHING, after=(last.time, last.seq)))
    assert [r.time for r in page + rest] == [t0 + i for i in (4, 3, 2, 1, 0)]
    typed_rest = log.lookup(Query(SCOPE, *EVERYTHING, attribute=("ResourceType", "AWS::KMS::Key"),
                                  after=(typed[0].time, typed[0].seq)))
    assert [r.time for r in typed_rest] == [t0 + 1, t0]
    app.close()


def test_lookups_use_indexes(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    plans = {
        "time": "SELECT seq FROM trail_events WHERE scope = 'a' AND t >= 0 AND t <= 9 "
                "ORDER BY t DESC, seq DESC LIMIT 5",
        "name": "SELECT seq FROM trail_events WHERE scope = 'a' AND event_name = 'x' "
                "AND t >= 0 AND t <= 9 ORDER BY t DESC, seq DESC LIMIT 5",
        "resource": "SELECT DISTINCT t, seq FROM trail_resources WHERE scope = 'a' "
                    "AND name = 'x' AND t >= 0 ORDER BY t DESC, seq DESC LIMIT 5",
    }
    for name, sql in plans.items():
        plan = " ".join(str(row[-1]) for row in app.db.execute("EXPLAIN QUERY PLAN " + sql))
        assert "USING" in plan and "INDEX" in plan, (name, plan)
        assert "TEMP B-TREE" not in plan, (name, plan)
    app.close()


def test_every_attribute_finds_its_events(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    trail = app.trail  # type: ignore[attr-defined]
    trail.observe(ctx(app), "TrentService", "DescribeKey", {"KeyId": ARN}, {}, None)
    [row] = trail.lookup(Query(SCOPE, *EVERYTHING))
    values = {"EventId": row.event_id, "EventName": "DescribeKey", "ReadOnly": "true",
              "Username": "AKIAEXAMPLE", "AccessKeyId": "AKIAEXAMPLE",
              "EventSource": "kms.amazonaws.com", "ResourceType": "AWS::KMS::Key",
              "ResourceName": ARN}
    for key, value in values.items():
        assert [r.seq for r in trail.lookup(Query(SCOPE, *EVERYTHING, attribute=(key, value)))] \
            == [row.seq], key
        assert trail.lookup(Query(SCOPE, *EVERYTHING, attribute=(key, "other"))) == [], key
    app.close()


def test_rows_written_with_whole_records_still_read(tmp_path: Path) -> None:
    """Before events were stored compactly, ``body`` held the whole record: such rows read as
    they are, next to compact ones."""
    app = make_app(tmp_path)
    whole = {"eventVersion": "1.08", "eventName": "DeleteKey", "eventID": "old-1",
             "eventTime": "2026-01-01T00:00:00Z"}
    app.db.execute("INSERT INTO trail_events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   (900_000, SCOPE, int(app.clock.now()) - 10, "old-1", "DeleteKey", "false",
                    None, None, "kms.amazonaws.com", "[]", json.dumps(whole)))
    app.trail.record_service_event(SCOPE, "DeleteKey", app.clock.now(),  # type: ignore[attr-defined]
                                   resources=[ARN])
    new, old = stored(app, attribute=("EventName", "DeleteKey"))
    assert old == whole
    assert new["eventType"] == "AwsServiceEvent"
    assert new["resources"] == [{"accountId": "111122223333", "type": "AWS::KMS::Key",
                                 "ARN": ARN}]
    app.close()
