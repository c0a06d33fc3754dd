"""IAM over the query protocol (``POST /`` with ``Action=<Op>&Version=2010-05-08&...``, signing
name ``iam``; spec authz.md §3.1, §3.4): request parameters in, IAM's XML out.

Answers are ``<OpResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><OpResult>...
</OpResult><ResponseMetadata><RequestId>...`` (lists of ``<member>`` elements, policy documents
URL-encoded as IAM sends them); errors ``<ErrorResponse><Error><Type>Sender</Type><Code>...``
with the error's status. In ``enforce`` a caller other than its account's root user needs an
identity policy that allows ``iam:<Op>`` on the entity's ARN (spec §4.5); root may do anything.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote

from hsmkms.auth import identity
from hsmkms.auth import policy as iam
from hsmkms.auth.sts import xml_text
from hsmkms.envelope import Exchange, Routes, Style
from hsmkms.errors import InternalFailure, ServiceError
from hsmkms.http import HttpResponse
from hsmkms.iam.directory import Directory, invalid
from hsmkms.iam.errors import AccessDenied, InvalidAction, NoSuchEntity, ValidationError
from hsmkms.iam.model import (
    DEFAULT_SESSION,
    ManagedPolicy,
    Role,
    User,
    policy_arn,
    role_arn,
    user_arn,
)
from hsmkms.principal import ASSUMED_ROLE, USER, Principal
from hsmkms.principal import root as root_principal

if TYPE_CHECKING:
    from hsmkms.context import RequestContext
    from hsmkms.http import HttpRequest

NAMESPACE = "https://iam.amazonaws.com/doc/2010-05-08/"
VERSION = "2010-05-08"
XML = "text/xml"
#: Where IAM lives (a global service): its events and its ARNs' home Region.
REGION = "us-east-1"
#: Parameters of the request itself, not of the operation.
_ENVELOPE = frozenset({"Action", "Version"})

Params = dict[str, str]
Result = dict[str, Any]
Handler = Callable[["RequestContext", Params], "Result | None"]


def iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def render(value: Any) -> str:
    """A result value as IAM's XML (dicts: members in order; lists: ``<member>`` items)."""
    if isinstance(value, dict):
        return "".join(f"<{k}>{render(v)}</{k}>" for k, v in value.items() if v is not None)
    if isinstance(value, list):
        return "".join(f"<member>{render(v)}</member>" for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return xml_text(str(value))


def respond(namespace: str, operation: str, result: Result | None,
            request_id: str) -> HttpResponse:
    inner = f"<{operation}Result>{render(result)}</{operation}Result>" if result else ""
    body = (f'<{operation}Response xmlns="{namespace}">{inner}<ResponseMetadata><RequestId>'
            f"{request_id}</RequestId></ResponseMetadata></{operation}Response>")
    return HttpResponse(200, body.encode(), [("content-type", XML),
                                             ("x-amzn-requestid", request_id)])


def error_answer(namespace: str) -> Callable[[ServiceError, RequestContext], HttpResponse]:
    def answer(err: ServiceError, ctx: RequestContext) -> HttpResponse:
        kind = "Receiver" if err.fault else "Sender"
        message = "" if err.message is None else f"<Message>{xml_text(err.message)}</Message>"
        body = (f'<ErrorResponse xmlns="{namespace}"><Error><Type>{kind}</Type>'
                f"<Code>{err.code()}</Code>{message}</Error><RequestId>{ctx.request_id}"
                "</RequestId></ErrorResponse>")
        return HttpResponse(err.status, body.encode(), [("content-type", XML),
                                                        ("x-amzn-requestid", ctx.request_id)])
    return answer


def form(req: HttpRequest) -> Params:
    pairs = parse_qsl(req.query, keep_blank_values=True)
    pairs += parse_qsl(req.body.decode("utf-8", errors="replace"), keep_blank_values=True)
    return dict(pairs)


def required(params: Params, name: str) -> str:
    value = params.get(name)
    if value is None:
        member = name[:1].lower() + name[1:]
        raise ValidationError(f"1 validation error detected: Value null at '{member}' failed "
                              "to satisfy constraint: Member must not be null")
    return value


def integer(params: Params, name: str, default: int) -> int:
    text = params.get(name)
    if text is None:
        return default
    try:
        return int(text)
    except ValueError:
        raise invalid(name[:1].lower() + name[1:], text, "Member must be an integer") from None


def page(items: list[Any], params: Params, member: str) -> Result:
    """A page of a listing (``Marker`` is the index of the page's first item)."""
    limit = integer(params, "MaxItems", 100)
    if not 1 <= limit <= 1000:
        raise invalid("maxItems", str(limit), "Member must have value between 1 and 1000")
    marker = params.get("Marker")
    start = 0
    if marker is not None:
        if not marker.isdigit() or int(marker) > len(items):
            raise ValidationError("Invalid Marker.")
        start = int(marker)
    chunk = items[start:start + limit]
    more = start + limit < len(items)
    return {member: chunk, "IsTruncated": more,
            "Marker": str(start + limit) if more else None}


# -- views ---------------------------------------------------------------------------------------


def user_view(account: str, user: User) -> Result:
    return {"Path": user.path, "UserName": user.name, "UserId": user.user_id,
            "Arn": user_arn(account, user), "CreateDate": iso(user.created)}


def role_view(account: str, role: Role) -> Result:
    return {"Path": role.path, "RoleName": role.name, "RoleId": role.role_id,
            "Arn": role_arn(account, role), "CreateDate": iso(role.created),
            "AssumeRolePolicyDocument": quote(role.trust, safe=""),
            "Description": role.description or None,
            "MaxSessionDuration": role.max_session}


def policy_view(account: str, found: ManagedPolicy) -> Result:
    return {"PolicyName": found.name, "PolicyId": found.policy_id,
            "Arn": policy_arn(account, found.path, found.name), "Path": found.path,
            "DefaultVersionId": "v1", "AttachmentCount": found.attachments,
            "PermissionsBoundaryUsageCount": 0, "IsAttachable": True,
            "Description": found.description or None,
            "CreateDate": iso(found.created), "UpdateDate": iso(found.created)}


class IamApi:
    """The handlers, each ``(ctx, params) -> result``, and what each is authorized on."""

    def __init__(self, directory: Directory) -> None:
        self.iam = directory

    # -- who the request is about ------------------------------------------------------------

    @staticmethod
    def caller(ctx: RequestContext) -> Principal:
        return ctx.principal or root_principal(ctx.account)

    def user_name(self, ctx: RequestContext, params: Params) -> str:
        """``UserName``, else the calling IAM user's (GetUser, CreateAccessKey, ...)."""
        name = params.get("UserName")
        if name is not None:
            return name
        principal = self.caller(ctx)
        if principal.type == USER:
            return principal.user_name
        if principal.type == ASSUMED_ROLE:
            raise ValidationError("Must specify userName when calling with non-User "
                                  "credentials")
        raise ValidationError("hsmkms: the root user's access keys come from the server's "
                              "configuration; name an IAM user (UserName)")

    def resource(self, ctx: RequestContext, operation: str, params: Params) -> str:  # noqa: PLR0911 - one ARN per kind of entity
        """The ARN an operation is authorized on (spec §4.5: the entity's)."""
        account = ctx.account
        if operation in ("ListUsers", "ListRoles", "ListPolicies"):
            noun = {"ListUsers": "user", "ListRoles": "role", "ListPolicies": "policy"}[operation]
            return f"arn:aws:iam::{account}:{noun}/"
        if "PolicyArn" in params and "UserName" not in params and "RoleName" not in params:
            return params["PolicyArn"]
        if operation == "CreatePolicy":
            return policy_arn(account, params.get("Path", "/"), params.get("PolicyName", ""))
        if "RoleName" in params:
            name = params["RoleName"]
            found = self.iam.roles_named(account, name)
            return role_arn(account, found) if found is not None else \
                f"arn:aws:iam::{account}:role{params.get('Path', '/')}{name}"
        if operation == "GetUser" and "UserName" not in params and \
                self.caller(ctx).type != USER:
            return self.caller(ctx).arn
        wanted = params.get("UserName")
        if wanted is None:
            return self.caller(ctx).arn if self.caller(ctx).type == USER else "*"
        user = self.iam.users_named(account, wanted)
        return user_arn(account, user) if user is not None else \
            f"arn:aws:iam::{account}:user{params.get('Path', '/')}{wanted}"

    def handlers(self) -> dict[str, Handler]:
        return {
            "CreateUser": self.create_user, "GetUser": self.get_user,
            "ListUsers": self.list_users, "DeleteUser": self.delete_user,
            "CreateAccessKey": self.create_access_key, "ListAccessKeys": self.list_access_keys,
            "UpdateAccessKey": self.update_access_key, "DeleteAccessKey": self.delete_access_key,
            "CreateRole": self.create_role, "GetRole": self.get_role,
            "ListRoles": self.list_roles, "DeleteRole": self.delete_role,
            "UpdateAssumeRolePolicy": self.update_assume_role_policy,
            "PutUserPolicy": self.put_policy("user"), "PutRolePolicy": self.put_policy("role"),
            "GetUserPolicy": self.get_policy_of("user"),
            "GetRolePolicy": self.get_policy_of("role"),
            "ListUserPolicies": self.list_inline("user"),
            "ListRolePolicies": self.list_inline("role"),
            "DeleteUserPolicy": self.delete_inline("user"),
            "DeleteRolePolicy": self.delete_inline("role"),
            "CreatePolicy": self.create_policy, "GetPolicy": self.get_policy,
            "GetPolicyVersion": self.get_policy_version, "ListPolicies": self.list_policies,
            "DeletePolicy": self.delete_policy,
            "AttachUserPolicy": self.attach("user"), "AttachRolePolicy": self.attach("role"),
            "DetachUserPolicy": self.detach("user"), "DetachRolePolicy": self.detach("role"),
            "ListAttachedUserPolicies": self.list_attached("user"),
            "ListAttachedRolePolicies": self.list_attached("role"),
        }

    # -- users -------------------------------------------------------------------------------

    def create_user(self, ctx: RequestContext, params: Params) -> Result:
        user = self.iam.create_user(ctx.account, required(params, "UserName"),
                                    params.get("Path", "/"), ctx.now)
        return {"User": user_view(ctx.account, user)}

    def get_user(self, ctx: RequestContext, params: Params) -> Result:
        principal = self.caller(ctx)
        if "UserName" not in params and principal.is_root:
            return {"User": {"UserId": ctx.account, "Arn": principal.arn,
                             "CreateDate": iso(ctx.now)}}
        user = self.iam.user(ctx.account, self.user_name(ctx, params))
        return {"User": user_view(ctx.account, user)}

    def list_users(self, ctx: RequestContext, params: Params) -> Result:
        users = self.iam.users(ctx.account, params.get("PathPrefix", "/"))
        return page([user_view(ctx.account, u) for u in users], params, "Users")

    def delete_user(self, ctx: RequestContext, params: Params) -> None:
        self.iam.delete_user(ctx.account, required(params, "UserName"))

    # -- access keys -------------------------------------------------------------------------

    def create_access_key(self, ctx: RequestContext, params: Params) -> Result:
        key, secret = self.iam.create_access_key(ctx.account, self.user_name(ctx, params),
                                                 ctx.now)
        return {"AccessKey": {"UserName": key.user_name, "AccessKeyId": key.access_key_id,
                              "Status": "Active", "SecretAccessKey": secret,
                              "CreateDate": iso(key.created)}}

    def list_access_keys(self, ctx: RequestContext, params: Params) -> Result:
        user = self.iam.user(ctx.account, self.user_name(ctx, params))
        keys = [{"UserName": k.user_name, "AccessKeyId": k.access_key_id,
                 "Status": "Active" if k.active else "Inactive", "CreateDate": iso(k.created)}
                for k in self.iam.keys_of(ctx.account, user.name)]
        return page(keys, params, "AccessKeyMetadata")

    def update_access_key(self, ctx: RequestContext, params: Params) -> None:
        self.iam.update_access_key(ctx.account, self.user_name(ctx, params),
                                   required(params, "AccessKeyId"), required(params, "Status"))

    def delete_access_key(self, ctx: RequestContext, params: Params) -> None:
        self.iam.delete_access_key(ctx.account, self.user_name(ctx, params),
                                   required(params, "AccessKeyId"))

    # -- roles -------------------------------------------------------------------------------

    def create_role(self, ctx: RequestContext, params: Params) -> Result:
        role = self.iam.create_role(
            ctx.account, required(params, "RoleName"), params.get("Path", "/"),
            required(params, "AssumeRolePolicyDocument"), ctx.now,
            description=params.get("Description", ""),
            max_session=integer(params, "MaxSessionDuration", DEFAULT_SESSION))
        return {"Role": role_view(ctx.account, role)}

    def get_role(self, ctx: RequestContext, params: Params) -> Result:
        role = self.iam.role(ctx.account, required(params, "RoleName"))
        return {"Role": role_view(ctx.account, role)}

    def list_roles(self, ctx: RequestContext, params: Params) -> Result:
        roles = self.iam.roles(ctx.account, params.get("PathPrefix", "/"))
        return page([role_view(ctx.account, r) for r in roles], params, "Roles")

    def delete_role(self, ctx: RequestContext, params: Params) -> None:
        self.iam.delete_role(ctx.account, required(params, "RoleName"))

    def update_assume_role_policy(self, ctx: RequestContext, params: Params) -> None:
        self.iam.update_trust(ctx.account, required(params, "RoleName"),
                              required(params, "PolicyDocument"))

    # -- inline policies ---------------------------------------------------------------------

    @staticmethod
    def _owner(kind: str) -> str:
        return "UserName" if kind == "user" else "RoleName"

    def put_policy(self, kind: str) -> Handler:
        def put(ctx: RequestContext, params: Params) -> None:
            self.iam.put_inline(ctx.account, kind, required(params, self._owner(kind)),
                                required(params, "PolicyName"),
                                required(params, "PolicyDocument"))
        return put

    def get_policy_of(self, kind: str) -> Handler:
        def get(ctx: RequestContext, params: Params) -> Result:
            owner = required(params, self._owner(kind))
            name = required(params, "PolicyName")
            document = self.iam.inline(ctx.account, kind, owner, name)
            return {self._owner(kind): owner, "PolicyName": name,
                    "PolicyDocument": quote(document, safe="")}
        return get

    def list_inline(self, kind: str) -> Handler:
        def listing(ctx: RequestContext, params: Params) -> Result:
            names = self.iam.inline_names(ctx.account, kind, required(params, self._owner(kind)))
            return page(names, params, "PolicyNames")
        return listing

    def delete_inline(self, kind: str) -> Handler:
        def delete(ctx: RequestContext, params: Params) -> None:
            self.iam.delete_inline(ctx.account, kind, required(params, self._owner(kind)),
                                   required(params, "PolicyName"))
        return delete

    # -- managed policies --------------------------------------------------------------------

    def create_policy(self, ctx: RequestContext, params: Params) -> Result:
        found = self.iam.create_policy(ctx.account, required(params, "PolicyName"),
                                       params.get("Path", "/"),
                                       required(params, "PolicyDocument"), ctx.now,
                                       params.get("Description", ""))
        return {"Policy": policy_view(ctx.account, found)}

    def get_policy(self, _ctx: RequestContext, params: Params) -> Result:
        account, found = self.iam.policy(required(params, "PolicyArn"))
        return {"Policy": policy_view(account, found)}

    def get_policy_version(self, _ctx: RequestContext, params: Params) -> Result:
        arn = required(params, "PolicyArn")
        version = required(params, "VersionId")
        _account, found = self.iam.policy(arn)
        if version != "v1":
            raise NoSuchEntity(f"Policy {arn} version {version} does not exist or is not "
                               "attachable.")
        return {"PolicyVersion": {"Document": quote(found.document, safe=""),
                                  "VersionId": "v1", "IsDefaultVersion": True,
                                  "CreateDate": iso(found.created)}}

    def list_policies(self, ctx: RequestContext, params: Params) -> Result:
        scope = params.get("Scope", "All")
        if scope not in ("All", "AWS", "Local"):
            raise invalid("scope", scope, "Member must satisfy enum value set: [All, AWS, Local]")
        found = [] if scope == "AWS" else self.iam.policies(
            ctx.account, params.get("PathPrefix", "/"),
            only_attached=params.get("OnlyAttached") == "true")
        return page([policy_view(ctx.account, p) for p in found], params, "Policies")

    def delete_policy(self, _ctx: RequestContext, params: Params) -> None:
        self.iam.delete_policy(required(params, "PolicyArn"))

    def attach(self, kind: str) -> Handler:
        def attach(ctx: RequestContext, params: Params) -> None:
            self.iam.attach(ctx.account, kind, required(params, self._owner(kind)),
                            required(params, "PolicyArn"))
        return attach

    def detach(self, kind: str) -> Handler:
        def detach(ctx: RequestContext, params: Params) -> None:
            self.iam.detach(ctx.account, kind, required(params, self._owner(kind)),
                            required(params, "PolicyArn"))
        return detach

    def list_attached(self, kind: str) -> Handler:
        def listing(ctx: RequestContext, params: Params) -> Result:
            found = [{"PolicyName": n, "PolicyArn": a} for n, a in self.iam.attached(
                ctx.account, kind, required(params, self._owner(kind)))]
            return page(found, params, "AttachedPolicies")
        return listing


def authorize(principal: Principal, action: str, resource: str,
              policies: identity.IdentityPolicies, context: dict[str, tuple[str, ...]]) -> None:
    """Enforce: a caller other than root needs an identity policy allowing ``action``."""
    if principal.is_root:
        return
    request = iam.Request(identity.caller(principal), action, resource,
                          {**identity.principal_keys(principal), **context})
    outcome, session = identity.effective(principal, policies(principal), request)
    message = identity.refusal(principal, action, resource, outcome, session=session)
    if message is not None:
        raise AccessDenied(message)


def register(routes: Routes, directory: Directory, *, enforce: bool) -> dict[str, Handler]:
    """Serve IAM under the signing name ``iam``; returns its handlers (the audited
    operations)."""
    api = IamApi(directory)
    table = api.handlers()

    def handle(req: HttpRequest, ctx: RequestContext, call: Exchange) -> HttpResponse:
        params = form(req)
        action = params.get("Action", "")
        handler = table.get(action)
        if handler is None:
            raise InvalidAction(f"Could not find operation {action} for version "
                                f"{params.get('Version', VERSION)}")
        ctx.region = REGION
        call.service, call.operation = "iam", action
        call.params = {k: v for k, v in params.items() if k not in _ENVELOPE}
        if enforce:
            authorize(api.caller(ctx), "iam:" + action, api.resource(ctx, action, params),
                      directory.identity_policies, {})
        result = handler(ctx, params)
        call.result = result
        return respond(NAMESPACE, action, result, ctx.request_id)

    routes.add_query_service("iam", handle, Style(
        error_answer(NAMESPACE), lambda: InternalFailure("An internal error occurred."),
        authenticate=True))
    return table
