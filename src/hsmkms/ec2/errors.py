"""EC2 errors. EC2 models no error shapes; these are the codes AWS documents or is observed to
send (spec ec2.md §1.6 and §3). Many codes contain a dot (``InvalidSubnetID.NotFound``), which
a Python class name cannot, so every class states its code in ``CODE``.

All are client errors (HTTP 400) except ``DryRunOperation`` (412, spec §1.5) and
``InternalError`` (500).
"""

from __future__ import annotations

from typing import ClassVar

from hsmkms.errors import ServiceError


class Ec2Error(ServiceError):
    CODE: ClassVar[str] = ""

    @classmethod
    def code(cls) -> str:
        return cls.CODE or cls.__name__


# -- generic request errors (all operations) -------------------------------------------------


class MissingParameter(Ec2Error):
    pass


class UnknownParameter(Ec2Error):
    pass


class InvalidParameterValue(Ec2Error):
    pass


class InvalidParameter(Ec2Error):
    pass


class InvalidParameterCombination(Ec2Error):
    pass


class InvalidAction(Ec2Error):
    pass


class MissingAction(Ec2Error):
    pass


class InvalidNextToken(Ec2Error):
    CODE = "InvalidNextToken"


class FilterLimitExceeded(Ec2Error):
    pass


class IdempotentParameterMismatch(Ec2Error):
    pass


class DryRunOperation(Ec2Error):
    status = 412


class NotImplementedYet(Ec2Error):
    """An operation of the EC2 model hsmkms does not implement (400, so SDKs do not retry)."""


class InternalError(Ec2Error):
    status = 500


class NoSuchVersion(Ec2Error):
    """An API version EC2 does not have (observed for EC2: boto/boto3#1138)."""


# -- malformed and unknown identifiers --------------------------------------------------------


class InvalidVpcIDMalformed(Ec2Error):
    CODE = "InvalidVpcID.Malformed"


class InvalidSubnetIDMalformed(Ec2Error):
    CODE = "InvalidSubnetID.Malformed"


class InvalidGroupIdMalformed(Ec2Error):
    CODE = "InvalidGroupId.Malformed"


class InvalidNetworkInterfaceIdMalformed(Ec2Error):
    CODE = "InvalidNetworkInterfaceId.Malformed"


class InvalidVpcIDNotFound(Ec2Error):
    CODE = "InvalidVpcID.NotFound"


class InvalidSubnetIDNotFound(Ec2Error):
    CODE = "InvalidSubnetID.NotFound"


class InvalidNetworkInterfaceIDNotFound(Ec2Error):
    CODE = "InvalidNetworkInterfaceID.NotFound"


class InvalidGroupNotFound(Ec2Error):
    CODE = "InvalidGroup.NotFound"


class InvalidSecurityGroupIDNotFound(Ec2Error):
    CODE = "InvalidSecurityGroupID.NotFound"


# -- VPCs and subnets -------------------------------------------------------------------------


class InvalidVpcRange(Ec2Error):
    CODE = "InvalidVpc.Range"


class InvalidSubnetRange(Ec2Error):
    CODE = "InvalidSubnet.Range"


class InvalidSubnetConflict(Ec2Error):
    CODE = "InvalidSubnet.Conflict"


class VpcLimitExceeded(Ec2Error):
    pass


class SubnetLimitExceeded(Ec2Error):
    pass


class DependencyViolation(Ec2Error):
    pass


# -- network interfaces -----------------------------------------------------------------------


class InsufficientFreeAddressesInSubnet(Ec2Error):
    pass


class InvalidIPAddressInUse(Ec2Error):
    CODE = "InvalidIPAddress.InUse"


class NetworkInterfaceLimitExceeded(Ec2Error):
    pass


class SecurityGroupsPerInterfaceLimitExceeded(Ec2Error):
    pass


# -- security groups --------------------------------------------------------------------------


class InvalidGroupDuplicate(Ec2Error):
    CODE = "InvalidGroup.Duplicate"


class InvalidGroupReserved(Ec2Error):
    CODE = "InvalidGroup.Reserved"


class InvalidPermissionDuplicate(Ec2Error):
    CODE = "InvalidPermission.Duplicate"


class InvalidPermissionNotFound(Ec2Error):
    CODE = "InvalidPermission.NotFound"


class InvalidPermissionMalformed(Ec2Error):
    CODE = "InvalidPermission.Malformed"


class InvalidSecurityGroupRuleIdNotFound(Ec2Error):
    CODE = "InvalidSecurityGroupRuleId.NotFound"


class CannotDelete(Ec2Error):
    pass


class VPCIdNotSpecified(Ec2Error):
    pass


class SecurityGroupLimitExceeded(Ec2Error):
    pass


class RulesPerSecurityGroupLimitExceeded(Ec2Error):
    pass
