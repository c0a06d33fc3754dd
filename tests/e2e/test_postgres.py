"""``hsmkms serve --database postgresql://...``: a real server whose state is in PostgreSQL (a
new schema of the test run's database), driven with boto3; restarted gracefully and with
``kill -9``, everything acknowledged is still there, the clock included; nodes that must not
serve the database (other settings, a second node, another root key, no server) are refused
with a message that says why."""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cloudhsm_helpers as ch
import psycopg
import pytest
from botocore.exceptions import ClientError

from hsmkms.testing.server import ServerProcess

DAY = 86400


@pytest.fixture(scope="module")
def database(postgres_database: str) -> str:
    """A URL whose tables go in a new schema of the run's database (one per module)."""
    schema = f"e2e_{secrets.token_hex(6)}"
    with psycopg.connect(postgres_database, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    return f"{postgres_database}?options=-csearch_path%3D{schema}"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, database: str) -> Iterator[ServerProcess]:
    data_dir = tmp_path_factory.mktemp("pg") / "data"
    node = ServerProcess(data_dir, env={"HSMKMS_DATABASE": database}).start()
    try:
        yield node
    finally:
        node.kill()


def query(url: str, sql: str, params: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()


def serve(data_dir: Path, *args: str, env: dict[str, str] | None = None
          ) -> subprocess.CompletedProcess[str]:
    """``hsmkms serve`` expected to refuse and exit at once."""
    return subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "hsmkms", "serve", "--port", "0", "--data-dir", str(data_dir),
         *args], capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, **(env or {})})


def test_state_lives_in_postgresql_and_survives_restarts(server: ServerProcess,
                                                         database: str) -> None:
    kms, hsm = server.client("kms"), server.client("cloudhsmv2")
    key = kms.create_key(Description="on postgres")["KeyMetadata"]["KeyId"]
    doomed = kms.create_key(Description="doomed")["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/pg", TargetKeyId=key)
    blob = kms.encrypt(KeyId="alias/pg", Plaintext=b"kept in postgres",
                       EncryptionContext={"app": "pg"})["CiphertextBlob"]
    data_key = kms.generate_data_key(KeyId=key, KeySpec="AES_256")
    deletion = kms.schedule_key_deletion(KeyId=doomed, PendingWindowInDays=7)["DeletionDate"]
    cluster = ch.uninitialized_cluster(server)
    ahead = server.advance(3600) - time.time()

    # The state is in PostgreSQL, not in a SQLite file of the data dir.
    assert not (server.data_dir / "hsmkms.db").exists()
    kinds = dict(query(database, "SELECT kind, count(*) FROM documents GROUP BY kind"))
    assert kinds["kms.key"] == 2
    assert kinds["kms.alias"] == 1
    assert kinds["cloudhsm.cluster"] == 1
    bodies = "".join(b for (b,) in query(database, "SELECT body FROM documents"))
    assert key in bodies
    assert base64.b64encode(data_key["Plaintext"]).decode() not in bodies
    (offset,), = query(database, "SELECT value FROM meta WHERE key = 'clock_offset'")
    assert float(offset) == 3600.0

    server.restart()
    assert server.admin("GET", "clock")["offset"] == 3600.0
    assert server.advance(0) - time.time() == pytest.approx(ahead, abs=5)
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext={"app": "pg"})["Plaintext"] == \
        b"kept in postgres"
    assert kms.decrypt(CiphertextBlob=data_key["CiphertextBlob"])["Plaintext"] == \
        data_key["Plaintext"]
    assert [a["TargetKeyId"] for a in kms.list_aliases(KeyId=key)["Aliases"]] == [key]
    assert ch.describe(hsm, cluster["ClusterId"])["Hsms"][0]["State"] == "ACTIVE"
    assert kms.describe_key(KeyId=doomed)["KeyMetadata"]["DeletionDate"] == deletion

    # A write acknowledged just before kill -9 is there afterwards; the job scheduled before
    # the restarts runs when the clock reaches it.
    kms.tag_resource(KeyId=key, Tags=[{"TagKey": "last", "TagValue": "write"}])
    server.restart(hard=True)
    assert kms.list_resource_tags(KeyId=key)["Tags"] == [{"TagKey": "last",
                                                          "TagValue": "write"}]
    server.advance(8 * DAY)
    with pytest.raises(ClientError) as gone:
        kms.describe_key(KeyId=doomed)
    assert gone.value.response["Error"]["Code"] == "NotFoundException"
    assert kms.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "Enabled"


def test_trail_events_are_looked_up_from_postgresql(server: ServerProcess,
                                                    database: str) -> None:
    kms, trail = server.client("kms"), server.client("cloudtrail")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.encrypt(KeyId=key, Plaintext=b"x")
    arn = kms.describe_key(KeyId=key)["KeyMetadata"]["Arn"]

    def names() -> list[str]:
        found = trail.lookup_events(
            LookupAttributes=[{"AttributeKey": "ResourceName", "AttributeValue": arn}])
        return [e["EventName"] for e in found["Events"]]

    assert ch.wait_for(names, lambda n: len(n) == 3) == ["DescribeKey", "Encrypt", "CreateKey"]
    stored = query(database, "SELECT event_name FROM trail_events WHERE resources LIKE %s "
                   "ORDER BY seq", (f"%{key}%",))
    assert [n for (n,) in stored] == ["CreateKey", "Encrypt", "DescribeKey"]


def root_key_env(server: ServerProcess) -> dict[str, str]:
    return {"HSMKMS_ROOT_KEY": (server.data_dir / "root.key").read_text().strip()}


