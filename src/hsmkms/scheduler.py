"""Persisted scheduled work.

A job is a document (task name, due time, string arguments) written in the same unit of work as
the state change that asked for it, so "schedule key deletion" and "the job that deletes the
key" are committed together or not at all. :meth:`Scheduler.run_due` runs every job whose due
time has passed, each in its own unit of work together with its deletion, until none is due
(jobs may schedule further jobs, due at once or later). A job that raises is rolled back and
kept, to run again after a growing delay (``RETRY_DELAYS``): its changes to the store happen
once, what it does outside the store (a CloudTrail event, say) may happen again. The server
calls it a few times a second; ``POST /_hsmkms/clock`` calls it after advancing the clock and
reports what failed. A clock jump of years runs thousands of jobs: that call passes ``between``,
which :meth:`Scheduler.run_due` calls between two jobs (outside any unit of work) so that the
caller can let other requests in (release the app lock for a moment); while such a run is under
way, other calls without ``between`` (the server's ticker) leave the due jobs to it, so that it
alone runs them and reports their failures. Each job is still taken and run, with its deletion,
under the caller's lock: none runs twice, none is skipped.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from hsmkms.ids import IdSource
from hsmkms.store.base import Store

log = logging.getLogger(__name__)

#: A task gets the job's arguments and the time it was due (not the time it runs: a clock jump
#: of a year runs a job due months ago "now", and what it records is dated when it was due).
TaskFn = Callable[[dict[str, str], float], None]
#: Seconds of clock time before a failed job runs again: 1 s, 10 s, 1 min, 10 min, then hourly.
RETRY_DELAYS = (1.0, 10.0, 60.0, 600.0, 3600.0)


@dataclass(frozen=True, slots=True)
class Job:
    id: str
    task: str
    due: float
    args: dict[str, str] = field(default_factory=dict)
    #: Failed runs so far (a failed job is kept and retried, never silently lost).
    attempts: int = 0
    #: When the job was first due; ``due`` moves on with each retry, this does not.
    first_due: float | None = None

    @property
    def due_at(self) -> float:
        """The time the task is told it runs at."""
        return self.due if self.first_due is None else self.first_due


@dataclass(frozen=True, slots=True)
class Failure:
    job_id: str
    task: str
    error: str


class Scheduler:
    """Jobs are documents in the store; an in-memory heap of ``(due, id)`` finds the next one
    without scanning them all. Heap entries are hints: an entry whose job is gone (cancelled,
    rolled back) or was rescheduled to another time is skipped when it comes up."""

    def __init__(self, store: Store, now: Callable[[], float],
                 ids: IdSource | None = None) -> None:
        self._store = store
        self._now = now
        self._ids = ids or IdSource()
        self._jobs = store.repository("job", Job)
        self._tasks: dict[str, TaskFn] = {}
        self._heap = [(j.due, j.id) for j in self._jobs.values("")]
        heapq.heapify(self._heap)
        #: Failed runs since start (``/_hsmkms/health``).
        self.failures = 0
        #: Runs under way that pass ``between`` (a clock jump letting other requests in).
        self._draining = 0

    def register(self, task: str, fn: TaskFn) -> None:
        self._tasks[task] = fn

    def schedule(self, task: str, due: float, args: dict[str, str] | None = None,
                 job_id: str | None = None) -> str:
        """Schedule ``task``; a given ``job_id`` replaces an earlier job with that id."""
        ident = job_id or self._ids.hex(32)
        self._put(Job(ident, task, due, dict(args or {})))
        return ident

    def _put(self, job: Job) -> None:
        self._jobs.put("", job.id, job)
        heapq.heappush(self._heap, (job.due, job.id))

    def has(self, job_id: str) -> bool:
        return self._jobs.get("", job_id) is not None

    def cancel(self, job_id: str) -> None:
        if self._jobs.get("", job_id) is not None:
            self._jobs.delete("", job_id)

    def move(self, job_id: str, new_id: str, args: dict[str, str]) -> bool:
        """Give a pending job another id and arguments, keeping its task and due time (what
        it acts on moved); replaces a job already under ``new_id``. False: there was none."""
        job = self._jobs.get("", job_id)
        if job is None:
            return False
        self._jobs.delete("", job_id)
        self._put(replace(job, id=new_id, args=dict(args)))
        return True

    def pending(self) -> list[Job]:
        return sorted(self._jobs.values(""), key=lambda j: j.due)

    def pending_count(self) -> int:
        return self._jobs.count("")

    def next_due(self) -> float | None:
        self._drop_stale()
        return self._heap[0][0] if self._heap else None

    def run_due(self, between: Callable[[], None] | None = None, *,
                stop: Callable[[], bool] | None = None) -> list[Failure]:
        """Run every job that is due now, in due order; returns the runs that failed.

        Called outside any unit of work (each job runs in one of its own). ``between`` is
        called after each job; a call without it while a call with it is under way (in another
        thread, while ``between`` let it in) runs nothing: the due jobs are that call's.
        ``stop`` is asked after each job whether to leave the rest for a later call (the
        ticker's time budget: a backlog of months is worked off a slice per tick)."""
        if self._store.in_unit_of_work:
            raise RuntimeError("run_due must not be called inside a unit of work")
        if between is None and self._draining:
            return []
        if len(self._heap) > 2 * self._jobs.count("") + 64:
            self._rebuild()  # cancelled and moved jobs left many stale hints: start afresh
        self._draining += between is not None
        try:
            return self._run_all(between, stop)
        finally:
            self._draining -= between is not None

    def _run_all(self, between: Callable[[], None] | None,
                 stop: Callable[[], bool] | None) -> list[Failure]:
        failed: list[Failure] = []
        while stop is None or not stop():
            job = self._pop_due(self._now())
            if job is None:
                return failed
            failure, go_on = self._run(job)
            if failure is not None:
                failed.append(failure)
            if not go_on:
                return failed
            if between is not None:
                between()  # may let others in (the app closing, say): ``stop`` is asked next
        return failed

    def _rebuild(self) -> None:
        self._heap = [(j.due, j.id) for j in self._jobs.values("")]
        heapq.heapify(self._heap)

    def _drop_stale(self) -> None:
        if self._store.in_unit_of_work:
            # A job missing now may come back if the unit of work is rolled back: keep hints.
            return
        while self._heap:
            due, ident = self._heap[0]
            job = self._jobs.get("", ident)
            if job is not None and job.due == due:
                return
            heapq.heappop(self._heap)

    def _pop_due(self, now: float) -> Job | None:
        self._drop_stale()
        if not self._heap or self._heap[0][0] > now:
            return None
        _due, ident = heapq.heappop(self._heap)
        return self._jobs.get("", ident)

    def _run(self, job: Job) -> tuple[Failure | None, bool]:
        """Run one job: ``(the failure or None, whether to go on with the next)``."""
        fn = self._tasks.get(job.task)
        try:
            with self._store.unit_of_work():
                self._jobs.delete("", job.id)
                if fn is None:
                    log.error("no handler for scheduled task %s; dropped", job.task)
                else:
                    fn(job.args, job.due_at)
        except Exception as exc:  # any failure of a task means the same: retry later
            # The job's own changes were rolled back, its deletion too. Keep it and run it
            # again later, so that (say) a key's deletion is delayed, never lost.
            log.exception("scheduled task %s failed (attempt %d)", job.task, job.attempts + 1)
            self.failures += 1
            failure = Failure(job.id, job.task, f"{type(exc).__name__}: {exc}")
            delay = RETRY_DELAYS[min(job.attempts, len(RETRY_DELAYS) - 1)]
            try:
                with self._store.unit_of_work():
                    self._put(replace(job, due=self._now() + delay, attempts=job.attempts + 1,
                                      first_due=job.due_at))
            except Exception:  # the store itself fails (a full disk, say)
                # The job is stored as it was: keep its hint and stop this round, so a failing
                # store is not retried in a tight loop; the next round tries again.
                log.exception("could not reschedule task %s", job.task)
                heapq.heappush(self._heap, (job.due, job.id))
                return failure, False
            return failure, True
        return None, True
