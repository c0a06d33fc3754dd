"""The three CloudHSM lifecycles as transition tables: ``(state, event) -> state``.

Theory of operation: API calls and scheduled jobs never assign a state directly; they name an
event and look up the next state here. An event the table does not list for the current state
raises :class:`IllegalTransition`, which the service turns into a
``CloudHsmInvalidRequestException`` with the message of :data:`REFUSALS` (so nothing changes).
Sources: spec cloudhsm.md 1.2 (C1-C8), 1.3 (H1-H3), 1.4 (B1-B6).
"""

from __future__ import annotations

import enum
from typing import TypeVar

from hsmkms.cloudhsm.model import BackupState, ClusterState, HsmState


class IllegalTransition(Exception):
    def __init__(self, state: enum.StrEnum, event: enum.StrEnum) -> None:
        super().__init__(f"{event} is not allowed in state {state}")
        self.state = state
        self.event = event


# Event values are unique across the three machines: REFUSALS is keyed by event.
class ClusterEvent(enum.StrEnum):
    CREATED = "cluster-created"            # C1: set-up finished
    RESTORED = "cluster-restored"          # C2: set-up from a backup finished
    INITIALIZE = "cluster-initialize"      # C4: InitializeCluster
    INITIALIZED = "cluster-initialized"    # C4: initialisation finished
    ACTIVATE = "cluster-activate"          # C5: cloudhsm-cli "cluster activate"
    MIGRATE = "cluster-migrate"            # C6: ModifyCluster with a new HsmType
    MIGRATED = "cluster-migrated"          # C6: migration finished
    DELETE = "cluster-delete"              # C8: DeleteCluster
    DELETED = "cluster-deleted"            # C8: deletion finished


class HsmEvent(enum.StrEnum):
    CREATED = "hsm-created"
    DELETE = "hsm-delete"
    UNREACHABLE = "hsm-unreachable"        # the hsm-unreachable fault is added (spec 8.4)
    REACHABLE = "hsm-reachable"            # ... and removed


class BackupEvent(enum.StrEnum):
    COMPLETED = "backup-completed"        # B1/B6
    DELETE = "backup-delete"              # B2: DeleteBackup, B5: retention purge
    RESTORE = "backup-restore"            # B3: RestoreBackup
    EXPIRE = "backup-expire"              # B4: seven days after B2/B5


C = ClusterState
CLUSTER: dict[tuple[ClusterState, ClusterEvent], ClusterState] = {
    (C.CREATE_IN_PROGRESS, ClusterEvent.CREATED): C.UNINITIALIZED,
    (C.CREATE_IN_PROGRESS, ClusterEvent.RESTORED): C.ACTIVE,
    (C.UNINITIALIZED, ClusterEvent.INITIALIZE): C.INITIALIZE_IN_PROGRESS,
    (C.INITIALIZE_IN_PROGRESS, ClusterEvent.INITIALIZED): C.INITIALIZED,
    (C.INITIALIZED, ClusterEvent.ACTIVATE): C.ACTIVE,
    (C.ACTIVE, ClusterEvent.MIGRATE): C.MODIFY_IN_PROGRESS,
    (C.MODIFY_IN_PROGRESS, ClusterEvent.MIGRATED): C.ACTIVE,
    (C.UNINITIALIZED, ClusterEvent.DELETE): C.DELETE_IN_PROGRESS,
    (C.INITIALIZED, ClusterEvent.DELETE): C.DELETE_IN_PROGRESS,
    (C.ACTIVE, ClusterEvent.DELETE): C.DELETE_IN_PROGRESS,
    (C.DEGRADED, ClusterEvent.DELETE): C.DELETE_IN_PROGRESS,
    (C.DELETE_IN_PROGRESS, ClusterEvent.DELETED): C.DELETED,
}

H = HsmState
HSM: dict[tuple[HsmState, HsmEvent], HsmState] = {
    (H.CREATE_IN_PROGRESS, HsmEvent.CREATED): H.ACTIVE,
    (H.ACTIVE, HsmEvent.DELETE): H.DELETE_IN_PROGRESS,
    (H.DEGRADED, HsmEvent.DELETE): H.DELETE_IN_PROGRESS,
    (H.ACTIVE, HsmEvent.UNREACHABLE): H.DEGRADED,
    (H.DEGRADED, HsmEvent.REACHABLE): H.ACTIVE,
}

B = BackupState
BACKUP: dict[tuple[BackupState, BackupEvent], BackupState] = {
    (B.CREATE_IN_PROGRESS, BackupEvent.COMPLETED): B.READY,
    (B.READY, BackupEvent.DELETE): B.PENDING_DELETION,
    (B.PENDING_DELETION, BackupEvent.RESTORE): B.READY,
    (B.PENDING_DELETION, BackupEvent.EXPIRE): B.DELETED,
}

#: StateMessage shown while a cluster is in a state (AWS's documented texts; others have none).
CLUSTER_STATE_MESSAGES: dict[ClusterState, str] = {
    # API_InitializeCluster example response.
    C.INITIALIZE_IN_PROGRESS: "Cluster is initializing. State will change to INITIALIZED upon "
                              "completion.",
    # API_DeleteCluster example response.
    C.DELETE_IN_PROGRESS: "The cluster is being deleted.",
}

#: Why an event is refused, by event ("{id}" and "{state}" are filled in).
REFUSALS: dict[enum.StrEnum, str] = {
    ClusterEvent.INITIALIZE: "Cluster {id} cannot be initialized in state {state}: it must be "
                             "UNINITIALIZED and contain an HSM.",
    ClusterEvent.ACTIVATE: "Cluster {id} cannot be activated in state {state}: it must be "
                           "INITIALIZED.",
    ClusterEvent.MIGRATE: "The HSM type of cluster {id} cannot be changed in state {state}: "
                          "it must be ACTIVE.",
    ClusterEvent.DELETE: "Cluster {id} cannot be deleted in state {state}.",
    HsmEvent.DELETE: "HSM {id} cannot be deleted in state {state}.",
    BackupEvent.DELETE: "Backup {id} cannot be deleted in state {state}: only READY backups "
                        "can be deleted.",
    BackupEvent.RESTORE: "Backup {id} cannot be restored in state {state}: only backups in "
                         "PENDING_DELETION can be restored.",
}


def cluster_next(state: ClusterState, event: ClusterEvent) -> ClusterState:
    return _next(CLUSTER, state, event)


def hsm_next(state: HsmState, event: HsmEvent) -> HsmState:
    return _next(HSM, state, event)


def backup_next(state: BackupState, event: BackupEvent) -> BackupState:
    return _next(BACKUP, state, event)


S = TypeVar("S", bound=enum.StrEnum)
E = TypeVar("E", bound=enum.StrEnum)


def _next(table: dict[tuple[S, E], S], state: S, event: E) -> S:
    new = table.get((state, event))
    if new is None:
        raise IllegalTransition(state, event)
    return new


def refusal(err: IllegalTransition, ident: str) -> str:
    template = REFUSALS.get(err.event, "{id} cannot change state from {state}.")
    return template.format(id=ident, state=err.state)
