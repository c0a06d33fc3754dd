"""The HSM service (``app.hsm``): what KMS and the ``cloudhsm-cli`` routes call.

It binds the pure user/key rules (:mod:`hsmkms.hsm.users`, :mod:`hsmkms.hsm.keys`) to the HSM
contents in the store (rows of :mod:`hsmkms.hsm.contents`: each operation loads only what its
rule reads and writes only the rows that changed), the login sessions
(:mod:`hsmkms.hsm.sessions`) and the PKCS #11 pools. The clusters' topology and state come from
a :class:`ClusterTopology` (CloudHSM). Errors are :mod:`hsmkms.hsm.errors` classes. All writes
go through the caller's unit of work; note that a failed login *changes* state (the failure
counter), so a caller that must keep the count has to catch the error inside its unit of work
rather than let it escape (the CLI routes and KMS's connect job do).

KMS uses keys by PKCS #11-style operations (:meth:`HsmService.find_key`,
:meth:`HsmService.encrypt`, :meth:`HsmService.decrypt`, :meth:`HsmService.open_key`): key
material never leaves this package.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import zlib
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from hsmkms import crypto
from hsmkms.cloudhsm.model import Cluster, ClusterState, HsmState
from hsmkms.errors import ServiceError
from hsmkms.hsm import keys, passwords, reachability, users
from hsmkms.hsm.contents import ContentsRows
from hsmkms.hsm.errors import (
    ClusterNotFound,
    ClusterStateError,
    InvalidInput,
    KeyNotFound,
    NoActiveHsm,
    NotLoggedIn,
    PermissionDenied,
    UserLoggedIn,
)
from hsmkms.hsm.material import AES_LENGTHS, new_aes_material
from hsmkms.hsm.model import HsmContents, HsmKey, Role
from hsmkms.hsm.sessions import (
    SESSIONS,
    LoginSession,
    Pkcs11Pool,
    idle_timeout_for,
    new_token,
    scope_of_token,
    session_key,
)
from hsmkms.store.base import Store

Contents = tuple[HsmContents, ...]
#: AES-GCM IV length the HSM draws when the caller gives none (NIST SP 800-38D: 96 bits).
GCM_IV_LEN = 12


class ClusterTopology(Protocol):
    """What the HSMs need from CloudHSM: clusters (topology and state) and backups."""

    def get_cluster(self, scope: str, cluster_id: str) -> Cluster | None: ...

    def save_cluster(self, scope: str, cluster: Cluster) -> None: ...

    def find_cluster(self, cluster_id: str) -> tuple[str, Cluster] | None: ...

    def activate(self, scope: str, cluster_id: str, now: float) -> Cluster: ...

    def newest_backup_contents(self, scope: str, cluster_id: str) -> HsmContents | None: ...


class KeyObject:
    """A secret key inside the HSMs, as a PKCS #11 object handle used through a session: an
    AEAD (:class:`hsmkms.crypto.Aead`) whose material stays in the HSM."""

    __slots__ = ("_handle", "_hsm", "_session")

    def __init__(self, hsm: HsmService, session: str, handle: int) -> None:
        self._hsm, self._session, self._handle = hsm, session, handle

    def encrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes:
        blob = self._hsm.encrypt_in(self._session, self._handle, data, associated_data or b"",
                                    iv=nonce)
        return blob[len(nonce):]

    def decrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes:
        return self._hsm.decrypt_in(self._session, self._handle, nonce + data,
                                    associated_data or b"")


class HsmService:
    def __init__(self, store: Store, now: Callable[[], float], topology: ClusterTopology, *,
                 pkcs11_sessions: int, cli_idle_timeout: int) -> None:
        self._now = now
        self._topology = topology
        self._cli_idle_timeout = cli_idle_timeout
        self._rows = ContentsRows(store)
        self._sessions = store.repository(SESSIONS, LoginSession)
        self._pkcs11 = Pkcs11Pool(pkcs11_sessions)
        #: (scope, cluster, username, CKA_ID) -> key-reference: a hint, checked on every use.
        self._by_id: dict[tuple[str, str, str, bytes], int] = {}

    # -- clusters and contents ------------------------------------------------------------------

    def _cluster(self, scope: str, cluster_id: str) -> Cluster:
        cluster = self._topology.get_cluster(scope, cluster_id)
        if cluster is None or cluster.state in (ClusterState.DELETED,
                                                ClusterState.DELETE_IN_PROGRESS):
            raise ClusterNotFound(f"Cluster {cluster_id} not found.")
        return cluster

    @staticmethod
    def _active(cluster: Cluster) -> list[str]:
        return [h.hsm_id for h in cluster.hsms if h.state is HsmState.ACTIVE]

    def _contents(self, scope: str, cluster: Cluster, *, keys: bool = True,
                  refs: tuple[int, ...] | None = None) -> Contents:
        """The contents of the ACTIVE HSMs: with all keys, with the keys ``refs`` only, or
        (``keys=False``) with users and counters only."""
        wanted = refs if refs is not None else (None if keys else ())
        return tuple(self._rows.load(scope, cluster.cluster_id, h, refs=wanted)
                     for h in self._active(cluster))

    def _save(self, scope: str, cluster: Cluster, old: Contents, new: Contents) -> None:
        for hsm_id, before, after in zip(self._active(cluster), old, new, strict=True):
            self._rows.save(scope, cluster.cluster_id, hsm_id, before, after)

    def _next_reference(self, scope: str, cluster: Cluster) -> int:
        return reachability.next_reference(
            HsmContents((), (), self._rows.next_reference(scope, cluster.cluster_id, h.hsm_id))
            for h in cluster.hsms_in_service())

    def set_reachable(self, cluster_id: str, hsm_id: str, *, reachable: bool) -> None:
        """The ``hsm-unreachable`` fault (:mod:`hsmkms.hsm.reachability`): ``False`` makes an
        ACTIVE HSM DEGRADED, skipped by everything here; ``True`` brings it back and
        synchronises its keys. Faults are global, so the cluster is looked up in every scope."""
        found = self._topology.find_cluster(cluster_id)
        if found is None:
            raise ClusterNotFound(f"Cluster {cluster_id} not found.")
        scope, cluster = found
        moved = reachability.move(cluster, hsm_id, reachable=reachable)
        self._topology.save_cluster(scope, moved)
        if reachable:
            backup = self._topology.newest_backup_contents(scope, cluster_id)
            before = dict(zip(self._active(moved), self._contents(scope, moved), strict=True))
            after = reachability.synchronise_returning(moved, before, hsm_id, backup)
            for hsm, contents in after.items():
                self._rows.save(scope, cluster_id, hsm, before[hsm], contents)

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
        contents = self._contents(scope, cluster, keys=False)
        if not contents:
            raise NoActiveHsm
        self._purge_expired(scope, now)
        self._pkcs11.check_login(*self._pkcs11_args(scope, cluster, now))
        outcome = users.login(contents, name, password, wanted)
        self._save(scope, cluster, contents, outcome.contents)
        if outcome.error is not None:
            raise outcome.error
        token = f"{scope}|{new_token()}"
        timeout = idle_timeout_for(client, self._cli_idle_timeout)
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
        contents = self._contents(scope, self._cluster(scope, cluster_id), keys=False)
        return users.user_role(contents, username.lower()) is not None

    def is_user_locked(self, scope: str, cluster_id: str, username: str) -> bool:
        """The user is locked out on some ACTIVE HSM (five wrong passwords there): that HSM
        refuses the user's requests. False for a cluster that is gone."""
        cluster = self._topology.get_cluster(scope, cluster_id)
        if cluster is None:
            return False
        name = username.lower()
        return any(u is not None and u.locked
                   for c in self._contents(scope, cluster, keys=False)
                   if (u := c.user(name)) is not None)

    def list_users(self, scope: str, cluster_id: str) -> list[dict[str, object]]:
        contents = self._contents(scope, self._cluster(scope, cluster_id), keys=False)
        if not contents:
            raise NoActiveHsm
        return users.list_users(contents)

    def create_user(self, token: str, username: str, role: str, password: str) -> None:
        scope, _s, cluster, actor = self._acting(token)
        _require_admin(actor)
        name = passwords.normalise_username(username)
        wanted = users.parse_role(role)
        passwords.check_password_rules(password, cluster.hsm_type)
        contents = self._contents(scope, cluster, keys=False)
        self._save(scope, cluster, contents, users.create_user(contents, name, wanted, password))

    def delete_user(self, token: str, username: str, role: str) -> None:
        scope, _s, cluster, actor = self._acting(token)
        _require_admin(actor)
        name = passwords.normalise_username(username)
        wanted = users.parse_role(role)
        before = self._contents(scope, cluster)  # all keys: a user who owns keys stays
        contents = users.delete_user(before, name, wanted)
        if self._logged_in_elsewhere(scope, cluster.cluster_id, name):
            raise UserLoggedIn
        self._save(scope, cluster, before, contents)

    def change_password(self, session_id: str, username: str, role: str,
                        new_password: str) -> None:
        scope, _s, cluster, actor = self._acting(session_id)
        name = passwords.normalise_username(username)
        wanted = users.parse_role(role)
        # Admins change anyone's password; every user may change their own (AWS permissions).
        if actor.role is not Role.ADMIN and (name != actor.username or wanted is not actor.role):
            raise PermissionDenied("A crypto user can change only their own password.")
        passwords.check_password_rules(new_password, cluster.hsm_type)
        before = self._contents(scope, cluster, keys=False)
        contents = users.change_password(before, name, wanted, new_password)
        # "The user must not be logged in" (AWS user change-password); one's own session aside.
        if self._logged_in_elsewhere(scope, cluster.cluster_id, name, session_id):
            raise UserLoggedIn
        self._save(scope, cluster, before, contents)

    def activate(self, scope: str, cluster_id: str, password: str, now: float) -> None:
        cluster = self._cluster(scope, cluster_id)
        if cluster.state is ClusterState.ACTIVE:
            raise ClusterStateError("The cluster is already activated.")
        if cluster.state is not ClusterState.INITIALIZED:
            raise ClusterStateError(f"The cluster must be INITIALIZED to be activated; it is "
                                    f"{cluster.state}.")
        passwords.check_password_rules(password, cluster.hsm_type)
        before = self._contents(scope, cluster, keys=False)
        self._save(scope, cluster, before, users.activate(before, password))
        try:
            self._topology.activate(scope, cluster_id, now)
        except ServiceError as err:
            raise ClusterStateError(err.message) from err

    def hsm_info(self, scope: str, cluster_id: str) -> list[dict[str, str]]:
        cluster = self._cluster(scope, cluster_id)
        active = [h for h in cluster.hsms if h.state is HsmState.ACTIVE]
        if not active:
            raise NoActiveHsm
        fips = cluster.mode != "NON_FIPS"
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
        before = self._contents(scope, cluster, keys=False)  # a new key reads no other key
        contents, ref = keys.generate_aes(before, actor, length_bytes, label,
                                          new_aes_material(length_bytes), attributes,
                                          share_with, self._next_reference(scope, cluster))
        self._save(scope, cluster, before, contents)
        return ref

    def describe_key(self, token: str, ref: int) -> dict[str, Any]:
        """``key list --verbose``'s entry for one key (what ``key generate-symmetric`` prints)."""
        scope, _s, cluster, _actor = self._acting(token)
        return keys.render(self._contents(scope, cluster, refs=(ref,)), ref, verbose=True)

    # -- PKCS #11-style operations on keys (KMS) ------------------------------------------------

    def find_key(self, session_id: str, key_id: bytes) -> int:
        """``C_FindObjects`` on ``CKA_ID``: the handle (key-reference) of the key with this id
        that the session's user owns or shares (the first HSM's copy, the lowest reference)."""
        scope, _s, cluster, actor = self._acting(session_id)
        return self._find(scope, cluster, actor, key_id)

    def _find(self, scope: str, cluster: Cluster, actor: keys.Actor, key_id: bytes) -> int:
        hint = (scope, cluster.cluster_id, actor.username, key_id)
        ref = self._by_id.get(hint)
        if ref is not None and self._usable(scope, cluster, actor, ref, key_id) is not None:
            return ref
        contents = self._contents(scope, cluster)
        if not contents:
            raise NoActiveHsm
        ref = keys.find_by_id(contents, actor, key_id).key_reference
        self._by_id[hint] = ref
        return ref

    def _usable(self, scope: str, cluster: Cluster, actor: keys.Actor, ref: int,
                key_id: bytes | None = None) -> HsmKey | None:
        """The first ACTIVE HSM's copy of key ``ref``, if the actor may use it."""
        for hsm_id in self._active(cluster):
            key = self._rows.key(scope, cluster.cluster_id, hsm_id, ref)
            if key is not None and keys.visible(key, actor) and actor.role is Role.CRYPTO_USER \
                    and key_id in (None, key.attributes.id):
                return key
        return None

    def _key(self, session_id: str, handle: int) -> HsmKey:
        scope, _s, cluster, actor = self._acting(session_id)
        if not self._active(cluster):
            raise NoActiveHsm
        key = self._usable(scope, cluster, actor, handle)
        if key is None:
            raise KeyNotFound
        return key

    @contextlib.contextmanager
    def open_key(self, session_id: str, key_id: bytes) -> Iterator[KeyObject]:
        """The key with this ``CKA_ID`` as an AEAD, for as long as the block runs: it holds a
        PKCS #11 session of its own (the login session itself holds one)."""
        scope, _s, cluster, actor = self._acting(session_id)
        if not self._active(cluster):
            raise NoActiveHsm
        handle = self._find(scope, cluster, actor, key_id)
        with self._pkcs11.borrow(*self._pkcs11_args(scope, cluster, self._now())):
            yield KeyObject(self, session_id, handle)

    @contextlib.contextmanager
    def _operation(self, session_id: str) -> Iterator[None]:
        scope, _s, cluster, _actor = self._acting(session_id)
        with self._pkcs11.borrow(*self._pkcs11_args(scope, cluster, self._now())):
            yield

    def encrypt(self, session_id: str, handle: int, plaintext: bytes, aad: bytes, *,
                iv: bytes | None = None) -> bytes:
        """``C_Encrypt`` with ``CKM_AES_GCM`` (128-bit tag): IV, then ciphertext and tag. The
        HSM draws a 96-bit IV unless one is given."""
        with self._operation(session_id):
            return self.encrypt_in(session_id, handle, plaintext, aad, iv=iv)

    def decrypt(self, session_id: str, handle: int, blob: bytes, aad: bytes) -> bytes:
        """``C_Decrypt`` of what :meth:`encrypt` returned (a 96-bit IV first);
        :class:`hsmkms.crypto.CryptoError` when it does not authenticate."""
        with self._operation(session_id):
            return self.decrypt_in(session_id, handle, blob, aad)

    def encrypt_in(self, session_id: str, handle: int, plaintext: bytes, aad: bytes, *,
                   iv: bytes | None = None) -> bytes:
        """:meth:`encrypt` inside a PKCS #11 session already held (:meth:`open_key`)."""
        key = self._key(session_id, handle)
        nonce = iv if iv is not None else os.urandom(GCM_IV_LEN)
        return nonce + crypto.gcm_encrypt(bytes(key.material), nonce, plaintext, aad)

    def decrypt_in(self, session_id: str, handle: int, blob: bytes, aad: bytes) -> bytes:
        key = self._key(session_id, handle)
        return crypto.gcm_decrypt(bytes(key.material), blob[:GCM_IV_LEN], blob[GCM_IV_LEN:],
                                  aad)

    def delete_key(self, session_id: str, key_id: bytes) -> None:
        """The key with this ``CKA_ID`` (KMS deletes its backing keys by id)."""
        self.destroy_key(session_id, self.find_key(session_id, key_id))

    def destroy_key(self, session_id: str, handle: int) -> None:
        """``C_DestroyObject`` on every ACTIVE HSM (a tombstone stays)."""
        scope, _s, cluster, actor = self._acting(session_id)
        before = self._contents(scope, cluster, refs=(handle,))
        if not any(c.keys for c in before):
            raise KeyNotFound
        self._save(scope, cluster, before, keys.delete(before, actor, handle))

    def random_bytes(self, scope: str, cluster_id: str, n: int) -> bytes:
        if not self._active(self._cluster(scope, cluster_id)):
            raise NoActiveHsm
        return os.urandom(n)

    def key_list(self, token: str, terms: list[str], max_items: int,
                 start: int, *, verbose: bool) -> dict[str, Any]:
        scope, _s, cluster, actor = self._acting(token)
        if actor.role not in (Role.ADMIN, Role.CRYPTO_USER):
            raise PermissionDenied
        if max_items < 1:
            raise InvalidInput("Invalid pagination: max-items must be positive.")
        if start < 0:
            raise InvalidInput(f"Invalid value for --starting-token: {start}. Use the "
                               "next_token of an earlier answer.")
        contents = self._contents(scope, cluster)
        if not contents:
            raise NoActiveHsm
        return keys.list_keys(contents, actor, keys.parse_filter(terms), max_items, start,
                              verbose=verbose)

    def key_change(self, token: str, terms: list[str], op: str, **kwargs: str) -> None:
        """``key delete|share|unshare|set-attribute`` on the single key the filter selects."""
        scope, _s, cluster, actor = self._acting(token)
        contents = self._contents(scope, cluster)
        if not contents:
            raise NoActiveHsm
        ref = keys.select_one(contents, actor, keys.parse_filter(terms))
        if op == "delete":
            new = keys.delete(contents, actor, ref)
        elif op in ("share", "unshare"):
            name = passwords.normalise_username(kwargs["username"])
            if users.parse_role(kwargs["role"]) is not Role.CRYPTO_USER:
                raise InvalidInput("Keys can be shared only with crypto users.")
            new = (keys.share if op == "share" else keys.unshare)(contents, actor, ref, name)
        else:
            new = keys.set_attribute(contents, actor, ref, kwargs["name"], kwargs["value"])
        self._save(scope, cluster, contents, new)


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
