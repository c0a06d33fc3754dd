"""Asymmetric and HMAC cryptography for KMS keys, behind one small interface.

Every function takes the KMS key spec by name (``RSA_2048``, ``ECC_NIST_P256``, ``SM2``,
``ML_KEM_512``, ``HMAC_256``...) and the key's *private material* as stored (sealed at rest by
the store):

* RSA, ECC, Ed25519, ML-DSA, ML-KEM: DER PKCS #8 ``PrivateKeyInfo`` (ML-DSA and ML-KEM in the
  seed form: 32 and 64 bytes of seed), the form GenerateDataKeyPair returns;
* SM2: the same, an RFC 5915 ``ECPrivateKey`` on the SM2 curve inside PKCS #8;
* HMAC: the raw key (as long as the MAC).

Libraries, chosen per primitive (no hand-written primitive anywhere):

* ``cryptography`` (pyca, pinned 50.0.2): RSA (OAEP, PKCS #1 v1.5, PSS), ECDSA and ECDH on
  P-256/P-384/P-521/secp256k1, pure Ed25519, ML-DSA-44/65/87 incl. external mu, ML-KEM-768/1024,
  HMAC. It has no Ed25519ph, no ML-KEM-512 and nothing of SM2.
* ``pycryptodome`` (>= 4.4): Ed25519ph (RFC 8032 HashEdDSA, ``eddsa.new(key, "rfc8032")`` signing
  a SHA-512 hash object) and the ML-KEM-512 key encodings (SPKI, PKCS #8 seed form, RFC 9935).
  A maintained C-backed library (releases through 2026) whose self-tests carry the RFC 8032 and
  FIPS 203 vectors; its ML-KEM encapsulation is private API, so it is not used for that.
* ``pqcrypto`` (>= 1.0): ML-KEM-512 encapsulation and decapsulation (``encaps(ek)``,
  ``decaps(dk, ct)``), Python bindings of the PQClean C implementations (written to run in
  constant time), about 0.3 ms for a round trip. The keys come from the stored seed through
  pycryptodome's public ``ek`` and ``expanded_dk`` (FIPS 203 encodings, which PQClean uses).
  Replaced ``kyber-py``, whose authors call it educational, not constant time and without
  cryptographic guarantees, and which took about 20 ms per round trip under the app lock.
  ``tests/unit/test_pkcrypto.py`` checks that pqcrypto, pycryptodome and kyber-py (a test-only
  dependency) agree, implicit rejection included.
* ``gmssl_pyx`` (>= 2.1): SM2 key generation and signatures (GM/T 0003.2 with the default
  distinguishing ID ``1234567812345678``, as KMS uses), a binding of the GmSSL C library (Peking
  University's reference implementation of the Chinese standards, maintained; wheels through
  2026). Rejected: ``gmssl`` (pure Python, draws its ECDSA nonces from :mod:`random` and skips
  the C3 check on decryption) and ``tongsuopy`` (no SM2 encryption, last release 2023).
* OpenSSL 3's libcrypto (:mod:`hsmkms.sm2`, through ctypes): SM2 public-key encryption (DER
  ``C1C3C2``, the format KMS returns) and ECDH on the SM2 curve. GmSSL encrypts at most 255 bytes
  with SM2, where KMS allows 1024, and has no key agreement; libcrypto has neither limit.

Errors: :class:`CryptoError` for a ciphertext that does not decrypt, :class:`BadPublicKey` for a
peer public key that is not a key of the right curve; :class:`hsmkms.sm2.Unavailable` at SM2
encryption or key agreement on a machine without OpenSSL 3's libcrypto.
"""

from __future__ import annotations

import hmac
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import gmssl_pyx
from Crypto.Hash import SHA512
from Crypto.PublicKey import ECC, MLKEM
from Crypto.Signature import eddsa
from Crypto.Util.asn1 import DerBitString, DerObjectId, DerOctetString, DerSequence
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, keywrap, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, mldsa, mlkem, padding, rsa, utils
from pqcrypto.kem import ml_kem_512

from hsmkms import sm2
from hsmkms.crypto import CryptoError

