"""Constraint checks with AWS's own messages.

AWS (Coral) reports every violated constraint as
``Value '<v>' at '<path>' failed to satisfy constraint: Member must ...`` and joins them as
``N validation error(s) detected: ...; ...``. Sensitive members omit the value
(``Value at 'plaintext' ...``); missing required members read ``Value null at '<path>' ...
Member must not be null``. Paths are lowerCamelCase member names, with list items as
``tags.1.member.tagKey`` (1-based).
"""

from __future__ import annotations

from typing import Any

from hsmkms.errors import ValidationException
from hsmkms.protocol.model import Node


def validate(node: Node, params: dict[str, Any]) -> None:
    problems: list[str] = []
    _structure(node, params, "", problems)
    if problems:
        raise ValidationException(summarise(problems))


def summarise(problems: list[str]) -> str:
    noun = "error" if len(problems) == 1 else "errors"
    return f"{len(problems)} validation {noun} detected: " + "; ".join(problems)


def _render(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, bytes):
        return "java.nio.HeapByteBuffer"
    if isinstance(value, list):
        return "[" + ", ".join(_render(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={_render(v)}" for k, v in value.items()) + "}"
    return str(value)


def _fail(node: Node, value: Any, path: str, rule: str, problems: list[str]) -> None:
    shown = "Value" if node.sensitive else f"Value '{_render(value)}'"
    problems.append(f"{shown} at '{path}' failed to satisfy constraint: Member must {rule}")


def _structure(node: Node, value: dict[str, Any], prefix: str, problems: list[str]) -> None:
    for name, _wire, path_name, child, required in node.members:
        member = value.get(name)
        if member is None:  # most members of most requests: no path built for them
            if required:
                problems.append(f"Value null at '{prefix}{path_name}' failed to satisfy "
                                "constraint: Member must not be null")
            continue
        _value(child, member, prefix + path_name, problems)


def _value(node: Node, value: Any, path: str, problems: list[str]) -> None:
    kind = node.type
    if kind == "structure":
        _structure(node, value, path + ".", problems)
        return
    _bounds(node, value, path, problems)
    if kind == "string":
        if node.enum and value not in node.enum:
            _fail(node, value, path,
                  f"satisfy enum value set: [{', '.join(node.enum)}]", problems)
        elif node.pattern is not None and node.pattern.fullmatch(value) is None:
            _fail(node, value, path,
                  f"satisfy regular expression pattern: {node.pattern_text}", problems)
    elif kind == "list" and node.item is not None:
        for i, item in enumerate(value, 1):
            _value(node.item, item, f"{path}.{i}.member", problems)
    elif kind == "map" and node.item is not None and node.key is not None:
        for k, v in value.items():
            _value(node.key, k, f"{path}.key", problems)
            _value(node.item, v, f"{path}.value", problems)


def _bounds(node: Node, value: Any, path: str, problems: list[str]) -> None:
    """Length limits of strings, blobs, lists and maps; value limits of numbers."""
    kind = node.type
    if kind in ("string", "blob", "list", "map"):
        size = len(value)
        if node.min is not None and size < node.min:
            _fail(node, value, path, f"have length greater than or equal to {node.min}", problems)
        if node.max is not None and size > node.max:
            _fail(node, value, path, f"have length less than or equal to {node.max}", problems)
    elif kind in ("integer", "long", "float", "double"):
        if node.min is not None and value < node.min:
            _fail(node, value, path, f"have value greater than or equal to {node.min}", problems)
        if node.max is not None and value > node.max:
            _fail(node, value, path, f"have value less than or equal to {node.max}", problems)
