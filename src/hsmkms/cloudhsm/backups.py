"""Backups: snapshots, the 7-day pending-deletion window and the retention policy.

Theory of operation: a backup is born ``CREATE_IN_PROGRESS`` holding the cluster certificate,
trust anchor and lineage, and a job makes it ``READY``. The copy of one HSM's contents it holds
is a snapshot of its own (:class:`~hsmkms.cloudhsm.model.BackupContents`), written once when the
backup is taken (or copied to another Region) and never rewritten by the changes of state,
tags or policy below.
DeleteBackup (or a retention purge) makes it ``PENDING_DELETION`` with a job at
``DeleteTimestamp`` that makes it ``DELETED``; RestoreBackup cancels that job. A DELETED backup
holds no HSM contents any more (its snapshot goes when it becomes DELETED) and stays listed
:data:`DELETED_BACKUP_LISTED_SECONDS`, then a job forgets it (else a cluster's daily backups
would pile up for ever: 3,650 documents a decade, each scanned by every retention run).
Retention: for each
cluster one job is kept due at the moment its oldest purgeable backup reaches the policy's age;
it is recomputed whenever the cluster's backups or policy change. Purgeable = READY, not
``NeverExpires``, and not the cluster's newest READY backup ("CloudHSM does not delete a
cluster's last backup", manage-backup-retention). Copies in another Region have no cluster
there, hence no retention (copy-backup-to-region).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import replace

from hsmkms.cloudhsm import ids, lifecycle
from hsmkms.cloudhsm.errors import (
    CloudHsmInvalidRequestException,
    CloudHsmResourceNotFoundException,
    message,
)
from hsmkms.cloudhsm.lifecycle import BackupEvent
from hsmkms.cloudhsm.model import (
    BACKUP_CONTENTS,
    BACKUPS,
    Backup,
    BackupContents,
    BackupState,
    Cluster,
)
from hsmkms.cloudhsm.timing import DAY, PENDING_DELETION_SECONDS, Step, duration
from hsmkms.hsm.model import HsmContents
from hsmkms.scheduler import Scheduler
from hsmkms.scope import Scope
from hsmkms.store.base import Repository, Store

_KEPT = frozenset({BackupState.READY, BackupState.PENDING_DELETION})
#: The states in which a backup accepts each change; other states get
#: CloudHsmInvalidRequestException. A DELETED backup is still listed but past changing (like
#: DeleteBackup and RestoreBackup, which the transition table refuses the same way); a backup
#: still being created has nothing to change yet. Resource policies need READY (spec 2.13).
CHANGES: dict[str, frozenset[BackupState]] = {
    "ModifyBackupAttributes": _KEPT, "TagResource": _KEPT, "UntagResource": _KEPT,
    "PutResourcePolicy": frozenset({BackupState.READY}),
}

READY_TASK = "cloudhsm.backup-ready"
EXPIRE_TASK = "cloudhsm.backup-expire"
RETENTION_TASK = "cloudhsm.backup-retention"
FORGET_TASK = "cloudhsm.backup-forget"
#: How long a DELETED backup stays in DescribeBackups. AWS documents no period (spec
#: cloudhsm.md 8.22 proposed "indefinitely"); as long as the pending-deletion window before it,
#: so that a client polling weekly still sees the end state (docs/compatibility.md).
DELETED_BACKUP_LISTED_SECONDS = 7 * DAY


def purgeable(backups: Iterable[Backup]) -> list[Backup]:
    """The backups of one cluster a retention policy may move to PENDING_DELETION."""
    ready = sorted((b for b in backups if b.state is BackupState.READY),
                   key=lambda b: b.create_timestamp)
    return [b for b in ready[:-1] if not b.never_expires]


def expiry(backup: Backup, days: int) -> float:
    return backup.create_timestamp + days * DAY


class Backups:
    def __init__(self, store: Store, scheduler: Scheduler, timing: str,
                 clusters: Repository[Cluster], rand: ids.Random) -> None:
        self.repo = store.repository(BACKUPS, Backup)
        self.snapshots = store.repository(BACKUP_CONTENTS, BackupContents)
        self.clusters = clusters
        self.scheduler = scheduler
        self.timing = timing
        self.rand = rand
        #: Called with (scope, backup) when a backup becomes READY (none yet; for other packages).
        self.ready_hooks: list[Callable[[str, Backup], None]] = []
        scheduler.register(READY_TASK, self._ready_due)
        scheduler.register(EXPIRE_TASK, self._expire_due)
        scheduler.register(RETENTION_TASK, self._retention_due)
        scheduler.register(FORGET_TASK, self._forget_due)
        self._forget_deleted_later(store)

    # -- lookup -------------------------------------------------------------------------------

    def get(self, scope: str, backup_id: str) -> Backup:
        backup = self.repo.get(scope, backup_id)
        if backup is None:
            raise CloudHsmResourceNotFoundException(message("backup_not_found", id=backup_id))
        return backup

    def changeable(self, scope: str, backup_id: str, operation: str) -> Backup:
        """The backup, if its state accepts ``operation`` (a key of :data:`CHANGES`)."""
        backup = self.get(scope, backup_id)
        allowed = CHANGES[operation]
        if backup.state not in allowed:
            raise CloudHsmInvalidRequestException(message(
                "backup_change_state", id=backup_id, state=backup.state, operation=operation,
                allowed=" or ".join(s for s in BackupState if s in allowed)))
        return backup

    def of_cluster(self, scope: str, cluster_id: str) -> list[Backup]:
        return [b for b in self.repo.values(scope) if b.cluster_id == cluster_id]

    def contents(self, scope: str, backup_id: str) -> HsmContents:
        """The HSM contents the backup holds."""
        snapshot = self.snapshots.get(scope, backup_id)
        return snapshot.contents if snapshot is not None else HsmContents()

    def latest_ready(self, scope: str, cluster_id: str) -> Backup | None:
        ready = [b for b in self.of_cluster(scope, cluster_id) if b.state is BackupState.READY]
        return max(ready, key=lambda b: b.create_timestamp, default=None)

    # -- creation -----------------------------------------------------------------------------

    def take(self, scope: str, cluster: Cluster, contents: HsmContents, now: float) -> Backup:
        backup = Backup(backup_id=ids.new_id("backup", self.rand), cluster_id=cluster.cluster_id,
                        state=BackupState.CREATE_IN_PROGRESS, create_timestamp=now,
                        hsm_type=cluster.hsm_type, mode=cluster.mode,
                        cluster_certificate=cluster.cluster_certificate,
                        trust_anchor=cluster.trust_anchor, lineage=cluster.lineage)
        self.snapshots.put(scope, backup.backup_id, BackupContents(contents))
        self._add(scope, backup, now)
        return backup

    def copy(self, source: Backup, source_region: str, dest_scope: str,
             tags: dict[str, str] | None, now: float) -> Backup:
        """A copy of ``source`` (a backup of the same account in ``source_region``)."""
        if source.state is not BackupState.READY:
            raise CloudHsmInvalidRequestException(
                message("copy_state", id=source.backup_id, state=source.state))
        copy = replace(source, backup_id=ids.new_id("backup", self.rand),
                       state=BackupState.CREATE_IN_PROGRESS, copy_timestamp=now,
                       source_region=source_region, source_backup=source.backup_id,
                       source_cluster=source.cluster_id, never_expires=False,
                       delete_timestamp=0.0, policy="", retention_days=0,
                       tags=dict(source.tags) if tags is None else tags)
        self.snapshots.put(dest_scope, copy.backup_id,
                           BackupContents(self.contents(
                               Scope.of(Scope(dest_scope).account, source_region),
                               source.backup_id)))
        self._add(dest_scope, copy, now)
        return copy

    def _add(self, scope: str, backup: Backup, now: float) -> None:
        self.repo.put(scope, backup.backup_id, backup)
        due = now + duration(self.timing, Step.BACKUP)
        self.scheduler.schedule(READY_TASK, due, {"scope": scope, "id": backup.backup_id})

    def _ready_due(self, args: dict[str, str], _due: float) -> None:
        scope = args["scope"]
        backup = self.repo.get(scope, args["id"])
        if backup is None or backup.state is not BackupState.CREATE_IN_PROGRESS:
            return
        backup = self._move(scope, backup, BackupEvent.COMPLETED)
        self.reschedule_retention(scope, backup.cluster_id)
        for hook in self.ready_hooks:
            hook(scope, backup)

    # -- deletion and restore -----------------------------------------------------------------

    def _move(self, scope: str, backup: Backup, event: BackupEvent, **changes: object) -> Backup:
        try:
            state = lifecycle.backup_next(backup.state, event)
        except lifecycle.IllegalTransition as err:
            raise CloudHsmInvalidRequestException(
                lifecycle.refusal(err, backup.backup_id)) from None
        backup = replace(backup, state=state, **changes)  # type: ignore[arg-type]
        self.repo.put(scope, backup.backup_id, backup)
        return backup

    def delete(self, scope: str, backup_id: str, now: float) -> Backup:
        backup = self._move(scope, self.get(scope, backup_id), BackupEvent.DELETE,
                            delete_timestamp=now + PENDING_DELETION_SECONDS)
        self.scheduler.schedule(EXPIRE_TASK, backup.delete_timestamp,
                                {"scope": scope, "id": backup_id}, job_id=_expire_job(scope,
                                                                                      backup_id))
        self.reschedule_retention(scope, backup.cluster_id)
        return backup

    def restore(self, scope: str, backup_id: str) -> Backup:
        backup = self._move(scope, self.get(scope, backup_id), BackupEvent.RESTORE,
                            delete_timestamp=0.0)
        self.scheduler.cancel(_expire_job(scope, backup_id))
        self.reschedule_retention(scope, backup.cluster_id)
        return backup

    def _expire_due(self, args: dict[str, str], due: float) -> None:
        backup = self.repo.get(args["scope"], args["id"])
        if backup is not None and backup.state is BackupState.PENDING_DELETION:
            self._move(args["scope"], backup, BackupEvent.EXPIRE)
            # A DELETED backup is listed but can never be restored or copied: its keys go.
            self.snapshots.delete(args["scope"], args["id"])
            self._forget_later(args["scope"], args["id"], due)

    def _forget_later(self, scope: str, backup_id: str, deleted: float) -> None:
        self.scheduler.schedule(FORGET_TASK, deleted + DELETED_BACKUP_LISTED_SECONDS,
                                {"scope": scope, "id": backup_id},
                                job_id=f"cloudhsm.forget:{scope}:{backup_id}")

    def _forget_deleted_later(self, store: Store) -> None:
        """DELETED backups of a data dir from before they were forgotten get their job."""
        orphans = [(scope, b) for scope in self.repo.scopes() for b in self.repo.values(scope)
                   if b.state is BackupState.DELETED
                   and not self.scheduler.has(f"cloudhsm.forget:{scope}:{b.backup_id}")]
        if orphans:
            with store.unit_of_work():
                for scope, backup in orphans:
                    self._forget_later(scope, backup.backup_id, backup.delete_timestamp)

    def _forget_due(self, args: dict[str, str], _due: float) -> None:
        """A DELETED backup leaves DescribeBackups (nothing else refers to it)."""
        backup = self.repo.get(args["scope"], args["id"])
        if backup is not None and backup.state is BackupState.DELETED:
            self.repo.delete(args["scope"], args["id"])
            self.snapshots.delete(args["scope"], args["id"])  # none left; old data dirs too

    def set_never_expires(self, scope: str, backup_id: str, *, never_expires: bool) -> Backup:
        backup = replace(self.changeable(scope, backup_id, "ModifyBackupAttributes"),
                         never_expires=never_expires)
        self.repo.put(scope, backup_id, backup)
        self.reschedule_retention(scope, backup.cluster_id)
        return backup

    # -- retention ----------------------------------------------------------------------------

    def retention_days(self, scope: str, cluster_id: str) -> int | None:
        """The policy of a cluster's backups: its own, or, once the cluster is forgotten, the
        one it had (spec 8.9); None for copies in another Region (no cluster there)."""
        cluster = self.clusters.get(scope, cluster_id)
        if cluster is not None:
            return cluster.backup_retention_days
        kept = (b.retention_days for b in self.of_cluster(scope, cluster_id))
        return next((days for days in kept if days), None)

    def outlive(self, scope: str, cluster: Cluster) -> None:
        """The cluster is about to be forgotten: its backups keep its retention policy."""
        for backup in self.of_cluster(scope, cluster.cluster_id):
            self.repo.put(scope, backup.backup_id,
                          replace(backup, retention_days=cluster.backup_retention_days))

    def reschedule_retention(self, scope: str, cluster_id: str) -> None:
        job = f"cloudhsm.retention:{scope}:{cluster_id}"
        days = self.retention_days(scope, cluster_id)
        candidates = purgeable(self.of_cluster(scope, cluster_id)) if days else []
        if days is None or not candidates:
            self.scheduler.cancel(job)
            return
        due = min(expiry(b, days) for b in candidates)
        self.scheduler.schedule(RETENTION_TASK, due,
                                {"scope": scope, "cluster": cluster_id},
                                job_id=job)

    def _retention_due(self, args: dict[str, str], due: float) -> None:
        scope, cluster_id, at = args["scope"], args["cluster"], due
        days = self.retention_days(scope, cluster_id)
        if days is None:
            return
        for backup in purgeable(self.of_cluster(scope, cluster_id)):
            if expiry(backup, days) <= at:
                self.delete(scope, backup.backup_id, at)
        self.reschedule_retention(scope, cluster_id)

    # -- resource policies --------------------------------------------------------------------

    def put_policy(self, scope: str, backup_id: str, policy: str) -> Backup:
        backup = self.changeable(scope, backup_id, "PutResourcePolicy")
        try:
            doc = json.loads(policy)
        except ValueError:
            doc = None
        if not isinstance(doc, dict):
            raise CloudHsmInvalidRequestException(message("policy_json"))
        backup = replace(backup, policy=policy)
        self.repo.put(scope, backup_id, backup)
        return backup

    def delete_policy(self, scope: str, backup_id: str) -> str:
        backup = self.get(scope, backup_id)
        if not backup.policy:
            raise CloudHsmResourceNotFoundException(message("no_policy", id=backup_id))
        self.repo.put(scope, backup_id, replace(backup, policy=""))
        return backup.policy

    def shared_with(self, account: str, region: str) -> list[tuple[str, Backup]]:
        """``(owner scope, backup)`` of the READY backups of other accounts in ``region`` whose
        resource policy names ``account``."""
        found = []
        for scope in self.repo.scopes():
            owner, where = Scope(scope).parts()
            if owner == account or where != region:
                continue
            found += [(scope, b) for b in self.repo.values(scope) if b.policy and
                      b.state is BackupState.READY and _shares_with(b.policy, account)]
        return found


def _expire_job(scope: str, backup_id: str) -> str:
    return f"cloudhsm.backup-expire:{scope}:{backup_id}"


def _shares_with(policy: str, account: str) -> bool:
    """Whether a policy document's principals include ``account`` (or everyone)."""
    try:
        statements = json.loads(policy).get("Statement", [])
    except (ValueError, AttributeError):
        return False
    if isinstance(statements, dict):
        statements = [statements]
    for statement in statements:
        if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
            continue
        principal = statement.get("Principal")
        values = principal.get("AWS", []) if isinstance(principal, dict) else [principal]
        values = values if isinstance(values, list) else [values]
        if any(v in ("*", account, f"arn:aws:iam::{account}:root") for v in values):
            return True
    return False
