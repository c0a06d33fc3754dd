"""Which EC2 operations hsmkms implements; every other operation of the model answers
``NotImplementedYet`` naming the action (so coverage cannot drift silently)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hsmkms.ec2 import errors as e
from hsmkms.ec2.api import ERRORS, Ec2Api
from hsmkms.ec2.network import Network
from hsmkms.http import HttpRequest
from hsmkms.protocol.ec2query import Ec2QueryService
from hsmkms.store.base import Store
from hsmkms.store.codec import Codec
from hsmkms.store.sqlite import SqliteDatabase

IMPLEMENTED = {
    "DescribeAvailabilityZones", "DescribeVpcs", "CreateVpc", "DeleteVpc", "DescribeSubnets",
    "CreateSubnet", "DeleteSubnet", "DescribeNetworkInterfaces", "CreateNetworkInterface",
    "DeleteNetworkInterface", "CreateSecurityGroup", "DeleteSecurityGroup",
    "DescribeSecurityGroups", "AuthorizeSecurityGroupIngress", "AuthorizeSecurityGroupEgress",
    "RevokeSecurityGroupIngress", "RevokeSecurityGroupEgress",
}


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Ec2QueryService:
    db = SqliteDatabase(Path(tmp_path_factory.mktemp("ec2api")) / "db")
    store = Store(db, Codec(lambda b: b.hex(), bytes.fromhex))
    return Ec2QueryService(Ec2Api(Network(store)).handlers(), ERRORS)


def test_implemented_operations(service: Ec2QueryService) -> None:
    assert service.implemented() == IMPLEMENTED


def test_every_other_operation_is_explicitly_not_implemented(service: Ec2QueryService) -> None:
    others = sorted(set(service.operations) - IMPLEMENTED)
    assert len(others) > 500
    for name in others:
        with pytest.raises(e.NotImplementedYet) as info:
            service.parse(HttpRequest("POST", "/", {}, f"Action={name}&Version=2016-11-15"
                                      .encode()))
        assert info.value.code() == "NotImplementedYet"
        assert info.value.message == f"hsmkms does not implement the EC2 action {name} yet."
        assert info.value.status == 400


def test_service_managed_enis_are_described_as_attached_and_cannot_be_deleted(
        tmp_path: Path) -> None:
    from urllib.parse import urlencode  # noqa: PLC0415

    from botocore.parsers import create_parser  # noqa: PLC0415

    from hsmkms.context import RequestContext  # noqa: PLC0415
    from hsmkms.protocol.model import service_model  # noqa: PLC0415

    db = SqliteDatabase(tmp_path / "db")
    store = Store(db, Codec(lambda b: b.hex(), bytes.fromhex))
    network = Network(store)
    service = Ec2QueryService(Ec2Api(network).handlers(), ERRORS)
    ctx = RequestContext(account="111122223333", region="eu-west-1", request_id="r", now=0.0)
    with store.unit_of_work():
        subnet = network.subnets(ctx.scope)[0]
        eni = network.create_eni(ctx.scope, subnet.subnet_id, "CloudHSM ENI for HSM hsm-x", [],
                                 managed_by="amazon-cloudhsm", now=1700000000.0)

    def run(action: str, **params: str) -> dict[str, object]:
        body = urlencode({"Action": action, "Version": "2016-11-15", **params}).encode()
        try:
            op, parsed = service.parse(HttpRequest("POST", "/", {}, body))
            response = service.success(op, service.invoke(ctx, op, parsed), "r")
        except e.Ec2Error as err:
            response = service.failure(err, "r")
        shape = service_model("ec2").operation_model(action).output_shape
        return create_parser("ec2").parse({"status_code": response.status, "headers": {},
                                           "body": response.body}, shape)

    (found,) = run("DescribeNetworkInterfaces")["NetworkInterfaces"]  # type: ignore[misc]
    assert found["Status"] == "in-use"
    assert found["RequesterManaged"] is True
    assert found["PrivateDnsName"] == "ip-172-31-0-4.eu-west-1.compute.internal"
    assert found["AvailabilityZoneId"] == "euw1-az3"
    attachment = found["Attachment"]
    assert attachment["InstanceOwnerId"] == "amazon-cloudhsm"
    assert attachment["Status"] == "attached"
    assert attachment["AttachTime"].timestamp() == 1700000000.0
    refused = run("DeleteNetworkInterface", NetworkInterfaceId=eni.eni_id)
    assert refused["Error"] == {  # type: ignore[comparison-overlap]
        "Code": "InvalidParameterValue",
        "Message": f"Network interface '{eni.eni_id}' is currently in use."}
    db.close()
