"""Sign, Verify, GetPublicKey, asymmetric Encrypt/Decrypt/ReEncrypt, data key pairs,
DeriveSharedSecret and Encapsulate/Decapsulate over a real server with boto3 (spec kms-keys.md
2). Signatures, ciphertexts and secrets are checked offline with ``cryptography`` (and GmSSL for
SM2) given only GetPublicKey's output; every refusal with AWS's code and message, and a refused
call changes nothing."""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
from collections.abc import Callable
from typing import Any

import gmssl_pyx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from Crypto.Hash import SHA512
from Crypto.PublicKey import ECC, MLKEM
from Crypto.Signature import eddsa
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, mldsa, padding, utils

from hsmkms.testing.server import ServerProcess

DRY_RUN = "The request would have succeeded, but the DryRun option is set."
CHINA = "cn-north-1"
HASHES = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
MESSAGE = b"the message"


@pytest.fixture(scope="module")
def kms(module_server: ServerProcess) -> Any:
    return module_server.client("kms")


@pytest.fixture(scope="module")
def china(module_server: ServerProcess) -> Any:
    return module_server.client("kms", region=CHINA)


_KEYS: dict[tuple[str, str, str], dict[str, Any]] = {}


@pytest.fixture(scope="module")
def key(kms: Any, china: Any) -> Callable[[str, str], dict[str, Any]]:
    """One key per (spec, usage) for the module (RSA_4096 takes a while to make)."""
    def make(spec: str, usage: str) -> dict[str, Any]:
        client = china if spec == "SM2" else kms
        cache = (spec, usage, client.meta.region_name)
        if cache not in _KEYS:
            _KEYS[cache] = client.create_key(KeySpec=spec, KeyUsage=usage)["KeyMetadata"]
        return _KEYS[cache]
    return make


def _error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    resp = exc.value.response
    return (resp["Error"]["Code"], resp["Error"]["Message"],
            resp["ResponseMetadata"]["HTTPStatusCode"])


def _public(kms: Any, key_id: str) -> Any:
    return serialization.load_der_public_key(kms.get_public_key(KeyId=key_id)["PublicKey"])


# -- Sign and Verify --------------------------------------------------------------------------

SIGNING = [
    *((f"RSA_{bits}", alg) for bits in (2048, 3072, 4096) for alg in (
        "RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384", "RSASSA_PKCS1_V1_5_SHA_512",
        "RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384", "RSASSA_PSS_SHA_512")),
    ("ECC_NIST_P256", "ECDSA_SHA_256"), ("ECC_NIST_P384", "ECDSA_SHA_384"),
    ("ECC_NIST_P521", "ECDSA_SHA_512"), ("ECC_SECG_P256K1", "ECDSA_SHA_256"),
]


def _offline_verify(public: Any, algorithm: str, signature: bytes, message: bytes) -> None:
    """Raise unless ``signature`` is the algorithm's signature of the raw ``message``."""
    h = HASHES[algorithm[-3:]]()
    if algorithm.startswith("ECDSA"):
        public.verify(signature, message, ec.ECDSA(h))
    elif "_PSS_" in algorithm:  # salt as long as the hash (DG asymmetric key specs)
        public.verify(signature, message, padding.PSS(padding.MGF1(h), h.digest_size), h)
    else:
        public.verify(signature, message, padding.PKCS1v15(), h)


@pytest.mark.parametrize(("spec", "algorithm"), SIGNING, ids=[f"{s}-{a}" for s, a in SIGNING])
def test_sign_raw_and_digest_verify_offline_and_in_kms(kms: Any, key: Any, spec: str,
                                                       algorithm: str) -> None:
    meta = key(spec, "SIGN_VERIFY")
    public = _public(kms, meta["KeyId"])
    digest = hashlib.new(f"sha{algorithm[-3:]}", MESSAGE).digest()
    for message, message_type in ((MESSAGE, "RAW"), (digest, "DIGEST")):
        out = kms.sign(KeyId=meta["KeyId"], Message=message, MessageType=message_type,
                       SigningAlgorithm=algorithm)
        assert (out["KeyId"], out["SigningAlgorithm"]) == (meta["Arn"], algorithm)
        if spec.startswith("RSA"):
            assert len(out["Signature"]) == int(spec[4:]) // 8
        _offline_verify(public, algorithm, out["Signature"], MESSAGE)
        for m, t in ((MESSAGE, "RAW"), (digest, "DIGEST")):  # RAW and DIGEST verify alike
            verified = kms.verify(KeyId=meta["KeyId"], Message=m, MessageType=t,
                                  Signature=out["Signature"], SigningAlgorithm=algorithm)
            verified.pop("ResponseMetadata")
            assert verified == {"KeyId": meta["Arn"], "SignatureValid": True,
                                "SigningAlgorithm": algorithm}


