"""Each HSM's users and keys as rows of their own (issue 9, review 3.4 and 6.8).

Theory of operation: the pure core (:mod:`hsmkms.hsm.users`, :mod:`hsmkms.hsm.keys`) works on
:class:`~hsmkms.hsm.model.HsmContents` values; this module is how those values are fed from and
written back to the store, one row per thing that changes:

* ``hsm.user``: one row per user of one HSM (``<cluster>/<hsm>/<username>``), with a sequence
  number that keeps ``user list``'s creation order across restarts;
* ``hsm.key``: one row per key-reference of one HSM (``<cluster>/<hsm>/<reference>``); the key
  (its material a sealed :class:`~hsmkms.store.codec.Secret`) or, once deleted, a tombstone;
* ``hsm.counter``: the HSM's next key-reference.

Rows live in the cluster's scope (``account/region``). A caller loads what its operation needs
(the users and the counter, plus all keys or only some), runs the pure rule on that, and
:meth:`ContentsRows.save` writes only the rows whose value changed: generating a key writes a
key row and a counter row per HSM, whatever the number of keys.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from hsmkms.hsm.model import FIRST_KEY_REFERENCE, HsmContents, HsmKey, HsmUser
from hsmkms.store.base import Repository, Store

USERS = "hsm.user"
KEYS = "hsm.key"
COUNTERS = "hsm.counter"


@dataclass(frozen=True, slots=True)
class UserRow:
    cluster_id: str
    hsm_id: str
    seq: int
    user: HsmUser


@dataclass(frozen=True, slots=True)
class KeyRow:
    cluster_id: str
    hsm_id: str
    reference: int
    #: None: the key was deleted on this HSM (a tombstone, ``deleted_references``).
    key: HsmKey | None = None


@dataclass(frozen=True, slots=True)
class CounterRow:
    cluster_id: str
    hsm_id: str
    next_key_reference: int


def _prefix(cluster_id: str, hsm_id: str) -> str:
    return f"{cluster_id}/{hsm_id}/"


def _key_id(cluster_id: str, hsm_id: str, ref: int) -> str:
    return f"{cluster_id}/{hsm_id}/{ref:016x}"


class ContentsRows:
    """The rows of the HSMs' contents in one store (shared by ``hsm`` and ``cloudhsm``)."""

    def __init__(self, store: Store) -> None:
        self._users: Repository[UserRow] = store.repository(USERS, UserRow)
        self._keys: Repository[KeyRow] = store.repository(KEYS, KeyRow)
        self._counters: Repository[CounterRow] = store.repository(COUNTERS, CounterRow)

    # -- reads ----------------------------------------------------------------------------------

    def _user_rows(self, scope: str, cluster_id: str, hsm_id: str) -> list[UserRow]:
        prefix = _prefix(cluster_id, hsm_id)
        rows = [r for i, r in self._users.items(scope) if i.startswith(prefix)]
        return sorted(rows, key=lambda r: r.seq)

    def _key_rows(self, scope: str, cluster_id: str, hsm_id: str) -> list[KeyRow]:
        prefix = _prefix(cluster_id, hsm_id)
        rows = [r for i, r in self._keys.items(scope) if i.startswith(prefix)]
        return sorted(rows, key=lambda r: r.reference)

    def next_reference(self, scope: str, cluster_id: str, hsm_id: str) -> int:
        row = self._counters.get(scope, f"{cluster_id}/{hsm_id}")
        return row.next_key_reference if row is not None else FIRST_KEY_REFERENCE

    def key(self, scope: str, cluster_id: str, hsm_id: str, ref: int) -> HsmKey | None:
        row = self._keys.get(scope, _key_id(cluster_id, hsm_id, ref))
        return row.key if row is not None else None

    def load(self, scope: str, cluster_id: str, hsm_id: str, *,
             refs: Iterable[int] | None = None) -> HsmContents:
        """The HSM's contents: users, counter and keys (all of them, or only ``refs``; with
        ``refs`` the tombstones are left out: enough for a rule that touches those keys)."""
        users = tuple(r.user for r in self._user_rows(scope, cluster_id, hsm_id))
        nxt = self.next_reference(scope, cluster_id, hsm_id)
        if refs is not None:
            found = (self.key(scope, cluster_id, hsm_id, r) for r in refs)
            return HsmContents(users, tuple(k for k in found if k is not None), nxt)
        rows = self._key_rows(scope, cluster_id, hsm_id)
        return HsmContents(users, tuple(r.key for r in rows if r.key is not None), nxt,
                           tuple(r.reference for r in rows if r.key is None))

    # -- writes ---------------------------------------------------------------------------------

    def save(self, scope: str, cluster_id: str, hsm_id: str, old: HsmContents,
             new: HsmContents) -> None:
        """Write the rows in which ``new`` differs from ``old`` (what was loaded)."""
        if new.users != old.users:
            self._save_users(scope, cluster_id, hsm_id, new.users)
        if new.keys != old.keys or new.deleted_references != old.deleted_references:
            self._save_keys(scope, cluster_id, hsm_id, old, new)
        if new.next_key_reference != old.next_key_reference:
            self._counters.put(scope, f"{cluster_id}/{hsm_id}",
                               CounterRow(cluster_id, hsm_id, new.next_key_reference))

    def _save_users(self, scope: str, cluster_id: str, hsm_id: str,
                    users: tuple[HsmUser, ...]) -> None:
        rows = {r.user.username: r for r in self._user_rows(scope, cluster_id, hsm_id)}
        seq = max((r.seq for r in rows.values()), default=-1)
        for user in users:
            row = rows.pop(user.username, None)
            if row is None:
                seq += 1
                row = UserRow(cluster_id, hsm_id, seq, user)
            elif row.user == user:
                continue
            self._users.put(scope, _prefix(cluster_id, hsm_id) + user.username,
                            UserRow(cluster_id, hsm_id, row.seq, user))
        for gone in rows:
            self._users.delete(scope, _prefix(cluster_id, hsm_id) + gone)

    def _save_keys(self, scope: str, cluster_id: str, hsm_id: str, old: HsmContents,
                   new: HsmContents) -> None:
        before = {k.key_reference: k for k in old.keys}
        for key in new.keys:
            if before.pop(key.key_reference, None) != key:
                self._put_key(scope, KeyRow(cluster_id, hsm_id, key.key_reference, key))
        tombstones = set(new.deleted_references) - set(old.deleted_references)
        for ref in tombstones:
            self._put_key(scope, KeyRow(cluster_id, hsm_id, ref))
        for ref in before:
            if ref not in tombstones:
                self._keys.delete(scope, _key_id(cluster_id, hsm_id, ref))
        for ref in set(old.deleted_references) - set(new.deleted_references):
            if new.key(ref) is None:
                self._keys.delete(scope, _key_id(cluster_id, hsm_id, ref))

    def _put_key(self, scope: str, row: KeyRow) -> None:
        self._keys.put(scope, _key_id(row.cluster_id, row.hsm_id, row.reference), row)

    def replace(self, scope: str, cluster_id: str, hsm_id: str, contents: HsmContents) -> None:
        """The HSM holds exactly ``contents`` (a new HSM, a restore, a migrated document)."""
        self.save(scope, cluster_id, hsm_id,
                  self.load(scope, cluster_id, hsm_id), contents)
        self._counters.put(scope, f"{cluster_id}/{hsm_id}",
                           CounterRow(cluster_id, hsm_id, contents.next_key_reference))

    def discard(self, scope: str, cluster_id: str, hsm_id: str) -> None:
        """The HSM is gone: its rows too."""
        prefix = _prefix(cluster_id, hsm_id)
        for repo in (self._users, self._keys):
            for ident, _row in repo.items(scope):
                if ident.startswith(prefix):
                    repo.delete(scope, ident)
        self._counters.delete(scope, f"{cluster_id}/{hsm_id}")
