"""The key store's checks: its connection and ``ConnectionErrorCode`` ("How to fix a connection
failure"), kmsuser ("How to fix invalid kmsuser credentials"), the trust anchor, and the backing
keys KMS could not delete ("How to delete orphaned key material")."""

from __future__ import annotations

from collections.abc import Callable

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from hsmkms.doctor import causes, fixes
from hsmkms.doctor.facts import (
    HsmUser,
    StoreFacts,
)
from hsmkms.doctor.findings import (
    Finding,
    Status,
    cluster_fix,
    date,
    free_zones,
    said,
    sg_fix,
)


def connection(f: StoreFacts) -> Finding:
    """The ConnectionState, and for FAILED the ConnectionErrorCode with its repair ("you
    must disconnect the AWS CloudHSM key store before attempting to reconnect it")."""
    s = f.store
    evidence = [f"{fixes.describe(s.store_id)}: ConnectionState {s.state}"
                + (f", ConnectionErrorCode {s.error_code}" if s.error_code else ""),
                *said(f.disconnected_by)]
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
                                      f"clusterIds={cid}"), *cluster_fix(f)),
        "SUBNET_NOT_FOUND": lambda: cluster_fix(f),
        "INSUFFICIENT_CLOUDHSM_HSMS": lambda: (
            f"aws cloudhsmv2 describe-clusters --filters clusterIds={cid}",
            *fixes.add_hsms(cid, free_zones(f, 2)), *fixes.reconnect(sid)),
        "INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET": lambda: fixes.free_addresses(
            sid, failed_subnets or [s.subnet_id for s in f.subnets]),
        "INTERNAL_ERROR": lambda: fixes.reconnect(sid),
        "NETWORK_ERRORS": lambda: (*sg_fix(f), *fixes.reconnect(sid, wait=True)),
        "INVALID_CREDENTIALS": lambda: fixes.kmsuser_credentials(sid, cid, connected=True),
        "USER_LOCKED_OUT": lambda: fixes.kmsuser_credentials(sid, cid, connected=True),
        "USER_LOGGED_IN": lambda: fixes.log_out_kmsuser(sid),
        "USER_NOT_FOUND": lambda: fixes.create_kmsuser(sid, cid, connected=True),
    }
    return table.get(code, lambda: fixes.reconnect(sid))()


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
    evidence = tuple(f"{date(d.time)} DeleteKey {d.key_arn}: backing key {b} "
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


def unreadable(f: StoreFacts) -> Finding | None:
    if not f.unreadable:
        return None
    return Finding("doctor.access", f.store.store_id, Status.SKIP,
                   "some facts could not be read; the checks that need them are missing",
                   tuple(f"{u.call}: {u.code}: {u.message}" for u in f.unreadable))