def test_ed25519_pure_and_prehashed(kms: Any, key: Any) -> None:
    meta = key("ECC_NIST_EDWARDS25519", "SIGN_VERIFY")
    der = kms.get_public_key(KeyId=meta["KeyId"])["PublicKey"]
    assert len(der) == 44
    pure = kms.sign(KeyId=meta["KeyId"], Message=MESSAGE, SigningAlgorithm="ED25519_SHA_512")
    assert len(pure["Signature"]) == 64
    serialization.load_der_public_key(der).verify(pure["Signature"], MESSAGE)  # type: ignore[call-arg,union-attr]
    digest = hashlib.sha512(MESSAGE).digest()
    ph = kms.sign(KeyId=meta["KeyId"], Message=digest, MessageType="DIGEST",
                  SigningAlgorithm="ED25519_PH_SHA_512")["Signature"]
    # KMS applies Ed25519ph's own SHA-512 to the digest it is given (Sign doc string): the
    # signature is HashEdDSA over the 64-byte digest as the message.
    eddsa.new(ECC.import_key(der), "rfc8032").verify(SHA512.new(digest), ph)
    assert kms.verify(KeyId=meta["KeyId"], Message=digest, MessageType="DIGEST", Signature=ph,
                      SigningAlgorithm="ED25519_PH_SHA_512")["SignatureValid"] is True


@pytest.mark.parametrize("spec", ["ML_DSA_44", "ML_DSA_65", "ML_DSA_87"])
def test_ml_dsa_raw_and_external_mu_cross_verify(kms: Any, key: Any, spec: str) -> None:
    meta = key(spec, "SIGN_VERIFY")
    public = _public(kms, meta["KeyId"])
    size = {"ML_DSA_44": 2420, "ML_DSA_65": 3309, "ML_DSA_87": 4627}[spec]
    raw = kms.sign(KeyId=meta["KeyId"], Message=MESSAGE,
                   SigningAlgorithm="ML_DSA_SHAKE_256")["Signature"]
    assert len(raw) == size
    public.verify(raw, MESSAGE)
    hasher = mldsa.MLDSAMuHasher(public)
    hasher.update(MESSAGE)
    mu = hasher.finalize()
    by_mu = kms.sign(KeyId=meta["KeyId"], Message=mu, MessageType="EXTERNAL_MU",
                     SigningAlgorithm="ML_DSA_SHAKE_256")["Signature"]
    public.verify(by_mu, MESSAGE)
    for signature in (raw, by_mu):
        assert kms.verify(KeyId=meta["KeyId"], Message=mu, MessageType="EXTERNAL_MU",
                          Signature=signature,
                          SigningAlgorithm="ML_DSA_SHAKE_256")["SignatureValid"] is True


def test_sm2dsa_in_china(china: Any, key: Any) -> None:
    meta = key("SM2", "SIGN_VERIFY")
    assert meta["Arn"].startswith("arn:aws-cn:kms:cn-north-1:")
    der = china.get_public_key(KeyId=meta["KeyId"])["PublicKey"]
    point = der[-64:]  # uncompressed point at the end of the SPKI
    signature = china.sign(KeyId=meta["KeyId"], Message=MESSAGE,
                           SigningAlgorithm="SM2DSA")["Signature"]
    # GM/T 0003.2 with the default distinguishing ID, verified by GmSSL with the public key.
    assert gmssl_pyx.sm2_verify(point, MESSAGE, signature) is True
    assert china.verify(KeyId=meta["KeyId"], Message=MESSAGE, Signature=signature,
                        SigningAlgorithm="SM2DSA")["SignatureValid"] is True


@pytest.mark.parametrize(("spec", "algorithm", "message_type", "length", "message"), [
    ("ECC_NIST_P256", "ECDSA_SHA_256", "DIGEST", 31,
     "Digest is invalid length for algorithm ECDSA_SHA_256."),
    ("ECC_NIST_P384", "ECDSA_SHA_384", "DIGEST", 32,
     "Digest is invalid length for algorithm ECDSA_SHA_384."),
    ("RSA_2048", "RSASSA_PSS_SHA_256", "DIGEST", 64,
     "Digest is invalid length for algorithm RSASSA_PSS_SHA_256."),
    ("ML_DSA_44", "ML_DSA_SHAKE_256", "DIGEST", 64,
     "Message type DIGEST is incompatible with key spec ML_DSA_44."),
    ("ML_DSA_44", "ML_DSA_SHAKE_256", "EXTERNAL_MU", 63,
     "Digest is invalid length for algorithm ML_DSA_SHAKE_256."),
    ("ECC_NIST_P256", "ECDSA_SHA_256", "EXTERNAL_MU", 64,
     "Message type EXTERNAL_MU is incompatible with key spec ECC_NIST_P256."),
    ("ECC_NIST_EDWARDS25519", "ED25519_SHA_512", "DIGEST", 64,
     "Message type DIGEST is incompatible with algorithm ED25519_SHA_512."),
    ("ECC_NIST_EDWARDS25519", "ED25519_PH_SHA_512", "RAW", 64,
     "Message type RAW is incompatible with algorithm ED25519_PH_SHA_512."),
])
def test_message_type_rules(kms: Any, key: Any, spec: str, algorithm: str, message_type: str,
                            length: int, message: str) -> None:
    meta = key(spec, "SIGN_VERIFY")
    for call, extra in ((kms.sign, {}), (kms.verify, {"Signature": b"s" * 64})):
        with pytest.raises(ClientError) as exc:
            call(KeyId=meta["KeyId"], Message=b"m" * length, MessageType=message_type,
                 SigningAlgorithm=algorithm, **extra)
        assert _error(exc) == ("ValidationException", message, 400)


