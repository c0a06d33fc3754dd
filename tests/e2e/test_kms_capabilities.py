"""Every cell of the origin x operation capability table (hsmkms.kms.capabilities), driven with
boto3 against a real server: a key of each origin (AWS_KMS, AWS_CLOUDHSM in a connected
CloudHSM key store, EXTERNAL with its material imported) gets a result for every supported
operation, and exactly the error AWS (or, for what hsmkms does not implement yet,
docs/compatibility.md) documents - code, message with the key's ARN, HTTP status - for every
other one. The expected answers are written here, not
read from the table, so a wrong row or a changed message fails; and the table and
:data:`EXPECTED` must name the same operations and origins, so a new row needs its answers."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore import xform_name
from botocore.exceptions import ClientError
from guide_helpers import Env, build_env, module_env_server
from import_helpers import import_material

from hsmkms.kms import capabilities
from hsmkms.testing.server import ServerProcess

POLICY = ('{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":'
          '"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}')
Request = Callable[[Any, str], dict[str, Any]]


def _with_key(**params: Any) -> Request:
    return lambda _kms, key_id: {"KeyId": key_id, **params}


GRANTEE = "arn:aws:iam::444455556666:root"


def _pending(kms: Any, key_id: str) -> dict[str, Any]:
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    return {"KeyId": key_id}


def _blob(kms: Any, key_id: str) -> bytes:
    return bytes(kms.encrypt(KeyId=key_id, Plaintext=b"capabilities")["CiphertextBlob"])


def _grant(kms: Any, key_id: str) -> dict[str, Any]:
    grant_id = kms.create_grant(KeyId=key_id, GranteePrincipal=GRANTEE,
                                Operations=["Encrypt"])["GrantId"]
    return {"KeyId": key_id, "GrantId": grant_id}


def _alias(kms: Any, key_id: str) -> dict[str, Any]:
    name = f"alias/cap-{uuid.uuid4().hex}"
    kms.create_alias(AliasName=name, TargetKeyId=key_id)
    return {"AliasName": name, "TargetKeyId": key_id}


#: A valid request of every operation of the table, for an existing key of the origin (the
#: setup a request needs - a pending deletion, a ciphertext, an alias - is done first).
REQUESTS: dict[str, Request] = {
    "DescribeKey": _with_key(), "EnableKey": _with_key(), "DisableKey": _with_key(),
    "ScheduleKeyDeletion": _with_key(PendingWindowInDays=7), "CancelKeyDeletion": _pending,
    "UpdateKeyDescription": _with_key(Description="capabilities"),
    "TagResource": _with_key(Tags=[{"TagKey": "k", "TagValue": "v"}]),
    "UntagResource": _with_key(TagKeys=["k"]), "ListResourceTags": _with_key(),
    "GetKeyPolicy": _with_key(PolicyName="default"),
    "PutKeyPolicy": _with_key(PolicyName="default", Policy=POLICY),
    "ListKeyPolicies": _with_key(), "GetKeyLastUsage": _with_key(),
    "CreateAlias": lambda _kms, key_id: {"AliasName": f"alias/cap-{uuid.uuid4().hex}",
                                         "TargetKeyId": key_id},
    "UpdateAlias": _alias, "ListAliases": _with_key(),
    "Encrypt": _with_key(Plaintext=b"capabilities"),
    "Decrypt": lambda kms, key_id: {"CiphertextBlob": _blob(kms, key_id)},
    "ReEncrypt": lambda kms, key_id: {"CiphertextBlob": _blob(kms, key_id),
                                      "DestinationKeyId": key_id},
    "GenerateDataKey": _with_key(KeySpec="AES_256"),
    "GenerateDataKeyWithoutPlaintext": _with_key(NumberOfBytes=16),
    "EnableKeyRotation": _with_key(), "DisableKeyRotation": _with_key(),
    "GetKeyRotationStatus": _with_key(), "RotateKeyOnDemand": _with_key(),
    "ListKeyRotations": _with_key(), "ReplicateKey": _with_key(ReplicaRegion="us-west-2"),
    "UpdatePrimaryRegion": _with_key(PrimaryRegion="us-west-2"),
    "GenerateDataKeyPair": _with_key(KeyPairSpec="RSA_2048"),
    "GenerateDataKeyPairWithoutPlaintext": _with_key(KeyPairSpec="ECC_NIST_P256"),
    "GetParametersForImport": _with_key(WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                        WrappingKeySpec="RSA_2048"),
    "ImportKeyMaterial": _with_key(ImportToken=b"token", EncryptedKeyMaterial=b"material",
                                   ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE"),
    "DeleteImportedKeyMaterial": _with_key(),
    "GetPublicKey": _with_key(),
    "Sign": _with_key(Message=b"m", SigningAlgorithm="ECDSA_SHA_256"),
    "Verify": _with_key(Message=b"m", Signature=b"s", SigningAlgorithm="ECDSA_SHA_256"),
    "GenerateMac": _with_key(Message=b"m", MacAlgorithm="HMAC_SHA_256"),
    "VerifyMac": _with_key(Message=b"m", Mac=b"m" * 32, MacAlgorithm="HMAC_SHA_256"),
    "DeriveSharedSecret": _with_key(KeyAgreementAlgorithm="ECDH", PublicKey=b"p"),
    "Encapsulate": _with_key(EncapsulationAlgorithm="ML_KEM"),
    "Decapsulate": _with_key(EncapsulationAlgorithm="ML_KEM",
                             SharedSecretCiphertextBlob=b"c" * 768),
    "CreateGrant": _with_key(GranteePrincipal=GRANTEE, Operations=["Encrypt", "Decrypt"]),
    "ListGrants": _with_key(), "RetireGrant": _grant, "RevokeGrant": _grant,
}
#: What a call answers: (error code, message, HTTP status); a result is :data:`RESULT`.
Answer = tuple[str | None, str | None, int]
RESULT: Answer = (None, None, 200)
#: AWS's UnsupportedOperationException for a key whose origin does not allow the operation
#: (KMS DG keystore-cloudhsm "Unsupported features"; KMS API reference, import operations).
#: ``{arn}`` stands for the key's ARN.
UNSUPPORTED_AWS_KMS: Answer = (
    "UnsupportedOperationException",
    "{arn} origin is AWS_KMS which is not valid for this operation.", 400)
UNSUPPORTED_AWS_CLOUDHSM: Answer = (
    "UnsupportedOperationException",
    "{arn} origin is AWS_CLOUDHSM which is not valid for this operation.", 400)
UNSUPPORTED_EXTERNAL: Answer = (
    "UnsupportedOperationException",
    "{arn} origin is EXTERNAL which is not valid for this operation.", 400)
#: Supported for every origin that has keys (EXTERNAL: imported key material, issue 12 item 3).
BOTH: dict[str, Answer] = {"AWS_KMS": RESULT, "AWS_CLOUDHSM": RESULT, "EXTERNAL": RESULT}
INVALID_TOKEN: Answer = ("InvalidImportTokenException",
                         "The import token is not valid for KMS key {arn}.", 400)


NOT_PRIMARY: Answer = ("UnsupportedOperationException",
                       "{arn} is not a multi-region primary key.", 400)
NOT_ASYMMETRIC: Answer = (
    "UnsupportedOperationException",
    "{arn} is not an asymmetric KMS key. GetPublicKey works only with asymmetric KMS keys.", 400)


def _usage(operation: str) -> Answer:
    """AWS's InvalidKeyUsageException for a symmetric encryption key (LS recordings)."""
    return ("InvalidKeyUsageException",
            f"{{arn}} key usage is ENCRYPT_DECRYPT which is not valid for {operation}.", 400)


