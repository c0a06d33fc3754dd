"""The six custom key store operations, and GenerateRandom in a key store's cluster.

Connecting and disconnecting answer at once and schedule the attempt (:mod:`hsmkms.kms.jobs`);
the connection itself is :mod:`hsmkms.kms.connection`'s. CloudTrail events of Connect,
Disconnect, Update and Delete carry ``{customKeyStoreName, clusterId}`` (DG
ct-connectcustomkeystore and siblings; spec kms.md 5.2).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from hsmkms.cloudhsm.model import Cluster, ClusterState
from hsmkms.context import RequestContext
from hsmkms.errors import NotImplementedYet, ValidationException
from hsmkms.hsm import errors as hsm_errors
from hsmkms.ids import IdSource
from hsmkms.kms import jobs, keystores
from hsmkms.kms.connection import Connection
from hsmkms.kms.errors import (
    CloudHsmClusterInUseException,
    CloudHsmClusterNotActiveException,
    CloudHsmClusterNotFoundException,
    CloudHsmClusterNotRelatedException,
    CustomKeyStoreHasCMKsException,
    CustomKeyStoreInvalidStateException,
    CustomKeyStoreNameInUseException,
    CustomKeyStoreNotFoundException,
    IncorrectTrustAnchorException,
    KMSInternalException,
    LimitExceededException,
)
from hsmkms.kms.keys import Keys
from hsmkms.kms.keystores import ConnectionState, CustomKeyStore, StoreEvent, Stores
from hsmkms.kms.ports import ClusterView
from hsmkms.scheduler import Scheduler
from hsmkms.store.codec import Secret

#: Seconds a connection attempt / a disconnection takes, per timing profile.
DELAYS = {"fast": (0.5, 0.2), "realistic": (300.0, 30.0)}
#: Cluster states in which ConnectCustomKeyStore schedules an attempt (one for a deleted
#: cluster fails later with CLUSTER_NOT_FOUND).
CONNECTABLE = (ClusterState.ACTIVE, ClusterState.DELETE_IN_PROGRESS, ClusterState.DELETED)


@dataclass(frozen=True, slots=True)
class NewStore:
    """CreateCustomKeyStore's inputs (the model makes the AWS_CLOUDHSM members optional)."""

    name: str
    store_type: str = "AWS_CLOUDHSM"
    cluster_id: str | None = None
    trust_anchor: str | None = None
    password: str | None = None


@dataclass(frozen=True, slots=True)
class StoreUpdate:
    new_name: str | None = None
    cluster_id: str | None = None
    password: str | None = None


