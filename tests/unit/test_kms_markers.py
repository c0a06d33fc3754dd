"""hsmkms.kms.pagination: opaque markers, pages, InvalidMarkerException for anything that is not
a marker the server handed out."""

from __future__ import annotations

import base64

import pytest

from hsmkms.kms.errors import InvalidMarkerException
from hsmkms.kms.pagination import paginate

ITEMS = [f"item-{i:03d}" for i in range(25)]


def page(limit: int | None, marker: str | None) -> tuple[list[str], dict[str, object]]:
    return paginate(ITEMS, limit, marker, 10, lambda s: s)


def test_walk_all_pages() -> None:
    seen: list[str] = []
    marker = None
    sizes = []
    while True:
        items, more = page(None, marker)
        seen += items
        sizes.append(len(items))
        if not more["Truncated"]:
            assert more == {"Truncated": False}
            break
        marker = str(more["NextMarker"])
    assert seen == ITEMS
    assert sizes == [10, 10, 5]


def test_exact_fit_is_not_truncated() -> None:
    assert page(25, None) == (ITEMS, {"Truncated": False})
    items, more = page(24, None)
    assert len(items) == 24
    assert more["Truncated"] is True


def test_marker_after_a_removed_item() -> None:
    items, more = page(3, None)
    marker = str(more["NextMarker"])
    remaining = [i for i in ITEMS if i != items[-1]]
    rest, _ = paginate(remaining, 100, marker, 10, lambda s: s)
    assert rest == ITEMS[3:]


def test_empty() -> None:
    assert paginate([], None, None, 10, lambda s: s) == ([], {"Truncated": False})


@pytest.mark.parametrize("marker", [
    "!!!",  # not base64 at all
    "\u00ff\u00fe",  # not ASCII
    "zzzz",  # base64 of bytes that are not UTF-8
    base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    "a",  # truncated base64
])
def test_bad_markers(marker: str) -> None:
    with pytest.raises(InvalidMarkerException):
        page(None, marker)
