"""Identifiers: one injectable source for request ids, event ids, resource ids and job ids.

Ids must be unique, not secret: a seeded generator, not a system call per id (``os.urandom``
per request showed in profiles; docs/benchmarks.md). Tests pass a seed to get the same ids on
every run, on a fresh data dir only: a seed reused on a data dir that already holds what it made
would make the same ids again.
"""

from __future__ import annotations

import os
import random

_VERSION_4 = (0x4 << 76) | (0x2 << 62)
_VERSION_MASK = ~((0xF << 76) | (0x3 << 62))


class IdSource:
    def __init__(self, seed: bytes | int | None = None) -> None:
        self._rand = random.Random(os.urandom(32) if seed is None else seed)  # noqa: S311

    def uuid(self, high32: int | None = None) -> str:
        """A random version-4 UUID string; ``high32`` replaces its first 32 bits."""
        n = (self._rand.getrandbits(128) & _VERSION_MASK) | _VERSION_4
        if high32 is not None:
            n = (n & ((1 << 96) - 1)) | ((high32 & 0xFFFFFFFF) << 96)
        h = f"{n:032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def request_id(self) -> str:
        return self.uuid()

    def event_id(self, when: float) -> str:
        """A UUID whose first 32 bits are the event's second: new events land at the end of the
        event id index instead of at random places in it (a random key costs every insert
        several times more as the history grows; docs/benchmarks.md)."""
        return self.uuid(int(when))

    def hex(self, length: int) -> str:
        """``length`` random lower-case hex digits (job ids, fault ids)."""
        return f"{self._rand.getrandbits(4 * length):0{length}x}"

    def mrk(self) -> str:
        """A multi-Region key id: ``mrk-`` and 32 lower-case hex digits (KMS DG
        multi-region-keys-overview; every member of the set shares it)."""
        return f"mrk-{self.hex(32)}"

    def prefixed(self, prefix: str) -> str:
        """``<prefix>-`` and 17 lower-case hex digits: AWS's long resource ids (``vpc-``,
        ``eni-``, ``sg-``, KMS's ``cks-``)."""
        return f"{prefix}-{self.hex(17)}"

    def mac(self) -> str:
        """A locally administered unicast MAC address (an ENI's)."""
        return "02:" + ":".join(f"{b:02x}" for b in self._rand.randbytes(5))

    def bytes(self, n: int) -> bytes:
        """``n`` random bytes for identifiers (CloudHSM ids, CKA_IDs), never for secrets."""
        return self._rand.randbytes(n)
