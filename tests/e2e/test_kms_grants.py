"""KMS grants against a real server (spec authz.md §5, §4.5 step 3c): CreateGrant, ListGrants,
ListRetirableGrants, RetireGrant, RevokeGrant with real boto3 and the AWS CLI; under
``--auth enforce`` a grant lets another account's root use a key its policy refuses, within
the grant's encryption context constraints, unless the key policy denies explicitly."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import botocore.exceptions
import pytest
from guide_helpers import build_env

from hsmkms.testing.server import ServerProcess

ACCOUNT, OTHER = "111122223333", "444455556666"
ROOT, OTHER_ROOT = f"arn:aws:iam::{ACCOUNT}:root", f"arn:aws:iam::{OTHER}:root"
AKID, SECRET = "AKIAGRANTSROOTKEY001", "grantsRootSecretAccessKey000000000000000"
OTHER_AKID, OTHER_SECRET = "AKIAGRANTSOTHERKEY01", "grantsOtherSecretAccessKey00000000000000"
ROLE = f"arn:aws:iam::{OTHER}:role/app"
GRANT_ID = re.compile(r"^[0-9a-f]{64}$")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data = tmp_path_factory.mktemp("grants") / "hsmkms-data"
    proc = ServerProcess(data, args=["--auth", "enforce"], env={
        "HSMKMS_ROOT_ACCESS_KEY_ID": AKID, "HSMKMS_ROOT_SECRET_ACCESS_KEY": SECRET,
        "HSMKMS_ROOT_KEYS": f"{OTHER}:{OTHER_AKID}:{OTHER_SECRET}",
        "HSMKMS_MAX_GRANTS_PER_KEY": "6", "HSMKMS_MAX_GRANTS_PER_PRINCIPAL": "4"}).start()
    try:
        yield proc
    finally:
        proc.kill()


@pytest.fixture(scope="module")
def kms(server: ServerProcess) -> Any:
    return server.client("kms")


@pytest.fixture(scope="module")
def other(server: ServerProcess) -> Any:
    """The root user of the other account."""
    return server.client("kms", credentials={"aws_access_key_id": OTHER_AKID,
                                             "aws_secret_access_key": OTHER_SECRET})


def error_of(call: Callable[[], Any]) -> tuple[str, str]:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call()
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    err = caught.value.response["Error"]
    return err["Code"], err["Message"]


def denied(caller: str, action: str, key_arn: str, reason: str | None = None) -> tuple[str, str]:
    reason = reason or f"because no resource-based policy allows the {action} action"
    return ("AccessDeniedException",
            (f"User: {caller} is not authorized to perform: {action} on resource: {key_arn} "
            f"{reason}"))


def new_key(kms: Any, **kwargs: Any) -> dict[str, Any]:
    return kms.create_key(**kwargs)["KeyMetadata"]


def grants_of(kms: Any, key_id: str) -> list[dict[str, Any]]:
    return kms.list_grants(KeyId=key_id)["Grants"]


# -- CreateGrant and ListGrants --------------------------------------------------------------


def test_create_and_list_with_every_field(kms: Any) -> None:
    meta = new_key(kms)
    made = kms.create_grant(
        KeyId=meta["KeyId"], GranteePrincipal=OTHER_ROOT, RetiringPrincipal=ROOT,
        Operations=["Encrypt", "Decrypt", "DescribeKey"], Name="app-grant",
        Constraints={"EncryptionContextSubset": {"dept": "it"}})
    made.pop("ResponseMetadata")
    assert set(made) == {"GrantId", "GrantToken"}
    assert GRANT_ID.match(made["GrantId"])
    listed = kms.list_grants(KeyId=meta["Arn"])
    listed.pop("ResponseMetadata")
    entry = listed["Grants"][0]
    assert isinstance(entry.pop("CreationDate"), dt.datetime)
    assert listed == {"Grants": [{
        "KeyId": meta["Arn"], "GrantId": made["GrantId"], "Name": "app-grant",
        "GranteePrincipal": OTHER_ROOT, "RetiringPrincipal": ROOT, "IssuingAccount": ROOT,
        "Operations": ["Encrypt", "Decrypt", "DescribeKey"],
        "Constraints": {"EncryptionContextSubset": {"dept": "it"}}}], "Truncated": False}
    # A grant without name, retiring principal or constraints lists without them.
    bare = kms.create_grant(KeyId=meta["KeyId"], GranteePrincipal=ROLE,
                            Operations=["GenerateDataKey"])["GrantId"]
    second = kms.list_grants(KeyId=meta["KeyId"], GrantId=bare)["Grants"]
    assert [sorted(g) for g in second] == [sorted(["KeyId", "GrantId", "CreationDate",
                                                   "GranteePrincipal", "IssuingAccount",
                                                   "Operations"])]
    assert [g["GrantId"] for g in kms.list_grants(KeyId=meta["KeyId"],
                                                  GranteePrincipal=ROLE)["Grants"]] == [bare]
    assert kms.list_grants(KeyId=meta["KeyId"], GranteePrincipal=ROOT)["Grants"] == []


def test_operations_allowed_per_key_type(kms: Any) -> None:
    rsa = new_key(kms, KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")
    signing = new_key(kms, KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")
    hmac = new_key(kms, KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")
    ok = [(rsa, ["Encrypt", "Decrypt", "GetPublicKey", "ReEncryptFrom"]),
          (signing, ["Sign", "Verify", "GetPublicKey", "DescribeKey"]),
          (hmac, ["GenerateMac", "VerifyMac", "CreateGrant", "RetireGrant"])]
    for meta, operations in ok:
        kms.create_grant(KeyId=meta["KeyId"], GranteePrincipal=ROLE, Operations=operations)
    symmetric = new_key(kms)
    wrong = [(symmetric, ["Encrypt", "Sign"], "Sign", "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT"),
             (rsa, ["GenerateDataKey"], "GenerateDataKey", "RSA_2048", "ENCRYPT_DECRYPT"),
             (signing, ["Encrypt", "Verify"], "Encrypt", "ECC_NIST_P256", "SIGN_VERIFY"),
             (hmac, ["GenerateMac", "Decrypt"], "Decrypt", "HMAC_256", "GENERATE_VERIFY_MAC")]
    for meta, operations, bad, spec, usage in wrong:
        assert error_of(lambda m=meta, o=operations: kms.create_grant(
            KeyId=m["KeyId"], GranteePrincipal=ROLE, Operations=o)) == (
            "ValidationException",
            (f"The grant operations {bad} are not valid for {meta['Arn']}: its key spec is "
            f"{spec} and its key usage is {usage}."))
    assert grants_of(kms, symmetric["KeyId"]) == []


def test_validation_errors_change_nothing(kms: Any) -> None:
    meta = new_key(kms)
    hmac = new_key(kms, KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")
    key = meta["KeyId"]
    nine = {f"k{i}": "v" for i in range(9)}
    cases: list[tuple[dict[str, Any], tuple[str, str]]] = [
        ({"Operations": ["CreateGrant"]},
         ("ValidationException", "Grants must not contain only the CreateGrant operation.")),
        ({"GranteePrincipal": None},
         ("ValidationException",
          "Either GranteePrincipal or GranteeServicePrincipal must be specified.")),
        ({"GranteeServicePrincipal": "logs.amazonaws.com"},
         ("ValidationException",
          "GranteePrincipal and GranteeServicePrincipal cannot both be specified.")),
        ({"RetiringPrincipal": ROOT, "RetiringServicePrincipal": "logs.amazonaws.com"},
         ("ValidationException",
          "RetiringPrincipal and RetiringServicePrincipal cannot both be specified.")),
        ({"GranteePrincipal": None, "GranteeServicePrincipal": "logs.amazonaws.com"},
         ("ValidationException", ("A grant to a GranteeServicePrincipal must have a SourceArn "
          "constraint and a RetiringPrincipal or RetiringServicePrincipal."))),
        ({"Constraints": {"SourceArn": f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:x"}},
         ("ValidationException",
          "The SourceArn constraint is allowed only for a GranteeServicePrincipal.")),
        ({"GranteePrincipal": "bob"},
         ("InvalidArnException", "GranteePrincipal bob is not a valid principal ARN.")),
        ({"GranteePrincipal": f"arn:aws:iam::{OTHER}:group/admins"},
         ("InvalidArnException", (f"GranteePrincipal arn:aws:iam::{OTHER}:group/admins is not "
          "a valid principal ARN."))),
        ({"RetiringPrincipal": "123"},
         ("InvalidArnException", "RetiringPrincipal 123 is not a valid principal ARN.")),
        ({"Constraints": {"EncryptionContextEquals": nine}},
         ("ValidationException",
          "An encryption context grant constraint can have at most 8 pairs.")),
        ({"Constraints": {"EncryptionContextSubset": {"k": "v" * 385}}},
         ("ValidationException",
          "Encryption context grant constraint values can be at most 384 characters long.")),
        ({"Operations": ["Encrypt", "GetPublicKey"],
          "Constraints": {"EncryptionContextSubset": {"k": "v"}}},
         ("ValidationException", ("The grant operations GetPublicKey are not valid for "
          f"{meta['Arn']}: its key spec is SYMMETRIC_DEFAULT and its key usage is "
          "ENCRYPT_DECRYPT."))),
        ({"KeyId": hmac["KeyId"], "Operations": ["GenerateMac"],
          "Constraints": {"EncryptionContextSubset": {"k": "v"}}},
         ("ValidationException", ("Encryption context grant constraints are allowed only in "
          "grants on symmetric encryption KMS keys for operations that take an encryption "
          "context (and DescribeKey, CreateGrant, RetireGrant)."))),
        ({"KeyId": "alias/whatever"},
         ("InvalidArnException", "Key Aliases are not supported for this operation.")),
        ({"KeyId": "12345678-1234-1234-1234-123456789012"},
         ("NotFoundException", ("Key 'arn:aws:kms:us-east-1:111122223333:key/"
          "12345678-1234-1234-1234-123456789012' does not exist"))),
        ({"GrantTokens": ["not a token"]},
         ("InvalidGrantTokenException", "The grant token is not valid.")),
        ({"Operations": []},
         ("ValidationException", "A grant must list at least one grant operation.")),
        # The model's constraints, as AWS's front end words them.
        ({"Name": "bad name"},
         ("ValidationException", ("1 validation error detected: Value 'bad name' at 'name' "
          "failed to satisfy constraint: Member must satisfy regular expression pattern: "
          "^[a-zA-Z0-9:/_-]+$"))),
        ({"Operations": ["Encrypt", "ListGrants"]},
         ("ValidationException", ("1 validation error detected: Value 'ListGrants' at "
          "'operations.2.member' failed to satisfy constraint: Member must satisfy enum value "
          "set: [Decrypt, Encrypt, GenerateDataKey, GenerateDataKeyWithoutPlaintext, "
          "ReEncryptFrom, ReEncryptTo, Sign, Verify, GetPublicKey, CreateGrant, RetireGrant, "
          "DescribeKey, GenerateDataKeyPair, GenerateDataKeyPairWithoutPlaintext, GenerateMac, "
          "VerifyMac, DeriveSharedSecret, Encapsulate, Decapsulate]"))),
    ]
    for change, expected in cases:
        args = {"KeyId": key, "GranteePrincipal": ROLE, "Operations": ["Encrypt"], **change}
        args = {k: v for k, v in args.items() if v is not None}
        assert error_of(lambda a=args: kms.create_grant(**a)) == expected, change
    assert grants_of(kms, key) == []
    assert grants_of(kms, hmac["KeyId"]) == []
    assert error_of(lambda: kms.create_grant(KeyId=key, GranteePrincipal=ROLE,
                                             Operations=["Encrypt"], DryRun=True)) == (
        "DryRunOperationException",
        "The request would have succeeded, but the DryRun option is set.")
    assert grants_of(kms, key) == []
    # Key states: Disabled and PendingDeletion keys take no grants.
    kms.disable_key(KeyId=key)
    assert error_of(lambda: kms.create_grant(KeyId=key, GranteePrincipal=ROLE,
                                             Operations=["Encrypt"])) == (
        "DisabledException", f"{meta['Arn']} is disabled.")
    kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
    assert error_of(lambda: kms.create_grant(KeyId=key, GranteePrincipal=ROLE,
                                             Operations=["Encrypt"])) == (
        "KMSInvalidStateException", f"{meta['Arn']} is pending deletion.")
    # Listing works in every state; a malformed grant id or marker is refused.
    assert grants_of(kms, key) == []
    assert error_of(lambda: kms.list_grants(KeyId=key, GrantId="nope")) == (
        "InvalidGrantIdException", "Invalid grant ID nope.")
    assert error_of(lambda: kms.list_grants(KeyId=key, Marker="!!")) == (
        "InvalidMarkerException", "Invalid marker")


def test_service_principal_grants(kms: Any) -> None:
    meta = new_key(kms)
    source = f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:app"
    made = kms.create_grant(KeyId=meta["KeyId"], GranteeServicePrincipal="logs.amazonaws.com",
                            RetiringServicePrincipal="logs.amazonaws.com",
                            Operations=["Encrypt", "Decrypt"],
                            Constraints={"SourceArn": source})
    entry = kms.list_grants(KeyId=meta["KeyId"],
                            GranteeServicePrincipal="logs.amazonaws.com")["Grants"][0]
    assert entry["GrantId"] == made["GrantId"]
    assert {k: entry[k] for k in ("GranteeServicePrincipal", "RetiringServicePrincipal",
                                  "Constraints")} == {
        "GranteeServicePrincipal": "logs.amazonaws.com",
        "RetiringServicePrincipal": "logs.amazonaws.com", "Constraints": {"SourceArn": source}}
    assert "GranteePrincipal" not in entry
    found = kms.list_retirable_grants(RetiringServicePrincipal="logs.amazonaws.com")["Grants"]
    assert [g["GrantId"] for g in found] == [made["GrantId"]]


def test_name_idempotency(kms: Any) -> None:
    meta = new_key(kms)
    args = {"KeyId": meta["KeyId"], "GranteePrincipal": ROLE, "Operations": ["Encrypt"],
            "Name": "retry-me", "Constraints": {"EncryptionContextEquals": {"a": "1"}}}
    first, again = kms.create_grant(**args), kms.create_grant(**args)
    assert first["GrantId"] == again["GrantId"]
    assert first["GrantToken"] != again["GrantToken"]
    # Another parameter: another grant, even with the same name; no name: always a new one.
    changed = kms.create_grant(**{**args, "Operations": ["Encrypt", "Decrypt"]})["GrantId"]
    unnamed = {k: v for k, v in args.items() if k != "Name"}
    a, b = kms.create_grant(**unnamed)["GrantId"], kms.create_grant(**unnamed)["GrantId"]
    assert len({first["GrantId"], changed, a, b}) == 4
    assert [g["GrantId"] for g in grants_of(kms, meta["KeyId"])] == [
        first["GrantId"], changed, a, b]


def test_limits_are_settings(kms: Any) -> None:
    meta = new_key(kms)
    for _ in range(4):
        kms.create_grant(KeyId=meta["KeyId"], GranteePrincipal=ROLE, Operations=["Encrypt"])
    assert error_of(lambda: kms.create_grant(KeyId=meta["KeyId"], GranteePrincipal=ROLE,
                                             Operations=["Encrypt"])) == (
        "LimitExceededException", (f"The grantee {ROLE} has reached the limit of 4 grants on "
        f"the KMS key {meta['Arn']}."))
    for _ in range(2):
        kms.create_grant(KeyId=meta["KeyId"], GranteePrincipal=OTHER_ROOT,
                         Operations=["Encrypt"])
    assert error_of(lambda: kms.create_grant(KeyId=meta["KeyId"], GranteePrincipal=ROOT,
                                             Operations=["Encrypt"])) == (
        "LimitExceededException",
        f"The KMS key {meta['Arn']} has reached the limit of 6 grants.")
    assert len(grants_of(kms, meta["KeyId"])) == 6


def test_pagination_with_botocore_paginators(kms: Any) -> None:
    meta = new_key(kms)
    retiring = f"arn:aws:iam::{ACCOUNT}:role/pager"
    made = [kms.create_grant(KeyId=meta["KeyId"], GranteePrincipal=f"{ROLE}{i}",
                             RetiringPrincipal=retiring, Operations=["Encrypt"])["GrantId"]
            for i in range(5)]
    pages = list(kms.get_paginator("list_grants").paginate(
        KeyId=meta["KeyId"], PaginationConfig={"PageSize": 2}))
    assert [[g["GrantId"] for g in p["Grants"]] for p in pages] == [made[:2], made[2:4],
                                                                     made[4:]]
    assert [p["Truncated"] for p in pages] == [True, True, False]
    pages = list(kms.get_paginator("list_retirable_grants").paginate(
        RetiringPrincipal=retiring, PaginationConfig={"PageSize": 3}))
    assert [[g["GrantId"] for g in p["Grants"]] for p in pages] == [made[:3], made[3:]]
    first = kms.list_grants(KeyId=meta["KeyId"], Limit=4)
    assert first["Truncated"] is True
    rest = kms.list_grants(KeyId=meta["KeyId"], Marker=first["NextMarker"])
    assert [g["GrantId"] for g in rest["Grants"]] == made[4:]


# -- grants authorize ------------------------------------------------------------------------


def test_a_grant_lets_another_account_use_the_key(kms: Any, other: Any) -> None:
    meta = new_key(kms)  # the default policy: the owner account only
    arn = meta["Arn"]
    assert error_of(lambda: other.encrypt(KeyId=arn, Plaintext=b"x")) == denied(
        OTHER_ROOT, "kms:Encrypt", arn)
    grant = kms.create_grant(KeyId=meta["KeyId"], GranteePrincipal=OTHER_ROOT,
                             Operations=["Encrypt", "Decrypt", "DescribeKey"])
    blob = other.encrypt(KeyId=arn, Plaintext=b"shared")["CiphertextBlob"]
    assert other.decrypt(CiphertextBlob=blob)["Plaintext"] == b"shared"
    assert other.decrypt(CiphertextBlob=blob, KeyId=arn)["KeyId"] == arn
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"shared"
    assert other.describe_key(KeyId=arn)["KeyMetadata"]["KeyId"] == meta["KeyId"]
    # An alias ARN of the owner's account names the key too (an alias name: the caller's own).
    kms.create_alias(AliasName="alias/shared-with-other", TargetKeyId=meta["KeyId"])
    alias_arn = f"arn:aws:kms:us-east-1:{ACCOUNT}:alias/shared-with-other"
    assert other.encrypt(KeyId=alias_arn, Plaintext=b"x")["KeyId"] == arn
    assert error_of(lambda: other.encrypt(KeyId="alias/shared-with-other", Plaintext=b"x")) == (
        "NotFoundException", (f"Alias arn:aws:kms:us-east-1:{OTHER}:alias/shared-with-other "
        "is not found."))
    assert error_of(lambda: other.encrypt(KeyId=alias_arn + "-nope", Plaintext=b"x")) == (
        "NotFoundException", f"Alias {alias_arn}-nope is not found.")
    # Only the operations listed: GenerateDataKey and the grant's management are refused.
    assert error_of(lambda: other.generate_data_key(KeyId=arn, KeySpec="AES_256")) == denied(
        OTHER_ROOT, "kms:GenerateDataKey", arn)
    assert error_of(lambda: other.list_grants(KeyId=arn)) == denied(
        OTHER_ROOT, "kms:ListGrants", arn)
    assert error_of(lambda: other.revoke_grant(KeyId=arn, GrantId=grant["GrantId"])) == denied(
        OTHER_ROOT, "kms:RevokeGrant", arn)
    # The key id alone names a key of the caller's own account.
    assert error_of(lambda: other.encrypt(KeyId=meta["KeyId"], Plaintext=b"x")) == (
        "NotFoundException", (f"Key 'arn:aws:kms:us-east-1:{OTHER}:key/{meta['KeyId']}' "
        "does not exist"))
    kms.revoke_grant(KeyId=meta["KeyId"], GrantId=grant["GrantId"])
    assert error_of(lambda: other.encrypt(KeyId=arn, Plaintext=b"x")) == denied(
        OTHER_ROOT, "kms:Encrypt", arn)
    # Operations not used across accounts are refused whatever the key policy says.
    kms.put_key_policy(KeyId=meta["KeyId"], PolicyName="default", Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
            "AWS": [ROOT, OTHER_ROOT]}, "Action": "kms:*", "Resource": "*"}]}))
    other.generate_data_key(KeyId=arn, KeySpec="AES_256")  # now the policy allows it
    for action, call in [
            ("kms:DisableKey", lambda: other.disable_key(KeyId=arn)),
            ("kms:GetKeyPolicy", lambda: other.get_key_policy(KeyId=arn, PolicyName="default")),
            ("kms:ScheduleKeyDeletion", lambda: other.schedule_key_deletion(KeyId=arn))]:
        assert error_of(call) == denied(OTHER_ROOT, action, arn)
    unknown = arn.replace(meta["KeyId"], "00000000-0000-0000-0000-000000000000")
    assert error_of(lambda: other.describe_key(KeyId=unknown)) == (
        "NotFoundException", f"Key '{unknown}' does not exist")


def _events(server: ServerProcess, key_arn: str, name: str,
            **credentials: str) -> list[dict[str, Any]]:
    trail = server.client("cloudtrail", credentials=credentials)
    found = trail.lookup_events(LookupAttributes=[
        {"AttributeKey": "ResourceName", "AttributeValue": key_arn}])["Events"]
    return [json.loads(e["CloudTrailEvent"]) for e in found if e["EventName"] == name]


def test_cross_account_calls_are_logged_in_both_accounts(server: ServerProcess, kms: Any,
                                                         other: Any) -> None:
    meta = new_key(kms)
    arn = meta["Arn"]
    error_of(lambda: other.encrypt(KeyId=arn, Plaintext=b"x"))  # refused: caller's only
    kms.create_grant(KeyId=meta["KeyId"], GranteePrincipal=OTHER_ROOT, Operations=["Encrypt"])
    other.encrypt(KeyId=arn, Plaintext=b"x", EncryptionContext={"a": "1"})
    theirs = _events(server, arn, "Encrypt", aws_access_key_id=OTHER_AKID,
                     aws_secret_access_key=OTHER_SECRET)
    ours = _events(server, arn, "Encrypt")
    assert [e.get("errorCode") for e in theirs] == [None, "AccessDenied"]
    assert len(ours) == 1
    mine, copy = theirs[0], ours[0]
    assert copy["userIdentity"] == {"type": "AWSAccount",
                                    "principalId": mine["userIdentity"]["principalId"],
                                    "accountId": OTHER}
    assert (mine["recipientAccountId"], copy["recipientAccountId"]) == (OTHER, ACCOUNT)
    assert mine["sharedEventID"] == copy["sharedEventID"]
    assert mine["eventID"] != copy["eventID"]
    assert "sharedEventID" not in theirs[1]
    assert copy["requestParameters"] == mine["requestParameters"] == {
        "keyId": arn, "encryptionContext": {"a": "1"}, "encryptionAlgorithm": "SYMMETRIC_DEFAULT"}
    assert copy["resources"] == mine["resources"] == [
        {"accountId": ACCOUNT, "type": "AWS::KMS::Key", "ARN": arn}]


def test_a_grant_to_a_role_does_not_cover_the_root_user(kms: Any, other: Any) -> None:
    meta = new_key(kms)
    kms.create_grant(KeyId=meta["KeyId"], GranteePrincipal=ROLE, Operations=["Encrypt"])
    assert error_of(lambda: other.encrypt(KeyId=meta["Arn"], Plaintext=b"x")) == denied(
        OTHER_ROOT, "kms:Encrypt", meta["Arn"])


@pytest.mark.parametrize(("kind", "context", "allowed"), [
    ("EncryptionContextEquals", {"a": "1"}, True),
    ("EncryptionContextEquals", {"A": "1"}, True),  # keys compare case-insensitively
    ("EncryptionContextEquals", {"a": "1", "b": "2"}, False),
    ("EncryptionContextEquals", {"a": "X"}, False),
    ("EncryptionContextEquals", None, False),
    ("EncryptionContextSubset", {"a": "1", "b": "2"}, True),
    ("EncryptionContextSubset", {"a": "1"}, True),
    ("EncryptionContextSubset", {"a": "2", "b": "2"}, False),
    ("EncryptionContextSubset", {"b": "2"}, False),
    ("EncryptionContextSubset", None, False),
])
def test_encryption_context_constraints(kms: Any, other: Any, kind: str,
                                        context: dict[str, str] | None,
                                        allowed: bool) -> None:  # noqa: FBT001 - a parameter
    meta = new_key(kms)
    kms.create_grant(KeyId=meta["KeyId"], GranteePrincipal=OTHER_ROOT,
                     Operations=["GenerateDataKey", "Decrypt", "DescribeKey"],
                     Constraints={kind: {"a": "1"}})
    extra = {} if context is None else {"EncryptionContext": context}
    if not allowed:
        assert error_of(lambda: other.generate_data_key(
            KeyId=meta["Arn"], KeySpec="AES_256", **extra)) == denied(
            OTHER_ROOT, "kms:GenerateDataKey", meta["Arn"])
    else:
        made = other.generate_data_key(KeyId=meta["Arn"], KeySpec="AES_256", **extra)
        assert other.decrypt(CiphertextBlob=made["CiphertextBlob"], **extra)["Plaintext"] == \
            made["Plaintext"]
    # The constraint does not apply to DescribeKey.
    assert other.describe_key(KeyId=meta["Arn"])["KeyMetadata"]["Arn"] == meta["Arn"]


def test_grant_tokens_are_usable_at_once(kms: Any, other: Any) -> None:
    meta = new_key(kms)
    made = kms.create_grant(KeyId=meta["KeyId"], GranteePrincipal=OTHER_ROOT,
                            Operations=["Encrypt", "RetireGrant"])
    token = made["GrantToken"]
    other.encrypt(KeyId=meta["Arn"], Plaintext=b"x", GrantTokens=[token])
    assert error_of(lambda: other.encrypt(KeyId=meta["Arn"], Plaintext=b"x",
                                          GrantTokens=[token, "garbage"])) == (
        "InvalidGrantTokenException", "The grant token is not valid.")
    other.retire_grant(GrantToken=token)
    assert grants_of(kms, meta["KeyId"]) == []
    assert error_of(lambda: other.retire_grant(GrantToken=token)) == (
        "NotFoundException", f"Grant {made['GrantId']} does not exist.")


def test_explicit_deny_beats_a_grant(kms: Any, other: Any) -> None:
    policy = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "kms:*", "Resource": "*"},
        {"Effect": "Deny", "Principal": "*", "Action": "kms:Encrypt", "Resource": "*",
         "Condition": {"StringEquals": {"kms:CallerAccount": OTHER}}}]})
    meta = new_key(kms, Policy=policy)
    kms.create_grant(KeyId=meta["KeyId"], GranteePrincipal=OTHER_ROOT,
                     Operations=["Encrypt", "DescribeKey"])
    assert error_of(lambda: other.encrypt(KeyId=meta["Arn"], Plaintext=b"x")) == denied(
        OTHER_ROOT, "kms:Encrypt", meta["Arn"], "with an explicit deny in a resource-based policy")
    other.describe_key(KeyId=meta["Arn"])  # not denied: the grant allows it
    kms.encrypt(KeyId=meta["KeyId"], Plaintext=b"x")  # the owner is not denied


def test_a_grant_with_create_grant_hands_on_no_more(kms: Any, other: Any) -> None:
    meta = new_key(kms)
    arn = meta["Arn"]
    kms.create_grant(KeyId=meta["KeyId"], GranteePrincipal=OTHER_ROOT,
                     Operations=["CreateGrant", "Encrypt", "Decrypt"],
                     Constraints={"EncryptionContextSubset": {"a": "1"}})
    stricter = [{"Operations": ["Encrypt"],
                 "Constraints": {"EncryptionContextSubset": {"a": "1", "b": "2"}}},
                {"Operations": ["Decrypt"], "Constraints": {"EncryptionContextEquals": {"a": "1"}}}]
    children = [other.create_grant(KeyId=arn, GranteePrincipal=ROLE, **change)["GrantId"]
                for change in stricter]
    # Issued by the other account, which may retire them; the key's grants list them.
    assert [g["IssuingAccount"] for g in grants_of(kms, meta["KeyId"])] == [
        ROOT, OTHER_ROOT, OTHER_ROOT]
    wider = [{"Operations": ["Encrypt"]},
             {"Operations": ["GenerateDataKey"],
              "Constraints": {"EncryptionContextSubset": {"a": "1"}}},
             {"Operations": ["Encrypt"], "Constraints": {"EncryptionContextSubset": {"b": "2"}}}]
    for change in wider:
        assert error_of(lambda c=change: other.create_grant(
            KeyId=arn, GranteePrincipal=ROLE, **c)) == denied(OTHER_ROOT, "kms:CreateGrant", arn)
    assert len(grants_of(kms, meta["KeyId"])) == 3
    other.retire_grant(KeyId=arn, GrantId=children[0])
    assert len(grants_of(kms, meta["KeyId"])) == 2


# -- retiring and revoking -------------------------------------------------------------------


def test_who_may_retire(kms: Any, other: Any) -> None:
    meta = new_key(kms)
    arn = meta["Arn"]

    def grant(**extra: Any) -> str:
        return str(kms.create_grant(KeyId=meta["KeyId"], GranteePrincipal=OTHER_ROOT,
                                    **{"Operations": ["Encrypt"], **extra})["GrantId"])

    plain = grant()
    assert error_of(lambda: other.retire_grant(KeyId=arn, GrantId=plain)) == denied(
        OTHER_ROOT, "kms:RetireGrant", arn)
    retiring = grant(RetiringPrincipal=OTHER_ROOT)
    listed = other.list_retirable_grants(RetiringPrincipal=OTHER_ROOT)["Grants"]
    assert [g["GrantId"] for g in listed] == [retiring]
    # Only principals of the caller's own account (IAM decides ListRetirableGrants).
    assert error_of(lambda: kms.list_retirable_grants(RetiringPrincipal=OTHER_ROOT)) == (
        "AccessDeniedException", (f"User: {ROOT} is not authorized to perform: "
        f"kms:ListRetirableGrants on resource: {OTHER_ROOT} because no identity-based policy "
        "allows the kms:ListRetirableGrants action"))
    other.retire_grant(KeyId=arn, GrantId=retiring)
    self_retiring = grant(Operations=["Encrypt", "RetireGrant"])
    other.retire_grant(KeyId=arn, GrantId=self_retiring)
    kms.retire_grant(KeyId=meta["KeyId"], GrantId=plain)  # the account that created it
    assert grants_of(kms, meta["KeyId"]) == []
    assert error_of(lambda: kms.retire_grant(KeyId=meta["KeyId"], GrantId=plain)) == (
        "NotFoundException", f"Grant {plain} does not exist on key {arn}.")
    assert error_of(lambda: kms.retire_grant(KeyId=meta["KeyId"])) == (
        "ValidationException", "Either GrantToken or both KeyId and GrantId must be specified.")
    assert error_of(lambda: kms.retire_grant(GrantToken="AAAA")) == (
        "InvalidGrantTokenException", "The grant token is not valid.")
    assert error_of(lambda: kms.revoke_grant(KeyId=meta["KeyId"], GrantId="0" * 64)) == (
        "NotFoundException", f"Grant {'0' * 64} does not exist on key {arn}.")
    assert error_of(lambda: kms.revoke_grant(KeyId=meta["KeyId"], GrantId="x")) == (
        "InvalidGrantIdException", "Invalid grant ID x.")
    # DryRun: checked, then nothing is done.
    kept = grant()
    dry_run = ("DryRunOperationException",
               "The request would have succeeded, but the DryRun option is set.")
    assert error_of(lambda: kms.revoke_grant(KeyId=meta["KeyId"], GrantId=kept,
                                             DryRun=True)) == dry_run
    assert error_of(lambda: kms.retire_grant(KeyId=meta["KeyId"], GrantId=kept,
                                             DryRun=True)) == dry_run
    assert error_of(lambda: other.retire_grant(KeyId=arn, GrantId=kept, DryRun=True)) == \
        denied(OTHER_ROOT, "kms:RetireGrant", arn)
    assert [g["GrantId"] for g in grants_of(kms, meta["KeyId"])] == [kept]


def test_cloudtrail_records_grant_operations(server: ServerProcess, kms: Any) -> None:
    meta = new_key(kms)
    made = kms.create_grant(KeyId=meta["KeyId"], GranteePrincipal=OTHER_ROOT,
                            Operations=["Encrypt"], Name="audited",
                            Constraints={"EncryptionContextEquals": {"a": "1"}})
    kms.list_grants(KeyId=meta["KeyId"], Limit=10)
    kms.retire_grant(GrantToken=made["GrantToken"])
    second = kms.create_grant(KeyId=meta["KeyId"], GranteePrincipal=OTHER_ROOT,
                              Operations=["Decrypt"])["GrantId"]
    kms.revoke_grant(KeyId=meta["KeyId"], GrantId=second)
    events = server.client("cloudtrail").lookup_events(LookupAttributes=[
        {"AttributeKey": "ResourceName", "AttributeValue": meta["Arn"]}])["Events"]
    records = {}
    for e in events:
        records.setdefault(e["EventName"], json.loads(e["CloudTrailEvent"]))  # newest first
    create = [json.loads(e["CloudTrailEvent"]) for e in events
              if e["EventName"] == "CreateGrant"][-1]
    assert create["requestParameters"] == {
        "keyId": meta["KeyId"], "granteePrincipal": OTHER_ROOT, "operations": ["Encrypt"],
        "constraints": {"encryptionContextEquals": {"a": "1"}}, "name": "audited"}
    assert create["responseElements"] == {"grantId": made["GrantId"]}
    assert create["readOnly"] is False
    assert records["ListGrants"]["requestParameters"] == {"keyId": meta["KeyId"], "limit": 10}
    assert records["ListGrants"]["readOnly"] is True
    assert records["RetireGrant"]["requestParameters"] is None
    assert records["RetireGrant"]["additionalEventData"] == {"grantId": made["GrantId"]}
    assert records["RevokeGrant"]["requestParameters"] == {"keyId": meta["KeyId"],
                                                           "grantId": second}
    assert made["GrantToken"] not in json.dumps([e["CloudTrailEvent"] for e in events])


def test_aws_cli_create_grant(server: ServerProcess, kms: Any,
                              aws: Callable[..., Any]) -> None:
    meta = new_key(kms)
    done = aws(server, "kms", "create-grant", "--key-id", meta["KeyId"],
                   "--grantee-principal", ROLE, "--operations", "Encrypt", "Decrypt",
                   "--constraints", "EncryptionContextSubset={dept=it}", "--output", "json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert sorted(out) == ["GrantId", "GrantToken"]
    entry = grants_of(kms, meta["KeyId"])[0]
    assert (entry["GrantId"], entry["Operations"], entry["Constraints"]) == (
        out["GrantId"], ["Encrypt", "Decrypt"], {"EncryptionContextSubset": {"dept": "it"}})


def test_deleting_the_key_deletes_its_grants(server: ServerProcess, kms: Any) -> None:
    meta = new_key(kms)
    retiring = f"arn:aws:iam::{ACCOUNT}:role/deleted-with-key"
    kms.create_grant(KeyId=meta["KeyId"], GranteePrincipal=ROLE, RetiringPrincipal=retiring,
                     Operations=["Encrypt"])
    kms.schedule_key_deletion(KeyId=meta["KeyId"], PendingWindowInDays=7)
    # Pending deletion: the grant is still there and listed.
    assert len(kms.list_retirable_grants(RetiringPrincipal=retiring)["Grants"]) == 1
    server.advance(8 * 86400)
    assert kms.list_retirable_grants(RetiringPrincipal=retiring)["Grants"] == []
    assert error_of(lambda: kms.list_grants(KeyId=meta["KeyId"]))[0] == "NotFoundException"


def test_off_mode_stores_grants_and_refuses_nothing(module_server: ServerProcess) -> None:
    kms = module_server.client("kms")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    made = kms.create_grant(KeyId=key, GranteePrincipal=OTHER_ROOT, Operations=["Encrypt"])
    assert [g["GrantId"] for g in grants_of(kms, key)] == [made["GrantId"]]
    kms.retire_grant(GrantToken=made["GrantToken"])  # not the grantee: not checked in off
    again = kms.create_grant(KeyId=key, GranteePrincipal=OTHER_ROOT, Operations=["Encrypt"])
    kms.revoke_grant(KeyId=key, GrantId=again["GrantId"])
    assert grants_of(kms, key) == []


def test_key_policy_conditions_on_the_grant(kms: Any) -> None:
    create_grant_if = {
        "StringEquals": {"kms:GranteePrincipal": ROLE, "kms:EncryptionContext:dept": "it",
                         "kms:GrantConstraintType": "EncryptionContextSubset"},
        "ForAllValues:StringEquals": {"kms:GrantOperations": ["Encrypt", "Decrypt"]},
        "Bool": {"kms:GrantIsForAWSResource": "false"}}
    policy = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": ROOT}, "NotAction": "kms:CreateGrant",
         "Resource": "*"},
        {"Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "kms:CreateGrant",
         "Resource": "*", "Condition": create_grant_if}]})
    meta = new_key(kms, Policy=policy)
    ok = {"KeyId": meta["KeyId"], "GranteePrincipal": ROLE, "Operations": ["Encrypt"],
          "Constraints": {"EncryptionContextSubset": {"dept": "it"}}}
    kms.create_grant(**ok)
    for change in [{"GranteePrincipal": OTHER_ROOT},
                   {"Operations": ["Encrypt", "GenerateDataKey"]},
                   {"Constraints": {"EncryptionContextSubset": {"dept": "hr"}}},
                   {"Constraints": {"EncryptionContextEquals": {"dept": "it"}}}]:
        assert error_of(lambda c=change: kms.create_grant(**{**ok, **c})) == denied(
            ROOT, "kms:CreateGrant", meta["Arn"]), change
    assert len(grants_of(kms, meta["KeyId"])) == 1


def test_a_grant_on_a_cloudhsm_key_works_across_accounts(server: ServerProcess, kms: Any,
                                                         other: Any) -> None:
    env = build_env(server)
    meta = kms.create_key(Origin="AWS_CLOUDHSM", CustomKeyStoreId=env.store_id)["KeyMetadata"]
    assert error_of(lambda: other.encrypt(KeyId=meta["Arn"], Plaintext=b"x")) == denied(
        OTHER_ROOT, "kms:Encrypt", meta["Arn"])
    kms.create_grant(KeyId=meta["KeyId"], GranteePrincipal=OTHER_ROOT,
                     Operations=["Encrypt", "Decrypt"])
    blob = other.encrypt(KeyId=meta["Arn"], Plaintext=b"in the HSMs")["CiphertextBlob"]
    assert other.decrypt(CiphertextBlob=blob)["Plaintext"] == b"in the HSMs"
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"in the HSMs"
    # Its CloudTrail event, in the caller's account, names the key store of the key's account.
    events = server.client("cloudtrail", credentials={
        "aws_access_key_id": OTHER_AKID, "aws_secret_access_key": OTHER_SECRET}).lookup_events(
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "Encrypt"}])["Events"]
    record = json.loads(events[0]["CloudTrailEvent"])
    assert record["additionalEventData"]["customKeyStoreId"] == env.store_id
    assert record["userIdentity"]["accountId"] == OTHER


def test_grants_survive_a_hard_restart(tmp_path: Any) -> None:
    proc = ServerProcess(tmp_path / "hsmkms-data").start()
    try:
        kms = proc.client("kms")
        key = kms.create_key()["KeyMetadata"]["KeyId"]
        made = kms.create_grant(KeyId=key, GranteePrincipal=ROLE, Operations=["Encrypt"],
                                Name="kept", Constraints={"EncryptionContextEquals": {"a": "1"}})
        before = grants_of(kms, key)
        proc.restart(hard=True)  # kill -9: what was acknowledged is on disk
        kms = proc.client("kms")
        assert grants_of(kms, key) == before
        kms.retire_grant(GrantToken=made["GrantToken"])  # the token still names it
        assert grants_of(kms, key) == []
    finally:
        proc.kill()


# -- what one account sees of another's grants -----------------------------------------------


def test_list_retirable_grants_by_service_principal_shows_own_keys_only(kms: Any,
                                                                        other: Any) -> None:
    service = "delivery.logs.amazonaws.com"
    mine = new_key(kms)
    made = kms.create_grant(
        KeyId=mine["KeyId"], GranteeServicePrincipal=service, RetiringServicePrincipal=service,
        Operations=["Encrypt"],
        Constraints={"SourceArn": f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:private"})
    # A service principal belongs to no account: another account sees none of these grants.
    assert other.list_retirable_grants(RetiringServicePrincipal=service)["Grants"] == []
    theirs = new_key(other)
    their_grant = other.create_grant(
        KeyId=theirs["KeyId"], GranteeServicePrincipal=service, RetiringServicePrincipal=service,
        Operations=["Decrypt"],
        Constraints={"SourceArn": f"arn:aws:logs:us-east-1:{OTHER}:log-group:theirs"})
    listed = other.list_retirable_grants(RetiringServicePrincipal=service)["Grants"]
    assert [(g["GrantId"], g["KeyId"], g["IssuingAccount"]) for g in listed] == [
        (their_grant["GrantId"], theirs["Arn"], OTHER_ROOT)]
    listed = kms.list_retirable_grants(RetiringServicePrincipal=service)["Grants"]
    assert [(g["GrantId"], g["KeyId"]) for g in listed] == [(made["GrantId"], mine["Arn"])]
    # A principal of the caller's account as retiring principal: every account's grants that
    # name it are the caller's to retire, so they are listed.
    retirer = f"arn:aws:iam::{OTHER}:role/retirer"
    shared = kms.create_grant(KeyId=mine["KeyId"], GranteePrincipal=OTHER_ROOT,
                              RetiringPrincipal=retirer, Operations=["Encrypt"])["GrantId"]
    own = other.create_grant(KeyId=theirs["KeyId"], GranteePrincipal=ROOT,
                             RetiringPrincipal=retirer, Operations=["Encrypt"])["GrantId"]
    listed = other.list_retirable_grants(RetiringPrincipal=retirer)["Grants"]
    assert [(g["GrantId"], g["KeyId"], g["IssuingAccount"]) for g in listed] == [
        (shared, mine["Arn"], ROOT), (own, theirs["Arn"], OTHER_ROOT)]
    assert error_of(lambda: kms.list_retirable_grants(RetiringPrincipal=retirer)) == (
        "AccessDeniedException", (f"User: {ROOT} is not authorized to perform: "
        f"kms:ListRetirableGrants on resource: {retirer} because no identity-based policy "
        "allows the kms:ListRetirableGrants action"))


@pytest.mark.parametrize("mode", ["off", "verify"])
def test_without_enforce_an_account_sees_its_own_grants_only(tmp_path: Any, mode: str) -> None:
    """Without ``enforce`` no key of another account resolves (nothing of it can be used or
    retired), so ListRetirableGrants lists the caller's own keys' grants only."""
    env = {"HSMKMS_ROOT_ACCESS_KEY_ID": AKID, "HSMKMS_ROOT_SECRET_ACCESS_KEY": SECRET,
           "HSMKMS_ROOT_KEYS": f"{OTHER}:{OTHER_AKID}:{OTHER_SECRET}"}
    proc = ServerProcess(tmp_path / "hsmkms-data", args=["--auth", mode],
                         env=env if mode == "verify" else {}).start()
    try:
        def client(account: str, akid: str, secret: str) -> Any:
            creds = ({"aws_access_key_id": akid, "aws_secret_access_key": secret}
                     if mode == "verify" else
                     {"aws_access_key_id": account, "aws_secret_access_key": "x" * 40})
            return proc.client("kms", credentials=creds)

        kms, other = client(ACCOUNT, AKID, SECRET), client(OTHER, OTHER_AKID, OTHER_SECRET)
        service = "logs.amazonaws.com"
        key = new_key(kms)
        by_service = kms.create_grant(
            KeyId=key["KeyId"], GranteeServicePrincipal=service,
            RetiringServicePrincipal=service, Operations=["Encrypt"],
            Constraints={"SourceArn": f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:a"})
        by_other = kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=OTHER_ROOT,
                                    RetiringPrincipal=OTHER_ROOT, Operations=["Encrypt"])
        assert other.list_retirable_grants(RetiringServicePrincipal=service)["Grants"] == []
        assert other.list_retirable_grants(RetiringPrincipal=OTHER_ROOT)["Grants"] == []
        assert [g["GrantId"] for g in kms.list_retirable_grants(
            RetiringServicePrincipal=service)["Grants"]] == [by_service["GrantId"]]
        assert [g["GrantId"] for g in kms.list_retirable_grants(
            RetiringPrincipal=OTHER_ROOT)["Grants"]] == [by_other["GrantId"]]
        # Nor can the other account retire them by token (its own grants only).
        assert error_of(lambda: other.retire_grant(GrantToken=by_other["GrantToken"])) == (
            "NotFoundException", f"Grant {by_other['GrantId']} does not exist.")
        assert len(grants_of(kms, key["KeyId"])) == 2
    finally:
        proc.kill()


def test_another_account_can_neither_read_nor_change_the_grants(kms: Any, other: Any) -> None:
    """Every grant operation of another account on a key whose policy does not name it, with
    ids and tokens it learned: refused, and nothing changes."""
    meta = new_key(kms)
    arn = meta["Arn"]
    made = kms.create_grant(KeyId=meta["KeyId"], GranteePrincipal=ROLE, RetiringPrincipal=ROOT,
                            Operations=["Encrypt", "RetireGrant"], Name="owned")
    before = grants_of(kms, meta["KeyId"])
    assert error_of(lambda: other.retire_grant(GrantToken=made["GrantToken"])) == denied(
        OTHER_ROOT, "kms:RetireGrant", arn)
    assert error_of(lambda: other.retire_grant(KeyId=arn, GrantId=made["GrantId"])) == denied(
        OTHER_ROOT, "kms:RetireGrant", arn)
    assert error_of(lambda: other.revoke_grant(KeyId=arn, GrantId=made["GrantId"])) == denied(
        OTHER_ROOT, "kms:RevokeGrant", arn)
    assert error_of(lambda: other.list_grants(KeyId=arn, GrantId=made["GrantId"])) == denied(
        OTHER_ROOT, "kms:ListGrants", arn)
    assert error_of(lambda: other.create_grant(
        KeyId=arn, GranteePrincipal=OTHER_ROOT, Operations=["Encrypt"])) == denied(
        OTHER_ROOT, "kms:CreateGrant", arn)
    # The other account's own key id with this grant id: not a grant of its key.
    theirs = new_key(other)
    assert error_of(lambda: other.retire_grant(KeyId=theirs["KeyId"],
                                               GrantId=made["GrantId"])) == (
        "NotFoundException", f"Grant {made['GrantId']} does not exist on key {theirs['Arn']}.")
    assert error_of(lambda: other.revoke_grant(KeyId=theirs["KeyId"],
                                               GrantId=made["GrantId"])) == (
        "NotFoundException", f"Grant {made['GrantId']} does not exist on key {theirs['Arn']}.")
    assert grants_of(kms, meta["KeyId"]) == before


def test_name_idempotency_is_per_issuing_account(kms: Any, other: Any) -> None:
    """A grantee of another account creating (through a grant with CreateGrant) a grant with
    the same name and properties as one the key's account made gets a grant of its own, not the
    other account's grant id."""
    meta = new_key(kms)
    arn = meta["Arn"]
    kms.create_grant(KeyId=meta["KeyId"], GranteePrincipal=OTHER_ROOT,
                     Operations=["CreateGrant", "Encrypt"])
    args = {"GranteePrincipal": ROLE, "Operations": ["Encrypt"], "Name": "same"}
    owners = kms.create_grant(KeyId=meta["KeyId"], **args)["GrantId"]
    theirs = other.create_grant(KeyId=arn, **args)["GrantId"]
    assert theirs != owners
    assert other.create_grant(KeyId=arn, **args)["GrantId"] == theirs  # still idempotent
    assert kms.create_grant(KeyId=meta["KeyId"], **args)["GrantId"] == owners
    listed = {g["GrantId"]: g["IssuingAccount"] for g in grants_of(kms, meta["KeyId"])
              if g.get("Name") == "same"}
    assert listed == {owners: ROOT, theirs: OTHER_ROOT}
    other.retire_grant(KeyId=arn, GrantId=theirs)  # its own: the issuing account retires it
    assert error_of(lambda: other.retire_grant(KeyId=arn, GrantId=owners)) == denied(
        OTHER_ROOT, "kms:RetireGrant", arn)
