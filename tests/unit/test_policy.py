"""The policy evaluator (hsmkms.auth.policy) and KMS's decision (hsmkms.kms.authz.decide): a
table from the spec's examples (authz.md §4), every condition operator family, the grammar's
refusals, and Hypothesis properties (an explicit Deny always refuses; removing an Allow never
grants more)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hsmkms.auth import policy as iam
from hsmkms.errors import AccessDeniedException
from hsmkms.kms.authz import Decision, Reason, decide, validate
from hsmkms.kms.errors import MalformedPolicyDocumentException

A, B = "111122223333", "444455556666"
KEY = f"arn:aws:kms:us-east-1:{A}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ROOT_A = iam.Caller(f"arn:aws:iam::{A}:root", A)
ROOT_B = iam.Caller(f"arn:aws:iam::{B}:root", B)
USER_A = iam.Caller(f"arn:aws:iam::{A}:user/alice", A)
SESSION_A = iam.Caller(f"arn:aws:sts::{A}:assumed-role/app/s1", A,
                       role_arn=f"arn:aws:iam::{A}:role/app")


def doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(principal: Any = None, action: Any = "kms:*", **extra: Any) -> dict[str, Any]:
    principal = {"AWS": f"arn:aws:iam::{A}:root"} if principal is None else principal
    return {"Effect": "Allow", "Principal": principal, "Action": action, "Resource": "*",
            **extra}


def deny(principal: Any = "*", action: Any = "kms:*", **extra: Any) -> dict[str, Any]:
    return {**allow(principal, action, **extra), "Effect": "Deny"}


def request(caller: iam.Caller = ROOT_A, action: str = "kms:Encrypt",
            **context: str | tuple[str, ...]) -> iam.Request:
    ctx = {k.lower(): (v if isinstance(v, tuple) else (v,)) for k, v in context.items()}
    return iam.Request(caller, action, KEY, ctx)


def kms_decision(text: str, req: iam.Request, *, cross: bool = True,
                 identity: iam.Outcome | None = None) -> Decision:
    return decide(req, A, iam.parse(text), identity, cross_account_ok=cross)


NO_IDENTITY_ALLOW = iam.Outcome(denied=False, allows=frozenset())
IDENTITY_ALLOW = iam.Outcome(denied=False, allows=frozenset({iam.Match.DIRECT}))

# (name, key policy, request, identity outcome (None: root), allowed, reason when refused)
TABLE: list[tuple[str, str, iam.Request, iam.Outcome | None, bool, Reason | None]] = [
    ("default policy delegates to the account: root allowed",
     doc(allow()), request(), None, True, None),
    ("default policy: an IAM user needs an identity allow",
     doc(allow()), request(USER_A), NO_IDENTITY_ALLOW, False, Reason.NO_IDENTITY),
    ("default policy: an IAM user with an identity allow",
     doc(allow()), request(USER_A), IDENTITY_ALLOW, True, None),
    ("an identity deny wins over the delegation",
     doc(allow()), request(USER_A), iam.Outcome(denied=True, allows=frozenset()), False,
     Reason.EXPLICIT_IDENTITY),
    ("a key policy naming the user allows without IAM",
     doc(allow({"AWS": f"arn:aws:iam::{A}:user/alice"}, "kms:Encrypt")), request(USER_A),
     NO_IDENTITY_ALLOW, True, None),
    ("a role principal covers its sessions",
     doc(allow({"AWS": f"arn:aws:iam::{A}:role/app"}, ["kms:Encrypt", "kms:Decrypt"])),
     request(SESSION_A), NO_IDENTITY_ALLOW, True, None),
    ("a key policy without the account: even root is refused",
     doc(allow({"AWS": f"arn:aws:iam::{A}:user/alice"})), request(), None, False,
     Reason.NO_RESOURCE),
    ("explicit deny wins over an allow",
     doc(allow(), deny(action="kms:Encrypt")), request(), None, False,
     Reason.EXPLICIT_RESOURCE),
    ("a deny of another action does not apply",
     doc(allow(), deny(action="kms:Decrypt")), request(), None, True, None),
    ("NotAction: allow everything but Decrypt",
     doc({"Effect": "Allow", "Principal": {"AWS": A}, "NotAction": "kms:Decrypt",
          "Resource": "*"}), request(action="kms:Encrypt"), None, True, None),
    ("action wildcards are case-insensitive",
     doc(allow(action="KMS:encrypt*")), request(action="kms:Encrypt"), None, True, None),
    ("? matches one character",
     doc(allow(action="kms:?ncrypt")), request(action="kms:Encrypt"), None, True, None),
    ("cross-account: the key policy names the other account, its root is allowed",
     doc(allow(), allow({"AWS": B}, ["kms:Encrypt", "kms:Decrypt"])), request(ROOT_B),
     None, True, None),
    ("cross-account: the other account's user also needs its IAM allow",
     doc(allow(), allow({"AWS": f"arn:aws:iam::{B}:root"}, "kms:Encrypt")),
     request(iam.Caller(f"arn:aws:iam::{B}:user/bob", B)), NO_IDENTITY_ALLOW, False,
     Reason.NO_IDENTITY),
    ("cross-account: not named at all",
     doc(allow()), request(ROOT_B), None, False, Reason.NO_RESOURCE),
    ("encryption context condition met",
     doc(allow(Condition={"StringEquals": {"kms:EncryptionContext:Dept": "IT"}})),
     request(**{"kms:encryptioncontext:dept": "IT"}), None, True, None),
    ("encryption context condition not met",
     doc(allow(Condition={"StringEquals": {"kms:EncryptionContext:Dept": "IT"}})),
     request(**{"kms:encryptioncontext:dept": "HR"}), None, False, Reason.NO_RESOURCE),
    ("deny unless the caller account (StringNotEquals on a present key)",
     doc(allow(), deny(Condition={"StringNotEquals": {"kms:CallerAccount": A}})),
     request(**{"kms:calleraccount": A}), None, True, None),
    ("Null: deny requests without an encryption context",
     doc(allow(), deny(Condition={"Null": {"kms:EncryptionContextKeys": "true"}})),
     request(), None, False, Reason.EXPLICIT_RESOURCE),
]


@pytest.mark.parametrize(("name", "text", "req", "identity", "allowed", "reason"), TABLE,
                         ids=[row[0] for row in TABLE])
def test_kms_decision_table(name: str, text: str, req: iam.Request,
                            identity: iam.Outcome | None, allowed: bool,  # noqa: FBT001
                            reason: Reason | None) -> None:
    del name
    decision = kms_decision(text, req, identity=identity)
    assert (decision.allowed, decision.reason) == (allowed, reason)


def test_not_action_excludes_the_listed_action() -> None:
    text = doc({"Effect": "Allow", "Principal": {"AWS": A}, "NotAction": "kms:Decrypt",
                "Resource": "*"})
    assert kms_decision(text, request(action="kms:Encrypt")).allowed
    assert not kms_decision(text, request(action="kms:Decrypt")).allowed


def test_not_principal_deny_refuses_everyone_else() -> None:
    text = doc(allow("*"), {"Effect": "Deny", "NotPrincipal": {"AWS": f"arn:aws:iam::{A}:root"},
                            "Action": "kms:*", "Resource": "*"})
    assert kms_decision(text, request()).allowed
    assert kms_decision(text, request(ROOT_B)).reason is Reason.EXPLICIT_RESOURCE


def test_resource_and_not_resource_patterns() -> None:
    text = json.dumps({"Statement": {"Effect": "Allow", "Action": "kms:*",
                                     "Resource": "arn:aws:kms:*:111122223333:key/*"}})
    parsed = iam.parse(text, resource_policy=False)
    assert iam.evaluate(parsed, request()).allows == {iam.Match.DIRECT}
    other = iam.Request(ROOT_A, "kms:Encrypt", KEY.replace(A, B), {})
    assert not iam.evaluate(parsed, other).allows
    text = json.dumps({"Statement": {"Effect": "Allow", "Action": "kms:*",
                                     "NotResource": "arn:aws:kms:*:111122223333:key/*"}})
    assert not iam.evaluate(iam.parse(text, resource_policy=False), request()).allows


def test_the_denial_message_forms() -> None:
    refused = kms_decision(doc(allow({"AWS": B})), request())
    assert refused.message(ROOT_A.arn, "kms:Encrypt", KEY) == (
        f"User: arn:aws:iam::{A}:root is not authorized to perform: kms:Encrypt on resource: "
        f"{KEY} because no resource-based policy allows the kms:Encrypt action")
    denied = kms_decision(doc(allow(), deny()), request())
    assert denied.message(ROOT_A.arn, "kms:Encrypt", KEY) == (
        f"User: arn:aws:iam::{A}:root is not authorized to perform: kms:Encrypt on resource: "
        f"{KEY} with an explicit deny in a resource-based policy")
    assert issubclass(AccessDeniedException, Exception)


def test_cross_account_needs_a_cross_account_operation() -> None:
    text = doc(allow(), allow({"AWS": B}))
    assert kms_decision(text, request(ROOT_B, "kms:Encrypt"), cross=True).allowed
    assert kms_decision(text, request(ROOT_B, "kms:PutKeyPolicy"), cross=False).reason is \
        Reason.NO_RESOURCE


# -- condition operators, one family at a time -------------------------------------------


def holds(operator: str, key: str, policy_value: Any, **context: Any) -> bool:
    block = {operator: {key: policy_value}}
    text = doc(allow(Condition=block))
    ctx = {k.lower().replace("__", ":"): (tuple(v) if isinstance(v, list) else (v,))
           for k, v in context.items()}
    return bool(iam.evaluate(iam.parse(text), iam.Request(ROOT_A, "kms:Encrypt", KEY,
                                                          ctx)).allows)


@pytest.mark.parametrize(("operator", "policy_value", "value", "expected"), [
    ("StringEquals", "IT", "IT", True), ("StringEquals", "IT", "it", False),
    ("StringEquals", ["HR", "IT"], "IT", True),
    ("StringNotEquals", "IT", "HR", True), ("StringNotEquals", "IT", "IT", False),
    ("StringEqualsIgnoreCase", "IT", "it", True),
    ("StringNotEqualsIgnoreCase", "IT", "it", False),
    ("StringLike", "I*", "IT", True), ("StringLike", "I?", "ITT", False),
    ("StringNotLike", "H*", "IT", True),
    ("NumericEquals", "7", "7.0", True), ("NumericNotEquals", "7", "8", True),
    ("NumericLessThan", "7", "6", True), ("NumericLessThan", "7", "7", False),
    ("NumericLessThanEquals", "7", "7", True), ("NumericGreaterThan", "7", "8", True),
    ("NumericGreaterThanEquals", "7", "7", True), ("NumericEquals", "7", "seven", False),
    ("DateEquals", "2026-12-02T10:00:00Z", "1796205600", True),
    ("DateNotEquals", "2026-12-02T10:00:00Z", "2026-12-02T10:00:01Z", True),
    ("DateLessThan", "2026-12-02T10:00:00Z", "2026-12-01T00:00:00Z", True),
    ("DateLessThanEquals", "2026-12-02T10:00:00Z", "2026-12-02T10:00:00Z", True),
    ("DateGreaterThan", "2026-12-02T10:00:00Z", "2026-12-01T00:00:00Z", False),
    ("DateGreaterThanEquals", "2026-12-02", "2026-12-02T00:00:00Z", True),
    ("Bool", "true", "true", True), ("Bool", "true", "false", False),
    ("BinaryEquals", "QUJD", "QUJD", True), ("BinaryEquals", "QUJD", "QUJF", False),
    ("IpAddress", "10.0.0.0/8", "10.1.2.3", True), ("IpAddress", "10.0.0.0/8", "11.0.0.1", False),
    ("IpAddress", "127.0.0.1", "127.0.0.1", True), ("IpAddress", "::1/128", "::1", True),
    ("NotIpAddress", "10.0.0.0/8", "127.0.0.1", True),
    ("ArnLike", "arn:aws:iam::*:role/app*", "arn:aws:iam::111122223333:role/app-1", True),
    ("ArnEquals", "arn:aws:iam::*:root", "arn:aws:iam::111122223333:user/x", False),
    ("ArnNotLike", "arn:aws:iam::*:role/*", "arn:aws:iam::111122223333:root", True),
    ("ArnNotEquals", "arn:aws:iam::*:root", "arn:aws:iam::111122223333:root", False),
    ("ArnLike", "arn:aws:iam::*:root", "not an arn", False),
])
def test_operator_families(operator: str, policy_value: Any, value: str,
                           expected: bool) -> None:  # noqa: FBT001
    assert holds(operator, "aws:Test", policy_value, aws__test=value) is expected


@pytest.mark.parametrize(("operator", "expected"), [
    ("StringEquals", False), ("StringNotEquals", True), ("StringEqualsIfExists", True),
    ("StringNotLike", True), ("NumericLessThan", False), ("NumericLessThanIfExists", True),
    ("Bool", False), ("BoolIfExists", True), ("IpAddress", False), ("NotIpAddress", True),
    ("ArnLike", False), ("ArnNotLike", True), ("DateLessThanIfExists", True),
])
def test_a_missing_key(operator: str, expected: bool) -> None:  # noqa: FBT001
    assert holds(operator, "aws:Absent", "x") is expected


def test_null_and_key_names_case_insensitive() -> None:
    assert holds("Null", "kms:EncryptionContextKeys", "true")
    assert not holds("Null", "kms:EncryptionContextKeys", "true",
                     kms__encryptioncontextkeys="Dept")
    assert holds("Null", "KMS:ENCRYPTIONCONTEXTKEYS", "false",
                 kms__encryptioncontextkeys="Dept")
    with pytest.raises(iam.MalformedPolicy):
        iam.parse(doc(allow(Condition={"NullIfExists": {"aws:x": "true"}})))


def test_set_operators() -> None:
    keys = ["Dept", "Project"]
    assert holds("ForAnyValue:StringEquals", "kms:EncryptionContextKeys", "Dept",
                 kms__encryptioncontextkeys=keys)
    assert not holds("ForAnyValue:StringEquals", "kms:EncryptionContextKeys", "Dept")
    assert not holds("ForAllValues:StringEquals", "kms:EncryptionContextKeys", "Dept",
                     kms__encryptioncontextkeys=keys)
    assert holds("ForAllValues:StringEquals", "kms:EncryptionContextKeys", ["Dept", "Project"],
                 kms__encryptioncontextkeys=keys)
    assert holds("ForAllValues:StringEquals", "kms:EncryptionContextKeys", "Dept")  # empty
    assert holds("ForAnyValue:StringNotEquals", "kms:EncryptionContextKeys", "Dept",
                 kms__encryptioncontextkeys=keys)
    assert not holds("ForAllValues:StringNotEquals", "kms:EncryptionContextKeys", "Dept",
                     kms__encryptioncontextkeys=keys)


def test_blocks_and_keys_and_values() -> None:
    """Operators AND, keys within one AND, values of one key OR."""
    block = {"StringEquals": {"aws:a": ["1", "2"], "aws:b": "x"}, "StringLike": {"aws:c": "y*"}}
    parsed = iam.parse(doc(allow(Condition=block)))

    def allowed(**ctx: str) -> bool:
        return bool(iam.evaluate(parsed, iam.Request(ROOT_A, "kms:Encrypt", KEY, {
            f"aws:{k}": (v,) for k, v in ctx.items()})).allows)

    assert allowed(a="2", b="x", c="yes")
    assert not allowed(a="3", b="x", c="yes")
    assert not allowed(a="1", b="x", c="no")
    assert not allowed(a="1", c="yes")


# -- the grammar ----------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "message"), [
    ("{", "The policy document is not valid JSON."),
    ("[]", "The policy document must be a JSON object."),
    (json.dumps({"Version": "2012-10-17"}), "The policy document must have a Statement element."),
    (doc({"Effect": "Allow", "Action": "kms:*", "Resource": "*"}),
     "Statement is missing required element Principal or NotPrincipal."),
    (doc({**allow(), "Effect": "Maybe"}), "Statement Effect must be Allow or Deny."),
    (doc({**allow(), "NotAction": "kms:Decrypt"}),
     "Statement cannot contain both Action and NotAction."),
    (doc(allow({"AWS": "arn:aws:iam::*:root"})),
     "Policy contains a statement with one or more invalid principals."),
    (doc(allow({"AWS": "bob"})),
     "Policy contains a statement with one or more invalid principals."),
    (doc(allow({"Group": "x"})),
     "Policy contains a statement with one or more invalid principals."),
    (doc(allow(Condition={"StringEqualz": {"aws:a": "b"}})),
     "Invalid Condition operator: StringEqualz"),
    (doc({**allow(), "Foo": 1}), "Statement contains an unknown element: Foo"),
])
def test_grammar_refusals(text: str, message: str) -> None:
    with pytest.raises(iam.MalformedPolicy) as caught:
        iam.parse(text)
    assert str(caught.value) == message


def test_key_policy_rules() -> None:
    validate(doc(allow()))
    with pytest.raises(MalformedPolicyDocumentException) as caught:
        validate(doc({**allow(), "Resource": KEY}))
    assert "Resource" in str(caught.value.message)
    with pytest.raises(MalformedPolicyDocumentException) as caught:
        validate(doc(allow(Condition={"StringEquals": {"aws:ResourceTag/Dept": "IT"}})))
    assert caught.value.message == ("These condition keys are not permitted in a key policy: "
                                    "aws:ResourceTag, kms:ResourceTag, kms:ResourceAliases")
    with pytest.raises(MalformedPolicyDocumentException) as caught:
        validate(doc(allow(Condition={
            "ForAllValues:StringEquals": {"kms:EncryptionContext:Dept": "IT"}})))
    assert caught.value.message is not None
    assert caught.value.message.startswith("OverlyPermissiveCondition:EncryptionContext: ")


def test_identity_policy_may_not_name_a_principal() -> None:
    with pytest.raises(iam.MalformedPolicy) as caught:
        iam.parse(doc(allow()), resource_policy=False)
    assert str(caught.value) == "Policy document should not specify a principal."


# -- properties ------------------------------------------------------------------------------

ACTIONS = ["kms:Encrypt", "kms:Decrypt", "kms:DescribeKey", "kms:PutKeyPolicy",
           "kms:GenerateDataKey"]
PATTERNS = [*ACTIONS, "kms:*", "*", "kms:Gen*", "kms:?ncrypt", "KMS:DECRYPT"]
PRINCIPALS = ["*", {"AWS": A}, {"AWS": f"arn:aws:iam::{A}:root"}, {"AWS": B},
              {"AWS": f"arn:aws:iam::{A}:user/alice"}, {"AWS": f"arn:aws:iam::{A}:role/app"}]
CONDITIONS = [
    {}, {"StringEquals": {"kms:EncryptionContext:Dept": "IT"}},
    {"StringNotEquals": {"kms:CallerAccount": A}}, {"Null": {"kms:EncryptionContextKeys": "true"}},
    {"Bool": {"aws:SecureTransport": "false"}}, {"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}},
    {"ForAnyValue:StringLike": {"kms:EncryptionContextKeys": "D*"}},
    {"NumericLessThan": {"aws:EpochTime": "2000000000"}},
]
CALLERS = [ROOT_A, ROOT_B, USER_A, SESSION_A]


@st.composite
def statements(draw: st.DrawFn) -> dict[str, Any]:
    stmt: dict[str, Any] = {"Effect": draw(st.sampled_from(["Allow", "Deny"])),
                            "Resource": "*"}
    stmt["NotPrincipal" if draw(st.booleans()) and stmt["Effect"] == "Deny" else "Principal"] = \
        draw(st.sampled_from(PRINCIPALS))
    actions = draw(st.lists(st.sampled_from(PATTERNS), min_size=1, max_size=3))
    stmt["NotAction" if draw(st.integers(0, 4)) == 0 else "Action"] = actions
    condition = draw(st.sampled_from(CONDITIONS))
    if condition:
        stmt["Condition"] = condition
    return stmt


requests = st.builds(
    lambda caller, action, dept, ip: iam.Request(caller, action, KEY, {
        "kms:calleraccount": (caller.account,), "aws:sourceip": (ip,),
        "aws:securetransport": ("false",), "aws:epochtime": ("1796205600",),
        **({"kms:encryptioncontext:dept": (dept,), "kms:encryptioncontextkeys": ("Dept",)}
           if dept else {})}),
    st.sampled_from(CALLERS), st.sampled_from(ACTIONS), st.sampled_from(["", "IT", "HR"]),
    st.sampled_from(["127.0.0.1", "10.0.0.1"]))
identities = st.sampled_from([None, NO_IDENTITY_ALLOW, IDENTITY_ALLOW])


@settings(max_examples=300, deadline=None)
@given(st.lists(statements(), min_size=1, max_size=6), requests, identities, st.booleans())
def test_an_explicit_deny_always_refuses(stmts: list[dict[str, Any]], req: iam.Request,
                                         identity: iam.Outcome | None, cross: bool) -> None:  # noqa: FBT001
    text = doc(*stmts, deny("*", req.action))
    decision = kms_decision(text, req, cross=cross, identity=identity)
    assert (decision.allowed, decision.reason) == (False, Reason.EXPLICIT_RESOURCE)


@settings(max_examples=300, deadline=None)
@given(st.lists(statements(), min_size=1, max_size=6), requests, identities, st.booleans(),
       st.data())
def test_removing_an_allow_never_grants_more(stmts: list[dict[str, Any]], req: iam.Request,
                                             identity: iam.Outcome | None, cross: bool,  # noqa: FBT001
                                             data: st.DataObject) -> None:
    allows = [i for i, s in enumerate(stmts) if s["Effect"] == "Allow"]
    if not allows:
        stmts = [*stmts, allow()]
        allows = [len(stmts) - 1]
    drop = data.draw(st.sampled_from(allows))
    fewer = [s for i, s in enumerate(stmts) if i != drop]
    before = kms_decision(doc(*stmts), req, cross=cross, identity=identity)
    if not fewer:
        return  # no statement left: a policy needs one (nothing is allowed by nothing)
    after = kms_decision(doc(*fewer), req, cross=cross, identity=identity)
    assert not after.allowed or before.allowed


# -- the KMS authorizer: condition keys a request populates ----------------------------------


def _key(policy_text: str) -> Any:
    from hsmkms.kms.model import Key, KeyState  # noqa: PLC0415

    return Key(key_id="1234abcd-12ab-34cd-56ef-1234567890ab", account=A, region="us-east-1",
               created=0.0, state=KeyState.ENABLED, policy=policy_text)


def _authorize(condition: dict[str, Any], *, operation: str = "Encrypt",
               context: dict[str, str] | None = None) -> bool:
    from hsmkms.context import RequestContext  # noqa: PLC0415
    from hsmkms.kms.authz import KeyPolicyAuthorizer  # noqa: PLC0415

    ctx = RequestContext(account=A, region="us-east-1", request_id="r", now=1796205600.0,
                         source_ip="127.0.0.1", user_agent="aws-cli/1.0")
    text = doc(allow(Condition=condition))
    try:
        KeyPolicyAuthorizer().authorize(ctx, operation, _key(text), context)
    except AccessDeniedException:
        return False
    return True


@pytest.mark.parametrize(("condition", "expected"), [
    ({"StringEquals": {"kms:CallerAccount": A}}, True),
    ({"StringEquals": {"aws:PrincipalArn": f"arn:aws:iam::{A}:root"}}, True),
    ({"StringEquals": {"aws:PrincipalType": "Account", "aws:userid": A}}, True),
    ({"StringEquals": {"kms:KeySpec": "SYMMETRIC_DEFAULT", "kms:KeyUsage": "ENCRYPT_DECRYPT",
                       "kms:KeyOrigin": "AWS_KMS"}}, True),
    ({"Bool": {"kms:MultiRegion": "false", "aws:SecureTransport": "false"}}, True),
    ({"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}}, True),
    ({"NotIpAddress": {"aws:SourceIp": "127.0.0.0/8"}}, False),
    ({"DateLessThan": {"aws:CurrentTime": "2026-12-03T00:00:00Z"}}, True),
    ({"NumericGreaterThan": {"aws:EpochTime": "1796205601"}}, False),
    ({"StringEquals": {"aws:RequestedRegion": "us-east-1"}}, True),
    ({"StringLike": {"aws:UserAgent": "aws-cli/*"}}, True),
    ({"StringEquals": {"kms:EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}}, True),
    ({"StringEquals": {"kms:EncryptionContext:dept": "IT"}}, True),  # key part: any case
    ({"ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["Dept", "App"]}}, True),
    ({"StringEquals": {"aws:PrincipalTag/team": "a"}}, False),  # not populated: no match
    ({"StringNotEquals": {"aws:PrincipalTag/team": "a"}}, True),
    ({"StringEqualsIfExists": {"aws:PrincipalTag/team": "a"}}, True),
])
def test_condition_keys_the_authorizer_populates(condition: dict[str, Any],
                                                  expected: bool) -> None:  # noqa: FBT001
    assert _authorize(condition, context={"Dept": "IT", "App": "x"}) is expected


def test_encryption_algorithm_only_for_crypto_operations() -> None:
    condition = {"StringEquals": {"kms:EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}}
    assert not _authorize(condition, operation="DescribeKey")
    assert _authorize({"Null": {"kms:EncryptionContextKeys": "true"}})


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.sampled_from(["*", "kms:*", "Allow", "Deny", A, f"arn:aws:iam::{A}:root", "2012-10-17",
                       "StringEquals", "ForAnyValue:StringLike", "aws:SourceIp", "Null"])
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["Version", "Statement", "Effect", "Principal", "NotPrincipal", "AWS",
                         "Action", "NotAction", "Resource", "NotResource", "Condition", "Sid",
                         "StringEquals", "Null", "aws:SourceIp", "x"]), inner, max_size=5),
    max_leaves=20)


@settings(max_examples=400, deadline=None)
@given(json_values)
def test_any_document_parses_or_is_refused(document: Any) -> None:
    """No policy text crashes the parser: a Policy, or MalformedPolicy."""
    text = json.dumps(document)
    try:
        parsed = iam.parse(text)
    except iam.MalformedPolicy:
        return
    for caller in CALLERS:  # and what parses evaluates
        iam.evaluate(parsed, request(caller))


def test_multi_region_condition_keys() -> None:
    from dataclasses import replace  # noqa: PLC0415

    from hsmkms.context import RequestContext  # noqa: PLC0415
    from hsmkms.kms.authz import KeyPolicyAuthorizer  # noqa: PLC0415

    ctx = RequestContext(account=A, region="us-west-2", request_id="r", now=1796205600.0)

    def allowed(condition: dict[str, Any], primary_region: str) -> bool:
        key = replace(_key(doc(allow(Condition=condition))), region="us-west-2",
                      key_id="mrk-" + "ab" * 16, primary_region=primary_region)
        try:
            KeyPolicyAuthorizer().authorize(ctx, "Encrypt", key)
        except AccessDeniedException:
            return False
        return True

    replica = {"StringEquals": {"kms:MultiRegionKeyType": "REPLICA"}}
    assert allowed({"Bool": {"kms:MultiRegion": "true"}}, "us-east-1")
    assert allowed(replica, "us-east-1")
    assert not allowed(replica, "us-west-2")  # the primary
    assert not allowed(replica, "")  # a single-Region key has no such key
    assert allowed({"Bool": {"kms:MultiRegion": "false"}}, "")
