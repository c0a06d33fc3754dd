"""Login sessions and the PKCS #11 session pool of each HSM.

A login session (one ``login`` of one client: an interactive ``cloudhsm-cli``, a single
command, or KMS connected to a key store) is stored in the repository ``hsm.session`` under the
cluster's scope, keyed by the SHA-256 of its bearer token (so the database never holds a usable
token). It survives a server restart. A ``cloudhsm-cli`` session ends at ``logout``/``quit``/the
end of the process, or after ``cli_idle_timeout`` seconds without a command; KMS sessions have
no idle timeout (KMS stays logged in until it disconnects, AWS fix-keystore).

PKCS #11 pool (AWS limits: 1,024 sessions per application): every login session holds one
PKCS #11 session on each HSM of its cluster while it lasts, and each cryptographic operation
borrows one more for its duration. When ``pkcs11_sessions`` are in use on an HSM, the next
login or operation fails with :class:`~hsmkms.hsm.errors.Pkcs11SessionsExhausted`.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

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
