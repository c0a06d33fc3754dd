"""Encrypt, Decrypt, ReEncrypt, GenerateDataKey(WithoutPlaintext), GenerateRandom.

Symmetric encryption keys: the key's backend (:mod:`hsmkms.kms.backends`) gives the cipher:
local material for AWS_KMS keys, the backing key inside the HSMs for AWS_CLOUDHSM keys (raising
the KMS errors the guide describes when the cluster can't serve). The blob format is
:mod:`hsmkms.crypto`'s.

Asymmetric encryption keys (RSA with RSAES_OAEP_SHA_1/256, SM2 with SM2PKE): the ciphertext is the
raw output of the algorithm, not a KMS blob (so a ciphertext made offline with the public key
decrypts), and Decrypt needs the KeyId and the EncryptionAlgorithm (spec kms-keys.md 2.4).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass, replace

from hsmkms import crypto, pkcrypto
from hsmkms.context import RequestContext
from hsmkms.errors import ValidationException
from hsmkms.kms.errors import (
    DryRunOperationException,
    IncorrectKeyException,
    InvalidCiphertextException,
    NotFoundException,
)
from hsmkms.kms.model import Key, KeyMaterial, key_arn
from hsmkms.kms.usecases import rules
from hsmkms.kms.usecases.access import KeyAccess
from hsmkms.scope import Scope

DATA_KEY_BYTES = {"AES_256": 32, "AES_128": 16}
ALGORITHM = "SYMMETRIC_DEFAULT"
DRY_RUN = "The request would have succeeded, but the DryRun option is set."
INCORRECT_KEY = "The key ID in the request does not identify a CMK that can perform this operation."
#: Keys remembered as under one of their older materials (:meth:`Crypto._material`).
UNDER_CACHE = 4096
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


def check_algorithm(key: Key, algorithm: str | None, operation: str = "Encrypt") -> None:
    """The key's usage must allow ``operation`` and its spec the algorithm (omitted:
    SYMMETRIC_DEFAULT, which an RSA key refuses as AWS does)."""
    spec = rules.check_usage(key, operation)
    rules.check_algorithm(key, spec, algorithm or ALGORITHM)


def _asymmetric(key: Key) -> bool:
    """An asymmetric key, whose ciphertexts are the algorithm's raw output (HMAC keys are not:
    a blob decrypted with one named is another key's, IncorrectKeyException)."""
    return rules.spec_of(key).asymmetric


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
        #: ``(key id, material id) -> (key, material, key as under that material)``: copying
        #: a key costs more than the rest of a Decrypt under an older material, and the store
        #: hands out the same documents until they change (then the identities differ).
        self._under: dict[tuple[str, str], tuple[Key, KeyMaterial, Key]] = {}

    def _cipher(self, ctx: RequestContext, key: Key,
                operation: str) -> AbstractContextManager[crypto.KeyCipher]:
        backend = self.backends.of(key)
        scope = ctx.scope if key.account == ctx.account else Scope.of(key.account, key.region)
        extras = backend.trail_extras(scope, key, operation)
        if extras:  # AWS_KMS keys add nothing: skip the call on the hot path
            ctx.audit.add(additional_event_data=extras)
        return backend.cipher(ctx, key)

    def encrypt(self, ctx: RequestContext, key_id: str, plaintext: bytes,
                context: dict[str, str] | None, *, dry_run: bool = False,
                operation: str = "Encrypt", algorithm: str | None = None) -> tuple[Key, bytes]:
        check_context(context)
        key = self.access.key(ctx, key_id, operation, aliases=True, encryption_context=context)
        check_algorithm(key, algorithm, operation)
        if _asymmetric(key):
            return key, self._public_encrypt(key, algorithm or ALGORITHM, plaintext, context,
                                             dry_run=dry_run)
        if dry_run:
            raise DryRunOperationException(DRY_RUN)
        with self._cipher(ctx, key, operation) as cipher:
            return key, cipher.encrypt(key.key_id, plaintext, context,
                                       material_id=key.key_material_id)

    @staticmethod
    def _public_encrypt(key: Key, algorithm: str, plaintext: bytes,
                        context: dict[str, str] | None, *, dry_run: bool) -> bytes:
        spec = rules.spec_of(key)
        rules.check_no_context(spec, context)
        rules.check_plaintext(spec, algorithm, plaintext)
        if dry_run:
            raise DryRunOperationException(DRY_RUN)
        assert key.material is not None, f"key {key.key_id} has no material"
        return pkcrypto.encrypt(key.key_spec, key.material, algorithm, plaintext)

    def _private_decrypt(self, key: Key, blob: bytes, context: dict[str, str] | None,
                         operation: str, algorithm: str | None, *, dry_run: bool) -> bytes:
        """Decrypt with an asymmetric key the caller named (its state already checked)."""
        check_algorithm(key, algorithm, operation)
        rules.check_no_context(rules.spec_of(key), context)
        if dry_run:
            raise DryRunOperationException(DRY_RUN)
        assert key.material is not None, f"key {key.key_id} has no material"
        try:
            return pkcrypto.decrypt(key.key_spec, key.material, algorithm or ALGORITHM, blob)
        except crypto.CryptoError:
            raise InvalidCiphertextException(None) from None

    def decrypt(self, ctx: RequestContext, blob: bytes, context: dict[str, str] | None,
                key_id: str | None, *, dry_run: bool = False,
                operation: str = "Decrypt", algorithm: str | None = None) -> tuple[Key, bytes]:
        check_context(context)
        named = self.access.resolve(ctx, key_id, aliases=True) if key_id else None
        if named is not None:  # authorized before the ciphertext's key is compared with it
            self.access.authz.authorize(ctx, operation, named, context)
            if _asymmetric(named):  # the blob is the algorithm's raw output: no header
                self.access.usable(operation, named)
                return named, self._private_decrypt(named, blob, context, operation, algorithm,
                                                    dry_run=dry_run)
        header, key = self._blob_key(ctx, blob, named)
        if named is None:
            self.access.admit(ctx, operation, key, context)
        else:  # the named key, authorized above
            self.access.usable(operation, key)
        check_algorithm(key, algorithm, operation)
        under = self._material(ctx, key, header.material_id)
        if dry_run:
            raise DryRunOperationException(DRY_RUN)
        with self._cipher(ctx, under, operation) as cipher:
            try:
                return under, cipher.decrypt(blob, context)
            except crypto.CryptoError:
                raise InvalidCiphertextException(None) from None

    def _material(self, ctx: RequestContext, key: Key, material_id: str) -> Key:
        """``key`` as it was under the material that made a blob (the key itself when that is
        its current material): its ``key_material_id`` is what Decrypt
        and ReEncrypt answer as the material used."""
        if material_id == key.key_material_id:
            return key
        scope = ctx.scope if key.account == ctx.account else Scope.of(key.account, key.region)
        if not material_id:  # a version 1 blob: made under the key's first material
            found: KeyMaterial | None = self.keys.materials.listing(scope, key)[0]
        else:
            found = self.keys.materials.get(scope, key, material_id)
        if found is None or found.secret is None:  # not this key's, or deleted since
            raise InvalidCiphertextException(None)
        cached = self._under.get((key.key_id, found.material_id))
        if cached is not None and cached[0] is key and cached[1] is found:
            return cached[2]  # the same key and material documents as last time
        under = replace(key, material=found.secret, key_material_id=found.material_id)
        if len(self._under) >= UNDER_CACHE:
            self._under.clear()
        self._under[key.key_id, found.material_id] = (key, found, under)
        return under

    def _blob_key(self, ctx: RequestContext, blob: bytes,
                  named: Key | None) -> tuple[crypto.BlobHeader, Key]:
        """The blob's header and the key it names (which must be the ``named`` one)."""
        try:
            header = crypto.parse_header(blob)
        except crypto.CryptoError:
            raise InvalidCiphertextException(None) from None
        key = self.keys.get(ctx.scope, header.key_id)
        if key is None and self.access.authz.cross_account:  # another account's key
            key = self.keys.in_region(ctx.region, header.key_id)
        if named is not None and (key is None or key.key_id != named.key_id):
            raise IncorrectKeyException(INCORRECT_KEY)
        if key is None:
            if not self.keys.was_deleted(ctx, header.key_id):
                # A damaged header that happens to name no key: like any other tampering.
                raise InvalidCiphertextException(None)
            raise NotFoundException(
                f"Key '{key_arn(ctx.region, ctx.account, header.key_id)}' does not exist")
        return header, key

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
        check_algorithm(key, algorithm, operation)
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

