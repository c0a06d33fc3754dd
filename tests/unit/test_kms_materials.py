"""Key materials of symmetric keys (spec kms-keys.md 3.2) on a real store: rotation appends a
CURRENT material, blobs under every earlier material keep decrypting with the material that made
them, and Decrypt names that material."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from hsmkms import crypto
from hsmkms.context import RequestContext
from hsmkms.crypto import RootKey
from hsmkms.ids import IdSource
from hsmkms.kms.authz import AllowAll
from hsmkms.kms.backends import Backends
from hsmkms.kms.backends.local import LocalBackend
from hsmkms.kms.errors import InvalidCiphertextException
from hsmkms.kms.keys import Keys
from hsmkms.kms.materials import IllegalMaterialTransition, moved
from hsmkms.kms.model import KeyMaterial, MaterialState, Origin
from hsmkms.kms.usecases.access import KeyAccess
from hsmkms.kms.usecases.crypto import Crypto
from hsmkms.kms.usecases.keys import KeyLifecycle, NewKey
from hsmkms.scheduler import Scheduler
from hsmkms.store.base import Store
from hsmkms.store.codec import Codec
from hsmkms.store.sqlite import SqliteDatabase

M = MaterialState


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    root = RootKey(os.urandom(32))
    db = SqliteDatabase(tmp_path / "hsmkms.db")
    yield Store(db, Codec(root.seal, root.unseal))
    db.close()


def _ctx(now: float = 1000.0) -> RequestContext:
    return RequestContext("111122223333", "us-east-1", "request-1", now)


def _parts(store: Store) -> tuple[Keys, Crypto, KeyLifecycle]:
    keys = Keys(store)
    access = KeyAccess(keys, Backends({Origin.AWS_KMS: LocalBackend(IdSource())}), AllowAll())
    return keys, Crypto(access), KeyLifecycle(access, Scheduler(store, lambda: 0.0))


def _rotate(store: Store, keys: Keys, key_id: str, when: float) -> str:
    ctx = _ctx(when)
    material_id = os.urandom(32).hex()
    with store.unit_of_work():
        key = keys.get(ctx.scope, key_id)
        assert key is not None
        keys.save(ctx, keys.materials.rotate(ctx.scope, key, material_id=material_id,
                                             secret=crypto.new_aes_key(), when=when,
                                             rotation_type="ON_DEMAND"))
    return material_id


def test_a_new_key_has_one_implicit_current_material(store: Store) -> None:
    keys, _crypto, lifecycle = _parts(store)
    with store.unit_of_work():
        key = lifecycle.create(_ctx(), NewKey())
    [only] = keys.materials.of(_ctx().scope, key)
    assert (only.material_id, only.state, only.seq, only.created, only.rotation_type) == (
        key.key_material_id, M.CURRENT, 0, 1000.0, None)
    assert keys.materials.rows.values(_ctx().scope) == []  # nothing written until a rotation


def test_every_earlier_material_keeps_decrypting_with_its_own_id(store: Store) -> None:
    keys, crypt, lifecycle = _parts(store)
    ctx = _ctx()
    with store.unit_of_work():
        key = lifecycle.create(ctx, NewKey())
    blobs = []
    for n in range(4):
        with store.unit_of_work():
            current = keys.get(ctx.scope, key.key_id)
            assert current is not None
            blobs.append((crypt.encrypt(ctx, key.key_id, b"m%d" % n, None)[1],
                          current.key_material_id))
        _rotate(store, keys, key.key_id, 2000.0 + n)
    for n, (blob, material_id) in enumerate(blobs):
        used, plaintext = crypt.decrypt(ctx, blob, None, None)
        assert (plaintext, used.key_material_id) == (b"m%d" % n, material_id)
    history = keys.materials.of(ctx.scope, key)
    assert [m.state for m in history] == [M.NON_CURRENT] * 4 + [M.CURRENT]
    assert [m.rotation_type for m in history] == [None] + ["ON_DEMAND"] * 4
    latest = keys.get(ctx.scope, key.key_id)
    assert latest is not None
    assert latest.key_material_id == history[-1].material_id


def test_a_blob_naming_another_keys_material_does_not_decrypt(store: Store) -> None:
    _keys, crypt, lifecycle = _parts(store)
    ctx = _ctx()
    with store.unit_of_work():
        key = lifecycle.create(ctx, NewKey())
        blob = crypt.encrypt(ctx, key.key_id, b"x", None)[1]
    forged = blob[:18] + os.urandom(32) + blob[50:]
    with pytest.raises(InvalidCiphertextException):
        crypt.decrypt(ctx, forged, None, None)


def test_a_version_1_blob_decrypts_with_the_first_material_after_rotation(store: Store) -> None:
    keys, crypt, lifecycle = _parts(store)
    ctx = _ctx()
    with store.unit_of_work():
        key = lifecycle.create(ctx, NewKey())
    assert key.material is not None
    # A version 1 blob, as hsmkms wrote them before format 2 (crypto.py's docstring).
    header = bytes([1]) + bytes.fromhex(key.key_id.replace("-", ""))
    nonce = os.urandom(12)
    blob = header + nonce + crypto.gcm_encrypt(bytes(key.material), nonce, b"old", header)
    _rotate(store, keys, key.key_id, 3000.0)
    used, plaintext = crypt.decrypt(ctx, blob, None, None)
    assert (plaintext, used.key_material_id) == (b"old", key.key_material_id)


def test_a_pending_material_is_promoted_by_a_rotation(store: Store) -> None:
    keys, crypt, lifecycle = _parts(store)
    ctx = _ctx()
    with store.unit_of_work():
        key = lifecycle.create(ctx, NewKey())
        pending = KeyMaterial(key_id=key.key_id, material_id="ab" * 32,
                              state=M.PENDING_ROTATION, seq=1, created=1500.0,
                              secret=None, import_state="IMPORTED")
        keys.materials.put(ctx.scope, replace(pending, secret=crypto.new_aes_key()))  # type: ignore[arg-type]
    assert keys.materials.pending(ctx.scope, key) is not None
    with store.unit_of_work():
        promoted = keys.materials.promote(ctx.scope, key, "ab" * 32, when=4000.0,
                                          rotation_type="ON_DEMAND")
        keys.save(ctx, promoted)
    states = [(m.material_id, m.state) for m in keys.materials.of(ctx.scope, key)]
    assert states == [(key.key_material_id, M.NON_CURRENT), ("ab" * 32, M.CURRENT)]
    assert keys.materials.pending(ctx.scope, key) is None
    blob = crypt.encrypt(ctx, key.key_id, b"y", None)[1]
    assert crypto.parse_header(blob).material_id == "ab" * 32


def test_illegal_material_transitions_raise() -> None:
    first = KeyMaterial(key_id="k", material_id="00" * 32, state=M.NON_CURRENT, seq=0,
                        created=0.0)
    with pytest.raises(IllegalMaterialTransition):
        moved(first, "rotate-in")


def test_deleting_a_key_deletes_its_materials(store: Store) -> None:
    keys, _crypt, lifecycle = _parts(store)
    ctx = _ctx()
    with store.unit_of_work():
        key = lifecycle.create(ctx, NewKey())
    _rotate(store, keys, key.key_id, 2000.0)
    assert len(keys.materials.rows.values(ctx.scope)) == 2
    latest = keys.get(ctx.scope, key.key_id)
    assert latest is not None
    with store.unit_of_work():
        keys.delete_now(ctx.scope, latest, 5000.0)
    assert keys.materials.rows.values(ctx.scope) == []
