"""The HSMs of a cluster: CreateHsm, DeleteHsm, and the jobs that finish them.

Theory of operation: an HSM is born ``CREATE_IN_PROGRESS`` with its ENI already placed in the
subnet of its availability zone; a job makes it ``ACTIVE`` with its contents (cloned from a live
HSM, else restored from the latest backup) and, for the first HSM of an uninitialised cluster,
the key and CSR that InitializeCluster will certify. DeleteHsm makes it ``DELETE_IN_PROGRESS``;
a job removes it and its ENI. Which cluster states accept CreateHsm is the table
:data:`CREATE_HSM_POLICY`. Sources: spec cloudhsm.md 1.3 (H1-H3), 7 (quotas).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from hsmkms.cloudhsm import certs, ids, lifecycle
from hsmkms.cloudhsm.errors import (
    CloudHsmInvalidRequestException,
    CloudHsmResourceNotFoundException,
    message,
)
from hsmkms.cloudhsm.lifecycle import HsmEvent
from hsmkms.cloudhsm.model import Cluster, ClusterState, Hsm, HsmState
from hsmkms.cloudhsm.timing import Step
from hsmkms.hsm.model import HsmContents
from hsmkms.store.codec import Secret

if TYPE_CHECKING:
    from hsmkms.cloudhsm.service import CloudHsmService

MAX_HSMS_PER_CLUSTER = 28  # AWS hard limit (limits page)

#: CreateHsm by cluster state: "any" = as many HSMs as quotas allow; "first" = only while the
#: cluster has no HSM (a second one gets AWS's "not yet been fully activated" message). States
#: not listed refuse CreateHsm. INITIALIZE_IN_PROGRESS/INITIALIZED are "first", not refused
#: (spec 8.6 proposes refusing until ACTIVE): if the one HSM of an initialised cluster is
#: deleted, a new first HSM is the only way left to activate it, and AWS's message ("already
#: contains an HSM") presupposes there is one.
CREATE_HSM_POLICY: dict[ClusterState, str] = {
    ClusterState.UNINITIALIZED: "first",
    ClusterState.INITIALIZE_IN_PROGRESS: "first",
    ClusterState.INITIALIZED: "first",
    ClusterState.ACTIVE: "any",
    ClusterState.DEGRADED: "any",
}

HSM_READY_TASK = "cloudhsm.hsm-ready"
HSM_GONE_TASK = "cloudhsm.hsm-gone"


class Hsms:
    """CreateHsm/DeleteHsm for the clusters of :class:`CloudHsmService` (``service.hsms``)."""

    def __init__(self, service: CloudHsmService) -> None:
        self.service = service
        service.scheduler.register(HSM_READY_TASK, self._ready_due)
        service.scheduler.register(HSM_GONE_TASK, self._gone_due)

    # -- CreateHsm -----------------------------------------------------------------------------

    def create(self, scope: str, now: float, cluster_id: str, zone: str,
               ip: str | None) -> Hsm:
        service = self.service
        cluster = service.cluster(scope, cluster_id)
        policy = CREATE_HSM_POLICY.get(cluster.state)
        if policy is None:
            raise CloudHsmInvalidRequestException(
                message("cluster_not_ready", id=cluster_id, state=cluster.state))
        if policy == "first" and cluster.hsms:
            raise CloudHsmInvalidRequestException(message("not_fully_activated", id=cluster_id))
        subnet_id = cluster.subnet_mapping.get(zone)
        if subnet_id is None:
            raise CloudHsmInvalidRequestException(message(
                "az_not_mapped", az=zone, id=cluster_id,
                valid=", ".join(sorted(cluster.subnet_mapping))))
        self._check_quotas(scope, cluster)
        hsm_id = ids.new_id("hsm", service.rand)
        eni_id, eni_ip = service.network.create_eni(scope, cluster, zone, hsm_id, ip, now)
        hsm = Hsm(hsm_id=hsm_id, availability_zone=zone, subnet_id=subnet_id,
                  state=HsmState.CREATE_IN_PROGRESS, eni_id=eni_id, eni_ip=eni_ip,
                  hsm_type=cluster.hsm_type, create_timestamp=now)
        service.save_cluster(scope, replace(cluster, hsms=(*cluster.hsms, hsm)))
        service.later(HSM_READY_TASK, Step.CREATE_HSM, now, scope=scope, cluster=cluster_id,
                      hsm=hsm_id)
        return hsm

    def _check_quotas(self, scope: str, cluster: Cluster) -> None:
        if len(cluster.hsms) >= MAX_HSMS_PER_CLUSTER:
            raise CloudHsmInvalidRequestException(message(
                "hsm_per_cluster_quota", id=cluster.cluster_id, n=MAX_HSMS_PER_CLUSTER))
        limit = self.service.config.max_hsms
        if sum(len(c.hsms) for c in self.service.live_clusters(scope)) >= limit:
            raise CloudHsmInvalidRequestException(message("hsm_quota", n=limit))

    def _ready_due(self, args: dict[str, str], due: float) -> None:
        service, scope, at = self.service, args["scope"], due
        cluster = service.repo.get(scope, args["cluster"])
        hsm = _find(cluster, args["hsm"]) if cluster else None
        if cluster is None or hsm is None or hsm.state is not HsmState.CREATE_IN_PROGRESS:
            return
        ready = replace(hsm, state=lifecycle.hsm_next(hsm.state, HsmEvent.CREATED))
        service.contents.replace(scope, cluster.cluster_id, hsm.hsm_id,
                                 self._contents_for_new_hsm(scope, cluster))
        if cluster.state is ClusterState.UNINITIALIZED and not cluster.cluster_csr:
            cluster, ready = _with_identity(cluster, ready, at)
        cluster = replace(cluster, hsms=tuple(ready if h.hsm_id == hsm.hsm_id else h
                                              for h in cluster.hsms))
        service.save_cluster(scope, cluster)
        if cluster.state is ClusterState.ACTIVE:  # backup on adding an HSM (manage-backups)
            service.take_backup(scope, cluster.cluster_id, at)

    def _contents_for_new_hsm(self, scope: str, cluster: Cluster) -> HsmContents:
        """A new HSM is cloned from a live HSM, else restored from the latest backup (for a
        restored cluster without backups of its own: its source backup) (add-remove-hsm)."""
        live = cluster.active_hsms()
        if live:
            return self.service.contents.load(scope, cluster.cluster_id, live[0].hsm_id)
        backups = self.service.backups
        backup = backups.latest_ready(scope, cluster.cluster_id)
        if backup is not None:
            return backups.contents(scope, backup.backup_id)
        where = cluster.source_backup_scope or scope
        if cluster.source_backup_id and backups.repo.get(where, cluster.source_backup_id):
            return backups.contents(where, cluster.source_backup_id)
        return HsmContents()

    # -- DeleteHsm -----------------------------------------------------------------------------

    def delete(self, scope: str, now: float, params: dict[str, Any]) -> str:
        service = self.service
        cluster = service.cluster(scope, params["ClusterId"])
        hsm = _select(cluster, params)
        try:
            state = lifecycle.hsm_next(hsm.state, HsmEvent.DELETE)
        except lifecycle.IllegalTransition as err:
            raise CloudHsmInvalidRequestException(lifecycle.refusal(err, hsm.hsm_id)) from None
        if cluster.state is ClusterState.ACTIVE:  # backup on removing an HSM (manage-backups)
            service.take_backup(scope, cluster.cluster_id, now, departing=hsm)
        going = replace(hsm, state=state)
        service.save_cluster(scope, replace(cluster, hsms=tuple(
            going if h.hsm_id == hsm.hsm_id else h for h in cluster.hsms)))
        service.later(HSM_GONE_TASK, Step.DELETE_HSM, now, scope=scope,
                      cluster=cluster.cluster_id, hsm=hsm.hsm_id)
        return hsm.hsm_id

    def _gone_due(self, args: dict[str, str], _due: float) -> None:
        service, scope = self.service, args["scope"]
        cluster = service.repo.get(scope, args["cluster"])
        hsm = _find(cluster, args["hsm"]) if cluster else None
        if cluster is None or hsm is None or hsm.state is not HsmState.DELETE_IN_PROGRESS:
            return
        remaining = tuple(h for h in cluster.hsms if h.hsm_id != hsm.hsm_id)
        cluster = replace(cluster, hsms=remaining)
        if cluster.state is ClusterState.UNINITIALIZED and not remaining:
            # The CSR belonged to that HSM's key; the next first HSM makes a new one.
            cluster = replace(cluster, cluster_csr="", hsm_certificate="",
                              aws_hardware_certificate="", manufacturer_hardware_certificate="")
        service.save_cluster(scope, cluster)
        service.contents.discard(scope, cluster.cluster_id, hsm.hsm_id)
        if hsm.eni_id:
            service.network.delete_eni(scope, hsm.eni_id)


def _find(cluster: Cluster, hsm_id: str) -> Hsm | None:
    return next((h for h in cluster.hsms if h.hsm_id == hsm_id), None)


def _select(cluster: Cluster, params: dict[str, Any]) -> Hsm:
    """The HSM named by exactly one of HsmId, EniId, EniIp (API_DeleteHsm)."""
    wanted = [(k, params[k]) for k in ("HsmId", "EniId", "EniIp") if k in params]
    if len(wanted) != 1:
        raise CloudHsmInvalidRequestException(message("delete_hsm_selector"))
    ((key, value),) = wanted
    for hsm in cluster.hsms:
        if {"HsmId": hsm.hsm_id, "EniId": hsm.eni_id, "EniIp": hsm.eni_ip}[key] == value:
            return hsm
    raise CloudHsmResourceNotFoundException(message(
        "hsm_not_found", cluster=cluster.cluster_id, what=f"{key} {value}"))


def _with_identity(cluster: Cluster, hsm: Hsm, now: float) -> tuple[Cluster, Hsm]:
    """The first HSM makes a key and the CSR for it: the HSM keeps the key, the cluster shows
    the CSR and the HSM's certificates."""
    identity = certs.new_hsm_identity(hsm.hsm_id, now, fips=cluster.mode == "FIPS")
    cluster = replace(
        cluster, cluster_csr=identity.csr, hsm_certificate=identity.hsm_certificate,
        aws_hardware_certificate=identity.aws_hardware_certificate,
        manufacturer_hardware_certificate=identity.manufacturer_hardware_certificate)
    return cluster, replace(hsm, csr_key=Secret(identity.key_pem))
