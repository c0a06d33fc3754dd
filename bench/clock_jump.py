"""Bench: the cost of a clock jump (issue 10, part 4).

Builds an App in process with an ACTIVE one-HSM CloudHSM cluster (a daily backup and a backup
retention policy of ``--retention`` days) and a few KMS keys pending deletion, then advances the
clock by ``--days`` and by twice as many, each on a fresh data dir, and prints the time per
jump, the jobs run and the ratio of the two times per job (linear cost: about 1.0; a cost that
grows faster than the days: about 2 or more).

Run: ``.venv/bin/python bench/clock_jump.py [--days 365] [--retention 7]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from hsmkms.testing.inprocess import InProcess

from cloudhsm_keys import active_cluster  # bench/ is on sys.path

DAY = 86400


def build(inproc: InProcess, retention: int, keys: int) -> str:
    """An ACTIVE one-HSM cluster with a retention policy, and ``keys`` keys pending deletion."""
    kms = inproc.client("kms")
    cluster_id, _anchor, _subnets = active_cluster(
        inproc, BackupRetentionPolicy={"Type": "DAYS", "Value": str(retention)})
    for _ in range(keys):
        key = kms.create_key()["KeyMetadata"]["KeyId"]
        kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
    return cluster_id


def jump(days: int, retention: int, keys: int) -> tuple[float, int, int]:
    """(seconds, jobs run, backups left) of one jump of ``days`` on a fresh data dir."""
    with tempfile.TemporaryDirectory() as tmp, InProcess(Path(tmp) / "data") as inproc:
        build(inproc, retention, keys)
        app = inproc.app
        runs: list[int] = [0]
        for name, fn in list(app.scheduler._tasks.items()):
            def counted(args: dict[str, str], due: float, fn: Any = fn) -> None:
                runs[0] += 1
                fn(args, due)
            app.scheduler.register(name, counted)
        start = time.perf_counter()
        status, _ = _admin(inproc, days)
        elapsed = time.perf_counter() - start
        assert status == 200, status
        pages = inproc.client("cloudhsmv2").get_paginator("describe_backups").paginate()
        left = sum(len(p["Backups"]) for p in pages)
        return elapsed, runs[0], left


def _admin(inproc: InProcess, days: int) -> tuple[int, bytes]:
    from hsmkms.http import HttpRequest

    body = f'{{"advance_seconds": {days * DAY}}}'.encode()
    req = HttpRequest("POST", "/_hsmkms/clock", {"content-type": "application/json"}, body,
                      "", "127.0.0.1")
    response = inproc.app.handle(req)
    return response.status, response.body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--retention", type=int, default=7)
    parser.add_argument("--keys", type=int, default=5)
    args = parser.parse_args(argv)
    small = jump(args.days, args.retention, args.keys)
    large = jump(2 * args.days, args.retention, args.keys)
    for days, (secs, runs, left) in ((args.days, small), (2 * args.days, large)):
        print(f"+{days:5d} days: {secs:7.2f} s, {runs:6d} jobs, {secs / runs * 1e6:7.1f} us/job,"
              f" {left} backups listed after")
    ratio = (large[0] / large[1]) / (small[0] / small[1])
    print(f"  cost per job, {2 * args.days} vs {args.days} days: {ratio:5.2f} (linear: ~1.0)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
