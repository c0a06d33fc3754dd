"""EC2 over HTTP with real boto3: every operation, filters, address accounting, dependencies,
bad input (EC2-shaped errors that change nothing), persistence.

Tests share one server; each uses its own account (a 12-digit access key id), so each starts
from a fresh default network.
"""

from __future__ import annotations

import itertools
import urllib.request
from typing import Any

import pytest
from botocore.exceptions import ClientError

from hsmkms.testing.server import ServerProcess

_accounts = itertools.count(210000000001)


def client_for(server: ServerProcess, account: str, region: str = "us-east-1") -> Any:
    return server.client("ec2", region=region, credentials={"aws_access_key_id": account})


@pytest.fixture
def account() -> str:
    return str(next(_accounts))


@pytest.fixture
def ec2(module_server: ServerProcess, account: str) -> Any:
    return client_for(module_server, account)


def error_of(call: Any, **kwargs: Any) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    err = info.value.response
    return err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Code"], err["Error"]["Message"]


def snapshot(ec2: Any) -> tuple[Any, ...]:
    def strip(doc: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in doc.items() if k != "ResponseMetadata"}

    return (strip(ec2.describe_vpcs()), strip(ec2.describe_subnets()),
            strip(ec2.describe_network_interfaces()), strip(ec2.describe_security_groups()))


def make_vpc_subnet(ec2: Any, cidr: str = "10.0.1.0/28",
                    zone: str = "us-east-1b") -> tuple[str, str]:
    vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock=cidr,
                                  AvailabilityZone=zone)["Subnet"]["SubnetId"]
    return vpc_id, subnet_id


def test_default_network(ec2: Any, account: str) -> None:
    zones = ec2.describe_availability_zones()["AvailabilityZones"]
    assert [(z["ZoneName"], z["ZoneId"], z["State"]) for z in zones][:2] == [
        ("us-east-1a", "use1-az6", "available"), ("us-east-1b", "use1-az1", "available")]
    assert zones[0] == {"ZoneName": "us-east-1a", "ZoneId": "use1-az6", "State": "available",
                        "OptInStatus": "opt-in-not-required", "Messages": [],
                        "RegionName": "us-east-1", "GroupName": "us-east-1",
                        "NetworkBorderGroup": "us-east-1", "ZoneType": "availability-zone"}
    (vpc,) = ec2.describe_vpcs()["Vpcs"]
    assert (vpc["CidrBlock"], vpc["IsDefault"], vpc["State"], vpc["OwnerId"]) == (
        "172.31.0.0/16", True, "available", account)
    subnets = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])
    assert [(s["AvailabilityZone"], s["CidrBlock"], s["AvailableIpAddressCount"])
            for s in subnets["Subnets"]] == [
        (f"us-east-1{z}", f"172.31.{16 * i}.0/20", 4091) for i, z in enumerate("abcdef")]
    first = subnets["Subnets"][0]
    assert first["SubnetArn"] == f"arn:aws:ec2:us-east-1:{account}:subnet/{first['SubnetId']}"
    assert first["MapPublicIpOnLaunch"] is True
    (group,) = ec2.describe_security_groups(GroupNames=["default"])["SecurityGroups"]
    assert group["Description"] == "default VPC security group"
    assert group["VpcId"] == vpc["VpcId"]


