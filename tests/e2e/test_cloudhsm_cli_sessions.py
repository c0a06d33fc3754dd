"""``cloudhsm-cli`` login sessions end to end: lockout and unlock, per-HSM inconsistency,
logged-in users, quit, idle timeout, restarts."""

from __future__ import annotations

from typing import Any

import pytest
from test_cloudhsm_cli import (
    Session,
    as_admin,
    cli,
    failure,
    new_cluster,
    user_row,
)

from hsmkms.testing.server import ServerProcess


@pytest.fixture
def server(hsmkms_server: ServerProcess) -> ServerProcess:
    return hsmkms_server


def add_user(server: ServerProcess, cid: str, name: str, pw: str) -> None:
    assert as_admin(server, cid, "user", "create", "--username", name, "--role", "crypto-user",
                    "--password", pw)["error_code"] == 0


def try_login(server: ServerProcess, cid: str, name: str, pw: str) -> Any:
    return cli(server, cid, "login", "--username", name, "--role", "crypto-user",
               "--password", pw)


LOCKED = failure("User is locked out after too many failed login attempts; an admin must "
                 "change the password.")
WRONG = failure("Incorrect authentication credentials.")


def test_lockout_after_five_failures_and_admin_unlocks(server: ServerProcess) -> None:
    cid = new_cluster(server)
    add_user(server, cid, "kmsuser", "kmspass1")
    for _ in range(5):
        assert try_login(server, cid, "kmsuser", "wrongpw1") == WRONG
    assert user_row(server, cid, "kmsuser")["locked"] == "true"
    assert try_login(server, cid, "kmsuser", "kmspass1") == LOCKED
    assert cli(server, cid, "key", "list", role="crypto-user", pin="kmsuser:kmspass1") == LOCKED
    assert as_admin(server, cid, "user", "change-password", "--username", "kmsuser", "--role",
                    "crypto-user", "--password", "kmspass2") == {
        "error_code": 0, "data": {"username": "kmsuser", "role": "crypto-user"}}
    assert user_row(server, cid, "kmsuser")["locked"] == "false"
    assert try_login(server, cid, "kmsuser", "kmspass2")["error_code"] == 0


def test_lockout_is_counted_per_hsm_and_shows_inconsistent(server: ServerProcess) -> None:
    cid = new_cluster(server, 2)
    add_user(server, cid, "kmsuser", "kmspass1")
    # two HSMs: the client starts on a different HSM each time, so 9 failures lock only one
    for _ in range(9):
        assert try_login(server, cid, "kmsuser", "wrongpw1") == WRONG
    assert user_row(server, cid, "kmsuser")["locked"] == "inconsistent"
    assert try_login(server, cid, "kmsuser", "kmspass1") == LOCKED
    assert try_login(server, cid, "kmsuser", "wrongpw1") == WRONG  # the tenth locks the other
    assert user_row(server, cid, "kmsuser")["locked"] == "true"
    assert try_login(server, cid, "kmsuser", "wrongpw1") == LOCKED
    as_admin(server, cid, "user", "change-password", "--username", "kmsuser", "--role",
             "crypto-user", "--password", "kmspass2")
    assert user_row(server, cid, "kmsuser")["locked"] == "false"
    assert try_login(server, cid, "kmsuser", "kmspass2")["error_code"] == 0


def test_logged_in_user_cannot_be_changed_or_deleted(server: ServerProcess) -> None:
    cid = new_cluster(server)
    add_user(server, cid, "kmsuser", "kmspass1")
    s = Session(server, cid)
    try:
        assert s.login("kmsuser", "crypto-user", "kmspass1") == {
            "error_code": 0, "data": {"username": "kmsuser", "role": "crypto-user"}}
        assert as_admin(server, cid, "user", "change-password", "--username", "kmsuser",
                        "--role", "crypto-user", "--password", "other123") == failure(
            "User is currently logged in.")
        assert as_admin(server, cid, "user", "delete", "--username", "kmsuser", "--role",
                        "crypto-user") == failure("User is currently logged in.")
        # the user may change their own password while logged in (prompted twice)
        assert s.run("user change-password --username kmsuser --role crypto-user",
                     "kmspass3", "kmspass3") == {
            "error_code": 0, "data": {"username": "kmsuser", "role": "crypto-user"}}
        assert s.run("logout") == {"error_code": 0, "data": "Logout successful"}
    finally:
        s.quit()
    assert try_login(server, cid, "kmsuser", "kmspass3")["error_code"] == 0
    assert as_admin(server, cid, "user", "delete", "--username", "kmsuser", "--role",
                    "crypto-user")["error_code"] == 0


