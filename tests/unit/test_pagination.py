"""hsmkms.pagination: keyset pages survive changes between calls; foreign tokens are refused."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hsmkms.crypto import RootKey
from hsmkms.pagination import InvalidToken, Tokens, page
from hsmkms.store.base import Store
from hsmkms.store.codec import Codec
from hsmkms.store.sqlite import SqliteDatabase

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


class Counting(Sequence[str]):
    """A sorted listing that counts the items the paginator reads."""

    def __init__(self, items: list[str]) -> None:
        self.items = items
        self.reads = 0

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int | slice) -> Any:
        picked = self.items[index]
        self.reads += len(picked) if isinstance(index, slice) else 1
        return picked


@pytest.mark.parametrize("total", [100, 20_000])
def test_a_page_reads_o_of_the_page_not_the_listing(total: int) -> None:
    """A page is a bisect to the token's position and a slice: log2(total) + size reads."""
    items = Counting([f"{i:08d}" for i in range(total)])
    chunk, token = page(items, 10, TOKENS.encode(f"{total // 2:08d}"), str, TOKENS)
    assert chunk == [f"{i:08d}" for i in range(total // 2 + 1, total // 2 + 11)]
    assert token == TOKENS.encode(chunk[-1])
    assert items.reads <= 10 + math.ceil(math.log2(total)) + 1


def test_a_repository_view_pages_without_reading_every_entity(tmp_path: Path) -> None:
    """ListKeys/ListAliases page over a repository's sorted index: a page of 20,000 entities
    reads the page and a bisect's worth, and the index follows commits and staged changes."""
    db = SqliteDatabase(tmp_path / "hsmkms.db")
    store = Store(db, Codec(ROOT.seal, ROOT.unseal))
    repo = store.repository("item", Item)
    with store.unit_of_work():
        for i in range(20_000):
            repo.put("s", f"id{i}", Item(f"id{i}", f"{(i * 7919) % 20_000:08d}"))
    view = repo.ordered("s", _rank)
    assert len(view) == 20_000
    chunk, _token = page(view, 25, TOKENS.encode("00010000"), _rank, TOKENS)
    assert [_rank(x) for x in chunk] == [f"{i:08d}" for i in range(10_001, 10_026)]
    assert view.reads <= 25 + 16  # type: ignore[attr-defined]
    # The index follows commits: a change of rank moves an item, a deletion drops it.
    with store.unit_of_work():
        repo.put("s", "id1", Item("id1", "00000000a"))
        repo.delete("s", "id2")
        # Inside the unit of work, the view shows its staged changes.
        staged = repo.ordered("s", _rank)
        assert len(staged) == 19_999
        assert [x.ident for x in staged[:2]] == ["id0", "id1"]
    after = repo.ordered("s", _rank)
    assert len(after) == 19_999
    assert [x.ident for x in after[:2]] == ["id0", "id1"]
    assert "id2" not in {x.ident for x in after}
    assert repo.ids_by("s", _rank, "00000000a") == {"id1"}
    db.close()


@dataclass(frozen=True)
class Item:
    ident: str
    rank: str


def _rank(item: Item) -> str:
    return item.rank


ROOT = RootKey(bytes(range(32)))
