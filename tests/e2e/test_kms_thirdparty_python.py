"""Python cryptography libraries check a real server's asymmetric keys, given only what
``GetPublicKey`` answers (its DER SubjectPublicKeyInfo):

* pyca ``cryptography`` verifies ``Sign`` signatures of every RSA, ECDSA, Ed25519 and ML-DSA
  algorithm (ML-DSA also over an external μ), computes the same ECDH secret as
  ``DeriveSharedSecret`` from the peer's side, encrypts RSA-OAEP ciphertexts that KMS
  ``Decrypt`` opens, and encapsulates ML-KEM secrets that KMS ``Decapsulate`` recovers;
* PyCryptodome verifies ``ED25519_PH_SHA_512`` (HashEdDSA Ed25519ph, RFC 8032 5.1), which
  neither pyca nor openssl 3.0 offer.

Facts relied on, from AWS's documentation: RSASSA-PSS salt length = hash length with MGF1 of
the same hash; ECDSA signatures are DER; Ed25519 with ED25519_SHA_512 is pure Ed25519 over the
RAW message; ED25519_PH_SHA_512 takes a 64-byte SHA-512 digest as DIGEST and "KMS still performs
the SHA-512 prehash ... the input is hashed twice" (Sign, MessageType); ML_DSA_SHAKE_256 is pure
ML-DSA (FIPS 204) with an empty context, and EXTERNAL_MU signs the 64-byte μ of FIPS 204 6.2;
ML-KEM shared secrets are 32 bytes and Decapsulate takes a ciphertext encapsulated with the
public key outside KMS.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError
from Crypto.Hash import SHA512
from Crypto.PublicKey import ECC
from Crypto.Signature import eddsa
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, mldsa, mlkem, padding, rsa
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_der_public_key,
)

from hsmkms.testing.server import ServerProcess

HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "SHA_256": hashes.SHA256, "SHA_384": hashes.SHA384, "SHA_512": hashes.SHA512}
SIGNING = [(f"RSA_{bits}", f"RSASSA_{pad}_SHA_{size}") for bits in (2048,)
           for pad in ("PKCS1_V1_5", "PSS") for size in (256, 384, 512)]
SIGNING += [("RSA_3072", "RSASSA_PSS_SHA_256"), ("RSA_3072", "RSASSA_PKCS1_V1_5_SHA_512"),
            ("ECC_NIST_P256", "ECDSA_SHA_256"), ("ECC_NIST_P384", "ECDSA_SHA_384"),
            ("ECC_NIST_P521", "ECDSA_SHA_512"), ("ECC_SECG_P256K1", "ECDSA_SHA_256")]
CURVES: dict[str, ec.EllipticCurve] = {
    "ECC_NIST_P256": ec.SECP256R1(), "ECC_NIST_P384": ec.SECP384R1(),
    "ECC_NIST_P521": ec.SECP521R1(), "ECC_SECG_P256K1": ec.SECP256K1()}
ML_DSA = {"ML_DSA_44": (mldsa.MLDSA44PublicKey, 2420), "ML_DSA_65": (mldsa.MLDSA65PublicKey, 3309),
          "ML_DSA_87": (mldsa.MLDSA87PublicKey, 4627)}
#: pyca has ML-KEM-768 and -1024 (no 512); FIPS 203 ciphertext sizes.
ML_KEM = {"ML_KEM_768": (mlkem.MLKEM768PublicKey, 1088),
          "ML_KEM_1024": (mlkem.MLKEM1024PublicKey, 1568)}

#: RFC 8032 section 7.3, "TEST abc" of Ed25519ph.
RFC8032_ED25519PH_PUBLIC = "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf"
RFC8032_ED25519PH_SIGNATURE = (
    "98a70222f0b8121aa9d30f813d683f809e462b469c7ff87639499bb94e6dae41"
    "31f85042463c2a355a2003d062adf5aaa10b8c61e636062aaad11c2a26083406")

KeyFactory = Callable[[str, str], dict[str, Any]]


@pytest.fixture(scope="module")
def kms(module_server: ServerProcess) -> Any:
    return module_server.client("kms")


@pytest.fixture(scope="module")
def keys(kms: Any) -> KeyFactory:
    made: dict[tuple[str, str], dict[str, Any]] = {}

    def get(spec: str, usage: str) -> dict[str, Any]:
        if (spec, usage) not in made:
            made[spec, usage] = kms.create_key(KeySpec=spec, KeyUsage=usage,
                                               Description=f"python {spec}")["KeyMetadata"]
        return made[spec, usage]

    return get


def public_der(kms: Any, meta: dict[str, Any]) -> bytes:
    resp = kms.get_public_key(KeyId=meta["KeyId"])
    assert (resp["KeyId"], resp["KeySpec"]) == (meta["Arn"], meta["KeySpec"])
    return bytes(resp["PublicKey"])


def public_key(kms: Any, meta: dict[str, Any]) -> Any:
    """GetPublicKey's key, loaded by pyca; its DER is the canonical SubjectPublicKeyInfo (named
    curve, uncompressed point, as RFC 5480 requires every implementation to read), so pyca's own
    encoding of the key gives the same bytes."""
    der = public_der(kms, meta)
    public = load_der_public_key(der)
    assert public.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo) == der
    return public


def sign(kms: Any, meta: dict[str, Any], message: bytes, algorithm: str,
         message_type: str = "RAW") -> bytes:
    resp = kms.sign(KeyId=meta["KeyId"], Message=message, MessageType=message_type,
                    SigningAlgorithm=algorithm)
    assert (resp["KeyId"], resp["SigningAlgorithm"]) == (meta["Arn"], algorithm)
    return bytes(resp["Signature"])


def verify_offline(public: Any, signature: bytes, message: bytes, algorithm: str) -> None:
    """Raises InvalidSignature unless ``signature`` is ``algorithm``'s over ``message``."""
    digest = HASHES[algorithm[-7:]]()
    if isinstance(public, rsa.RSAPublicKey):
        pad: padding.AsymmetricPadding = (
            padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
            if "_PSS_" in algorithm else padding.PKCS1v15())
        public.verify(signature, message, pad, digest)
    else:
        assert isinstance(public, ec.EllipticCurvePublicKey)
        public.verify(signature, message, ec.ECDSA(digest))


