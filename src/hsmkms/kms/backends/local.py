"""``AWS_KMS`` keys: material made and kept by KMS (sealed at rest by the store): AES-256 for
symmetric encryption keys, an HMAC key or an asymmetric private key (:mod:`hsmkms.pkcrypto`)
for the other key specs. Only symmetric encryption keys have a key material id."""

from __future__ import annotations

import contextlib
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import Any

from hsmkms import crypto, pkcrypto
from hsmkms.context import RequestContext
from hsmkms.errors import ValidationException
from hsmkms.ids import IdSource
from hsmkms.kms.keygen import KeyMaterials
from hsmkms.kms.model import Key
from hsmkms.store.codec import Secret


class LocalBackend:
    def __init__(self, ids: IdSource, materials: KeyMaterials | None = None) -> None:
        #: Where key material ids come from (an identifier, not a secret).
        self._ids = ids
        #: Where asymmetric and HMAC material comes from (made off the lock when slow).
        self._materials = materials or KeyMaterials()
        #: One cipher per key material (key id -> material id -> cipher), built on first use
        #: (AES-GCM setup shows in profiles). A key's material id names its bytes for good
        #: (a rotation makes a new id), so an entry never goes stale.
        self._ciphers: dict[str, dict[str, crypto.KeyCipher]] = {}

    def available(self, key: Key) -> bool:  # noqa: ARG002 - always reachable
        return True

    def create_material(self, ctx: RequestContext, key: Key,  # noqa: ARG002
                        custom_key_store_id: str | None) -> Key:
        if custom_key_store_id is not None:
            raise ValidationException(
                "To create a KMS key in a custom key store, set Origin to AWS_CLOUDHSM (for an "
                "AWS CloudHSM key store) or EXTERNAL_KEY_STORE (for an external key store).")
        if key.key_spec != "SYMMETRIC_DEFAULT":
            return replace(key, material=Secret(self._materials.take(key.key_spec)))
        return replace(key, material=Secret(crypto.new_aes_key()),
                       key_material_id=self._ids.hex(64))

    def cipher(self, ctx: RequestContext,  # noqa: ARG002
               key: Key) -> AbstractContextManager[crypto.KeyCipher]:
        by_material = self._ciphers.get(key.key_id)
        cached = by_material.get(key.key_material_id) if by_material is not None else None
        if cached is None:
            assert key.material is not None, f"AWS_KMS key {key.key_id} has no material"
            cached = crypto.KeyCipher(key.material)
            self._ciphers.setdefault(key.key_id, {})[key.key_material_id] = cached
        return contextlib.nullcontext(cached)

    def forget(self, key: Key, material_id: str) -> None:
        """Drop the cipher of a material that is gone (deleted imported material)."""
        self._ciphers.get(key.key_id, {}).pop(material_id, None)

    def delete_material(self, scope: str, key: Key) -> dict[str, str] | None:  # noqa: ARG002
        self._ciphers.pop(key.key_id, None)  # the material goes with the key's document
        if key.material is not None and key.key_spec != "SYMMETRIC_DEFAULT":
            pkcrypto.forget(bytes(key.material))  # nor does its parsed private key stay
        return None

    def metadata_extras(self, key: Key) -> dict[str, Any]:  # noqa: ARG002
        return {}

    def trail_extras(self, scope: str, key: Key,  # noqa: ARG002
                     operation: str) -> dict[str, str]:  # noqa: ARG002
        return {}
