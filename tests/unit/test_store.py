"""hsmkms.store: repositories, units of work (atomic, nested like savepoints), the codec,
sealed secrets, the root-key check, migrations."""

from __future__ import annotations

import enum
import json
import sqlite3
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from hsmkms.crypto import RootKey
from hsmkms.store.base import SecretsUnreadable, Store
from hsmkms.store.codec import Codec, Secret
from hsmkms.store.sqlite import SqliteDatabase, migrations, statements


class Colour(enum.StrEnum):
    RED = "red"
    BLUE = "blue"


@dataclass(frozen=True)
class Inner:
    name: str
    weight: float = 0.0


@dataclass(frozen=True)
class Thing:
    ident: str
    count: int = 0
    ratio: float = 0.5
    flag: bool = False
    data: bytes = b""
    secret: Secret | None = None
    colour: Colour = Colour.RED
    inner: Inner | None = None
    items: tuple[Inner, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    maybe: int | None = None


ROOT = RootKey(bytes(range(32)))


def open_store(path: Path, root: RootKey = ROOT) -> tuple[SqliteDatabase, Store]:
    db = SqliteDatabase(path / "hsmkms.db")
    return db, Store(db, Codec(root.seal, root.unseal))


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return open_store(tmp_path)[1]


FULL = Thing("t1", count=3, ratio=1.0, flag=True, data=b"\x00\xff", secret=Secret(b"k" * 32),
             colour=Colour.BLUE, inner=Inner("i", 2), items=(Inner("a"), Inner("b", 1.5)),
             labels={"x": "y"}, maybe=None)


def test_codec_round_trip() -> None:
    codec = Codec(ROOT.seal, ROOT.unseal)
    doc = codec.dump(FULL)
    json.dumps(doc)  # plain JSON
    assert doc["data"] == "AP8="
    assert doc["colour"] == "blue"
    assert doc["secret"] != "k" * 32
    assert "kkkk" not in json.dumps(doc)
    loaded = codec.load(Thing, json.loads(json.dumps(doc)))
    assert loaded == FULL
    assert isinstance(loaded.secret, Secret)
    assert isinstance(loaded.ratio, float)
    assert isinstance(loaded.items, tuple)
    assert repr(loaded.secret) == "Secret(<32 bytes>)"
    # Fields missing from an older document take their defaults.
    assert codec.load(Thing, {"ident": "old"}) == Thing("old")


def test_write_through_and_reload(tmp_path: Path) -> None:
    db, store = open_store(tmp_path)
    repo = store.repository("thing", Thing)
    with store.unit_of_work():
        repo.put("acct/r", "t1", FULL)
        repo.put("acct/r", "t2", Thing("t2"))
        repo.put("", "g", Thing("g"))
    db.close()
    db, store = open_store(tmp_path)
    repo = store.repository("thing", Thing)
    assert repo.get("acct/r", "t1") == FULL
    assert [i for i, _ in repo.items("acct/r")] == ["t1", "t2"]
    assert repo.scopes() == ["", "acct/r"]
    assert repo.get("acct/r", "missing") is None
    assert repo.get("other/r", "t1") is None
    body = db.execute("SELECT body FROM documents WHERE id = 't1'")[0][0]
    assert "kkkk" not in str(body)
    db.close()


def test_failed_unit_of_work_changes_nothing(store: Store) -> None:
    repo = store.repository("thing", Thing)
    with store.unit_of_work():
        repo.put("s", "a", Thing("a", count=1))
    with pytest.raises(RuntimeError), store.unit_of_work():
        repo.put("s", "a", Thing("a", count=2))
        repo.put("s", "b", Thing("b"))
        repo.delete("s", "a")
        assert repo.get("s", "a") is None  # reads see staged writes
        assert [i for i, _ in repo.items("s")] == ["b"]
        raise RuntimeError
    assert repo.get("s", "a") == Thing("a", count=1)
    assert repo.get("s", "b") is None
    assert repo.values("s") == [Thing("a", count=1)]


def test_nested_unit_of_work_is_a_savepoint(store: Store) -> None:
    repo = store.repository("thing", Thing)
    with store.unit_of_work():
        repo.put("s", "outer", Thing("outer"))
        with pytest.raises(ValueError), store.unit_of_work():
            repo.put("s", "inner", Thing("inner"))
            raise ValueError
        assert repo.get("s", "inner") is None
        assert repo.get("s", "outer") == Thing("outer")
        with store.unit_of_work():
            repo.put("s", "inner2", Thing("inner2"))
    assert [i for i, _ in repo.items("s")] == ["outer", "inner2"]


def test_outside_a_unit_of_work_writes_commit_at_once(tmp_path: Path) -> None:
    db, store = open_store(tmp_path)
    repo = store.repository("thing", Thing)
    repo.put("s", "a", Thing("a"))
    assert db.execute("SELECT count(*) FROM documents WHERE kind = 'thing'")[0][0] == 1
    repo.delete("s", "a")
    assert repo.get("s", "a") is None
    assert db.execute("SELECT count(*) FROM documents WHERE kind = 'thing'")[0][0] == 0
    db.close()


def test_update_keeps_creation_order(store: Store) -> None:
    repo = store.repository("thing", Thing)
    for name in ("a", "b", "c"):
        repo.put("s", name, Thing(name))
    repo.put("s", "a", replace(repo.get("s", "a"), count=9))  # type: ignore[arg-type]
    assert [i for i, _ in repo.items("s")] == ["a", "b", "c"]


def test_same_repository_object(store: Store) -> None:
    assert store.repository("thing", Thing) is store.repository("thing", Thing)


def test_wrong_root_key_is_refused_before_anything(tmp_path: Path) -> None:
    db, store = open_store(tmp_path)
    store.repository("thing", Thing).put("s", "a", FULL)
    db.close()
    before = (tmp_path / "hsmkms.db").read_bytes()
    db2 = SqliteDatabase(tmp_path / "hsmkms.db")
    other = RootKey(bytes(32))
    with pytest.raises(SecretsUnreadable, match="root key does not match"):
        Store(db2, Codec(other.seal, other.unseal))
    db2.close()
    db, store = open_store(tmp_path)
    assert store.repository("thing", Thing).get("s", "a") == FULL
    db.close()
    assert before  # the file was never rewritten with the wrong key's marker
    conn = sqlite3.connect(tmp_path / "hsmkms.db")
    (marker,) = conn.execute("SELECT value FROM meta WHERE key = 'root_key_check'").fetchone()
    conn.close()
    assert ROOT.unseal(marker) == b"hsmkms root key check v1"


def test_migrations_apply_once(tmp_path: Path) -> None:
    db = SqliteDatabase(tmp_path / "m.db")
    versions = [v for (v,) in db.execute("SELECT version FROM schema_migrations ORDER BY 1")]
    assert versions == [v for v, _ in migrations()]
    db.close()
    db = SqliteDatabase(tmp_path / "m.db")  # reopening applies nothing twice
    assert [v for (v,) in db.execute("SELECT version FROM schema_migrations ORDER BY 1")] == \
        versions
    assert db.execute("PRAGMA journal_mode")[0][0] == "wal"
    db.close()


def test_statement_splitting() -> None:
    sql = ("-- a comment; with a semicolon\nCREATE TABLE a (x TEXT DEFAULT ';');\n"
           "/* block; comment */ CREATE INDEX i ON a (x);\n-- trailing comment\n")
    assert statements(sql) == [
        "-- a comment; with a semicolon\nCREATE TABLE a (x TEXT DEFAULT ';');",
        "/* block; comment */ CREATE INDEX i ON a (x);"]
    assert statements("CREATE TABLE b (y)") == ["CREATE TABLE b (y)"]


def test_meta(tmp_path: Path) -> None:
    db = SqliteDatabase(tmp_path / "m.db")
    assert db.get_meta("nope") is None
    db.set_meta("k", "1")
    db.set_meta("k", "2")
    assert db.get_meta("k") == "2"
    db.close()


def test_the_wal_shrinks_back_after_a_burst_once_writes_pause(tmp_path: Path) -> None:
    """A burst of writes grows the WAL past WAL_LIMIT_BYTES; once writes pause the checkpointer
    truncates it (a passive checkpoint alone would leave the file at its largest)."""
    from hsmkms.store import sqlite as dialect  # noqa: PLC0415 - the limits under test

    db, store = open_store(tmp_path)
    wal = tmp_path / "hsmkms.db-wal"
    things = store.repository("thing", Thing)
    blob = bytes(range(256)) * 64  # 16 KiB a document
    try:
        for i in range(2 * dialect.WAL_LIMIT_BYTES // len(blob) // 8):
            with store.unit_of_work():
                for j in range(8):
                    things.put("", f"t{i}-{j}", Thing(f"t{i}-{j}", data=blob))
        peak = wal.stat().st_size
        assert peak > dialect.WAL_LIMIT_BYTES
        deadline = time.monotonic() + 10 * dialect.CHECKPOINT_SECONDS + 10
        while wal.exists() and wal.stat().st_size > dialect.WAL_LIMIT_BYTES:
            assert time.monotonic() < deadline, f"WAL still {wal.stat().st_size} bytes"
            time.sleep(0.1)
        # Nothing was lost: everything is still there after a reopen.
        assert len(things.values("")) == 2 * dialect.WAL_LIMIT_BYTES // len(blob) // 8 * 8
    finally:
        db.close()
    _db2, again = open_store(tmp_path)
    assert again.repository("thing", Thing).count("") == len(things.values(""))
    _db2.close()
