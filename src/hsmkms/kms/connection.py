"""How KMS reaches a CloudHSM cluster: connecting, disconnecting, and using the backing keys.

Everything here is decided by the *real* state of the emulated world - the cluster and its HSMs
(``app.cloudhsm``), the users and keys inside them (``app.hsm``), the VPC (``app.network``) and
the injected faults (``app.faults``) - never by a flag on the key store.

A connection attempt (spec kms.md 1.4, the guide "How to fix a connection failure") runs, in
order: find the cluster (CLUSTER_NOT_FOUND); build KMS's network - security group
``kms-<store id>`` and one ENI per cluster subnet described ``KMS managed ENI for cluster <id>``
(SUBNET_NOT_FOUND, INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET); reach the HSMs
(INSUFFICIENT_CLOUDHSM_HSMS, NETWORK_ERRORS when the cluster security group lost its TCP
2223-2225 rules or the network fault is on); log in as kmsuser (USER_NOT_FOUND,
INVALID_CREDENTIALS - which counts toward the lockout - USER_LOCKED_OUT, USER_LOGGED_IN); rotate
kmsuser's password to a secret only KMS knows and stay logged in. INTERNAL_ERROR comes from the
internal-error fault. A failed attempt removes what it built.
"""

from __future__ import annotations

import contextlib
import secrets
import string
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from hsmkms import crypto
from hsmkms.errors import ServiceError
from hsmkms.kms.errors import KMSInternalException, KMSInvalidStateException
from hsmkms.kms.keys import Caller
from hsmkms.kms.keystores import ConnectionErrorCode as Code
from hsmkms.kms.keystores import CustomKeyStore
from hsmkms.kms.model import Key
from hsmkms.store.codec import Secret

if TYPE_CHECKING:
    from hsmkms.app import App
    from hsmkms.hsm.service import HsmService

KMSUSER = "kmsuser"
CLUSTER_PORTS = (2223, 2225)
ENI_DESCRIPTION = "KMS managed ENI for cluster {cluster_id}"
GONE_STATES = ("DELETE_IN_PROGRESS", "DELETED")

# The guide's texts ("How to respond to a cryptographic operation failure").
CANNOT_COMMUNICATE = (
    "KMS cannot communicate with your CloudHSM cluster. This might be a transient network "
    "issue. If you see this error repeatedly, verify that the Network ACLs and the security "
    "group rules for the VPC of your AWS CloudHSM cluster are correct.")
LOCKED_OUT = (
    "KMS cannot communicate with your AWS CloudHSM cluster because the kmsuser is locked out. "
    "If you see this error repeatedly, disconnect the AWS CloudHSM key store and reset the "
    "kmsuser account password. Update the kmsuser password for the custom key store and try "
    "the request again.")
INTERNAL = "KMS could not complete the request because of an internal error. Retry the request."
NO_HSMS = ("The CloudHSM cluster {cluster} associated with the custom key store {store} has no "
           "active HSMs. Add an HSM to the cluster.")
NO_SESSIONS = (
    "The AWS CloudHSM cluster associated with the custom key store has no available PKCS #11 "
    "sessions. Back off and retry the request.")


def _drop_egress(network: Any, scope: str, group_id: str) -> None:
    """KMS "remove[s] all outbound rules from the security group that AWS KMS created"
    (KMS guide, authorize-key-store: ec2:RevokeSecurityGroupEgress). ``Network`` has no revoke
    method, so this goes through its security-group book when it is there."""
    groups = getattr(network, "groups", None)
    group = groups.find(scope, group_id) if groups is not None else None
    if group is not None and group.egress:
        groups.revoke(scope, group_id, "egress", [], [r.rule_id for r in group.egress])


class ConnectFailed(Exception):
    def __init__(self, code: Code) -> None:
        super().__init__(code.value)
        self.code = code


def new_kms_password() -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(32))


