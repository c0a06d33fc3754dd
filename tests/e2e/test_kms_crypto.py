"""Encrypt, Decrypt, ReEncrypt, GenerateDataKey(WithoutPlaintext), GenerateRandom and DryRun
over a real server (spec kms.md 2.3, 3.4, 4.4)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from hsmkms import crypto
from hsmkms.testing.server import ServerProcess

ACCOUNT = "111122223333"
REGION = "us-east-1"
DRY_RUN = "The request would have succeeded, but the DryRun option is set."
INCORRECT_KEY = ("The key ID in the request does not identify a CMK that can perform this "
                 "operation.")


def error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    resp = exc.value.response
    return resp["Error"]["Code"], resp["Error"]["Message"], resp["ResponseMetadata"][
        "HTTPStatusCode"]


@pytest.fixture(scope="module")
def kms(module_server: ServerProcess) -> Any:
    return module_server.client("kms")


@pytest.fixture(scope="module")
def loose(module_server: ServerProcess) -> Any:
    """A client that lets the server, not botocore, judge missing and out-of-range members."""
    return module_server.client("kms", config=Config(parameter_validation=False))


@pytest.fixture(scope="module")
def key(kms: Any) -> dict[str, Any]:
    meta = kms.create_key(Description="crypto")["KeyMetadata"]
    kms.create_alias(AliasName="alias/crypto", TargetKeyId=meta["KeyId"])
    return meta


@pytest.fixture(scope="module")
def other(kms: Any) -> dict[str, Any]:
    return kms.create_key(Description="other")["KeyMetadata"]


def key_ids(meta: dict[str, Any]) -> list[str]:
    return [meta["KeyId"], meta["Arn"], "alias/crypto",
            f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/crypto"]


def test_encrypt_decrypt_round_trip_every_identifier(kms: Any, key: dict[str, Any]) -> None:
    for ident in key_ids(key):
        resp = kms.encrypt(KeyId=ident, Plaintext=b"hello world")
        assert resp["KeyId"] == key["Arn"]
        assert resp["EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
        blob = resp["CiphertextBlob"]
        assert len(blob) == len(b"hello world") + crypto.OVERHEAD
        assert blob[:2] == b"\x02\x00"  # format version 2, a UUID key id
        assert blob[2:18] == uuid.UUID(key["KeyId"]).bytes
        assert blob[18:50].hex() == key["CurrentKeyMaterialId"]
        out = kms.decrypt(CiphertextBlob=blob)
        assert out["Plaintext"] == b"hello world"
        assert out["KeyId"] == key["Arn"]
        assert out["EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
        assert out["KeyMaterialId"] == key["CurrentKeyMaterialId"]
        # Decrypt with an explicit KeyId in every form.
        for named in key_ids(key):
            assert kms.decrypt(CiphertextBlob=blob, KeyId=named)["Plaintext"] == b"hello world"


def test_two_encryptions_differ(kms: Any, key: dict[str, Any]) -> None:
    a = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"same")["CiphertextBlob"]
    b = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"same")["CiphertextBlob"]
    assert a != b


def test_plaintext_limits(kms: Any, loose: Any, key: dict[str, Any]) -> None:
    big = b"x" * 4096
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=big)["CiphertextBlob"]
    assert len(blob) == 4096 + crypto.OVERHEAD
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == big
    with pytest.raises(ClientError) as exc:
        kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x" * 4097)
    assert error(exc) == ("ValidationException",
                          "1 validation error detected: Value at 'plaintext' failed to satisfy "
                          "constraint: Member must have length less than or equal to 4096", 400)
    with pytest.raises(ClientError) as exc:
        loose.encrypt(KeyId=key["KeyId"], Plaintext=b"")
    assert error(exc) == ("ValidationException",
                          "1 validation error detected: Value at 'plaintext' failed to satisfy "
                          "constraint: Member must have length greater than or equal to 1", 400)


def test_encryption_context(kms: Any, key: dict[str, Any]) -> None:
    ctx = {"purpose": "test", "tenant": "ü-42"}
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"p", EncryptionContext=ctx)[
        "CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext=dict(reversed(ctx.items())))[
        "Plaintext"] == b"p"
    for wrong in ({}, {"purpose": "test"}, {**ctx, "extra": "1"}, {"purpose": "TEST",
                                                                    "tenant": "ü-42"}):
        with pytest.raises(ClientError) as exc:
            kms.decrypt(CiphertextBlob=blob, EncryptionContext=wrong)
        assert error(exc) == ("InvalidCiphertextException", "", 400)
    with pytest.raises(ClientError) as exc:
        kms.decrypt(CiphertextBlob=blob)
    assert error(exc) == ("InvalidCiphertextException", "", 400)
    plain = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"p")["CiphertextBlob"]
    with pytest.raises(ClientError) as exc:
        kms.decrypt(CiphertextBlob=plain, EncryptionContext={"a": "b"})
    assert error(exc)[0] == "InvalidCiphertextException"


@pytest.mark.parametrize("region", ["version", "key id", "material id", "nonce", "body", "tag"])
def test_tampered_blob(kms: Any, key: dict[str, Any], region: str) -> None:
    """Any damage, including to the key id in the header, is InvalidCiphertextException."""
    blob = bytearray(kms.encrypt(KeyId=key["KeyId"], Plaintext=b"sixteen bytes!!!")[
        "CiphertextBlob"])
    offset = {"version": 0, "key id": 5, "material id": 30, "nonce": 55, "body": 65,
              "tag": len(blob) - 1}[region]
    blob[offset] ^= 0x01
    with pytest.raises(ClientError) as exc:
        kms.decrypt(CiphertextBlob=bytes(blob))
    assert error(exc) == ("InvalidCiphertextException", "", 400)


def test_blob_naming_no_key_is_invalid_ciphertext(kms: Any) -> None:
    """A well-formed blob whose key never existed is garbage, not a deleted key's blob."""
    forged = b"\x01" + uuid.uuid4().bytes + bytes(40)
    with pytest.raises(ClientError) as exc:
        kms.decrypt(CiphertextBlob=forged)
    assert error(exc) == ("InvalidCiphertextException", "", 400)


