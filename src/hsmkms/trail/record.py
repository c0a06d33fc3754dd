"""CloudTrail records for KMS (and, more simply, CloudHSM and EC2), as pure functions of what
happened (no clock, no I/O).

The record shape follows the KMS Developer Guide's CloudTrail examples (``ct-*.html``, e.g.
ct-createkey, ct-encrypt, ct-generaterandom) and the CloudHSM key store guide's ``DeleteKey``
example. Policy lives in the tables below: which operations are read-only, which carry
``responseElements``, which request members are never logged, which defaults AWS writes into
``requestParameters`` although the caller did not send them.
"""

from __future__ import annotations

import base64
import calendar
import enum
import functools
import hashlib
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeGuard

from hsmkms.principal import ASSUMED_ROLE, ROOT, USER, Principal
from hsmkms.protocol.model import Node
from hsmkms.scope import Scope

EVENT_VERSION = "1.08"
KMS_SOURCE = "kms.amazonaws.com"
KEY_TYPE = "AWS::KMS::Key"
AWS_INTERNAL = "AWS Internal"

#: Operations CloudTrail marks ``readOnly: true`` (reads and cryptographic operations; the DG
#: examples for Encrypt, Decrypt, GenerateDataKey, GenerateRandom and DescribeKey show ``true``,
#: every create/update/delete shows ``false``).
_READ_ONLY_CRYPTO = frozenset({
    "Encrypt", "Decrypt", "ReEncrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext",
    "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext", "GenerateMac", "VerifyMac",
    "GenerateRandom", "Sign", "Verify", "DeriveSharedSecret", "Encapsulate", "Decapsulate",
})
_READ_ONLY_PREFIXES = ("Describe", "Get", "List")

#: The cryptographic operations ``GetKeyLastUsage`` reports (the model's
#: ``KeyLastUsageTrackingOperation`` enum; spec kms-keys.md §7): a successful call of one of them
#: is a use of every key its event names. GenerateRandom (no key), GetPublicKey, DescribeKey and
#: the management calls are not uses.
USAGE_OPERATIONS = frozenset({
    "Decrypt", "DeriveSharedSecret", "Encrypt", "GenerateDataKey", "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext", "GenerateDataKeyWithoutPlaintext", "GenerateMac",
    "ReEncrypt", "Sign", "Verify", "VerifyMac", "Encapsulate", "Decapsulate",
})

#: Operations whose event carries ``responseElements`` (all others: ``null``), per the DG
#: examples for CreateKey, ScheduleKeyDeletion, CancelKeyDeletion, CreateCustomKeyStore and
#: RotateKeyOnDemand.
RESPONSE_OPERATIONS = frozenset({
    "CreateKey", "ScheduleKeyDeletion", "CancelKeyDeletion", "CreateCustomKeyStore",
    "RotateKeyOnDemand",
    # DGa ct-replicate-key: replicaKeyMetadata and replicaPolicy.
    "ReplicateKey",
    # DG ct-importkeymaterial, ct-deleteimportedkeymaterial (2025 examples).
    "ImportKeyMaterial", "DeleteImportedKeyMaterial",
    "CreateGrant",  # DG ct-creategrant: {grantId}, never the token
})

#: Request members never logged, besides every member the model marks ``sensitive`` and every
#: blob (AWS logs no plaintext, ciphertext, message, signature or key material).
OMITTED = frozenset({
    "KeyStorePassword", "TrustAnchorCertificate", "Plaintext", "CiphertextBlob",
    "XksProxyAuthenticationCredential",
    # Grant tokens are never logged (spec authz.md §5.2: only CreateGrant's answer has one).
    "GrantToken", "GrantTokens",
})

#: Members AWS logs under another name (DG ct-createcustomkeystore: ``clusterId``).
RENAMED = {"CloudHsmClusterId": "clusterId"}