def test_vpc_and_subnet_lifecycle(ec2: Any) -> None:
    vpc = ec2.create_vpc(CidrBlock="10.0.0.18/16",
                         TagSpecifications=[{"ResourceType": "vpc",
                                             "Tags": [{"Key": "Name", "Value": "hsm"}]}])["Vpc"]
    assert (vpc["CidrBlock"], vpc["State"], vpc["IsDefault"]) == ("10.0.0.0/16", "pending", False)
    assert vpc["Tags"] == [{"Key": "Name", "Value": "hsm"}]
    vpc_id = vpc["VpcId"]
    assert vpc_id.startswith("vpc-")
    assert len(vpc_id) == 21
    ec2.get_waiter("vpc_available").wait(VpcIds=[vpc_id])
    subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.0.1.0/24",
                               AvailabilityZone="us-east-1c")["Subnet"]
    assert {k: subnet[k] for k in ("State", "AvailableIpAddressCount", "AvailabilityZone",
                                   "AvailabilityZoneId", "DefaultForAz", "MapPublicIpOnLaunch",
                                   "Ipv6CidrBlockAssociationSet")} == {
        "State": "pending", "AvailableIpAddressCount": 251, "AvailabilityZone": "us-east-1c",
        "AvailabilityZoneId": "use1-az2", "DefaultForAz": False, "MapPublicIpOnLaunch": False,
        "Ipv6CidrBlockAssociationSet": []}
    ec2.get_waiter("subnet_available").wait(SubnetIds=[subnet["SubnetId"]])
    found = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]
    assert [s["SubnetId"] for s in found] == [subnet["SubnetId"]]
    assert found[0]["State"] == "available"
    by_zone = ec2.describe_subnets(Filters=[{"Name": "availability-zone",
                                             "Values": ["us-east-1c"]},
                                            {"Name": "cidr-block", "Values": ["10.0.1.0/24"]}])
    assert [s["SubnetId"] for s in by_zone["Subnets"]] == [subnet["SubnetId"]]
    ec2.delete_subnet(SubnetId=subnet["SubnetId"])
    assert error_of(ec2.describe_subnets, SubnetIds=[subnet["SubnetId"]]) == (
        400, "InvalidSubnetID.NotFound", f"The subnet ID '{subnet['SubnetId']}' does not exist")
    ec2.delete_vpc(VpcId=vpc_id)
    assert error_of(ec2.describe_vpcs, VpcIds=[vpc_id]) == (
        400, "InvalidVpcID.NotFound", f"The vpc ID '{vpc_id}' does not exist")


def test_address_accounting_and_a_full_subnet(ec2: Any) -> None:
    _vpc_id, subnet_id = make_vpc_subnet(ec2)

    def free() -> int:
        return ec2.describe_subnets(SubnetIds=[subnet_id])["Subnets"][0][
            "AvailableIpAddressCount"]

    assert free() == 11
    enis = [ec2.create_network_interface(SubnetId=subnet_id, Description=f"filler {i}")
            ["NetworkInterface"] for i in range(11)]
    assert [n["PrivateIpAddress"] for n in enis] == [f"10.0.1.{i}" for i in range(4, 15)]
    assert enis[0]["Status"] == "pending"
    assert free() == 0
    before = snapshot(ec2)
    assert error_of(ec2.create_network_interface, SubnetId=subnet_id) == (
        400, "InsufficientFreeAddressesInSubnet",
        "The specified subnet does not have enough free addresses to satisfy the request.")
    assert snapshot(ec2) == before
    assert error_of(ec2.delete_subnet, SubnetId=subnet_id) == (
        400, "DependencyViolation",
        f"The subnet '{subnet_id}' has dependencies and cannot be deleted.")
    ec2.delete_network_interface(NetworkInterfaceId=enis[3]["NetworkInterfaceId"])
    assert free() == 1
    assert error_of(ec2.create_network_interface, SubnetId=subnet_id,
                    PrivateIpAddress="10.0.1.4") == (
        400, "InvalidIPAddress.InUse", "The specified address is already in use")
    again = ec2.create_network_interface(SubnetId=subnet_id, PrivateIpAddress="10.0.1.7")
    assert again["NetworkInterface"]["PrivateIpAddress"] == "10.0.1.7"
    assert free() == 0
    for eni in [*enis[:3], *enis[4:], again["NetworkInterface"]]:
        ec2.delete_network_interface(NetworkInterfaceId=eni["NetworkInterfaceId"])
    assert free() == 11
    ec2.delete_subnet(SubnetId=subnet_id)


