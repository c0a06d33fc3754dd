"""One paginator for every list operation: keyset pages over a sorted listing.

A page token is the *position* of the last item returned (``position(item)``: a string that
sorts like the listing), wrapped in opaque base64 with a per-service prefix. The next page starts
after that position, so deleting or adding earlier items between two calls neither skips nor
repeats items (an offset would). Each service keeps its own wire names (KMS ``Limit``/``Marker``/
``Truncated``, CloudHSM and EC2 ``MaxResults``/``NextToken``) and its own error for a bad token.
"""

from __future__ import annotations

import base64
import binascii
import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


class InvalidToken(ValueError):
    """The token was not made by :meth:`Tokens.encode` with the same prefix."""


@dataclass(frozen=True, slots=True)
class Tokens:
    """How one service writes positions into tokens: ``prefix`` marks them as its own."""

    prefix: str = ""

    def encode(self, position: str) -> str:
        return base64.urlsafe_b64encode((self.prefix + position).encode()).decode()

    def decode(self, token: str) -> str:
        try:
            text = base64.b64decode(token.encode("ascii"), altchars=b"-_", validate=True).decode()
        except (binascii.Error, ValueError, UnicodeDecodeError):
            raise InvalidToken(token) from None
        if not text.startswith(self.prefix):
            raise InvalidToken(token)
        return text[len(self.prefix):]


def page(items: Sequence[T], size: int, token: str | None, position: Callable[[T], str],
         tokens: Tokens) -> tuple[list[T], str | None]:
    """One page of ``items`` (sorted by ``position``) and the token for the next, or None.

    Raises :class:`InvalidToken` for a token that ``tokens`` did not make. Costs a bisect and
    a slice: O(log n + size) reads of ``items`` (a sorted repository view reads its entities
    only then)."""
    start = 0
    if token is not None:
        start = bisect.bisect_right(items, tokens.decode(token), key=position)
    chunk = list(items[start:start + size])
    if start + size < len(items):
        return chunk, tokens.encode(position(chunk[-1]))
    return chunk, None
