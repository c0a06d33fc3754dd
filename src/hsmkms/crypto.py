"""All the cryptography hsmkms does, behind one small module.

Only this module imports ``cryptography.hazmat``. Three things live here:

1. **KMS symmetric ciphertext blobs** (``SYMMETRIC_DEFAULT``: AES-256-GCM). hsmkms writes format
   version 2, which names the key material (so that Decrypt can pick the material that
   encrypted, once a key has several) and fits multi-Region key ids. Byte by byte::

       offset  size  field
       0       1     format version, 0x02
       1       1     key id kind: 0x00 a UUID key id, 0x01 a multi-Region id (mrk-<32 hex>)
       2       16    key id: the UUID's 16 bytes, or the 32 hex digits after "mrk-" as bytes
       18      32    key material id (the 64 hex digits of KeyMaterialId as bytes; zeros for a
                     key without one, e.g. in a CloudHSM key store)
       50      12    GCM nonce (random)
       62      n     AES-256-GCM ciphertext of the plaintext (n = plaintext length)
       62+n    16    GCM tag

   Version 1 (still decrypted; no longer written)::

       0       1     format version, 0x01
       1       16    KMS key id (the key's UUID, 16 raw bytes)
       17      12    GCM nonce
       29      n     ciphertext
       29+n    16    GCM tag

   The additional authenticated data is the header (``blob[0:50]``, v1: ``blob[0:17]``)
   followed by the canonical encoding of the encryption context (below). So the blob names its
   key (Decrypt works without KeyId), a blob is tied to its *KMS key* and key material, and any
   change to the header, the ciphertext or the context fails authentication, which KMS reports
   as ``InvalidCiphertextException``. Largest blob: 4096 + 78 = 4174 bytes (AWS: 6144).

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

BLOB_VERSION = 2
HEADER_LEN = 50
V1_HEADER_LEN = 17
NONCE_LEN = 12
TAG_LEN = 16
OVERHEAD = HEADER_LEN + NONCE_LEN + TAG_LEN
V1_OVERHEAD = V1_HEADER_LEN + NONCE_LEN + TAG_LEN
_HEADER_LENS = {1: V1_HEADER_LEN, 2: HEADER_LEN}
_UUID_KIND, _MRK_KIND = 0, 1
MATERIAL_ID_LEN = 32
_SEAL_VERSION = 1
_SEAL_AAD = b"hsmkms-seal-v1"


class CryptoError(Exception):
    """A blob that is malformed or fails authentication (KMS: InvalidCiphertextException)."""


@dataclass(frozen=True, slots=True)
class BlobHeader:
    version: int
    key_id: str  # canonical lowercase UUID string, or mrk-<32 hex>
    #: The key material id (64 hex digits); "" in version 1 blobs and for keys without one.
    material_id: str = ""

    @property
    def length(self) -> int:
        return _HEADER_LENS[self.version]


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


def _uuid(raw: bytes) -> str:
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def parse_header(blob: bytes) -> BlobHeader:
    version = blob[0] if blob else 0
    if version not in _HEADER_LENS or len(blob) < _HEADER_LENS[version] + NONCE_LEN + TAG_LEN:
        raise CryptoError("not a hsmkms ciphertext blob")
    if version == 1:
        return BlobHeader(1, _uuid(blob[1:V1_HEADER_LEN]))
    kind, raw_id = blob[1], blob[2:18]
    if kind == _UUID_KIND:
        key_id = _uuid(raw_id)
    elif kind == _MRK_KIND:
        key_id = "mrk-" + raw_id.hex()
    else:
        raise CryptoError("not a hsmkms ciphertext blob")
    material = blob[18:HEADER_LEN]
    return BlobHeader(2, key_id, material.hex() if any(material) else "")


def encode_header(key_id: str, material_id: str = "") -> bytes:
    """The version 2 header of a blob of ``key_id`` under ``material_id``."""
    if key_id.startswith("mrk-"):
        kind, raw_id = _MRK_KIND, bytes.fromhex(key_id[4:])
    else:
        kind, raw_id = _UUID_KIND, bytes.fromhex(key_id.replace("-", ""))
    material = bytes.fromhex(material_id) if material_id else bytes(MATERIAL_ID_LEN)
    return bytes([BLOB_VERSION, kind]) + raw_id + material


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
                nonce: bytes | None = None, material_id: str = "") -> bytes:
        """A version 2 blob (module docstring)."""
        header = encode_header(key_id, material_id)
        nonce = nonce if nonce is not None else os.urandom(NONCE_LEN)
        sealed = self._aead.encrypt(nonce, plaintext, header + encode_context(context))
        return header + nonce + sealed

    def decrypt(self, blob: bytes, context: dict[str, str] | None) -> bytes:
        """The plaintext of a version 1 or 2 blob."""
        size = parse_header(blob).length
        header = blob[:size]
        nonce = blob[size:size + NONCE_LEN]
        try:
            return self._aead.decrypt(nonce, blob[size + NONCE_LEN:],
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
