"""The ``openssl`` command line checks what a real server's asymmetric keys produce, given only
the public key from ``GetPublicKey`` (its DER SubjectPublicKeyInfo, written out as PEM here):

* ``Sign`` signatures (RSA PKCS #1 v1.5 and PSS, ECDSA on P-256/P-384/P-521/secp256k1, Ed25519)
  verify with ``openssl dgst -verify`` / ``openssl pkeyutl -verify``; a digest made by
  ``openssl dgst -binary`` signs with ``MessageType=DIGEST`` and KMS ``Verify`` accepts a RAW
  signature against it;
* ciphertexts made by ``openssl pkeyutl -encrypt`` with OAEP (SHA-1 and SHA-256) decrypt through
  KMS ``Decrypt``;
* the ECDH secret of ``DeriveSharedSecret`` equals ``openssl pkeyutl -derive``'s;
* ``GenerateDataKeyPair``'s keys form a working openssl key pair;
* SM2 (China Regions): SM2DSA signatures verify with openssl's SM2 and its ciphertexts decrypt
  through KMS with SM2PKE.

What AWS documents and these tests rely on (KMS API Reference and Developer Guide, "Asymmetric
key specs"): RSASSA-PSS uses MGF1 with the signing hash and a salt as long as the hash;
ECDSA signatures are DER (RFC 3279); RSAES-OAEP uses the same hash for MGF1 and an empty label,
and Decrypt takes a ciphertext made offline with the public key; DeriveSharedSecret returns the
raw ECDH shared secret (the x coordinate, field-size bytes); Sign, Verify, Decrypt and
DeriveSharedSecret answer with the key ARN.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from hsmkms.testing.server import ServerProcess

#: Bound on a hung openssl, not an expectation.
OPENSSL_TIMEOUT = 60
HASHES = {"SHA_256": ("sha256", 32), "SHA_384": ("sha384", 48), "SHA_512": ("sha512", 64)}
RSA_SIGNING = [("RSA_2048", f"RSASSA_{pad}_SHA_{bits}")
               for pad in ("PKCS1_V1_5", "PSS") for bits in (256, 384, 512)]
RSA_SIGNING += [("RSA_3072", "RSASSA_PSS_SHA_384"), ("RSA_4096", "RSASSA_PKCS1_V1_5_SHA_512")]
ECDSA_SIGNING = [("ECC_NIST_P256", "ECDSA_SHA_256"), ("ECC_NIST_P384", "ECDSA_SHA_384"),
                 ("ECC_NIST_P521", "ECDSA_SHA_512"), ("ECC_SECG_P256K1", "ECDSA_SHA_256")]
#: KMS key spec -> openssl curve name, shared-secret length (the field size in bytes).
ECDH_CURVES = {"ECC_NIST_P256": ("P-256", 32), "ECC_NIST_P384": ("P-384", 48),
               "ECC_NIST_P521": ("P-521", 66)}

KeyFactory = Callable[[str, str], dict[str, Any]]


def openssl(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("openssl")
    assert exe is not None, "the openssl command line is needed"
    return subprocess.run([exe, *map(str, args)], cwd=cwd, capture_output=True, text=True,  # noqa: S603
                          check=False, timeout=OPENSSL_TIMEOUT)


def pem(der: bytes) -> bytes:
    """RFC 7468 PEM of a DER SubjectPublicKeyInfo: base64 in 64-character lines."""
    body = "\n".join(textwrap.wrap(base64.b64encode(der).decode(), 64))
    return f"-----BEGIN PUBLIC KEY-----\n{body}\n-----END PUBLIC KEY-----\n".encode()


def hash_of(algorithm: str) -> tuple[str, int]:
    """openssl's name and the length of the hash a KMS algorithm name ends with."""
    return HASHES[algorithm[-7:]]


def pss_options(algorithm: str, flag: str) -> list[str]:
    """PSS as KMS does it: MGF1 with the signing hash, salt length = hash length (checked
    exactly by openssl when a number is given)."""
    if "_PSS_" not in algorithm:
        return []
    name, size = hash_of(algorithm)
    return [flag, "rsa_padding_mode:pss", flag, f"rsa_pss_saltlen:{size}",
            flag, f"rsa_mgf1_md:{name}"]


@pytest.fixture(scope="module")
def kms(module_server: ServerProcess) -> Any:
    return module_server.client("kms")


