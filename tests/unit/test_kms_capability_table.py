"""hsmkms.kms.capabilities: the origin x operation table, its lookups, and its agreement with
the KMS model and the wire table."""

from __future__ import annotations

import dataclasses
from typing import Any, cast

import pytest

from hsmkms.errors import NotImplementedYet, ServiceError
from hsmkms.kms import api, capabilities
from hsmkms.kms.capabilities import SUPPORTED, Refusal
from hsmkms.kms.errors import UnsupportedOperationException
from hsmkms.kms.model import Key, KeyState, Origin
from hsmkms.protocol.model import service_model

ARN = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
KEY_MEMBERS = ("KeyId", "TargetKeyId", "DestinationKeyId")


def _key(origin: Origin) -> Key:
    return Key("1234abcd-12ab-34cd-56ef-1234567890ab", "111122223333", "us-east-1", 0.0,
               KeyState.ENABLED, origin=origin)


def _wire_operations() -> set[str]:
    nothing = cast("Any", None)  # building the table calls no use case
    return set(api.handlers(api.UseCases(*[nothing] * len(dataclasses.fields(api.UseCases)))))


#: Rotation: AWS_KMS keys rotate; AWS refuses it for CloudHSM keys (KMS DG keystore-cloudhsm).
ROTATION = ("EnableKeyRotation", "DisableKeyRotation", "GetKeyRotationStatus",
            "RotateKeyOnDemand", "ListKeyRotations")
#: The operations both key origins support (a use case answers them).
SUPPORTED_BY_BOTH = (
    "CreateKey", "DescribeKey", "EnableKey", "DisableKey", "ScheduleKeyDeletion",
    "CancelKeyDeletion", "UpdateKeyDescription", "TagResource", "UntagResource",
    "ListResourceTags", "GetKeyPolicy", "PutKeyPolicy", "ListKeyPolicies", "CreateAlias",
    "UpdateAlias", "ListAliases", "GetKeyLastUsage", "Encrypt", "Decrypt", "ReEncrypt",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext", "GetPublicKey", "Sign", "Verify", "GenerateMac",
    "VerifyMac", "DeriveSharedSecret", "Encapsulate", "Decapsulate", "CreateGrant",
    "ListGrants", "RetireGrant", "RevokeGrant")
#: Supported for AWS_KMS keys; AWS refuses them for keys in CloudHSM key stores
#: (GenerateDataKeyPair doc string).
PAIRS = ("GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext")
#: Supported for AWS_KMS keys; CloudHSM keys are never multi-Region (KMS DG keystore-cloudhsm).
MULTI_REGION = ("ReplicateKey", "UpdatePrimaryRegion")
#: Only EXTERNAL keys may import key material (KMS API reference).
IMPORT = ("GetParametersForImport", "ImportKeyMaterial", "DeleteImportedKeyMaterial")
Expected = tuple[str, str, int] | None


def _expected(operation: str, origin: Origin) -> Expected:
    """(code, message, HTTP status) the cell raises for a key with :data:`ARN`, or None."""
    unsupported = ("UnsupportedOperationException",
                   f"{ARN} origin is {origin.value} which is not valid for this operation.", 400)
    if operation in SUPPORTED_BY_BOTH:
        return None
    if origin is Origin.AWS_CLOUDHSM and operation in (*PAIRS, *ROTATION, *MULTI_REGION):
        return unsupported
    if operation in PAIRS or operation in ROTATION or operation in MULTI_REGION:
        # Imported material rotates on demand only (spec kms-keys.md 3.1).
        settings = operation in ("EnableKeyRotation", "DisableKeyRotation")
        return unsupported if origin is Origin.EXTERNAL and settings else None
    assert operation in IMPORT, operation
    return None if origin is Origin.EXTERNAL else unsupported


CELLS = [(op, origin) for op in (*SUPPORTED_BY_BOTH, *PAIRS, *ROTATION, *MULTI_REGION,
                                  *IMPORT)
         for origin in (Origin.AWS_KMS, Origin.AWS_CLOUDHSM, Origin.EXTERNAL)]


