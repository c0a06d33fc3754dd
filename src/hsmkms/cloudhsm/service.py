"""The CloudHSM v2 control plane: clusters (their HSMs in :mod:`.hsms`, backups in
:mod:`.backups`).

Theory of operation: every request validates first and then changes state through the
transition tables of :mod:`.lifecycle`; whatever takes time (cluster set-up, HSM creation,
initialisation, deletions) is a scheduled job due after :func:`.timing.duration`, run later in
its own unit of work. Jobs are told the time they were due, so that a clock advanced by days
replays them at the right moments. No HTTP, no wall clock: ``now`` is always passed in.

Other packages use :class:`CloudHsmService` through their ports (``get_cluster``,
``save_cluster``, ``activate``, ``related``, ``take_backup``); it is the HSM service's
:class:`~hsmkms.hsm.service.ClusterTopology`. The HSMs' contents are rows of
:mod:`hsmkms.hsm.contents` (``self.contents``), read here to back an HSM up or to fill a new one.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from hsmkms.cloudhsm import certs, ids, legacy, lifecycle
from hsmkms.cloudhsm.backups import Backups
from hsmkms.cloudhsm.errors import (
    CloudHsmInvalidRequestException,
    CloudHsmResourceNotFoundException,
    message,
)
from hsmkms.cloudhsm.hsms import Hsms
from hsmkms.cloudhsm.lifecycle import ClusterEvent
from hsmkms.cloudhsm.model import CLUSTERS, Backup, BackupState, Cluster, ClusterState, Hsm
from hsmkms.cloudhsm.network import ClusterNetwork
from hsmkms.cloudhsm.timing import (
    BACKUP_PERIOD_SECONDS,
    DELETED_CLUSTER_LISTED_SECONDS,
    ROLLBACK_WINDOW_SECONDS,
    Step,
    duration,
)
from hsmkms.config import Config
from hsmkms.hsm.contents import ContentsRows
from hsmkms.hsm.model import HsmContents
from hsmkms.scheduler import Scheduler
from hsmkms.scope import Scope
from hsmkms.store.base import Store

if TYPE_CHECKING:
    from hsmkms.ec2.network import Network

HSM_TYPES = ("hsm1.medium", "hsm2m.medium")
#: Type migrations ModifyCluster accepts (hsm1-to-hsm2-migration).
MIGRATIONS = {("hsm1.medium", "hsm2m.medium")}
RETENTION_DAYS = (7, 379)
#: ModifyCluster changes the backup retention policy only of an activated cluster (spec
#: cloudhsm.md 8.7: the console offers it for ACTIVE clusters; CreateCluster takes the policy
#: for the time before). HsmType changes follow the transition table (MIGRATE from ACTIVE).
RETENTION_CHANGE_STATES = frozenset({ClusterState.ACTIVE, ClusterState.DEGRADED})

CLUSTER_READY_TASK = "cloudhsm.cluster-ready"
CLUSTER_GONE_TASK = "cloudhsm.cluster-gone"
CLUSTER_FORGET_TASK = "cloudhsm.cluster-forget"
INITIALIZED_TASK = "cloudhsm.cluster-initialized"
MIGRATED_TASK = "cloudhsm.cluster-migrated"
DAILY_BACKUP_TASK = "cloudhsm.daily-backup"


def parse_retention(value: str) -> int:
    days = int(value) if value.isdigit() else -1
    if not RETENTION_DAYS[0] <= days <= RETENTION_DAYS[1]:
        raise CloudHsmInvalidRequestException(message("retention_range", value=value))
    return days


class CloudHsmService:
    def __init__(self, store: Store, scheduler: Scheduler, config: Config,
                 network: Network, rand: ids.Random = os.urandom) -> None:
        self.repo = store.repository(CLUSTERS, Cluster)
        self.scheduler = scheduler
        self.config = config
        self.timing = config.timing
        self.rand = rand
        self.network = ClusterNetwork(network)
        self.backups = Backups(store, scheduler, config.timing, self.repo, rand)
        self.contents = ContentsRows(store)
        legacy.split_contents(store, self.repo, self.backups.repo, self.backups.snapshots,
                              self.contents)
        for task, fn in ((CLUSTER_READY_TASK, self._cluster_ready_due),
                         (CLUSTER_GONE_TASK, self._cluster_gone_due),
                         (CLUSTER_FORGET_TASK, self._cluster_forget_due),
                         (INITIALIZED_TASK, self._initialized_due),
                         (MIGRATED_TASK, self._migrated_due),
                         (DAILY_BACKUP_TASK, self._daily_backup_due)):
            scheduler.register(task, fn)
        self.hsms = Hsms(self)

    # -- the interface other packages use ------------------------------------------------------

    def get_cluster(self, scope: str, cluster_id: str) -> Cluster | None:
        return self.repo.get(scope, cluster_id)

    def save_cluster(self, scope: str, cluster: Cluster) -> None:
        self.repo.put(scope, cluster.cluster_id, cluster)

    def find_cluster(self, cluster_id: str) -> tuple[str, Cluster] | None:
        """The scope and cluster with this id, in any scope (faults are global); not DELETED
        nor being deleted."""
        for scope in self.repo.scopes():
            cluster = self.repo.get(scope, cluster_id)
            if cluster is not None and cluster.state not in (ClusterState.DELETED,
                                                             ClusterState.DELETE_IN_PROGRESS):
                return scope, cluster
        return None

    def newest_backup_contents(self, scope: str, cluster_id: str) -> HsmContents | None:
        """The contents of the cluster's newest backup that is not DELETED (its keys, with
        their tombstones, as they were then)."""
        kept = [b for b in self.backups.of_cluster(scope, cluster_id)
                if b.state is not BackupState.DELETED]
        newest = max(kept, key=lambda b: b.create_timestamp, default=None)
        return self.backups.contents(scope, newest.backup_id) if newest is not None else None

    def activate(self, scope: str, cluster_id: str, now: float) -> Cluster:
        """INITIALIZED -> ACTIVE (``cluster activate``), with the activation backup."""
        cluster = self.cluster(scope, cluster_id)
        if cluster.state is not ClusterState.INITIALIZED:
            raise CloudHsmInvalidRequestException(
                message("activation_refused", id=cluster_id, state=cluster.state))
        cluster = self._move(scope, cluster, ClusterEvent.ACTIVATE)
        if cluster.active_hsms():  # "AWS CloudHSM ... backup ... when you activate" (backups)
            self.take_backup(scope, cluster_id, now)
        self._schedule_daily(scope, cluster_id, now)
        return cluster

    def related(self, scope: str, cluster_id_a: str, cluster_id_b: str) -> bool:
        """Whether two clusters share a backup history (KMS: "related clusters"), also when
        one was deleted and forgotten: its backups still carry its lineage."""
        a, b = self._lineage(scope, cluster_id_a), self._lineage(scope, cluster_id_b)
        return bool(a) and a == b

    def _lineage(self, scope: str, cluster_id: str) -> str:
        cluster = self.repo.get(scope, cluster_id)
        if cluster is not None:
            return cluster.lineage
        kept = (b.lineage for b in self.backups.of_cluster(scope, cluster_id))
        return next((lineage for lineage in kept if lineage), "")

    def take_backup(self, scope: str, cluster_id: str, now: float,
                    departing: Hsm | None = None) -> str:
        """A backup of an ACTIVE HSM's contents; when none is ACTIVE (every one unreachable),
        of the HSM being deleted, which holds the newest contents left."""
        cluster = self.cluster(scope, cluster_id)
        live = cluster.active_hsms() or ([departing] if departing is not None else [])
        if not live:
            raise CloudHsmInvalidRequestException(message("no_hsm_for_backup", id=cluster_id))
        contents = self.contents.load(scope, cluster_id, live[0].hsm_id)
        return self.backups.take(scope, cluster, contents, now).backup_id

    # -- helpers -------------------------------------------------------------------------------

    def cluster(self, scope: str, cluster_id: str) -> Cluster:
        """A cluster that exists (DELETED ones count as gone)."""
        cluster = self.repo.get(scope, cluster_id)
        if cluster is None or cluster.state is ClusterState.DELETED:
            raise CloudHsmResourceNotFoundException(message("cluster_not_found", id=cluster_id))
        return cluster

    def _move(self, scope: str, cluster: Cluster, event: ClusterEvent,
              **changes: Any) -> Cluster:
        try:
            state = lifecycle.cluster_next(cluster.state, event)
        except lifecycle.IllegalTransition as err:
            raise CloudHsmInvalidRequestException(
                lifecycle.refusal(err, cluster.cluster_id)) from None
        cluster = replace(cluster, state=state,
                          state_message=lifecycle.CLUSTER_STATE_MESSAGES.get(state, ""), **changes)
        self.save_cluster(scope, cluster)
        return cluster

    def later(self, task: str, step: Step, now: float, **args: str) -> None:
        due = now + duration(self.timing, step)
        self.scheduler.schedule(task, due, args)

    def _schedule_daily(self, scope: str, cluster_id: str, now: float) -> None:
        due = now + BACKUP_PERIOD_SECONDS
        self.scheduler.schedule(DAILY_BACKUP_TASK, due,
                                {"scope": scope, "cluster": cluster_id},
                                job_id=f"cloudhsm.daily:{scope}:{cluster_id}")

    def live_clusters(self, scope: str) -> list[Cluster]:
        return [c for c in self.repo.values(scope) if c.state is not ClusterState.DELETED]

    # -- clusters ------------------------------------------------------------------------------

    def create_cluster(self, scope: str, region: str, now: float, params: dict[str, Any],
                       ) -> Cluster:
        hsm_type = params["HsmType"]
        if hsm_type not in HSM_TYPES:
            raise CloudHsmInvalidRequestException(message("hsm_type", value=hsm_type))
        mode = params.get("Mode", "FIPS")
        retention = params.get("BackupRetentionPolicy", {}).get("Value")
        days = parse_retention(retention) if retention is not None else 90
        source, source_scope = self._source_backup(scope, params.get("SourceBackupId"))
        if source is not None:
            if "Mode" in params and mode != source.mode:
                raise CloudHsmInvalidRequestException(message("mode_mismatch", backup=source.mode))
            mode = source.mode
        if mode == "NON_FIPS" and hsm_type != "hsm2m.medium":
            raise CloudHsmInvalidRequestException(message("non_fips_type"))
        if len(self.live_clusters(scope)) >= self.config.max_clusters:
            raise CloudHsmInvalidRequestException(message("cluster_quota",
                                                          n=self.config.max_clusters))
        mapping, vpc_id = self._subnet_mapping(scope, region, params["SubnetIds"])
        cluster_id = ids.new_id("cluster", self.rand)
        group = self.network.create_cluster_group(scope, vpc_id, cluster_id)
        cluster = Cluster(
            cluster_id=cluster_id, state=ClusterState.CREATE_IN_PROGRESS, hsm_type=hsm_type,
            create_timestamp=now, subnet_mapping=mapping, vpc_id=vpc_id, security_group=group,
            mode=mode, network_type=params.get("NetworkType", "IPV4"),
            backup_retention_days=days, tags=_tags(params.get("TagList", [])),
            lineage=source.lineage if source else cluster_id,
            source_backup_id=source.backup_id if source else "",
            source_backup_scope=source_scope if source else "",
            cluster_certificate=source.cluster_certificate if source else "",
            trust_anchor=source.trust_anchor if source else "")
        self.save_cluster(scope, cluster)
        event = ClusterEvent.RESTORED if source else ClusterEvent.CREATED
        self.later(CLUSTER_READY_TASK, Step.CREATE_CLUSTER, now, scope=scope,
                    cluster=cluster_id, event=event)
        return cluster

    def _source_backup(self, scope: str, ref: str | None) -> tuple[Backup | None, str]:
        """The backup ``SourceBackupId`` names and the scope it lives in: an ID names one of the
        caller's backups; "if using a backup in another account, the full ARN must be
        supplied" (API_CreateCluster), and that backup must be shared with the caller."""
        if ref is None:
            return None, ""
        account, region = Scope(scope).parts()
        arn = ids.parse_arn(ref)
        where, backup_id = (arn.scope, arn.ident) if arn else (scope, ref)
        shared = {(s, b.backup_id): b for s, b in self.backups.shared_with(account, region)}
        if where == scope:
            backup = self.backups.repo.get(scope, backup_id)
        else:
            backup = shared.get((where, backup_id))
        if backup is None:
            raise _backup_missing(backup_id, [] if arn else list(shared), region)
        if backup.state is not BackupState.READY:
            raise CloudHsmInvalidRequestException(
                message("source_backup_state", id=backup_id, state=backup.state))
        return backup, where

    def _subnet_mapping(self, scope: str, region: str,
                        subnet_ids: list[str]) -> tuple[dict[str, str], str]:
        subnets = self.network.subnets(scope, region, subnet_ids)
        by_az: dict[str, str] = {}
        first = subnets[0]
        for subnet in subnets:
            if subnet.vpc_id != first.vpc_id:
                raise CloudHsmInvalidRequestException(message(
                    "subnet_vpcs", a=first.subnet_id, va=first.vpc_id, b=subnet.subnet_id,
                    vb=subnet.vpc_id))
            other = by_az.get(subnet.availability_zone)
            if other is not None and other != subnet.subnet_id:
                raise CloudHsmInvalidRequestException(message(
                    "subnet_duplicate_az", a=other, b=subnet.subnet_id,
                    az=subnet.availability_zone))
            by_az[subnet.availability_zone] = subnet.subnet_id
        return by_az, first.vpc_id

    def _cluster_ready_due(self, args: dict[str, str], due: float) -> None:
        scope, at = args["scope"], due
        cluster = self.repo.get(scope, args["cluster"])
        if cluster is None or cluster.state is not ClusterState.CREATE_IN_PROGRESS:
            return
        cluster = self._move(scope, cluster, ClusterEvent(args["event"]))
        if cluster.state is ClusterState.ACTIVE:
            self._schedule_daily(scope, cluster.cluster_id, at)

    def initialize(self, scope: str, now: float, cluster_id: str, signed: str,
                   anchor: str) -> Cluster:
        cluster = self.cluster(scope, cluster_id)
        if cluster.state is ClusterState.UNINITIALIZED and not (cluster.cluster_csr and
                                                               cluster.active_hsms()):
            raise CloudHsmInvalidRequestException(message("initialize_no_csr", id=cluster_id))
        if cluster.state is ClusterState.UNINITIALIZED:
            try:
                certs.check_signed_certificate(cluster.cluster_csr, signed, anchor, now)
            except certs.CertificateProblem as problem:
                raise CloudHsmInvalidRequestException(
                    message("bad_certificate", problem=problem)) from None
        cluster = self._move(scope, cluster, ClusterEvent.INITIALIZE,
                             cluster_certificate=signed, trust_anchor=anchor)
        self.later(INITIALIZED_TASK, Step.INITIALIZE, now, scope=scope, cluster=cluster_id)
        return cluster

    def _initialized_due(self, args: dict[str, str], _due: float) -> None:
        cluster = self.repo.get(args["scope"], args["cluster"])
        if cluster is not None and cluster.state is ClusterState.INITIALIZE_IN_PROGRESS:
            self._move(args["scope"], cluster, ClusterEvent.INITIALIZED)

    def delete_cluster(self, scope: str, now: float, cluster_id: str) -> Cluster:
        cluster = self.cluster(scope, cluster_id)
        if cluster.hsms:
            raise CloudHsmInvalidRequestException(message("cluster_has_hsms", id=cluster_id))
        cluster = self._move(scope, cluster, ClusterEvent.DELETE)
        self.scheduler.cancel(f"cloudhsm.daily:{scope}:{cluster_id}")
        self.later(CLUSTER_GONE_TASK, Step.DELETE_CLUSTER, now, scope=scope, cluster=cluster_id)
        return cluster

    def _cluster_gone_due(self, args: dict[str, str], due: float) -> None:
        scope, at = args["scope"], due
        cluster = self.repo.get(scope, args["cluster"])
        if cluster is None or cluster.state is not ClusterState.DELETE_IN_PROGRESS:
            return
        self._move(scope, cluster, ClusterEvent.DELETED)
        self.network.delete_group(scope, cluster.security_group)
        self.scheduler.schedule(CLUSTER_FORGET_TASK, at + DELETED_CLUSTER_LISTED_SECONDS,
                                {"scope": scope, "cluster": cluster.cluster_id})

    def _cluster_forget_due(self, args: dict[str, str], _due: float) -> None:
        """A DELETED cluster leaves DescribeClusters; its backups keep what outlives it (its
        lineage, for ``related``, and its retention policy)."""
        scope = args["scope"]
        cluster = self.repo.get(scope, args["cluster"])
        if cluster is None or cluster.state is not ClusterState.DELETED:
            return
        self.backups.outlive(scope, cluster)
        self.repo.delete(scope, cluster.cluster_id)

    def modify_cluster(self, scope: str, now: float, params: dict[str, Any]) -> Cluster:
        cluster = self.cluster(scope, params["ClusterId"])
        if cluster.state is ClusterState.DELETE_IN_PROGRESS:
            raise CloudHsmInvalidRequestException(
                message("modify_state", id=cluster.cluster_id, state=cluster.state))
        retention = params.get("BackupRetentionPolicy", {}).get("Value")
        days = parse_retention(retention) if retention is not None else None
        if days is not None and cluster.state not in RETENTION_CHANGE_STATES:
            raise CloudHsmInvalidRequestException(
                message("retention_state", id=cluster.cluster_id, state=cluster.state))
        hsm_type = params.get("HsmType")
        if hsm_type is not None and hsm_type != cluster.hsm_type:
            cluster = self._migrate(scope, now, cluster, hsm_type)
        if days is not None:
            cluster = replace(cluster, backup_retention_days=days)
            self.save_cluster(scope, cluster)
            self.backups.reschedule_retention(scope, cluster.cluster_id)
        return cluster

    def _migrate(self, scope: str, now: float, cluster: Cluster, hsm_type: str) -> Cluster:
        if hsm_type not in HSM_TYPES or (cluster.hsm_type, hsm_type) not in MIGRATIONS:
            raise CloudHsmInvalidRequestException(message("hsm_type", value=hsm_type))
        cluster = self._move(scope, cluster, ClusterEvent.MIGRATE,
                             previous_hsm_type=cluster.hsm_type, hsm_type=hsm_type,
                             hsm_type_rollback_expiration=now + ROLLBACK_WINDOW_SECONDS)
        if cluster.active_hsms():  # a full backup before the HSMs are replaced
            self.take_backup(scope, cluster.cluster_id, now)
        due = now + duration(self.timing, Step.MIGRATE_HSM) * max(1, len(cluster.hsms))
        self.scheduler.schedule(MIGRATED_TASK, due, {"scope": scope,
                                                     "cluster": cluster.cluster_id})
        return cluster

    def _migrated_due(self, args: dict[str, str], _due: float) -> None:
        cluster = self.repo.get(args["scope"], args["cluster"])
        if cluster is not None and cluster.state is ClusterState.MODIFY_IN_PROGRESS:
            hsms = tuple(replace(h, hsm_type=cluster.hsm_type) for h in cluster.hsms)
            self._move(args["scope"], cluster, ClusterEvent.MIGRATED, hsms=hsms)

    def describe_clusters(self, scope: str, filters: dict[str, list[str]]) -> list[Cluster]:
        picked = self.repo.values(scope)
        if "clusterIds" in filters:
            picked = [c for c in picked if c.cluster_id in filters["clusterIds"]]
        if "vpcIds" in filters:
            picked = [c for c in picked if c.vpc_id in filters["vpcIds"]]
        if "states" in filters:
            picked = [c for c in picked if c.state in filters["states"]]
        return picked

    # -- periodic backups ----------------------------------------------------------------------

    def _daily_backup_due(self, args: dict[str, str], due: float) -> None:
        scope, at = args["scope"], due
        cluster = self.repo.get(scope, args["cluster"])
        if cluster is None or cluster.state in (ClusterState.DELETE_IN_PROGRESS,
                                                ClusterState.DELETED):
            return
        if cluster.state is ClusterState.ACTIVE and cluster.active_hsms():
            self.take_backup(scope, cluster.cluster_id, at)
        self._schedule_daily(scope, cluster.cluster_id, at)


def _backup_missing(backup_id: str, shared: list[tuple[str, str]],
                    region: str) -> CloudHsmResourceNotFoundException:
    """Not found; a plain ID of a backup another account shares gets told to use the ARN."""
    owner = next((Scope(s).account for s, i in shared if i == backup_id), None)
    if owner is None:
        return CloudHsmResourceNotFoundException(message("backup_not_found", id=backup_id))
    return CloudHsmResourceNotFoundException(message(
        "shared_backup_needs_arn", id=backup_id, owner=owner,
        arn=ids.arn("backup", region, owner, backup_id)))


def _tags(tag_list: list[dict[str, str]]) -> dict[str, str]:
    return {t["Key"]: t.get("Value", "") for t in tag_list}