def test_network_interfaces(ec2: Any, account: str) -> None:
    vpc_id, subnet_id = make_vpc_subnet(ec2, "10.0.2.0/24", "us-east-1a")
    group_id = ec2.create_security_group(GroupName="g", Description="d", VpcId=vpc_id)["GroupId"]
    made = ec2.create_network_interface(
        SubnetId=subnet_id, Description="KMS managed ENI for cluster cluster-abc",
        Groups=[group_id], TagSpecifications=[{"ResourceType": "network-interface",
                                               "Tags": [{"Key": "k", "Value": "v"}]}])
    eni = made["NetworkInterface"]
    assert eni["NetworkInterfaceId"].startswith("eni-")
    assert len(eni["NetworkInterfaceId"]) == 21
    assert {k: eni[k] for k in ("SubnetId", "VpcId", "AvailabilityZone", "AvailabilityZoneId",
                                "OwnerId", "RequesterManaged", "InterfaceType",
                                "PrivateDnsName", "Groups", "TagSet")} == {
        "SubnetId": subnet_id, "VpcId": vpc_id, "AvailabilityZone": "us-east-1a",
        "AvailabilityZoneId": "use1-az6", "OwnerId": account, "RequesterManaged": False,
        "InterfaceType": "interface", "PrivateDnsName": "ip-10-0-2-4.ec2.internal",
        "Groups": [{"GroupId": group_id, "GroupName": "g"}],
        "TagSet": [{"Key": "k", "Value": "v"}]}
    assert made["ClientToken"]
    ec2.create_network_interface(SubnetId=subnet_id, Description="other")
    ec2.get_waiter("network_interface_available").wait(
        NetworkInterfaceIds=[eni["NetworkInterfaceId"]])

    def described(*flts: tuple[str, str]) -> list[str]:
        found = ec2.describe_network_interfaces(
            Filters=[{"Name": n, "Values": [v]} for n, v in flts])["NetworkInterfaces"]
        return [n["Description"] for n in found]

    kms = "KMS managed ENI for cluster cluster-abc"
    assert described(("description", "KMS managed ENI for cluster *")) == [kms]
    assert described(("subnet-id", subnet_id)) == [kms, "other"]
    assert described(("group-id", group_id)) == [kms]
    assert described(("status", "available"), ("vpc-id", vpc_id)) == [kms, "other"]
    assert described(("private-ip-address", "10.0.2.5")) == ["other"]
    assert described(("tag:k", "v")) == [kms]
    assert described(("requester-managed", "true")) == []
    got = ec2.describe_network_interfaces(NetworkInterfaceIds=[eni["NetworkInterfaceId"]])
    assert got["NetworkInterfaces"][0]["Status"] == "available"
    ec2.delete_network_interface(NetworkInterfaceId=eni["NetworkInterfaceId"])
    assert error_of(ec2.delete_network_interface,
                    NetworkInterfaceId=eni["NetworkInterfaceId"]) == (
        400, "InvalidNetworkInterfaceID.NotFound",
        f"The networkInterface ID '{eni['NetworkInterfaceId']}' does not exist")


def test_client_token_is_idempotent(ec2: Any) -> None:
    _vpc, subnet_id = make_vpc_subnet(ec2)
    first = ec2.create_network_interface(SubnetId=subnet_id, ClientToken="tok-1")
    second = ec2.create_network_interface(SubnetId=subnet_id, ClientToken="tok-1")
    assert second["NetworkInterface"]["NetworkInterfaceId"] == \
        first["NetworkInterface"]["NetworkInterfaceId"]
    assert len(ec2.describe_network_interfaces()["NetworkInterfaces"]) == 1
    assert error_of(ec2.create_network_interface, SubnetId=subnet_id, ClientToken="tok-1",
                    Description="different")[1] == "IdempotentParameterMismatch"


