"""The key-spec rules of CreateKey and of every cryptographic operation, as lookups in
:mod:`hsmkms.kms.keyspecs` (spec kms-keys.md 1.2, 2.1, 2.2).

Check order of a cryptographic call (after the key was resolved, authorized, and its origin and
state admitted it): the key's usage (:func:`check_usage`), then the algorithm against the key
spec (:func:`check_algorithm`), then the message rules (:func:`check_message`), then DryRun.
"""

from __future__ import annotations

from typing import Final

from hsmkms.errors import NotImplementedYet, ValidationException
from hsmkms.kms import keyspecs
from hsmkms.kms.errors import InvalidKeyUsageException, UnsupportedOperationException
from hsmkms.kms.keyspecs import Family, KeySpec, Usage
from hsmkms.kms.model import Key

#: The key usage each cryptographic operation needs.
OPERATION_USAGE: Final = {
    **dict.fromkeys(("Encrypt", "Decrypt", "ReEncrypt", "GenerateDataKey",
                     "GenerateDataKeyWithoutPlaintext", "GenerateDataKeyPair",
                     "GenerateDataKeyPairWithoutPlaintext"), Usage.ENCRYPT_DECRYPT),
    "Sign": Usage.SIGN_VERIFY, "Verify": Usage.SIGN_VERIFY,
    "GenerateMac": Usage.GENERATE_VERIFY_MAC, "VerifyMac": Usage.GENERATE_VERIFY_MAC,
    "DeriveSharedSecret": Usage.KEY_AGREEMENT,
    "Encapsulate": Usage.ENCAPSULATE_DECAPSULATE, "Decapsulate": Usage.ENCAPSULATE_DECAPSULATE,
}
#: Operations that need a *symmetric* encryption key (data keys are sealed in KMS blobs).
SYMMETRIC_ONLY: Final = frozenset({"GenerateDataKey", "GenerateDataKeyWithoutPlaintext",
                                   "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext"})
MISSING_USAGE = ("You must specify a KeyUsage value for all KMS keys except for symmetric "
                 "encryption keys.")
#: Combinations hsmkms cannot create keys of yet (docs/compatibility.md).
NOT_YET: Final = {("SM2", "KEY_AGREEMENT"): "SM2 key agreement (ECDH on the SM2 curve)"}


def spec_of(key: Key) -> KeySpec:
    return keyspecs.get(key.key_spec)


# -- CreateKey ----------------------------------------------------------------------------------


def create_key_spec(key_spec: str | None, customer_master_key_spec: str | None,
                    key_usage: str | None, region: str) -> tuple[KeySpec, str]:
    """The spec and usage a CreateKey request asks for, or AWS's refusal, in AWS's order:
    both spec members, a missing usage, a usage the spec does not allow, the Region."""
    if key_spec is not None and customer_master_key_spec is not None:
        raise ValidationException("You cannot specify KeySpec and CustomerMasterKeySpec in "
                                  "the same request. CustomerMasterKeySpec is deprecated.")
    spec = keyspecs.get(key_spec or customer_master_key_spec or "SYMMETRIC_DEFAULT")
    if key_usage is None:
        if not spec.symmetric:
            raise ValidationException(MISSING_USAGE)
        key_usage = Usage.ENCRYPT_DECRYPT
    if not spec.algorithms(key_usage):
        raise ValidationException(
            f"KeyUsage {key_usage} is not compatible with KeySpec {spec.name}")
    where = keyspecs.partition(region)
    if where not in spec.partitions:
        # The error AWS gives is not published (spec kms-keys.md 10 Q5): ours.
        raise UnsupportedOperationException(
            f"KeySpec {spec.name} is not available in the Region {region}.")
    if (spec.name, key_usage) in NOT_YET:
        raise NotImplementedYet(f"hsmkms does not implement {NOT_YET[(spec.name, key_usage)]} "
                                "yet.")
    return spec, str(key_usage)


# -- cryptographic operations -------------------------------------------------------------------


def check_usage(key: Key, operation: str) -> KeySpec:
    """The key's usage must be the operation's; data key operations also need a symmetric key."""
    spec = spec_of(key)
    if key.key_usage != OPERATION_USAGE[operation]:
        raise InvalidKeyUsageException(
            f"{key.arn} key usage is {key.key_usage} which is not valid for {operation}.")
    if operation in SYMMETRIC_ONLY and not spec.symmetric:
        raise InvalidKeyUsageException(
            f"{key.arn} key KeySpec is {key.key_spec} which is not valid for {operation}.")
    return spec


def check_algorithm(key: Key, spec: KeySpec, algorithm: str) -> None:
    if algorithm not in spec.algorithms(key.key_usage):
        raise InvalidKeyUsageException(
            f"Algorithm {algorithm} is incompatible with key spec {spec.name}.")


def check_message(spec: KeySpec, algorithm: str, message: bytes, message_type: str) -> None:
    """MessageType and length rules of Sign and Verify (Sign doc string; recorded texts)."""
    rules = keyspecs.SIGNING[algorithm]
    if message_type not in rules.message_types:
        if spec.family is Family.ED25519:  # ours (spec kms-keys.md 10 Q6)
            raise ValidationException(
                f"Message type {message_type} is incompatible with algorithm {algorithm}.")
        raise ValidationException(
            f"Message type {message_type} is incompatible with key spec {spec.name}.")
    if message_type != "RAW" and len(message) != rules.digest_length:
        raise ValidationException(f"Digest is invalid length for algorithm {algorithm}.")


def check_plaintext(spec: KeySpec, algorithm: str, plaintext: bytes) -> None:
    limit = keyspecs.max_plaintext(spec, algorithm)
    if len(plaintext) > limit:
        raise ValidationException(f"Algorithm {algorithm} and key spec {spec.name} cannot "
                                  f"encrypt data larger than {limit} bytes.")


def check_no_context(spec: KeySpec, context: dict[str, str] | None) -> None:
    """An encryption context only applies to symmetric encryption keys (API reference); AWS's
    answer to one sent with an asymmetric key is not published (kms-keys.md 10 Q9): ours."""
    if context and spec.asymmetric:
        raise ValidationException(
            f"EncryptionContext is not supported with KMS keys of key spec {spec.name}.")


def check_pair_spec(spec_name: str, region: str) -> KeySpec:
    spec = keyspecs.get(spec_name)
    if keyspecs.partition(region) not in spec.partitions:
        raise UnsupportedOperationException(
            f"KeyPairSpec {spec_name} is not available in the Region {region}.")
    return spec
