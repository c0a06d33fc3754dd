"""Security group rules as values: protocol normalisation, port checks, duplicate messages.

Facts: spec ec2.md §2.5. Protocols are names (``tcp``, ``udp``, ``icmp``, ``icmpv6``), numbers
0-255, or ``-1`` (all). AWS stores the well-known numbers by name (``6`` -> ``tcp``). TCP/UDP
need a port range 0-65535; ICMP takes type/code (``-1`` = all); other protocols have no ports,
which AWS then omits from its answers.
"""

from __future__ import annotations

from hsmkms.ec2.addressing import parse_cidr
from hsmkms.ec2.errors import InvalidParameterValue, InvalidPermissionMalformed
from hsmkms.ec2.model import Rule

_BY_NUMBER = {"6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6"}
PORTED = ("tcp", "udp")
TYPED = ("icmp", "icmpv6")
MAX_PORT = 65535
MAX_PROTOCOL = 255


def normalise_protocol(text: str) -> str:
    value = text.strip().lower()
    if value in ("-1", "all"):
        return "-1"
    if value in PORTED or value in TYPED:
        return value
    if value.isdigit() and int(value) <= MAX_PROTOCOL:
        return _BY_NUMBER.get(str(int(value)), str(int(value)))
    raise InvalidParameterValue(f"Invalid value '{text}' for IP protocol. Unknown protocol.")


def ports(protocol: str, from_port: int | None, to_port: int | None) -> tuple[int, int]:
    """The stored ``(from, to)`` of a rule; ``(-1, -1)`` where the protocol has no ports."""
    if protocol in PORTED:
        if from_port is None or to_port is None:
            raise InvalidParameterValue("Invalid value 'Must specify both from and to ports "
                                        "with TCP/UDP.' for portRange")
        if not (0 <= from_port <= to_port <= MAX_PORT):
            raise InvalidParameterValue(f"Invalid value 'Invalid TCP/UDP port range "
                                        f"{from_port}-{to_port}' for portRange")
        return from_port, to_port
    if protocol in TYPED:
        icmp_type = -1 if from_port is None else from_port
        icmp_code = -1 if to_port is None else to_port
        if not (-1 <= icmp_type <= MAX_PROTOCOL and -1 <= icmp_code <= MAX_PROTOCOL):
            raise InvalidParameterValue(f"Invalid value 'ICMP type {icmp_type} code "
                                        f"{icmp_code}' for icmpTypeCode")
        return icmp_type, icmp_code
    return -1, -1


def make(protocol: str, from_port: int | None, to_port: int | None, *,
         cidr: str = "", source_group_id: str = "", description: str = "") -> Rule:
    """A rule spec (no id yet), validated; exactly one peer (a CIDR or a group)."""
    proto = normalise_protocol(protocol)
    low, high = ports(proto, from_port, to_port)
    if bool(cidr) == bool(source_group_id):
        raise InvalidPermissionMalformed(
            "Exactly one of a CIDR range or a security group must be the peer of each rule.")
    if cidr:
        net = parse_cidr(cidr)
        if net is None:
            raise InvalidParameterValue(f"CIDR block {cidr} is malformed")
        cidr = str(net)  # AWS canonicalises before the duplicate check
    return Rule("", proto, low, high, cidr, source_group_id, description)


def describe(rule: Rule) -> str:
    """The rule as AWS quotes it in ``InvalidPermission.Duplicate`` (spec §2.5)."""
    peer = rule.cidr or rule.source_group_id
    if rule.protocol == "-1":
        return f"peer: {peer}, ALL, ALLOW"
    name = rule.protocol.upper()
    if rule.protocol in PORTED or rule.protocol in TYPED:
        return f"peer: {peer}, {name}, from port: {rule.from_port}, to port: {rule.to_port}, ALLOW"
    return f"peer: {peer}, {name}, ALLOW"


def duplicate_message(rule: Rule) -> str:
    return f'the specified rule "{describe(rule)}" already exists'
