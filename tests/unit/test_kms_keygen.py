"""hsmkms.kms.keygen: slow key material prepared ahead (outside the lock), each material handed
out once."""

from __future__ import annotations

import itertools
import json

from hsmkms.kms.keygen import SPARES, KeyMaterials


class Counting:
    def __init__(self) -> None:
        self.made: list[str] = []
        self._n = itertools.count()

    def __call__(self, spec: str) -> bytes:
        self.made.append(spec)
        return f"{spec}-{next(self._n)}".encode()


def test_prepare_makes_what_the_request_will_take() -> None:
    gen = Counting()
    pool = KeyMaterials(gen)
    pool.prepare("CreateKey", json.dumps({"KeySpec": "RSA_4096", "KeyUsage": "SIGN_VERIFY"})
                 .encode())
    assert gen.made == ["RSA_4096"]
    assert pool.take("RSA_4096") == b"RSA_4096-0"  # the prepared one, not a new one


def test_fast_specs_and_bad_bodies_prepare_nothing() -> None:
    gen = Counting()
    pool = KeyMaterials(gen)
    for operation, body in (("CreateKey", b'{"KeySpec": "ECC_NIST_P256"}'),
                            ("CreateKey", b"not json"), ("CreateKey", b"[1]"),
                            ("Encrypt", b'{"KeySpec": "RSA_2048"}'),
                            ("GenerateDataKeyPair", b'{"KeyPairSpec": 7}')):
        pool.prepare(operation, body)
    assert gen.made == []
    assert pool.take("ECC_NIST_P256") == b"ECC_NIST_P256-0"  # made inline


def test_spares_are_bounded_and_each_material_is_used_once() -> None:
    gen = Counting()
    pool = KeyMaterials(gen)
    for _ in range(SPARES + 3):
        pool.prepare("GenerateDataKeyPair", b'{"KeyPairSpec": "RSA_2048"}')
    assert len(gen.made) == SPARES
    taken = [pool.take("RSA_2048") for _ in range(SPARES + 1)]
    assert len(set(taken)) == len(taken)
    assert len(gen.made) == SPARES + 1  # the last one was made inline
