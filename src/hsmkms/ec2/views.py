"""Entities rendered as the EC2 output shapes (SDK member names; the protocol engine writes the
XML). Field sets follow the real answers quoted in spec ec2.md §1.3 and §2; untagged resources
omit their tag set, as AWS's CLI examples show.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import groupby
from typing import Any

from hsmkms.ec2 import addressing as net
from hsmkms.ec2.model import Eni, Rule, SecurityGroup, Subnet, Tag, Vpc
from hsmkms.ec2.rules import PORTED, TYPED

View = dict[str, Any]
#: Requester of service-managed ENIs (spec §5.2 proposal: a fixed AWS-side account).
SERVICE_REQUESTER_ID = "910183021853"
_BPA = {"InternetGatewayBlockMode": "off"}


def tags(values: tuple[Tag, ...]) -> list[View] | None:
    return [{"Key": t.key, "Value": t.value} for t in values] or None


def arn(region: str, account: str, kind: str, ident: str) -> str:
    return f"arn:aws:ec2:{region}:{account}:{kind}/{ident}"


def zone(region: str, name: str, zone_id: str) -> View:
    return {"State": "available", "OptInStatus": "opt-in-not-required", "Messages": [],
            "RegionName": region, "ZoneName": name, "ZoneId": zone_id, "GroupName": region,
            "NetworkBorderGroup": region, "ZoneType": "availability-zone"}


def vpc(item: Vpc, state: str = "available") -> View:
    return {"VpcId": item.vpc_id, "State": state, "CidrBlock": item.cidr_block,
            "DhcpOptionsId": item.dhcp_options_id, "InstanceTenancy": item.instance_tenancy,
            "IsDefault": item.is_default, "OwnerId": item.owner_id,
            "CidrBlockAssociationSet": [{"AssociationId": item.cidr_association_id,
                                         "CidrBlock": item.cidr_block,
                                         "CidrBlockState": {"State": "associated"}}],
            "BlockPublicAccessStates": _BPA, "Tags": tags(item.tags)}


def subnet(item: Subnet, region: str, state: str = "available") -> View:
    return {"SubnetId": item.subnet_id,
            "SubnetArn": arn(region, item.owner_id, "subnet", item.subnet_id),
            "State": state, "VpcId": item.vpc_id, "OwnerId": item.owner_id,
            "CidrBlock": item.cidr_block, "Ipv6CidrBlockAssociationSet": [],
            "AvailableIpAddressCount": item.available_ip_address_count,
            "AvailabilityZone": item.availability_zone,
            "AvailabilityZoneId": item.availability_zone_id,
            "DefaultForAz": item.default_for_az,
            "MapPublicIpOnLaunch": item.map_public_ip_on_launch,
            "MapCustomerOwnedIpOnLaunch": False, "AssignIpv6AddressOnCreation": False,
            "EnableDns64": False, "Ipv6Native": False,
            "PrivateDnsNameOptionsOnLaunch": {"HostnameType": "ip-name",
                                              "EnableResourceNameDnsARecord": False,
                                              "EnableResourceNameDnsAAAARecord": False},
            "BlockPublicAccessStates": _BPA, "Tags": tags(item.tags)}


def eni(item: Eni, region: str, zone_id: str, group_name: Callable[[str], str],
        status: str | None = None) -> View:
    dns = net.private_dns_name(region, item.private_ip)
    view: View = {
        "NetworkInterfaceId": item.eni_id, "SubnetId": item.subnet_id, "VpcId": item.vpc_id,
        "AvailabilityZone": item.availability_zone, "AvailabilityZoneId": zone_id,
        "Description": item.description, "OwnerId": item.owner_id,
        "RequesterManaged": item.requester_managed, "Status": status or item.status,
        "MacAddress": item.mac_address, "PrivateIpAddress": item.private_ip,
        "PrivateDnsName": dns, "SourceDestCheck": True, "InterfaceType": "interface",
        "Groups": [{"GroupId": g, "GroupName": group_name(g)} for g in item.group_ids],
        "PrivateIpAddresses": [{"PrivateIpAddress": item.private_ip, "PrivateDnsName": dns,
                                "Primary": True}],
        "Ipv6Addresses": [], "TagSet": tags(item.tags) or [],
        "Operator": {"Managed": False}}
    if item.requester_managed:
        view["RequesterId"] = SERVICE_REQUESTER_ID
        view["Attachment"] = {"AttachmentId": item.attachment_id, "AttachTime": item.attach_time,
                              "DeleteOnTermination": True, "DeviceIndex": 1,
                              "NetworkCardIndex": 0, "InstanceOwnerId": item.managed_by,
                              "Status": "attached"}
    return view


def security_group(item: SecurityGroup, region: str) -> View:
    return {"GroupId": item.group_id, "GroupName": item.name, "Description": item.description,
            "VpcId": item.vpc_id, "OwnerId": item.owner_id,
            "SecurityGroupArn": arn(region, item.owner_id, "security-group", item.group_id),
            "IpPermissions": permissions(item.ingress, item.owner_id),
            "IpPermissionsEgress": permissions(item.egress, item.owner_id),
            "Tags": tags(item.tags)}


def _has_ports(protocol: str) -> bool:
    return protocol in PORTED or protocol in TYPED


def permissions(rules: tuple[Rule, ...], owner: str) -> list[View]:
    """Rules grouped as AWS answers them: one IpPermission per protocol and port range."""
    out: list[View] = []
    ordered = sorted(rules, key=lambda r: (r.protocol, r.from_port, r.to_port))
    for (protocol, low, high), group in groupby(ordered,
                                                key=lambda r: (r.protocol, r.from_port, r.to_port)):
        members = list(group)
        perm = permission(protocol, low, high, members, owner)
        out.append(perm)
    return out


def permission(protocol: str, low: int, high: int, members: list[Rule], owner: str) -> View:
    perm: View = {"IpProtocol": protocol,
                  "UserIdGroupPairs": [_pair(r, owner) for r in members if r.source_group_id],
                  "IpRanges": [_range(r) for r in members if r.cidr],
                  "Ipv6Ranges": [], "PrefixListIds": []}
    if _has_ports(protocol):
        perm["FromPort"], perm["ToPort"] = low, high
    return perm


def _pair(rule: Rule, owner: str) -> View:
    return {"UserId": owner, "GroupId": rule.source_group_id,
            "Description": rule.description or None}


def _range(rule: Rule) -> View:
    return {"CidrIp": rule.cidr, "Description": rule.description or None}


def rule(item: Rule, group: SecurityGroup, region: str, *, egress: bool) -> View:
    view: View = {
        "SecurityGroupRuleId": item.rule_id, "GroupId": group.group_id,
        "GroupOwnerId": group.owner_id, "IsEgress": egress, "IpProtocol": item.protocol,
        "FromPort": item.from_port, "ToPort": item.to_port,
        "Description": item.description or None,
        "SecurityGroupRuleArn": arn(region, group.owner_id, "security-group-rule", item.rule_id)}
    if item.cidr:
        view["CidrIpv4"] = item.cidr
    else:
        view["ReferencedGroupInfo"] = {"GroupId": item.source_group_id,
                                       "UserId": group.owner_id}
    return view
