"""hsmkms.trail.service and .log through an App built in the test: recorded calls and their
audit detail, service events, batching (on a clock the test moves), flushing on close,
persistence, indexes."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import pickle
import signal
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hsmkms.app import App
from hsmkms.config import Config
from hsmkms.context import RequestContext
from hsmkms.ec2 import errors as ec2_errors
from hsmkms.envelope import Exchange
from hsmkms.errors import ServiceError, ValidationException
from hsmkms.ids import IdSource
from hsmkms.kms.errors import KMSInternalException
from hsmkms.trail import record
from hsmkms.trail.log import EventLog, Query
from hsmkms.trail.service import (
    PIPE_BYTES,
    PREPARE_AGE,
    SLICE,
    WRITE_AGE,
    WRITE_SIZE,
    Audited,
    Trail,
)
from hsmkms.trail.writer import ACK, CALLS, NAK, SYNC, Writer

SCOPE = "111122223333/us-west-2"
ARN = "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
EVERYTHING = (-1.0, float("inf"))


def make_app(path: Path) -> App:
    return App(Config.from_env({"data_dir": str(path)}))


def ctx(app: App, request_id: str = "req-1") -> RequestContext:
    return RequestContext("111122223333", "us-west-2", request_id, app.clock.now(),
                          "AKIAEXAMPLE", "192.0.2.1", "test/1", "TrentService", "")


def stored(app: App, **query: Any) -> list[dict[str, Any]]:
    rows = app.trail.lookup(Query(SCOPE, *EVERYTHING, **query))
    return [json.loads(r.body) for r in rows]


def call(trail: Trail, context: RequestContext, operation: str, params: dict[str, Any],
         result: dict[str, Any] | None = None, error: ServiceError | None = None,
         service: str = "kms") -> None:
    """What the envelope does once a call's unit of work has ended."""
    trail.record_call(context, Exchange(service, operation, params, result), error)


class FakeMonotonic:
    """The clock the trail ages its buffers by, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def own_trail(app: App, clock: FakeMonotonic) -> Trail:
    """A trail over the app's database with the test's clock and no writer thread: the test
    does what the thread would (``write_if_due``)."""
    kms = app.json_services["TrentService"].operations
    return Trail(app.db, IdSource(7), app.store.after_commit,
                 {"kms": Audited("kms.amazonaws.com", kms)}, monotonic=clock, writer=False)


def count(app: App) -> int:
    [(n,)] = app.db.execute("SELECT COUNT(*) FROM trail_events")
    return int(str(n))


def test_service_event_is_buffered_then_flushed(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    trail = app.trail
    when = app.clock.now()  # read once: the id is made from the time the event is dated
    trail.record_service_event(
        SCOPE, "DeleteKey", when, resources=[ARN], response_elements={"keyId": ARN},
        additional_event_data={"customKeyStoreId": "cks-1234567890abcdef0"})
    assert app.db.execute("SELECT COUNT(*) FROM trail_events") == [(0,)]
    [event] = stored(app)  # a lookup flushes first
    event_id = event["eventID"]
    assert event_id.startswith(f"{int(when):08x}")  # ids sort by time
    assert event["eventType"] == "AwsServiceEvent"
    assert event["userIdentity"] == {"accountId": "111122223333", "invokedBy": "AWS Internal"}
    assert event["additionalEventData"] == {"customKeyStoreId": "cks-1234567890abcdef0"}
    assert "requestID" not in event
    assert [json.loads(r.body)["eventID"] for r in trail.lookup(Query(
        SCOPE, *EVERYTHING, attribute=("ResourceName", ARN)))] == [event_id]
    app.close()


def test_audit_detail_is_merged_into_the_calls_event(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    trail = app.trail
    other = ARN.replace("1234abcd", "5678abcd")
    connect = ctx(app)
    connect.audit.add(additional_event_data={"customKeyStoreId": "cks-1"}, resources=[ARN])
    connect.audit.add(additional_event_data={"clusterId": "cluster-1"}, resources=[other])
    call(trail, connect, "ConnectCustomKeyStore", {"CustomKeyStoreId": "cks-1"}, {})
    call(trail, ctx(app, "req-2"), "Encrypt", {"KeyId": "alias/a"}, None,
         ValidationException("bad"))
    call(trail, ctx(app, "req-3"), "LookupEvents", {}, {}, service="cloudtrail")
    call(trail, ctx(app, "req-4"), "NoSuchOperation", {}, None, ValidationException("bad"))
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


def test_a_failed_call_keeps_no_result(tmp_path: Path) -> None:
    """The envelope hands over what the handler returned even when the commit then failed:
    the event is the failure's alone."""
    app = make_app(tmp_path)
    call(app.trail, ctx(app), "CreateKey", {}, {"KeyMetadata": {"Arn": ARN, "KeyId": "k"}},
         ValidationException("commit failed"))
    [event] = stored(app)
    assert event["errorCode"] == "ValidationException"
    assert event["responseElements"] is None
    assert "resources" not in event
    app.close()


