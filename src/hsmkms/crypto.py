"""All the cryptography hsmkms does, behind one small module.

Only this module imports ``cryptography.hazmat``. Three things live here:

1. **KMS symmetric ciphertext blobs** (``SYMMETRIC_DEFAULT``: AES-256-GCM). Layout of format
   version 1, byte by byte::

       offset  size  field
       0       1     format version, 0x01
       1       16    KMS key id (the key's UUID, 16 raw bytes)
       17      12    GCM nonce (random)
       29      n     AES-256-GCM ciphertext of the plaintext (n = plaintext length)
       29+n    16    GCM tag

   The additional authenticated data is ``blob[0:17]`` (version and key id) followed by the
   canonical encoding of the encryption context (below). So the blob names its key (Decrypt
   works without KeyId), a blob is tied to its *KMS key* (not merely to the key material), and
   any change to the header, the ciphertext or the context fails authentication, which KMS
   reports as ``InvalidCiphertextException``. Largest blob: 4096 + 45 = 4141 bytes (AWS: 6144).

   Canonical encryption context: pairs sorted by key (by UTF-8 bytes); each pair is
   ``len(key)`` (2 bytes, big-endian) ``key`` ``len(value)`` (2 bytes) ``value``, UTF-8.
   An empty or absent context encodes as zero bytes.

2. **Sealing at rest**: secrets (key material, stored passwords) are written to disk as
   ``base64(0x01 || nonce(12) || AES-256-GCM(root key, secret, aad="hsmkms-seal-v1"))``.

3. **Randomness**: :func:`random_bytes` (``os.urandom``) for data keys and GenerateRandom.

4. **Key check values** of HSM keys (:func:`check_value`): the first 3 bytes of the AES
   encryption of an all-zero block (AWS CloudHSM, "key attribute details").
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

BLOB_VERSION = 1
HEADER_LEN = 17
NONCE_LEN = 12
TAG_LEN = 16
OVERHEAD = HEADER_LEN + NONCE_LEN + TAG_LEN
_VERSION_BYTE = bytes([BLOB_VERSION])
_SEAL_VERSION = 1
_SEAL_AAD = b"hsmkms-seal-v1"


class CryptoError(Exception):
    """A blob that is malformed or fails authentication (KMS: InvalidCiphertextException)."""


@dataclass(frozen=True, slots=True)
class BlobHeader:
    version: int
    key_id: str  # canonical lowercase UUID string


def random_bytes(n: int) -> bytes:
    return os.urandom(n)


def new_aes_key(length: int = 32) -> bytes:
    return os.urandom(length)


def check_value(material: bytes) -> bytes:
    """The 3-byte key check value of an AES key."""
    enc = Cipher(algorithms.AES(material), modes.ECB()).encryptor()  # noqa: S305 - KCV is ECB by definition
    return (enc.update(bytes(16)) + enc.finalize())[:3]


def encode_context(context: dict[str, str] | None) -> bytes:
    if not context:
        return b""
    out = bytearray()
    for key, value in sorted((k.encode(), v.encode()) for k, v in context.items()):
        out += len(key).to_bytes(2, "big") + key + len(value).to_bytes(2, "big") + value
    return bytes(out)


def parse_header(blob: bytes) -> BlobHeader:
    if len(blob) < OVERHEAD or blob[0] != BLOB_VERSION:
        raise CryptoError("not a hsmkms ciphertext blob")
    h = blob[1:HEADER_LEN].hex()
    return BlobHeader(blob[0], f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")


class Aead(Protocol):
    """An AEAD that keeps its key to itself (``AESGCM``'s interface): what a key inside an HSM
    offers (:meth:`hsmkms.hsm.service.HsmService.open_key`). ``decrypt`` raises
    ``InvalidTag`` or :class:`CryptoError` when the data do not authenticate."""

    def encrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes: ...

    def decrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes: ...


def gcm_encrypt(material: bytes, nonce: bytes, data: bytes, aad: bytes) -> bytes:
    """AES-GCM ciphertext and tag (for keys held elsewhere, e.g. inside the emulated HSMs)."""
    return AESGCM(material).encrypt(nonce, data, aad)


def gcm_decrypt(material: bytes, nonce: bytes, data: bytes, aad: bytes) -> bytes:
    try:
        return AESGCM(material).decrypt(nonce, data, aad)
    except InvalidTag as exc:
        raise CryptoError("authentication failed") from exc


class KeyCipher:
    """AES-256-GCM under one key's material; build once per key and reuse (it is cached).
    :meth:`over` frames blobs the same way around an AEAD whose key stays elsewhere."""

    __slots__ = ("_aead",)

    def __init__(self, material: bytes) -> None:
        self._aead: Aead = AESGCM(material)

    @classmethod
    def over(cls, aead: Aead) -> KeyCipher:
        cipher = cls.__new__(cls)
        cipher._aead = aead  # noqa: SLF001 - the class's own constructor
        return cipher

    def encrypt(self, key_id: str, plaintext: bytes, context: dict[str, str] | None,
                nonce: bytes | None = None) -> bytes:
        header = _VERSION_BYTE + bytes.fromhex(key_id.replace("-", ""))
        nonce = nonce if nonce is not None else os.urandom(NONCE_LEN)
        sealed = self._aead.encrypt(nonce, plaintext, header + encode_context(context))
        return header + nonce + sealed

    def decrypt(self, blob: bytes, context: dict[str, str] | None) -> bytes:
        if len(blob) < OVERHEAD or blob[0] != BLOB_VERSION:
            raise CryptoError("not a hsmkms ciphertext blob")
        header = blob[:HEADER_LEN]
        nonce = blob[HEADER_LEN:HEADER_LEN + NONCE_LEN]
        try:
            return self._aead.decrypt(nonce, blob[HEADER_LEN + NONCE_LEN:],
                                      header + encode_context(context))
        except InvalidTag as exc:
            raise CryptoError("authentication failed") from exc


class RootKey:
    """Seals secrets for storage at rest."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("the root key must be 32 bytes")
        self._aead = AESGCM(key)

    def seal(self, secret: bytes) -> str:
        nonce = os.urandom(NONCE_LEN)
        body = bytes([_SEAL_VERSION]) + nonce + self._aead.encrypt(nonce, secret, _SEAL_AAD)
        return base64.b64encode(body).decode()

    def unseal(self, text: str) -> bytes:
        body = base64.b64decode(text)
        if not body or body[0] != _SEAL_VERSION:
            raise CryptoError("unknown sealed format")
        nonce = body[1:1 + NONCE_LEN]
        try:
            return self._aead.decrypt(nonce, body[1 + NONCE_LEN:], _SEAL_AAD)
        except InvalidTag as exc:
            raise CryptoError("wrong root key or corrupted secret") from exc
