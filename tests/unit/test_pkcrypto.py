"""hsmkms.pkcrypto: known answers where a standard gives them (RFC 8032 Ed25519ph), agreement
between the libraries behind it (ML-KEM-512 keys from one seed), and the SM2 encodings."""

from __future__ import annotations

import pytest
from Crypto.PublicKey import MLKEM
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from kyber_py.ml_kem import ML_KEM_512

from hsmkms import crypto, pkcrypto

# RFC 8032 section 7.3, test 1 (Ed25519ph, message "abc").
RFC8032_SEED = "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42"
RFC8032_PUBLIC = "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf"
RFC8032_SIGNATURE = ("98a70222f0b8121aa9d30f813d683f809e462b469c7ff87639499bb94e6dae41"
                     "31f85042463c2a355a2003d062adf5aaa10b8c61e636062aaad11c2a26083406")


def _ph(message: bytes) -> pkcrypto.SignInput:
    return pkcrypto.SignInput("ED25519_PH_SHA_512", message, "DIGEST", "sha512")


def test_ed25519ph_rfc8032_vector() -> None:
    key = ed25519.Ed25519PrivateKey.from_private_bytes(bytes.fromhex(RFC8032_SEED))
    pkcs8 = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption())
    spec = "ECC_NIST_EDWARDS25519"
    assert pkcrypto.public_key(spec, pkcs8)[-32:].hex() == RFC8032_PUBLIC
    assert pkcrypto.sign(spec, pkcs8, _ph(b"abc")).hex() == RFC8032_SIGNATURE
    assert pkcrypto.verify(spec, pkcs8, _ph(b"abc"), bytes.fromhex(RFC8032_SIGNATURE))
    assert not pkcrypto.verify(spec, pkcs8, _ph(b"abd"), bytes.fromhex(RFC8032_SIGNATURE))


def test_ml_kem_512_libraries_agree_on_keys_from_a_seed() -> None:
    private = pkcrypto.generate("ML_KEM_512")
    seed = MLKEM.import_key(private).seed
    ek, dk = ML_KEM_512.key_derive(seed)
    assert MLKEM.import_key(private).ek == ek
    assert MLKEM.import_key(private).expanded_dk == dk
    assert MLKEM.import_key(pkcrypto.public_key("ML_KEM_512", private)).ek == ek


def test_ml_kem_512_round_trip_and_implicit_rejection() -> None:
    private = pkcrypto.generate("ML_KEM_512")
    secret, ciphertext = pkcrypto.encapsulate("ML_KEM_512", private)
    assert (len(secret), len(ciphertext)) == (32, 768)
    assert pkcrypto.decapsulate("ML_KEM_512", private, ciphertext) == secret
    wrong = pkcrypto.decapsulate("ML_KEM_512", private, bytes(768))
    assert len(wrong) == 32
    assert wrong != secret
    with pytest.raises(crypto.CryptoError):
        pkcrypto.decapsulate("ML_KEM_512", private, ciphertext[:-1])


def test_sm2_encodings_round_trip() -> None:
    private = pkcrypto.generate("SM2")
    spki = pkcrypto.public_key("SM2", private)
    # id-ecPublicKey with the SM2 curve OID (1.2.156.10197.1.301), uncompressed point
    assert bytes.fromhex("06082a811ccf5501822d") in spki
    assert spki[-65] == 4
    what = pkcrypto.SignInput("SM2DSA", b"message", "RAW", "sm3")
    signature = pkcrypto.sign("SM2", private, what)
    assert pkcrypto.verify("SM2", private, what, signature)
    ciphertext = pkcrypto.encrypt("SM2", private, "SM2PKE", b"secret")
    assert pkcrypto.decrypt("SM2", private, "SM2PKE", ciphertext) == b"secret"


@pytest.mark.parametrize(("spec", "length"), [("HMAC_224", 28), ("HMAC_256", 32),
                                              ("HMAC_384", 48), ("HMAC_512", 64)])
def test_hmac_rfc4231_case_2(spec: str, length: int) -> None:
    """RFC 4231 test case 2 (key "Jefe"): the MAC is HMAC with the spec's SHA-2."""
    expected = {
        "HMAC_224": "a30e01098bc6dbbf45690f3a7e9e6d0f8bbea2a39e6148008fd05e44",
        "HMAC_256": "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
        "HMAC_384": "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e"
                    "8e2240ca5e69e2c78b3239ecfab21649",
        "HMAC_512": "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
                    "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
    }[spec]
    mac = pkcrypto.mac(spec, b"Jefe", b"what do ya want for nothing?")
    assert (mac.hex(), len(mac)) == (expected, length)
    assert pkcrypto.mac_matches(spec, b"Jefe", b"what do ya want for nothing?", mac)
    assert len(pkcrypto.generate(spec)) == length


def test_bad_peer_keys() -> None:
    private = pkcrypto.generate("ECC_NIST_P256")
    other = pkcrypto.public_key("ECC_NIST_P384", pkcrypto.generate("ECC_NIST_P384"))
    for bad in (b"", b"junk", other):
        with pytest.raises(pkcrypto.BadPublicKey):
            pkcrypto.derive_shared_secret("ECC_NIST_P256", private, bad)
