"""What differs between the dialects, and the SQL other packages run through
``Database.execute`` (the trail's event log) giving the same answers on both."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hsmkms.store.base import Database
from hsmkms.store.databases import describe, open_database, redacted
from hsmkms.store.migrate import for_dialect, migrations, statements
from hsmkms.store.postgres import PostgresDatabase, placeholders, schema_sql
from hsmkms.store.sqlite import SqliteDatabase
from hsmkms.trail.log import Batch, EventLog, Query
from hsmkms.trail.record import Event


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    url = request.getfixturevalue("postgres_schema") if request.param == "postgresql" else ""
    opened = open_database(url, tmp_path)
    assert isinstance(opened, PostgresDatabase if url else SqliteDatabase)
    yield opened
    opened.close()


def test_placeholders() -> None:
    assert placeholders("SELECT a FROM t WHERE b = ? AND c LIKE 'x?%' AND \"d?\" = ?") == \
        "SELECT a FROM t WHERE b = %s AND c LIKE 'x?%%' AND \"d?\" = %s"
    assert placeholders("SELECT 'it''s ?', ?") == "SELECT 'it''s ?', %s"


def test_schema_types_for_postgresql() -> None:
    assert schema_sql("CREATE TABLE t (seq INTEGER PRIMARY KEY, at REAL NOT NULL, "
                      "note TEXT, integers INTEGER)") == \
        ("CREATE TABLE t (seq BIGINT PRIMARY KEY, at DOUBLE PRECISION NOT NULL, "
         "note TEXT, integers BIGINT)")


def test_dialect_parts_of_a_migration() -> None:
    script = ("CREATE TABLE a (x TEXT);\n-- dialect: postgresql\nALTER TABLE a ADD y BIGINT;\n"
              "-- dialect: sqlite\nCREATE INDEX i ON a (x);\n-- dialect: all\nDROP TABLE b;\n")
    assert for_dialect(script, "postgresql") == \
        "CREATE TABLE a (x TEXT);\nALTER TABLE a ADD y BIGINT;\nDROP TABLE b;\n"
    assert for_dialect(script, "sqlite") == \
        "CREATE TABLE a (x TEXT);\nCREATE INDEX i ON a (x);\nDROP TABLE b;\n"
    with pytest.raises(ValueError, match="unknown dialect 'mysql'"):
        for_dialect("-- dialect: mysql\n", "sqlite")
    # One history: both dialects know every version, even one with nothing for them.
    assert [v for v, _ in migrations("sqlite")] == [v for v, _ in migrations("postgresql")]
    assert statements(migrations("sqlite")[3][1]) == []  # SQLite's rowid keeps creation order
    assert len(statements(migrations("postgresql")[3][1])) == 2


def test_where_the_state_is_told_without_a_password() -> None:
    assert redacted("postgresql://app:s3cret@db.example:5433/kms") == \
        "postgresql://app:***@db.example:5433/kms"
    assert redacted("postgresql://app@db/kms") == "postgresql://app@db/kms"
    assert describe("", Path("/var/lib/hsmkms")) == "/var/lib/hsmkms"


def event(n: int, t: int, name: str, user: str | None, resources: tuple[tuple[str, str], ...]
          ) -> Event:
    return Event("111122223333/us-east-1", t, f"ev-{n}", name, "false", user, "AKIAEXAMPLE",
                 "kms.amazonaws.com", resources, {"eventVersion": "1.08", "n": n})


EVENTS = [event(1, 1000, "CreateKey", "alice", (("AWS::KMS::Key", "k1"),)),
          event(2, 1000, "Encrypt", "bob", (("AWS::KMS::Key", "k1"),)),
          event(3, 1001, "Encrypt", "alice", (("AWS::KMS::Key", "k2"),)),
          event(4, 1002, "CreateAlias", None, (("AWS::KMS::Key", "k1"), ("AWS::KMS::Alias",
                                                                         "alias/a"))),
          event(5, 3_000_000_000, "Decrypt", "bob", ())]  # past 2038: 64-bit times


def ids(rows: list[object]) -> list[str]:
    return [r.event_id for r in rows]  # type: ignore[attr-defined]


def test_event_log_lookups(db: Database) -> None:
    log = EventLog(db)
    log.append(EVENTS[:3])
    log.append(EVENTS[3:])
    scope = "111122223333/us-east-1"
    everything = Query(scope, 0.0, float("inf"))
    assert ids(log.lookup(everything)) == ["ev-5", "ev-4", "ev-3", "ev-2", "ev-1"]
    assert ids(log.lookup(Query(scope, 1000.5, 1002.0))) == ["ev-4", "ev-3"]
    by = {key: ids(log.lookup(Query(scope, 0.0, float("inf"), (key, value)))) for key, value in
          [("EventName", "Encrypt"), ("Username", "alice"), ("ResourceName", "k1"),
           ("ResourceType", "AWS::KMS::Alias"), ("EventId", "ev-2"), ("ReadOnly", "false"),
           ("AccessKeyId", "AKIAEXAMPLE"), ("EventSource", "kms.amazonaws.com")]}
    assert by == {"EventName": ["ev-3", "ev-2"], "Username": ["ev-3", "ev-1"],
                  "ResourceName": ["ev-4", "ev-2", "ev-1"], "ResourceType": ["ev-4"],
                  "EventId": ["ev-2"], "ReadOnly": ["ev-5", "ev-4", "ev-3", "ev-2", "ev-1"],
                  "AccessKeyId": ["ev-5", "ev-4", "ev-3", "ev-2", "ev-1"],
                  "EventSource": ["ev-5", "ev-4", "ev-3", "ev-2", "ev-1"]}
    # Keyset pages: after (t, seq) of the last row returned, newest first.
    first = log.lookup(Query(scope, 0.0, float("inf"), ("ResourceName", "k1"), limit=2))
    rest = log.lookup(Query(scope, 0.0, float("inf"), ("ResourceName", "k1"),
                            after=(first[-1].time, first[-1].seq), limit=2))
    assert ids(first) + ids(rest) == ["ev-4", "ev-2", "ev-1"]
    row = log.lookup(Query(scope, 0.0, float("inf"), ("EventId", "ev-4")))[0]
    assert (row.time, row.username, row.resources) == \
        (1002, None, [["AWS::KMS::Key", "k1"], ["AWS::KMS::Alias", "alias/a"]])
    assert EventLog(db).prepare([EVENTS[0]]).events[0][0] == 6  # numbering goes on after reopen


def test_postgresql_connections_are_made_again_after_they_broke(postgres_schema: str) -> None:
    """The server ended the node's sessions (a restart, say): reads, whole-document writes and
    batches of the trail are tried again on a new connection; a batch that did commit is refused
    whole the second time (its primary key), so nothing is written twice."""
    import psycopg  # noqa: PLC0415

    db = PostgresDatabase(postgres_schema)
    try:
        db.write([("thing", "s", "a", "{}")], [])
        pids = [db.execute("SELECT pg_backend_pid()")[0][0],
                db._log.run(lambda c: c.execute("SELECT pg_backend_pid()").fetchone(),  # noqa: SLF001
                            idempotent=True)[0]]  # type: ignore[index]
        with psycopg.connect(postgres_schema, autocommit=True) as admin:
            for pid in pids:
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        db.write([("thing", "s", "b", "{}")], [("thing", "s", "a")])
        assert db.execute("SELECT id FROM documents") == [("b",)]
        db.executemany(("INSERT INTO meta (key, value) VALUES (?, ?)", [("k", "v")]))
        assert db.get_meta("k") == "v"
        with pytest.raises(psycopg.errors.UniqueViolation):  # what a retry of a commit meets
            db.executemany(("INSERT INTO meta (key, value) VALUES (?, ?)", [("k2", "x"),
                                                                             ("k", "w")]))
        assert (db.get_meta("k"), db.get_meta("k2")) == ("v", None)
    finally:
        db.close()


def use(n: int, name: str, arns: tuple[str, ...], *, failed: bool = False,
        source: str = "kms.amazonaws.com") -> Event:
    """A compact KMS event (as the trail writes them) of a call naming ``arns``."""
    stored: dict[str, object] = {"rid": f"req-{n}", "req": {}, "resp": None}
    if failed:
        stored["err"] = ["KMSInvalidSignatureException", None]
    return Event("111122223333/us-east-1", 2000 + n, f"ev-{n}", name, "true", "bob",
                 "AKIAEXAMPLE", source, tuple(("AWS::KMS::Key", a) for a in arns), stored,
                 2000 + n + 0.25)


def test_key_usage_is_the_latest_successful_tracked_event(db: Database) -> None:
    log, scope = EventLog(db), "111122223333/us-east-1"

    def last(arn: str) -> tuple[str, float, str, str] | None:
        found = log.last_use(scope, arn)
        return None if found is None else (found.operation, found.time, found.event_id,
                                           found.request_id)

    log.append([use(1, "Encrypt", ("k1",)), use(2, "Verify", ("k1",), failed=True),
                use(3, "DescribeKey", ("k1",)), use(4, "GetPublicKey", ("k1",))])
    assert last("k1") == ("Encrypt", 2001.25, "ev-1", "req-1")
    assert last("k2") is None
    assert log.last_use("222233334444/us-east-1", "k1") is None  # another scope's key
    # ReEncrypt is a use of both keys; an untracked operation or another service's call is none.
    log.append([use(5, "ReEncrypt", ("k1", "k2")), use(6, "DeleteKey", ("k2",)),
                use(7, "Decrypt", ("k2",), source="cloudhsm.amazonaws.com")])
    assert last("k1") == last("k2") == ("ReEncrypt", 2005.25, "ev-5", "req-5")
    # A batch numbered before another but written after it (refused, then retried) does not
    # replace the later use; of one batch, the latest use of each key is written.
    older = log.prepare([use(8, "Sign", ("k1",)), use(9, "Verify", ("k1",))])
    newer = log.prepare([use(10, "GenerateMac", ("k1",))])
    assert older.usage == {(scope, "k1"): (older.events[-1][0], 2009.25)}
    log.write(newer)
    log.write(older)
    assert last("k1") == ("GenerateMac", 2010.25, "ev-10", "req-10")
    # Kept and retried together, in order: the later use wins.
    merged = log.prepare([use(11, "Encrypt", ("k2",))])
    merged.extend(log.prepare([use(12, "Decrypt", ("k2",))]))
    log.write(merged)
    assert last("k2") == ("Decrypt", 2012.25, "ev-12", "req-12")


def test_rows_dropped_while_refused_take_their_uses_with_them() -> None:
    from hsmkms.trail.writer import bound  # noqa: PLC0415

    batch = Batch()
    seqs = iter(range(1, 10))
    for event in (use(1, "Encrypt", ("k1",)), use(2, "Encrypt", ("k2",)),
                  use(3, "Encrypt", ("k2",))):
        n = next(seqs)
        batch.events.append((n,))
        batch.usage[event.scope, event.resources[0][1]] = (n, event.at)
    bound(batch, 2)
    assert batch.usage == {("111122223333/us-east-1", "k2"): (3, 2003.25)}
