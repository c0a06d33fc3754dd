"""CloudHSM key stores: the entity and its connection state machine.

Theory of operation. ``ConnectCustomKeyStore`` answers at once and moves the store to
CONNECTING; the connection attempt itself is a scheduled job (see
:mod:`hsmkms.kms.jobs`) that inspects the *real* state of the cluster, its network and
its users and ends in CONNECTED or FAILED with a ``ConnectionErrorCode``. Disconnect moves to
DISCONNECTING at once (keys report Unavailable right away) and a job tears the connection down.
Every change of ``state`` goes through :data:`TRANSITIONS`; an event not in the table raises
``CustomKeyStoreInvalidStateException`` and changes nothing (spec kms.md 1.2).

``password`` is the kmsuser password KMS currently believes in: the one the user supplied
(Create/Update) until a connection succeeds, then the secret KMS rotated it to.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

from hsmkms.kms.errors import (
    CustomKeyStoreInvalidStateException,
    CustomKeyStoreNotFoundException,
)
from hsmkms.store.base import Store
from hsmkms.store.codec import Secret

STORES = "kms.custom-key-store"
MAX_STORES = 10  # per account and Region, CloudHSM and external stores alike (quotas page)


class ConnectionState(enum.StrEnum):
    CONNECTED = "CONNECTED"
    CONNECTING = "CONNECTING"
    FAILED = "FAILED"
    DISCONNECTED = "DISCONNECTED"
    DISCONNECTING = "DISCONNECTING"


class StoreEvent(enum.StrEnum):
    CONNECT = "connect"
    CONNECTED = "connected"
    FAILED = "failed"
    DISCONNECT = "disconnect"
    DISCONNECTED = "disconnected"


C = ConnectionState
TRANSITIONS: dict[tuple[ConnectionState, StoreEvent], ConnectionState] = {
    (C.DISCONNECTED, StoreEvent.CONNECT): C.CONNECTING,
    # Connect is valid but does nothing while connecting or connected (spec open question 10).
    (C.CONNECTING, StoreEvent.CONNECT): C.CONNECTING,
    (C.CONNECTED, StoreEvent.CONNECT): C.CONNECTED,
    (C.CONNECTING, StoreEvent.CONNECTED): C.CONNECTED,
    (C.CONNECTING, StoreEvent.FAILED): C.FAILED,
    (C.CONNECTED, StoreEvent.DISCONNECT): C.DISCONNECTING,
    (C.CONNECTING, StoreEvent.DISCONNECT): C.DISCONNECTING,
    (C.FAILED, StoreEvent.DISCONNECT): C.DISCONNECTING,
    (C.DISCONNECTING, StoreEvent.DISCONNECTED): C.DISCONNECTED,
}

_REFUSALS = {
    (C.FAILED, StoreEvent.CONNECT): "The custom key store {id} has a connection state of "
    "FAILED. Disconnect it before you try to connect it again.",
    (C.DISCONNECTING, StoreEvent.CONNECT): "The custom key store {id} is disconnecting. Wait "
    "until it is DISCONNECTED before you connect it.",
    (C.DISCONNECTED, StoreEvent.DISCONNECT): "The custom key store {id} is already "
    "disconnected.",
    (C.DISCONNECTING, StoreEvent.DISCONNECT): "The custom key store {id} is already "
    "disconnecting.",
}


class ConnectionErrorCode(enum.StrEnum):
    CLUSTER_NOT_FOUND = "CLUSTER_NOT_FOUND"
    INSUFFICIENT_CLOUDHSM_HSMS = "INSUFFICIENT_CLOUDHSM_HSMS"
    INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET = "INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    NETWORK_ERRORS = "NETWORK_ERRORS"
    SUBNET_NOT_FOUND = "SUBNET_NOT_FOUND"
    USER_LOCKED_OUT = "USER_LOCKED_OUT"
    USER_LOGGED_IN = "USER_LOGGED_IN"
    USER_NOT_FOUND = "USER_NOT_FOUND"


@dataclass(frozen=True, slots=True)
class CustomKeyStore:
    store_id: str
    name: str
    cluster_id: str
    trust_anchor: str
    created: float
    password: Secret
    supplied_password: Secret
    state: ConnectionState = ConnectionState.DISCONNECTED
    error_code: ConnectionErrorCode | None = None
    #: Legacy: data dirs written before the session was sealed hold it here, in clear. Read,
    #: never written (every change of a store clears it, see :func:`move`).
    session_id: str | None = None
    security_group_id: str | None = None
    eni_ids: tuple[str, ...] = ()
    #: Bumped by every connect/disconnect so a stale scheduled job knows it is stale.
    attempt: int = 0
    #: While connected: KMS's kmsuser login session in the cluster (a bearer token: sealed at
    #: rest); ``security_group_id`` and ``eni_ids`` are the network it built.
    session: Secret | None = None

    @property
    def session_token(self) -> str:
        """KMS's login session in the cluster ("" when it has none)."""
        if self.session is not None:
            return bytes(self.session).decode()
        return self.session_id or ""


def move(store: CustomKeyStore, event: StoreEvent, **changes: object) -> CustomKeyStore:
    """Apply ``event``; raise CustomKeyStoreInvalidStateException if the table forbids it."""
    target = TRANSITIONS.get((store.state, event))
    if target is None:
        text = _REFUSALS.get((store.state, event),
                             "The operation is not valid for the custom key store {id} in its "
                             f"current connection state ({store.state.value}).")
        raise CustomKeyStoreInvalidStateException(text.format(id=store.store_id))
    return replace(sealed(store), state=target, **changes)  # type: ignore[arg-type]


def sealed(store: CustomKeyStore) -> CustomKeyStore:
    """``store`` with a legacy clear session token moved into the sealed field: every write of
    a store goes through this (or :func:`move`), so none keeps the token in clear."""
    if store.session_id is None:
        return store
    return replace(store, session=Secret(store.session_id.encode()), session_id=None)


class Stores:
    """The custom key stores of every account and Region, with KMS's lookups."""

    def __init__(self, store: Store) -> None:
        self._repo = store.repository(STORES, CustomKeyStore)
        self._seal_legacy_sessions(store)

    def _seal_legacy_sessions(self, store: Store) -> None:
        """A data dir from before keeps connected stores' session tokens in clear: seal them
        at start, in one unit of work, rather than whenever each store is next written."""
        legacy = [(scope, found) for scope in self._repo.scopes()
                  for found in self._repo.values(scope) if found.session_id is not None]
        if legacy:
            with store.unit_of_work():
                for scope, found in legacy:
                    self.save(scope, found)

    def get(self, scope: str, store_id: str) -> CustomKeyStore | None:
        return self._repo.get(scope, store_id)

    def require(self, scope: str, store_id: str) -> CustomKeyStore:
        found = self._repo.get(scope, store_id)
        if found is None:
            raise CustomKeyStoreNotFoundException(
                f"Custom key store {store_id} does not exist in this account and Region.")
        return found

    def all(self, scope: str) -> list[CustomKeyStore]:
        return self._repo.values(scope)

    def save(self, scope: str, store: CustomKeyStore) -> None:
        self._repo.put(scope, store.store_id, sealed(store))

    def delete(self, scope: str, store_id: str) -> None:
        self._repo.delete(scope, store_id)

    def connected(self, scope: str, store_id: str) -> bool:
        found = self._repo.get(scope, store_id)
        return found is not None and found.state is ConnectionState.CONNECTED