def test_ec2_errors_name_the_party_at_fault(tmp_path: Path) -> None:
    """EC2's events prefix the code with ``Server.`` for a server fault (a 500) and ``Client.``
    for a client error; other services' events carry the bare code, 500 or not."""
    app = make_app(tmp_path)
    vpc = {"VpcId": "vpc-0123456789abcdef0"}
    call(app.trail, ctx(app, "r1"), "DeleteVpc", vpc, None,
         ec2_errors.InternalError("An internal error has occurred"), service="ec2")
    call(app.trail, ctx(app, "r2"), "DeleteVpc", vpc, None,
         ec2_errors.InvalidVpcIDNotFound("The vpc ID 'vpc-0123456789abcdef0' does not exist"),
         service="ec2")
    call(app.trail, ctx(app, "r3"), "Encrypt", {"KeyId": ARN}, None,
         KMSInternalException("internal"))
    kms, client, server = stored(app)
    assert ec2_errors.InternalError("").fault
    assert not ec2_errors.InvalidVpcIDNotFound("").fault
    assert KMSInternalException("").fault
    assert (server["eventSource"], server["eventName"], server["requestID"]) == (
        "ec2.amazonaws.com", "DeleteVpc", "r1")
    assert (server["errorCode"], server["errorMessage"]) == (
        "Server.InternalError", "An internal error has occurred")
    assert (client["eventSource"], client["requestID"]) == ("ec2.amazonaws.com", "r2")
    assert (client["errorCode"], client["errorMessage"]) == (
        "Client.InvalidVpcID.NotFound", "The vpc ID 'vpc-0123456789abcdef0' does not exist")
    assert (kms["eventSource"], kms["requestID"]) == ("kms.amazonaws.com", "r3")
    assert (kms["errorCode"], kms["errorMessage"]) == ("KMSInternalException", "internal")
    app.close()


