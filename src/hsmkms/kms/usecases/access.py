"""Resolve, authorize, capability, state: the steps before any use case touches a key."""

from __future__ import annotations

from hsmkms.context import RequestContext
from hsmkms.kms import capabilities, states
from hsmkms.kms.authz import Authorizer
from hsmkms.kms.backends import Backends
from hsmkms.kms.keys import Keys
from hsmkms.kms.model import Key, KeyState


class KeyAccess:
    def __init__(self, keys: Keys, backends: Backends, authz: Authorizer) -> None:
        self.keys = keys
        self.backends = backends
        self.authz = authz

    def reported(self, key: Key) -> KeyState:
        """The state a caller sees (Unavailable while its key store is not connected)."""
        return states.reported_state(key, self.backends.available)

    def admit(self, ctx: RequestContext, operation: str, key: Key,
              encryption_context: dict[str, str] | None = None) -> Key:
        """Authorize, then the origin's capability, then the key-state policy
        (``encryption_context``: the request's, for policy conditions and grant
        constraints)."""
        self.authz.authorize(ctx, operation, key, encryption_context)
        return self.usable(operation, key)

    def resolve(self, ctx: RequestContext, key_id: str, *, aliases: bool) -> Key:
        """The key ``key_id`` names: another account's too (by key ARN) when the authorizer
        decides such use; it then refuses the operations that are not used across accounts
        with AccessDeniedException (spec authz.md §10 Q5, :data:`authz.CROSS_ACCOUNT`)."""
        return self.keys.resolve(ctx, key_id, aliases=aliases, foreign=self.authz.cross_account)

    def usable(self, operation: str, key: Key) -> Key:
        """The origin's capability, then the key-state policy, for a key already authorized."""
        capabilities.check(operation, key)
        states.check(operation, self.reported(key), key.arn)
        states.check_material(operation, key)
        return key

    def key(self, ctx: RequestContext, key_id: str, operation: str, *, aliases: bool,
            encryption_context: dict[str, str] | None = None) -> Key:
        """The key ``key_id`` names, if ``operation`` may use it now."""
        return self.admit(ctx, operation,
                          self.resolve(ctx, key_id, aliases=aliases),
                          encryption_context)

    def refuse(self, ctx: RequestContext, operation: str, key_id: str) -> None:
        """Raise the key's refusal of an operation every origin refuses
        (:data:`capabilities.REFUSED_ONLY`: :func:`capabilities.check` always raises for it).
        Data key pair operations accept alias names; the others take a key id."""
        key = self.keys.resolve(ctx, key_id, aliases=operation.startswith("GenerateDataKeyPair"))
        self.authz.authorize(ctx, operation, key)
        capabilities.check(operation, key)
