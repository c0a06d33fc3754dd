from __future__ import annotations

import pytest

from hsmkms.cloudhsm.errors import CloudHsmInvalidRequestException
from hsmkms.cloudhsm.ids import ALPHABET, new_id, parse_arn
from hsmkms.cloudhsm.pagination import page


def test_pages_until_no_token() -> None:
    items = list(range(7))
    seen, token = [], None
    while True:
        chunk, token = page(items, 3, token, 25)
        seen += chunk
        if token is None:
            break
    assert seen == items


def test_bad_token() -> None:
    with pytest.raises(CloudHsmInvalidRequestException, match="NextToken"):
        page([1, 2], 1, "!!!", 25)


def test_ids_have_aws_shape() -> None:
    ident = new_id("cluster", lambda n: bytes(range(n)))
    assert ident == "cluster-" + ALPHABET[:11]
    arn = parse_arn("arn:aws:cloudhsm:us-west-2:111122223333:backup/backup-ro5c4er4aac")
    assert arn is not None
    assert arn.scope == "111122223333/us-west-2"
    assert parse_arn("arn:aws:kms:us-west-2:111122223333:key/x") is None
