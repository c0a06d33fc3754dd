"""Every KMS key spec as data: what it may be used for and what it reports (spec kms-keys.md 1).

One frozen :class:`KeySpec` record per ``KeySpec`` value: its material family, the key usages
it allows with the algorithms of each (in the order ``DescribeKey`` and ``GetPublicKey`` list
them), sizes, and where it may live (data key pairs, CloudHSM key stores, multi-Region, import,
partitions). CreateKey and every cryptographic operation look their rules up here; adding a key
spec is adding a row.

Sources: the KMS API reference (botocore 1.44.8 model doc strings) and LocalStack's recordings of
real AWS answers (spec kms-keys.md 1.1, 1.2, 2.2-2.8). Orders marked [inferred] in the spec are
adopted as written there.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final


class Family(enum.StrEnum):
    SYMMETRIC = "symmetric"
    HMAC = "hmac"
    RSA = "rsa"
    EC = "ec"  # NIST and SECG prime curves
    ED25519 = "ed25519"
    SM2 = "sm2"
    ML_DSA = "ml-dsa"
    ML_KEM = "ml-kem"


class Usage(enum.StrEnum):
    ENCRYPT_DECRYPT = "ENCRYPT_DECRYPT"
    SIGN_VERIFY = "SIGN_VERIFY"
    GENERATE_VERIFY_MAC = "GENERATE_VERIFY_MAC"
    KEY_AGREEMENT = "KEY_AGREEMENT"
    ENCAPSULATE_DECAPSULATE = "ENCAPSULATE_DECAPSULATE"


#: The ``KeyMetadata`` / ``GetPublicKey`` member that lists a usage's algorithms (the only
#: algorithm list present; the others are absent, not empty).
ALGORITHM_MEMBER: Final = MappingProxyType({
    Usage.ENCRYPT_DECRYPT: "EncryptionAlgorithms",
    Usage.SIGN_VERIFY: "SigningAlgorithms",
    Usage.GENERATE_VERIFY_MAC: "MacAlgorithms",
    Usage.KEY_AGREEMENT: "KeyAgreementAlgorithms",
    Usage.ENCAPSULATE_DECAPSULATE: "EncapsulationAlgorithms",
})

#: Partitions: ``aws`` (commercial), ``aws-cn`` (China), ``aws-us-gov`` (GovCloud).
COMMERCIAL: Final = frozenset({"aws", "aws-us-gov"})
EVERYWHERE: Final = frozenset({"aws", "aws-cn", "aws-us-gov"})
CHINA: Final = frozenset({"aws-cn"})

RSA_SIGNING = ("RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384",
               "RSASSA_PKCS1_V1_5_SHA_512", "RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384",
               "RSASSA_PSS_SHA_512")
RSA_ENCRYPTION = ("RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256")


@dataclass(frozen=True, slots=True)
class KeySpec:
    name: str
    family: Family
    #: Usage (a :class:`Usage`) -> its algorithms, in the order AWS lists them.
    usages: MappingProxyType[str, tuple[str, ...]]
    #: RSA: modulus bits; EC/SM2: field bytes; HMAC: key and MAC bytes; ML-DSA/ML-KEM: level.
    size: int = 0
    #: May GenerateDataKeyPair make pairs of this spec?
    data_key_pair: bool = False
    cloudhsm: bool = False
    multi_region: bool = True
    importable: bool = False
    partitions: frozenset[str] = field(default=EVERYWHERE)

    def algorithms(self, usage: str) -> tuple[str, ...]:
        """The usage's algorithms (none: the spec does not allow the usage). A usage is a
        ``StrEnum``, so the plain string finds it."""
        return self.usages.get(usage, ())

    @property
    def symmetric(self) -> bool:
        return self.family is Family.SYMMETRIC

    @property
    def asymmetric(self) -> bool:
        return self.family not in (Family.SYMMETRIC, Family.HMAC)


def _spec(name: str, family: Family, usages: dict[str, tuple[str, ...]], *, size: int,
          data_key_pair: bool = False, cloudhsm: bool = False, importable: bool = False,
          partitions: frozenset[str] = EVERYWHERE) -> KeySpec:
    return KeySpec(name, family, MappingProxyType(usages), size=size,
                   data_key_pair=data_key_pair, cloudhsm=cloudhsm, importable=importable,
                   partitions=partitions)


def _rsa(bits: int) -> KeySpec:
    return _spec(f"RSA_{bits}", Family.RSA, {Usage.ENCRYPT_DECRYPT: RSA_ENCRYPTION,
                                             Usage.SIGN_VERIFY: RSA_SIGNING},
                 size=bits, data_key_pair=True, importable=True)


def _nist(name: str, signing: str, size: int) -> KeySpec:
    return _spec(name, Family.EC, {Usage.SIGN_VERIFY: (signing,),
                                   Usage.KEY_AGREEMENT: ("ECDH",)},
                 size=size, data_key_pair=True, importable=True)


def _hmac(bits: int) -> KeySpec:
    return _spec(f"HMAC_{bits}", Family.HMAC, {Usage.GENERATE_VERIFY_MAC: (f"HMAC_SHA_{bits}",)},
                 size=bits // 8, importable=True)


def _ml_dsa(level: int) -> KeySpec:
    return _spec(f"ML_DSA_{level}", Family.ML_DSA, {Usage.SIGN_VERIFY: ("ML_DSA_SHAKE_256",)},
                 size=level, partitions=COMMERCIAL)


def _ml_kem(level: int) -> KeySpec:
    # ML-KEM is not offered in the China Regions (CreateKey doc string, M44).
    return _spec(f"ML_KEM_{level}", Family.ML_KEM,
                 {Usage.ENCAPSULATE_DECAPSULATE: ("ML_KEM",)},
                 size=level, data_key_pair=True, partitions=COMMERCIAL)


SPECS: Final = MappingProxyType({s.name: s for s in (
    _spec("SYMMETRIC_DEFAULT", Family.SYMMETRIC,
          {Usage.ENCRYPT_DECRYPT: ("SYMMETRIC_DEFAULT",)},
          size=32, cloudhsm=True, importable=True),
    _hmac(224), _hmac(256), _hmac(384), _hmac(512),
    _rsa(2048), _rsa(3072), _rsa(4096),
    _nist("ECC_NIST_P256", "ECDSA_SHA_256", 32),
    _nist("ECC_NIST_P384", "ECDSA_SHA_384", 48),
    _nist("ECC_NIST_P521", "ECDSA_SHA_512", 66),
    _spec("ECC_SECG_P256K1", Family.EC, {Usage.SIGN_VERIFY: ("ECDSA_SHA_256",)},
          size=32, data_key_pair=True, importable=True),
    _spec("ECC_NIST_EDWARDS25519", Family.ED25519,
          {Usage.SIGN_VERIFY: ("ED25519_SHA_512", "ED25519_PH_SHA_512")},
          size=32, data_key_pair=True),
    _spec("SM2", Family.SM2, {Usage.ENCRYPT_DECRYPT: ("SM2PKE",),
                              Usage.SIGN_VERIFY: ("SM2DSA",),
                              Usage.KEY_AGREEMENT: ("ECDH",)},
          size=32, data_key_pair=True, importable=True, partitions=CHINA),
    _ml_dsa(44), _ml_dsa(65), _ml_dsa(87),
    _ml_kem(512), _ml_kem(768), _ml_kem(1024),
)})

#: The data key pair specs (``DataKeyPairSpec``), in the model's order.
DATA_KEY_PAIR_SPECS: Final = tuple(s for s in SPECS.values() if s.data_key_pair)


@dataclass(frozen=True, slots=True)
class SigningAlgorithm:
    name: str
    #: The hash the algorithm applies (``sha256``, ``sm3``, ...; ``shake256`` inside ML-DSA).
    hash: str
    #: Length of a DIGEST message (0: DIGEST is refused).
    digest_length: int
    #: The message types the algorithm accepts.
    message_types: tuple[str, ...] = ("RAW", "DIGEST")


SIGNING: Final = MappingProxyType({a.name: a for a in (
    *(SigningAlgorithm(f"RSASSA_{pad}_SHA_{bits}", f"sha{bits}", bits // 8)
      for pad in ("PKCS1_V1_5", "PSS") for bits in (256, 384, 512)),
    *(SigningAlgorithm(f"ECDSA_SHA_{bits}", f"sha{bits}", bits // 8) for bits in (256, 384, 512)),
    SigningAlgorithm("SM2DSA", "sm3", 32),
    # ED25519_SHA_512 requires RAW, ED25519_PH_SHA_512 requires DIGEST (Sign doc string).
    SigningAlgorithm("ED25519_SHA_512", "sha512", 64, ("RAW",)),
    SigningAlgorithm("ED25519_PH_SHA_512", "sha512", 64, ("DIGEST",)),
    SigningAlgorithm("ML_DSA_SHAKE_256", "shake256", 64, ("RAW", "EXTERNAL_MU")),
)})

#: Hash length of each OAEP algorithm (for the plaintext limit ``k - 2 hLen - 2``).
OAEP_HASH_BYTES: Final = MappingProxyType({"RSAES_OAEP_SHA_1": 20, "RSAES_OAEP_SHA_256": 32})
#: SM2PKE plaintext limit: AWS allows 1024 bytes (kms.md 2.3); the GmSSL library hsmkms uses
#: encrypts at most 255 (docs/compatibility.md).
SM2PKE_MAX_PLAINTEXT = 255


def max_plaintext(spec: KeySpec, algorithm: str) -> int:
    """The largest plaintext ``algorithm`` encrypts under a key of ``spec``."""
    if spec.family is Family.RSA:
        return spec.size // 8 - 2 * OAEP_HASH_BYTES[algorithm] - 2
    if spec.family is Family.SM2:
        return SM2PKE_MAX_PLAINTEXT
    return 4096


def partition(region: str) -> str:
    """The partition of a Region (``cn-*``: China, ``us-gov-*``: GovCloud)."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def get(name: str) -> KeySpec:
    return SPECS[name]
