"""Every KeySpec x KeyUsage cell of CreateKey, against a real server with boto3 (spec
kms-keys.md 1.1, 1.2): a valid pair makes a key whose DescribeKey (and GetPublicKey, for an
asymmetric key) reports exactly one algorithm list, in AWS's order; an invalid pair answers
AWS's ValidationException and creates nothing. The expected lists are written here, not read
from hsmkms.kms.keyspecs, so a wrong row in the table fails."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from conftest import DUMMY_AUTHORIZATION

from hsmkms.testing.server import ServerProcess

RSA_SIGN = ["RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384",
            "RSASSA_PKCS1_V1_5_SHA_512", "RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384",
            "RSASSA_PSS_SHA_512"]
RSA_ENCRYPT = ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]
USAGES = ("ENCRYPT_DECRYPT", "SIGN_VERIFY", "GENERATE_VERIFY_MAC", "KEY_AGREEMENT",
          "ENCAPSULATE_DECAPSULATE")
MEMBER = {"ENCRYPT_DECRYPT": "EncryptionAlgorithms", "SIGN_VERIFY": "SigningAlgorithms",
          "GENERATE_VERIFY_MAC": "MacAlgorithms", "KEY_AGREEMENT": "KeyAgreementAlgorithms",
          "ENCAPSULATE_DECAPSULATE": "EncapsulationAlgorithms"}
ALGORITHM_MEMBERS = set(MEMBER.values())

#: Spec -> valid usage -> the algorithm list AWS reports (kms-keys.md 1.1).
VALID: dict[str, dict[str, list[str]]] = {
    "SYMMETRIC_DEFAULT": {"ENCRYPT_DECRYPT": ["SYMMETRIC_DEFAULT"]},
    **{f"HMAC_{b}": {"GENERATE_VERIFY_MAC": [f"HMAC_SHA_{b}"]} for b in (224, 256, 384, 512)},
    **{f"RSA_{b}": {"ENCRYPT_DECRYPT": RSA_ENCRYPT, "SIGN_VERIFY": RSA_SIGN}
       for b in (2048, 3072, 4096)},
    "ECC_NIST_P256": {"SIGN_VERIFY": ["ECDSA_SHA_256"], "KEY_AGREEMENT": ["ECDH"]},
    "ECC_NIST_P384": {"SIGN_VERIFY": ["ECDSA_SHA_384"], "KEY_AGREEMENT": ["ECDH"]},
    "ECC_NIST_P521": {"SIGN_VERIFY": ["ECDSA_SHA_512"], "KEY_AGREEMENT": ["ECDH"]},
    "ECC_SECG_P256K1": {"SIGN_VERIFY": ["ECDSA_SHA_256"]},
    "ECC_NIST_EDWARDS25519": {"SIGN_VERIFY": ["ED25519_SHA_512", "ED25519_PH_SHA_512"]},
    **{f"ML_DSA_{n}": {"SIGN_VERIFY": ["ML_DSA_SHAKE_256"]} for n in (44, 65, 87)},
    **{f"ML_KEM_{n}": {"ENCAPSULATE_DECAPSULATE": ["ML_KEM"]} for n in (512, 768, 1024)},
    "SM2": {"ENCRYPT_DECRYPT": ["SM2PKE"], "SIGN_VERIFY": ["SM2DSA"], "KEY_AGREEMENT": ["ECDH"]},
}
#: SM2 exists in the China Regions only.
CHINA = "cn-north-1"
CELLS = [(spec, usage) for spec in VALID for usage in USAGES]


def _region(spec: str) -> str:
    return CHINA if spec == "SM2" else "us-east-1"


@pytest.fixture(scope="module")
def clients(module_server: ServerProcess) -> Iterator[dict[str, Any]]:
    return {"us-east-1": module_server.client("kms"),
           CHINA: module_server.client("kms", region=CHINA)}


def _error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    resp = exc.value.response
    return (resp["Error"]["Code"], resp["Error"]["Message"],
            resp["ResponseMetadata"]["HTTPStatusCode"])


def _count(kms: Any) -> int:
    return len(kms.list_keys(Limit=1000)["Keys"])


@pytest.mark.parametrize(("spec", "usage"), CELLS, ids=[f"{s}-{u}" for s, u in CELLS])
def test_create_key_cell(clients: dict[str, Any], spec: str, usage: str) -> None:
    kms = clients[_region(spec)]
    expected = VALID[spec].get(usage)
    if expected is None:
        before = _count(kms)
        with pytest.raises(ClientError) as exc:
            kms.create_key(KeySpec=spec, KeyUsage=usage)
        assert _error(exc) == ("ValidationException",
                               f"KeyUsage {usage} is not compatible with KeySpec {spec}", 400)
        assert _count(kms) == before
        return
    meta = kms.create_key(KeySpec=spec, KeyUsage=usage)["KeyMetadata"]
    for found in (meta, kms.describe_key(KeyId=meta["KeyId"])["KeyMetadata"]):
        assert (found["KeySpec"], found["CustomerMasterKeySpec"], found["KeyUsage"]) == (
            spec, spec, usage)
        assert {m: found[m] for m in ALGORITHM_MEMBERS if m in found} == {MEMBER[usage]: expected}
        # Only symmetric encryption keys have key material ids (kms-keys.md 1.1).
        assert ("CurrentKeyMaterialId" in found) == (spec == "SYMMETRIC_DEFAULT")
        assert found["KeyState"] == "Enabled"
        assert found["MultiRegion"] is False
    if spec.startswith(("HMAC", "SYMMETRIC")):
        return
    public = kms.get_public_key(KeyId=meta["Arn"])
    assert (public["KeyId"], public["KeySpec"], public["CustomerMasterKeySpec"],
            public["KeyUsage"]) == (meta["Arn"], spec, spec, usage)
    assert {m: public[m] for m in ALGORITHM_MEMBERS if m in public} == {MEMBER[usage]: expected}


@pytest.mark.parametrize("spec", [s for s in VALID if s != "SYMMETRIC_DEFAULT"])
def test_key_usage_is_required_for_every_other_spec(clients: dict[str, Any], spec: str) -> None:
    kms = clients[_region(spec)]
    with pytest.raises(ClientError) as exc:
        kms.create_key(KeySpec=spec)
    assert _error(exc) == ("ValidationException", ("You must specify a KeyUsage value for all "
                           "KMS keys except for symmetric encryption keys."), 400)


def test_the_deprecated_spec_member_works_alone_but_not_with_key_spec(
        clients: dict[str, Any]) -> None:
    kms = clients["us-east-1"]
    meta = kms.create_key(CustomerMasterKeySpec="ECC_NIST_P256",
                          KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    assert (meta["KeySpec"], meta["SigningAlgorithms"]) == ("ECC_NIST_P256", ["ECDSA_SHA_256"])
    with pytest.raises(ClientError) as exc:
        kms.create_key(KeySpec="ECC_NIST_P256", CustomerMasterKeySpec="ECC_NIST_P256",
                       KeyUsage="SIGN_VERIFY")
    assert _error(exc) == ("ValidationException", ("You cannot specify KeySpec and "
                           "CustomerMasterKeySpec in the same request. CustomerMasterKeySpec "
                           "is deprecated."), 400)


def test_usage_without_spec_means_symmetric(clients: dict[str, Any]) -> None:
    with pytest.raises(ClientError) as exc:
        clients["us-east-1"].create_key(KeyUsage="SIGN_VERIFY")
    assert _error(exc) == ("ValidationException",
                           "KeyUsage SIGN_VERIFY is not compatible with KeySpec SYMMETRIC_DEFAULT",
                           400)


def test_china_keys_have_aws_cn_arns(clients: dict[str, Any]) -> None:
    meta = clients[CHINA].create_key()["KeyMetadata"]
    assert meta["Arn"] == f"arn:aws-cn:kms:{CHINA}:{meta['AWSAccountId']}:key/{meta['KeyId']}"
    policy = clients[CHINA].get_key_policy(KeyId=meta["KeyId"])["Policy"]
    assert f"arn:aws-cn:iam::{meta['AWSAccountId']}:root" in policy


@pytest.mark.parametrize(("spec", "usage", "region"), [
    ("SM2", "SIGN_VERIFY", "us-east-1"), ("ML_KEM_768", "ENCAPSULATE_DECAPSULATE", CHINA),
    ("ML_DSA_44", "SIGN_VERIFY", CHINA)])
def test_specs_are_offered_in_their_regions_only(clients: dict[str, Any], spec: str,
                                                 usage: str, region: str) -> None:
    kms = clients[region]
    before = _count(kms)
    with pytest.raises(ClientError) as exc:
        kms.create_key(KeySpec=spec, KeyUsage=usage)
    assert _error(exc) == ("UnsupportedOperationException",
                           f"KeySpec {spec} is not available in the Region {region}.", 400)
    assert _count(kms) == before


@pytest.mark.parametrize(("operation", "body"), [
    ("CreateKey", {"KeySpec": [], "KeyUsage": "SIGN_VERIFY"}),
    ("CreateKey", {"KeySpec": {"RSA_4096": 1}}),
    ("GenerateDataKeyPair", {"KeyId": "alias/none", "KeyPairSpec": ["RSA_2048"]}),
    ("GenerateDataKeyPairWithoutPlaintext", {"KeyId": "alias/none", "KeyPairSpec": {}}),
])
def test_wrong_typed_spec_members_over_http(module_server: ServerProcess, operation: str,
                                            body: dict[str, Any]) -> None:
    """These requests run in a worker thread that first looks at the spec member (to make RSA
    material off the lock); a list or object there once crashed it with a 500. The model's
    type check answers, over HTTP, and nothing is created."""
    kms = module_server.client("kms")
    before = len(kms.list_keys()["Keys"])
    request = urllib.request.Request(module_server.endpoint + "/", json.dumps(body).encode(),
                                     method="POST", headers={
        "x-amz-target": f"TrentService.{operation}", "authorization": DUMMY_AUTHORIZATION,
        "content-type": "application/x-amz-json-1.1"})
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(request)  # noqa: S310 - our own test server
    assert exc.value.code == 400
    assert json.loads(exc.value.read())["__type"] == "SerializationException"
    assert len(kms.list_keys()["Keys"]) == before
