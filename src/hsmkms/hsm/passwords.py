"""Username and password rules, and salted password hashes (scrypt).

AWS rules (cloudhsm.md section 3.2): usernames up to 31 letters, digits or ``_``,
case-insensitive (stored lowercase); passwords case-sensitive, no ``:`` (the single-command PIN is
``user:password``), 7-32 characters on hsm1.medium (KMS guide, 2023 quotas) and 8-32 on
hsm2m.medium (current quotas page). AWS names no character set; hsmkms accepts printable
characters only (spec cloudhsm.md 8.10): a tab or another control character is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re

from hsmkms.hsm.errors import InvalidInput
from hsmkms.store.codec import Secret

_USERNAME = re.compile(r"[A-Za-z0-9_]{1,31}")
# scrypt cost: 16 MiB, roughly 40 ms per check; the same as OWASP's scrypt minimum.
_N, _R, _P = 2**14, 8, 1


def normalise_username(username: str) -> str:
    if not isinstance(username, str) or not _USERNAME.fullmatch(username):
        raise InvalidInput("Invalid username: a username is 1 to 31 characters, letters, "
                           "digits and underscores only.")
    return username.lower()


def password_min_length(hsm_type: str) -> int:
    return 8 if hsm_type.startswith("hsm2") else 7


def check_password_rules(password: str, hsm_type: str = "hsm1.medium") -> None:
    low = password_min_length(hsm_type)
    if not isinstance(password, str) or not low <= len(password) <= 32 or ":" in password:
        raise InvalidInput(f"Invalid password: a password is {low} to 32 characters and "
                           "cannot contain ':'.")
    if not password.isprintable():
        raise InvalidInput("Invalid password: a password can contain only printable "
                           "characters.")


def new_salt() -> bytes:
    return os.urandom(16)


def hash_password(password: str, salt: bytes) -> Secret:
    return Secret(hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32))


def verify_password(password: str, salt: bytes, expected: bytes) -> bool:
    if not expected:
        return False
    return hmac.compare_digest(hash_password(password, salt), expected)
