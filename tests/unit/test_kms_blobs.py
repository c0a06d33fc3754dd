"""Decrypt through the KMS use cases of blobs in both formats: version 1 blobs (written by
hsmkms before format 2) keep decrypting with the key's material; a version 2 blob naming
another key material, or a multi-Region id no key has, is InvalidCiphertextException."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hsmkms import crypto
from hsmkms.context import RequestContext
from hsmkms.crypto import RootKey
from hsmkms.ids import IdSource
from hsmkms.kms.authz import AllowAll
from hsmkms.kms.backends import Backends
from hsmkms.kms.backends.local import LocalBackend
from hsmkms.kms.errors import InvalidCiphertextException
from hsmkms.kms.keys import Keys
from hsmkms.kms.model import Key, Origin
from hsmkms.kms.usecases.access import KeyAccess
from hsmkms.kms.usecases.crypto import Crypto
from hsmkms.kms.usecases.keys import KeyLifecycle, NewKey
from hsmkms.scheduler import Scheduler
from hsmkms.store.base import Store
from hsmkms.store.codec import Codec
from hsmkms.store.sqlite import SqliteDatabase

CTX = RequestContext("111122223333", "us-east-1", "request-1", 1000.0)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    root = RootKey(os.urandom(32))
    db = SqliteDatabase(tmp_path / "hsmkms.db")
    yield Store(db, Codec(root.seal, root.unseal))
    db.close()


def _setup(store: Store) -> tuple[Crypto, Key]:
    access = KeyAccess(Keys(store), Backends({Origin.AWS_KMS: LocalBackend(IdSource())}),
                       AllowAll())
    key = KeyLifecycle(access, Scheduler(store, lambda: 1000.0, IdSource())).create(
        CTX, NewKey())
    return Crypto(access), key


def _v1_blob(key: Key, plaintext: bytes, context: dict[str, str] | None) -> bytes:
    """A blob as hsmkms wrote it before format 2 (crypto.py's docstring, version 1)."""
    assert key.material is not None
    header = b"\x01" + uuid.UUID(key.key_id).bytes
    nonce = os.urandom(12)
    return header + nonce + AESGCM(bytes(key.material)).encrypt(
        nonce, plaintext, header + crypto.encode_context(context))


def test_version_1_blobs_keep_decrypting(store: Store) -> None:
    with store.unit_of_work():
        crypto_uc, key = _setup(store)
        blob = _v1_blob(key, b"old data", {"app": "x"})
        found, plaintext = crypto_uc.decrypt(CTX, blob, {"app": "x"}, None)
        assert (found.key_id, plaintext) == (key.key_id, b"old data")
        assert crypto_uc.decrypt(CTX, blob, {"app": "x"}, key.key_id)[1] == b"old data"
        with pytest.raises(InvalidCiphertextException):
            crypto_uc.decrypt(CTX, blob, {"app": "y"}, None)


def test_version_2_blobs_name_the_key_material(store: Store) -> None:
    with store.unit_of_work():
        crypto_uc, key = _setup(store)
        _, blob = crypto_uc.encrypt(CTX, key.key_id, b"new data", None)
        header = crypto.parse_header(blob)
        assert (header.version, header.key_id, header.material_id) == (
            2, key.key_id, key.key_material_id)
        assert crypto_uc.decrypt(CTX, blob, None, None)[1] == b"new data"
        assert key.material is not None
        other_material = crypto.KeyCipher(bytes(key.material)).encrypt(
            key.key_id, b"new data", None, material_id="ab" * 32)
        with pytest.raises(InvalidCiphertextException):
            crypto_uc.decrypt(CTX, other_material, None, None)


def test_a_multi_region_id_no_key_has(store: Store) -> None:
    with store.unit_of_work():
        crypto_uc, _key = _setup(store)
        blob = crypto.KeyCipher(bytes(32)).encrypt("mrk-" + "1" * 32, b"x", None)
        assert crypto.parse_header(blob).key_id == "mrk-" + "1" * 32
        with pytest.raises(InvalidCiphertextException):
            crypto_uc.decrypt(CTX, blob, None, None)