def test_security_groups_and_rules(ec2: Any, account: str) -> None:
    vpc_id, subnet_id = make_vpc_subnet(ec2)
    made = ec2.create_security_group(GroupName="cloudhsm-cluster-x-sg", Description="HSMs",
                                     VpcId=vpc_id)
    group_id = made["GroupId"]
    assert made["SecurityGroupArn"] == \
        f"arn:aws:ec2:us-east-1:{account}:security-group/{group_id}"
    ec2.get_waiter("security_group_exists").wait(GroupIds=[group_id])
    perm = {"IpProtocol": "tcp", "FromPort": 2223, "ToPort": 2225,
            "UserIdGroupPairs": [{"GroupId": group_id}]}
    added = ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=[perm])
    (rule,) = added["SecurityGroupRules"]
    assert added["Return"] is True
    assert {k: v for k, v in rule.items() if k not in ("SecurityGroupRuleId",
                                                       "SecurityGroupRuleArn")} == {
        "GroupId": group_id, "GroupOwnerId": account, "IsEgress": False, "IpProtocol": "tcp",
        "FromPort": 2223, "ToPort": 2225,
        "ReferencedGroupInfo": {"GroupId": group_id, "UserId": account}}
    ec2.authorize_security_group_egress(GroupId=group_id, IpPermissions=[perm])
    assert error_of(ec2.authorize_security_group_ingress, GroupId=group_id,
                    IpPermissions=[perm]) == (
        400, "InvalidPermission.Duplicate",
        (f'the specified rule "peer: {group_id}, TCP, from port: 2223, to port: 2225, ALLOW" '
         "already exists"))
    (group,) = ec2.describe_security_groups(
        Filters=[{"Name": "group-name", "Values": ["cloudhsm-cluster-*-sg"]}])["SecurityGroups"]
    assert group["IpPermissions"] == [{**perm, "UserIdGroupPairs": [
        {"GroupId": group_id, "UserId": account}], "IpRanges": [], "Ipv6Ranges": [],
        "PrefixListIds": []}]
    assert len(group["IpPermissionsEgress"]) == 2
    by_rule = ec2.describe_security_groups(Filters=[
        {"Name": "ip-permission.from-port", "Values": ["2223"]},
        {"Name": "vpc-id", "Values": [vpc_id]}])["SecurityGroups"]
    assert [g["GroupId"] for g in by_rule] == [group_id]
    revoked = ec2.revoke_security_group_egress(GroupId=group_id, IpPermissions=[
        {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    assert revoked["Return"] is True
    assert [r["CidrIpv4"] for r in revoked["RevokedSecurityGroupRules"]] == ["0.0.0.0/0"]
    assert error_of(ec2.revoke_security_group_egress, GroupId=group_id, IpPermissions=[
        {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]) == (
        400, "InvalidPermission.NotFound",
        "The specified rule does not exist in this security group.")
    eni = ec2.create_network_interface(SubnetId=subnet_id, Groups=[group_id])
    assert error_of(ec2.delete_security_group, GroupId=group_id) == (
        400, "DependencyViolation", f"resource {group_id} has a dependent object")
    ec2.delete_network_interface(NetworkInterfaceId=eni["NetworkInterface"]["NetworkInterfaceId"])
    deleted = ec2.delete_security_group(GroupId=group_id)
    assert (deleted["Return"], deleted["GroupId"]) == (True, group_id)
    assert error_of(ec2.describe_security_groups, GroupIds=[group_id]) == (
        400, "InvalidGroup.NotFound", f"The security group '{group_id}' does not exist")
    default_id = ec2.describe_security_groups(Filters=[
        {"Name": "vpc-id", "Values": [vpc_id]}])["SecurityGroups"][0]["GroupId"]
    assert error_of(ec2.delete_security_group, GroupId=default_id) == (
        400, "CannotDelete",
        f'the specified group: "{default_id}" name: "default" cannot be deleted by a user')


def test_default_vpc_revoke_of_unknown_rule_reports_it(ec2: Any) -> None:
    group_id = ec2.describe_security_groups(GroupNames=["default"])["SecurityGroups"][0][
        "GroupId"]
    answer = ec2.revoke_security_group_ingress(GroupId=group_id, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
         "IpRanges": [{"CidrIp": "198.51.100.0/24"}]}])
    assert answer["UnknownIpPermissions"] == [
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "UserIdGroupPairs": [],
         "IpRanges": [{"CidrIp": "198.51.100.0/24"}], "Ipv6Ranges": [], "PrefixListIds": []}]
    assert answer["RevokedSecurityGroupRules"] == []


BAD_CALLS: list[tuple[str, dict[str, Any], int, str, str]] = [
    ("describe_subnets", {"SubnetIds": ["subnet-zzz"]}, 400, "InvalidSubnetID.Malformed",
     'Invalid id: "subnet-zzz" (expecting "subnet-...")'),
    ("describe_subnets", {"SubnetIds": ["subnet-12345678", "subnet-87654321"]}, 400,
     "InvalidSubnetID.NotFound", "The subnet IDs 'subnet-12345678, subnet-87654321' do not exist"),
    ("describe_subnets", {"Filters": [{"Name": "colour", "Values": ["blue"]}]}, 400,
     "InvalidParameterValue", "The filter 'colour' is invalid"),
    ("describe_network_interfaces", {"Filters": [{"Name": "bogus", "Values": ["x"]}]}, 400,
     "InvalidParameterValue", "The filter 'bogus' is invalid"),
    ("describe_vpcs", {"VpcIds": ["vpc-12345678"]}, 400, "InvalidVpcID.NotFound",
     "The vpc ID 'vpc-12345678' does not exist"),
    ("describe_security_groups", {"GroupIds": ["name"]}, 400, "InvalidGroupId.Malformed",
     'Invalid id: "name" (expecting "sg-...")'),
    ("describe_network_interfaces", {"NetworkInterfaceIds": ["eni-1"]}, 400,
     "InvalidNetworkInterfaceId.Malformed", 'Invalid id: "eni-1" (expecting "eni-...")'),
    ("create_vpc", {"CidrBlock": "10.0.0.0/8"}, 400, "InvalidVpc.Range",
     "The CIDR '10.0.0.0/8' is invalid."),
    ("create_vpc", {"CidrBlock": "10.0.0.300/16"}, 400, "InvalidParameterValue",
     "Value (10.0.0.300/16) for parameter cidrBlock is invalid. This is not a valid CIDR block."),
    ("create_vpc", {"CidrBlock": "10.9.0.0/16", "DryRun": True}, 412, "DryRunOperation",
     "Request would have succeeded, but DryRun flag is set."),
    ("create_subnet", {"VpcId": "vpc-12345678", "CidrBlock": "10.0.0.0/24"}, 400,
     "InvalidVpcID.NotFound", "The vpc ID 'vpc-12345678' does not exist"),
    ("create_network_interface", {"SubnetId": "subnet-12345678"}, 400,
     "InvalidSubnetID.NotFound", "The subnet ID 'subnet-12345678' does not exist"),
    ("delete_subnet", {"SubnetId": "subnet-12345678901234567"}, 400, "InvalidSubnetID.NotFound",
     "The subnet ID 'subnet-12345678901234567' does not exist"),
    ("delete_vpc", {"VpcId": "vpc-12345678"}, 400, "InvalidVpcID.NotFound",
     "The vpc ID 'vpc-12345678' does not exist"),
    ("delete_security_group", {"GroupId": "sg-12345678"}, 400, "InvalidGroup.NotFound",
     "The security group 'sg-12345678' does not exist"),
    ("delete_security_group", {"GroupName": "nope"}, 400, "InvalidGroup.NotFound",
     "The security group 'nope' does not exist in default VPC '{default_vpc}'"),
    ("create_security_group", {"GroupName": "sg-x", "Description": "d"}, 400,
     "InvalidParameterValue",
     ("Value (sg-x) for parameter GroupName is invalid. Group names may not be in the format "
      "sg-*.")),
    ("create_security_group", {"GroupName": "dup", "Description": "d", "DryRun": True}, 412,
     "DryRunOperation", "Request would have succeeded, but DryRun flag is set."),
    ("authorize_security_group_ingress", {"GroupId": "sg-12345678", "IpPermissions": [
        {"IpProtocol": "tcp", "FromPort": 1, "ToPort": 2, "IpRanges": [{"CidrIp": "1.2.3.4/32"}]}]},
     400, "InvalidGroup.NotFound", "The security group 'sg-12345678' does not exist"),
    ("describe_availability_zones", {"ZoneNames": ["us-east-1z"]}, 400, "InvalidParameterValue",
     "The zone 'us-east-1z' does not exist."),
    ("describe_subnets", {"MaxResults": 2000}, 400, "InvalidParameterValue",
     "Value ( 2000 ) for parameter maxResults is invalid. Expecting a value between 5 and 1000."),
    ("describe_instances", {}, 400, "NotImplementedYet",
     "hsmkms does not implement the EC2 action DescribeInstances yet."),
]


@pytest.mark.parametrize(("method", "kwargs", "status", "code", "message"), BAD_CALLS,
                         ids=[f"{c[0]}-{c[3]}" for c in BAD_CALLS])
def test_bad_input_gets_ec2_errors_and_changes_nothing(
        ec2: Any, method: str, kwargs: dict[str, Any], status: int, code: str,
        message: str) -> None:
    before = snapshot(ec2)
    default_vpc = before[0]["Vpcs"][0]["VpcId"]
    assert error_of(getattr(ec2, method), **kwargs) == (
        status, code, message.format(default_vpc=default_vpc))
    assert snapshot(ec2) == before


def test_pagination_and_regions(module_server: ServerProcess, account: str) -> None:
    ec2 = client_for(module_server, account)
    pages = ec2.get_paginator("describe_subnets").paginate(PaginationConfig={"PageSize": 5})
    assert [len(p["Subnets"]) for p in pages] == [5, 1]
    every = [s["SubnetId"] for p in ec2.get_paginator("describe_subnets").paginate()
             for s in p["Subnets"]]
    assert len(every) == 6
    europe = client_for(module_server, account, "eu-west-1")
    zones = [z["ZoneId"] for z in europe.describe_availability_zones()["AvailabilityZones"]]
    assert zones == ["euw1-az3", "euw1-az1", "euw1-az2"]
    assert error_of(europe.describe_subnets, SubnetIds=[every[0]]) == (
        400, "InvalidSubnetID.NotFound", f"The subnet ID '{every[0]}' does not exist")


def test_wire_format(module_server: ServerProcess, account: str) -> None:
    def post(body: bytes) -> tuple[int, str, str]:
        auth = (f"AWS4-HMAC-SHA256 Credential={account}/20261128/us-east-1/ec2/aws4_request, "
                "SignedHeaders=host, Signature=x")
        req = urllib.request.Request(module_server.endpoint + "/", data=body, method="POST",  # noqa: S310
                                     headers={"Content-Type": "application/x-www-form-urlencoded;"
                                              " charset=utf-8", "Authorization": auth})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 - loopback
                return resp.status, resp.headers["content-type"], resp.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.headers["content-type"], err.read().decode()

    status, ctype, body = post(b"Action=DescribeAvailabilityZones&Version=2016-11-15&"
                               b"ZoneName.1=us-east-1b")
    assert (status, ctype) == (200, "text/xml;charset=UTF-8")
    assert body.startswith('<?xml version="1.0" encoding="UTF-8"?>\n'
                           '<DescribeAvailabilityZonesResponse '
                           'xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>')
    assert "<availabilityZoneInfo><item><optInStatus>opt-in-not-required</optInStatus>" in body
    assert "<zoneName>us-east-1b</zoneName><zoneId>use1-az1</zoneId>" in body
    assert "<zoneState>available</zoneState>" in body
    status, ctype, body = post(b"Action=DeleteSubnet&Version=2016-11-15")
    assert status == 400
    assert body.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>'
                           "<Code>MissingParameter</Code><Message>The request must contain the "
                           "parameter SubnetId</Message></Error></Errors><RequestID>")
    status, _, body = post(b"Action=Frobnicate&Version=2016-11-15")
    assert status == 400
    assert ("<Code>InvalidAction</Code><Message>The action Frobnicate is not valid for this web "
            "service.</Message>") in body
    status, _, body = post(b"\xff\xfe garbage &&&= %zz")
    assert (status, "<Code>MissingAction</Code>" in body) == (400, True)
    # Version: botocore's 2016-11-15, older EC2 versions and none at all are answered; values
    # that cannot be an EC2 version are refused as AWS does.
    for version in (b"&Version=2016-11-15", b"&Version=2014-10-01", b""):
        status, _, body = post(b"Action=DescribeAvailabilityZones" + version)
        assert status == 200, body
    for version in ("2099-01-01", "2005-12-31", "latest", ""):
        status, _, body = post(f"Action=DescribeVpcs&Version={version}".encode())
        assert status == 400
        assert (f"<Code>NoSuchVersion</Code><Message>The requested version ({version}) of "
                "service AmazonEC2 does not exist</Message>") in body


def test_state_survives_a_hard_restart(hsmkms_server: ServerProcess) -> None:
    ec2 = hsmkms_server.client("ec2")
    _vpc, subnet_id = make_vpc_subnet(ec2)
    eni_id = ec2.create_network_interface(SubnetId=subnet_id)["NetworkInterface"][
        "NetworkInterfaceId"]
    before = snapshot(ec2)
    hsmkms_server.restart(hard=True)
    ec2 = hsmkms_server.client("ec2")
    assert snapshot(ec2) == before
    assert ec2.describe_subnets(SubnetIds=[subnet_id])["Subnets"][0][
        "AvailableIpAddressCount"] == 10
    ec2.delete_network_interface(NetworkInterfaceId=eni_id)
    ec2.delete_subnet(SubnetId=subnet_id)
