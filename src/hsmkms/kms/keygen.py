"""Key material for new asymmetric keys and data key pairs, made off the app lock when slow.

RSA key generation takes tens to hundreds of milliseconds (RSA_4096: about 0.6 s here), far too
long to hold the app lock, under which every other request waits. ``cryptography`` releases the
GIL while it generates, so other threads go on meanwhile.

:meth:`KeyMaterials.prepare` runs in a worker thread *before* the request takes the lock (the
server offloads CreateKey and GenerateDataKeyPair* requests, :data:`PREPARED_OPERATIONS`, to a
thread): it makes one material of the slow spec the request names and puts it in the pool; the
request then takes it under the lock at no cost. Material is used once: :meth:`take` pops it
(or makes it inline when nothing prepared it, e.g. in-process mode). Prepared material is kept
in memory only, at most :data:`SPARES` per spec (a request that failed after its preparation
leaves one for the next), and never written anywhere. No material is made ahead of demand: a
server that makes no RSA keys spends nothing on them.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict, deque
from collections.abc import Callable

from hsmkms import pkcrypto

#: Specs whose generation is too slow for the lock (RSA; elliptic curves, Ed25519, ML-DSA and
#: ML-KEM take well under a millisecond with the C libraries).
SLOW = frozenset({"RSA_2048", "RSA_3072", "RSA_4096"})
SPARES = 2
#: Operation -> the request member that names the spec to make.
PREPARED_OPERATIONS = {"CreateKey": "KeySpec", "GenerateDataKeyPair": "KeyPairSpec",
                       "GenerateDataKeyPairWithoutPlaintext": "KeyPairSpec"}


class KeyMaterials:
    def __init__(self, generate: Callable[[str], bytes] = pkcrypto.generate) -> None:
        self._generate = generate
        self._ready: dict[str, deque[bytes]] = defaultdict(deque)
        self._lock = threading.Lock()

    def take(self, spec: str) -> bytes:
        """New private material of ``spec`` (see :mod:`hsmkms.pkcrypto`)."""
        with self._lock:
            ready = self._ready[spec]
            material = ready.popleft() if ready else None
        return material if material is not None else self._generate(spec)

    def prepare(self, operation: str, body: bytes) -> None:
        """Make the material a request will need, outside the app lock (any error is left to
        the request itself to report)."""
        member = PREPARED_OPERATIONS.get(operation)
        try:
            spec = json.loads(body).get(member) if member else None
        except (ValueError, AttributeError):
            return
        if spec in SLOW:
            self._add(spec)

    def _add(self, spec: str) -> None:
        with self._lock:
            if len(self._ready[spec]) >= SPARES:
                return
        material = self._generate(spec)  # no lock held: the GIL is released inside
        with self._lock:
            if len(self._ready[spec]) < SPARES:
                self._ready[spec].append(material)