def test_blob_naming_another_existing_key_fails(kms: Any, key: dict[str, Any],
                                                other: dict[str, Any]) -> None:
    """Swap the key id in the header for another real key: authentication must fail."""
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"p")["CiphertextBlob"]
    forged = blob[:2] + uuid.UUID(other["KeyId"]).bytes + blob[18:]
    with pytest.raises(ClientError) as exc:
        kms.decrypt(CiphertextBlob=forged)
    assert error(exc) == ("InvalidCiphertextException", "", 400)


@pytest.mark.parametrize("blob", [b"x", b"\x01" * 44, b"\x02" + b"\x00" * 60])
def test_garbage_blob(kms: Any, blob: bytes) -> None:
    with pytest.raises(ClientError) as exc:
        kms.decrypt(CiphertextBlob=blob)
    assert error(exc) == ("InvalidCiphertextException", "", 400)


def test_invalid_ciphertext_has_no_message_member(module_server: ServerProcess, raw: Any,
                                                  kms: Any, key: dict[str, Any]) -> None:
    blob = bytearray(kms.encrypt(KeyId=key["KeyId"], Plaintext=b"p")["CiphertextBlob"])
    blob[-1] ^= 0xFF
    import base64  # noqa: PLC0415

    status, headers, body = raw(module_server, "TrentService.Decrypt",
                                {"CiphertextBlob": base64.b64encode(bytes(blob)).decode()})
    assert status == 400
    assert headers["content-type"] == "application/x-amz-json-1.1"
    assert json.loads(body) == {"__type": "InvalidCiphertextException"}
    assert headers["x-amzn-requestid"]


def test_incorrect_key(kms: Any, key: dict[str, Any], other: dict[str, Any]) -> None:
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"p")["CiphertextBlob"]
    for named in (other["KeyId"], other["Arn"]):
        with pytest.raises(ClientError) as exc:
            kms.decrypt(CiphertextBlob=blob, KeyId=named)
        assert error(exc) == ("IncorrectKeyException", INCORRECT_KEY, 400)
        with pytest.raises(ClientError) as exc:
            kms.re_encrypt(CiphertextBlob=blob, SourceKeyId=named,
                           DestinationKeyId=key["KeyId"])
        assert error(exc) == ("IncorrectKeyException", INCORRECT_KEY, 400)


