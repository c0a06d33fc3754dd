"""hsmkms.store: repositories, units of work (atomic, nested like savepoints), the codec,
sealed secrets, the root-key check, migrations.

The store's contract runs on both dialects (``backend``: SQLite in a temporary dir, PostgreSQL in
a new schema of the run's database); what only one dialect has (SQLite's WAL, its files) is
tested on that one."""

from __future__ import annotations

import enum
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from hsmkms.crypto import RootKey
from hsmkms.store.base import Database, SecretsUnreadable, Store
from hsmkms.store.codec import Codec, Secret
from hsmkms.store.migrate import migrations, statements
from hsmkms.store.postgres import PostgresDatabase
from hsmkms.store.sqlite import SqliteDatabase


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


class Backend:
    """One dialect's storage for a test: :meth:`open` opens it (again) as a new process would."""

    def __init__(self, dialect: str, path: Path, url: str = "") -> None:
        self.dialect = dialect
        self.path = path
        self.url = url
        self.opened: list[Database] = []

    def database(self) -> Database:
        db: Database = (SqliteDatabase(self.path / "hsmkms.db") if self.dialect == "sqlite"
                        else PostgresDatabase(self.url))
        self.opened.append(db)
        return db

    def open(self, root: RootKey = ROOT) -> tuple[Database, Store]:
        db = self.database()
        return db, Store(db, Codec(root.seal, root.unseal))

    def close_all(self) -> None:
        for db in self.opened:
            db.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    url = request.getfixturevalue("postgres_schema") if request.param == "postgresql" else ""
    found = Backend(request.param, tmp_path, url)
    yield found
    found.close_all()


def open_store(path: Path, root: RootKey = ROOT) -> tuple[SqliteDatabase, Store]:
    db = SqliteDatabase(path / "hsmkms.db")
    return db, Store(db, Codec(root.seal, root.unseal))


@pytest.fixture
def store(backend: Backend) -> Store:
    return backend.open()[1]


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


def test_write_through_and_reload(backend: Backend) -> None:
    db, store = backend.open()
    repo = store.repository("thing", Thing)
    with store.unit_of_work():
        repo.put("acct/r", "t1", FULL)
        repo.put("acct/r", "t2", Thing("t2"))
        repo.put("", "g", Thing("g"))
    db.close()
    db, store = backend.open()
    repo = store.repository("thing", Thing)
    assert repo.get("acct/r", "t1") == FULL
    assert [i for i, _ in repo.items("acct/r")] == ["t1", "t2"]
    assert repo.scopes() == ["", "acct/r"]
    assert repo.get("acct/r", "missing") is None
    assert repo.get("other/r", "t1") is None
    body = db.execute("SELECT body FROM documents WHERE id = 't1'")[0][0]
    assert "kkkk" not in str(body)
    assert json.loads(str(body))["labels"] == {"x": "y"}


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


def test_outside_a_unit_of_work_writes_commit_at_once(backend: Backend) -> None:
    db, store = backend.open()
    repo = store.repository("thing", Thing)
    repo.put("s", "a", Thing("a"))
    assert db.execute("SELECT count(*) FROM documents WHERE kind = ?", ("thing",))[0][0] == 1
    repo.delete("s", "a")
    assert repo.get("s", "a") is None
    assert db.execute("SELECT count(*) FROM documents WHERE kind = 'thing'")[0][0] == 0


def test_a_failed_write_writes_nothing(backend: Backend) -> None:
    """The puts and deletes of one write land together or not at all (here the second put
    breaks a constraint: a document must have a body)."""
    db = backend.database()
    db.write([("thing", "s", "old", "{}")], [])
    bad: list[tuple[str, str, str, str]] = [("thing", "s", "x", "{}"),
                                            ("thing", "s", "y", None)]  # type: ignore[list-item]
    with pytest.raises(Exception, match=r"(?i)null"):
        db.write(bad, [("thing", "s", "old")])
    assert db.execute("SELECT id FROM documents WHERE kind = 'thing'") == [("old",)]


def test_update_keeps_creation_order(backend: Backend) -> None:
    db, store = backend.open()
    repo = store.repository("thing", Thing)
    for name in ("c", "a", "b"):
        repo.put("s", name, Thing(name))
    repo.put("s", "c", replace(repo.get("s", "c"), count=9))  # type: ignore[arg-type]
    assert [i for i, _ in repo.items("s")] == ["c", "a", "b"]
    db.close()
    _db, again = backend.open()  # the order a new process loads them in
    reloaded = again.repository("thing", Thing)
    assert [i for i, _ in reloaded.items("s")] == ["c", "a", "b"]
    assert reloaded.get("s", "c") == Thing("c", count=9)


def test_same_repository_object(store: Store) -> None:
    assert store.repository("thing", Thing) is store.repository("thing", Thing)


def test_wrong_root_key_is_refused_before_anything(backend: Backend) -> None:
    db, store = backend.open()
    store.repository("thing", Thing).put("s", "a", FULL)
    db.close()
    other = RootKey(bytes(32))
    with pytest.raises(SecretsUnreadable, match="root key does not match"):
        backend.open(other)
    db, store = backend.open()
    assert store.repository("thing", Thing).get("s", "a") == FULL
    # The marker was never rewritten with the wrong key's.
    (marker,), = db.execute("SELECT value FROM meta WHERE key = 'root_key_check'")
    assert ROOT.unseal(str(marker)) == b"hsmkms root key check v1"


