"""Aliases: friendly names of keys.

AWS authorizes an alias operation on every key it touches: CreateAlias on the target key,
UpdateAlias on the alias's current key and on the new one, DeleteAlias on the alias's key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from hsmkms.context import RequestContext
from hsmkms.kms.model import Alias, Key
from hsmkms.kms.usecases.access import KeyAccess


class Aliases:
    def __init__(self, access: KeyAccess) -> None:
        self.access = access
        self.keys = access.keys

    def create(self, ctx: RequestContext, name: str, target_key_id: str) -> None:
        target = self.access.key(ctx, target_key_id, "CreateAlias", aliases=False)
        self.keys.create_alias(ctx, name, target)

    def update(self, ctx: RequestContext, name: str, target_key_id: str) -> None:
        alias = self.keys.existing_alias(ctx, name)
        self.access.authz.authorize(ctx, "UpdateAlias", self._current_key(ctx, alias))
        target = self.access.key(ctx, target_key_id, "UpdateAlias", aliases=False)
        self.keys.aliases.put(ctx.scope, alias.name,
                              replace(alias, target_key_id=target.key_id, updated=ctx.now))

    def delete(self, ctx: RequestContext, name: str) -> None:
        alias = self.keys.existing_alias(ctx, name)
        self.access.authz.authorize(ctx, "DeleteAlias", self._current_key(ctx, alias))
        self.keys.aliases.delete(ctx.scope, alias.name)

    def list(self, ctx: RequestContext, key_id: str | None) -> Sequence[Alias]:
        """The live aliases of the account and Region (of one key, if ``key_id``), by name."""
        key = self.access.key(ctx, key_id, "ListAliases", aliases=False) if key_id else None
        return self.keys.aliases_of(ctx, key)

    def _current_key(self, ctx: RequestContext, alias: Alias) -> Key:
        """The key ``alias`` points to now (:meth:`Keys.existing_alias` found it live)."""
        return self.keys.resolve(ctx, alias.target_key_id, aliases=False)
