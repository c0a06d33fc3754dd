"""Marker pagination (``Limit``/``Marker`` -> ``Truncated``/``NextMarker``), shared by every
KMS list operation, over :mod:`hsmkms.pagination`. Markers are opaque to callers: the position
after which the next page starts."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from hsmkms import pagination
from hsmkms.kms.errors import InvalidMarkerException

T = TypeVar("T")
MARKERS = pagination.Tokens()


def paginate(items: Sequence[T], limit: int | None, marker: str | None, default_limit: int,
             position: Callable[[T], str]) -> tuple[list[T], dict[str, object]]:
    """Return one page and the ``Truncated``/``NextMarker`` members.

    ``position(item)`` gives each item's place in the listing order (items must be sorted by it).
    """
    try:
        page, after = pagination.page(items, limit or default_limit, marker, position, MARKERS)
    except pagination.InvalidToken:
        raise InvalidMarkerException("Invalid marker") from None
    if after is None:
        return page, {"Truncated": False}
    return page, {"Truncated": True, "NextMarker": after}