#: Every operation of the table x origin: the answer a valid request gets.
EXPECTED: dict[str, dict[str, Answer]] = {
    "CreateKey": {
        "AWS_KMS": RESULT, "AWS_CLOUDHSM": RESULT, "EXTERNAL": RESULT,
        "EXTERNAL_KEY_STORE": ("NotImplementedYetException",
                               ("hsmkms does not implement KMS keys with Origin "
                                "EXTERNAL_KEY_STORE yet."), 400)},
    "DescribeKey": BOTH, "EnableKey": BOTH, "DisableKey": BOTH, "ScheduleKeyDeletion": BOTH,
    "CancelKeyDeletion": BOTH, "UpdateKeyDescription": BOTH, "TagResource": BOTH,
    "UntagResource": BOTH, "ListResourceTags": BOTH, "GetKeyPolicy": BOTH,
    "PutKeyPolicy": BOTH, "ListKeyPolicies": BOTH, "GetKeyLastUsage": BOTH, "CreateAlias": BOTH, "UpdateAlias": BOTH,
    "ListAliases": BOTH, "Encrypt": BOTH, "Decrypt": BOTH, "ReEncrypt": BOTH,
    "GenerateDataKey": BOTH, "GenerateDataKeyWithoutPlaintext": BOTH,
    # Grants behave alike for every origin.
    "CreateGrant": BOTH, "ListGrants": BOTH, "RetireGrant": BOTH, "RevokeGrant": BOTH,
    # AWS refuses rotation for keys in CloudHSM key stores; keys with imported material
    # rotate on demand only (a new one is PendingImport). No EXTERNAL key can be made yet:
    # their cells are written, not run (KEY_ORIGINS).
    **{op: {"AWS_KMS": RESULT, "AWS_CLOUDHSM": UNSUPPORTED_AWS_CLOUDHSM,
            "EXTERNAL": UNSUPPORTED_EXTERNAL}
       for op in ("EnableKeyRotation", "DisableKeyRotation")},
    **{op: {"AWS_KMS": RESULT, "AWS_CLOUDHSM": UNSUPPORTED_AWS_CLOUDHSM, "EXTERNAL": RESULT}
       for op in ("GetKeyRotationStatus", "ListKeyRotations")},
    # The EXTERNAL key here has its material and none pending rotation (LS recording).
    "RotateKeyOnDemand": {"AWS_KMS": RESULT, "AWS_CLOUDHSM": UNSUPPORTED_AWS_CLOUDHSM,
                          "EXTERNAL": ("KMSInvalidStateException",
                                       "No available key material pending rotation for the "
                                       "key: {arn}.", 400)},
    # A single-Region key is no multi-Region primary (LS test_replicate_replica_key_should_fail
    # for the message); CloudHSM keys are never multi-Region. EXTERNAL keys may be
    # multi-Region primaries (no such key is made here).
    **dict.fromkeys(("ReplicateKey", "UpdatePrimaryRegion"), {
        "AWS_KMS": NOT_PRIMARY, "EXTERNAL": NOT_PRIMARY,
        "AWS_CLOUDHSM": UNSUPPORTED_AWS_CLOUDHSM}),
    # AWS refuses data key pairs under keys in CloudHSM key stores.
    "GenerateDataKeyPair": {"AWS_KMS": RESULT, "AWS_CLOUDHSM": UNSUPPORTED_AWS_CLOUDHSM,
                            "EXTERNAL": RESULT},
    "GenerateDataKeyPairWithoutPlaintext": {"AWS_KMS": RESULT, "EXTERNAL": RESULT,
                                            "AWS_CLOUDHSM": UNSUPPORTED_AWS_CLOUDHSM},
    # Both origins hold symmetric encryption keys only here: the key usage refuses these
    # (GetPublicKey: the key is not asymmetric).
    "GetPublicKey": {"AWS_KMS": NOT_ASYMMETRIC, "AWS_CLOUDHSM": NOT_ASYMMETRIC,
                     "EXTERNAL": NOT_ASYMMETRIC},
    **{op: {"AWS_KMS": _usage(op), "AWS_CLOUDHSM": _usage(op), "EXTERNAL": _usage(op)} for op in (
        "Sign", "Verify", "GenerateMac", "VerifyMac", "DeriveSharedSecret", "Encapsulate",
        "Decapsulate")},
    # Only EXTERNAL keys may import key material; no other origin can (the request's token is
    # no token at all).
    "GetParametersForImport": {"AWS_KMS": UNSUPPORTED_AWS_KMS,
                               "AWS_CLOUDHSM": UNSUPPORTED_AWS_CLOUDHSM, "EXTERNAL": RESULT},
    "ImportKeyMaterial": {"AWS_KMS": UNSUPPORTED_AWS_KMS,
                          "AWS_CLOUDHSM": UNSUPPORTED_AWS_CLOUDHSM, "EXTERNAL": INVALID_TOKEN},
    "DeleteImportedKeyMaterial": {"AWS_KMS": UNSUPPORTED_AWS_KMS,
                                  "AWS_CLOUDHSM": UNSUPPORTED_AWS_CLOUDHSM, "EXTERNAL": RESULT},
}
KEY_ORIGINS = ("AWS_KMS", "AWS_CLOUDHSM", "EXTERNAL")
#: Rows without an EXTERNAL cell (rotation, multi-Region) are not implemented for it yet.
CELLS = [(op, origin) for op in EXPECTED if op != "CreateKey" for origin in KEY_ORIGINS
         if origin in EXPECTED[op]]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = module_env_server(tmp_path_factory)
    try:
        yield srv
    finally:
        srv.kill()


