"""The wire layer of the grant operations (:mod:`hsmkms.kms.usecases.grants`): decode the
parameters, call one use case, encode its result (``GrantListEntry`` and the paging members)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hsmkms.context import RequestContext
from hsmkms.kms.grants import GrantRequest, check_tokens, grant_position
from hsmkms.kms.pagination import paginate
from hsmkms.kms.usecases.grants import GrantUseCases

Params = dict[str, Any]
Result = dict[str, Any]
Handler = Callable[[RequestContext, Params], Result | None]

#: ListGrants/ListRetirableGrants: Limit 1-100, default 50 (API reference).
DEFAULT_LIMIT = 50


def _request(p: Params) -> GrantRequest:
    constraints = p.get("Constraints") or {}
    return GrantRequest(
        operations=tuple(p["Operations"]), grantee=p.get("GranteePrincipal"),
        grantee_service=p.get("GranteeServicePrincipal"),
        retiring=p.get("RetiringPrincipal"),
        retiring_service=p.get("RetiringServicePrincipal"), name=p.get("Name"),
        equals=constraints.get("EncryptionContextEquals"),
        subset=constraints.get("EncryptionContextSubset"),
        source_arn=constraints.get("SourceArn"))


def handlers(uc: GrantUseCases) -> dict[str, Handler]:
    """Operation name -> handler, for the five grant operations."""

    def create_grant(ctx: RequestContext, p: Params) -> Result:
        made = uc.create(ctx, p["KeyId"], _request(p), dry_run=bool(p.get("DryRun")))
        return {"GrantToken": made.token, "GrantId": made.grant_id}

    def list_grants(ctx: RequestContext, p: Params) -> Result:
        found = uc.list(ctx, p["KeyId"], grant_id=p.get("GrantId"),
                        grantee=p.get("GranteePrincipal"),
                        grantee_service=p.get("GranteeServicePrincipal"))
        page, more = paginate(found, p.get("Limit"), p.get("Marker"), DEFAULT_LIMIT,
                              grant_position)
        return {"Grants": [g.entry() for g in page], **more}

    def list_retirable_grants(ctx: RequestContext, p: Params) -> Result:
        found = uc.retirable(ctx, p.get("RetiringPrincipal"), p.get("RetiringServicePrincipal"))
        page, more = paginate(found, p.get("Limit"), p.get("Marker"), DEFAULT_LIMIT,
                              grant_position)
        return {"Grants": [g.entry() for g in page], **more}

    def retire_grant(ctx: RequestContext, p: Params) -> None:
        uc.retire(ctx, token=p.get("GrantToken"), key_id=p.get("KeyId"),
                  grant_id=p.get("GrantId"), dry_run=bool(p.get("DryRun")))

    def revoke_grant(ctx: RequestContext, p: Params) -> None:
        uc.revoke(ctx, p["KeyId"], p["GrantId"], dry_run=bool(p.get("DryRun")))

    return {"CreateGrant": create_grant, "ListGrants": list_grants,
            "ListRetirableGrants": list_retirable_grants, "RetireGrant": retire_grant,
            "RevokeGrant": revoke_grant}


def checking_tokens(handler: Handler) -> Handler:
    """``handler``, after the request's ``GrantTokens`` were found well-formed
    (``InvalidGrantTokenException``). Grants take effect at once in hsmkms, so a valid token
    adds nothing: the grant it names already counts."""

    def run(ctx: RequestContext, p: Params) -> Result | None:
        tokens = p.get("GrantTokens")
        if tokens:
            check_tokens(tokens)
        return handler(ctx, p)

    return run
