"""Multi-Region key sets on a real store (spec kms-keys.md 5): ``Keys.related`` gives every
member in its own scope (what a rotation changes), a replica gets every material of its
primary, and UpdatePrimaryRegion moves the replica list to the new primary."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from hsmkms.context import RequestContext
from hsmkms.crypto import RootKey
from hsmkms.ids import IdSource
from hsmkms.kms import jobs, keyspecs
from hsmkms.kms.authz import AllowAll
from hsmkms.kms.backends import Backends
from hsmkms.kms.backends.local import LocalBackend
from hsmkms.kms.errors import UnsupportedOperationException
from hsmkms.kms.keys import Keys
from hsmkms.kms.model import KeyState, Origin
from hsmkms.kms.usecases.access import KeyAccess
from hsmkms.kms.usecases.keys import KeyLifecycle, NewKey
from hsmkms.kms.usecases.replicas import NewReplica, Replicas
from hsmkms.scheduler import Scheduler
from hsmkms.store.base import Store
from hsmkms.store.codec import Codec
from hsmkms.store.sqlite import SqliteDatabase

ACCOUNT = "111122223333"


class Audit:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def record_service_event(self, scope: str, event_name: str, when: float,
                             **_kwargs: Any) -> None:
        self.calls.append((scope, event_name))
        del when

    def record_call_event(self, scope: str, operation: str, when: float,
                          **_kwargs: Any) -> None:
        self.calls.append((scope, operation))
        del when


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    root = RootKey(os.urandom(32))
    db = SqliteDatabase(tmp_path / "hsmkms.db")
    yield Store(db, Codec(root.seal, root.unseal))
    db.close()


def _ctx(region: str = "us-east-1", now: float = 1000.0) -> RequestContext:
    return RequestContext(ACCOUNT, region, "request-1", now)


def _parts(store: Store) -> tuple[KeyLifecycle, Replicas, Audit]:
    local = LocalBackend(IdSource())  # EXTERNAL keys' material is local too
    access = KeyAccess(Keys(store), Backends({Origin.AWS_KMS: local, Origin.EXTERNAL: local}),
                       AllowAll())
    scheduler = Scheduler(store, lambda: 0.0)
    lifecycle = KeyLifecycle(access, scheduler)
    audit = Audit()
    return lifecycle, Replicas(lifecycle, scheduler, "fast", audit), audit


def test_related_gives_every_member_in_its_scope(store: Store) -> None:
    lifecycle, replicas, audit = _parts(store)
    keys = lifecycle.keys
    with store.unit_of_work():
        primary = lifecycle.create(_ctx(), NewKey(multi_region=True))
        assert keys.related(_ctx().scope, primary) == [(_ctx().scope, primary)]
        for region in ("us-west-2", "eu-west-1"):
            replicas.replicate(_ctx(), NewReplica(primary.key_id, region))
    assert audit.calls == [(f"{ACCOUNT}/us-west-2", "CreateKey"),
                           (f"{ACCOUNT}/eu-west-1", "CreateKey")]
    stored = keys.get(_ctx().scope, primary.key_id)
    assert stored is not None
    assert stored.replica_regions == ("us-west-2", "eu-west-1")
    expected = [f"{ACCOUNT}/us-east-1", f"{ACCOUNT}/us-west-2", f"{ACCOUNT}/eu-west-1"]
    # From any member: the whole set, primary first, each key in its own Region.
    for region in ("us-east-1", "us-west-2", "eu-west-1"):
        member = keys.get(_ctx(region).scope, primary.key_id)
        assert member is not None
        found = keys.related(_ctx(region).scope, member)
        assert [scope for scope, _key in found] == expected
        assert [key.region for _scope, key in found] == [s.split("/")[1] for s in expected]
        assert {key.key_material_id for _scope, key in found} == {primary.key_material_id}
    replica = keys.get(_ctx("us-west-2").scope, primary.key_id)
    assert replica is not None
    assert replica.state is KeyState.CREATING
    assert replica.is_replica
    # Every material row, not only the current one.
    assert keys.materials.of(_ctx("us-west-2").scope, replica) == keys.materials.of(
        _ctx().scope, stored)


def test_a_single_region_key_is_related_to_itself_only(store: Store) -> None:
    lifecycle, _replicas, _audit = _parts(store)
    with store.unit_of_work():
        key = lifecycle.create(_ctx(), NewKey())
    assert not key.multi_region
    assert lifecycle.keys.related(_ctx().scope, key) == [(_ctx().scope, key)]


def test_an_external_primarys_replica_awaits_its_own_import(store: Store) -> None:
    """Spec kms-keys.md 4.6: created without material, Creating -> PendingImport."""
    lifecycle, replicas, _audit = _parts(store)
    keys = lifecycle.keys
    ctx = _ctx()
    with store.unit_of_work():
        made = lifecycle.create(ctx, NewKey(multi_region=True))
        primary = replace(made, origin=Origin.EXTERNAL)  # as an imported key would be
        keys.save(ctx, primary)
        replica = replicas.replicate(ctx, NewReplica(primary.key_id, "us-west-2"))
    assert (replica.state, replica.material, replica.key_material_id) == (
        KeyState.CREATING, None, "")
    west = _ctx("us-west-2").scope
    assert keys.materials.of(west, replica) == []
    job = jobs.ReplicaJobs(keys, Scheduler(store, lambda: 0.0))
    with store.unit_of_work():
        job.created({"scope": west, "key": primary.key_id}, 1001.0)
    found = keys.get(west, primary.key_id)
    assert found is not None
    assert found.state is KeyState.PENDING_IMPORT
    # A stale job (the key moved on) changes nothing.
    with store.unit_of_work():
        job.created({"scope": west, "key": primary.key_id}, 1002.0)
    assert keys.get(west, primary.key_id) == found


def test_a_spec_the_table_marks_single_region_is_refused(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every spec may be multi-Region today (spec 10 Q15); the table's column still decides."""
    lifecycle, _replicas, _audit = _parts(store)
    single_only = replace(keyspecs.get("HMAC_256"), multi_region=False)
    monkeypatch.setattr(keyspecs, "get", lambda _name: single_only)
    with store.unit_of_work(), pytest.raises(UnsupportedOperationException) as exc:
        lifecycle.create(_ctx(), NewKey(key_spec="HMAC_256", key_usage="GENERATE_VERIFY_MAC",
                                        multi_region=True))
    assert exc.value.message == "KeySpec HMAC_256 is not supported for multi-Region keys."
    with store.unit_of_work():
        assert not lifecycle.create(_ctx(), NewKey(
            key_spec="HMAC_256", key_usage="GENERATE_VERIFY_MAC")).multi_region