@pytest.fixture(scope="module")
def keys(kms: Any) -> KeyFactory:
    """One key per (spec, usage) for the module, made on first use."""
    made: dict[tuple[str, str], dict[str, Any]] = {}

    def get(spec: str, usage: str) -> dict[str, Any]:
        if (spec, usage) not in made:
            made[spec, usage] = kms.create_key(KeySpec=spec, KeyUsage=usage,
                                               Description=f"openssl {spec}")["KeyMetadata"]
        return made[spec, usage]

    return get


def public_pem(kms: Any, meta: dict[str, Any], where: Path) -> Path:
    resp = kms.get_public_key(KeyId=meta["KeyId"])
    assert resp["KeyId"] == meta["Arn"]
    path = where / "kms-public.pem"
    path.write_bytes(pem(resp["PublicKey"]))
    return path


def sign(kms: Any, meta: dict[str, Any], message: bytes, algorithm: str,
         message_type: str = "RAW") -> bytes:
    resp = kms.sign(KeyId=meta["KeyId"], Message=message, MessageType=message_type,
                    SigningAlgorithm=algorithm)
    assert (resp["KeyId"], resp["SigningAlgorithm"]) == (meta["Arn"], algorithm)
    return bytes(resp["Signature"])


@pytest.mark.parametrize(("spec", "algorithm"), RSA_SIGNING + ECDSA_SIGNING)
def test_raw_signature_verifies_with_openssl_dgst(kms: Any, keys: KeyFactory, tmp_path: Path,
                                                  spec: str, algorithm: str) -> None:
    meta = keys(spec, "SIGN_VERIFY")
    pub = public_pem(kms, meta, tmp_path)
    message = os.urandom(3000)
    (tmp_path / "msg").write_bytes(message)
    (tmp_path / "sig").write_bytes(sign(kms, meta, message, algorithm))
    name, _ = hash_of(algorithm)
    verify = ["dgst", f"-{name}", *pss_options(algorithm, "-sigopt"), "-verify", pub,
              "-signature", "sig"]
    done = openssl(*verify, "msg", cwd=tmp_path)
    assert (done.returncode, done.stdout.strip()) == (0, "Verified OK"), done.stderr
    # openssl really checks: one changed byte of the message fails
    (tmp_path / "other").write_bytes(bytes([message[0] ^ 1]) + message[1:])
    done = openssl(*verify, "other", cwd=tmp_path)
    assert (done.returncode, done.stdout.strip()) == (1, "Verification failure")


@pytest.mark.parametrize(("spec", "algorithm"),
                         [c for c in RSA_SIGNING if c[0] == "RSA_2048"] + ECDSA_SIGNING)
