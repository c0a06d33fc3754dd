"""Grants: delegated permissions on one KMS key (spec authz.md §5, kms-keys.md §0).

Theory of operation. A grant is its own aggregate, stored by the scope of its key's
account and Region (``kms.grant``, id = the grant id) and indexed by key and by retiring
principal. It is created whole by :func:`new_grant` (every CreateGrant rule: operations the key's
type allows, constraints, the principal rules of the current model) and never changes; retiring
and revoking delete it, and so does the end of its key's waiting period.

A grant only ever *allows*: :func:`allows` answers whether a grant lets a caller run one IAM
action with one encryption context (:func:`grantee_match` for the principal, :func:`satisfies`
for the constraints). The authorizer (:mod:`hsmkms.kms.authz`) asks it after an explicit Deny
was ruled out.

Grant tokens (:func:`token`, :func:`parse_token`) name the grant they were issued for, like
AWS's (whose tokens carry the grant id); hsmkms's grants take effect at once, so a token only
has to be well-formed (and, for RetireGrant, to name a grant).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

from hsmkms.auth import policy as iam
from hsmkms.errors import ValidationException
from hsmkms.kms import keyspecs
from hsmkms.kms.errors import InvalidArnException, InvalidGrantTokenException
from hsmkms.kms.model import Key
from hsmkms.store.base import Store

GRANTS = "kms.grant"

#: Grant operations that use an encryption context (the only ones constraints apply to).
CONTEXT_OPERATIONS = frozenset({
    "Decrypt", "Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext",
    "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext", "ReEncryptFrom",
    "ReEncryptTo"})
#: Operations every grant may hold, whatever its key (constraints do not apply to them).
_ANY_KEY = frozenset({"DescribeKey", "CreateGrant", "RetireGrant"})

#: Key usage (and, for ENCRYPT_DECRYPT, symmetric or not) -> the grant operations allowed
#: (KMS DG "Grant operations": no data-key operations on asymmetric keys, no Sign/Verify on
#: symmetric keys, HMAC keys only GenerateMac/VerifyMac).
OPERATIONS: dict[tuple[str, bool], frozenset[str]] = {
    ("ENCRYPT_DECRYPT", False): _ANY_KEY | CONTEXT_OPERATIONS,
    ("ENCRYPT_DECRYPT", True): _ANY_KEY | {"Encrypt", "Decrypt", "ReEncryptFrom",
                                           "ReEncryptTo", "GetPublicKey"},
    ("SIGN_VERIFY", True): _ANY_KEY | {"Sign", "Verify", "GetPublicKey"},
    ("GENERATE_VERIFY_MAC", False): _ANY_KEY | {"GenerateMac", "VerifyMac"},
    ("KEY_AGREEMENT", True): _ANY_KEY | {"DeriveSharedSecret", "GetPublicKey"},
    ("ENCAPSULATE_DECAPSULATE", True): _ANY_KEY | {"Encapsulate", "Decapsulate",
                                                   "GetPublicKey"},
}

MAX_CONSTRAINT_PAIRS = 8
MAX_CONSTRAINT_VALUE = 384

# -- messages (AWS's where recorded; the others are hsmkms's, docs/compatibility.md) ---------

ONLY_CREATE_GRANT = "Grants must not contain only the CreateGrant operation."  # recorded
NO_OPERATIONS = "A grant must list at least one grant operation."
NO_GRANTEE = "Either GranteePrincipal or GranteeServicePrincipal must be specified."
BOTH_GRANTEES = "GranteePrincipal and GranteeServicePrincipal cannot both be specified."
BOTH_RETIRING = "RetiringPrincipal and RetiringServicePrincipal cannot both be specified."
SERVICE_NEEDS = ("A grant to a GranteeServicePrincipal must have a SourceArn constraint and a "
                 "RetiringPrincipal or RetiringServicePrincipal.")
SOURCE_ARN_ONLY_SERVICE = "The SourceArn constraint is allowed only for a GranteeServicePrincipal."
CONTEXT_NOT_ALLOWED = ("Encryption context grant constraints are allowed only in grants on "
                       "symmetric encryption KMS keys for operations that take an encryption "
                       "context (and DescribeKey, CreateGrant, RetireGrant).")
TOO_MANY_PAIRS = (f"An encryption context grant constraint can have at most "
                  f"{MAX_CONSTRAINT_PAIRS} pairs.")
VALUE_TOO_LONG = (f"Encryption context grant constraint values can be at most "
                  f"{MAX_CONSTRAINT_VALUE} characters long.")
INVALID_TOKEN = "The grant token is not valid."  # noqa: S105 - a message, not a secret
INVALID_GRANT_ID = "Invalid grant ID {grant_id}."


def bad_operations(key: Key, operations: Sequence[str]) -> str:
    spec = keyspecs.get(key.key_spec)
    return (f"The grant operations {', '.join(operations)} are not valid for {key.arn}: its "
            f"key spec is {spec.name} and its key usage is {key.key_usage}.")


def invalid_principal(member: str, value: str) -> str:
    return f"{member} {value} is not a valid principal ARN."


@dataclass(frozen=True, slots=True)
class Constraints:
    """``GrantConstraints``: each present constraint must hold (both may be given)."""

    equals: dict[str, str] | None = None
    subset: dict[str, str] | None = None
    source_arn: str | None = None

    @property
    def context(self) -> bool:
        return self.equals is not None or self.subset is not None

    def wire(self) -> dict[str, object] | None:
        out: dict[str, object] = {}
        if self.subset is not None:
            out["EncryptionContextSubset"] = dict(self.subset)
        if self.equals is not None:
            out["EncryptionContextEquals"] = dict(self.equals)
        if self.source_arn is not None:
            out["SourceArn"] = self.source_arn
        return out or None


@dataclass(frozen=True, slots=True)
class Grant:
    grant_id: str
    key_id: str
    key_arn: str
    #: The account the grant was created in (the key's): ``IssuingAccount`` as its root ARN.
    issuing_account: str
    created: float
    operations: tuple[str, ...]
    grantee: str = ""
    grantee_service: str = ""
    retiring: str = ""
    retiring_service: str = ""
    name: str = ""
    constraints: Constraints = Constraints()

    def entry(self) -> dict[str, object]:
        """The ``GrantListEntry``."""
        out: dict[str, object] = {"KeyId": self.key_arn, "GrantId": self.grant_id}
        if self.name:
            out["Name"] = self.name
        out["CreationDate"] = self.created
        out.update({member: value for member, value in (
            ("GranteePrincipal", self.grantee), ("GranteeServicePrincipal", self.grantee_service),
            ("RetiringPrincipal", self.retiring),
            ("RetiringServicePrincipal", self.retiring_service)) if value})
        out["IssuingAccount"] = f"arn:aws:iam::{self.issuing_account}:root"
        out["Operations"] = list(self.operations)
        wire = self.constraints.wire()
        if wire is not None:
            out["Constraints"] = wire
        return out

    def same_request(self, other: Grant) -> bool:
        """Everything a CreateGrant request sets is equal, and it comes from the same account
        (Name idempotency: another account's identical request makes its own grant, so it never
        learns the id of, nor gets a token for, a grant it did not issue)."""
        return (self.key_id, self.issuing_account, self.name, set(self.operations),
                self.grantee, self.grantee_service, self.retiring, self.retiring_service,
                self.constraints) == (other.key_id, other.issuing_account, other.name,
                                      set(other.operations), other.grantee,
                                      other.grantee_service, other.retiring,
                                      other.retiring_service, other.constraints)


# -- CreateGrant's rules -------------------------------------------------------------------------

#: A principal a grant may name: an account root, user, role, federated user or role session
#: (not a group; IAM ARN syntax).
PRINCIPAL_ARN = re.compile(
    r"^arn:aws[a-z-]*:(?:iam::\d{12}:(?:root|user/[\w+=,.@/-]+|role/[\w+=,.@/-]+)"
    r"|sts::\d{12}:(?:assumed-role/[\w+=,.@-]+/[\w+=,.@-]+|federated-user/[\w+=,.@-]+))$")


@dataclass(frozen=True, slots=True)
class GrantRequest:
    """CreateGrant's inputs (besides the key)."""

    operations: tuple[str, ...]
    grantee: str | None = None
    grantee_service: str | None = None
    retiring: str | None = None
    retiring_service: str | None = None
    name: str | None = None
    equals: dict[str, str] | None = None
    subset: dict[str, str] | None = None
    source_arn: str | None = None


