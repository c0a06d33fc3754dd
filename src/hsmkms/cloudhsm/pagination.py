"""``MaxResults``/``NextToken`` paging for DescribeClusters, DescribeBackups and ListTags, over
:mod:`hsmkms.pagination`.

The token is opaque to callers (the position of the last item returned); a response without
``NextToken`` is the last page (model paginators). Clusters and backups are paged by creation
time and id, so a cluster or backup deleted between two calls neither skips nor repeats others.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from hsmkms import pagination
from hsmkms.cloudhsm.errors import CloudHsmInvalidRequestException, message

T = TypeVar("T")
TOKENS = pagination.Tokens("k:")
#: Beyond any timestamp the clock reaches (the year 3000), so ``LATEST - t`` sorts newest first.
LATEST = 1e11


def by_creation(timestamp: float, ident: str, *, newest_first: bool = False) -> str:
    """A position that sorts by creation time (oldest or newest first), then by id."""
    return f"{(LATEST - timestamp) if newest_first else timestamp:020.6f}|{ident}"


def by_index(items: Sequence[T]) -> tuple[list[tuple[int, T]], Callable[[tuple[int, T]], str]]:
    """Items without a natural order of their own (tags), positioned by their place."""
    return list(enumerate(items)), lambda pair: f"{pair[0]:08d}"


def page(items: Sequence[T], max_results: int | None, token: str | None, default: int,
         position: Callable[[T], str]) -> tuple[list[T], str | None]:
    """One page of ``items`` (sorted by ``position``) and the next token, or None."""
    try:
        return pagination.page(items, max_results or default, token or None, position, TOKENS)
    except pagination.InvalidToken:
        raise CloudHsmInvalidRequestException(message("next_token")) from None
