"""EC2 entities (frozen dataclasses, stored per ``account/region`` scope).

Repositories: ``ec2.vpc``, ``ec2.subnet``, ``ec2.eni``, ``ec2.sg``, ``ec2.token`` (client
tokens of CreateNetworkInterface) and ``ec2.scope`` (one marker per scope whose default VPC has
been created, so a deleted default VPC is not re-created). Entities never hold response shapes;
:mod:`hsmkms.ec2.views` renders them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tag:
    key: str
    value: str


@dataclass(frozen=True)
class Vpc:
    vpc_id: str
    cidr_block: str
    is_default: bool
    owner_id: str
    dhcp_options_id: str
    cidr_association_id: str
    instance_tenancy: str = "default"
    tags: tuple[Tag, ...] = ()


@dataclass(frozen=True)
class Subnet:
    subnet_id: str
    vpc_id: str
    availability_zone: str
    availability_zone_id: str
    cidr_block: str
    available_ip_address_count: int
    owner_id: str
    default_for_az: bool = False
    map_public_ip_on_launch: bool = False
    tags: tuple[Tag, ...] = ()


@dataclass(frozen=True)
class Eni:
    eni_id: str
    subnet_id: str
    vpc_id: str
    availability_zone: str
    private_ip: str
    description: str
    group_ids: tuple[str, ...]
    owner_id: str
    mac_address: str
    #: ``available`` for ENIs users create; ``in-use`` for service-managed ones (spec §5.2).
    status: str = "available"
    requester_managed: bool = False
    #: service alias owning the attachment of a service-managed ENI (e.g. ``amazon-cloudhsm``)
    managed_by: str = ""
    attachment_id: str = ""
    attach_time: float = 0.0
    tags: tuple[Tag, ...] = ()


@dataclass(frozen=True)
class Rule:
    rule_id: str
    protocol: str  # tcp | udp | icmp | icmpv6 | -1 | a protocol number
    from_port: int  # -1 when the protocol has no ports
    to_port: int
    cidr: str = ""
    source_group_id: str = ""
    description: str = ""

    def same_permission(self, other: Rule) -> bool:
        return (self.protocol, self.from_port, self.to_port, self.cidr, self.source_group_id) \
            == (other.protocol, other.from_port, other.to_port, other.cidr, other.source_group_id)


@dataclass(frozen=True)
class SecurityGroup:
    group_id: str
    vpc_id: str
    name: str
    description: str
    owner_id: str
    ingress: tuple[Rule, ...] = ()
    egress: tuple[Rule, ...] = ()
    tags: tuple[Tag, ...] = ()


@dataclass(frozen=True)
class ClientToken:
    token: str
    fingerprint: str
    eni_id: str


@dataclass(frozen=True)
class ScopeMarker:
    defaults_created: bool = True