def test_openssl_digest_signed_as_digest_and_verified_both_ways(
        kms: Any, keys: KeyFactory, tmp_path: Path, spec: str, algorithm: str) -> None:
    """``openssl dgst -binary`` hashes; Sign with ``MessageType=DIGEST`` signs that hash and
    ``openssl pkeyutl -verify`` accepts it; KMS Verify accepts the RAW message's signature when
    given openssl's digest with ``MessageType=DIGEST`` (Sign doc: DIGEST skips the hashing)."""
    meta = keys(spec, "SIGN_VERIFY")
    pub = public_pem(kms, meta, tmp_path)
    message = os.urandom(5000)  # larger than Sign's 4096-byte RAW limit: digests are the way
    (tmp_path / "msg").write_bytes(message)
    name, size = hash_of(algorithm)
    done = openssl("dgst", f"-{name}", "-binary", "-out", "digest", "msg", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    digest = (tmp_path / "digest").read_bytes()
    assert len(digest) == size
    (tmp_path / "sig").write_bytes(sign(kms, meta, digest, algorithm, "DIGEST"))
    done = openssl("pkeyutl", "-verify", "-pubin", "-inkey", pub, "-in", "digest",
                   "-sigfile", "sig", "-pkeyopt", f"digest:{name}",
                   *pss_options(algorithm, "-pkeyopt"), cwd=tmp_path)
    assert (done.returncode, done.stdout.strip()) == (0, "Signature Verified Successfully"), (
        done.stderr)

    small = message[:1000]
    (tmp_path / "small").write_bytes(small)
    raw_signature = sign(kms, meta, small, algorithm)
    done = openssl("dgst", f"-{name}", "-binary", "-out", "small-digest", "small", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    small_digest = (tmp_path / "small-digest").read_bytes()
    resp = kms.verify(KeyId=meta["KeyId"], Message=small_digest, MessageType="DIGEST",
                      Signature=raw_signature, SigningAlgorithm=algorithm)
    assert (resp["KeyId"], resp["SignatureValid"], resp["SigningAlgorithm"]) == (
        meta["Arn"], True, algorithm)
    if "PKCS1" in algorithm:  # deterministic (RFC 8017 8.2): RAW(m) and DIGEST(H(m)) are equal
        assert sign(kms, meta, small_digest, algorithm, "DIGEST") == raw_signature
    with pytest.raises(ClientError) as exc:  # another message's digest does not match
        kms.verify(KeyId=meta["KeyId"], Message=digest, MessageType="DIGEST",
                   Signature=raw_signature, SigningAlgorithm=algorithm)
    assert exc.value.response["Error"]["Code"] == "KMSInvalidSignatureException"


def test_ed25519_signature_verifies_with_openssl_pkeyutl(kms: Any, keys: KeyFactory,
                                                         tmp_path: Path) -> None:
    meta = keys("ECC_NIST_EDWARDS25519", "SIGN_VERIFY")
    pub = public_pem(kms, meta, tmp_path)
    message = os.urandom(4096)  # RAW's largest message
    (tmp_path / "msg").write_bytes(message)
    signature = sign(kms, meta, message, "ED25519_SHA_512")
    assert len(signature) == 64  # RFC 8032: R || S
    (tmp_path / "sig").write_bytes(signature)
    verify = ["pkeyutl", "-verify", "-pubin", "-inkey", pub, "-rawin", "-sigfile", "sig", "-in"]
    done = openssl(*verify, "msg", cwd=tmp_path)
    assert (done.returncode, done.stdout.strip()) == (0, "Signature Verified Successfully"), (
        done.stderr)
    (tmp_path / "other").write_bytes(message[:-1])
    done = openssl(*verify, "other", cwd=tmp_path)
    assert (done.returncode, done.stdout.strip()) == (1, "Signature Verification Failure")


OAEP_CASES = [("RSA_2048", "RSAES_OAEP_SHA_1", 1), ("RSA_2048", "RSAES_OAEP_SHA_1", 214),
              ("RSA_2048", "RSAES_OAEP_SHA_256", 190), ("RSA_4096", "RSAES_OAEP_SHA_256", 446)]


def oaep_options(algorithm: str) -> list[str]:
    """openssl's OAEP defaults to SHA-1 for both the label hash and MGF1."""
    options = ["-pkeyopt", "rsa_padding_mode:oaep"]
    if algorithm.endswith("SHA_256"):
        options += ["-pkeyopt", "rsa_oaep_md:sha256", "-pkeyopt", "rsa_mgf1_md:sha256"]
    return options


def openssl_encrypt(pub: Path, plaintext: bytes, algorithm: str, where: Path) -> bytes:
    (where / "pt").write_bytes(plaintext)
    done = openssl("pkeyutl", "-encrypt", "-pubin", "-inkey", pub, "-in", "pt", "-out", "ct",
                   *oaep_options(algorithm), cwd=where)
    assert done.returncode == 0, done.stderr
    return (where / "ct").read_bytes()


@pytest.mark.parametrize(("spec", "algorithm", "size"), OAEP_CASES)
def test_openssl_oaep_ciphertext_decrypts_through_kms(kms: Any, keys: KeyFactory,
                                                      tmp_path: Path, spec: str,
                                                      algorithm: str, size: int) -> None:
    """Sizes: 1 byte and the largest plaintext of each pair (k - 2 hLen - 2 bytes; AWS's
    "RSA key specs for encryption and decryption" table)."""
    meta = keys(spec, "ENCRYPT_DECRYPT")
    pub = public_pem(kms, meta, tmp_path)
    plaintext = os.urandom(size)
    ciphertext = openssl_encrypt(pub, plaintext, algorithm, tmp_path)
    assert len(ciphertext) == int(spec[4:]) // 8
    resp = kms.decrypt(KeyId=meta["KeyId"], CiphertextBlob=ciphertext,
                       EncryptionAlgorithm=algorithm)
    assert (resp["KeyId"], resp["Plaintext"], resp["EncryptionAlgorithm"]) == (
        meta["Arn"], plaintext, algorithm)


def test_openssl_oaep_ciphertext_with_another_hash_does_not_decrypt(
        kms: Any, keys: KeyFactory, tmp_path: Path) -> None:
    """OAEP-SHA-256 ciphertext decrypted as RSAES_OAEP_SHA_1 fails its padding check: Decrypt
    answers InvalidCiphertextException (the ciphertext "is corrupted ... or otherwise invalid",
    Decrypt's error list in the API Reference)."""
    meta = keys("RSA_2048", "ENCRYPT_DECRYPT")
    pub = public_pem(kms, meta, tmp_path)
    ciphertext = openssl_encrypt(pub, b"made for SHA-256", "RSAES_OAEP_SHA_256", tmp_path)
    with pytest.raises(ClientError) as exc:
        kms.decrypt(KeyId=meta["KeyId"], CiphertextBlob=ciphertext,
                    EncryptionAlgorithm="RSAES_OAEP_SHA_1")
    assert exc.value.response["Error"]["Code"] == "InvalidCiphertextException"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


@pytest.mark.parametrize("spec", sorted(ECDH_CURVES))
def test_derive_shared_secret_equals_openssl_derive(kms: Any, keys: KeyFactory,
                                                    tmp_path: Path, spec: str) -> None:
    curve, size = ECDH_CURVES[spec]
    meta = keys(spec, "KEY_AGREEMENT")
    pub = public_pem(kms, meta, tmp_path)
    for cmd in (["genpkey", "-algorithm", "EC", "-pkeyopt", f"ec_paramgen_curve:{curve}",
                 "-out", "peer.pem"],
                ["pkey", "-in", "peer.pem", "-pubout", "-outform", "DER", "-out", "peer.der"],
                ["pkeyutl", "-derive", "-inkey", "peer.pem", "-peerkey", pub, "-out", "secret"]):
        done = openssl(*cmd, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    resp = kms.derive_shared_secret(KeyId=meta["KeyId"], KeyAgreementAlgorithm="ECDH",
                                    PublicKey=(tmp_path / "peer.der").read_bytes())
    assert len(resp["SharedSecret"]) == size
    assert resp["SharedSecret"] == (tmp_path / "secret").read_bytes()
    assert (resp["KeyId"], resp["KeyAgreementAlgorithm"], resp["KeyOrigin"]) == (
        meta["Arn"], "ECDH", "AWS_KMS")


#: Data key pair specs openssl 3.0 reads -> the hash to sign with (None: Ed25519, hashless).
PAIR_SPECS = {"RSA_2048": "sha256", "ECC_NIST_P256": "sha256", "ECC_NIST_P521": "sha512",
              "ECC_SECG_P256K1": "sha256", "ECC_NIST_EDWARDS25519": None}


@pytest.mark.parametrize("spec", sorted(PAIR_SPECS))
def test_data_key_pair_is_a_working_openssl_key_pair(kms: Any, keys: KeyFactory, tmp_path: Path,
                                                     spec: str) -> None:
    """GenerateDataKeyPair's private key is DER PKCS #8 and its public key DER SPKI (API
    Reference): openssl derives that very public key from the private one, signs with the
    private key and verifies with the public key; PrivateKeyCiphertextBlob decrypts with plain
    Decrypt (and the pair's encryption context) to the same PKCS #8 bytes."""
    meta = keys("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")
    context = {"pair": spec}
    resp = kms.generate_data_key_pair(KeyId=meta["KeyId"], KeyPairSpec=spec,
                                      EncryptionContext=context)
    assert (resp["KeyId"], resp["KeyPairSpec"]) == (meta["Arn"], spec)
    private, public = bytes(resp["PrivateKeyPlaintext"]), bytes(resp["PublicKey"])
    (tmp_path / "private.der").write_bytes(private)
    (tmp_path / "public.pem").write_bytes(pem(public))
    (tmp_path / "msg").write_bytes(b"signed with a data key pair")
    digest = PAIR_SPECS[spec]
    if digest:
        sign_cmd = ["dgst", f"-{digest}", "-keyform", "DER", "-sign", "private.der",
                    "-out", "sig", "msg"]
        verify_cmd = ["dgst", f"-{digest}", "-verify", "public.pem", "-signature", "sig", "msg"]
    else:
        sign_cmd = ["pkeyutl", "-sign", "-rawin", "-keyform", "DER", "-inkey", "private.der",
                    "-in", "msg", "-out", "sig"]
        verify_cmd = ["pkeyutl", "-verify", "-rawin", "-pubin", "-inkey", "public.pem",
                      "-in", "msg", "-sigfile", "sig"]
    derive_cmd = ["pkey", "-inform", "DER", "-in", "private.der", "-pubout", "-outform", "DER",
                  "-out", "derived.der"]
    for cmd in (derive_cmd, sign_cmd, verify_cmd):
        done = openssl(*cmd, cwd=tmp_path)
        assert done.returncode == 0, (cmd, done.stdout, done.stderr)
    assert (tmp_path / "derived.der").read_bytes() == public
    opened = kms.decrypt(CiphertextBlob=resp["PrivateKeyCiphertextBlob"],
                         EncryptionContext=context)
    assert (opened["Plaintext"], opened["KeyId"]) == (private, meta["Arn"])


#: The SM2 distinguishing ID KMS signs with (Developer Guide, "SM2 key spec (China Regions
#: only)": the default ID of GB/T 32918, which KMS does not let callers change).
SM2_ID = "1234567812345678"


@pytest.fixture(scope="module")
def kms_china(module_server: ServerProcess) -> Any:
    """SM2 keys exist only in the China Regions."""
    return module_server.client("kms", region="cn-north-1")


def test_sm2dsa_signature_verifies_with_openssl(kms_china: Any, tmp_path: Path) -> None:
    """SM2DSA over a RAW message: e = SM3(Z_A || M), Z_A from the default ID and the public key;
    openssl (its SM2 support) checks it with that ID, and refuses it with another."""
    meta = kms_china.create_key(KeySpec="SM2", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    assert meta["Arn"].startswith("arn:aws-cn:kms:cn-north-1:")
    pub = public_pem(kms_china, meta, tmp_path)
    message = os.urandom(500)
    (tmp_path / "msg").write_bytes(message)
    (tmp_path / "sig").write_bytes(sign(kms_china, meta, message, "SM2DSA"))
    verify = ["pkeyutl", "-verify", "-pubin", "-inkey", pub, "-rawin", "-in", "msg",
              "-sigfile", "sig", "-digest", "sm3", "-pkeyopt"]
    done = openssl(*verify, f"distid:{SM2_ID}", cwd=tmp_path)
    assert (done.returncode, done.stdout.strip()) == (0, "Signature Verified Successfully"), (
        done.stderr)
    done = openssl(*verify, "distid:another-signer-id", cwd=tmp_path)
    assert (done.returncode, done.stdout.strip()) == (1, "Signature Verification Failure")


@pytest.fixture(scope="module")
def sm2_encryption_key(kms_china: Any) -> dict[str, Any]:
    return dict(kms_china.create_key(KeySpec="SM2", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"])


@pytest.mark.parametrize("size", [1, 255, 1024])
def test_openssl_sm2_ciphertext_decrypts_through_kms(kms_china: Any,
                                                     sm2_encryption_key: dict[str, Any],
                                                     tmp_path: Path, size: int) -> None:
    """openssl's SM2 encryption writes the GM/T 0009 ASN.1 form (x, y, C3, C2) that KMS's SM2PKE
    ciphertexts have (Developer Guide, SM2 offline operations): KMS Decrypt opens it, up to
    SM2PKE's largest plaintext, 1024 bytes (API Reference, Encrypt: "SM2PKE: 1024 bytes")."""
    meta = sm2_encryption_key
    pub = public_pem(kms_china, meta, tmp_path)
    plaintext = os.urandom(size)
    (tmp_path / "pt").write_bytes(plaintext)
    done = openssl("pkeyutl", "-encrypt", "-pubin", "-inkey", pub, "-in", "pt", "-out", "ct",
                   cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    resp = kms_china.decrypt(KeyId=meta["KeyId"], CiphertextBlob=(tmp_path / "ct").read_bytes(),
                             EncryptionAlgorithm="SM2PKE")
    assert (resp["Plaintext"], resp["KeyId"], resp["EncryptionAlgorithm"]) == (
        plaintext, meta["Arn"], "SM2PKE")
