"""hsmkms.kms.keygen: slow key material prepared ahead (outside the lock) by the thread that
will take it, each material handed out once."""

from __future__ import annotations

import itertools
import json
import threading

from hsmkms.kms.keygen import KeyMaterials


class Counting:
    def __init__(self) -> None:
        self.made: list[str] = []
        self._n = itertools.count()
        self._lock = threading.Lock()

    def __call__(self, spec: str) -> bytes:
        with self._lock:
            self.made.append(spec)
            return f"{spec}-{next(self._n)}".encode()


def test_prepare_makes_what_the_request_will_take() -> None:
    gen = Counting()
    pool = KeyMaterials(gen)
    pool.prepare("CreateKey", json.dumps({"KeySpec": "RSA_4096", "KeyUsage": "SIGN_VERIFY"})
                 .encode())
    assert gen.made == ["RSA_4096"]
    assert pool.take("RSA_4096") == b"RSA_4096-0"  # the prepared one, not a new one
    assert pool.take("RSA_4096") == b"RSA_4096-1"  # used once: the next is made inline


def test_fast_specs_and_bad_bodies_prepare_nothing() -> None:
    gen = Counting()
    pool = KeyMaterials(gen)
    for operation, body in (("CreateKey", b'{"KeySpec": "ECC_NIST_P256"}'),
                            ("CreateKey", b"not json"), ("CreateKey", b"[1]"),
                            ("Encrypt", b'{"KeySpec": "RSA_2048"}'),
                            ("GenerateDataKeyPair", b'{"KeyPairSpec": 7}'),
                            # unhashable members (these once crashed the server with a 500)
                            ("GenerateDataKeyPair", b'{"KeyPairSpec": []}'),
                            ("CreateKey", b'{"KeySpec": {"a": 1}}')):
        pool.prepare(operation, body)
    assert gen.made == []
    assert pool.take("ECC_NIST_P256") == b"ECC_NIST_P256-0"  # made inline


def test_a_failed_request_leaves_its_material_to_the_next_one() -> None:
    gen = Counting()
    pool = KeyMaterials(gen)
    body = b'{"KeyPairSpec": "RSA_2048"}'
    for _ in range(5):  # requests that fail before they take: nothing more is made
        pool.prepare("GenerateDataKeyPair", body)
    assert gen.made == ["RSA_2048"]
    pool.prepare("GenerateDataKeyPair", body)
    assert pool.take("RSA_2048") == b"RSA_2048-0"
    assert pool.take("RSA_3072") == b"RSA_3072-1"  # another spec: made inline


def test_failing_requests_of_alternating_specs_stop_generating() -> None:
    """Requests that fail before they take (unauthenticated ones included: preparation runs
    before authentication) naming RSA_2048, RSA_4096, RSA_2048, ... must not make the server
    generate for each: one leftover per spec serves them all."""
    gen = Counting()
    pool = KeyMaterials(gen)
    for _ in range(4):
        for spec in ("RSA_2048", "RSA_4096", "RSA_3072"):
            pool.prepare("CreateKey", json.dumps({"KeySpec": spec}).encode())
    assert sorted(gen.made) == ["RSA_2048", "RSA_3072", "RSA_4096"]


def test_concurrent_requests_each_take_their_own_material() -> None:
    """Three requests prepare at once, then each takes under the (app) lock: none of them may
    have to generate there (a shared pool of two spares left the third generating inline)."""
    gen = Counting()
    generating = threading.Barrier(3)

    def overlapping(spec: str) -> bytes:  # the first three generations run at the same time
        if len(gen.made) < 3:
            generating.wait(timeout=30)
        return gen(spec)

    pool = KeyMaterials(overlapping)
    prepared = threading.Barrier(3)
    taken: list[bytes] = []
    lock = threading.Lock()

    def request() -> None:
        pool.prepare("CreateKey", b'{"KeySpec": "RSA_4096", "KeyUsage": "SIGN_VERIFY"}')
        prepared.wait()
        with lock:
            taken.append(pool.take("RSA_4096"))

    threads = [threading.Thread(target=request) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(gen.made) == 3
    assert sorted(taken) == sorted({b"RSA_4096-0", b"RSA_4096-1", b"RSA_4096-2"})
