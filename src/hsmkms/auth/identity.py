"""Identity-based policies: what a principal's own IAM policies say about a request (spec
authz.md §4.4, §4.5), shared by KMS's authorizer, IAM and STS.

:func:`caller` is the evaluator's view of a principal; :func:`principal_keys` the global
condition keys a principal populates (``aws:PrincipalArn``, ``aws:PrincipalType``,
``aws:userid``, ``aws:username``, ``aws:PrincipalAccount``); :func:`combine` evaluates a
principal's policies together (an explicit ``Deny`` in any of them wins).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from hsmkms.auth import policy as iam
from hsmkms.principal import ASSUMED_ROLE, Principal

#: A principal's identity policies (inline and attached; a session's: its role's).
IdentityPolicies = Callable[[Principal], Sequence[iam.Policy]]

EXPLICIT_DENY = "with an explicit deny in an identity-based policy"
NO_ALLOW = "because no identity-based policy allows the {action} action"
SESSION_DENY = "with an explicit deny in a session policy"
NO_SESSION_ALLOW = "because no session policy allows the {action} action"


def caller(principal: Principal) -> iam.Caller:
    return iam.Caller(principal.arn, principal.account, principal.role_arn)


def principal_keys(principal: Principal) -> dict[str, tuple[str, ...]]:
    """The condition keys (lower case) that describe the caller. ``aws:PrincipalArn`` of a
    session is its role's ARN; ``aws:username`` exists for IAM users only."""
    keys: dict[str, tuple[str, ...]] = {"aws:principalarn": (principal.role_arn or principal.arn,),
            "aws:principalaccount": (principal.account,),
            "aws:principaltype": (principal.principal_type,),
            "aws:userid": (principal.principal_id,)}
    if principal.user_name:
        keys["aws:username"] = (principal.user_name,)
    if principal.type == ASSUMED_ROLE:
        keys["aws:tokenissuetime"] = (time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                    time.gmtime(principal.issued)),)
        keys["aws:multifactorauthpresent"] = ("false",)
    return keys


def combine(policies: Sequence[iam.Policy], request: iam.Request) -> iam.Outcome:
    """What a set of identity policies says about ``request`` together."""
    denied = False
    allows: set[iam.Match] = set()
    for found in policies:
        outcome = iam.evaluate(found, request)
        denied = denied or outcome.denied
        allows |= outcome.allows
    return iam.Outcome(denied, frozenset(allows))


def effective(principal: Principal, policies: Sequence[iam.Policy],
              request: iam.Request) -> tuple[iam.Outcome, bool]:
    """The identity side's outcome, limited by a session's session policy (an allow needs
    both; a deny in either denies), and whether the session policy is what refused it."""
    mine = combine(policies, request)
    if not principal.session_policy or mine.denied:
        return mine, False
    session = iam.evaluate(iam.parse(principal.session_policy, resource_policy=False), request)
    if session.denied:
        return iam.Outcome(denied=True, allows=frozenset()), True
    if mine.allows and not session.allows:
        return iam.Outcome(denied=False, allows=frozenset()), True
    return mine, False


def refusal(principal: Principal, action: str, resource: str, outcome: iam.Outcome, *,
            session: bool = False) -> str | None:
    """AWS's denial message for an identity-policy-only decision (spec §4.8), or None when
    the policies allow it (``session``: the session policy refused it)."""
    if outcome.denied:
        reason = SESSION_DENY if session else EXPLICIT_DENY
    elif outcome.allows:
        return None
    else:
        reason = (NO_SESSION_ALLOW if session else NO_ALLOW).format(action=action)
    on = f" on resource: {resource}" if resource else ""
    return f"User: {principal.arn} is not authorized to perform: {action}{on} {reason}"
