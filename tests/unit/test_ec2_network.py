"""The EC2 domain (``hsmkms.ec2.network.Network``): default VPC, address accounting, rules."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from hsmkms.ec2 import errors as e
from hsmkms.ec2.network import Network
from hsmkms.store.base import Store
from hsmkms.store.codec import Codec
from hsmkms.store.sqlite import SqliteDatabase

SCOPE = "111122223333/us-east-1"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    db = SqliteDatabase(tmp_path / "ec2.db")
    yield Store(db, Codec(lambda b: b.hex(), bytes.fromhex))
    db.close()


@pytest.fixture
def network(store: Store) -> Network:
    counter = itertools.count(1)
    return Network(store, new_id=lambda prefix: f"{prefix}-{next(counter):017x}",
                   new_mac=lambda: "02:00:00:00:00:01")


def raises(error: type[e.Ec2Error], message: str) -> pytest.RaisesContext[e.Ec2Error]:
    return pytest.raises(error, match="^" + _escape(message) + "$")


def _escape(text: str) -> str:
    import re  # noqa: PLC0415

    return re.escape(text)


def test_default_vpc_subnets_and_group_are_created_once_per_scope(
        network: Network, store: Store) -> None:
    with store.unit_of_work():
        network.ensure_default(SCOPE, "us-east-1")
        network.ensure_default(SCOPE, "us-east-1")
    (vpc,) = network.vpcs(SCOPE)
    assert (vpc.cidr_block, vpc.is_default) == ("172.31.0.0/16", True)
    subnets = network.subnets(SCOPE)
    assert [(s.availability_zone, s.availability_zone_id, s.cidr_block) for s in subnets] == [
        ("us-east-1a", "use1-az6", "172.31.0.0/20"), ("us-east-1b", "use1-az1", "172.31.16.0/20"),
        ("us-east-1c", "use1-az2", "172.31.32.0/20"), ("us-east-1d", "use1-az4", "172.31.48.0/20"),
        ("us-east-1e", "use1-az3", "172.31.64.0/20"), ("us-east-1f", "use1-az5", "172.31.80.0/20")]
    assert all(s.default_for_az and s.available_ip_address_count == 4091 for s in subnets)
    (group,) = network.groups.all(SCOPE)
    assert (group.name, group.description, group.vpc_id) == ("default",
                                                            "default VPC security group",
                                                            vpc.vpc_id)
    assert network.has_rule(SCOPE, group.group_id, "ingress", "-1", -1, -1, group.group_id)
    # Another Region of the same account is another network.
    assert network.availability_zones("eu-west-1") == ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
    assert len(network.subnets("111122223333/eu-west-1")) == 3


def test_a_deleted_default_vpc_is_not_recreated(network: Network, store: Store) -> None:
    with store.unit_of_work():
        vpc = network.default_vpc(SCOPE)
        assert vpc is not None
        for subnet in network.subnets(SCOPE):
            network.delete_subnet(SCOPE, subnet.subnet_id)
        network.delete_vpc(SCOPE, vpc.vpc_id)
    assert network.vpcs(SCOPE) == []
    assert network.groups.all(SCOPE) == []


def test_addresses_are_accounted_exactly(network: Network, store: Store) -> None:
    with store.unit_of_work():
        vpc = network.create_vpc(SCOPE, "10.0.0.0/16")
        subnet = network.create_subnet(SCOPE, vpc.vpc_id, "10.0.1.0/28", "us-east-1b")
        assert subnet.available_ip_address_count == 11  # 16 - 5 reserved
        first = network.create_eni(SCOPE, subnet.subnet_id, "a", [])
        chosen = network.create_eni(SCOPE, subnet.subnet_id, "b", [], private_ip="10.0.1.9")
        second = network.create_eni(SCOPE, subnet.subnet_id, "c", [])
    assert (first.private_ip, chosen.private_ip, second.private_ip) == (
        "10.0.1.4", "10.0.1.9", "10.0.1.5")
    assert network.get_subnet(SCOPE, subnet.subnet_id).available_ip_address_count == 8
    default_group = network.groups.default_of(SCOPE, vpc.vpc_id)
    assert first.group_ids == (default_group.group_id,)
    with store.unit_of_work():
        network.delete_eni(SCOPE, first.eni_id)
        network.delete_eni(SCOPE, first.eni_id)  # already gone: no error
    assert network.get_subnet(SCOPE, subnet.subnet_id).available_ip_address_count == 9
    with store.unit_of_work():
        assert network.create_eni(SCOPE, subnet.subnet_id, "d", []).private_ip == "10.0.1.4"


def test_a_full_subnet_refuses_new_enis(network: Network, store: Store) -> None:
    with store.unit_of_work():
        vpc = network.create_vpc(SCOPE, "10.0.0.0/16")
        subnet = network.create_subnet(SCOPE, vpc.vpc_id, "10.0.1.0/28", "us-east-1b")
        for _ in range(11):
            network.create_eni(SCOPE, subnet.subnet_id, "filler", [])
    assert network.get_subnet(SCOPE, subnet.subnet_id).available_ip_address_count == 0
    with raises(e.InsufficientFreeAddressesInSubnet, "The specified subnet does not have enough "
                "free addresses to satisfy the request."), store.unit_of_work():
        network.create_eni(SCOPE, subnet.subnet_id, "one too many", [])
    assert len(network.enis(SCOPE, description="one too many")) == 0
    assert len(network.enis(SCOPE, description="filler")) == 11


@pytest.mark.parametrize(("address", "error", "message"), [
    ("10.0.1.4", e.InvalidIPAddressInUse, "The specified address is already in use"),
    ("10.0.2.4", e.InvalidParameterValue,
     "Address 10.0.2.4 does not fall within the subnet's address range"),
    ("10.0.1.2", e.InvalidParameterValue, "Address 10.0.1.2 is in subnet's reserved address range"),
    ("10.0.1.15", e.InvalidParameterValue,
     "Address 10.0.1.15 is in subnet's reserved address range"),
    ("10.0.1", e.InvalidParameterValue,
     "Value (10.0.1) for parameter privateIpAddress is invalid. Not a valid IPv4 address."),
])
def test_requested_addresses_are_checked(network: Network, store: Store, address: str,
                                         error: type[e.Ec2Error], message: str) -> None:
    with store.unit_of_work():
        vpc = network.create_vpc(SCOPE, "10.0.0.0/16")
        subnet = network.create_subnet(SCOPE, vpc.vpc_id, "10.0.1.0/28", "us-east-1b")
        network.create_eni(SCOPE, subnet.subnet_id, "a", [])
    with raises(error, message):
        network.create_eni(SCOPE, subnet.subnet_id, "b", [], private_ip=address)


def test_eni_errors(network: Network, store: Store) -> None:
    with store.unit_of_work():
        vpc = network.create_vpc(SCOPE, "10.0.0.0/16")
        subnet = network.create_subnet(SCOPE, vpc.vpc_id, "10.0.1.0/24", "us-east-1b")
        other_vpc_group = network.groups.default_of(SCOPE, network.default_vpc(SCOPE).vpc_id)
    with raises(e.InvalidSubnetIDNotFound, "The subnet ID 'subnet-12345678' does not exist"):
        network.create_eni(SCOPE, "subnet-12345678", "x", [])
    with raises(e.InvalidSubnetIDMalformed, 'Invalid id: "nope" (expecting "subnet-...")'):
        network.create_eni(SCOPE, "nope", "x", [])
    with raises(e.InvalidSecurityGroupIDNotFound,
                "The securityGroup ID 'sg-12345678' does not exist"):
        network.create_eni(SCOPE, subnet.subnet_id, "x", ["sg-12345678"])
    with raises(e.InvalidParameter, f"Security group {other_vpc_group.group_id} and subnet "
                f"{subnet.subnet_id} belong to different networks."):
        network.create_eni(SCOPE, subnet.subnet_id, "x", [other_vpc_group.group_id])


def test_service_managed_enis_are_in_use(network: Network, store: Store) -> None:
    with store.unit_of_work():
        subnet = network.subnets(SCOPE)[0]
        eni = network.create_eni(SCOPE, subnet.subnet_id, "CloudHSM ENI", [],
                                 managed_by="amazon-cloudhsm", now=100.0)
    assert (eni.status, eni.requester_managed, eni.managed_by, eni.attach_time) == (
        "in-use", True, "amazon-cloudhsm", 100.0)
    with raises(e.InvalidParameterValue, f"Network interface '{eni.eni_id}' is currently in use."):
        network.delete_network_interface(SCOPE, eni.eni_id)
    with store.unit_of_work():
        network.delete_eni(SCOPE, eni.eni_id)
    assert network.enis(SCOPE) == []


def test_dependencies_block_deletes(network: Network, store: Store) -> None:
    with store.unit_of_work():
        vpc = network.create_vpc(SCOPE, "10.0.0.0/16")
        subnet = network.create_subnet(SCOPE, vpc.vpc_id, "10.0.1.0/24", "us-east-1b")
        group = network.create_security_group(SCOPE, vpc.vpc_id, "g", "d")
        eni = network.create_eni(SCOPE, subnet.subnet_id, "x", [group])
    with raises(e.DependencyViolation,
                f"The subnet '{subnet.subnet_id}' has dependencies and cannot be deleted."):
        network.delete_subnet(SCOPE, subnet.subnet_id)
    with raises(e.DependencyViolation, f"resource {group} has a dependent object"):
        network.delete_security_group(SCOPE, group)
    with raises(e.DependencyViolation,
                f"The vpc '{vpc.vpc_id}' has dependencies and cannot be deleted."):
        network.delete_vpc(SCOPE, vpc.vpc_id)
    with store.unit_of_work():
        network.delete_eni(SCOPE, eni.eni_id)
        network.delete_subnet(SCOPE, subnet.subnet_id)
    with raises(e.DependencyViolation,
                f"The vpc '{vpc.vpc_id}' has dependencies and cannot be deleted."):
        network.delete_vpc(SCOPE, vpc.vpc_id)  # the non-default group is left
    with store.unit_of_work():
        network.delete_security_group(SCOPE, group)
        network.delete_security_group(SCOPE, group)  # already gone: no error
        network.delete_vpc(SCOPE, vpc.vpc_id)
    assert [v.is_default for v in network.vpcs(SCOPE)] == [True]


def test_a_group_referenced_by_another_group_cannot_be_deleted(network: Network,
                                                               store: Store) -> None:
    with store.unit_of_work():
        vpc = network.create_vpc(SCOPE, "10.0.0.0/16")
        cluster = network.create_security_group(SCOPE, vpc.vpc_id, "cluster", "d")
        kms = network.create_security_group(SCOPE, vpc.vpc_id, "kms", "d")
        network.authorize(SCOPE, kms, "ingress", "-1", 0, 65535, source_group_id=cluster)
    with raises(e.DependencyViolation, f"resource {cluster} has a dependent object"):
        network.delete_security_group(SCOPE, cluster)
    default = network.groups.default_of(SCOPE, vpc.vpc_id).group_id
    with raises(e.CannotDelete, f'the specified group: "{default}" name: "default" cannot be '
                "deleted by a user"):
        network.delete_security_group(SCOPE, default)


def test_rules_are_exact_and_duplicates_refused(network: Network, store: Store) -> None:
    with store.unit_of_work():
        vpc = network.create_vpc(SCOPE, "10.0.0.0/16")
        group = network.create_security_group(SCOPE, vpc.vpc_id, "cloudhsm-cluster-x-sg", "d")
        for direction in ("ingress", "egress"):
            network.authorize(SCOPE, group, direction, "tcp", 2223, 2225, source_group_id=group)
    assert network.has_rule(SCOPE, group, "ingress", "tcp", 2223, 2225, group)
    assert network.has_rule(SCOPE, group, "egress", "6", 2223, 2225, group)
    assert not network.has_rule(SCOPE, group, "ingress", "tcp", 2223, 2224, group)
    assert not network.has_rule(SCOPE, group, "ingress", "udp", 2223, 2225, group)
    assert not network.has_rule(SCOPE, "sg-12345678", "ingress", "tcp", 2223, 2225, group)
    with raises(e.InvalidPermissionDuplicate, f'the specified rule "peer: {group}, TCP, from '
                'port: 2223, to port: 2225, ALLOW" already exists'):
        network.authorize(SCOPE, group, "ingress", "tcp", 2223, 2225, source_group_id=group)
    with raises(e.InvalidParameterValue,
                "Invalid value 'Invalid TCP/UDP port range 10-5' for portRange"):
        network.authorize(SCOPE, group, "ingress", "tcp", 10, 5, cidr="10.0.0.0/8")
    with raises(e.InvalidParameterValue, "CIDR block 10.0.0.0/33 is malformed"):
        network.authorize(SCOPE, group, "ingress", "tcp", 1, 5, cidr="10.0.0.0/33")


def test_security_group_names(network: Network, store: Store) -> None:
    with store.unit_of_work():
        vpc = network.create_vpc(SCOPE, "10.0.0.0/16")
        network.create_security_group(SCOPE, vpc.vpc_id, "web", "d")
    with raises(e.InvalidGroupDuplicate,
                f"The security group 'WEB' already exists for VPC '{vpc.vpc_id}'"):
        network.create_security_group(SCOPE, vpc.vpc_id, "WEB  ", "d")
    with raises(e.InvalidParameterValue, "Value (sg-1) for parameter GroupName is invalid. "
                "Group names may not be in the format sg-*."):
        network.create_security_group(SCOPE, vpc.vpc_id, "sg-1", "d")
    with raises(e.InvalidGroupReserved, "The security group 'default' is reserved"):
        network.create_security_group(SCOPE, vpc.vpc_id, "default", "d")
    with raises(e.InvalidVpcIDNotFound, "The vpc ID 'vpc-12345678' does not exist"):
        network.create_security_group(SCOPE, "vpc-12345678", "x", "d")


@pytest.mark.parametrize(("cidr", "error", "message"), [
    ("10.0.0.0/8", e.InvalidVpcRange, "The CIDR '10.0.0.0/8' is invalid."),
    ("10.0.0.0/29", e.InvalidVpcRange, "The CIDR '10.0.0.0/29' is invalid."),
    ("banana", e.InvalidParameterValue,
     "Value (banana) for parameter cidrBlock is invalid. This is not a valid CIDR block."),
])
def test_vpc_cidrs(network: Network, cidr: str, error: type[e.Ec2Error], message: str) -> None:
    with raises(error, message):
        network.create_vpc(SCOPE, cidr)


def test_vpc_cidr_is_canonicalised_and_quota_enforced(network: Network, store: Store) -> None:
    with store.unit_of_work():
        assert network.create_vpc(SCOPE, "100.68.0.18/18").cidr_block == "100.68.0.0/18"
        for _ in range(3):
            network.create_vpc(SCOPE, "10.0.0.0/16")
    with raises(e.VpcLimitExceeded, "The maximum number of VPCs has been reached."):
        network.create_vpc(SCOPE, "10.0.0.0/16")


@pytest.mark.parametrize(("cidr", "zone", "error", "message"), [
    ("10.1.0.0/24", "us-east-1a", e.InvalidSubnetRange, "The CIDR '10.1.0.0/24' is invalid."),
    ("10.0.0.0/29", "us-east-1a", e.InvalidSubnetRange, "The CIDR '10.0.0.0/29' is invalid."),
    ("10.0.0.128/25", "us-east-1a", e.InvalidSubnetConflict,
     "The CIDR '10.0.0.128/25' conflicts with another subnet"),
    ("10.0.5.0/24", "us-east-1z", e.InvalidParameterValue,
     ("Value (us-east-1z) for parameter availabilityZone is invalid. Subnets can currently only "
      "be created in the following availability zones: us-east-1a, us-east-1b, us-east-1c, "
      "us-east-1d, us-east-1e, us-east-1f.")),
    ("10.0.5.0/33", "us-east-1a", e.InvalidParameterValue,
     "Value (10.0.5.0/33) for parameter cidrBlock is invalid. This is not a valid CIDR block."),
])
def test_subnet_rules(network: Network, store: Store, cidr: str, zone: str,
                      error: type[e.Ec2Error], message: str) -> None:
    with store.unit_of_work():
        vpc = network.create_vpc(SCOPE, "10.0.0.0/20")
        network.create_subnet(SCOPE, vpc.vpc_id, "10.0.0.0/24", "us-east-1a")
    with raises(error, message):
        network.create_subnet(SCOPE, vpc.vpc_id, cidr, zone)


def test_subnet_by_zone_id_and_default_zone(network: Network, store: Store) -> None:
    with store.unit_of_work():
        vpc = network.create_vpc(SCOPE, "10.0.0.0/16")
        by_id = network.create_subnet(SCOPE, vpc.vpc_id, "10.0.1.0/24", zone_id="use1-az4")
        anywhere = network.create_subnet(SCOPE, vpc.vpc_id, "10.0.2.0/24")
    assert (by_id.availability_zone, by_id.availability_zone_id) == ("us-east-1d", "use1-az4")
    assert anywhere.availability_zone == "us-east-1a"
    assert network.get_subnet(SCOPE, "subnet-12345678") is None


def test_failed_unit_of_work_changes_nothing(network: Network, store: Store) -> None:
    network.ensure_default(SCOPE, "us-east-1")
    before = (network.vpcs(SCOPE), network.subnets(SCOPE), network.groups.all(SCOPE))

    def half_done() -> None:
        with store.unit_of_work():
            vpc = network.create_vpc(SCOPE, "10.0.0.0/16")
            network.create_subnet(SCOPE, vpc.vpc_id, "10.0.0.0/24")
            network.create_subnet(SCOPE, vpc.vpc_id, "10.0.0.0/25")

    with pytest.raises(e.InvalidSubnetConflict):
        half_done()
    assert (network.vpcs(SCOPE), network.subnets(SCOPE), network.groups.all(SCOPE)) == before


def test_revoke_by_rule_id(network: Network, store: Store) -> None:
    with store.unit_of_work():
        vpc = network.create_vpc(SCOPE, "10.0.0.0/16")
        group = network.create_security_group(SCOPE, vpc.vpc_id, "g", "d")
    (egress,) = network.groups.require(SCOPE, group).egress
    with raises(e.InvalidSecurityGroupRuleIdNotFound,
                "The security group rule ID 'sgr-12345678' does not exist"):
        network.groups.revoke(SCOPE, group, "egress", [], ["sgr-12345678"])
    with store.unit_of_work():
        gone, unknown = network.groups.revoke(SCOPE, group, "egress", [], [egress.rule_id])
    assert (gone, unknown) == ([egress], [])
    assert network.groups.require(SCOPE, group).egress == ()


def test_revoke_one_rule(network: Network, store: Store) -> None:
    with store.unit_of_work():
        vpc = network.create_vpc(SCOPE, "10.0.0.0/16")
        group = network.create_security_group(SCOPE, vpc.vpc_id, "g", "d")
        network.authorize(SCOPE, group, "egress", "tcp", 2223, 2225, source_group_id=group)
        network.revoke(SCOPE, group, "egress", "-1", -1, -1, cidr="0.0.0.0/0")
    (kept,) = network.groups.require(SCOPE, group).egress
    assert (kept.protocol, kept.from_port, kept.to_port, kept.source_group_id) == (
        "tcp", 2223, 2225, group)
    with raises(e.InvalidPermissionNotFound,
                "The specified rule does not exist in this security group."):
        network.revoke(SCOPE, group, "egress", "-1", -1, -1, cidr="0.0.0.0/0")
