"""What one HSM holds: users and key objects.

Shared contract: :class:`HsmContents` is a frozen value; each HSM of a cluster has its own copy,
and a backup is a copy too. ``HsmContents()`` is the contents of a brand-new HSM of a new,
uninitialised cluster: the built-in ``admin`` (``unactivated-admin``, no password yet) and the
appliance user ``app_user``. Everything a backup must carry (users, password hashes, failed-login
counters, keys and their material, the key-reference counter) lives here; login sessions do not
(a cluster restored from a backup has nobody logged in).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from hsmkms.store.codec import Secret

#: AWS: "after five failed attempts to log into the cluster with an incorrect password, AWS
#: CloudHSM locks the user account" (KMS guide, fix-keystore; counted per HSM, cloudhsm_cli-login).
MAX_FAILED_LOGINS = 5
NO_PASSWORD = Secret(b"")
#: First key-reference handed out in a new cluster (AWS prints references as 0x + 16 hex digits).
FIRST_KEY_REFERENCE = 0x100001


class Role(enum.StrEnum):
    UNACTIVATED_ADMIN = "unactivated-admin"
    ADMIN = "admin"
    CRYPTO_USER = "crypto-user"
    APPLIANCE_USER = "internal(APPLIANCE_USER)"


@dataclass(frozen=True, slots=True)
class HsmUser:
    username: str  # lowercase
    role: Role
    #: scrypt(password, salt); empty for users that have no password (unactivated admin, AU).
    password_hash: Secret = NO_PASSWORD
    salt: bytes = b""
    failed_logins: int = 0

    @property
    def locked(self) -> bool:
        return self.failed_logins >= MAX_FAILED_LOGINS


@dataclass(frozen=True, slots=True)
class KeyAttributes:
    """The attributes of a secret key, in AWS's print order (cloudhsm_cli-key-attributes)."""

    key_type: str = "aes"
    label: str = ""
    id: bytes = b""
    check_value: str = ""
    key_class: str = "secret-key"
    encrypt: bool = False
    decrypt: bool = False
    token: bool = True
    always_sensitive: bool = True
    derive: bool = False
    destroyable: bool = True
    extractable: bool = True
    local: bool = True
    modifiable: bool = True
    never_extractable: bool = False
    private: bool = True
    sensitive: bool = True
    sign: bool = True
    trusted: bool = False
    unwrap: bool = False
    verify: bool = True
    wrap: bool = False
    wrap_with_trusted: bool = False
    key_length_bytes: int = 32


@dataclass(frozen=True, slots=True)
class HsmKey:
    key_reference: int
    owner: str
    material: Secret
    attributes: KeyAttributes
    shared_users: tuple[str, ...] = ()


def _builtin_users() -> tuple[HsmUser, ...]:
    return (HsmUser("admin", Role.UNACTIVATED_ADMIN),
            HsmUser("app_user", Role.APPLIANCE_USER))


@dataclass(frozen=True, slots=True)
class HsmContents:
    users: tuple[HsmUser, ...] = _builtin_users()
    keys: tuple[HsmKey, ...] = ()
    #: Next cluster-wide key-reference (kept per HSM; the cluster uses the largest).
    next_key_reference: int = FIRST_KEY_REFERENCE
    #: References of token keys deleted on this HSM ("tombstones"): key synchronisation must
    #: not copy them back from an HSM that was unreachable when they were deleted.
    deleted_references: tuple[int, ...] = ()

    def user(self, username: str) -> HsmUser | None:
        return next((u for u in self.users if u.username == username), None)

    def key(self, key_reference: int) -> HsmKey | None:
        return next((k for k in self.keys if k.key_reference == key_reference), None)
