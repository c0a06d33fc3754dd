"""Describe* filters and pagination, as tables over the rendered views.

Semantics (EC2 user guide, Using_Filtering): the values of one filter are OR-ed, different
filters AND-ed; matching is case sensitive; ``*`` matches any run of characters, ``?`` one
character or none, and ``\\`` escapes them. An unknown filter name is
``InvalidParameterValue: The filter '<name>' is invalid``; filters never raise NotFound.

A filter is a path into the view: ``Groups[].GroupId`` collects every group id.
"""

from __future__ import annotations

import functools
from typing import Any

from hsmkms import pagination
from hsmkms.ec2 import errors as e

MAX_VALUE = 255

VPC = {"vpc-id": "VpcId", "cidr": "CidrBlock", "cidr-block-association.cidr-block":
       "CidrBlockAssociationSet[].CidrBlock", "cidr-block-association.association-id":
       "CidrBlockAssociationSet[].AssociationId", "cidr-block-association.state":
       "CidrBlockAssociationSet[].CidrBlockState.State", "is-default": "IsDefault",
       "state": "State", "owner-id": "OwnerId", "dhcp-options-id": "DhcpOptionsId"}

SUBNET = {"vpc-id": "VpcId", "subnet-id": "SubnetId", "availability-zone": "AvailabilityZone",
          "availabilityZone": "AvailabilityZone", "availability-zone-id": "AvailabilityZoneId",
          "availabilityZoneId": "AvailabilityZoneId",
          "available-ip-address-count": "AvailableIpAddressCount",
          "cidr-block": "CidrBlock", "cidr": "CidrBlock", "cidrBlock": "CidrBlock",
          "default-for-az": "DefaultForAz", "defaultForAz": "DefaultForAz", "state": "State",
          "map-public-ip-on-launch": "MapPublicIpOnLaunch", "owner-id": "OwnerId",
          "subnet-arn": "SubnetArn"}

ENI = {"subnet-id": "SubnetId", "vpc-id": "VpcId", "description": "Description",
       "group-id": "Groups[].GroupId", "group-name": "Groups[].GroupName", "status": "Status",
       "requester-managed": "RequesterManaged", "requester-id": "RequesterId",
       "private-ip-address": "PrivateIpAddress",
       "addresses.private-ip-address": "PrivateIpAddresses[].PrivateIpAddress",
       "addresses.primary": "PrivateIpAddresses[].Primary",
       "private-dns-name": "PrivateDnsName", "availability-zone": "AvailabilityZone",
       "availability-zone-id": "AvailabilityZoneId", "interface-type": "InterfaceType",
       "attachment.attachment-id": "Attachment.AttachmentId",
       "attachment.instance-id": "Attachment.InstanceId",
       "attachment.instance-owner-id": "Attachment.InstanceOwnerId",
       "attachment.status": "Attachment.Status",
       "attachment.delete-on-termination": "Attachment.DeleteOnTermination",
       "network-interface-id": "NetworkInterfaceId", "owner-id": "OwnerId",
       "mac-address": "MacAddress", "source-dest-check": "SourceDestCheck",
       "operator.managed": "Operator.Managed", "operator.principal": "Operator.Principal"}

SECURITY_GROUP = {
    "group-id": "GroupId", "group-name": "GroupName", "vpc-id": "VpcId",
    "description": "Description", "owner-id": "OwnerId",
    **{f"{prefix}ip-permission.{name}": f"{member}[].{path}"
       for prefix, member in (("", "IpPermissions"), ("egress.", "IpPermissionsEgress"))
       for name, path in (("protocol", "IpProtocol"), ("from-port", "FromPort"),
                          ("to-port", "ToPort"), ("group-id", "UserIdGroupPairs[].GroupId"),
                          ("user-id", "UserIdGroupPairs[].UserId"),
                          ("cidr", "IpRanges[].CidrIp"),
                          ("prefix-list-id", "PrefixListIds[].PrefixListId"))}}

ZONE = {"zone-name": "ZoneName", "zone-id": "ZoneId", "region-name": "RegionName",
        "state": "State", "zone-type": "ZoneType", "group-name": "GroupName",
        "opt-in-status": "OptInStatus", "message": "Messages[].Message",
        "network-border-group": "NetworkBorderGroup"}


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def values_at(view: Any, path: str) -> list[str]:
    """All values at ``path`` (``A.B``, ``A[].B``) of a view, as strings."""
    current = [view]
    for step in path.split("."):
        many = step.endswith("[]")
        key = step.removesuffix("[]")
        found: list[Any] = []
        for item in current:
            value = item.get(key) if isinstance(item, dict) else None
            if value is None:
                continue
            found.extend(value if many else [value])
        current = found
    return [_text(v) for v in current]


