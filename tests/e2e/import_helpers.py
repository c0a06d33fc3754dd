"""Wrapping key material for ImportKeyMaterial as a client does (AWS DG
importing-keys-encrypt-key-material), with pyca/cryptography: RSAES-OAEP of the material, or
RSAES-OAEP of an ephemeral AES-256 key followed by AES key wrap with padding (RFC 5649)."""

from __future__ import annotations

import os
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding

NO_EXPIRY = {"ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"}


def wrap(public_der: bytes, algorithm: str, material: bytes) -> bytes:
    public = serialization.load_der_public_key(public_der)
    assert isinstance(public, rsa.RSAPublicKey)
    sha1 = algorithm.endswith("SHA_1")  # AWS's *_SHA_1 wrapping: SHA-1 inside OAEP
    h: hashes.HashAlgorithm = hashes.SHA1() if sha1 else hashes.SHA256()  # noqa: S303
    oaep = padding.OAEP(mgf=padding.MGF1(h), algorithm=h, label=None)
    if algorithm.startswith("RSAES_OAEP"):
        return public.encrypt(material, oaep)
    aes = os.urandom(32)
    return public.encrypt(aes, oaep) + aes_key_wrap_with_padding(aes, material)


def import_material(kms: Any, key_id: str, material: bytes,
                    algorithm: str = "RSAES_OAEP_SHA_256", wrapping_spec: str = "RSA_2048",
                    **params: Any) -> dict[str, Any]:
    """GetParametersForImport, wrap, ImportKeyMaterial (``params``: its other members;
    default: material that does not expire)."""
    got = kms.get_parameters_for_import(KeyId=key_id, WrappingAlgorithm=algorithm,
                                        WrappingKeySpec=wrapping_spec)
    done: dict[str, Any] = kms.import_key_material(
        KeyId=key_id, ImportToken=got["ImportToken"],
        EncryptedKeyMaterial=wrap(got["PublicKey"], algorithm, material),
        **(params or NO_EXPIRY))
    return done
