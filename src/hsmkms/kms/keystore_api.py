"""The six custom key store operations, KMS keys in CloudHSM key stores, and the jobs that
connect and disconnect stores. Installed by :func:`hsmkms.kms.api.build` on top of the key API.
"""

from __future__ import annotations

import json
import logging
import secrets
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from hsmkms.context import RequestContext
from hsmkms.errors import NotImplementedYet, ValidationException
from hsmkms.kms import keystores
from hsmkms.kms.connection import ConnectFailed, Connection
from hsmkms.kms.errors import (
    CloudHsmClusterInUseException,
    CloudHsmClusterInvalidConfigurationException,
    CloudHsmClusterNotActiveException,
    CloudHsmClusterNotFoundException,
    CloudHsmClusterNotRelatedException,
    CustomKeyStoreHasCMKsException,
    CustomKeyStoreInvalidStateException,
    CustomKeyStoreNameInUseException,
    CustomKeyStoreNotFoundException,
    IncorrectTrustAnchorException,
    KMSInternalException,
    KMSInvalidStateException,
    LimitExceededException,
    UnsupportedOperationException,
)
from hsmkms.kms.keys import Caller
from hsmkms.kms.keystores import ConnectionState, CustomKeyStore, StoreEvent
from hsmkms.kms.model import Key, Origin
from hsmkms.kms.pagination import paginate
from hsmkms.store.codec import Secret

if TYPE_CHECKING:
    from hsmkms.app import App
    from hsmkms.kms.api import KmsApi

log = logging.getLogger(__name__)
Params = dict[str, Any]
CONNECT_TASK = "kms.connect-custom-key-store"
DISCONNECT_TASK = "kms.disconnect-custom-key-store"
#: Seconds a connection attempt / a disconnection takes, per timing profile.
DELAYS = {"fast": (0.5, 0.2), "realistic": (300.0, 30.0)}
UNSUPPORTED_FOR_CLOUDHSM = ("EnableKeyRotation", "DisableKeyRotation", "GetKeyRotationStatus",
                            "RotateKeyOnDemand", "ListKeyRotations", "GetParametersForImport",
                            "ImportKeyMaterial", "DeleteImportedKeyMaterial", "ReplicateKey",
                            "UpdatePrimaryRegion", "GenerateDataKeyPair",
                            "GenerateDataKeyPairWithoutPlaintext")
IMPORT_OPS = ("GetParametersForImport", "ImportKeyMaterial", "DeleteImportedKeyMaterial")


def _store_id() -> str:
    return "cks-" + secrets.token_hex(9)[:17]


