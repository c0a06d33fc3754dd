"""Marker pagination (Limit/Marker -> Truncated/NextMarker) for ListKeys, ListAliases and
ListResourceTags, by hand and with botocore's paginators (spec kms.md 4.5)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from hsmkms.testing.server import ServerProcess


def error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    resp = exc.value.response
    return resp["Error"]["Code"], resp["Error"]["Message"], resp["ResponseMetadata"][
        "HTTPStatusCode"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Its own server: the tests count every key of the account."""
    srv = ServerProcess(tmp_path_factory.mktemp("pagination") / "hsmkms-data").start()
    try:
        yield srv
    finally:
        srv.kill()


@pytest.fixture(scope="module")
def kms(server: ServerProcess) -> Any:
    return server.client("kms")


@pytest.fixture(scope="module")
def keys(kms: Any) -> list[str]:
    """105 keys in creation order; the first has 50 tags (the limit); 12 aliases."""
    ids = [kms.create_key()["KeyMetadata"]["KeyId"] for _ in range(105)]
    kms.tag_resource(KeyId=ids[0], Tags=[{"TagKey": f"t{i:02d}", "TagValue": str(i)}
                                         for i in range(50)])
    for i in range(12):
        kms.create_alias(AliasName=f"alias/page-{i:02d}", TargetKeyId=ids[i % 3])
    return ids


def test_list_keys_default_page_is_100(kms: Any, keys: list[str]) -> None:
    first = kms.list_keys()
    assert len(first["Keys"]) == 100
    assert first["Truncated"] is True
    assert first["NextMarker"]
    second = kms.list_keys(Marker=first["NextMarker"])
    assert second["Truncated"] is False
    assert "NextMarker" not in second
    assert [k["KeyId"] for k in first["Keys"] + second["Keys"]] == keys


def test_list_keys_by_hand(kms: Any, keys: list[str]) -> None:
    seen: list[str] = []
    marker = None
    pages = 0
    while True:
        resp = kms.list_keys(Limit=10, **({"Marker": marker} if marker else {}))
        pages += 1
        assert len(resp["Keys"]) <= 10
        seen += [k["KeyId"] for k in resp["Keys"]]
        if not resp["Truncated"]:
            assert "NextMarker" not in resp
            break
        marker = resp["NextMarker"]
    assert pages == 11
    assert seen == keys
    for entry in kms.list_keys(Limit=1)["Keys"]:
        assert entry == {"KeyId": keys[0],
                         "KeyArn": f"arn:aws:kms:us-east-1:111122223333:key/{keys[0]}"}


def test_list_keys_exact_fit(kms: Any, keys: list[str]) -> None:
    resp = kms.list_keys(Limit=105)
    assert len(resp["Keys"]) == 105
    assert resp["Truncated"] is False
    resp = kms.list_keys(Limit=1000)
    assert len(resp["Keys"]) == 105


def test_paginators(kms: Any, keys: list[str]) -> None:
    pages = list(kms.get_paginator("list_keys").paginate(PaginationConfig={"PageSize": 25}))
    assert [len(p["Keys"]) for p in pages] == [25, 25, 25, 25, 5]
    assert [k["KeyId"] for p in pages for k in p["Keys"]] == keys
    aliases = list(kms.get_paginator("list_aliases").paginate(PaginationConfig={"PageSize": 5}))
    assert [len(p["Aliases"]) for p in aliases] == [5, 5, 2]
    assert [a["AliasName"] for p in aliases for a in p["Aliases"]] == [
        f"alias/page-{i:02d}" for i in range(12)]
    of_first = kms.get_paginator("list_aliases").paginate(
        KeyId=keys[0], PaginationConfig={"PageSize": 2}).build_full_result()
    assert [a["AliasName"] for a in of_first["Aliases"]] == [
        "alias/page-00", "alias/page-03", "alias/page-06", "alias/page-09"]
    tag_pages = list(kms.get_paginator("list_resource_tags").paginate(
        KeyId=keys[0], PaginationConfig={"PageSize": 20}))
    assert [len(p["Tags"]) for p in tag_pages] == [20, 20, 10]
    assert [t["TagKey"] for p in tag_pages for t in p["Tags"]] == [f"t{i:02d}" for i in range(50)]
    assert kms.get_paginator("list_keys").paginate(
        PaginationConfig={"MaxItems": 7}).build_full_result()["NextToken"]


def test_default_page_sizes(kms: Any, keys: list[str]) -> None:
    tags = kms.list_resource_tags(KeyId=keys[0])
    assert (len(tags["Tags"]), tags["Truncated"]) == (50, False)
    aliases = kms.list_aliases()
    assert (len(aliases["Aliases"]), aliases["Truncated"]) == (12, False)


def test_limits_out_of_range(kms: Any, keys: list[str]) -> None:
    with pytest.raises(ClientError) as exc:
        kms.list_keys(Limit=1001)
    assert error(exc) == ("ValidationException",
                          "1 validation error detected: Value '1001' at 'limit' failed to satisfy "
                          "constraint: Member must have value less than or equal to 1000", 400)
    # The model allows Limit 1-1000 everywhere; the documented lower maxima of ListAliases (100)
    # and ListResourceTags (50) have no recorded error, so hsmkms returns at most that many.
    assert len(kms.list_resource_tags(KeyId=keys[0], Limit=1000)["Tags"]) == 50


@pytest.mark.parametrize("marker", ["!!!", "not-a-marker", "zzzz", "\u00ff\u00fe"])
def test_bad_marker(kms: Any, keys: list[str], marker: str) -> None:
    for call in (lambda: kms.list_keys(Marker=marker),
                 lambda: kms.list_aliases(Marker=marker),
                 lambda: kms.list_resource_tags(KeyId=keys[0], Marker=marker)):
        with pytest.raises(ClientError) as exc:
            call()
        code, _message, status = error(exc)
        assert (code, status) == ("InvalidMarkerException", 400), marker
