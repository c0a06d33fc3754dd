"""Every error shape of the KMS model has a class in hsmkms.kms.errors, named as its code, with
status 500 for the shapes the raw model marks ``"fault": true`` and 400 otherwise (spec kms.md
3.1). Also the KMS state tables against the Developer Guide's key-state table (spec 1.1)."""

from __future__ import annotations

import inspect
import json

import pytest

from hsmkms.errors import ServiceError
from hsmkms.kms import errors, states
from hsmkms.kms.model import KeyState
from hsmkms.protocol.awsjson import JsonService
from hsmkms.protocol.model import load


def raw_model() -> dict:
    """The model the server speaks (pinned, shipped in the package), as JSON."""
    return load("kms").description


ERROR_SHAPES = {name: shape for name, shape in raw_model()["shapes"].items()
                if shape.get("exception")}


def test_model_has_error_shapes() -> None:
    assert len(ERROR_SHAPES) >= 40
    assert {n for n, s in ERROR_SHAPES.items() if s.get("fault")} >= {
        "KMSInternalException", "KeyUnavailableException", "DependencyTimeoutException"}


@pytest.mark.parametrize("name", sorted(ERROR_SHAPES))
def test_error_class_per_shape(name: str) -> None:
    cls = getattr(errors, name, None)
    assert cls is not None, f"hsmkms.kms.errors has no {name}"
    assert inspect.isclass(cls)
    assert issubclass(cls, ServiceError)
    assert cls.code() == name
    expected = 500 if ERROR_SHAPES[name].get("fault") else 400
    assert cls.status == expected
    assert cls("m").fault is (expected == 500)


def test_no_stray_error_classes() -> None:
    declared = {name for name, obj in vars(errors).items()
                if inspect.isclass(obj) and issubclass(obj, ServiceError)
                and obj.__module__ == errors.__name__}
    assert declared - set(ERROR_SHAPES) <= {"KmsError"}


def test_error_body_uses_lowercase_message() -> None:
    service = JsonService("kms", {})
    assert service.message_member == "message"
    body = json.loads(service.error_body(errors.DisabledException("arn is disabled.")))
    assert body == {"__type": "DisabledException", "message": "arn is disabled."}
    assert json.loads(service.error_body(errors.InvalidCiphertextException(None))) == {
        "__type": "InvalidCiphertextException"}


# -- the key-state tables --------------------------------------------------------------------

ARN = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
S = KeyState
CRYPTO_OPS = ["Encrypt", "Decrypt", "ReEncrypt", "GenerateDataKey",
              "GenerateDataKeyWithoutPlaintext"]


def outcome(operation: str, state: KeyState) -> tuple[str, str] | None:
    try:
        states.check(operation, state, ARN)
    except ServiceError as err:
        return err.code(), err.message or ""
    return None


@pytest.mark.parametrize("operation", CRYPTO_OPS)
def test_crypto_ops_policy(operation: str) -> None:
    assert outcome(operation, S.ENABLED) is None
    assert outcome(operation, S.UPDATING) is None
    assert outcome(operation, S.DISABLED) == ("DisabledException", f"{ARN} is disabled.")
    assert outcome(operation, S.PENDING_DELETION) == ("KMSInvalidStateException",
                                                      f"{ARN} is pending deletion.")
    assert outcome(operation, S.PENDING_IMPORT) == ("KMSInvalidStateException",
                                                    f"{ARN} is pending import.")
    assert outcome(operation, S.UNAVAILABLE) == ("KMSInvalidStateException",
                                                 f"{ARN} is unavailable.")
    assert outcome(operation, S.CREATING) == ("KMSInvalidStateException",
                                              f"{ARN} is creating.")


def test_management_policy() -> None:
    for op in ("EnableKey", "DisableKey"):
        assert outcome(op, S.ENABLED) is None
        assert outcome(op, S.DISABLED) is None
        assert outcome(op, S.UNAVAILABLE) is None  # [12]
        assert outcome(op, S.PENDING_DELETION) == ("KMSInvalidStateException",
                                                   f"{ARN} is pending deletion.")
        assert outcome(op, S.UPDATING) == ("KMSInvalidStateException", f"{ARN} is updating.")
    for state in S:
        expected = None if state in (S.PENDING_DELETION, S.PENDING_REPLICA_DELETION) else (
            "KMSInvalidStateException", f"{ARN} is not pending deletion.")
        assert outcome("CancelKeyDeletion", state) == expected, state
    assert outcome("ScheduleKeyDeletion", S.UNAVAILABLE) is None  # [13]
    assert outcome("ScheduleKeyDeletion", S.PENDING_DELETION) == (
        "KMSInvalidStateException", f"{ARN} is pending deletion.")
    for op in ("DescribeKey", "GetKeyPolicy", "PutKeyPolicy", "ListKeyPolicies",
               "ListResourceTags", "DeleteAlias"):
        for state in S:
            assert outcome(op, state) is None, (op, state)
    for op in ("CreateAlias", "TagResource", "UntagResource", "UpdateKeyDescription",
               "UpdateAlias"):
        assert outcome(op, S.UNAVAILABLE) is None
        assert outcome(op, S.DISABLED) is None
        assert outcome(op, S.PENDING_DELETION) == ("KMSInvalidStateException",
                                                   f"{ARN} is pending deletion.")


def test_transitions() -> None:
    assert states.transition(S.ENABLED, states.Event.DISABLE) is S.DISABLED
    assert states.transition(S.DISABLED, states.Event.ENABLE) is S.ENABLED
    assert states.transition(S.PENDING_DELETION, states.Event.CANCEL_DELETION) is S.DISABLED
    for state in (S.ENABLED, S.DISABLED):
        assert states.transition(state, states.Event.SCHEDULE_DELETION) is S.PENDING_DELETION
    with pytest.raises(states.IllegalTransition):
        states.transition(S.PENDING_DELETION, states.Event.ENABLE)
    with pytest.raises(states.IllegalTransition):
        states.transition(S.ENABLED, states.Event.CANCEL_DELETION)
