"""``AWS_CLOUDHSM`` keys: a non-extractable AES-256 backing key inside the HSMs of the key
store's cluster, made and used through the store's kmsuser session (KMS DG keystore-cloudhsm).

CloudTrail (spec kms.md 5.2): events of a CloudHSM key carry ``customKeyStoreId``, ``clusterId``
and the backing key: ``backingKey`` ``{keyHandle, backingKeyId}`` for CreateKey, ``{backingKeyId}``
for cryptographic operations; ScheduleKeyDeletion names ``backingKeys`` with their handles (the
DG's example), the DeleteKey event at the end of the waiting period only their ids and each one's
``deletionStatus``.
"""

from __future__ import annotations

import json
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import Any

from hsmkms import crypto
from hsmkms.context import RequestContext
from hsmkms.errors import ValidationException
from hsmkms.hsm import errors as hsm_errors
from hsmkms.ids import IdSource
from hsmkms.kms.connection import NO_SESSIONS, Connection
from hsmkms.kms.errors import (
    CustomKeyStoreInvalidStateException,
    KMSInternalException,
    KMSInvalidStateException,
)
from hsmkms.kms.keystores import ConnectionState, CustomKeyStore, Stores
from hsmkms.kms.model import Key
from hsmkms.scope import Scope


class CloudHsmBackend:
    def __init__(self, stores: Stores, connection: Connection, ids: IdSource) -> None:
        self.ids = ids
        self.stores = stores
        self.connection = connection

    def available(self, key: Key) -> bool:
        return self.stores.connected(Scope.of(key.account, key.region),
                                     key.custom_key_store_id or "")

    def create_material(self, ctx: RequestContext, key: Key,
                        custom_key_store_id: str | None) -> Key:
        if custom_key_store_id is None:
            raise ValidationException("To create a KMS key with an AWS_CLOUDHSM origin, you "
                                      "must specify a CustomKeyStoreId.")
        store = self.stores.require(ctx.scope, custom_key_store_id)
        if store.state is not ConnectionState.CONNECTED:
            raise CustomKeyStoreInvalidStateException(
                f"The custom key store {store.store_id} is {store.state.value}. You can create "
                "KMS keys only in a connected custom key store.")
        cluster = self.connection.cluster(ctx.scope, store.cluster_id)
        if cluster is not None:
            self.connection.config_checks(ctx.scope, cluster, 2)
        self.connection.usable_cluster(ctx.scope, store, "KMS keys cannot be created in it")
        backing_id = self.ids.bytes(16)
        reference = self._generate(store, key, backing_id)
        return replace(key, custom_key_store_id=store.store_id,
                       backing_key_id=backing_id.hex(), backing_key_reference=reference)

    def _generate(self, store: CustomKeyStore, key: Key, backing_id: bytes) -> str:
        try:
            return self.connection.hsm.generate_aes_key(store.session_token, 32, key.arn,
                                                        backing_id, extractable=False)
        except hsm_errors.Pkcs11SessionsExhausted:
            raise KMSInternalException(NO_SESSIONS) from None
        except hsm_errors.HsmError as err:
            raise KMSInvalidStateException(
                f"KMS could not create the key material in the CloudHSM cluster "
                f"{store.cluster_id}: {err}") from None

    def cipher(self, ctx: RequestContext, key: Key) -> AbstractContextManager[crypto.KeyCipher]:
        # The key's own scope: a grantee of another account uses it from there.
        scope = Scope.of(key.account, key.region)
        store = self.stores.require(scope, key.custom_key_store_id or "")
        return self.connection.cipher(ctx, key, store)

    def delete_material(self, scope: str, key: Key) -> dict[str, str] | None:
        """One best-effort attempt to delete the backing key ("The attempt might fail if AWS
        KMS cannot access the cluster")."""
        store = self.stores.get(scope, key.custom_key_store_id or "")
        status = "FAILURE"
        if store is not None and store.state is ConnectionState.CONNECTED:
            status = self._delete_backing_key(scope, store, key)
        backing = {"backingKeyId": key.backing_key_id}
        return {
            "customKeyStoreId": key.custom_key_store_id or "",
            "clusterId": store.cluster_id if store is not None else "",
            "backingKeys": _json([backing]),
            "backingKeysDeletionStatus": _json([{**backing, "deletionStatus": status}]),
        }

    def _delete_backing_key(self, scope: str, store: CustomKeyStore, key: Key) -> str:
        cluster = self.connection.cluster(scope, store.cluster_id)
        if cluster is None or not self.connection.reachable(scope, cluster):
            return "FAILURE"
        try:
            self.connection.hsm.delete_key(store.session_token,
                                           bytes.fromhex(key.backing_key_id or ""))
        except hsm_errors.HsmError:
            return "FAILURE"
        return "SUCCESS"

    def metadata_extras(self, key: Key) -> dict[str, Any]:
        store = self.stores.get(Scope.of(key.account, key.region), key.custom_key_store_id or "")
        return {"CustomKeyStoreId": key.custom_key_store_id,
                "CloudHsmClusterId": store.cluster_id if store is not None else None,
                "CurrentKeyMaterialId": None}

    def trail_extras(self, scope: str, key: Key, operation: str) -> dict[str, str]:
        store = self.stores.get(scope, key.custom_key_store_id or "")
        common = {"customKeyStoreId": key.custom_key_store_id or "",
                  "clusterId": store.cluster_id if store is not None else ""}
        if operation == "ScheduleKeyDeletion":
            return {**common, "backingKeys": _json([{
                "keyHandle": _handle(key.backing_key_reference or ""),
                "backingKeyId": key.backing_key_id}])}
        if operation == "CreateKey":
            return {**common, "backingKey": _json({
                "keyHandle": _handle(key.backing_key_reference or ""),
                "backingKeyId": key.backing_key_id})}
        return {**common, "backingKey": _json({"backingKeyId": key.backing_key_id})}


def _json(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


def _handle(reference: str) -> str:
    try:
        return str(int(reference, 0))
    except ValueError:
        return reference
