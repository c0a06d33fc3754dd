"""CloudTrail ``LookupEvents`` (API reference: API_LookupEvents): the event history of the
caller's account and Region, last 90 days, newest first. Other CloudTrail operations answer
the engine's ``NotImplementedYetException``."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import TYPE_CHECKING, Any

from hsmkms.protocol.awsjson import JsonService
from hsmkms.trail.errors import (
    InvalidLookupAttributesException,
    InvalidMaxResultsException,
    InvalidNextTokenException,
    InvalidTimeRangeException,
)
from hsmkms.trail.log import COLUMNS, RESOURCE_COLUMNS, Query

if TYPE_CHECKING:
    from collections.abc import Callable

    from hsmkms.context import RequestContext
    from hsmkms.trail.log import Row
    from hsmkms.trail.service import Trail

WINDOW = 90 * 86400  # "events that occurred in a Region within the last 90 days"
MAX_RESULTS = 50
MAX_VALUE = 2000
#: "Underscores, spaces, commas and new lines count as two characters" toward the 2,000.
_DOUBLE = frozenset("_ ,\n")
#: Insights events can be looked up by these attributes only.
_INSIGHT_KEYS = frozenset({"EventId", "EventName", "EventSource"})


def build(trail: Trail, now: Callable[[], float]) -> JsonService:
    def lookup_events(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        attribute = _attribute(p)
        limit = _max_results(p)
        start, end = p.get("StartTime"), p.get("EndTime")
        if start is not None and end is not None and start > end:
            raise InvalidTimeRangeException("Start time must not be after end time.")
        after = _after(p, ctx.scope)
        if p.get("EventCategory") == "insight":
            return {"Events": []}  # hsmkms records no Insights events
        lowest = now() - WINDOW
        query = Query(ctx.scope, lowest if start is None else max(start, lowest),
                      float("inf") if end is None else end, attribute, after, limit + 1)
        rows = trail.lookup(query)
        out: dict[str, Any] = {"Events": [_event(r) for r in rows[:limit]]}
        if len(rows) > limit:
            last = rows[limit - 1]
            out["NextToken"] = _token(last.time, last.seq, _digest(p, ctx.scope))
        return out

    service = JsonService("cloudtrail", {"LookupEvents": lookup_events})
    service.message_member = "Message"  # CloudTrail's errors carry "Message"
    _check_ranges_ourselves(service)
    return service


def _check_ranges_ourselves(service: JsonService) -> None:
    """CloudTrail answers its own modelled errors (InvalidMaxResults, InvalidLookupAttributes)
    for out-of-range values, not the generic ValidationException the engine would send: lift
    those two constraints from this service's own compiled nodes and check them here."""
    op = service.operations["LookupEvents"]
    assert op.input is not None
    for name, _wire, _path, node, _required in op.input.members:
        if name == "MaxResults":
            node.min = node.max = None
        elif name == "LookupAttributes" and node.item is not None:
            for member, _w, _p, child, _r in node.item.members:
                if member == "AttributeValue":
                    child.min = child.max = None


def _attribute(p: dict[str, Any]) -> tuple[str, str] | None:
    attrs = p.get("LookupAttributes") or []
    if len(attrs) > 1:
        raise InvalidLookupAttributesException(
            "You can specify only one lookup attribute per request.")
    if not attrs:
        return None
    key, value = attrs[0]["AttributeKey"], attrs[0]["AttributeValue"]
    if not value or len(value) + sum(c in _DOUBLE for c in value) > MAX_VALUE:
        raise InvalidLookupAttributesException(
            f"The value of lookup attribute {key} must be between 1 and {MAX_VALUE} "
            "characters long.")
    if p.get("EventCategory") == "insight" and key not in _INSIGHT_KEYS:
        raise InvalidLookupAttributesException(
            f"Lookup attribute {key} is not supported for Insights events.")
    assert key in COLUMNS or key in RESOURCE_COLUMNS  # the engine checked the enum
    return key, value


def _max_results(p: dict[str, Any]) -> int:
    value = p.get("MaxResults", MAX_RESULTS)
    if not 1 <= value <= MAX_RESULTS:
        raise InvalidMaxResultsException(f"MaxResults must be between 1 and {MAX_RESULTS}.")
    return int(value)


def _digest(p: dict[str, Any], scope: str) -> str:
    """What a NextToken is bound to: the request's parameters (except the page size)."""
    basis = [scope, p.get("LookupAttributes"), p.get("StartTime"), p.get("EndTime"),
             p.get("EventCategory")]
    return hashlib.sha256(json.dumps(basis, sort_keys=True).encode()).hexdigest()[:16]


def _token(t: int, seq: int, digest: str) -> str:
    raw = json.dumps({"t": t, "s": seq, "h": digest}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _after(p: dict[str, Any], scope: str) -> tuple[int, int] | None:
    token = p.get("NextToken")
    if token is None:
        return None
    try:
        doc = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        t, seq, digest = doc["t"], doc["s"], doc["h"]
    except (binascii.Error, ValueError, TypeError, KeyError):
        doc = None
    if doc is None or not _small_int(t) or not _small_int(seq) or digest != _digest(p, scope):
        raise InvalidNextTokenException(
            "Invalid NextToken: it must come from a previous LookupEvents call with the "
            "same parameters.")
    return t, seq


def _small_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**62


def _event(row: Row) -> dict[str, Any]:
    return {
        "EventId": row.event_id, "EventName": row.event_name, "ReadOnly": row.read_only,
        "AccessKeyId": row.access_key_id or None, "EventTime": float(row.time),
        "EventSource": row.event_source, "Username": row.username,
        "Resources": [{"ResourceType": kind, "ResourceName": name}
                      for kind, name in row.resources],
        "CloudTrailEvent": row.body,
    }
