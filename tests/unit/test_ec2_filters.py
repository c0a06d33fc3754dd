"""Describe* filter semantics and pagination tokens (``hsmkms.ec2.filters``)."""

from __future__ import annotations

from typing import Any

import pytest

from hsmkms.ec2 import errors as e
from hsmkms.ec2 import filters

VIEWS: list[dict[str, Any]] = [
    {"SubnetId": "subnet-a", "VpcId": "vpc-1", "DefaultForAz": True, "AvailableIpAddressCount": 11,
     "Tags": [{"Key": "Name", "Value": "private-a"}]},
    {"SubnetId": "subnet-b", "VpcId": "vpc-2", "DefaultForAz": False,
     "AvailableIpAddressCount": 0},
]
ENIS: list[dict[str, Any]] = [
    {"Description": "KMS managed ENI for cluster cluster-abc",
     "Groups": [{"GroupId": "sg-1"}, {"GroupId": "sg-2"}], "TagSet": []},
    {"Description": "a*b", "Groups": [], "TagSet": [{"Key": "k", "Value": "v"}]},
]


def ids(found: list[dict[str, Any]]) -> list[str]:
    return [v.get("SubnetId") or v["Description"] for v in found]


@pytest.mark.parametrize(("flts", "expected"), [
    ([], ["subnet-a", "subnet-b"]),
    ([{"Name": "vpc-id", "Values": ["vpc-1", "vpc-2"]}], ["subnet-a", "subnet-b"]),
    ([{"Name": "vpc-id", "Values": ["vpc-1"]}, {"Name": "default-for-az", "Values": ["false"]}],
     []),
    ([{"Name": "defaultForAz", "Values": ["true"]}], ["subnet-a"]),
    ([{"Name": "available-ip-address-count", "Values": ["0"]}], ["subnet-b"]),
    ([{"Name": "subnet-id", "Values": ["subnet-?"]}], ["subnet-a", "subnet-b"]),
    ([{"Name": "subnet-id", "Values": ["SUBNET-A"]}], []),
    ([{"Name": "tag:Name", "Values": ["private-*"]}], ["subnet-a"]),
    ([{"Name": "tag-key", "Values": ["Name"]}], ["subnet-a"]),
    ([{"Name": "vpc-id", "Values": []}], []),
])
def test_filter_semantics(flts: list[dict[str, Any]], expected: list[str]) -> None:
    assert ids(filters.apply(VIEWS, flts, filters.SUBNET)) == expected


def test_wildcards_lists_and_escapes() -> None:
    def find(name: str, value: str) -> list[str]:
        return ids(filters.apply(ENIS, [{"Name": name, "Values": [value]}], filters.ENI,
                                 tags_member="TagSet"))

    assert find("description", "KMS managed ENI for cluster *") == [ENIS[0]["Description"]]
    assert find("description", "a*") == ["a*b"]
    assert find("description", "a\\*b") == ["a*b"]
    assert find("description", "a\\*") == []
    assert find("group-id", "sg-2") == [ENIS[0]["Description"]]
    assert find("tag:k", "v") == ["a*b"]


@pytest.mark.parametrize(("flt", "error", "message"), [
    ({"Name": "bogus", "Values": ["x"]}, e.InvalidParameterValue, "The filter 'bogus' is invalid"),
    ({"Values": ["x"]}, e.InvalidParameterValue, "The filter 'null' is invalid"),
    ({"Name": "vpc-id", "Values": ["x" * 256]}, e.FilterLimitExceeded,
     "The maximum length for a filter value is 255 characters"),
])
def test_bad_filters(flt: dict[str, Any], error: type[e.Ec2Error], message: str) -> None:
    with pytest.raises(error) as info:
        filters.apply(VIEWS, [flt], filters.SUBNET)
    assert info.value.message == message


def test_pagination() -> None:
    items = list(range(12))
    assert filters.page(items, None, None) == (items, None)
    first, token = filters.page(items, 5, None)
    assert first == [0, 1, 2, 3, 4]
    assert token
    second, token2 = filters.page(items, 5, token)
    assert second == [5, 6, 7, 8, 9]
    assert token2
    assert token2 != token
    assert filters.page(items, 5, token2) == ([10, 11], None)
    with pytest.raises(e.InvalidNextToken, match="The token 'garbage' is invalid"):
        filters.page(items, 5, "garbage")
    with pytest.raises(e.InvalidParameterValue) as info:
        filters.page(items, 4, None)
    assert info.value.message == ("Value ( 4 ) for parameter maxResults is invalid. Expecting a "
                                  "value between 5 and 1000.")


@pytest.mark.parametrize(("pattern", "text", "matches"), [
    ("a?c", "ac", True), ("a?c", "abc", True), ("a?c", "abbc", False), ("*", "", True),
    ("??", "", True), ("??", "abc", False), ("a*b*c", "aXbYc", True), ("a*b*c", "aXbY", False),
    ("a\\*b", "a*b", True), ("a\\*b", "axb", False), ("\\?", "?", True), ("a\\\\b", "a\\b", True),
    ("x", "X", False),
])
def test_wildcard_patterns(pattern: str, text: str, matches: bool) -> None:  # noqa: FBT001
    assert filters.Pattern(pattern).fullmatch(text) is matches


def test_hostile_patterns_are_fast() -> None:
    import time  # noqa: PLC0415

    start = time.perf_counter()
    for _ in range(100):
        assert not filters.Pattern("*a" * 120 + "c").fullmatch("a" * 255)
    assert time.perf_counter() - start < 1.0
