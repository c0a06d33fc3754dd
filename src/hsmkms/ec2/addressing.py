"""Availability Zones, CIDR arithmetic and AWS-format identifiers (pure functions).

Facts: spec ec2.md §4. Five addresses of every subnet are reserved: the network address, +1
(VPC router), +2 (DNS), +3 (future use) and the last one (AWS VPC user guide, subnet-sizing).
Subnets and VPCs are /16 to /28.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

RESERVED_LOW = 4  # network, router, DNS, future use
MIN_PREFIX, MAX_PREFIX = 16, 28
DEFAULT_VPC_CIDR = "172.31.0.0/16"
DEFAULT_SUBNET_PREFIX = 20

#: A valid per-account AZ name -> AZ ID mapping for the Regions users mostly pick (spec §4.4).
_AZ_IDS: dict[str, dict[str, str]] = {
    "us-east-1": {"a": "use1-az6", "b": "use1-az1", "c": "use1-az2", "d": "use1-az4",
                  "e": "use1-az3", "f": "use1-az5"},
    "us-east-2": {"a": "use2-az1", "b": "use2-az2", "c": "use2-az3"},
    "us-west-1": {"a": "usw1-az3", "b": "usw1-az1"},
    "us-west-2": {"a": "usw2-az2", "b": "usw2-az1", "c": "usw2-az3", "d": "usw2-az4"},
    "eu-west-1": {"a": "euw1-az3", "b": "euw1-az1", "c": "euw1-az2"},
    "eu-central-1": {"a": "euc1-az1", "b": "euc1-az2", "c": "euc1-az3"},
    "ap-southeast-1": {"a": "apse1-az1", "b": "apse1-az2", "c": "apse1-az3"},
    "ap-northeast-1": {"a": "apne1-az4", "c": "apne1-az1", "d": "apne1-az2"},
}
_DIRECTIONS = {"east": "e", "west": "w", "north": "n", "south": "s", "central": "c",
               "northeast": "ne", "northwest": "nw", "southeast": "se", "southwest": "sw"}


def region_code(region: str) -> str:
    """``eu-west-2`` -> ``euw2`` (the prefix of AZ IDs)."""
    parts = region.split("-")
    if len(parts) < 3:  # geo-direction-number
        return region.replace("-", "")
    middle = "".join(_DIRECTIONS.get(p, p[:1]) for p in parts[1:-1])
    return parts[0] + middle + parts[-1]


def zones(region: str) -> dict[str, str]:
    """AZ name -> AZ ID, in name order. Unknown Regions get a, b, c with a uniform mapping."""
    table = _AZ_IDS.get(region) or {"a": "", "b": "", "c": ""}
    code = region_code(region)
    return {f"{region}{letter}": zone_id or f"{code}-az{i}"
            for i, (letter, zone_id) in enumerate(table.items(), 1)}


def parse_cidr(text: str) -> ipaddress.IPv4Network | None:
    """A canonical IPv4 network (host bits cleared: ``10.0.0.18/18`` -> ``10.0.0.0/18``)."""
    if "/" not in text:
        return None
    try:
        return ipaddress.IPv4Network(text, strict=False)
    except (ValueError, TypeError):
        return None


def parse_ip(text: str) -> ipaddress.IPv4Address | None:
    try:
        return ipaddress.IPv4Address(text)
    except (ValueError, TypeError):
        return None


def usable_count(cidr: str) -> int:
    return ipaddress.IPv4Network(cidr).num_addresses - RESERVED_LOW - 1


def is_reserved(cidr: str, address: ipaddress.IPv4Address) -> bool:
    net = ipaddress.IPv4Network(cidr)
    offset = int(address) - int(net.network_address)
    return offset < RESERVED_LOW or address == net.broadcast_address


def lowest_free(cidr: str, used: Iterable[str]) -> str | None:
    """The lowest assignable address of ``cidr`` not in ``used`` (spec §7.8: deterministic)."""
    net = ipaddress.IPv4Network(cidr)
    taken = {int(ipaddress.IPv4Address(u)) for u in used}
    first = int(net.network_address) + RESERVED_LOW
    last = int(net.broadcast_address) - 1
    for candidate in range(first, last + 1):
        if candidate not in taken:
            return str(ipaddress.IPv4Address(candidate))
    return None


def default_subnet_cidrs(count: int) -> list[str]:
    """``172.31.0.0/20``, ``172.31.16.0/20``, ... (the default VPC's per-AZ subnets)."""
    subnets = ipaddress.IPv4Network(DEFAULT_VPC_CIDR).subnets(new_prefix=DEFAULT_SUBNET_PREFIX)
    return [str(net) for _, net in zip(range(count), subnets, strict=False)]



def private_dns_name(region: str, address: str) -> str:
    host = "ip-" + address.replace(".", "-")
    if region == "us-east-1":
        return f"{host}.ec2.internal"
    return f"{host}.{region}.compute.internal"
