"""``app.cloudhsm``, the Python interface other packages use, driven in-process."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from hsmkms.cloudhsm.errors import (
    CloudHsmInvalidRequestException,
    CloudHsmResourceNotFoundException,
)
from hsmkms.cloudhsm.model import ClusterState
from hsmkms.cloudhsm.service import CloudHsmService
from hsmkms.hsm.model import HsmContents
from hsmkms.testing.inprocess import InProcess

sys.path.insert(0, str(Path(__file__).parents[1] / "e2e"))
from cloudhsm_helpers import (
    make_ca,
    sign_csr,
    wait_for,
    wait_hsms_active,
    wait_state,
)

SCOPE = "111122223333/us-east-1"


def subnet_ids(inproc: InProcess) -> list[str]:
    found = inproc.client("ec2").describe_subnets()["Subnets"]
    return [s["SubnetId"] for s in sorted(found, key=lambda s: s["AvailabilityZone"])]


def initialized(inproc: InProcess) -> str:
    hsm = inproc.client("cloudhsmv2")
    cluster_id = hsm.create_cluster(HsmType="hsm1.medium",
                                    SubnetIds=subnet_ids(inproc)[:2])["Cluster"]["ClusterId"]
    wait_state(hsm, cluster_id, "UNINITIALIZED")
    hsm.create_hsm(ClusterId=cluster_id, AvailabilityZone="us-east-1a")
    csr = wait_hsms_active(hsm, cluster_id, 1)["Certificates"]["ClusterCsr"]
    ca = make_ca()
    hsm.initialize_cluster(ClusterId=cluster_id, SignedCert=sign_csr(csr, ca), TrustAnchor=ca.pem)
    wait_state(hsm, cluster_id, "INITIALIZED")
    return cluster_id


def call(inproc: InProcess, fn: Any, *args: Any) -> Any:
    app = inproc.app
    with app.lock, app.store.unit_of_work():
        return fn(*args)


def test_service_interface(hsmkms_inprocess: InProcess) -> None:
    service: CloudHsmService = hsmkms_inprocess.app.cloudhsm  # type: ignore[attr-defined]
    hsm = hsmkms_inprocess.client("cloudhsmv2")
    assert service.get_cluster(SCOPE, "cluster-aaaaaaaaaaa") is None
    cluster_id = initialized(hsmkms_inprocess)
    cluster = service.get_cluster(SCOPE, cluster_id)
    assert cluster is not None
    assert cluster.state is ClusterState.INITIALIZED
    # The CSR's key is held by the HSM that issued it (the cluster certificate certifies it).
    key = serialization.load_pem_private_key(bytes(cluster.hsms[0].csr_key), None)
    certificate = x509.load_pem_x509_certificate(cluster.cluster_certificate.encode())
    assert certificate.public_key() == key.public_key()
    assert cluster.trust_anchor
    assert cluster.cluster_certificate
    # A new HSM of a new cluster holds the built-in users only (rows of hsm.contents).
    assert service.contents.load(SCOPE, cluster_id, cluster.hsms[0].hsm_id) == HsmContents()
    with pytest.raises(CloudHsmInvalidRequestException, match="has no ACTIVE HSM to back up"):
        call(hsmkms_inprocess, _no_hsm_backup, service, cluster_id)  # rolled back
    assert service.get_cluster(SCOPE, cluster_id) == cluster
    now = hsmkms_inprocess.app.clock.now()
    active = call(hsmkms_inprocess, service.activate, SCOPE, cluster_id, now)
    assert active.state is ClusterState.ACTIVE
    with pytest.raises(CloudHsmInvalidRequestException,
                       match="cannot be activated in state ACTIVE: it must be INITIALIZED"):
        call(hsmkms_inprocess, service.activate, SCOPE, cluster_id, now)
    with pytest.raises(CloudHsmResourceNotFoundException):
        call(hsmkms_inprocess, service.activate, SCOPE, "cluster-aaaaaaaaaaa", now)
    backup_id = call(hsmkms_inprocess, service.take_backup, SCOPE, cluster_id, now)
    ready = wait_for(lambda: hsm.describe_backups(Filters={"backupIds": [backup_id]}),
                     lambda r: r["Backups"][0]["BackupState"] == "READY")
    assert ready["Backups"][0]["ClusterId"] == cluster_id
    # save_cluster: what the HSM-contents code does with changed contents.
    renamed = replace(active, tags={"saved": "yes"})
    call(hsmkms_inprocess, service.save_cluster, SCOPE, renamed)
    assert service.get_cluster(SCOPE, cluster_id) == renamed
    # related: clusters restored from this cluster's backups share its history.
    restored = hsm.create_cluster(HsmType="hsm1.medium", SubnetIds=subnet_ids(hsmkms_inprocess)[:1],
                                  SourceBackupId=backup_id)["Cluster"]["ClusterId"]
    other = hsm.create_cluster(HsmType="hsm1.medium",
                               SubnetIds=subnet_ids(hsmkms_inprocess)[:1])["Cluster"]["ClusterId"]
    assert service.related(SCOPE, cluster_id, restored)
    assert service.related(SCOPE, restored, cluster_id)
    assert not service.related(SCOPE, cluster_id, other)
    assert not service.related(SCOPE, cluster_id, "cluster-aaaaaaaaaaa")


def _no_hsm_backup(service: CloudHsmService, cluster_id: str) -> str:
    cluster = service.get_cluster(SCOPE, cluster_id)
    assert cluster is not None
    service.save_cluster(SCOPE, replace(cluster, hsms=()))
    return service.take_backup(SCOPE, cluster_id, 0.0)


def test_related_outlives_a_forgotten_cluster(hsmkms_inprocess: InProcess) -> None:
    """KMS asks whether a store's (deleted) cluster and a restored one are related: the answer
    must not change when the DELETED cluster is forgotten 24 h later (fix-keystore recovery)."""
    service: CloudHsmService = hsmkms_inprocess.app.cloudhsm  # type: ignore[attr-defined]
    hsm = hsmkms_inprocess.client("cloudhsmv2")
    cluster_id = initialized(hsmkms_inprocess)
    call(hsmkms_inprocess, service.activate, SCOPE, cluster_id, hsmkms_inprocess.app.clock.now())
    backup = wait_for(lambda: hsm.describe_backups()["Backups"],
                      lambda bs: [b["BackupState"] for b in bs] == ["READY"])[0]
    hsm_id = hsm.describe_clusters()["Clusters"][0]["Hsms"][0]["HsmId"]
    hsm.delete_hsm(ClusterId=cluster_id, HsmId=hsm_id)
    wait_for(lambda: hsm.describe_clusters()["Clusters"][0], lambda c: c["Hsms"] == [])
    hsm.delete_cluster(ClusterId=cluster_id)
    wait_state(hsm, cluster_id, "DELETED")
    restored = hsm.create_cluster(HsmType="hsm1.medium", SubnetIds=subnet_ids(hsmkms_inprocess)[:1],
                                  SourceBackupId=backup["BackupId"])["Cluster"]["ClusterId"]
    other = hsm.create_cluster(HsmType="hsm1.medium",
                               SubnetIds=subnet_ids(hsmkms_inprocess)[:1])["Cluster"]["ClusterId"]
    assert service.related(SCOPE, cluster_id, restored)
    hsmkms_inprocess.advance(86400 + 60)
    assert service.get_cluster(SCOPE, cluster_id) is None
    assert service.related(SCOPE, cluster_id, restored)
    assert service.related(SCOPE, restored, cluster_id)
    assert not service.related(SCOPE, cluster_id, other)


def test_a_deleted_backup_drops_its_snapshot(hsmkms_inprocess: InProcess) -> None:
    """A backup's keys stay while it can still be restored (PENDING_DELETION) and go once it is
    DELETED: nothing can read them any more."""
    service: CloudHsmService = hsmkms_inprocess.app.cloudhsm
    hsm = hsmkms_inprocess.client("cloudhsmv2")
    cluster_id = initialized(hsmkms_inprocess)
    call(hsmkms_inprocess, service.activate, SCOPE, cluster_id, hsmkms_inprocess.app.clock.now())
    backup_id = wait_for(lambda: hsm.describe_backups()["Backups"],
                         lambda bs: [b["BackupState"] for b in bs] == ["READY"])[0]["BackupId"]
    snapshots = service.backups.snapshots
    assert snapshots.get(SCOPE, backup_id) is not None
    hsm.create_hsm(ClusterId=cluster_id, AvailabilityZone="us-east-1b")  # not the last backup
    hsm.delete_backup(BackupId=backup_id)
    assert snapshots.get(SCOPE, backup_id) is not None  # still restorable for 7 days
    hsmkms_inprocess.advance(7 * 24 * 3600 + 1)
    [gone] = [b for b in hsm.describe_backups()["Backups"] if b["BackupId"] == backup_id]
    assert gone["BackupState"] == "DELETED"
    assert snapshots.get(SCOPE, backup_id) is None