class Connection:
    """The cluster side of key stores, for one app."""

    def __init__(self, app: App) -> None:
        self.app = app

    # -- the world ----------------------------------------------------------------------------

    def cluster(self, scope: str, cluster_id: str) -> Any:
        cloudhsm = getattr(self.app, "cloudhsm", None)
        cluster = cloudhsm.get_cluster(scope, cluster_id) if cloudhsm is not None else None
        if cluster is None or str(cluster.state) in GONE_STATES:
            return None
        return cluster

    def fault(self, cluster_id: str, kind: str) -> bool:
        faults = getattr(self.app, "faults", None)
        return bool(faults is not None and faults.active(cluster_id, kind))

    def reachable(self, scope: str, cluster: Any) -> bool:
        """The cluster security group still allows TCP 2223-2225 to and from itself, and not
        every HSM of the cluster is unreachable (hsm-unreachable: a network failure for KMS)."""
        if self.fault(cluster.cluster_id, "network-errors"):
            return False
        if cluster.hsms_in_service() and not cluster.active_hsms():
            return False
        return self.rules_allow_kms(scope, cluster)

    def rules_allow_kms(self, scope: str, cluster: Any) -> bool:
        """The cluster security group's self-referencing TCP 2223-2225 rules, both ways."""
        network = self.app.network  # type: ignore[attr-defined]
        sg = cluster.security_group
        low, high = CLUSTER_PORTS
        return all(network.has_rule(scope, sg, direction, "tcp", low, high, sg)
                   for direction in ("ingress", "egress"))

    # -- connecting ---------------------------------------------------------------------------

    def connect(self, scope: str, region: str, store: CustomKeyStore) -> dict[str, Any]:
        """Run one connection attempt; return the store changes, or raise ConnectFailed."""
        cluster = self.cluster(scope, store.cluster_id)
        if cluster is None:
            raise ConnectFailed(Code.CLUSTER_NOT_FOUND)
        if self.fault(cluster.cluster_id, "internal-error"):
            raise ConnectFailed(Code.INTERNAL_ERROR)
        sg_id, eni_ids = self._build_network(scope, store, cluster)
        try:
            if not cluster.hsms_in_service():
                raise ConnectFailed(Code.INSUFFICIENT_CLOUDHSM_HSMS)
            if not self.reachable(scope, cluster):
                raise ConnectFailed(Code.NETWORK_ERRORS)
            session, password = self._login_and_rotate(scope, store)
        except BaseException:
            self.tear_down(scope, sg_id, eni_ids)
            raise
        return {"session_id": session, "password": Secret(password.encode()),
                "security_group_id": sg_id, "eni_ids": eni_ids}

    def _build_network(self, scope: str, store: CustomKeyStore,
                       cluster: Any) -> tuple[str, tuple[str, ...]]:
        network = self.app.network  # type: ignore[attr-defined]
        subnets = list(cluster.subnet_mapping.values())
        if any(network.get_subnet(scope, s) is None for s in subnets):
            raise ConnectFailed(Code.SUBNET_NOT_FOUND)
        sg_id = network.create_security_group(
            scope, cluster.vpc_id, f"kms-{store.store_id}",
            f"KMS managed security group for custom key store {store.store_id}")
        # "a single inbound rule allowing traffic from the cluster security group"; protocol and
        # ports are unpublished: the cluster's own TCP 2223-2225 (spec ec2.md 5.2 proposal).
        low, high = CLUSTER_PORTS
        network.authorize(scope, sg_id, "ingress", "tcp", low, high,
                          source_group_id=cluster.security_group)
        _drop_egress(network, scope, sg_id)
        eni_ids: list[str] = []
        try:
            for subnet_id in subnets:
                eni = network.create_eni(
                    scope, subnet_id, ENI_DESCRIPTION.format(cluster_id=cluster.cluster_id),
                    [sg_id, cluster.security_group], managed_by="amazon-kms")
                eni_ids.append(eni.eni_id)
        except ServiceError as err:
            self.tear_down(scope, sg_id, tuple(eni_ids))
            if "NotFound" in err.code():
                raise ConnectFailed(Code.SUBNET_NOT_FOUND) from None
            if "Insufficient" in err.code() or "Free" in err.code():
                raise ConnectFailed(Code.INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET) from None
            raise ConnectFailed(Code.NETWORK_ERRORS) from None
        return sg_id, tuple(eni_ids)

    def _login_and_rotate(self, scope: str, store: CustomKeyStore) -> tuple[str, str]:
        from hsmkms.hsm import errors as hsm_errors  # noqa: PLC0415

        hsm = self.app.hsm  # type: ignore[attr-defined]
        now = self.app.clock.now()
        client = f"kms:{store.store_id}"
        try:
            if hsm.is_logged_in(scope, store.cluster_id, KMSUSER, now):
                # Someone is logged in as kmsuser: KMS can't rotate the password (the guide).
                raise ConnectFailed(Code.USER_LOGGED_IN)
            session = hsm.login(scope, store.cluster_id, KMSUSER, bytes(store.password).decode(),
                                "crypto-user", client, now)
        except hsm_errors.UserNotFound:
            raise ConnectFailed(Code.USER_NOT_FOUND) from None
        except hsm_errors.InvalidCredentials:
            raise ConnectFailed(Code.INVALID_CREDENTIALS) from None
        except hsm_errors.UserLockedOut:
            raise ConnectFailed(Code.USER_LOCKED_OUT) from None
        except hsm_errors.UserLoggedIn:
            raise ConnectFailed(Code.USER_LOGGED_IN) from None
        except hsm_errors.NoActiveHsm:
            raise ConnectFailed(Code.INSUFFICIENT_CLOUDHSM_HSMS) from None
        except hsm_errors.HsmError:
            # No PKCS #11 session for the login, a cluster the HSMs refuse: the attempt could
            # not be completed (the guide: "Retry the request").
            raise ConnectFailed(Code.INTERNAL_ERROR) from None
        password = new_kms_password()
        try:
            hsm.change_password(session, KMSUSER, "crypto-user", password)
        except hsm_errors.HsmError:
            hsm.logout(session)
            raise ConnectFailed(Code.USER_LOGGED_IN) from None
        return session, password

    def tear_down(self, scope: str, sg_id: str | None, eni_ids: tuple[str, ...]) -> None:
        network = getattr(self.app, "network", None)
        if network is None:
            return
        for eni_id in eni_ids:
            network.delete_eni(scope, eni_id)
        if sg_id:
            with contextlib.suppress(ServiceError):
                network.delete_security_group(scope, sg_id)

    def disconnect(self, scope: str, store: CustomKeyStore) -> None:
        if store.session_id:
            from hsmkms.hsm import errors as hsm_errors  # noqa: PLC0415

            with contextlib.suppress(hsm_errors.HsmError):
                self.app.hsm.logout(store.session_id)  # type: ignore[attr-defined]
        self.tear_down(scope, store.security_group_id, store.eni_ids)

    # -- using backing keys -------------------------------------------------------------------

    def usable_cluster(self, scope: str, store: CustomKeyStore, blocked: str) -> Any:
        """The store's cluster if KMS can work in it now, else the guide's error; ``blocked``
        says what cannot happen while the cluster is gone (for the message)."""
        cluster = self.cluster(scope, store.cluster_id)
        if cluster is None:
            raise KMSInvalidStateException(
                f"KMS cannot find the CloudHSM cluster {store.cluster_id} associated with the "
                f"custom key store {store.store_id}. {blocked} until the key store is "
                "associated with a related cluster.")
        if not self.reachable(scope, cluster):
            raise KMSInvalidStateException(CANNOT_COMMUNICATE)
        if self.fault(cluster.cluster_id, "pkcs11-sessions-exhausted"):
            raise KMSInternalException(NO_SESSIONS)
        if self.fault(cluster.cluster_id, "internal-error"):
            raise KMSInternalException(INTERNAL)
        if not cluster.active_hsms():
            raise KMSInvalidStateException(NO_HSMS.format(cluster=cluster.cluster_id,
                                                          store=store.store_id))
        if self.app.hsm.is_user_locked(scope, cluster.cluster_id,  # type: ignore[attr-defined]
                                       KMSUSER):
            raise KMSInvalidStateException(LOCKED_OUT)
        return cluster

    @contextlib.contextmanager
    def cipher(self, who: Caller, key: Key, store: CustomKeyStore) -> Iterator[crypto.KeyCipher]:
        """Crypto with a backing key inside the HSMs, or the KMS error the guide describes."""
        from hsmkms.hsm import errors as hsm_errors  # noqa: PLC0415

        cluster = self.usable_cluster(who.scope, store, f"{key.arn} cannot be used")
        hsm: HsmService = self.app.hsm  # type: ignore[attr-defined]
        try:
            # The backing key stays in the HSMs: KMS frames the blob around its AES-GCM.
            with hsm.open_key(store.session_id or "",
                              bytes.fromhex(key.backing_key_id or "")) as backing_key:
                yield crypto.KeyCipher.over(backing_key)
        except hsm_errors.HsmError as err:
            raise _translate(err, key, store, cluster.cluster_id) from None


def _translate(err: Exception, key: Key, store: CustomKeyStore, cluster_id: str) -> ServiceError:
    """The KMS error for an error inside the HSMs during a cryptographic operation."""
    from hsmkms.hsm import errors as hsm_errors  # noqa: PLC0415

    if isinstance(err, hsm_errors.UserLockedOut):
        return KMSInvalidStateException(LOCKED_OUT)
    if isinstance(err, hsm_errors.Pkcs11SessionsExhausted):
        return KMSInternalException(NO_SESSIONS)
    if isinstance(err, hsm_errors.KeyNotFound):
        return KMSInvalidStateException(
            f"The key material for {key.arn} (backing key id {key.backing_key_id}) was not "
            f"found in the CloudHSM cluster {cluster_id}.")
    if isinstance(err, hsm_errors.NoActiveHsm):
        return KMSInvalidStateException(NO_HSMS.format(cluster=cluster_id,
                                                       store=store.store_id))
    return KMSInvalidStateException(CANNOT_COMMUNICATE)
