"""The auth modes around SigV4 (hsmkms.auth.modes, .credentials): temporary credentials and
their session tokens, root keys from configuration, the settings and start-up lines, and the
demo's banner in verify/enforce."""

from __future__ import annotations

import calendar
import datetime as dt
import logging
import os
from pathlib import Path
from unittest import mock

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from hsmkms import cli
from hsmkms.auth import credentials as creds
from hsmkms.auth import modes
from hsmkms.auth.modes import Auth, Mode, Verifier
from hsmkms.auth.sigv4 import Failure, SigV4Error
from hsmkms.config import Config
from hsmkms.context import RequestContext
from hsmkms.crypto import RootKey
from hsmkms.demo import banner
from hsmkms.errors import ClientError
from hsmkms.http import HttpRequest
from hsmkms.store.base import Store
from hsmkms.store.codec import Codec
from hsmkms.store.databases import redacted
from hsmkms.store.sqlite import SqliteDatabase

NOW = float(calendar.timegm((2026, 12, 2, 10, 0, 0)))
ASIA, SECRET, TOKEN = "ASIAEXAMPLETEMPKEY01", "temporarySecretAccessKey0000000000000000", "tok=="


@pytest.fixture
def keys(tmp_path: Path) -> creds.AccessKeys:
    root = RootKey(os.urandom(32))
    store = Store(SqliteDatabase(tmp_path / "db"), Codec(root.seal, root.unseal))
    return creds.AccessKeys(store)


