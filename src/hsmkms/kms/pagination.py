"""Marker pagination (``Limit``/``Marker`` -> ``Truncated``/``NextMarker``), shared by every
KMS list operation. Markers are opaque to callers: the position after the last item returned."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import TypeVar

from hsmkms.kms.errors import InvalidMarkerException

T = TypeVar("T")


def paginate(items: Sequence[T], limit: int | None, marker: str | None, default_limit: int,
             position: Callable[[T], str]) -> tuple[list[T], dict[str, object]]:
    """Return one page and the ``Truncated``/``NextMarker`` members.

    ``position(item)`` gives each item's place in the listing order (items must be sorted by it).
    """
    start = 0
    if marker is not None:
        try:
            after = base64.b64decode(marker.encode("ascii"), altchars=b"-_", validate=True).decode()
        except (binascii.Error, ValueError, UnicodeDecodeError):
            raise InvalidMarkerException("Invalid marker") from None
        start = next((i for i, item in enumerate(items) if position(item) > after), len(items))
    size = limit or default_limit
    page = list(items[start:start + size])
    if start + size < len(items):
        last = base64.urlsafe_b64encode(position(page[-1]).encode()).decode()
        return page, {"Truncated": True, "NextMarker": last}
    return page, {"Truncated": False}
