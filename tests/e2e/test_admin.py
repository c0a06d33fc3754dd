"""The admin surface under /_hsmkms/: health, the clock, bad admin requests."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from hsmkms import __version__
from hsmkms.testing.server import ServerProcess


def test_health(hsmkms_server: ServerProcess) -> None:
    health = hsmkms_server.admin("GET", "health")
    assert health["status"] == "ok"
    assert health["version"] == __version__
    assert health["failed_job_runs"] == 0
    assert health["pending_jobs"] == 0
    assert "TrentService" in health["services"]
    assert abs(health["now"] - time.time()) < 60
    kms = hsmkms_server.client("kms")
    kms.schedule_key_deletion(KeyId=kms.create_key()["KeyMetadata"]["KeyId"])
    assert hsmkms_server.admin("GET", "health")["pending_jobs"] == 1


def test_clock(hsmkms_server: ServerProcess) -> None:
    before = hsmkms_server.admin("GET", "clock")
    assert before["offset"] == 0
    now = hsmkms_server.advance(86400)
    after = hsmkms_server.admin("GET", "clock")
    assert after["offset"] == 86400
    assert 86400 <= now - before["now"] < 86400 + 30
    # Key timestamps follow the advanced clock.
    meta = hsmkms_server.client("kms").create_key()["KeyMetadata"]
    assert meta["CreationDate"].timestamp() >= now - 1
    assert hsmkms_server.advance(0) >= now
    # Fractions are fine.
    assert hsmkms_server.advance(0.5) >= now + 0.5


@pytest.mark.parametrize("body", [
    {"advance_seconds": -1}, {"advance_seconds": "10"}, {"advance_seconds": True},
    {"advance_seconds": None}, {}, [], {"advance_seconds": 1e400},
])
def test_clock_rejects_bad_bodies(module_server: ServerProcess, raw: Callable[..., Any],
                                  body: Any) -> None:
    before = module_server.admin("GET", "clock")["offset"]
    status, _h, resp = raw(module_server, None, body, path="/_hsmkms/clock")
    assert (status, json.loads(resp)) == (400, {
        "__type": "ValidationException",
        "message": "advance_seconds must be a non-negative number"})
    assert module_server.admin("GET", "clock")["offset"] == before


def test_clock_rejects_malformed_json(module_server: ServerProcess,
                                      raw: Callable[..., Any]) -> None:
    for body in (b"{", b"NaN", b'{"advance_seconds": NaN}'):
        status, _h, resp = raw(module_server, None, body, path="/_hsmkms/clock")
        assert status == 400, body
        assert json.loads(resp)["__type"] == "ValidationException"


def test_unknown_admin_routes(module_server: ServerProcess, raw: Callable[..., Any]) -> None:
    status, _h, resp = raw(module_server, None, {}, path="/_hsmkms/nope")
    assert (status, json.loads(resp)) == (404, {"__type": "NotFound",
                                                "message": "No admin route POST /_hsmkms/nope"})
    status, _h, resp = raw(module_server, None, {}, path="/_hsmkms/health")  # POST, not GET
    assert status == 404


def test_clock_cannot_pass_year_3000(module_server: ServerProcess,
                                     raw: Callable[..., Any]) -> None:
    before = module_server.admin("GET", "clock")["offset"]
    status, _h, resp = raw(module_server, None, {"advance_seconds": 1e300},
                           path="/_hsmkms/clock")
    assert (status, json.loads(resp)) == (400, {
        "__type": "ValidationException",
        "message": "advance_seconds would move the clock past the year 3000"})
    assert module_server.admin("GET", "clock")["offset"] == before
    assert module_server.client("kms").create_key()["KeyMetadata"]["KeyState"] == "Enabled"
