"""The AWS CLI import walkthrough of the KMS Developer Guide (importing-keys: create a key with
no material, download the wrapping public key and import token, encrypt the material, import
it), with the material made and wrapped by the ``openssl`` command line and every KMS call made
by the real AWS CLI (issue 12 item 6): no code of this project touches the material.

* ``RSAES_OAEP_SHA_256``: ``openssl pkeyutl -encrypt`` with OAEP, SHA-256 and MGF1-SHA-256.
* ``RSA_AES_KEY_WRAP_SHA_256``: an ephemeral AES-256 key wrapped by ``pkeyutl`` (OAEP), followed
  by the private key wrapped with it by ``openssl enc -id-aes256-wrap-pad`` (RFC 5649).
* An imported HMAC key's ``GenerateMac`` equals Python's :mod:`hmac` over the same material; an
  imported asymmetric key's ``GetPublicKey`` equals the public key of openssl's private key;
  after ``DeleteImportedKeyMaterial``, importing the same material again makes old ciphertexts
  decrypt again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hsmkms.testing.server import ServerProcess

#: The openssl command line is part of what these tests prove: without it they fail, never skip.
OPENSSL = shutil.which("openssl") or "openssl"
OAEP_SHA256 = ("-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha256",
               "-pkeyopt", "rsa_mgf1_md:sha256")
Cli = Callable[..., subprocess.CompletedProcess[str]]


def openssl(*args: str | Path) -> bytes:
    done = subprocess.run([OPENSSL, *map(str, args)],  # noqa: S603
                          capture_output=True, check=False, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout


class Walkthrough:
    """The guide's steps, as shell users run them, in a scratch directory."""

    def __init__(self, server: ServerProcess, aws: Cli, work: Path) -> None:
        self.server, self.aws, self.work = server, aws, work

    def cli(self, *args: str) -> Any:
        done = self.aws(self.server, "kms", *args, "--output", "json", cwd=self.work)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout) if done.stdout.strip() else None

    def cli_error(self, *args: str) -> str:
        done = self.aws(self.server, "kms", *args, cwd=self.work)
        assert done.returncode != 0
        return done.stderr

    def text(self, *args: str) -> str:
        done = self.aws(self.server, "kms", *args, "--output", "text", cwd=self.work)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    def create_key(self, *args: str) -> str:
        return str(self.cli("create-key", "--origin", "EXTERNAL", *args)["KeyMetadata"]["KeyId"])

    def download(self, key_id: str, algorithm: str, spec: str = "RSA_2048") -> None:
        """Step 2: the public key and import token (one call: they belong together), saved
        base64 then decoded by openssl."""
        both = self.text("get-parameters-for-import", "--key-id", key_id,
                         "--wrapping-algorithm", algorithm, "--wrapping-key-spec", spec,
                         "--query", "[PublicKey, ImportToken]")
        public_b64, token_b64 = both.split()
        for name, value in (("WrappingPublicKey", public_b64), ("ImportToken", token_b64)):
            (self.work / f"{name}.b64").write_text(value)
            openssl("enc", "-d", "-base64", "-A", "-in", self.work / f"{name}.b64",
                    "-out", self.work / f"{name}.bin")

    def wrap_oaep(self, material: Path) -> None:
        openssl("pkeyutl", "-encrypt", "-in", material, "-out",
                self.work / "EncryptedKeyMaterial.bin", "-inkey",
                self.work / "WrappingPublicKey.bin", "-keyform", "DER", "-pubin", *OAEP_SHA256)

    def wrap_aes_key_wrap(self, material: Path) -> None:
        aes = self.work / "aes-key.bin"
        openssl("rand", "-out", aes, "32")
        openssl("enc", "-id-aes256-wrap-pad", "-K", aes.read_bytes().hex(), "-iv", "A65959A6",
                "-in", material, "-out", self.work / "key-material-wrapped.bin")
        openssl("pkeyutl", "-encrypt", "-in", aes, "-out", self.work / "aes-key-wrapped.bin",
                "-inkey", self.work / "WrappingPublicKey.bin", "-keyform", "DER", "-pubin",
                *OAEP_SHA256)
        (self.work / "EncryptedKeyMaterial.bin").write_bytes(
            (self.work / "aes-key-wrapped.bin").read_bytes()
            + (self.work / "key-material-wrapped.bin").read_bytes())

    def import_material(self, key_id: str, *extra: str) -> Any:
        return self.cli("import-key-material", "--key-id", key_id,
                        "--encrypted-key-material", "fileb://EncryptedKeyMaterial.bin",
                        "--import-token", "fileb://ImportToken.bin",
                        *(extra or ("--expiration-model", "KEY_MATERIAL_DOES_NOT_EXPIRE")))


@pytest.fixture
def walk(module_server: ServerProcess, aws: Cli, tmp_path: Path) -> Walkthrough:
    return Walkthrough(module_server, aws, tmp_path)