def test_decrypt_key_id_not_found(kms: Any, key: dict[str, Any]) -> None:
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"p")["CiphertextBlob"]
    with pytest.raises(ClientError) as exc:
        kms.decrypt(CiphertextBlob=blob, KeyId="alias/none-such")
    assert error(exc) == ("NotFoundException",
                          f"Alias arn:aws:kms:{REGION}:{ACCOUNT}:alias/none-such is not found.",
                          400)


def test_decrypt_missing_blob(loose: Any) -> None:
    with pytest.raises(ClientError) as exc:
        loose.decrypt()
    assert error(exc) == ("ValidationException",
                          "1 validation error detected: Value null at 'ciphertextBlob' failed to "
                          "satisfy constraint: Member must not be null", 400)


def test_re_encrypt(kms: Any, key: dict[str, Any], other: dict[str, Any]) -> None:
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"move me",
                       EncryptionContext={"a": "1"})["CiphertextBlob"]
    resp = kms.re_encrypt(CiphertextBlob=blob, SourceEncryptionContext={"a": "1"},
                          DestinationKeyId=other["Arn"], DestinationEncryptionContext={"b": "2"})
    assert resp["SourceKeyId"] == key["Arn"]
    assert resp["KeyId"] == other["Arn"]
    assert resp["SourceEncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    assert resp["DestinationEncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    assert resp["SourceKeyMaterialId"] == key["CurrentKeyMaterialId"]
    assert resp["DestinationKeyMaterialId"] == other["CurrentKeyMaterialId"]
    new = resp["CiphertextBlob"]
    assert new[2:18] == uuid.UUID(other["KeyId"]).bytes
    out = kms.decrypt(CiphertextBlob=new, EncryptionContext={"b": "2"})
    assert (out["Plaintext"], out["KeyId"]) == (b"move me", other["Arn"])
    with pytest.raises(ClientError) as exc:
        kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=other["KeyId"])
    assert error(exc) == ("InvalidCiphertextException", "", 400)
    # Same key, new context; destination by alias.
    again = kms.re_encrypt(CiphertextBlob=new, SourceEncryptionContext={"b": "2"},
                           DestinationKeyId="alias/crypto")
    assert kms.decrypt(CiphertextBlob=again["CiphertextBlob"])["Plaintext"] == b"move me"


def test_generate_data_key(kms: Any, key: dict[str, Any]) -> None:
    for spec, size in (("AES_256", 32), ("AES_128", 16)):
        resp = kms.generate_data_key(KeyId="alias/crypto", KeySpec=spec,
                                     EncryptionContext={"k": "v"})
        assert len(resp["Plaintext"]) == size
        assert resp["KeyId"] == key["Arn"]
        assert resp["KeyMaterialId"] == key["CurrentKeyMaterialId"]
        assert kms.decrypt(CiphertextBlob=resp["CiphertextBlob"],
                           EncryptionContext={"k": "v"})["Plaintext"] == resp["Plaintext"]
    for n in (1, 1024):
        resp = kms.generate_data_key(KeyId=key["KeyId"], NumberOfBytes=n)
        assert len(resp["Plaintext"]) == n
    resp = kms.generate_data_key_without_plaintext(KeyId=key["Arn"], KeySpec="AES_256")
    assert "Plaintext" not in resp
    assert resp["KeyId"] == key["Arn"]
    assert len(kms.decrypt(CiphertextBlob=resp["CiphertextBlob"])["Plaintext"]) == 32


