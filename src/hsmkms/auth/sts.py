"""STS (query protocol, ``2011-06-15``), served in ``--auth verify|enforce``:
``GetCallerIdentity`` (who signed: root, an IAM user, a role session), ``GetAccessKeyInfo``
(the account of a key id) and ``AssumeRole`` (temporary credentials of a role, when its trust
policy lets the caller in). Spec authz.md §3.1, §3.4-3.6.

AssumeRole (§3.5): the root user can never assume a role. The role's trust policy must allow
``sts:AssumeRole`` to the caller: naming the caller (its user ARN, its role, its session)
suffices in the role's account; naming the caller's account needs, in ``enforce``, an
identity policy of the caller allowing ``sts:AssumeRole`` on the role too, as does every
caller of another account. The credentials (``ASIA...`` id, secret, session token) expire on
the server's clock after ``DurationSeconds`` (900 to the role's ``MaxSessionDuration``;
a role session assuming a role: at most an hour).

Answers are STS's XML (``<OpResponse><OpResult>...</OpResult><ResponseMetadata>...``); errors
``<ErrorResponse><Error><Type>Sender</Type><Code>...``; authentication failures are the query
protocol's (``InvalidClientTokenId``, ``SignatureDoesNotMatch``, 403), raised by the app's
authenticator before the handler runs.
"""

from __future__ import annotations

import base64
import os
import re
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Protocol
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from hsmkms.auth import identity
from hsmkms.auth import policy as iam
from hsmkms.auth.credentials import AccessKeys, account_of_key_id, new_access_key_id, new_secret
from hsmkms.envelope import Exchange, Routes, Style
from hsmkms.errors import ClientError, InternalFailure, ServiceError
from hsmkms.http import HttpRequest, HttpResponse
from hsmkms.principal import ASSUMED_ROLE, Principal
from hsmkms.principal import root as root_principal

if TYPE_CHECKING:
    from hsmkms.context import RequestContext

NAMESPACE = "https://sts.amazonaws.com/doc/2011-06-15/"
VERSION = "2011-06-15"
XML = "text/xml"


class InvalidAction(ClientError):
    pass


class MissingParameter(ClientError):
    pass


class ValidationError(ClientError):
    pass


class AccessDenied(ClientError):
    status: ClassVar[int] = 403


class MalformedPolicyDocument(ClientError):
    pass


