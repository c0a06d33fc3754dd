"""CloudHSM v2 entities: clusters, HSMs, backups.

Shared contract (read by the HSM-contents code in :mod:`hsmkms.hsm` and, later, by KMS key
stores): a :class:`Cluster` is stored in the repository ``"cloudhsm.cluster"`` under the scope
``account/region`` and its id, with its topology and states only: each HSM's contents (users,
keys) are rows of their own (:mod:`hsmkms.hsm.contents`). A :class:`Backup` (repository
``"cloudhsm.backup"``) holds the cluster certificate and its state; the snapshot of one HSM's
contents it was taken from is a :class:`BackupContents` (``"cloudhsm.backup-contents"``, same
scope and id), written once when the backup is taken or copied. Fields may
be added (with defaults); existing ones are not renamed. A removed field is simply not read
back (the store codec ignores keys a dataclass no longer has): ``Cluster.csr_key`` moved to
the HSM that made the CSR (``Hsm.csr_key``); ``Hsm.contents`` and ``Backup.contents`` moved
to rows of their own (old documents are split on first load: :mod:`hsmkms.cloudhsm.legacy`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from hsmkms.hsm.model import HsmContents
from hsmkms.store.codec import Secret

CLUSTERS = "cloudhsm.cluster"
BACKUPS = "cloudhsm.backup"
BACKUP_CONTENTS = "cloudhsm.backup-contents"


class ClusterState(enum.StrEnum):
    CREATE_IN_PROGRESS = "CREATE_IN_PROGRESS"
    UNINITIALIZED = "UNINITIALIZED"
    INITIALIZE_IN_PROGRESS = "INITIALIZE_IN_PROGRESS"
    INITIALIZED = "INITIALIZED"
    ACTIVE = "ACTIVE"
    UPDATE_IN_PROGRESS = "UPDATE_IN_PROGRESS"
    MODIFY_IN_PROGRESS = "MODIFY_IN_PROGRESS"
    ROLLBACK_IN_PROGRESS = "ROLLBACK_IN_PROGRESS"
    DELETE_IN_PROGRESS = "DELETE_IN_PROGRESS"
    DELETED = "DELETED"
    DEGRADED = "DEGRADED"


class HsmState(enum.StrEnum):
    CREATE_IN_PROGRESS = "CREATE_IN_PROGRESS"
    ACTIVE = "ACTIVE"
    DEGRADED = "DEGRADED"
    DELETE_IN_PROGRESS = "DELETE_IN_PROGRESS"
    DELETED = "DELETED"


class BackupState(enum.StrEnum):
    CREATE_IN_PROGRESS = "CREATE_IN_PROGRESS"
    READY = "READY"
    DELETED = "DELETED"
    PENDING_DELETION = "PENDING_DELETION"


NO_KEY = Secret(b"")


@dataclass(frozen=True, slots=True)
class Hsm:
    hsm_id: str
    availability_zone: str
    subnet_id: str
    state: HsmState
    eni_id: str = ""
    eni_ip: str = ""
    state_message: str = ""
    hsm_type: str = ""
    create_timestamp: float = 0.0
    #: The private key (PKCS #8 PEM) behind the cluster's CSR, held by the first HSM of an
    #: uninitialised cluster, which issued the CSR (issue 3: "from a key the HSM holds").
    #: Empty on every other HSM; nothing reads it back (hsmkms does not emulate the TLS the
    #: cluster certificate is for), so it is neither cloned nor backed up.
    csr_key: Secret = NO_KEY


@dataclass(frozen=True, slots=True)
class Cluster:
    cluster_id: str
    state: ClusterState
    hsm_type: str
    create_timestamp: float
    subnet_mapping: dict[str, str]  # availability zone -> subnet id
    vpc_id: str
    security_group: str
    hsms: tuple[Hsm, ...] = ()
    state_message: str = ""
    source_backup_id: str = ""
    #: PEM texts; the trust anchor is kept so KMS can compare it (IncorrectTrustAnchor).
    cluster_csr: str = ""
    cluster_certificate: str = ""
    trust_anchor: str = ""
    #: Identifies the backup history a cluster belongs to ("related clusters" share it).
    lineage: str = ""
    mode: str = "FIPS"
    network_type: str = "IPV4"
    #: ``BackupRetentionPolicy`` (Type is always ``DAYS``): 7-379, default 90.
    backup_retention_days: int = 90
    tags: dict[str, str] = field(default_factory=dict)
    #: The first HSM's certificates (its key is ``Hsm.csr_key``), shown only while the cluster
    #: is UNINITIALIZED (spec cloudhsm.md 1.2).
    hsm_certificate: str = ""
    aws_hardware_certificate: str = ""
    manufacturer_hardware_certificate: str = ""
    #: ModifyCluster HsmType migration: the type to roll back to and until when (epoch, 0 = none).
    #: Scope (account/region) of ``source_backup_id`` (another account's, for shared backups).
    source_backup_scope: str = ""
    previous_hsm_type: str = ""
    hsm_type_rollback_expiration: float = 0.0

    def active_hsms(self) -> tuple[Hsm, ...]:
        return tuple(h for h in self.hsms if h.state is HsmState.ACTIVE)

    def hsms_in_service(self) -> tuple[Hsm, ...]:
        """ACTIVE HSMs and DEGRADED ones (there, but not answering: the hsm-unreachable
        fault); not those being created or deleted."""
        return tuple(h for h in self.hsms if h.state in (HsmState.ACTIVE, HsmState.DEGRADED))


@dataclass(frozen=True, slots=True)
class Backup:
    """A snapshot of a cluster: the cluster certificate and its lineage (and, in
    :class:`BackupContents`, one HSM's contents).

    Copies made by CopyBackupToRegion keep ``cluster_id`` (the source cluster), and record where
    they came from in ``source_*``; no retention policy applies to them (spec 1.4 B6).
    """

    backup_id: str
    cluster_id: str
    state: BackupState
    create_timestamp: float
    hsm_type: str
    mode: str = "FIPS"
    cluster_certificate: str = ""
    trust_anchor: str = ""
    lineage: str = ""
    never_expires: bool = False
    delete_timestamp: float = 0.0
    copy_timestamp: float = 0.0
    source_region: str = ""
    source_backup: str = ""
    source_cluster: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    #: PutResourcePolicy document (JSON text), "" when none.
    policy: str = ""
    #: The retention policy (days) of its cluster, kept when that DELETED cluster is forgotten
    #: (24 h after deletion); 0 while the cluster's own policy applies.
    retention_days: int = 0


@dataclass(frozen=True, slots=True)
class BackupContents:
    """What one backup holds of the HSMs: a copy of one HSM's contents, written once."""

    contents: HsmContents
