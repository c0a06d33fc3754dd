"""Imported key material (``Origin: EXTERNAL``, issue 12 item 3; spec kms-keys.md 4) with real
boto3 against a real server: the whole lifecycle for symmetric, RSA, ECC and HMAC keys, every
error with its message, pending rotation material, expiry on the clock with its
``DeleteExpiredKeyMaterial`` event, a restart in the middle, and what CloudTrail logs.

Material is wrapped as clients do (:mod:`import_helpers`, pyca/cryptography); the openssl
command line and the AWS CLI do it in ``test_kms_import_openssl.py``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from import_helpers import NO_EXPIRY, import_material, wrap

from hsmkms.testing.server import ServerProcess

DAY = 86400
HOUR = 3600
PARAMS_RSA = {"WrappingAlgorithm": "RSAES_OAEP_SHA_256", "WrappingKeySpec": "RSA_2048"}
_DER = serialization.Encoding.DER
_PKCS8 = serialization.PrivateFormat.PKCS8
_SPKI = serialization.PublicFormat.SubjectPublicKeyInfo


def material_id(key_id: str, material: bytes) -> str:
    """The documented derivation (spec kms-keys.md 3.2; docs/compatibility.md)."""
    return hmac.new(b"kms-key-material-id" + key_id.encode(), material,
                    hashlib.sha256).hexdigest()


def error(call: Callable[..., Any], **params: Any) -> tuple[str, str | None]:
    with pytest.raises(ClientError) as exc:
        call(**params)
    err = exc.value.response["Error"]
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return err["Code"], err.get("Message") or None


def pkcs8(key: Any) -> bytes:
    return bytes(key.private_bytes(_DER, _PKCS8, serialization.NoEncryption()))


@pytest.fixture(scope="module")
def kms(module_server: ServerProcess) -> Any:
    return module_server.client("kms")


@pytest.fixture(scope="module")
def now(module_server: ServerProcess) -> Callable[[], float]:
    return lambda: module_server.advance(0)


def external(kms: Any, **params: Any) -> dict[str, Any]:
    meta: dict[str, Any] = kms.create_key(Origin="EXTERNAL", **params)["KeyMetadata"]
    return meta


# -- the lifecycle ------------------------------------------------------------------------------


def test_symmetric_key_lifecycle(kms: Any, now: Callable[[], float]) -> None:
    meta = external(kms, Description="imported")
    key_id, arn = meta["KeyId"], meta["Arn"]
    assert (meta["KeyState"], meta["Enabled"], meta["Origin"]) == (
        "PendingImport", False, "EXTERNAL")
    for absent in ("ExpirationModel", "ValidTo", "CurrentKeyMaterialId"):
        assert absent not in meta
    assert error(kms.encrypt, KeyId=key_id, Plaintext=b"x") == (
        "KMSInvalidStateException", f"{arn} is pending import.")
    assert error(kms.enable_key, KeyId=key_id) == (
        "KMSInvalidStateException", f"{arn} is pending import.")

    params = kms.get_parameters_for_import(KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_1",
                                           WrappingKeySpec="RSA_3072")
    assert params["KeyId"] == arn
    issued = now()
    valid_to = params["ParametersValidTo"].timestamp()
    assert issued + DAY - 60 <= valid_to <= issued + DAY
    public = serialization.load_der_public_key(params["PublicKey"])
    assert isinstance(public, rsa.RSAPublicKey) and public.key_size == 3072
    assert 1 <= len(params["ImportToken"]) <= 6144

    material = os.urandom(32)
    expires = round(now() + 30 * DAY)
    done = kms.import_key_material(
        KeyId=key_id, ImportToken=params["ImportToken"],
        EncryptedKeyMaterial=wrap(params["PublicKey"], "RSAES_OAEP_SHA_1", material),
        ExpirationModel="KEY_MATERIAL_EXPIRES", ValidTo=expires)
    mid = material_id(key_id, material)
    assert (done["KeyId"], done["KeyMaterialId"]) == (arn, mid)
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert (meta["KeyState"], meta["Enabled"], meta["ExpirationModel"],
            meta["ValidTo"].timestamp(), meta["CurrentKeyMaterialId"]) == (
        "Enabled", True, "KEY_MATERIAL_EXPIRES", expires, mid)

    blob = kms.encrypt(KeyId=key_id, Plaintext=b"secret")["CiphertextBlob"]
    out = kms.decrypt(CiphertextBlob=blob)
    assert (out["Plaintext"], out["KeyId"], out["KeyMaterialId"]) == (b"secret", arn, mid)
    assert kms.generate_data_key(KeyId=key_id, KeySpec="AES_256")["KeyMaterialId"] == mid

    deleted = kms.delete_imported_key_material(KeyId=key_id)
    assert (deleted["KeyId"], deleted["KeyMaterialId"]) == (arn, mid)
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert (meta["KeyState"], meta["Enabled"], meta["CurrentKeyMaterialId"]) == (
        "PendingImport", False, mid)
    assert "ExpirationModel" not in meta and "ValidTo" not in meta
    assert error(kms.decrypt, CiphertextBlob=blob) == (
        "KMSInvalidStateException", f"{arn} is pending import.")
    # Deleting again changes nothing and succeeds.
    again = kms.delete_imported_key_material(KeyId=key_id)
    assert (again["KeyId"], again["KeyMaterialId"]) == (arn, mid)

    # Other material is refused; the same material (same token, still valid) comes back.
    assert error(kms.import_key_material, KeyId=key_id, ImportToken=params["ImportToken"],
                 EncryptedKeyMaterial=wrap(params["PublicKey"], "RSAES_OAEP_SHA_1",
                                           os.urandom(32)), **NO_EXPIRY) == (
        "IncorrectKeyMaterialException",
        f"The key material is not the key material previously imported into KMS key {arn}.")
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingImport"
    redone = import_material(kms, key_id, material)
    assert redone["KeyMaterialId"] == mid
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"secret"
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert (meta["KeyState"], meta["ExpirationModel"]) == (
        "Enabled", "KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert "ValidTo" not in meta


def test_disabled_key_keeps_its_state_on_reimport_and_pending_import_becomes_enabled(
        kms: Any) -> None:
    key_id = external(kms)["KeyId"]
    material = os.urandom(32)
    import_material(kms, key_id, material)
    kms.disable_key(KeyId=key_id)
    import_material(kms, key_id, material)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Disabled"
    kms.delete_imported_key_material(KeyId=key_id)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingImport"
    import_material(kms, key_id, material)  # spec kms-keys.md 10 Q17: Enabled, not Disabled
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"


def test_rsa_key_with_rsa_aes_key_wrap_sha_256(kms: Any) -> None:
    meta = external(kms, KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")
    key_id, arn = meta["KeyId"], meta["Arn"]
    assert error(kms.get_public_key, KeyId=key_id) == (
        "KMSInvalidStateException", f"{arn} is pending import.")
    private = rsa.generate_private_key(65537, 2048)
    material = pkcs8(private)
    done = import_material(kms, key_id, material, "RSA_AES_KEY_WRAP_SHA_256", "RSA_4096")
    assert (done["KeyId"], done["KeyMaterialId"]) == (arn, material_id(key_id, material))
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert (meta["KeyState"], meta["ExpirationModel"], meta["EncryptionAlgorithms"]) == (
        "Enabled", "KEY_MATERIAL_DOES_NOT_EXPIRE", ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"])
    assert "CurrentKeyMaterialId" not in meta  # only symmetric keys show it
    public = kms.get_public_key(KeyId=key_id)["PublicKey"]
    assert public == private.public_key().public_bytes(_DER, _SPKI)
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(),
                        label=None)
    offline = private.public_key().encrypt(b"made offline", oaep)
    assert kms.decrypt(KeyId=key_id, CiphertextBlob=offline,
                       EncryptionAlgorithm="RSAES_OAEP_SHA_256")["Plaintext"] == b"made offline"
    by_kms = kms.encrypt(KeyId=key_id, Plaintext=b"to me",
                         EncryptionAlgorithm="RSAES_OAEP_SHA_256")["CiphertextBlob"]
    assert private.decrypt(by_kms, oaep) == b"to me"
    # One material for life: another RSA key is refused, the same one accepted again.
    other = pkcs8(rsa.generate_private_key(65537, 2048))
    with pytest.raises(ClientError) as exc:
        import_material(kms, key_id, other, "RSA_AES_KEY_WRAP_SHA_1", "RSA_2048")
    assert exc.value.response["Error"] == {
        "Code": "IncorrectKeyMaterialException",
        "Message": f"The key material is not the key material previously imported into KMS "
                   f"key {arn}."}
    kms.delete_imported_key_material(KeyId=key_id)
    import_material(kms, key_id, material, "RSA_AES_KEY_WRAP_SHA_1", "RSA_3072")
    assert kms.decrypt(KeyId=key_id, CiphertextBlob=offline,
                       EncryptionAlgorithm="RSAES_OAEP_SHA_256")["Plaintext"] == b"made offline"


ECC = [("ECC_NIST_P256", ec.SECP256R1(), "ECDSA_SHA_256", hashes.SHA256()),
       ("ECC_NIST_P384", ec.SECP384R1(), "ECDSA_SHA_384", hashes.SHA384()),
       ("ECC_NIST_P521", ec.SECP521R1(), "ECDSA_SHA_512", hashes.SHA512()),
       ("ECC_SECG_P256K1", ec.SECP256K1(), "ECDSA_SHA_256", hashes.SHA256())]


@pytest.mark.parametrize(("spec", "curve", "algorithm", "digest"), ECC,
                         ids=[e[0] for e in ECC])
def test_ecc_keys(kms: Any, spec: str, curve: ec.EllipticCurve, algorithm: str,
                  digest: hashes.HashAlgorithm) -> None:
    key_id = external(kms, KeySpec=spec, KeyUsage="SIGN_VERIFY")["KeyId"]
    private = ec.generate_private_key(curve)
    # P-521 material is too long for OAEP under RSA_2048: AES key wrap takes any length.
    import_material(kms, key_id, pkcs8(private), "RSA_AES_KEY_WRAP_SHA_256", "RSA_2048")
    assert kms.get_public_key(KeyId=key_id)["PublicKey"] == private.public_key().public_bytes(
        _DER, _SPKI)
    signature = kms.sign(KeyId=key_id, Message=b"signed by KMS",
                         SigningAlgorithm=algorithm)["Signature"]
    private.public_key().verify(signature, b"signed by KMS", ec.ECDSA(digest))
    hasher = hashes.Hash(digest)
    hasher.update(b"signed offline")
    offline = private.sign(hasher.finalize(), ec.ECDSA(utils.Prehashed(digest)))
    assert kms.verify(KeyId=key_id, Message=b"signed offline", Signature=offline,
                      SigningAlgorithm=algorithm)["SignatureValid"] is True


def test_ecc_key_agreement_key(kms: Any) -> None:
    key_id = external(kms, KeySpec="ECC_NIST_P256", KeyUsage="KEY_AGREEMENT")["KeyId"]
    private = ec.generate_private_key(ec.SECP256R1())
    import_material(kms, key_id, pkcs8(private), "RSAES_OAEP_SHA_256", "RSA_2048")
    peer = ec.generate_private_key(ec.SECP256R1())
    shared = kms.derive_shared_secret(
        KeyId=key_id, KeyAgreementAlgorithm="ECDH",
        PublicKey=peer.public_key().public_bytes(_DER, _SPKI))["SharedSecret"]
    assert shared == peer.exchange(ec.ECDH(), private.public_key())


HMACS = [("HMAC_224", "sha224", 28), ("HMAC_256", "sha256", 32), ("HMAC_384", "sha384", 48),
         ("HMAC_512", "sha512", 64), ("HMAC_256", "sha256", 64), ("HMAC_512", "sha512", 128)]


@pytest.mark.parametrize(("spec", "digest", "length"), HMACS,
                         ids=[f"{s}-{n}" for s, _d, n in HMACS])
def test_hmac_keys(kms: Any, spec: str, digest: str, length: int) -> None:
    meta = external(kms, KeySpec=spec, KeyUsage="GENERATE_VERIFY_MAC")
    assert meta["KeyState"] == "PendingImport"
    material = os.urandom(length)
    import_material(kms, meta["KeyId"], material, "RSAES_OAEP_SHA_1", "RSA_2048")
    meta = kms.describe_key(KeyId=meta["KeyId"])["KeyMetadata"]
    assert "CurrentKeyMaterialId" not in meta and meta["KeyState"] == "Enabled"
    algorithm = f"HMAC_SHA_{spec[5:]}"
    mac = kms.generate_mac(KeyId=meta["KeyId"], Message=b"message",
                           MacAlgorithm=algorithm)["Mac"]
    assert mac == hmac.new(material, b"message", digest).digest()
    assert kms.verify_mac(KeyId=meta["KeyId"], Message=b"message", MacAlgorithm=algorithm,
                          Mac=mac)["MacValid"] is True


def test_rfc_4231_test_case_2_through_an_imported_hmac_key(kms: Any) -> None:
    """RFC 4231 4.3 uses a 4-byte key, shorter than KMS accepts; test case 6 (131 bytes) is too
    long: 4.7's 131-byte key is refused, and the 64-byte key below is checked by value."""
    key_id = external(kms, KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyId"]
    with pytest.raises(ClientError) as exc:
        import_material(kms, key_id, b"\xaa" * 131)
    assert exc.value.response["Error"] == {
        "Code": "IncorrectKeyMaterialException",
        "Message": "Key material for HMAC_256 must be 32 to 64 bytes."}
    key = bytes(range(64))
    import_material(kms, key_id, key)
    mac = kms.generate_mac(KeyId=key_id, Message=b"Hi There",
                           MacAlgorithm="HMAC_SHA_256")["Mac"]
    assert mac == hmac.new(key, b"Hi There", "sha256").digest()


# -- several materials of a symmetric key ---------------------------------------------------


def test_new_material_into_a_key_with_material_waits_for_rotation(kms: Any) -> None:
    meta = external(kms)
    key_id = meta["KeyId"]
    first, second, third = os.urandom(32), os.urandom(32), os.urandom(32)
    import_material(kms, key_id, first)
    current = material_id(key_id, first)
    done = import_material(kms, key_id, second, ImportType="NEW_KEY_MATERIAL",
                           KeyMaterialDescription="next one", **NO_EXPIRY)
    pending = material_id(key_id, second)
    assert done["KeyMaterialId"] == pending
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert (meta["KeyState"], meta["CurrentKeyMaterialId"]) == ("Enabled", current)
    out = kms.decrypt(CiphertextBlob=kms.encrypt(KeyId=key_id, Plaintext=b"p")["CiphertextBlob"])
    assert out["KeyMaterialId"] == current
    # Only one may be pending (recorded message: the bare key id).
    with pytest.raises(ClientError) as exc:
        import_material(kms, key_id, third, ImportType="NEW_KEY_MATERIAL", **NO_EXPIRY)
    assert exc.value.response["Error"] == {
        "Code": "KMSInvalidStateException",
        "Message": f"New key material (id: {material_id(key_id, third)}) cannot be imported "
                   f"into KMS key {key_id}, because another key material (id: {pending}) is "
                   "pending rotation."}
    # NEW with material the key already has.
    with pytest.raises(ClientError) as exc:
        import_material(kms, key_id, first, ImportType="NEW_KEY_MATERIAL", **NO_EXPIRY)
    assert exc.value.response["Error"] == {
        "Code": "IncorrectKeyMaterialException",
        "Message": f"The key material (id: {current}) is already associated with KMS key "
                   f"{key_id}. To import it again, use ImportType EXISTING_KEY_MATERIAL."}
    # EXISTING with the id of other material.
    with pytest.raises(ClientError) as exc:
        import_material(kms, key_id, first, ImportType="EXISTING_KEY_MATERIAL",
                        KeyMaterialId=pending, **NO_EXPIRY)
    assert exc.value.response["Error"] == {
        "Code": "IncorrectKeyMaterialException",
        "Message": f"The key material does not have the key material id {pending}."}
    # The pending material may be deleted (it is not permanently associated) and replaced.
    gone = kms.delete_imported_key_material(KeyId=key_id, KeyMaterialId=pending)
    assert gone["KeyMaterialId"] == pending
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"
    replaced = import_material(kms, key_id, third, ImportType="NEW_KEY_MATERIAL", **NO_EXPIRY)
    assert replaced["KeyMaterialId"] == material_id(key_id, third)
    # EXISTING with the right id re-imports.
    again = import_material(kms, key_id, first, ImportType="EXISTING_KEY_MATERIAL",
                            KeyMaterialId=current, **NO_EXPIRY)
    assert again["KeyMaterialId"] == current


def test_same_material_in_two_keys_has_two_ids_and_does_not_interoperate(kms: Any) -> None:
    material = os.urandom(32)
    one, two = external(kms)["KeyId"], external(kms)["KeyId"]
    ids = {import_material(kms, k, material)["KeyMaterialId"] for k in (one, two)}
    assert ids == {material_id(one, material), material_id(two, material)} and len(ids) == 2
    blob = kms.encrypt(KeyId=one, Plaintext=b"bound")["CiphertextBlob"]
    assert error(kms.decrypt, CiphertextBlob=blob, KeyId=two) == (
        "IncorrectKeyException",
        "The key ID in the request does not identify a CMK that can perform this operation.")


# -- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", ["ECC_NIST_EDWARDS25519", "ML_DSA_44", "ML_KEM_768"])
def test_create_key_refuses_specs_without_imports(kms: Any, spec: str) -> None:
    usage = "ENCAPSULATE_DECAPSULATE" if spec.startswith("ML_KEM") else "SIGN_VERIFY"
    before = len(kms.list_keys(Limit=1000)["Keys"])
    assert error(kms.create_key, Origin="EXTERNAL", KeySpec=spec, KeyUsage=usage) == (
        "UnsupportedOperationException",
        f"KeySpec {spec} does not support imported key material (Origin EXTERNAL).")
    assert len(kms.list_keys(Limit=1000)["Keys"]) == before


def test_create_key_in_china_accepts_sm2_and_sm2pke_wrapping(
        module_server: ServerProcess) -> None:
    kms = module_server.client("kms", region="cn-north-1")
    key_id = external(kms, KeySpec="SM2", KeyUsage="SIGN_VERIFY")["KeyId"]
    params = kms.get_parameters_for_import(KeyId=key_id, WrappingAlgorithm="SM2PKE",
                                           WrappingKeySpec="SM2")
    assert params["KeyId"].startswith("arn:aws-cn:kms:cn-north-1:")
    assert error(kms.get_parameters_for_import, KeyId=key_id,
                 WrappingAlgorithm="RSA_AES_KEY_WRAP_SHA_256", WrappingKeySpec="RSA_2048") == (
        "UnsupportedOperationException",
        "WrappingAlgorithm RSA_AES_KEY_WRAP_SHA_256 is not available in the Region "
        "cn-north-1.")
    assert kms.get_parameters_for_import(KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                         WrappingKeySpec="RSA_2048")["KeyId"] == params["KeyId"]


WRAPPING_ERRORS = [
    ("RSAES_PKCS1_V1_5", "RSA_2048", "ValidationException",
     "WrappingAlgorithm RSAES_PKCS1_V1_5 is not supported. Use RSAES_OAEP_SHA_1, "
     "RSAES_OAEP_SHA_256, RSA_AES_KEY_WRAP_SHA_1, RSA_AES_KEY_WRAP_SHA_256 or SM2PKE."),
    ("SM2PKE", "RSA_2048", "ValidationException",
     "WrappingAlgorithm SM2PKE cannot be used with WrappingKeySpec RSA_2048."),
    ("RSA_AES_KEY_WRAP_SHA_256", "SM2", "ValidationException",
     "WrappingAlgorithm RSA_AES_KEY_WRAP_SHA_256 cannot be used with WrappingKeySpec SM2."),
    ("RSAES_OAEP_SHA_1", "SM2", "ValidationException",
     "WrappingAlgorithm RSAES_OAEP_SHA_1 cannot be used with WrappingKeySpec SM2."),
    ("SM2PKE", "SM2", "UnsupportedOperationException",
     "WrappingAlgorithm SM2PKE is not available in the Region us-east-1."),
]


@pytest.mark.parametrize(("algorithm", "spec", "code", "message"), WRAPPING_ERRORS,
                         ids=[f"{a}-{s}" for a, s, _c, _m in WRAPPING_ERRORS])
def test_get_parameters_for_import_wrapping_errors(kms: Any, algorithm: str, spec: str,
                                                   code: str, message: str) -> None:
    key_id = external(kms)["KeyId"]
    assert error(kms.get_parameters_for_import, KeyId=key_id, WrappingAlgorithm=algorithm,
                 WrappingKeySpec=spec) == (code, message)


@pytest.mark.parametrize("algorithm", ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256",
                                       "RSA_AES_KEY_WRAP_SHA_1", "RSA_AES_KEY_WRAP_SHA_256"])
