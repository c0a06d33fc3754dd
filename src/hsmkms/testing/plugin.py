"""pytest plugin (``pytest11`` entry point ``hsmkms``): the ``hsmkms_server`` and
``hsmkms_inprocess`` fixtures, each with a fresh data dir per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hsmkms.testing.inprocess import InProcess
from hsmkms.testing.server import ServerProcess


@pytest.fixture
def hsmkms_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A real ``hsmkms serve`` on a free port; ``.client("kms")`` gives a boto3 client."""
    server = ServerProcess(tmp_path / "hsmkms-data").start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def hsmkms_inprocess(tmp_path: Path) -> Iterator[InProcess]:
    """The app in this process; ``.client("kms")`` gives a boto3 client served without a socket."""
    with InProcess(tmp_path / "hsmkms-inprocess") as inproc:
        yield inproc
