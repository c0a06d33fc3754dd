"""``MaxResults``/``NextToken`` paging for DescribeClusters, DescribeBackups and ListTags.

The token is opaque to callers (base64 of the next offset); a response without ``NextToken``
is the last page (model paginators).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import TypeVar

from hsmkms.cloudhsm.errors import CloudHsmInvalidRequestException, message

T = TypeVar("T")


def page(items: Sequence[T], max_results: int | None, token: str | None,
         default: int) -> tuple[list[T], str | None]:
    start = 0
    if token:
        try:
            start = int(base64.urlsafe_b64decode(token.encode()).decode().removeprefix("o:"))
        except (binascii.Error, ValueError, UnicodeDecodeError):
            raise CloudHsmInvalidRequestException(message("next_token")) from None
        if start < 0:
            raise CloudHsmInvalidRequestException(message("next_token"))
    end = start + (max_results or default)
    more = base64.urlsafe_b64encode(f"o:{end}".encode()).decode() if end < len(items) else None
    return list(items[start:end]), more
