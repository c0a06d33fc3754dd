"""hsmkms.kms.capabilities: the origin x operation table, its lookups, and its agreement with
the KMS model and the wire table."""

from __future__ import annotations

from typing import Any, cast

import botocore.session
import pytest

from hsmkms.errors import NotImplementedYet
from hsmkms.kms import api, capabilities
from hsmkms.kms.capabilities import SUPPORTED, Refusal
from hsmkms.kms.errors import UnsupportedOperationException
from hsmkms.kms.model import Key, KeyState, Origin

ARN = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
KEY_MEMBERS = ("KeyId", "TargetKeyId", "DestinationKeyId")


def _key(origin: Origin) -> Key:
    return Key("1234abcd-12ab-34cd-56ef-1234567890ab", "111122223333", "us-east-1", 0.0,
               KeyState.ENABLED, origin=origin)


def _wire_operations() -> set[str]:
    nothing = cast("Any", None)  # building the table calls no use case
    return set(api.handlers(api.UseCases(nothing, nothing, nothing, nothing, nothing)))


def test_cloudhsm_keys_refuse_what_aws_refuses() -> None:
    # KMS DG keystore-cloudhsm: no rotation, import, multi-Region or data key pairs.
    refused = {op for op, row in capabilities.TABLE.items()
               if row.get(Origin.AWS_CLOUDHSM) == capabilities.NOT_VALID_FOR_ORIGIN}
    assert refused == {
        "EnableKeyRotation", "DisableKeyRotation", "GetKeyRotationStatus", "RotateKeyOnDemand",
        "ListKeyRotations", "GetParametersForImport", "ImportKeyMaterial",
        "DeleteImportedKeyMaterial", "ReplicateKey", "UpdatePrimaryRegion",
        "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext"}


def test_refusal_names_the_key_and_its_origin() -> None:
    with pytest.raises(UnsupportedOperationException) as exc:
        capabilities.check("EnableKeyRotation", _key(Origin.AWS_CLOUDHSM))
    assert exc.value.message == (f"{ARN} origin is AWS_CLOUDHSM which is not valid for this "
                                 "operation.")
    with pytest.raises(UnsupportedOperationException) as exc:
        capabilities.check("ImportKeyMaterial", _key(Origin.AWS_KMS))
    assert exc.value.message == f"{ARN} origin is AWS_KMS which is not valid for this operation."


def test_not_implemented_names_the_operation() -> None:
    with pytest.raises(NotImplementedYet) as exc:
        capabilities.check("ReplicateKey", _key(Origin.AWS_KMS))
    assert exc.value.message == "hsmkms does not implement TrentService.ReplicateKey yet."


def test_supported_cells_do_not_raise() -> None:
    for origin in (Origin.AWS_KMS, Origin.AWS_CLOUDHSM):
        capabilities.check("Encrypt", _key(origin))
        assert capabilities.capability("Encrypt", origin) is SUPPORTED


def test_origins_without_keys_only_refuse() -> None:
    with pytest.raises(NotImplementedYet) as exc:
        capabilities.check_origin("CreateKey", Origin.EXTERNAL_KEY_STORE)
    assert "Origin EXTERNAL_KEY_STORE is not implemented yet" in str(exc.value.message)
    # A cell nobody wrote yet: an origin that cannot hold keys is "not implemented".
    assert capabilities.capability("Encrypt", Origin.EXTERNAL) == capabilities.NOT_IMPLEMENTED


def test_every_row_is_a_model_operation_and_every_cell_a_known_origin() -> None:
    model = botocore.session.get_session().get_service_model("kms")
    assert set(capabilities.TABLE) <= set(model.operation_names)
    for row in capabilities.TABLE.values():
        assert set(row) <= set(Origin)
        assert {Origin.AWS_KMS, Origin.AWS_CLOUDHSM} <= set(row)
        assert all(isinstance(c, (type(SUPPORTED), Refusal)) for c in row.values())


def test_every_operation_with_a_handler_that_addresses_a_key_has_a_row() -> None:
    model = botocore.session.get_session().get_service_model("kms")
    wired = _wire_operations()
    addressing = {name for name in model.operation_names
                  if set(KEY_MEMBERS) & set(model.operation_model(name).input_shape.members)}
    assert (addressing & wired) - set(capabilities.TABLE) == set()


def test_supported_rows_have_handlers_and_refused_rows_are_wired() -> None:
    wired = _wire_operations()
    supported = {op for op, row in capabilities.TABLE.items() if SUPPORTED in row.values()}
    assert supported <= wired
    assert set(capabilities.REFUSED_ONLY) <= wired
    assert "EnableKeyRotation" in capabilities.REFUSED_ONLY
    assert "Encrypt" not in capabilities.REFUSED_ONLY