def test_a_wrong_signature_is_an_error_with_no_message(kms: Any, key: Any) -> None:
    meta = key("ECC_NIST_P256", "SIGN_VERIFY")
    good = kms.sign(KeyId=meta["KeyId"], Message=MESSAGE,
                    SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    for message, signature in ((b"other", good), (MESSAGE, good[:-1]), (MESSAGE, b"\x30"),
                               (MESSAGE, good + b"\x00")):
        with pytest.raises(ClientError) as exc:
            kms.verify(KeyId=meta["KeyId"], Message=message, Signature=signature,
                       SigningAlgorithm="ECDSA_SHA_256")
        assert _error(exc) == ("KMSInvalidSignatureException", "", 400)


def test_usage_then_algorithm_errors(kms: Any, key: Any) -> None:
    signing = key("ECC_NIST_P521", "SIGN_VERIFY")
    with pytest.raises(ClientError) as exc:
        kms.sign(KeyId=signing["KeyId"], Message=MESSAGE, SigningAlgorithm="ECDSA_SHA_256")
    assert _error(exc) == ("InvalidKeyUsageException",
                           ("Algorithm ECDSA_SHA_256 is incompatible with key spec "
                           "ECC_NIST_P521."), 400)
    mac = key("HMAC_256", "GENERATE_VERIFY_MAC")
    with pytest.raises(ClientError) as exc:  # usage is checked before the algorithm
        kms.sign(KeyId=mac["KeyId"], Message=MESSAGE, SigningAlgorithm="RSASSA_PSS_SHA_256")
    assert _error(exc) == ("InvalidKeyUsageException", (f"{mac['Arn']} key usage is "
                           "GENERATE_VERIFY_MAC which is not valid for Sign."), 400)
    with pytest.raises(ClientError) as exc:
        kms.encrypt(KeyId=signing["KeyId"], Plaintext=b"p")
    assert _error(exc) == ("InvalidKeyUsageException", (f"{signing['Arn']} key usage is "
                           "SIGN_VERIFY which is not valid for Encrypt."), 400)


# -- key states and DryRun ----------------------------------------------------------------------


def test_disabled_and_pending_deletion_keys_refuse(kms: Any) -> None:
    meta = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    kms.disable_key(KeyId=meta["KeyId"])
    calls = {
        "Sign": lambda: kms.sign(KeyId=meta["KeyId"], Message=MESSAGE,
                                 SigningAlgorithm="ECDSA_SHA_256"),
        "Verify": lambda: kms.verify(KeyId=meta["KeyId"], Message=MESSAGE, Signature=b"s",
                                     SigningAlgorithm="ECDSA_SHA_256"),
        "GetPublicKey": lambda: kms.get_public_key(KeyId=meta["KeyId"]),
    }
    for call in calls.values():
        with pytest.raises(ClientError) as exc:
            call()
        assert _error(exc) == ("DisabledException", f"{meta['Arn']} is disabled.", 400)
    kms.schedule_key_deletion(KeyId=meta["KeyId"], PendingWindowInDays=7)
    for call in calls.values():
        with pytest.raises(ClientError) as exc:
            call()
        assert _error(exc) == ("KMSInvalidStateException",
                               f"{meta['Arn']} is pending deletion.", 400)


def test_dry_run_on_every_operation(kms: Any, key: Any) -> None:
    sign = key("ECC_NIST_P256", "SIGN_VERIFY")["KeyId"]
    mac = key("HMAC_256", "GENERATE_VERIFY_MAC")["KeyId"]
    agree = key("ECC_NIST_P256", "KEY_AGREEMENT")["KeyId"]
    kem = key("ML_KEM_768", "ENCAPSULATE_DECAPSULATE")["KeyId"]
    rsa = key("RSA_2048", "ENCRYPT_DECRYPT")["KeyId"]
    peer = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    symmetric = kms.create_key()["KeyMetadata"]["KeyId"]
    calls = [
        lambda: kms.sign(KeyId=sign, Message=MESSAGE, SigningAlgorithm="ECDSA_SHA_256",
                         DryRun=True),
        lambda: kms.verify(KeyId=sign, Message=MESSAGE, Signature=b"s",
                           SigningAlgorithm="ECDSA_SHA_256", DryRun=True),
        lambda: kms.generate_mac(KeyId=mac, Message=MESSAGE, MacAlgorithm="HMAC_SHA_256",
                                 DryRun=True),
        lambda: kms.verify_mac(KeyId=mac, Message=MESSAGE, Mac=b"m" * 32,
                               MacAlgorithm="HMAC_SHA_256", DryRun=True),
        lambda: kms.derive_shared_secret(KeyId=agree, KeyAgreementAlgorithm="ECDH",
                                         PublicKey=peer, DryRun=True),
        lambda: kms.encapsulate(KeyId=kem, EncapsulationAlgorithm="ML_KEM", DryRun=True),
        lambda: kms.decapsulate(KeyId=kem, EncapsulationAlgorithm="ML_KEM",
                                SharedSecretCiphertextBlob=b"c" * 1088, DryRun=True),
        lambda: kms.encrypt(KeyId=rsa, Plaintext=b"p", EncryptionAlgorithm="RSAES_OAEP_SHA_1",
                            DryRun=True),
        lambda: kms.decrypt(KeyId=rsa, CiphertextBlob=b"c" * 256,
                            EncryptionAlgorithm="RSAES_OAEP_SHA_1", DryRun=True),
        lambda: kms.generate_data_key_pair(KeyId=symmetric, KeyPairSpec="RSA_2048",
                                           DryRun=True),
        lambda: kms.generate_data_key_pair_without_plaintext(
            KeyId=symmetric, KeyPairSpec="ECC_NIST_P256", DryRun=True),
    ]
    for call in calls:
        with pytest.raises(ClientError) as exc:
            call()
        assert _error(exc) == ("DryRunOperationException", DRY_RUN, 400)


# -- encryption ---------------------------------------------------------------------------------

LIMITS = [("RSA_2048", "RSAES_OAEP_SHA_1", 214), ("RSA_2048", "RSAES_OAEP_SHA_256", 190),
          ("RSA_3072", "RSAES_OAEP_SHA_1", 342), ("RSA_3072", "RSAES_OAEP_SHA_256", 318),
          ("RSA_4096", "RSAES_OAEP_SHA_1", 470), ("RSA_4096", "RSAES_OAEP_SHA_256", 446)]


@pytest.mark.parametrize(("spec", "algorithm", "limit"), LIMITS,
                         ids=[f"{s}-{a}" for s, a, _ in LIMITS])
def test_rsa_oaep_round_trips_and_limits(kms: Any, key: Any, spec: str, algorithm: str,
                                         limit: int) -> None:
    meta = key(spec, "ENCRYPT_DECRYPT")
    out = kms.encrypt(KeyId=meta["KeyId"], Plaintext=b"x" * limit, EncryptionAlgorithm=algorithm)
    assert (out["KeyId"], out["EncryptionAlgorithm"]) == (meta["Arn"], algorithm)
    assert len(out["CiphertextBlob"]) == int(spec[4:]) // 8  # raw OAEP output, no envelope
    back = kms.decrypt(KeyId=meta["KeyId"], CiphertextBlob=out["CiphertextBlob"],
                       EncryptionAlgorithm=algorithm)
    assert (back["Plaintext"], back["KeyId"], back["EncryptionAlgorithm"]) == (
        b"x" * limit, meta["Arn"], algorithm)
    assert "KeyMaterialId" not in back
    h = hashes.SHA1() if algorithm.endswith("_1") else hashes.SHA256()  # noqa: S303 - AWS OAEP
    offline = _public(kms, meta["KeyId"]).encrypt(
        b"made offline", padding.OAEP(padding.MGF1(h), h, None))
    assert kms.decrypt(KeyId=meta["Arn"], CiphertextBlob=offline,
                       EncryptionAlgorithm=algorithm)["Plaintext"] == b"made offline"
    with pytest.raises(ClientError) as exc:
        kms.encrypt(KeyId=meta["KeyId"], Plaintext=b"x" * (limit + 1),
                    EncryptionAlgorithm=algorithm)
    assert _error(exc) == ("ValidationException", (f"Algorithm {algorithm} and key spec {spec} "
                           f"cannot encrypt data larger than {limit} bytes."), 400)


def test_rsa_decrypt_refusals(kms: Any, key: Any) -> None:
    meta = key("RSA_2048", "ENCRYPT_DECRYPT")
    blob = kms.encrypt(KeyId=meta["KeyId"], Plaintext=b"p",
                       EncryptionAlgorithm="RSAES_OAEP_SHA_256")["CiphertextBlob"]
    with pytest.raises(ClientError) as exc:  # the algorithm defaults to SYMMETRIC_DEFAULT
        kms.decrypt(KeyId=meta["KeyId"], CiphertextBlob=blob)
    assert _error(exc) == ("InvalidKeyUsageException", ("Algorithm SYMMETRIC_DEFAULT is "
                           "incompatible with key spec RSA_2048."), 400)
    for wrong in ({"EncryptionAlgorithm": "RSAES_OAEP_SHA_1"}, {}):
        with pytest.raises(ClientError) as exc:
            kms.decrypt(CiphertextBlob=blob, **({"KeyId": meta["KeyId"]} | wrong)
                        if wrong else {})
        assert _error(exc) == ("InvalidCiphertextException", "", 400)
    with pytest.raises(ClientError) as exc:
        kms.encrypt(KeyId=meta["KeyId"], Plaintext=b"p")
    assert _error(exc) == ("InvalidKeyUsageException", ("Algorithm SYMMETRIC_DEFAULT is "
                           "incompatible with key spec RSA_2048."), 400)


def test_re_encrypt_between_rsa_and_symmetric(kms: Any, key: Any) -> None:
    rsa = key("RSA_3072", "ENCRYPT_DECRYPT")
    symmetric = kms.create_key()["KeyMetadata"]
    blob = kms.encrypt(KeyId=rsa["KeyId"], Plaintext=b"move me",
                       EncryptionAlgorithm="RSAES_OAEP_SHA_256")["CiphertextBlob"]
    moved = kms.re_encrypt(CiphertextBlob=blob, SourceKeyId=rsa["KeyId"],
                           SourceEncryptionAlgorithm="RSAES_OAEP_SHA_256",
                           DestinationKeyId=symmetric["KeyId"])
    assert (moved["SourceKeyId"], moved["KeyId"], moved["SourceEncryptionAlgorithm"],
            moved["DestinationEncryptionAlgorithm"]) == (
        rsa["Arn"], symmetric["Arn"], "RSAES_OAEP_SHA_256", "SYMMETRIC_DEFAULT")
    assert kms.decrypt(CiphertextBlob=moved["CiphertextBlob"])["Plaintext"] == b"move me"
    back = kms.re_encrypt(CiphertextBlob=moved["CiphertextBlob"], DestinationKeyId=rsa["Arn"],
                          DestinationEncryptionAlgorithm="RSAES_OAEP_SHA_1")
    assert kms.decrypt(KeyId=rsa["KeyId"], CiphertextBlob=back["CiphertextBlob"],
                       EncryptionAlgorithm="RSAES_OAEP_SHA_1")["Plaintext"] == b"move me"


def test_sm2pke_in_china(china: Any, key: Any) -> None:
    meta = key("SM2", "ENCRYPT_DECRYPT")
    der = china.get_public_key(KeyId=meta["KeyId"])["PublicKey"]
    blob = china.encrypt(KeyId=meta["KeyId"], Plaintext=b"sm2 data",
                         EncryptionAlgorithm="SM2PKE")["CiphertextBlob"]
    assert china.decrypt(KeyId=meta["KeyId"], CiphertextBlob=blob,
                         EncryptionAlgorithm="SM2PKE")["Plaintext"] == b"sm2 data"
    offline = gmssl_pyx.sm2_encrypt(der[-64:], b"offline sm2")
    assert china.decrypt(KeyId=meta["KeyId"], CiphertextBlob=offline,
                         EncryptionAlgorithm="SM2PKE")["Plaintext"] == b"offline sm2"
    with pytest.raises(ClientError) as exc:
        china.decrypt(KeyId=meta["KeyId"], CiphertextBlob=blob[:-1] + bytes([blob[-1] ^ 1]),
                      EncryptionAlgorithm="SM2PKE")
    assert _error(exc) == ("InvalidCiphertextException", "", 400)


def test_encryption_context_is_for_symmetric_keys_only(kms: Any, key: Any) -> None:
    meta = key("RSA_2048", "ENCRYPT_DECRYPT")
    with pytest.raises(ClientError) as exc:
        kms.encrypt(KeyId=meta["KeyId"], Plaintext=b"p", EncryptionAlgorithm="RSAES_OAEP_SHA_1",
                    EncryptionContext={"a": "b"})
    assert _error(exc) == ("ValidationException", ("EncryptionContext is not supported with "
                           "KMS keys of key spec RSA_2048."), 400)


# -- data key pairs -----------------------------------------------------------------------------

PAIRS = ["RSA_2048", "RSA_3072", "RSA_4096", "ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521",
         "ECC_SECG_P256K1", "ECC_NIST_EDWARDS25519", "ML_KEM_512", "ML_KEM_768", "ML_KEM_1024"]


@pytest.mark.parametrize("spec", PAIRS)
def test_data_key_pairs(kms: Any, spec: str) -> None:
    symmetric = kms.create_key()["KeyMetadata"]
    context = {"purpose": "pair"}
    pair = kms.generate_data_key_pair(KeyId=symmetric["KeyId"], KeyPairSpec=spec,
                                      EncryptionContext=context)
    assert (pair["KeyId"], pair["KeyPairSpec"], pair["KeyMaterialId"]) == (
        symmetric["Arn"], spec, symmetric["CurrentKeyMaterialId"])
    private = pair["PrivateKeyPlaintext"]
    if spec.startswith("ML_KEM"):  # seed-form PKCS #8: 86 bytes for every ML-KEM spec
        assert len(private) == 86
        assert MLKEM.import_key(private).public_key().export_key(format="DER") == pair["PublicKey"]
    else:
        loaded = serialization.load_der_private_key(private, None)
        assert loaded.public_key().public_bytes(  # type: ignore[union-attr]
            serialization.Encoding.DER,
            serialization.PublicFormat.SubjectPublicKeyInfo) == pair["PublicKey"]
    assert kms.decrypt(CiphertextBlob=pair["PrivateKeyCiphertextBlob"],
                       EncryptionContext=context)["Plaintext"] == private
    with pytest.raises(ClientError) as exc:
        kms.decrypt(CiphertextBlob=pair["PrivateKeyCiphertextBlob"])
    assert _error(exc) == ("InvalidCiphertextException", "", 400)
    without = kms.generate_data_key_pair_without_plaintext(KeyId=symmetric["Arn"],
                                                           KeyPairSpec=spec)
    assert "PrivateKeyPlaintext" not in without
    assert without["KeyPairSpec"] == spec
    assert kms.decrypt(CiphertextBlob=without["PrivateKeyCiphertextBlob"])["Plaintext"]


def test_sm2_pairs_in_china_only(kms: Any, china: Any) -> None:
    symmetric = china.create_key()["KeyMetadata"]["KeyId"]
    pair = china.generate_data_key_pair(KeyId=symmetric, KeyPairSpec="SM2")
    assert pair["PublicKey"][-64:] in pair["PrivateKeyPlaintext"]
    elsewhere = kms.create_key()["KeyMetadata"]["KeyId"]
    with pytest.raises(ClientError) as exc:
        kms.generate_data_key_pair(KeyId=elsewhere, KeyPairSpec="SM2")
    assert _error(exc) == ("UnsupportedOperationException",
                           "KeyPairSpec SM2 is not available in the Region us-east-1.", 400)


def test_data_key_pairs_need_a_symmetric_key(kms: Any, key: Any) -> None:
    rsa = key("RSA_2048", "ENCRYPT_DECRYPT")
    signing = key("ECC_NIST_P256", "SIGN_VERIFY")
    with pytest.raises(ClientError) as exc:
        kms.generate_data_key_pair(KeyId=rsa["KeyId"], KeyPairSpec="ECC_NIST_P256")
    assert _error(exc) == ("InvalidKeyUsageException", (f"{rsa['Arn']} key KeySpec is RSA_2048 "
                           "which is not valid for GenerateDataKeyPair."), 400)
    with pytest.raises(ClientError) as exc:
        kms.generate_data_key(KeyId=signing["KeyId"], KeySpec="AES_256")
    assert _error(exc) == ("InvalidKeyUsageException", (f"{signing['Arn']} key usage is "
                           "SIGN_VERIFY which is not valid for GenerateDataKey."), 400)


# -- key agreement and encapsulation ------------------------------------------------------------

CURVES = {"ECC_NIST_P256": ec.SECP256R1(), "ECC_NIST_P384": ec.SECP384R1(),
          "ECC_NIST_P521": ec.SECP521R1()}


@pytest.mark.parametrize("spec", list(CURVES))
def test_derive_shared_secret_matches_the_peer(kms: Any, key: Any, spec: str) -> None:
    meta = key(spec, "KEY_AGREEMENT")
    peer = ec.generate_private_key(CURVES[spec])
    out = kms.derive_shared_secret(
        KeyId=meta["KeyId"], KeyAgreementAlgorithm="ECDH",
        PublicKey=peer.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))
    assert out["SharedSecret"] == peer.exchange(ec.ECDH(), _public(kms, meta["KeyId"]))
    assert (out["KeyId"], out["KeyAgreementAlgorithm"], out["KeyOrigin"]) == (
        meta["Arn"], "ECDH", "AWS_KMS")


