"""The guide's causes as tables: each ``ConnectionErrorCode`` and each way a cryptographic
request fails, with what the guide says it means and the section that repairs it.

Sources: AWS KMS developer guide, "Troubleshooting a custom key store" (fix-keystore): "How to
fix a connection failure" (the codes), "How to fix a failing KMS key" and "How to respond to a
cryptographic operation failure" (the crypto errors).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Cause:
    meaning: str
    guide: str


FIX_CONNECTION = "How to fix a connection failure"
FIX_CREDENTIALS = "How to fix invalid kmsuser credentials"
LOG_OUT = "How to log out and reconnect"
FIX_FAILING = "How to fix a failing KMS key"
FIX_UNAVAILABLE = "How to fix unavailable KMS keys"
RECOVER = "How to recover deleted key material for a KMS key"
ORPHANED = "How to delete orphaned key material"
CRYPTO_FAILURE = "How to respond to a cryptographic operation failure"

CONNECTION_ERRORS: dict[str, Cause] = {
    "CLUSTER_NOT_FOUND": Cause(
        "KMS cannot find an AWS CloudHSM cluster with the key store's cluster ID: the ID is "
        "wrong, or the cluster was deleted and not replaced", FIX_CONNECTION),
    "INSUFFICIENT_CLOUDHSM_HSMS": Cause(
        "the cluster does not contain any HSMs; to connect it needs at least one",
        FIX_CONNECTION),
    "INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET": Cause(
        "at least one private subnet of the cluster has no free IP address; a connection "
        "needs one in each subnet (two are preferable)", FIX_CONNECTION),
    "INTERNAL_ERROR": Cause(
        "KMS could not complete the request because of an internal error; retry it",
        FIX_CONNECTION),
    "INVALID_CREDENTIALS": Cause(
        "KMS cannot log into the cluster: the key store's kmsuser password is not the "
        "password of kmsuser in the cluster", FIX_CREDENTIALS),
    "NETWORK_ERRORS": Cause(
        "KMS could not reach the cluster over the network (usually transient; check the "
        "security group rules and network ACLs)", FIX_CONNECTION),
    "SUBNET_NOT_FOUND": Cause(
        "at least one subnet in the cluster configuration was deleted", FIX_CONNECTION),
    "USER_LOCKED_OUT": Cause(
        "the kmsuser crypto user is locked out of the cluster after too many failed password "
        "attempts; its password must be changed", FIX_CREDENTIALS),
    "USER_LOGGED_IN": Cause(
        "the kmsuser crypto user is logged into the cluster, which keeps KMS from rotating its "
        "password and logging in", LOG_OUT),
    "USER_NOT_FOUND": Cause(
        "the cluster has no kmsuser crypto user", FIX_CREDENTIALS),
}

#: Why a cryptographic request failed, from the words of its error message (first match).
#: The texts are the guide's where it gives them; the others name the condition as the guide
#: describes it, so an AWS wording that differs falls through to "unknown".
CRYPTO_ERRORS: tuple[tuple[str, str, Cause], ...] = (
    ("locked out", "KMSUSER_LOCKED_OUT", Cause(
        "KMS cannot use the cluster because kmsuser is locked out; disconnect, reset the "
        "kmsuser password, update the key store password", CRYPTO_FAILURE)),
    ("PKCS #11", "PKCS11_SESSIONS_EXHAUSTED", Cause(
        "the cluster has no free PKCS #11 session (burst traffic); back off and retry",
        FIX_FAILING)),
    ("key material", "KEY_MATERIAL_DELETED", Cause(
        "the key material of the KMS key was deleted from the cluster; recover it from a "
        "backup that contains it", RECOVER)),
    ("no active HSMs", "NO_ACTIVE_HSMS", Cause(
        "all HSMs were deleted from the cluster; it needs at least one active HSM",
        FIX_FAILING)),
    ("cannot find the CloudHSM cluster", "CLUSTER_DELETED", Cause(
        "the cluster of the key store was deleted; create one from a backup and edit the "
        "key store's cluster ID", FIX_FAILING)),
    ("cannot communicate", "NETWORK", Cause(
        "KMS cannot communicate with the cluster: retry; if it keeps failing, a security "
        "group rule or network ACL blocks the traffic", CRYPTO_FAILURE)),
    ("is unavailable", "UNAVAILABLE", Cause(
        "the key store is not connected", FIX_UNAVAILABLE)),
    ("internal error", "INTERNAL_ERROR", Cause(
        "KMS could not complete the request because of an internal error; retry it",
        FIX_FAILING)),
)


def crypto_cause(message: str) -> tuple[str, Cause] | None:
    lowered = message.lower()
    return next(((name, cause) for words, name, cause in CRYPTO_ERRORS
                 if words.lower() in lowered), None)
