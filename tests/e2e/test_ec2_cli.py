"""EC2 with the real AWS CLI v1: the commands a user runs while diagnosing the KMS guide's
``SUBNET_NOT_FOUND`` and ``INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET`` (spec ec2.md §0).

The CLI exits 255 on a service error (v1; v2 uses 254) and prints
``An error occurred (<Code>) when calling the <Op> operation: <Message>`` on stderr.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from hsmkms.testing.server import ServerProcess

ACCOUNT = "333344445555"


@pytest.fixture
def ec2cli(module_server: ServerProcess) -> Any:
    env = {**module_server.cli_env(), "AWS_ACCESS_KEY_ID": ACCOUNT}
    exe = Path(__import__("sys").executable).with_name("aws")
    command = str(exe) if exe.exists() else "aws"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([command, "ec2", *args], env=env, capture_output=True,  # noqa: S603
                              text=True, timeout=60, check=False)

    return run


def ok(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout) if result.stdout.strip().startswith(("{", "[")) \
        else result.stdout.strip()


def failed(result: subprocess.CompletedProcess[str], op: str, code: str, message: str) -> None:
    assert result.returncode == 255, result.stdout
    assert result.stderr.strip() == (f"An error occurred ({code}) when calling the {op} "
                                     f"operation: {message}")


def test_troubleshooting_a_full_subnet_and_a_deleted_subnet(ec2cli: Any,
                                                            module_server: ServerProcess) -> None:
    vpc_id = ok(ec2cli("create-vpc", "--cidr-block", "10.0.0.0/16", "--query", "Vpc.VpcId",
                       "--output", "text"))
    small = ok(ec2cli("create-subnet", "--vpc-id", vpc_id, "--cidr-block", "10.0.0.0/28",
                      "--availability-zone", "us-east-1a"))["Subnet"]
    assert (small["State"], small["AvailableIpAddressCount"]) == ("pending", 11)
    spare = ok(ec2cli("create-subnet", "--vpc-id", vpc_id, "--cidr-block", "10.0.1.0/24",
                      "--availability-zone", "us-east-1b", "--query", "Subnet.SubnetId",
                      "--output", "text"))
    ok(ec2cli("wait", "subnet-available", "--subnet-ids", small["SubnetId"], spare))
    boto = module_server.client("ec2", credentials={"aws_access_key_id": ACCOUNT})
    for _ in range(10):
        boto.create_network_interface(SubnetId=small["SubnetId"], Description="app")
    last = ok(ec2cli("create-network-interface", "--subnet-id", small["SubnetId"],
                     "--description", "last one"))["NetworkInterface"]
    assert (last["PrivateIpAddress"], last["Status"]) == ("10.0.0.14", "pending")
    failed(ec2cli("create-network-interface", "--subnet-id", small["SubnetId"]),
           "CreateNetworkInterface", "InsufficientFreeAddressesInSubnet",
           "The specified subnet does not have enough free addresses to satisfy the request.")
    text = ok(ec2cli("describe-subnets", "--filters", f"Name=vpc-id,Values={vpc_id}", "--query",
                     "Subnets[].[SubnetId,AvailabilityZone,CidrBlock,AvailableIpAddressCount]",
                     "--output", "text"))
    assert text.splitlines() == [f"{small['SubnetId']}\tus-east-1a\t10.0.0.0/28\t0",
                                 f"{spare}\tus-east-1b\t10.0.1.0/24\t251"]
    listed = ok(ec2cli("describe-network-interfaces", "--filters",
                       f"Name=subnet-id,Values={small['SubnetId']}", "Name=status,Values=available",
                       "Name=description,Values=l*", "--query",
                       "NetworkInterfaces[].NetworkInterfaceId", "--output", "text"))
    assert listed == last["NetworkInterfaceId"]
    ok(ec2cli("delete-network-interface", "--network-interface-id", last["NetworkInterfaceId"]))
    count = ok(ec2cli("describe-subnets", "--subnet-ids", small["SubnetId"], "--query",
                      "Subnets[0].AvailableIpAddressCount"))
    assert count == "1"
    failed(ec2cli("delete-subnet", "--subnet-id", small["SubnetId"]), "DeleteSubnet",
           "DependencyViolation",
           f"The subnet '{small['SubnetId']}' has dependencies and cannot be deleted.")
    # A subnet without ENIs can be deleted; afterwards it is not found (SUBNET_NOT_FOUND).
    assert ok(ec2cli("delete-subnet", "--subnet-id", spare)) == ""
    failed(ec2cli("describe-subnets", "--subnet-ids", spare), "DescribeSubnets",
           "InvalidSubnetID.NotFound", f"The subnet ID '{spare}' does not exist")


def test_security_groups_with_the_cli(ec2cli: Any) -> None:
    vpc_id = ok(ec2cli("describe-vpcs", "--filters", "Name=is-default,Values=true", "--query",
                       "Vpcs[0].VpcId", "--output", "text"))
    group_id = ok(ec2cli("create-security-group", "--group-name", "kms-cks-1234567",
                         "--description", "KMS", "--vpc-id", vpc_id))["GroupId"]
    added = ok(ec2cli("authorize-security-group-ingress", "--group-id", group_id, "--protocol",
                      "tcp", "--port", "2223-2225", "--source-group", group_id))
    assert added["Return"] is True
    assert added["SecurityGroupRules"][0]["ReferencedGroupInfo"]["GroupId"] == group_id
    failed(ec2cli("authorize-security-group-ingress", "--group-id", group_id, "--protocol", "tcp",
                  "--port", "2223-2225", "--source-group", group_id),
           "AuthorizeSecurityGroupIngress", "InvalidPermission.Duplicate",
           f'the specified rule "peer: {group_id}, TCP, from port: 2223, to port: 2225, ALLOW" '
           "already exists")
    ok(ec2cli("authorize-security-group-ingress", "--group-name", "kms-cks-1234567", "--protocol",
              "tcp", "--port", "443", "--cidr", "10.0.0.7/8"))
    found = ok(ec2cli("describe-security-groups", "--filters",
                      "Name=group-name,Values=kms-cks-1234567,cloudhsm-cluster-x-sg",
                      "--query", "SecurityGroups[0].IpPermissions"))
    assert found == [
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "UserIdGroupPairs": [],
         "IpRanges": [{"CidrIp": "10.0.0.0/8"}], "Ipv6Ranges": [], "PrefixListIds": []},
        {"IpProtocol": "tcp", "FromPort": 2223, "ToPort": 2225,
         "UserIdGroupPairs": [{"UserId": ACCOUNT, "GroupId": group_id}], "IpRanges": [],
         "Ipv6Ranges": [], "PrefixListIds": []}]
    failed(ec2cli("describe-security-groups", "--filters", "Name=flavour,Values=x"),
           "DescribeSecurityGroups", "InvalidParameterValue", "The filter 'flavour' is invalid")
    ok(ec2cli("revoke-security-group-ingress", "--group-id", group_id, "--protocol", "tcp",
              "--port", "443", "--cidr", "10.0.0.0/8"))
    ok(ec2cli("delete-security-group", "--group-id", group_id))
    failed(ec2cli("delete-security-group", "--group-id", group_id), "DeleteSecurityGroup",
           "InvalidGroup.NotFound", f"The security group '{group_id}' does not exist")


def test_bad_input_with_the_cli(ec2cli: Any) -> None:
    failed(ec2cli("create-vpc", "--cidr-block", "10.0.0.0/8"), "CreateVpc", "InvalidVpc.Range",
           "The CIDR '10.0.0.0/8' is invalid.")
    failed(ec2cli("create-vpc", "--cidr-block", "10.0.0.0/16", "--dry-run"), "CreateVpc",
           "DryRunOperation", "Request would have succeeded, but DryRun flag is set.")
    failed(ec2cli("describe-subnets", "--subnet-ids", "subnet-xyz"), "DescribeSubnets",
           "InvalidSubnetID.Malformed", 'Invalid id: "subnet-xyz" (expecting "subnet-...")')
    failed(ec2cli("describe-network-interfaces", "--filters", "Name=bogus,Values=1"),
           "DescribeNetworkInterfaces", "InvalidParameterValue", "The filter 'bogus' is invalid")
    zones = ok(ec2cli("describe-availability-zones", "--query",
                      "AvailabilityZones[].[ZoneName,ZoneId]", "--output", "text"))
    assert zones.splitlines()[:2] == ["us-east-1a\tuse1-az6", "us-east-1b\tuse1-az1"]
    assert len(ok(ec2cli("describe-vpcs"))["Vpcs"]) >= 1
