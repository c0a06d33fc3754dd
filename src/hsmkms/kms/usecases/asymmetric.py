"""GetPublicKey, Sign, Verify, GenerateMac, VerifyMac, DeriveSharedSecret, Encapsulate,
Decapsulate and the data key pairs (spec kms-keys.md 2.2-2.8).

Each operation runs the steps of :mod:`hsmkms.kms.usecases.rules`: the key (resolved,
authorized, origin and state admitted), its usage, the algorithm against its spec, the message
rules, DryRun; then the cryptography of :mod:`hsmkms.pkcrypto` with the key's material.
A signature or MAC that does not verify is an error with no message, never ``false``.
"""

from __future__ import annotations

from dataclasses import dataclass

from hsmkms import pkcrypto
from hsmkms.context import RequestContext
from hsmkms.errors import ValidationException
from hsmkms.kms import keyspecs
from hsmkms.kms.errors import (
    DryRunOperationException,
    InvalidCiphertextException,
    KMSInvalidMacException,
    KMSInvalidSignatureException,
    UnsupportedOperationException,
)
from hsmkms.kms.keygen import KeyMaterials
from hsmkms.kms.keyspecs import KeySpec
from hsmkms.kms.model import Key
from hsmkms.kms.usecases import rules
from hsmkms.kms.usecases.access import KeyAccess
from hsmkms.kms.usecases.crypto import DRY_RUN, Crypto


@dataclass(frozen=True, slots=True)
class SignRequest:
    key_id: str
    message: bytes
    algorithm: str
    message_type: str = "RAW"
    dry_run: bool = False


@dataclass(frozen=True, slots=True)
class PublicKey:
    key: Key
    spec: KeySpec
    der: bytes


@dataclass(frozen=True, slots=True)
class KeyPair:
    key: Key
    public_key: bytes
    private_key: bytes
    blob: bytes