@pytest.fixture(scope="module")
def env(server: ServerProcess) -> Env:
    return build_env(server, name="CapabilitiesStore")


def _new_key(env: Env, origin: str) -> str:
    if origin == "AWS_CLOUDHSM":
        return env.create_key("capabilities")
    if origin == "EXTERNAL":  # with its key material imported
        key_id = str(env.kms.create_key(Description="capabilities", Origin="EXTERNAL")[
            "KeyMetadata"]["KeyId"])
        import_material(env.kms, key_id, os.urandom(32))
        return key_id
    return str(env.kms.create_key(Description="capabilities")["KeyMetadata"]["KeyId"])


def _method(kms: Any, operation: str) -> Callable[..., Any]:
    return getattr(kms, xform_name(operation))  # type: ignore[no-any-return]


def _answer(call: Callable[..., Any], params: dict[str, Any]) -> Answer:
    try:
        result = call(**params)
    except ClientError as err:
        return (err.response["Error"]["Code"], err.response["Error"].get("Message"),
                err.response["ResponseMetadata"]["HTTPStatusCode"])
    return None, None, result["ResponseMetadata"]["HTTPStatusCode"]


def _filled(answer: Answer, arn: str) -> Answer:
    code, message, status = answer
    return code, None if message is None else message.replace("{arn}", arn), status