class Role(Protocol):
    """What AssumeRole reads of an IAM role (:class:`hsmkms.iam.model.Role`)."""

    @property
    def name(self) -> str: ...
    @property
    def role_id(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def trust(self) -> str: ...
    @property
    def max_session(self) -> int: ...


class Roles(Protocol):
    def role_by_arn(self, arn: str) -> tuple[str, Role] | None:
        """``(account, role)`` of a role ARN, None for no such role."""
        ...

    def identity_policies(self, principal: Principal) -> Sequence[iam.Policy]: ...


Handler = Callable[["RequestContext", dict[str, str]], dict[str, Any]]

#: AssumeRole's limits (spec §3.4, §3.5).
MIN_DURATION, DEFAULT_DURATION, CHAINED_MAX = 900, 3600, 3600
_SESSION_NAME = re.compile(r"[\w+=,.@-]*")
NO_ROOT = "Roles may not be assumed by root accounts."
TOO_LONG = "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
TOO_LONG_CHAINED = ("The requested DurationSeconds exceeds the 1 hour session limit for roles "
                    "assumed by role chaining.")


#: Characters XML 1.0 cannot carry; echoed input holding them is written as U+FFFD.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def xml_text(text: str) -> str:
    """``text`` as XML character data (escaped; characters XML cannot carry replaced)."""
    return escape(_NOT_XML.sub("\ufffd", text))


def _render(value: Any) -> str:
    if isinstance(value, dict):
        return "".join(f"<{k}>{_render(v)}</{k}>" for k, v in value.items() if v is not None)
    return xml_text(str(value))


def _respond(operation: str, result: dict[str, Any], request_id: str) -> HttpResponse:
    fields = _render(result)
    body = (f'<{operation}Response xmlns="{NAMESPACE}"><{operation}Result>{fields}'
            f"</{operation}Result><ResponseMetadata><RequestId>{request_id}</RequestId>"
            f"</ResponseMetadata></{operation}Response>")
    return HttpResponse(200, body.encode(), [("content-type", XML),
                                             ("x-amzn-requestid", request_id)])


def error_response(err: ServiceError, ctx: RequestContext) -> HttpResponse:
    kind = "Receiver" if err.fault else "Sender"
    message = "" if err.message is None else f"<Message>{xml_text(err.message)}</Message>"
    body = (f'<ErrorResponse xmlns="{NAMESPACE}"><Error><Type>{kind}</Type>'
            f"<Code>{err.code()}</Code>{message}</Error><RequestId>{ctx.request_id}"
            "</RequestId></ErrorResponse>")
    return HttpResponse(err.status, body.encode(), [("content-type", XML),
                                                    ("x-amzn-requestid", ctx.request_id)])


def _invalid(member: str, value: str, constraint: str) -> ValidationError:
    return ValidationError(f"1 validation error detected: Value '{value}' at '{member}' failed "
                           f"to satisfy constraint: {constraint}")


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _duration(params: dict[str, str]) -> int:
    text = params.get("DurationSeconds")
    if text is None:
        return DEFAULT_DURATION
    try:
        seconds = int(text)
    except ValueError:
        raise _invalid("durationSeconds", text, "Member must be an integer") from None
    if seconds < MIN_DURATION:
        raise _invalid("durationSeconds", text,
                       f"Member must have value greater than or equal to {MIN_DURATION}")
    if seconds > 43200:
        raise _invalid("durationSeconds", text,
                       "Member must have value less than or equal to 43200")
    return seconds


def _session_name(params: dict[str, str]) -> str:
    name = params.get("RoleSessionName")
    if name is None:
        raise ValidationError("1 validation error detected: Value null at 'roleSessionName' "
                              "failed to satisfy constraint: Member must not be null")
    if len(name) < 2:
        raise _invalid("roleSessionName", name,
                       "Member must have length greater than or equal to 2")
    if len(name) > 64:
        raise _invalid("roleSessionName", name, "Member must have length less than or equal to 64")
    if not _SESSION_NAME.fullmatch(name):
        raise _invalid("roleSessionName", name,
                       "Member must satisfy regular expression pattern: [\\w+=,.@-]*")
    return name


#: The packed size limit of a session policy (STS's ``PackedPolicyTooLarge``): hsmkms counts
#: the policy's characters without whitespace against IAM's 2,048 for inline policies.
SESSION_POLICY_LIMIT = 2048


class PackedPolicyTooLarge(ClientError):
    pass


def _session_policy(params: dict[str, str]) -> str:
    """AssumeRole's ``Policy`` (an identity policy), checked; "" for none."""
    text = params.get("Policy", "")
    if not text:
        return ""
    try:
        iam.parse(text, resource_policy=False)
    except iam.MalformedPolicy as err:
        message = str(err)
        raise MalformedPolicyDocument("Syntax errors in policy." if "JSON" in message
                                      else message) from None
    packed = len(re.sub(r"\s", "", text))
    if packed > SESSION_POLICY_LIMIT:
        raise PackedPolicyTooLarge(
            f"Packed policy consumes {packed * 100 // SESSION_POLICY_LIMIT}% of allotted space, "
            "please use smaller policy for AssumeRole.")
    return text


def may_assume(caller: Principal, role_account: str, role_arn: str, trust: iam.Policy,
               policies: Sequence[iam.Policy] | None, context: dict[str, tuple[str, ...]]
               ) -> bool:
    """The trust policy and (``policies`` not None: enforce) the caller's identity policies
    (spec §3.5)."""
    request = iam.Request(identity.caller(caller), "sts:AssumeRole", role_arn,
                          {**identity.principal_keys(caller), **context})
    on_role = iam.evaluate(trust, request)
    if on_role.denied or not on_role.allows:
        return False
    if policies is None:
        return True
    mine, _session = identity.effective(caller, policies, request)
    if mine.denied:
        return False
    direct = iam.Match.DIRECT in on_role.allows and caller.account == role_account
    return direct or bool(mine.allows)


def handlers(keys: AccessKeys, roles: Roles | None = None, *,  # noqa: C901 - one closure per operation
             enforce: bool = False) -> dict[str, Handler]:
    def get_caller_identity(ctx: RequestContext, _params: dict[str, str]) -> dict[str, str]:
        principal = ctx.principal or root_principal(ctx.account)
        return {"UserId": principal.principal_id, "Account": principal.account,
                "Arn": principal.arn}

    def assume_role(ctx: RequestContext, params: dict[str, str]) -> dict[str, Any]:
        arn = params.get("RoleArn")
        if arn is None:
            raise ValidationError("1 validation error detected: Value null at 'roleArn' "
                                  "failed to satisfy constraint: Member must not be null")
        if len(arn) < 20:
            raise _invalid("roleArn", arn, "Member must have length greater than or equal to 20")
        session = _session_name(params)
        seconds = _duration(params)
        session_policy = _session_policy(params)
        caller = ctx.principal or root_principal(ctx.account)
        if caller.is_root:
            raise AccessDenied(NO_ROOT)
        refused = AccessDenied(f"User: {caller.arn} is not authorized to perform: "
                               f"sts:AssumeRole on resource: {arn}")
        found = roles.role_by_arn(arn) if roles is not None else None
        if found is None or roles is None:
            raise refused
        account, role = found
        try:
            trust = iam.parse(role.trust, resource_policy=True, resource_required=False)
        except iam.MalformedPolicy:
            raise refused from None
        context: dict[str, tuple[str, ...]] = {"sts:rolesessionname": (session,)}
        if "ExternalId" in params:
            context["sts:externalid"] = (params["ExternalId"],)
        if not may_assume(caller, account, arn, trust,
                          roles.identity_policies(caller) if enforce else None, context):
            raise refused
        if caller.type == ASSUMED_ROLE and seconds > CHAINED_MAX:
            raise ValidationError(TOO_LONG_CHAINED)
        if seconds > role.max_session:
            raise ValidationError(TOO_LONG)
        session_id = f"{role.role_id}:{session}"
        principal = Principal(
            ASSUMED_ROLE, account, f"arn:aws:sts::{account}:assumed-role/{role.name}/{session}",
            session_id, role_arn=arn, role_id=role.role_id, role_name=role.name,
            session_name=session, issued=ctx.now, session_policy=session_policy)
        akid, secret = new_access_key_id(account, "ASIA"), new_secret()
        token = base64.b64encode(os.urandom(240)).decode()
        expires = ctx.now + seconds
        keys.add_temporary(account, akid, secret, principal_arn=principal.arn,
                           session_token=token, expires=expires, issued=ctx.now,
                           principal=principal)
        return {"Credentials": {"AccessKeyId": akid, "SecretAccessKey": secret,
                                "SessionToken": token, "Expiration": _iso(expires)},
                "AssumedRoleUser": {"AssumedRoleId": session_id, "Arn": principal.arn},
                "PackedPolicySize": (len(re.sub(r"\s", "", session_policy)) * 100
                                     // SESSION_POLICY_LIMIT) if session_policy else None}

    def get_access_key_info(_ctx: RequestContext, params: dict[str, str]) -> dict[str, str]:
        akid = params.get("AccessKeyId")
        if not akid:
            raise MissingParameter("The request must contain the parameter AccessKeyId")
        if not 16 <= len(akid) <= 128 or not akid.isalnum():
            raise ValidationError(
                f"1 validation error detected: Value '{akid}' at 'accessKeyId' failed to "
                "satisfy constraint: Member must satisfy regular expression pattern: [\\w]+")
        account = keys.account_of(akid) or account_of_key_id(akid)
        if account is None:
            raise ValidationError(f"The access key id {akid} is not valid.")
        return {"Account": account}

    table: dict[str, Handler] = {"GetCallerIdentity": get_caller_identity,
                                 "GetAccessKeyInfo": get_access_key_info}
    if roles is not None:
        table["AssumeRole"] = assume_role
    return table


def register(routes: Routes, keys: AccessKeys, roles: Roles | None = None, *,
             enforce: bool = False) -> dict[str, Handler]:
    """Serve STS under the signing name ``sts`` (AssumeRole with ``roles``: IAM's); returns
    its handlers (the audited operations)."""
    table = handlers(keys, roles, enforce=enforce)

    def handle(req: HttpRequest, ctx: RequestContext, call: Exchange) -> HttpResponse:
        pairs = parse_qsl(req.query, keep_blank_values=True)
        pairs += parse_qsl(req.body.decode("utf-8", errors="replace"), keep_blank_values=True)
        params = dict(pairs)
        action = params.get("Action", "")
        handler = table.get(action)
        if handler is None:
            raise InvalidAction(f"Could not find operation {action} for version "
                                f"{params.get('Version', VERSION)}")
        call.service, call.operation = "sts", action
        call.params = {k: v for k, v in params.items() if k not in ("Action", "Version")}
        result = handler(ctx, params)
        call.result = result
        return _respond(action, result, ctx.request_id)

    routes.add_query_service("sts", handle, Style(
        error_response, lambda: InternalFailure("An internal error occurred."),
        authenticate=True))
    return table