class Pattern:
    """An EC2 filter value, matched by simulating its automaton with one bit per position
    (bit-parallel), so no value can make matching slow however many ``*`` it has (a regex
    could backtrack for ages on ``*a*a*a...``)."""

    __slots__ = ("end", "eps", "literal", "lits", "star")

    def __init__(self, text: str) -> None:
        self.star = self.eps = 0
        self.lits: dict[str, int] = {}
        chars: list[str] = []
        wild, position, i = False, 0, 0
        while i < len(text):
            char = text[i]
            if char == "\\" and i + 1 < len(text) and text[i + 1] in "*?\\":
                char, i = text[i + 1], i + 1
            elif char in "*?":
                wild = True
                self.eps |= 1 << position
                self.star |= (1 << position) if char == "*" else 0
                position, i = position + 1, i + 1
                continue
            chars.append(char)
            self.lits[char] = self.lits.get(char, 0) | (1 << position)
            position, i = position + 1, i + 1
        self.end = 1 << position
        self.literal = None if wild else "".join(chars)

    def _closure(self, states: int) -> int:
        while True:
            grown = states | ((states & self.eps) << 1)
            if grown == states:
                return states
            states = grown

    def fullmatch(self, text: str) -> bool:
        if self.literal is not None:
            return text == self.literal
        states = self._closure(1)
        for char in text:
            moved = (states & self.star) | ((states & ((self.eps & ~self.star)
                                                       | self.lits.get(char, 0))) << 1)
            if not moved:
                return False
            states = self._closure(moved)
        return bool(states & self.end)


@functools.lru_cache(maxsize=512)
def _pattern(text: str) -> Pattern:
    return Pattern(text)


def _path(table: dict[str, str], name: str, tags_member: str) -> str:
    if name.startswith("tag:") and len(name) > len("tag:"):
        return ""  # handled by _tag_values
    if name == "tag-key":
        return f"{tags_member}[].Key"
    path = table.get(name)
    if path is None:
        raise e.InvalidParameterValue(f"The filter '{name}' is invalid")
    return path


def _candidates(view: dict[str, Any], name: str, path: str, tags_member: str) -> list[str]:
    if path:
        return values_at(view, path)
    key = name[len("tag:"):]
    return [t["Value"] for t in view.get(tags_member) or [] if t["Key"] == key]


def apply(views: list[dict[str, Any]], filters: list[dict[str, Any]] | None,
          table: dict[str, str], tags_member: str = "Tags") -> list[dict[str, Any]]:
    """The views every filter matches (unknown names and over-long values raise first)."""
    checked = []
    for flt in filters or []:
        name = flt.get("Name") or "null"
        path = _path(table, name, tags_member)
        wanted = flt.get("Values") or []
        if any(len(v) > MAX_VALUE for v in wanted):
            raise e.FilterLimitExceeded(
                f"The maximum length for a filter value is {MAX_VALUE} characters")
        checked.append((name, path, [_pattern(v) for v in wanted]))
    return [v for v in views if all(
        any(p.fullmatch(c) for p in patterns for c in _candidates(v, name, path, tags_member))
        for name, path, patterns in checked)]


# -- pagination ---------------------------------------------------------------------------

MIN_RESULTS, MAX_RESULTS = 5, 1000


def page(views: list[Any], max_results: int | None,
         token: str | None) -> tuple[list[Any], str | None]:
    """One page and the next token (``None`` on the last page); tokens are opaque positions in
    the listing (:mod:`hsmkms.pagination`)."""
    token = token or None
    if max_results is None and token is None:
        return views, None
    size = MAX_RESULTS if max_results is None else max_results
    if token is not None:
        _check_token(token)
    if not MIN_RESULTS <= size <= MAX_RESULTS:
        raise e.InvalidParameterValue(
            f"Value ( {size} ) for parameter maxResults is invalid. Expecting a value "
            f"between {MIN_RESULTS} and {MAX_RESULTS}.")
    try:
        chunk, after = pagination.page(list(enumerate(views)), size, token, _position, TOKENS)
    except pagination.InvalidToken:
        raise e.InvalidNextToken(f"The token '{token}' is invalid") from None
    return [view for _i, view in chunk], after


TOKENS = pagination.Tokens("hsmkms-ec2:")


def _position(indexed: tuple[int, Any]) -> str:
    return f"{indexed[0]:08d}"


def _check_token(token: str) -> None:
    """A bad token is refused before the page size is checked (as before)."""
    try:
        TOKENS.decode(token)
    except pagination.InvalidToken:
        raise e.InvalidNextToken(f"The token '{token}' is invalid") from None
