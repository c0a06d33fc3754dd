"""The KMS domain: keys, aliases, tags, policies and the rules around them.

Plain synchronous Python over repositories; who acts, where and when come from the request
context. The use cases (:mod:`hsmkms.kms.usecases`) call these.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import replace

from hsmkms.context import RequestContext
from hsmkms.errors import ValidationException
from hsmkms.ids import IdSource
from hsmkms.kms import states
from hsmkms.kms.errors import (
    AlreadyExistsException,
    InvalidAliasNameException,
    KMSInvalidStateException,
    LimitExceededException,
    MalformedPolicyDocumentException,
    NotFoundException,
    TagException,
)
from hsmkms.kms.keyspecs import partition
from hsmkms.kms.materials import Materials
from hsmkms.kms.model import (
    ALIAS_ARN_RE,
    ALIASES,
    DELETED_KEYS,
    KEY_ARN_RE,
    KEYS,
    MRK_RE,
    UUID_RE,
    Alias,
    DeletedKey,
    Key,
    KeyState,
    Origin,
    alias_arn,
    key_arn,
)
from hsmkms.scope import Scope
from hsmkms.store.base import Store

MAX_TAGS = 50
MAX_ALIASES_PER_KEY = 50
DAY = 86400.0

DEFAULT_POLICY = """{{
  "Version" : "2012-10-17",
  "Id" : "key-default-1",
  "Statement" : [ {{
    "Sid" : "Enable IAM User Permissions",
    "Effect" : "Allow",
    "Principal" : {{
      "AWS" : "arn:{partition}:iam::{account}:root"
    }},
    "Action" : "kms:*",
    "Resource" : "*"
  }} ]
}}"""


class Keys:
    def __init__(self, store: Store, ids: IdSource | None = None) -> None:
        self._ids = ids or IdSource()
        self.keys = store.repository(KEYS, Key)
        self.aliases = store.repository(ALIASES, Alias)
        self.deleted = store.repository(DELETED_KEYS, DeletedKey)
        self.materials = Materials(store)

    # -- lookup -------------------------------------------------------------------------------

    def resolve(self, who: RequestContext, key_id: str, *, aliases: bool,
                foreign: bool = False) -> Key:
        """Find a key by id, key ARN and (when ``aliases``) alias name or alias ARN; with
        ``foreign``, a key ARN may name a key of another account (cross-account use)."""
        key = self.keys.get(who.scope, key_id)
        if key is not None:  # the common case: a key id, found without any regex
            return key
        if key_id.startswith("alias/") or ALIAS_ARN_RE.match(key_id):
            if not aliases:
                raise NotFoundException(f"Invalid keyId '{key_id}'")
            return self._by_alias(who, key_id, foreign=foreign)
        match = KEY_ARN_RE.match(key_id)
        if match:
            _partition, region, account, ident = match.groups()
            if region != who.region:
                raise NotFoundException(f"Invalid arn {region}")
            if account != who.account:
                found = self.keys.get(Scope.of(account, region), ident) if foreign else None
                if found is None:
                    raise NotFoundException(f"Key '{key_id}' does not exist")
                return found
            key_id = ident
        if not (UUID_RE.match(key_id) or MRK_RE.match(key_id)):
            raise NotFoundException(f"Invalid keyId '{key_id}'")
        key = self.keys.get(who.scope, key_id)
        if key is None:
            raise NotFoundException(
                f"Key '{key_arn(who.region, who.account, key_id)}' does not exist")
        return key

    def _by_alias(self, who: RequestContext, name: str, *, foreign: bool = False) -> Key:
        """The key of an alias name or alias ARN (of another account with ``foreign``)."""
        account, scope = who.account, who.scope
        match = ALIAS_ARN_RE.match(name)
        if match:
            _partition, region, account, name = match.groups()
            if region != who.region:
                raise NotFoundException(f"Invalid arn {region}")
            if account != who.account:
                if not foreign:
                    raise NotFoundException(
                        f"Alias {alias_arn(region, account, name)} is not found.")
                scope = Scope.of(account, region)
        alias = self.aliases.get(scope, name)
        key = None if alias is None else self.keys.get(scope, alias.target_key_id)
        if key is None:  # no such alias, or its key was deleted (its aliases go with it)
            raise NotFoundException(f"Alias {alias_arn(who.region, account, name)} is not found.")
        return key

    # -- lifecycle ----------------------------------------------------------------------------

    def get(self, scope: str, key_id: str) -> Key | None:
        return self.keys.get(scope, key_id)

    def new(self, who: RequestContext, *, description: str = "", policy: str | None = None,
            tags: dict[str, str] | None = None, origin: Origin = Origin.AWS_KMS,
            key_spec: str = "SYMMETRIC_DEFAULT", key_usage: str = "ENCRYPT_DECRYPT",
            multi_region: bool = False) -> Key:
        """A new key, not stored yet and without material (its backend makes that); a
        multi-Region one is the primary of its set, in the caller's Region."""
        return Key(
            key_id=self._ids.mrk() if multi_region else self._ids.uuid(), account=who.account,
            region=who.region, created=who.now,
            primary_region=who.region if multi_region else "",
            state=KeyState.ENABLED, description=description,
            policy=policy if policy is not None else self.default_policy(who.account,
                                                                         who.region),
            tags=dict(tags or {}), origin=origin, key_spec=key_spec, key_usage=key_usage,
        )

    def save(self, who: RequestContext, key: Key) -> None:
        self.keys.put(who.scope, key.key_id, key)

    def put(self, scope: str, key: Key) -> None:
        """Store ``key`` in ``scope`` (another Region's member of a multi-Region set)."""
        self.keys.put(scope, key.key_id, key)

    def default_policy(self, account: str, region: str) -> str:
        return DEFAULT_POLICY.format(account=account, partition=partition(region))

    def apply(self, who: RequestContext, key: Key, event: states.Event, **changes: object) -> Key:
        """Move the key's stored state by ``event`` (policy already checked by the caller)."""
        return self.move(who.scope, key, event, **changes)

    def move(self, scope: str, key: Key, event: states.Event, **changes: object) -> Key:
        """:meth:`apply` for a key of ``scope`` (scheduled work, other Regions' members)."""
        try:
            new_state = states.transition(key.state, event)
        except states.IllegalTransition:
            # Only reachable through states the policy lets through but the table doesn't
            # know (none today); report it the way AWS reports a wrong state.
            raise KMSInvalidStateException(f"{key.arn} is {key.state.value}.") from None
        updated = replace(key, state=new_state, **changes)  # type: ignore[arg-type]
        self.put(scope, updated)
        return updated

    def delete_now(self, scope: str, key: Key, now: float) -> None:
        """The end of the waiting period: the key and its aliases disappear."""
        self.keys.delete(scope, key.key_id)
        self.deleted.put(scope, key.key_id, DeletedKey(key.key_id, now))
        self.materials.delete_all(scope, key.key_id)
        for name in self.aliases.ids_by(scope, _alias_target, key.key_id):
            self.aliases.delete(scope, name)

    def related(self, scope: str, key: Key) -> list[tuple[str, Key]]:
        """``(scope, key)`` of the key and every key sharing its material (the members of a
        multi-Region key set, primary first, each in its own Region; a single-Region key
        alone): what a rotation changes."""
        if not key.multi_region:
            return [(scope, key)]
        account = Scope(scope).account
        primary = self.primary_of(key)
        regions = [key.primary_region, *(primary.replica_regions if primary else ())]
        found = []
        for region in regions:
            member_scope = Scope.of(account, region)
            member = key if region == key.region else self.keys.get(member_scope, key.key_id)
            if member is not None:
                found.append((str(member_scope), member))
        return found

    def primary_of(self, key: Key) -> Key | None:
        """The primary of ``key``'s multi-Region set (``key`` itself when it is the primary).
        The set's replica list lives on its primary only (:attr:`Key.replica_regions`), so
        every member reads the same list."""
        if not key.is_replica:
            return key
        return self.keys.get(Scope.of(key.account, key.primary_region), key.key_id)

    def forget_deletion(self, scope: str, key_id: str) -> None:
        """A replica made again where its key was deleted: the id names a key again."""
        if self.deleted.get(scope, key_id) is not None:
            self.deleted.delete(scope, key_id)

    def in_region(self, region: str, key_id: str) -> Key | None:
        """The key ``key_id`` of any account in ``region`` (key ids are unique): what a
        ciphertext names when another account's key made it."""
        for scope in self.keys.scopes():
            if Scope(scope).region == region:
                found = self.keys.get(scope, key_id)
                if found is not None:
                    return found
        return None

    def was_deleted(self, who: RequestContext, key_id: str) -> bool:
        return self.deleted.get(who.scope, key_id) is not None

    def list_keys(self, who: RequestContext) -> list[Key]:
        return self.keys.values(who.scope)

    def ordered_keys(self, who: RequestContext, position: Callable[[Key], str]) -> Sequence[Key]:
        """The keys sorted by ``position`` (an index of the repository: a page costs the page)."""
        return self.keys.ordered(who.scope, position)

    # -- tags ---------------------------------------------------------------------------------

    @staticmethod
    def merged_tags(existing: dict[str, str], new: list[dict[str, str]]) -> dict[str, str]:
        keys = [t["TagKey"] for t in new]
        if any(k.startswith("aws:") for k in keys):
            raise TagException("Tags beginning with aws: are reserved")
        if len(set(keys)) != len(keys):
            raise TagException("Duplicate tag keys")
        merged = dict(existing)
        merged.update({t["TagKey"]: t["TagValue"] for t in new})
        if len(merged) > MAX_TAGS:
            raise TagException("Too many tags")
        return merged

    # -- policies -----------------------------------------------------------------------------

    @staticmethod
    def check_policy(policy: str) -> str:
        try:
            doc = json.loads(policy)
        except ValueError:
            raise MalformedPolicyDocumentException(
                "The policy document is not valid JSON.") from None
        if not isinstance(doc, dict) or "Statement" not in doc:
            raise MalformedPolicyDocumentException(
                "The policy document must be a JSON object with a Statement element.")
        if len(policy.encode()) > 32768:
            # Key policy documents are limited to 32 KB (AWS KMS quotas page).
            raise LimitExceededException("The key policy document exceeds 32768 bytes.")
        return policy

    # -- aliases ------------------------------------------------------------------------------

    def _check_alias_name(self, name: str) -> None:
        if not name.startswith("alias/"):
            raise ValidationException(
                'Alias must start with the prefix "alias/". Please see '
                "https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html")
        if name.startswith("alias/aws/"):
            raise InvalidAliasNameException(
                "Alias names that begin with alias/aws/ are reserved for AWS managed keys.")

    def create_alias(self, who: RequestContext, name: str, target: Key) -> Alias:
        self._check_alias_name(name)
        if self.aliases.get(who.scope, name) is not None:
            raise AlreadyExistsException(
                f"An alias with the name {alias_arn(who.region, who.account, name)} "
                "already exists")
        count = len(self.aliases.ids_by(who.scope, _alias_target, target.key_id))
        if count >= MAX_ALIASES_PER_KEY:
            raise LimitExceededException(
                f"Too many aliases for key {target.arn}: the limit is {MAX_ALIASES_PER_KEY}.")
        alias = Alias(name, target.key_id, who.now, who.now)
        self.aliases.put(who.scope, name, alias)
        return alias

    def existing_alias(self, who: RequestContext, name: str) -> Alias:
        self._check_alias_name(name)
        alias = self.aliases.get(who.scope, name)
        if alias is None or self.keys.get(who.scope, alias.target_key_id) is None:
            raise NotFoundException(
                f"Alias {alias_arn(who.region, who.account, name)} is not found.")
        return alias

    def aliases_of(self, who: RequestContext, key: Key | None) -> Sequence[Alias]:
        """The live aliases, by name: all of them (an index: a page costs the page), or those of
        ``key``. Every alias is live: a key and its aliases are deleted together
        (:meth:`delete_now`)."""
        if key is None:
            return self.aliases.ordered(who.scope, _alias_name)
        found = (self.aliases.get(who.scope, name) for name in
                 self.aliases.ids_by(who.scope, _alias_target, key.key_id))
        return sorted((a for a in found if a is not None), key=_alias_name)

    def schedule_window(self, days: int | None) -> int:
        days = 30 if days is None else days
        if not 7 <= days <= 30:  # the service enforces 7-30 although the model says 1-365
            raise ValidationException("PendingWindowInDays must be between 7 and 30")
        return days


def _alias_target(alias: Alias) -> str:
    """The key an alias points to (the index of a key's aliases)."""
    return alias.target_key_id


def _alias_name(alias: Alias) -> str:
    """An alias's place in ListAliases (the index of all aliases by name)."""
    return alias.name
