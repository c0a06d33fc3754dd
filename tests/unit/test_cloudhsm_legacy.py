"""A data directory written before HSM contents had rows of their own (saved by the code of
3b96092: every HSM's users and keys inside the cluster document, a copy in each backup)."""

from __future__ import annotations

import base64
import json
import shutil
import sqlite3
from pathlib import Path

from hsmkms.cloudhsm.service import CloudHsmService
from hsmkms.hsm.model import Role
from hsmkms.testing.inprocess import InProcess

FIXTURE = Path(__file__).parent / "fixtures" / "legacy_hsm_contents"
#: What the fixture is: the database, its root key, and what the test knows about them (a
#: stray SQLite side file next to them must not change what the test loads).
FIXTURE_FILES = ("hsmkms.db", "root.key", "fixture.json")
SCOPE = "111122223333/us-east-1"


def _bodies(db: Path, kind: str) -> list[str]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT body FROM documents WHERE kind = ?", (kind,)).fetchall()
    return [body for (body,) in rows]


def test_old_documents_are_split_into_rows_without_loss(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for name in FIXTURE_FILES:
        shutil.copyfile(FIXTURE / name, data / name)
    info = json.loads((data / "fixture.json").read_text())
    assert all('"contents"' in b for b in _bodies(data / "hsmkms.db", "cloudhsm.cluster"))
    with InProcess(data) as inproc:
        service: CloudHsmService = inproc.app.cloudhsm
        cluster = service.get_cluster(SCOPE, info["cluster_id"])
        assert cluster is not None
        assert len(cluster.active_hsms()) == 2
        for hsm in cluster.active_hsms():
            contents = service.contents.load(SCOPE, cluster.cluster_id, hsm.hsm_id)
            kmsuser = contents.user("kmsuser")
            assert kmsuser is not None
            assert kmsuser.role is Role.CRYPTO_USER
            assert [k.owner for k in contents.keys] == ["kmsuser"]
            assert len(contents.keys[0].material) == 32
        for backup_id in info["backups"]:
            users = service.backups.contents(SCOPE, backup_id).users
            assert {u.username for u in users} >= {"admin", "app_user"}
        # The KMS key's backing key survived: the blob made before the upgrade decrypts.
        kms = inproc.client("kms")
        blob = base64.b64decode(info["blob"])
        plain = kms.decrypt(CiphertextBlob=blob, EncryptionContext={"a": "b"})["Plaintext"]
        assert plain == b"legacy plaintext"
        again = kms.encrypt(KeyId=info["key_id"], Plaintext=b"new")["CiphertextBlob"]
        assert kms.decrypt(CiphertextBlob=again)["Plaintext"] == b"new"
    for kind in ("cloudhsm.cluster", "cloudhsm.backup"):  # rewritten without their contents
        assert not any('"contents"' in b for b in _bodies(data / "hsmkms.db", kind))
    with InProcess(data) as inproc:  # and a second start finds the rows, not the documents
        service = inproc.app.cloudhsm
        kms = inproc.client("kms")
        assert kms.decrypt(CiphertextBlob=base64.b64decode(info["blob"]),
                           EncryptionContext={"a": "b"})["Plaintext"] == b"legacy plaintext"
