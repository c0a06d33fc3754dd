"""The grants an authorization reads (spec authz.md §5.5): only a key's grants whose grantee
could name the caller, through the (key, grantee) index, never all of the key's grants."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hsmkms.auth import policy as iam
from hsmkms.context import RequestContext
from hsmkms.crypto import RootKey
from hsmkms.errors import AccessDeniedException
from hsmkms.kms import grants as rules
from hsmkms.kms.authz import KeyPolicyAuthorizer
from hsmkms.kms.grants import GrantRequest, Grants
from hsmkms.kms.model import Key, KeyState
from hsmkms.store.base import Store
from hsmkms.store.codec import Codec
from hsmkms.store.sqlite import SqliteDatabase

A, B = "111122223333", "444455556666"
OWN_ACCOUNT_ONLY = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{A}:root"}, "Action": "kms:*",
    "Resource": "*"}]})


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    root = RootKey(os.urandom(32))
    db = SqliteDatabase(tmp_path / "hsmkms.db")
    yield Store(db, Codec(root.seal, root.unseal))
    db.close()


def _key() -> Key:
    return Key(key_id="1234abcd-12ab-34cd-56ef-1234567890ab", account=A, region="us-east-1",
               created=0.0, state=KeyState.ENABLED, policy=OWN_ACCOUNT_ONLY)


def _ctx(account: str) -> RequestContext:
    return RequestContext(account=account, region="us-east-1", request_id="r", now=1000.0)


def test_a_grant_decision_reads_only_the_callers_grants(store: Store,
                                                         monkeypatch: Any) -> None:
    key, grants = _key(), Grants(store)
    with store.unit_of_work():
        for i in range(300):  # grants to other principals of the caller's account
            req = GrantRequest(operations=("Encrypt",), grantee=f"arn:aws:iam::{B}:role/r{i}")
            grants.put(f"{A}/us-east-1", rules.new_grant(key, req, grant_id=f"{i:064x}",
                                                         now=float(i)))
        req = GrantRequest(operations=("Encrypt", "Decrypt"), grantee=f"arn:aws:iam::{B}:root")
        grants.put(f"{A}/us-east-1", rules.new_grant(key, req, grant_id="f" * 64, now=999.0))
    read: list[str] = []
    get = grants.repo.get

    def counting(scope: str, ident: str) -> Any:
        read.append(ident)
        return get(scope, ident)

    monkeypatch.setattr(grants.repo, "get", counting)
    authz = KeyPolicyAuthorizer(grants)
    authz.authorize(_ctx(B), "Encrypt", key)
    assert read == ["f" * 64]
    read.clear()
    with pytest.raises(AccessDeniedException):
        authz.authorize(_ctx(B), "GenerateDataKey", key)  # the grant does not list it
    assert read == ["f" * 64]
    read.clear()
    with pytest.raises(AccessDeniedException):  # a third account: no grant names it
        authz.authorize(_ctx("999988887777"), "Encrypt", key)
    assert read == []


@pytest.mark.parametrize("grantee", [
    f"arn:aws:iam::{B}:root", f"arn:aws-cn:iam::{B}:root", f"arn:aws:iam::{B}:role/app",
    f"arn:aws:iam::{B}:role/team/app", f"arn:aws:iam::{B}:user/alice",
    f"arn:aws:sts::{B}:assumed-role/app/s1", f"arn:aws:iam::{A}:root",
    f"arn:aws:iam::{B}:role/other", f"arn:aws:sts::{B}:federated-user/bob"])
@pytest.mark.parametrize("caller", [
    iam.Caller(f"arn:aws:iam::{B}:root", B),
    iam.Caller(f"arn:aws:iam::{B}:user/alice", B),
    iam.Caller(f"arn:aws:sts::{B}:assumed-role/app/s1", B),
    iam.Caller(f"arn:aws:sts::{B}:assumed-role/app/s2", B,
               role_arn=f"arn:aws:iam::{B}:role/team/app"),
    iam.Caller(f"arn:aws:sts::{B}:federated-user/bob", B)])
def test_the_index_finds_every_grantee_that_names_the_caller(grantee: str,
                                                            caller: iam.Caller) -> None:
    """Whenever a grantee names a caller, its index form is one the caller is looked up by."""
    if rules.grantee_match(grantee, caller) is not None:
        assert rules.grantee_form(grantee) in rules.caller_forms(caller)
