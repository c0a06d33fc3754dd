"""AWS JSON 1.1 (KMS ``TrentService``, CloudHSM ``BaldrApiService``, CloudTrail).

Request: ``POST /`` with ``X-Amz-Target: <targetPrefix>.<Operation>`` and a JSON object body.
Response: 200 with the output members, or an error status with
``{"__type": "<Code>", "<message member>": "..."}`` where the message member is spelled as in
the service's error shapes (``message`` for KMS, ``Message`` for CloudHSM and CloudTrail).
"""

from __future__ import annotations

import binascii
import json
import math
from collections.abc import Callable
from typing import Any

import orjson

from hsmkms.errors import (
    NotImplementedYet,
    SerializationException,
    ServiceError,
    UnknownOperationException,
)
from hsmkms.protocol.model import Node, load
from hsmkms.protocol.validate import validate

_ENCODER = json.JSONEncoder(separators=(",", ":"))
Handler = Callable[[Any, dict[str, Any]], "dict[str, Any] | None"]
CONTENT_TYPE = "application/x-amz-json-1.1"


class Operation:
    __slots__ = ("input", "name", "output")

    def __init__(self, name: str, input_node: Node | None, output_node: Node | None) -> None:
        self.name = name
        self.input = input_node
        self.output = output_node


#: ``prepare(operation, body)``: see :class:`JsonService`.
Preparer = Callable[[str, bytes], None]


class JsonService:
    """One JSON 1.1 service: its operations compiled from the model, and their handlers."""

    def __init__(self, model_name: str, handlers: dict[str, Handler],
                 prepare: Preparer | None = None,
                 prepared_operations: frozenset[str] = frozenset()) -> None:
        model = load(model_name)
        #: Work a request of ``prepared_operations`` may do before it takes the app lock
        #: (operation, raw body), in a worker thread: slow key generation.
        self.prepare = prepare
        self.prepared_operations = prepared_operations
        self.model = model
        self.target_prefix: str = model.metadata["targetPrefix"]
        self.signing_name: str = model.signing_name
        cache: dict[str, Node] = {}
        self.operations: dict[str, Operation] = {}
        for name in model.operation_names:
            self.operations[name] = Operation(name, model.compile_io(name, "input", cache),
                                              model.compile_io(name, "output", cache))
        unknown = set(handlers) - set(model.operations)
        if unknown:
            raise ValueError(f"handlers for operations not in the model: {sorted(unknown)} "
                             "(scripts/gen_models.py keeps the EC2 and CloudTrail operations "
                             "it lists)")
        self.handlers = handlers
        members = {m for name in model.error_shape_names
                   for m in model.shapes[name].get("members", {})}
        self.message_member = "Message" if "Message" in members and "message" not in members \
            else "message"

    def implemented(self) -> set[str]:
        return set(self.handlers)

    def parse(self, operation: str, body: bytes) -> tuple[Operation, dict[str, Any]]:
        op = self.operations.get(operation)
        if op is None:
            raise UnknownOperationException(f"Operation {operation} is not supported by "
                                            f"{self.target_prefix}.")
        try:
            doc = loads(body) if body.strip() else {}
        except (ValueError, UnicodeDecodeError) as exc:
            raise SerializationException(f"Malformed JSON request body: {exc}") from None
        except RecursionError:
            raise SerializationException(
                "Malformed JSON request body: nested too deeply.") from None
        if not isinstance(doc, dict):
            raise SerializationException("The request body must be a JSON object.")
        params = _decode(op.input, doc, "") if op.input is not None else {}
        if op.input is not None:
            validate(op.input, params)
        return op, params

    def invoke(self, ctx: Any, op: Operation, params: dict[str, Any]) -> dict[str, Any]:
        handler = self.handlers.get(op.name)
        if handler is None:
            raise NotImplementedYet(
                f"hsmkms does not implement {self.target_prefix}.{op.name} yet.")
        return handler(ctx, params) or {}

    def serialize(self, op: Operation, result: dict[str, Any]) -> bytes:
        if op.output is None:
            return b"{}"
        return dumps(_encode(op.output, result))

    def error_body(self, error: ServiceError) -> bytes:
        doc: dict[str, str] = {"__type": error.code()}
        if error.message is not None:
            doc[error.message_member or self.message_member] = error.message
        return json.dumps(doc).encode()


