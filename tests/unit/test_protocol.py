"""hsmkms.protocol: decoding, validation messages in AWS's format, serialisation, errors."""

from __future__ import annotations

import base64
import enum
import json
from typing import Any

import pytest

from hsmkms.errors import (
    NotImplementedYet,
    SerializationException,
    ServiceError,
    UnknownOperationException,
    ValidationException,
)
from hsmkms.protocol.awsjson import JsonService
from hsmkms.protocol.validate import summarise


@pytest.fixture(scope="module")
def kms() -> JsonService:
    return JsonService("kms", {"GenerateRandom": lambda _ctx, p: {"Plaintext": b"\x00" * p.get(
        "NumberOfBytes", 1)}})


def parse(service: JsonService, op: str, doc: Any) -> dict[str, Any]:
    return service.parse(op, json.dumps(doc).encode())[1]


def message(service: JsonService, op: str, doc: Any) -> str:
    with pytest.raises(ServiceError) as exc:
        parse(service, op, doc)
    return f"{exc.value.code()}: {exc.value.message}"


def test_decode_types(kms: JsonService) -> None:
    params = parse(kms, "Encrypt", {"KeyId": "k", "Plaintext": "aGk=",
                                    "EncryptionContext": {"a": "b"}, "DryRun": True,
                                    "GrantTokens": ["t"]})
    assert params == {"KeyId": "k", "Plaintext": b"hi", "EncryptionContext": {"a": "b"},
                      "DryRun": True, "GrantTokens": ["t"]}
    assert parse(kms, "GenerateRandom", {"NumberOfBytes": 3.0}) == {"NumberOfBytes": 3}
    assert isinstance(parse(kms, "GenerateRandom", {"NumberOfBytes": 3.0})["NumberOfBytes"], int)
    # Unknown and null members are ignored.
    assert parse(kms, "ListKeys", {"Bogus": 1, "Limit": None}) == {}
    assert kms.parse("ListKeys", b"")[1] == {}
    assert kms.parse("ListKeys", b"  \n")[1] == {}


@pytest.mark.parametrize(("doc", "expected"), [
    ({"NumberOfBytes": "1"}, "Expected integer at 'NumberOfBytes' but found a JSON string."),
    ({"NumberOfBytes": True}, "Expected integer at 'NumberOfBytes' but found a JSON boolean."),
    ({"NumberOfBytes": 1.25}, "Expected integer at 'NumberOfBytes' but found a JSON number."),
    ({"NumberOfBytes": []}, "Expected integer at 'NumberOfBytes' but found a JSON array."),
    ({"CustomKeyStoreId": 5}, "Expected string at 'CustomKeyStoreId' but found a JSON number."),
    ({"CustomKeyStoreId": False},
     "Expected string at 'CustomKeyStoreId' but found a JSON boolean."),
])
def test_type_errors(kms: JsonService, doc: dict[str, Any], expected: str) -> None:
    assert message(kms, "GenerateRandom", doc) == f"SerializationException: {expected}"


def test_nested_type_errors(kms: JsonService) -> None:
    assert message(kms, "CreateKey", {"Tags": [{"TagKey": "a", "TagValue": 1}]}) == (
        "SerializationException: Expected string at 'Tags[0].TagValue' but found a JSON number.")
    assert message(kms, "Encrypt", {"KeyId": "k", "Plaintext": "aGk=",
                                    "EncryptionContext": {"a": 1}}) == (
        "SerializationException: Expected string at 'EncryptionContext.a' but found a JSON "
        "number.")
    assert message(kms, "Encrypt", {"KeyId": "k", "Plaintext": "***"}) == (
        "SerializationException: Value at 'Plaintext' is not valid base64-encoded binary data.")
    assert message(kms, "ListKeys", {"Limit": float("inf")}).startswith(
        "SerializationException")


@pytest.mark.parametrize("body", [b"{", b"[1]", b"null", b'"s"', b"\xff", b'{"a": 1,}'])
def test_malformed_bodies(kms: JsonService, body: bytes) -> None:
    with pytest.raises(SerializationException):
        kms.parse("ListKeys", body)


def test_unknown_operation(kms: JsonService) -> None:
    with pytest.raises(UnknownOperationException) as exc:
        kms.parse("Nope", b"{}")
    assert exc.value.message == "Operation Nope is not supported by TrentService."


def test_single_and_multiple_violations(kms: JsonService) -> None:
    assert message(kms, "GenerateRandom", {"NumberOfBytes": 1025}) == (
        "ValidationException: 1 validation error detected: Value '1025' at 'numberOfBytes' "
        "failed to satisfy constraint: Member must have value less than or equal to 1024")
    assert message(kms, "GenerateRandom", {"NumberOfBytes": 0, "CustomKeyStoreId": ""}) == (
        "ValidationException: 2 validation errors detected: Value '0' at 'numberOfBytes' "
        "failed to satisfy constraint: Member must have value greater than or equal to 1; "
        "Value '' at 'customKeyStoreId' failed to satisfy constraint: Member must have length "
        "greater than or equal to 1")


def test_sensitive_members_hide_the_value(kms: JsonService) -> None:
    big = base64.b64encode(b"s" * 4097).decode()
    assert message(kms, "Encrypt", {"KeyId": "k", "Plaintext": big}) == (
        "ValidationException: 1 validation error detected: Value at 'plaintext' failed to "
        "satisfy constraint: Member must have length less than or equal to 4096")