def test_symmetric_key_walkthrough_and_reimport_after_delete(walk: Walkthrough) -> None:
    key_id = walk.create_key()
    assert walk.text("describe-key", "--key-id", key_id, "--query",
                     "KeyMetadata.KeyState") == "PendingImport"
    walk.download(key_id, "RSAES_OAEP_SHA_256")
    material = walk.work / "PlaintextKeyMaterial.bin"
    openssl("rand", "-out", material, "32")
    walk.wrap_oaep(material)
    done = walk.import_material(key_id)
    mid = hmac.new(b"kms-key-material-id" + key_id.encode(), material.read_bytes(),
                   hashlib.sha256).hexdigest()
    assert done["KeyMaterialId"] == mid
    assert done["KeyId"].endswith(f":key/{key_id}")
    meta = walk.cli("describe-key", "--key-id", key_id)["KeyMetadata"]
    assert (meta["KeyState"], meta["ExpirationModel"], meta["CurrentKeyMaterialId"]) == (
        "Enabled", "KEY_MATERIAL_DOES_NOT_EXPIRE", mid)

    (walk.work / "plain.txt").write_bytes(b"encrypted before the deletion")
    blob_b64 = walk.text("encrypt", "--key-id", key_id, "--plaintext", "fileb://plain.txt",
                         "--query", "CiphertextBlob")
    (walk.work / "blob.bin").write_bytes(base64.b64decode(blob_b64))
    decrypted = walk.cli("decrypt", "--ciphertext-blob", "fileb://blob.bin")
    assert base64.b64decode(decrypted["Plaintext"]) == b"encrypted before the deletion"
    assert decrypted["KeyMaterialId"] == mid

    deleted = walk.cli("delete-imported-key-material", "--key-id", key_id)
    assert deleted["KeyMaterialId"] == mid
    assert "is pending import." in walk.cli_error("decrypt", "--ciphertext-blob",
                                                  "fileb://blob.bin")
    # Fresh parameters, the same material, wrapped by openssl again.
    walk.download(key_id, "RSAES_OAEP_SHA_256", "RSA_4096")
    walk.wrap_oaep(material)
    assert walk.import_material(key_id)["KeyMaterialId"] == mid
    again = walk.cli("decrypt", "--ciphertext-blob", "fileb://blob.bin")
    assert base64.b64decode(again["Plaintext"]) == b"encrypted before the deletion"


def test_other_material_is_refused_after_delete(walk: Walkthrough) -> None:
    key_id = walk.create_key()
    walk.download(key_id, "RSAES_OAEP_SHA_256")
    first, second = walk.work / "first.bin", walk.work / "second.bin"
    openssl("rand", "-out", first, "32")
    openssl("rand", "-out", second, "32")
    walk.wrap_oaep(first)
    walk.import_material(key_id)
    walk.cli("delete-imported-key-material", "--key-id", key_id)
    walk.wrap_oaep(second)
    assert "IncorrectKeyMaterialException" in walk.cli_error(
        "import-key-material", "--key-id", key_id, "--encrypted-key-material",
        "fileb://EncryptedKeyMaterial.bin", "--import-token", "fileb://ImportToken.bin",
        "--expiration-model", "KEY_MATERIAL_DOES_NOT_EXPIRE")


@pytest.mark.parametrize(("spec", "genpkey"), [
    ("RSA_2048", ("-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048")),
    ("ECC_NIST_P384", ("-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384")),
    ("ECC_SECG_P256K1", ("-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:secp256k1")),
], ids=["RSA_2048", "ECC_NIST_P384", "ECC_SECG_P256K1"])
def test_asymmetric_key_with_rsa_aes_key_wrap(walk: Walkthrough, spec: str,
                                              genpkey: tuple[str, ...]) -> None:
    key_id = walk.create_key("--key-spec", spec, "--key-usage", "SIGN_VERIFY")
    pem = walk.work / "private.pem"
    der = walk.work / "PlaintextKeyMaterial.der"
    openssl("genpkey", *genpkey, "-out", pem)
    openssl("pkcs8", "-topk8", "-nocrypt", "-outform", "DER", "-in", pem, "-out", der)
    walk.download(key_id, "RSA_AES_KEY_WRAP_SHA_256", "RSA_3072")
    walk.wrap_aes_key_wrap(der)
    walk.import_material(key_id)
    public_b64 = walk.text("get-public-key", "--key-id", key_id, "--query", "PublicKey")
    assert base64.b64decode(public_b64) == openssl("pkey", "-in", pem, "-pubout",
                                                   "-outform", "DER")
    # A signature KMS makes verifies with openssl and the public key openssl derived.
    algorithm = "RSASSA_PSS_SHA_256" if spec.startswith("RSA") else (
        "ECDSA_SHA_384" if spec == "ECC_NIST_P384" else "ECDSA_SHA_256")
    (walk.work / "message.txt").write_bytes(b"signed by an imported key")
    signature = walk.text("sign", "--key-id", key_id, "--message", "fileb://message.txt",
                          "--signing-algorithm", algorithm, "--query", "Signature")
    (walk.work / "signature.bin").write_bytes(base64.b64decode(signature))
    openssl("pkey", "-in", pem, "-pubout", "-out", walk.work / "public.pem")
    digest = "sha384" if algorithm.endswith("384") else "sha256"
    pss = ("-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32") \
        if algorithm.startswith("RSASSA_PSS") else ()
    out = openssl("dgst", f"-{digest}", "-verify", walk.work / "public.pem", *pss,
                  "-signature", walk.work / "signature.bin", walk.work / "message.txt")
    assert out.strip() == b"Verified OK"