def new_grant(key: Key, req: GrantRequest, *, grant_id: str, now: float,
              issuing_account: str | None = None) -> Grant:
    """The grant ``req`` makes on ``key``, or the AWS error for the first rule it breaks.
    ``issuing_account``: the account of the principal who creates it (default: the key's);
    a grantee of another account with CreateGrant issues grants from its own account."""
    _check_principals(req)
    operations = tuple(dict.fromkeys(req.operations))
    if not operations:
        raise ValidationException(NO_OPERATIONS)
    if operations == ("CreateGrant",):
        raise ValidationException(ONLY_CREATE_GRANT)
    usage_key = (key.key_usage, keyspecs.get(key.key_spec).asymmetric)
    allowed = OPERATIONS.get(usage_key, _ANY_KEY)
    wrong = [op for op in operations if op not in allowed]
    if wrong:
        raise ValidationException(bad_operations(key, wrong))
    constraints = Constraints(req.equals, req.subset, req.source_arn)
    _check_constraints(constraints, operations, usage_key)
    if req.source_arn is not None and not req.grantee_service:
        raise ValidationException(SOURCE_ARN_ONLY_SERVICE)
    return Grant(grant_id=grant_id, key_id=key.key_id, key_arn=key.arn,
                 issuing_account=issuing_account or key.account, created=now,
                 operations=operations,
                 grantee=req.grantee or "", grantee_service=req.grantee_service or "",
                 retiring=req.retiring or "", retiring_service=req.retiring_service or "",
                 name=req.name or "", constraints=constraints)


