"""JSON Web Tokens signed through a real server's KMS ``Sign`` verify with PyJWT, given the
public key from ``GetPublicKey``.

The token is built here as RFC 7515 says: the signing input is
``BASE64URL(header) "." BASE64URL(payload)``, and KMS signs it (RAW, or as a digest the caller
computed, for inputs over Sign's 4096-byte limit). JWS wants ECDSA signatures as the fixed-size
``r || s`` (RFC 7518 3.4), KMS returns DER (RFC 3279; API Reference, Sign): converted here.
Algorithm pairs (RFC 7518 3.1, RFC 8037): RS* = RSASSA_PKCS1_V1_5_SHA_*, PS* = RSASSA_PSS_SHA_*
(MGF1 with the same hash, salt = hash length, as KMS does), ES256/384/512 = ECDSA on P-256/
P-384/P-521 with SHA-256/384/512, ES256K = ECDSA on secp256k1 (RFC 8812), EdDSA = Ed25519.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import load_der_public_key

from hsmkms.testing.server import ServerProcess

#: JWS alg -> (KMS key spec, KMS signing algorithm, r and s size in bytes for ECDSA)
ALGORITHMS = {
    "RS256": ("RSA_2048", "RSASSA_PKCS1_V1_5_SHA_256", 0),
    "RS384": ("RSA_2048", "RSASSA_PKCS1_V1_5_SHA_384", 0),
    "RS512": ("RSA_2048", "RSASSA_PKCS1_V1_5_SHA_512", 0),
    "PS256": ("RSA_2048", "RSASSA_PSS_SHA_256", 0),
    "PS384": ("RSA_2048", "RSASSA_PSS_SHA_384", 0),
    "PS512": ("RSA_2048", "RSASSA_PSS_SHA_512", 0),
    "ES256": ("ECC_NIST_P256", "ECDSA_SHA_256", 32),
    "ES384": ("ECC_NIST_P384", "ECDSA_SHA_384", 48),
    "ES512": ("ECC_NIST_P521", "ECDSA_SHA_512", 66),
    "ES256K": ("ECC_SECG_P256K1", "ECDSA_SHA_256", 32),
    "EdDSA": ("ECC_NIST_EDWARDS25519", "ED25519_SHA_512", 0),
}
AUDIENCE = "https://api.example.com"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def kms(module_server: ServerProcess) -> Any:
    return module_server.client("kms")


@pytest.fixture(scope="module")
def signing_keys(kms: Any) -> Callable[[str], dict[str, Any]]:
    made: dict[str, dict[str, Any]] = {}

    def get(spec: str) -> dict[str, Any]:
        if spec not in made:
            made[spec] = kms.create_key(KeySpec=spec, KeyUsage="SIGN_VERIFY",
                                        Description=f"JWT {spec}")["KeyMetadata"]
        return made[spec]

    return get


def kms_jwt(kms: Any, meta: dict[str, Any], alg: str, claims: dict[str, Any], *,
            as_digest: bool = False) -> str:
    """A compact JWS signed by KMS; ``as_digest``: KMS gets the hash of the signing input."""
    _spec, algorithm, size = ALGORITHMS[alg]
    header = {"alg": alg, "typ": "JWT", "kid": meta["Arn"]}
    signing_input = ".".join(b64url(json.dumps(part, separators=(",", ":")).encode())
                             for part in (header, claims)).encode()
    message, message_type = signing_input, "RAW"
    if as_digest:
        message = hashlib.new(f"sha{algorithm[-3:]}", signing_input).digest()
        message_type = "DIGEST"
    resp = kms.sign(KeyId=meta["KeyId"], Message=message, MessageType=message_type,
                    SigningAlgorithm=algorithm)
    signature = bytes(resp["Signature"])
    if size:  # DER SEQUENCE{r, s} -> r || s, each left-padded to the curve's size
        r, s = decode_dss_signature(signature)
        signature = r.to_bytes(size, "big") + s.to_bytes(size, "big")
    return f"{signing_input.decode()}.{b64url(signature)}"


def public_key(kms: Any, meta: dict[str, Any]) -> Any:
    return load_der_public_key(kms.get_public_key(KeyId=meta["KeyId"])["PublicKey"])


@pytest.mark.parametrize("alg", sorted(ALGORITHMS))
def test_jwt_signed_by_kms_verifies_with_pyjwt(kms: Any, signing_keys: Callable[[str], Any],
                                               alg: str) -> None:
    meta = signing_keys(ALGORITHMS[alg][0])
    claims = {"sub": "user-42", "aud": AUDIENCE, "iat": 1767225600, "scope": "read write"}
    token = kms_jwt(kms, meta, alg, claims)
    key = public_key(kms, meta)
    assert jwt.get_unverified_header(token) == {"alg": alg, "typ": "JWT", "kid": meta["Arn"]}
    assert jwt.decode(token, key, algorithms=[alg], audience=AUDIENCE) == claims
    # PyJWT really checks the signature: the same signature on other claims fails
    head, _payload, signature = token.split(".")
    forged = ".".join([head, b64url(json.dumps({**claims, "sub": "admin"}).encode()),
                       signature])
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(forged, key, algorithms=[alg], audience=AUDIENCE)


@pytest.mark.parametrize("alg", ["RS256", "PS512", "ES384", "ES256K"])
def test_large_jwt_signed_as_a_digest_verifies_with_pyjwt(
        kms: Any, signing_keys: Callable[[str], Any], alg: str) -> None:
    """A signing input over 4096 bytes can't be sent RAW: its hash is sent with
    MessageType=DIGEST, and the signature is the same kind a verifier of the whole input
    expects."""
    meta = signing_keys(ALGORITHMS[alg][0])
    claims = {"sub": "user-7", "aud": AUDIENCE, "groups": [f"group-{i:04d}" for i in range(500)]}
    token = kms_jwt(kms, meta, alg, claims, as_digest=True)
    assert len(token.rpartition(".")[0]) > 4096
    assert jwt.decode(token, public_key(kms, meta), algorithms=[alg], audience=AUDIENCE) == (
        claims)
