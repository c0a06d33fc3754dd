"""How KMS reaches a CloudHSM cluster: connecting, disconnecting, and using the backing keys.

Everything here is decided by the *real* state of the emulated world - the cluster and its HSMs
(:class:`~hsmkms.kms.ports.ClusterView`), the users and keys inside them
(:class:`~hsmkms.kms.ports.HsmClient`), the VPC (:class:`~hsmkms.kms.ports.NetworkPort`) and the
injected faults (:class:`~hsmkms.kms.ports.FaultView`) - never by a flag on the key store.

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
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from hsmkms import crypto
from hsmkms.cloudhsm.model import Cluster, ClusterState
from hsmkms.context import RequestContext
from hsmkms.errors import ServiceError
from hsmkms.hsm import errors as hsm_errors
from hsmkms.kms.errors import (
    CloudHsmClusterInvalidConfigurationException,
    KMSInternalException,
    KMSInvalidStateException,
)
from hsmkms.kms.keystores import ConnectionErrorCode as Code
from hsmkms.kms.keystores import CustomKeyStore
from hsmkms.kms.model import Key
from hsmkms.kms.ports import ClusterView, FaultView, HsmClient, NetworkPort
from hsmkms.scope import Scope
from hsmkms.store.codec import Secret

KMSUSER = "kmsuser"
CLUSTER_PORTS = (2223, 2225)
ENI_DESCRIPTION = "KMS managed ENI for cluster {cluster_id}"
GONE_STATES = (ClusterState.DELETE_IN_PROGRESS, ClusterState.DELETED)
#: The outbound allow-all rule EC2 gives every new group; KMS removes it (below).
EGRESS_ALL = ("-1", -1, -1, "0.0.0.0/0")

#: An EC2 error while KMS creates its ENIs -> the store's connection error code. Any other
#: EC2 error is NETWORK_ERRORS. (Compare ``hsmkms.cloudhsm.network.ENI_ERRORS``.)
ENI_ERRORS = {
    "InvalidSubnetID.NotFound": Code.SUBNET_NOT_FOUND,  # the user deleted a cluster subnet
    # The cluster's security group (or KMS's own) vanished under the attempt: AWS reports no
    # more specific code, and hsmkms has always answered SUBNET_NOT_FOUND here.
    "InvalidSecurityGroupID.NotFound": Code.SUBNET_NOT_FOUND,
    "InvalidGroup.NotFound": Code.SUBNET_NOT_FOUND,
    "InsufficientFreeAddressesInSubnet": Code.INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET,
}

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


class ConnectFailed(Exception):
    def __init__(self, code: Code) -> None:
        super().__init__(code.value)
        self.code = code


def new_kms_password() -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(32))


@dataclass(frozen=True, slots=True)
class Connected:
    """What a successful connection attempt gives the store."""

    session: Secret
    password: Secret
    security_group_id: str
    eni_ids: tuple[str, ...]


class Connection:
    """The cluster side of key stores."""

    def __init__(self, *, clusters: ClusterView, hsm: HsmClient, network: NetworkPort,
                 faults: FaultView, now: Callable[[], float]) -> None:
        self.clusters = clusters
        self.hsm = hsm
        self.network = network
        self.faults = faults
        self.now = now

    # -- the world ----------------------------------------------------------------------------

    def cluster(self, scope: str, cluster_id: str) -> Cluster | None:
        """The cluster, unless it is gone (or being deleted)."""
        cluster = self.clusters.get_cluster(scope, cluster_id)
        if cluster is None or cluster.state in GONE_STATES:
            return None
        return cluster

    def fault(self, cluster_id: str, kind: str) -> bool:
        return self.faults.active(cluster_id, kind)

    def reachable(self, scope: str, cluster: Cluster) -> bool:
        """The cluster security group still allows TCP 2223-2225 to and from itself, and not
        every HSM of the cluster is unreachable (hsm-unreachable: a network failure for KMS)."""
        if self.fault(cluster.cluster_id, "network-errors"):
            return False
        if cluster.hsms_in_service() and not cluster.active_hsms():
            return False
        return self.rules_allow_kms(scope, cluster)

    def rules_allow_kms(self, scope: str, cluster: Cluster) -> bool:
        """The cluster security group's self-referencing TCP 2223-2225 rules, both ways."""
        sg = cluster.security_group
        low, high = CLUSTER_PORTS
        return all(self.network.has_rule(scope, sg, direction, "tcp", low, high, sg)
                   for direction in ("ingress", "egress"))

    def config_checks(self, scope: str, cluster: Cluster, hsms_needed: int) -> None:
        """The cluster is configured as KMS requires (CreateCustomKeyStore, its update, and
        CreateKey in the store), else CloudHsmClusterInvalidConfigurationException."""
        cid = cluster.cluster_id
        if len(cluster.subnet_mapping) < 2:
            raise CloudHsmClusterInvalidConfigurationException(
                f"The CloudHSM cluster {cid} must have private subnets in at least two "
                "Availability Zones.")
        if not self.rules_allow_kms(scope, cluster):
            raise CloudHsmClusterInvalidConfigurationException(
                f"The security group {cluster.security_group} of the CloudHSM cluster {cid} must "
                "allow inbound and outbound TCP traffic on ports 2223-2225 from itself.")
        # The cluster's configuration: an HSM that exists but does not answer now
        # (hsm-unreachable, DEGRADED) still counts; reaching it is the connection's business.
        hsms = cluster.hsms_in_service()
        zones = {h.availability_zone for h in hsms}
        if hsms_needed >= 2 and len(zones) < 2:
            # AWS's wording (API reference, CloudHsmClusterInvalidConfigurationException): "the
            # CloudHSM cluster must have at least two active HSMs, each in a different
            # Availability Zone"; what the cluster has instead is ours, counted in words.
            raise CloudHsmClusterInvalidConfigurationException(
                f"The CloudHSM cluster {cid} must have at least two active HSMs, each in a "
                f"different Availability Zone. It has {_count(len(hsms), 'active HSM')} in "
                f"{_count(len(zones), 'Availability Zone')}.")

    # -- connecting ---------------------------------------------------------------------------

    def connect(self, scope: str, store: CustomKeyStore) -> Connected:
        """Run one connection attempt; return what it built, or raise ConnectFailed."""
        cluster = self.cluster(scope, store.cluster_id)
        if cluster is None:
            raise ConnectFailed(Code.CLUSTER_NOT_FOUND)
        if self.fault(cluster.cluster_id, "internal-error"):
            raise ConnectFailed(Code.INTERNAL_ERROR)
        sg_id, eni_ids = self._build_network(scope, store, cluster)
        try:
            session, password = self._reach_and_log_in(scope, store, cluster)
        except BaseException:
            self.tear_down(scope, sg_id, eni_ids)
            raise
        return Connected(Secret(session.encode()), Secret(password.encode()), sg_id, eni_ids)

    def _reach_and_log_in(self, scope: str, store: CustomKeyStore,
                          cluster: Cluster) -> tuple[str, str]:
        if not cluster.hsms_in_service():
            raise ConnectFailed(Code.INSUFFICIENT_CLOUDHSM_HSMS)
        if not self.reachable(scope, cluster):
            raise ConnectFailed(Code.NETWORK_ERRORS)
        return self._login_and_rotate(scope, store)

    def _build_network(self, scope: str, store: CustomKeyStore,
                       cluster: Cluster) -> tuple[str, tuple[str, ...]]:
        network = self.network
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
        # KMS "remove[s] all outbound rules from the security group that AWS KMS created" (KMS
        # guide, authorize-key-store: ec2:RevokeSecurityGroupEgress); a new group has one.
        protocol, all_low, all_high, cidr = EGRESS_ALL
        network.revoke(scope, sg_id, "egress", protocol, all_low, all_high, cidr=cidr)
        eni_ids: list[str] = []
        try:
            for subnet_id in subnets:
                eni = network.create_eni(
                    scope, subnet_id, ENI_DESCRIPTION.format(cluster_id=cluster.cluster_id),
                    [sg_id, cluster.security_group], managed_by="amazon-kms")
                eni_ids.append(eni.eni_id)
        except ServiceError as err:
            self.tear_down(scope, sg_id, tuple(eni_ids))
            raise ConnectFailed(ENI_ERRORS.get(err.code(), Code.NETWORK_ERRORS)) from None
        return sg_id, tuple(eni_ids)

    def _login_and_rotate(self, scope: str, store: CustomKeyStore) -> tuple[str, str]:
        hsm = self.hsm
        now = self.now()
        client = f"kms:{store.store_id}"
        try:
            if hsm.is_logged_in(scope, store.cluster_id, KMSUSER, now):
                # Someone is logged in as kmsuser: KMS can't rotate the password (the guide).
                raise ConnectFailed(Code.USER_LOGGED_IN)
            session = hsm.login(scope, store.cluster_id, KMSUSER, bytes(store.password).decode(),
                                "crypto-user", client, now)
        except hsm_errors.HsmError as err:
            raise ConnectFailed(_login_error(err)) from None
        password = new_kms_password()
        try:
            hsm.change_password(session, KMSUSER, "crypto-user", password)
        except hsm_errors.HsmError:
            hsm.logout(session)
            raise ConnectFailed(Code.USER_LOGGED_IN) from None
        return session, password

    def tear_down(self, scope: str, sg_id: str | None, eni_ids: tuple[str, ...]) -> None:
        for eni_id in eni_ids:
            self.network.delete_eni(scope, eni_id)
        if sg_id:
            with contextlib.suppress(ServiceError):
                self.network.delete_security_group(scope, sg_id)

    def disconnect(self, scope: str, store: CustomKeyStore) -> None:
        if store.session_token:
            with contextlib.suppress(hsm_errors.HsmError):
                self.hsm.logout(store.session_token)
        self.tear_down(scope, store.security_group_id, store.eni_ids)

    # -- using backing keys -------------------------------------------------------------------

    def usable_cluster(self, scope: str, store: CustomKeyStore, blocked: str) -> Cluster:
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
        if self.hsm.is_user_locked(scope, cluster.cluster_id, KMSUSER):
            raise KMSInvalidStateException(LOCKED_OUT)
        return cluster

    @contextlib.contextmanager
    def cipher(self, who: RequestContext, key: Key,
               store: CustomKeyStore) -> Iterator[crypto.KeyCipher]:
        """Crypto with a backing key inside the HSMs, or the KMS error the guide describes."""

        scope = who.scope if key.account == who.account else Scope.of(key.account, key.region)
        cluster = self.usable_cluster(scope, store, f"{key.arn} cannot be used")
        try:
            # The backing key stays in the HSMs: KMS frames the blob around its AES-GCM.
            with self.hsm.open_key(store.session_token,
                                   bytes.fromhex(key.backing_key_id or "")) as backing_key:
                yield crypto.KeyCipher.over(backing_key)
        except hsm_errors.HsmError as err:
            raise _translate(err, key, store, cluster.cluster_id) from None