def _check_principals(req: GrantRequest) -> None:
    if req.grantee is None and req.grantee_service is None:
        raise ValidationException(NO_GRANTEE)
    if req.grantee is not None and req.grantee_service is not None:
        raise ValidationException(BOTH_GRANTEES)
    if req.retiring is not None and req.retiring_service is not None:
        raise ValidationException(BOTH_RETIRING)
    if req.grantee_service is not None and (
            req.source_arn is None or (req.retiring is None and req.retiring_service is None)):
        raise ValidationException(SERVICE_NEEDS)
    for member, value in (("GranteePrincipal", req.grantee),
                          ("RetiringPrincipal", req.retiring)):
        if value is not None and not PRINCIPAL_ARN.match(value):
            raise InvalidArnException(invalid_principal(member, value))


def _check_constraints(constraints: Constraints, operations: Sequence[str],
                       usage_key: tuple[str, bool]) -> None:
    if not constraints.context:
        return
    if usage_key != ("ENCRYPT_DECRYPT", False) or any(
            op not in CONTEXT_OPERATIONS | _ANY_KEY for op in operations):
        raise ValidationException(CONTEXT_NOT_ALLOWED)
    for pairs in (constraints.equals, constraints.subset):
        if pairs is None:
            continue
        if len(pairs) > MAX_CONSTRAINT_PAIRS:
            raise ValidationException(TOO_MANY_PAIRS)
        if any(len(v) > MAX_CONSTRAINT_VALUE for v in pairs.values()):
            raise ValidationException(VALUE_TOO_LONG)


# -- how a grant authorizes ----------------------------------------------------------------------

