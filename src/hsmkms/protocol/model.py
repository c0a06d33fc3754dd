"""Loading botocore service models and compiling their shapes into light, fast nodes."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any

import botocore.model
import botocore.session


@functools.cache
def service_model(name: str) -> botocore.model.ServiceModel:
    return botocore.session.get_session().get_service_model(name)


@dataclass(eq=False, slots=True)
class Node:
    """One compiled shape. ``members``: (name, wire name, path name, node, required)."""

    type: str
    name: str
    members: list[tuple[str, str, str, Node, bool]] = field(default_factory=list)
    by_wire: dict[str, tuple[str, Node]] = field(default_factory=dict)
    item: Node | None = None  # list member / map value
    key: Node | None = None  # map key
    min: float | None = None
    max: float | None = None
    pattern: re.Pattern[str] | None = None
    pattern_text: str = ""
    enum: tuple[str, ...] = ()
    sensitive: bool = False
    timestamp_format: str = "unixTimestamp"
    flattened: bool = False
    wire_item_name: str | None = None  # EC2/query: list item locationName


def lower_camel(name: str) -> str:
    return name[:1].lower() + name[1:]


def _compile_pattern(text: str) -> re.Pattern[str] | None:
    try:
        return re.compile(text)
    except re.error:
        return None  # a Java-only construct: the server then does not check this pattern


def compile_shape(shape: botocore.model.Shape, cache: dict[str, Node] | None = None) -> Node:
    cache = {} if cache is None else cache
    key = shape.name
    if key in cache:
        return cache[key]
    meta: dict[str, Any] = shape.metadata
    node = Node(type=shape.type_name, name=shape.name)
    cache[key] = node
    node.min = meta.get("min")
    node.max = meta.get("max")
    node.sensitive = bool(meta.get("sensitive"))
    node.enum = tuple(meta.get("enum", ()))
    node.timestamp_format = shape.serialization.get("timestampFormat", "unixTimestamp")
    if "pattern" in meta:
        node.pattern_text = meta["pattern"]
        node.pattern = _compile_pattern(meta["pattern"])
    if isinstance(shape, botocore.model.StructureShape):
        required = set(shape.required_members)
        for name, member in shape.members.items():
            child = compile_shape(member, cache)
            wire = member.serialization.get("name", name)
            node.members.append((name, wire, lower_camel(name), child, name in required))
            node.by_wire[wire] = (name, child)
    elif isinstance(shape, botocore.model.ListShape):
        node.item = compile_shape(shape.member, cache)
        node.flattened = bool(shape.serialization.get("flattened"))
        node.wire_item_name = shape.member.serialization.get("name")
    elif isinstance(shape, botocore.model.MapShape):
        node.key = compile_shape(shape.key, cache)
        node.item = compile_shape(shape.value, cache)
    return node