def test_the_table_and_the_expected_answers_cover_the_same_cells() -> None:
    table = {op: sorted(origin.value for origin in row)
             for op, row in capabilities.TABLE.items()}
    assert table == {op: sorted(row) for op, row in EXPECTED.items()}


def test_every_operation_of_the_table_has_a_request() -> None:
    assert set(REQUESTS) == set(EXPECTED) - {"CreateKey"}


@pytest.mark.parametrize(("operation", "origin"), CELLS,
                         ids=[f"{op}-{origin}" for op, origin in CELLS])
def test_cell(env: Env, operation: str, origin: str) -> None:
    kms = env.kms
    key_id = _new_key(env, origin)
    arn = env.key_arn(key_id)
    assert arn.endswith(f":key/{key_id}")
    params = REQUESTS[operation](kms, key_id)
    expected = _filled(EXPECTED[operation][origin], arn)
    assert _answer(_method(kms, operation), params) == expected


CREATE_PARAMS: dict[str, Callable[[Env], dict[str, Any]]] = {
    "AWS_KMS": lambda _env: {},
    "AWS_CLOUDHSM": lambda env: {"Origin": "AWS_CLOUDHSM", "CustomKeyStoreId": env.store_id},
    "EXTERNAL": lambda _env: {"Origin": "EXTERNAL"},
    "EXTERNAL_KEY_STORE": lambda _env: {"Origin": "EXTERNAL_KEY_STORE"},
}


@pytest.mark.parametrize("origin", list(CREATE_PARAMS))
def test_create_key_cell(env: Env, origin: str) -> None:
    answer = _answer(env.kms.create_key, CREATE_PARAMS[origin](env))
    assert answer == EXPECTED["CreateKey"][origin]

