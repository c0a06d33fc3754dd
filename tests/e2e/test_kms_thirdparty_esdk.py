"""The AWS Encryption SDK for Python with the AWS Cryptographic Material Providers Library
(pinned in pyproject.toml) against a real server, through the boto3 KMS client handed to its
keyrings:

* the AWS KMS RSA keyring (``CreateAwsKmsRsaKeyringInput``) encrypts locally with the PEM public
  key from ``GetPublicKey`` and decrypts with KMS ``Decrypt`` (RSAES_OAEP_SHA_1 and _256);
* the AWS KMS ECDH keyring (``CreateAwsKmsEcdhKeyringInput``) with
  ``KmsPrivateKeyToStaticPublicKey`` (sender's KMS key, recipient's public key) encrypts through
  ``DeriveSharedSecret``, and with ``KmsPublicKeyDiscovery`` (the recipient's KMS key) decrypts;
  messages cross between the KMS keyrings and the SDK's raw ECDH keyrings, which compute ECDH
  locally, so KMS's shared secret must be the standard one.

Each test records the KMS operations the SDK sent, so a keyring that never asked hsmkms (and so
proved nothing) would fail.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import aws_encryption_sdk
import pytest
from aws_cryptographic_material_providers.mpl import AwsCryptographicMaterialProviders
from aws_cryptographic_material_providers.mpl.config import MaterialProvidersConfig
from aws_cryptographic_material_providers.mpl.models import (
    CreateAwsKmsEcdhKeyringInput,
    CreateAwsKmsRsaKeyringInput,
    CreateRawEcdhKeyringInput,
    EphemeralPrivateKeyToStaticPublicKeyInput,
    KmsEcdhStaticConfigurationsKmsPrivateKeyToStaticPublicKey,
    KmsEcdhStaticConfigurationsKmsPublicKeyDiscovery,
    KmsPrivateKeyToStaticPublicKeyInput,
    KmsPublicKeyDiscoveryInput,
    PublicKeyDiscoveryInput,
    RawEcdhStaticConfigurationsEphemeralPrivateKeyToStaticPublicKey,
    RawEcdhStaticConfigurationsPublicKeyDiscovery,
)
from aws_encryption_sdk.identifiers import AlgorithmSuite
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_der_public_key,
)

from hsmkms.testing.server import ServerProcess

CONTEXT = {"purpose": "hsmkms third-party proof", "tenant": "acme"}
CURVES: dict[str, ec.EllipticCurve] = {"ECC_NIST_P256": ec.SECP256R1(),
                                       "ECC_NIST_P384": ec.SECP384R1(),
                                       "ECC_NIST_P521": ec.SECP521R1()}
PLAINTEXT = b"a message for the AWS Encryption SDK " * 40


class Recorder:
    """The KMS operations a boto3 client sent (X-Amz-Target's operation name), in order."""

    def __init__(self, client: Any) -> None:
        self.sent: list[str] = []
        client.meta.events.register("before-send.kms", self.record)

    def record(self, request: Any, **_kwargs: Any) -> None:
        target = request.headers["X-Amz-Target"]
        self.sent.append((target.decode() if isinstance(target, bytes) else target)
                         .rpartition(".")[2])

    def take(self) -> list[str]:
        sent, self.sent = self.sent, []
        return sent


@pytest.fixture(scope="module")
def kms(module_server: ServerProcess) -> Any:
    return module_server.client("kms")


@pytest.fixture
def recorder(kms: Any) -> Iterator[Recorder]:
    rec = Recorder(kms)
    yield rec
    kms.meta.events.unregister("before-send.kms", rec.record)


@pytest.fixture(scope="module")
def keys(kms: Any) -> Callable[..., dict[str, Any]]:
    made: dict[tuple[str, str, str], dict[str, Any]] = {}

    def get(spec: str, usage: str, name: str = "") -> dict[str, Any]:
        if (spec, usage, name) not in made:
            made[spec, usage, name] = kms.create_key(
                KeySpec=spec, KeyUsage=usage, Description=f"ESDK {spec} {name}")["KeyMetadata"]
        return made[spec, usage, name]

    return get


@pytest.fixture(scope="module")
def mpl() -> AwsCryptographicMaterialProviders:
    return AwsCryptographicMaterialProviders(config=MaterialProvidersConfig())


@pytest.fixture(scope="module")
def esdk() -> aws_encryption_sdk.EncryptionSDKClient:
    return aws_encryption_sdk.EncryptionSDKClient(
        commitment_policy=aws_encryption_sdk.CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)


def public_der(kms: Any, meta: dict[str, Any]) -> bytes:
    return bytes(kms.get_public_key(KeyId=meta["Arn"])["PublicKey"])


def assert_context(header: Any) -> None:
    assert {k: header.encryption_context[k] for k in CONTEXT} == CONTEXT


@pytest.mark.parametrize("algorithm", ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"])
def test_kms_rsa_keyring_message_decrypts_through_kms(
        kms: Any, keys: Callable[..., dict[str, Any]], mpl: Any, esdk: Any,
        recorder: Recorder, algorithm: str) -> None:
    meta = keys("RSA_2048", "ENCRYPT_DECRYPT")
    public = load_der_public_key(public_der(kms, meta))
    public_pem = public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    encrypting = mpl.create_aws_kms_rsa_keyring(input=CreateAwsKmsRsaKeyringInput(
        public_key=public_pem, kms_key_id=meta["Arn"], encryption_algorithm=algorithm,
        kms_client=kms))
    recorder.take()
    # The RSA keyring works only with algorithm suites without signing (its spec); the SDK
    # encrypts the data key with the public key, offline.
    ciphertext, _ = esdk.encrypt(source=PLAINTEXT, keyring=encrypting,
                                 encryption_context=CONTEXT,
                                 algorithm=AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY)
    assert recorder.take() == []
    # A keyring without the public key can only decrypt, with KMS Decrypt.
    decrypting = mpl.create_aws_kms_rsa_keyring(input=CreateAwsKmsRsaKeyringInput(
        kms_key_id=meta["Arn"], encryption_algorithm=algorithm, kms_client=kms))
    plaintext, header = esdk.decrypt(source=ciphertext, keyring=decrypting)
    assert plaintext == PLAINTEXT
    assert_context(header)
    assert recorder.take() == ["Decrypt"]


def kms_ecdh_keyring(mpl: Any, kms: Any, curve: str, scheme: Any) -> Any:
    return mpl.create_aws_kms_ecdh_keyring(input=CreateAwsKmsEcdhKeyringInput(
        key_agreement_scheme=scheme, curve_spec=curve, kms_client=kms))


def sender_to(mpl: Any, kms: Any, sender: dict[str, Any], recipient_der: bytes) -> Any:
    """KmsPrivateKeyToStaticPublicKey without the sender's public key: the keyring asks
    GetPublicKey for it."""
    return kms_ecdh_keyring(mpl, kms, sender["KeySpec"],
                            KmsEcdhStaticConfigurationsKmsPrivateKeyToStaticPublicKey(
                                KmsPrivateKeyToStaticPublicKeyInput(
                                    sender_kms_identifier=sender["Arn"],
                                    recipient_public_key=recipient_der)))


def discovery(mpl: Any, kms: Any, recipient: dict[str, Any]) -> Any:
    return kms_ecdh_keyring(mpl, kms, recipient["KeySpec"],
                            KmsEcdhStaticConfigurationsKmsPublicKeyDiscovery(
                                KmsPublicKeyDiscoveryInput(
                                    recipient_kms_identifier=recipient["Arn"])))


@pytest.mark.parametrize("spec", ["ECC_NIST_P256", "ECC_NIST_P521"])
def test_kms_ecdh_keyrings_round_trip_between_two_kms_keys(
        kms: Any, keys: Callable[..., dict[str, Any]], mpl: Any, esdk: Any,
        recorder: Recorder, spec: str) -> None:
    sender = keys(spec, "KEY_AGREEMENT", "sender")
    recipient = keys(spec, "KEY_AGREEMENT", "recipient")
    keyring = sender_to(mpl, kms, sender, public_der(kms, recipient))
    recorder.take()
    ciphertext, _ = esdk.encrypt(source=PLAINTEXT, keyring=keyring, encryption_context=CONTEXT)
    assert "DeriveSharedSecret" in recorder.take()
    # the recipient decrypts with its own KMS key and the sender's public key from the message
    plaintext, header = esdk.decrypt(source=ciphertext, keyring=discovery(mpl, kms, recipient))
    assert plaintext == PLAINTEXT
    assert_context(header)
    assert "DeriveSharedSecret" in recorder.take()
    # and the sender's keyring decrypts its own message (same secret from the other side)
    plaintext, _ = esdk.decrypt(source=ciphertext, keyring=keyring)
    assert plaintext == PLAINTEXT


def raw_ecdh_keyring(mpl: Any, curve: str, scheme: Any) -> Any:
    return mpl.create_raw_ecdh_keyring(input=CreateRawEcdhKeyringInput(
        key_agreement_scheme=scheme, curve_spec=curve))


def test_message_from_a_raw_ecdh_keyring_decrypts_with_the_kms_ecdh_keyring(
        kms: Any, keys: Callable[..., dict[str, Any]], mpl: Any, esdk: Any,
        recorder: Recorder) -> None:
    """The SDK computes ECDH locally with an ephemeral key to the KMS key's public key; KMS
    DeriveSharedSecret must give the recipient the same secret."""
    recipient = keys("ECC_NIST_P256", "KEY_AGREEMENT", "recipient")
    local = raw_ecdh_keyring(mpl, "ECC_NIST_P256",
                             RawEcdhStaticConfigurationsEphemeralPrivateKeyToStaticPublicKey(
                                 EphemeralPrivateKeyToStaticPublicKeyInput(
                                     recipient_public_key=public_der(kms, recipient))))
    recorder.take()
    ciphertext, _ = esdk.encrypt(source=PLAINTEXT, keyring=local, encryption_context=CONTEXT)
    assert recorder.take() == []
    plaintext, header = esdk.decrypt(source=ciphertext, keyring=discovery(mpl, kms, recipient))
    assert plaintext == PLAINTEXT
    assert_context(header)
    assert "DeriveSharedSecret" in recorder.take()


def test_message_from_the_kms_ecdh_keyring_decrypts_with_a_local_private_key(
        kms: Any, keys: Callable[..., dict[str, Any]], mpl: Any, esdk: Any,
        recorder: Recorder) -> None:
    """The sender's secret comes from KMS DeriveSharedSecret; the recipient computes it locally
    with its own private key (the SDK's raw ECDH keyring, PublicKeyDiscovery)."""
    sender = keys("ECC_NIST_P384", "KEY_AGREEMENT", "sender")
    mine = ec.generate_private_key(CURVES["ECC_NIST_P384"])
    mine_der = mine.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    recorder.take()
    ciphertext, _ = esdk.encrypt(source=PLAINTEXT, keyring=sender_to(mpl, kms, sender, mine_der),
                                 encryption_context=CONTEXT)
    assert "DeriveSharedSecret" in recorder.take()
    local = raw_ecdh_keyring(mpl, "ECC_NIST_P384", RawEcdhStaticConfigurationsPublicKeyDiscovery(
        PublicKeyDiscoveryInput(recipient_static_private_key=mine.private_bytes(
            Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))))
    plaintext, header = esdk.decrypt(source=ciphertext, keyring=local)
    assert plaintext == PLAINTEXT
    assert_context(header)
    assert recorder.take() == []
