"""The HSM service (``app.hsm``): what KMS and the ``cloudhsm-cli`` routes call.

It binds the pure user/key rules (:mod:`hsmkms.hsm.users`, :mod:`hsmkms.hsm.keys`) to the
clusters in the store (``cloudhsm.cluster``; each ACTIVE HSM's ``contents``), the login sessions
(:mod:`hsmkms.hsm.sessions`) and the PKCS #11 pools. Errors are :mod:`hsmkms.hsm.errors`
classes. All writes go through the caller's unit of work; note that a failed login *changes*
state (the failure counter), so a caller that must keep the count has to catch the error inside
its unit of work rather than let it escape (the CLI routes and KMS's connect job do).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import zlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from hsmkms.cloudhsm.model import CLUSTERS, BackupState, Cluster, ClusterState, HsmState
from hsmkms.errors import ServiceError
from hsmkms.hsm import keys, passwords, reachability, users
from hsmkms.hsm.errors import (
    ClusterNotFound,
    ClusterStateError,
    InvalidInput,
    NoActiveHsm,
    NotLoggedIn,
    PermissionDenied,
    UserLoggedIn,
)
from hsmkms.hsm.material import AES_LENGTHS, new_aes_material
from hsmkms.hsm.model import HsmContents, Role
from hsmkms.hsm.sessions import (
    SESSIONS,
    LoginSession,
    Pkcs11Pool,
    idle_timeout_for,
    new_token,
    scope_of_token,
    session_key,
)

if TYPE_CHECKING:
    from hsmkms.app import App

Contents = tuple[HsmContents, ...]


class HsmService:
    def __init__(self, app: App) -> None:
        self._app = app
        self._clusters = app.store.repository(CLUSTERS, Cluster)
        self._sessions = app.store.repository(SESSIONS, LoginSession)
        self._pkcs11 = Pkcs11Pool(app.config.pkcs11_sessions)

    # -- clusters and contents ------------------------------------------------------------------

    def _cluster(self, scope: str, cluster_id: str) -> Cluster:
        cluster = self._clusters.get(scope, cluster_id)
        if cluster is None or cluster.state in (ClusterState.DELETED,
                                                ClusterState.DELETE_IN_PROGRESS):
            raise ClusterNotFound(f"Cluster {cluster_id} not found.")
        return cluster

    @staticmethod
    def _contents(cluster: Cluster) -> Contents:
        return tuple(h.contents for h in cluster.hsms if h.state is HsmState.ACTIVE)

    def set_reachable(self, cluster_id: str, hsm_id: str, *, reachable: bool) -> None:
        """The ``hsm-unreachable`` fault (:mod:`hsmkms.hsm.reachability`): ``False`` makes an
        ACTIVE HSM DEGRADED, skipped by everything here; ``True`` brings it back and
        synchronises its keys. Faults are global, so the cluster is looked up in every scope."""
        for scope in self._clusters.scopes():
            cluster = self._clusters.get(scope, cluster_id)
            if cluster is not None and cluster.state not in (ClusterState.DELETED,
                                                             ClusterState.DELETE_IN_PROGRESS):
                backup = self._newest_backup(scope, cluster_id) if reachable else None
                moved = reachability.move(cluster, hsm_id, reachable=reachable, backup=backup)
                self._clusters.put(scope, cluster_id, moved)
                return
        raise ClusterNotFound(f"Cluster {cluster_id} not found.")

    def _newest_backup(self, scope: str, cluster_id: str) -> HsmContents | None:
        """The contents of the cluster's newest backup that is not DELETED (its keys, with
        their tombstones, as they were then)."""
        backups = self._app.cloudhsm.backups.of_cluster(scope, cluster_id)  # type: ignore[attr-defined]
        kept = [b for b in backups if b.state is not BackupState.DELETED]
        newest = max(kept, key=lambda b: b.create_timestamp, default=None)
        return newest.contents if newest is not None else None

    def _save(self, scope: str, cluster: Cluster, contents: Contents) -> None:
        it = iter(contents)
        hsms = tuple(dataclasses.replace(h, contents=next(it)) if h.state is HsmState.ACTIVE
                     else h for h in cluster.hsms)
        self._clusters.put(scope, cluster.cluster_id, dataclasses.replace(cluster, hsms=hsms))

    def _now(self) -> float:
        return self._app.clock.now()

    # -- login sessions -------------------------------------------------------------------------

    def _live_sessions(self, scope: str, cluster_id: str, now: float) -> list[
            tuple[str, LoginSession]]:
        return [(k, s) for k, s in self._sessions.items(scope)
                if s.cluster_id == cluster_id and not s.expired(now)]

    def _purge_expired(self, scope: str, now: float) -> None:
        for k, s in self._sessions.items(scope):
            if s.expired(now):
                self._sessions.delete(scope, k)

    def _pkcs11_args(self, scope: str, cluster: Cluster,
                     now: float) -> tuple[str, str, list[str], int]:
        """What the PKCS #11 pool needs: the reachable HSMs and how many logins hold one."""
        hsm_ids = [h.hsm_id for h in cluster.hsms if h.state is HsmState.ACTIVE]
        return scope, cluster.cluster_id, hsm_ids, len(self._live_sessions(
            scope, cluster.cluster_id, now))

    def login(self, scope: str, cluster_id: str, username: str, password: str,
              role: str, client: str, now: float) -> str:
        name = passwords.normalise_username(username)
        wanted = users.parse_role(role)
        cluster = self._cluster(scope, cluster_id)
        contents = self._contents(cluster)
        if not contents:
            raise NoActiveHsm
        self._purge_expired(scope, now)
        self._pkcs11.check_login(*self._pkcs11_args(scope, cluster, now))
        outcome = users.login(contents, name, password, wanted)
        if outcome.contents != contents:
            self._save(scope, cluster, outcome.contents)
        if outcome.error is not None:
            raise outcome.error
        token = f"{scope}|{new_token()}"
        timeout = idle_timeout_for(client, self._app.config.cli_idle_timeout)
        self._sessions.put(scope, session_key(token), LoginSession(
            cluster_id, name, str(wanted), client, now, now, timeout))
        return token

    def session(self, token: str, now: float | None = None) -> LoginSession:
        scope, _ = scope_of_token(token)
        found = self._sessions.get(scope, session_key(token)) if scope else None
        if found is None or found.expired(self._now() if now is None else now):
            raise NotLoggedIn
        return found

    def touch(self, token: str, now: float) -> LoginSession:
        found = self.session(token, now)
        scope, _ = scope_of_token(token)
        self._sessions.put(scope, session_key(token), dataclasses.replace(found, last_used=now))
        return found

    def logout(self, session_id: str) -> None:
        self.session(session_id)
        scope, _ = scope_of_token(session_id)
        self._sessions.delete(scope, session_key(session_id))

    def is_logged_in(self, scope: str, cluster_id: str, username: str, now: float) -> bool:
        name = username.lower()
        return any(s.username == name for _, s in self._live_sessions(scope, cluster_id, now))

    def _logged_in_elsewhere(self, scope: str, cluster_id: str, username: str,
                             except_token: str = "") -> bool:
        mine = session_key(except_token) if except_token else ""
        return any(s.username == username and k != mine
                   for k, s in self._live_sessions(scope, cluster_id, self._now()))

    def _acting(self, token: str) -> tuple[str, LoginSession, Cluster, keys.Actor]:
        found = self.session(token)
        scope, _ = scope_of_token(token)
        cluster = self._cluster(scope, found.cluster_id)
        return scope, found, cluster, keys.Actor(found.username, Role(found.role))

    # -- users ----------------------------------------------------------------------------------

    def has_user(self, scope: str, cluster_id: str, username: str) -> bool:
        contents = self._contents(self._cluster(scope, cluster_id))
        return users.user_role(contents, username.lower()) is not None

    def list_users(self, scope: str, cluster_id: str) -> list[dict[str, object]]:
        contents = self._contents(self._cluster(scope, cluster_id))
        if not contents:
            raise NoActiveHsm
        return users.list_users(contents)

    def create_user(self, token: str, username: str, role: str, password: str) -> None:
        scope, _s, cluster, actor = self._acting(token)
        _require_admin(actor)
        name = passwords.normalise_username(username)
        wanted = users.parse_role(role)
        passwords.check_password_rules(password, cluster.hsm_type)
        self._save(scope, cluster, users.create_user(self._contents(cluster), name, wanted,
                                                     password))

    def delete_user(self, token: str, username: str, role: str) -> None:
        scope, _s, cluster, actor = self._acting(token)
        _require_admin(actor)
        name = passwords.normalise_username(username)
        wanted = users.parse_role(role)
        contents = users.delete_user(self._contents(cluster), name, wanted)
        if self._logged_in_elsewhere(scope, cluster.cluster_id, name):
            raise UserLoggedIn
        self._save(scope, cluster, contents)

    def change_password(self, session_id: str, username: str, role: str,
                        new_password: str) -> None:
        scope, _s, cluster, actor = self._acting(session_id)
        name = passwords.normalise_username(username)
        wanted = users.parse_role(role)
        # Admins change anyone's password; every user may change their own (AWS permissions).
        if actor.role is not Role.ADMIN and (name != actor.username or wanted is not actor.role):
            raise PermissionDenied("A crypto user can change only their own password.")
        passwords.check_password_rules(new_password, cluster.hsm_type)
        contents = users.change_password(self._contents(cluster), name, wanted, new_password)
        # "The user must not be logged in" (AWS user change-password); one's own session aside.
        if self._logged_in_elsewhere(scope, cluster.cluster_id, name, session_id):
            raise UserLoggedIn
        self._save(scope, cluster, contents)

    def activate(self, scope: str, cluster_id: str, password: str, now: float) -> None:
        cluster = self._cluster(scope, cluster_id)
        if cluster.state is ClusterState.ACTIVE:
            raise ClusterStateError("The cluster is already activated.")
        if cluster.state is not ClusterState.INITIALIZED:
            raise ClusterStateError(f"The cluster must be INITIALIZED to be activated; it is "
                                    f"{cluster.state}.")
        passwords.check_password_rules(password, cluster.hsm_type)
        self._save(scope, cluster, users.activate(self._contents(cluster), password))
        control = getattr(self._app, "cloudhsm", None)
        if control is not None and hasattr(control, "activate"):
            try:
                control.activate(scope, cluster_id, now)
            except ServiceError as err:
                raise ClusterStateError(err.message) from err
        else:
            updated = self._cluster(scope, cluster_id)
            self._clusters.put(scope, cluster_id,
                               dataclasses.replace(updated, state=ClusterState.ACTIVE))

    def hsm_info(self, scope: str, cluster_id: str) -> list[dict[str, str]]:
        cluster = self._cluster(scope, cluster_id)
        active = [h for h in cluster.hsms if h.state is HsmState.ACTIVE]
        if not active:
            raise NoActiveHsm
        fips = getattr(cluster, "mode", "FIPS") != "NON_FIPS"
        return [_hsm_info(cluster.hsm_type, h.hsm_id, fips=fips) for h in active]

    # -- keys -----------------------------------------------------------------------------------

    def generate_aes_key(self, session_id: str, length_bytes: int, label: str,
                         key_id: bytes, *, extractable: bool = False) -> str:
        # KMS encrypts and decrypts with its backing keys inside the HSM (AES-GCM).
        attrs: dict[str, Any] = {"id": key_id, "extractable": extractable, "encrypt": True,
                                 "decrypt": True}
        return keys.format_reference(self.generate(session_id, length_bytes, label, attrs, ()))

    def generate(self, token: str, length_bytes: int, label: str, attributes: dict[str, Any],
                 share_with: tuple[str, ...]) -> int:
        scope, _s, cluster, actor = self._acting(token)
        if length_bytes not in AES_LENGTHS:
            raise InvalidInput("Invalid key-length-bytes: AES keys are 16, 24 or 32 bytes long.")
        contents, ref = keys.generate_aes(self._contents(cluster), actor, length_bytes, label,
                                          new_aes_material(length_bytes), attributes,
                                          share_with, reachability.next_reference(cluster))
        self._save(scope, cluster, contents)
        return ref

    @contextlib.contextmanager
    def use_key(self, session_id: str, key_id: bytes) -> Iterator[bytes]:
        scope, _s, cluster, actor = self._acting(session_id)
        contents = self._contents(cluster)
        if not contents:
            raise NoActiveHsm
        key = keys.find_by_id(contents, actor, key_id)
        # The login session itself holds one PKCS #11 session; the operation borrows another.
        with self._pkcs11.borrow(*self._pkcs11_args(scope, cluster, self._now())):
            yield bytes(key.material)

    def delete_key(self, session_id: str, key_id: bytes) -> None:
        scope, _s, cluster, actor = self._acting(session_id)
        contents = self._contents(cluster)
        key = keys.find_by_id(contents, actor, key_id)
        self._save(scope, cluster, keys.delete(contents, actor, key.key_reference))

    def random_bytes(self, scope: str, cluster_id: str, n: int) -> bytes:
        if not self._contents(self._cluster(scope, cluster_id)):
            raise NoActiveHsm
        return os.urandom(n)

    def key_list(self, token: str, terms: list[str], max_items: int,
                 start: int, *, verbose: bool) -> dict[str, Any]:
        _scope, _s, cluster, actor = self._acting(token)
        if actor.role not in (Role.ADMIN, Role.CRYPTO_USER):
            raise PermissionDenied
        if max_items < 1:
            raise InvalidInput("Invalid pagination: max-items must be positive.")
        if start < 0:
            raise InvalidInput(f"Invalid value for --starting-token: {start}. Use the "
                               "next_token of an earlier answer.")
        contents = self._contents(cluster)
        if not contents:
            raise NoActiveHsm
        return keys.list_keys(contents, actor, keys.parse_filter(terms), max_items, start,
                              verbose=verbose)

    def key_change(self, token: str, terms: list[str], op: str, **kwargs: str) -> None:
        """``key delete|share|unshare|set-attribute`` on the single key the filter selects."""
        scope, _s, cluster, actor = self._acting(token)
        contents = self._contents(cluster)
        if not contents:
            raise NoActiveHsm
        ref = keys.select_one(contents, actor, keys.parse_filter(terms))
        if op == "delete":
            new = keys.delete(contents, actor, ref)
        elif op in ("share", "unshare"):
            name = passwords.normalise_username(kwargs["username"])
            if users.parse_role(kwargs["role"]) is not Role.CRYPTO_USER:
                raise InvalidInput("Keys can be shared only with crypto users.")
            new = getattr(keys, op)(contents, actor, ref, name)
        else:
            new = keys.set_attribute(contents, actor, ref, kwargs["name"], kwargs["value"])
        self._save(scope, cluster, new)


def _require_admin(actor: keys.Actor) -> None:
    if actor.role is not Role.ADMIN:
        raise PermissionDenied("Only an admin can manage users.")


def _hsm_info(hsm_type: str, hsm_id: str, *, fips: bool) -> dict[str, str]:
    """Values as AWS prints them for hsm1.medium (cluster hsm-info); serial from the id."""
    return {
        "vendor": "Marvell Semiconductors, Inc.",
        "model": "NITROX-V CNN55XX-NFBE" if hsm_type.startswith("hsm2") else
        "NITROX-III CNN35XX-NFBE",
        "serial-number": f"5.3G{zlib.crc32(hsm_id.encode()) % 10**7:07d}",
        "hardware-version-major": "5",
        "hardware-version-minor": "3",
        "firmware-version-major": "2",
        "firmware-version-minor": "6",
        "firmware-build-number": "16",
        "firmware-id": "CNN35XX-NFBE-FW-2.06-16",
        "fips-state": "2 [FIPS mode with single factor authentication]" if fips
        else "0 [non-FIPS mode with single factor authentication]",
    }
