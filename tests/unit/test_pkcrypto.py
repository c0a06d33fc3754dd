"""hsmkms.pkcrypto: known answers where a standard gives them (RFC 8032 Ed25519ph, the SM2
examples of GM/T 0003.5 / GB/T 32918.5), agreement between the libraries behind it (ML-KEM-512
keys from one seed), the SM2 encodings, and hsmkms.sm2's use of libcrypto (its limits, bad
inputs, threads, and a missing library)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import gmssl_pyx
import pytest
from Crypto.PublicKey import MLKEM
from Crypto.Util.asn1 import DerOctetString, DerSequence
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from kyber_py.ml_kem import ML_KEM_512

from hsmkms import crypto, pkcrypto, sm2
from hsmkms.ids import IdSource
from hsmkms.kms.backends.local import LocalBackend
from hsmkms.kms.model import Key, KeyState
from hsmkms.store.codec import Secret

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


def test_ml_kem_512_agrees_with_an_independent_implementation() -> None:
    """Ciphertexts of hsmkms's ML-KEM-512 (pqcrypto) decapsulate with kyber-py and the other
    way round; a tampered ciphertext gives both the same implicit-rejection secret."""
    private = pkcrypto.generate("ML_KEM_512")
    ek, dk = ML_KEM_512.key_derive(MLKEM.import_key(private).seed)
    secret, ciphertext = pkcrypto.encapsulate("ML_KEM_512", private)
    assert ML_KEM_512.decaps(dk, ciphertext) == secret
    theirs, their_ciphertext = ML_KEM_512.encaps(ek)
    assert pkcrypto.decapsulate("ML_KEM_512", private, their_ciphertext) == theirs
    tampered = bytes([ciphertext[0] ^ 1]) + ciphertext[1:]
    assert pkcrypto.decapsulate("ML_KEM_512", private, tampered) == \
        ML_KEM_512.decaps(dk, tampered)


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


# The SM2 example key of GB/T 32918.5 / GM/T 0003.5 (Annex A): d, and P = dG.
SM2_D = "3945208f7b2144b13f36e38ac6d39f95889393692860b51a42fb81ef4df7c5b8"
SM2_PX = "09f9df311e5421a150dd7d161e4bc5c672179fad1833fc076bb08ff356f35020"
SM2_PY = "ccea490ce26775a52dc6ea718cc1aa600aed05fbf35e084a6632f6072da9ad13"
# The curve's generator G (GB/T 32918.5 section 2).
SM2_GX = "32c4ae2c1f1981195f9904466a39c9948fe30bbff2660be1715a4589334c74c7"
SM2_GY = "bc3736a2f4f6779c59bdcee36b692153d0a9877cc62a474002df32e52139f0a0"
# DER: id-ecPublicKey, then the SM2 curve (1.2.156.10197.1.301).
SM2_ALGORITHM = "301306072a8648ce3d020106082a811ccf5501822d"
#: The example key as hsmkms stores it: RFC 5915 ECPrivateKey (with [1] public key) in PKCS #8.
SM2_PKCS8 = bytes.fromhex(f"308187020100{SM2_ALGORITHM}046d306b0201010420{SM2_D}"
                          f"a14403420004{SM2_PX}{SM2_PY}")
# GM/T 0003.5 Annex C: "encryption standard" under the example key (k = 59276e27...), as the
# DER SEQUENCE {x1, y1, C3, C2} of GM/T 0009 (the form KMS and openssl use).
SM2_EXAMPLE_CIPHERTEXT = bytes.fromhex(
    "307c022004ebfc718e8d1798620432268e77feb6415e2ede0e073c0f4f640ecd2e149a73"
    "022100e858f9d81e5430a57b36daab8f950a3c64e6ee6a63094d99283aff767e124df0"
    "042059983c18f809e262923c53aec295d30383b54e39d609d160afcb1908d0bd8766"
    "041321886ca989ca9c7d58087307ca93092d651efa")


def _sm2_spki(x: str, y: str) -> bytes:
    return bytes.fromhex(f"3059{SM2_ALGORITHM}03420004{x}{y}")


def test_sm2_example_key_encodes_as_hsmkms_stores_it() -> None:
    assert pkcrypto.public_key("SM2", SM2_PKCS8) == _sm2_spki(SM2_PX, SM2_PY)


def test_sm2pke_decrypts_the_standard_example() -> None:
    assert pkcrypto.decrypt("SM2", SM2_PKCS8, "SM2PKE",
                            SM2_EXAMPLE_CIPHERTEXT) == b"encryption standard"
    tampered = SM2_EXAMPLE_CIPHERTEXT[:-1] + bytes([SM2_EXAMPLE_CIPHERTEXT[-1] ^ 1])
    for bad in (tampered, SM2_EXAMPLE_CIPHERTEXT[:-1], b"\x30\x00", b"junk"):
        with pytest.raises(crypto.CryptoError):
            pkcrypto.decrypt("SM2", SM2_PKCS8, "SM2PKE", bad)


def test_sm2_ecdh_with_the_generator_gives_the_public_x() -> None:
    """d * G = P: ECDH against G answers P's x-coordinate (the example key's, from the
    standard), the raw 32-byte shared secret KMS returns."""
    secret = pkcrypto.derive_shared_secret("SM2", SM2_PKCS8, _sm2_spki(SM2_GX, SM2_GY))
    assert secret.hex() == SM2_PX


@pytest.mark.parametrize("size", [1, 255, 256, 1024, 5000])
def test_sm2pke_round_trips_beyond_gmssl_limit(size: int) -> None:
    """libcrypto has no length limit (KMS's 1024 is checked by the use case); GmSSL, which
    stops at 255, decrypts what libcrypto encrypts and the other way round."""
    private = pkcrypto.generate("SM2")
    plaintext = bytes(range(256)) * (size // 256) + bytes(size % 256)
    ciphertext = pkcrypto.encrypt("SM2", private, "SM2PKE", plaintext)
    # x1, y1 (up to 33 bytes each in DER), C3 (32), C2 (as long as the plaintext)
    assert size + 97 <= len(ciphertext) <= size + 116
    assert pkcrypto.decrypt("SM2", private, "SM2PKE", ciphertext) == plaintext
    if size <= 255:  # GmSSL, a second implementation, up to its limit
        scalar = DerOctetString().decode(
            DerSequence().decode(DerOctetString().decode(
                DerSequence().decode(private)[2]).payload)[1]).payload
        assert bytes(gmssl_pyx.sm2_decrypt(scalar, ciphertext)) == plaintext


def test_sm2_ecdh_agrees_both_ways_and_refuses_bad_peers() -> None:
    a, b = pkcrypto.generate("SM2"), pkcrypto.generate("SM2")
    a_pub, b_pub = pkcrypto.public_key("SM2", a), pkcrypto.public_key("SM2", b)
    secret = pkcrypto.derive_shared_secret("SM2", a, b_pub)
    assert len(secret) == sm2.FIELD_BYTES
    assert pkcrypto.derive_shared_secret("SM2", b, a_pub) == secret
    p256 = pkcrypto.public_key("ECC_NIST_P256", pkcrypto.generate("ECC_NIST_P256"))
    off_curve = _sm2_spki(SM2_GX, SM2_GY[:-1] + "1")
    infinity = bytes.fromhex(f"3019{SM2_ALGORITHM}03020000")  # the point at infinity
    for bad in (b"", b"junk", p256, b_pub + b"\0", b_pub[:-1], off_curve, infinity):
        with pytest.raises(pkcrypto.BadPublicKey):
            pkcrypto.derive_shared_secret("SM2", a, bad)
    with pytest.raises(pkcrypto.BadPublicKey):
        pkcrypto.derive_shared_secret("ECC_NIST_P256", pkcrypto.generate("ECC_NIST_P256"), b_pub)


def test_sm2_operations_run_in_parallel_threads() -> None:
    """Each call makes and frees its own libcrypto objects: concurrent calls don't mix."""
    keys = [pkcrypto.generate("SM2") for _ in range(4)]
    peers = [pkcrypto.public_key("SM2", k) for k in reversed(keys)]

    def work(i: int) -> tuple[bytes, bytes]:
        k = keys[i % 4]
        text = bytes([i]) * (i + 1)
        back = pkcrypto.decrypt("SM2", k, "SM2PKE", pkcrypto.encrypt("SM2", k, "SM2PKE", text))
        assert back == text
        return pkcrypto.derive_shared_secret("SM2", k, peers[i % 4]), back

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(work, range(40)))
    for i, (secret, _) in enumerate(results):
        assert secret == results[i % 4][0]
    assert results[0][0] == results[3][0]  # keys[0] with keys[3]'s public key, and vice versa


