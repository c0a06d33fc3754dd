"""hsmkms.store.node: the settings the nodes of one database share, recorded by the first node;
one node per database for now."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from hsmkms.config import Config
from hsmkms.store import node
from hsmkms.store.base import Database
from hsmkms.store.postgres import PostgresDatabase
from hsmkms.store.sqlite import SqliteDatabase

FAST = Config.from_env(environ={}).shared()
REALISTIC = Config.from_env({"timing": "realistic", "max_hsms": "9"}, environ={}).shared()


@pytest.fixture
def opened() -> Iterator[list[Database]]:
    found: list[Database] = []
    yield found
    for db in found:
        db.close()


def test_shared_settings_are_the_ones_that_change_answers() -> None:
    assert FAST == {"--account": "111122223333", "--region": "us-east-1", "--timing": "fast",
                    "--max-clusters": "4", "--max-hsms": "6", "--pkcs11-sessions": "1024",
                    "--on-demand-rotations": "25",
                    "--cli-idle-timeout": "1800", "--auth": "off",
                    "--max-grants-per-key": "50000", "--max-grants-per-principal": "500"}


def test_postgresql_first_node_records_and_others_must_match(postgres_schema: str,
                                                           opened: list[Database]) -> None:
    first = PostgresDatabase(postgres_schema)
    opened.append(first)
    node.join(first, FAST)
    assert json.loads(first.get_meta(node.SETTINGS_KEY) or "") == FAST
    other = PostgresDatabase(postgres_schema)
    opened.append(other)
    with pytest.raises(node.SettingsMismatch) as refused:
        node.join(other, REALISTIC)
    assert str(refused.value) == (
        "the nodes serving this database run with --max-hsms 6, --timing fast; this node has "
        "--max-hsms 9, --timing realistic. Start it with the same settings, or stop every node "
        "to change them (the first node to start records its own)")
    with pytest.raises(node.AlreadyServed, match="another hsmkms node serves this database"):
        node.join(other, FAST)
    assert json.loads(first.get_meta(node.SETTINGS_KEY) or "") == FAST  # untouched
    first.close()  # every node stopped: the next to start is the first again
    node.join(other, REALISTIC)
    assert json.loads(other.get_meta(node.SETTINGS_KEY) or "") == REALISTIC


def test_a_node_that_dies_leaves_the_database_to_the_next(postgres_schema: str,
                                                         opened: list[Database]) -> None:
    """The node's lock goes with its connection: PostgreSQL drops it when the session ends,
    however the node ended."""
    first = PostgresDatabase(postgres_schema)
    opened.append(first)
    node.join(first, FAST)
    watcher = PostgresDatabase(postgres_schema)
    opened.append(watcher)
    killed = watcher.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted "
        "AND classid = ? AND database = (SELECT oid FROM pg_database "
        "WHERE datname = current_database())", (0x686B6D73,))
    assert killed == [(True,)]
    node.join(watcher, REALISTIC)


def test_sqlite_node_is_always_the_first(tmp_path: Path, opened: list[Database]) -> None:
    db = SqliteDatabase(tmp_path / "hsmkms.db")
    opened.append(db)
    node.join(db, FAST)
    db.close()
    db = SqliteDatabase(tmp_path / "hsmkms.db")
    opened.append(db)
    node.join(db, REALISTIC)  # a restart with other settings records them
    assert json.loads(db.get_meta(node.SETTINGS_KEY) or "") == REALISTIC