class KeyStores:
    def __init__(self, *, stores: Stores, keys: Keys, connection: Connection,
                 clusters: ClusterView, scheduler: Scheduler, timing: str,
                 ids: IdSource) -> None:
        self.ids = ids
        self.stores = stores
        self.keys = keys
        self.connection = connection
        self.clusters = clusters
        self.scheduler = scheduler
        self.connect_delay, self.disconnect_delay = DELAYS[timing]

    # -- checks -------------------------------------------------------------------------------

    def _cluster_checks(self, scope: str, cluster_id: str, *, hsms_needed: int,
                        check_in_use: bool = False) -> Cluster:
        """Found, ACTIVE, (not in use,) configured as KMS requires - in that order."""
        cluster = self.connection.cluster(scope, cluster_id)
        if cluster is None:
            raise CloudHsmClusterNotFoundException(
                f"KMS cannot find the CloudHSM cluster {cluster_id} in this account and Region.")
        if cluster.state is not ClusterState.ACTIVE:
            raise CloudHsmClusterNotActiveException(
                f"The CloudHSM cluster {cluster_id} is not active (its state is "
                f"{cluster.state}). Initialize and activate the cluster first.")
        if check_in_use:
            self._not_in_use(scope, cluster_id)
        self.connection.config_checks(scope, cluster, hsms_needed)
        return cluster

    def _not_in_use(self, scope: str, cluster_id: str) -> None:
        for other in self.stores.all(scope):
            if other.cluster_id == cluster_id or self.clusters.related(scope, other.cluster_id,
                                                                       cluster_id):
                raise CloudHsmClusterInUseException(
                    f"The CloudHSM cluster {cluster_id}, or a cluster that shares its backup "
                    f"history, is already associated with the custom key store "
                    f"{other.store_id}.")

    @staticmethod
    def _audit(ctx: RequestContext, store: CustomKeyStore) -> None:
        ctx.audit.add(additional_event_data={"customKeyStoreName": store.name,
                                             "clusterId": store.cluster_id})

    # -- the six operations -------------------------------------------------------------------

    def create(self, ctx: RequestContext, new: NewStore) -> str:
        if new.store_type != "AWS_CLOUDHSM":
            raise NotImplementedYet("hsmkms implements AWS CloudHSM key stores only; external "
                                    "key stores are not implemented yet.")
        members = (("CloudHsmClusterId", new.cluster_id),
                   ("TrustAnchorCertificate", new.trust_anchor),
                   ("KeyStorePassword", new.password))
        for member, value in members:
            if value is None:
                raise ValidationException(f"{member} is required for a custom key store of "
                                          "type AWS_CLOUDHSM.")
        return self._create(ctx, new.name, new.cluster_id or "", new.trust_anchor or "",
                            new.password or "")

    def _create(self, ctx: RequestContext, name: str, cluster_id: str, trust_anchor: str,
                password_text: str) -> str:
        _check_password(password_text)
        existing = [s for s in self.stores.all(ctx.scope) if s.name == name]
        if existing:
            same = existing[0]
            if (same.cluster_id, same.trust_anchor, bytes(same.supplied_password)) == \
                    (cluster_id, trust_anchor, password_text.encode()) \
                    and same.state is ConnectionState.DISCONNECTED:
                return same.store_id  # idempotent re-create
            raise CustomKeyStoreNameInUseException(
                f"The custom key store name {name} is already in use in this account and "
                "Region.")
        cluster = self._cluster_checks(ctx.scope, cluster_id, hsms_needed=2,
                                       check_in_use=True)
        if _pem(trust_anchor) != _pem(cluster.trust_anchor):
            raise IncorrectTrustAnchorException(
                f"The trust anchor certificate does not match the trust anchor of the CloudHSM "
                f"cluster {cluster_id}.")
        if len(self.stores.all(ctx.scope)) >= keystores.MAX_STORES:
            raise LimitExceededException(
                f"You have reached the limit of {keystores.MAX_STORES} custom key stores in this "
                "account and Region.")
        password = Secret(password_text.encode())
        store = CustomKeyStore(self.ids.prefixed("cks"), name, cluster_id, trust_anchor, ctx.now,
                               password, password)
        self.stores.save(ctx.scope, store)
        return store.store_id

    def describe(self, ctx: RequestContext, store_id: str | None,
                 name: str | None) -> list[CustomKeyStore]:
        found = self.stores.all(ctx.scope)
        if store_id is not None:
            found = [s for s in found if s.store_id == store_id]
            if not found:
                raise CustomKeyStoreNotFoundException(
                    f"Custom key store {store_id} does not exist in this account and Region.")
        if name is not None:
            found = [s for s in found if s.name == name]
            if not found:
                raise CustomKeyStoreNotFoundException(
                    f"No custom key store named {name} exists in this account and Region.")
        return found

    def connect(self, ctx: RequestContext, store_id: str) -> None:
        store = self.stores.require(ctx.scope, store_id)
        if store.state in (ConnectionState.FAILED, ConnectionState.DISCONNECTING):
            keystores.move(store, StoreEvent.CONNECT)  # raises the state error
        cluster = self.clusters.get_cluster(ctx.scope, store.cluster_id)
        if cluster is not None and cluster.state not in CONNECTABLE:
            raise CloudHsmClusterNotActiveException(
                f"The CloudHSM cluster {store.cluster_id} is not active (its state is "
                f"{cluster.state}).")
        self._audit(ctx, store)
        if store.state is not ConnectionState.DISCONNECTED:
            return
        moved = keystores.move(store, StoreEvent.CONNECT, error_code=None,
                               attempt=store.attempt + 1)
        self.stores.save(ctx.scope, moved)
        self.scheduler.schedule(
            jobs.CONNECT_TASK, ctx.now + self.connect_delay,
            {"scope": ctx.scope, "store": moved.store_id,
             "attempt": str(moved.attempt)}, job_id=jobs.connect_job(moved.store_id))

    def disconnect(self, ctx: RequestContext, store_id: str) -> None:
        store = self.stores.require(ctx.scope, store_id)
        moved = keystores.move(store, StoreEvent.DISCONNECT, attempt=store.attempt + 1)
        self._audit(ctx, store)
        self.stores.save(ctx.scope, moved)
        self.scheduler.cancel(jobs.connect_job(moved.store_id))
        self.scheduler.schedule(
            jobs.DISCONNECT_TASK, ctx.now + self.disconnect_delay,
            {"scope": ctx.scope, "store": moved.store_id, "attempt": str(moved.attempt)},
            job_id=jobs.disconnect_job(moved.store_id))

    def update(self, ctx: RequestContext, store_id: str, update: StoreUpdate) -> None:
        store = self.stores.require(ctx.scope, store_id)
        settings = update.password is not None or update.cluster_id is not None
        allowed = (ConnectionState.DISCONNECTED,) if settings else \
            (ConnectionState.DISCONNECTED, ConnectionState.CONNECTED)
        if store.state not in allowed:
            what = "the password or cluster of " if settings else ""
            raise CustomKeyStoreInvalidStateException(
                f"You cannot update {what}the custom key store {store.store_id} while it is "
                f"{store.state.value}. Disconnect the custom key store first.")
        changes: dict[str, Any] = {}
        if update.new_name is not None and update.new_name != store.name:
            if any(s.name == update.new_name for s in self.stores.all(ctx.scope)):
                raise CustomKeyStoreNameInUseException(
                    f"The custom key store name {update.new_name} is already in use in this "
                    "account and Region.")
            changes["name"] = update.new_name
        if update.cluster_id is not None and update.cluster_id != store.cluster_id:
            self._cluster_checks(ctx.scope, update.cluster_id, hsms_needed=2)
            if not self.clusters.related(ctx.scope, store.cluster_id, update.cluster_id):
                raise CloudHsmClusterNotRelatedException(
                    f"The CloudHSM cluster {update.cluster_id} is not related to the cluster "
                    f"{store.cluster_id}: they do not share a backup history.")
            changes["cluster_id"] = update.cluster_id
        if update.password is not None:
            _check_password(update.password)
            password = Secret(update.password.encode())
            changes.update(password=password, supplied_password=password)
        if changes:
            store = replace(store, **changes)
            self.stores.save(ctx.scope, store)
        self._audit(ctx, store)

    def delete(self, ctx: RequestContext, store_id: str) -> None:
        store = self.stores.require(ctx.scope, store_id)
        if store.state is not ConnectionState.DISCONNECTED:
            raise CustomKeyStoreInvalidStateException(
                f"You cannot delete the custom key store {store.store_id} while it is "
                f"{store.state.value}. Disconnect it first.")
        if any(k.custom_key_store_id == store.store_id for k in self.keys.list_keys(ctx)):
            raise CustomKeyStoreHasCMKsException(
                f"The custom key store {store.store_id} still contains KMS keys. Schedule their "
                "deletion and wait until the waiting periods end.")
        self.stores.delete(ctx.scope, store.store_id)
        self._audit(ctx, store)

    # -- GenerateRandom -----------------------------------------------------------------------

    def random(self, ctx: RequestContext, store_id: str, n: int) -> bytes:
        store = self.stores.require(ctx.scope, store_id)
        if store.state is not ConnectionState.CONNECTED:
            raise CustomKeyStoreInvalidStateException(
                f"The custom key store {store.store_id} is {store.state.value}. GenerateRandom "
                "with a CustomKeyStoreId needs a connected custom key store.")
        cluster = self.connection.cluster(ctx.scope, store.cluster_id)
        # GenerateRandom declares no KMSInvalidStateException: a cluster KMS cannot use is an
        # internal error of the request (retryable), as for the PKCS #11 pool.
        if cluster is None or not self.connection.reachable(ctx.scope, cluster) or \
                self.connection.fault(cluster.cluster_id, "internal-error"):
            raise KMSInternalException(
                f"KMS cannot communicate with the CloudHSM cluster {store.cluster_id} of the "
                f"custom key store {store.store_id}. Retry the request.")
        try:
            return self.connection.hsm.random_bytes(ctx.scope, store.cluster_id, n)
        except hsm_errors.HsmError:
            raise KMSInternalException(
                f"The CloudHSM cluster {store.cluster_id} of the custom key store "
                f"{store.store_id} has no active HSMs. Add an HSM to the cluster.") from None


def _check_password(password: str) -> None:
    if not 7 <= len(password) <= 32:
        raise ValidationException("1 validation error detected: Value at 'keyStorePassword' "
                                  "failed to satisfy constraint: Member must have length "
                                  "between 7 and 32")


def _pem(text: str) -> str:
    return "".join(text.split())
