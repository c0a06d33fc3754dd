"""pytest plugin (``pytest11`` entry point ``hsmkms``): the ``hsmkms_server``, ``hsmkms_inprocess``
and ``hsmkms_mock`` fixtures, each with a fresh data dir per test.

``hsmkms_server`` listens on the port the ``hsmkms_server_port`` fixture returns (``None``, the
default: a free port); override that fixture in a ``conftest.py``, module or class to pin one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from hsmkms.testing.inprocess import InProcess
from hsmkms.testing.mock import HsmkmsMock, region_configured
from hsmkms.testing.server import TEST_CREDENTIALS, ServerProcess


@pytest.fixture
def hsmkms_server_port() -> int | None:
    """The port ``hsmkms_server`` listens on; ``None`` picks a free one. Override to pin it."""
    return None


@pytest.fixture
def hsmkms_server(tmp_path: Path, hsmkms_server_port: int | None,
                  monkeypatch: pytest.MonkeyPatch) -> Iterator[ServerProcess]:
    """A real ``hsmkms serve``; ``.client("kms")`` gives a boto3 client.

    During the test ``AWS_ENDPOINT_URL`` names it (for code under test and its subprocesses),
    with test credentials when the environment has none and ``AWS_DEFAULT_REGION=us-east-1``
    when botocore finds no region, and boto3's
    default session starts afresh; all of it is restored afterwards.
    """
    server = ServerProcess(tmp_path / "hsmkms-data", port=hsmkms_server_port).start()
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL", server.endpoint)
        monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
        if not os.environ.get("AWS_ACCESS_KEY_ID"):
            monkeypatch.setenv("AWS_ACCESS_KEY_ID", TEST_CREDENTIALS["aws_access_key_id"])
            monkeypatch.setenv("AWS_SECRET_ACCESS_KEY",
                               TEST_CREDENTIALS["aws_secret_access_key"])
        if not region_configured():
            monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        yield server
    finally:
        server.kill()


@pytest.fixture
def hsmkms_inprocess(tmp_path: Path) -> Iterator[InProcess]:
    """The app in this process; ``.client("kms")`` gives a boto3 client served without a socket."""
    with InProcess(tmp_path / "hsmkms-inprocess") as inproc:
        yield inproc


@pytest.fixture
def hsmkms_mock(tmp_path: Path) -> Iterator[HsmkmsMock]:
    """``mock_hsmkms`` for the test: every kms/cloudhsmv2/ec2/cloudtrail botocore client made
    during it, even inside the code under test, is answered in-process; undone afterwards."""
    with HsmkmsMock(tmp_path / "hsmkms-mock") as mock:
        yield mock