#: Defaults AWS writes into ``requestParameters`` when the caller left them out (DG
#: ct-createkey shows all six for a request that sent only ``Origin``; ct-encrypt and
#: ct-decrypt show ``encryptionAlgorithm``).
_SYMMETRIC = "SYMMETRIC_DEFAULT"
DEFAULTS: dict[str, dict[str, Any]] = {
    "CreateKey": {"description": "", "origin": "AWS_KMS", "bypassPolicyLockoutSafetyCheck": False,
                  "keyUsage": "ENCRYPT_DECRYPT"},
    "Encrypt": {"encryptionAlgorithm": _SYMMETRIC},
    "Decrypt": {"encryptionAlgorithm": _SYMMETRIC},
    "ReEncrypt": {"sourceEncryptionAlgorithm": _SYMMETRIC,
                  "destinationEncryptionAlgorithm": _SYMMETRIC},
    # DGa ct-sign / ct-verify show messageType RAW.
    "Sign": {"messageType": "RAW"},
    "Verify": {"messageType": "RAW"},
}

#: Request members that name a KMS key (their key ARNs become the event's resources).
KEY_MEMBERS = ("SourceKeyId", "KeyId", "TargetKeyId", "DestinationKeyId")

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_HEX = frozenset("0123456789abcdef")


def read_only(operation: str) -> bool:
    return operation in _READ_ONLY_CRYPTO or operation.startswith(_READ_ONLY_PREFIXES)


def decapitalize(name: str) -> str:
    """Java's bean rule, which CloudTrail uses: ``KeyId`` -> ``keyId``, but ``AWSAccountId``
    stays (two leading capitals; DG ct-createkey shows ``"AWSAccountId"`` in keyMetadata)."""
    if len(name) > 1 and name[0].isupper() and name[1].isupper():
        return name
    return name[:1].lower() + name[1:]


