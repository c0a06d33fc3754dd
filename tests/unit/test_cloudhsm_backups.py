"""Retention: which backups a policy may purge, and when."""

from __future__ import annotations

from hsmkms.cloudhsm.backups import expiry, purgeable
from hsmkms.cloudhsm.model import Backup, BackupState

DAY = 86400.0


def backup(ident: str, created: float, state: BackupState = BackupState.READY, *,
           never: bool = False) -> Backup:
    return Backup(ident, "cluster-abcdefghijk", state, created, "hsm1.medium",
                  never_expires=never)


def test_never_the_last_backup() -> None:
    assert purgeable([backup("backup-a", 0)]) == []


def test_older_ready_backups_are_purgeable_except_never_expires() -> None:
    items = [backup("backup-c", 3 * DAY), backup("backup-a", 0),
             backup("backup-b", DAY, never=True),
             backup("backup-d", 2 * DAY, BackupState.PENDING_DELETION)]
    assert [b.backup_id for b in purgeable(items)] == ["backup-a"]


def test_the_newest_is_kept_even_when_it_never_expires() -> None:
    items = [backup("backup-a", 0), backup("backup-b", DAY, never=True)]
    assert [b.backup_id for b in purgeable(items)] == ["backup-a"]


def test_expiry() -> None:
    assert expiry(backup("backup-a", 100.0), 7) == 100.0 + 7 * DAY
