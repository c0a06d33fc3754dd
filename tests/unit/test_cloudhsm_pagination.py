from __future__ import annotations

import pytest

from hsmkms.cloudhsm.errors import CloudHsmInvalidRequestException
from hsmkms.cloudhsm.ids import ALPHABET, new_id, parse_arn
from hsmkms.cloudhsm.pagination import by_creation, page


def test_pages_until_no_token() -> None:
    items = list(range(7))
    seen, token = [], None
    while True:
        chunk, token = page(items, 3, token, 25, lambda n: f"{n:03d}")
        seen += chunk
        if token is None:
            break
    assert seen == items


def test_bad_token() -> None:
    with pytest.raises(CloudHsmInvalidRequestException, match="NextToken"):
        page([1, 2], 1, "!!!", 25, str)


def test_creation_positions_sort_oldest_or_newest_first() -> None:
    old, new = by_creation(1000.5, "b-2"), by_creation(2000.0, "b-1")
    assert old < new
    assert by_creation(1000.5, "b-2", newest_first=True) > by_creation(2000.0, "b-1",
                                                                        newest_first=True)
    assert by_creation(1000.5, "a") < by_creation(1000.5, "b")  # same time: by id


def test_a_deleted_item_between_pages_skips_nothing() -> None:
    items = ["c1", "c2", "c3", "c4"]
    first, token = page(items, 2, None, 25, str)
    rest, token = page(["c2", "c3", "c4"], 2, token, 25, str)  # c1 was deleted meanwhile
    assert (first, rest, token) == (["c1", "c2"], ["c3", "c4"], None)


def test_ids_have_aws_shape() -> None:
    ident = new_id("cluster", lambda n: bytes(range(n)))
    assert ident == "cluster-" + ALPHABET[:11]
    arn = parse_arn("arn:aws:cloudhsm:us-west-2:111122223333:backup/backup-ro5c4er4aac")
    assert arn is not None
    assert arn.scope == "111122223333/us-west-2"
    assert parse_arn("arn:aws:kms:us-west-2:111122223333:key/x") is None