def test_a_node_with_other_settings_is_refused(server: ServerProcess, database: str,
                                               tmp_path: Path) -> None:
    proc = serve(tmp_path / "other", "--database", database, "--timing", "realistic",
                 "--max-clusters", "2", env=root_key_env(server))
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == (
        f"hsmkms: cannot open {database}: the nodes serving this database run with "
        "--max-clusters 4, --timing fast; this node has --max-clusters 2, --timing realistic. "
        "Start it with the same settings, or stop every node to change them (the first node "
        "to start records its own)")


def test_a_second_node_is_refused_for_now(server: ServerProcess, database: str,
                                          tmp_path: Path) -> None:
    proc = serve(tmp_path / "second", "--database", database, env=root_key_env(server))
    assert proc.returncode == 1
    assert "another hsmkms node serves this database; one node per database for now" in \
        proc.stderr
    assert server.client("kms").list_keys()["Keys"]  # the first goes on serving


def test_a_node_with_another_root_key_is_refused(server: ServerProcess, database: str,
                                                 tmp_path: Path) -> None:
    server.stop()
    try:
        other = base64.b64encode(bytes(32)).decode()
        proc = serve(tmp_path / "other", "--database", database,
                     env={"HSMKMS_ROOT_KEY": other})
        assert proc.returncode == 1
        assert proc.stderr.strip().splitlines()[-1] == (
            f"hsmkms: cannot open {database}: the root key does not match the one this "
            "database's secrets were sealed with (check HSMKMS_ROOT_KEY or "
            "<data-dir>/root.key); nothing was changed")
    finally:
        server.start()
    assert server.client("kms").list_aliases()["Aliases"]


def test_unreachable_or_malformed_databases_are_refused(tmp_path: Path) -> None:
    proc = serve(tmp_path / "d", "--database", "postgresql://hsmkms:pw@127.0.0.1:1/none")
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("hsmkms: cannot open postgresql://hsmkms:***@127.0.0.1:1/none: "
                           "cannot connect to PostgreSQL: connection failed: ")
    assert "pw" not in proc.stderr
    proc = serve(tmp_path / "d", "--database", "mysql://root@127.0.0.1/x")
    assert (proc.returncode, proc.stderr.strip()) == (
        2, ("hsmkms: --database (HSMKMS_DATABASE) must be a libpq URL starting with "
            "postgresql:// (e.g. postgresql://user@host:5432/dbname)"))
    proc = serve(tmp_path / "d", "--fresh", env={"HSMKMS_DATABASE": "postgresql://x@y/z"})
    assert proc.returncode == 2
    assert "with --database, drop and create the PostgreSQL database instead" in proc.stderr


def test_test_servers_and_mocks_never_use_the_database_of_the_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Someone who serves hsmkms on PostgreSQL has HSMKMS_DATABASE set; the fresh servers and
    mocks of their own tests must not connect to that database."""
    from hsmkms.testing import InProcess  # noqa: PLC0415

    monkeypatch.setenv("HSMKMS_DATABASE", "postgresql://nobody@127.0.0.1:1/production")
    with InProcess(tmp_path / "inproc") as inproc:
        assert inproc.client("kms").create_key()["KeyMetadata"]["Enabled"]
    assert (tmp_path / "inproc" / "hsmkms.db").exists()
    server = ServerProcess(tmp_path / "served").start()
    try:
        assert server.client("kms").list_keys()["Keys"] == []
    finally:
        server.stop()
    assert (tmp_path / "served" / "hsmkms.db").exists()


def test_clock_reset_on_the_database(server: ServerProcess, database: str) -> None:
    def reset() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "hsmkms", "clock", "reset"], capture_output=True, text=True,
            timeout=60, check=False, env={**os.environ, "HSMKMS_DATABASE": database})

    server.advance(1000)
    offset = server.admin("GET", "clock")["offset"]
    busy = reset()
    assert (busy.returncode, busy.stderr) == (
        1, (f"hsmkms clock reset: {database} is in use by a running hsmkms; stop every node "
            "first\n"))
    server.stop()
    try:
        done = reset()
        assert (done.returncode, done.stdout) == (
            0, (f"hsmkms clock reset: the clock of {database} is real time again (it was "
                f"{offset:.0f} seconds ahead)\n"))
    finally:
        server.start()
    assert server.admin("GET", "clock")["offset"] == 0.0


def test_the_node_goes_on_after_its_sessions_were_ended(server: ServerProcess,
                                                        database: str) -> None:
    """PostgreSQL ends the node's sessions (an administrator, a failover): the next requests
    make new connections; nothing acknowledged is lost, nothing fails."""
    kms, trail = server.client("kms"), server.client("cloudtrail")
    before = kms.create_key(Description="before")["KeyMetadata"]["KeyId"]
    ended = query(database, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                  "WHERE datname = current_database() AND pid <> pg_backend_pid() AND pid NOT IN "
                  "(SELECT pid FROM pg_locks WHERE locktype = 'advisory')")
    assert ended == [(True,), (True,)]  # the request path's and the trail writer's
    after = kms.create_key(Description="after")["KeyMetadata"]["KeyId"]
    kms.tag_resource(KeyId=before, Tags=[{"TagKey": "still", "TagValue": "here"}])
    arn = kms.describe_key(KeyId=before)["KeyMetadata"]["Arn"]
    server.restart()  # graceful: the trail's last events are written too
    assert kms.list_resource_tags(KeyId=before)["Tags"] == [{"TagKey": "still",
                                                             "TagValue": "here"}]
    assert kms.describe_key(KeyId=after)["KeyMetadata"]["Description"] == "after"

    def names() -> list[str]:
        return [e["EventName"] for e in trail.lookup_events(LookupAttributes=[
            {"AttributeKey": "ResourceName", "AttributeValue": arn}])["Events"]]

    assert names()[-3:] == ["DescribeKey", "TagResource", "CreateKey"]
