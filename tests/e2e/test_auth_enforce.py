"""``--auth enforce`` against a real server: key policies decide, with AWS's
AccessDeniedException messages, key policy validation and the lockout safety check
(spec authz.md §4.5, §4.8, §4.9), through boto3 and the AWS CLI."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import botocore.exceptions
import pytest

from hsmkms.testing.server import ServerProcess

ACCOUNT, OTHER = "111122223333", "444455556666"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"
AKID, SECRET = "AKIAENFORCEDROOTKEY1", "enforcedRootSecretAccessKey0000000000000"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data = tmp_path_factory.mktemp("enforce") / "hsmkms-data"
    proc = ServerProcess(data, args=["--auth", "enforce"], env={
        "HSMKMS_ROOT_ACCESS_KEY_ID": AKID, "HSMKMS_ROOT_SECRET_ACCESS_KEY": SECRET}).start()
    try:
        yield proc
    finally:
        proc.kill()


@pytest.fixture(scope="module")
def kms(server: ServerProcess) -> Any:
    return server.client("kms")


def policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def statement(effect: str = "Allow", principal: Any = None, action: Any = "kms:*",
              **extra: Any) -> dict[str, Any]:
    return {"Effect": effect, "Principal": principal or {"AWS": ROOT}, "Action": action,
            "Resource": "*", **extra}


def error_of(call: Callable[[], Any]) -> tuple[str, str]:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call()
    err = caught.value.response["Error"]
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return err["Code"], err["Message"]


def refused(action: str, key_arn: str, reason: str) -> tuple[str, str]:
    message = (f"User: {ROOT} is not authorized to perform: {action} on resource: {key_arn} "
               f"{reason}")
    return ("AccessDeniedException", message)


def test_start_up_and_health(server: ServerProcess) -> None:
    assert server.admin("GET", "health")["auth"] == "enforce"
    assert not (server.data_dir / "credentials").exists()  # the root key was given


def test_default_policy_lets_the_root_user_do_everything(kms: Any) -> None:
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key, Plaintext=b"hello")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"hello"
    assert json.loads(kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"])[
        "Statement"][0]["Principal"] == {"AWS": ROOT}


def test_explicit_deny_wins(kms: Any) -> None:
    meta = kms.create_key()["KeyMetadata"]
    kms.put_key_policy(KeyId=meta["KeyId"], PolicyName="default", Policy=policy(
        statement(), statement("Deny", "*", "kms:Encrypt")))
    assert error_of(lambda: kms.encrypt(KeyId=meta["KeyId"], Plaintext=b"x")) == refused(
        "kms:Encrypt", meta["Arn"], "with an explicit deny in a resource-based policy")
    kms.generate_data_key(KeyId=meta["KeyId"], KeySpec="AES_256")  # not denied


def test_a_key_policy_without_the_caller_refuses_it(kms: Any) -> None:
    others = policy(statement(principal={"AWS": f"arn:aws:iam::{OTHER}:root"}))
    before = len(kms.list_keys()["Keys"])
    # The lockout safety check, on CreateKey and PutKeyPolicy; nothing is created.
    lockout = ("MalformedPolicyDocumentException",
               "The new key policy will not allow you to update the key policy in the future.")
    assert error_of(lambda: kms.create_key(Policy=others)) == lockout
    assert len(kms.list_keys()["Keys"]) == before
    meta = kms.create_key()["KeyMetadata"]
    assert error_of(lambda: kms.put_key_policy(KeyId=meta["KeyId"], PolicyName="default",
                                               Policy=others)) == lockout
    kms.encrypt(KeyId=meta["KeyId"], Plaintext=b"x")  # the old policy still applies
    # BypassPolicyLockoutSafetyCheck: accepted, and the caller is locked out.
    kms.put_key_policy(KeyId=meta["KeyId"], PolicyName="default", Policy=others,
                       BypassPolicyLockoutSafetyCheck=True)
    for action, call in [
        ("kms:DescribeKey", lambda: kms.describe_key(KeyId=meta["KeyId"])),
        ("kms:Encrypt", lambda: kms.encrypt(KeyId=meta["KeyId"], Plaintext=b"x")),
        ("kms:GetKeyPolicy", lambda: kms.get_key_policy(KeyId=meta["KeyId"],
                                                        PolicyName="default")),
        ("kms:PutKeyPolicy", lambda: kms.put_key_policy(
            KeyId=meta["KeyId"], PolicyName="default", Policy=policy(statement()))),
    ]:
        assert error_of(call) == refused(
            action, meta["Arn"], f"because no resource-based policy allows the {action} action")
    created = kms.create_key(Policy=others, BypassPolicyLockoutSafetyCheck=True)["KeyMetadata"]
    assert error_of(lambda: kms.describe_key(KeyId=created["KeyId"]))[0] == \
        "AccessDeniedException"


def test_encryption_context_conditions(kms: Any) -> None:
    admin = statement(action=["kms:DescribeKey", "kms:PutKeyPolicy", "kms:GetKeyPolicy"])
    use = statement(action=["kms:Encrypt", "kms:Decrypt"],
                    Condition={"StringEquals": {"kms:EncryptionContext:Dept": "IT"}})
    meta = kms.create_key(Policy=policy(admin, use))["KeyMetadata"]
    blob = kms.encrypt(KeyId=meta["KeyId"], Plaintext=b"x",
                       EncryptionContext={"Dept": "IT"})["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext={"Dept": "IT"})["Plaintext"] == b"x"
    no_allow = "because no resource-based policy allows the kms:Encrypt action"
    assert error_of(lambda: kms.encrypt(KeyId=meta["KeyId"], Plaintext=b"x",
                                        EncryptionContext={"Dept": "HR"})) == refused(
        "kms:Encrypt", meta["Arn"], no_allow)
    assert error_of(lambda: kms.encrypt(KeyId=meta["KeyId"], Plaintext=b"x")) == refused(
        "kms:Encrypt", meta["Arn"], no_allow)
    # Decrypt is authorized against the key the ciphertext names, KeyId or not.
    assert error_of(lambda: kms.decrypt(CiphertextBlob=blob))[1].endswith(
        "because no resource-based policy allows the kms:Decrypt action")
    # ForAllValues on a single-valued key is refused when the policy is saved.
    loose = statement(action="kms:Encrypt", Condition={
        "ForAllValues:StringEquals": {"kms:EncryptionContext:Dept": "IT"}})
    code, message = error_of(lambda: kms.put_key_policy(
        KeyId=meta["KeyId"], PolicyName="default", Policy=policy(admin, loose)))
    assert code == "MalformedPolicyDocumentException"
    assert message.startswith("OverlyPermissiveCondition:EncryptionContext: Using the "
                              "ForAllValues set operator")


def test_malformed_key_policies(kms: Any) -> None:
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    for bad, message in [
        (policy(statement(principal={"AWS": "arn:aws:iam::*:root"})),
         "Policy contains a statement with one or more invalid principals."),
        (policy(statement(principal={"AWS": "not-a-principal"})),
         "Policy contains a statement with one or more invalid principals."),
        (policy(statement(Condition={"StringEquals": {"aws:ResourceTag/Team": "a"}})),
         ("These condition keys are not permitted in a key policy: aws:ResourceTag, "
          "kms:ResourceTag, kms:ResourceAliases")),
    ]:
        assert error_of(lambda bad=bad: kms.put_key_policy(
            KeyId=key, PolicyName="default", Policy=bad)) == (
            "MalformedPolicyDocumentException", message)
        assert error_of(lambda bad=bad: kms.create_key(Policy=bad))[0] == \
            "MalformedPolicyDocumentException"
    kms.encrypt(KeyId=key, Plaintext=b"x")  # the key's policy did not change


def test_aws_cli_is_refused_by_the_key_policy(server: ServerProcess, kms: Any,
                                              aws: Callable[..., Any]) -> None:
    meta = kms.create_key(Policy=policy(statement(), statement("Deny", "*", "kms:Decrypt")))[
        "KeyMetadata"]
    blob = kms.encrypt(KeyId=meta["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    (server.data_dir.parent / "blob").write_bytes(blob)
    done = aws(server, "kms", "decrypt", "--ciphertext-blob",
               f"fileb://{server.data_dir.parent / 'blob'}")
    assert done.returncode == 255
    assert (f"An error occurred (AccessDeniedException) when calling the Decrypt operation: "
            f"User: {ROOT} is not authorized to perform: kms:Decrypt on resource: "
            f"{meta['Arn']} with an explicit deny in a resource-based policy") in done.stderr


def test_denials_are_in_cloudtrail(server: ServerProcess, kms: Any) -> None:
    meta = kms.create_key(Policy=policy(statement(), statement("Deny", "*", "kms:Encrypt")))[
        "KeyMetadata"]
    code, message = error_of(lambda: kms.encrypt(KeyId=meta["KeyId"], Plaintext=b"x"))
    assert code == "AccessDeniedException"
    trail = server.client("cloudtrail")
    events = trail.lookup_events(LookupAttributes=[
        {"AttributeKey": "ResourceName", "AttributeValue": meta["Arn"]}])["Events"]
    denied = [json.loads(e["CloudTrailEvent"]) for e in events if e["EventName"] == "Encrypt"]
    assert [(e["errorCode"], e["errorMessage"]) for e in denied] == [("AccessDenied", message)]
    # A request refused before it was authenticated leaves no event.
    bad = server.client("kms", credentials={"aws_access_key_id": AKID,
                                            "aws_secret_access_key": "x" * 40})
    error_of(lambda: bad.describe_key(KeyId=meta["KeyId"]))
    events = trail.lookup_events(LookupAttributes=[
        {"AttributeKey": "ResourceName", "AttributeValue": meta["Arn"]}])["Events"]
    assert "DescribeKey" not in {e["EventName"] for e in events}


def test_access_denied_body_has_capital_message(server: ServerProcess, kms: Any) -> None:
    """AccessDeniedException comes from AWS's front layer, not the KMS model: ``Message``."""
    import urllib.error  # noqa: PLC0415
    import urllib.request  # noqa: PLC0415

    from botocore.auth import SigV4Auth  # noqa: PLC0415
    from botocore.awsrequest import AWSRequest  # noqa: PLC0415
    from botocore.credentials import Credentials  # noqa: PLC0415

    meta = kms.create_key(Policy=policy(statement(), statement("Deny", "*", "kms:Encrypt")))[
        "KeyMetadata"]
    body = json.dumps({"KeyId": meta["KeyId"], "Plaintext": "eA=="}).encode()
    req = AWSRequest("POST", server.endpoint + "/", data=body, headers={
        "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "TrentService.Encrypt"})
    SigV4Auth(Credentials(AKID, SECRET), "kms", "us-east-1").add_auth(req)
    sent = urllib.request.Request(server.endpoint + "/", data=body, method="POST",  # noqa: S310
                                  headers=dict(req.headers.items()))
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(sent, timeout=30)  # noqa: S310 - loopback
    assert caught.value.code == 400
    assert json.loads(caught.value.read()) == {
        "__type": "AccessDeniedException",
        "Message": refused("kms:Encrypt", meta["Arn"],
                           "with an explicit deny in a resource-based policy")[1]}


def test_key_policies_cover_asymmetric_and_hmac_operations(kms: Any) -> None:
    deny = policy(statement(), statement("Deny", "*", ["kms:Sign", "kms:GenerateMac"]))
    signing = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY",
                             Policy=deny)["KeyMetadata"]
    assert error_of(lambda: kms.sign(KeyId=signing["KeyId"], Message=b"m",
                                     SigningAlgorithm="ECDSA_SHA_256")) == refused(
        "kms:Sign", signing["Arn"], "with an explicit deny in a resource-based policy")
    kms.get_public_key(KeyId=signing["KeyId"])  # not denied
    mac = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC",
                         Policy=deny)["KeyMetadata"]
    assert error_of(lambda: kms.generate_mac(KeyId=mac["KeyId"], Message=b"m",
                                             MacAlgorithm="HMAC_SHA_256"))[0] == \
        "AccessDeniedException"
