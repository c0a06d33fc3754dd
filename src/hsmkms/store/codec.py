"""Frozen dataclasses <-> JSON documents, driven by type hints.

Entities are frozen dataclasses whose fields are ``str``, ``int``, ``float``, ``bool``,
``bytes``, :class:`Secret`, ``enum.Enum`` subclasses, nested entity dataclasses, ``tuple[X, ...]``,
``dict[str, X]`` and ``X | None``. No pickling: the document is plain JSON, readable with
``sqlite3`` and portable to PostgreSQL.

:class:`Secret` fields hold key material or passwords; the codec seals them with the store's root
key (see :mod:`hsmkms.crypto`) so that no secret reaches the disk in clear.
"""

from __future__ import annotations

import base64
import dataclasses
import enum
import functools
import types
import typing
from collections.abc import Callable
from typing import Any, TypeVar, get_args, get_origin, get_type_hints

T = TypeVar("T")


class Secret(bytes):
    """Bytes that must never be written in clear (key material, password secrets)."""

    def __repr__(self) -> str:
        return f"Secret(<{len(self)} bytes>)"


Sealer = Callable[[bytes], str]
Unsealer = Callable[[str], bytes]


class Codec:
    def __init__(self, seal: Sealer, unseal: Unsealer) -> None:
        self._seal = seal
        self._unseal = unseal

    def seal(self, secret: bytes) -> str:
        return self._seal(secret)

    def unseal(self, text: str) -> bytes:
        return self._unseal(text)

    def dump(self, obj: object) -> dict[str, Any]:
        if not dataclasses.is_dataclass(obj) or isinstance(obj, type):
            raise TypeError(f"only dataclass instances are stored, not {type(obj).__name__}")
        doc: dict[str, Any] = self._dump(type(obj), obj)
        return doc

    def load(self, cls: type[T], doc: dict[str, Any]) -> T:
        return typing.cast("T", self._load(cls, doc))

    def _dump(self, tp: Any, value: Any) -> Any:  # noqa: PLR0911 - one branch per kind of type
        if value is None:
            return None
        origin = get_origin(tp)
        if origin in (typing.Union, types.UnionType):
            inner = [a for a in get_args(tp) if a is not type(None)]
            return self._dump(inner[0], value)
        if tp is Secret:
            return self._seal(bytes(value))
        if tp is bytes:
            return base64.b64encode(value).decode()
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            return value.value
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            hints = _hints(tp)
            return {f.name: self._dump(hints[f.name], getattr(value, f.name))
                    for f in dataclasses.fields(tp)}
        if origin is tuple:
            item = get_args(tp)[0]
            return [self._dump(item, v) for v in value]
        if origin is dict:
            item = get_args(tp)[1]
            return {k: self._dump(item, v) for k, v in value.items()}
        return value

    def _load(self, tp: Any, value: Any) -> Any:  # noqa: PLR0911 - mirror of _dump
        if value is None:
            return None
        origin = get_origin(tp)
        if origin in (typing.Union, types.UnionType):
            inner = [a for a in get_args(tp) if a is not type(None)]
            return self._load(inner[0], value)
        if tp is Secret:
            return Secret(self._unseal(value))
        if tp is bytes:
            return base64.b64decode(value)
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            return tp(value)
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            hints = _hints(tp)
            kwargs = {f.name: self._load(hints[f.name], value[f.name])
                      for f in dataclasses.fields(tp) if f.name in value}
            return tp(**kwargs)
        if origin is tuple:
            item = get_args(tp)[0]
            return tuple(self._load(item, v) for v in value)
        if origin is dict:
            item = get_args(tp)[1]
            return {k: self._load(item, v) for k, v in value.items()}
        if tp is float:
            return float(value)
        return value


@functools.cache
def _hints(tp: type) -> dict[str, Any]:
    return get_type_hints(tp)