def test_the_expected_rows_are_the_tables_rows() -> None:
    expected = {*SUPPORTED_BY_BOTH, *PAIRS, *ROTATION, *MULTI_REGION, *IMPORT}
    assert len(expected) == len(SUPPORTED_BY_BOTH) + len(PAIRS) + len(ROTATION) + len(
        MULTI_REGION) + len(IMPORT)
    assert set(capabilities.TABLE) == expected


@pytest.mark.parametrize(("operation", "origin"), CELLS,
                         ids=[f"{op}-{origin.value}" for op, origin in CELLS])
def test_cell(operation: str, origin: Origin) -> None:
    expected = _expected(operation, origin)
    if expected is None:
        capabilities.check(operation, _key(origin))
        assert capabilities.capability(operation, origin) is SUPPORTED
        return
    with pytest.raises(ServiceError) as exc:
        capabilities.check(operation, _key(origin))
    assert (exc.value.code(), exc.value.message, exc.value.status) == expected


def test_the_refusals_are_the_aws_error_classes() -> None:
    with pytest.raises(UnsupportedOperationException):
        capabilities.check("EnableKeyRotation", _key(Origin.AWS_CLOUDHSM))
    with pytest.raises(UnsupportedOperationException):  # imported keys rotate on demand only
        capabilities.check("EnableKeyRotation", _key(Origin.EXTERNAL))
    capabilities.check("RotateKeyOnDemand", _key(Origin.EXTERNAL))
    capabilities.check("RotateKeyOnDemand", _key(Origin.AWS_KMS))


def test_origins_without_keys_only_refuse() -> None:
    with pytest.raises(NotImplementedYet) as exc:
        capabilities.check_origin("CreateKey", Origin.EXTERNAL_KEY_STORE)
    assert exc.value.message == ("hsmkms does not implement KMS keys with Origin "
                                 "EXTERNAL_KEY_STORE yet.")
    for origin in (Origin.AWS_KMS, Origin.AWS_CLOUDHSM, Origin.EXTERNAL):
        capabilities.check_origin("CreateKey", origin)
    # A cell nobody wrote yet: an origin that cannot hold keys is "not implemented".
    with pytest.raises(NotImplementedYet) as exc:
        capabilities.check_origin("Encrypt", Origin.EXTERNAL_KEY_STORE, ARN)
    assert exc.value.message == "hsmkms does not implement TrentService.Encrypt yet."


def test_every_row_is_a_model_operation_and_every_cell_a_known_origin() -> None:
    model = service_model("kms")  # the pinned model the server speaks
    assert set(capabilities.TABLE) <= set(model.operation_names)
    for row in capabilities.TABLE.values():
        assert set(row) <= set(Origin)
        assert {Origin.AWS_KMS, Origin.AWS_CLOUDHSM} <= set(row)
        assert all(isinstance(c, (type(SUPPORTED), Refusal)) for c in row.values())


def test_every_operation_with_a_handler_that_addresses_a_key_has_a_row() -> None:
    model = service_model("kms")  # the pinned model the server speaks
    wired = _wire_operations()
    addressing = {name for name in model.operation_names
                  if set(KEY_MEMBERS) & set(model.operation_model(name).input_shape.members)}
    assert (addressing & wired) - set(capabilities.TABLE) == set()


def test_supported_rows_have_handlers_and_refused_rows_are_wired() -> None:
    wired = _wire_operations()
    supported = {op for op, row in capabilities.TABLE.items() if SUPPORTED in row.values()}
    assert supported <= wired
    assert set(capabilities.REFUSED_ONLY) <= wired
    assert capabilities.REFUSED_ONLY == ()  # every row is supported by some origin today
    assert "EnableKeyRotation" not in capabilities.REFUSED_ONLY
    assert "Encrypt" not in capabilities.REFUSED_ONLY
