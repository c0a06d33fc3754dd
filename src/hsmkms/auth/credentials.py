"""Access keys: who a signed request comes from (spec authz.md §3.2, §10 Q7).

Each account has a root access key. The default account's comes from
``HSMKMS_ROOT_ACCESS_KEY_ID``/``HSMKMS_ROOT_SECRET_ACCESS_KEY``, else from
``<data dir>/credentials`` (AWS CLI credentials-file format, profile ``hsmkms-root``, mode 0600),
which hsmkms writes with a new key at first start; other accounts' from
``HSMKMS_ROOT_KEYS=<account>:<access key id>:<secret>[,...]``. Keys are kept in the store with
their secret sealed (:class:`~hsmkms.store.Secret`); the verifier reads them from memory.

Generated key ids encode their account as AWS's do (characters 5-12: base32 of
``account // 2 + 2**39``; character 13 in the upper half of the alphabet for an odd account), so
the account of any key hsmkms issued can be recovered from the id alone.
"""

from __future__ import annotations

import base64
import configparser
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hsmkms.principal import Principal
from hsmkms.store.codec import Secret

if TYPE_CHECKING:
    from hsmkms.store.base import Store

PROFILE = "hsmkms-root"
CREDENTIALS_FILE = "credentials"
ADMIN_TOKEN_FILE = "admin-token"  # noqa: S105 - a file name
KIND = "auth.access-key"
_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_ACCOUNT_OFFSET = 549755813888


@dataclass(frozen=True, slots=True)
class AccessKey:
    access_key_id: str
    account: str
    secret: Secret
    #: The principal the key belongs to (an account's root for now).
    principal_arn: str
    #: Temporary credentials only: their session token and expiry (emulated clock).
    session_token: str = ""
    expires: float = 0.0
    #: Who the key belongs to when it is not its account's root user (an IAM user's key,
    #: a role session's temporary credentials).
    principal: Principal | None = None

    @property
    def secret_text(self) -> str:
        return bytes(self.secret).decode()


def root_arn(account: str) -> str:
    return f"arn:aws:iam::{account}:root"


