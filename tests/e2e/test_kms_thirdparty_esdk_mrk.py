"""The AWS Encryption SDK for Python with the AWS Cryptographic Material Providers Library's
multi-Region-aware keyrings against a real server: a message encrypted under a multi-Region
primary key in us-east-1 decrypts with its replica in us-west-2.

* ``CreateAwsKmsMrkKeyringInput`` naming the replica: the keyring matches the message's
  us-east-1 key ARN with the us-west-2 one (same ``mrk-`` id) and calls Decrypt there;
* ``CreateAwsKmsMrkDiscoveryKeyringInput`` in us-west-2: takes the ARN from the message and
  asks the key of the same id in its own Region;
* ``CreateAwsKmsMrkMultiKeyringInput`` / ``CreateAwsKmsMrkDiscoveryMultiKeyringInput`` with a
  client supplier that hands out clients of this server, one per Region;
* the plain (not multi-Region-aware) KMS keyring naming the replica refuses the message: the
  ARNs differ, which shows the match above is the MRK-aware one.

Each test records the KMS operations each Region's client sent, so a keyring that never asked
the replica's Region (and so proved nothing) would fail.
"""

from __future__ import annotations

from typing import Any

import aws_encryption_sdk
import pytest
from aws_cryptographic_material_providers.mpl import AwsCryptographicMaterialProviders
from aws_cryptographic_material_providers.mpl.config import MaterialProvidersConfig
from aws_cryptographic_material_providers.mpl.models import (
    CreateAwsKmsKeyringInput,
    CreateAwsKmsMrkDiscoveryKeyringInput,
    CreateAwsKmsMrkDiscoveryMultiKeyringInput,
    CreateAwsKmsMrkKeyringInput,
    CreateAwsKmsMrkMultiKeyringInput,
    DiscoveryFilter,
    GetClientInput,
)
from aws_cryptographic_material_providers.mpl.references import IClientSupplier
from aws_encryption_sdk.exceptions import AWSEncryptionSDKClientError

from hsmkms.testing.server import ServerProcess

ACCOUNT = "111122223333"
EAST, WEST = "us-east-1", "us-west-2"
CONTEXT = {"purpose": "hsmkms multi-Region proof"}
PLAINTEXT = b"a message for a multi-Region key " * 40


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