def test_required_members_and_paths(kms: JsonService) -> None:
    assert message(kms, "Encrypt", {}) == (
        "ValidationException: 2 validation errors detected: Value null at 'keyId' failed to "
        "satisfy constraint: Member must not be null; Value null at 'plaintext' failed to "
        "satisfy constraint: Member must not be null")
    assert message(kms, "TagResource", {"KeyId": "k", "Tags": [
        {"TagKey": "ok", "TagValue": "v"}, {"TagKey": "x" * 129}]}) == (
        "ValidationException: 2 validation errors detected: Value '" + "x" * 129 + "' at "
        "'tags.2.member.tagKey' failed to satisfy constraint: Member must have length less "
        "than or equal to 128; Value null at 'tags.2.member.tagValue' failed to satisfy "
        "constraint: Member must not be null")


def test_enum_and_pattern(kms: JsonService) -> None:
    assert message(kms, "GenerateDataKey", {"KeyId": "k", "KeySpec": "AES_512"}) == (
        "ValidationException: 1 validation error detected: Value 'AES_512' at 'keySpec' failed "
        "to satisfy constraint: Member must satisfy enum value set: [AES_256, AES_128]")
    assert message(kms, "CreateAlias", {"AliasName": "alias/a b", "TargetKeyId": "k"}) == (
        "ValidationException: 1 validation error detected: Value 'alias/a b' at 'aliasName' "
        "failed to satisfy constraint: Member must satisfy regular expression pattern: "
        "^[a-zA-Z0-9:/_-]+$")


def test_rendering_of_values(kms: JsonService) -> None:
    assert message(kms, "ListKeys", {"Limit": 0}) == (
        "ValidationException: 1 validation error detected: Value '0' at 'limit' failed to "
        "satisfy constraint: Member must have value greater than or equal to 1")
    too_many = [f"t{i}" for i in range(11)]
    assert message(kms, "DescribeKey", {"KeyId": "k", "GrantTokens": too_many}) == (
        "ValidationException: 1 validation error detected: Value '[" + ", ".join(too_many)
        + "]' at 'grantTokens' failed to satisfy constraint: Member must have length less "
        "than or equal to 10")


def test_summarise() -> None:
    assert summarise(["a"]) == "1 validation error detected: a"
    assert summarise(["a", "b", "c"]) == "3 validation errors detected: a; b; c"


class Colour(enum.StrEnum):
    RED = "Red"


def test_serialize(kms: JsonService) -> None:
    op = kms.operations["DescribeKey"]
    body = json.loads(kms.serialize(op, {"KeyMetadata": {
        "KeyId": "k", "CreationDate": 1700000000.123456, "Enabled": False, "KeyState": Colour.RED,
        "Description": None, "EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"]}}))
    assert body == {"KeyMetadata": {"KeyId": "k", "CreationDate": 1700000000.123,
                                    "Enabled": False, "KeyState": "Red",
                                    "EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"]}}
    out = kms.serialize(kms.operations["GenerateRandom"], {"Plaintext": b"\x00\xff"})
    assert out == b'{"Plaintext":"AP8="}'
    assert kms.serialize(kms.operations["EnableKey"], {}) == b"{}"


def test_invoke(kms: JsonService) -> None:
    op, params = kms.parse("GenerateRandom", b'{"NumberOfBytes": 2}')
    assert kms.invoke(None, op, params) == {"Plaintext": b"\x00\x00"}
    op, params = kms.parse("ListKeys", b"{}")
    with pytest.raises(NotImplementedYet) as exc:
        kms.invoke(None, op, params)
    assert exc.value.code() == "NotImplementedYetException"
    assert exc.value.status == 400
    assert exc.value.message == "hsmkms does not implement TrentService.ListKeys yet."
    assert kms.implemented() == {"GenerateRandom"}


def test_handlers_must_be_model_operations() -> None:
    with pytest.raises(ValueError, match="Bogus"):
        JsonService("kms", {"Bogus": lambda _c, _p: None})


def test_error_bodies() -> None:
    kms = JsonService("kms", {})
    assert json.loads(kms.error_body(ValidationException("m"))) == {
        "__type": "ValidationException", "message": "m"}
    hsm = JsonService("cloudhsmv2", {})
    assert hsm.message_member == "Message"
    assert json.loads(hsm.error_body(ValidationException("m"))) == {
        "__type": "ValidationException", "Message": "m"}
    assert kms.target_prefix == "TrentService"
    assert hsm.target_prefix == "BaldrApiService"


def test_hostile_bodies_are_serialization_errors(kms: JsonService) -> None:
    """Nothing a client sends may escape as an internal error."""
    for op, body in (("CreateKey", b"[" * 100000), ("CreateKey", b'{"Tags": ' + b"[" * 50000),
                     ("CreateKey", b'{"Description": "\\ud800"}'),
                     ("Encrypt", b'{"KeyId": "k", "Plaintext": "aGk=", '
                                 b'"EncryptionContext": {"\\udfff": "x"}}')):
        with pytest.raises(SerializationException):
            kms.parse(op, body)
    assert parse(kms, "CreateKey", {"Description": "\u00fc\U0001f511"}) == {
        "Description": "\u00fc\U0001f511"}