_DER = serialization.Encoding.DER
_SPKI = serialization.PublicFormat.SubjectPublicKeyInfo
_PKCS8 = serialization.PrivateFormat.PKCS8
_NONE = serialization.NoEncryption()

_CURVES: dict[str, ec.EllipticCurve] = {
    "ECC_NIST_P256": ec.SECP256R1(), "ECC_NIST_P384": ec.SECP384R1(),
    "ECC_NIST_P521": ec.SECP521R1(), "ECC_SECG_P256K1": ec.SECP256K1(),
}
_ML_DSA: dict[str, Any] = {"ML_DSA_44": mldsa.MLDSA44PrivateKey,
                           "ML_DSA_65": mldsa.MLDSA65PrivateKey,
                           "ML_DSA_87": mldsa.MLDSA87PrivateKey}
_ML_KEM: dict[str, Any] = {"ML_KEM_768": mlkem.MLKEM768PrivateKey,
                           "ML_KEM_1024": mlkem.MLKEM1024PrivateKey}
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1, "sha256": hashes.SHA256, "sha384": hashes.SHA384,
    "sha512": hashes.SHA512}
_HMAC_HASHES = {"HMAC_224": "sha224", "HMAC_256": "sha256", "HMAC_384": "sha384",
                "HMAC_512": "sha512"}
#: ML-KEM ciphertext lengths (FIPS 203 table 3).
KEM_CIPHERTEXT = {"ML_KEM_512": 768, "ML_KEM_768": 1088, "ML_KEM_1024": 1568}

# SM2 (GB/T 32918; RFC 8998 names the curve): id-ecPublicKey with the sm2p256v1 curve OID.
_EC_PUBLIC_KEY = "1.2.840.10045.2.1"
_SM2_CURVE = "1.2.156.10197.1.301"


class BadPublicKey(Exception):
    """A peer public key that is not a DER SubjectPublicKeyInfo of the key's curve."""


# -- generation and public keys -------------------------------------------------------------


