"""Entities -> the response shapes of the ``cloudhsmv2`` model (members left ``None`` are
omitted by the serializer)."""

from __future__ import annotations

from typing import Any

from hsmkms.cloudhsm import ids
from hsmkms.cloudhsm.model import Backup, BackupState, Cluster, ClusterState, Hsm

Doc = dict[str, Any]


def tag_list(tags: dict[str, str]) -> list[Doc]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def hsm(h: Hsm, cluster_id: str) -> Doc:
    return {"AvailabilityZone": h.availability_zone, "ClusterId": cluster_id,
            "SubnetId": h.subnet_id, "EniId": h.eni_id or None, "EniIp": h.eni_ip or None,
            "HsmId": h.hsm_id, "HsmType": h.hsm_type or None, "State": h.state,
            "StateMessage": h.state_message or None}


def certificates(c: Cluster) -> Doc:
    """The CSR and the HSM/hardware certificates exist only while the cluster is uninitialised;
    afterwards only the cluster certificate is shown (spec cloudhsm.md 1.2 "Certificates by
    state")."""
    if c.state is ClusterState.UNINITIALIZED:
        return {"ClusterCsr": c.cluster_csr or None, "HsmCertificate": c.hsm_certificate or None,
                "AwsHardwareCertificate": c.aws_hardware_certificate or None,
                "ManufacturerHardwareCertificate": c.manufacturer_hardware_certificate or None}
    return {"ClusterCertificate": c.cluster_certificate or None}


def cluster(c: Cluster) -> Doc:
    return {
        "BackupPolicy": "DEFAULT",
        "BackupRetentionPolicy": {"Type": "DAYS", "Value": str(c.backup_retention_days)},
        "ClusterId": c.cluster_id, "CreateTimestamp": c.create_timestamp,
        "Hsms": [hsm(h, c.cluster_id) for h in c.hsms], "HsmType": c.hsm_type,
        "HsmTypeRollbackExpiration": c.hsm_type_rollback_expiration or None,
        "SecurityGroup": c.security_group or None, "SourceBackupId": c.source_backup_id or None,
        "State": c.state, "StateMessage": c.state_message or None,
        "SubnetMapping": dict(c.subnet_mapping), "VpcId": c.vpc_id,
        "NetworkType": c.network_type, "Certificates": certificates(c),
        "TagList": tag_list(c.tags) or None, "Mode": c.mode,
    }


def backup(b: Backup, account: str, region: str) -> Doc:
    return {
        "BackupId": b.backup_id, "BackupArn": ids.arn("backup", region, account, b.backup_id),
        "BackupState": b.state, "ClusterId": b.cluster_id,
        "CreateTimestamp": b.create_timestamp, "CopyTimestamp": b.copy_timestamp or None,
        "NeverExpires": b.never_expires, "SourceRegion": b.source_region or None,
        "SourceBackup": b.source_backup or None, "SourceCluster": b.source_cluster or None,
        "DeleteTimestamp": b.delete_timestamp if b.state is BackupState.PENDING_DELETION
        else None,
        "TagList": tag_list(b.tags) or None, "HsmType": b.hsm_type, "Mode": b.mode,
    }
