"""Encrypt, Decrypt, ReEncrypt, GenerateDataKey(WithoutPlaintext), GenerateRandom.

AWS_KMS keys encrypt with their own material (a :class:`~hsmkms.crypto.KeyCipher` cached per
key). AWS_CLOUDHSM keys encrypt with their backing key *inside the emulated HSMs*: the key-store
package sets :attr:`Crypto.hsm_cipher`, a context manager that takes a PKCS #11 session and
yields a cipher, raising the KMS errors the guide describes when the cluster can't serve.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

from hsmkms import crypto
from hsmkms.errors import ValidationException
from hsmkms.kms import states
from hsmkms.kms.errors import (
    DryRunOperationException,
    IncorrectKeyException,
    InvalidCiphertextException,
    InvalidKeyUsageException,
    NotFoundException,
)
from hsmkms.kms.keys import Caller, Keys
from hsmkms.kms.model import Key, Origin, key_arn

DATA_KEY_BYTES = {"AES_256": 32, "AES_128": 16}
ALGORITHM = "SYMMETRIC_DEFAULT"
DRY_RUN = "The request would have succeeded, but the DryRun option is set."
INCORRECT_KEY = "The key ID in the request does not identify a CMK that can perform this operation."
#: The blob format encodes each encryption context key and value with a 2-byte length.
CONTEXT_ITEM_MAX = 0xFFFF


def check_context(context: dict[str, str] | None) -> None:
    """Refuse an encryption context the blob's AAD encoding cannot hold (the model sets no
    limit; an invented message, docs/compatibility.md)."""
    for k, v in (context or {}).items():
        # A character is at most 4 bytes of UTF-8: only long strings need encoding to measure.
        long_item = len(k) > CONTEXT_ITEM_MAX // 4 or len(v) > CONTEXT_ITEM_MAX // 4
        if long_item and max(len(k.encode()), len(v.encode())) > CONTEXT_ITEM_MAX:
            raise ValidationException(
                f"Each encryption context key and value must be at most {CONTEXT_ITEM_MAX} "
                "bytes of UTF-8.")


def check_algorithm(key: Key, algorithm: str | None) -> None:
    """Every hsmkms key is SYMMETRIC_DEFAULT, whose only encryption algorithm is that one."""
    if algorithm is not None and algorithm != ALGORITHM:
        raise InvalidKeyUsageException(
            f"Algorithm {algorithm} is incompatible with key spec {key.key_spec}.")


HsmCipher = Callable[[Caller, Key], AbstractContextManager[crypto.KeyCipher]]


class Crypto:
    def __init__(self, keys: Keys) -> None:
        self.keys = keys
        self._ciphers: dict[str, crypto.KeyCipher] = {}
        #: Set by the key-store package for AWS_CLOUDHSM keys.
        self.hsm_cipher: HsmCipher | None = None

    @contextlib.contextmanager
    def _slow_cipher(self, who: Caller, key: Key) -> Iterator[crypto.KeyCipher]:
        if self.hsm_cipher is None:
            raise states.UNAVAILABLE(key.arn)
        with self.hsm_cipher(who, key) as cipher:
            yield cipher

    def cipher(self, who: Caller, key: Key) -> AbstractContextManager[crypto.KeyCipher]:
        if key.origin is Origin.AWS_KMS and key.material is not None:
            cached = self._ciphers.get(key.key_id)
            if cached is None:
                cached = self._ciphers[key.key_id] = crypto.KeyCipher(key.material)
            return contextlib.nullcontext(cached)
        return self._slow_cipher(who, key)

    def forget(self, key_id: str) -> None:
        self._ciphers.pop(key_id, None)

    # -- operations ---------------------------------------------------------------------------

    def encrypt(self, who: Caller, key_id: str, plaintext: bytes,
                context: dict[str, str] | None, *, dry_run: bool = False,
                operation: str = "Encrypt", algorithm: str | None = None) -> tuple[Key, bytes]:
        check_context(context)
        key = self.keys.usable(who, key_id, operation, aliases=True)
        check_algorithm(key, algorithm)
        if dry_run:
            raise DryRunOperationException(DRY_RUN)
        with self.cipher(who, key) as cipher:
            return key, cipher.encrypt(key.key_id, plaintext, context)

    def decrypt(self, who: Caller, blob: bytes, context: dict[str, str] | None,
                key_id: str | None, *, dry_run: bool = False,
                operation: str = "Decrypt", algorithm: str | None = None) -> tuple[Key, bytes]:
        check_context(context)
        named = self.keys.resolve(who, key_id, aliases=True) if key_id else None
        try:
            header = crypto.parse_header(blob)
        except crypto.CryptoError:
            raise InvalidCiphertextException(None) from None
        key = self.keys.keys.get(who.scope, header.key_id)
        if named is not None and (key is None or key.key_id != named.key_id):
            raise IncorrectKeyException(INCORRECT_KEY)
        if key is None:
            if not self.keys.was_deleted(who, header.key_id):
                # A damaged header that happens to name no key: like any other tampering.
                raise InvalidCiphertextException(None)
            raise NotFoundException(
                f"Key '{key_arn(who.region, who.account, header.key_id)}' does not exist")
        states.check(operation, self.keys.reported(key), key.arn)
        check_algorithm(key, algorithm)
        if dry_run:
            raise DryRunOperationException(DRY_RUN)
        with self.cipher(who, key) as cipher:
            try:
                return key, cipher.decrypt(blob, context)
            except crypto.CryptoError:
                raise InvalidCiphertextException(None) from None

    def dry_run_without_blob(self, who: Caller, key_id: str | None, operation: str,
                             algorithm: str | None = None) -> Key:
        """DryRun with ``DryRunModifiers=[IGNORE_CIPHERTEXT]``: the named key is checked as the
        real call would check it, the ciphertext not at all."""
        if not key_id:
            raise ValidationException(
                "KeyId is required when DryRunModifiers includes IGNORE_CIPHERTEXT."
                if operation == "Decrypt" else
                "SourceKeyId is required when DryRunModifiers includes IGNORE_CIPHERTEXT.")
        key = self.keys.usable(who, key_id, operation, aliases=True)
        check_algorithm(key, algorithm)
        return key

    def data_key(self, who: Caller, params: dict[str, Any], operation: str
                 ) -> tuple[Key, bytes, bytes]:
        spec, size = params.get("KeySpec"), params.get("NumberOfBytes")
        if (spec is None) == (size is None):
            raise ValidationException("Please specify either number of bytes or key spec.")
        length = DATA_KEY_BYTES[spec] if spec is not None else int(size)  # type: ignore[arg-type]
        plaintext = crypto.random_bytes(length)
        key, blob = self.encrypt(who, params["KeyId"], plaintext,
                                 params.get("EncryptionContext"),
                                 dry_run=bool(params.get("DryRun")), operation=operation)
        return key, plaintext, blob
