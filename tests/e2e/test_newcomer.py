"""A user's first hour, through the installed console scripts: what ``hsmkms serve`` says when
it listens, ``--version``, a fresh demo, resetting a data dir's clock, a closed pipe, and files
and logs that keep secrets to themselves."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest
from test_cloudhsm_cli import command


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
