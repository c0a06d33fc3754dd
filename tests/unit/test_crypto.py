"""hsmkms.crypto: the ciphertext blob formats (golden blobs, byte for byte: version 2 written and
read, version 1 still read), the canonical encryption context, sealing at rest."""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hsmkms import crypto

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
CASES: list[dict[str, Any]] = json.loads((GOLDEN / "kms_blobs.json").read_text())["cases"]
V2_CASES: list[dict[str, Any]] = json.loads(
    (GOLDEN / "kms_blobs_v2.json").read_text())["cases"]


@pytest.mark.parametrize("case", V2_CASES, ids=[c["name"] for c in V2_CASES])
def test_golden_v2_blob_byte_for_byte(case: dict[str, Any]) -> None:
    cipher = crypto.KeyCipher(bytes.fromhex(case["material"]))
    plaintext = bytes.fromhex(case["plaintext"])
    blob = cipher.encrypt(case["key_id"], plaintext, case["context"],
                          nonce=bytes.fromhex(case["nonce"]), material_id=case["material_id"])
    assert blob.hex() == case["blob"]
    assert cipher.decrypt(bytes.fromhex(case["blob"]), case["context"]) == plaintext
    assert crypto.parse_header(blob) == crypto.BlobHeader(2, case["key_id"],
                                                          case["material_id"])


@pytest.mark.parametrize("case", V2_CASES, ids=[c["name"] for c in V2_CASES])
def test_golden_v2_blob_matches_documented_layout(case: dict[str, Any]) -> None:
    """Rebuild the blob from the layout in crypto.py's docstring with plain AES-GCM."""
    key_id: str = case["key_id"]
    if key_id.startswith("mrk-"):
        id_part = b"\x01" + bytes.fromhex(key_id[4:])
    else:
        id_part = b"\x00" + uuid.UUID(key_id).bytes
    header = b"\x02" + id_part + (bytes.fromhex(case["material_id"]) or bytes(32))
    nonce = bytes.fromhex(case["nonce"])
    sealed = AESGCM(bytes.fromhex(case["material"])).encrypt(
        nonce, bytes.fromhex(case["plaintext"]), header + crypto.encode_context(case["context"]))
    assert bytes.fromhex(case["blob"]) == header + nonce + sealed
    assert len(header) == 50
    assert crypto.OVERHEAD == 78


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_golden_v1_blob_still_decrypts(case: dict[str, Any]) -> None:
    cipher = crypto.KeyCipher(bytes.fromhex(case["material"]))
    blob = bytes.fromhex(case["blob"])
    assert cipher.decrypt(blob, case["context"]) == bytes.fromhex(case["plaintext"])
    assert crypto.parse_header(blob) == crypto.BlobHeader(1, case["key_id"])
    tampered = bytearray(blob)
    tampered[-1] ^= 1
    with pytest.raises(crypto.CryptoError):
        cipher.decrypt(bytes(tampered), case["context"])


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_golden_v1_blob_matches_documented_layout(case: dict[str, Any]) -> None:
    """Rebuild the blob from the layout in crypto.py's docstring with plain AES-GCM."""
    blob = bytes.fromhex(case["blob"])
    header = b"\x01" + uuid.UUID(case["key_id"]).bytes
    nonce = bytes.fromhex(case["nonce"])
    aad = header + crypto.encode_context(case["context"])
    sealed = AESGCM(bytes.fromhex(case["material"])).encrypt(
        nonce, bytes.fromhex(case["plaintext"]), aad)
    assert blob == header + nonce + sealed
    assert len(blob) == len(bytes.fromhex(case["plaintext"])) + crypto.V1_OVERHEAD == \
        len(bytes.fromhex(case["plaintext"])) + 45


