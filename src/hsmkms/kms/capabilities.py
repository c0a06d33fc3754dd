"""Which operation each key origin supports: the origin x operation table, as data.

Every KMS operation that addresses a key has a row: per origin, either :data:`SUPPORTED` or the
:class:`Refusal` (AWS error code and message) a caller gets. A use case looks its row up right
after it found the key (:func:`check`), before the key-state policy. Adding an origin or an
operation is adding a column or a row here, not an ``if`` in a use case.

Sources: AWS answers ``UnsupportedOperationException`` ("<key ARN> origin is AWS_CLOUDHSM which
is not valid for this operation.") for rotation, import, multi-Region and data key pair
operations on keys in CloudHSM key stores (KMS DG keystore-cloudhsm, "Unsupported features"),
and for the import operations on any key whose origin is not EXTERNAL (API reference). What
hsmkms does not implement yet for a key answers ``NotImplementedYetException``
(docs/compatibility.md). Operations with no handler at all answer the service's generic
``NotImplementedYetException`` and have no row.

AWS_KMS, AWS_CLOUDHSM and EXTERNAL (imported key material) keys can exist; EXTERNAL_KEY_STORE has a
row only for CreateKey (which refuses it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from hsmkms.errors import NotImplementedYet, ServiceError
from hsmkms.kms.errors import UnsupportedOperationException
from hsmkms.kms.model import Key, Origin


@dataclass(frozen=True, slots=True)
class Refusal:
    """The error an origin answers for an operation; ``message`` may name ``{arn}``,
    ``{origin}`` and ``{operation}``."""

    error: type[ServiceError]
    message: str

    def exception(self, operation: str, *, arn: str = "", origin: Origin | None = None
                  ) -> ServiceError:
        text = self.message.format(arn=arn, origin=origin.value if origin else "",
                                   operation=operation)
        return self.error(text)


@dataclass(frozen=True, slots=True)
class Supported:
    def __repr__(self) -> str:
        return "SUPPORTED"


SUPPORTED = Supported()
Capability = Supported | Refusal

#: AWS's answer for an operation the key's origin does not allow.
NOT_VALID_FOR_ORIGIN = Refusal(UnsupportedOperationException,
                               "{arn} origin is {origin} which is not valid for this operation.")
NOT_IMPLEMENTED = Refusal(NotImplementedYet,
                          "hsmkms does not implement TrentService.{operation} yet.")
#: What hsmkms cannot create keys of yet; ``{what}``: MultiRegion or the origin.
UNSUPPORTED_SPEC = "hsmkms does not implement KMS keys with {what} yet."
#: CreateKey with an origin hsmkms cannot create keys of yet.
ORIGIN_NOT_IMPLEMENTED = Refusal(NotImplementedYet,
                                 UNSUPPORTED_SPEC.format(what="Origin {origin}"))

_BOTH = {Origin.AWS_KMS: SUPPORTED, Origin.AWS_CLOUDHSM: SUPPORTED, Origin.EXTERNAL: SUPPORTED}
#: Implemented for local keys some day; AWS refuses them for CloudHSM keys.
_NOT_FOR_CLOUDHSM = {Origin.AWS_KMS: NOT_IMPLEMENTED, Origin.AWS_CLOUDHSM: NOT_VALID_FOR_ORIGIN}
#: AWS refuses data key pairs under keys in CloudHSM key stores (GenerateDataKeyPair doc).
_PAIRS: dict[Origin, Capability] = {Origin.AWS_KMS: SUPPORTED, Origin.EXTERNAL: SUPPORTED,
                                   Origin.AWS_CLOUDHSM: NOT_VALID_FOR_ORIGIN}
#: Only EXTERNAL keys may import key material.
_IMPORT: dict[Origin, Capability] = {Origin.AWS_KMS: NOT_VALID_FOR_ORIGIN,
                                    Origin.AWS_CLOUDHSM: NOT_VALID_FOR_ORIGIN,
                                    Origin.EXTERNAL: SUPPORTED}

#: Automatic rotation: AWS_KMS keys only (never CloudHSM keys, nor imported material).
_ROTATION_SETTINGS: dict[Origin, Capability] = {
    Origin.AWS_KMS: SUPPORTED, Origin.AWS_CLOUDHSM: NOT_VALID_FOR_ORIGIN,
    Origin.EXTERNAL: NOT_VALID_FOR_ORIGIN}
#: Rotation status, on-demand rotation and its history: imported material rotates on demand.
_ROTATION: dict[Origin, Capability] = {
    Origin.AWS_KMS: SUPPORTED, Origin.AWS_CLOUDHSM: NOT_VALID_FOR_ORIGIN,
    Origin.EXTERNAL: SUPPORTED}
#: Multi-Region keys: CloudHSM keys are never multi-Region (DG keystore-cloudhsm).
_MULTI_REGION: Mapping[Origin, Capability] = {
    Origin.AWS_KMS: SUPPORTED, Origin.EXTERNAL: SUPPORTED,
    Origin.AWS_CLOUDHSM: NOT_VALID_FOR_ORIGIN}

TABLE: dict[str, Mapping[Origin, Capability]] = {
    "CreateKey": {**_BOTH, Origin.EXTERNAL_KEY_STORE: ORIGIN_NOT_IMPLEMENTED},
    **dict.fromkeys((
        "DescribeKey", "EnableKey", "DisableKey", "ScheduleKeyDeletion", "CancelKeyDeletion",
        "UpdateKeyDescription", "TagResource", "UntagResource", "ListResourceTags",
        "GetKeyPolicy", "PutKeyPolicy", "ListKeyPolicies", "CreateAlias", "UpdateAlias",
        "ListAliases", "GetKeyLastUsage", "Encrypt", "Decrypt", "ReEncrypt", "GenerateDataKey",
        "GenerateDataKeyWithoutPlaintext",
        # CloudHSM keys are symmetric encryption keys: the key-usage check refuses them.
        "GetPublicKey", "Sign", "Verify", "GenerateMac", "VerifyMac", "DeriveSharedSecret",
        "Encapsulate", "Decapsulate",
        # Grants behave alike for every origin (spec authz.md §5.5).
        "CreateGrant", "ListGrants", "RetireGrant", "RevokeGrant"), _BOTH),
    **dict.fromkeys(("GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext"), _PAIRS),
    # Rotation: never for CloudHSM keys; keys with imported material rotate on demand only
    # (their GetKeyRotationStatus says false), spec kms-keys.md 3.1.
    **dict.fromkeys(("EnableKeyRotation", "DisableKeyRotation"), _ROTATION_SETTINGS),
    **dict.fromkeys(("GetKeyRotationStatus", "RotateKeyOnDemand", "ListKeyRotations"),
                    _ROTATION),
    # Multi-Region keys (issue 12 item 4).
    **dict.fromkeys(("ReplicateKey", "UpdatePrimaryRegion"), _MULTI_REGION),
    # Imported key material (issue 12 item 3).
    **dict.fromkeys(("GetParametersForImport", "ImportKeyMaterial",
                     "DeleteImportedKeyMaterial"), _IMPORT),
}

#: Operations whose every row refuses: the API answers them with :func:`check` alone.
REFUSED_ONLY = tuple(op for op, row in TABLE.items()
                     if not any(isinstance(c, Supported) for c in row.values()))


def capability(operation: str, origin: Origin) -> Capability:
    """The row's cell; an origin without a cell cannot hold keys yet (not implemented)."""
    return TABLE[operation].get(origin, NOT_IMPLEMENTED)


def check_origin(operation: str, origin: Origin, arn: str = "") -> None:
    """Raise the row's refusal for ``origin``, if it has one."""
    cell = capability(operation, origin)
    if isinstance(cell, Refusal):
        raise cell.exception(operation, arn=arn, origin=origin)


def check(operation: str, key: Key) -> None:
    """Raise the AWS error if ``key``'s origin does not support ``operation`` (the key's ARN is
    formatted only then: this runs on every call that uses a key)."""
    cell = capability(operation, key.origin)
    if isinstance(cell, Refusal):
        raise cell.exception(operation, arn=key.arn, origin=key.origin)