def test_a_key_without_imported_material_never_reaches_a_cipher(store: Store) -> None:
    """Defensive (issue 12 review): whatever its stored state, an EXTERNAL key without current
    material answers "pending import" to cryptographic operations instead of failing."""
    from hsmkms.kms.errors import KMSInvalidStateException
    from hsmkms.kms.model import Key

    lifecycle, _replicas, _audit = _parts(store)
    key = Key("mrk-0123456789abcdef0123456789abcdef", ACCOUNT, "us-east-1", 1.0,
              KeyState.ENABLED, origin=Origin.EXTERNAL, primary_region="us-east-1")
    for operation in ("Encrypt", "Decrypt", "GenerateDataKey", "ReEncrypt"):
        with pytest.raises(KMSInvalidStateException) as exc:
            lifecycle.access.usable(operation, key)
        assert exc.value.message == f"{key.arn} is pending import."
    assert lifecycle.access.usable("DescribeKey", key) == key


def test_removing_material_in_a_state_the_table_forgot_is_a_bug(store: Store) -> None:
    """remove_material keeps the state of Creating/Updating keys only (the end of the step
    settles them); any other illegal transition raises instead of being swallowed."""
    from hsmkms.kms import states
    from hsmkms.kms.model import KeyMaterial, MaterialState
    from hsmkms.kms.usecases.imports import remove_material

    lifecycle, _replicas, _audit = _parts(store)
    keys, ctx = lifecycle.keys, _ctx()
    with store.unit_of_work():
        made = replace(lifecycle.create(ctx, NewKey(multi_region=True)), origin=Origin.EXTERNAL)
        row = KeyMaterial(key_id=made.key_id, material_id=made.key_material_id,
                          state=MaterialState.CURRENT, seq=1, created=1.0)
        for state in (KeyState.UPDATING, KeyState.CREATING):
            key = replace(made, state=state)
            keys.save(ctx, key)
            assert remove_material(keys, lifecycle.access.backends, ctx.scope, key,
                                   row).state is state
        key = replace(made, state=KeyState.UNAVAILABLE)  # never stored: no transition
        with pytest.raises(states.IllegalTransition):
            remove_material(keys, lifecycle.access.backends, ctx.scope, key, row)


def test_an_automatic_rotation_job_follows_the_sets_primary(store: Store) -> None:
    """A job written under the old primary's scope (before UpdatePrimaryRegion moved the jobs
    with it) reschedules itself under the new primary's and rotates the set once."""
    from hsmkms.kms import rotation

    lifecycle, replicas, audit = _parts(store)
    keys, east, west = lifecycle.keys, _ctx().scope, _ctx("us-west-2").scope
    scheduler = replicas.scheduler
    with store.unit_of_work():
        made = lifecycle.create(_ctx(), NewKey(multi_region=True))
        primary = rotation.share(keys, east, made, rotation_period_days=90,
                                 rotation_anchor=1000.0)
        replicas.replicate(_ctx(), NewReplica(primary.key_id, "us-west-2"))
        jobs.ReplicaJobs(keys, scheduler).created({"scope": west, "key": made.key_id}, 1001.0)
        replicas.update_primary_region(_ctx(now=1002.0), made.key_id, "us-west-2")
    due = 1000.0 + 90 * 86400
    # UpdatePrimaryRegion moved nothing (rotation was not scheduled here): write the old job.
    scheduler.schedule(rotation.AUTOMATIC_TASK, due, {"scope": east, "key": made.key_id},
                       job_id=rotation.automatic_job(east, made.key_id))
    rotations = rotation.Rotations(keys, scheduler, audit, IdSource())  # type: ignore[arg-type]
    with store.unit_of_work():
        rotations.automatic({"scope": east, "key": made.key_id}, due)
    assert [e for e in audit.calls if e[1] == "RotateKey"] == []
    moved = [j for j in scheduler.pending() if j.task == rotation.AUTOMATIC_TASK]
    assert [(j.id, j.due, j.args["scope"]) for j in moved] == [
        (rotation.automatic_job(east, made.key_id), due, east),  # the one "running" here
        (rotation.automatic_job(west, made.key_id), due, west)]
    for _ in range(2):  # the new job, then a stale rerun of it: one rotation
        with store.unit_of_work():
            rotations.automatic({"scope": west, "key": made.key_id}, due)
    assert sorted(e for e in audit.calls if e[1] == "RotateKey") == [
        (east, "RotateKey"), (west, "RotateKey")]
    found = keys.get(west, made.key_id)
    assert found is not None
    assert rotation.next_rotation(found) == due + 90 * 86400
