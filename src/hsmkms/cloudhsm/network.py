"""What CloudHSM needs from the EC2 emulation (:class:`hsmkms.ec2.network.Network`), with EC2
errors translated into the CloudHSM errors a user of CloudHSM gets.

The network raises EC2-coded errors; a CloudHSM caller never
sees those codes: AWS answers CreateHsm in a full subnet, or with a taken address, with
``CloudHsmInvalidRequestException`` (spec cloudhsm.md 1.3 rules, open question 2).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hsmkms.cloudhsm.errors import CloudHsmInvalidRequestException, message
from hsmkms.cloudhsm.model import Cluster
from hsmkms.errors import ServiceError

if TYPE_CHECKING:
    from hsmkms.ec2.network import Network

#: The cluster SG's rules: TCP 2223-2225 to and from the group itself (configure-sg).
HSM_PORTS = (2223, 2225)
#: The outbound allow-all rule EC2 gives every new group. CloudHSM's group has only the
#: 2223-2225 rules (spec ec2.md 5.1 proposal: the self rule replaces it), so it is revoked.
EGRESS_ALL = ("-1", -1, -1, "0.0.0.0/0")


#: CreateHsm's ENI: EC2 error code -> the message (errors.MESSAGES) a CloudHSM user gets. Other
#: errors are "ip_unavailable" when an IpAddress was asked for, else "network".
ENI_ERRORS = {
    "InvalidSubnetID.NotFound": "hsm_subnet_missing",  # the user deleted a mapped subnet
    "InvalidSecurityGroupID.NotFound": "hsm_group_missing",  # ... or the cluster's group
    "InsufficientFreeAddressesInSubnet": "no_free_address",
}


@dataclass(frozen=True, slots=True)
class SubnetInfo:
    subnet_id: str
    vpc_id: str
    availability_zone: str


class ClusterNetwork:
    def __init__(self, network: Network) -> None:
        self._network = network


    def subnets(self, scope: str, region: str, subnet_ids: list[str]) -> list[SubnetInfo]:
        net = self._network
        net.ensure_default(scope, region)
        found = []
        for subnet_id in subnet_ids:
            subnet = net.get_subnet(scope, subnet_id)
            if subnet is None:
                raise CloudHsmInvalidRequestException(message("subnet_not_found", id=subnet_id))
            found.append(SubnetInfo(subnet.subnet_id, subnet.vpc_id, subnet.availability_zone))
        return found

    def create_cluster_group(self, scope: str, vpc_id: str, cluster_id: str) -> str:
        net = self._network
        try:
            group = net.create_security_group(scope, vpc_id, f"cloudhsm-cluster-{cluster_id}-sg",
                                              f"Security group for CloudHSM cluster {cluster_id}")
            for direction in ("ingress", "egress"):
                net.authorize(scope, group, direction, "tcp", HSM_PORTS[0], HSM_PORTS[1],
                              source_group_id=group)
            protocol, low, high, cidr = EGRESS_ALL
            net.revoke(scope, group, "egress", protocol, low, high, cidr=cidr)
        except ServiceError as err:
            raise CloudHsmInvalidRequestException(message("network", reason=err.message)) \
                from None
        return str(group)

    def delete_group(self, scope: str, group_id: str) -> None:
        # Already gone, or still in use by something the user made: leave it.
        with contextlib.suppress(ServiceError):
            self._network.delete_security_group(scope, group_id)

    def create_eni(self, scope: str, cluster: Cluster, zone: str, hsm_id: str,
                   ip: str | None, now: float) -> tuple[str, str]:
        """The ENI of a new HSM in the cluster subnet of ``zone``: ``(eni id, address)``."""
        subnet_id = cluster.subnet_mapping[zone]
        try:
            eni = self._network.create_eni(scope, subnet_id, f"CloudHSM ENI for HSM {hsm_id}",
                                         [cluster.security_group], private_ip=ip,
                                         managed_by="amazon-cloudhsm", now=now)
        except ServiceError as err:
            name = ENI_ERRORS.get(err.code(), "ip_unavailable" if ip else "network")
            raise CloudHsmInvalidRequestException(message(
                name, id=cluster.cluster_id, az=zone, subnet=subnet_id, ip=ip,
                group=cluster.security_group, reason=err.message)) from None
        return str(eni.eni_id), str(eni.private_ip)

    def delete_eni(self, scope: str, eni_id: str) -> None:
        with contextlib.suppress(ServiceError):  # already gone
            self._network.delete_eni(scope, eni_id)
