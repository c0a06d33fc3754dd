"""A ten-year clock jump over HTTP (issue 10, part 4): other requests are served while it runs,
and it answers only once every piece of due work is done.

Bounds are loose (a loaded 2-core CI machine); bench/clock_jump.py prints the exact figures.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cloudhsm_helpers import active_cluster

from hsmkms.testing.server import ServerProcess

DAY = 86400
TEN_YEARS = 3650 * DAY
#: AWS's target for a health check; every one sent during the jump must answer within it.
HEALTH_BOUND = 1.0


def _get(server: ServerProcess, path: str, timeout: float) -> tuple[float, dict[str, Any]]:
    start = time.monotonic()
    with urllib.request.urlopen(server.endpoint + path, timeout=timeout) as resp:  # noqa: S310
        doc = json.loads(resp.read())
    return time.monotonic() - start, doc


def _jump(server: ServerProcess, seconds: int, out: dict[str, Any]) -> None:
    req = urllib.request.Request(  # noqa: S310 - loopback
        server.endpoint + "/_hsmkms/clock", method="POST",
        data=json.dumps({"advance_seconds": seconds}).encode(),
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=300) as resp:  # noqa: S310
        out["answer"] = json.loads(resp.read())
    out["done_at"] = time.monotonic()


def _all_backups(server: ServerProcess) -> list[dict[str, Any]]:
    pages = server.client("cloudhsmv2").get_paginator("describe_backups").paginate()
    return [b for page in pages for b in page["Backups"]]


def test_ten_year_jump_keeps_health_answering_and_does_all_due_work(
        hsmkms_server: ServerProcess) -> None:
    cluster, _ca = active_cluster(hsmkms_server, BackupRetentionPolicy={"Type": "DAYS",
                                                                         "Value": "7"})
    kms = hsmkms_server.client("kms")
    doomed = [kms.create_key()["KeyMetadata"]["KeyId"] for _ in range(3)]
    for key_id in doomed:
        kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    kept = kms.create_key()["KeyMetadata"]["KeyId"]

    result: dict[str, Any] = {}
    jumper = threading.Thread(target=_jump, args=(hsmkms_server, TEN_YEARS, result))
    started = time.monotonic()
    jumper.start()
    latencies: list[float] = []
    during = 0
    while jumper.is_alive():
        took, health = _get(hsmkms_server, "/_hsmkms/health", timeout=10)
        latencies.append(took)
        assert health["status"] == "ok"
        if jumper.is_alive():
            during += 1
        time.sleep(0.05)
    jumper.join(timeout=240)
    elapsed = result["done_at"] - started

    assert result["answer"]["now"] >= time.time() + TEN_YEARS - 60
    assert "failed_jobs" not in result["answer"]
    assert max(latencies) < HEALTH_BOUND, latencies
    # The jump takes seconds (3,650 daily backups and their retention): health got turns.
    if elapsed > 1.0:
        assert during >= 2, (during, elapsed)

    # All the due work was done when the jump answered: the keys are gone ...
    for key_id in doomed:
        with pytest.raises(ClientError) as err:
            kms.describe_key(KeyId=key_id)
        assert err.value.response["Error"]["Code"] == "NotFoundException"
    assert kms.describe_key(KeyId=kept)["KeyMetadata"]["KeyState"] == "Enabled"
    # ... a backup was taken every day, and the retention policy kept only the last ones:
    # 7 days READY (plus the newest), 7 days PENDING_DELETION, 7 days DELETED; older DELETED
    # backups are forgotten.
    backups = [b for b in _all_backups(hsmkms_server) if b["ClusterId"] == cluster["ClusterId"]]
    states = {s: sum(b["BackupState"] == s for b in backups)
              for s in ("READY", "PENDING_DELETION", "DELETED", "CREATE_IN_PROGRESS")}
    assert states["CREATE_IN_PROGRESS"] == 0
    assert 7 <= states["READY"] <= 9, states
    assert 6 <= states["PENDING_DELETION"] <= 8, states
    assert 6 <= states["DELETED"] <= 8, states
    newest = max(b["CreateTimestamp"].timestamp() for b in backups)
    assert newest >= time.time() + TEN_YEARS - 2 * DAY
    health = hsmkms_server.admin("GET", "health")
    assert health["failed_job_runs"] == 0