_ROOT = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):root$")
_ROLE = re.compile(r"^arn:(aws[a-z-]*):iam::(\d{12}):role/(?:[\w+=,.@-]+/)*([\w+=,.@-]+)$")
_ACCOUNT = re.compile(r"^arn:aws[a-z-]*:(?:iam|sts)::(\d{12}):")
_SESSION = re.compile(r"^arn:(aws[a-z-]*):sts::(\d{12}):assumed-role/([\w+=,.@-]+)/[\w+=,.@-]+$")


def grantee_match(grantee: str, caller: iam.Caller) -> iam.Match | None:
    """How a grant's ``GranteePrincipal`` names ``caller`` (spec authz.md §5.5): its own ARN
    (root, user, session) or the role of its session -> DIRECT; its account's root ARN when the
    caller is another principal of that account -> ACCOUNT (the caller's IAM policies must then
    allow too, like a key policy's delegation, §10 Q13); else None."""
    if not grantee:
        return None
    if grantee == caller.arn:
        return iam.Match.DIRECT
    root = _ROOT.match(grantee)
    if root is not None:
        return iam.Match.ACCOUNT if root.group(1) == caller.account else None
    if caller.role_arn and grantee == caller.role_arn:
        return iam.Match.DIRECT
    role, session = _ROLE.match(grantee), _SESSION.match(caller.arn)
    if role is not None and session is not None:
        return iam.Match.DIRECT if role.groups() == session.groups() else None
    return None


def grantee_form(principal: str) -> str:
    """What :func:`grantee_match` compares of a grantee principal, for the index of a key's
    grants by grantee: an account root by its account alone, a role by its partition, account
    and name (its path aside: a session names the role without it), any other principal by its
    ARN."""
    root = _ROOT.match(principal)
    if root is not None:
        return "root:" + root.group(1)
    role = _ROLE.match(principal)
    if role is not None:
        return "role:" + ":".join(role.groups())
    return principal


def caller_forms(caller: iam.Caller) -> frozenset[str]:
    """The :func:`grantee_form` of every grantee :func:`grantee_match` could match for
    ``caller``: its own ARN, its account's root, its role (a session's)."""
    forms = {grantee_form(caller.arn), "root:" + caller.account}
    if caller.role_arn:
        forms.add(grantee_form(caller.role_arn))
    session = _SESSION.match(caller.arn)
    if session is not None:
        forms.add("role:" + ":".join(session.groups()))
    return frozenset(forms)


def account_of(principal: str) -> str | None:
    """The account of a principal ARN (None for a service principal)."""
    match = _ACCOUNT.match(principal)
    return match.group(1) if match else None


def satisfies(constraints: Constraints, context: Mapping[str, str] | None) -> bool:
    """The request's encryption context meets the constraints: ``equals`` exactly (order free),
    ``subset`` contained in it. Keys compare case-insensitively, values exactly (the current
    API reference, spec §10 Q12)."""
    request = {k.lower(): v for k, v in (context or {}).items()}
    if constraints.equals is not None and \
            request != {k.lower(): v for k, v in constraints.equals.items()}:
        return False
    if constraints.subset is not None:
        return all(request.get(k.lower()) == v for k, v in constraints.subset.items())
    return True


def allows(grant: Grant, caller: iam.Caller, action: str,
           context: Mapping[str, str] | None) -> iam.Match | None:
    """How ``grant`` lets ``caller`` run ``action`` (``kms:<Operation>``) with the request's
    encryption ``context``; None if it does not. Constraints apply only to operations with an
    encryption context (DescribeKey, RetireGrant... ignore them)."""
    operation = action.removeprefix("kms:")
    if operation not in grant.operations:
        return None
    match = grantee_match(grant.grantee, caller)
    if match is None:
        return None
    if operation in CONTEXT_OPERATIONS and not satisfies(grant.constraints, context):
        return None
    return match