def iso_time(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def human_time(t: float) -> str:
    """Java's medium date-time style in UTC, as KMS events render timestamps inside
    request/response elements: ``Oct 14, 2021, 5:39:50 PM``."""
    g = time.gmtime(t)
    hour = g.tm_hour % 12 or 12
    half = "AM" if g.tm_hour < 12 else "PM"
    return (f"{_MONTHS[g.tm_mon - 1]} {g.tm_mday}, {g.tm_year}, "
            f"{hour}:{g.tm_min:02d}:{g.tm_sec:02d} {half}")


#: Shapes whose values CloudTrail writes as they are.
_PLAIN = frozenset({"string", "integer", "long", "boolean", "double", "float"})


@functools.cache  # compiled nodes live as long as the process, and there are few
def _loggable(node: Node, *, top: bool) -> tuple[tuple[str, str, Node | None], ...]:
    """The members of a structure CloudTrail logs: ``(name, label, node or None if plain)``."""
    plan = []
    for name, _wire, _path, child, _required in node.members:
        if child.sensitive or child.type == "blob" or name in OMITTED:
            continue
        label = (RENAMED.get(name) if top else None) or decapitalize(name)
        plan.append((name, label, None if child.type in _PLAIN else child))
    return tuple(plan)


def render(node: Node, value: Any, *, top: bool = False) -> Any:
    """A request or response value as CloudTrail writes it (lowerCamel names, no secrets;
    ``top``: the request itself, whose members may be logged under another name)."""
    kind = node.type
    if kind == "structure":
        out: dict[str, Any] = {}
        for name, label, child in _loggable(node, top=top):
            member = value.get(name)
            if member is not None:
                out[label] = member if child is None else render(child, member)
        return out
    if kind == "list":
        assert node.item is not None
        return [render(node.item, v) for v in value]
    if kind == "map":
        assert node.item is not None
        return {str(k): render(node.item, v) for k, v in value.items()}
    if kind == "timestamp":
        return human_time(float(value))
    if isinstance(value, enum.Enum):
        return value.value
    return value


def request_parameters(operation: str, node: Node | None,
                       params: Mapping[str, Any]) -> dict[str, Any] | None:
    rendered: dict[str, Any] = render(node, params, top=True) if node is not None else {}
    defaults = DEFAULTS.get(operation)
    if defaults:
        rendered = {**defaults, **rendered}
        if operation == "CreateKey":
            spec = rendered.get("keySpec") or rendered.get("customerMasterKeySpec") or _SYMMETRIC
            rendered.setdefault("customerMasterKeySpec", spec)
            rendered.setdefault("keySpec", spec)
    return rendered or None


def response_elements(operation: str, node: Node | None,
                      result: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if operation not in RESPONSE_OPERATIONS or node is None or not result:
        return None
    rendered: dict[str, Any] = render(node, result)
    return rendered or None


# -- identities and resources ------------------------------------------------------------------


def partition(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


@functools.lru_cache(maxsize=256)
def user_identity(account: str, access_key_id: str, region: str) -> tuple[dict[str, str], str]:
    """``(userIdentity, Username)`` for a caller known only by account and access key id.

    hsmkms has no IAM: a 12-digit access key id is the account's root user (LocalStack's
    convention, also used by :meth:`hsmkms.app.App.context`); any other key is an IAM user
    named after the access key id, with a stable ``AIDA...`` principal id derived from it.
    """
    iam = f"arn:{partition(region)}:iam::{account}"
    if len(access_key_id) == 12 and access_key_id.isdigit():
        return ({"type": "Root", "principalId": account, "arn": f"{iam}:root",
                 "accountId": account, "accessKeyId": access_key_id}, "root")
    name = access_key_id or "anonymous"
    digest = hashlib.sha256(f"{account}/{name}".encode()).digest()
    principal = "AIDA" + base64.b32encode(digest).decode()[:17]
    return ({"type": "IAMUser", "principalId": principal, "arn": f"{iam}:user/{name}",
             "accountId": account, "accessKeyId": access_key_id, "userName": name}, name)


def is_key_arn(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and value.startswith("arn:") and ":key/" in value


def _is_key_id(value: str) -> bool:
    body = value.removeprefix("mrk-")
    if value.startswith("mrk-"):
        return len(body) == 32 and set(body) <= _HEX
    parts = body.split("-")
    return [len(p) for p in parts] == [8, 4, 4, 4, 12] and set(body.replace("-", "")) <= _HEX


def key_arns(account: str, region: str, params: Mapping[str, Any],
             result: Mapping[str, Any] | None, noted: Iterable[str] = ()) -> list[str]:
    """The ARNs of the keys a call was about: from the answer, the request, or a note."""
    answered: list[object] = []
    if result:
        meta = result.get("KeyMetadata")
        if isinstance(meta, Mapping):
            answered.append(meta.get("Arn"))
        answered.extend(result.get(name) for name in ("SourceKeyId", "KeyId"))
    # The answer names every key it is about by ARN; only then is the request consulted
    # (answers without a key, e.g. EnableKey, TagResource, and failed calls).
    found = [a for a in answered if is_key_arn(a)]
    for name in () if found else KEY_MEMBERS:
        value = params.get(name)
        if is_key_arn(value):
            found.append(value)
        elif isinstance(value, str) and _is_key_id(value):
            found.append(f"arn:{partition(region)}:kms:{region}:{account}:key/{value}")
    found.extend(noted)
    return list(dict.fromkeys(a for a in found if is_key_arn(a)))


def resource_entries(arns: Iterable[str], account: str) -> list[dict[str, str]]:
    out = []
    for arn in arns:
        parts = arn.split(":")
        owner = parts[4] if len(parts) > 5 and parts[4] else account
        out.append({"accountId": owner, "type": KEY_TYPE, "ARN": arn})
    return out


# -- whole records -----------------------------------------------------------------------------


@dataclass(slots=True)  # not frozen: one is made per request, and frozen costs ~1 us to build
class Call:
    """One API call as the envelope saw it after its unit of work ended (raw; rendered at
    flush time)."""

    account: str
    region: str
    request_id: str
    now: float
    access_key_id: str
    source_ip: str
    user_agent: str
    operation: str
    params: Mapping[str, Any]
    result: Mapping[str, Any] | None
    error_code: str | None
    error_message: str | None
    extra: Mapping[str, Any] | None
    noted: tuple[str, ...]
    #: ``eventSource``: ``kms.amazonaws.com``, ``cloudhsm.amazonaws.com``, ``ec2.amazonaws.com``.
    source: str = KMS_SOURCE
    #: ``userIdentity`` of a verified caller (:func:`principal_identity`); None in ``--auth
    #: off``, where the access key id alone says who called (:func:`user_identity`).
    identity: Mapping[str, Any] | None = None


#: A :class:`Call`'s fields in order, as the trail buffers and hands them on (a tuple is
#: cheaper to make and to pickle than the dataclass).
CallFields = tuple[str, str, str, float, str, str, str, str, Mapping[str, Any],
                   Mapping[str, Any] | None, str | None, str | None, Mapping[str, Any] | None,
                   tuple[str, ...], str, Mapping[str, Any] | None]


@dataclass(frozen=True, slots=True)
class Event:
    """One event as stored: the columns LookupEvents filters and answers on, plus ``stored``,
    the members no column or constant gives (see :func:`expand`). Writing an event is on every
    KMS call's path, reading it is rare: the whole record is built only when it is read."""

    scope: str
    time: int
    event_id: str
    event_name: str
    read_only: str
    username: str | None
    access_key_id: str | None
    event_source: str
    resources: tuple[tuple[str, str], ...]  # (ResourceType, ResourceName)
    stored: dict[str, Any]
    #: The call's time to the microsecond (``time`` is its whole seconds, as the record shows):
    #: what GetKeyLastUsage reports as the ``Timestamp`` of a use.
    at: float = 0.0

    @property
    def record(self) -> dict[str, Any]:
        """The CloudTrail record (what ``CloudTrailEvent`` holds, as a dict)."""
        return expand(self.scope, self.time, self.event_id, self.event_name,
                      self.access_key_id, [name for _kind, name in self.resources], self.stored,
                      self.event_source)


def api_call_event(call: Call, event_id: str, input_node: Node | None,
                   output_node: Node | None) -> Event:
    if call.identity is not None:
        username = "root" if call.identity["type"] == ROOT else \
            call.identity.get("userName") or call.identity["arn"].rsplit("/", 1)[-1]
    else:
        username = user_identity(call.account, call.access_key_id, call.region)[1]
    kms = call.source == KMS_SOURCE
    query = call.source in QUERY_SOURCES
    stored: dict[str, Any] = {"ip": call.source_ip, "ua": call.user_agent,
                              "rid": call.request_id,
                              "req": (request_parameters(call.operation, input_node, call.params)
                                      if kms else query_request(call.params) if query
                                      else other_request(input_node, call.params))}
    if call.identity is not None:
        stored["who"] = dict(call.identity)
    if call.error_code is not None:
        stored["err"] = [call.error_code, call.error_message]
    else:
        stored["resp"] = (response_elements(call.operation, output_node, call.result) if kms
                          else query_response(call.operation, call.result) if query
                          else other_response(call.operation, output_node, call.result))
    if call.extra:
        stored["extra"] = dict(call.extra)
    arns = key_arns(call.account, call.region, call.params, call.result, call.noted) if kms \
        else []
    flag = _flag(value=read_only(call.operation))
    return Event(Scope.of(call.account, call.region), int(call.now), event_id, call.operation,
                 flag, username, call.access_key_id, call.source,
                 tuple((KEY_TYPE, a) for a in arns), stored, call.now)


def key_uses(event: Event) -> tuple[str, ...]:
    """The key ARNs ``event`` is a use of: those it names, if it records a successful call of a
    tracked operation (HTTP 200 only: a failed Verify or VerifyMac, a DryRun, a denied call are
    errors; spec kms-keys.md §7), else none. ReEncrypt names both keys."""
    if (event.event_name not in USAGE_OPERATIONS or event.event_source != KMS_SOURCE
            or "err" in event.stored or event.stored.get("svc")):
        return ()
    return tuple(name for _kind, name in event.resources)


def api_call_events(call: Call, event_id: Callable[[], str], input_node: Node | None,
                    output_node: Node | None) -> list[Event]:
    """The call's event in the caller's account and, when a KMS call that succeeded used
    another account's key (a grant or a key policy let it), a copy in that account: KMS logs
    cross-account calls in both accounts (not refused ones: those only in the caller's),
    the two tied by ``sharedEventID``; the owner's copy shows the caller as ``AWSAccount``
    (spec kms.md §5.1, authz.md §3.7). Likewise an STS AssumeRole of another account's role:
    the role's account logs it with the caller as ``AWSAccount`` (IAM User Guide, "Logging
    IAM and AWS STS API calls with AWS CloudTrail")."""
    event = api_call_event(call, event_id(), input_node, output_node)
    if call.error_code is not None or call.source not in (KMS_SOURCE, STS_SOURCE):
        return [event]
    if call.source == STS_SOURCE:
        role = call.params.get("RoleArn") if call.operation == "AssumeRole" else None
        parts = role.split(":") if isinstance(role, str) else []
        owners = [parts[4]] if len(parts) > 5 and parts[4] != call.account else []
    else:
        owners = sorted({arn.split(":")[4] for _kind, arn in event.resources} - {call.account})
    if not owners:
        return [event]
    shared = {**event.stored, "shared": event_id()}
    caller = call.identity or user_identity(call.account, call.access_key_id, call.region)[0]
    return [replace(event, stored=shared), *(
        replace(event, scope=Scope.of(owner, call.region), event_id=event_id(), username=None,
                access_key_id=None,
                stored={**shared, "xacct": [call.account, caller["principalId"]]})
        for owner in owners)]


#: IAM and STS (query protocol, hand-written handlers: their events are rendered from the
#: request's parameters and the handler's result, not from a model).
IAM_SOURCE, STS_SOURCE = "iam.amazonaws.com", "sts.amazonaws.com"
QUERY_SOURCES = frozenset({IAM_SOURCE, STS_SOURCE})
#: Members never logged: secrets and session tokens (AWS logs AssumeRole's session token;
#: hsmkms does not write a credential into its trail).
SECRET_MEMBERS = frozenset({"SecretAccessKey", "SessionToken"})
_TIMESTAMP_MEMBERS = frozenset({"CreateDate", "UpdateDate", "Expiration"})


def principal_identity(principal: Principal, access_key_id: str) -> dict[str, Any]:
    """``userIdentity`` of a verified caller: a root user, an IAM user or a role session
    (CloudTrail User Guide, "CloudTrail userIdentity element")."""
    identity: dict[str, Any] = {"type": principal.type, "principalId": principal.principal_id,
                                "arn": principal.arn, "accountId": principal.account,
                                "accessKeyId": access_key_id}
    if principal.type == USER:
        identity["userName"] = principal.user_name
    elif principal.type == ASSUMED_ROLE:
        identity["sessionContext"] = {
            "sessionIssuer": {"type": "Role", "principalId": principal.role_id,
                              "arn": principal.role_arn, "accountId": principal.account,
                              "userName": principal.role_name},
            "attributes": {"mfaAuthenticated": "false",
                           "creationDate": iso_time(principal.issued)}}
    return identity


def query_request(params: Mapping[str, Any]) -> dict[str, Any] | None:
    """``requestParameters`` of an IAM or STS call: its parameters in lowerCamel case
    (``userName``, ``roleArn``, ``roleSessionName``), without list members."""
    rendered = {decapitalize(k): v for k, v in params.items()
                if "." not in k and k not in SECRET_MEMBERS}
    return rendered or None


def _query_value(value: Any) -> Any:
    if isinstance(value, dict):
        return {decapitalize(k): (human_time(_parse_iso(v)) if k in _TIMESTAMP_MEMBERS
                                  and isinstance(v, str) else _query_value(v))
                for k, v in value.items() if v is not None and k not in SECRET_MEMBERS}
    if isinstance(value, list):
        return [_query_value(v) for v in value]
    return value


def _parse_iso(text: str) -> float:
    return calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ"))


def query_response(operation: str, result: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """``responseElements`` of an IAM or STS call: ``null`` for reads, else the answer in
    lowerCamel case without secrets (CreateAccessKey's secret, AssumeRole's secret and
    session token), timestamps as KMS's events write them."""
    if read_only(operation) or not result:
        return None
    rendered: dict[str, Any] = _query_value(dict(result))
    return rendered or None


def other_request(node: Node | None, params: Mapping[str, Any]) -> dict[str, Any] | None:
    """``requestParameters`` of a CloudHSM or EC2 call: the request's members in lowerCamel
    case, without sensitive members or blobs. AWS's exact shapes for these services are not
    published field by field (EC2 logs the query protocol's nested ``...Set``/``items``
    structure); hsmkms writes the members as the SDKs name them (a documented divergence)."""
    rendered: dict[str, Any] = render(node, params, top=True) if node is not None else {}
    return rendered or None


def other_response(operation: str, node: Node | None,
                   result: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """``responseElements`` of a CloudHSM or EC2 call: ``null`` for read-only calls (their
    answers are not logged), else the answer's members as :func:`other_request` writes them."""
    if read_only(operation) or node is None or not result:
        return None
    rendered: dict[str, Any] = render(node, result)
    return rendered or None


def service_event(scope: str, event_name: str, now: float, event_id: str, *,
                  resources: list[str], additional_event_data: Mapping[str, Any] | None,
                  response_elements: Mapping[str, Any] | None,
                  service_event_details: Mapping[str, Any] | None = None) -> Event:
    """An event KMS itself causes, e.g. ``DeleteKey`` at the end of the waiting period
    (field for field as the CloudHSM key store guide's DeleteKey example), or ``RotateKey``
    with its ``serviceEventDetails`` (CloudTrail user guide, "AWS service events")."""
    stored: dict[str, Any] = {"svc": True,
                              "resp": dict(response_elements) if response_elements else None}
    if additional_event_data:
        stored["extra"] = dict(additional_event_data)
    if service_event_details:
        stored["details"] = dict(service_event_details)
    arns = list(dict.fromkeys(resources))
    return Event(scope, int(now), event_id, event_name, "false", None, None, KMS_SOURCE,
                 tuple((KEY_TYPE, a) for a in arns), stored)


def _identity(account: str, region: str, access_key_id: str | None, stored: Mapping[str, Any],
              *, service: bool) -> dict[str, Any]:
    """The event's ``userIdentity``."""
    foreign = stored.get("xacct")  # the key owner's copy of another account's call
    if foreign is not None:
        identity = {"type": "AWSAccount", "principalId": foreign[1], "accountId": foreign[0]}
    elif stored.get("who"):  # a verified caller (verify/enforce)
        identity = dict(stored["who"])
    else:
        identity = ({"accountId": account, "invokedBy": AWS_INTERNAL} if service else
                    user_identity(account, access_key_id or "", region)[0])
    if stored.get("by"):  # a call made on the caller's behalf (DGa ct-update-primary-region)
        identity = {**identity, "invokedBy": stored["by"]}
    return identity


def expand(scope: str, t: int, event_id: str, event_name: str, access_key_id: str | None,
           arns: list[str], stored: Mapping[str, Any],
           source: str = KMS_SOURCE) -> dict[str, Any]:
    """The whole record of a stored event, members in the order of AWS's examples."""
    account, region = Scope(scope).parts()
    service = bool(stored.get("svc"))
    identity = _identity(account, region, access_key_id, stored, service=service)
    record: dict[str, Any] = {
        "eventVersion": EVENT_VERSION, "userIdentity": dict(identity),
        "eventTime": iso_time(t), "eventSource": source, "eventName": event_name,
        "awsRegion": region,
        "sourceIPAddress": AWS_INTERNAL if service else stored.get("ip"),
        "userAgent": AWS_INTERNAL if service else stored.get("ua"),
    }
    error = stored.get("err")
    if error is not None:
        record["errorCode"] = error[0]
        if error[1] is not None:
            record["errorMessage"] = error[1]
    record["requestParameters"] = stored.get("req")
    record["responseElements"] = stored.get("resp")
    if stored.get("extra"):
        record["additionalEventData"] = dict(stored["extra"])
    if not service:
        record["requestID"] = stored.get("rid")
    record.update({"eventID": event_id, "readOnly": False if service else read_only(event_name)})
    # DG ct-generaterandom shows "resources": [] for the one keyless operation; events of
    # other keyless operations (custom key stores, ListKeys) have no "resources" member.
    if service or arns or event_name == "GenerateRandom":
        record["resources"] = resource_entries(arns, account)
    if service:
        record.update({"eventType": "AwsServiceEvent", "recipientAccountId": account})
        if stored.get("details"):
            # AWS's examples of events with details (CloudTrail UG "AWS service events":
            # RotateKey; DG ct-deleteexpiredkeymaterial, 2025) have them here and, unlike
            # DeleteKey's, no managementEvent member.
            record["serviceEventDetails"] = dict(stored["details"])
        else:
            record["managementEvent"] = True
        record["eventCategory"] = "Management"
    else:
        record.update({"eventType": "AwsApiCall", "managementEvent": True,
                       "recipientAccountId": account})
        if stored.get("shared"):
            record["sharedEventID"] = stored["shared"]
        record["eventCategory"] = "Management"
    return record


def _flag(*, value: bool) -> str:
    return "true" if value else "false"
