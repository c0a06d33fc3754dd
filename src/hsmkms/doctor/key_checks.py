"""The key's checks: its state and the cause of it ("How to fix unavailable KMS keys"), and
whether a cryptographic request works ("How to fix a failing KMS key", "How to respond to a
cryptographic operation failure")."""

from __future__ import annotations

from collections.abc import Callable

from hsmkms.doctor import causes, fixes
from hsmkms.doctor.facts import (
    Deletion,
    KeyFacts,
    Probe,
    StoreFacts,
)
from hsmkms.doctor.findings import (
    Finding,
    Status,
    cluster_fix,
    date,
    free_zones,
    recover_fix,
    said,
    sg_fix,
)


def key_state(f: StoreFacts) -> Finding | None:
    """"How to fix unavailable KMS keys": Unavailable means the store is not connected;
    PendingDeletion keys keep that state even while it is disconnected."""
    if f.key is None:
        return None
    return key_state_of(f.key, f)


def key_state_of(kf: KeyFacts, f: StoreFacts | None) -> Finding:
    key, store = kf.key, (f.store if f else None)
    evidence = [f"aws kms describe-key --key-id {key.key_id}: KeyState {key.state}"]
    name = "key.state"
    if key.state == "Enabled":
        return Finding(name, key.key_id, Status.OK, "the key is Enabled", tuple(evidence))
    if key.state == "Unavailable" and store is not None:
        evidence.append(f"its key store {store.store_id} is {store.state}")
        evidence += said(f.disconnected_by if f else None)
        if store.state == "CONNECTED":
            return Finding(name, key.key_id, Status.FAIL,
                           "the key is Unavailable although its key store is CONNECTED",
                           tuple(evidence), "KEY_MATERIAL_DELETED", causes.RECOVER,
                           recover_fix(kf, f))
        fix = fixes.connect(store.store_id) if store.state == "DISCONNECTED" else ()
        return Finding(name, key.key_id, Status.FAIL,
                       f"the key is Unavailable because its key store {store.store_id} is "
                       f"{store.state}; reconnecting it restores the key's previous state",
                       tuple(evidence), f"STORE_{store.state}", causes.FIX_UNAVAILABLE,
                       fix or ("# the fix of store.connection below",))
    if key.state == "PendingDeletion":
        return _pending(kf, f, evidence)
    if key.state == "Disabled":
        evidence += said(kf.last("DisableKey"))
        return Finding(name, key.key_id, Status.WARN, "the key is Disabled", tuple(evidence),
                       "DISABLED", None, fixes.enable_key(key.key_id))
    return Finding(name, key.key_id, Status.WARN, f"the key is {key.state}", tuple(evidence))


def _pending(kf: KeyFacts, f: StoreFacts | None, evidence: list[str]) -> Finding:
    key = kf.key
    evidence.append(f"DeletionDate {date(key.deletion_date)}")
    evidence += said(kf.last("ScheduleKeyDeletion"))
    summary = (f"the key is scheduled for deletion on {date(key.deletion_date)}; it can be "
               "cancelled even while the key store is disconnected")
    status = Status.WARN
    if f is not None and f.store.state != "CONNECTED":
        # "The attempt might fail if AWS KMS cannot access the cluster, such as when it's
        # disconnected from the AWS CloudHSM key store" (orphaned key material).
        summary += (f"; its key store {f.store.store_id} is {f.store.state}, so KMS will not "
                    "be able to delete the backing key from the cluster: connect the store "
                    "before that date, or cancel the deletion")
        status = Status.FAIL
    return Finding("key.state", key.key_id, status, summary, tuple(evidence),
                   "PENDING_DELETION", causes.FIX_UNAVAILABLE,
                   fixes.cancel_deletion(key.key_id))


