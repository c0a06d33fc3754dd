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