def test_generate_data_key_rules(kms: Any, loose: Any, key: dict[str, Any]) -> None:
    for call in (kms.generate_data_key, kms.generate_data_key_without_plaintext):
        with pytest.raises(ClientError) as exc:
            call(KeyId=key["KeyId"])
        assert error(exc) == ("ValidationException",
                              "Please specify either number of bytes or key spec.", 400)
        with pytest.raises(ClientError) as exc:
            call(KeyId=key["KeyId"], KeySpec="AES_256", NumberOfBytes=32)
        assert error(exc) == ("ValidationException",
                              "Please specify either number of bytes or key spec.", 400)
    with pytest.raises(ClientError) as exc:
        kms.generate_data_key(KeyId=key["KeyId"], NumberOfBytes=1025)
    assert error(exc) == ("ValidationException",
                          "1 validation error detected: Value '1025' at 'numberOfBytes' failed to "
                          "satisfy constraint: Member must have value less than or equal to 1024",
                          400)
    with pytest.raises(ClientError) as exc:
        loose.generate_data_key(KeyId=key["KeyId"], NumberOfBytes=0)
    assert error(exc) == ("ValidationException",
                          "1 validation error detected: Value '0' at 'numberOfBytes' failed to "
                          "satisfy constraint: Member must have value greater than or equal to 1",
                          400)
    with pytest.raises(ClientError) as exc:
        loose.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_512")
    assert error(exc) == ("ValidationException",
                          "1 validation error detected: Value 'AES_512' at 'keySpec' failed to "
                          "satisfy constraint: Member must satisfy enum value set: "
                          "[AES_256, AES_128]", 400)


def test_generate_random(kms: Any, loose: Any) -> None:
    for n in (1, 32, 1024):
        assert len(kms.generate_random(NumberOfBytes=n)["Plaintext"]) == n
    assert kms.generate_random(NumberOfBytes=32)["Plaintext"] != \
        kms.generate_random(NumberOfBytes=32)["Plaintext"]
    with pytest.raises(ClientError) as exc:
        kms.generate_random()
    assert error(exc) == ("ValidationException", "NumberOfBytes is required.", 400)
    with pytest.raises(ClientError) as exc:
        loose.generate_random(NumberOfBytes=0)
    assert error(exc) == ("ValidationException",
                          "1 validation error detected: Value '0' at 'numberOfBytes' failed to "
                          "satisfy constraint: Member must have value greater than or equal to 1",
                          400)
    with pytest.raises(ClientError) as exc:
        kms.generate_random(NumberOfBytes=1025)
    assert error(exc) == ("ValidationException",
                          "1 validation error detected: Value '1025' at 'numberOfBytes' failed to "
                          "satisfy constraint: Member must have value less than or equal to 1024",
                          400)


def test_dry_run(kms: Any, key: dict[str, Any], other: dict[str, Any]) -> None:
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"p")["CiphertextBlob"]
    calls = [
        lambda: kms.encrypt(KeyId=key["KeyId"], Plaintext=b"p", DryRun=True),
        lambda: kms.decrypt(CiphertextBlob=blob, DryRun=True),
        lambda: kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=other["KeyId"],
                               DryRun=True),
        lambda: kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256", DryRun=True),
        lambda: kms.generate_data_key_without_plaintext(KeyId=key["KeyId"], NumberOfBytes=8,
                                                        DryRun=True),
    ]
    for call in calls:
        with pytest.raises(ClientError) as exc:
            call()
        assert error(exc) == ("DryRunOperationException", DRY_RUN, 400)
    # DryRun still reports the real problem first.
    kms.disable_key(KeyId=other["KeyId"])
    try:
        with pytest.raises(ClientError) as exc:
            kms.encrypt(KeyId=other["KeyId"], Plaintext=b"p", DryRun=True)
        assert error(exc) == ("DisabledException", f"{other['Arn']} is disabled.", 400)
    finally:
        kms.enable_key(KeyId=other["KeyId"])


def test_decrypt_blob_from_another_region(module_server: ServerProcess, kms: Any,
                                          key: dict[str, Any]) -> None:
    """Region misconfiguration shows up in AWS as InvalidCiphertextException (no such key
    there); it does here too."""
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"p")["CiphertextBlob"]
    west = module_server.client("kms", region="eu-west-1")
    with pytest.raises(ClientError) as exc:
        west.decrypt(CiphertextBlob=blob)
    assert error(exc) == ("InvalidCiphertextException", "", 400)