@pytest.mark.parametrize(("spec", "length", "digest"), [
    ("HMAC_256", 32, "sha256"), ("HMAC_384", 48, "sha384"), ("HMAC_512", 100, "sha512")])
def test_hmac_key_mac_equals_python_hmac(walk: Walkthrough, spec: str, length: int,
                                         digest: str) -> None:
    key_id = walk.create_key("--key-spec", spec, "--key-usage", "GENERATE_VERIFY_MAC")
    material = walk.work / "hmac-key.bin"
    openssl("rand", "-out", material, str(length))
    walk.download(key_id, "RSAES_OAEP_SHA_256")
    walk.wrap_oaep(material)
    walk.import_material(key_id)
    (walk.work / "message.txt").write_bytes(b"what the MAC covers")
    mac = walk.text("generate-mac", "--key-id", key_id, "--message", "fileb://message.txt",
                    "--mac-algorithm", f"HMAC_SHA_{spec[5:]}", "--query", "Mac")
    expected = hmac.new(material.read_bytes(), b"what the MAC covers", digest).digest()
    assert base64.b64decode(mac) == expected
    # openssl's own HMAC agrees too.
    out = openssl("dgst", f"-{digest}", "-mac", "HMAC", "-macopt",
                  f"hexkey:{material.read_bytes().hex()}", "-binary", walk.work / "message.txt")
    assert out == expected


def test_expiring_material_from_the_cli(walk: Walkthrough) -> None:
    key_id = walk.create_key()
    walk.download(key_id, "RSAES_OAEP_SHA_256")
    material = walk.work / "PlaintextKeyMaterial.bin"
    openssl("rand", "-out", material, "32")
    walk.wrap_oaep(material)
    now = walk.server.advance(0)
    valid_to = int(now) + 7 * 86400
    walk.import_material(key_id, "--expiration-model", "KEY_MATERIAL_EXPIRES",
                         "--valid-to", str(valid_to))
    meta = walk.cli("describe-key", "--key-id", key_id)["KeyMetadata"]
    assert meta["ExpirationModel"] == "KEY_MATERIAL_EXPIRES"
    assert "ValidTo" in meta
    assert "A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES" in (
        walk.cli_error("import-key-material", "--key-id", key_id, "--encrypted-key-material",
                       "fileb://EncryptedKeyMaterial.bin", "--import-token",
                       "fileb://ImportToken.bin"))


def test_sm2_key_in_china_with_sm2pke_wrapping(walk: Walkthrough) -> None:
    """China Regions: SM2 material made by openssl, wrapped with SM2PKE by ``pkeyutl``."""
    china = ("--region", "cn-north-1")
    key_id = walk.create_key("--key-spec", "SM2", "--key-usage", "SIGN_VERIFY", *china)
    pem, der = walk.work / "sm2.pem", walk.work / "sm2.der"
    openssl("genpkey", "-algorithm", "SM2", "-out", pem)
    openssl("pkcs8", "-topk8", "-nocrypt", "-outform", "DER", "-in", pem, "-out", der)
    public_b64, token_b64 = walk.text(
        "get-parameters-for-import", "--key-id", key_id, "--wrapping-algorithm", "SM2PKE",
        "--wrapping-key-spec", "SM2", "--query", "[PublicKey, ImportToken]", *china).split()
    (walk.work / "WrappingPublicKey.bin").write_bytes(base64.b64decode(public_b64))
    (walk.work / "ImportToken.bin").write_bytes(base64.b64decode(token_b64))
    openssl("pkeyutl", "-encrypt", "-pubin", "-inkey", walk.work / "WrappingPublicKey.bin",
            "-keyform", "DER", "-in", der, "-out", walk.work / "EncryptedKeyMaterial.bin")
    walk.import_material(key_id, "--expiration-model", "KEY_MATERIAL_DOES_NOT_EXPIRE", *china)
    public = walk.text("get-public-key", "--key-id", key_id, "--query", "PublicKey", *china)
    assert base64.b64decode(public) == openssl("pkey", "-in", pem, "-pubout", "-outform", "DER")
