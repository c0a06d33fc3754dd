"""User operations across the HSMs of a cluster (pure: tuples of HsmContents in, out).

Theory of operation (AWS cluster-synchronization, troubleshoot-sdk5-inconsistent-value): users
are *not* synchronised by the service; the client applies each user operation to every HSM it
can reach, best effort. So each HSM keeps its own users, password hashes and failed-login
counters, and the cluster-wide view (``user list``) aggregates them, printing
``"inconsistent"`` where HSMs disagree. Operations here take the contents of the HSMs that are
reachable (ACTIVE) and return their new contents in the same order.

Login (cloudhsm_cli-login): a login authenticates to every HSM. A wrong password is rejected by
the first HSM tried, which counts the failure; the client load-balances, so the first HSM
rotates (here: deterministically, by the total failures so far), which is why a multi-HSM
cluster allows more than five wrong tries before the user is locked everywhere, and why
``locked`` can read ``"inconsistent"``. A successful login resets the counter (spec 8.13).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from hsmkms.hsm import passwords
from hsmkms.hsm.errors import (
    ClusterStateError,
    HsmError,
    InvalidCredentials,
    InvalidInput,
    NoActiveHsm,
    PermissionDenied,
    UserAlreadyExists,
    UserLockedOut,
    UserNotFound,
    UserOwnsKeys,
)
from hsmkms.hsm.model import HsmContents, HsmUser, Role

Contents = tuple[HsmContents, ...]
#: Roles a client may name on input (``--role``); AWS: ``admin`` and ``crypto-user``.
INPUT_ROLES = {"admin": Role.ADMIN, "crypto-user": Role.CRYPTO_USER}


@dataclass(frozen=True, slots=True)
class LoginOutcome:
    contents: Contents
    error: HsmError | None
    role: Role | None = None


def parse_role(role: str) -> Role:
    try:
        return INPUT_ROLES[role]
    except KeyError:
        raise InvalidInput(f"Invalid role '{role}': use admin or crypto-user.") from None


def _require(contents: Contents) -> None:
    if not contents:
        raise NoActiveHsm


def _replace_user(c: HsmContents, user: HsmUser) -> HsmContents:
    users = tuple(user if u.username == user.username else u for u in c.users)
    return dataclasses.replace(c, users=users)


def _role_matches(user: HsmUser, role: Role) -> bool:
    return user.role is role or (role is Role.ADMIN and user.role is Role.UNACTIVATED_ADMIN)


def login(contents: Contents, username: str, password: str, role: Role) -> LoginOutcome:
    _require(contents)
    n = len(contents)
    start = sum(u.failed_logins for c in contents if (u := c.user(username))) % n
    out = list(contents)
    verified: dict[tuple[bytes, bytes], bool] = {}
    for i in [(start + k) % n for k in range(n)]:
        user = out[i].user(username)
        if user is None or not _role_matches(user, role):
            return LoginOutcome(tuple(out), UserNotFound())
        if user.role is Role.UNACTIVATED_ADMIN:
            return LoginOutcome(tuple(out), ClusterStateError(
                "The cluster is not activated. Run cluster activate first."))
        if user.locked:
            return LoginOutcome(tuple(out), UserLockedOut())
        key = (user.salt, bytes(user.password_hash))
        if key not in verified:
            verified[key] = passwords.verify_password(password, user.salt, user.password_hash)
        if not verified[key]:
            out[i] = _replace_user(out[i], dataclasses.replace(
                user, failed_logins=user.failed_logins + 1))
            return LoginOutcome(tuple(out), InvalidCredentials())
    for i, c in enumerate(out):
        user = c.user(username)
        if user is not None and user.failed_logins:
            out[i] = _replace_user(c, dataclasses.replace(user, failed_logins=0))
    return LoginOutcome(tuple(out), None, role)


def _present(contents: Contents, username: str) -> list[HsmUser]:
    return [u for c in contents if (u := c.user(username)) is not None]


def create_user(contents: Contents, username: str, role: Role, password: str,
                salt: Callable[[], bytes] = passwords.new_salt) -> Contents:
    """Create on every HSM that lacks the user ("finish the create" repairs partial coverage)."""
    _require(contents)
    if len(_present(contents, username)) == len(contents):
        raise UserAlreadyExists
    s = salt()
    user = HsmUser(username, role, passwords.hash_password(password, s), s)
    return tuple(c if c.user(username) else dataclasses.replace(c, users=(*c.users, user))
                 for c in contents)


def delete_user(contents: Contents, username: str, role: Role) -> Contents:
    _require(contents)
    present = _present(contents, username)
    if not present or not any(u.role is role for u in present):
        raise UserNotFound
    if any(u.role in (Role.APPLIANCE_USER, Role.UNACTIVATED_ADMIN) for u in present) \
            or username == "admin":
        raise PermissionDenied("The built-in users admin and app_user cannot be deleted.")
    if any(k.owner == username for c in contents for k in c.keys):
        raise UserOwnsKeys
    return tuple(dataclasses.replace(c, users=tuple(
        u for u in c.users if not (u.username == username and u.role is role)))
        for c in contents)


def change_password(contents: Contents, username: str, role: Role, password: str,
                    salt: Callable[[], bytes] = passwords.new_salt) -> Contents:
    """Set the password on every HSM that has the user; clears the lockout (AWS)."""
    _require(contents)
    present = _present(contents, username)
    if not present or not any(_role_matches(u, role) for u in present):
        raise UserNotFound
    s = salt()
    digest = passwords.hash_password(password, s)
    return tuple(_replace_user(c, dataclasses.replace(u, password_hash=digest, salt=s,
                                                      failed_logins=0))
                 if (u := c.user(username)) is not None and _role_matches(u, role) else c
                 for c in contents)


def activate(contents: Contents, password: str,
             salt: Callable[[], bytes] = passwords.new_salt) -> Contents:
    """``cluster activate``: the unactivated admin becomes ``admin`` with this password."""
    _require(contents)
    admins = _present(contents, "admin")
    if not admins or any(u.role is not Role.UNACTIVATED_ADMIN for u in admins):
        raise ClusterStateError("The cluster is already activated.")
    s = salt()
    digest = passwords.hash_password(password, s)
    admin = HsmUser("admin", Role.ADMIN, digest, s)
    return tuple(_replace_user(c, admin) for c in contents)


def _agg(values: list[str]) -> str:
    return values[0] if len(set(values)) == 1 else "inconsistent"


def list_users(contents: Contents) -> list[dict[str, object]]:
    """``user list`` rows: one per username, in creation order, aggregated over the HSMs."""
    names: list[str] = []
    for c in contents:
        names += [u.username for u in c.users if u.username not in names]
    rows: list[dict[str, object]] = []
    for name in names:
        present = _present(contents, name)
        rows.append({
            "username": name,
            "role": _agg([str(u.role) for u in present]),
            "locked": _agg(["true" if u.locked else "false" for u in present]),
            "mfa": [],
            "cluster-coverage": "full" if len(present) == len(contents) else "inconsistent",
        })
    return rows


def user_role(contents: Contents, username: str) -> Role | None:
    present = _present(contents, username)
    return present[0].role if present else None