def test_a_full_batch_is_written_at_once_and_close_writes_the_rest(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    clock = FakeMonotonic()
    trail = own_trail(app, clock)
    for i in range(WRITE_SIZE):
        call(trail, ctx(app, f"r{i}"), "GenerateRandom", {"NumberOfBytes": 8},
             {"Plaintext": b"12345678"})
    trail.background()  # a full batch does not wait for its age
    assert trail.write_if_due()
    assert count(app) == WRITE_SIZE
    call(trail, ctx(app, "last"), "ListKeys", {}, {"Keys": []})
    trail.close()
    app.close()
    reopened = make_app(tmp_path)
    events = stored(reopened, limit=2)
    assert [e["requestID"] for e in events] == ["last", f"r{WRITE_SIZE - 1}"]
    # sequence numbers continue after a restart: new events sort after old ones
    call(reopened.trail, ctx(reopened, "after"), "ListKeys", {}, {"Keys": []})
    assert stored(reopened, limit=1)[0]["requestID"] == "after"
    reopened.close()


def test_a_few_events_wait_at_most_prepare_age_then_write_age(tmp_path: Path) -> None:
    """The bound on what a crash can lose: without lookups, a few calls wait PREPARE_AGE (and
    a tick) to become rows, and rows WRITE_AGE to be written."""
    app = make_app(tmp_path)
    clock = FakeMonotonic()
    trail = own_trail(app, clock)
    for i in range(3):
        call(trail, ctx(app, f"r{i}"), "GenerateRandom", {"NumberOfBytes": 8},
             {"Plaintext": b"12345678"})
    clock.now += PREPARE_AGE - 0.01
    trail.background()
    assert not trail.write_if_due()  # still buffered: nothing prepared yet
    clock.now += 0.01
    trail.background()  # prepared now ...
    assert not trail.write_if_due()  # ... and the rows wait
    clock.now += WRITE_AGE - 0.01
    assert not trail.write_if_due()
    assert count(app) == 0
    clock.now += 0.01
    assert trail.write_if_due()
    assert count(app) == 3
    for i in range(SLICE):  # after responses, a full slice becomes rows at once
        call(trail, ctx(app, f"s{i}"), "GenerateRandom", {"NumberOfBytes": 8},
             {"Plaintext": b"12345678"})
    trail.after_response()
    clock.now += WRITE_AGE
    assert trail.write_if_due()
    assert count(app) == 3 + SLICE
    trail.close()
    app.close()


def test_window_attributes_and_keyset_pages(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    trail = app.trail
    t0 = int(app.clock.now())
    for i in range(5):
        trail.record_service_event(SCOPE, "DeleteKey" if i % 2 else "Other", t0 + i,
                                   resources=[ARN] if i < 3 else [])
    trail.record_service_event("444455556666/us-west-2", "DeleteKey", t0, resources=[ARN])
    log: EventLog = trail._log  # noqa: SLF001
    trail.flush()
    newest_first = [t0 + i for i in (4, 3, 2, 1, 0)]
    assert [r.time for r in log.lookup(Query(SCOPE, *EVERYTHING))] == newest_first
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
        assert "USING" in plan, (name, plan)
        assert "INDEX" in plan, (name, plan)
        assert "TEMP B-TREE" not in plan, (name, plan)
    app.close()


def test_every_attribute_finds_its_events(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    trail = app.trail
    call(trail, ctx(app), "DescribeKey", {"KeyId": ARN}, {})
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
    app.trail.record_service_event(SCOPE, "DeleteKey", app.clock.now(), resources=[ARN])
    new, old = stored(app, attribute=("EventName", "DeleteKey"))
    assert old == whole
    assert new["eventType"] == "AwsServiceEvent"
    assert new["resources"] == [{"accountId": "111122223333", "type": "AWS::KMS::Key",
                                 "ARN": ARN}]
    app.close()


def writer_processes() -> list[int]:
    """This process's children: the trail writer process started by the test."""
    pids: list[int] = []
    for task in Path("/proc/self/task").iterdir():
        with contextlib.suppress(FileNotFoundError):  # a thread that ended meanwhile
            pids += [int(x) for x in (task / "children").read_text().split()]
    return pids


def test_the_writer_process_writes_calls_and_lookups_see_them_at_once(tmp_path: Path) -> None:
    """With the writer process (what ``hsmkms serve`` runs) a lookup right after a call finds
    its event, every operation's shapes reach the process (the logged request parameters),
    and the close writes what is still buffered."""
    app = make_app(tmp_path)
    before = set(writer_processes())
    app.trail.start_writer_process(str(tmp_path / "hsmkms.db"))
    assert len(set(writer_processes()) - before) == 1
    call(app.trail, ctx(app), "Encrypt", {"KeyId": ARN, "Plaintext": b"secret"},
         {"KeyId": ARN, "CiphertextBlob": b"x", "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"})
    [event] = stored(app)
    assert event["requestParameters"] == {"keyId": ARN,
                                          "encryptionAlgorithm": "SYMMETRIC_DEFAULT"}
    assert [r["ARN"] for r in event["resources"]] == [ARN]
    call(app.trail, ctx(app, "req-2"), "GenerateRandom", {"NumberOfBytes": 8}, {})
    app.close()
    assert set(writer_processes()) == before  # ended and reaped
    again = make_app(tmp_path)
    assert [e["eventName"] for e in stored(again)] == ["GenerateRandom", "Encrypt"]
    again.close()


def test_a_lost_writer_process_is_replaced_by_the_writer_thread(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    before = set(writer_processes())
    app.trail.start_writer_process(str(tmp_path / "hsmkms.db"))
    [pid] = set(writer_processes()) - before
    call(app.trail, ctx(app), "GenerateRandom", {"NumberOfBytes": 8}, {})
    assert len(stored(app)) == 1
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    call(app.trail, ctx(app, "req-2"), "Encrypt", {"KeyId": ARN}, {"KeyId": ARN})
    names = [e["eventName"] for e in stored(app)]  # handed to a dead process: written here
    assert names == ["Encrypt", "GenerateRandom"]
    call(app.trail, ctx(app, "req-3"), "Decrypt", {"KeyId": ARN}, {"KeyId": ARN})
    assert [e["eventName"] for e in stored(app)] == ["Decrypt", "Encrypt", "GenerateRandom"]
    seqs = [row.seq for row in app.trail.lookup(Query(SCOPE, *EVERYTHING))]
    assert len(set(seqs)) == 3  # numbered on from what the process wrote
    app.close()


# -- a database the writer process cannot write for now ----------------------------------------


def call_fields(request_id: str) -> record.CallFields:
    return ("111122223333", "us-west-2", request_id, 1_700_000_000.0, "AKIAEXAMPLE",
            "192.0.2.1", "test/1", "GenerateRandom", {"NumberOfBytes": 8}, {}, None, None, None,
            (), record.KMS_SOURCE)


@pytest.fixture
def locked(tmp_path: Path) -> Iterator[tuple[str, sqlite3.Connection]]:
    """The trail's database, its write lock held by another connection (as the server's own
    transactions hold it), until the test lets go."""
    make_app(tmp_path).close()  # the schema
    path = str(tmp_path / "hsmkms.db")
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    try:
        yield path, holder
    finally:
        if holder.in_transaction:
            holder.execute("ROLLBACK")
        holder.close()


def sync(writer: Writer, acks: int) -> bytes:
    writer.handle(SYNC, b"")
    return os.read(acks, 1)


def test_a_locked_database_delays_the_writer_process_rows_and_drops_none(
        tmp_path: Path, locked: tuple[str, sqlite3.Connection],
        caplog: pytest.LogCaptureFixture) -> None:
    """Past its busy timeout the writer process keeps the rows, says so (an error, and NAK
    for a SYNC: not acknowledged before it is committed), and writes them once it can."""
    path, holder = locked
    acks, answers = os.pipe()
    writer = Writer(path, {}, answers, busy_ms=10, sync_seconds=0.1)
    writer.handle(CALLS, pickle.dumps([call_fields("req-1"), call_fields("req-2")]))
    with caplog.at_level(logging.ERROR, "hsmkms.trail.writer"):
        assert sync(writer, acks) == NAK
    assert writer.pending == 2
    assert any("could not write 2 CloudTrail events" in r.getMessage() and "kept" in
               r.getMessage() for r in caplog.records)
    holder.execute("ROLLBACK")
    assert sync(writer, acks) == ACK
    assert writer.pending == 0
    writer.close()
    os.close(acks)
    os.close(answers)
    app = make_app(tmp_path)
    assert sorted(e["requestID"] for e in stored(app)) == ["req-1", "req-2"]
    app.close()


def test_a_sync_retries_until_the_lock_is_let_go(
        tmp_path: Path, locked: tuple[str, sqlite3.Connection]) -> None:
    """The lock is let go when the first attempt has failed (from the log record, not a
    timer): the SYNC's retry commits and acknowledges."""
    path, holder = locked

    class LetGo(logging.Handler):
        def emit(self, rec: logging.LogRecord) -> None:
            if "kept" in rec.getMessage() and holder.in_transaction:
                holder.execute("ROLLBACK")

    handler = LetGo()
    logging.getLogger("hsmkms.trail.writer").addHandler(handler)
    acks, answers = os.pipe()
    try:
        writer = Writer(path, {}, answers, busy_ms=10, sync_seconds=60)
        writer.handle(CALLS, pickle.dumps([call_fields("req-1")]))
        assert sync(writer, acks) == ACK
        assert not holder.in_transaction  # it did fail once
        writer.close()
    finally:
        logging.getLogger("hsmkms.trail.writer").removeHandler(handler)
        os.close(acks)
        os.close(answers)
    app = make_app(tmp_path)
    assert [e["requestID"] for e in stored(app)] == ["req-1"]
    app.close()


def test_rows_kept_for_a_locked_database_are_bounded_and_the_drop_is_logged(
        tmp_path: Path, locked: tuple[str, sqlite3.Connection],
        caplog: pytest.LogCaptureFixture) -> None:
    path, holder = locked
    acks, answers = os.pipe()
    writer = Writer(path, {}, answers, busy_ms=10, sync_seconds=0, max_pending=3)
    writer.handle(CALLS, pickle.dumps([call_fields(f"req-{i}") for i in range(5)]))
    with caplog.at_level(logging.ERROR, "hsmkms.trail.writer"):
        assert sync(writer, acks) == NAK
    assert writer.pending == 3
    assert any("dropped the 2 oldest" in r.getMessage() for r in caplog.records)
    holder.execute("ROLLBACK")
    assert sync(writer, acks) == ACK
    writer.close()
    os.close(acks)
    os.close(answers)
    app = make_app(tmp_path)
    assert sorted(e["requestID"] for e in stored(app)) == ["req-2", "req-3", "req-4"]
    app.close()


def test_a_full_pipe_to_the_writer_process_never_blocks_the_server(tmp_path: Path) -> None:
    """The writer process stopped (as when it waits on a locked database): calls worth several
    pipes are handed over without blocking (the rest waits in memory), and once it runs again
    a lookup finds every one of them."""
    app = make_app(tmp_path)
    before = set(writer_processes())
    app.trail.start_writer_process(str(tmp_path / "hsmkms.db"))
    [pid] = set(writer_processes()) - before
    call(app.trail, ctx(app), "GenerateRandom", {"NumberOfBytes": 8}, {})
    assert len(stored(app)) == 1  # the setup went through; the process runs
    size = 8192
    count = 4 * PIPE_BYTES // size
    os.kill(pid, signal.SIGSTOP)
    try:
        for i in range(count):
            big = os.urandom(size // 2).hex()  # each its own (pickle would share one string)
            call(app.trail, ctx(app, f"req-{i}"), "Encrypt", {"KeyId": big}, {"KeyId": ARN})
            app.trail.after_response()
        assert app.trail.backlog  # what the pipe did not take waits here
    finally:
        os.kill(pid, signal.SIGCONT)
    rows = app.trail.lookup(Query(SCOPE, *EVERYTHING, limit=count + 10))
    assert len(rows) == count + 1
    assert not app.trail.backlog
    app.close()


def test_the_writer_thread_keeps_rows_a_locked_database_refused(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The server's own writer thread (PostgreSQL, or after a lost writer process) keeps a
    refused batch for its next attempt too, rather than dropping it."""
    app = make_app(tmp_path)
    app.db.execute("PRAGMA busy_timeout=10")
    trail = own_trail(app, FakeMonotonic())
    holder = sqlite3.connect(str(tmp_path / "hsmkms.db"), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        call(trail, ctx(app), "GenerateRandom", {"NumberOfBytes": 8}, {})
        with caplog.at_level(logging.ERROR, "hsmkms.trail.service"):
            trail.flush()
        assert count(app) == 0
        assert any("kept for a retry" in r.getMessage() for r in caplog.records)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    trail.flush()
    assert count(app) == 1
    app.close()