def test_derive_shared_secret_refuses_bad_public_keys(kms: Any, key: Any) -> None:
    meta = key("ECC_NIST_P256", "KEY_AGREEMENT")
    other_curve = ec.generate_private_key(ec.SECP384R1()).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    for bad in (b"not a key", other_curve, other_curve[:-1]):
        with pytest.raises(ClientError) as exc:
            kms.derive_shared_secret(KeyId=meta["KeyId"], KeyAgreementAlgorithm="ECDH",
                                     PublicKey=bad)
        assert _error(exc) == ("ValidationException", "", 400)
    signing = key("ECC_NIST_P256", "SIGN_VERIFY")
    with pytest.raises(ClientError) as exc:
        kms.derive_shared_secret(KeyId=signing["KeyId"], KeyAgreementAlgorithm="ECDH",
                                 PublicKey=other_curve)
    assert _error(exc) == ("InvalidKeyUsageException", (f"{signing['Arn']} key usage is "
                           "SIGN_VERIFY which is not valid for DeriveSharedSecret."), 400)


@pytest.mark.parametrize(("spec", "size"), [("ML_KEM_512", 768), ("ML_KEM_768", 1088),
                                            ("ML_KEM_1024", 1568)])
def test_encapsulate_and_decapsulate(kms: Any, key: Any, spec: str, size: int) -> None:
    meta = key(spec, "ENCAPSULATE_DECAPSULATE")
    out = kms.encapsulate(KeyId=meta["KeyId"], EncapsulationAlgorithm="ML_KEM")
    assert (len(out["SharedSecret"]), len(out["SharedSecretCiphertextBlob"])) == (32, size)
    back = kms.decapsulate(KeyId=meta["Arn"], EncapsulationAlgorithm="ML_KEM",
                           SharedSecretCiphertextBlob=out["SharedSecretCiphertextBlob"])
    assert (back["SharedSecret"], back["KeyId"], back["EncapsulationAlgorithm"]) == (
        out["SharedSecret"], meta["Arn"], "ML_KEM")
    # Encapsulated locally with GetPublicKey's SPKI, decapsulated by KMS.
    public = MLKEM.import_key(kms.get_public_key(KeyId=meta["KeyId"])["PublicKey"])
    assert public.ek  # the encapsulation key of the right parameter set
    tampered = bytes([out["SharedSecretCiphertextBlob"][0] ^ 1]) + \
        out["SharedSecretCiphertextBlob"][1:]
    other = kms.decapsulate(KeyId=meta["KeyId"], EncapsulationAlgorithm="ML_KEM",
                            SharedSecretCiphertextBlob=tampered)["SharedSecret"]
    assert len(other) == 32
    assert other != out["SharedSecret"]  # implicit rejection: a secret, but another one
    with pytest.raises(ClientError) as exc:
        kms.decapsulate(KeyId=meta["KeyId"], EncapsulationAlgorithm="ML_KEM",
                        SharedSecretCiphertextBlob=out["SharedSecretCiphertextBlob"][:-1])
    assert _error(exc) == ("InvalidCiphertextException", "", 400)