def _translate(err: Exception, key: Key, store: CustomKeyStore, cluster_id: str) -> ServiceError:
    """The KMS error for an error inside the HSMs during a cryptographic operation."""

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


#: A refused kmsuser login -> the connection error code (any other HSM error: the attempt could
#: not be completed - no PKCS #11 session for the login, a cluster the HSMs refuse - which the
#: guide answers with "Retry the request", INTERNAL_ERROR).
LOGIN_ERRORS: dict[type[hsm_errors.HsmError], Code] = {
    hsm_errors.UserNotFound: Code.USER_NOT_FOUND,
    hsm_errors.InvalidCredentials: Code.INVALID_CREDENTIALS,
    hsm_errors.UserLockedOut: Code.USER_LOCKED_OUT,
    hsm_errors.UserLoggedIn: Code.USER_LOGGED_IN,
    hsm_errors.NoActiveHsm: Code.INSUFFICIENT_CLOUDHSM_HSMS,
}


def _login_error(err: hsm_errors.HsmError) -> Code:
    return next((code for cls, code in LOGIN_ERRORS.items() if isinstance(err, cls)),
                Code.INTERNAL_ERROR)


def _count(n: int, noun: str) -> str:
    """``1 active HSM``, ``2 active HSMs``, ``0 Availability Zones``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
