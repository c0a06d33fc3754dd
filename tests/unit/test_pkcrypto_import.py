"""hsmkms.pkcrypto's imported key material: unwrapping what clients wrap (pyca, as the AWS
guide's Python example does) and the checks of the material's form (spec kms-keys.md 4.2,
4.3)."""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding

from hsmkms import pkcrypto
from hsmkms.crypto import CryptoError

_DER = serialization.Encoding.DER
_PKCS8 = serialization.PrivateFormat.PKCS8
_NONE = serialization.NoEncryption()


@pytest.fixture(scope="module")
def wrapping() -> bytes:
    return pkcrypto.generate("RSA_2048")


def _public(private: bytes) -> rsa.RSAPublicKey:
    key = serialization.load_der_public_key(pkcrypto.public_key("RSA_2048", private, keep=False))
    assert isinstance(key, rsa.RSAPublicKey)
    return key


def _oaep(h: hashes.HashAlgorithm) -> padding.OAEP:
    return padding.OAEP(mgf=padding.MGF1(h), algorithm=h, label=None)


@pytest.mark.parametrize(("algorithm", "h"), [("RSAES_OAEP_SHA_1", hashes.SHA1()),
                                              ("RSAES_OAEP_SHA_256", hashes.SHA256())])
def test_oaep_unwraps(wrapping: bytes, algorithm: str, h: hashes.HashAlgorithm) -> None:
    material = os.urandom(32)
    blob = _public(wrapping).encrypt(material, _oaep(h))
    assert pkcrypto.unwrap("RSA_2048", wrapping, algorithm, blob) == material


@pytest.mark.parametrize(("algorithm", "h"), [("RSA_AES_KEY_WRAP_SHA_1", hashes.SHA1()),
                                              ("RSA_AES_KEY_WRAP_SHA_256", hashes.SHA256())])
def test_rsa_aes_key_wrap_unwraps(wrapping: bytes, algorithm: str,
                                  h: hashes.HashAlgorithm) -> None:
    material = os.urandom(1217)  # any length: RFC 5649 pads
    aes = os.urandom(32)
    blob = _public(wrapping).encrypt(aes, _oaep(h)) + aes_key_wrap_with_padding(aes, material)
    assert pkcrypto.unwrap("RSA_2048", wrapping, algorithm, blob) == material
    with pytest.raises(CryptoError):  # the other hash inside OAEP
        other = "RSA_AES_KEY_WRAP_SHA_256" if algorithm.endswith("1") else (
            "RSA_AES_KEY_WRAP_SHA_1")
        pkcrypto.unwrap("RSA_2048", wrapping, other, blob)
    with pytest.raises(CryptoError):  # the wrapped material altered
        pkcrypto.unwrap("RSA_2048", wrapping, algorithm, blob[:-1] + bytes([blob[-1] ^ 1]))
    with pytest.raises(CryptoError):  # a 128-bit AES key is not what AWS specifies
        short = os.urandom(16)
        pkcrypto.unwrap("RSA_2048", wrapping, algorithm, _public(wrapping).encrypt(
            short, _oaep(h)) + aes_key_wrap_with_padding(short, material))
    with pytest.raises(CryptoError):  # the RSA part alone
        pkcrypto.unwrap("RSA_2048", wrapping, algorithm, blob[:256])


def test_sm2pke_unwraps() -> None:
    private = pkcrypto.generate("SM2")
    material = os.urandom(32)
    blob = pkcrypto.encrypt("SM2", private, "SM2PKE", material)
    assert pkcrypto.unwrap("SM2", private, "SM2PKE", blob) == material
    with pytest.raises(CryptoError):
        pkcrypto.unwrap("SM2", pkcrypto.generate("SM2"), "SM2PKE", blob)


def test_imported_private_keys_are_reencoded_and_checked() -> None:
    p256 = ec.generate_private_key(ec.SECP256R1())
    der = p256.private_bytes(_DER, _PKCS8, _NONE)
    stored = pkcrypto.imported("ECC_NIST_P256", der)
    assert pkcrypto.public_key("ECC_NIST_P256", stored, keep=False) == (
        p256.public_key().public_bytes(_DER, serialization.PublicFormat.SubjectPublicKeyInfo))
    for spec in ("ECC_NIST_P384", "ECC_SECG_P256K1", "RSA_2048"):
        with pytest.raises(pkcrypto.BadKeyMaterial):
            pkcrypto.imported(spec, der)
    ed = ed25519.Ed25519PrivateKey.generate().private_bytes(_DER, _PKCS8, _NONE)
    with pytest.raises(pkcrypto.BadKeyMaterial):
        pkcrypto.imported("ECC_NIST_P256", ed)
    sec1 = p256.private_bytes(_DER, serialization.PrivateFormat.TraditionalOpenSSL, _NONE)
    with pytest.raises(pkcrypto.BadKeyMaterial, match="PKCS #8"):
        pkcrypto.imported("ECC_NIST_P256", sec1)


def test_imported_sm2_needs_its_own_public_key() -> None:
    a, b = pkcrypto.generate("SM2"), pkcrypto.generate("SM2")
    assert pkcrypto.imported("SM2", a) == a
    a_private, _a_public = pkcrypto._sm2_keys(a)  # noqa: SLF001 - a mismatched pair
    _b_private, b_public = pkcrypto._sm2_keys(b)  # noqa: SLF001
    with pytest.raises(pkcrypto.BadKeyMaterial, match="does not match"):
        pkcrypto.imported("SM2", pkcrypto._sm2_pkcs8(a_private, b_public))  # noqa: SLF001
    p256 = ec.generate_private_key(ec.SECP256R1()).private_bytes(_DER, _PKCS8, _NONE)
    with pytest.raises(pkcrypto.BadKeyMaterial):
        pkcrypto.imported("SM2", p256)


@pytest.mark.parametrize(("spec", "ok", "bad"), [
    ("SYMMETRIC_DEFAULT", (32,), (0, 16, 31, 33)),
    ("HMAC_224", (28, 64), (27, 65)), ("HMAC_256", (32, 64), (31, 65)),
    ("HMAC_384", (48, 128), (47, 129)), ("HMAC_512", (64, 128), (63, 129))])
def test_secret_lengths(spec: str, ok: tuple[int, ...], bad: tuple[int, ...]) -> None:
    for n in ok:
        material = os.urandom(n)
        assert pkcrypto.imported(spec, material) == material
    for n in bad:
        with pytest.raises(pkcrypto.BadKeyMaterial):
            pkcrypto.imported(spec, os.urandom(n))