def test_local_ml_kem_encapsulation_decapsulates_in_kms(kms: Any, key: Any) -> None:
    from cryptography.hazmat.primitives.asymmetric import mlkem  # noqa: PLC0415

    meta = key("ML_KEM_768", "ENCAPSULATE_DECAPSULATE")
    public = serialization.load_der_public_key(kms.get_public_key(KeyId=meta["KeyId"])[
        "PublicKey"])
    assert isinstance(public, mlkem.MLKEM768PublicKey)
    secret, ciphertext = public.encapsulate()
    assert kms.decapsulate(KeyId=meta["KeyId"], EncapsulationAlgorithm="ML_KEM",
                           SharedSecretCiphertextBlob=ciphertext)["SharedSecret"] == secret


# -- GetPublicKey refusals ----------------------------------------------------------------------


def test_get_public_key_of_symmetric_and_hmac_keys(kms: Any, key: Any) -> None:
    for meta in (kms.create_key()["KeyMetadata"], key("HMAC_384", "GENERATE_VERIFY_MAC")):
        with pytest.raises(ClientError) as exc:
            kms.get_public_key(KeyId=meta["KeyId"])
        assert _error(exc) == ("UnsupportedOperationException", (f"{meta['Arn']} is not an "
                               "asymmetric KMS key. GetPublicKey works only with asymmetric KMS "
                               "keys."), 400)


