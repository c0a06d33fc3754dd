"""Audit after commit: a call's event says what was committed, and an event a job raises is
kept only if the job commits (in process: a Database whose writes can be made to fail)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from hsmkms.audit import AuditLog
from hsmkms.crypto import RootKey
from hsmkms.store.base import Database, Row, Store
from hsmkms.store.codec import Codec
from hsmkms.store.sqlite import SqliteDatabase
from hsmkms.testing.inprocess import InProcess

ARN = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"


class FailingWrites:
    """The app's database, except that ``write`` raises while ``failing`` is set."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self.failing = False

    def write(self, puts: list[Row], deletes: list[tuple[str, str, str]]) -> None:
        if self.failing:
            raise OSError("disk full")
        self._db.write(puts, deletes)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)


@pytest.fixture
def inproc(tmp_path: Path) -> Iterator[InProcess]:
    with InProcess(tmp_path / "data") as running:
        yield running


def failing(inproc: InProcess) -> FailingWrites:
    db = FailingWrites(inproc.app.store.db)
    inproc.app.store.db = db
    return db


def records(inproc: InProcess) -> list[dict[str, Any]]:
    trail: Any = inproc.client("cloudtrail")
    return [json.loads(e["CloudTrailEvent"]) for e in trail.lookup_events()["Events"]]


def test_a_call_whose_commit_fails_is_recorded_only_as_a_failure(inproc: InProcess) -> None:
    kms: Any = inproc.client("kms")
    db = failing(inproc)
    db.failing = True
    with pytest.raises(ClientError) as exc:
        kms.create_key(Description="never committed")
    assert exc.value.response["Error"]["Code"] == "InternalFailure"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    db.failing = False
    assert kms.list_keys()["Keys"] == []
    # one attempt (client_config: no retries), one event, a failure
    [listed, created] = records(inproc)
    assert (listed["eventName"], listed.get("errorCode")) == ("ListKeys", None)
    assert created["eventName"] == "CreateKey"
    assert created["errorCode"] == "InternalFailure"
    assert created["responseElements"] is None
    assert "resources" not in created


def test_a_committed_call_is_recorded_as_a_success(inproc: InProcess) -> None:
    kms: Any = inproc.client("kms")
    arn = kms.create_key()["KeyMetadata"]["Arn"]
    [created] = records(inproc)
    assert "errorCode" not in created
    assert created["responseElements"]["keyMetadata"]["arn"] == arn


def test_an_event_raised_by_a_job_that_rolls_back_is_not_kept(inproc: InProcess) -> None:
    app = inproc.app
    runs: list[str] = []

    def raise_then_fail(args: dict[str, str], due: float) -> None:
        app.trail.record_service_event(f"111122223333/{args['region']}", "DeleteKey", due,
                                       resources=[ARN])
        runs.append(args["region"])
        if args["region"] == "us-east-1":
            raise RuntimeError("the job fails after raising its event")

    app.scheduler.register("test-audit", raise_then_fail)
    due = app.clock.now()  # read once: the event is dated when its job was due
    with app.lock, app.store.unit_of_work():
        app.scheduler.schedule("test-audit", due, {"region": "us-east-1"})
        app.scheduler.schedule("test-audit", due, {"region": "us-west-2"})
    with app.lock:
        failed = app.scheduler.run_due()
    assert [f.task for f in failed] == ["test-audit"]
    assert sorted(runs) == ["us-east-1", "us-west-2"]
    assert records(inproc) == []  # us-east-1: rolled back, so no event
    kept = [json.loads(r.body) for r in app.trail.lookup(_query("111122223333/us-west-2"))]
    assert [r["eventName"] for r in kept] == ["DeleteKey"]
    assert kept[0]["eventTime"] == _iso(due)


def _query(scope: str) -> Any:
    from hsmkms.trail.log import Query  # noqa: PLC0415

    return Query(scope, -1.0, float("inf"))


def _iso(t: float) -> str:
    from hsmkms.trail.record import iso_time  # noqa: PLC0415

    return iso_time(t)


# -- the store's after-commit hook -------------------------------------------------------------


@dataclass(frozen=True)
class Thing:
    name: str


@pytest.fixture
def store(tmp_path: Path) -> Store:
    key = RootKey(bytes(32))
    return Store(SqliteDatabase(tmp_path / "s.db"), Codec(key.seal, key.unseal))


def fail_in_unit_of_work(store: Store, after: Callable[[], None], message: str) -> None:
    with store.unit_of_work():
        store.after_commit(after)
        raise ValueError(message)


def put_in_unit_of_work(store: Store, put: Callable[[], None], after: Callable[[], None]) -> None:
    with store.unit_of_work():
        put()
        store.after_commit(after)


def test_after_commit_runs_after_the_outermost_commit(store: Store) -> None:
    ran: list[str] = []
    with store.unit_of_work():
        store.after_commit(lambda: ran.append("outer"))
        with store.unit_of_work():
            store.after_commit(lambda: ran.append("inner"))
        assert ran == []
    assert ran == ["outer", "inner"]
    store.after_commit(lambda: ran.append("outside"))  # no unit of work: at once
    assert ran == ["outer", "inner", "outside"]


def test_after_commit_is_dropped_with_a_rolled_back_savepoint(store: Store) -> None:
    ran: list[str] = []
    with store.unit_of_work():
        store.after_commit(lambda: ran.append("kept"))
        with pytest.raises(ValueError, match="inner"):
            fail_in_unit_of_work(store, lambda: ran.append("dropped"), "inner")
    assert ran == ["kept"]
    with pytest.raises(ValueError, match="outer"):
        fail_in_unit_of_work(store, lambda: ran.append("dropped too"), "outer")
    assert ran == ["kept"]


def test_after_commit_is_dropped_when_the_commit_fails(store: Store) -> None:
    ran: list[str] = []
    things = store.repository("thing", Thing)
    db = FailingWrites(store.db)
    store.db = db
    db.failing = True
    with pytest.raises(OSError, match="disk full"):
        put_in_unit_of_work(store, lambda: things.put("", "a", Thing("a")),
                            lambda: ran.append("never"))
    db.failing = False
    with store.unit_of_work():
        things.put("", "b", Thing("b"))
        store.after_commit(lambda: ran.append("b"))
    assert ran == ["b"]
    assert things.get("", "a") is None


def test_the_trail_is_the_audit_log_port(inproc: InProcess) -> None:
    # That Trail fits the AuditLog protocol is checked where the app hands it to KMS (mypy
    # runs on src, not on tests); this test checks that it records through the port.
    port: AuditLog = inproc.app.trail
    port.record_service_event("111122223333/us-east-1", "DeleteKey", inproc.app.clock.now(),
                              resources=[ARN])
    assert [r["eventName"] for r in records(inproc)] == ["DeleteKey"]


def test_a_failing_after_commit_callback_neither_fails_the_work_nor_stops_the_others(
        store: Store, caplog: pytest.LogCaptureFixture) -> None:
    ran: list[str] = []
    things = store.repository("thing", Thing)

    def broken() -> None:
        raise RuntimeError("a recorder broke")

    with store.unit_of_work():
        things.put("", "a", Thing("a"))
        store.after_commit(broken)
        store.after_commit(lambda: ran.append("next"))
    assert ran == ["next"]
    assert things.get("", "a") == Thing("a")
    assert "after-commit callback" in caplog.text
