"""What a check finds, and the fix commands several checks share (bound to the facts)."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from hsmkms.doctor import fixes
from hsmkms.doctor.facts import (
    KeyFacts,
    StoreFacts,
    TrailEvent,
)


class Status(enum.StrEnum):
    OK = "ok"
    FAIL = "fail"
    WARN = "warn"
    SKIP = "skip"


@dataclass(frozen=True, slots=True)
class Finding:
    check: str
    subject: str
    status: Status
    summary: str
    evidence: tuple[str, ...] = ()
    cause: str | None = None
    guide: str | None = None
    fix: tuple[str, ...] = ()


def date(epoch: float | None) -> str:
    if epoch is None:
        return "?"
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def usable_subnets(f: StoreFacts) -> tuple[list[str], list[str]]:
    """The cluster's subnets not known to be deleted (a restored cluster may reuse them; one
    in each of two zones at least), and their zones."""
    if f.cluster is None:
        return [], []
    gone = {s.subnet_id for s in f.subnets if not s.exists}
    kept = sorted((z, s) for z, s in f.cluster.subnet_mapping.items() if s not in gone)
    subnets = [s for _z, s in kept]
    return subnets + ["<subnet-id>"] * (2 - len(subnets)), [z for z, _s in kept]


def cluster_fix(f: StoreFacts) -> tuple[str, ...]:
    subnets, zones = usable_subnets(f)
    backup = f.latest_backup()
    return fixes.restore_cluster(f.store.store_id, f.store.cluster_id,
                                 backup.backup_id if backup else None,
                                 f.cluster.hsm_type if f.cluster else "", subnets, zones)


def free_zones(f: StoreFacts, count: int) -> list[str]:
    """Zones to add HSMs in: the emptiest first."""
    if f.cluster is None:
        return []
    by_zone = f.cluster.active_by_zone()
    return sorted(by_zone, key=lambda z: (by_zone[z], z))[:count]


def sg_fix(f: StoreFacts) -> tuple[str, ...]:
    sg = f.security_group
    if sg is None or not sg.exists:
        return ()
    return fixes.security_group_rules(sg.group_id, inbound=sg.inbound, outbound=sg.outbound)


def recover_fix(kf: KeyFacts, f: StoreFacts | None) -> tuple[str, ...]:
    if f is None:
        return ()
    subnets, zones = usable_subnets(f)
    backup = f.latest_backup()
    return fixes.recover_key_material(
        f.store.store_id, f.store.cluster_id, kf.backing_key_id,
        backup.backup_id if backup else None, f.cluster.hsm_type if f.cluster else "",
        subnets, zones)


def said(event: TrailEvent | None) -> list[str]:
    """Evidence from CloudTrail: who did it, and when."""
    return [] if event is None else [(f"CloudTrail: {event.name} at {date(event.time)} by "
                                     f"{event.username}")]
