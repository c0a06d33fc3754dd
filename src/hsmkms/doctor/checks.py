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

import datetime as dt
import enum
from collections.abc import Callable
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from hsmkms.doctor import causes, fixes
from hsmkms.doctor.facts import (
    Deletion,
    Facts,
    HsmUser,
    KeyFacts,
    Probe,
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


def _date(epoch: float | None) -> str:
    if epoch is None:
        return "?"
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _usable_subnets(f: StoreFacts) -> tuple[list[str], list[str]]:
    """The cluster's subnets not known to be deleted (a restored cluster may reuse them; one
    in each of two zones at least), and their zones."""
    if f.cluster is None:
        return [], []
    gone = {s.subnet_id for s in f.subnets if not s.exists}
    kept = sorted((z, s) for z, s in f.cluster.subnet_mapping.items() if s not in gone)
    subnets = [s for _z, s in kept]
    return subnets + ["<subnet-id>"] * (2 - len(subnets)), [z for z, _s in kept]


def _cluster_fix(f: StoreFacts) -> tuple[str, ...]:
    subnets, zones = _usable_subnets(f)
    backup = f.latest_backup()
    return fixes.restore_cluster(f.store.store_id, f.store.cluster_id,
                                 backup.backup_id if backup else None,
                                 f.cluster.hsm_type if f.cluster else "", subnets, zones)


def _free_zones(f: StoreFacts, count: int) -> list[str]:
    """Zones to add HSMs in: the emptiest first."""
    if f.cluster is None:
        return []
    by_zone = f.cluster.active_by_zone()
    return sorted(by_zone, key=lambda z: (by_zone[z], z))[:count]


# -- the key -------------------------------------------------------------------------------


def key_state(f: StoreFacts) -> Finding | None:
    """"How to fix unavailable KMS keys": Unavailable means the store is not connected;
    PendingDeletion keys keep that state even while it is disconnected."""
    if f.key is None:
        return None
    return _key_state(f.key, f)


def _said(event: TrailEvent | None) -> list[str]:
    """Evidence from CloudTrail: who did it, and when."""
    return [] if event is None else [(f"CloudTrail: {event.name} at {_date(event.time)} by "
                                     f"{event.username}")]


def _key_state(kf: KeyFacts, f: StoreFacts | None) -> Finding:
    key, store = kf.key, (f.store if f else None)
    evidence = [f"aws kms describe-key --key-id {key.key_id}: KeyState {key.state}"]
    name = "key.state"
    if key.state == "Enabled":
        return Finding(name, key.key_id, Status.OK, "the key is Enabled", tuple(evidence))
    if key.state == "Unavailable" and store is not None:
        evidence.append(f"its key store {store.store_id} is {store.state}")
        evidence += _said(f.disconnected_by if f else None)
        if store.state == "CONNECTED":
            return Finding(name, key.key_id, Status.FAIL,
                           "the key is Unavailable although its key store is CONNECTED",
                           tuple(evidence), "KEY_MATERIAL_DELETED", causes.RECOVER,
                           _recover_fix(kf, f))
        fix = fixes.connect(store.store_id) if store.state == "DISCONNECTED" else ()
        return Finding(name, key.key_id, Status.FAIL,
                       f"the key is Unavailable because its key store {store.store_id} is "
                       f"{store.state}; reconnecting it restores the key's previous state",
                       tuple(evidence), f"STORE_{store.state}", causes.FIX_UNAVAILABLE,
                       fix or ("# the fix of store.connection below",))
    if key.state == "PendingDeletion":
        return _pending(kf, f, evidence)
    if key.state == "Disabled":
        evidence += _said(kf.last("DisableKey"))
        return Finding(name, key.key_id, Status.WARN, "the key is Disabled", tuple(evidence),
                       "DISABLED", None, fixes.enable_key(key.key_id))
    return Finding(name, key.key_id, Status.WARN, f"the key is {key.state}", tuple(evidence))


def _pending(kf: KeyFacts, f: StoreFacts | None, evidence: list[str]) -> Finding:
    key = kf.key
    evidence.append(f"DeletionDate {_date(key.deletion_date)}")
    evidence += _said(kf.last("ScheduleKeyDeletion"))
    summary = (f"the key is scheduled for deletion on {_date(key.deletion_date)}; it can be "
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


def _recover_fix(kf: KeyFacts, f: StoreFacts | None) -> tuple[str, ...]:
    if f is None:
        return ()
    subnets, zones = _usable_subnets(f)
    backup = f.latest_backup()
    return fixes.recover_key_material(
        f.store.store_id, f.store.cluster_id, kf.backing_key_id,
        backup.backup_id if backup else None, f.cluster.hsm_type if f.cluster else "",
        subnets, zones)


def _probe_fix(name: str, f: StoreFacts) -> tuple[str, ...]:
    store_id, cluster_id = f.store.store_id, f.store.cluster_id
    table: dict[str, Callable[[], tuple[str, ...]]] = {
        "KMSUSER_LOCKED_OUT": lambda: fixes.kmsuser_credentials(store_id, cluster_id,
                                                                connected=True),
        "PKCS11_SESSIONS_EXHAUSTED": lambda: ("# back off, then retry the request",),
        "KEY_MATERIAL_DELETED": lambda: _recover_fix(f.key, f) if f.key else (),
        "NO_ACTIVE_HSMS": lambda: fixes.add_hsms(cluster_id, _free_zones(f, 2)),
        "CLUSTER_DELETED": lambda: _cluster_fix(f),
        "NETWORK": lambda: _sg_fix(f) or (("# retry the request; if it keeps failing, check "
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


# -- the key store -------------------------------------------------------------------------


def connection(f: StoreFacts) -> Finding:
    """The ConnectionState, and for FAILED the ConnectionErrorCode with its repair ("you
    must disconnect the AWS CloudHSM key store before attempting to reconnect it")."""
    s = f.store
    evidence = [f"{fixes.describe(s.store_id)}: ConnectionState {s.state}"
                + (f", ConnectionErrorCode {s.error_code}" if s.error_code else ""),
                *_said(f.disconnected_by)]
    name = "store.connection"
    if s.state == "CONNECTED":
        return Finding(name, s.store_id, Status.OK, "the key store is CONNECTED",
                       tuple(evidence))
    if s.state == "DISCONNECTED":
        return Finding(name, s.store_id, Status.FAIL,
                       "the key store is DISCONNECTED: its KMS keys are Unavailable",
                       tuple(evidence), "DISCONNECTED", causes.FIX_UNAVAILABLE,
                       fixes.connect(s.store_id))
    if s.state != "FAILED":
        return Finding(name, s.store_id, Status.WARN, f"the key store is {s.state}; wait "
                       "and look again", tuple(evidence), s.state)
    code = s.error_code or "?"
    cause = causes.CONNECTION_ERRORS.get(code)
    return Finding(name, s.store_id, Status.FAIL,
                   f"the last connection attempt FAILED with {code}: "
                   f"{cause.meaning if cause else 'an error code the guide does not list'}",
                   tuple(evidence), code, cause.guide if cause else causes.FIX_CONNECTION,
                   _code_fix(code, f))


def _code_fix(code: str, f: StoreFacts) -> tuple[str, ...]:
    sid, cid = f.store.store_id, f.store.cluster_id
    failed_subnets = [s.subnet_id for s in f.subnets if s.free_addresses == 0]
    table: dict[str, Callable[[], tuple[str, ...]]] = {
        "CLUSTER_NOT_FOUND": lambda: ((f"aws cloudhsmv2 describe-clusters --filters "
                                      f"clusterIds={cid}"), *_cluster_fix(f)),
        "SUBNET_NOT_FOUND": lambda: _cluster_fix(f),
        "INSUFFICIENT_CLOUDHSM_HSMS": lambda: (
            f"aws cloudhsmv2 describe-clusters --filters clusterIds={cid}",
            *fixes.add_hsms(cid, _free_zones(f, 2)), *fixes.reconnect(sid)),
        "INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET": lambda: fixes.free_addresses(
            sid, failed_subnets or [s.subnet_id for s in f.subnets]),
        "INTERNAL_ERROR": lambda: fixes.reconnect(sid),
        "NETWORK_ERRORS": lambda: (*_sg_fix(f), *fixes.reconnect(sid, wait=True)),
        "INVALID_CREDENTIALS": lambda: fixes.kmsuser_credentials(sid, cid, connected=True),
        "USER_LOCKED_OUT": lambda: fixes.kmsuser_credentials(sid, cid, connected=True),
        "USER_LOGGED_IN": lambda: fixes.log_out_kmsuser(sid),
        "USER_NOT_FOUND": lambda: fixes.create_kmsuser(sid, cid, connected=True),
    }
    return table.get(code, lambda: fixes.reconnect(sid))()


# -- the cluster ---------------------------------------------------------------------------


def cluster(f: StoreFacts) -> Finding:
    cid = f.store.cluster_id
    c = f.cluster
    name = "cluster.state"
    if c is None or c.gone:
        seen = "DescribeClusters does not list it" if c is None else f"State {c.state}"
        return Finding(name, cid, Status.FAIL,
                       f"the key store's cluster {cid} does not exist any more",
                       (f"aws cloudhsmv2 describe-clusters --filters clusterIds={cid}: {seen}",),
                       "CLUSTER_NOT_FOUND", causes.FIX_FAILING, _cluster_fix(f))
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
        fix = fixes.add_hsms(cid, _free_zones(f, 2))
        if f.store.state == "FAILED":
            fix = (*fix, *fixes.reconnect(f.store.store_id))
        return Finding(name, cid, Status.FAIL, "the cluster has no active HSM",
                       evidence + others, "NO_ACTIVE_HSMS", causes.FIX_FAILING, fix)
    if zones < 2:
        return Finding(name, cid, Status.WARN, f"{total} active HSM(s) in one Availability "
                       "Zone: KMS needs two in different zones to create keys",
                       evidence + others, "ONE_ZONE", causes.FIX_FAILING,
                       fixes.add_hsms(cid, _free_zones(f, 1)))
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
                       evidence, "SUBNET_NOT_FOUND", causes.FIX_CONNECTION, _cluster_fix(f))
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


def _sg_fix(f: StoreFacts) -> tuple[str, ...]:
    sg = f.security_group
    if sg is None or not sg.exists:
        return ()
    return fixes.security_group_rules(sg.group_id, inbound=sg.inbound, outbound=sg.outbound)


def security_group(f: StoreFacts) -> Finding | None:
    sg = f.security_group
    if sg is None:
        return None
    name = "cluster.security-group"
    if not sg.exists:
        return Finding(name, sg.group_id, Status.FAIL, "the cluster's security group does "
                       "not exist", ((f"aws ec2 describe-security-groups --group-ids "
                                     f"{sg.group_id}: InvalidGroup.NotFound"),),
                       "SECURITY_GROUP_NOT_FOUND", causes.CRYPTO_FAILURE, _cluster_fix(f))
    evidence = ((f"inbound TCP 2223-2225 from {sg.group_id}: "
                f"{'allowed' if sg.inbound else 'missing'}"),
                (f"outbound TCP 2223-2225 to {sg.group_id}: "
                f"{'allowed' if sg.outbound else 'missing'}"))
    if sg.inbound and sg.outbound:
        return Finding(name, sg.group_id, Status.OK, "the security group lets the cluster's "
                       "traffic through (TCP 2223-2225)", evidence)
    return Finding(name, sg.group_id, Status.FAIL, "the security group blocks TCP 2223-2225 "
                   "within the cluster: KMS cannot communicate with the HSMs", evidence,
                   "SECURITY_GROUP_RULES", causes.CRYPTO_FAILURE, _sg_fix(f))


# -- kmsuser, the trust anchor, the trail -------------------------------------------------


SEE_CONNECTION = "# the fix of store.connection above"
_KMSUSER_CODES = ("USER_NOT_FOUND", "USER_LOCKED_OUT", "USER_LOGGED_IN", "INVALID_CREDENTIALS")


def kmsuser(f: StoreFacts) -> Finding:
    """Presence and lockout from ``cloudhsm-cli user list`` (``--hsm-checks``); a login
    (USER_LOGGED_IN) only shows in the store's error code: no public API lists sessions."""
    view = f.hsm
    if view is None or view.error is not None:
        return _kmsuser_from_store(f, "not asked for (--hsm-checks)" if view is None
                                   else view.error or "")
    user = view.user("kmsuser")
    if user is None:
        return Finding("hsm.kmsuser", f.store.cluster_id, Status.FAIL,
                       "the cluster has no kmsuser crypto user",
                       ("cloudhsm-cli user list: no kmsuser",), "USER_NOT_FOUND",
                       causes.FIX_CREDENTIALS,
                       fixes.create_kmsuser(f.store.store_id, f.store.cluster_id,
                                            connected=f.store.state != "DISCONNECTED"))
    return _kmsuser_row(f, user)


def _login_note(f: StoreFacts) -> tuple[str, ...]:
    if f.store.state == "CONNECTED":
        return ("KMS is logged in as kmsuser while the key store is CONNECTED",)
    if f.store.error_code == "USER_LOGGED_IN":
        return (("the key store reports USER_LOGGED_IN: a session other than KMS's is logged "
                "in as kmsuser"),)
    return ()


def _kmsuser_from_store(f: StoreFacts, why: str) -> Finding:
    name, cid = "hsm.kmsuser", f.store.cluster_id
    code = f.store.error_code if f.store.error_code in _KMSUSER_CODES else None
    evidence = (f"cloudhsm-cli user list: {why}", *_login_note(f))
    if code is None:
        return Finding(name, cid, Status.SKIP, "kmsuser was not looked at in the cluster",
                       evidence)
    return Finding(name, cid, Status.FAIL, f"kmsuser: {code} (from the key store)", evidence,
                   code, causes.CONNECTION_ERRORS[code].guide, (SEE_CONNECTION,))


def _kmsuser_row(f: StoreFacts, user: HsmUser) -> Finding:
    name, cid = "hsm.kmsuser", f.store.cluster_id
    code = f.store.error_code if f.store.error_code in _KMSUSER_CODES else None
    evidence = ((f"cloudhsm-cli user list: kmsuser role {user.role}, locked {user.locked}, "
                f"cluster-coverage {user.coverage}"), *_login_note(f))
    if user.locked != "false":
        return Finding(name, cid, Status.FAIL, "kmsuser is locked out", evidence,
                       "USER_LOCKED_OUT", causes.FIX_CREDENTIALS,
                       fixes.kmsuser_credentials(f.store.store_id, cid,
                                                 connected=f.store.state != "DISCONNECTED"))
    if user.role != "crypto-user":
        return Finding(name, cid, Status.FAIL, f"kmsuser is a {user.role}, not a crypto user",
                       evidence, "USER_NOT_FOUND", causes.FIX_CREDENTIALS)
    if code is not None:
        return Finding(name, cid, Status.FAIL, f"kmsuser exists and is not locked, but the "
                       f"key store reports {code}", evidence, code,
                       causes.CONNECTION_ERRORS[code].guide, (SEE_CONNECTION,))
    return Finding(name, cid, Status.OK, "kmsuser exists, is a crypto user and is not locked",
                   evidence)


def trust_anchor(f: StoreFacts) -> Finding | None:
    """The cluster certificate must be issued by the key store's trust anchor (the
    customerCA.crt given to CreateCustomKeyStore)."""
    c = f.cluster
    if c is None or c.gone:
        return None
    name, sid = "store.trust-anchor", f.store.store_id
    if not c.cluster_certificate or not f.store.trust_anchor:
        return Finding(name, sid, Status.SKIP, "no cluster certificate to compare",
                       ("DescribeClusters: Certificates.ClusterCertificate absent",))
    try:
        anchor = x509.load_pem_x509_certificate(f.store.trust_anchor.encode())
        cert = x509.load_pem_x509_certificate(c.cluster_certificate.encode())
    except ValueError as err:
        return Finding(name, sid, Status.FAIL, "a certificate cannot be read",
                       (str(err),), "TRUST_ANCHOR_UNREADABLE")
    evidence = (f"trust anchor: {anchor.subject.rfc4514_string()}",
                f"cluster certificate issuer: {cert.issuer.rfc4514_string()}")
    try:
        cert.verify_directly_issued_by(anchor)
    except (ValueError, TypeError, InvalidSignature) as err:
        return Finding(name, sid, Status.FAIL, "the cluster certificate was not issued by the "
                       f"key store's trust anchor ({err or 'bad signature'})", evidence,
                       "TRUST_ANCHOR_MISMATCH", causes.FIX_CONNECTION)
    return Finding(name, sid, Status.OK, "the cluster certificate was issued by the key "
                   "store's trust anchor", evidence)


def deletions(f: StoreFacts) -> Finding | None:
    """DeleteKey events whose backingKeysDeletionStatus is not SUCCESS: orphaned key material
    (cleared when ``--hsm-checks`` finds the backing key gone)."""
    name, sid = "trail.deletions", f.store.store_id
    failed = [(d, b) for d in f.deletions for b in d.failed()]
    view = f.hsm.backing_keys if f.hsm is not None else None
    left = [(d, b) for d, b in failed if view is None or view.get(b, True)]
    evidence = tuple(f"{_date(d.time)} DeleteKey {d.key_arn}: backing key {b} "
                     f"{dict(d.statuses).get(b)}"
                     + (" (gone from the cluster now)" if (d, b) not in left else "")
                     for d, b in failed)
    if not left:
        return Finding(name, sid, Status.OK, f"{len(f.deletions)} DeleteKey event(s), no "
                       "orphaned key material left", evidence)
    ids = list(dict.fromkeys(b for _d, b in left))
    clusters = {d.cluster_id for d, _b in left} - {f.store.cluster_id}
    return Finding(name, sid, Status.FAIL,
                   f"KMS could not delete {len(ids)} backing key(s) from the cluster: orphaned "
                   "key material" + (f" (left in {', '.join(sorted(clusters))})"
                                     if clusters else ""),
                   evidence, "ORPHANED_KEY_MATERIAL", causes.ORPHANED,
                   fixes.delete_orphans(sid, f.store.cluster_id, ids,
                                        connected=f.store.state != "DISCONNECTED"))


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
                   _recover_fix(f.key, f))


def unreadable(f: StoreFacts) -> Finding | None:
    if not f.unreadable:
        return None
    return Finding("doctor.access", f.store.store_id, Status.SKIP,
                   "some facts could not be read; the checks that need them are missing",
                   tuple(f"{u.call}: {u.code}: {u.message}" for u in f.unreadable))


StoreCheck = Callable[[StoreFacts], Finding | None]

#: The report's order: the guide's.
STORE_CHECKS: tuple[StoreCheck, ...] = (
    key_state, key_crypto, store_crypto, connection, cluster, hsms, subnets, security_group,
    kmsuser, trust_anchor, deletions, backing_key, unreadable)


def deleted_key(d: Deletion) -> Finding:
    """A ``--key-id`` that is gone: when KMS deleted it, and whether its backing keys went
    too (the orphans themselves are the store's ``trail.deletions`` finding)."""
    left = d.failed()
    evidence = tuple(f"CloudTrail: DeleteKey at {_date(d.time)}: backing key {b} {status}"
                     for b, status in d.statuses)
    if not left:
        return Finding("key.state", d.key_arn, Status.WARN, f"the key was deleted on "
                       f"{_date(d.time)}, with its key material", evidence, "KEY_DELETED")
    return Finding("key.state", d.key_arn, Status.FAIL, f"the key was deleted on "
                   f"{_date(d.time)}, but KMS could not delete its key material from the "
                   f"cluster {d.cluster_id}", evidence, "ORPHANED_KEY_MATERIAL", causes.ORPHANED,
                   fixes.delete_orphans(d.store_id, d.cluster_id, left, connected=True))


def run(facts: Facts) -> list[Finding]:
    found: list[Finding] = [
        Finding("doctor.target", u.call, Status.FAIL, u.message, (f"{u.call}: {u.code}",),
                u.code) for u in facts.missing]
    if facts.deleted_key is not None:
        found.append(deleted_key(facts.deleted_key))
    if facts.key is not None:
        found.append(_key_state(facts.key, None))
    for store in facts.stores:
        found += [r for check in STORE_CHECKS if (r := check(store)) is not None]
    return found


def healthy(findings: list[Finding]) -> bool:
    return all(f.status is not Status.FAIL for f in findings)