def test_aliases_in_every_crypto_key_id(kms: Any, key: dict[str, Any],
                                        other: dict[str, Any]) -> None:
    other_alias = f"alias/crypto-other-{uuid.uuid4().hex[:6]}"
    kms.create_alias(AliasName=other_alias, TargetKeyId=other["KeyId"])
    other_alias_arn = f"arn:aws:kms:{REGION}:{ACCOUNT}:{other_alias}"
    blob = kms.encrypt(KeyId="alias/crypto", Plaintext=b"p")["CiphertextBlob"]
    for wrong in (other_alias, other_alias_arn):
        with pytest.raises(ClientError) as exc:
            kms.decrypt(CiphertextBlob=blob, KeyId=wrong)
        assert error(exc) == ("IncorrectKeyException", INCORRECT_KEY, 400)
    for ident in key_ids(key):
        resp = kms.generate_data_key_without_plaintext(KeyId=ident, NumberOfBytes=24)
        assert resp["KeyId"] == key["Arn"]
        resp = kms.generate_data_key(KeyId=ident, NumberOfBytes=24)
        assert resp["KeyId"] == key["Arn"]
    moved = kms.re_encrypt(CiphertextBlob=blob, SourceKeyId="alias/crypto",
                           DestinationKeyId=other_alias_arn)
    assert (moved["SourceKeyId"], moved["KeyId"]) == (key["Arn"], other["Arn"])
    assert kms.decrypt(CiphertextBlob=moved["CiphertextBlob"], KeyId=other_alias)[
        "Plaintext"] == b"p"


def test_blob_of_a_deleted_key(hsmkms_server: ServerProcess) -> None:
    kms = hsmkms_server.client("kms")
    meta = kms.create_key()["KeyMetadata"]
    blob = kms.encrypt(KeyId=meta["KeyId"], Plaintext=b"p")["CiphertextBlob"]
    kms.schedule_key_deletion(KeyId=meta["KeyId"], PendingWindowInDays=7)
    with pytest.raises(ClientError) as exc:
        kms.decrypt(CiphertextBlob=blob)
    assert error(exc) == ("KMSInvalidStateException", f"{meta['Arn']} is pending deletion.",
                          400)
    hsmkms_server.advance(7 * 86400 + 1)
    with pytest.raises(ClientError) as exc:
        kms.decrypt(CiphertextBlob=blob)
    assert error(exc) == ("NotFoundException", f"Key '{meta['Arn']}' does not exist", 400)


def test_encryption_algorithms_other_than_symmetric_default(kms: Any, key: dict[str, Any],
                                                           other: dict[str, Any]) -> None:
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"p",
                       EncryptionAlgorithm="SYMMETRIC_DEFAULT")["CiphertextBlob"]
    usage = ("InvalidKeyUsageException",
             "Algorithm RSAES_OAEP_SHA_256 is incompatible with key spec SYMMETRIC_DEFAULT.", 400)
    calls = [
        lambda: kms.encrypt(KeyId=key["KeyId"], Plaintext=b"p",
                            EncryptionAlgorithm="RSAES_OAEP_SHA_256"),
        lambda: kms.decrypt(CiphertextBlob=blob, EncryptionAlgorithm="RSAES_OAEP_SHA_256"),
        lambda: kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=other["KeyId"],
                               SourceEncryptionAlgorithm="RSAES_OAEP_SHA_256"),
        lambda: kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=other["KeyId"],
                               DestinationEncryptionAlgorithm="RSAES_OAEP_SHA_256"),
    ]
    for call in calls:
        with pytest.raises(ClientError) as exc:
            call()
        assert error(exc) == usage
    with pytest.raises(ClientError) as exc:
        kms.encrypt(KeyId=key["KeyId"], Plaintext=b"p", EncryptionAlgorithm="SM2PKE")
    assert error(exc) == ("InvalidKeyUsageException",
                          "Algorithm SM2PKE is incompatible with key spec SYMMETRIC_DEFAULT.", 400)
    assert kms.decrypt(CiphertextBlob=blob, EncryptionAlgorithm="SYMMETRIC_DEFAULT")[
        "Plaintext"] == b"p"