def may_retire(grant: Grant, caller: iam.Caller) -> bool:
    """Who may retire a grant (KMS DG grant-manage): the account it was created in, its
    retiring principal, its grantee when the grant allows RetireGrant. An ACCOUNT match (a
    principal of the named account) counts as the root user holds every IAM permission."""
    if caller.is_root and caller.account == grant.issuing_account:
        return True
    if grantee_match(grant.retiring, caller) is not None:
        return True
    return "RetireGrant" in grant.operations and \
        grantee_match(grant.grantee, caller) is not None


def conditions(req: GrantRequest) -> dict[str, tuple[str, ...]]:
    """The condition keys a CreateGrant populates (spec authz.md §4.7; lower-case names):
    ``kms:GrantOperations``, the grantee and retiring principals, ``kms:GrantConstraintType``
    and ``kms:GrantConstraintSourceArn``. Its ``kms:EncryptionContext:<k>`` keys come from the
    constraint's context, passed as the request's encryption context."""
    retiring = req.retiring or req.retiring_service
    found: dict[str, tuple[str, ...] | None] = {
             "kms:grantoperations": tuple(req.operations),
             "kms:granteeprincipal": (req.grantee,) if req.grantee else None,
             "kms:granteeserviceprincipal": (req.grantee_service,) if req.grantee_service
             else None,
             "kms:retiringprincipal": (retiring,) if retiring else None,
             "kms:grantconstrainttype": tuple(
                 kind for kind, pairs in (("EncryptionContextEquals", req.equals),
                                          ("EncryptionContextSubset", req.subset))
                 if pairs is not None) or None,
             "kms:grantconstraintsourcearn": (req.source_arn,) if req.source_arn else None}
    return {k: v for k, v in found.items() if v is not None}


def narrower(child: GrantRequest, parent: Grant) -> bool:
    """A grant-derived CreateGrant hands on at most the parent's operations, with constraints
    at least as strict (KMS DG create-grant-overview): the parent's Equals must be the child's
    Equals; the parent's Subset must be contained in the child's Equals or Subset."""
    if not set(child.operations) <= set(parent.operations):
        return False
    wanted = parent.constraints
    if wanted.equals is not None and child.equals != wanted.equals:
        return False
    if wanted.subset is not None:
        given = child.equals if child.equals is not None else child.subset
        if given is None or any(given.get(k) != v for k, v in wanted.subset.items()):
            return False
    return True


# -- tokens --------------------------------------------------------------------------------------

_TOKEN_VERSION = b"\x01\n@"
GRANT_ID_RE = re.compile(r"^[0-9a-f]{64}$")


def token(grant_id: str, nonce: bytes) -> str:
    """A new token for the grant (every CreateGrant returns a fresh one; all are equivalent)."""
    return base64.b64encode(_TOKEN_VERSION + grant_id.encode() + b'"' + nonce).decode()


def parse_token(text: str) -> str:
    """The grant id a token names, or ``InvalidGrantTokenException``."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise InvalidGrantTokenException(INVALID_TOKEN) from None
    grant_id = raw[len(_TOKEN_VERSION):len(_TOKEN_VERSION) + 64].decode("latin-1")
    if not raw.startswith(_TOKEN_VERSION) or not GRANT_ID_RE.match(grant_id) or \
            raw[len(_TOKEN_VERSION) + 64:len(_TOKEN_VERSION) + 65] != b'"':
        raise InvalidGrantTokenException(INVALID_TOKEN)
    return grant_id


def check_tokens(tokens: Sequence[str] | None) -> None:
    """Every token of a request's ``GrantTokens`` must be well-formed."""
    for text in tokens or ():
        parse_token(text)


# -- the repository ------------------------------------------------------------------------------


def _key_of(grant: Grant) -> Hashable:
    return grant.key_id


def _grantee_on_key(grant: Grant) -> Hashable:
    return (grant.key_id, grant.grantee or grant.grantee_service)


