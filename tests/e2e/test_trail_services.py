"""CloudTrail over a real server for what is not KMS: CloudHSM v2 and EC2 calls are management
events with their own ``eventSource``; and the time a service event is dated. Each test uses
its own Region of the module server, so it sees only its own events."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from hsmkms.testing.server import ServerProcess

DAY = 86400
BAD_FILTER = "Invalid filter 'nosuchfilter'. Valid filters: clusterIds, vpcIds, states."


def events(trail: Any, **kwargs: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for page in trail.get_paginator("lookup_events").paginate(**kwargs):
        found.extend(page["Events"])
    return found


def attribute(key: str, value: str) -> dict[str, Any]:
    return {"LookupAttributes": [{"AttributeKey": key, "AttributeValue": value}]}


def summary(found: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [(e["EventSource"], e["EventName"], e["ReadOnly"]) for e in found]


def test_cloudhsm_and_ec2_calls_are_management_events(module_server: ServerProcess) -> None:
    region = "eu-west-3"
    ec2 = module_server.client("ec2", region)
    hsm = module_server.client("cloudhsmv2", region)
    trail = module_server.client("cloudtrail", region)
    subnets = ec2.describe_subnets()["Subnets"]
    vpc_id = subnets[0]["VpcId"]
    group = ec2.create_security_group(GroupName="trail-test", Description="for the trail",
                                      VpcId=vpc_id)["GroupId"]
    cluster = hsm.create_cluster(HsmType="hsm2m.medium",
                                 SubnetIds=[subnets[0]["SubnetId"]])["Cluster"]
    hsm.describe_clusters()
    with pytest.raises(ClientError) as exc:
        hsm.describe_clusters(Filters={"clusterIds": ["cluster-doesnotexist"],
                                       "nosuchfilter": ["x"]})
    assert exc.value.response["Error"] == {"Code": "CloudHsmInvalidRequestException",
                                           "Message": BAD_FILTER}
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400

    found = events(trail)
    assert summary(found)[:4] == [
        ("cloudhsm.amazonaws.com", "DescribeClusters", "true"),
        ("cloudhsm.amazonaws.com", "DescribeClusters", "true"),
        ("cloudhsm.amazonaws.com", "CreateCluster", "false"),
        ("ec2.amazonaws.com", "CreateSecurityGroup", "false"),
    ]
    assert summary(found)[4:] == [("ec2.amazonaws.com", "DescribeSubnets", "true")]
    failed, described, created, made_group, listed = (json.loads(e["CloudTrailEvent"])
                                                       for e in found)
    assert created["eventSource"] == "cloudhsm.amazonaws.com"
    assert created["eventType"] == "AwsApiCall"
    assert created["managementEvent"] is True
    assert created["readOnly"] is False
    assert created["awsRegion"] == region
    assert created["requestParameters"] == {"hsmType": "hsm2m.medium",
                                            "subnetIds": [subnets[0]["SubnetId"]]}
    assert created["responseElements"]["cluster"]["clusterId"] == cluster["ClusterId"]
    assert described["readOnly"] is True
    assert described["responseElements"] is None  # answers of reads are not logged
    assert (failed["eventName"], failed["errorCode"], failed["errorMessage"]) == (
        "DescribeClusters", "CloudHsmInvalidRequestException", BAD_FILTER)
    assert failed["responseElements"] is None
    assert made_group["requestParameters"] == {"groupName": "trail-test",
                                               "description": "for the trail", "vpcId": vpc_id}
    assert made_group["responseElements"]["groupId"] == group
    assert listed["eventSource"] == "ec2.amazonaws.com"
    assert listed["requestParameters"] is None
    assert listed["readOnly"] is True

    by_source = events(trail, **attribute("EventSource", "ec2.amazonaws.com"))
    assert [e["EventName"] for e in by_source] == ["CreateSecurityGroup", "DescribeSubnets"]
    writes = events(trail, **attribute("ReadOnly", "false"))
    assert [e["EventName"] for e in writes] == ["CreateCluster", "CreateSecurityGroup"]
    named = events(trail, **attribute("EventName", "CreateCluster"))
    assert [e["EventSource"] for e in named] == ["cloudhsm.amazonaws.com"]


def test_a_failed_ec2_call_is_recorded_with_its_error(module_server: ServerProcess) -> None:
    region = "eu-north-1"
    ec2 = module_server.client("ec2", region)
    trail = module_server.client("cloudtrail", region)
    with pytest.raises(ClientError) as exc:
        ec2.delete_vpc(VpcId="vpc-0123456789abcdef0")
    message = "The vpc ID 'vpc-0123456789abcdef0' does not exist"
    assert exc.value.response["Error"] == {"Code": "InvalidVpcID.NotFound", "Message": message}
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    [event] = events(trail)
    rec = json.loads(event["CloudTrailEvent"])
    # EC2's events name the party at fault before the code; the message is the response's
    assert (rec["eventSource"], rec["eventName"], rec["errorCode"], rec["errorMessage"]) == (
        "ec2.amazonaws.com", "DeleteVpc", "Client.InvalidVpcID.NotFound", message)
    assert rec["requestParameters"] == {"vpcId": "vpc-0123456789abcdef0"}


def test_delete_key_is_dated_when_the_waiting_period_ended(module_server: ServerProcess) -> None:
    region = "ap-south-2"
    kms = module_server.client("kms", region)
    trail = module_server.client("cloudtrail", region)
    arn = kms.create_key()["KeyMetadata"]["Arn"]
    deletion = kms.schedule_key_deletion(KeyId=arn, PendingWindowInDays=7)["DeletionDate"]
    module_server.advance(30 * DAY)
    [event] = events(trail, **attribute("EventName", "DeleteKey"))
    # CloudTrail dates events to the second; not to the day the clock was moved to
    assert event["EventTime"] == deletion.replace(microsecond=0)
    rec = json.loads(event["CloudTrailEvent"])
    assert rec["eventTime"] == deletion.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
