"""Every cell of the origin x operation capability table (hsmkms.kms.capabilities), driven with
boto3 against a real server: a key of each origin (AWS_KMS, and AWS_CLOUDHSM in a connected
CloudHSM key store) gets a result for every supported operation, and exactly the table's error
(code and message) for every other one. A wrong row - support claimed where there is no
implementation, or a refusal that the server does not give - fails here."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore import xform_name
from botocore.exceptions import ClientError
from guide_helpers import Env, build_env, module_env_server

from hsmkms.kms import capabilities
from hsmkms.kms.capabilities import Refusal
from hsmkms.kms.model import Origin
from hsmkms.testing.server import ServerProcess

POLICY = ('{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":'
          '"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}')
Request = Callable[[Any, str], dict[str, Any]]


def _with_key(**params: Any) -> Request:
    return lambda _kms, key_id: {"KeyId": key_id, **params}


def _pending(kms: Any, key_id: str) -> dict[str, Any]:
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    return {"KeyId": key_id}


def _blob(kms: Any, key_id: str) -> bytes:
    return bytes(kms.encrypt(KeyId=key_id, Plaintext=b"capabilities")["CiphertextBlob"])


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
    "ListKeyPolicies": _with_key(),
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
}
KEY_ORIGINS = (Origin.AWS_KMS, Origin.AWS_CLOUDHSM)
CELLS = [(op, origin) for op in capabilities.TABLE if op != "CreateKey" for origin in KEY_ORIGINS]


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


def _new_key(env: Env, origin: Origin) -> str:
    if origin is Origin.AWS_CLOUDHSM:
        return env.create_key("capabilities")
    return str(env.kms.create_key(Description="capabilities")["KeyMetadata"]["KeyId"])


def _method(kms: Any, operation: str) -> Callable[..., Any]:
    return getattr(kms, xform_name(operation))  # type: ignore[no-any-return]


def _answer(call: Callable[..., Any], params: dict[str, Any]) -> tuple[str, str] | None:
    """None for a result, else (code, message)."""
    try:
        call(**params)
    except ClientError as err:
        return err.response["Error"]["Code"], err.response["Error"].get("Message", "")
    return None


def _expected(cell: capabilities.Capability, operation: str, arn: str,
              origin: Origin) -> tuple[str, str] | None:
    if isinstance(cell, Refusal):
        error = cell.exception(operation, arn=arn, origin=origin)
        return error.code(), error.message or ""
    return None


def test_every_operation_of_the_table_has_a_request() -> None:
    assert set(REQUESTS) == set(capabilities.TABLE) - {"CreateKey"}


@pytest.mark.parametrize(("operation", "origin"), CELLS,
                         ids=[f"{op}-{origin.value}" for op, origin in CELLS])
def test_cell(env: Env, operation: str, origin: Origin) -> None:
    kms = env.kms
    key_id = _new_key(env, origin)
    arn = env.key_arn(key_id)
    params = REQUESTS[operation](kms, key_id)
    expected = _expected(capabilities.capability(operation, origin), operation, arn, origin)
    assert _answer(_method(kms, operation), params) == expected


CREATE_PARAMS: dict[Origin, Callable[[Env], dict[str, Any]]] = {
    Origin.AWS_KMS: lambda _env: {},
    Origin.AWS_CLOUDHSM: lambda env: {"Origin": "AWS_CLOUDHSM",
                                      "CustomKeyStoreId": env.store_id},
    Origin.EXTERNAL: lambda _env: {"Origin": "EXTERNAL"},
    Origin.EXTERNAL_KEY_STORE: lambda _env: {"Origin": "EXTERNAL_KEY_STORE"},
}


@pytest.mark.parametrize("origin", list(Origin), ids=[o.value for o in Origin])
def test_create_key_cell(env: Env, origin: Origin) -> None:
    cell = capabilities.capability("CreateKey", origin)
    answer = _answer(env.kms.create_key, CREATE_PARAMS[origin](env))
    assert answer == _expected(cell, "CreateKey", "", origin)