class KeyStoreApi:
    def __init__(self, app: App, kms: KmsApi) -> None:
        self.app = app
        self.kms = kms
        self.stores = app.store.repository(keystores.STORES, CustomKeyStore)
        self.connection = Connection(app)
        connect_delay, disconnect_delay = DELAYS[app.config.timing]
        self.connect_delay = connect_delay
        self.disconnect_delay = disconnect_delay
        app.scheduler.register(CONNECT_TASK, self._connect_due)
        app.scheduler.register(DISCONNECT_TASK, self._disconnect_due)
        kms.keys.store_connected = self._key_store_connected
        kms.crypto.hsm_cipher = self._hsm_cipher
        kms.create_hooks[Origin.AWS_CLOUDHSM] = self._create_key
        kms.deleted_hooks.append(self._key_deleted)
        kms.metadata_hooks.append(self._metadata)
        kms.scheduled_hooks.append(self._scheduled)
        kms.random_from_store = self._random  # type: ignore[method-assign]

    def handlers(self) -> dict[str, Any]:
        ops = {name[3:]: getattr(self, name) for name in dir(self) if name.startswith("op_")}
        for name in UNSUPPORTED_FOR_CLOUDHSM:
            ops[name] = self._unsupported(name)
        return ops

    # -- lookups ------------------------------------------------------------------------------

    def store(self, scope: str, store_id: str) -> CustomKeyStore:
        store = self.stores.get(scope, store_id)
        if store is None:
            raise CustomKeyStoreNotFoundException(
                f"Custom key store {store_id} does not exist in this account and Region.")
        return store

    def _key_store_connected(self, key: Key) -> bool:
        store = self.stores.get(f"{key.account}/{key.region}", key.custom_key_store_id or "")
        return store is not None and store.state is ConnectionState.CONNECTED

    def _cluster_checks(self, scope: str, cluster_id: str, *, hsms_needed: int,
                        in_use_except: str | None = None, check_in_use: bool = False) -> Any:
        """Found, ACTIVE, (not in use,) configured as KMS requires - in that order."""
        cluster = self.connection.cluster(scope, cluster_id)
        if cluster is None:
            raise CloudHsmClusterNotFoundException(
                f"KMS cannot find the CloudHSM cluster {cluster_id} in this account and Region.")
        if str(cluster.state) != "ACTIVE":
            raise CloudHsmClusterNotActiveException(
                f"The CloudHSM cluster {cluster_id} is not active (its state is "
                f"{cluster.state}). Initialize and activate the cluster first.")
        if check_in_use:
            self._not_in_use(scope, cluster_id, in_use_except)
        self._config_checks(scope, cluster, hsms_needed)
        return cluster

    def _config_checks(self, scope: str, cluster: Any, hsms_needed: int) -> None:
        cid = cluster.cluster_id
        if len(cluster.subnet_mapping) < 2:
            raise CloudHsmClusterInvalidConfigurationException(
                f"The CloudHSM cluster {cid} must have private subnets in at least two "
                "Availability Zones.")
        if not self.connection.rules_allow_kms(scope, cluster):
            raise CloudHsmClusterInvalidConfigurationException(
                f"The security group {cluster.security_group} of the CloudHSM cluster {cid} must "
                "allow inbound and outbound TCP traffic on ports 2223-2225 from itself.")
        # The cluster's configuration: an HSM that exists but does not answer now
        # (hsm-unreachable, DEGRADED) still counts; reaching it is the connection's business.
        hsms = cluster.hsms_in_service()
        zones = {h.availability_zone for h in hsms}
        if hsms_needed >= 2 and len(zones) < 2:
            raise CloudHsmClusterInvalidConfigurationException(
                f"The CloudHSM cluster {cid} must contain at least two active HSMs in different "
                f"Availability Zones (it has {len(hsms)} active HSMs in "
                f"{len(zones)} Availability Zones).")

    def _note_store(self, ctx: RequestContext, store: CustomKeyStore) -> None:
        """``additionalEventData {customKeyStoreName, clusterId}`` of Connect, Disconnect,
        Update and Delete (DG ct-connectcustomkeystore and siblings; spec kms.md 5.2)."""
        ctx.audit.add(additional_event_data={
            "customKeyStoreName": store.name, "clusterId": store.cluster_id})

    # -- the six operations -------------------------------------------------------------------

    def op_CreateCustomKeyStore(self, ctx: RequestContext, p: Params) -> dict[str, Any]:  # noqa: N802
        if p.get("CustomKeyStoreType", "AWS_CLOUDHSM") != "AWS_CLOUDHSM":
            raise NotImplementedYet("hsmkms implements AWS CloudHSM key stores only; external "
                                    "key stores are not implemented yet.")
        for member in ("CloudHsmClusterId", "TrustAnchorCertificate", "KeyStorePassword"):
            if member not in p:
                raise ValidationException(f"{member} is required for a custom key store of "
                                          "type AWS_CLOUDHSM.")
        name, cluster_id = p["CustomKeyStoreName"], p["CloudHsmClusterId"]
        _check_password(p["KeyStorePassword"])
        existing = [s for s in self.stores.values(ctx.scope) if s.name == name]
        if existing:
            same = existing[0]
            if (same.cluster_id, same.trust_anchor, bytes(same.supplied_password)) == \
                    (cluster_id, p["TrustAnchorCertificate"], p["KeyStorePassword"].encode()) \
                    and same.state is ConnectionState.DISCONNECTED:
                return {"CustomKeyStoreId": same.store_id}  # idempotent re-create
            raise CustomKeyStoreNameInUseException(
                f"The custom key store name {name} is already in use in this account and Region.")
        cluster = self._cluster_checks(ctx.scope, cluster_id, hsms_needed=2, check_in_use=True)
        if _pem(p["TrustAnchorCertificate"]) != _pem(cluster.trust_anchor):
            raise IncorrectTrustAnchorException(
                f"The trust anchor certificate does not match the trust anchor of the CloudHSM "
                f"cluster {cluster_id}.")
        if len(self.stores.values(ctx.scope)) >= keystores.MAX_STORES:
            raise LimitExceededException(
                f"You have reached the limit of {keystores.MAX_STORES} custom key stores in this "
                "account and Region.")
        password = Secret(p["KeyStorePassword"].encode())
        store = CustomKeyStore(_store_id(), name, cluster_id, p["TrustAnchorCertificate"],
                               ctx.now, password, password)
        self.stores.put(ctx.scope, store.store_id, store)
        return {"CustomKeyStoreId": store.store_id}

    def _not_in_use(self, scope: str, cluster_id: str, except_store: str | None) -> None:
        cloudhsm = self.app.cloudhsm  # type: ignore[attr-defined]
        for other in self.stores.values(scope):
            if other.store_id == except_store:
                continue
            if other.cluster_id == cluster_id or cloudhsm.related(scope, other.cluster_id,
                                                                  cluster_id):
                raise CloudHsmClusterInUseException(
                    f"The CloudHSM cluster {cluster_id}, or a cluster that shares its backup "
                    f"history, is already associated with the custom key store "
                    f"{other.store_id}.")

    def op_DescribeCustomKeyStores(self, ctx: RequestContext, p: Params) -> dict[str, Any]:  # noqa: N802
        stores = self.stores.values(ctx.scope)
        if "CustomKeyStoreId" in p:
            stores = [s for s in stores if s.store_id == p["CustomKeyStoreId"]]
            if not stores:
                raise CustomKeyStoreNotFoundException(
                    f"Custom key store {p['CustomKeyStoreId']} does not exist in this account "
                    "and Region.")
        if "CustomKeyStoreName" in p:
            stores = [s for s in stores if s.name == p["CustomKeyStoreName"]]
            if not stores:
                raise CustomKeyStoreNotFoundException(
                    f"No custom key store named {p['CustomKeyStoreName']} exists in this "
                    "account and Region.")
        page, more = paginate(stores, p.get("Limit"), p.get("Marker"), 1000,
                              lambda s: f"{s.created:020.6f}|{s.store_id}")
        return {"CustomKeyStores": [self._entry(s) for s in page], **more}

    @staticmethod
    def _entry(store: CustomKeyStore) -> dict[str, Any]:
        failed = store.state is ConnectionState.FAILED
        return {"CustomKeyStoreId": store.store_id, "CustomKeyStoreName": store.name,
                "CloudHsmClusterId": store.cluster_id,
                "TrustAnchorCertificate": store.trust_anchor, "ConnectionState": store.state,
                "ConnectionErrorCode": store.error_code if failed else None,
                "CreationDate": store.created, "CustomKeyStoreType": "AWS_CLOUDHSM"}

    def op_ConnectCustomKeyStore(self, ctx: RequestContext, p: Params) -> dict[str, Any]:  # noqa: N802
        store = self.store(ctx.scope, p["CustomKeyStoreId"])
        if store.state in (ConnectionState.FAILED, ConnectionState.DISCONNECTING):
            keystores.move(store, StoreEvent.CONNECT)  # raises the state error
        cloudhsm = getattr(self.app, "cloudhsm", None)
        cluster = cloudhsm.get_cluster(ctx.scope, store.cluster_id) if cloudhsm else None
        if cluster is not None and str(cluster.state) not in ("ACTIVE", "DELETE_IN_PROGRESS",
                                                              "DELETED"):
            raise CloudHsmClusterNotActiveException(
                f"The CloudHSM cluster {store.cluster_id} is not active (its state is "
                f"{cluster.state}).")
        self._note_store(ctx, store)
        if store.state is not ConnectionState.DISCONNECTED:
            return {}
        moved = keystores.move(store, StoreEvent.CONNECT, error_code=None,
                               attempt=store.attempt + 1)
        self.stores.put(ctx.scope, moved.store_id, moved)
        self.app.scheduler.schedule(
            CONNECT_TASK, ctx.now + self.connect_delay,
            {"scope": ctx.scope, "region": ctx.region, "store": moved.store_id,
             "attempt": str(moved.attempt)}, job_id=f"kms-connect:{moved.store_id}")
        return {}

    def op_DisconnectCustomKeyStore(self, ctx: RequestContext, p: Params) -> dict[str, Any]:  # noqa: N802
        store = self.store(ctx.scope, p["CustomKeyStoreId"])
        moved = keystores.move(store, StoreEvent.DISCONNECT, attempt=store.attempt + 1)
        self._note_store(ctx, store)
        self.stores.put(ctx.scope, moved.store_id, moved)
        self.app.scheduler.cancel(f"kms-connect:{moved.store_id}")
        self.app.scheduler.schedule(
            DISCONNECT_TASK, ctx.now + self.disconnect_delay,
            {"scope": ctx.scope, "store": moved.store_id, "attempt": str(moved.attempt)},
            job_id=f"kms-disconnect:{moved.store_id}")
        return {}

    def op_UpdateCustomKeyStore(self, ctx: RequestContext, p: Params) -> dict[str, Any]:  # noqa: N802
        store = self.store(ctx.scope, p["CustomKeyStoreId"])
        settings = {"KeyStorePassword", "CloudHsmClusterId"} & set(p)
        allowed = (ConnectionState.DISCONNECTED,) if settings else \
            (ConnectionState.DISCONNECTED, ConnectionState.CONNECTED)
        if store.state not in allowed:
            what = "the password or cluster of " if settings else ""
            raise CustomKeyStoreInvalidStateException(
                f"You cannot update {what}the custom key store {store.store_id} while it is "
                f"{store.state.value}. Disconnect the custom key store first.")
        changes: dict[str, Any] = {}
        if "NewCustomKeyStoreName" in p and p["NewCustomKeyStoreName"] != store.name:
            name = p["NewCustomKeyStoreName"]
            if any(s.name == name for s in self.stores.values(ctx.scope)):
                raise CustomKeyStoreNameInUseException(
                    f"The custom key store name {name} is already in use in this account and "
                    "Region.")
            changes["name"] = name
        if "CloudHsmClusterId" in p and p["CloudHsmClusterId"] != store.cluster_id:
            cluster_id = p["CloudHsmClusterId"]
            self._cluster_checks(ctx.scope, cluster_id, hsms_needed=2)
            if not self.app.cloudhsm.related(ctx.scope, store.cluster_id,  # type: ignore[attr-defined]
                                             cluster_id):
                raise CloudHsmClusterNotRelatedException(
                    f"The CloudHSM cluster {cluster_id} is not related to the cluster "
                    f"{store.cluster_id}: they do not share a backup history.")
            changes["cluster_id"] = cluster_id
        if "KeyStorePassword" in p:
            _check_password(p["KeyStorePassword"])
            password = Secret(p["KeyStorePassword"].encode())
            changes.update(password=password, supplied_password=password)
        if changes:
            store = replace(store, **changes)
            self.stores.put(ctx.scope, store.store_id, store)
        self._note_store(ctx, store)
        return {}

    def op_DeleteCustomKeyStore(self, ctx: RequestContext, p: Params) -> dict[str, Any]:  # noqa: N802
        store = self.store(ctx.scope, p["CustomKeyStoreId"])
        if store.state is not ConnectionState.DISCONNECTED:
            raise CustomKeyStoreInvalidStateException(
                f"You cannot delete the custom key store {store.store_id} while it is "
                f"{store.state.value}. Disconnect it first.")
        if any(k.custom_key_store_id == store.store_id
               for k in self.kms.keys.keys.values(ctx.scope)):
            raise CustomKeyStoreHasCMKsException(
                f"The custom key store {store.store_id} still contains KMS keys. Schedule their "
                "deletion and wait until the waiting periods end.")
        self.stores.delete(ctx.scope, store.store_id)
        self._note_store(ctx, store)
        return {}

    # -- scheduled work -----------------------------------------------------------------------

    def _current(self, args: dict[str, str], state: ConnectionState) -> CustomKeyStore | None:
        store = self.stores.get(args["scope"], args["store"])
        if store is None or store.state is not state or str(store.attempt) != args["attempt"]:
            return None  # a stale job: the store moved on since it was scheduled
        return store

    def _connect_due(self, args: dict[str, str], _due: float) -> None:
        store = self._current(args, ConnectionState.CONNECTING)
        if store is None:
            return
        scope = args["scope"]
        failure: ConnectFailed | None = None
        try:
            # A refused attempt keeps what it did on purpose (a wrong kmsuser password counts
            # toward the lockout), so ConnectFailed is caught inside the unit of work; an
            # unexpected error escapes it and drops its partial changes.
            with self.app.store.unit_of_work():
                try:
                    changes = self.connection.connect(scope, args["region"], store)
                except ConnectFailed as refused:
                    failure = refused
        except Exception:
            log.exception("connection attempt of %s failed unexpectedly", store.store_id)
            failure = ConnectFailed(keystores.ConnectionErrorCode.INTERNAL_ERROR)
        if failure is not None:
            moved = keystores.move(store, StoreEvent.FAILED, error_code=failure.code)
        else:
            moved = keystores.move(store, StoreEvent.CONNECTED, **changes)
        self.stores.put(scope, moved.store_id, moved)

    def _disconnect_due(self, args: dict[str, str], _due: float) -> None:
        store = self._current(args, ConnectionState.DISCONNECTING)
        if store is None:
            return
        self.connection.disconnect(args["scope"], store)
        moved = keystores.move(store, StoreEvent.DISCONNECTED, error_code=None, session_id=None,
                               security_group_id=None, eni_ids=())
        self.stores.put(args["scope"], moved.store_id, moved)

    # -- KMS keys in CloudHSM key stores ------------------------------------------------------

    def _create_key(self, who: Caller, p: Params) -> Key:
        if "CustomKeyStoreId" not in p:
            raise ValidationException("To create a KMS key with an AWS_CLOUDHSM origin, you "
                                      "must specify a CustomKeyStoreId.")
        store = self.store(who.scope, p["CustomKeyStoreId"])
        if store.state is not ConnectionState.CONNECTED:
            raise CustomKeyStoreInvalidStateException(
                f"The custom key store {store.store_id} is {store.state.value}. You can create "
                "KMS keys only in a connected custom key store.")
        cluster = self.connection.cluster(who.scope, store.cluster_id)
        if cluster is not None:
            self._config_checks(who.scope, cluster, 2)
        self.connection.usable_cluster(who.scope, store, "KMS keys cannot be created in it")
        key = self.kms.keys.create(who, description=p.get("Description", ""),
                                   policy=p.get("Policy"), tags=p.get("Tags"),
                                   origin=Origin.AWS_CLOUDHSM,
                                   custom_key_store_id=store.store_id)
        backing_id = secrets.token_bytes(16)
        reference = self._generate_backing_key(store, key, backing_id)
        key = replace(key, backing_key_id=backing_id.hex(), backing_key_reference=reference)
        self.kms.keys.save(who, key)
        self._note(who, key, store, {"backingKey": json.dumps(
            {"keyHandle": _handle(reference), "backingKeyId": key.backing_key_id},
            separators=(",", ":"))})
        return key

    def _generate_backing_key(self, store: CustomKeyStore, key: Key, backing_id: bytes) -> str:
        from hsmkms.hsm import errors as hsm_errors  # noqa: PLC0415

        try:
            return str(self.app.hsm.generate_aes_key(  # type: ignore[attr-defined]
                store.session_id or "", 32, key.arn, backing_id, extractable=False))
        except hsm_errors.Pkcs11SessionsExhausted:
            from hsmkms.kms.connection import NO_SESSIONS  # noqa: PLC0415

            raise KMSInternalException(NO_SESSIONS) from None
        except hsm_errors.HsmError as err:
            raise KMSInvalidStateException(
                f"KMS could not create the key material in the CloudHSM cluster "
                f"{store.cluster_id}: {err}") from None

    def _hsm_cipher(self, who: Caller, key: Key) -> Any:
        store = self.store(who.scope, key.custom_key_store_id or "")
        self._note(who, key, store, {})
        return self.connection.cipher(who, key, store)

    def _note(self, who: Caller, key: Key, store: CustomKeyStore,
              extra: dict[str, str]) -> None:
        audit = self.app.envelope.audit_of(who.request_id)
        if audit is None:
            return
        audit.add(additional_event_data={
            "customKeyStoreId": store.store_id, "clusterId": store.cluster_id,
            "backingKey": json.dumps({"backingKeyId": key.backing_key_id},
                                     separators=(",", ":")), **extra})

    def _scheduled(self, who: Caller, key: Key) -> None:
        """ScheduleKeyDeletion of a CloudHSM key names its backing keys, with their handles as
        in the DG's ScheduleKeyDeletion example (spec kms.md 5.2); the guide's DeleteKey event
        shows none, so that one has only ``backingKeyId``."""
        audit = self.app.envelope.audit_of(who.request_id)
        if key.custom_key_store_id is None or audit is None:
            return
        store = self.stores.get(who.scope, key.custom_key_store_id)
        backing = {"keyHandle": _handle(key.backing_key_reference or ""),
                   "backingKeyId": key.backing_key_id}
        audit.add(additional_event_data={
            "customKeyStoreId": key.custom_key_store_id,
            "clusterId": store.cluster_id if store is not None else "",
            "backingKeys": json.dumps([backing], separators=(",", ":"))})

    def _metadata(self, key: Key, meta: dict[str, Any]) -> None:
        if key.custom_key_store_id is None:
            return
        store = self.stores.get(f"{key.account}/{key.region}", key.custom_key_store_id)
        meta["CustomKeyStoreId"] = key.custom_key_store_id
        meta["CloudHsmClusterId"] = store.cluster_id if store is not None else None
        meta["CurrentKeyMaterialId"] = None

    def _random(self, ctx: RequestContext, store_id: str, n: int) -> bytes:
        store = self.store(ctx.scope, store_id)
        if store.state is not ConnectionState.CONNECTED:
            raise CustomKeyStoreInvalidStateException(
                f"The custom key store {store.store_id} is {store.state.value}. GenerateRandom "
                "with a CustomKeyStoreId needs a connected custom key store.")
        from hsmkms.hsm import errors as hsm_errors  # noqa: PLC0415

        cluster = self.connection.cluster(ctx.scope, store.cluster_id)
        # GenerateRandom declares no KMSInvalidStateException: a cluster KMS cannot use is an
        # internal error of the request (retryable), as for the PKCS #11 pool.
        if cluster is None or not self.connection.reachable(ctx.scope, cluster) or \
                self.connection.fault(cluster.cluster_id, "internal-error"):
            raise KMSInternalException(
                f"KMS cannot communicate with the CloudHSM cluster {store.cluster_id} of the "
                f"custom key store {store.store_id}. Retry the request.")
        try:
            return bytes(self.app.hsm.random_bytes(  # type: ignore[attr-defined]
                ctx.scope, store.cluster_id, n))
        except hsm_errors.HsmError:
            raise KMSInternalException(
                f"The CloudHSM cluster {store.cluster_id} of the custom key store "
                f"{store.store_id} has no active HSMs. Add an HSM to the cluster.") from None

    def _key_deleted(self, scope: str, key: Key, now: float) -> None:
        """After the waiting period: one best-effort attempt to delete the backing key."""
        trail = getattr(self.app, "trail", None)
        extra: dict[str, str] | None = None
        if key.custom_key_store_id is not None:
            store = self.stores.get(scope, key.custom_key_store_id)
            status = "FAILURE"
            if store is not None and store.state is ConnectionState.CONNECTED:
                status = self._delete_backing_key(scope, store, key)
            backing = [{"backingKeyId": key.backing_key_id}]
            extra = {
                "customKeyStoreId": key.custom_key_store_id,
                "clusterId": store.cluster_id if store is not None else "",
                "backingKeys": json.dumps(backing, separators=(",", ":")),
                "backingKeysDeletionStatus": json.dumps(
                    [{**backing[0], "deletionStatus": status}], separators=(",", ":")),
            }
        if trail is not None:
            trail.record_service_event(scope, "DeleteKey", now, resources=[key.arn],
                                       additional_event_data=extra,
                                       response_elements={"keyId": key.arn})

    def _delete_backing_key(self, scope: str, store: CustomKeyStore, key: Key) -> str:
        from hsmkms.hsm import errors as hsm_errors  # noqa: PLC0415

        cluster = self.connection.cluster(scope, store.cluster_id)
        if cluster is None or not self.connection.reachable(scope, cluster):
            return "FAILURE"  # "The attempt might fail if AWS KMS cannot access the cluster"
        try:
            self.app.hsm.delete_key(store.session_id or "",  # type: ignore[attr-defined]
                                    bytes.fromhex(key.backing_key_id or ""))
        except hsm_errors.HsmError:
            return "FAILURE"
        return "SUCCESS"

    # -- operations AWS does not support for CloudHSM keys ------------------------------------

    def _unsupported(self, operation: str) -> Any:
        def handler(ctx: RequestContext, p: Params) -> dict[str, Any]:
            key = self.kms.keys.resolve(Caller(ctx.account, ctx.region, ctx.now), p["KeyId"],
                                        aliases=operation.startswith("GenerateDataKeyPair"))
            if key.origin is Origin.AWS_CLOUDHSM or operation in IMPORT_OPS:
                raise UnsupportedOperationException(
                    f"{key.arn} origin is {key.origin.value} which is not valid for this "
                    "operation.")
            raise NotImplementedYet(f"hsmkms does not implement TrentService.{operation} yet.")

        return handler


def _check_password(password: str) -> None:
    if not 7 <= len(password) <= 32:
        raise ValidationException("1 validation error detected: Value at 'keyStorePassword' "
                                  "failed to satisfy constraint: Member must have length "
                                  "between 7 and 32")


def _pem(text: str) -> str:
    return "".join(text.split())


def _handle(reference: str) -> str:
    try:
        return str(int(reference, 0))
    except ValueError:
        return reference