def _probe_fix(name: str, f: StoreFacts) -> tuple[str, ...]:
    store_id, cluster_id = f.store.store_id, f.store.cluster_id
    table: dict[str, Callable[[], tuple[str, ...]]] = {
        "KMSUSER_LOCKED_OUT": lambda: fixes.kmsuser_credentials(store_id, cluster_id,
                                                                connected=True),
        "PKCS11_SESSIONS_EXHAUSTED": lambda: ("# back off, then retry the request",),
        "KEY_MATERIAL_DELETED": lambda: recover_fix(f.key, f) if f.key else (),
        "NO_ACTIVE_HSMS": lambda: fixes.add_hsms(cluster_id, free_zones(f, 2)),
        "CLUSTER_DELETED": lambda: cluster_fix(f),
        "NETWORK": lambda: sg_fix(f) or (("# retry the request; if it keeps failing, check "
                                          "the network ACLs of the cluster's VPC"),),
        "INTERNAL_ERROR": lambda: ("# retry the request",),
    }
    return table.get(name, tuple)()


def _probe_finding(check: str, subject: str, probe: Probe, f: StoreFacts) -> Finding:
    evidence = (f"{probe.operation}: {probe.error_code or 'succeeded'}"
                + (f": {probe.message}" if probe.message else ""),)
    if probe.ok:
        return Finding(check, subject, Status.OK, "a cryptographic request succeeded", evidence)
    if probe.error_code == "AccessDeniedException":  # the caller may not: says nothing of KMS
        return Finding(check, subject, Status.SKIP, "the cryptographic request was not "
                       "allowed (use --no-probe, or a principal that may)", evidence)
    found = causes.crypto_cause(probe.message)
    if found is None:
        return Finding(check, subject, Status.FAIL, "a cryptographic request failed",
                       evidence, probe.error_code, causes.FIX_FAILING)
    name, cause = found
    return Finding(check, subject, Status.FAIL, f"a cryptographic request failed: "
                   f"{cause.meaning}", evidence, name, cause.guide, _probe_fix(name, f))


def key_crypto(f: StoreFacts) -> Finding | None:
    """"How to fix a failing KMS key": Enabled and CONNECTED, yet crypto fails."""
    if f.key is None or f.key.probe is None:
        return None
    return _probe_finding("key.crypto", f.key.key.key_id, f.key.probe, f)


def store_crypto(f: StoreFacts) -> Finding | None:
    if f.key is not None or f.probe is None:
        return None
    return _probe_finding("store.crypto", f.store.store_id, f.probe, f)


def backing_key(f: StoreFacts) -> Finding | None:
    """With ``--hsm-checks`` and a login that sees the key: is the key material there?"""
    if f.key is None or f.key.backing_key_id is None or f.hsm is None:
        return None
    bid, kid = f.key.backing_key_id, f.key.key.key_id
    if f.hsm.key_error is not None:
        return Finding("hsm.backing-key", kid, Status.SKIP, "the key material was not looked "
                       "for", (f.hsm.key_error,))
    if f.hsm.backing_keys is None or bid not in f.hsm.backing_keys:
        return None
    evidence = (f'cloudhsm-cli key list --filter attr.id="0x{bid}" as {f.hsm.login_role}: '
                + ("found" if f.hsm.backing_keys[bid] else "no such key"),)
    if f.hsm.backing_keys[bid]:
        return Finding("hsm.backing-key", kid, Status.OK, "the key material is in the cluster",
                       evidence)
    return Finding("hsm.backing-key", kid, Status.FAIL, "the key material is not in the "
                   "cluster", evidence, "KEY_MATERIAL_DELETED", causes.RECOVER,
                   recover_fix(f.key, f))


def deleted_key(d: Deletion) -> Finding:
    """A ``--key-id`` that is gone: when KMS deleted it, and whether its backing keys went
    too (the orphans themselves are the store's ``trail.deletions`` finding)."""
    left = d.failed()
    evidence = tuple(f"CloudTrail: DeleteKey at {date(d.time)}: backing key {b} {status}"
                     for b, status in d.statuses)
    if not left:
        return Finding("key.state", d.key_arn, Status.WARN, f"the key was deleted on "
                       f"{date(d.time)}, with its key material", evidence, "KEY_DELETED")
    return Finding("key.state", d.key_arn, Status.FAIL, f"the key was deleted on "
                   f"{date(d.time)}, but KMS could not delete its key material from the "
                   f"cluster {d.cluster_id}", evidence, "ORPHANED_KEY_MATERIAL", causes.ORPHANED,
                   fixes.delete_orphans(d.store_id, d.cluster_id, left, connected=True))
