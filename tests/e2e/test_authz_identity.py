"""``--auth enforce`` with IAM principals: the key policy's delegation to the account
(``arn:aws:iam::<acct>:root``) now consults the caller's identity policies (inline and
attached; a role session's role's), explicit denies win wherever they are, cross-account use
needs both sides, and operations on no key are decided by identity policies alone, with AWS's
AccessDeniedException messages (spec authz.md §4.5, §4.6, §4.8)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import botocore.exceptions
import pytest

from hsmkms.testing.server import ServerProcess
from tests.conftest import ENFORCE_ACCOUNT as ACCOUNT
from tests.conftest import ENFORCE_OTHER as OTHER
from tests.conftest import ENFORCE_OTHER_ROOT
from tests.e2e.iam_helpers import allow, document, make_user, session_of, trust, user_arn

ROOT = f"arn:aws:iam::{ACCOUNT}:root"


def key_policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def statement(principal: Any, action: Any = "kms:*", effect: str = "Allow") -> dict[str, Any]:
    return {"Effect": effect, "Principal": {"AWS": principal}, "Action": action,
            "Resource": "*"}


def denied(call: Callable[[], Any]) -> str:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call()
    response = caught.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert response["Error"]["Code"] == "AccessDeniedException"
    return str(response["Error"]["Message"])


@pytest.fixture(scope="module")
def iam(enforce_server: ServerProcess) -> Any:
    return enforce_server.client("iam")


@pytest.fixture(scope="module")
def root_kms(enforce_server: ServerProcess) -> Any:
    return enforce_server.client("kms")


def test_a_role_that_can_encrypt_but_not_decrypt(enforce_server: ServerProcess, iam: Any,
                                                 root_kms: Any) -> None:
    meta = root_kms.create_key()["KeyMetadata"]
    creds = make_user(iam, "encrypter")
    iam.create_role(RoleName="EncryptOnly", AssumeRolePolicyDocument=trust(user_arn("encrypter")))
    iam.put_role_policy(RoleName="EncryptOnly", PolicyName="enc",
                        PolicyDocument=allow("kms:Encrypt", meta["Arn"]))
    answer = enforce_server.client("sts", credentials=creds).assume_role(
        RoleArn=f"arn:aws:iam::{ACCOUNT}:role/EncryptOnly", RoleSessionName="job-1")
    kms = enforce_server.client("kms", credentials=session_of(answer["Credentials"]))
    blob = kms.encrypt(KeyId=meta["KeyId"], Plaintext=b"secret")["CiphertextBlob"]
    session = f"arn:aws:sts::{ACCOUNT}:assumed-role/EncryptOnly/job-1"
    assert denied(lambda: kms.decrypt(CiphertextBlob=blob)) == (
        f"User: {session} is not authorized to perform: kms:Decrypt on resource: "
        f"{meta['Arn']} because no identity-based policy allows the kms:Decrypt action")
    # the user itself has no identity policy at all
    user_kms = enforce_server.client("kms", credentials=creds)
    assert denied(lambda: user_kms.encrypt(KeyId=meta["KeyId"], Plaintext=b"x")) == (
        f"User: {user_arn('encrypter')} is not authorized to perform: kms:Encrypt on resource: "
        f"{meta['Arn']} because no identity-based policy allows the kms:Encrypt action")
    assert root_kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"secret"


def test_attached_managed_policy_allows(enforce_server: ServerProcess, iam: Any,
                                        root_kms: Any) -> None:
    meta = root_kms.create_key()["KeyMetadata"]
    creds = make_user(iam, "attached")
    arn = iam.create_policy(PolicyName="DescribeAll",
                            PolicyDocument=allow("kms:DescribeKey"))["Policy"]["Arn"]
    kms = enforce_server.client("kms", credentials=creds)
    denied(lambda: kms.describe_key(KeyId=meta["KeyId"]))
    iam.attach_user_policy(UserName="attached", PolicyArn=arn)
    assert kms.describe_key(KeyId=meta["KeyId"])["KeyMetadata"]["Arn"] == meta["Arn"]
    iam.detach_user_policy(UserName="attached", PolicyArn=arn)
    denied(lambda: kms.describe_key(KeyId=meta["KeyId"]))


def test_explicit_deny_in_an_identity_policy(enforce_server: ServerProcess, iam: Any,
                                             root_kms: Any) -> None:
    meta = root_kms.create_key()["KeyMetadata"]
    creds = make_user(iam, "denied")
    iam.put_user_policy(UserName="denied", PolicyName="all", PolicyDocument=allow("kms:*"))
    iam.put_user_policy(UserName="denied", PolicyName="no-decrypt", PolicyDocument=document(
        {"Effect": "Deny", "Action": "kms:Decrypt", "Resource": "*"}))
    kms = enforce_server.client("kms", credentials=creds)
    blob = kms.encrypt(KeyId=meta["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    assert denied(lambda: kms.decrypt(CiphertextBlob=blob)) == (
        f"User: {user_arn('denied')} is not authorized to perform: kms:Decrypt on resource: "
        f"{meta['Arn']} with an explicit deny in an identity-based policy")
    # a key policy naming the user directly does not override the identity-side deny
    root_kms.put_key_policy(KeyId=meta["KeyId"], PolicyName="default", Policy=key_policy(
        statement(ROOT), statement(user_arn("denied"))))
    assert denied(lambda: kms.decrypt(CiphertextBlob=blob)).endswith(
        "with an explicit deny in an identity-based policy")


def test_key_policy_without_delegation_ignores_identity_policies(
        enforce_server: ServerProcess, iam: Any, root_kms: Any) -> None:
    creds = make_user(iam, "ignored")
    iam.put_user_policy(UserName="ignored", PolicyName="all", PolicyDocument=allow("kms:*"))
    named = make_user(iam, "named-in-key")
    meta = root_kms.create_key(Policy=key_policy(
        statement(ROOT, ["kms:PutKeyPolicy", "kms:DescribeKey"]),
        statement(user_arn("named-in-key"), "kms:Encrypt")))["KeyMetadata"]
    kms = enforce_server.client("kms", credentials=creds)
    assert denied(lambda: kms.encrypt(KeyId=meta["KeyId"], Plaintext=b"x")) == (
        f"User: {user_arn('ignored')} is not authorized to perform: kms:Encrypt on resource: "
        f"{meta['Arn']} because no resource-based policy allows the kms:Encrypt action")
    # named directly by the key policy: no identity policy needed in the key's account
    enforce_server.client("kms", credentials=named).encrypt(KeyId=meta["KeyId"],
                                                             Plaintext=b"x")


def test_cross_account_needs_both_sides(enforce_server: ServerProcess, iam: Any,
                                        root_kms: Any) -> None:
    meta = root_kms.create_key(Policy=key_policy(
        statement(ROOT), statement(f"arn:aws:iam::{OTHER}:root",
                                   ["kms:Encrypt", "kms:DescribeKey"])))["KeyMetadata"]
    other_iam = enforce_server.client("iam", credentials=ENFORCE_OTHER_ROOT)
    creds = make_user(other_iam, "outsider")
    kms = enforce_server.client("kms", credentials=creds)
    outsider = user_arn("outsider", OTHER)
    assert denied(lambda: kms.encrypt(KeyId=meta["Arn"], Plaintext=b"x")) == (
        f"User: {outsider} is not authorized to perform: kms:Encrypt on resource: "
        f"{meta['Arn']} because no identity-based policy allows the kms:Encrypt action")
    other_iam.put_user_policy(UserName="outsider", PolicyName="use",
                              PolicyDocument=allow("kms:*", meta["Arn"]))
    kms.encrypt(KeyId=meta["Arn"], Plaintext=b"x")
    # the key policy does not give the other account Decrypt: its IAM allow is not enough
    blob = root_kms.encrypt(KeyId=meta["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    assert denied(lambda: kms.decrypt(CiphertextBlob=blob, KeyId=meta["Arn"])) == (
        f"User: {outsider} is not authorized to perform: kms:Decrypt on resource: "
        f"{meta['Arn']} because no resource-based policy allows the kms:Decrypt action")


def test_operations_on_no_key_are_decided_by_identity_policies(
        enforce_server: ServerProcess, iam: Any) -> None:
    creds = make_user(iam, "creator")
    kms = enforce_server.client("kms", credentials=creds)
    me = user_arn("creator")
    assert denied(kms.create_key) == (
        f"User: {me} is not authorized to perform: kms:CreateKey on resource: * because no "
        "identity-based policy allows the kms:CreateKey action")
    assert denied(kms.list_keys).endswith(
        "because no identity-based policy allows the kms:ListKeys action")
    iam.put_user_policy(UserName="creator", PolicyName="create",
                        PolicyDocument=allow("kms:CreateKey"))
    made = kms.create_key()["KeyMetadata"]
    assert made["KeyManager"] == "CUSTOMER"
    # the default key policy delegates to the account: the creator's IAM allows CreateKey only
    assert denied(lambda: kms.describe_key(KeyId=made["KeyId"])).endswith(
        "because no identity-based policy allows the kms:DescribeKey action")
    assert denied(lambda: kms.create_key(Tags=[{"TagKey": "a", "TagValue": "b"}])) == (
        f"User: {me} is not authorized to perform: kms:TagResource because no identity-based "
        "policy allows the kms:TagResource action")


def test_principal_condition_keys(enforce_server: ServerProcess, iam: Any,
                                  root_kms: Any) -> None:
    meta = root_kms.create_key()["KeyMetadata"]
    creds = make_user(iam, "conditioned")
    iam.put_user_policy(UserName="conditioned", PolicyName="self", PolicyDocument=document(
        {"Effect": "Allow", "Action": "kms:DescribeKey", "Resource": "*", "Condition": {
            "StringEquals": {"aws:username": "conditioned", "aws:PrincipalType": "User",
                             "aws:PrincipalAccount": ACCOUNT},
            "ArnEquals": {"aws:PrincipalArn": user_arn("conditioned")}}}))
    enforce_server.client("kms", credentials=creds).describe_key(KeyId=meta["KeyId"])
    iam.put_user_policy(UserName="conditioned", PolicyName="self", PolicyDocument=document(
        {"Effect": "Allow", "Action": "kms:DescribeKey", "Resource": "*", "Condition": {
            "StringEquals": {"aws:username": "someone-else"}}}))
    denied(lambda: enforce_server.client("kms", credentials=creds).describe_key(
        KeyId=meta["KeyId"]))


def test_iam_calls_need_identity_policies(enforce_server: ServerProcess, iam: Any) -> None:
    creds = make_user(iam, "operator")
    own = enforce_server.client("iam", credentials=creds)
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        own.create_user(UserName="made-by-operator")
    response = caught.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert response["Error"] == {
        "Type": "Sender", "Code": "AccessDenied",
        "Message": f"User: {user_arn('operator')} is not authorized to perform: "
                   f"iam:CreateUser on resource: {user_arn('made-by-operator')} because no "
                   "identity-based policy allows the iam:CreateUser action"}
    iam.put_user_policy(UserName="operator", PolicyName="users",
                        PolicyDocument=allow("iam:*User", f"arn:aws:iam::{ACCOUNT}:user/*"))
    own.create_user(UserName="made-by-operator")
    assert own.get_user()["User"]["UserName"] == "operator"
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        own.create_role(RoleName="NotAllowed", AssumeRolePolicyDocument=trust(ACCOUNT))
    assert caught.value.response["Error"]["Code"] == "AccessDenied"
    with pytest.raises(botocore.exceptions.ClientError):
        iam.get_role(RoleName="NotAllowed")


def test_grant_to_a_role_needs_no_identity_policy(enforce_server: ServerProcess, iam: Any,
                                                  root_kms: Any) -> None:
    # the key policy gives no one Decrypt: only grants can
    meta = root_kms.create_key(Policy=key_policy(statement(
        ROOT, ["kms:PutKeyPolicy", "kms:CreateGrant", "kms:Encrypt"])))["KeyMetadata"]
    creds = make_user(iam, "granted")
    iam.create_role(RoleName="Granted", Path="/apps/",
                    AssumeRolePolicyDocument=trust(user_arn("granted")))
    role = f"arn:aws:iam::{ACCOUNT}:role/apps/Granted"
    answer = enforce_server.client("sts", credentials=creds).assume_role(
        RoleArn=role, RoleSessionName="worker")
    kms = enforce_server.client("kms", credentials=session_of(answer["Credentials"]))
    blob = root_kms.encrypt(KeyId=meta["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    denied(lambda: kms.decrypt(CiphertextBlob=blob))
    root_kms.create_grant(KeyId=meta["KeyId"], GranteePrincipal=role, Operations=["Decrypt"])
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"x"
    # a grant to the account delegates to the caller's identity policies
    user_kms = enforce_server.client("kms", credentials=creds)
    root_kms.create_grant(KeyId=meta["KeyId"], GranteePrincipal=ROOT, Operations=["Decrypt"])
    denied(lambda: user_kms.decrypt(CiphertextBlob=blob))
    iam.put_user_policy(UserName="granted", PolicyName="dec",
                        PolicyDocument=allow("kms:Decrypt", meta["Arn"]))
    assert user_kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"x"


def test_a_session_policy_limits_the_role(enforce_server: ServerProcess, iam: Any,
                                          root_kms: Any) -> None:
    meta = root_kms.create_key()["KeyMetadata"]
    creds = make_user(iam, "scoped")
    iam.create_role(RoleName="Broad", AssumeRolePolicyDocument=trust(user_arn("scoped")))
    iam.put_role_policy(RoleName="Broad", PolicyName="all", PolicyDocument=allow("kms:*"))
    sts = enforce_server.client("sts", credentials=creds)
    answer = sts.assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/Broad",
                             RoleSessionName="narrow", Policy=allow("kms:Encrypt"))
    assert 0 < answer["PackedPolicySize"] < 100
    kms = enforce_server.client("kms", credentials=session_of(answer["Credentials"]))
    blob = kms.encrypt(KeyId=meta["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    assert denied(lambda: kms.decrypt(CiphertextBlob=blob)) == (
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/Broad/narrow is not authorized to "
        f"perform: kms:Decrypt on resource: {meta['Arn']} because no session policy allows the "
        "kms:Decrypt action")
    assert denied(kms.list_keys).endswith(
        "because no session policy allows the kms:ListKeys action")
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        sts.assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/Broad",
                        RoleSessionName="broken", Policy="{not json")
    assert caught.value.response["Error"]["Code"] == "MalformedPolicyDocument"
    assert caught.value.response["Error"]["Message"] == "Syntax errors in policy."
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
