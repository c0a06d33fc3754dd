"""The network of every account and Region: VPCs, subnets, ENIs and security groups.

Theory of operation: :class:`Network` is the only writer of EC2 state. The EC2 API
(:mod:`hsmkms.ec2.api`) and the CloudHSM and KMS packages call it; it validates, raises the EC2
error AWS would send and changes nothing on error (callers run inside a unit of work). Each
scope (``account/region``) lazily gets its default VPC the first time anything touches it.

Address accounting (spec ec2.md §4.1): a subnet's ``available_ip_address_count`` is its size
minus 5 reserved addresses minus one address per ENI in it; ENIs get the lowest free address
unless they ask for a particular one. The count is kept on the subnet entity and changed only
here, in the same unit of work as the ENI.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING

from hsmkms.ec2 import addressing as net
from hsmkms.ec2 import errors as e
from hsmkms.ec2 import rules as rulebook
from hsmkms.ec2.ids import check_id
from hsmkms.ec2.model import ClientToken, Eni, Rule, ScopeMarker, SecurityGroup, Subnet, Tag, Vpc
from hsmkms.ec2.securitygroups import SecurityGroups
from hsmkms.ids import IdSource
from hsmkms.scope import Scope

if TYPE_CHECKING:
    from hsmkms.store.base import Store

__all__ = ["Eni", "Network", "Rule", "SecurityGroup", "Subnet", "Vpc", "check_id"]

# Default quotas (spec §4.5).
MAX_VPCS = 5
MAX_SUBNETS_PER_VPC = 200
MAX_ENIS = 5000
MAX_GROUPS_PER_ENI = 5

def split_scope(scope: str) -> tuple[str, str]:
    account, region = Scope(scope).parts()
    return account, region


class Network:
    """EC2 networking for every scope. The Python API other packages use."""

    def __init__(self, store: Store, new_id: Callable[[str], str] | None = None,
                 new_mac: Callable[[], str] | None = None) -> None:
        ids = IdSource()
        self.store = store
        self.new_id = new_id or ids.prefixed
        self.new_mac = new_mac or ids.mac
        self._vpcs = store.repository("ec2.vpc", Vpc)
        self._subnets = store.repository("ec2.subnet", Subnet)
        self._enis = store.repository("ec2.eni", Eni)
        self._tokens = store.repository("ec2.token", ClientToken)
        self._markers = store.repository("ec2.scope", ScopeMarker)
        self.groups = SecurityGroups(store, self.new_id, self._touch, self.vpc)

    # -- scopes and zones -------------------------------------------------------------------

    @staticmethod
    def availability_zones(region: str) -> list[str]:
        return list(net.zones(region))

    def ensure_default(self, scope: str, region: str) -> None:
        """Create the scope's default VPC, one default /20 subnet per AZ and its default
        security group, unless done before (a deleted default VPC stays deleted)."""
        if self._markers.get(scope, "defaults") is not None:
            return
        self._markers.put(scope, "defaults", ScopeMarker())
        vpc = self._new_vpc(scope, net.DEFAULT_VPC_CIDR, is_default=True)
        zones = net.zones(region)
        for (zone, zone_id), cidr in zip(zones.items(), net.default_subnet_cidrs(len(zones)),
                                         strict=True):
            self._new_subnet(scope, vpc, cidr, zone, zone_id, default_for_az=True)

    def _touch(self, scope: str) -> None:
        self.ensure_default(scope, split_scope(scope)[1])

    # -- VPCs -------------------------------------------------------------------------------

    def vpc(self, scope: str, vpc_id: str) -> Vpc:
        """The VPC or ``InvalidVpcID.Malformed``/``InvalidVpcID.NotFound``."""
        self._touch(scope)
        check_id("vpc", vpc_id)
        found = self._vpcs.get(scope, vpc_id)
        if found is None:
            raise e.InvalidVpcIDNotFound(f"The vpc ID '{vpc_id}' does not exist")
        return found

    def vpcs(self, scope: str) -> list[Vpc]:
        self._touch(scope)
        return self._vpcs.values(scope)

    def default_vpc(self, scope: str) -> Vpc | None:
        return next((v for v in self.vpcs(scope) if v.is_default), None)

    def create_vpc(self, scope: str, cidr: str, tenancy: str = "default",
                   tags: tuple[Tag, ...] = ()) -> Vpc:
        self._touch(scope)
        block = net.parse_cidr(cidr)
        if block is None:
            raise e.InvalidParameterValue(f"Value ({cidr}) for parameter cidrBlock is invalid. "
                                          "This is not a valid CIDR block.")
        if not net.MIN_PREFIX <= block.prefixlen <= net.MAX_PREFIX:
            raise e.InvalidVpcRange(f"The CIDR '{cidr}' is invalid.")
        if len(self._vpcs.values(scope)) >= MAX_VPCS:
            raise e.VpcLimitExceeded("The maximum number of VPCs has been reached.")
        return self._new_vpc(scope, str(block), is_default=False, tenancy=tenancy, tags=tags)

    def _new_vpc(self, scope: str, cidr: str, *, is_default: bool, tenancy: str = "default",
                 tags: tuple[Tag, ...] = ()) -> Vpc:
        account, _ = split_scope(scope)
        vpc = Vpc(self.new_id("vpc"), cidr, is_default, account, self.new_id("dopt"),
                  self.new_id("vpc-cidr-assoc"), tenancy, tags)
        self._vpcs.put(scope, vpc.vpc_id, vpc)
        self.groups.create_default(scope, vpc.vpc_id)
        return vpc

    def delete_vpc(self, scope: str, vpc_id: str) -> None:
        """Delete a VPC that has no subnets and no security group but its default one (it goes
        with the VPC), AWS API reference DeleteVpc."""
        vpc = self.vpc(scope, vpc_id)
        busy = any(s.vpc_id == vpc_id for s in self._subnets.values(scope)) or any(
            g.vpc_id == vpc_id and g.name != "default" for g in self.groups.all(scope))
        if busy:
            raise e.DependencyViolation(
                f"The vpc '{vpc_id}' has dependencies and cannot be deleted.")
        self.groups.drop_vpc(scope, vpc.vpc_id)
        self._vpcs.delete(scope, vpc_id)

    # -- subnets ----------------------------------------------------------------------------

    def get_subnet(self, scope: str, subnet_id: str) -> Subnet | None:
        self._touch(scope)
        return self._subnets.get(scope, subnet_id)

    def subnet(self, scope: str, subnet_id: str) -> Subnet:
        """The subnet or ``InvalidSubnetID.Malformed``/``InvalidSubnetID.NotFound``."""
        self._touch(scope)
        check_id("subnet", subnet_id)
        found = self._subnets.get(scope, subnet_id)
        if found is None:
            raise e.InvalidSubnetIDNotFound(f"The subnet ID '{subnet_id}' does not exist")
        return found

    def subnets(self, scope: str) -> list[Subnet]:
        self._touch(scope)
        return self._subnets.values(scope)

    def create_subnet(self, scope: str, vpc_id: str, cidr: str, zone: str | None = None,
                      zone_id: str | None = None, tags: tuple[Tag, ...] = ()) -> Subnet:
        vpc = self.vpc(scope, vpc_id)
        zone, zone_id = self._zone(scope, zone, zone_id)
        block = net.parse_cidr(cidr)
        if block is None:
            raise e.InvalidParameterValue(f"Value ({cidr}) for parameter cidrBlock is invalid. "
                                          "This is not a valid CIDR block.")
        inside = block.subnet_of(net.parse_cidr(vpc.cidr_block))  # type: ignore[arg-type]
        if not (net.MIN_PREFIX <= block.prefixlen <= net.MAX_PREFIX and inside):
            raise e.InvalidSubnetRange(f"The CIDR '{cidr}' is invalid.")
        siblings = [s for s in self._subnets.values(scope) if s.vpc_id == vpc_id]
        if any(block.overlaps(net.parse_cidr(s.cidr_block)) for s in siblings):  # type: ignore[arg-type]
            raise e.InvalidSubnetConflict(f"The CIDR '{cidr}' conflicts with another subnet")
        if len(siblings) >= MAX_SUBNETS_PER_VPC:
            raise e.SubnetLimitExceeded("The maximum number of subnets has been reached.")
        return self._new_subnet(scope, vpc, str(block), zone, zone_id, tags=tags)

    def _zone(self, scope: str, zone: str | None, zone_id: str | None) -> tuple[str, str]:
        region = split_scope(scope)[1]
        zones = net.zones(region)
        if zone is None and zone_id is None:
            return next(iter(zones.items()))
        for name, ident in zones.items():
            if zone in (None, name) and zone_id in (None, ident):
                return name, ident
        if zone is not None:
            raise e.InvalidParameterValue(
                f"Value ({zone}) for parameter availabilityZone is invalid. Subnets can "
                f"currently only be created in the following availability zones: "
                f"{', '.join(zones)}.")
        raise e.InvalidParameterValue(
            f"Value ({zone_id}) for parameter availabilityZoneId is invalid. Subnets can "
            f"currently only be created in the following availability zones: "
            f"{', '.join(zones.values())}.")

    def _new_subnet(self, scope: str, vpc: Vpc, cidr: str, zone: str, zone_id: str, *,
                    default_for_az: bool = False, tags: tuple[Tag, ...] = ()) -> Subnet:
        subnet = Subnet(self.new_id("subnet"), vpc.vpc_id, zone, zone_id, cidr,
                        net.usable_count(cidr), vpc.owner_id, default_for_az,
                        map_public_ip_on_launch=default_for_az, tags=tags)
        self._subnets.put(scope, subnet.subnet_id, subnet)
        return subnet

    def delete_subnet(self, scope: str, subnet_id: str) -> None:
        """"You cannot delete a subnet if it contains any network interfaces" (VPC user guide,
        subnet-deleting)."""
        self.subnet(scope, subnet_id)
        if any(eni.subnet_id == subnet_id for eni in self._enis.values(scope)):
            raise e.DependencyViolation(
                f"The subnet '{subnet_id}' has dependencies and cannot be deleted.")
        self._subnets.delete(scope, subnet_id)

    # -- network interfaces -----------------------------------------------------------------

    def enis(self, scope: str, description: str | None = None) -> list[Eni]:
        self._touch(scope)
        found = self._enis.values(scope)
        return found if description is None else [n for n in found
                                                  if n.description == description]

    def eni(self, scope: str, eni_id: str) -> Eni:
        self._touch(scope)
        check_id("eni", eni_id)
        found = self._enis.get(scope, eni_id)
        if found is None:
            raise e.InvalidNetworkInterfaceIDNotFound(
                f"The networkInterface ID '{eni_id}' does not exist")
        return found

    def create_eni(self, scope: str, subnet_id: str, description: str, group_ids: list[str],
                   private_ip: str | None = None, *, managed_by: str = "",
                   tags: tuple[Tag, ...] = (), now: float = 0.0) -> Eni:
        """An ENI with one private address of its subnet (spec §2.4).

        ``managed_by`` (a service alias such as ``amazon-cloudhsm``) makes it a requester-
        managed, in-use interface that users cannot delete (spec §5.2 proposal).
        """
        subnet = self.subnet(scope, subnet_id)
        groups = self._eni_groups(scope, subnet, group_ids)
        address = self._address(scope, subnet, private_ip)
        if len(self._enis.values(scope)) >= MAX_ENIS:
            raise e.NetworkInterfaceLimitExceeded(
                "The maximum number of network interfaces has been reached.")
        eni = Eni(self.new_id("eni"), subnet.subnet_id, subnet.vpc_id, subnet.availability_zone,
                  address, description, groups, subnet.owner_id, self.new_mac(), tags=tags)
        if managed_by:
            eni = dataclasses.replace(eni, status="in-use", requester_managed=True,
                                      managed_by=managed_by, attach_time=now,
                                      attachment_id=self.new_id("eni-attach"))
        self._enis.put(scope, eni.eni_id, eni)
        self._count(scope, subnet.subnet_id, -1)
        return eni

    def _eni_groups(self, scope: str, subnet: Subnet, group_ids: list[str]) -> tuple[str, ...]:
        if not group_ids:
            return (self.groups.default_of(scope, subnet.vpc_id).group_id,)
        if len(set(group_ids)) > MAX_GROUPS_PER_ENI:
            raise e.SecurityGroupsPerInterfaceLimitExceeded(
                "The maximum number of security groups per interface has been reached.")
        for group_id in group_ids:
            group = self.groups.find(scope, group_id)
            if group is None:
                raise e.InvalidSecurityGroupIDNotFound(
                    f"The securityGroup ID '{group_id}' does not exist")
            if group.vpc_id != subnet.vpc_id:
                raise e.InvalidParameter(f"Security group {group_id} and subnet "
                                         f"{subnet.subnet_id} belong to different networks.")
        return tuple(dict.fromkeys(group_ids))

    def _address(self, scope: str, subnet: Subnet, wanted: str | None) -> str:
        used = [n.private_ip for n in self._enis.values(scope) if n.subnet_id == subnet.subnet_id]
        if wanted is None:
            free = net.lowest_free(subnet.cidr_block, used)
            if free is None:
                raise e.InsufficientFreeAddressesInSubnet(
                    "The specified subnet does not have enough free addresses to satisfy the "
                    "request.")
            return free
        address = net.parse_ip(wanted)
        if address is None:
            raise e.InvalidParameterValue(f"Value ({wanted}) for parameter privateIpAddress is "
                                          "invalid. Not a valid IPv4 address.")
        if address not in net.parse_cidr(subnet.cidr_block):  # type: ignore[operator]
            raise e.InvalidParameterValue(
                f"Address {address} does not fall within the subnet's address range")
        if net.is_reserved(subnet.cidr_block, address):
            raise e.InvalidParameterValue(
                f"Address {address} is in subnet's reserved address range")
        if str(address) in used:
            raise e.InvalidIPAddressInUse("The specified address is already in use")
        return str(address)

    def _count(self, scope: str, subnet_id: str, delta: int) -> None:
        subnet = self._subnets.get(scope, subnet_id)
        if subnet is not None:
            self._subnets.put(scope, subnet_id, dataclasses.replace(
                subnet, available_ip_address_count=subnet.available_ip_address_count + delta))

    def delete_eni(self, scope: str, eni_id: str) -> None:
        """Delete an ENI whoever manages it, freeing its address; no error if already gone."""
        eni = self._enis.get(scope, eni_id)
        if eni is None:
            return
        self._enis.delete(scope, eni_id)
        self._count(scope, eni.subnet_id, +1)

    def delete_network_interface(self, scope: str, eni_id: str) -> None:
        """A user's DeleteNetworkInterface: attached (service-managed) ENIs are in use."""
        eni = self.eni(scope, eni_id)
        if eni.status != "available":
            raise e.InvalidParameterValue(f"Network interface '{eni_id}' is currently in use.")
        self.delete_eni(scope, eni_id)

    def client_token(self, scope: str, token: str) -> ClientToken | None:
        return self._tokens.get(scope, token)

    def remember_token(self, scope: str, token: str, fingerprint: str, eni_id: str) -> None:
        self._tokens.put(scope, token, ClientToken(token, fingerprint, eni_id))

    # -- security groups (delegated; see hsmkms.ec2.securitygroups) ---------------------------

    def create_security_group(self, scope: str, vpc_id: str, name: str, description: str,
                              tags: tuple[Tag, ...] = ()) -> str:
        return self.groups.create(scope, vpc_id, name, description, tags).group_id

    def authorize(self, scope: str, group_id: str, direction: str, protocol: str,
                  from_port: int, to_port: int, source_group_id: str | None = None,
                  cidr: str | None = None) -> None:
        rule = rulebook.make(protocol, from_port, to_port, cidr=cidr or "",
                             source_group_id=source_group_id or "")
        self.groups.authorize(scope, group_id, direction, [rule])

    def revoke(self, scope: str, group_id: str, direction: str, protocol: str,
               from_port: int, to_port: int, source_group_id: str | None = None,
               cidr: str | None = None) -> None:
        """Remove one rule (``InvalidPermission.NotFound`` outside the default VPC if absent)."""
        rule = rulebook.make(protocol, from_port, to_port, cidr=cidr or "",
                             source_group_id=source_group_id or "")
        self.groups.revoke(scope, group_id, direction, [rule], [])

    def has_rule(self, scope: str, group_id: str, direction: str, protocol: str,
                 from_port: int, to_port: int, source_group_id: str | None) -> bool:
        return self.groups.has_rule(scope, group_id, direction, protocol, from_port, to_port,
                                    source_group_id)

    def delete_security_group(self, scope: str, group_id: str) -> None:
        """Delete a group (no error if already gone); ``DependencyViolation`` while an ENI uses
        it or another group's rule refers to it."""
        group = self.groups.find(scope, group_id)
        if group is not None:
            self.groups.delete(scope, group, self._enis.values(scope))
