"""IAM's domain: users, access keys, roles, inline and managed policies of each account, with
IAM's rules and messages (spec authz.md §3.2-3.4). Pure and synchronous over the store's
repositories; the caller runs it in a unit of work (the request envelope's).

Identifiers are IAM's: ``AIDA``/``AROA``/``ANPA`` + 17 characters for users, roles and managed
policies, ``AKIA`` access key ids that encode their account (:mod:`hsmkms.auth.credentials`),
40-character secrets. Names are unique per account without regard to case.
"""

from __future__ import annotations

import dataclasses
import re
import secrets
from collections.abc import Sequence
from typing import TYPE_CHECKING

from hsmkms.auth import policy as iam
from hsmkms.auth.credentials import AccessKey, new_access_key_id, new_secret
from hsmkms.iam.errors import (
    DeleteConflict,
    EntityAlreadyExists,
    LimitExceeded,
    MalformedPolicyDocument,
    NoSuchEntity,
    ValidationError,
)
from hsmkms.iam.model import (
    DEFAULT_SESSION,
    ManagedPolicy,
    Role,
    User,
    UserKey,
    policy_arn,
    role_arn,
    user_arn,
)
from hsmkms.principal import ASSUMED_ROLE, USER, Principal
from hsmkms.store.codec import Secret

if TYPE_CHECKING:
    from hsmkms.store.base import Store

USERS, ROLES, POLICIES, KEYS = "iam.user", "iam.role", "iam.policy", "iam.access-key"
_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

#: Quotas (spec §3.4, IAM User Guide "IAM and AWS STS quotas").
KEYS_PER_USER = 2
INLINE_USER_BYTES, INLINE_ROLE_BYTES = 2048, 10240
MANAGED_BYTES, TRUST_BYTES = 6144, 2048
ATTACHED_PER_ENTITY = 10
MAX_SESSION_RANGE = (3600, 43200)

_NAME = re.compile(r"[\w+=,.@-]+")
_PATH = re.compile(r"(\u002F)|(\u002F[\u0021-\u007E]+\u002F)")
_POLICY_ARN = re.compile(r"arn:aws:iam::(\d{12}|aws):policy(/(?:[\x21-\x7e]*/)?)([\w+=,.@-]+)")


def unique_id(prefix: str) -> str:
    """IAM's unique ids: a 4-letter prefix and 17 characters of the base32 alphabet."""
    return prefix + "".join(secrets.choice(_B32) for _ in range(17))


def invalid(member: str, value: str, constraint: str) -> ValidationError:
    return ValidationError(f"1 validation error detected: Value '{value}' at '{member}' failed "
                           f"to satisfy constraint: {constraint}")


def check_name(member: str, value: str, limit: int = 64) -> str:
    if len(value) > limit:
        raise invalid(member, value, f"Member must have length less than or equal to {limit}")
    if not _NAME.fullmatch(value):
        raise invalid(member, value,
                      "Member must satisfy regular expression pattern: [\\w+=,.@-]+")
    return value


def check_path(path: str) -> str:
    if len(path) > 512 or not _PATH.fullmatch(path):
        raise ValidationError("The specified value for path is invalid. It must begin and end "
                              "with / and contain only alphanumeric characters and/or / "
                              "characters.")
    return path


def _size(document: str) -> int:
    """A policy's size as IAM counts it (whitespace does not count)."""
    return len(re.sub(r"\s", "", document).encode())


def identity_policy(document: str) -> iam.Policy:
    """An identity policy as IAM accepts it, or ``MalformedPolicyDocument``."""
    _characters(document)
    try:
        return iam.parse(document, resource_policy=False)
    except iam.MalformedPolicy as err:
        raise MalformedPolicyDocument(_policy_message(err)) from None


def trust_policy(document: str) -> iam.Policy:
    """A role's trust policy (a principal in every statement, no Resource)."""
    _characters(document)
    try:
        parsed = iam.parse(document, resource_policy=True, resource_required=False)
    except iam.MalformedPolicy as err:
        raise MalformedPolicyDocument(_policy_message(err)) from None
    for statement in parsed.statements:
        if statement.resources is not None:
            raise MalformedPolicyDocument("Has prohibited field Resource")
    return parsed


def _characters(document: str) -> None:
    if any(not (c in "\t\n\r" or "\u0020" <= c <= "\u00ff") for c in document):
        raise MalformedPolicyDocument("Syntax errors in policy.")


