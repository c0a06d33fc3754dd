"""Who may do what to a key: the seam every key use case goes through.

:class:`AllowAll` (``--auth off`` and ``verify``): every caller of the account may do everything
to its keys; key policies are stored and returned, not evaluated.

:class:`KeyPolicyAuthorizer` (``--auth enforce``): KMS's rules (spec authz.md §4.5): the key
policy decides. An explicit ``Deny`` that applies wins, in the key policy or in the caller's
identity policies (an IAM user's inline and attached policies, a role session's role's); an
``Allow`` naming the caller allows; an ``Allow`` naming the caller's account
(``arn:aws:iam::<account>:root``) delegates to the caller's identity policies (the root user
has every IAM permission). Operations on no key (CreateKey, ListKeys, ListAliases,
GenerateRandom, the custom key store operations) are decided by identity policies alone
(:meth:`KeyPolicyAuthorizer.authorize_identity`; spec §4.6). Another account's caller needs
the key policy and its own identity policies to allow it, and an operation that is used across
accounts. Refusals are ``AccessDeniedException`` with AWS's
message forms (§4.8). Policies are parsed once per text (:func:`hsmkms.auth.policy.parse`).
Grants (:mod:`hsmkms.kms.grants`) allow on their own, even a caller of another account, once no
explicit ``Deny`` applies (§4.5 step 3c); only ``enforce`` resolves other accounts' keys
(:attr:`Authorizer.cross_account`).

:func:`decide` is the pure decision; :class:`KeyPolicyAuthorizer` feeds it from the request.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from hsmkms.auth import identity as ident
from hsmkms.auth import policy as iam
from hsmkms.context import RequestContext
from hsmkms.errors import AccessDeniedException
from hsmkms.kms import grants as grant_rules
from hsmkms.kms.errors import MalformedPolicyDocumentException
from hsmkms.kms.grants import Grant, Grants
from hsmkms.kms.model import Key
from hsmkms.principal import Principal
from hsmkms.principal import root as root_principal
from hsmkms.scope import Scope

#: Which grants may count for a request (CreateGrant through a grant: only a parent grant the
#: new one narrows).
GrantFilter = Callable[[Grant], bool]


class Authorizer(Protocol):
    #: Whether a key ARN of another account resolves (the key's policy and grants then decide).
    cross_account: bool

    def authorize(self, ctx: RequestContext, operation: str, key: Key,
                  encryption_context: dict[str, str] | None = None,
                  grant_filter: GrantFilter | None = None,
                  conditions: Mapping[str, tuple[str, ...]] | None = None) -> None:
        """Return if the caller may run ``operation`` on ``key``; else raise the AWS error
        (``AccessDeniedException``). ``encryption_context``: the request's, for the
        ``kms:EncryptionContext...`` condition keys and grant constraints; ``conditions``:
        other condition keys the request populates (lower-case names, e.g. CreateGrant's
        ``kms:grantoperations``)."""
        ...

    def authorize_retire(self, ctx: RequestContext, grant: Grant) -> None:
        """Return if the caller may retire ``grant`` (its retiring principal, its grantee when
        it allows RetireGrant, the account it was created in); else AccessDeniedException."""
        ...

    def authorize_on_principal(self, ctx: RequestContext, operation: str,
                               principal: str) -> None:
        """An IAM-only operation whose resource is a principal (ListRetirableGrants): the
        caller's IAM policies decide, which reach only its own account's principals."""
        ...

    def check_policy(self, ctx: RequestContext, key: Key, *, bypass: bool) -> None:
        """Refuse a key policy (``key.policy``, from CreateKey or PutKeyPolicy) that is
        malformed or, unless ``bypass``, would not let the caller change it again."""
        ...

    def authorize_identity(self, ctx: RequestContext, operation: str,
                           params: Mapping[str, object]) -> None:
        """An operation on no key (:data:`IDENTITY_ONLY`): the caller's identity policies
        decide (the root user may); else AccessDeniedException."""
        ...


class AllowAll:
    cross_account = False

    def authorize(self, ctx: RequestContext, operation: str, key: Key,
                  encryption_context: dict[str, str] | None = None,
                  grant_filter: GrantFilter | None = None,
                  conditions: Mapping[str, tuple[str, ...]] | None = None) -> None:
        """Everything is allowed (``--auth off`` and ``verify``)."""

    def authorize_retire(self, ctx: RequestContext, grant: Grant) -> None:
        """Any caller of the account may retire its grants."""

    def authorize_on_principal(self, ctx: RequestContext, operation: str,
                               principal: str) -> None:
        """Nothing is refused."""

    def check_policy(self, ctx: RequestContext, key: Key, *, bypass: bool) -> None:
        """Policies are not evaluated, so none can lock anyone out."""

    def authorize_identity(self, ctx: RequestContext, operation: str,
                           params: Mapping[str, object]) -> None:
        """Nothing is refused."""


#: Operations authorized by identity policies alone, on resource ``*`` (spec §4.6).
IDENTITY_ONLY = frozenset({
    "CreateKey", "ListKeys", "ListAliases", "GenerateRandom", "CreateCustomKeyStore",
    "ConnectCustomKeyStore", "DisconnectCustomKeyStore", "UpdateCustomKeyStore",
    "DeleteCustomKeyStore", "DescribeCustomKeyStores"})


#: Operations a principal of another account may call on a key (spec §4.6, "Cross-account
#: use: Yes"). ReEncrypt is the use-case name of ReEncryptFrom/ReEncryptTo.
CROSS_ACCOUNT = frozenset({
    "CreateGrant", "Decrypt", "DeriveSharedSecret", "DescribeKey", "Encrypt", "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext", "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext", "GenerateMac", "GetKeyRotationStatus", "GetPublicKey",
    "ListGrants", "ReEncrypt", "RetireGrant", "RevokeGrant", "Sign", "Verify", "VerifyMac"})

#: Use-case operation -> the IAM actions it needs on the key (default: ``kms:<operation>``).
#: hsmkms's ReEncrypt authorizes the source and the destination key under one name, so each
#: key needs both ReEncrypt actions (AWS: From on the source, To on the destination).
ACTIONS: dict[str, tuple[str, ...]] = {"ReEncrypt": ("kms:ReEncryptFrom", "kms:ReEncryptTo")}

#: Operations that carry ``kms:EncryptionAlgorithm`` (symmetric keys: SYMMETRIC_DEFAULT).
_ALGORITHM_OPS = frozenset({"Encrypt", "Decrypt", "ReEncrypt", "GenerateDataKey",
                            "GenerateDataKeyWithoutPlaintext", "GenerateDataKeyPair",
                            "GenerateDataKeyPairWithoutPlaintext"})

#: Operations that carry ``kms:GrantIsForAWSResource`` (spec §4.7).
_GRANT_FOR_RESOURCE_OPS = frozenset({"CreateGrant", "ListGrants", "RevokeGrant"})

LOCKOUT = "The new key policy will not allow you to update the key policy in the future."
#: Condition keys a key policy may not use (KMS evaluates them in IAM policies only).
FORBIDDEN_KEYS = ("aws:ResourceTag", "kms:ResourceTag", "kms:ResourceAliases")
OVERLY_PERMISSIVE = (
    "OverlyPermissiveCondition:EncryptionContext: Using the ForAllValues set operator with a "
    "single-valued condition key matches requests without the specified encryption context or "
    "with an unspecified encryption context. To fix, remove ForAllValues.")
#: Since August 2025 (spec §4.9; AWS's text is unrecorded, this one is hsmkms's).
RESOURCE_STAR = ("Key policy statements must have a Resource element whose only value is "
                 '"*" (the key the policy is attached to).')


class Reason(enum.Enum):
    EXPLICIT_RESOURCE = "with an explicit deny in a resource-based policy"
    EXPLICIT_IDENTITY = "with an explicit deny in an identity-based policy"
    NO_RESOURCE = "because no resource-based policy allows the {action} action"
    NO_IDENTITY = "because no identity-based policy allows the {action} action"
    EXPLICIT_SESSION = "with an explicit deny in a session policy"
    NO_SESSION = "because no session policy allows the {action} action"


#: The reason to give instead when a session policy is what refused the identity side.
_SESSION_REASONS = {Reason.EXPLICIT_IDENTITY: Reason.EXPLICIT_SESSION,
                    Reason.NO_IDENTITY: Reason.NO_SESSION}


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: Reason | None = None

    def message(self, caller_arn: str, action: str, resource: str) -> str:
        assert self.reason is not None
        return (f"User: {caller_arn} is not authorized to perform: {action} on resource: "
                f"{resource} {self.reason.value.format(action=action)}")


ALLOW = Decision(allowed=True)


def decide(request: iam.Request, key_account: str, key_policy: iam.Policy,  # noqa: PLR0911 - one answer per rule of §4.5
           identity: iam.Outcome | None, *, cross_account_ok: bool,
           grant: iam.Match | None = None) -> Decision:
    """KMS's decision (spec §4.5). ``identity``: what the caller's IAM policies say about the
    request; None for a root user (every IAM permission, no deny). ``grant``: how a grant on
    the key that covers the request names the caller (None: no grant does); a grant to the
    caller's account needs its IAM policies to allow too, like the key policy's delegation."""
    on_key = iam.evaluate(key_policy, request)
    if on_key.denied:
        return Decision(allowed=False, reason=Reason.EXPLICIT_RESOURCE)
    if identity is not None and identity.denied:
        return Decision(allowed=False, reason=Reason.EXPLICIT_IDENTITY)
    identity_allows = identity is None or bool(identity.allows)
    if grant is iam.Match.DIRECT or (grant is iam.Match.ACCOUNT and identity_allows):
        return ALLOW
    direct = iam.Match.DIRECT in on_key.allows
    delegated = iam.Match.ACCOUNT in on_key.allows
    if request.caller.account == key_account:
        if direct or (delegated and identity_allows):
            return ALLOW
    elif cross_account_ok and (direct or delegated) and identity_allows:
        return ALLOW
    if (direct or delegated) and (request.caller.account == key_account or cross_account_ok):
        return Decision(allowed=False, reason=Reason.NO_IDENTITY)
    return Decision(allowed=False, reason=Reason.NO_RESOURCE)


def _iso(now: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))


def _ctx_value(read: Callable[[RequestContext], str]) -> Callable[[_Lazy], tuple[str, ...]]:
    return lambda lazy: (read(lazy.ctx),)


def _key_value(read: Callable[[Key], str]) -> Callable[[_Lazy], tuple[str, ...]]:
    return lambda lazy: (read(lazy.key),)


def _constant(value: str) -> Callable[[_Lazy], tuple[str, ...]]:
    return lambda _lazy: (value,)


def _multi_region_key_type(lazy: _Lazy) -> tuple[str, ...] | None:
    """``kms:MultiRegionKeyType``: PRIMARY or REPLICA; absent for single-Region keys."""
    key = lazy.key
    return (("REPLICA" if key.is_replica else "PRIMARY"),) if key.multi_region else None


def _for_aws_resource(lazy: _Lazy) -> tuple[str, ...] | None:
    """``kms:GrantIsForAWSResource``: false (no AWS service calls hsmkms for a user)."""
    return ("false",) if lazy.operation in _GRANT_FOR_RESOURCE_OPS else None


def principal_of(ctx: RequestContext) -> Principal:
    """Who signed the request (its account's root user when no other principal did)."""
    return ctx.principal or root_principal(ctx.account)


def _principal_value(name: str) -> Callable[[_Lazy], tuple[str, ...] | None]:
    return lambda lazy: ident.principal_keys(principal_of(lazy.ctx)).get(name)


#: Condition key (lower case) -> its value for a request on a key, computed only when a
#: policy asks for it (spec §4.4, §4.7).
CONTEXT_KEYS: dict[str, Callable[[_Lazy], tuple[str, ...] | None]] = {
    **{name: _principal_value(name) for name in (
        "aws:principalarn", "aws:principalaccount", "aws:principaltype", "aws:userid",
        "aws:username", "aws:tokenissuetime", "aws:multifactorauthpresent")},
    "aws:sourceip": _ctx_value(lambda c: c.source_ip),
    "aws:currenttime": _ctx_value(lambda c: _iso(c.now)),
    "aws:epochtime": _ctx_value(lambda c: str(int(c.now))),
    "aws:securetransport": _constant("false"),
    "aws:requestedregion": _ctx_value(lambda c: c.region),
    "aws:viaawsservice": _constant("false"),
    "aws:principalisawsservice": _constant("false"),
    "kms:calleraccount": _ctx_value(lambda c: c.account),
    "kms:keyspec": _key_value(lambda k: k.key_spec),
    "kms:customermasterkeyspec": _key_value(lambda k: k.key_spec),
    "kms:keyusage": _key_value(lambda k: k.key_usage),
    "kms:customermasterkeyusage": _key_value(lambda k: k.key_usage),
    "kms:keyorigin": _key_value(lambda k: str(k.origin.value)),
    "kms:multiregion": _key_value(lambda k: "true" if k.multi_region else "false"),
    "kms:multiregionkeytype": _multi_region_key_type,
    # No AWS service calls hsmkms on a user's behalf.
    "kms:grantisforawsresource": _for_aws_resource,
}


class _Lazy:
    """The condition keys of one request, each computed when a condition first reads it."""

    __slots__ = ("ctx", "encryption_context", "extra", "key", "operation", "values")

    def __init__(self, ctx: RequestContext, operation: str, key: Key,
                 encryption_context: Mapping[str, str] | None,
                 extra: Mapping[str, tuple[str, ...]] | None = None) -> None:
        self.ctx, self.operation, self.key = ctx, operation, key
        self.encryption_context = encryption_context
        #: Keys the use case computed from its request (CreateGrant's grant keys).
        self.extra = extra
        #: Computed so far (None: the request has no such key).
        self.values: dict[str, tuple[str, ...] | None] = {}

    def get(self, name: str, default: tuple[str, ...] | None = None) -> tuple[str, ...] | None:
        values = self.values
        if name not in values:
            values[name] = self._compute(name)
        found = values[name]
        return default if found is None else found

    def _compute(self, name: str) -> tuple[str, ...] | None:
        compute = CONTEXT_KEYS.get(name)
        if compute is not None:
            return compute(self)
        if name == "aws:useragent":
            return (self.ctx.user_agent,) if self.ctx.user_agent else None
        if name == "kms:encryptionalgorithm":  # symmetric keys have one algorithm
            return ("SYMMETRIC_DEFAULT",) if self.operation in _ALGORITHM_OPS \
                and self.key.key_spec == "SYMMETRIC_DEFAULT" else None
        if self.extra is not None and name in self.extra:
            return self.extra[name]
        if name.startswith("kms:encryptioncontext"):
            # All of them at once: a policy that reads one usually reads others.
            pairs = encryption_conditions(self.encryption_context)
            self.values.update(pairs)
            return pairs.get(name)
        return None  # a key this request does not populate


def keyless_context(ctx: RequestContext) -> dict[str, tuple[str, ...]]:
    """The condition keys of a request on no key (the caller's and the request's)."""
    return {**ident.principal_keys(principal_of(ctx)), "aws:sourceip": (ctx.source_ip,),
            "aws:currenttime": (_iso(ctx.now),), "aws:epochtime": (str(int(ctx.now)),),
            "aws:securetransport": ("false",), "aws:requestedregion": (ctx.region,),
            "kms:calleraccount": (ctx.account,)}


def condition_context(ctx: RequestContext, operation: str, key: Key,
                      encryption_context: Mapping[str, str] | None = None,
                      extra: Mapping[str, tuple[str, ...]] | None = None
                      ) -> Mapping[str, tuple[str, ...]]:
    """The condition keys a request on ``key`` populates (lower-case names; spec §4.4, §4.7),
    computed as policies read them."""
    return _Lazy(ctx, operation, key, encryption_context, extra)  # type: ignore[return-value]


def encryption_conditions(context: Mapping[str, str] | None) -> dict[str, tuple[str, ...]]:
    """``kms:EncryptionContext:<key>`` (one per pair; the key part case-insensitive) and
    ``kms:EncryptionContextKeys`` (multi-valued) of a request's encryption context."""
    if not context:
        return {}
    out: dict[str, tuple[str, ...]] = {
        f"kms:encryptioncontext:{k.lower()}": (v,) for k, v in context.items()}
    out["kms:encryptioncontextkeys"] = tuple(context)
    return out


def validate(text: str) -> iam.Policy:
    """A key policy as KMS accepts it (grammar, principals, the 2025 Resource rule, condition
    keys), or ``MalformedPolicyDocumentException``."""
    try:
        parsed = iam.parse(text)
    except iam.MalformedPolicy as err:
        raise MalformedPolicyDocumentException(str(err)) from None
    for statement in parsed.statements:
        if statement.resources != ("*",) or statement.not_resource:
            raise MalformedPolicyDocumentException(RESOURCE_STAR)
        for condition in statement.conditions:
            name = condition.key
            if any(name == k.lower() or name.startswith(k.lower() + "/")
                   for k in FORBIDDEN_KEYS):
                raise MalformedPolicyDocumentException(
                    "These condition keys are not permitted in a key policy: "
                    + ", ".join(FORBIDDEN_KEYS))
            if condition.qualifier == iam.ALL_VALUES and (
                    name.startswith(("kms:encryptioncontext:", "aws:requesttag/"))):
                raise MalformedPolicyDocumentException(OVERLY_PERMISSIVE)
    return parsed


def grant_match(found: Sequence[Grant], caller: iam.Caller, action: str,
                context: Mapping[str, str] | None,
                grant_filter: GrantFilter | None = None) -> iam.Match | None:
    """The best way any of a key's grants lets ``caller`` run ``action`` (DIRECT before
    ACCOUNT), or None."""
    best: iam.Match | None = None
    for grant in found:
        match = grant_rules.allows(grant, caller, action, context)
        if match is None or (grant_filter is not None and not grant_filter(grant)):
            continue
        if match is iam.Match.DIRECT:
            return match
        best = match
    return best


def caller_of(ctx: RequestContext) -> iam.Caller:
    """Who is calling, as the policy evaluator matches principals."""
    return ident.caller(principal_of(ctx))


class KeyPolicyAuthorizer:
    """``--auth enforce``: key policies, the caller's identity policies (``identity``: IAM's;
    None: no principal has any, only root users call) and grants decide."""

    cross_account = True

    def __init__(self, grants: Grants | None = None,
                 identity: ident.IdentityPolicies | None = None) -> None:
        self.grants = grants
        self.identity = identity

    def _identity(self, ctx: RequestContext, request: iam.Request) -> iam.Outcome | None:
        """What the caller's identity policies say (None: a root user, who may do all)."""
        return self._identity_and_session(ctx, request)[0]

    def _identity_and_session(self, ctx: RequestContext, request: iam.Request
                              ) -> tuple[iam.Outcome | None, bool]:
        """:meth:`_identity`, and whether a session policy is what limits it."""
        principal = principal_of(ctx)
        if principal.is_root:
            return None, False
        policies = self.identity(principal) if self.identity is not None else ()
        return ident.effective(principal, policies, request)

    def authorize_identity(self, ctx: RequestContext, operation: str,
                           params: Mapping[str, object]) -> None:
        principal = principal_of(ctx)
        if principal.is_root:
            return
        checks = [("kms:" + operation, "*")]
        if operation == "CreateKey" and params.get("Tags"):
            checks.append(("kms:TagResource", ""))  # AWS's message names no resource
        context = keyless_context(ctx)
        for action, resource in checks:
            request = iam.Request(caller_of(ctx), action, resource or "*", context)
            outcome, session = self._identity_and_session(ctx, request)
            message = None if outcome is None else ident.refusal(principal, action, resource,
                                                                  outcome, session=session)
            if message is not None:
                raise AccessDeniedException(message)

    def authorize(self, ctx: RequestContext, operation: str, key: Key,
                  encryption_context: dict[str, str] | None = None,
                  grant_filter: GrantFilter | None = None,
                  conditions: Mapping[str, tuple[str, ...]] | None = None) -> None:
        caller = caller_of(ctx)
        try:
            key_policy = iam.parse(key.policy)
        except iam.MalformedPolicy:  # stored before enforce: it allows nothing
            key_policy = iam.Policy("2012-10-17", ())
        context = condition_context(ctx, operation, key, encryption_context, conditions)
        for action in ACTIONS.get(operation, ("kms:" + operation,)):
            request = iam.Request(caller, action, key.arn, context)
            cross_ok = operation in CROSS_ACCOUNT
            mine, session = self._identity_and_session(ctx, request)
            decision = decide(request, key.account, key_policy, mine, cross_account_ok=cross_ok)
            if not decision.allowed and decision.reason in (Reason.NO_RESOURCE,
                                                            Reason.NO_IDENTITY):
                # Only now read the key's grants: most requests are allowed by the policy.
                match = grant_match(self._grants_of(key, caller), caller, action,
                                    encryption_context, grant_filter)
                if match is not None:
                    decision = decide(request, key.account, key_policy, mine,
                                      cross_account_ok=cross_ok, grant=match)
            if not decision.allowed:
                if session and decision.reason in _SESSION_REASONS:
                    decision = Decision(allowed=False, reason=_SESSION_REASONS[decision.reason])
                raise AccessDeniedException(decision.message(caller.arn, action, key.arn))

    def _grants_of(self, key: Key, caller: iam.Caller) -> Sequence[Grant]:
        """The key's grants that could name ``caller`` (by the grantee index: a request reads
        only these, not all of the key's up to 50,000)."""
        if self.grants is None:
            return ()
        return self.grants.for_caller(Scope.of(key.account, key.region), key.key_id, caller)

    def authorize_on_principal(self, ctx: RequestContext, operation: str,
                               principal: str) -> None:
        caller = caller_of(ctx)
        # The root user holds every IAM permission on its own account's resources only. A
        # service principal is in no account: allowed, and only the caller's own keys' grants
        # are listed (GrantUseCases.retirable).
        action = "kms:" + operation
        if grant_rules.account_of(principal) not in (None, caller.account):
            raise AccessDeniedException(Decision(allowed=False, reason=Reason.NO_IDENTITY)
                                        .message(caller.arn, action, principal))
        # Any other caller needs an identity policy allowing it on that principal.
        request = iam.Request(caller, action, principal, keyless_context(ctx))
        outcome = self._identity(ctx, request)
        message = None if outcome is None else ident.refusal(principal_of(ctx), action,
                                                              principal, outcome)
        if message is not None:
            raise AccessDeniedException(message)

    def authorize_retire(self, ctx: RequestContext, grant: Grant) -> None:
        caller = caller_of(ctx)
        if not grant_rules.may_retire(grant, caller):
            action = "kms:RetireGrant"
            raise AccessDeniedException(
                Decision(allowed=False, reason=Reason.NO_RESOURCE).message(
                    caller.arn, action, grant.key_arn))

    def check_policy(self, ctx: RequestContext, key: Key, *, bypass: bool) -> None:
        parsed = validate(key.policy)
        if bypass:
            return
        request = iam.Request(caller_of(ctx), "kms:PutKeyPolicy", key.arn,
                              condition_context(ctx, "PutKeyPolicy", key))
        if not decide(request, key.account, parsed, self._identity(ctx, request),
                      cross_account_ok=False).allowed:
            raise MalformedPolicyDocumentException(LOCKOUT)
