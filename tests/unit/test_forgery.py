"""hsmkms.forgery: admin routes answer to loopback names, the server's own address, and the
names listed in --allowed-hosts; nothing else."""

from __future__ import annotations

import pytest

from hsmkms.forgery import ForbiddenHost, check_admin
from hsmkms.http import HttpRequest

JSON = {"content-type": "application/json"}


def request(host: str) -> HttpRequest:
    return HttpRequest("POST", "/_hsmkms/clock", {"host": host, **JSON}, b"{}",
                       server="172.18.0.2")


@pytest.mark.parametrize("host", ["localhost:4599", "127.0.0.1:4599", "[::1]:4599",
                                  "LOCALHOST.", "172.18.0.2:4599"])
def test_loopback_and_own_address_pass(host: str) -> None:
    check_admin(request(host), "0.0.0.0")  # noqa: S104 - the bind address under test


def test_a_service_name_passes_only_when_allowed() -> None:
    with pytest.raises(ForbiddenHost) as refused:
        check_admin(request("hsmkms:4599"), "0.0.0.0")  # noqa: S104
    assert refused.value.message == (
        "The Host header 'hsmkms:4599' does not name this server; admin routes answer only to "
        "a loopback name or address or the server's own.")
    check_admin(request("hsmkms:4599"), "0.0.0.0", frozenset({"hsmkms"}))  # noqa: S104
    check_admin(request("HSMKMS.:4599"), "0.0.0.0", frozenset({"hsmkms"}))  # noqa: S104
    with pytest.raises(ForbiddenHost):
        check_admin(request("evil.example:4599"), "0.0.0.0", frozenset({"hsmkms"}))  # noqa: S104
