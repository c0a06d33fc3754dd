"""A user's first hour, through the installed console scripts: what ``hsmkms serve`` says when
it listens, ``--version``, a fresh demo, resetting a data dir's clock, a closed pipe, and files
and logs that keep secrets to themselves."""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import stat
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import cloudhsm_helpers as ch
import pytest
from test_cloudhsm_cli import command

from hsmkms import __version__, cli
from hsmkms.store.sqlite import SqliteDatabase
from hsmkms.testing.server import ServerProcess, free_port


@pytest.mark.parametrize("args", [["help"], ["user", "list"], ["--version"]])
def test_cloudhsm_cli_ends_quietly_when_its_reader_goes_away(args: list[str]) -> None:
    """``cloudhsm-cli ... | head -1``: no BrokenPipeError traceback, and the status of a tool
    killed by SIGPIPE, as ``cat`` or ``ls`` end (141 in a shell)."""
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run([*command(), *args], stdout=write, stderr=subprocess.PIPE,  # noqa: S603
                              env={"PATH": "/usr/bin:/bin"}, text=True, timeout=60,
                              check=False)
    finally:
        os.close(write)
    assert (done.returncode, done.stderr) == (-signal.SIGPIPE, "")


def test_cloudhsm_cli_piped_into_head() -> None:
    done = subprocess.run(["bash", "-c", 'set -o pipefail; "$@" help | head -1', "sh",  # noqa: S603, S607
                           *command()], capture_output=True, text=True, timeout=60,
                          check=False)
    assert (done.stdout, done.stderr) == ("AWS CloudHSM CLI for an hsmkms server\n", "")
    assert done.returncode in (0, 128 + signal.SIGPIPE)  # whether head closed before the end


def hsmkms(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("hsmkms")
    assert exe is not None, "the hsmkms console script is not on PATH"
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=60,  # noqa: S603
                          check=False, env={**os.environ, **(env or {})})


def popen_serve(data_dir: Path, port: int, *args: str, env: dict[str, str] | None = None,
                stdout: Any = subprocess.PIPE, stderr: Any = subprocess.PIPE,
                ) -> subprocess.Popen[str]:
    exe = shutil.which("hsmkms")
    assert exe is not None
    return subprocess.Popen([exe, "serve", "--port", str(port), "--data-dir", str(data_dir),  # noqa: S603
                             *args], stdout=stdout, stderr=stderr, text=True,
                            env={**os.environ, **(env or {})})


def stop(proc: subprocess.Popen[str]) -> tuple[str, str]:
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    return out, err


def test_hsmkms_version() -> None:
    for flag in ("--version", "-V"):
        done = hsmkms(flag)
        assert (done.returncode, done.stdout, done.stderr) == (0, f"hsmkms {__version__}\n", "")


def test_serve_says_where_it_listens_and_warns_about_a_root_key_on_the_command_line(
        tmp_path: Path) -> None:
    key = base64.b64encode(b"k" * 32).decode()
    port = free_port()
    proc = popen_serve(tmp_path / "data", port, env={"HSMKMS_ROOT_KEY": key})
    assert proc.stdout is not None
    lines = [proc.stdout.readline(), proc.stdout.readline()]
    out, err = stop(proc)
    assert lines == [f"hsmkms {__version__} listening on http://127.0.0.1:{port}\n",
                     f"data dir {(tmp_path / 'data').resolve()}\n"]
    assert (out, err) == ("", "")  # said once; nothing else at the default log level

    proc = popen_serve(tmp_path / "data", port, "--root-key", key, stdout=subprocess.DEVNULL)
    wait_healthy(port)
    _out, err = stop(proc)
    assert err == cli.ROOT_KEY_WARNING
    assert err == ("hsmkms: warning: --root-key shows in the process list (ps) to every user of "
                   "this machine; set HSMKMS_ROOT_KEY or let hsmkms keep <data-dir>/root.key "
                   "(mode 0600) instead\n")


def wait_healthy(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/_hsmkms/health",
                                   timeout=5).close()
        except OSError:
            assert time.monotonic() < deadline, "the server did not answer"
            time.sleep(0.05)
        else:
            return


def test_fresh_refuses_a_dir_that_is_not_an_hsmkms_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "notes.txt").write_text("mine")
    (data / "demo.json").write_text("{}")
    done = hsmkms("serve", "--fresh", "--data-dir", str(data), "--port", str(free_port()))
    assert (done.returncode, done.stdout, done.stderr) == (
        2, "", (f"hsmkms: --fresh: {data} is not an hsmkms data dir (it holds notes.txt); "
        "nothing was deleted\n"))
    assert sorted(p.name for p in data.iterdir()) == ["demo.json", "notes.txt"]


