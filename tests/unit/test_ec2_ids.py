"""EC2 ID formats (``hsmkms.ec2.ids``): 8 or 17 lowercase hex digits after the prefix."""

from __future__ import annotations

import pytest

from hsmkms.ec2.errors import Ec2Error
from hsmkms.ec2.ids import check_id


@pytest.mark.parametrize("ident", ["vpc-1a2b3c4d", "vpc-0123456789abcdef0"])
def test_well_formed(ident: str) -> None:
    check_id("vpc", ident)


@pytest.mark.parametrize(("prefix", "ident", "code"), [
    ("vpc", "vpc-012345678", "InvalidVpcID.Malformed"),  # 9 digits: AWS says malformed
    ("vpc", "vpc-0123456789ABCDEF0", "InvalidVpcID.Malformed"),  # AWS IDs are lowercase
    ("subnet", "subnet-1234567", "InvalidSubnetID.Malformed"),
    ("subnet", "subnet-0123456789abcdef01", "InvalidSubnetID.Malformed"),
    ("eni", "eni-0123456789abcdefg", "InvalidNetworkInterfaceId.Malformed"),
    ("sg", "vpc-0123456789abcdef0", "InvalidGroupId.Malformed"),
])
def test_malformed(prefix: str, ident: str, code: str) -> None:
    with pytest.raises(Ec2Error) as exc:
        check_id(prefix, ident)
    assert exc.value.code() == code
    assert exc.value.message == f'Invalid id: "{ident}" (expecting "{prefix}-...")'
