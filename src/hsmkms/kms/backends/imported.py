"""``EXTERNAL`` keys: key material the customer imported (spec kms-keys.md 4), kept by KMS as
``AWS_KMS`` material is (sealed at rest; the same ciphers and blob format).

A new key has no material (``PendingImport``); :mod:`hsmkms.kms.usecases.imports` brings it
in, deletes it, and lets it expire. What this backend adds to ``KeyMetadata``: the
``ExpirationModel`` and ``ValidTo`` of the imported material, present only while the key has
its material (spec kms-keys.md 1.1, 4.1).
"""

from __future__ import annotations

from typing import Any

from hsmkms.context import RequestContext
from hsmkms.ids import IdSource
from hsmkms.kms.backends.local import LocalBackend
from hsmkms.kms.errors import UnsupportedOperationException
from hsmkms.kms.materials import Materials
from hsmkms.kms.model import Key, KeyMaterial, KeyState, MaterialState
from hsmkms.scope import Scope

EXPIRES = "KEY_MATERIAL_EXPIRES"
DOES_NOT_EXPIRE = "KEY_MATERIAL_DOES_NOT_EXPIRE"
IMPORTED = "IMPORTED"
PENDING_IMPORT = "PENDING_IMPORT"
#: Materials "permanently associated" with their key (pending ones are not yet).
PERMANENT = (MaterialState.CURRENT, MaterialState.NON_CURRENT)


class ImportedBackend(LocalBackend):
    def __init__(self, ids: IdSource, materials: Materials) -> None:
        super().__init__(ids)
        self._rows = materials

    def create_material(self, ctx: RequestContext, key: Key,  # noqa: ARG002
                        custom_key_store_id: str | None) -> Key:
        if custom_key_store_id is not None:
            # AWS: imported material is not supported in custom key stores (CreateKey doc);
            # the text is ours (docs/compatibility.md).
            raise UnsupportedOperationException(
                "KMS keys in a custom key store cannot have imported key material (Origin "
                "EXTERNAL).")
        return key  # the customer imports it

    def metadata_extras(self, key: Key) -> dict[str, Any]:
        imported = imported_materials(self._rows.of(Scope.of(key.account, key.region), key))
        return expiration(imported) if key.state is not KeyState.PENDING_IMPORT else {}


def imported_materials(rows: list[KeyMaterial]) -> list[KeyMaterial]:
    """The permanently associated materials that are imported now."""
    return [m for m in rows if m.state in PERMANENT and m.secret is not None]


def expiration(imported: list[KeyMaterial]) -> dict[str, Any]:
    """``ExpirationModel`` and ``ValidTo`` of a key with these imported materials: expiring if
    any of them expires, then at the earliest ValidTo (KeyMetadata doc); nothing if none."""
    if not imported:
        return {}
    dates = [m.valid_to for m in imported
             if m.expiration_model == EXPIRES and m.valid_to is not None]
    if not dates:
        return {"ExpirationModel": DOES_NOT_EXPIRE}
    return {"ExpirationModel": EXPIRES, "ValidTo": min(dates)}
