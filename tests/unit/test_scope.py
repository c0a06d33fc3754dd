"""hsmkms.scope: a Scope is its store string and splits back into account and Region."""

from __future__ import annotations

from hsmkms.scope import Scope


def test_scope_is_the_store_string_and_splits_back() -> None:
    scope = Scope.of("111122223333", "eu-west-1")
    assert scope == "111122223333/eu-west-1"
    assert (scope.account, scope.region) == ("111122223333", "eu-west-1")
    assert Scope("444455556666/us-east-1").region == "us-east-1"
    assert {scope: 1}["111122223333/eu-west-1"] == 1
    assert Scope("111122223333/cn-north-1").parts() == ("111122223333", "cn-north-1")
