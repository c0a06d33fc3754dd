"""The transition tables: documented paths exist, everything else is refused."""

from __future__ import annotations

import pytest

from hsmkms.cloudhsm import lifecycle
from hsmkms.cloudhsm.lifecycle import BackupEvent, ClusterEvent, HsmEvent, IllegalTransition
from hsmkms.cloudhsm.model import BackupState, ClusterState, HsmState

C = ClusterState


def walk(state: ClusterState, *events: ClusterEvent) -> ClusterState:
    for event in events:
        state = lifecycle.cluster_next(state, event)
    return state


def test_cluster_paths() -> None:
    assert walk(C.CREATE_IN_PROGRESS, ClusterEvent.CREATED, ClusterEvent.INITIALIZE,
                ClusterEvent.INITIALIZED, ClusterEvent.ACTIVATE) is C.ACTIVE
    assert walk(C.CREATE_IN_PROGRESS, ClusterEvent.RESTORED) is C.ACTIVE
    assert walk(C.ACTIVE, ClusterEvent.DELETE, ClusterEvent.DELETED) is C.DELETED
    assert walk(C.ACTIVE, ClusterEvent.MIGRATE, ClusterEvent.MIGRATED) is C.ACTIVE


@pytest.mark.parametrize(("state", "event"), [
    (C.UNINITIALIZED, ClusterEvent.ACTIVATE),
    (C.ACTIVE, ClusterEvent.INITIALIZE),
    (C.INITIALIZED, ClusterEvent.INITIALIZE),
    (C.CREATE_IN_PROGRESS, ClusterEvent.DELETE),
    (C.DELETE_IN_PROGRESS, ClusterEvent.DELETE),
    (C.DELETED, ClusterEvent.DELETE),
    (C.UNINITIALIZED, ClusterEvent.MIGRATE),
])
def test_cluster_refusals(state: ClusterState, event: ClusterEvent) -> None:
    with pytest.raises(IllegalTransition) as err:
        lifecycle.cluster_next(state, event)
    assert str(state) in lifecycle.refusal(err.value, "cluster-abcdefghijk")


def test_hsm_and_backup_tables() -> None:
    assert lifecycle.hsm_next(HsmState.CREATE_IN_PROGRESS, HsmEvent.CREATED) is HsmState.ACTIVE
    assert lifecycle.hsm_next(HsmState.ACTIVE, HsmEvent.DELETE) is HsmState.DELETE_IN_PROGRESS
    with pytest.raises(IllegalTransition):
        lifecycle.hsm_next(HsmState.CREATE_IN_PROGRESS, HsmEvent.DELETE)
    b = BackupState
    assert lifecycle.backup_next(b.READY, BackupEvent.DELETE) is b.PENDING_DELETION
    assert lifecycle.backup_next(b.PENDING_DELETION, BackupEvent.RESTORE) is b.READY
    assert lifecycle.backup_next(b.PENDING_DELETION, BackupEvent.EXPIRE) is b.DELETED
    for state in (b.CREATE_IN_PROGRESS, b.DELETED):
        with pytest.raises(IllegalTransition):
            lifecycle.backup_next(state, BackupEvent.RESTORE)


def test_documented_state_messages() -> None:
    assert lifecycle.CLUSTER_STATE_MESSAGES[C.INITIALIZE_IN_PROGRESS] == (
        "Cluster is initializing. State will change to INITIALIZED upon completion.")
    assert lifecycle.CLUSTER_STATE_MESSAGES[C.DELETE_IN_PROGRESS] == "The cluster is being deleted."