def generate(spec: str) -> bytes:
    """New private material of ``spec`` (see the module docstring for its form)."""
    if spec.startswith("RSA_"):
        key: Any = rsa.generate_private_key(65537, int(spec[4:]))
    elif spec in _CURVES:
        key = ec.generate_private_key(_CURVES[spec])
    elif spec == "ECC_NIST_EDWARDS25519":
        key = ed25519.Ed25519PrivateKey.generate()
    elif spec in _ML_DSA:
        key = _ML_DSA[spec].generate()
    elif spec in _ML_KEM:
        key = _ML_KEM[spec].generate()
    elif spec == "ML_KEM_512":
        return bytes(MLKEM.generate(param_set=MLKEM.ML_KEM_512).export_key(format="DER"))
    elif spec == "SM2":
        public, private = gmssl_pyx.sm2_key_generate()
        return _sm2_pkcs8(private, public)
    elif spec in _HMAC_HASHES:
        return _random(int(spec[5:]) // 8)
    else:
        raise ValueError(f"no key material for {spec}")
    return bytes(key.private_bytes(_DER, _PKCS8, _NONE))


def _random(n: int) -> bytes:
    from hsmkms.crypto import random_bytes  # noqa: PLC0415 - one source of randomness

    return random_bytes(n)


def public_key(spec: str, private: bytes, *, keep: bool = True) -> bytes:
    """The DER SubjectPublicKeyInfo of an asymmetric key (``keep=False``: a data key pair's,
    whose private key must not stay in the cache of key objects)."""
    if spec == "ML_KEM_512":
        return bytes(MLKEM.import_key(private).public_key().export_key(format="DER"))
    if spec == "SM2":
        return _sm2_spki(_sm2_keys(private)[1])
    key = _load(private) if keep else _parse(private)
    return bytes(key.public_key().public_bytes(_DER, _SPKI))


def _parse(private: bytes) -> Any:
    """hsmkms made the material itself, so the RSA consistency check that guards against
    malformed imported keys is skipped."""
    return serialization.load_der_private_key(private, None,
                                              unsafe_skip_rsa_key_validation=True)


class KeyObjects:
    """The parsed key objects of stored material, cached: parsing (and RSA's key check) costs
    far more than the operation. At most :attr:`LIMIT`, least recently used dropped first;
    :meth:`forget` drops a deleted key's at once, so its private key does not outlive it in
    memory."""

    LIMIT = 512

    def __init__(self) -> None:
        self._objects: OrderedDict[bytes, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, private: bytes) -> Any:
        with self._lock:
            found = self._objects.get(private)
            if found is not None:
                self._objects.move_to_end(private)
                return found
        parsed = _parse(private)
        with self._lock:
            self._objects[private] = parsed
            while len(self._objects) > self.LIMIT:
                self._objects.popitem(last=False)
        return parsed

    def forget(self, private: bytes) -> None:
        with self._lock:
            self._objects.pop(private, None)

    def __contains__(self, private: object) -> bool:
        with self._lock:
            return private in self._objects

    def __len__(self) -> int:
        with self._lock:
            return len(self._objects)


#: The one cache of key objects (:func:`forget` empties it of a deleted key).
KEY_OBJECTS = KeyObjects()
_load = KEY_OBJECTS.get


def forget(private: bytes) -> None:
    """Drop the cached key object of ``private`` (its key was deleted)."""
    KEY_OBJECTS.forget(private)


# -- signatures -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SignInput:
    """What to sign or verify: ``message`` is RAW data, a DIGEST or an ML-DSA ``EXTERNAL_MU``
    (lengths already checked by the caller)."""

    algorithm: str
    message: bytes
    message_type: str
    #: The algorithm's hash (``sha256``...), see :data:`hsmkms.kms.keyspecs.SIGNING`.
    hash: str


def sign(spec: str, private: bytes, what: SignInput) -> bytes:  # noqa: PLR0911 - per family
    if spec == "SM2":
        priv, pub = _sm2_keys(private)
        if what.message_type == "DIGEST":
            return bytes(gmssl_pyx.sm2_sign_sm3_digest(priv, what.message))
        return bytes(gmssl_pyx.sm2_sign(priv, pub, what.message))
    if what.algorithm == "ED25519_PH_SHA_512":
        signer = eddsa.new(ECC.import_key(private), "rfc8032")
        return bytes(signer.sign(SHA512.new(what.message)))
    key = _load(private)
    if spec.startswith("RSA_"):
        return bytes(key.sign(what.message, _rsa_padding(what), _hash_arg(what)))
    if spec in _CURVES:
        return bytes(key.sign(what.message, ec.ECDSA(_hash_arg(what))))
    if spec in _ML_DSA:
        if what.message_type == "EXTERNAL_MU":
            return bytes(key.sign_mu(what.message))
        return bytes(key.sign(what.message))
    return bytes(key.sign(what.message))  # pure Ed25519


def verify(spec: str, private: bytes, what: SignInput, signature: bytes) -> bool:
    """Whether ``signature`` is valid (malformed signatures are simply not valid)."""
    try:
        return _verify(spec, private, what, signature)
    except (InvalidSignature, ValueError, gmssl_pyx.GmsslInnerError):
        return False


def _verify(spec: str, private: bytes, what: SignInput, signature: bytes) -> bool:
    if spec == "SM2":
        pub = _sm2_keys(private)[1]
        if what.message_type == "DIGEST":
            return bool(gmssl_pyx.sm2_verify_sm3_digest(pub, what.message, signature))
        return bool(gmssl_pyx.sm2_verify(pub, what.message, signature))
    if what.algorithm == "ED25519_PH_SHA_512":
        verifier = eddsa.new(ECC.import_key(private).public_key(), "rfc8032")
        verifier.verify(SHA512.new(what.message), signature)  # raises ValueError
        return True
    pub = _load(private).public_key()
    if spec.startswith("RSA_"):
        pub.verify(signature, what.message, _rsa_padding(what), _hash_arg(what))
    elif spec in _CURVES:
        pub.verify(signature, what.message, ec.ECDSA(_hash_arg(what)))
    elif spec in _ML_DSA and what.message_type == "EXTERNAL_MU":
        pub.verify_mu(signature, what.message)
    else:
        pub.verify(signature, what.message)
    return True


def _hash_arg(what: SignInput) -> Any:
    algorithm = _HASHES[what.hash]()
    return utils.Prehashed(algorithm) if what.message_type == "DIGEST" else algorithm


def _rsa_padding(what: SignInput) -> padding.AsymmetricPadding:
    if "_PSS_" in what.algorithm:
        # KMS's PSS salt is as long as the hash (DG asymmetric key specs).
        algorithm = _HASHES[what.hash]()
        return padding.PSS(mgf=padding.MGF1(algorithm), salt_length=algorithm.digest_size)
    return padding.PKCS1v15()


# -- public-key encryption -------------------------------------------------------------------


def _oaep(algorithm: str) -> padding.OAEP:
    # SHA-1 inside OAEP is AWS's RSAES_OAEP_SHA_1 (no collision resistance needed there).
    h = hashes.SHA1() if algorithm == "RSAES_OAEP_SHA_1" else hashes.SHA256()  # noqa: S303
    return padding.OAEP(mgf=padding.MGF1(h), algorithm=h, label=None)


def encrypt(spec: str, private: bytes, algorithm: str, plaintext: bytes) -> bytes:
    """RSAES-OAEP (empty label, MGF1 with the same hash) or SM2PKE (DER C1C3C2)."""
    if spec == "SM2":
        return sm2.encrypt(_sm2_spki(_sm2_keys(private)[1]), plaintext)
    return bytes(_load(private).public_key().encrypt(plaintext, _oaep(algorithm)))


def decrypt(spec: str, private: bytes, algorithm: str, ciphertext: bytes) -> bytes:
    try:
        if spec == "SM2":
            return sm2.decrypt(private, ciphertext)  # sm2.Sm2Error is a ValueError
        return bytes(_load(private).decrypt(ciphertext, _oaep(algorithm)))
    except ValueError as exc:
        raise CryptoError("the ciphertext does not decrypt") from exc


# -- key agreement and key encapsulation ------------------------------------------------------


def derive_shared_secret(spec: str, private: bytes, peer_spki: bytes) -> bytes:
    """ECDH: the x-coordinate of the shared point, field-size bytes (SEC 1, as pyca returns)."""
    if spec == "SM2":
        try:
            return sm2.derive(_sm2_keys(private)[0], peer_spki)
        except sm2.Sm2Error as exc:
            raise BadPublicKey(str(exc)) from None
    try:
        peer = serialization.load_der_public_key(peer_spki)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise BadPublicKey(str(exc)) from None
    if not isinstance(peer, ec.EllipticCurvePublicKey) or \
            peer.curve.name != _CURVES[spec].name:
        raise BadPublicKey("not a public key of the key's curve")
    return bytes(_load(private).exchange(ec.ECDH(), peer))


def encapsulate(spec: str, private: bytes) -> tuple[bytes, bytes]:
    """``(shared secret, ciphertext)`` under the key's encapsulation key."""
    if spec == "ML_KEM_512":
        ciphertext, secret = ml_kem_512.encaps(_kem512(private)[0])
        return bytes(secret), bytes(ciphertext)
    secret, ciphertext = _load(private).public_key().encapsulate()
    return bytes(secret), bytes(ciphertext)


def decapsulate(spec: str, private: bytes, ciphertext: bytes) -> bytes:
    """The shared secret (FIPS 203 implicit rejection: a wrong ciphertext of the right length
    gives a pseudo-random secret); a wrong length raises :class:`CryptoError`."""
    if len(ciphertext) != KEM_CIPHERTEXT[spec]:
        raise CryptoError("wrong ML-KEM ciphertext length")
    if spec == "ML_KEM_512":
        return bytes(ml_kem_512.decaps(_kem512(private)[1], ciphertext))
    return bytes(_load(private).decapsulate(ciphertext))


def _kem512(private: bytes) -> tuple[bytes, bytes]:
    """``(encapsulation key, expanded decapsulation key)`` from the PKCS #8 seed form."""
    key = MLKEM.import_key(private)
    return bytes(key.ek), bytes(key.expanded_dk)


# -- HMAC -------------------------------------------------------------------------------------


def mac(spec: str, key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, _HMAC_HASHES[spec]).digest()


def mac_matches(spec: str, key: bytes, message: bytes, tag: bytes) -> bool:
    return hmac.compare_digest(mac(spec, key, message), tag)


# -- SM2 encodings (DER structures around GmSSL's raw keys) ------------------------------------


def _sm2_spki(public: bytes) -> bytes:
    algorithm = DerSequence([DerObjectId(_EC_PUBLIC_KEY).encode(),
                             DerObjectId(_SM2_CURVE).encode()])
    return bytes(DerSequence([algorithm.encode(),
                              DerBitString(b"\x04" + public).encode()]).encode())


def _sm2_pkcs8(private: bytes, public: bytes) -> bytes:
    # RFC 5915 ECPrivateKey (version 1, key, [1] public key) inside RFC 5208 PrivateKeyInfo.
    ec_key = DerSequence([1, DerOctetString(private).encode(),
                          DerBitString(b"\x04" + public, explicit=1).encode()])
    algorithm = DerSequence([DerObjectId(_EC_PUBLIC_KEY).encode(),
                             DerObjectId(_SM2_CURVE).encode()])
    return bytes(DerSequence([0, algorithm.encode(),
                              DerOctetString(ec_key.encode()).encode()]).encode())


def _sm2_keys(pkcs8: bytes) -> tuple[bytes, bytes]:
    """``(private 32 bytes, public 64 bytes)`` from :func:`_sm2_pkcs8`'s encoding."""
    info = DerSequence().decode(pkcs8)
    ec_key = DerSequence().decode(DerOctetString().decode(info[2]).payload)
    private = DerOctetString().decode(ec_key[1]).payload
    point = DerBitString(explicit=1).decode(ec_key[2]).value
    return bytes(private), bytes(point[1:])


# -- imported key material (spec kms-keys.md 4.2, 4.3) -----------------------------------------

#: Lengths of an imported HMAC key, in bytes (spec kms-keys.md 4.3).
HMAC_IMPORT_BYTES = {"HMAC_224": (28, 64), "HMAC_256": (32, 64), "HMAC_384": (48, 128),
                     "HMAC_512": (64, 128)}
#: Bytes of imported symmetric encryption key material (AES-256).
SYMMETRIC_IMPORT_BYTES = 32
#: The ephemeral AES key of RSA_AES_KEY_WRAP_* blobs (AES-256).
_WRAP_AES_BYTES = 32


class BadKeyMaterial(ValueError):
    """Imported key material that is not a key of the KMS key's spec (the text says why)."""


def imported(spec: str, material: bytes) -> bytes:
    """The material to keep for key material imported into a key of ``spec``: AES-256 and HMAC
    keys as they are, private keys as DER PKCS #8 (re-encoded, checked for the spec's size or
    curve); :class:`BadKeyMaterial` if it is not such a key."""
    if spec == "SYMMETRIC_DEFAULT":
        if len(material) != SYMMETRIC_IMPORT_BYTES:
            raise BadKeyMaterial(f"Key material for SYMMETRIC_DEFAULT must be "
                                 f"{SYMMETRIC_IMPORT_BYTES} bytes.")
        return material
    if spec in HMAC_IMPORT_BYTES:
        low, high = HMAC_IMPORT_BYTES[spec]
        if not low <= len(material) <= high:
            raise BadKeyMaterial(f"Key material for {spec} must be {low} to {high} bytes.")
        return material
    _check_pkcs8(spec, material)
    if spec == "SM2":
        return _imported_sm2(material)
    return _imported_private(spec, material)


def _imported_private(spec: str, material: bytes) -> bytes:
    try:
        key: Any = serialization.load_der_private_key(material, None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise BadKeyMaterial(_NOT_PKCS8.format(spec=spec)) from None
    if spec.startswith("RSA_"):
        if not isinstance(key, rsa.RSAPrivateKey) or key.key_size != int(spec[4:]):
            raise BadKeyMaterial(_WRONG_KEY.format(spec=spec))
    elif spec in _CURVES:
        if not (isinstance(key, ec.EllipticCurvePrivateKey)
                and key.curve.name == _CURVES[spec].name):
            raise BadKeyMaterial(_WRONG_KEY.format(spec=spec))
    else:
        raise BadKeyMaterial(f"Key material cannot be imported into {spec} keys.")
    return bytes(key.private_bytes(_DER, _PKCS8, _NONE))


_NOT_PKCS8 = "Key material for {spec} must be a DER-encoded PKCS #8 private key."
_WRONG_KEY = "The private key in the key material is not a {spec} key."


def _check_pkcs8(spec: str, material: bytes) -> None:
    """A PKCS #8 ``PrivateKeyInfo`` (version, AlgorithmIdentifier, key), not a bare PKCS #1 or
    SEC 1 key (which the DER loader also takes)."""
    try:
        info = DerSequence().decode(material, strict=True)
        ok = len(info) >= 3 and info[0] in (0, 1) and isinstance(info[1], bytes) \
            and info[1][:1] == b"\x30"
    except (ValueError, TypeError, IndexError):
        ok = False
    if not ok:
        raise BadKeyMaterial(_NOT_PKCS8.format(spec=spec))


def _imported_sm2(material: bytes) -> bytes:
    try:
        info = DerSequence().decode(material, strict=True)
        algorithm = DerSequence().decode(info[1])
        oids = (DerObjectId().decode(algorithm[0]).value,
                DerObjectId().decode(algorithm[1]).value)
        ec_key = DerSequence().decode(DerOctetString().decode(info[2]).payload)
        private = bytes(DerOctetString().decode(ec_key[1]).payload)
        public_part = next((ec_key[i] for i in range(2, len(ec_key))
                            if isinstance(ec_key[i], bytes) and ec_key[i][:1] == b"\xa1"), None)
        point = DerBitString(explicit=1).decode(public_part).value if public_part else b""
    except (ValueError, TypeError, IndexError):
        raise BadKeyMaterial(_NOT_PKCS8.format(spec="SM2")) from None
    if oids != (_EC_PUBLIC_KEY, _SM2_CURVE) or len(private) != sm2.FIELD_BYTES:
        raise BadKeyMaterial(_WRONG_KEY.format(spec="SM2"))
    if len(point) != 1 + 2 * sm2.FIELD_BYTES or point[:1] != b"\x04":
        raise BadKeyMaterial("SM2 key material must include its public key (uncompressed).")
    stored = _sm2_pkcs8(private, bytes(point[1:]))
    probe = SignInput("SM2DSA", b"hsmkms import check", "RAW", "sm3")
    try:  # the public key must be the private key's
        valid = verify("SM2", stored, probe, sign("SM2", stored, probe))
    except (ValueError, TypeError):
        valid = False
    if not valid:
        raise BadKeyMaterial("The public key in the SM2 key material does not match its "
                             "private key.")
    return stored


def unwrap(wrapping_key_spec: str, private: bytes, algorithm: str, blob: bytes) -> bytes:
    """Key material wrapped for import with the public key of ``private`` (a wrapping key of
    GetParametersForImport) by ``algorithm``; :class:`CryptoError` if it does not unwrap.

    ``RSAES_OAEP_SHA_*``: RSAES-OAEP of the material (MGF1 with the same hash, empty label).
    ``RSA_AES_KEY_WRAP_SHA_*``: RSAES-OAEP of a 32-byte AES key, as long as the modulus,
    followed by AES key wrap with padding (RFC 5649) of the material under that key.
    ``SM2PKE``: SM2 public-key encryption of the material (DER ``C1C3C2``)."""
    if wrapping_key_spec == "SM2":
        return decrypt("SM2", private, "SM2PKE", blob)
    key = _parse(private)  # a wrapping key is used a few times at most: not cached
    h: hashes.HashAlgorithm = hashes.SHA1() if algorithm.endswith("SHA_1") else hashes.SHA256()  # noqa: S303
    oaep = padding.OAEP(mgf=padding.MGF1(h), algorithm=h, label=None)
    try:
        if algorithm.startswith("RSAES_OAEP"):
            return bytes(key.decrypt(blob, oaep))
        size = key.key_size // 8
        aes = bytes(key.decrypt(blob[:size], oaep))
        if len(aes) != _WRAP_AES_BYTES or len(blob) <= size:
            raise CryptoError("the wrapped AES key is not 256 bits")
        return bytes(keywrap.aes_key_unwrap_with_padding(aes, blob[size:]))
    except (ValueError, keywrap.InvalidUnwrap) as exc:
        raise CryptoError("the key material does not unwrap") from exc