class Clients(IClientSupplier):  # type: ignore[misc] - the MPL's interface is untyped
    """One recorded client of this server per Region (the MPL's ClientSupplier)."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.clients: dict[str, Any] = {}
        self.recorders: dict[str, Recorder] = {}

    def get(self, region: str) -> Any:
        if region not in self.clients:
            self.clients[region] = self.server.client("kms", region)
            self.recorders[region] = Recorder(self.clients[region])
        return self.clients[region]

    def get_client(self, param: GetClientInput) -> Any:
        return self.get(param.region)

    def sent(self) -> dict[str, list[str]]:
        return {region: rec.take() for region, rec in self.recorders.items() if rec.sent}


@pytest.fixture(scope="module")
def clients(module_server: ServerProcess) -> Clients:
    return Clients(module_server)


@pytest.fixture(scope="module")
def key(module_server: ServerProcess, clients: Clients) -> dict[str, str]:
    east = clients.get(EAST)
    meta = east.create_key(MultiRegion=True, Description="ESDK MRK")["KeyMetadata"]
    east.replicate_key(KeyId=meta["KeyId"], ReplicaRegion=WEST)
    module_server.advance(60)  # past the replica's creation in every timing profile
    assert clients.get(WEST).describe_key(KeyId=meta["KeyId"])["KeyMetadata"][
        "KeyState"] == "Enabled"
    clients.sent()
    return {"id": meta["KeyId"], EAST: meta["Arn"],
            WEST: f"arn:aws:kms:{WEST}:{ACCOUNT}:key/{meta['KeyId']}"}


@pytest.fixture(scope="module")
def mpl() -> AwsCryptographicMaterialProviders:
    return AwsCryptographicMaterialProviders(config=MaterialProvidersConfig())


@pytest.fixture(scope="module")
def esdk() -> aws_encryption_sdk.EncryptionSDKClient:
    return aws_encryption_sdk.EncryptionSDKClient(
        commitment_policy=aws_encryption_sdk.CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)


def encrypted_in_east(mpl: Any, esdk: Any, clients: Clients, key: dict[str, str]) -> bytes:
    keyring = mpl.create_aws_kms_mrk_keyring(input=CreateAwsKmsMrkKeyringInput(
        kms_key_id=key[EAST], kms_client=clients.get(EAST)))
    ciphertext, header = esdk.encrypt(source=PLAINTEXT, keyring=keyring,
                                      encryption_context=CONTEXT)
    assert [k.key_provider.key_info.decode() for k in header.encrypted_data_keys] == [key[EAST]]
    assert clients.sent() == {EAST: ["GenerateDataKey"]}
    return bytes(ciphertext)


def assert_decrypted(esdk: Any, ciphertext: bytes, keyring: Any) -> None:
    plaintext, header = esdk.decrypt(source=ciphertext, keyring=keyring)
    assert plaintext == PLAINTEXT
    assert {k: header.encryption_context[k] for k in CONTEXT} == CONTEXT


def test_mrk_keyring_decrypts_with_the_replica(mpl: Any, esdk: Any, clients: Clients,
                                               key: dict[str, str]) -> None:
    ciphertext = encrypted_in_east(mpl, esdk, clients, key)
    replica = mpl.create_aws_kms_mrk_keyring(input=CreateAwsKmsMrkKeyringInput(
        kms_key_id=key[WEST], kms_client=clients.get(WEST)))
    assert_decrypted(esdk, ciphertext, replica)
    assert clients.sent() == {WEST: ["Decrypt"]}


def test_mrk_discovery_keyring_decrypts_in_its_region(mpl: Any, esdk: Any, clients: Clients,
                                                      key: dict[str, str]) -> None:
    ciphertext = encrypted_in_east(mpl, esdk, clients, key)
    discovery = mpl.create_aws_kms_mrk_discovery_keyring(
        input=CreateAwsKmsMrkDiscoveryKeyringInput(
            kms_client=clients.get(WEST), region=WEST,
            discovery_filter=DiscoveryFilter(account_ids=[ACCOUNT], partition="aws")))
    assert_decrypted(esdk, ciphertext, discovery)
    assert clients.sent() == {WEST: ["Decrypt"]}


def test_mrk_multi_keyrings_with_a_client_supplier(mpl: Any, esdk: Any, clients: Clients,
                                                   key: dict[str, str]) -> None:
    encrypting = mpl.create_aws_kms_mrk_multi_keyring(input=CreateAwsKmsMrkMultiKeyringInput(
        generator=key[EAST], client_supplier=clients))
    ciphertext, _ = esdk.encrypt(source=PLAINTEXT, keyring=encrypting,
                                 encryption_context=CONTEXT)
    assert clients.sent() == {EAST: ["GenerateDataKey"]}
    decrypting = mpl.create_aws_kms_mrk_multi_keyring(input=CreateAwsKmsMrkMultiKeyringInput(
        kms_key_ids=[key[WEST]], client_supplier=clients))
    assert_decrypted(esdk, ciphertext, decrypting)
    assert clients.sent() == {WEST: ["Decrypt"]}
    discovering = mpl.create_aws_kms_mrk_discovery_multi_keyring(
        input=CreateAwsKmsMrkDiscoveryMultiKeyringInput(
            regions=[WEST], client_supplier=clients,
            discovery_filter=DiscoveryFilter(account_ids=[ACCOUNT], partition="aws")))
    assert_decrypted(esdk, ciphertext, discovering)
    assert clients.sent() == {WEST: ["Decrypt"]}


def test_a_keyring_not_multi_region_aware_refuses(mpl: Any, esdk: Any, clients: Clients,
                                                  key: dict[str, str]) -> None:
    ciphertext = encrypted_in_east(mpl, esdk, clients, key)
    plain = mpl.create_aws_kms_keyring(input=CreateAwsKmsKeyringInput(
        kms_key_id=key[WEST], kms_client=clients.get(WEST)))
    with pytest.raises(AWSEncryptionSDKClientError,
                       match="No Encrypted Data Keys found to match"):
        esdk.decrypt(source=ciphertext, keyring=plain)
    assert clients.sent() == {}  # it never asked KMS: no encrypted data key is its key's