def request(akid: str, secret: str, token: str | None) -> HttpRequest:
    req = AWSRequest("POST", "http://127.0.0.1:4599/", data=b"{}", headers={
        "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "TrentService.ListKeys"})
    when = dt.datetime.fromtimestamp(NOW, dt.UTC).replace(tzinfo=None)
    with mock.patch("botocore.auth.get_current_datetime", return_value=when):
        SigV4Auth(Credentials(akid, secret, token), "kms", "us-east-1").add_auth(req)
    headers = {k.lower(): v for k, v in req.headers.items()}
    headers["host"] = "127.0.0.1:4599"
    return HttpRequest("POST", "/", headers, b"{}")


def failure(verifier: Verifier, req: HttpRequest, now: float) -> SigV4Error:
    with pytest.raises(SigV4Error) as caught:
        verifier.check(req, "kms", now)
    return caught.value


def test_temporary_credentials_and_their_session_token(keys: creds.AccessKeys) -> None:
    keys.add_temporary("111122223333", ASIA, SECRET, session_token=TOKEN, expires=NOW + 3600,
                       principal_arn="arn:aws:sts::111122223333:assumed-role/app/s1")
    verifier = Verifier(keys, wall=lambda: NOW)
    assert verifier.check(request(ASIA, SECRET, TOKEN), "kms", NOW).key.account == \
        "111122223333"
    wrong = failure(verifier, request(ASIA, SECRET, "other"), NOW)
    assert (wrong.failure, wrong.message) == (
        Failure.INVALID_TOKEN, "The security token included in the request is invalid")
    missing = failure(verifier, request(ASIA, SECRET, None), NOW)
    assert missing.failure is Failure.INVALID_TOKEN
    # Expiry follows the emulated clock (the ``now`` given), the skew the wall clock.
    expired = failure(verifier, request(ASIA, SECRET, TOKEN), NOW + 3600)
    assert (expired.failure, expired.message) == (
        Failure.EXPIRED_TOKEN, "The security token included in the request is expired")


def test_a_long_term_key_sent_with_a_token(keys: creds.AccessKeys) -> None:
    keys.add("111122223333", "AKIAEXAMPLEROOTKEY01", SECRET)
    verifier = Verifier(keys, wall=lambda: NOW)
    verifier.check(request("AKIAEXAMPLEROOTKEY01", SECRET, None), "kms", NOW)
    assert failure(verifier, request("AKIAEXAMPLEROOTKEY01", SECRET, TOKEN), NOW).failure is \
        Failure.INVALID_TOKEN


def test_unknown_key(keys: creds.AccessKeys) -> None:
    err = failure(Verifier(keys, wall=lambda: NOW), request(ASIA, SECRET, None), NOW)
    assert (err.failure, err.message) == (
        Failure.UNKNOWN_KEY, "The security token included in the request is invalid.")


def test_generated_key_ids_encode_their_account() -> None:
    assert creds.account_of_key_id("AKIARZPUZDIKGB2VALC4") == "123456789012"
    for account in ("111122223333", "444455556667", "000000000001"):
        akid = creds.new_access_key_id(account)
        assert len(akid) == 20
        assert akid.startswith("AKIA")
        assert creds.account_of_key_id(akid) == account
    assert len(creds.new_secret()) == 40


def test_bootstrap_reads_env_then_file_then_generates(keys: creds.AccessKeys,
                                                     tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    made = creds.bootstrap(keys, data, account="111122223333", region="eu-west-1", akid="",
                           secret="", others="444455556666:AKIAOTHER:secretOther")
    assert creds.read_credentials_file(data / "credentials") == (made.access_key_id,
                                                                 made.secret_text)
    assert "region = eu-west-1" in (data / "credentials").read_text()
    assert keys.account_of("AKIAOTHER") == "444455556666"
    again = creds.bootstrap(keys, data, account="111122223333", region="eu-west-1", akid="",
                            secret="", others="")
    assert again.access_key_id == made.access_key_id
    assert keys.get("AKIAOTHER") is None  # no longer configured: forgotten
    given = creds.bootstrap(keys, data, account="111122223333", region="eu-west-1",
                            akid="AKIAGIVEN", secret="givenSecret", others="")  # noqa: S106
    assert (given.access_key_id, keys.get(made.access_key_id)) == ("AKIAGIVEN", None)
    with pytest.raises(ValueError, match="set both"):
        creds.bootstrap(keys, data, account="111122223333", region="eu-west-1",
                        akid="AKIAGIVEN", secret="", others="")


@pytest.mark.parametrize("text", ["12345:AKIA:secret", "111122223333:AKIA", "x"])
def test_malformed_root_keys(text: str) -> None:
    with pytest.raises(ValueError, match="HSMKMS_ROOT_KEYS entry 1 must be") as caught:
        creds.parse_root_keys(text)
    assert "secret" not in str(caught.value).replace("<secret>", "")


def test_auth_setting_and_start_up_lines(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="must be off, verify or enforce, not 'on'"):
        Config.from_env({"auth": "on"}, environ={})
    off = Config.from_env({"data_dir": str(tmp_path)}, environ={})
    assert off.auth == "off"
    assert cli.auth_lines(off) == "auth off (signatures are not checked)\n"
    enforce = Config.from_env({"data_dir": str(tmp_path)}, environ={"HSMKMS_AUTH": "enforce"})
    assert cli.auth_lines(enforce) == (
        f"auth enforce: root credentials {tmp_path.resolve() / 'credentials'} (profile "
        f"hsmkms-root); admin token {tmp_path.resolve() / 'admin-token'}\n")


def test_off_on_a_public_address_warns(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``serve`` itself is replaced (and the thread that would wait for it to answer)."""
    def serve(*args: str) -> None:
        with mock.patch("hsmkms.server.serve"), mock.patch("hsmkms.cli.announce_when_listening"):
            assert cli.main(["serve", *args, "--data-dir", str(tmp_path)]) == 0

    serve("--host", "0.0.0.0")  # noqa: S104
    err = capsys.readouterr().err
    assert "hsmkms: warning: listening on 0.0.0.0 with --auth off: anyone who can reach " in err
    serve("--host", "127.0.0.1")
    serve("--host", "0.0.0.0", "--auth", "verify")  # noqa: S104
    assert "warning" not in capsys.readouterr().err


def test_demo_banner_prints_the_credentials() -> None:
    state = {"cluster_id": "cluster-abc", "store_id": "cks-1", "key_id": "k-1", "zones": ["a"],
             "admin_password": "p1", "kmsuser_password": "p2"}
    text = banner("http://127.0.0.1:4599", state,
                  {"aws_access_key_id": "AKIAROOT", "aws_secret_access_key": "s3cret"}, "tok")
    assert "AWS_ACCESS_KEY_ID=AKIAROOT" in text
    assert "AWS_SECRET_ACCESS_KEY=s3cret" in text
    assert "HSMKMS_ADMIN_TOKEN=tok" in text
    plain = banner("http://127.0.0.1:4599", state)
    assert "AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test" in plain


def test_fresh_keeps_the_credentials_and_the_admin_token(tmp_path: Path) -> None:
    for name in ("hsmkms.db", "root.key", "credentials", "admin-token"):
        (tmp_path / name).write_text("x")
    assert cli.wipe_state(tmp_path) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["admin-token", "credentials",
                                                          "root.key"]


def test_a_database_password_on_the_command_line_warns(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--database`` shows in ``ps``: a warning when its URL carries a password (either
    form libpq takes), none when it does not."""
    with mock.patch("hsmkms.server.serve"), mock.patch("hsmkms.cli.announce_when_listening"):
        for url in ("postgresql://app:s3cret@db/kms", "postgresql://app@db/kms?password=s3cret"):
            assert cli.main(["serve", "--database", url, "--data-dir", str(tmp_path)]) == 0
            assert ("hsmkms: warning: --database shows in the process list (ps) to every user "
                    "of this machine; set HSMKMS_DATABASE instead\n") in capsys.readouterr().err
        assert cli.main(["serve", "--database", "postgresql://app@db/kms?sslmode=require",
                         "--data-dir", str(tmp_path)]) == 0
        assert "--database" not in capsys.readouterr().err


def test_a_password_parameter_is_redacted() -> None:
    assert redacted("postgresql://app@db/kms?sslmode=require&password=s3cret") == \
        "postgresql://app@db/kms?sslmode=require&password=***"
    assert redacted("postgresql://app:pw@db/kms?PASSWORD=x") == \
        "postgresql://app:***@db/kms?PASSWORD=***"
    assert redacted("postgresql://app@db/kms?sslmode=require") == \
        "postgresql://app@db/kms?sslmode=require"


def test_a_mismatch_log_hides_the_session_token(keys: creds.AccessKeys,
                                                caplog: pytest.LogCaptureFixture) -> None:
    """The canonical request logged on a mismatch names the signed token, not its value."""
    keys.add_temporary("111122223333", ASIA, SECRET, session_token="SeCrEtToKeN==",  # noqa: S106
                       expires=NOW + 3600,
                       principal_arn="arn:aws:sts::111122223333:assumed-role/app/s1")
    req = request(ASIA, "wrong" * 8, "SeCrEtToKeN==")
    verifier = Verifier(keys, wall=lambda: NOW)
    with caplog.at_level(logging.INFO, logger="hsmkms.auth"), pytest.raises(ClientError):
        verifier.authenticate(req, "kms", NOW)
    text = caplog.text
    assert "signature mismatch" in text
    assert "x-amz-security-token:***" in text
    assert "SeCrEtToKeN" not in text
    assert modes.without_token("GET\n/\nAction=X&X-Amz-Security-Token=abc%2B&b=1\nhost:h\n") == \
        "GET\n/\nAction=X&X-Amz-Security-Token=***&b=1\nhost:h\n"


def test_a_non_ascii_session_token_is_refused_not_a_crash(keys: creds.AccessKeys) -> None:
    keys.add_temporary("111122223333", ASIA, SECRET, session_token=TOKEN, expires=NOW + 3600,
                       principal_arn="arn:aws:sts::111122223333:assumed-role/app/s1")
    req = request(ASIA, SECRET, "\u00e9t\u00e9")
    err = failure(Verifier(keys, wall=lambda: NOW), req, NOW)
    assert err.failure is Failure.INVALID_TOKEN


def test_the_context_is_the_verified_keys(keys: creds.AccessKeys) -> None:
    """After verification the context names the signer's account, key and signed region,
    whatever the app guessed before."""
    other = keys.add("444455556666", "AKIAOTHERACCOUNTKEY1",
                          "otherSecretKeyForTheSecondAccount0000000")
    auth = Auth(Mode.VERIFY, keys, other, "t", Verifier(keys, wall=lambda: NOW))
    ctx = RequestContext(account="111122223333", region="eu-west-1", request_id="r", now=NOW,
                         access_key_id="AKIAVICTIM0000000000")
    auth.authenticator(lambda _req, _ctx: "kms")(
        request(other.access_key_id, other.secret_text, None), ctx)
    assert (ctx.account, ctx.region, ctx.access_key_id, ctx.scope) == (
        "444455556666", "us-east-1", other.access_key_id, "444455556666/us-east-1")
