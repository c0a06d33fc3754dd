"""The EC2 query protocol (Smithy ``ec2Query``), generic over the pinned ``ec2`` model.

Request (spec ec2.md §1.1-1.2): ``POST /`` with a form body ``Action=<Op>&Version=2016-11-15&...``
(parameters in the query string are accepted too). A member's wire key is its ``queryName``, else
its ``locationName`` with the first letter upper-cased, else its name; list items are ``Key.N``
(1-based; ``Key.member.N`` is accepted too), structure members ``Key.Sub``.

Success (§1.3): ``<OpResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">`` whose first
child is ``<requestId>``, then the output members under their ``locationName``; lists are a
wrapper element holding ``<item>`` elements. Operations without an output shape answer
``<return>true</return>``.

Errors (§1.5): ``<Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/>
</Response>`` with the error's HTTP status.

Handlers take ``(ctx, params)`` with members by their SDK names (integers as ``int``, booleans as
``bool``, timestamps as epoch ``float``) and return a dict of output members by SDK name.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import enum
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from hsmkms.errors import ServiceError
from hsmkms.http import HttpRequest, HttpResponse
from hsmkms.protocol.model import Node, load

Handler = Callable[[Any, dict[str, Any]], "dict[str, Any] | None"]
CONTENT_TYPE = "text/xml;charset=UTF-8"
_XML_DECL = '<?xml version="1.0" encoding="UTF-8"?>\n'
#: Parameters of the request itself, not of the operation (signature V2/V4 in the query string).
_ENVELOPE = frozenset({"Action", "Version", "AWSAccessKeyId", "Signature", "SignatureMethod",
                       "SignatureVersion", "Timestamp", "Expires", "SecurityToken"})

ErrorFactory = Callable[[str], ServiceError]
#: Characters XML 1.0 cannot carry; echoed user input containing them is replaced by U+FFFD.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def _xml_text(text: str) -> str:
    return escape(_NOT_XML.sub("\ufffd", text))


class Operation:
    __slots__ = ("input", "name", "output")

    def __init__(self, name: str, input_node: Node | None, output_node: Node | None) -> None:
        self.name = name
        self.input = input_node
        self.output = output_node


class QueryErrors:
    """The error classes the engine raises (EC2's own codes live in the service package)."""

    def __init__(self, *, missing_action: ErrorFactory, invalid_action: ErrorFactory,
                 not_implemented: ErrorFactory, unknown_parameter: ErrorFactory,
                 missing_parameter: ErrorFactory, invalid_value: ErrorFactory) -> None:
        self.missing_action = missing_action
        self.invalid_action = invalid_action
        self.not_implemented = not_implemented
        self.unknown_parameter = unknown_parameter
        self.missing_parameter = missing_parameter
        self.invalid_value = invalid_value


class Ec2QueryService:
    def __init__(self, handlers: dict[str, Handler], errors: QueryErrors,
                 model_name: str = "ec2") -> None:
        model = load(model_name)
        self.model = model
        self.version: str = model.api_version
        self.namespace = model.metadata.get("xmlNamespace", "").rstrip("/") + "/"
        self.errors = errors
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
        self._query_names = {(shape, member): spec["queryName"]
                             for shape, body in model.shapes.items()
                             for member, spec in body.get("members", {}).items()
                             if "queryName" in spec}
        self._wire_cache: dict[str, dict[str, tuple[str, Node, bool]]] = {}

    def implemented(self) -> set[str]:
        return set(self.handlers)

    # -- requests ---------------------------------------------------------------------------

    def parse(self, req: HttpRequest) -> tuple[Operation, dict[str, Any]]:
        pairs = parse_qsl(req.query, keep_blank_values=True)
        pairs += parse_qsl(req.body.decode("utf-8", errors="replace"), keep_blank_values=True)
        flat = dict(pairs)
        action = flat.get("Action", "")
        if not action:
            raise self.errors.missing_action("The request must contain the parameter Action")
        op = self.operations.get(action)
        if op is None:
            raise self.errors.invalid_action(
                f"The action {action} is not valid for this web service.")
        if action not in self.handlers:
            raise self.errors.not_implemented(
                f"hsmkms does not implement the EC2 action {action} yet.")
        tree = _tree({k: v for k, v in flat.items()
                      if k not in _ENVELOPE and not k.startswith("X-Amz-")})
        if op.input is None:
            return op, {}
        return op, self._structure(op.input, tree, "")

    def invoke(self, ctx: Any, op: Operation, params: dict[str, Any]) -> dict[str, Any]:
        return self.handlers[op.name](ctx, params) or {}

    def _wires(self, node: Node) -> dict[str, tuple[str, Node, bool]]:
        """Wire key -> (member name, node, required) of a structure, as EC2Serializer names."""
        found = self._wire_cache.get(node.name)
        if found is None:
            found = {}
            for name, wire, _path, child, required in node.members:
                key = self._query_names.get((node.name, name)) or wire[:1].upper() + wire[1:]
                found[key] = (name, child, required)
            self._wire_cache[node.name] = found
        return found

    def _structure(self, node: Node, tree: Any, path: str) -> dict[str, Any]:
        if not isinstance(tree, dict):
            raise self.errors.unknown_parameter(f"The parameter {path} is not recognized")
        wires = self._wires(node)
        for key in tree:
            if key not in wires:
                raise self.errors.unknown_parameter(
                    f"The parameter {path}{key} is not recognized")
        out: dict[str, Any] = {}
        for key, (name, child, required) in wires.items():
            value = tree.get(key)
            if value is None:
                if required:
                    raise self.errors.missing_parameter(
                        f"The request must contain the parameter {path}{key}")
                continue
            out[name] = self._value(child, value, f"{path}{key}")
        return out

    def _value(self, node: Node, value: Any, path: str) -> Any:
        if node.type == "structure":
            return self._structure(node, value, path + ".")
        if node.type == "list":
            return self._list(node, value, path)
        if isinstance(value, dict):
            raise self.errors.unknown_parameter(
                f"The parameter {path}.{next(iter(value))} is not recognized")
        return self._scalar(node, value, path)

    def _list(self, node: Node, tree: Any, path: str) -> list[Any]:
        assert node.item is not None
        if isinstance(tree, dict) and set(tree) == {"member"}:
            tree = tree["member"]
        if not isinstance(tree, dict) or not all(_is_index(k) for k in tree):
            bad = next((k for k in tree if not _is_index(k)), "") if isinstance(tree, dict) \
                else ""
            raise self.errors.unknown_parameter(
                f"The parameter {path}{'.' + bad if bad else ''} is not recognized")
        item = node.item
        return [self._value(item, tree[k], f"{path}.{k}") for k in sorted(tree, key=int)]

    def _scalar(self, node: Node, text: str, path: str) -> Any:
        kind = node.type
        try:
            if kind in ("integer", "long"):
                return int(text)
            if kind in ("float", "double"):
                return float(text)
            if kind == "boolean":
                return {"true": True, "false": False}[text.lower()]
            if kind == "timestamp":
                return _parse_time(text)
            if kind == "blob":
                return base64.b64decode(text, validate=True)
        except (ValueError, KeyError, binascii.Error):
            raise self.errors.invalid_value(
                f"Value ({text}) for parameter {path} is invalid. Not a valid {kind}.") from None
        return text

    # -- responses --------------------------------------------------------------------------

    def success(self, op: Operation, result: dict[str, Any], request_id: str) -> HttpResponse:
        parts = [_XML_DECL, f'<{op.name}Response xmlns="{self.namespace}">',
                 f"<requestId>{_xml_text(request_id)}</requestId>"]
        if op.output is None:
            parts.append("<return>true</return>")
        else:
            _members(op.output, result, parts)
        parts.append(f"</{op.name}Response>")
        return HttpResponse(200, "".join(parts).encode(), _headers(request_id))

    def failure(self, error: ServiceError, request_id: str) -> HttpResponse:
        message = "" if error.message is None else f"<Message>{_xml_text(error.message)}</Message>"
        body = (f"{_XML_DECL}<Response><Errors><Error><Code>{escape(error.code())}</Code>"
                f"{message}</Error></Errors><RequestID>{escape(request_id)}</RequestID>"
                "</Response>")
        return HttpResponse(error.status, body.encode(), _headers(request_id))


#: The most digits a list index may have (a longer one is no index EC2 knows).
_INDEX_DIGITS = 9


def _is_index(key: str) -> bool:
    """A list index: ASCII digits only (``str.isdigit`` also takes Arabic-Indic digits and
    superscripts) and short enough for ``int`` (which refuses 4,300 digits and more)."""
    return key.isascii() and key.isdigit() and len(key) <= _INDEX_DIGITS


def _headers(request_id: str) -> list[tuple[str, str]]:
    return [("content-type", CONTENT_TYPE), ("x-amzn-requestid", request_id)]


def _tree(flat: dict[str, str]) -> dict[str, Any]:
    """``{"Filter.1.Name": "x"}`` -> ``{"Filter": {"1": {"Name": "x"}}}``."""
    root: dict[str, Any] = {}
    for key, value in flat.items():
        node = root
        *parents, last = key.split(".")
        for part in parents:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        if not isinstance(node.get(last), dict):
            node[last] = value
    return root


def _parse_time(text: str) -> float:
    if text.replace(".", "", 1).isdigit():
        return float(text)
    value = dt.datetime.fromisoformat(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.timestamp()


def format_time(epoch: float) -> str:
    """ISO 8601 UTC with milliseconds, as EC2 writes them (``2013-11-30T23:36:42.000Z``)."""
    moment = dt.datetime.fromtimestamp(epoch, dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _members(node: Node, value: dict[str, Any], parts: list[str]) -> None:
    for name, wire, _path, child, _required in node.members:
        member = value.get(name)
        if member is not None:
            _element(child, wire, member, parts)


def _element(node: Node, tag: str, value: Any, parts: list[str]) -> None:
    kind = node.type
    if kind == "structure":
        parts.append(f"<{tag}>")
        _members(node, value, parts)
        parts.append(f"</{tag}>")
    elif kind == "list":
        if not value:
            parts.append(f"<{tag}/>")
            return
        assert node.item is not None
        item_tag = node.wire_item_name or "item"
        parts.append(f"<{tag}>")
        for item in value:
            _element(node.item, item_tag, item, parts)
        parts.append(f"</{tag}>")
    elif kind == "map":
        assert node.item is not None
        assert node.key is not None
        parts.append(f"<{tag}>")
        for k, v in value.items():
            parts.append("<entry>")
            _element(node.key, "key", k, parts)
            _element(node.item, "value", v, parts)
            parts.append("</entry>")
        parts.append(f"</{tag}>")
    else:
        parts.append(f"<{tag}>{_xml_text(_text(kind, value))}</{tag}>")


def _text(kind: str, value: Any) -> str:
    if kind == "boolean":
        return "true" if value else "false"
    if kind == "timestamp":
        return format_time(float(value))
    if kind == "blob":
        return base64.b64encode(value).decode()
    if isinstance(value, enum.Enum):
        return str(value.value)
    return str(value)
