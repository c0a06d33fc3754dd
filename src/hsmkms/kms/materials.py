"""The key materials of KMS keys: every write to a material's state is here.

A key's materials (spec kms-keys.md 3.2) are rows of their own (:data:`MATERIALS`), so a key
with a hundred rotations is still one small document on the hot path, and Decrypt of a blob made
under an old material costs one more lookup. The key document keeps a copy of its CURRENT
material (``Key.material``, ``Key.key_material_id``): :meth:`Materials.rotate` and
:meth:`Materials.promote` change both together and return the key to save.

Keys created before rows existed, and keys that never rotated, have no rows: :meth:`Materials.of`
gives the row their one material would have (the first, CURRENT, dated at the key's creation),
and the first rotation writes it.

Material-level transitions (spec kms-keys.md 6)::

    PENDING_MULTI_REGION_IMPORT_AND_ROTATION --imported into every replica--> PENDING_ROTATION
    PENDING_ROTATION --a replica is added--> PENDING_MULTI_REGION_IMPORT_AND_ROTATION
    PENDING_ROTATION --rotation--> CURRENT --next rotation--> NON_CURRENT
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import replace
from typing import overload

from hsmkms.kms.model import MATERIALS, Key, KeyMaterial, MaterialState, material_row
from hsmkms.store.base import Store
from hsmkms.store.codec import Secret

M = MaterialState

#: ``(state, event) -> state`` for one material; anything else is a bug of the caller.
TRANSITIONS: dict[tuple[MaterialState, str], MaterialState] = {
    (M.CURRENT, "rotate-away"): M.NON_CURRENT,
    (M.PENDING_ROTATION, "rotate-in"): M.CURRENT,
    (M.PENDING_MULTI_REGION_IMPORT_AND_ROTATION, "imported-everywhere"): M.PENDING_ROTATION,
    # A new replica of the set does not have it yet (it imports it with its own parameters).
    (M.PENDING_ROTATION, "replica-added"): M.PENDING_MULTI_REGION_IMPORT_AND_ROTATION,
}


class IllegalMaterialTransition(Exception):
    pass


def moved(material: KeyMaterial, event: str, **changes: object) -> KeyMaterial:
    try:
        state = TRANSITIONS[(material.state, event)]
    except KeyError:
        raise IllegalMaterialTransition(
            f"{event} is not allowed for material in {material.state}") from None
    return replace(material, state=state, **changes)  # type: ignore[arg-type]


def _key_of(material: KeyMaterial) -> str:
    return material.key_id


def _place(material: KeyMaterial) -> str:
    """A material's place among all materials of a scope: its key's, then in its key's order
    (the index :meth:`Materials.listing` pages)."""
    return f"{material.key_id}|{material.seq + 10**9:012d}"


class Listing(Sequence[KeyMaterial]):
    """A key's materials oldest first, read when asked: ``first`` (its implicit first material,
    if it has no row) then ``rows[lo:hi]`` (a range of the scope's sorted index)."""

    def __init__(self, first: list[KeyMaterial], rows: Sequence[KeyMaterial], lo: int,
                 hi: int) -> None:
        self._first, self._rows, self._lo, self._hi = first, rows, lo, hi

    def __len__(self) -> int:
        return len(self._first) + self._hi - self._lo

    @overload
    def __getitem__(self, index: int) -> KeyMaterial: ...

    @overload
    def __getitem__(self, index: slice) -> list[KeyMaterial]: ...

    def __getitem__(self, index: int | slice) -> KeyMaterial | list[KeyMaterial]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        if index < len(self._first):
            return self._first[index]
        return self._rows[self._lo + index - len(self._first)]

    def trimmed(self) -> Listing:
        """Without the materials no rotation made current, at either end (the first material;
        one pending rotation): what ``ROTATIONS_ONLY`` lists. Rotated materials are contiguous:
        each rotation appends its material (:meth:`Materials.rotate`, :meth:`Materials.promote`).
        """
        lo, hi = self._lo, self._hi
        while lo < hi and self._rows[lo].rotation_date is None:
            lo += 1
        while hi > lo and self._rows[hi - 1].rotation_date is None:
            hi -= 1
        return Listing([], self._rows, lo, hi)


class Materials:
    def __init__(self, store: Store) -> None:
        self.rows = store.repository(MATERIALS, KeyMaterial)

    # -- reading ------------------------------------------------------------------------------

    def of(self, scope: str, key: Key) -> list[KeyMaterial]:
        """The key's materials, oldest first (pending ones last)."""
        found = [m for m in (self.rows.get(scope, ident) for ident in
                             self.rows.ids_by(scope, _key_of, key.key_id)) if m is not None]
        first = self._implicit(key, found)
        return sorted([first, *found] if first is not None else found, key=lambda m: m.seq)

    def get(self, scope: str, key: Key, material_id: str) -> KeyMaterial | None:
        """The key's material ``material_id`` (None: the key has no such material)."""
        found = self.rows.get(scope, material_row(key.key_id, material_id))
        if found is not None or material_id != key.key_material_id:
            return found
        return self._implicit(key, [])

    def listing(self, scope: str, key: Key) -> Listing:
        """The key's materials oldest first (pending ones last), as :meth:`of` lists them, but
        read when asked: a page of a key with a hundred rotations reads the page
        (ListKeyRotations)."""
        rows = self.rows.ordered(scope, _place)
        lo = bisect.bisect_left(rows, f"{key.key_id}|", key=_place)
        hi = bisect.bisect_left(rows, f"{key.key_id}}}", lo=lo, key=_place)
        first = [] if key.key_material_id and self.rows.get(
            scope, material_row(key.key_id, key.key_material_id)) is not None else (
            [m for m in [self._implicit(key, [])] if m is not None])
        if first and hi > lo:  # ordered before the rows, as :meth:`of` does
            first = [replace(first[0], seq=rows[lo].seq - 1)]
        return Listing(first, rows, lo, hi)

    def current(self, scope: str, key: Key) -> KeyMaterial | None:
        return next((m for m in self.of(scope, key) if m.state is M.CURRENT), None)

    def pending(self, scope: str, key: Key) -> KeyMaterial | None:
        """The material waiting to be rotated in (at most one; spec kms-keys.md 4.4)."""
        return next((m for m in self.of(scope, key) if m.state in (
            M.PENDING_ROTATION, M.PENDING_MULTI_REGION_IMPORT_AND_ROTATION)), None)

    @staticmethod
    def _implicit(key: Key, rows: list[KeyMaterial]) -> KeyMaterial | None:
        """The row of the key's current material when it has none: its first material, never
        rotated (ordered before any pending row)."""
        if not key.key_material_id or any(m.material_id == key.key_material_id for m in rows):
            return None
        return KeyMaterial(key_id=key.key_id, material_id=key.key_material_id,
                           state=M.CURRENT, seq=min((m.seq for m in rows), default=1) - 1,
                           created=key.created, secret=key.material)

    # -- writing ------------------------------------------------------------------------------

    def put(self, scope: str, material: KeyMaterial) -> None:
        """Store a row as it is (imports; copies to multi-Region replicas)."""
        self.rows.put(scope, material.row_id, material)

    def _materialize(self, scope: str, key: Key) -> list[KeyMaterial]:
        """The key's materials, writing the row of its implicit first one if it had none."""
        found = self.of(scope, key)
        for material in found:
            if self.rows.get(scope, material.row_id) is None:
                self.put(scope, material)
        return found

    def rotate(self, scope: str, key: Key, *, material_id: str, secret: bytes, when: float,
               rotation_type: str) -> Key:
        """A new material becomes CURRENT (the old one NON_CURRENT); returns the key to save."""
        found = self._materialize(scope, key)
        self._retire_current(scope, found, when)
        new = KeyMaterial(key_id=key.key_id, material_id=material_id, state=M.CURRENT,
                          seq=(found[-1].seq + 1) if found else 0, created=when,
                          secret=Secret(secret), rotation_date=when,
                          rotation_type=rotation_type)
        self.put(scope, new)
        return replace(key, material=new.secret, key_material_id=material_id)

    def promote(self, scope: str, key: Key, material_id: str, *, when: float,
                rotation_type: str) -> Key:
        """A pending material becomes CURRENT (imported keys' on-demand rotation)."""
        found = self._materialize(scope, key)
        target = next(m for m in found if m.material_id == material_id)
        self._retire_current(scope, found, when)
        current = moved(target, "rotate-in", rotation_date=when, rotation_type=rotation_type,
                        seq=max(m.seq for m in found) + 1)
        self.put(scope, current)
        return replace(key, material=current.secret, key_material_id=material_id)

    def _retire_current(self, scope: str, found: list[KeyMaterial], when: float) -> None:
        del when  # NON_CURRENT keeps the dates it had
        for material in found:
            if material.state is M.CURRENT:
                self.put(scope, moved(material, "rotate-away"))

    def delete_all(self, scope: str, key_id: str) -> None:
        """The key is gone (end of its waiting period): so are its materials."""
        for ident in self.rows.ids_by(scope, _key_of, key_id):
            self.rows.delete(scope, ident)