def loads(body: bytes) -> Any:
    """A JSON document: orjson's when it reads it (about 3x faster), else the standard
    library's, which accepts what orjson refuses (numbers past 64 bits, lone surrogate escapes,
    ``NaN``, deep nesting) and words its errors as hsmkms always has: answers and messages are
    the same either way. ``ValueError``/``UnicodeDecodeError``/``RecursionError`` as
    ``json.loads`` raises them."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        # AWS JSON is UTF-8: decoding first spares json.loads its encoding sniffing.
        return json.loads(body.decode())


def dumps(doc: Any) -> bytes:
    """Compact JSON: orjson's (about 10x faster than the standard library's encoder), or the
    standard library's for what orjson refuses (integers past 64 bits)."""
    try:
        return orjson.dumps(doc)
    except TypeError:
        return _ENCODER.encode(doc).encode()


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "boolean": (bool,), "map": (dict,), "structure": (dict,), "list": (list,),
}


def _type_error(node: Node, value: Any, path: str) -> SerializationException:
    found = type(value).__name__
    names = {"str": "string", "int": "number", "float": "number", "bool": "boolean",
             "list": "array", "dict": "object", "NoneType": "null"}
    where = path or "the request"
    return SerializationException(
        f"Expected {node.type} at '{where}' but found a JSON {names.get(found, found)}.")


def _join(parent: str, name: str) -> str:
    return f"{parent}.{name}" if parent else name


def _decode(node: Node, value: Any, parent: str, name: str = "") -> Any:  # noqa: C901, PLR0911, PLR0912
    """``value`` checked and converted for ``node``. Its path in messages is ``parent`` joined
    with ``name``, built only when a message or a nested value needs it (this runs for every
    member of every request)."""
    kind = node.type
    if kind == "structure":
        if not isinstance(value, dict):
            raise _type_error(node, value, _join(parent, name))
        path = _join(parent, name) if name else parent
        out: dict[str, Any] = {}
        for wire, member in value.items():
            entry = node.by_wire.get(wire)
            if entry is None or member is None:
                continue  # unknown members are ignored, as AWS does
            member_name, child = entry
            out[member_name] = _decode(child, member, path, wire)
        return out
    if kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _type_error(node, value, _join(parent, name))
        if isinstance(value, float) and not value.is_integer():
            raise _type_error(node, value, _join(parent, name))
        return int(value)
    if kind in ("float", "double", "timestamp"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _type_error(node, value, _join(parent, name))
        if not math.isfinite(value):
            raise _type_error(node, value, _join(parent, name))
        return float(value)
    if kind == "blob":
        if not isinstance(value, str):
            raise _type_error(node, value, _join(parent, name))
        try:
            return binascii.a2b_base64(value, strict_mode=True)
        except (binascii.Error, ValueError):
            raise SerializationException(
                f"Value at '{_join(parent, name)}' is not valid base64-encoded binary "
                "data.") from None
    expected = _JSON_TYPES.get(kind)
    if expected is not None and (not isinstance(value, expected)
                                 or (kind != "boolean" and isinstance(value, bool))):
        raise _type_error(node, value, _join(parent, name))
    if kind == "string" and not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:  # a lone surrogate escape such as "\ud800"
            raise SerializationException(
                f"Value at '{_join(parent, name)}' is not valid UTF-8 text.") from None
    if kind == "list":
        assert node.item is not None
        path = _join(parent, name)
        return [_decode(node.item, v, "", f"{path}[{i}]") for i, v in enumerate(value)]
    if kind == "map":
        assert node.item is not None
        assert node.key is not None
        path = _join(parent, name)
        return {_decode(node.key, k, "", path): _decode(node.item, v, path, str(k))
                for k, v in value.items()}
    return value


def _encode(node: Node, value: Any) -> Any:  # noqa: PLR0911
    kind = node.type
    if kind == "structure":
        out: dict[str, Any] = {}
        for name, wire, _path, child, _required in node.members:
            member = value.get(name)
            if member is not None:
                out[wire] = _encode(child, member)
        return out
    if kind == "blob":
        return binascii.b2a_base64(value, newline=False).decode()
    if kind == "timestamp":
        return round(float(value), 3)
    if kind == "list":
        assert node.item is not None
        item = node.item
        return [_encode(item, v) for v in value]
    if kind == "map":
        assert node.item is not None
        item = node.item
        return {k: _encode(item, v) for k, v in value.items()}
    if kind == "string" and not isinstance(value, str):
        return value.value  # a str-valued Enum member
    return value
