"""hsmkms.kms.grants: who a grant names, what it allows under its constraints, how a child
grant narrows its parent, tokens, and the grant's place in KMS's decision (authz.decide)."""

from __future__ import annotations

import pytest

from hsmkms.auth import policy as iam
from hsmkms.errors import ServiceError
from hsmkms.kms import authz, grants
from hsmkms.kms.grants import Constraints, Grant, GrantRequest
from hsmkms.kms.model import Key, KeyState

A, B = "111122223333", "444455556666"
ROOT_A, ROOT_B = f"arn:aws:iam::{A}:root", f"arn:aws:iam::{B}:root"
ROLE_B = f"arn:aws:iam::{B}:role/team/app"
SESSION_B = f"arn:aws:sts::{B}:assumed-role/app/build-17"
USER_B = f"arn:aws:iam::{B}:user/alice"

root_b = iam.Caller(ROOT_B, B)
session_b = iam.Caller(SESSION_B, B, role_arn=ROLE_B)
user_b = iam.Caller(USER_B, B)
root_a = iam.Caller(ROOT_A, A)

D, ACC = iam.Match.DIRECT, iam.Match.ACCOUNT


@pytest.mark.parametrize(("grantee", "caller", "expected"), [
    (ROOT_B, root_b, D),              # the root user itself
    (ROOT_B, user_b, ACC),            # the account: delegation to its IAM
    (ROOT_B, session_b, ACC),
    (ROOT_B, root_a, None),           # another account
    (USER_B, user_b, D),
    (USER_B, root_b, None),           # naming a user does not name the account's root
    (ROLE_B, session_b, D),           # a role covers its sessions (path not in session ARN)
    (f"arn:aws:iam::{B}:role/app", session_b, D),
    (f"arn:aws:iam::{B}:role/other", session_b, None),
    (f"arn:aws:iam::{A}:role/app", session_b, None),
    (ROLE_B, root_b, None),
    (SESSION_B, session_b, D),        # the session itself
    (f"arn:aws:sts::{B}:assumed-role/app/other", session_b, None),
    ("", root_b, None),               # a service-principal grant names no hsmkms caller
])
def test_grantee_match(grantee: str, caller: iam.Caller, expected: iam.Match | None) -> None:
    assert grants.grantee_match(grantee, caller) is expected


def _grant(operations: tuple[str, ...] = ("Encrypt", "Decrypt", "DescribeKey"),
           grantee: str = ROOT_B, **constraints: dict[str, str]) -> Grant:
    return Grant("0" * 64, "k", "arn:aws:kms:us-east-1:111122223333:key/k", A, 0.0,
                 operations, grantee=grantee, constraints=Constraints(**constraints))


@pytest.mark.parametrize(("grant", "action", "context", "expected"), [
    (_grant(), "kms:Encrypt", None, D),
    (_grant(), "kms:GenerateDataKey", None, None),           # not listed
    (_grant(grantee=ROLE_B), "kms:Encrypt", None, None),      # not the caller
    (_grant(equals={"a": "1"}), "kms:Encrypt", {"a": "1"}, D),
    (_grant(equals={"a": "1"}), "kms:Encrypt", {"A": "1"}, D),  # keys case-insensitive
    (_grant(equals={"a": "1"}), "kms:Encrypt", {"a": "1", "b": "2"}, None),
    (_grant(equals={"a": "1"}), "kms:Encrypt", {"a": "X"}, None),  # values exact
    (_grant(equals={"a": "x"}), "kms:Encrypt", {"a": "X"}, None),
    (_grant(equals={"a": "1"}), "kms:Encrypt", None, None),
    (_grant(subset={"a": "1"}), "kms:Decrypt", {"a": "1", "b": "2"}, D),
    (_grant(subset={"a": "1"}), "kms:Decrypt", {"b": "2"}, None),
    (_grant(subset={"a": "1"}), "kms:Decrypt", {}, None),
    (_grant(subset={"a": "1"}, equals={"a": "1"}), "kms:Decrypt", {"a": "1"}, D),
    (_grant(subset={"a": "1"}, equals={"a": "1"}), "kms:Decrypt", {"a": "1", "b": "2"}, None),
    (_grant(equals={"a": "1"}), "kms:DescribeKey", None, D),  # constraints don't apply
])
def test_allows(grant: Grant, action: str, context: dict[str, str] | None,
                expected: iam.Match | None) -> None:
    assert grants.allows(grant, root_b, action, context) is expected