def _grantee_form_on_key(grant: Grant) -> Hashable:
    return (grant.key_id, grantee_form(grant.grantee)) if grant.grantee else None


def _name_on_key(grant: Grant) -> Hashable:
    return (grant.key_id, grant.name)


def _retiring_of(grant: Grant) -> Hashable:
    return grant.retiring or grant.retiring_service


def grant_position(grant: Grant) -> str:
    """A grant's place in ListGrants/ListRetirableGrants: creation time, then id."""
    return f"{grant.created:020.6f}|{grant.grant_id}"


class Grants:
    """Grants by the scope of their key (``<account>/<region>``) and grant id."""

    def __init__(self, store: Store) -> None:
        self.repo = store.repository(GRANTS, Grant)

    def get(self, scope: str, grant_id: str) -> Grant | None:
        return self.repo.get(scope, grant_id)

    def of_key(self, scope: str, key_id: str) -> list[Grant]:
        """The key's grants in listing order."""
        found = (self.repo.get(scope, i) for i in self.repo.ids_by(scope, _key_of, key_id))
        return sorted((g for g in found if g is not None), key=grant_position)

    def for_caller(self, scope: str, key_id: str, caller: iam.Caller) -> list[Grant]:
        """The key's grants whose grantee may name ``caller`` (an index: only those are read;
        :func:`allows` still decides), in listing order."""
        ids: set[str] = set()
        for form in caller_forms(caller):
            ids |= self.repo.ids_by(scope, _grantee_form_on_key, (key_id, form))
        found = (self.repo.get(scope, i) for i in ids)
        return sorted((g for g in found if g is not None), key=grant_position)

    def count(self, scope: str, key_id: str) -> int:
        """How many grants the key has (an index: no grant is read)."""
        return len(self.repo.ids_by(scope, _key_of, key_id))

    def count_for(self, scope: str, key_id: str, grantee: str) -> int:
        """How many grants the key has for one grantee (principal or service principal)."""
        return len(self.repo.ids_by(scope, _grantee_on_key, (key_id, grantee)))

    def named(self, scope: str, key_id: str, name: str) -> list[Grant]:
        """The key's grants with this name."""
        found = (self.repo.get(scope, i)
                 for i in self.repo.ids_by(scope, _name_on_key, (key_id, name)))
        return sorted((g for g in found if g is not None), key=grant_position)

    def retirable_by(self, principal: str, region: str) -> list[Grant]:
        """Grants of every account in ``region`` whose retiring principal is ``principal``
        (only for a principal of the caller's own account: see the use case)."""
        found: list[Grant] = []
        for scope in self.repo.scopes():
            if scope.rpartition("/")[2] == region:
                found.extend(self._retirable(scope, principal))
        return sorted(found, key=grant_position)

    def retirable_in(self, scope: str, principal: str) -> list[Grant]:
        """The scope's grants (one account's keys) whose retiring principal is ``principal``."""
        return sorted(self._retirable(scope, principal), key=grant_position)

    def _retirable(self, scope: str, principal: str) -> list[Grant]:
        found = (self.repo.get(scope, i) for i in self.repo.ids_by(scope, _retiring_of, principal))
        return [g for g in found if g is not None]

    def find(self, region: str, grant_id: str) -> tuple[str, Grant] | None:
        """``(scope, grant)`` of a grant id in any account of ``region``."""
        for scope in self.repo.scopes():
            if scope.rpartition("/")[2] == region:
                grant = self.repo.get(scope, grant_id)
                if grant is not None:
                    return scope, grant
        return None

    def put(self, scope: str, grant: Grant) -> None:
        self.repo.put(scope, grant.grant_id, grant)

    def delete(self, scope: str, grant_id: str) -> None:
        self.repo.delete(scope, grant_id)

    def delete_key(self, scope: str, key_id: str) -> None:
        """Every grant of a deleted key."""
        for ident in self.repo.ids_by(scope, _key_of, key_id):
            self.repo.delete(scope, ident)
