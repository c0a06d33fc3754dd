"""What the doctor knows about the world: plain frozen values, read from AWS answers.

The fetch layer (:mod:`hsmkms.doctor.fetch`) is the only code that talks to AWS; it turns each
answer into these values with the ``from_api`` constructors below (pure: dicts in, values out),
so the checks (:mod:`hsmkms.doctor.checks`) can be tested with facts built by hand.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

#: The cluster security group must allow TCP 2223-2225 to and from itself (CloudHSM user
#: guide, "Security group"; KMS guide, create-keystore "cluster requirements").
CLUSTER_PORTS = (2223, 2225)


def _when(value: Any) -> float | None:
    """Epoch seconds from a botocore timestamp (datetime) or a number."""
    if isinstance(value, dt.datetime):
        return value.timestamp()
    if isinstance(value, int | float):
        return float(value)
    return None


@dataclass(frozen=True, slots=True)
class Store:
    store_id: str
    name: str
    cluster_id: str
    state: str
    error_code: str | None
    trust_anchor: str

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> Store:
        return cls(d["CustomKeyStoreId"], d.get("CustomKeyStoreName", ""),
                   d.get("CloudHsmClusterId", ""), d.get("ConnectionState", ""),
                   d.get("ConnectionErrorCode"), d.get("TrustAnchorCertificate", ""))


@dataclass(frozen=True, slots=True)
class Key:
    key_id: str
    arn: str
    state: str
    origin: str
    store_id: str | None
    cluster_id: str | None
    deletion_date: float | None

    @classmethod
    def from_api(cls, meta: dict[str, Any]) -> Key:
        return cls(meta["KeyId"], meta.get("Arn", meta["KeyId"]), meta.get("KeyState", ""),
                   meta.get("Origin", ""), meta.get("CustomKeyStoreId"),
                   meta.get("CloudHsmClusterId"), _when(meta.get("DeletionDate")))


@dataclass(frozen=True, slots=True)
class Hsm:
    hsm_id: str
    availability_zone: str
    subnet_id: str
    state: str


@dataclass(frozen=True, slots=True)
class Cluster:
    cluster_id: str
    state: str
    hsm_type: str
    hsms: tuple[Hsm, ...]
    #: Availability Zone -> subnet id.
    subnet_mapping: dict[str, str]
    security_group: str
    cluster_certificate: str | None

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> Cluster:
        hsms = tuple(Hsm(h.get("HsmId", ""), h.get("AvailabilityZone", ""),
                         h.get("SubnetId", ""), h.get("State", ""))
                     for h in d.get("Hsms", []))
        return cls(d["ClusterId"], d.get("State", ""), d.get("HsmType", ""), hsms,
                   dict(d.get("SubnetMapping", {})), d.get("SecurityGroup", ""),
                   d.get("Certificates", {}).get("ClusterCertificate"))

    @property
    def gone(self) -> bool:
        return self.state in ("DELETE_IN_PROGRESS", "DELETED")

    def active_by_zone(self) -> dict[str, int]:
        """Every zone of the cluster with its count of ACTIVE HSMs (0 included)."""
        counts = dict.fromkeys(sorted(self.subnet_mapping), 0)
        for h in self.hsms:
            if h.state == "ACTIVE":
                counts[h.availability_zone] = counts.get(h.availability_zone, 0) + 1
        return counts


@dataclass(frozen=True, slots=True)
class Subnet:
    subnet_id: str
    availability_zone: str
    #: None: the subnet does not exist (DescribeSubnets: InvalidSubnetID.NotFound).
    free_addresses: int | None

    @property
    def exists(self) -> bool:
        return self.free_addresses is not None


def _allows(perms: list[dict[str, Any]], group_id: str, *, anywhere: bool = False) -> bool:
    """Some permission lets TCP 2223-2225 through from/to ``group_id`` itself (or, with
    ``anywhere``, to every IPv4 address: EC2's default outbound rule reaches the group too)."""
    low, high = CLUSTER_PORTS
    for p in perms:
        proto = str(p.get("IpProtocol", ""))
        ports_ok = proto == "-1" or (proto in ("tcp", "6") and p.get("FromPort", 0) <= low
                                      and p.get("ToPort", 0) >= high)
        itself = any(pair.get("GroupId") == group_id for pair in p.get("UserIdGroupPairs", []))
        everywhere = anywhere and any(r.get("CidrIp") == "0.0.0.0/0"
                                      for r in p.get("IpRanges", []))
        if ports_ok and (itself or everywhere):
            return True
    return False


@dataclass(frozen=True, slots=True)
class SecurityGroup:
    group_id: str
    exists: bool
    inbound: bool = False
    outbound: bool = False

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> SecurityGroup:
        gid = d["GroupId"]
        return cls(gid, exists=True, inbound=_allows(d.get("IpPermissions", []), gid),
                   outbound=_allows(d.get("IpPermissionsEgress", []), gid, anywhere=True))


@dataclass(frozen=True, slots=True)
class Backup:
    backup_id: str
    state: str
    created: float

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> Backup:
        return cls(d["BackupId"], d.get("BackupState", ""), _when(d.get("CreateTimestamp")) or 0)


@dataclass(frozen=True, slots=True)
class Deletion:
    """A ``DeleteKey`` service event: KMS deleted a key and tried to delete its backing keys
    (the guide, "How to delete orphaned key material")."""

    time: float
    key_arn: str
    store_id: str
    cluster_id: str
    #: (backingKeyId, deletionStatus) pairs.
    statuses: tuple[tuple[str, str], ...]

    @classmethod
    def from_record(cls, record: dict[str, Any], when: float) -> Deletion | None:
        extra = record.get("additionalEventData") or {}
        raw = extra.get("backingKeysDeletionStatus")
        if not isinstance(raw, str):
            return None
        try:
            entries = json.loads(raw)
        except ValueError:
            return None
        statuses = tuple((str(e.get("backingKeyId", "")), str(e.get("deletionStatus", "")))
                         for e in entries if isinstance(e, dict))
        key_arn = str((record.get("responseElements") or {}).get("keyId", ""))
        return cls(when, key_arn, str(extra.get("customKeyStoreId", "")),
                   str(extra.get("clusterId", "")), statuses)

    def failed(self) -> tuple[str, ...]:
        return tuple(b for b, status in self.statuses if status != "SUCCESS")


def backing_key_of(record: dict[str, Any]) -> str | None:
    """The ``backingKeyId`` a ``CreateKey`` event of a CloudHSM key names."""
    raw = (record.get("additionalEventData") or {}).get("backingKey")
    try:
        found = json.loads(raw) if isinstance(raw, str) else None
    except ValueError:
        return None
    return str(found["backingKeyId"]) if isinstance(found, dict) and "backingKeyId" in found \
        else None


@dataclass(frozen=True, slots=True)
class Probe:
    """One harmless cryptographic request (Encrypt with the key, or GenerateRandom in the
    store) and how it ended."""

    operation: str
    error_code: str | None = None
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.error_code is None


@dataclass(frozen=True, slots=True)
class HsmUser:
    username: str
    role: str
    locked: str
    coverage: str

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> HsmUser:
        return cls(str(d.get("username", "")), str(d.get("role", "")),
                   str(d.get("locked", "")), str(d.get("cluster-coverage", "")))


@dataclass(frozen=True, slots=True)
class HsmView:
    """What ``cloudhsm-cli`` showed (``--hsm-checks``): the users, and which backing keys the
    logged-in user found (None: not looked for)."""

    error: str | None = None
    users: tuple[HsmUser, ...] = ()
    backing_keys: dict[str, bool] | None = None
    login_role: str | None = None
    #: Why the backing keys could not be looked for (a refused login, ...).
    key_error: str | None = None

    def user(self, name: str) -> HsmUser | None:
        return next((u for u in self.users if u.username == name), None)


@dataclass(frozen=True, slots=True)
class Unreadable:
    """An AWS call the doctor could not make (AccessDenied, a throttle, ...)."""

    call: str
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class TrailEvent:
    """A CloudTrail event that explains a state: who disconnected the store, who scheduled
    the key's deletion or disabled it, and when."""

    name: str
    time: float
    username: str


@dataclass(frozen=True, slots=True)
class KeyFacts:
    key: Key
    backing_key_id: str | None = None
    probe: Probe | None = None
    #: The key's ScheduleKeyDeletion / DisableKey events, newest first.
    history: tuple[TrailEvent, ...] = ()

    def last(self, name: str) -> TrailEvent | None:
        return next((e for e in self.history if e.name == name), None)


@dataclass(frozen=True, slots=True)
class StoreFacts:
    store: Store
    #: None: DescribeClusters does not know the cluster.
    cluster: Cluster | None = None
    subnets: tuple[Subnet, ...] = ()
    security_group: SecurityGroup | None = None
    backups: tuple[Backup, ...] = ()
    deletions: tuple[Deletion, ...] = ()
    probe: Probe | None = None
    hsm: HsmView | None = None
    key: KeyFacts | None = None
    unreadable: tuple[Unreadable, ...] = ()
    #: The newest DisconnectCustomKeyStore of the store (looked up when not connected).
    disconnected_by: TrailEvent | None = None

    def latest_backup(self) -> Backup | None:
        ready = [b for b in self.backups if b.state == "READY"]
        return max(ready, key=lambda b: b.created) if ready else None


@dataclass(frozen=True, slots=True)
class Facts:
    """Everything one run looked at."""

    region: str
    endpoint_url: str | None
    stores: tuple[StoreFacts, ...] = ()
    #: A key outside any CloudHSM key store (only its state is checked).
    key: KeyFacts | None = None
    #: What was asked for but does not exist (``--key-id`` / ``--custom-key-store-id``).
    missing: tuple[Unreadable, ...] = field(default=())
    #: The DeleteKey event of a ``--key-id`` that does not exist any more.
    deleted_key: Deletion | None = None
