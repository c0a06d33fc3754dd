"""Encrypt, Decrypt, ReEncrypt, GenerateDataKey(WithoutPlaintext), GenerateRandom.

The key's backend (:mod:`hsmkms.kms.backends`) gives the cipher: local material for AWS_KMS keys,
the backing key inside the HSMs for AWS_CLOUDHSM keys (raising the KMS errors the guide
describes when the cluster can't serve). The blob format is :mod:`hsmkms.crypto`'s.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass

from hsmkms import crypto
from hsmkms.context import RequestContext
from hsmkms.errors import ValidationException
from hsmkms.kms.errors import (
    DryRunOperationException,
    IncorrectKeyException,
    InvalidCiphertextException,
    InvalidKeyUsageException,
    NotFoundException,
)
from hsmkms.kms.model import Key, key_arn
from hsmkms.kms.usecases.access import KeyAccess

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


@dataclass(frozen=True, slots=True)
class DataKey:
    key: Key
    plaintext: bytes
    blob: bytes


class Crypto:
    def __init__(self, access: KeyAccess) -> None:
        self.access = access
        self.keys = access.keys
        self.backends = access.backends

    def _cipher(self, ctx: RequestContext, key: Key,
                operation: str) -> AbstractContextManager[crypto.KeyCipher]:
        backend = self.backends.of(key)
        extras = backend.trail_extras(ctx.scope, key, operation)
        if extras:  # AWS_KMS keys add nothing: skip the call on the hot path
            ctx.audit.add(additional_event_data=extras)
        return backend.cipher(ctx, key)

    def encrypt(self, ctx: RequestContext, key_id: str, plaintext: bytes,
                context: dict[str, str] | None, *, dry_run: bool = False,
                operation: str = "Encrypt", algorithm: str | None = None) -> tuple[Key, bytes]:
        check_context(context)
        key = self.access.key(ctx, key_id, operation, aliases=True, encryption_context=context)
        check_algorithm(key, algorithm)
        if dry_run:
            raise DryRunOperationException(DRY_RUN)
        with self._cipher(ctx, key, operation) as cipher:
            return key, cipher.encrypt(key.key_id, plaintext, context)

    def decrypt(self, ctx: RequestContext, blob: bytes, context: dict[str, str] | None,
                key_id: str | None, *, dry_run: bool = False,
                operation: str = "Decrypt", algorithm: str | None = None) -> tuple[Key, bytes]:
        check_context(context)
        named = self.keys.resolve(ctx, key_id, aliases=True) if key_id else None
        if named is not None:  # authorized before the ciphertext's key is compared with it
            self.access.authz.authorize(ctx, operation, named, context)
        try:
            header = crypto.parse_header(blob)
        except crypto.CryptoError:
            raise InvalidCiphertextException(None) from None
        key = self.keys.get(ctx.scope, header.key_id)
        if named is not None and (key is None or key.key_id != named.key_id):
            raise IncorrectKeyException(INCORRECT_KEY)
        if key is None:
            if not self.keys.was_deleted(ctx, header.key_id):
                # A damaged header that happens to name no key: like any other tampering.
                raise InvalidCiphertextException(None)
            raise NotFoundException(
                f"Key '{key_arn(ctx.region, ctx.account, header.key_id)}' does not exist")
        if named is None:
            self.access.admit(ctx, operation, key, context)
        else:  # the named key, authorized above
            self.access.usable(operation, key)
        check_algorithm(key, algorithm)
        if dry_run:
            raise DryRunOperationException(DRY_RUN)
        with self._cipher(ctx, key, operation) as cipher:
            try:
                return key, cipher.decrypt(blob, context)
            except crypto.CryptoError:
                raise InvalidCiphertextException(None) from None

    def dry_run_without_blob(self, ctx: RequestContext, key_id: str | None, operation: str,
                             algorithm: str | None = None) -> Key:
        """DryRun with ``DryRunModifiers=[IGNORE_CIPHERTEXT]``: the named key is checked as the
        real call would check it, the ciphertext not at all."""
        if not key_id:
            raise ValidationException(
                "KeyId is required when DryRunModifiers includes IGNORE_CIPHERTEXT."
                if operation == "Decrypt" else
                "SourceKeyId is required when DryRunModifiers includes IGNORE_CIPHERTEXT.")
        key = self.access.key(ctx, key_id, operation, aliases=True)
        check_algorithm(key, algorithm)
        return key

    def data_key(self, ctx: RequestContext, key_id: str, *, key_spec: str | None,
                 number_of_bytes: int | None, context: dict[str, str] | None,
                 dry_run: bool, operation: str) -> DataKey:
        if (key_spec is None) == (number_of_bytes is None):
            raise ValidationException("Please specify either number of bytes or key spec.")
        length = DATA_KEY_BYTES[key_spec] if key_spec is not None else int(number_of_bytes or 0)
        plaintext = crypto.random_bytes(length)
        key, blob = self.encrypt(ctx, key_id, plaintext, context, dry_run=dry_run,
                                 operation=operation)
        return DataKey(key, plaintext, blob)

    @staticmethod
    def random(number_of_bytes: int) -> bytes:
        return crypto.random_bytes(number_of_bytes)

