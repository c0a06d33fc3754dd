"""GenerateMac and VerifyMac with HMAC keys over a real server (spec kms-keys.md 2.6)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from hsmkms.testing.server import ServerProcess

SPECS = {"HMAC_224": 28, "HMAC_256": 32, "HMAC_384": 48, "HMAC_512": 64}


@pytest.fixture(scope="module")
def kms(module_server: ServerProcess) -> Any:
    return module_server.client("kms")


@pytest.fixture(scope="module")
def keys(kms: Any) -> dict[str, dict[str, Any]]:
    return {spec: kms.create_key(KeySpec=spec, KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]
            for spec in SPECS}


def _error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    resp = exc.value.response
    return (resp["Error"]["Code"], resp["Error"]["Message"],
            resp["ResponseMetadata"]["HTTPStatusCode"])


@pytest.mark.parametrize("spec", list(SPECS))
def test_generate_and_verify(kms: Any, keys: dict[str, dict[str, Any]], spec: str) -> None:
    meta = keys[spec]
    algorithm = f"HMAC_SHA_{spec[5:]}"
    out = kms.generate_mac(KeyId=meta["KeyId"], Message=b"data", MacAlgorithm=algorithm)
    assert (out["KeyId"], out["MacAlgorithm"], len(out["Mac"])) == (
        meta["Arn"], algorithm, SPECS[spec])
    # HMAC is deterministic: the same key and message give the same MAC.
    assert kms.generate_mac(KeyId=meta["Arn"], Message=b"data",
                            MacAlgorithm=algorithm)["Mac"] == out["Mac"]
    assert kms.generate_mac(KeyId=meta["KeyId"], Message=b"datb",
                            MacAlgorithm=algorithm)["Mac"] != out["Mac"]
    verified = kms.verify_mac(KeyId=meta["KeyId"], Message=b"data", Mac=out["Mac"],
                              MacAlgorithm=algorithm)
    verified.pop("ResponseMetadata")
    assert verified == {"KeyId": meta["Arn"], "MacValid": True, "MacAlgorithm": algorithm}
    for message, mac in ((b"datb", out["Mac"]), (b"data", out["Mac"][:-1]),
                         (b"data", bytes([out["Mac"][0] ^ 1]) + out["Mac"][1:])):
        with pytest.raises(ClientError) as exc:
            kms.verify_mac(KeyId=meta["KeyId"], Message=message, Mac=mac,
                           MacAlgorithm=algorithm)
        assert _error(exc) == ("KMSInvalidMacException", "", 400)


def test_two_keys_of_one_spec_differ(kms: Any, keys: dict[str, dict[str, Any]]) -> None:
    other = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]
    macs = {kms.generate_mac(KeyId=k, Message=b"m", MacAlgorithm="HMAC_SHA_256")["Mac"]
            for k in (other["KeyId"], keys["HMAC_256"]["KeyId"])}
    assert len(macs) == 2


@pytest.mark.parametrize(("spec", "algorithm"), [("HMAC_224", "HMAC_SHA_256"),
                                                 ("HMAC_256", "HMAC_SHA_512")])
def test_algorithm_of_another_spec(kms: Any, keys: dict[str, dict[str, Any]], spec: str,
                                   algorithm: str) -> None:
    message = f"Algorithm {algorithm} is incompatible with key spec {spec}."
    with pytest.raises(ClientError) as exc:
        kms.generate_mac(KeyId=keys[spec]["KeyId"], Message=b"m", MacAlgorithm=algorithm)
    assert _error(exc) == ("InvalidKeyUsageException", message, 400)
    with pytest.raises(ClientError) as exc:
        kms.verify_mac(KeyId=keys[spec]["KeyId"], Message=b"m", Mac=b"m" * 32,
                       MacAlgorithm=algorithm)
    assert _error(exc) == ("InvalidKeyUsageException", message, 400)


def test_unknown_algorithm_is_a_model_error(module_server: ServerProcess,
                                            keys: dict[str, dict[str, Any]]) -> None:
    loose = module_server.client("kms", config=Config(parameter_validation=False))
    with pytest.raises(ClientError) as exc:
        loose.generate_mac(KeyId=keys["HMAC_256"]["KeyId"], Message=b"m", MacAlgorithm="INVALID")
    code, message, status = _error(exc)
    assert (code, status) == ("ValidationException", 400)
    assert message.startswith("1 validation error detected: Value 'INVALID' at 'macAlgorithm' "
                              "failed to satisfy constraint: Member must satisfy enum value set: ")
    assert all(f"HMAC_SHA_{b}" in message for b in (224, 256, 384, 512))


def test_mac_needs_an_hmac_key(kms: Any) -> None:
    meta = kms.create_key()["KeyMetadata"]
    with pytest.raises(ClientError) as exc:
        kms.generate_mac(KeyId=meta["KeyId"], Message=b"m", MacAlgorithm="HMAC_SHA_256")
    assert _error(exc) == ("InvalidKeyUsageException", (f"{meta['Arn']} key usage is "
                           "ENCRYPT_DECRYPT which is not valid for GenerateMac."), 400)


def test_hmac_keys_do_not_encrypt(kms: Any, keys: dict[str, dict[str, Any]]) -> None:
    meta = keys["HMAC_512"]
    with pytest.raises(ClientError) as exc:
        kms.encrypt(KeyId=meta["KeyId"], Plaintext=b"p")
    assert _error(exc) == ("InvalidKeyUsageException", (f"{meta['Arn']} key usage is "
                           "GENERATE_VERIFY_MAC which is not valid for Encrypt."), 400)


def test_disabled_hmac_key(kms: Any) -> None:
    meta = kms.create_key(KeySpec="HMAC_384", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]
    mac = kms.generate_mac(KeyId=meta["KeyId"], Message=b"m", MacAlgorithm="HMAC_SHA_384")["Mac"]
    kms.disable_key(KeyId=meta["KeyId"])
    for call in (lambda: kms.generate_mac(KeyId=meta["KeyId"], Message=b"m",
                                          MacAlgorithm="HMAC_SHA_384"),
                 lambda: kms.verify_mac(KeyId=meta["KeyId"], Message=b"m", Mac=mac,
                                        MacAlgorithm="HMAC_SHA_384")):
        with pytest.raises(ClientError) as exc:
            call()
        assert _error(exc) == ("DisabledException", f"{meta['Arn']} is disabled.", 400)
    kms.enable_key(KeyId=meta["KeyId"])
    assert kms.verify_mac(KeyId=meta["KeyId"], Message=b"m", Mac=mac,
                          MacAlgorithm="HMAC_SHA_384")["MacValid"] is True


def test_decrypt_naming_an_hmac_key_is_the_wrong_key(kms: Any,
                                                     keys: dict[str, dict[str, Any]]) -> None:
    """A symmetric ciphertext decrypted with KeyId = an HMAC key: AWS answers
    IncorrectKeyException, not a key-usage error (LocalStack's recording of real AWS,
    test_error_messaging_for_invalid_keys: the ciphertext's key is compared first). An HMAC key
    is no asymmetric key whose ciphertexts carry no header."""
    blob = kms.encrypt(KeyId=kms.create_key()["KeyMetadata"]["KeyId"],
                       Plaintext=b"p")["CiphertextBlob"]
    with pytest.raises(ClientError) as exc:
        kms.decrypt(CiphertextBlob=blob, KeyId=keys["HMAC_256"]["KeyId"])
    assert _error(exc) == ("IncorrectKeyException", "The key ID in the request does not identify "
                           "a CMK that can perform this operation.", 400)