@pytest.mark.parametrize(("spec", "algorithm"), SIGNING)
def test_signature_verifies_with_cryptography(kms: Any, keys: KeyFactory, spec: str,
                                              algorithm: str) -> None:
    meta = keys(spec, "SIGN_VERIFY")
    public = public_key(kms, meta)
    if spec in CURVES:
        assert isinstance(public, ec.EllipticCurvePublicKey)
        assert public.curve.name == CURVES[spec].name
    else:
        assert isinstance(public, rsa.RSAPublicKey)
        assert (public.key_size, public.public_numbers().e) == (int(spec[4:]), 65537)
    message = os.urandom(777)
    signature = sign(kms, meta, message, algorithm)
    verify_offline(public, signature, message, algorithm)
    with pytest.raises(InvalidSignature):
        verify_offline(public, signature, message + b"!", algorithm)
    # DIGEST: the caller's hash, signed without hashing again
    digest = hashes.Hash(HASHES[algorithm[-7:]]())
    digest.update(message)
    verify_offline(public, sign(kms, meta, digest.finalize(), algorithm, "DIGEST"), message,
                   algorithm)


def test_ed25519_signature_verifies_with_cryptography(kms: Any, keys: KeyFactory) -> None:
    meta = keys("ECC_NIST_EDWARDS25519", "SIGN_VERIFY")
    public = public_key(kms, meta)
    assert isinstance(public, ed25519.Ed25519PublicKey)
    assert len(public_der(kms, meta)) == 44  # RFC 8410 SubjectPublicKeyInfo
    message = b"Ed25519 signed by KMS"
    signature = sign(kms, meta, message, "ED25519_SHA_512")
    public.verify(signature, message)
    with pytest.raises(InvalidSignature):
        public.verify(signature, message[1:])
    # Pure Ed25519 is deterministic (RFC 8032 5.1.6): signing again gives the same bytes.
    assert sign(kms, meta, message, "ED25519_SHA_512") == signature