def test_nodes_starting_at_once_with_different_root_keys(backend: Backend) -> None:
    """On a new database, of several nodes starting at once with different root keys, the
    first to seal the marker wins and every other is refused (none overwrites it)."""
    keys = [RootKey(bytes([n]) * 32) for n in range(4)]
    databases = [backend.database() for _ in keys]
    start = threading.Barrier(len(keys))
    outcomes: list[str] = []

    def node(db: Database, key: RootKey) -> None:
        start.wait()
        try:
            Store(db, Codec(key.seal, key.unseal))
        except SecretsUnreadable:
            outcomes.append("refused")
        else:
            outcomes.append("opened")

    threads = [threading.Thread(target=node, args=pair) for pair in zip(databases, keys,
                                                                        strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["opened", "refused", "refused", "refused"]


def test_migrations_apply_once(backend: Backend) -> None:
    db = backend.database()
    applied = db.execute("SELECT version, applied_at FROM schema_migrations ORDER BY 1")
    assert [v for v, _ in applied] == [v for v, _ in migrations(backend.dialect)]
    assert [v for v, _ in applied] == list(range(1, len(applied) + 1))  # one history: 1, 2, ...
    db.close()
    db = backend.database()  # reopening applies nothing twice
    assert db.execute("SELECT version, applied_at FROM schema_migrations ORDER BY 1") == applied


def test_nodes_starting_at_once_migrate_once(backend: Backend) -> None:
    """Several nodes opening a new database at the same moment: one creates the schema, the
    others wait for it and find nothing left to do (none fails, nothing is applied twice)."""
    start = threading.Barrier(4)
    opened: list[Database] = []
    errors: list[BaseException] = []

    def node() -> None:
        start.wait()
        try:
            opened.append(backend.database())
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=node) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    versions = opened[0].execute("SELECT version FROM schema_migrations ORDER BY 1")
    assert [v for (v,) in versions] == [v for v, _ in migrations(backend.dialect)]


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    db = SqliteDatabase(tmp_path / "m.db")
    assert db.execute("PRAGMA journal_mode")[0][0] == "wal"
    db.close()


def test_statement_splitting() -> None:
    sql = ("-- a comment; with a semicolon\nCREATE TABLE a (x TEXT DEFAULT ';');\n"
           "/* block; comment */ CREATE INDEX i ON a (x);\n-- trailing comment\n")
    assert statements(sql) == [
        "-- a comment; with a semicolon\nCREATE TABLE a (x TEXT DEFAULT ';');",
        "/* block; comment */ CREATE INDEX i ON a (x);"]
    assert statements("CREATE TABLE b (y)") == ["CREATE TABLE b (y)"]


def test_meta(backend: Backend) -> None:
    db = backend.database()
    assert db.get_meta("nope") is None
    db.set_meta("k", "1")
    db.set_meta("k", "2")
    assert db.get_meta("k") == "2"
    assert db.init_meta("k", "3") == "2"  # set already: kept
    assert db.init_meta("new", "4") == "4"
    db.set_meta("text", "it's 100% 'quoted' ?")
    assert db.get_meta("text") == "it's 100% 'quoted' ?"


def test_raw_sql_placeholders(backend: Backend) -> None:
    """``execute``/``executemany`` take ``?`` placeholders on every dialect; a ``?`` or ``%``
    inside a string literal is the SQL's own."""
    db = backend.database()
    db.executemany(("INSERT INTO meta (key, value) VALUES (?, ?)", [("a", "1"), ("b", "2")]),
                   ("INSERT INTO meta (key, value) VALUES (?, '50%?')", [("c",)]))
    rows = db.execute("SELECT key, value FROM meta WHERE key IN (?, ?, ?) OR value LIKE '%?' "
                      "ORDER BY key", ("a", "b", "zz"))
    assert rows == [("a", "1"), ("b", "2"), ("c", "50%?")]
    assert db.execute("SELECT key FROM meta WHERE value LIKE '50%'") == [("c",)]
    assert db.execute("DELETE FROM meta WHERE key = ?", ("c",)) == []


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


def test_a_data_dir_of_an_earlier_release_is_upgraded(tmp_path: Path) -> None:
    """A SQLite data dir written by an earlier release (migrations 1-3, saved at 3b96092) gets
    the later migrations at start-up and loads every document, in its creation order."""
    import shutil  # noqa: PLC0415
    import sqlite3  # noqa: PLC0415

    shutil.copyfile(Path(__file__).parent / "fixtures" / "legacy_hsm_contents" / "hsmkms.db",
                    tmp_path / "hsmkms.db")
    with sqlite3.connect(tmp_path / "hsmkms.db") as conn:
        before = conn.execute("SELECT version FROM schema_migrations ORDER BY 1").fetchall()
        rows = conn.execute("SELECT kind, scope, id, body FROM documents ORDER BY rowid").fetchall()
    conn.close()
    assert [v for (v,) in before] == [1, 2, 3]
    db = SqliteDatabase(tmp_path / "hsmkms.db")
    try:
        after = db.execute("SELECT version FROM schema_migrations ORDER BY 1")
        assert [v for (v,) in after] == [v for v, _ in migrations("sqlite")]
        kinds = dict.fromkeys(kind for kind, _s, _i, _b in rows)
        assert len(kinds) > 3
        for kind in kinds:
            assert list(db.load(kind)) == [(s, i, b) for k, s, i, b in rows if k == kind]
    finally:
        db.close()
