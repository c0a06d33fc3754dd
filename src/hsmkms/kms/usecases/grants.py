"""CreateGrant, ListGrants, ListRetirableGrants, RetireGrant, RevokeGrant (spec authz.md §5).

The rules of a grant are :mod:`hsmkms.kms.grants`'; these use cases find the key (by key id or
key ARN, never an alias: spec §5.1), authorize, check the key state and the limits, and store.
Grants live in the scope of their key's account, so a grantee of another account retires or
lists them there. CloudTrail: a CreateGrant's ``responseElements`` carry the grant id only, a
RetireGrant's ``additionalEventData`` the grant id (DG ct-creategrant, ct-retiregrant).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hsmkms import crypto
from hsmkms.context import RequestContext
from hsmkms.errors import ValidationException
from hsmkms.ids import IdSource
from hsmkms.kms import grants as rules
from hsmkms.kms.errors import (
    DryRunOperationException,
    InvalidArnException,
    InvalidGrantIdException,
    LimitExceededException,
    NotFoundException,
)
from hsmkms.kms.grants import Grant, GrantRequest, Grants
from hsmkms.kms.model import ALIAS_ARN_RE, Key
from hsmkms.kms.usecases.access import KeyAccess
from hsmkms.kms.usecases.crypto import DRY_RUN
from hsmkms.scope import Scope

ALIASES_REFUSED = "Key Aliases are not supported for this operation."  # recorded (spec §5.1)
RETIRE_NEEDS = "Either GrantToken or both KeyId and GrantId must be specified."
GRANT_NOT_FOUND = "Grant {grant_id} does not exist on key {key_arn}."
NO_RETIRING = "RetiringPrincipal or RetiringServicePrincipal must be specified."
BOTH_RETIRING = "RetiringPrincipal and RetiringServicePrincipal cannot both be specified."


@dataclass(frozen=True, slots=True)
class GrantLimits:
    """Quotas as settings (AWS: 50,000 grants per key, 500 per grantee per key)."""

    per_key: int = 50000
    per_principal: int = 500


@dataclass(frozen=True, slots=True)
class Created:
    grant_id: str
    token: str


def _scope(key: Key) -> Scope:
    return Scope.of(key.account, key.region)


def _check_grant_id(grant_id: str) -> None:
    if not rules.GRANT_ID_RE.match(grant_id):
        raise InvalidGrantIdException(rules.INVALID_GRANT_ID.format(grant_id=grant_id))


class GrantUseCases:
    def __init__(self, access: KeyAccess, grants: Grants, ids: IdSource,
                 limits: GrantLimits | None = None) -> None:
        self.access = access
        self.grants = grants
        self.ids = ids
        self.limits = limits or GrantLimits()

    def _key(self, ctx: RequestContext, key_id: str) -> Key:
        """The key of a grant operation: key id or key ARN (another account's by ARN)."""
        if key_id.startswith("alias/") or ALIAS_ARN_RE.match(key_id):
            raise InvalidArnException(ALIASES_REFUSED)
        return self.access.resolve(ctx, key_id, aliases=False)

    # -- CreateGrant ----------------------------------------------------------------------------

    def create(self, ctx: RequestContext, key_id: str, req: GrantRequest, *,
               dry_run: bool = False) -> Created:
        key = self._key(ctx, key_id)
        # A grant that allows CreateGrant counts only if the new grant narrows it.
        self.access.authz.authorize(ctx, "CreateGrant", key, req.equals or req.subset,
                                    grant_filter=lambda parent: rules.narrower(req, parent),
                                    conditions=rules.conditions(req))
        self.access.usable("CreateGrant", key)
        grant = rules.new_grant(key, req, grant_id=self.ids.hex(64), now=ctx.now,
                                issuing_account=ctx.account)
        scope = _scope(key)
        existing = self._same(scope, grant)
        if dry_run:
            raise DryRunOperationException(DRY_RUN)
        if existing is None:
            self._check_limits(scope, key, grant)
            self.grants.put(scope, grant)
            existing = grant
        ctx.audit.add(resources=[key.arn])
        return Created(existing.grant_id, rules.token(existing.grant_id, crypto.random_bytes(32)))

    def _same(self, scope: str, grant: Grant) -> Grant | None:
        """A grant made by the same named request (Name idempotency); unnamed never repeat."""
        if not grant.name:
            return None
        return next((g for g in self.grants.named(scope, grant.key_id, grant.name)
                     if g.same_request(grant)), None)

    def _check_limits(self, scope: str, key: Key, grant: Grant) -> None:
        if self.grants.count(scope, key.key_id) >= self.limits.per_key:
            raise LimitExceededException(
                f"The KMS key {key.arn} has reached the limit of {self.limits.per_key} grants.")
        grantee = grant.grantee or grant.grantee_service
        if self.grants.count_for(scope, key.key_id, grantee) >= self.limits.per_principal:
            raise LimitExceededException(
                f"The grantee {grantee} has reached the limit of "
                f"{self.limits.per_principal} grants on the KMS key {key.arn}.")

    # -- ListGrants, ListRetirableGrants ---------------------------------------------------------

    def list(self, ctx: RequestContext, key_id: str, *, grant_id: str | None,
             grantee: str | None, grantee_service: str | None) -> Sequence[Grant]:
        key = self._key(ctx, key_id)
        self.access.authz.authorize(ctx, "ListGrants", key)
        if grant_id is not None:
            _check_grant_id(grant_id)
        found = self.grants.of_key(_scope(key), key.key_id)
        return [g for g in found
                if (grant_id is None or g.grant_id == grant_id)
                and (grantee is None or g.grantee == grantee)
                and (grantee_service is None or g.grantee_service == grantee_service)]

    def retirable(self, ctx: RequestContext, retiring: str | None,
                  retiring_service: str | None) -> Sequence[Grant]:
        """Grants whose retiring principal is the one named (IAM authorizes
        ListRetirableGrants; the root user always may, for its own account's principals).

        What the caller may see (KMS API reference, "Cross-account use"): grants on keys of
        every account in the Region when the principal is one of the caller's own account
        (those grants are the caller's to retire); otherwise only grants on the caller's own
        keys. A service principal belongs to no account, so another account's grants naming it
        are never listed; nor, without ``enforce`` (no other account's key resolves), are any
        other account's grants."""
        if retiring is None and retiring_service is None:
            raise ValidationException(NO_RETIRING)
        if retiring is not None and retiring_service is not None:
            raise ValidationException(BOTH_RETIRING)
        if retiring is not None and not rules.PRINCIPAL_ARN.match(retiring):
            raise InvalidArnException(rules.invalid_principal("RetiringPrincipal", retiring))
        principal = retiring or retiring_service or ""
        self.access.authz.authorize_on_principal(ctx, "ListRetirableGrants", principal)
        if self.access.authz.cross_account and rules.account_of(principal) == ctx.account:
            return self.grants.retirable_by(principal, ctx.region)
        return self.grants.retirable_in(ctx.scope, principal)

    # -- RetireGrant, RevokeGrant ----------------------------------------------------------------

    def retire(self, ctx: RequestContext, *, token: str | None, key_id: str | None,
               grant_id: str | None, dry_run: bool = False) -> None:
        scope, grant = self._retiring(ctx, token, key_id, grant_id)
        self.access.authz.authorize_retire(ctx, grant)
        if dry_run:
            raise DryRunOperationException(DRY_RUN)
        self.grants.delete(scope, grant.grant_id)
        ctx.audit.add(additional_event_data={"grantId": grant.grant_id},
                      resources=[grant.key_arn])

    def _retiring(self, ctx: RequestContext, token: str | None, key_id: str | None,
                  grant_id: str | None) -> tuple[str, Grant]:
        """The grant a RetireGrant names: by token, else by key and grant id."""
        if token is not None:
            named = rules.parse_token(token)
            if grant_id is not None and grant_id != named:
                raise InvalidGrantIdException(rules.INVALID_GRANT_ID.format(grant_id=grant_id))
            found = self._by_id(ctx, named)
            if found is None:
                raise NotFoundException(f"Grant {named} does not exist.")
            return found
        if key_id is None or grant_id is None:
            raise ValidationException(RETIRE_NEEDS)
        key = self._key(ctx, key_id)
        return _scope(key), self._on_key(key, grant_id)

    def _by_id(self, ctx: RequestContext, grant_id: str) -> tuple[str, Grant] | None:
        own = self.grants.get(ctx.scope, grant_id)
        if own is not None:
            return ctx.scope, own
        if not self.access.authz.cross_account:
            return None
        return self.grants.find(ctx.region, grant_id)

    def _on_key(self, key: Key, grant_id: str) -> Grant:
        _check_grant_id(grant_id)
        grant = self.grants.get(_scope(key), grant_id)
        if grant is None or grant.key_id != key.key_id:
            raise NotFoundException(GRANT_NOT_FOUND.format(grant_id=grant_id, key_arn=key.arn))
        return grant

    def revoke(self, ctx: RequestContext, key_id: str, grant_id: str, *,
               dry_run: bool = False) -> None:
        key = self._key(ctx, key_id)
        self.access.authz.authorize(ctx, "RevokeGrant", key)
        grant = self._on_key(key, grant_id)
        if dry_run:
            raise DryRunOperationException(DRY_RUN)
        self.grants.delete(_scope(key), grant.grant_id)