def test_missing_libcrypto_is_an_error_at_use_naming_what_was_tried() -> None:
    with pytest.raises(sm2.Unavailable, match=r"libhsmkms-absent\.so\.3") as exc:
        sm2.open_libcrypto(("libhsmkms-absent.so.3",))
    assert "OpenSSL 3's libcrypto" in str(exc.value)
    # A library without OpenSSL's functions (the C library) is not taken either.
    with pytest.raises(sm2.Unavailable, match="undefined symbol"):
        sm2.open_libcrypto(("libc.so.6",))


def test_libcrypto_is_found_through_python_ssl_module_too() -> None:
    ssl_module = [place for place in sm2.places() if Path(place).name.startswith("_ssl")]
    assert len(ssl_module) == 1
    assert sm2.open_libcrypto(tuple(ssl_module)).OpenSSL_version_num() >= 0x3000_0000


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


def _ecdsa() -> pkcrypto.SignInput:
    return pkcrypto.SignInput("ECDSA_SHA_256", b"m", "RAW", "sha256")


def test_key_objects_are_cached_bounded_and_forgotten() -> None:
    private = pkcrypto.generate("ECC_NIST_P256")
    assert private not in pkcrypto.KEY_OBJECTS
    pkcrypto.sign("ECC_NIST_P256", private, _ecdsa())
    assert private in pkcrypto.KEY_OBJECTS
    pkcrypto.forget(private)
    assert private not in pkcrypto.KEY_OBJECTS
    cache = pkcrypto.KeyObjects()
    cache.LIMIT = 2
    first, second, third = (pkcrypto.generate("ECC_NIST_P256") for _ in range(3))
    for material in (first, second, first, third):  # first used again: second is the oldest
        cache.get(material)
    assert (first in cache, second in cache, third in cache, len(cache)) == (True, False, True, 2)


def test_deleting_a_key_drops_its_cached_private_key() -> None:
    """The key deletion job asks the backend to delete the material: the parsed private key
    must not outlive the key in the process's memory."""
    private = pkcrypto.generate("ECC_NIST_P256")
    key = Key(key_id="1234abcd-12ab-34cd-56ef-1234567890ab", account="111122223333",
              region="us-east-1", created=0.0, state=KeyState.PENDING_DELETION,
              key_spec="ECC_NIST_P256", key_usage="SIGN_VERIFY", material=Secret(private))
    pkcrypto.sign("ECC_NIST_P256", private, _ecdsa())
    assert private in pkcrypto.KEY_OBJECTS
    LocalBackend(IdSource(1)).delete_material("111122223333/us-east-1", key)
    assert private not in pkcrypto.KEY_OBJECTS
