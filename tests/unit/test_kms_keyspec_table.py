"""hsmkms.kms.keyspecs: the table covers the pinned model's enums exactly, and its derived
numbers are AWS's (spec kms-keys.md 1.1, 2.4)."""

from __future__ import annotations

import pytest

from hsmkms.kms import keyspecs
from hsmkms.protocol.model import load

SHAPES = load("kms").shapes


def _enum(shape: str) -> list[str]:
    return list(SHAPES[shape]["enum"])


def test_every_key_spec_of_the_model_has_a_row() -> None:
    assert sorted(keyspecs.SPECS) == sorted(_enum("KeySpec"))


def test_data_key_pair_specs_are_the_models() -> None:
    assert sorted(s.name for s in keyspecs.DATA_KEY_PAIR_SPECS) == sorted(
        _enum("DataKeyPairSpec"))


def test_every_algorithm_of_the_model_is_reported_by_some_spec() -> None:
    reported = {a for s in keyspecs.SPECS.values() for algs in s.usages.values() for a in algs}
    assert set(_enum("SigningAlgorithmSpec")) == set(keyspecs.SIGNING)
    for shape in ("EncryptionAlgorithmSpec", "SigningAlgorithmSpec", "MacAlgorithmSpec",
                  "KeyAgreementAlgorithmSpec", "EncapsulationAlgorithmSpec"):
        assert set(_enum(shape)) <= reported, shape


def test_usages_are_the_models() -> None:
    used = {u for s in keyspecs.SPECS.values() for u in s.usages}
    assert used == set(_enum("KeyUsageType")) == set(keyspecs.ALGORITHM_MEMBER)


@pytest.mark.parametrize(("spec", "algorithm", "limit"), [
    ("RSA_2048", "RSAES_OAEP_SHA_1", 214), ("RSA_2048", "RSAES_OAEP_SHA_256", 190),
    ("RSA_3072", "RSAES_OAEP_SHA_1", 342), ("RSA_3072", "RSAES_OAEP_SHA_256", 318),
    ("RSA_4096", "RSAES_OAEP_SHA_1", 470), ("RSA_4096", "RSAES_OAEP_SHA_256", 446)])
def test_oaep_plaintext_limits(spec: str, algorithm: str, limit: int) -> None:
    assert keyspecs.max_plaintext(keyspecs.get(spec), algorithm) == limit


def test_only_symmetric_keys_live_in_cloudhsm_key_stores() -> None:
    assert [s.name for s in keyspecs.SPECS.values() if s.cloudhsm] == ["SYMMETRIC_DEFAULT"]


def test_partitions() -> None:
    assert [keyspecs.partition(r) for r in ("us-east-1", "cn-north-1", "cn-northwest-1",
                                            "us-gov-west-1")] == [
        "aws", "aws-cn", "aws-cn", "aws-us-gov"]
    china = {s.name for s in keyspecs.SPECS.values() if "aws-cn" in s.partitions}
    assert "SM2" in china
    assert not china & {"ML_KEM_512", "ML_KEM_768", "ML_KEM_1024", "ML_DSA_44"}
    assert [s.name for s in keyspecs.SPECS.values() if "aws" not in s.partitions] == ["SM2"]
