"""Key material for new asymmetric keys and data key pairs, made off the app lock when slow.

RSA key generation takes tens to hundreds of milliseconds (RSA_4096: about 0.6 s here), far too
long to hold the app lock, under which every other request waits. ``cryptography`` releases the
GIL while it generates, so other threads go on meanwhile.

:meth:`KeyMaterials.prepare` runs in a worker thread *before* the request takes the lock (the
server offloads CreateKey and GenerateDataKeyPair* requests, :data:`PREPARED_OPERATIONS`, to a
thread, and then handles the request in that same thread): it makes one material of the slow
spec the request names and keeps it *for that thread*; the request then takes it under the lock
at no cost. So concurrent requests never take each other's material (with one shared pool, three
concurrent RSA_4096 CreateKeys would leave one of them generating under the lock). Material is
used once: :meth:`take` hands out the thread's prepared material (or makes it inline when
nothing prepared it, e.g. in-process mode). A request that failed after its preparation leaves
its material to the next request of that spec on its thread, which then makes none (so requests
that fail, even unauthenticated ones, cannot make the server generate without end): at most one
material per slow spec and worker thread is kept, in memory only, and never written anywhere.
No material is made ahead of demand: a server that makes no RSA keys spends nothing on them.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable

from hsmkms import pkcrypto

#: Specs whose generation is too slow for the lock (RSA; elliptic curves, Ed25519, ML-DSA and
#: ML-KEM take well under a millisecond with the C libraries).
SLOW = frozenset({"RSA_2048", "RSA_3072", "RSA_4096"})
#: Operation -> the request member that names the spec to make.
PREPARED_OPERATIONS = {"CreateKey": "KeySpec", "GenerateDataKeyPair": "KeyPairSpec",
                       "GenerateDataKeyPairWithoutPlaintext": "KeyPairSpec",
                       # the wrapping key pair of import parameters (kms.usecases.imports)
                       "GetParametersForImport": "WrappingKeySpec"}


class _Prepared(threading.local):
    def __init__(self) -> None:
        #: Spec -> material prepared in this thread and not taken yet.
        self.ready: dict[str, bytes] = {}


class KeyMaterials:
    def __init__(self, generate: Callable[[str], bytes] = pkcrypto.generate) -> None:
        self._generate = generate
        self._prepared = _Prepared()

    def take(self, spec: str) -> bytes:
        """New private material of ``spec`` (see :mod:`hsmkms.pkcrypto`), never handed out
        before."""
        material = self._prepared.ready.pop(spec, None)
        return material if material is not None else self._generate(spec)

    def prepare(self, operation: str, body: bytes) -> None:
        """Make the material a request will need, outside the app lock, for :meth:`take` in
        this thread (any error in the body is left to the request itself to report)."""
        member = PREPARED_OPERATIONS.get(operation)
        try:
            spec = json.loads(body).get(member) if member else None
        except (ValueError, AttributeError, RecursionError):  # RecursionError: deep nesting
            return
        if not isinstance(spec, str) or spec not in SLOW:
            return
        ready = self._prepared.ready
        if spec not in ready:  # else a failed request's leftover serves
            ready[spec] = self._generate(spec)  # GIL released inside