def test_quit_ends_the_session(server: ServerProcess) -> None:
    cid = new_cluster(server)
    add_user(server, cid, "kmsuser", "kmspass1")
    s = Session(server, cid)
    s.login("kmsuser", "crypto-user", "kmspass1")
    s.quit()
    assert as_admin(server, cid, "user", "delete", "--username", "kmsuser", "--role",
                    "crypto-user")["error_code"] == 0


def test_a_command_for_another_cluster_keeps_the_login(server: ServerProcess) -> None:
    """Refused (not logged in there), but the session on the first cluster lives on, and
    quit still ends it: no orphaned login holds kmsuser."""
    cid = new_cluster(server)
    add_user(server, cid, "kmsuser", "kmspass1")
    s = Session(server, cid)
    s.login("kmsuser", "crypto-user", "kmspass1")
    assert s.run("key list --cluster-id cluster-aaaaaaaaaaa") == failure(
        "You must be logged in to perform this operation.")
    assert s.run("login --username kmsuser --role crypto-user --password kmspass1") == failure(
        "A user is already logged in. Log out first.")
    assert s.run("key list")["error_code"] == 0
    s.quit()
    assert as_admin(server, cid, "user", "delete", "--username", "kmsuser", "--role",
                    "crypto-user")["error_code"] == 0


def test_idle_session_times_out(server: ServerProcess) -> None:
    cid = new_cluster(server)
    add_user(server, cid, "kmsuser", "kmspass1")
    s = Session(server, cid)
    try:
        s.login("kmsuser", "crypto-user", "kmspass1")
        server.advance(1000)
        assert s.run("key list")["error_code"] == 0  # activity keeps it alive
        server.advance(1000)
        assert s.run("key list")["error_code"] == 0
        server.advance(1801)
        assert s.run("key list") == failure("You must be logged in to perform this operation.")
        assert as_admin(server, cid, "user", "change-password", "--username", "kmsuser",
                        "--role", "crypto-user", "--password", "kmspass2")["error_code"] == 0
    finally:
        s.quit()


def test_after_an_idle_timeout_the_session_can_log_in_again(server: ServerProcess) -> None:
    """The client forgets a session the server ended: login and logout work again."""
    cid = new_cluster(server)
    add_user(server, cid, "kmsuser", "kmspass1")
    s = Session(server, cid)
    try:
        assert s.login("kmsuser", "crypto-user", "kmspass1")["error_code"] == 0
        server.advance(1900)
        assert s.run("key list") == failure("You must be logged in to perform this operation.")
        assert s.run("logout") == failure("You must be logged in to perform this operation.")
        assert s.login("kmsuser", "crypto-user", "kmspass1") == {
            "error_code": 0, "data": {"username": "kmsuser", "role": "crypto-user"}}
        assert s.run("key list")["error_code"] == 0
        assert s.login("kmsuser", "crypto-user", "kmspass1") == failure(
            "A user is already logged in. Log out first.")
        # an ended session is forgotten by a login attempt too, even a failed one
        server.advance(1900)
        assert s.login("kmsuser", "crypto-user", "wrongpw1") == failure(
            "Incorrect authentication credentials.")
        assert s.login("kmsuser", "crypto-user", "kmspass1")["error_code"] == 0
        assert s.run("logout") == {"error_code": 0, "data": "Logout successful"}
        assert s.run("logout") == failure("You must be logged in to perform this operation.")
    finally:
        s.quit()


def test_sessions_survive_a_server_restart(server: ServerProcess) -> None:
    cid = new_cluster(server)
    add_user(server, cid, "kmsuser", "kmspass1")
    s = Session(server, cid)
    try:
        s.login("kmsuser", "crypto-user", "kmspass1")
        server.restart(hard=True)
        assert s.run("key list")["error_code"] == 0
        assert as_admin(server, cid, "user", "delete", "--username", "kmsuser", "--role",
                        "crypto-user") == failure("User is currently logged in.")
    finally:
        s.quit()