def _policy_message(err: iam.MalformedPolicy) -> str:
    text = str(err)
    if "not valid JSON" in text or "must be a JSON object" in text:
        return "Syntax errors in policy."
    return text


class Directory:
    """Every account's IAM entities (users and roles by account, access keys by id)."""

    def __init__(self, store: Store) -> None:
        self._users = store.repository(USERS, User)
        self._roles = store.repository(ROLES, Role)
        self._policies = store.repository(POLICIES, ManagedPolicy)
        self._keys = store.repository(KEYS, UserKey)

    # -- users -------------------------------------------------------------------------------

    def create_user(self, account: str, name: str, path: str, now: float) -> User:
        check_name("userName", name)
        check_path(path)
        if self._users.get(account, name.lower()) is not None:
            raise EntityAlreadyExists(f"User with name {name} already exists.")
        user = User(name, unique_id("AIDA"), path, now)
        self._users.put(account, name.lower(), user)
        return user

    def user(self, account: str, name: str) -> User:
        found = self._users.get(account, name.lower())
        if found is None:
            raise NoSuchEntity(f"The user with name {name} cannot be found.")
        return found

    def users_named(self, account: str, name: str) -> User | None:
        return self._users.get(account, name.lower())

    def roles_named(self, account: str, name: str) -> Role | None:
        return self._roles.get(account, name.lower())

    def users(self, account: str, path_prefix: str = "/") -> list[User]:
        return sorted((u for u in self._users.values(account) if u.path.startswith(path_prefix)),
                      key=lambda u: u.name.lower())

    def delete_user(self, account: str, name: str) -> None:
        user = self.user(account, name)
        if self.keys_of(account, user.name):
            raise DeleteConflict("Cannot delete entity, must delete access keys first.")
        if user.inline:
            raise DeleteConflict("Cannot delete entity, must delete policies first.")
        if user.attached:
            raise DeleteConflict("Cannot delete entity, must detach all policies first.")
        self._users.delete(account, name.lower())

    # -- access keys -------------------------------------------------------------------------

    def keys_of(self, account: str, user_name: str) -> list[UserKey]:
        wanted = user_name.lower()
        return sorted((k for k in self._keys.values("")
                       if k.account == account and k.user_name.lower() == wanted),
                      key=lambda k: k.created)

    def create_access_key(self, account: str, user_name: str, now: float) -> tuple[UserKey, str]:
        user = self.user(account, user_name)
        if len(self.keys_of(account, user.name)) >= KEYS_PER_USER:
            raise LimitExceeded(f"Cannot exceed quota for AccessKeysPerUser: {KEYS_PER_USER}")
        secret = new_secret()
        key = UserKey(new_access_key_id(account), account, user.name, Secret(secret.encode()),
                      active=True, created=now)
        self._keys.put("", key.access_key_id, key)
        return key, secret

    def _key(self, account: str, user_name: str, akid: str) -> UserKey:
        key = self._keys.get("", akid)
        if key is None or key.account != account or key.user_name.lower() != user_name.lower():
            raise NoSuchEntity(f"The Access Key with id {akid} cannot be found.")
        return key

    def update_access_key(self, account: str, user_name: str, akid: str, status: str) -> None:
        user = self.user(account, user_name)
        if status not in ("Active", "Inactive"):
            raise invalid("status", status, "Member must satisfy enum value set: "
                          "[Active, Inactive, Expired]")
        key = self._key(account, user.name, akid)
        self._keys.put("", akid, dataclasses.replace(key, active=status == "Active"))

    def delete_access_key(self, account: str, user_name: str, akid: str) -> None:
        user = self.user(account, user_name)
        self._key(account, user.name, akid)
        self._keys.delete("", akid)

    def credential(self, akid: str) -> AccessKey | None:
        """The verifier's view of an IAM user's active access key (None: unknown, inactive, or
        its user is gone)."""
        key = self._keys.get("", akid)
        if key is None or not key.active:
            return None
        user = self._users.get(key.account, key.user_name.lower())
        if user is None:
            return None
        arn = user_arn(key.account, user)
        principal = Principal(USER, key.account, arn, user.user_id, user_name=user.name)
        return AccessKey(akid, key.account, key.secret, arn, principal=principal)

    # -- roles -------------------------------------------------------------------------------

    def create_role(self, account: str, name: str, path: str, trust: str, now: float, *,
                    description: str = "", max_session: int = DEFAULT_SESSION) -> Role:
        check_name("roleName", name)
        check_path(path)
        self._check_max_session(max_session)
        self._check_trust(trust)
        if self._roles.get(account, name.lower()) is not None:
            raise EntityAlreadyExists(f"Role with name {name} already exists.")
        role = Role(name, unique_id("AROA"), path, now, trust, description, max_session)
        self._roles.put(account, name.lower(), role)
        return role

    @staticmethod
    def _check_max_session(seconds: int) -> None:
        low, high = MAX_SESSION_RANGE
        if seconds < low:
            raise invalid("maxSessionDuration", str(seconds),
                          f"Member must have value greater than or equal to {low}")
        if seconds > high:
            raise invalid("maxSessionDuration", str(seconds),
                          f"Member must have value less than or equal to {high}")

    @staticmethod
    def _check_trust(trust: str) -> None:
        trust_policy(trust)
        if _size(trust) > TRUST_BYTES:
            raise LimitExceeded(f"Cannot exceed quota for ACLSizePerRole: {TRUST_BYTES}")

    def role(self, account: str, name: str) -> Role:
        found = self._roles.get(account, name.lower())
        if found is None:
            raise NoSuchEntity(f"The role with name {name} cannot be found.")
        return found

    def role_by_arn(self, arn: str) -> tuple[str, Role] | None:
        """``(account, role)`` for a role ARN (its path must match), else None."""
        parts = arn.split(":", 5)
        if len(parts) != 6 or parts[:3] != ["arn", "aws", "iam"] or \
                not parts[5].startswith("role/"):
            return None
        account, name = parts[4], parts[5].rsplit("/", 1)[-1]
        found = self._roles.get(account, name.lower())
        if found is None or role_arn(account, found) != arn:
            return None
        return account, found

    def roles(self, account: str, path_prefix: str = "/") -> list[Role]:
        return sorted((r for r in self._roles.values(account) if r.path.startswith(path_prefix)),
                      key=lambda r: r.name.lower())

    def delete_role(self, account: str, name: str) -> None:
        role = self.role(account, name)
        if role.inline:
            raise DeleteConflict("Cannot delete entity, must delete policies first.")
        if role.attached:
            raise DeleteConflict("Cannot delete entity, must detach all policies first.")
        self._roles.delete(account, name.lower())

    def update_trust(self, account: str, name: str, trust: str) -> None:
        role = self.role(account, name)
        self._check_trust(trust)
        self._roles.put(account, role.name.lower(), dataclasses.replace(role, trust=trust))

    # -- inline policies -----------------------------------------------------------------------

    def put_inline(self, account: str, kind: str, name: str, policy_name: str,
                   document: str) -> None:
        check_name("policyName", policy_name, 128)
        identity_policy(document)
        entity = self._entity(account, kind, name)
        inline = {**entity.inline, policy_name: document}
        limit = INLINE_USER_BYTES if kind == "user" else INLINE_ROLE_BYTES
        if sum(_size(d) for d in inline.values()) > limit:
            raise LimitExceeded(f"Maximum policy size of {limit} bytes exceeded for {kind} "
                                f"{entity.name}")
        self._save(account, dataclasses.replace(entity, inline=inline))

    def inline(self, account: str, kind: str, name: str, policy_name: str) -> str:
        entity = self._entity(account, kind, name)
        if policy_name not in entity.inline:
            raise NoSuchEntity(f"The {kind} policy with name {policy_name} cannot be found.")
        return entity.inline[policy_name]

    def inline_names(self, account: str, kind: str, name: str) -> list[str]:
        return sorted(self._entity(account, kind, name).inline)

    def delete_inline(self, account: str, kind: str, name: str, policy_name: str) -> None:
        entity = self._entity(account, kind, name)
        if policy_name not in entity.inline:
            raise NoSuchEntity(f"The {kind} policy with name {policy_name} cannot be found.")
        inline = {k: v for k, v in entity.inline.items() if k != policy_name}
        self._save(account, dataclasses.replace(entity, inline=inline))

    def _entity(self, account: str, kind: str, name: str) -> User | Role:
        return self.user(account, name) if kind == "user" else self.role(account, name)

    def _save(self, account: str, entity: User | Role) -> None:
        if isinstance(entity, User):
            self._users.put(account, entity.name.lower(), entity)
        else:
            self._roles.put(account, entity.name.lower(), entity)

    # -- managed policies ----------------------------------------------------------------------

    def create_policy(self, account: str, name: str, path: str, document: str, now: float,
                      description: str = "") -> ManagedPolicy:
        check_name("policyName", name, 128)
        check_path(path)
        identity_policy(document)
        if _size(document) > MANAGED_BYTES:
            raise LimitExceeded(f"Cannot exceed quota for PolicySize: {MANAGED_BYTES}")
        if self._policies.get(account, name.lower()) is not None:
            raise EntityAlreadyExists(f"A policy called {name} already exists. Duplicate names "
                                      "are not allowed.")
        found = ManagedPolicy(name, unique_id("ANPA"), path, now, document, description)
        self._policies.put(account, name.lower(), found)
        return found

    def policy(self, arn: str) -> tuple[str, ManagedPolicy]:
        match = _POLICY_ARN.fullmatch(arn)
        found = None
        if match is not None:
            found = self._policies.get(match.group(1), match.group(3).lower())
            if found is not None and policy_arn(match.group(1), found.path, found.name) != arn:
                found = None
        if match is None or found is None:
            raise NoSuchEntity(f"Policy {arn} does not exist or is not attachable.")
        return match.group(1), found

    def policies(self, account: str, path_prefix: str = "/", *,
                 only_attached: bool = False) -> list[ManagedPolicy]:
        return sorted((p for p in self._policies.values(account)
                       if p.path.startswith(path_prefix)
                       and (p.attachments or not only_attached)),
                      key=lambda p: p.name.lower())

    def delete_policy(self, arn: str) -> None:
        account, found = self.policy(arn)
        if found.attachments:
            raise DeleteConflict("Cannot delete a policy attached to entities.")
        self._policies.delete(account, found.name.lower())

    def attach(self, account: str, kind: str, name: str, arn: str) -> None:
        entity = self._entity(account, kind, name)
        owner, found = self.policy(arn)
        if owner != account:
            raise NoSuchEntity(f"Policy {arn} does not exist or is not attachable.")
        if arn in entity.attached:
            return
        if len(entity.attached) >= ATTACHED_PER_ENTITY:
            quota = "PoliciesPerUser" if kind == "user" else "PoliciesPerRole"
            raise LimitExceeded(f"Cannot exceed quota for {quota}: {ATTACHED_PER_ENTITY}")
        self._save(account, dataclasses.replace(entity, attached=(*entity.attached, arn)))
        self._policies.put(owner, found.name.lower(),
                           dataclasses.replace(found, attachments=found.attachments + 1))

    def detach(self, account: str, kind: str, name: str, arn: str) -> None:
        entity = self._entity(account, kind, name)
        if arn not in entity.attached:
            raise NoSuchEntity(f"Policy {arn} was not found.")
        self._save(account, dataclasses.replace(
            entity, attached=tuple(a for a in entity.attached if a != arn)))
        owner, found = self.policy(arn)
        self._policies.put(owner, found.name.lower(),
                           dataclasses.replace(found, attachments=max(0, found.attachments - 1)))

    def attached(self, account: str, kind: str, name: str) -> list[tuple[str, str]]:
        """``(policy name, policy ARN)`` of what is attached to a user or role."""
        return [(arn.rsplit("/", 1)[-1], arn) for arn in self._entity(account, kind, name).attached]

    # -- evaluation ----------------------------------------------------------------------------

    def identity_policies(self, principal: Principal) -> Sequence[iam.Policy]:
        """The identity policies of a user, or of a session's role (inline, then attached);
        none for a principal that no longer exists (or the root user, who needs none)."""
        entity: User | Role | None
        if principal.type == USER:
            entity = self._users.get(principal.account, principal.user_name.lower())
        elif principal.type == ASSUMED_ROLE:
            entity = self._roles.get(principal.account, principal.role_name.lower())
            if entity is not None and entity.role_id != principal.role_id:
                entity = None  # a new role of the same name is not the session's
        else:
            return ()
        if entity is None:
            return ()
        documents = list(entity.inline.values())
        for arn in entity.attached:
            found = self._policies.get(principal.account, arn.rsplit("/", 1)[-1].lower())
            if found is not None:
                documents.append(found.document)
        return tuple(iam.parse(d, resource_policy=False) for d in documents)
