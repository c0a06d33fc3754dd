"""KMS's scheduled work: deleting a key at the end of its waiting period, and connecting and
disconnecting key stores (each attempt a job, so the API answers at once as AWS does).

Every job is dated by the scheduler's ``due`` (the time it was due, not the time it runs): a
clock jump of a year still deletes the key, and records its ``DeleteKey`` event, when its
waiting period ended.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from hsmkms.audit import AuditLog
from hsmkms.kms import keystores, states
from hsmkms.kms.backends import Backends
from hsmkms.kms.connection import Connected, ConnectFailed, Connection
from hsmkms.kms.grants import Grants
from hsmkms.kms.keys import DAY, Keys
from hsmkms.kms.keystores import ConnectionState, CustomKeyStore, StoreEvent, Stores
from hsmkms.kms.model import Key, KeyState, MaterialState, Origin
from hsmkms.kms.usecases.imports import imported_everywhere, missing_material
from hsmkms.scheduler import Scheduler
from hsmkms.scope import Scope
from hsmkms.store.base import Store

log = logging.getLogger(__name__)

DELETE_TASK = "kms.delete-key"
#: A replica's creation completes (ReplicateKey), and UpdatePrimaryRegion completes for one of
#: its two keys.
REPLICA_TASK = "kms.create-replica"
PRIMARY_UPDATE_TASK = "kms.update-primary-region"
CONNECT_TASK = "kms.connect-custom-key-store"
DISCONNECT_TASK = "kms.disconnect-custom-key-store"


def deletion_job(scope: str, key_id: str) -> str:
    return f"kms-delete:{scope}:{key_id}"


def replica_job(scope: str, key_id: str) -> str:
    return f"kms-replica:{scope}:{key_id}"


def primary_update_job(scope: str, key_id: str) -> str:
    return f"kms-primary-update:{scope}:{key_id}"


def connect_job(store_id: str) -> str:
    return f"kms-connect:{store_id}"


def disconnect_job(store_id: str) -> str:
    return f"kms-disconnect:{store_id}"


@dataclass(frozen=True, slots=True)
class ReplicaJobs:
    """The asynchronous ends of multi-Region key operations (spec kms-keys.md 5.3-5.5), each
    a stale no-op if the key moved on meanwhile (deleted, scheduled for deletion)."""

    keys: Keys
    scheduler: Scheduler

    def created(self, args: dict[str, str], _due: float) -> None:
        scope = args["scope"]
        key = self.keys.get(scope, args["key"])
        if key is None or key.state is not KeyState.CREATING:
            return
        # An EXTERNAL primary's replica waits for its own import (spec kms-keys.md 4.6).
        event = (states.Event.REPLICA_AWAITS_IMPORT if key.origin is Origin.EXTERNAL
                 else states.Event.REPLICA_CREATED)
        self._settle(scope, self.keys.move(scope, key, event))

    def primary_updated(self, args: dict[str, str], _due: float) -> None:
        scope = args["scope"]
        key = self.keys.get(scope, args["key"])
        if key is None or key.state is not KeyState.UPDATING:
            return
        self._settle(scope, self.keys.move(scope, key, states.Event.PRIMARY_UPDATED))

    def _settle(self, scope: str, key: Key) -> None:
        """A step that completes never leaves a key Enabled without its material: imported
        material that expired (or was deleted) while the key was Creating or Updating takes
        it to PendingImport now (:func:`hsmkms.kms.usecases.imports.remove_material` could
        not move it then)."""
        if key.origin is Origin.EXTERNAL and key.state is not KeyState.PENDING_IMPORT and (
                missing_material(self.keys.materials, scope, key)):
            self.keys.move(scope, key, states.Event.MATERIAL_GONE)

    def member_deleted(self, key: Key, due: float) -> None:
        """A replica is gone: its primary forgets it, and a primary that was waiting for its
        last replica starts its own waiting period now (spec kms-keys.md 5.5)."""
        if not key.is_replica:
            return
        primary = self.keys.primary_of(key)
        if primary is None:
            return
        primary_scope = Scope.of(key.account, primary.region)
        left = tuple(r for r in primary.replica_regions if r != key.region)
        if left or primary.state is not KeyState.PENDING_REPLICA_DELETION:
            updated = replace(primary, replica_regions=left)
            self.keys.put(primary_scope, updated)
        else:
            days = primary.pending_window_days or 30
            when = round(due + days * DAY, 3)
            updated = self.keys.move(primary_scope, primary, states.Event.REPLICAS_DELETED,
                                     replica_regions=left, deletion_date=when)
            self.scheduler.schedule(DELETE_TASK, when, {"scope": primary_scope,
                                                        "key": primary.key_id},
                                    job_id=deletion_job(primary_scope, primary.key_id))
        # The member gone may have been the last one lacking a material pending rotation.
        for row in self.keys.materials.of(primary_scope, updated):
            if row.state is MaterialState.PENDING_MULTI_REGION_IMPORT_AND_ROTATION:
                imported_everywhere(self.keys, primary_scope, updated, row.material_id)


@dataclass(frozen=True, slots=True)
class KeyDeletion:
    keys: Keys
    backends: Backends
    audit: AuditLog
    grants: Grants
    #: Keeps multi-Region sets whole when a member goes (None: no multi-Region keys).
    replicas: ReplicaJobs | None = None

    def run(self, args: dict[str, str], due: float) -> None:
        scope = args["scope"]
        key = self.keys.get(scope, args["key"])
        if key is None or key.state is not KeyState.PENDING_DELETION:
            return
        self.keys.delete_now(scope, key, due)
        if self.replicas is not None:
            self.replicas.member_deleted(key, due)
        self.grants.delete_key(scope, key.key_id)  # a key's grants go with it
        extra = self.backends.of(key).delete_material(scope, key)
        # An event nobody called for, dated when the waiting period ended.
        self.audit.record_service_event(scope, "DeleteKey", due, resources=[key.arn],
                                        additional_event_data=extra,
                                        response_elements={"keyId": key.arn})


@dataclass(frozen=True, slots=True)
class KeyStoreJobs:
    store: Store
    stores: Stores
    connection: Connection

    def _current(self, args: dict[str, str], state: ConnectionState) -> CustomKeyStore | None:
        found = self.stores.get(args["scope"], args["store"])
        if found is None or found.state is not state or str(found.attempt) != args["attempt"]:
            return None  # a stale job: the store moved on since it was scheduled
        return found

    def connect(self, args: dict[str, str], _due: float) -> None:
        found = self._current(args, ConnectionState.CONNECTING)
        if found is None:
            return
        scope = args["scope"]
        outcome: Connected | ConnectFailed
        try:
            # A refused attempt keeps what it did on purpose (a wrong kmsuser password counts
            # toward the lockout), so ConnectFailed is caught inside the unit of work; an
            # unexpected error escapes it and drops its partial changes.
            with self.store.unit_of_work():
                try:
                    outcome = self.connection.connect(scope, found)
                except ConnectFailed as refused:
                    outcome = refused
        except Exception:
            log.exception("connection attempt of %s failed unexpectedly", found.store_id)
            outcome = ConnectFailed(keystores.ConnectionErrorCode.INTERNAL_ERROR)
        if isinstance(outcome, ConnectFailed):
            moved = keystores.move(found, StoreEvent.FAILED, error_code=outcome.code)
        else:
            moved = keystores.move(found, StoreEvent.CONNECTED, session=outcome.session,
                                   password=outcome.password,
                                   security_group_id=outcome.security_group_id,
                                   eni_ids=outcome.eni_ids)
        self.stores.save(scope, moved)

    def disconnect(self, args: dict[str, str], _due: float) -> None:
        found = self._current(args, ConnectionState.DISCONNECTING)
        if found is None:
            return
        self.connection.disconnect(args["scope"], found)
        moved = keystores.move(found, StoreEvent.DISCONNECTED, error_code=None, session=None,
                               security_group_id=None, eni_ids=())
        self.stores.save(args["scope"], moved)


def register(scheduler: Scheduler, deletion: KeyDeletion, store_jobs: KeyStoreJobs) -> None:
    scheduler.register(DELETE_TASK, deletion.run)
    if deletion.replicas is not None:
        scheduler.register(REPLICA_TASK, deletion.replicas.created)
        scheduler.register(PRIMARY_UPDATE_TASK, deletion.replicas.primary_updated)
    scheduler.register(CONNECT_TASK, store_jobs.connect)
    scheduler.register(DISCONNECT_TASK, store_jobs.disconnect)
