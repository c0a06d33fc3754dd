"""Persisted scheduled work.

A job is a document (task name, due time, string arguments) written in the same unit of work as
the state change that asked for it, so "schedule key deletion" and "the job that deletes the
key" are committed together or not at all. :meth:`Scheduler.run_due` runs every job whose due
time has passed, each in its own unit of work together with its deletion, until none is due
(jobs may schedule further jobs, due at once or later). The server calls it a few times a
second; ``POST /_hsmkms/clock`` calls it after advancing the clock.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from hsmkms.store.base import Store

log = logging.getLogger(__name__)

TaskFn = Callable[[dict[str, str]], None]


@dataclass(frozen=True, slots=True)
class Job:
    id: str
    task: str
    due: float
    args: dict[str, str] = field(default_factory=dict)


class Scheduler:
    def __init__(self, store: Store, now: Callable[[], float]) -> None:
        self._store = store
        self._now = now
        self._jobs = store.repository("job", Job)
        self._tasks: dict[str, TaskFn] = {}
        self.failures = 0

    def register(self, task: str, fn: TaskFn) -> None:
        self._tasks[task] = fn

    def schedule(self, task: str, due: float, args: dict[str, str] | None = None,
                 job_id: str | None = None) -> str:
        """Schedule ``task``; a given ``job_id`` replaces an earlier job with that id."""
        ident = job_id or uuid.uuid4().hex
        self._jobs.put("", ident, Job(ident, task, due, dict(args or {})))
        return ident

    def cancel(self, job_id: str) -> None:
        if self._jobs.get("", job_id) is not None:
            self._jobs.delete("", job_id)

    def pending(self) -> list[Job]:
        return sorted(self._jobs.values(""), key=lambda j: j.due)

    def next_due(self) -> float | None:
        jobs = self._jobs.values("")
        return min((j.due for j in jobs), default=None)

    def run_due(self) -> int:
        """Run every job that is due now; returns how many ran."""
        ran = 0
        while True:
            now = self._now()
            due = [j for j in self._jobs.values("") if j.due <= now]
            if not due:
                return ran
            job = min(due, key=lambda j: j.due)
            self._run(job)
            ran += 1

    def _run(self, job: Job) -> None:
        fn = self._tasks.get(job.task)
        try:
            with self._store.unit_of_work():
                self._jobs.delete("", job.id)
                if fn is None:
                    log.error("no handler for scheduled task %s; dropped", job.task)
                else:
                    fn(job.args)
        except Exception:
            # The job's own changes were rolled back; drop it so one bad job can't wedge the
            # queue, and count it for /_hsmkms/health.
            log.exception("scheduled task %s failed", job.task)
            self.failures += 1
            with self._store.unit_of_work():
                self._jobs.delete("", job.id)
