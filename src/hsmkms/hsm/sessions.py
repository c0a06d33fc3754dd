"""Login sessions and the PKCS #11 session pool of each HSM.

A login session (one ``login`` of one client: an interactive ``cloudhsm-cli``, a single
command, or KMS connected to a key store) is stored in the repository ``hsm.session`` under the
cluster's scope, keyed by the SHA-256 of its bearer token (so the database never holds a usable
token). It survives a server restart. A ``cloudhsm-cli`` session ends at ``logout``/``quit``/the
end of the process, or after ``cli_idle_timeout`` seconds without a command; KMS sessions have
no idle timeout (KMS stays logged in until it disconnects, AWS fix-keystore).

PKCS #11 sessions (:class:`Pkcs11Pool`): each HSM has ``pkcs11_sessions`` of them (default
1,024), shared by every application logged in to it. A login session holds one on each
reachable HSM of its cluster while it lasts (an interactive ``cloudhsm-cli``, a single command
for its duration, KMS while a key store is connected), and a cryptographic operation borrows one
more, for its duration, on the HSM that does it (the one with the most free sessions: the client
balances the load). A login needs a free session on every reachable HSM, an operation on one;
otherwise the caller gets :class:`~hsmkms.hsm.errors.Pkcs11SessionsExhausted`, which KMS turns
into ``KMSInternalException`` ("no available PKCS #11 sessions").

AWS documents the limit per *application* (1,024 PKCS #11 sessions per application, CloudHSM
quotas), and its KMS guide blames bursts of KMS requests. hsmkms has no per-application limit:
its pool is per HSM and shared, a deliberate difference, so that the guide's PKCS #11 failure
can be caused for real with a small ``HSMKMS_PKCS11_SESSIONS`` and a few other logins
(interactive ``cloudhsm-cli`` sessions), not only with the ``pkcs11-sessions-exhausted`` fault.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from hsmkms.hsm.errors import Pkcs11SessionsExhausted

#: Clients whose sessions end after ``cli_idle_timeout`` seconds of inactivity.
CLI_CLIENT_PREFIX = "cloudhsm-cli"
SESSIONS = "hsm.session"


@dataclass(frozen=True, slots=True)
class LoginSession:
    cluster_id: str
    username: str
    role: str
    client: str
    created: float
    last_used: float
    idle_timeout: float = 0.0  # 0: never idles out

    def expired(self, now: float) -> bool:
        return bool(self.idle_timeout) and now - self.last_used > self.idle_timeout


def new_token() -> str:
    return secrets.token_hex(24)


def session_key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def idle_timeout_for(client: str, cli_idle_timeout: float) -> float:
    return float(cli_idle_timeout) if client.startswith(CLI_CLIENT_PREFIX) else 0.0


def scope_of_token(token: str) -> tuple[str, str]:
    """Tokens are ``<scope>|<random>`` so a session is found without scanning every scope."""
    scope, sep, rest = token.rpartition("|")
    return (scope, token) if sep and rest else ("", token)


class Pkcs11Pool:
    """The PKCS #11 sessions of every HSM: ``logins`` (live login sessions of the cluster) plus
    the sessions operations have borrowed on that HSM. Borrowed counts live in memory only: an
    operation borrows and returns within one request."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._borrowed: dict[tuple[str, str, str], int] = {}

    def _in_use(self, slot: tuple[str, str, str], logins: int) -> int:
        return logins + self._borrowed.get(slot, 0)

    def _exhausted(self, hsm_id: str) -> Pkcs11SessionsExhausted:
        return Pkcs11SessionsExhausted(f"No PKCS #11 session is available on HSM {hsm_id}: all "
                                       f"{self.limit} sessions are in use.")

    def check_login(self, scope: str, cluster_id: str, hsm_ids: Sequence[str],
                    logins: int) -> None:
        """A new login needs one free session on each reachable HSM."""
        for hsm_id in hsm_ids:
            if self._in_use((scope, cluster_id, hsm_id), logins) >= self.limit:
                raise self._exhausted(hsm_id)

    @contextlib.contextmanager
    def borrow(self, scope: str, cluster_id: str, hsm_ids: Sequence[str],
               logins: int) -> Iterator[str]:
        """One session for an operation, on the least busy reachable HSM (its id is yielded)."""
        slots = [(scope, cluster_id, h) for h in hsm_ids]
        free = [s for s in slots if self._in_use(s, logins) < self.limit]
        if not free:
            raise self._exhausted(hsm_ids[0] if hsm_ids else "")
        slot = min(free, key=lambda s: self._in_use(s, logins))
        self._borrowed[slot] = self._borrowed.get(slot, 0) + 1
        try:
            yield slot[2]
        finally:
            self._borrowed[slot] -= 1
            if not self._borrowed[slot]:
                del self._borrowed[slot]
