"""hsmkms.scheduler and hsmkms.clock: persisted jobs run in due order inside their own unit of
work; a failing job is rolled back, counted and retried later; the clock offset persists."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from hsmkms.clock import Clock
from hsmkms.crypto import RootKey
from hsmkms.scheduler import Scheduler
from hsmkms.store.base import Store
from hsmkms.store.codec import Codec
from hsmkms.store.sqlite import SqliteDatabase

ROOT = RootKey(bytes(32))


@dataclass(frozen=True)
class Mark:
    name: str


class World:
    def __init__(self, path: Path) -> None:
        self.db = SqliteDatabase(path / "hsmkms.db")
        self.store = Store(self.db, Codec(ROOT.seal, ROOT.unseal))
        self.now = 1000.0
        self.scheduler = Scheduler(self.store, lambda: self.now)
        self.marks = self.store.repository("mark", Mark)
        self.ran: list[str] = []

    def close(self) -> None:
        self.db.close()


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def test_runs_due_jobs_in_due_order(world: World) -> None:
    world.scheduler.register("note", lambda args, _due: world.ran.append(args["n"]))
    with world.store.unit_of_work():
        world.scheduler.schedule("note", 1020, {"n": "late"})
        world.scheduler.schedule("note", 1010, {"n": "early"})
        world.scheduler.schedule("note", 5000, {"n": "future"})
    assert world.scheduler.run_due() == []
    assert world.scheduler.next_due() == 1010
    world.now = 1030
    assert world.scheduler.run_due() == []
    assert world.ran == ["early", "late"]
    assert [j.args["n"] for j in world.scheduler.pending()] == ["future"]


def test_job_id_replaces_and_cancel(world: World) -> None:
    world.scheduler.register("note", lambda args, _due: world.ran.append(args["n"]))
    world.scheduler.schedule("note", 1001, {"n": "first"}, job_id="j")
    world.scheduler.schedule("note", 1002, {"n": "second"}, job_id="j")
    assert len(world.scheduler.pending()) == 1
    world.scheduler.schedule("note", 1001, {"n": "other"}, job_id="k")
    world.scheduler.cancel("k")
    world.scheduler.cancel("never-existed")
    world.now = 2000
    world.scheduler.run_due()
    assert world.ran == ["second"]


def test_move_keeps_task_and_due_under_a_new_id(world: World) -> None:
    world.scheduler.register("note", lambda args, due: world.ran.append(f"{args['n']}@{due}"))
    with world.store.unit_of_work():
        world.scheduler.schedule("note", 1010, {"n": "old"}, job_id="a")
        assert world.scheduler.move("a", "b", {"n": "moved"})
        assert not world.scheduler.move("never-existed", "c", {"n": "x"})
    assert [(j.id, j.task, j.due, j.args) for j in world.scheduler.pending()] == [
        ("b", "note", 1010, {"n": "moved"})]
    world.now = 2000
    assert world.scheduler.run_due() == []
    assert world.ran == ["moved@1010"]  # once, under its new id, dated when it was due


def test_jobs_can_schedule_jobs(world: World) -> None:
    def chain(args: dict[str, str], _due: float) -> None:
        world.ran.append(args["n"])
        if int(args["n"]) < 3:
            world.scheduler.schedule("chain", world.now, {"n": str(int(args["n"]) + 1)})

    world.scheduler.register("chain", chain)
    world.scheduler.schedule("chain", 1000, {"n": "1"})
    assert world.scheduler.run_due() == []
    assert world.ran == ["1", "2", "3"]


def test_failing_job_is_rolled_back_counted_and_retried(world: World) -> None:
    tries: list[float] = []

    def flaky(_args: dict[str, str], _due: float) -> None:
        world.marks.put("", "half-done", Mark("half-done"))
        tries.append(world.now)
        if len(tries) < 3:
            raise RuntimeError("boom")
        world.marks.put("", "done", Mark("done"))

    world.scheduler.register("flaky", flaky)
    world.scheduler.register("good", lambda _a, _due: world.marks.put("", "ok", Mark("ok")))
    world.scheduler.schedule("flaky", 1000, job_id="f")
    world.scheduler.schedule("good", 1000.5)
    world.now = 1001
    failed = world.scheduler.run_due()
    assert [(f.job_id, f.task, f.error) for f in failed] == [("f", "flaky",
                                                              "RuntimeError: boom")]
    assert world.scheduler.failures == 1
    assert world.marks.get("", "half-done") is None  # rolled back
    assert world.marks.get("", "ok") == Mark("ok")  # the other job was not held up
    [kept] = world.scheduler.pending()
    assert (kept.id, kept.due, kept.attempts) == ("f", 1002.0, 1)  # retried 1 s later
    world.now = 1002
    assert len(world.scheduler.run_due()) == 1
    assert world.scheduler.pending()[0].due == 1012.0  # then 10 s later
    world.now = 1012
    assert world.scheduler.run_due() == []
    assert tries == [1001, 1002, 1012]
    assert world.marks.get("", "done") == Mark("done")
    assert world.scheduler.pending() == []


def test_retry_delays_stop_growing(world: World) -> None:
    def bad(_args: dict[str, str], _due: float) -> None:
        raise ValueError("always")

    world.scheduler.register("bad", bad)
    world.scheduler.schedule("bad", 1000, job_id="b")
    delays = []
    for _ in range(7):
        world.now = world.scheduler.pending()[0].due
        world.scheduler.run_due()
        delays.append(world.scheduler.pending()[0].due - world.now)
    assert delays == [1.0, 10.0, 60.0, 600.0, 3600.0, 3600.0, 3600.0]
    assert world.scheduler.failures == 7


def test_many_jobs_run_in_due_order(world: World) -> None:
    world.scheduler.register("note", lambda args, _due: world.ran.append(args["n"]))
    for n in range(2000, 0, -1):
        world.scheduler.schedule("note", 1000 + n, {"n": str(n)}, job_id=f"j{n}")
    world.scheduler.schedule("note", 1500.5, {"n": "moved"}, job_id="j1999")
    world.scheduler.cancel("j3")
    world.now = 3001
    world.scheduler.run_due()
    expected = [str(n) for n in range(1, 2001) if n not in (3, 1999)]
    expected.insert(expected.index("500") + 1, "moved")
    assert world.ran == expected


def test_a_cancel_rolled_back_keeps_the_job(world: World) -> None:
    world.scheduler.register("note", lambda args, _due: world.ran.append(args["n"]))
    world.scheduler.schedule("note", 1010, {"n": "kept"}, job_id="k")
    with pytest.raises(KeyError), world.store.unit_of_work():
        world.scheduler.cancel("k")
        assert world.scheduler.next_due() in (None, 1010)
        raise KeyError
    world.now = 1020
    world.scheduler.run_due()
    assert world.ran == ["kept"]


def test_unknown_task_is_dropped(world: World) -> None:
    world.scheduler.schedule("nobody-knows", 900)
    assert world.scheduler.run_due() == []
    assert world.scheduler.pending() == []


def test_schedule_inside_failed_request_is_dropped(world: World) -> None:
    with pytest.raises(KeyError), world.store.unit_of_work():
        world.scheduler.schedule("note", 1000)
        raise KeyError
    assert world.scheduler.pending() == []


def test_jobs_survive_reopening(tmp_path: Path) -> None:
    first = World(tmp_path)
    with first.store.unit_of_work():
        first.scheduler.schedule("note", 1500, {"n": "persisted"}, job_id="p")
    first.close()
    second = World(tmp_path)
    second.scheduler.register("note", lambda args, _due: second.ran.append(args["n"]))
    assert [j.id for j in second.scheduler.pending()] == ["p"]
    second.now = 1600
    second.scheduler.run_due()
    assert second.ran == ["persisted"]
    second.close()


def test_clock(tmp_path: Path) -> None:
    db = SqliteDatabase(tmp_path / "c.db")
    wall = [100.0]
    clock = Clock(db, wall=lambda: wall[0])
    assert clock.now() == 100.0
    assert clock.advance(50) == 150.0
    wall[0] = 110.0
    assert clock.now() == 160.0
    with pytest.raises(ValueError, match="forward"):
        clock.advance(-1)
    assert Clock(db, wall=lambda: 0.0).now() == 50.0  # the offset persists
    assert Clock(wall=lambda: 5.0).now() == 5.0
    db.close()


def test_a_job_survives_a_store_that_fails_twice(world: World) -> None:
    """The job's run and its rescheduling both fail to commit (a full disk): the job stays,
    with its hint, and runs once the store works again. Its changes to the store are made
    once; what it does outside the store is done again (at least once)."""
    def note(args: dict[str, str], _due: float) -> None:
        world.ran.append(args["n"])
        world.marks.put("", args["n"], Mark(args["n"]))

    world.scheduler.register("note", note)
    world.scheduler.schedule("note", 1000, {"n": "kept"}, job_id="k")
    real_write, calls = world.db.write, []

    def failing_write(*args: object) -> None:
        calls.append(1)
        raise OSError("disk full")

    world.db.write = failing_write  # type: ignore[method-assign]
    world.now = 1001
    failed = world.scheduler.run_due()
    assert [f.job_id for f in failed] == ["k"]
    assert len(calls) == 2  # the run, then the retry; no tight loop
    world.db.write = real_write  # type: ignore[method-assign]
    world.now = 10**6
    assert world.scheduler.run_due() == []
    assert world.ran == ["kept", "kept"]
    assert world.marks.values("") == [Mark("kept")]
    assert world.scheduler.pending() == []


def test_stale_hints_are_dropped_in_bulk(world: World) -> None:
    world.scheduler.register("note", lambda args, _due: world.ran.append(args["n"]))
    for i in range(1000):
        with world.store.unit_of_work():
            world.scheduler.schedule("note", 5000 + i, {"n": str(i)}, job_id="j")
            world.scheduler.cancel("j")
    world.scheduler.schedule("note", 6000, {"n": "last"}, job_id="j")
    world.scheduler.run_due()
    assert len(world.scheduler._heap) <= 2  # noqa: SLF001 - the hints themselves
    world.now = 7000
    world.scheduler.run_due()
    assert world.ran == ["last"]


def test_run_due_refuses_to_run_inside_a_unit_of_work(world: World) -> None:
    with pytest.raises(RuntimeError), world.store.unit_of_work():
        world.scheduler.run_due()


def test_a_task_is_told_when_it_was_due_also_when_retried(world: World) -> None:
    """A clock jump runs a job long after its due time: the task gets the due time, not the
    time it runs; a retried job keeps the due time it first had."""
    told: list[tuple[float, float]] = []

    def record(_args: dict[str, str], due: float) -> None:
        told.append((world.now, due))
        if len(told) == 1:
            raise RuntimeError("first run fails")

    world.scheduler.register("record", record)
    world.scheduler.schedule("record", 1500, job_id="r")
    world.now = 9000  # the clock jumped far past the due time
    assert len(world.scheduler.run_due()) == 1
    world.now = 9001
    assert world.scheduler.run_due() == []
    assert told == [(9000, 1500), (9001, 1500)]


def test_between_is_called_after_each_job_outside_any_unit_of_work(world: World) -> None:
    seen: list[tuple[list[str], bool]] = []
    world.scheduler.register("note", lambda args, _due: world.ran.append(args["n"]))
    with world.store.unit_of_work():
        for n in "abc":
            world.scheduler.schedule("note", 1000, {"n": n}, job_id=n)
    assert world.scheduler.run_due(
        between=lambda: seen.append((list(world.ran), world.store.in_unit_of_work))) == []
    assert world.ran == ["a", "b", "c"]
    # After each job its deletion is committed: nothing is staged when others get a turn.
    assert seen == [(["a"], False), (["a", "b"], False), (["a", "b", "c"], False)]
    assert world.scheduler.pending_count() == 0


def test_a_run_without_between_leaves_due_jobs_to_a_run_with_it(world: World) -> None:
    """While a clock jump lets other requests in, the ticker runs nothing: each job runs once,
    by the jump, which reports its failures."""
    ticker_runs: list[list[object]] = []

    def between() -> None:
        ticker_runs.append(list(world.scheduler.run_due()))

    def note(args: dict[str, str], _due: float) -> None:
        if args["n"] == "bad":
            raise ValueError("boom")
        world.ran.append(args["n"])

    world.scheduler.register("note", note)
    with world.store.unit_of_work():
        for i, n in enumerate(["a", "bad", "b", "c"]):
            world.scheduler.schedule("note", 1000 + i, {"n": n}, job_id=n)
    world.now = 1005  # all four due; the failed one's retry (1 s later) is not
    failed = world.scheduler.run_due(between=between)
    assert world.ran == ["a", "b", "c"]
    assert [f.job_id for f in failed] == ["bad"]
    assert ticker_runs == [[], [], [], []]
    # Once the jump is over, the ticker runs due jobs again (the failed one, when its retry
    # is due).
    world.now = 1000 + 3600
    assert [f.job_id for f in world.scheduler.run_due()] == ["bad"]
    assert world.scheduler.pending_count() == 1


def test_pending_count_follows_staged_changes(world: World) -> None:
    with world.store.unit_of_work():
        world.scheduler.schedule("note", 2000, job_id="x")
        world.scheduler.schedule("note", 2000, job_id="y")
        assert world.scheduler.pending_count() == 2
        world.scheduler.cancel("x")
        assert world.scheduler.pending_count() == 1
    assert world.scheduler.pending_count() == 1


def test_stop_leaves_the_rest_of_the_due_work_for_a_later_call(world: World) -> None:
    world.scheduler.register("note", lambda args, _due: world.ran.append(args["n"]))
    with world.store.unit_of_work():
        for n in range(5):
            world.scheduler.schedule("note", 1001 + n, {"n": str(n)})
    world.now = 2000
    asked: list[int] = []

    def after_two() -> bool:
        asked.append(len(world.ran))
        return len(world.ran) >= 2

    assert world.scheduler.run_due(stop=after_two) == []
    assert world.ran == ["0", "1"]
    assert [j.args["n"] for j in world.scheduler.pending()] == ["2", "3", "4"]
    assert world.scheduler.run_due() == []
    assert world.ran == ["0", "1", "2", "3", "4"]
    assert asked == [0, 1, 2]
