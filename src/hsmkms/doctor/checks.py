"""The guide's checks, in the guide's order: pure functions from facts to findings.

Each check looks at one :class:`~hsmkms.doctor.facts.StoreFacts` (a CloudHSM key store and what
was read about its cluster, network, users and trail) and returns a :class:`Finding`, or None
when it has nothing to say (a key check without a key). :data:`STORE_CHECKS` is the order of
the report: the key's state and its cause first ("How to fix unavailable KMS keys", "How to fix
a failing KMS key"), then the key store's connection and its ``ConnectionErrorCode`` ("How to
fix a connection failure"), the cluster, its HSMs per Availability Zone, its subnets' free
addresses, its security group, kmsuser, the trust anchor, and the CloudTrail record of backing
key deletions ("How to delete orphaned key material").
"""

from __future__ import annotations

from collections.abc import Callable

from hsmkms.doctor.cluster_checks import cluster, hsms, security_group, subnets
from hsmkms.doctor.facts import Facts, StoreFacts
from hsmkms.doctor.findings import Finding, Status
from hsmkms.doctor.key_checks import (
    backing_key,
    deleted_key,
    key_crypto,
    key_state,
    key_state_of,
    store_crypto,
)
from hsmkms.doctor.store_checks import (
    SEE_CONNECTION,
    connection,
    deletions,
    kmsuser,
    trust_anchor,
    unreadable,
)

StoreCheck = Callable[[StoreFacts], Finding | None]


#: The report's order: the guide's.
STORE_CHECKS: tuple[StoreCheck, ...] = (
    key_state, key_crypto, store_crypto, connection, cluster, hsms, subnets, security_group,
    kmsuser, trust_anchor, deletions, backing_key, unreadable)


def run(facts: Facts) -> list[Finding]:
    found: list[Finding] = [
        Finding("doctor.target", u.call, Status.FAIL, u.message, (f"{u.call}: {u.code}",),
                u.code) for u in facts.missing]
    if facts.deleted_key is not None:
        found.append(deleted_key(facts.deleted_key))
    if facts.key is not None:
        found.append(key_state_of(facts.key, None))
    for store in facts.stores:
        found += [r for check in STORE_CHECKS if (r := check(store)) is not None]
    return found


def healthy(findings: list[Finding]) -> bool:
    return all(f.status is not Status.FAIL for f in findings)


__all__ = ["SEE_CONNECTION", "STORE_CHECKS", "Finding", "Status", "backing_key", "cluster",
           "connection", "deleted_key", "deletions", "healthy", "hsms", "key_crypto",
           "key_state", "kmsuser", "run", "security_group", "store_crypto", "subnets",
           "trust_anchor", "unreadable"]