@pytest.mark.parametrize(("child", "parent", "expected"), [
    (GrantRequest(("Encrypt",)), _grant(), True),
    (GrantRequest(("Encrypt", "Sign")), _grant(), False),
    (GrantRequest(("Encrypt",)), _grant(subset={"a": "1"}), False),
    (GrantRequest(("Encrypt",), subset={"a": "1", "b": "2"}), _grant(subset={"a": "1"}), True),
    (GrantRequest(("Encrypt",), equals={"a": "1"}), _grant(subset={"a": "1"}), True),
    (GrantRequest(("Encrypt",), subset={"b": "2"}), _grant(subset={"a": "1"}), False),
    (GrantRequest(("Encrypt",), equals={"a": "1"}), _grant(equals={"a": "1"}), True),
    (GrantRequest(("Encrypt",), subset={"a": "1"}), _grant(equals={"a": "1"}), False),
])
def test_a_child_grant_narrows_its_parent(child: GrantRequest, parent: Grant,
                                          expected: bool) -> None:  # noqa: FBT001
    assert grants.narrower(child, parent) is expected


def test_tokens_name_their_grant() -> None:
    grant_id = "ab" * 32
    one, two = grants.token(grant_id, b"\x01" * 32), grants.token(grant_id, b"\x02" * 32)
    assert one != two
    assert grants.parse_token(one) == grants.parse_token(two) == grant_id
    for bad in ("", "not base64!", "AAAA", grants.token("zz" * 32, b"")):
        with pytest.raises(ServiceError) as caught:
            grants.parse_token(bad)
        assert (caught.value.code(), caught.value.message) == (
            "InvalidGrantTokenException", "The grant token is not valid.")


def _key(spec: str = "SYMMETRIC_DEFAULT", usage: str = "ENCRYPT_DECRYPT") -> Key:
    return Key("k", A, "us-east-1", 0.0, KeyState.ENABLED, key_spec=spec, key_usage=usage)


@pytest.mark.parametrize(("spec", "usage", "operation", "ok"), [
    ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", "GenerateDataKeyPair", True),
    ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", "GetPublicKey", False),
    ("RSA_2048", "ENCRYPT_DECRYPT", "GetPublicKey", True),
    ("RSA_2048", "ENCRYPT_DECRYPT", "GenerateDataKeyWithoutPlaintext", False),
    ("RSA_2048", "SIGN_VERIFY", "Sign", True),
    ("RSA_2048", "SIGN_VERIFY", "Decrypt", False),
    ("HMAC_256", "GENERATE_VERIFY_MAC", "VerifyMac", True),
    ("HMAC_256", "GENERATE_VERIFY_MAC", "GetPublicKey", False),
    ("ECC_NIST_P256", "KEY_AGREEMENT", "DeriveSharedSecret", True),
    ("ECC_NIST_P256", "KEY_AGREEMENT", "Sign", False),
    ("ML_KEM_768", "ENCAPSULATE_DECAPSULATE", "Decapsulate", True),
    ("ML_KEM_768", "ENCAPSULATE_DECAPSULATE", "Encrypt", False),
])
def test_operations_per_key_type(spec: str, usage: str, operation: str,
                                 ok: bool) -> None:  # noqa: FBT001
    req = GrantRequest((operation, "DescribeKey"), grantee=ROOT_B)
    if ok:
        assert grants.new_grant(_key(spec, usage), req, grant_id="0" * 64,
                                now=1.0).operations == (operation, "DescribeKey")
    else:
        with pytest.raises(ServiceError) as caught:
            grants.new_grant(_key(spec, usage), req, grant_id="0" * 64, now=1.0)
        assert caught.value.code() == "ValidationException"


def _decide(statements: list[dict[str, object]], caller: iam.Caller,
            grant: iam.Match | None, identity: iam.Outcome | None = None) -> authz.Decision:
    import json  # noqa: PLC0415 - only here

    policy = iam.parse(json.dumps({"Version": "2012-10-17", "Statement": statements}))
    request = iam.Request(caller, "kms:Encrypt", "arn:aws:kms:us-east-1:111122223333:key/k",
                          {})
    return authz.decide(request, A, policy, identity, cross_account_ok=True, grant=grant)


OWNER = {"Effect": "Allow", "Principal": {"AWS": ROOT_A}, "Action": "kms:*", "Resource": "*"}
DENY = {"Effect": "Deny", "Principal": "*", "Action": "kms:Encrypt", "Resource": "*"}


def test_a_grant_allows_alone_and_a_deny_still_wins() -> None:
    assert _decide([OWNER], root_b, None).reason is authz.Reason.NO_RESOURCE
    assert _decide([OWNER], root_b, D).allowed
    assert _decide([OWNER, DENY], root_b, D).reason is authz.Reason.EXPLICIT_RESOURCE
    # A grant to the account: the principal's IAM policies must allow too.
    assert _decide([OWNER], user_b, ACC, iam.Outcome(denied=False, allows=frozenset({D}))).allowed
    assert not _decide([OWNER], user_b, ACC, iam.Outcome(denied=False,
                                                         allows=frozenset())).allowed
    assert _decide([OWNER], user_b, D, iam.Outcome(denied=True, allows=frozenset())).reason \
        is authz.Reason.EXPLICIT_IDENTITY