def test_encode_context_known_answers() -> None:
    assert crypto.encode_context(None) == b""
    assert crypto.encode_context({}) == b""
    assert crypto.encode_context({"a": "b"}) == b"\x00\x01a\x00\x01b"
    assert crypto.encode_context({"b": "2", "a": "1"}) == b"\x00\x01a\x00\x011\x00\x01b\x00\x012"
    assert crypto.encode_context({"k": ""}) == b"\x00\x01k\x00\x00"
    # Sorted by UTF-8 bytes: "Z" (0x5a) < "a" (0x61) < "ü" (0xc3 0xbc).
    assert crypto.encode_context({"\u00fc": "x", "a": "y", "Z": "z"}) == (
        b"\x00\x01Z\x00\x01z\x00\x01a\x00\x01y\x00\x02\xc3\xbc\x00\x01x")
    long = "v" * 300
    assert crypto.encode_context({"k": long}) == b"\x00\x01k\x01\x2c" + long.encode()


def test_context_boundaries_are_unambiguous() -> None:
    """Length prefixes keep {"ab": "c"} and {"a": "bc"} apart."""
    assert crypto.encode_context({"ab": "c"}) != crypto.encode_context({"a": "bc"})
    cipher = crypto.KeyCipher(bytes(32))
    kid = str(uuid.uuid4())
    blob = cipher.encrypt(kid, b"p", {"ab": "c"})
    with pytest.raises(crypto.CryptoError):
        cipher.decrypt(blob, {"a": "bc"})


def test_every_byte_is_authenticated() -> None:
    cipher = crypto.KeyCipher(bytes(range(32)))
    kid = str(uuid.uuid4())
    blob = cipher.encrypt(kid, b"0123456789", {"c": "1"})
    for i in range(len(blob)):
        tampered = bytearray(blob)
        tampered[i] ^= 0x80
        with pytest.raises(crypto.CryptoError):
            cipher.decrypt(bytes(tampered), {"c": "1"})


def test_wrong_key_and_short_blobs() -> None:
    kid = str(uuid.uuid4())
    blob = crypto.KeyCipher(bytes(32)).encrypt(kid, b"p", None)
    with pytest.raises(crypto.CryptoError):
        crypto.KeyCipher(b"\x01" * 32).decrypt(blob, None)
    for short in (b"", b"\x01", blob[: crypto.OVERHEAD - 1]):
        with pytest.raises(crypto.CryptoError):
            crypto.parse_header(short)
    with pytest.raises(crypto.CryptoError):
        crypto.parse_header(b"\x03" + blob[1:])
    with pytest.raises(crypto.CryptoError):  # an unknown key id kind
        crypto.parse_header(blob[:1] + b"\x02" + blob[2:])
    # The smallest well-formed blob (empty plaintext) parses.
    empty = crypto.KeyCipher(bytes(32)).encrypt(kid, b"", None)
    assert len(empty) == crypto.OVERHEAD
    assert crypto.KeyCipher(bytes(32)).decrypt(empty, None) == b""


def test_random_nonces() -> None:
    cipher = crypto.KeyCipher(bytes(32))
    kid = str(uuid.uuid4())
    nonces = {cipher.encrypt(kid, b"p", None)[50:62] for _ in range(50)}
    assert len(nonces) == 50


def test_sealing_round_trip_and_format() -> None:
    root = crypto.RootKey(bytes(range(32)))
    sealed = root.seal(b"key material")
    raw = base64.b64decode(sealed)
    assert raw[0] == 1
    assert len(raw) == 1 + 12 + len(b"key material") + 16
    assert b"key material" not in raw
    assert root.unseal(sealed) == b"key material"
    assert root.seal(b"key material") != sealed
    with pytest.raises(crypto.CryptoError):
        crypto.RootKey(bytes(32)).unseal(sealed)
    with pytest.raises(crypto.CryptoError):
        root.unseal(base64.b64encode(b"\x02" + raw[1:]).decode())
    with pytest.raises(ValueError, match="32 bytes"):
        crypto.RootKey(bytes(16))


def test_random_bytes() -> None:
    assert len(crypto.random_bytes(1024)) == 1024
    assert crypto.random_bytes(32) != crypto.random_bytes(32)
    assert len(crypto.new_aes_key()) == 32
