"""State survives graceful restarts and ``kill -9``; secrets never reach the disk in clear;
the root key is handled carefully (architecture: store, clock, scheduler)."""

from __future__ import annotations

import base64
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from hsmkms.testing.server import ServerProcess

DAY = 86400


def error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    return exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]


def populate(kms: Any) -> dict[str, Any]:
    """A bit of everything; returns what to check after the restart."""
    enabled = kms.create_key(Description="enabled", Tags=[{"TagKey": "t", "TagValue": "1"}])[
        "KeyMetadata"]
    disabled = kms.create_key(Description="disabled")["KeyMetadata"]
    pending = kms.create_key(Description="pending")["KeyMetadata"]
    kms.disable_key(KeyId=disabled["KeyId"])
    deletion = kms.schedule_key_deletion(KeyId=pending["KeyId"], PendingWindowInDays=7)
    kms.create_alias(AliasName="alias/durable", TargetKeyId=enabled["KeyId"])
    kms.put_key_policy(KeyId=enabled["KeyId"], PolicyName="default",
                       Policy='{"Version": "2012-10-17", "Statement": []}')
    blob = kms.encrypt(KeyId=enabled["KeyId"], Plaintext=b"durable secret",
                       EncryptionContext={"c": "1"})["CiphertextBlob"]
    disabled_blob = kms.encrypt(KeyId="alias/durable", Plaintext=b"x")["CiphertextBlob"]
    return {"enabled": enabled, "disabled": disabled, "pending": pending, "blob": blob,
            "deletion": deletion["DeletionDate"], "disabled_blob": disabled_blob,
            "keys": kms.list_keys()["Keys"]}


def verify(kms: Any, s: dict[str, Any]) -> None:
    assert kms.list_keys()["Keys"] == s["keys"]
    for name, state in (("enabled", "Enabled"), ("disabled", "Disabled"),
                        ("pending", "PendingDeletion")):
        meta = kms.describe_key(KeyId=s[name]["KeyId"])["KeyMetadata"]
        assert meta["KeyState"] == state
        assert meta["Description"] == name
        assert meta["CreationDate"] == s[name]["CreationDate"]
        assert meta["CurrentKeyMaterialId"] == s[name]["CurrentKeyMaterialId"]
    pending = kms.describe_key(KeyId=s["pending"]["KeyId"])["KeyMetadata"]
    assert pending["DeletionDate"] == s["deletion"]
    assert kms.describe_key(KeyId="alias/durable")["KeyMetadata"]["KeyId"] == s["enabled"][
        "KeyId"]
    assert kms.list_resource_tags(KeyId=s["enabled"]["KeyId"])["Tags"] == [
        {"TagKey": "t", "TagValue": "1"}]
    assert kms.get_key_policy(KeyId=s["enabled"]["KeyId"])["Policy"] == (
        '{"Version": "2012-10-17", "Statement": []}')
    out = kms.decrypt(CiphertextBlob=s["blob"], EncryptionContext={"c": "1"})
    assert out["Plaintext"] == b"durable secret"
    assert kms.decrypt(CiphertextBlob=s["disabled_blob"])["Plaintext"] == b"x"


@pytest.mark.parametrize("hard", [False, True], ids=["graceful", "kill-9"])
def test_state_survives_restart(hsmkms_server: ServerProcess, hard: bool) -> None:
    kms = hsmkms_server.client("kms")
    saved = populate(kms)
    hsmkms_server.restart(hard=hard)
    kms = hsmkms_server.client("kms")
    verify(kms, saved)
    # And the server keeps working normally.
    new = kms.create_key()["KeyMetadata"]
    assert kms.decrypt(CiphertextBlob=kms.encrypt(KeyId=new["KeyId"], Plaintext=b"n")[
        "CiphertextBlob"])["Plaintext"] == b"n"


def test_deletion_scheduled_before_restart_happens_after(hsmkms_server: ServerProcess) -> None:
    kms = hsmkms_server.client("kms")
    key = kms.create_key()["KeyMetadata"]
    kms.create_alias(AliasName="alias/doomed", TargetKeyId=key["KeyId"])
    kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    hsmkms_server.advance(3 * DAY)
    hsmkms_server.restart(hard=True)
    kms = hsmkms_server.client("kms")
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "PendingDeletion"
    # The advanced clock survived the restart: 4 more days and a minute complete the window.
    hsmkms_server.advance(4 * DAY + 60)
    with pytest.raises(ClientError) as exc:
        kms.describe_key(KeyId=key["KeyId"])
    assert error(exc) == ("NotFoundException", f"Key '{key['Arn']}' does not exist")
    assert kms.list_aliases()["Aliases"] == []


def test_due_while_down_runs_at_start(hsmkms_server: ServerProcess) -> None:
    """A deletion that came due while the server was stopped happens right after the start."""
    kms = hsmkms_server.client("kms")
    key = kms.create_key()["KeyMetadata"]
    kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    hsmkms_server.stop()
    # Move the persisted clock forward by hand, as if 8 days had passed while stopped.
    import sqlite3  # noqa: PLC0415

    db = sqlite3.connect(hsmkms_server.data_dir / "hsmkms.db")
    with db:
        db.execute("INSERT INTO meta (key, value) VALUES ('clock_offset', ?) ON CONFLICT (key) "
                   "DO UPDATE SET value = excluded.value", (repr(8.0 * DAY),))
    db.close()
    hsmkms_server.start()
    kms = hsmkms_server.client("kms")
    # The ticker runs due work a few times a second; give it a moment.
    import time  # noqa: PLC0415

    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and kms.list_keys()["Keys"]:
        time.sleep(0.05)
    assert kms.list_keys()["Keys"] == []


