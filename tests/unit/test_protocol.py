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
from hsmkms.protocol.model import SERVICES, Node, load, service_model
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
                     ("Encrypt", (b'{"KeyId": "k", "Plaintext": "aGk=", '
                                  b'"EncryptionContext": {"\\udfff": "x"}}'))):
        with pytest.raises(SerializationException):
            kms.parse(op, body)
    assert parse(kms, "CreateKey", {"Description": "\u00fc\U0001f511"}) == {
        "Description": "\u00fc\U0001f511"}


# -- the pinned models --------------------------------------------------------------------------


def _walk(value: Any) -> Any:
    if isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from _walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from _walk(v)


@pytest.mark.parametrize("name", SERVICES)
def test_models_are_pinned_and_without_documentation(name: str) -> None:
    spec = load(name)
    assert spec.botocore_version == "1.44.8"
    assert spec.description["hsmkms"]["source"].startswith(f"botocore/data/{name}/")
    keys = set(_walk({k: v for k, v in spec.description.items() if k != "hsmkms"}))
    assert "documentation" not in keys


def test_trimmed_models_keep_the_names_of_unserved_operations() -> None:
    ec2, trail = load("ec2"), load("cloudtrail")
    assert set(trail.operations) == {"LookupEvents"}
    assert "CreateTrail" in trail.unserved_operations
    assert len(ec2.operations) == 17
    assert "DescribeInstances" in ec2.unserved_operations
    assert not set(ec2.operations) & set(ec2.unserved_operations)
    # Every shape an EC2 operation reaches is there, and no other.
    reached: set[str] = set()
    todo = [op[part]["shape"] for op in ec2.operations.values() for part in ("input", "output")
            if part in op]
    while todo:
        shape = todo.pop()
        if shape not in reached:
            reached.add(shape)
            body = ec2.shapes[shape]
            todo += [m["shape"] for m in body.get("members", {}).values()]
            todo += [body[p]["shape"] for p in ("member", "key", "value") if p in body]
    assert reached == set(ec2.shapes)


def test_an_unserved_operation_is_not_implemented_rather_than_unknown() -> None:
    service = JsonService("cloudtrail", {})
    op, params = service.parse("CreateTrail", b'{"Name": "t"}')
    with pytest.raises(NotImplementedYet) as exc:
        service.invoke(None, op, params)
    assert exc.value.message == ("hsmkms does not implement com.amazonaws.cloudtrail.v20131101."
                                 "CloudTrail_20131101.CreateTrail yet.")
    with pytest.raises(UnknownOperationException):
        service.parse("CreateTrails", b"{}")


def _reference(shape: Any, cache: dict[str, Node]) -> Node:
    """A node built from botocore's own resolution of the same JSON (botocore.model shapes), as
    the server compiled them before it shipped its models: the two must agree exactly."""
    if shape.name in cache:
        return cache[shape.name]
    meta = shape.metadata
    node = Node(type=shape.type_name, name=shape.name, min=meta.get("min"), max=meta.get("max"),
                sensitive=bool(meta.get("sensitive")), enum=tuple(meta.get("enum", ())),
                timestamp_format=shape.serialization.get("timestampFormat", "unixTimestamp"),
                pattern_text=meta.get("pattern", ""))
    cache[shape.name] = node
    if shape.type_name == "structure":
        for name, member in shape.members.items():
            wire = member.serialization.get("name", name)
            node.members.append((name, wire, name[:1].lower() + name[1:],
                                 _reference(member, cache), name in shape.required_members))
    elif shape.type_name == "list":
        node.item = _reference(shape.member, cache)
        node.flattened = bool(shape.serialization.get("flattened"))
        node.wire_item_name = shape.member.serialization.get("name")
    elif shape.type_name == "map":
        node.key = _reference(shape.key, cache)
        node.item = _reference(shape.value, cache)
    return node


def _same(ours: Node, theirs: Node, seen: set[tuple[int, int]]) -> None:
    if (id(ours), id(theirs)) in seen:
        return
    seen.add((id(ours), id(theirs)))
    fields = ("type", "name", "min", "max", "sensitive", "enum", "timestamp_format",
              "pattern_text", "flattened", "wire_item_name")
    assert [getattr(ours, f) for f in fields] == [getattr(theirs, f) for f in fields], ours.name
    assert [m[:3] + m[4:] for m in ours.members] == [m[:3] + m[4:] for m in theirs.members]
    assert list(ours.by_wire) == [m[1] for m in theirs.members]
    for mine, other in zip(ours.members, theirs.members, strict=True):
        _same(mine[3], other[3], seen)
    for part in ("item", "key"):
        mine, other = getattr(ours, part), getattr(theirs, part)
        assert (mine is None) == (other is None), (ours.name, part)
        if mine is not None:
            _same(mine, other, seen)


@pytest.mark.parametrize("name", SERVICES)
def test_nodes_compile_as_botocore_resolves_the_model(name: str) -> None:
    spec, model = load(name), service_model(name)
    ours: dict[str, Node] = {}
    theirs: dict[str, Node] = {}
    assert list(spec.operations) == list(model.operation_names)
    for op_name in spec.operations:
        op = model.operation_model(op_name)
        for part, shape in (("input", op.input_shape), ("output", op.output_shape)):
            compiled = spec.compile_io(op_name, part, ours)
            assert (compiled is None) == (shape is None), (op_name, part)
            if compiled is not None:
                _same(compiled, _reference(shape, theirs), set())
    assert sorted(spec.error_shape_names) == sorted(s.name for s in model.error_shapes)
