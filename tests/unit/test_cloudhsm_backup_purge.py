"""A DELETED backup stays listed for DELETED_BACKUP_LISTED_SECONDS, then is forgotten: no
document (and no sealed key material) is kept for years (issue 10, part 4)."""

from __future__ import annotations

import sys
from pathlib import Path

from hsmkms.cloudhsm.backups import DELETED_BACKUP_LISTED_SECONDS
from hsmkms.cloudhsm.service import CloudHsmService
from hsmkms.testing.inprocess import InProcess

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "e2e"))
from cloudhsm_helpers import wait_for
from test_cloudhsm_service import SCOPE, call, initialized

DAY = 86400


def test_a_deleted_backup_is_listed_a_week_then_forgotten(hsmkms_inprocess: InProcess) -> None:
    assert DELETED_BACKUP_LISTED_SECONDS == 7 * DAY
    service: CloudHsmService = hsmkms_inprocess.app.cloudhsm
    hsm = hsmkms_inprocess.client("cloudhsmv2")
    cluster_id = initialized(hsmkms_inprocess)
    call(hsmkms_inprocess, service.activate, SCOPE, cluster_id, hsmkms_inprocess.app.clock.now())
    backup_id = wait_for(lambda: hsm.describe_backups()["Backups"],
                         lambda bs: [b["BackupState"] for b in bs] == ["READY"])[0]["BackupId"]
    hsm.create_hsm(ClusterId=cluster_id, AvailabilityZone="us-east-1b")
    hsm.delete_backup(BackupId=backup_id)

    def state() -> str | None:
        found = [b["BackupState"] for b in hsm.describe_backups(
            Filters={"backupIds": [backup_id]})["Backups"]]
        return found[0] if found else None

    hsmkms_inprocess.advance(7 * DAY + 1)
    assert state() == "DELETED"
    hsmkms_inprocess.advance(DELETED_BACKUP_LISTED_SECONDS - 60)
    assert state() == "DELETED"
    hsmkms_inprocess.advance(61)
    assert state() is None
    assert service.backups.repo.get(SCOPE, backup_id) is None
    assert service.backups.snapshots.get(SCOPE, backup_id) is None
    # The cluster's newer daily backups are unaffected.
    assert any(b["BackupState"] == "READY" for b in hsm.describe_backups()["Backups"])


def test_a_deleted_backup_without_its_job_gets_one_at_start(tmp_path: Path) -> None:
    """A data dir from before DELETED backups were forgotten: the next start schedules it."""
    data = tmp_path / "data"
    with InProcess(data) as first:
        service: CloudHsmService = first.app.cloudhsm
        hsm = first.client("cloudhsmv2")
        cluster_id = initialized(first)
        call(first, service.activate, SCOPE, cluster_id, first.app.clock.now())
        backup_id = wait_for(lambda: hsm.describe_backups()["Backups"],
                             lambda bs: [b["BackupState"] for b in bs] == ["READY"])[0]["BackupId"]
        hsm.create_hsm(ClusterId=cluster_id, AvailabilityZone="us-east-1b")
        hsm.delete_backup(BackupId=backup_id)
        first.advance(7 * DAY + 1)
        job = f"cloudhsm.forget:{SCOPE}:{backup_id}"
        assert first.app.scheduler.has(job)
        with first.app.lock, first.app.store.unit_of_work():
            first.app.scheduler.cancel(job)  # as an older hsmkms left it: no job
    with InProcess(data) as second:
        assert second.app.scheduler.has(job)
        second.advance(DELETED_BACKUP_LISTED_SECONDS)
        assert second.app.cloudhsm.backups.repo.get(SCOPE, backup_id) is None