def test_fresh_refuses_a_data_dir_a_server_uses_and_wipes_it_once_stopped(
        tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data").start()
    try:
        kms = server.client("kms")
        old = kms.create_key()["KeyMetadata"]["KeyId"]
        done = hsmkms("serve", "--fresh", "--data-dir", str(server.data_dir), "--port",
                      str(free_port()))
        assert (done.returncode, done.stderr) == (
            2, (f"hsmkms: --fresh: {server.data_dir} is in use by a running hsmkms; stop it "
            "first\n"))
        assert kms.describe_key(KeyId=old)["KeyMetadata"]["KeyState"] == "Enabled"
        server.stop()
        root_key = (server.data_dir / "root.key").read_bytes()
        server.args = ["--fresh"]
        server.start()
        assert kms.list_keys()["Keys"] == []
        assert (server.data_dir / "root.key").read_bytes() == root_key  # kept
    finally:
        server.kill()


def test_clock_reset(tmp_path: Path) -> None:
    """Back to real time; work scheduled while the clock was ahead keeps its due time (what
    DescribeKey's DeletionDate says)."""
    server = ServerProcess(tmp_path / "data").start()
    try:
        kms = server.client("kms")
        key = kms.create_key()["KeyMetadata"]["KeyId"]
        server.advance(3 * 86400)
        deletion = kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)["DeletionDate"]
        done = hsmkms("clock", "reset", "--data-dir", str(server.data_dir))
        assert (done.returncode, done.stdout, done.stderr) == (
            1, "", (f"hsmkms clock reset: {server.data_dir} is in use by a running hsmkms; stop "
            "it first\n"))
        server.stop()
        done = hsmkms("clock", "reset", "--data-dir", str(server.data_dir))
        assert (done.returncode, done.stdout, done.stderr) == (
            0, (f"hsmkms clock reset: the clock of {server.data_dir} is real time again (it was "
            "259200 seconds ahead)\n"), "")
        done = hsmkms("clock", "reset", env={"HSMKMS_DATA_DIR": str(tmp_path / "nothing")})
        assert (done.returncode, done.stderr) == (
            2, (f"hsmkms clock reset: {tmp_path / 'nothing'} is not an hsmkms data dir (no "
            "hsmkms.db)\n"))
        server.start()
        clock = server.admin("GET", "clock")
        assert clock["offset"] == 0
        assert abs(clock["now"] - time.time()) < 60
        meta = kms.describe_key(KeyId=key)["KeyMetadata"]
        assert (meta["KeyState"], meta["DeletionDate"]) == ("PendingDeletion", deletion)
        server.advance(10 * 86400 + 60)
        with pytest.raises(kms.exceptions.NotFoundException):
            kms.describe_key(KeyId=key)
    finally:
        server.kill()


def test_database_files_are_private_whatever_the_umask(tmp_path: Path) -> None:
    old = tmp_path / "old.db"
    old.write_bytes(b"")
    old.chmod(0o644)  # a data dir from before, or a careless copy
    previous = os.umask(0)
    try:
        for path in (tmp_path / "hsmkms.db", old):
            db = SqliteDatabase(path)
            try:
                db.set_meta("x", "1")
                files = [Path(f"{path}{s}") for s in ("", "-wal", "-shm")]
                assert [stat.S_IMODE(f.stat().st_mode) for f in files] == [0o600] * 3, path
            finally:
                db.close()
    finally:
        os.umask(previous)


def test_fresh_demo_logs_no_password_at_debug_level(tmp_path: Path) -> None:
    """``serve --demo --fresh --log-level debug``: the old state is gone, the banner (stdout)
    tells the passwords, the log (stderr) never does; demo.json is 0600."""
    data = tmp_path / "data"
    server = ServerProcess(data).start()
    old = server.client("kms").create_key()["KeyMetadata"]["KeyId"]
    server.stop()
    port = free_port()
    with (tmp_path / "out").open("w") as out, (tmp_path / "err").open("w") as err:
        proc = popen_serve(data, port, "--demo", "--fresh", "--log-level", "debug",
                           stdout=out, stderr=err)
        try:
            ch.wait_for((tmp_path / "out").read_text,
                        lambda text: "hsmkms demo ready" in text, timeout=120)
        finally:
            stop(proc)
    state = json.loads((data / "demo.json").read_text())
    assert stat.S_IMODE((data / "demo.json").stat().st_mode) == 0o600
    assert state["key_id"] != old
    log = (tmp_path / "err").read_text()
    assert "INFO:     Started server process" in log  # the low log level took effect
    banner = (tmp_path / "out").read_text()
    for secret in (state["admin_password"], state["kmsuser_password"]):
        assert secret in banner
        assert secret not in log


def test_hsmkms_fault_list_ends_quietly_when_its_reader_goes_away(
        hsmkms_server: ServerProcess) -> None:
    """``hsmkms fault list | head -1``: the same quiet end as cloudhsm-cli's."""
    exe = shutil.which("hsmkms")
    assert exe is not None, "the hsmkms console script is not on PATH"
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run([exe, "fault", "list"], stdout=write, stderr=subprocess.PIPE,  # noqa: S603
                              text=True, timeout=60, check=False,
                              env={**os.environ, "AWS_ENDPOINT_URL": hsmkms_server.endpoint})
    finally:
        os.close(write)
    assert (done.returncode, done.stderr) == (-signal.SIGPIPE, "")