def test_no_key_material_on_disk(hsmkms_server: ServerProcess) -> None:
    kms = hsmkms_server.client("kms")
    key = kms.create_key()["KeyMetadata"]
    data_keys = [kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256")["Plaintext"]
                 for _ in range(3)]
    hsmkms_server.stop()  # flush everything, WAL included
    blobs = [p.read_bytes() for p in Path(hsmkms_server.data_dir).rglob("*") if p.is_file()]
    assert blobs
    for plaintext in data_keys:
        for form in (plaintext, base64.b64encode(plaintext), plaintext.hex().encode()):
            assert not any(form in blob for blob in blobs)
    # The key's material is a sealed document, never the raw 32 bytes.
    import sqlite3  # noqa: PLC0415

    db = sqlite3.connect(hsmkms_server.data_dir / "hsmkms.db")
    (body,) = db.execute("SELECT body FROM documents WHERE kind = 'kms.key' AND id = ?",
                         (key["KeyId"],)).fetchone()
    db.close()
    assert '"material": "' in body
    root = hsmkms_server.data_dir / "root.key"
    assert stat.S_IMODE(root.stat().st_mode) == 0o600
    assert len(base64.b64decode(root.read_bytes().strip())) == 32


def test_root_key_from_environment(tmp_path: Path) -> None:
    root = base64.b64encode(os.urandom(32)).decode()
    server = ServerProcess(tmp_path / "data", env={"HSMKMS_ROOT_KEY": root}).start()
    try:
        kms = server.client("kms")
        key = kms.create_key()["KeyMetadata"]
        blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"env")["CiphertextBlob"]
        assert not (tmp_path / "data" / "root.key").exists()
        server.restart()
        assert server.client("kms").decrypt(CiphertextBlob=blob)["Plaintext"] == b"env"
        assert not (tmp_path / "data" / "root.key").exists()
    finally:
        server.kill()


def test_wrong_root_key_fails_clearly_and_loses_nothing(tmp_path: Path) -> None:
    root = base64.b64encode(os.urandom(32)).decode()
    data = tmp_path / "data"
    server = ServerProcess(data, env={"HSMKMS_ROOT_KEY": root}).start()
    kms = server.client("kms")
    key = kms.create_key()["KeyMetadata"]
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"keep me")["CiphertextBlob"]
    server.stop()
    db_before = (data / "hsmkms.db").read_bytes()
    wrong = base64.b64encode(os.urandom(32)).decode()
    proc = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "hsmkms", "serve", "--data-dir", str(data), "--port", "0"],
        env={**os.environ, "HSMKMS_ROOT_KEY": wrong}, capture_output=True, text=True,
        timeout=60, check=False)
    assert proc.returncode != 0
    output = proc.stdout + proc.stderr
    assert "root key" in output.lower()
    assert "Traceback" not in output, output[-2000:]
    assert (data / "hsmkms.db").read_bytes() == db_before
    proc = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "hsmkms", "serve", "--data-dir", str(data), "--port", "0"],
        env={**os.environ, "HSMKMS_ROOT_KEY": "not base64"}, capture_output=True, text=True,
        timeout=60, check=False)
    assert proc.returncode != 0
    assert "HSMKMS_ROOT_KEY must be base64 of 32 bytes" in proc.stderr
    server = ServerProcess(data, env={"HSMKMS_ROOT_KEY": root}).start()
    try:
        assert server.client("kms").decrypt(CiphertextBlob=blob)["Plaintext"] == b"keep me"
    finally:
        server.kill()


def test_corrupted_root_key_file_fails_clearly(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "root.key").write_bytes(b"garbage!!\n")
    proc = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "hsmkms", "serve", "--data-dir", str(data), "--port", "0"],
        capture_output=True, text=True, timeout=60, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "root.key" in output
    assert "Traceback" not in output, output[-2000:]
    assert (data / "root.key").read_bytes() == b"garbage!!\n"


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_signals_stop_the_server_cleanly(tmp_path: Path, sig: str) -> None:
    """SIGTERM and SIGINT finish the requests in flight, write every buffered event and
    checkpoint the WAL; then the process exits with status 0."""
    import signal  # noqa: PLC0415

    server = ServerProcess(tmp_path / "data").start()
    kms = server.client("kms")
    key = kms.create_key(Description="kept")["KeyMetadata"]["KeyId"]
    kms.encrypt(KeyId=key, Plaintext=b"p")  # a trail event still in the buffer
    assert server.proc is not None
    server.proc.send_signal(getattr(signal, sig))
    assert server.proc.wait(timeout=15) == 0
    server.proc = None
    wal = server.data_dir / "hsmkms.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0  # checkpointed
    server.start()
    try:
        events = server.client("cloudtrail").lookup_events(LookupAttributes=[
            {"AttributeKey": "EventName", "AttributeValue": "Encrypt"}])["Events"]
        assert len(events) == 1
        assert kms.describe_key(KeyId=key)["KeyMetadata"]["Description"] == "kept"
    finally:
        server.kill()