def test_encryption_context_too_large_for_the_blob(kms: Any, key: dict[str, Any]) -> None:
    """Each pair is length-prefixed with 2 bytes in the AAD: a longer item is refused, not a
    500 that botocore would retry."""
    message = ("ValidationException", "Each encryption context key and value must be at most "
               "65535 bytes of UTF-8.", 400)
    for context in ({"k": "v" * 65536}, {"k" * 65536: "v"}, {"k": "\u00e9" * 32768}):
        with pytest.raises(ClientError) as exc:
            kms.encrypt(KeyId=key["KeyId"], Plaintext=b"p", EncryptionContext=context)
        assert error(exc) == message
        with pytest.raises(ClientError) as exc:
            kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256",
                                  EncryptionContext=context)
        assert error(exc) == message
    largest = {"k": "v" * 65535}
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"p", EncryptionContext=largest)[
        "CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext=largest)["Plaintext"] == b"p"
    with pytest.raises(ClientError) as exc:
        kms.decrypt(CiphertextBlob=blob, EncryptionContext={"k": "v" * 65536})
    assert error(exc) == message


def test_dry_run_ignoring_the_ciphertext(kms: Any, loose: Any, key: dict[str, Any],
                                         other: dict[str, Any]) -> None:
    """DryRunModifiers=[IGNORE_CIPHERTEXT]: the key named is checked, no blob is needed."""
    with pytest.raises(ClientError) as exc:
        kms.decrypt(KeyId=key["KeyId"], DryRun=True, DryRunModifiers=["IGNORE_CIPHERTEXT"])
    assert error(exc) == ("DryRunOperationException", DRY_RUN, 400)
    with pytest.raises(ClientError) as exc:
        kms.decrypt(KeyId=key["KeyId"], CiphertextBlob=b"garbage", DryRun=True,
                    DryRunModifiers=["IGNORE_CIPHERTEXT"])
    assert error(exc) == ("DryRunOperationException", DRY_RUN, 400)
    with pytest.raises(ClientError) as exc:
        kms.re_encrypt(SourceKeyId=key["KeyId"], DestinationKeyId=other["KeyId"], DryRun=True,
                       DryRunModifiers=["IGNORE_CIPHERTEXT"])
    assert error(exc) == ("DryRunOperationException", DRY_RUN, 400)
    with pytest.raises(ClientError) as exc:
        loose.decrypt(DryRun=True, DryRunModifiers=["IGNORE_CIPHERTEXT"])
    assert error(exc) == ("ValidationException", "KeyId is required when DryRunModifiers "
                          "includes IGNORE_CIPHERTEXT.", 400)
    with pytest.raises(ClientError) as exc:
        loose.re_encrypt(DestinationKeyId=other["KeyId"], DryRun=True,
                         DryRunModifiers=["IGNORE_CIPHERTEXT"])
    assert error(exc) == ("ValidationException", "SourceKeyId is required when "
                          "DryRunModifiers includes IGNORE_CIPHERTEXT.", 400)
    # The key is still checked: a disabled key fails as the real call would.
    disabled = kms.create_key()["KeyMetadata"]
    kms.disable_key(KeyId=disabled["KeyId"])
    with pytest.raises(ClientError) as exc:
        kms.decrypt(KeyId=disabled["KeyId"], DryRun=True, DryRunModifiers=["IGNORE_CIPHERTEXT"])
    assert error(exc) == ("DisabledException", f"{disabled['Arn']} is disabled.", 400)
    with pytest.raises(ClientError) as exc:
        kms.re_encrypt(SourceKeyId=key["KeyId"], DestinationKeyId=disabled["KeyId"],
                       DryRun=True, DryRunModifiers=["IGNORE_CIPHERTEXT"])
    assert error(exc) == ("DisabledException", f"{disabled['Arn']} is disabled.", 400)
    # Without DryRun the modifier changes nothing: the blob is required.
    with pytest.raises(ClientError) as exc:
        loose.decrypt(KeyId=key["KeyId"], DryRunModifiers=["IGNORE_CIPHERTEXT"])
    assert error(exc)[0] == "ValidationException"


def test_key_spec_and_customer_master_key_spec(kms: Any) -> None:
    meta = kms.create_key(CustomerMasterKeySpec="SYMMETRIC_DEFAULT")["KeyMetadata"]
    assert (meta["KeySpec"], meta["CustomerMasterKeySpec"]) == ("SYMMETRIC_DEFAULT",
                                                                "SYMMETRIC_DEFAULT")
    with pytest.raises(ClientError) as exc:
        kms.create_key(KeySpec="SYMMETRIC_DEFAULT", CustomerMasterKeySpec="SYMMETRIC_DEFAULT")
    assert error(exc) == ("ValidationException",
                          "You cannot specify KeySpec and CustomerMasterKeySpec in the same "
                          "request. CustomerMasterKeySpec is deprecated.", 400)