class PublicKeyCrypto:
    def __init__(self, access: KeyAccess, crypto: Crypto, materials: KeyMaterials) -> None:
        self.access = access
        self.crypto = crypto
        self.materials = materials

    def _key(self, ctx: RequestContext, key_id: str, operation: str,
             algorithm: str) -> tuple[Key, KeySpec, bytes]:
        key = self.access.key(ctx, key_id, operation, aliases=True)
        spec = rules.check_usage(key, operation)
        rules.check_algorithm(key, spec, algorithm)
        assert key.material is not None, f"key {key.key_id} has no material"
        return key, spec, bytes(key.material)

    # -- GetPublicKey ---------------------------------------------------------------------------

    def public_key(self, ctx: RequestContext, key_id: str) -> PublicKey:
        key = self.access.key(ctx, key_id, "GetPublicKey", aliases=True)
        spec = rules.spec_of(key)
        if not spec.asymmetric:
            # Both this and InvalidKeyUsageException are declared; the text is ours
            # (spec kms-keys.md 10 Q8).
            raise UnsupportedOperationException(
                f"{key.arn} is not an asymmetric KMS key. GetPublicKey works only with "
                "asymmetric KMS keys.")
        assert key.material is not None, f"key {key.key_id} has no material"
        return PublicKey(key, spec, pkcrypto.public_key(spec.name, bytes(key.material)))

    # -- Sign and Verify ------------------------------------------------------------------------

    def _signing(self, ctx: RequestContext, req: SignRequest,
                 operation: str) -> tuple[Key, bytes, pkcrypto.SignInput]:
        key, spec, material = self._key(ctx, req.key_id, operation, req.algorithm)
        rules.check_message(spec, req.algorithm, req.message, req.message_type)
        if req.dry_run:
            raise DryRunOperationException(DRY_RUN)
        what = pkcrypto.SignInput(req.algorithm, req.message, req.message_type,
                                  keyspecs.SIGNING[req.algorithm].hash)
        return key, material, what

    def sign(self, ctx: RequestContext, req: SignRequest) -> tuple[Key, bytes]:
        key, material, what = self._signing(ctx, req, "Sign")
        return key, pkcrypto.sign(key.key_spec, material, what)

    def verify(self, ctx: RequestContext, req: SignRequest, signature: bytes) -> Key:
        key, material, what = self._signing(ctx, req, "Verify")
        if not pkcrypto.verify(key.key_spec, material, what, signature):
            raise KMSInvalidSignatureException(None)
        return key

    # -- HMAC -----------------------------------------------------------------------------------

    def generate_mac(self, ctx: RequestContext, key_id: str, message: bytes, algorithm: str,
                     *, dry_run: bool) -> tuple[Key, bytes]:
        key, _spec, material = self._key(ctx, key_id, "GenerateMac", algorithm)
        if dry_run:
            raise DryRunOperationException(DRY_RUN)
        return key, pkcrypto.mac(key.key_spec, material, message)

    def verify_mac(self, ctx: RequestContext, key_id: str, message: bytes, algorithm: str,
                   mac: bytes, *, dry_run: bool) -> Key:
        key, _spec, material = self._key(ctx, key_id, "VerifyMac", algorithm)
        if dry_run:
            raise DryRunOperationException(DRY_RUN)
        if not pkcrypto.mac_matches(key.key_spec, material, message, mac):
            raise KMSInvalidMacException(None)
        return key

    # -- key agreement and encapsulation --------------------------------------------------------

    def derive_shared_secret(self, ctx: RequestContext, key_id: str, algorithm: str,
                             peer: bytes, *, dry_run: bool) -> tuple[Key, bytes]:
        key, _spec, material = self._key(ctx, key_id, "DeriveSharedSecret", algorithm)
        try:
            secret = pkcrypto.derive_shared_secret(key.key_spec, material, peer)
        except pkcrypto.BadPublicKey:
            # AWS answers a public key it cannot use with an empty message (LS 2024-12).
            raise ValidationException(None) from None
        if dry_run:
            raise DryRunOperationException(DRY_RUN)
        return key, secret

    def encapsulate(self, ctx: RequestContext, key_id: str, algorithm: str, *,
                    dry_run: bool) -> tuple[Key, bytes, bytes]:
        key, _spec, material = self._key(ctx, key_id, "Encapsulate", algorithm)
        if dry_run:
            raise DryRunOperationException(DRY_RUN)
        secret, ciphertext = pkcrypto.encapsulate(key.key_spec, material)
        return key, secret, ciphertext

    def decapsulate(self, ctx: RequestContext, key_id: str, algorithm: str, ciphertext: bytes,
                    *, dry_run: bool) -> tuple[Key, bytes]:
        key, _spec, material = self._key(ctx, key_id, "Decapsulate", algorithm)
        if len(ciphertext) != pkcrypto.KEM_CIPHERTEXT[key.key_spec]:
            raise InvalidCiphertextException(None)
        if dry_run:
            raise DryRunOperationException(DRY_RUN)
        return key, pkcrypto.decapsulate(key.key_spec, material, ciphertext)

    # -- data key pairs -------------------------------------------------------------------------

    def data_key_pair(self, ctx: RequestContext, key_id: str, pair_spec: str,
                      context: dict[str, str] | None, *, dry_run: bool,
                      operation: str) -> KeyPair:
        """A new key pair of ``pair_spec``; its PKCS #8 private key sealed in an ordinary
        symmetric blob under ``key_id`` (so plain Decrypt returns it)."""
        spec = rules.check_pair_spec(pair_spec, ctx.region)
        # Every check of the key first (DryRun included), then the (maybe slow) generation.
        try:
            self.crypto.encrypt(ctx, key_id, b"", context, dry_run=True, operation=operation)
        except DryRunOperationException:
            if dry_run:
                raise
        private = self.materials.take(spec.name)
        key, blob = self.crypto.encrypt(ctx, key_id, private, context, operation=operation)
        return KeyPair(key, pkcrypto.public_key(spec.name, private, keep=False), private, blob)