def test_ed25519ph_signature_verifies_with_pycryptodome(kms: Any, keys: KeyFactory) -> None:
    """ED25519_PH_SHA_512 over a caller's SHA-512 digest D is Ed25519ph of the message D: KMS
    pre-hashes D once more, as HashEdDSA does (Sign API Reference, MessageType). PyCryptodome's
    EdDSA verifier runs Ed25519ph when handed a SHA-512 hash object."""
    # The verifier itself first, on RFC 8032 7.3's Ed25519ph test vector (message "abc"); the
    # server uses PyCryptodome too, so this is what makes the check independent of it.
    rfc_key = eddsa.import_public_key(bytes.fromhex(RFC8032_ED25519PH_PUBLIC))
    eddsa.new(rfc_key, "rfc8032").verify(SHA512.new(b"abc"),
                                         bytes.fromhex(RFC8032_ED25519PH_SIGNATURE))
    meta = keys("ECC_NIST_EDWARDS25519", "SIGN_VERIFY")
    verifier = eddsa.new(ECC.import_key(public_der(kms, meta)), "rfc8032")
    message = os.urandom(6000)
    digest = hashlib.sha512(message).digest()
    signature = sign(kms, meta, digest, "ED25519_PH_SHA_512", "DIGEST")
    assert len(signature) == 64
    verifier.verify(SHA512.new(digest), signature)
    with pytest.raises(ValueError, match="not authentic"):
        verifier.verify(SHA512.new(digest[:-1] + bytes([digest[-1] ^ 1])), signature)
    # the same key's pure Ed25519 signature of D is a different signature (no dom2 prefix)
    with pytest.raises(ValueError, match="not authentic"):
        verifier.verify(SHA512.new(digest), sign(kms, meta, digest, "ED25519_SHA_512"))


@pytest.mark.parametrize("spec", sorted(ML_DSA))
def test_ml_dsa_signature_verifies_with_cryptography(kms: Any, keys: KeyFactory,
                                                     spec: str) -> None:
    cls, length = ML_DSA[spec]
    meta = keys(spec, "SIGN_VERIFY")
    public = public_key(kms, meta)
    assert isinstance(public, cls)
    message = os.urandom(4096)
    signature = sign(kms, meta, message, "ML_DSA_SHAKE_256")
    assert len(signature) == length
    public.verify(signature, message)
    with pytest.raises(InvalidSignature):
        public.verify(signature, message[:-1])
    # External μ (FIPS 204 6.2) computed here; KMS signs it; the signature verifies against
    # the message itself.
    hasher = mldsa.MLDSAMuHasher(public)
    hasher.update(message)
    mu = hasher.finalize()
    assert len(mu) == 64
    mu_signature = sign(kms, meta, mu, "ML_DSA_SHAKE_256", "EXTERNAL_MU")
    public.verify(mu_signature, message)
    public.verify_mu(signature, mu)


@pytest.mark.parametrize("spec", ["ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521"])
def test_derive_shared_secret_equals_the_peers_local_ecdh(kms: Any, keys: KeyFactory,
                                                          spec: str) -> None:
    """The peer holds its own private key and only KMS's public key; KMS holds its private key
    and only the peer's public key: both get the same secret."""
    meta = keys(spec, "KEY_AGREEMENT")
    kms_public = public_key(kms, meta)
    assert isinstance(kms_public, ec.EllipticCurvePublicKey)
    peer = ec.generate_private_key(CURVES[spec])
    peer_der = peer.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    resp = kms.derive_shared_secret(KeyId=meta["Arn"], KeyAgreementAlgorithm="ECDH",
                                    PublicKey=peer_der)
    assert resp["SharedSecret"] == peer.exchange(ec.ECDH(), kms_public)
    assert (resp["KeyId"], resp["KeyAgreementAlgorithm"], resp["KeyOrigin"]) == (
        meta["Arn"], "ECDH", "AWS_KMS")


