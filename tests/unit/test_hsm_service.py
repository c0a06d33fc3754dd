"""The ``app.hsm`` service KMS codes against: sessions, lockout, keys, the PKCS #11 pool."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hsmkms.app import App
from hsmkms.cloudhsm.model import CLUSTERS, Cluster, ClusterState, Hsm, HsmState
from hsmkms.config import Config
from hsmkms.crypto import CryptoError
from hsmkms.hsm import errors, users
from hsmkms.hsm.contents import ContentsRows
from hsmkms.hsm.model import HsmContents, Role
from hsmkms.hsm.service import HsmService

SCOPE = "111122223333/us-east-1"
CID = "cluster-abcdefghijk"


def contents() -> HsmContents:
    c = users.activate((HsmContents(),), "adminpass1")
    return users.create_user(c, "kmsuser", Role.CRYPTO_USER, "kmspass1")[0]


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    application = App(Config.from_env({"data_dir": str(tmp_path), "pkcs11_sessions": 3}))
    hsms = tuple(Hsm(f"hsm-abcdefghij{i}", f"us-east-1{z}", f"subnet-0000000{i}",
                     HsmState.ACTIVE) for i, z in ((2, "a"), (3, "b")))
    cluster = Cluster(CID, ClusterState.ACTIVE, "hsm1.medium", 0.0,
                      {"us-east-1a": "subnet-00000002"}, "vpc-1", "sg-00000001", hsms)
    rows = ContentsRows(application.store)
    with application.store.unit_of_work():
        application.store.repository(CLUSTERS, Cluster).put(SCOPE, CID, cluster)
        for h in hsms:
            rows.replace(SCOPE, CID, h.hsm_id, contents())
    yield application
    application.close()


def hsm(app: App) -> HsmService:
    return app.hsm  # type: ignore[attr-defined, no-any-return]


def test_kms_flow(app: App) -> None:
    svc, now = hsm(app), app.clock.now()
    assert svc.has_user(SCOPE, CID, "KMSUSER")
    assert not svc.has_user(SCOPE, CID, "nobody")
    assert not svc.is_logged_in(SCOPE, CID, "kmsuser", now)
    session = svc.login(SCOPE, CID, "kmsuser", "kmspass1", "crypto-user", "kms:cks-1", now)
    assert svc.is_logged_in(SCOPE, CID, "kmsuser", now)
    assert svc.is_logged_in(SCOPE, CID, "kmsuser", now + 10**6)  # KMS sessions never idle out
    svc.change_password(session, "kmsuser", "crypto-user", "rotated99")
    ref = svc.generate_aes_key(session, 32, "arn:aws:kms:...:key/x", b"\x01\x02")
    assert ref.startswith("0x")
    assert len(ref) == 18
    handle = svc.find_key(session, b"\x01\x02")
    assert handle == int(ref, 16)
    blob = svc.encrypt(session, handle, b"plaintext", b"aad")
    assert len(blob) == 12 + len(b"plaintext") + 16
    assert svc.decrypt(session, handle, blob, b"aad") == b"plaintext"
    with pytest.raises(CryptoError):
        svc.decrypt(session, handle, blob, b"other aad")
    with svc.open_key(session, b"\x01\x02") as key:  # an AEAD whose key stays inside
        sealed = key.encrypt(b"\x00" * 12, b"data", b"aad")
        assert key.decrypt(b"\x00" * 12, sealed, b"aad") == b"data"
    with pytest.raises(errors.KeyNotFound), svc.open_key(session, b"\x09"):
        pass
    svc.delete_key(session, b"\x01\x02")
    with pytest.raises(errors.KeyNotFound), svc.open_key(session, b"\x01\x02"):
        pass
    with pytest.raises(errors.KeyNotFound):
        svc.encrypt(session, handle, b"plaintext", b"")
    assert len(svc.random_bytes(SCOPE, CID, 16)) == 16
    svc.logout(session)
    assert not svc.is_logged_in(SCOPE, CID, "kmsuser", now)
    with pytest.raises(errors.NotLoggedIn):
        svc.logout(session)
    with pytest.raises(errors.InvalidCredentials):
        svc.login(SCOPE, CID, "kmsuser", "kmspass1", "crypto-user", "kms:cks-1", now)
    svc.login(SCOPE, CID, "kmsuser", "rotated99", "crypto-user", "kms:cks-1", now)


def test_login_errors(app: App) -> None:
    svc, now = hsm(app), app.clock.now()
    with pytest.raises(errors.UserNotFound):
        svc.login(SCOPE, CID, "nobody", "whatever1", "crypto-user", "kms", now)
    with pytest.raises(errors.ClusterNotFound):
        svc.login(SCOPE, "cluster-zzzzzzzzzzz", "kmsuser", "x" * 8, "crypto-user", "kms", now)
    assert not svc.is_user_locked(SCOPE, CID, "kmsuser")
    for _ in range(10):
        with app.store.unit_of_work(), pytest.raises(errors.InvalidCredentials):
            svc.login(SCOPE, CID, "kmsuser", "wrong-pw", "crypto-user", "kms", now)
    assert svc.is_user_locked(SCOPE, CID, "KMSUSER")
    assert not svc.is_user_locked(SCOPE, CID, "admin")
    with pytest.raises(errors.UserLockedOut):
        svc.login(SCOPE, CID, "kmsuser", "kmspass1", "crypto-user", "kms", now)


def test_other_sessions_block_password_change(app: App) -> None:
    svc, now = hsm(app), app.clock.now()
    cli = svc.login(SCOPE, CID, "kmsuser", "kmspass1", "crypto-user", "cloudhsm-cli", now)
    admin = svc.login(SCOPE, CID, "admin", "adminpass1", "admin", "cloudhsm-cli", now)
    with pytest.raises(errors.UserLoggedIn):
        svc.change_password(admin, "kmsuser", "crypto-user", "newpass1")
    with pytest.raises(errors.PermissionDenied):
        svc.change_password(cli, "admin", "admin", "newpass1")
    svc.logout(cli)
    svc.change_password(admin, "kmsuser", "crypto-user", "newpass1")


def test_cli_sessions_idle_out(app: App) -> None:
    svc, now = hsm(app), app.clock.now()
    svc.login(SCOPE, CID, "kmsuser", "kmspass1", "crypto-user", "cloudhsm-cli", now)
    assert svc.is_logged_in(SCOPE, CID, "kmsuser", now + 1800)
    assert not svc.is_logged_in(SCOPE, CID, "kmsuser", now + 1801)


def test_pool_exhaustion_per_hsm(app: App) -> None:
    """Three sessions on each of the two HSMs: two logins hold one on each; an operation
    borrows one on the HSM with the most free sessions."""
    svc, now = hsm(app), app.clock.now()
    kms = svc.login(SCOPE, CID, "kmsuser", "kmspass1", "crypto-user", "kms:cks-1", now)
    svc.generate_aes_key(kms, 32, "k", b"\x07")
    svc.login(SCOPE, CID, "admin", "adminpass1", "admin", "cloudhsm-cli", now)
    with svc.open_key(kms, b"\x07"):  # the third session of the first HSM
        # a login needs one on every HSM: the first HSM has none left
        with pytest.raises(errors.Pkcs11SessionsExhausted, match=(
                r"^No PKCS #11 session is available on HSM hsm-abcdefghij2: all 3 sessions "
                r"are in use\.$")):
            svc.login(SCOPE, CID, "admin", "adminpass1", "admin", "cloudhsm-cli", now)
        # the second HSM still has one; then none is left anywhere
        with svc.open_key(kms, b"\x07"), pytest.raises(errors.Pkcs11SessionsExhausted), \
                svc.open_key(kms, b"\x07"):
            pass
    with svc.open_key(kms, b"\x07"), svc.open_key(kms, b"\x07"):  # all returned
        pass
    svc.login(SCOPE, CID, "admin", "adminpass1", "admin", "cloudhsm-cli", now)  # third login
    with pytest.raises(errors.Pkcs11SessionsExhausted), svc.open_key(kms, b"\x07"):
        pass


def test_no_active_hsm(app: App) -> None:
    repo = app.store.repository(CLUSTERS, Cluster)
    cluster = repo.get(SCOPE, CID)
    assert cluster is not None
    import dataclasses  # noqa: PLC0415

    with app.store.unit_of_work():
        repo.put(SCOPE, CID, dataclasses.replace(cluster, hsms=()))
    with pytest.raises(errors.NoActiveHsm):
        hsm(app).login(SCOPE, CID, "kmsuser", "kmspass1", "crypto-user", "kms",
                       app.clock.now())
    with pytest.raises(errors.NoActiveHsm):
        hsm(app).random_bytes(SCOPE, CID, 4)
