"""The start of STS (query protocol, ``2011-06-15``), served in ``--auth verify|enforce``:
``GetCallerIdentity`` (who signed: the account's root for a root key) and ``GetAccessKeyInfo``
(the account of a key id). Spec authz.md §3.1, §3.4, §3.6.

Answers are STS's XML (``<OpResponse><OpResult>...</OpResult><ResponseMetadata>...``); errors
``<ErrorResponse><Error><Type>Sender</Type><Code>...``; authentication failures are the query
protocol's (``InvalidClientTokenId``, ``SignatureDoesNotMatch``, 403), raised by the app's
authenticator before the handler runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from hsmkms.auth.credentials import AccessKeys, account_of_key_id
from hsmkms.envelope import Exchange, Routes, Style
from hsmkms.errors import ClientError, InternalFailure, ServiceError
from hsmkms.http import HttpRequest, HttpResponse

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


Handler = Callable[["RequestContext", dict[str, str]], dict[str, str]]


def _respond(operation: str, result: dict[str, str], request_id: str) -> HttpResponse:
    fields = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in result.items())
    body = (f'<{operation}Response xmlns="{NAMESPACE}"><{operation}Result>{fields}'
            f"</{operation}Result><ResponseMetadata><RequestId>{request_id}</RequestId>"
            f"</ResponseMetadata></{operation}Response>")
    return HttpResponse(200, body.encode(), [("content-type", XML),
                                             ("x-amzn-requestid", request_id)])


def error_response(err: ServiceError, ctx: RequestContext) -> HttpResponse:
    kind = "Receiver" if err.fault else "Sender"
    message = "" if err.message is None else f"<Message>{escape(err.message)}</Message>"
    body = (f'<ErrorResponse xmlns="{NAMESPACE}"><Error><Type>{kind}</Type>'
            f"<Code>{err.code()}</Code>{message}</Error><RequestId>{ctx.request_id}"
            "</RequestId></ErrorResponse>")
    return HttpResponse(err.status, body.encode(), [("content-type", XML),
                                                    ("x-amzn-requestid", ctx.request_id)])


def handlers(keys: AccessKeys) -> dict[str, Handler]:
    def get_caller_identity(ctx: RequestContext, _params: dict[str, str]) -> dict[str, str]:
        key = keys.get(ctx.access_key_id)
        arn = key.principal_arn if key is not None else f"arn:aws:iam::{ctx.account}:root"
        return {"UserId": ctx.account, "Account": ctx.account, "Arn": arn}

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

    return {"GetCallerIdentity": get_caller_identity, "GetAccessKeyInfo": get_access_key_info}


def register(routes: Routes, keys: AccessKeys) -> None:
    """Serve STS under the signing name ``sts``."""
    table = handlers(keys)

    def handle(req: HttpRequest, ctx: RequestContext, _call: Exchange) -> HttpResponse:
        pairs = parse_qsl(req.query, keep_blank_values=True)
        pairs += parse_qsl(req.body.decode("utf-8", errors="replace"), keep_blank_values=True)
        params = dict(pairs)
        action = params.get("Action", "")
        handler = table.get(action)
        if handler is None:
            raise InvalidAction(f"Could not find operation {action} for version "
                                f"{params.get('Version', VERSION)}")
        return _respond(action, handler(ctx, params), ctx.request_id)

    routes.add_query_service("sts", handle, Style(
        error_response, lambda: InternalFailure("An internal error occurred."),
        authenticate=True))
