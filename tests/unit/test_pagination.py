"""hsmkms.pagination: keyset pages survive changes between calls; foreign tokens are refused."""

from __future__ import annotations

import pytest

from hsmkms.pagination import InvalidToken, Tokens, page

TOKENS = Tokens("t:")


def walk(items: list[str], size: int) -> list[list[str]]:
    pages, token = [], None
    while True:
        chunk, token = page(items, size, token, str, TOKENS)
        pages.append(chunk)
        if token is None:
            return pages


def test_pages_cover_everything_once() -> None:
    assert walk(["a", "b", "c", "d", "e"], 2) == [["a", "b"], ["c", "d"], ["e"]]
    assert walk(["a", "b"], 2) == [["a", "b"]]
    assert walk([], 3) == [[]]


def test_deleting_earlier_items_between_pages_skips_nothing() -> None:
    items = ["a", "b", "c", "d", "e"]
    first, token = page(items, 2, None, str, TOKENS)
    assert first == ["a", "b"]
    rest, token = page(["c", "d", "e"], 2, token, str, TOKENS)  # "a" and "b" were deleted
    assert (rest, token is not None) == (["c", "d"], True)
    assert page(["c", "d", "e"], 2, token, str, TOKENS) == (["e"], None)


@pytest.mark.parametrize("token", ["", "not base64!", "dTp4", Tokens("other:").encode("b")])
def test_a_token_from_elsewhere_is_refused(token: str) -> None:
    with pytest.raises(InvalidToken):
        page(["a", "b"], 1, token, str, TOKENS)


def test_tokens_round_trip_any_text() -> None:
    for position in ["", "0001.5|key-1", "ü/€", "a" * 300]:
        assert TOKENS.decode(TOKENS.encode(position)) == position
