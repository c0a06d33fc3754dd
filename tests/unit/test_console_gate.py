"""The web console's gate (hsmkms.webconsole.Gate): loopback only without a login (--auth off),
sessions made with the admin token otherwise, and an Origin for writes."""

from __future__ import annotations

import pytest

from hsmkms.http import HttpRequest
from hsmkms.webconsole import (
    COOKIE,
    SESSION_SECONDS,
    ConsoleForbidden,
    ConsoleUnauthorized,
    Gate,
    is_loopback,
)


def request(client: str = "127.0.0.1", **headers: str) -> HttpRequest:
    return HttpRequest("GET", "/_hsmkms/console/api/state", headers, client=client)


@pytest.mark.parametrize("address", ["127.0.0.1", "127.8.9.10", "::1"])
def test_loopback_clients_may_use_the_console_without_login(address: str) -> None:
    Gate(None).check(request(address))


@pytest.mark.parametrize("address", ["192.0.2.2", "10.0.0.1", "fd00::2", "::ffff:192.0.2.2",
                                     "", "localhost", "not an address"])
def test_other_clients_are_refused_without_login(address: str) -> None:
    with pytest.raises(ConsoleForbidden, match="only to loopback clients"):
        Gate(None).check(request(address))


def test_loopback_check() -> None:
    assert is_loopback("127.0.0.1")
    assert is_loopback("::1")
    assert not is_loopback("192.0.2.2")
    assert not is_loopback("")


def test_a_session_needs_the_admin_token_and_expires() -> None:
    now = [1000.0]
    gate = Gate("s3cret-token", monotonic=lambda: now[0])
    with pytest.raises(ConsoleUnauthorized):
        gate.check(request())  # loopback is not enough with a login
    with pytest.raises(ConsoleUnauthorized):
        gate.login("wrong")
    with pytest.raises(ConsoleUnauthorized):
        gate.login(None)
    sid = gate.login("s3cret-token")
    gate.check(request("192.0.2.2", cookie=f"other=1; {COOKIE}={sid}"))
    gate.check(request(authorization="Bearer s3cret-token"))
    with pytest.raises(ConsoleUnauthorized):
        gate.check(request(authorization="Bearer wrong"))
    with pytest.raises(ConsoleUnauthorized):
        gate.check(request(cookie=f"{COOKIE}={sid}x"))
    now[0] += SESSION_SECONDS
    with pytest.raises(ConsoleUnauthorized):
        gate.check(request(cookie=f"{COOKIE}={sid}"))


def test_logout_ends_the_session() -> None:
    gate = Gate("t")
    sid = gate.login("t")
    jar = request(cookie=f"{COOKIE}={sid}")
    gate.check(jar)
    gate.logout(jar)
    with pytest.raises(ConsoleUnauthorized):
        gate.check(jar)


def test_writes_need_an_origin() -> None:
    with pytest.raises(ConsoleForbidden, match="Origin"):
        Gate.check_write(request())
    Gate.check_write(request(origin="http://127.0.0.1:4599"))