def test_prehashed_ecdsa_signature_of_a_digest(kms: Any, key: Any) -> None:
    """A DIGEST signature verifies offline as a signature over the digest's message."""
    meta = key("ECC_SECG_P256K1", "SIGN_VERIFY")
    digest = hashlib.sha256(b"blockchain").digest()
    signature = kms.sign(KeyId=meta["KeyId"], Message=digest, MessageType="DIGEST",
                         SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    _public(kms, meta["KeyId"]).verify(signature, digest,
                                       ec.ECDSA(utils.Prehashed(hashes.SHA256())))


# -- CloudTrail ---------------------------------------------------------------------------------


def test_trail_records_the_request_parameters_without_secrets(module_server: ServerProcess
                                                              ) -> None:
    region = "ap-south-1"  # a Region of its own: its trail holds only these calls
    kms = module_server.client("kms", region)
    trail = module_server.client("cloudtrail", region)
    signing = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    mac = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]
    symmetric = kms.create_key()["KeyMetadata"]
    signature = kms.sign(KeyId=signing["KeyId"], Message=b"secret message",
                         SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    kms.verify(KeyId=signing["KeyId"], Message=b"secret message", Signature=signature,
               MessageType="RAW", SigningAlgorithm="ECDSA_SHA_256")
    kms.generate_mac(KeyId=mac["KeyId"], Message=b"secret", MacAlgorithm="HMAC_SHA_256")
    kms.generate_data_key_pair(KeyId=symmetric["KeyId"], KeyPairSpec="ECC_NIST_P384",
                               EncryptionContext={"k": "v"})
    kms.get_public_key(KeyId=signing["KeyId"])
    found: dict[str, dict[str, Any]] = {}
    for page in trail.get_paginator("lookup_events").paginate():
        for event in page["Events"]:
            record = json.loads(event["CloudTrailEvent"])
            found.setdefault(record["eventName"], record)
    assert found["Sign"]["requestParameters"] == {
        "keyId": signing["KeyId"], "messageType": "RAW", "signingAlgorithm": "ECDSA_SHA_256"}
    assert found["Verify"]["requestParameters"] == {
        "keyId": signing["KeyId"], "messageType": "RAW", "signingAlgorithm": "ECDSA_SHA_256"}
    assert found["GenerateMac"]["requestParameters"] == {
        "keyId": mac["KeyId"], "macAlgorithm": "HMAC_SHA_256"}
    assert found["GenerateDataKeyPair"]["requestParameters"] == {
        "keyId": symmetric["KeyId"], "keyPairSpec": "ECC_NIST_P384",
        "encryptionContext": {"k": "v"}}
    assert found["GetPublicKey"]["requestParameters"] == {"keyId": signing["KeyId"]}
    for name in ("Sign", "Verify", "GenerateMac", "GenerateDataKeyPair", "GetPublicKey"):
        assert found[name]["readOnly"] is True
        assert found[name]["responseElements"] is None
        assert found[name]["resources"][0]["ARN"] in (signing["Arn"], mac["Arn"],
                                                      symmetric["Arn"])
    create = found["CreateKey"]  # the newest CreateKey: the symmetric key
    assert create["responseElements"]["keyMetadata"]["encryptionAlgorithms"] == [
        "SYMMETRIC_DEFAULT"]


# -- durability and wire-level bad inputs -------------------------------------------------------


def test_keys_survive_a_restart_with_their_material_sealed(hsmkms_server: ServerProcess
                                                            ) -> None:
    kms = hsmkms_server.client("kms")
    signing = kms.create_key(KeySpec="ECC_NIST_P384", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    mac = kms.create_key(KeySpec="HMAC_512", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]
    public = kms.get_public_key(KeyId=signing["KeyId"])["PublicKey"]
    tag = kms.generate_mac(KeyId=mac["KeyId"], Message=b"m", MacAlgorithm="HMAC_SHA_512")["Mac"]
    symmetric = kms.create_key()["KeyMetadata"]["KeyId"]
    pair = kms.generate_data_key_pair(KeyId=symmetric, KeyPairSpec="ECC_NIST_P256")
    hsmkms_server.stop()  # flush everything, WAL included
    on_disk = [p.read_bytes() for p in hsmkms_server.data_dir.rglob("*") if p.is_file()]
    private = pair["PrivateKeyPlaintext"]
    for form in (private, base64.b64encode(private), private.hex().encode()):
        assert not any(form in blob for blob in on_disk)
    db = sqlite3.connect(hsmkms_server.data_dir / "hsmkms.db")
    for key_id, length in ((mac["KeyId"], 64), (signing["KeyId"], None)):
        (body,) = db.execute("SELECT body FROM documents WHERE kind = 'kms.key' AND id = ?",
                             (key_id,)).fetchone()
        sealed = base64.b64decode(json.loads(body)["material"])
        assert sealed[0] == 1  # the sealed format of hsmkms.crypto.RootKey, not DER
        if length is not None:
            assert len(sealed) == 1 + 12 + length + 16
    db.close()
    hsmkms_server.start()
    kms = hsmkms_server.client("kms")
    assert kms.get_public_key(KeyId=signing["KeyId"])["PublicKey"] == public
    signature = kms.sign(KeyId=signing["KeyId"], Message=MESSAGE,
                         SigningAlgorithm="ECDSA_SHA_384")["Signature"]
    serialization.load_der_public_key(public).verify(  # type: ignore[union-attr]
        signature, MESSAGE, ec.ECDSA(hashes.SHA384()))  # type: ignore[call-arg]
    assert kms.verify_mac(KeyId=mac["KeyId"], Message=b"m", Mac=tag,
                          MacAlgorithm="HMAC_SHA_512")["MacValid"] is True


@pytest.mark.parametrize(("member", "params", "message"), [
    ("Value at 'message'", {"Message": b"m" * 4097},
     "Member must have length less than or equal to 4096"),
    ("Value at 'message'", {"Message": b""},
     "Member must have length greater than or equal to 1"),
    # A blob that is not sensitive is named by its Java class, as AWS does (kms.md 2).
    ("Value 'java.nio.HeapByteBuffer' at 'signature'", {"Message": b"m", "Signature": b"s" * 6145},
     "Member must have length less than or equal to 6144"),
])
def test_oversized_inputs_are_model_errors(module_server: ServerProcess, key: Any, member: str,
                                           params: dict[str, Any], message: str) -> None:
    loose = module_server.client("kms", config=Config(parameter_validation=False))
    meta = key("ECC_NIST_P256", "SIGN_VERIFY")
    call = loose.verify if "Signature" in params else loose.sign
    with pytest.raises(ClientError) as exc:
        call(KeyId=meta["KeyId"], SigningAlgorithm="ECDSA_SHA_256", **params)
    assert _error(exc) == ("ValidationException", (f"1 validation error detected: {member} "
                           f"failed to satisfy constraint: {message}"), 400)


#: The MAC of b"m" under each HMAC key of :data:`STATE_CALLS` (made while it is enabled).
_MACS: dict[str, bytes] = {}
#: Every new operation, with the key usage it needs and a valid request for a key of it.
STATE_CALLS: dict[str, tuple[str, str, Callable[[Any, str], Any]]] = {
    "GenerateMac": ("HMAC_224", "GENERATE_VERIFY_MAC", lambda kms, k: kms.generate_mac(
        KeyId=k, Message=b"m", MacAlgorithm="HMAC_SHA_224")),
    "VerifyMac": ("HMAC_224", "GENERATE_VERIFY_MAC", lambda kms, k: kms.verify_mac(
        KeyId=k, Message=b"m", Mac=_MACS[k], MacAlgorithm="HMAC_SHA_224")),
    "DeriveSharedSecret": ("ECC_NIST_P256", "KEY_AGREEMENT", lambda kms, k: (
        kms.derive_shared_secret(KeyId=k, KeyAgreementAlgorithm="ECDH",
                                 PublicKey=kms.get_public_key(KeyId=k)["PublicKey"]))),
    "Encapsulate": ("ML_KEM_1024", "ENCAPSULATE_DECAPSULATE", lambda kms, k: kms.encapsulate(
        KeyId=k, EncapsulationAlgorithm="ML_KEM")),
    "Decapsulate": ("ML_KEM_1024", "ENCAPSULATE_DECAPSULATE", lambda kms, k: kms.decapsulate(
        KeyId=k, EncapsulationAlgorithm="ML_KEM", SharedSecretCiphertextBlob=b"c" * 1568)),
    "Encrypt": ("RSA_2048", "ENCRYPT_DECRYPT", lambda kms, k: kms.encrypt(
        KeyId=k, Plaintext=b"p", EncryptionAlgorithm="RSAES_OAEP_SHA_256")),
}


@pytest.mark.parametrize("operation", list(STATE_CALLS))
def test_disabled_keys_refuse_every_operation(kms: Any, key: Any, operation: str) -> None:
    spec, usage, call = STATE_CALLS[operation]
    meta = key(spec, usage)
    if usage == "GENERATE_VERIFY_MAC":
        _MACS[meta["KeyId"]] = kms.generate_mac(KeyId=meta["KeyId"], Message=b"m",
                                                MacAlgorithm="HMAC_SHA_224")["Mac"]
    call(kms, meta["KeyId"])  # works while the key is enabled
    kms.disable_key(KeyId=meta["KeyId"])
    try:
        with pytest.raises(ClientError) as exc:
            call(kms, meta["KeyId"])
        assert _error(exc) == ("DisabledException", f"{meta['Arn']} is disabled.", 400)
    finally:
        kms.enable_key(KeyId=meta["KeyId"])
