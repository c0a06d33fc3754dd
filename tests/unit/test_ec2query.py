"""The EC2 query engine, round-tripped through botocore's own EC2 serializer and parser."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

import pytest
from botocore.parsers import create_parser
from botocore.serialize import create_serializer

from hsmkms.ec2 import errors as e
from hsmkms.ec2.api import ERRORS
from hsmkms.http import HttpRequest
from hsmkms.protocol.ec2query import Ec2QueryService, format_time
from hsmkms.protocol.model import service_model

MODEL = service_model("ec2")
SERIALIZER = create_serializer("ec2")
PARSER = create_parser("ec2")


class Recorder:
    """Handlers that record what they were given and answer a canned result."""

    def __init__(self) -> None:
        self.seen: dict[str, Any] = {}
        self.answers: dict[str, Any] = {}

    def handler(self, name: str) -> Any:
        def run(_ctx: Any, params: dict[str, Any]) -> Any:
            self.seen[name] = params
            answer = self.answers.get(name)
            if isinstance(answer, Exception):
                raise answer
            return answer
        return run


OPS = ["DescribeSubnets", "CreateNetworkInterface", "AuthorizeSecurityGroupIngress",
       "CreateSubnet", "DeleteSubnet", "DescribeNetworkInterfaces", "DescribeSecurityGroups",
       "CreateVpc", "DescribeAvailabilityZones", "RevokeSecurityGroupEgress"]


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def service(recorder: Recorder) -> Ec2QueryService:
    return Ec2QueryService({op: recorder.handler(op) for op in OPS}, ERRORS)


def request_for(op: str, params: dict[str, Any]) -> HttpRequest:
    wire = SERIALIZER.serialize_to_request(params, MODEL.operation_model(op))
    body = urlencode(wire["body"]).encode()
    return HttpRequest("POST", "/", {"content-type": "application/x-www-form-urlencoded"}, body)


def call(service: Ec2QueryService, op: str, params: dict[str, Any]) -> dict[str, Any]:
    """Serialise with botocore, parse and run with the engine, parse the answer with botocore."""
    try:
        operation, parsed = service.parse(request_for(op, params))
        response = service.success(operation, service.invoke(None, operation, parsed), "rid-1")
    except e.Ec2Error as err:
        response = service.failure(err, "rid-1")
    shape = MODEL.operation_model(op).output_shape
    return PARSER.parse({"status_code": response.status, "headers": dict(response.headers),
                         "body": response.body}, shape)


@pytest.mark.parametrize(("op", "params"), [
    ("DescribeSubnets", {"SubnetIds": ["subnet-0123456789abcdef0", "subnet-1"],
                         "Filters": [{"Name": "vpc-id", "Values": ["vpc-1", "vpc-2"]},
                                     {"Name": "state", "Values": ["available"]}],
                         "MaxResults": 7, "NextToken": "abc", "DryRun": True}),
    ("CreateNetworkInterface", {"SubnetId": "subnet-1", "Description": "KMS managed ENI",
                                "Groups": ["sg-1", "sg-2"], "PrivateIpAddress": "10.0.0.5",
                                "TagSpecifications": [{"ResourceType": "network-interface",
                                                       "Tags": [{"Key": "a", "Value": "b"}]}],
                                "PrivateIpAddresses": [{"PrivateIpAddress": "10.0.0.5",
                                                        "Primary": True}],
                                "ClientToken": "tok"}),
    ("AuthorizeSecurityGroupIngress", {
        "GroupId": "sg-1", "IpPermissions": [
            {"IpProtocol": "tcp", "FromPort": 2223, "ToPort": 2225,
             "UserIdGroupPairs": [{"GroupId": "sg-1", "Description": "self"}],
             "IpRanges": [{"CidrIp": "10.0.0.0/8"}, {"CidrIp": "0.0.0.0/0",
                                                      "Description": "all"}]},
            {"IpProtocol": "-1"}]}),
    ("CreateSubnet", {"VpcId": "vpc-1", "CidrBlock": "10.0.0.0/24",
                      "AvailabilityZone": "us-east-1a"}),
    ("DeleteSubnet", {"SubnetId": "subnet-1"}),
    ("DescribeAvailabilityZones", {"ZoneNames": ["us-east-1a"], "AllAvailabilityZones": False}),
    ("RevokeSecurityGroupEgress", {"GroupId": "sg-1", "SecurityGroupRuleIds": ["sgr-1"]}),
])
def test_request_members_round_trip(service: Ec2QueryService, recorder: Recorder, op: str,
                                    params: dict[str, Any]) -> None:
    call(service, op, params)
    assert recorder.seen[op] == params


def test_empty_lists_are_not_sent_and_come_back_absent(service: Ec2QueryService,
                                                        recorder: Recorder) -> None:
    call(service, "DescribeSubnets", {"SubnetIds": [], "Filters": []})
    assert recorder.seen["DescribeSubnets"] == {}


def test_query_string_parameters_and_member_spelling_are_accepted(
        service: Ec2QueryService) -> None:
    req = HttpRequest("POST", "/", {}, b"SubnetId.member.1=subnet-a&SubnetId.member.2=subnet-b",
                      query="Action=DescribeSubnets&Version=2016-11-15")
    op, params = service.parse(req)
    assert op.name == "DescribeSubnets"
    assert params == {"SubnetIds": ["subnet-a", "subnet-b"]}


def test_output_round_trip_with_lists_structures_booleans_and_timestamps(
        service: Ec2QueryService, recorder: Recorder) -> None:
    eni = {"NetworkInterfaceId": "eni-1", "Description": "", "RequesterManaged": True,
           "SourceDestCheck": False, "Groups": [{"GroupId": "sg-1", "GroupName": "a<b&c"}],
           "Ipv6Addresses": [], "PrivateIpAddresses": [{"PrivateIpAddress": "10.0.0.4",
                                                        "Primary": True}],
           "Attachment": {"AttachTime": 1385854602.5, "DeviceIndex": 1,
                          "DeleteOnTermination": True}}
    recorder.answers["DescribeNetworkInterfaces"] = {"NetworkInterfaces": [eni],
                                                     "NextToken": None}
    parsed = call(service, "DescribeNetworkInterfaces", {})
    got = parsed["NetworkInterfaces"][0]
    assert got["Attachment"].pop("AttachTime") == dt.datetime(2013, 11, 30, 23, 36, 42, 500000,
                                                              tzinfo=dt.UTC)
    expected = {**eni, "Attachment": {"DeviceIndex": 1, "DeleteOnTermination": True}}
    assert got == expected
    assert "NextToken" not in parsed
    assert parsed["ResponseMetadata"]["RequestId"] == "rid-1"


def test_success_body_is_ec2_shaped(service: Ec2QueryService, recorder: Recorder) -> None:
    recorder.answers["DescribeSubnets"] = {"Subnets": []}
    op, params = service.parse(request_for("DescribeSubnets", {}))
    body = service.success(op, service.invoke(None, op, params), "rid-9").body.decode()
    assert body == ('<?xml version="1.0" encoding="UTF-8"?>\n<DescribeSubnetsResponse '
                    'xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>rid-9'
                    '</requestId><subnetSet/></DescribeSubnetsResponse>')


def test_operations_without_output_answer_return_true(service: Ec2QueryService) -> None:
    op, params = service.parse(request_for("DeleteSubnet", {"SubnetId": "subnet-1"}))
    body = service.success(op, service.invoke(None, op, params), "r").body.decode()
    assert body.endswith("<requestId>r</requestId><return>true</return></DeleteSubnetResponse>")


def test_error_body_and_botocore_parse(service: Ec2QueryService, recorder: Recorder) -> None:
    recorder.answers["DeleteSubnet"] = e.InvalidSubnetIDNotFound(
        "The subnet ID 'subnet-1234' does not exist")
    parsed = call(service, "DeleteSubnet", {"SubnetId": "subnet-1234"})
    assert parsed["Error"] == {"Code": "InvalidSubnetID.NotFound",
                               "Message": "The subnet ID 'subnet-1234' does not exist"}
    assert parsed["ResponseMetadata"]["RequestId"] == "rid-1"
    assert parsed["ResponseMetadata"]["HTTPStatusCode"] == 400
    raw = service.failure(e.DryRunOperation("x"), "r")
    assert raw.status == 412
    assert raw.body.decode() == ('<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors>'
                                 "<Error><Code>DryRunOperation</Code><Message>x</Message></Error>"
                                 "</Errors><RequestID>r</RequestID></Response>")


@pytest.mark.parametrize(("body", "code", "message"), [
    (b"Version=2016-11-15", "MissingAction", "The request must contain the parameter Action"),
    (b"Action=DescribeFoo", "InvalidAction",
     "The action DescribeFoo is not valid for this web service."),
    (b"Action=DescribeInstances", "NotImplementedYet",
     "hsmkms does not implement the EC2 action DescribeInstances yet."),
    (b"Action=DeleteSubnet", "MissingParameter",
     "The request must contain the parameter SubnetId"),
    (b"Action=DeleteSubnet&SubnetId=subnet-1&Bogus=1", "UnknownParameter",
     "The parameter Bogus is not recognized"),
    (b"Action=DescribeSubnets&Filter.1.Nope=x", "UnknownParameter",
     "The parameter Filter.1.Nope is not recognized"),
    (b"Action=DescribeSubnets&SubnetId.x=subnet-1", "UnknownParameter",
     "The parameter SubnetId.x is not recognized"),
    (b"Action=DeleteSubnet&SubnetId.1=subnet-1", "UnknownParameter",
     "The parameter SubnetId.1 is not recognized"),
    (b"Action=DescribeSubnets&MaxResults=ten", "InvalidParameterValue",
     "Value (ten) for parameter MaxResults is invalid. Not a valid integer."),
    (b"Action=DescribeSubnets&DryRun=maybe", "InvalidParameterValue",
     "Value (maybe) for parameter DryRun is invalid. Not a valid boolean."),
    (b"Action=AuthorizeSecurityGroupIngress&IpPermissions.1.FromPort=x",
     "InvalidParameterValue",
     "Value (x) for parameter IpPermissions.1.FromPort is invalid. Not a valid integer."),
])
def test_bad_requests(service: Ec2QueryService, body: bytes, code: str, message: str) -> None:
    with pytest.raises(e.Ec2Error) as info:
        service.parse(HttpRequest("POST", "/", {}, body + b"&Version=2016-11-15"))
    assert (info.value.code(), info.value.message) == (code, message)


def test_envelope_parameters_are_ignored(service: Ec2QueryService) -> None:
    req = HttpRequest("GET", "/", {}, b"", query="Action=DeleteSubnet&SubnetId=subnet-1&"
                      "Version=2016-11-15&X-Amz-Signature=abc&X-Amz-Date=20261128T000000Z&"
                      "AWSAccessKeyId=AKID&SignatureVersion=2")
    assert service.parse(req)[1] == {"SubnetId": "subnet-1"}


def test_format_time() -> None:
    assert format_time(1385854602.0) == "2013-11-30T23:36:42.000Z"
    assert format_time(0.123) == "1970-01-01T00:00:00.123Z"


def test_handlers_must_exist_in_the_model() -> None:
    with pytest.raises(ValueError, match="DescribeUnicorns"):
        Ec2QueryService({"DescribeUnicorns": lambda _c, _p: None}, ERRORS)


def test_text_xml_cannot_carry_is_replaced(service: Ec2QueryService, recorder: Recorder) -> None:
    recorder.answers["DescribeNetworkInterfaces"] = {"NetworkInterfaces": [
        {"Description": "bad\x00byte <tag> & \ud800"}]}
    parsed = call(service, "DescribeNetworkInterfaces", {})
    assert parsed["NetworkInterfaces"] == [{"Description": "bad\ufffdbyte <tag> & \ufffd"}]
