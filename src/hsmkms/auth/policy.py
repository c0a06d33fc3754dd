"""The IAM policy language: parsed once, evaluated as tables (spec authz.md §4.1-4.3).

:func:`parse` turns a policy document into a :class:`Policy` (statements with compiled
patterns and conditions; cached per document text, so a key policy is parsed once per
version) or raises :class:`MalformedPolicy`. :func:`evaluate` matches one
:class:`Request` against it and says which statements apply: any explicit ``Deny``, and the
``Allow`` statements, each with how its principal matched (the caller itself, or the caller's
account, which for KMS is a delegation to that account's IAM policies).

Pure: no clock, no store, no HTTP. Condition operators are one table (:data:`OPERATORS`), each
row ``name -> (comparison, negated)``; ``...IfExists`` and the ``ForAllValues:`` /
``ForAnyValue:`` qualifiers wrap any row.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import enum
import functools
import ipaddress
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

VERSIONS = ("2012-10-17", "2008-10-17")


class MalformedPolicy(Exception):
    """A policy document the grammar refuses (message in AWS's words where known)."""


class Match(enum.Enum):
    """How a statement's principal matched the caller."""

    DIRECT = "direct"    # "*", the caller's own ARN, its role
    ACCOUNT = "account"  # the caller's account ("arn:aws:iam::A:root" or "A")


# -- wildcards ---------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def _glob(pattern: str, *, ignore_case: bool = False) -> re.Pattern[str]:
    """``*`` any run, ``?`` one character, the rest literal."""
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(body, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def like(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    if "*" not in pattern and "?" not in pattern:
        return value.lower() == pattern.lower() if ignore_case else value == pattern
    return _glob(pattern, ignore_case=ignore_case).fullmatch(value) is not None


def _arn_like(pattern: str, value: str) -> bool:
    """ARNs compare part by part (6 colon-separated parts, the last may hold colons)."""
    p_parts, v_parts = pattern.split(":", 5), value.split(":", 5)
    if len(p_parts) != 6 or len(v_parts) != 6:
        return False
    return all(like(p, v) for p, v in zip(p_parts, v_parts, strict=True))


# -- condition operators ---------------------------------------------------------------------


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _date(text: str) -> float | None:
    """W3C date-time or epoch seconds."""
    number = _number(text)
    if number is not None:
        return number
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.timestamp()


def _compare(parse_value: Callable[[str], float | None],
             test: Callable[[float, float], bool]) -> Callable[[str, str], bool]:
    def compare(request: str, policy: str) -> bool:
        a, b = parse_value(request), parse_value(policy)
        return a is not None and b is not None and test(a, b)
    return compare


def _ip(request: str, policy: str) -> bool:
    try:
        return ipaddress.ip_address(request) in ipaddress.ip_network(policy, strict=False)
    except ValueError:
        return False


def _binary(request: str, policy: str) -> bool:
    try:
        return base64.b64decode(request, validate=True) == base64.b64decode(policy, validate=True)
    except (binascii.Error, ValueError):
        return False


Comparison = Callable[[str, str], bool]

#: Operator -> (comparison of a request value with a policy value, negated). A negated
#: operator holds when no request value compares true with any policy value.
OPERATORS: dict[str, tuple[Comparison, bool]] = {
    "StringEquals": (lambda r, p: r == p, False),
    "StringNotEquals": (lambda r, p: r == p, True),
    "StringEqualsIgnoreCase": (lambda r, p: r.lower() == p.lower(), False),
    "StringNotEqualsIgnoreCase": (lambda r, p: r.lower() == p.lower(), True),
    "StringLike": (lambda r, p: like(p, r), False),
    "StringNotLike": (lambda r, p: like(p, r), True),
    "NumericEquals": (_compare(_number, lambda a, b: a == b), False),
    "NumericNotEquals": (_compare(_number, lambda a, b: a == b), True),
    "NumericLessThan": (_compare(_number, lambda a, b: a < b), False),
    "NumericLessThanEquals": (_compare(_number, lambda a, b: a <= b), False),
    "NumericGreaterThan": (_compare(_number, lambda a, b: a > b), False),
    "NumericGreaterThanEquals": (_compare(_number, lambda a, b: a >= b), False),
    "DateEquals": (_compare(_date, lambda a, b: a == b), False),
    "DateNotEquals": (_compare(_date, lambda a, b: a == b), True),
    "DateLessThan": (_compare(_date, lambda a, b: a < b), False),
    "DateLessThanEquals": (_compare(_date, lambda a, b: a <= b), False),
    "DateGreaterThan": (_compare(_date, lambda a, b: a > b), False),
    "DateGreaterThanEquals": (_compare(_date, lambda a, b: a >= b), False),
    "Bool": (lambda r, p: r.lower() == p.lower(), False),
    "BinaryEquals": (_binary, False),
    "IpAddress": (_ip, False),
    "NotIpAddress": (_ip, True),
    "ArnEquals": (lambda r, p: _arn_like(p, r), False),
    "ArnLike": (lambda r, p: _arn_like(p, r), False),
    "ArnNotEquals": (lambda r, p: _arn_like(p, r), True),
    "ArnNotLike": (lambda r, p: _arn_like(p, r), True),
}
ANY_VALUE, ALL_VALUES = "ForAnyValue", "ForAllValues"


@dataclass(frozen=True, slots=True)
class Condition:
    operator: str
    #: Lower-cased (condition key names are case-insensitive).
    key: str
    values: tuple[str, ...]
    compare: Comparison | None  # None: Null
    negated: bool = False
    if_exists: bool = False
    qualifier: str = ""

    def holds(self, context: Mapping[str, tuple[str, ...]]) -> bool:  # noqa: PLR0911 - one answer per case
        found = context.get(self.key)
        if self.compare is None:  # Null: "true" means the key is absent
            absent = not found
            return any((v.lower() == "true") == absent for v in self.values)
        if not found:
            if self.qualifier == ALL_VALUES:
                return True
            if self.qualifier == ANY_VALUE:
                return False
            return self.if_exists or self.negated
        compare, values, negated = self.compare, self.values, self.negated
        qualifier = self.qualifier
        if not qualifier and len(found) == 1:  # the common case: one value, no set operator
            request = found[0]
            hit = any(compare(request, v) for v in values)
            return not hit if negated else hit
        oks = [any(compare(r, v) for v in values) != negated for r in found]
        if qualifier == ALL_VALUES or (not qualifier and negated):
            return all(oks)
        return any(oks)


def _condition(operator: str, key: str, raw: object) -> Condition:
    qualifier, _, base = operator.rpartition(":")
    if qualifier not in ("", ANY_VALUE, ALL_VALUES):
        raise MalformedPolicy(f"Invalid Condition operator: {operator}")
    if_exists = base.endswith("IfExists") and base != "IfExists"
    name = base[: -len("IfExists")] if if_exists else base
    values = _strings(raw, "Condition")
    if name == "Null":
        if if_exists:
            raise MalformedPolicy("The Null condition operator cannot be used with IfExists.")
        return Condition(operator, key.lower(), values, None, qualifier=qualifier)
    row = OPERATORS.get(name)
    if row is None:
        raise MalformedPolicy(f"Invalid Condition operator: {operator}")
    compare, negated = row
    return Condition(operator, key.lower(), values, compare, negated, if_exists, qualifier)


# -- statements ------------------------------------------------------------------------------


def _strings(raw: object, element: str) -> tuple[str, ...]:
    if isinstance(raw, bool):
        return ("true" if raw else "false",)
    if isinstance(raw, (str, int, float)):
        return (str(raw),)
    if isinstance(raw, list) and raw and all(
            isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in raw):
        return tuple(str(v) for v in raw)
    raise MalformedPolicy(f"Invalid {element} element: expected a string or a list of strings.")


@dataclass(frozen=True, slots=True)
class Principals:
    """A ``Principal``/``NotPrincipal`` element: everyone, or ARNs and account ids."""

    everyone: bool = False
    #: Principal ARNs (users, roles, sessions), as given.
    arns: frozenset[str] = frozenset()
    #: Accounts named by root ARN or bare 12-digit id.
    accounts: frozenset[str] = frozenset()
    #: ``Service``/``Federated``/``CanonicalUser`` principals: never an hsmkms caller.
    others: frozenset[str] = frozenset()

    def match(self, caller: Caller) -> Match | None:
        if self.everyone or caller.arn in self.arns or (
                caller.role_arn and caller.role_arn in self.arns):
            return Match.DIRECT
        if caller.account in self.accounts:
            return Match.ACCOUNT
        return None


_ROOT = re.compile(r"arn:aws:iam::(\d{12}):root")
_PRINCIPAL_ARN = re.compile(r"arn:aws:(iam|sts)::\d{12}:\S+")


def _principals(raw: object) -> Principals:  # noqa: C901 - one branch per principal form
    if raw == "*":
        return Principals(everyone=True)
    if not isinstance(raw, dict) or not raw:
        raise MalformedPolicy("Policy contains a statement with one or more invalid principals.")
    arns: set[str] = set()
    accounts: set[str] = set()
    others: set[str] = set()
    everyone = False
    for kind, value in raw.items():
        try:
            names = _strings(value, "Principal")
        except MalformedPolicy:
            raise MalformedPolicy("Policy contains a statement with one or more invalid "
                                  "principals.") from None
        if kind != "AWS":
            if kind not in ("Service", "Federated", "CanonicalUser"):
                raise MalformedPolicy("Policy contains a statement with one or more invalid "
                                      "principals.")
            others.update(names)
            continue
        for name in names:
            root = _ROOT.fullmatch(name)
            if name == "*":
                everyone = True
            elif root is not None:
                accounts.add(root.group(1))
            elif len(name) == 12 and name.isdigit():
                accounts.add(name)
            elif _PRINCIPAL_ARN.fullmatch(name) and "*" not in name:
                arns.add(name)
            else:
                raise MalformedPolicy("Policy contains a statement with one or more invalid "
                                      "principals.")
    return Principals(everyone, frozenset(arns), frozenset(accounts), frozenset(others))


@dataclass(frozen=True, slots=True)
class Statement:
    sid: str
    allow: bool
    principals: Principals | None
    not_principal: bool
    actions: tuple[str, ...]
    not_action: bool
    resources: tuple[str, ...] | None
    not_resource: bool
    conditions: tuple[Condition, ...]

    def principal_match(self, caller: Caller) -> Match | None:
        if self.principals is None:  # an identity policy: the caller's own
            return Match.DIRECT
        found = self.principals.match(caller)
        if self.not_principal:
            return None if found is not None else Match.DIRECT
        return found

    def covers_action(self, action: str) -> bool:
        hit = any(like(p, action, ignore_case=True) for p in self.actions)
        return hit != self.not_action

    def covers_resource(self, resource: str) -> bool:
        if self.resources is None:
            return True
        hit = any(like(p, resource) for p in self.resources)
        return hit != self.not_resource

    def applies(self, request: Request) -> bool:
        """Action, resource and conditions (the principal is matched apart)."""
        return (self.covers_action(request.action) and self.covers_resource(request.resource)
                and all(c.holds(request.context) for c in self.conditions))


def _one_of(doc: dict[str, object], a: str, b: str, *, required: bool) -> tuple[object, bool]:
    if a in doc and b in doc:
        raise MalformedPolicy(f"Statement cannot contain both {a} and {b}.")
    if a in doc:
        return doc[a], False
    if b in doc:
        return doc[b], True
    if required:
        raise MalformedPolicy(f"Statement is missing required element {a} or {b}.")
    return None, False


_STATEMENT_KEYS = frozenset({"Sid", "Effect", "Principal", "NotPrincipal", "Action",
                             "NotAction", "Resource", "NotResource", "Condition"})


def _statement(raw: object, *, resource_policy: bool, resource_required: bool) -> Statement:
    if not isinstance(raw, dict):
        raise MalformedPolicy("Each Statement must be a JSON object.")
    unknown = sorted(set(raw) - _STATEMENT_KEYS)
    if unknown:
        raise MalformedPolicy(f"Statement contains an unknown element: {unknown[0]}")
    effect = raw.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise MalformedPolicy("Statement Effect must be Allow or Deny.")
    sid = raw.get("Sid", "")
    if not isinstance(sid, str):
        raise MalformedPolicy("Statement Sid must be a string.")
    principal, not_principal = _one_of(raw, "Principal", "NotPrincipal",
                                       required=resource_policy)
    if principal is not None and not resource_policy:
        raise MalformedPolicy("Policy document should not specify a principal.")
    action, not_action = _one_of(raw, "Action", "NotAction", required=True)
    resource, not_resource = _one_of(raw, "Resource", "NotResource", required=resource_required)
    conditions: list[Condition] = []
    block = raw.get("Condition", {})
    if not isinstance(block, dict):
        raise MalformedPolicy("Condition must be a JSON object.")
    for operator, keys in block.items():
        if not isinstance(keys, dict):
            raise MalformedPolicy(f"Condition operator {operator} must map keys to values.")
        conditions.extend(_condition(operator, key, value) for key, value in keys.items())
    return Statement(
        sid=sid, allow=effect == "Allow",
        principals=None if principal is None else _principals(principal),
        not_principal=not_principal, actions=_strings(action, "Action"), not_action=not_action,
        resources=None if resource is None else _strings(resource, "Resource"),
        not_resource=not_resource, conditions=tuple(conditions))


#: Requests (action, resource) whose applicable statements a policy remembers.
MEMO_SIZE = 256


@dataclass(frozen=True, slots=True)
class Policy:
    version: str
    statements: tuple[Statement, ...]
    #: (action, resource) -> the statements whose Action and Resource cover it (a policy is
    #: shared, parsed once: most requests repeat a few actions on a few keys).
    _memo: dict[tuple[str, str], tuple[Statement, ...]] = field(
        default_factory=dict, compare=False, hash=False, repr=False)

    def candidates(self, action: str, resource: str) -> tuple[Statement, ...]:
        """The statements whose Action and Resource elements cover ``action`` on
        ``resource`` (principal and conditions still to check)."""
        memo = self._memo
        found = memo.get((action, resource))
        if found is None:
            found = tuple(s for s in self.statements
                          if s.covers_action(action) and s.covers_resource(resource))
            if len(memo) >= MEMO_SIZE:
                memo.clear()
            memo[(action, resource)] = found
        return found


@functools.lru_cache(maxsize=1024)
def parse(text: str, *, resource_policy: bool = True, resource_required: bool = True) -> Policy:
    """``text`` as a policy (cached: a policy is parsed once per version of its text).
    ``resource_policy``: statements name principals (key and trust policies) rather than
    not (identity policies)."""
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        raise MalformedPolicy("The policy document is not valid JSON.") from None
    if not isinstance(doc, dict):
        raise MalformedPolicy("The policy document must be a JSON object.")
    version = doc.get("Version", "2008-10-17")
    if version not in VERSIONS:
        raise MalformedPolicy(f"The policy Version {version!r} is not supported; use "
                              "2012-10-17.")
    raw = doc.get("Statement")
    if raw is None:
        raise MalformedPolicy("The policy document must have a Statement element.")
    items = raw if isinstance(raw, list) else [raw]
    if not items:
        raise MalformedPolicy("The policy document must have at least one Statement.")
    return Policy(str(version), tuple(
        _statement(s, resource_policy=resource_policy, resource_required=resource_required)
        for s in items))


# -- evaluation ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Caller:
    arn: str
    account: str
    #: For a role session, the role's ARN (a role principal matches all its sessions).
    role_arn: str = ""

    @property
    def is_root(self) -> bool:
        return self.arn == f"arn:aws:iam::{self.account}:root"


@dataclass(frozen=True, slots=True)
class Request:
    caller: Caller
    action: str
    resource: str
    #: Condition keys (lower case) -> values.
    context: Mapping[str, tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one policy says about one request."""

    denied: bool
    #: How the applicable Allow statements matched the caller (empty: none applies).
    allows: frozenset[Match]

    @property
    def allowed_directly(self) -> bool:
        return not self.denied and Match.DIRECT in self.allows


_ALLOWS = {(False, False): frozenset(), (True, False): frozenset({Match.DIRECT}),
           (False, True): frozenset({Match.ACCOUNT}),
           (True, True): frozenset({Match.DIRECT, Match.ACCOUNT})}


def evaluate(policy: Policy, request: Request) -> Outcome:
    denied = direct = account = False
    context = request.context
    for statement in policy.candidates(request.action, request.resource):
        match = statement.principal_match(request.caller)
        if match is None or not all(c.holds(context) for c in statement.conditions):
            continue
        if not statement.allow:
            denied = True
        elif match is Match.DIRECT:
            direct = True
        else:
            account = True
    return Outcome(denied, _ALLOWS[(direct, account)])