def new_access_key_id(account: str, prefix: str = "AKIA") -> str:
    """A key id that encodes ``account`` (spec §3.2)."""
    number = int(account)
    middle = base64.b32encode((number // 2 + _ACCOUNT_OFFSET).to_bytes(5, "big")).decode()
    half = _B32[16:] if number % 2 else _B32[:16]
    tail = "".join(secrets.choice(_B32) for _ in range(7))
    return prefix + middle + secrets.choice(half) + tail


def account_of_key_id(akid: str) -> str | None:
    """The account a key id of AWS's format encodes; None for another format."""
    if len(akid) != 20 or akid[:4] not in ("AKIA", "ASIA"):
        return None
    try:
        number = int.from_bytes(base64.b32decode(akid[4:12]), "big") - _ACCOUNT_OFFSET
    except ValueError:
        return None
    if number < 0:
        return None
    odd = akid[12] in _B32[16:]
    return f"{number * 2 + int(odd):012d}"


def new_secret() -> str:
    """40 characters of the base64 alphabet, as AWS's secret access keys."""
    return base64.b64encode(os.urandom(30)).decode()


def parse_root_keys(text: str) -> list[tuple[str, str, str]]:
    """``HSMKMS_ROOT_KEYS``: ``(account, access key id, secret)`` triples; ValueError for a
    malformed one (the message never shows a secret)."""
    out = []
    for n, item in enumerate(part.strip() for part in text.split(",")):
        if not item:
            continue
        account, _, rest = item.partition(":")
        akid, _, secret = rest.partition(":")
        if not (len(account) == 12 and account.isdigit()) or not akid or not secret:
            raise ValueError(f"HSMKMS_ROOT_KEYS entry {n + 1} must be "
                             "<12-digit account>:<access key id>:<secret>")
        out.append((account, akid, secret))
    return out


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only (0600 from the start)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    tmp.replace(path)


def credentials_file_text(akid: str, secret: str, region: str) -> str:
    return (f"# hsmkms root credentials of the default account; use with\n"
            f"#   AWS_SHARED_CREDENTIALS_FILE=<this file> AWS_PROFILE={PROFILE}\n"
            f"[{PROFILE}]\naws_access_key_id = {akid}\naws_secret_access_key = {secret}\n"
            f"region = {region}\n")


def read_credentials_file(path: Path) -> tuple[str, str] | None:
    if not path.is_file():
        return None
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(path.read_text())
        section = parser[PROFILE]
        return section["aws_access_key_id"].strip(), section["aws_secret_access_key"].strip()
    except (configparser.Error, KeyError, UnicodeDecodeError):
        return None


#: How long expired temporary credentials are kept (answering ExpiredToken) before they are
#: forgotten (then they are unknown keys).
EXPIRED_KEPT = 86400.0
#: Finds an access key kept elsewhere (IAM users' keys); None for an unknown or inactive one.
KeyLookup = Callable[[str], "AccessKey | None"]


class AccessKeys:
    """The access keys the verifier knows, by id (kept in the store, sealed): the accounts'
    root keys and STS's temporary credentials here, IAM users' keys through the lookups the
    app wires in (:meth:`also_from`)."""

    def __init__(self, store: Store) -> None:
        self._repo = store.repository(KIND, AccessKey)
        self._store = store
        self._by_id: dict[str, AccessKey] = {}
        self._lookups: list[KeyLookup] = []
        #: When expired temporary credentials were last forgotten (emulated clock).
        self._swept = 0.0
        self.default_root: AccessKey | None = None

    def also_from(self, lookup: KeyLookup) -> None:
        """Consult ``lookup`` for key ids not kept here (IAM users' access keys)."""
        self._lookups.append(lookup)

    def get(self, akid: str) -> AccessKey | None:
        key = self._by_id.get(akid)
        if key is None:
            for lookup in self._lookups:
                key = lookup(akid)
                if key is not None:
                    break
        return key

    def account_of(self, akid: str) -> str | None:
        key = self.get(akid)
        return key.account if key is not None else None

    def add(self, account: str, akid: str, secret: str) -> AccessKey:
        """Keep a root access key of ``account`` (replacing what the id named before)."""
        key = AccessKey(akid, account, Secret(secret.encode()), root_arn(account))
        with self._store.unit_of_work():
            self._repo.put("", akid, key)
        self._by_id[akid] = key
        return key

    def add_temporary(self, account: str, akid: str, secret: str, *, principal_arn: str,
                      session_token: str, expires: float, issued: float = 0.0,
                      principal: Principal | None = None) -> AccessKey:
        """Keep temporary credentials (an ``ASIA`` key, its session token, its expiry on the
        emulated clock): what STS issues at ``issued`` (then long-expired ones are
        forgotten)."""
        key = AccessKey(akid, account, Secret(secret.encode()), principal_arn, session_token,
                        expires, principal)
        with self._store.unit_of_work():
            self._repo.put("", akid, key)
            self._sweep(issued)
        self._by_id[akid] = key
        return key

    def _sweep(self, now: float) -> None:
        """Forget temporary credentials that expired more than :data:`EXPIRED_KEPT` ago (until
        then they still answer ``ExpiredToken``); at most once per :data:`EXPIRED_KEPT`."""
        if now - self._swept < EXPIRED_KEPT:
            return
        self._swept = now
        for akid, key in list(self._by_id.items()):
            if key.session_token and key.expires < now - EXPIRED_KEPT:
                del self._by_id[akid]
                self._repo.delete("", akid)

    def clear(self) -> None:
        """Forget the keys in memory (a start installs its own; the store keeps them until
        :meth:`forget_others`)."""
        self._by_id.clear()
        self.default_root = None

    def forget_others(self, now: float | None = None) -> None:
        """Drop stored keys not installed at this start (a root key that was replaced); keep
        the temporary credentials that have not expired at ``now`` (None: drop them too)."""
        with self._store.unit_of_work():
            for akid, key in self._repo.items(""):
                if akid in self._by_id:
                    continue
                if key.session_token and now is not None and key.expires > now:
                    self._by_id[akid] = key
                else:
                    self._repo.delete("", akid)


def bootstrap(keys: AccessKeys, data_dir: Path, *, account: str, region: str,
              akid: str, secret: str, others: str, now: float | None = None) -> AccessKey:
    """Install the root keys: the default account's (given, else from the credentials file,
    else new and written there) and ``HSMKMS_ROOT_KEYS``'. Returns the default account's."""
    path = data_dir / CREDENTIALS_FILE
    keys.clear()
    if bool(akid) != bool(secret):
        raise ValueError("set both HSMKMS_ROOT_ACCESS_KEY_ID and HSMKMS_ROOT_SECRET_ACCESS_KEY, "
                         "or neither")
    if not akid:
        found = read_credentials_file(path)
        if found is None:
            akid, secret = new_access_key_id(account), new_secret()
            write_private(path, credentials_file_text(akid, secret, region))
        else:
            akid, secret = found
    default = keys.add(account, akid, secret)
    keys.default_root = default
    for other_account, other_akid, other_secret in parse_root_keys(others):
        keys.add(other_account, other_akid, other_secret)
    keys.forget_others(now)
    return default


def admin_token(data_dir: Path, configured: str) -> str:
    """The admin surface's bearer token: configured, else ``<data dir>/admin-token`` (made
    at first start, mode 0600)."""
    if configured:
        return configured
    path = data_dir / ADMIN_TOKEN_FILE
    if path.is_file():
        token = path.read_text().strip()
        if token:
            return token
    token = secrets.token_urlsafe(32)
    write_private(path, token + "\n")
    return token


def find_admin_token(environ: dict[str, str] | None = None, data_dir: str | None = None) -> str:
    """What the bundled clients send as the admin token: ``HSMKMS_ADMIN_TOKEN``, else the
    data dir's ``admin-token`` (``HSMKMS_DATA_DIR``, default ``.hsmkms``); "" for none."""
    env = os.environ if environ is None else environ
    token = env.get("HSMKMS_ADMIN_TOKEN", "")
    if token:
        return token
    path = Path(data_dir or env.get("HSMKMS_DATA_DIR") or ".hsmkms") / ADMIN_TOKEN_FILE
    try:
        return path.read_text().strip()
    except OSError:
        return ""