@pytest.mark.parametrize("spec", ["RSA_2048", "RSA_3072", "RSA_4096"])
def test_every_rsa_wrapping_pair_imports(kms: Any, algorithm: str, spec: str) -> None:
    key_id = external(kms)["KeyId"]
    material = os.urandom(32)
    params = kms.get_parameters_for_import(KeyId=key_id, WrappingAlgorithm=algorithm,
                                           WrappingKeySpec=spec)
    public = serialization.load_der_public_key(params["PublicKey"])
    assert isinstance(public, rsa.RSAPublicKey) and public.key_size == int(spec[4:])
    assert public.public_numbers().e == 65537
    done = kms.import_key_material(KeyId=key_id, ImportToken=params["ImportToken"],
                                   EncryptedKeyMaterial=wrap(params["PublicKey"], algorithm,
                                                             material), **NO_EXPIRY)
    assert done["KeyMaterialId"] == material_id(key_id, material)


def test_import_operations_refuse_other_origins_and_deleted_keys(kms: Any) -> None:
    aws = kms.create_key()["KeyMetadata"]
    unsupported = ("UnsupportedOperationException",
                   f"{aws['Arn']} origin is AWS_KMS which is not valid for this operation.")
    assert error(kms.get_parameters_for_import, KeyId=aws["KeyId"], **PARAMS_RSA) == unsupported
    assert error(kms.delete_imported_key_material, KeyId=aws["KeyId"]) == unsupported
    assert error(kms.import_key_material, KeyId=aws["KeyId"], ImportToken=b"t",
                 EncryptedKeyMaterial=b"m", **NO_EXPIRY) == unsupported
    ext = external(kms)
    material = os.urandom(32)
    import_material(kms, ext["KeyId"], material)
    params = kms.get_parameters_for_import(KeyId=ext["KeyId"], **PARAMS_RSA)
    kms.schedule_key_deletion(KeyId=ext["KeyId"], PendingWindowInDays=7)
    pending = ("KMSInvalidStateException", f"{ext['Arn']} is pending deletion.")
    assert error(kms.get_parameters_for_import, KeyId=ext["KeyId"], **PARAMS_RSA) == pending
    assert error(kms.import_key_material, KeyId=ext["KeyId"], ImportToken=params["ImportToken"],
                 EncryptedKeyMaterial=wrap(params["PublicKey"], "RSAES_OAEP_SHA_256",
                                           material), **NO_EXPIRY) == pending
    # DeleteImportedKeyMaterial works while pending deletion; the state stays.
    kms.delete_imported_key_material(KeyId=ext["KeyId"])
    assert kms.describe_key(KeyId=ext["KeyId"])["KeyMetadata"]["KeyState"] == "PendingDeletion"
    # Cancelled, the key has no material to be Disabled with: it waits for it.
    kms.cancel_key_deletion(KeyId=ext["KeyId"])
    assert kms.describe_key(KeyId=ext["KeyId"])["KeyMetadata"]["KeyState"] == "PendingImport"
    import_material(kms, ext["KeyId"], material)
    assert kms.describe_key(KeyId=ext["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled"


def test_aliases_are_not_accepted_by_import_operations(kms: Any) -> None:
    key_id = external(kms)["KeyId"]
    kms.create_alias(AliasName="alias/imported-key", TargetKeyId=key_id)
    assert error(kms.get_parameters_for_import, KeyId="alias/imported-key", **PARAMS_RSA) == (
        "NotFoundException", "Invalid keyId 'alias/imported-key'")


@pytest.fixture
def fresh(kms: Any) -> tuple[str, str, dict[str, Any]]:
    """A new EXTERNAL key, its ARN and fresh RSA_2048 / OAEP-SHA-256 parameters."""
    meta = external(kms)
    return meta["KeyId"], meta["Arn"], kms.get_parameters_for_import(KeyId=meta["KeyId"],
                                                                     **PARAMS_RSA)


def test_expiration_model_and_valid_to_errors(kms: Any, now: Callable[[], float],
                                              fresh: tuple[str, str, dict[str, Any]]) -> None:
    key_id, _arn, params = fresh
    blob = wrap(params["PublicKey"], "RSAES_OAEP_SHA_256", os.urandom(32))
    base = {"KeyId": key_id, "ImportToken": params["ImportToken"], "EncryptedKeyMaterial": blob}
    t = now()
    cases = [
        ({}, "A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES"),
        ({"ExpirationModel": "KEY_MATERIAL_EXPIRES"},
         "A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES"),
        ({"ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE", "ValidTo": t + DAY},
         "A validTo date cannot be set if the ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE"),
        ({"ValidTo": t - 60}, "The validTo date must be in the future."),
        ({"ValidTo": t + 366 * DAY},
         "The validTo date must be at most 365 days after the request."),
        ({"ImportType": "NEW_KEY_MATERIAL", "KeyMaterialId": "a" * 64, **NO_EXPIRY},
         "KeyMaterialId cannot be specified with ImportType NEW_KEY_MATERIAL."),
        ({"KeyMaterialDescription": "bad*chars", **NO_EXPIRY},
         "1 validation error detected: Value 'bad*chars' at 'keyMaterialDescription' failed to "
         "satisfy constraint: Member must satisfy regular expression pattern: "
         "^[a-zA-Z0-9:/_\\s.-]+$"),
    ]
    for extra, message in cases:
        assert error(kms.import_key_material, **base, **extra) == ("ValidationException",
                                                                   message), extra
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingImport"
    # 365 days to the second is accepted.
    kms.import_key_material(**base, ValidTo=now() + 365 * DAY - 5)


def test_token_errors(kms: Any, fresh: tuple[str, str, dict[str, Any]]) -> None:
    key_id, arn, params = fresh
    material = os.urandom(32)
    invalid = ("InvalidImportTokenException", f"The import token is not valid for KMS key {arn}.")
    other = external(kms)["KeyId"]
    other_params = kms.get_parameters_for_import(KeyId=other, **PARAMS_RSA)
    # Another key's token (and material wrapped for it).
    assert error(kms.import_key_material, KeyId=key_id, ImportToken=other_params["ImportToken"],
                 EncryptedKeyMaterial=wrap(other_params["PublicKey"], "RSAES_OAEP_SHA_256",
                                           material), **NO_EXPIRY) == invalid
    # Garbage, and a token altered to point at other parameters.
    token = params["ImportToken"]
    blob = wrap(params["PublicKey"], "RSAES_OAEP_SHA_256", material)
    for bad in (b"garbage", token[:-1], bytes([token[0] ^ 1]) + token[1:],
                token[:30] + bytes([token[30] ^ 0xFF]) + token[31:]):
        assert error(kms.import_key_material, KeyId=key_id, ImportToken=bad,
                     EncryptedKeyMaterial=blob, **NO_EXPIRY) == invalid, bad
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingImport"
    assert import_material(kms, key_id, material)["KeyMaterialId"] == material_id(key_id,
                                                                                  material)


def test_unwrap_errors_are_invalid_ciphertext(kms: Any,
                                              fresh: tuple[str, str, dict[str, Any]]) -> None:
    key_id, _arn, params = fresh
    token = params["ImportToken"]
    foreign = kms.get_parameters_for_import(KeyId=external(kms)["KeyId"], **PARAMS_RSA)
    for blob in (b"\x00" * 256, os.urandom(10),
                 # wrapped with another public key, or by another algorithm
                 wrap(foreign["PublicKey"], "RSAES_OAEP_SHA_256", os.urandom(32)),
                 wrap(params["PublicKey"], "RSAES_OAEP_SHA_1", os.urandom(32)),
                 wrap(params["PublicKey"], "RSA_AES_KEY_WRAP_SHA_256", os.urandom(32))):
        assert error(kms.import_key_material, KeyId=key_id, ImportToken=token,
                     EncryptedKeyMaterial=blob, **NO_EXPIRY) == ("InvalidCiphertextException",
                                                                 None)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingImport"


def _bad_material_cases() -> list[tuple[str, str, bytes, str]]:
    p256 = ec.generate_private_key(ec.SECP256R1())
    rsa_2048 = rsa.generate_private_key(65537, 2048)
    pkcs1 = rsa_2048.private_bytes(_DER, serialization.PrivateFormat.TraditionalOpenSSL,
                                   serialization.NoEncryption())
    return [
        ("SYMMETRIC_DEFAULT", "", b"\x01" * 16,
         "Key material for SYMMETRIC_DEFAULT must be 32 bytes."),
        ("SYMMETRIC_DEFAULT", "", b"\x01" * 33,
         "Key material for SYMMETRIC_DEFAULT must be 32 bytes."),
        ("HMAC_224", "GENERATE_VERIFY_MAC", b"\x01" * 27,
         "Key material for HMAC_224 must be 28 to 64 bytes."),
        ("HMAC_384", "GENERATE_VERIFY_MAC", b"\x01" * 129,
         "Key material for HMAC_384 must be 48 to 128 bytes."),
        ("RSA_3072", "SIGN_VERIFY", pkcs8(rsa_2048),
         "The private key in the key material is not a RSA_3072 key."),
        ("RSA_2048", "SIGN_VERIFY", pkcs1,
         "Key material for RSA_2048 must be a DER-encoded PKCS #8 private key."),
        ("ECC_NIST_P384", "SIGN_VERIFY", pkcs8(p256),
         "The private key in the key material is not a ECC_NIST_P384 key."),
        ("ECC_NIST_P256", "SIGN_VERIFY", pkcs8(rsa_2048)[:100],
         "Key material for ECC_NIST_P256 must be a DER-encoded PKCS #8 private key."),
        ("ECC_NIST_P256", "SIGN_VERIFY", b"\x01" * 32,
         "Key material for ECC_NIST_P256 must be a DER-encoded PKCS #8 private key."),
    ]


def test_material_of_the_wrong_form_is_incorrect_key_material(kms: Any) -> None:
    for spec, usage, material, message in _bad_material_cases():
        key = external(kms, KeySpec=spec, **({"KeyUsage": usage} if usage else {}))
        with pytest.raises(ClientError) as exc:
            import_material(kms, key["KeyId"], material, "RSA_AES_KEY_WRAP_SHA_256")
        assert exc.value.response["Error"] == {"Code": "IncorrectKeyMaterialException",
                                               "Message": message}, spec
        assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == (
            "PendingImport")


def test_symmetric_only_members_are_refused_for_other_keys(kms: Any) -> None:
    meta = external(kms, KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")
    for member, value in (("ImportType", "NEW_KEY_MATERIAL"),
                          ("KeyMaterialDescription", "desc"),
                          ("KeyMaterialId", "a" * 64)):
        with pytest.raises(ClientError) as exc:
            import_material(kms, meta["KeyId"], os.urandom(32), **{member: value}, **NO_EXPIRY)
        assert exc.value.response["Error"] == {
            "Code": "ValidationException",
            "Message": f"{member} is supported only for symmetric encryption KMS keys."}


def test_existing_material_into_a_key_without_any(kms: Any) -> None:
    meta = external(kms)
    with pytest.raises(ClientError) as exc:
        import_material(kms, meta["KeyId"], os.urandom(32),
                        ImportType="EXISTING_KEY_MATERIAL", **NO_EXPIRY)
    assert exc.value.response["Error"] == {
        "Code": "IncorrectKeyMaterialException",
        "Message": f"KMS key {meta['Arn']} has no key material to import again. To import new "
                   "key material, use ImportType NEW_KEY_MATERIAL."}


def test_delete_imported_key_material_unknown_id_and_never_imported(kms: Any) -> None:
    meta = external(kms)
    # Nothing imported yet: succeeds, changes nothing, names no material.
    done = kms.delete_imported_key_material(KeyId=meta["KeyId"])
    assert done["KeyId"] == meta["Arn"] and "KeyMaterialId" not in done
    assert error(kms.delete_imported_key_material, KeyId=meta["KeyId"],
                 KeyMaterialId="b" * 64) == (
        "NotFoundException", f"Key material {'b' * 64} is not found in KMS key {meta['Arn']}.")


# -- the clock: expiry, tokens, restarts ----------------------------------------------------


def _trail_events(server: ServerProcess, name: str) -> list[dict[str, Any]]:
    trail = server.client("cloudtrail")
    found = trail.lookup_events(LookupAttributes=[
        {"AttributeKey": "EventName", "AttributeValue": name}])["Events"]
    return [json.loads(e["CloudTrailEvent"]) for e in found]


def test_expiry_on_the_clock(hsmkms_server: ServerProcess) -> None:
    kms = hsmkms_server.client("kms")
    meta = external(kms)
    key_id, arn = meta["KeyId"], meta["Arn"]
    material = os.urandom(32)
    t0 = hsmkms_server.advance(0)
    valid_to = round(t0 + 2 * HOUR)
    import_material(kms, key_id, material, ExpirationModel="KEY_MATERIAL_EXPIRES",
                    ValidTo=valid_to)
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"before expiry")["CiphertextBlob"]
    hsmkms_server.advance(HOUR)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"
    assert _trail_events(hsmkms_server, "DeleteExpiredKeyMaterial") == []
    hsmkms_server.advance(HOUR + 60)
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    mid = material_id(key_id, material)
    assert (meta["KeyState"], meta["Enabled"], meta["CurrentKeyMaterialId"]) == (
        "PendingImport", False, mid)
    assert "ExpirationModel" not in meta and "ValidTo" not in meta
    assert error(kms.decrypt, CiphertextBlob=blob) == (
        "KMSInvalidStateException", f"{arn} is pending import.")
    (event,) = _trail_events(hsmkms_server, "DeleteExpiredKeyMaterial")
    assert event["eventTime"] == _iso(valid_to)
    assert event["userIdentity"] == {"accountId": "111122223333", "invokedBy": "AWS Internal"}
    assert (event["eventType"], event["requestParameters"], event["responseElements"],
            event["readOnly"]) == ("AwsServiceEvent", None, None, False)
    assert event["serviceEventDetails"] == {"keyId": key_id, "keyMaterialId": mid}
    assert event["resources"] == [{"accountId": "111122223333", "type": "AWS::KMS::Key",
                                   "ARN": arn}]
    assert list(event)[-2:] == ["serviceEventDetails", "eventCategory"]
    # Re-importing the same material brings the old ciphertext back.
    import_material(kms, key_id, material)
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"before expiry"
    hsmkms_server.advance(60 * DAY)  # does not expire: nothing happens
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"
    assert len(_trail_events(hsmkms_server, "DeleteExpiredKeyMaterial")) == 1


def _iso(t: float) -> str:
    import time  # noqa: PLC0415

    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def test_reimport_with_a_later_valid_to_moves_the_expiry(hsmkms_server: ServerProcess) -> None:
    kms = hsmkms_server.client("kms")
    key_id = external(kms, KeySpec="HMAC_512", KeyUsage="GENERATE_VERIFY_MAC")["KeyId"]
    material = os.urandom(64)
    t0 = hsmkms_server.advance(0)
    import_material(kms, key_id, material, ExpirationModel="KEY_MATERIAL_EXPIRES",
                    ValidTo=t0 + HOUR)
    import_material(kms, key_id, material, ExpirationModel="KEY_MATERIAL_EXPIRES",
                    ValidTo=t0 + 3 * HOUR)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["ValidTo"].timestamp() == round(
        t0 + 3 * HOUR, 3)
    hsmkms_server.advance(2 * HOUR)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"
    hsmkms_server.advance(2 * HOUR)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingImport"
    (event,) = _trail_events(hsmkms_server, "DeleteExpiredKeyMaterial")
    assert event["serviceEventDetails"] == {"keyId": key_id,
                                            "keyMaterialId": material_id(key_id, material)}


def test_expiry_of_a_key_pending_deletion_keeps_its_state(
        hsmkms_server: ServerProcess) -> None:
    kms = hsmkms_server.client("kms")
    key_id = external(kms)["KeyId"]
    t0 = hsmkms_server.advance(0)
    import_material(kms, key_id, os.urandom(32), ExpirationModel="KEY_MATERIAL_EXPIRES",
                    ValidTo=t0 + DAY)
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    hsmkms_server.advance(2 * DAY)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingDeletion"
    assert len(_trail_events(hsmkms_server, "DeleteExpiredKeyMaterial")) == 1
    kms.cancel_key_deletion(KeyId=key_id)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingImport"


def test_expired_import_token(hsmkms_server: ServerProcess) -> None:
    kms = hsmkms_server.client("kms")
    meta = external(kms)
    params = kms.get_parameters_for_import(KeyId=meta["KeyId"], **PARAMS_RSA)
    blob = wrap(params["PublicKey"], "RSAES_OAEP_SHA_256", os.urandom(32))
    hsmkms_server.advance(DAY - 120)  # still valid
    other = external(kms)["KeyId"]
    assert error(kms.import_key_material, KeyId=other, ImportToken=params["ImportToken"],
                 EncryptedKeyMaterial=blob, **NO_EXPIRY)[0] == "InvalidImportTokenException"
    hsmkms_server.advance(240)
    expired = ("ExpiredImportTokenException",
               "The import token has expired. Use GetParametersForImport to get a new public "
               "key and import token.")
    assert error(kms.import_key_material, KeyId=meta["KeyId"],
                 ImportToken=params["ImportToken"], EncryptedKeyMaterial=blob,
                 **NO_EXPIRY) == expired
    # Long after (the parameters themselves are gone): still expired, never valid again.
    hsmkms_server.advance(30 * DAY)
    assert error(kms.import_key_material, KeyId=meta["KeyId"],
                 ImportToken=params["ImportToken"], EncryptedKeyMaterial=blob,
                 **NO_EXPIRY) == expired
    assert kms.describe_key(KeyId=meta["KeyId"])["KeyMetadata"]["KeyState"] == "PendingImport"


def test_across_a_restart(hsmkms_server: ServerProcess) -> None:
    kms = hsmkms_server.client("kms")
    meta = external(kms)
    key_id = meta["KeyId"]
    material = os.urandom(32)
    params = kms.get_parameters_for_import(KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                           WrappingKeySpec="RSA_4096")
    hsmkms_server.restart(hard=True)
    kms = hsmkms_server.client("kms")
    t0 = hsmkms_server.advance(0)
    # The token and its sealed wrapping key survived.
    kms.import_key_material(KeyId=key_id, ImportToken=params["ImportToken"],
                            EncryptedKeyMaterial=wrap(params["PublicKey"], "RSAES_OAEP_SHA_256",
                                                      material),
                            ExpirationModel="KEY_MATERIAL_EXPIRES", ValidTo=t0 + 3 * HOUR)
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"durable")["CiphertextBlob"]
    hsmkms_server.advance(HOUR)
    hsmkms_server.restart(hard=True)
    kms = hsmkms_server.client("kms")
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"durable"
    hsmkms_server.advance(3 * HOUR)  # the expiry job was persisted
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingImport"
    (event,) = _trail_events(hsmkms_server, "DeleteExpiredKeyMaterial")
    assert event["serviceEventDetails"]["keyMaterialId"] == material_id(key_id, material)
    hsmkms_server.restart()
    kms = hsmkms_server.client("kms")
    import_material(kms, key_id, material)
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"durable"


# -- CloudTrail -----------------------------------------------------------------------------


def test_cloudtrail_request_parameters(hsmkms_server: ServerProcess) -> None:
    kms = hsmkms_server.client("kms")
    meta = external(kms)
    key_id, arn = meta["KeyId"], meta["Arn"]
    params = kms.get_parameters_for_import(KeyId=key_id, **PARAMS_RSA)
    valid_to = round(hsmkms_server.advance(0) + 10 * DAY)
    when = dt.datetime.fromtimestamp(valid_to, dt.UTC)
    human = f"{when:%b} {when.day}, {when.year}, {when.hour % 12 or 12}:{when:%M:%S %p}"
    material = os.urandom(32)
    kms.import_key_material(KeyId=key_id, ImportToken=params["ImportToken"],
                            EncryptedKeyMaterial=wrap(params["PublicKey"], "RSAES_OAEP_SHA_256",
                                                      material),
                            ExpirationModel="KEY_MATERIAL_EXPIRES", ValidTo=valid_to,
                            ImportType="NEW_KEY_MATERIAL", KeyMaterialDescription="first one")
    kms.delete_imported_key_material(KeyId=key_id, KeyMaterialId=material_id(key_id, material))
    mid = material_id(key_id, material)

    (gpfi,) = _trail_events(hsmkms_server, "GetParametersForImport")
    assert gpfi["requestParameters"] == {"keyId": key_id, "wrappingAlgorithm":
                                         "RSAES_OAEP_SHA_256", "wrappingKeySpec": "RSA_2048"}
    assert (gpfi["responseElements"], gpfi["readOnly"]) == (None, True)
    (ikm,) = _trail_events(hsmkms_server, "ImportKeyMaterial")
    assert ikm["requestParameters"] == {
        "keyId": key_id, "validTo": human,
        "expirationModel": "KEY_MATERIAL_EXPIRES", "importType": "NEW_KEY_MATERIAL",
        "keyMaterialDescription": "first one"}
    assert (ikm["responseElements"], ikm["readOnly"]) == ({"keyId": arn, "keyMaterialId": mid},
                                                          False)
    (dikm,) = _trail_events(hsmkms_server, "DeleteImportedKeyMaterial")
    assert dikm["requestParameters"] == {"keyId": key_id, "keyMaterialId": mid}
    assert dikm["responseElements"] == {"keyId": arn, "keyMaterialId": mid}
    # Neither the token, the wrapped material nor the public key is ever logged.
    text = json.dumps([gpfi, ikm, dikm])
    for secret in (params["ImportToken"], params["PublicKey"]):
        import base64  # noqa: PLC0415

        assert base64.b64encode(secret).decode()[:40] not in text
    assert "importToken" not in text and "encryptedKeyMaterial" not in text


def test_imported_material_and_wrapping_keys_never_reach_the_disk_in_clear(
        hsmkms_server: ServerProcess) -> None:
    import base64  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415

    kms = hsmkms_server.client("kms")
    material = os.urandom(32)
    hmac_material = os.urandom(64)
    key_id = external(kms)["KeyId"]
    hmac_key = external(kms, KeySpec="HMAC_512", KeyUsage="GENERATE_VERIFY_MAC")["KeyId"]
    import_material(kms, key_id, material)
    import_material(kms, hmac_key, hmac_material)
    params = kms.get_parameters_for_import(KeyId=key_id, **PARAMS_RSA)
    public = serialization.load_der_public_key(params["PublicKey"])
    assert isinstance(public, rsa.RSAPublicKey)
    # The wrapping private key holds the modulus: a private key kept in clear would show it.
    modulus = public.public_numbers().n.to_bytes(256, "big")
    hsmkms_server.stop()  # everything flushed, WAL included
    blobs = [p.read_bytes() for p in Path(hsmkms_server.data_dir).rglob("*") if p.is_file()]
    assert blobs
    for secret in (material, hmac_material, modulus[:64]):
        for form in (secret, base64.b64encode(secret), secret.hex().encode()):
            assert not any(form in blob for blob in blobs)