@pytest.mark.parametrize(("spec", "algorithm"), [("RSA_2048", "RSAES_OAEP_SHA_1"),
                                                 ("RSA_3072", "RSAES_OAEP_SHA_256")])
def test_cryptography_oaep_ciphertext_decrypts_through_kms(kms: Any, keys: KeyFactory,
                                                           spec: str, algorithm: str) -> None:
    meta = keys(spec, "ENCRYPT_DECRYPT")
    public = public_key(kms, meta)
    assert isinstance(public, rsa.RSAPublicKey)
    digest = hashes.SHA1() if algorithm.endswith("SHA_1") else hashes.SHA256()  # noqa: S303
    plaintext = os.urandom(100)
    ciphertext = public.encrypt(plaintext, padding.OAEP(mgf=padding.MGF1(digest),
                                                        algorithm=digest, label=None))
    resp = kms.decrypt(KeyId=meta["KeyId"], CiphertextBlob=ciphertext,
                       EncryptionAlgorithm=algorithm)
    assert (resp["Plaintext"], resp["KeyId"], resp["EncryptionAlgorithm"]) == (
        plaintext, meta["Arn"], algorithm)


@pytest.mark.parametrize("spec", sorted(ML_KEM))
def test_local_ml_kem_encapsulation_decapsulates_in_kms(kms: Any, keys: KeyFactory,
                                                        spec: str) -> None:
    cls, ciphertext_length = ML_KEM[spec]
    meta = keys(spec, "ENCAPSULATE_DECAPSULATE")
    public = public_key(kms, meta)
    assert isinstance(public, cls)
    secret, ciphertext = public.encapsulate()
    assert len(ciphertext) == ciphertext_length
    resp = kms.decapsulate(KeyId=meta["KeyId"], SharedSecretCiphertextBlob=ciphertext,
                           EncapsulationAlgorithm="ML_KEM")
    assert (resp["SharedSecret"], resp["KeyId"], resp["EncapsulationAlgorithm"]) == (
        secret, meta["Arn"], "ML_KEM")
    # and KMS's own encapsulation makes ciphertexts of the same size for the same key
    made = kms.encapsulate(KeyId=meta["KeyId"], EncapsulationAlgorithm="ML_KEM")
    assert len(made["SharedSecretCiphertextBlob"]) == ciphertext_length
    assert len(made["SharedSecret"]) == 32
    again = kms.decapsulate(KeyId=meta["KeyId"],
                            SharedSecretCiphertextBlob=made["SharedSecretCiphertextBlob"],
                            EncapsulationAlgorithm="ML_KEM")
    assert again["SharedSecret"] == made["SharedSecret"]


def test_tampered_signature_is_refused_by_kms_verify_too(kms: Any, keys: KeyFactory) -> None:
    """What pyca rejects KMS rejects too: KMSInvalidSignatureException (Verify never answers
    SignatureValid false; API Reference, Verify)."""
    meta = keys("ECC_NIST_P256", "SIGN_VERIFY")
    public = public_key(kms, meta)
    message = b"tamper with me"
    signature = sign(kms, meta, message, "ECDSA_SHA_256")
    with pytest.raises(InvalidSignature):
        verify_offline(public, signature, message + b"?", "ECDSA_SHA_256")
    with pytest.raises(ClientError) as exc:
        kms.verify(KeyId=meta["KeyId"], Message=message + b"?", Signature=signature,
                   SigningAlgorithm="ECDSA_SHA_256")
    assert exc.value.response["Error"]["Code"] == "KMSInvalidSignatureException"
