"""Key rotation without a server (hsmkms.kms.rotation, hsmkms.kms.usecases.rotation): the
schedule's arithmetic, the jobs on a real store and scheduler with a clock of our own, and what
only crafted keys can show yet: keys with imported material (``Origin: EXTERNAL``) rotating on
demand into their material pending rotation, and multi-Region replicas."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from hsmkms.context import RequestContext
from hsmkms.crypto import RootKey
from hsmkms.errors import ServiceError
from hsmkms.ids import IdSource
from hsmkms.kms import rotation
from hsmkms.kms.authz import AllowAll
from hsmkms.kms.backends import Backends
from hsmkms.kms.backends.local import LocalBackend
from hsmkms.kms.keys import DAY, Keys
from hsmkms.kms.materials import _place as materials_place
from hsmkms.kms.model import Key, KeyMaterial, KeyState, MaterialState, Origin
from hsmkms.kms.usecases.access import KeyAccess
from hsmkms.kms.usecases.crypto import Crypto
from hsmkms.kms.usecases.keys import KeyLifecycle, NewKey
from hsmkms.kms.usecases.rotation import (
    KeyRotation,
    RotationSettings,
    rotation_entry,
    rotation_position,
)
from hsmkms.scheduler import Scheduler
from hsmkms.store.base import Store
from hsmkms.store.codec import Codec, Secret
from hsmkms.store.sqlite import SqliteDatabase

T0 = 1_800_000_000.0
M = MaterialState


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, float, dict[str, Any] | None]] = []

    def record_service_event(self, scope: str, event_name: str, when: float, *,
                             resources: list[str],  # noqa: ARG002
                             additional_event_data: dict[str, Any] | None = None,  # noqa: ARG002
                             response_elements: dict[str, Any] | None = None,  # noqa: ARG002
                             service_event_details: dict[str, Any] | None = None) -> None:
        self.events.append((scope, event_name, when, service_event_details))


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


class World:
    """Keys, the rotation use cases and jobs, a scheduler on :class:`Clock`."""

    def __init__(self, store: Store, limit: int = 25) -> None:
        self.store = store
        self.clock = Clock()
        self.keys = Keys(store)
        local = LocalBackend(IdSource())
        access = KeyAccess(self.keys, Backends({Origin.AWS_KMS: local, Origin.EXTERNAL: local}),
                           AllowAll())
        self.scheduler = Scheduler(store, self.clock)
        self.audit = Recorder()
        self.lifecycle = KeyLifecycle(access, self.scheduler)
        self.rotation = KeyRotation(access, self.scheduler,
                                    RotationSettings(timing="fast", on_demand_limit=limit))
        self.crypto = Crypto(access)
        rotation.Rotations(self.keys, self.scheduler, self.audit, IdSource()).register()

    def ctx(self) -> RequestContext:
        return RequestContext("111122223333", "us-east-1", "request-1", self.clock.now)

    def key(self, **changes: Any) -> Key:
        with self.store.unit_of_work():
            key = self.lifecycle.create(self.ctx(), NewKey())
            if changes:
                key = replace(key, **changes)
                self.keys.save(self.ctx(), key)
        return key

    def get(self, key: Key) -> Key:
        found = self.keys.get(self.ctx().scope, key.key_id)
        assert found is not None
        return found

    def call(self, fn: Any, *args: Any) -> Any:
        with self.store.unit_of_work():
            return fn(self.ctx(), *args)

    def advance(self, seconds: float) -> None:
        self.clock.now += seconds
        assert self.scheduler.run_due() == []

    def materials(self, key: Key) -> list[KeyMaterial]:
        return self.keys.materials.of(self.ctx().scope, key)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    root = RootKey(os.urandom(32))
    db = SqliteDatabase(tmp_path / "hsmkms.db")
    yield Store(db, Codec(root.seal, root.unseal))
    db.close()


@pytest.fixture
def world(store: Store) -> World:
    return World(store)


def _raises(code: str, message: str, fn: Any, *args: Any) -> None:
    with pytest.raises(ServiceError) as exc:
        fn(*args)
    assert (exc.value.code(), exc.value.message) == (code, message)


# -- the schedule -------------------------------------------------------------------------------


def _plain(**changes: Any) -> Key:
    return replace(Key("k", "111122223333", "us-east-1", T0, KeyState.ENABLED), **changes)


def test_next_rotation_is_a_period_after_the_schedules_date() -> None:
    assert rotation.next_rotation(_plain()) is None
    key = rotation.enabled(_plain(), 90, T0 + 0.12345)
    assert (key.rotation_period_days, key.rotation_anchor) == (90, T0 + 0.123)
    assert rotation.next_rotation(key) == T0 + 0.123 + 90 * DAY
    assert rotation.next_rotation(rotation.disabled(key)) is None


def test_a_new_period_keeps_the_schedules_date() -> None:
    key = rotation.enabled(_plain(), 365, T0)
    again = rotation.enabled(key, 180, T0 + 100 * DAY)
    assert again.rotation_anchor == T0
    assert rotation.next_rotation(again) == T0 + 180 * DAY
    # Off, then on again: a new schedule.
    fresh = rotation.enabled(rotation.disabled(again), 90, T0 + 200 * DAY)
    assert fresh.rotation_anchor == T0 + 200 * DAY


def test_job_due_is_the_next_date_or_now_when_that_passed() -> None:
    key = rotation.enabled(_plain(), 90, T0)
    assert rotation.job_due(key, T0 + DAY) == T0 + 90 * DAY
    assert rotation.job_due(key, T0 + 100 * DAY) == T0 + 100 * DAY
    assert rotation.job_due(_plain(), T0) is None


def test_on_demand_conflicts_within_20_minutes_of_an_automatic_rotation() -> None:
    key = rotation.enabled(_plain(), 90, T0)
    due = T0 + 90 * DAY
    assert not rotation.automatic_conflict(key, due - 20 * 60)
    assert rotation.automatic_conflict(key, due - 20 * 60 + 1)
    assert rotation.automatic_conflict(key, due + 5)  # overdue: about to run
    assert not rotation.automatic_conflict(_plain(), T0)


def test_positions_sort_as_the_materials() -> None:
    seqs = [-1, 0, 1, 9, 10, 11, 100]
    made = [KeyMaterial("k", str(s), M.NON_CURRENT, s, T0) for s in seqs]
    assert sorted(made, key=rotation_position) == made


# -- the jobs -----------------------------------------------------------------------------------


def test_three_periods_at_once_make_three_rotations_at_their_dates(world: World) -> None:
    key = world.key()
    world.call(world.rotation.enable, key.key_id, 90)
    world.advance(3 * 90 * DAY + 60)
    done = world.materials(key)
    assert [(m.rotation_type, m.rotation_date, m.state) for m in done] == [
        (None, None, M.NON_CURRENT),
        ("AUTOMATIC", T0 + 90 * DAY, M.NON_CURRENT),
        ("AUTOMATIC", T0 + 180 * DAY, M.NON_CURRENT),
        ("AUTOMATIC", T0 + 270 * DAY, M.CURRENT)]
    assert [(name, when, details) for _scope, name, when, details in world.audit.events] == [
        ("RotateKey", T0 + i * 90 * DAY, {"rotationType": "AUTOMATIC", "keyId": key.key_id,
                                          "keyMaterialId": done[i].material_id})
        for i in (1, 2, 3)]
    assert rotation.next_rotation(world.get(key)) == T0 + 360 * DAY
    assert world.get(key).key_material_id == done[3].material_id


def test_a_disabled_key_misses_its_rotation_and_rotates_when_enabled(world: World) -> None:
    key = world.key()
    world.call(world.rotation.enable, key.key_id, 90)
    world.call(world.lifecycle.disable, key.key_id)
    world.advance(120 * DAY)
    assert len(world.materials(key)) == 1
    world.call(world.lifecycle.enable, key.key_id)
    world.advance(0)
    [_first, done] = world.materials(key)
    assert (done.rotation_type, done.rotation_date) == ("AUTOMATIC", T0 + 120 * DAY)
    assert rotation.next_rotation(world.get(key)) == T0 + 210 * DAY


def test_enabling_an_enabled_key_changes_no_schedule(world: World) -> None:
    key = world.key()
    world.call(world.rotation.enable, key.key_id, 90)
    world.advance(10 * DAY)
    world.call(world.lifecycle.enable, key.key_id)
    world.advance(79 * DAY)
    assert len(world.materials(key)) == 1
    world.advance(DAY)
    assert len(world.materials(key)) == 2


def test_a_stale_job_moves_to_the_schedule(world: World) -> None:
    key = world.key()
    world.call(world.rotation.enable, key.key_id, 90)
    # A job from an older schedule (say, written before a period change) comes due early.
    with world.store.unit_of_work():
        world.scheduler.schedule(rotation.AUTOMATIC_TASK, T0 + DAY,
                                 {"scope": world.ctx().scope, "key": key.key_id})
    world.advance(DAY)
    assert len(world.materials(key)) == 1
    world.advance(89 * DAY)
    assert len(world.materials(key)) == 2  # one rotation: the stale job did not add one


def test_jobs_of_deleted_keys_and_disabled_rotation_do_nothing(world: World) -> None:
    key = world.key()
    world.call(world.rotation.enable, key.key_id, 90)
    world.call(world.rotation.rotate_on_demand, key.key_id)
    with world.store.unit_of_work():
        world.keys.delete_now(world.ctx().scope, world.get(key), world.clock.now)
    world.advance(100 * DAY)
    assert world.audit.events == []


def test_the_on_demand_limit(store: Store) -> None:
    world = World(store, limit=2)
    key = world.key()
    for _ in range(2):
        world.call(world.rotation.rotate_on_demand, key.key_id)
        world.advance(1)
    _raises("LimitExceededException",
            "The on-demand rotations limit has been reached for the given keyId. No more "
            f"on-demand rotations can be performed for this key: {key.arn}",
            world.call, world.rotation.rotate_on_demand, key.key_id)
    assert world.get(key).on_demand_rotations == 2


def test_old_blobs_decrypt_with_their_material(world: World) -> None:
    key = world.key()
    blobs = []
    for _ in range(4):
        current = world.get(key)
        blob = world.call(world.crypto.encrypt, key.key_id, b"secret", None)[1]
        blobs.append((blob, current.key_material_id))
        world.call(world.rotation.rotate_on_demand, key.key_id)
        world.advance(1)
    for blob, material_id in blobs:
        used, plaintext = world.call(world.crypto.decrypt, blob, None, None)
        assert (plaintext, used.key_material_id) == (b"secret", material_id)


# -- keys with imported material (crafted: EXTERNAL keys cannot be created yet) -----------------


def _external(world: World, *, pending: bool, state: KeyState = KeyState.ENABLED) -> Key:
    key = world.key(origin=Origin.EXTERNAL, state=state)
    if pending:
        with world.store.unit_of_work():
            world.keys.materials.put(world.ctx().scope, KeyMaterial(
                key_id=key.key_id, material_id="b" * 64, state=M.PENDING_ROTATION, seq=1,
                created=T0, secret=Secret(os.urandom(32)), import_state="IMPORTED",
                expiration_model="KEY_MATERIAL_EXPIRES", valid_to=T0 + 365 * DAY,
                description="next"))
    return key


def test_imported_material_pending_rotation_becomes_current(world: World) -> None:
    key = _external(world, pending=True)
    started = world.call(world.rotation.rotate_on_demand, key.arn)
    assert started.on_demand_started == T0
    assert world.call(world.rotation.status, key.key_id) == {
        "KeyId": key.arn, "KeyRotationEnabled": False, "OnDemandRotationStartDate": T0}
    world.advance(1)
    assert world.get(key).key_material_id == "b" * 64
    [first, rotated] = world.materials(key)
    assert (first.state, rotated.state, rotated.rotation_type, rotated.rotation_date) == (
        M.NON_CURRENT, M.CURRENT, "ON_DEMAND", T0 + 1)
    assert world.audit.events == [(world.ctx().scope, "RotateKey", T0 + 1, {
        "rotationType": "ON_DEMAND", "keyId": key.key_id, "keyMaterialId": "b" * 64})]
    assert world.call(world.rotation.status, key.key_id) == {
        "KeyId": key.arn, "KeyRotationEnabled": False}
    _key, listed = world.call(world.rotation.rotations, key.key_id, "ROTATIONS_ONLY")
    assert [rotation_entry(key, m) for m in listed] == [{
        "KeyId": key.arn, "KeyMaterialId": "b" * 64, "KeyMaterialDescription": "next",
        "ImportState": "IMPORTED", "KeyMaterialState": M.CURRENT,
        "ExpirationModel": "KEY_MATERIAL_EXPIRES", "ValidTo": T0 + 365 * DAY,
        "RotationDate": T0 + 1, "RotationType": "ON_DEMAND"}]


def test_imported_material_listed_while_pending(world: World) -> None:
    key = _external(world, pending=True)
    _key, listed = world.call(world.rotation.rotations, key.key_id, "ALL_KEY_MATERIAL")
    assert [(m.material_id, m.state) for m in listed] == [
        (key.key_material_id, M.CURRENT), ("b" * 64, M.PENDING_ROTATION)]
    pending = rotation_entry(key, listed[1])
    assert (pending["RotationDate"], pending["RotationType"]) == (None, None)
    _key, listed = world.call(world.rotation.rotations, key.key_id, None)
    assert list(listed) == []


def test_imported_key_without_material_pending_rotation(world: World) -> None:
    key = _external(world, pending=False)
    _raises("KMSInvalidStateException",
            f"No available key material pending rotation for the key: {key.arn}.",
            world.call, world.rotation.rotate_on_demand, key.key_id)
    waiting = _external(world, pending=False, state=KeyState.PENDING_IMPORT)
    _raises("KMSInvalidStateException", f"{waiting.arn} is pending import.",
            world.call, world.rotation.rotate_on_demand, waiting.key_id)


def test_imported_keys_have_no_automatic_rotation(world: World) -> None:
    for state in (KeyState.ENABLED, KeyState.PENDING_IMPORT):
        key = _external(world, pending=False, state=state)
        for operation in (world.rotation.enable, world.rotation.disable):
            args = (key.key_id, 90) if operation == world.rotation.enable else (key.key_id,)
            _raises("UnsupportedOperationException",
                    f"{key.arn} origin is EXTERNAL which is not valid for this operation.",
                    world.call, operation, *args)
        assert world.call(world.rotation.status, key.key_id) == {
            "KeyId": key.arn, "KeyRotationEnabled": False}


def test_imported_asymmetric_keys_refuse_the_status(world: World) -> None:
    key = world.key(origin=Origin.EXTERNAL, key_spec="ECC_NIST_P256", key_usage="SIGN_VERIFY")
    _raises("UnsupportedOperationException",
            f"{key.arn} origin is EXTERNAL which is not valid for this operation.",
            world.call, world.rotation.status, key.key_id)


# -- multi-Region replicas (crafted) ------------------------------------------------------------


def test_a_replica_rotation_is_managed_on_its_primary(world: World) -> None:
    key = world.key(primary_region="us-west-2", rotation_period_days=90, rotation_anchor=T0)
    message = (f"{key.arn} is a multi-Region replica key: manage its rotation on its primary "
               "key in us-west-2.")
    _raises("UnsupportedOperationException", message, world.call, world.rotation.enable,
            key.key_id, 180)
    _raises("UnsupportedOperationException", message, world.call, world.rotation.disable,
            key.key_id)
    _raises("UnsupportedOperationException", message, world.call,
            world.rotation.rotate_on_demand, key.key_id)
    assert world.call(world.rotation.status, key.key_id) == {
        "KeyId": key.arn, "KeyRotationEnabled": True, "RotationPeriodInDays": 90,
        "NextRotationDate": T0 + 90 * DAY}
    world.call(world.lifecycle.disable, key.key_id)
    world.call(world.lifecycle.enable, key.key_id)  # the primary's job rotates a replica
    world.advance(100 * DAY)
    assert len(world.materials(key)) == 1


# -- the listing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("rotations", "pending"), [(0, False), (0, True), (1, False),
                                                    (5, True), (30, False)])
def test_the_listing_is_the_materials_in_order(store: Store, rotations: int,
                                               pending: bool) -> None:  # noqa: FBT001
    world = World(store, limit=100)
    others = [world.key() for _ in range(3)]  # their materials share the index
    key = world.key()
    for other in others:
        world.call(world.rotation.rotate_on_demand, other.key_id)
    for _ in range(rotations):
        world.call(world.rotation.rotate_on_demand, key.key_id)
        world.advance(1)
    key = world.get(key)
    scope = world.ctx().scope
    if pending:  # imported, waiting to be rotated in (crafted)
        with world.store.unit_of_work():
            world.keys.materials.put(scope, KeyMaterial(
                key_id=key.key_id, material_id="c" * 64, state=M.PENDING_ROTATION,
                seq=max(m.seq for m in world.materials(key)) + 1, created=T0,
                secret=Secret(os.urandom(32)), import_state="IMPORTED"))
    listing = world.keys.materials.listing(scope, key)
    assert list(listing) == world.materials(key)
    assert [m.seq for m in listing] == sorted(m.seq for m in listing)
    assert list(listing.trimmed()) == [m for m in world.materials(key)
                                       if m.rotation_date is not None]
    assert listing[-1] == world.materials(key)[-1]
    assert listing[1:3] == world.materials(key)[1:3]
    with pytest.raises(IndexError):
        listing[len(listing)]


def test_a_page_reads_the_page(store: Store) -> None:
    world = World(store, limit=100)
    key = world.key()
    for _ in range(40):
        world.call(world.rotation.rotate_on_demand, key.key_id)
        world.advance(1)
    rows = world.keys.materials.rows.ordered(world.ctx().scope, materials_place)
    reads = rows.reads  # type: ignore[attr-defined]
    listing = world.keys.materials.listing(world.ctx().scope, world.get(key))
    page = listing.trimmed()[10:12]
    assert [m.rotation_type for m in page] == ["ON_DEMAND", "ON_DEMAND"]
    # The bisects and the page: far fewer than the key's 41 materials.
    assert rows.reads - reads < 41  # type: ignore[attr-defined]
