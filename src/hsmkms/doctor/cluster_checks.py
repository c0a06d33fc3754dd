"""The cluster's checks: its state, its HSMs per Availability Zone, its subnets' free addresses
and its security group's rules."""

from __future__ import annotations

from hsmkms.doctor import causes, fixes
from hsmkms.doctor.facts import (
    StoreFacts,
)
from hsmkms.doctor.findings import (
    Finding,
    Status,
    cluster_fix,
    free_zones,
    sg_fix,
)


def cluster(f: StoreFacts) -> Finding:
    cid = f.store.cluster_id
    c = f.cluster
    name = "cluster.state"
    if c is None or c.gone:
        seen = "DescribeClusters does not list it" if c is None else f"State {c.state}"
        return Finding(name, cid, Status.FAIL,
                       f"the key store's cluster {cid} does not exist any more",
                       (f"aws cloudhsmv2 describe-clusters --filters clusterIds={cid}: {seen}",),
                       "CLUSTER_NOT_FOUND", causes.FIX_FAILING, cluster_fix(f))
    evidence = ((f"aws cloudhsmv2 describe-clusters --filters clusterIds={cid}: "
                f"State {c.state}"),)
    if c.state == "ACTIVE":
        return Finding(name, cid, Status.OK, "the cluster is ACTIVE", evidence)
    fix = fixes.activate_cluster(cid) if c.state == "INITIALIZED" else ()
    return Finding(name, cid, Status.FAIL, f"the cluster is {c.state}, not ACTIVE", evidence,
                   f"CLUSTER_{c.state}", causes.FIX_CONNECTION, fix)


def hsms(f: StoreFacts) -> Finding | None:
    """At least one active HSM to connect and to use keys; two in different zones to create
    keys ("If you add multiple HSMs, it's best to create them in different Availability
    Zones")."""
    c = f.cluster
    if c is None or c.gone:
        return None
    by_zone = c.active_by_zone()
    evidence = tuple(f"{zone}: {n} ACTIVE HSM{'s' if n != 1 else ''}"
                     for zone, n in by_zone.items())
    others = tuple(f"{h.hsm_id} in {h.availability_zone}: {h.state}"
                   for h in c.hsms if h.state != "ACTIVE")
    total = sum(by_zone.values())
    zones = sum(1 for n in by_zone.values() if n)
    name, cid = "cluster.hsms", c.cluster_id
    if total == 0:
        fix = fixes.add_hsms(cid, free_zones(f, 2))
        if f.store.state == "FAILED":
            fix = (*fix, *fixes.reconnect(f.store.store_id))
        return Finding(name, cid, Status.FAIL, "the cluster has no active HSM",
                       evidence + others, "NO_ACTIVE_HSMS", causes.FIX_FAILING, fix)
    if zones < 2:
        return Finding(name, cid, Status.WARN, f"{total} active HSM(s) in one Availability "
                       "Zone: KMS needs two in different zones to create keys",
                       evidence + others, "ONE_ZONE", causes.FIX_FAILING,
                       fixes.add_hsms(cid, free_zones(f, 1)))
    return Finding(name, cid, Status.OK, f"{total} active HSMs in {zones} Availability Zones",
                   evidence + others)


def subnets(f: StoreFacts) -> Finding | None:
    c = f.cluster
    if c is None or c.gone or not f.subnets:
        return None
    name, cid = "cluster.subnets", c.cluster_id
    evidence = tuple(
        f"{s.subnet_id} ({s.availability_zone}): " + (
            f"AvailableIpAddressCount {s.free_addresses}" if s.exists else
            "InvalidSubnetID.NotFound") for s in f.subnets)
    if any(not s.exists for s in f.subnets):
        return Finding(name, cid, Status.FAIL, "a subnet of the cluster was deleted",
                       evidence, "SUBNET_NOT_FOUND", causes.FIX_CONNECTION, cluster_fix(f))
    empty = [s.subnet_id for s in f.subnets if s.free_addresses == 0]
    if empty and f.store.state == "CONNECTED":
        # KMS's own ENIs hold an address in each subnet while connected; disconnecting frees
        # them for the next connection.
        return Finding(name, cid, Status.WARN, f"no free IP address left in "
                       f"{', '.join(empty)} besides the one KMS uses while connected", evidence)
    if empty:
        return Finding(name, cid, Status.FAIL, f"no free IP address in {', '.join(empty)}: "
                       "KMS needs one in each subnet to connect", evidence,
                       "INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET", causes.FIX_CONNECTION,
                       fixes.free_addresses(f.store.store_id, empty))
    if any(s.free_addresses == 1 for s in f.subnets):
        return Finding(name, cid, Status.WARN, "a subnet has only one free IP address (two "
                       "are preferable)", evidence)
    return Finding(name, cid, Status.OK, "every subnet has free IP addresses", evidence)


def security_group(f: StoreFacts) -> Finding | None:
    sg = f.security_group
    if sg is None:
        return None
    name = "cluster.security-group"
    if not sg.exists:
        return Finding(name, sg.group_id, Status.FAIL, "the cluster's security group does "
                       "not exist", ((f"aws ec2 describe-security-groups --group-ids "
                                     f"{sg.group_id}: InvalidGroup.NotFound"),),
                       "SECURITY_GROUP_NOT_FOUND", causes.CRYPTO_FAILURE, cluster_fix(f))
    evidence = ((f"inbound TCP 2223-2225 from {sg.group_id}: "
                f"{'allowed' if sg.inbound else 'missing'}"),
                (f"outbound TCP 2223-2225 to {sg.group_id}: "
                f"{'allowed' if sg.outbound else 'missing'}"))
    if sg.inbound and sg.outbound:
        return Finding(name, sg.group_id, Status.OK, "the security group lets the cluster's "
                       "traffic through (TCP 2223-2225)", evidence)
    return Finding(name, sg.group_id, Status.FAIL, "the security group blocks TCP 2223-2225 "
                   "within the cluster: KMS cannot communicate with the HSMs", evidence,
                   "SECURITY_GROUP_RULES", causes.CRYPTO_FAILURE, sg_fix(f))
