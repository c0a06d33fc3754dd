"""hsmkms.kms.keystores: the kmsuser session token is sealed at rest, and a store written by
earlier versions (the token in clear, ``session_id``) still loads and is sealed when written."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

from hsmkms.crypto import RootKey
from hsmkms.kms import keystores
from hsmkms.kms.keystores import ConnectionState, CustomKeyStore, StoreEvent, Stores
from hsmkms.store.base import Store
from hsmkms.store.codec import Codec, Secret
from hsmkms.store.sqlite import SqliteDatabase

TOKEN = "111122223333/us-east-1|0123456789abcdef"  # noqa: S105 - test value


def _codec() -> Codec:
    root = RootKey(os.urandom(32))
    return Codec(root.seal, root.unseal)


def _store(**changes: object) -> CustomKeyStore:
    password = Secret(b"kmsPassword1")
    store = CustomKeyStore("cks-1234567890abcdef0", "ExampleKeyStore", "cluster-234567abcdefg",
                           "anchor", 0.0, password, password)
    return keystores.move(store, StoreEvent.CONNECT, **changes)


def test_the_session_token_is_not_written_in_clear() -> None:
    codec = _codec()
    store = keystores.move(_store(), StoreEvent.CONNECTED, session=Secret(TOKEN.encode()))
    doc = codec.dump(store)
    assert TOKEN not in json.dumps(doc)
    assert doc["session_id"] is None
    loaded = codec.load(CustomKeyStore, doc)
    assert loaded.session_token == TOKEN
    assert loaded.state is ConnectionState.CONNECTED


def test_a_legacy_document_with_the_token_in_clear_still_loads() -> None:
    codec = _codec()
    doc = codec.dump(keystores.move(_store(), StoreEvent.CONNECTED))
    del doc["session"]  # written before the field existed
    doc["session_id"] = TOKEN
    legacy = codec.load(CustomKeyStore, doc)
    assert legacy.session_token == TOKEN
    resealed = keystores.sealed(legacy)
    assert resealed.session_id is None
    assert resealed.session_token == TOKEN
    assert TOKEN not in json.dumps(codec.dump(resealed))


def test_every_move_seals_a_legacy_token_and_disconnecting_drops_it() -> None:
    legacy = keystores.move(_store(), StoreEvent.CONNECTED)
    legacy = replace(legacy, session_id=TOKEN)
    moving = keystores.move(legacy, StoreEvent.DISCONNECT)
    assert (moving.session_id, moving.session_token) == (None, TOKEN)
    gone = keystores.move(moving, StoreEvent.DISCONNECTED, session=None)
    assert gone.session_token == ""


def test_a_data_dir_with_clear_tokens_is_sealed_at_start(tmp_path: Path) -> None:
    root = RootKey(os.urandom(32))
    db_path = tmp_path / "hsmkms.db"
    legacy = replace(keystores.move(_store(), StoreEvent.CONNECTED), session_id=TOKEN)
    first = SqliteDatabase(db_path)
    raw = json.dumps(Codec(root.seal, root.unseal).dump(legacy))
    first.write([(keystores.STORES, "111122223333/us-east-1", legacy.store_id, raw)], [])
    first.close()
    db = SqliteDatabase(db_path)
    stores = Stores(Store(db, Codec(root.seal, root.unseal)))
    [(body,)] = db.execute("SELECT body FROM documents WHERE kind = ?", (keystores.STORES,))
    assert TOKEN not in body
    found = stores.get("111122223333/us-east-1", legacy.store_id)
    assert found is not None
    assert found.session_token == TOKEN
    db.close()
