"""The EC2 security group handlers (Create/Delete/Describe, Authorize/Revoke Ingress/Egress).

Facts: spec ec2.md §2.5. Group names resolve in the default VPC only (``GroupName``
parameters); rules name their peer by group id (or name, in the group's own VPC) or by CIDR.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hsmkms.context import RequestContext
from hsmkms.ec2 import errors as e
from hsmkms.ec2 import filters, views
from hsmkms.ec2 import rules as rulebook
from hsmkms.ec2.api import missing_ids, tags_of
from hsmkms.ec2.model import Rule, SecurityGroup
from hsmkms.ec2.network import Network
from hsmkms.ec2.securitygroups import check_group_id

Params = dict[str, Any]
Result = dict[str, Any]


class GroupHandlers:
    def __init__(self, network: Network) -> None:
        self.network = network
        self.groups = network.groups

    def handlers(self) -> dict[str, Callable[[RequestContext, Params], Result | None]]:
        return {
            "CreateSecurityGroup": self.create_security_group,
            "DeleteSecurityGroup": self.delete_security_group,
            "DescribeSecurityGroups": self.describe_security_groups,
            "AuthorizeSecurityGroupIngress": lambda c, p: self.authorize(c, p, "ingress"),
            "AuthorizeSecurityGroupEgress": lambda c, p: self.authorize(c, p, "egress"),
            "RevokeSecurityGroupIngress": lambda c, p: self.revoke(c, p, "ingress"),
            "RevokeSecurityGroupEgress": lambda c, p: self.revoke(c, p, "egress"),
        }

    # -- lookups ----------------------------------------------------------------------------

    def _default_vpc_id(self, scope: str) -> str:
        vpc = self.network.default_vpc(scope)
        if vpc is None:
            raise e.VPCIdNotSpecified("No default VPC for this user")
        return vpc.vpc_id

    def _by_name(self, scope: str, name: str) -> SecurityGroup:
        vpc_id = self._default_vpc_id(scope)
        group = self.groups.by_name(scope, vpc_id, name)
        if group is None:
            raise e.InvalidGroupNotFound(
                f"The security group '{name}' does not exist in default VPC '{vpc_id}'")
        return group

    def _target(self, ctx: RequestContext, params: Params) -> SecurityGroup:
        if params.get("GroupId"):
            return self.groups.require(ctx.scope, params["GroupId"])
        if params.get("GroupName"):
            return self._by_name(ctx.scope, params["GroupName"])
        raise e.MissingParameter("The request must contain the parameter groupName or groupId")

    # -- groups -----------------------------------------------------------------------------

    def create_security_group(self, ctx: RequestContext, params: Params) -> Result:
        vpc_id = params.get("VpcId") or self._default_vpc_id(ctx.scope)
        group = self.groups.create(ctx.scope, vpc_id, params["GroupName"],
                                   params["Description"], tags_of(params, "security-group"))
        view = views.security_group(group, ctx.region)
        return {"GroupId": group.group_id, "SecurityGroupArn": view["SecurityGroupArn"],
                "Tags": view["Tags"]}

    def delete_security_group(self, ctx: RequestContext, params: Params) -> Result:
        group = self._target(ctx, params)
        self.network.delete_security_group(ctx.scope, group.group_id)
        return {"Return": True, "GroupId": group.group_id}

    def describe_security_groups(self, ctx: RequestContext, params: Params) -> Result:
        ids = params.get("GroupIds") or []
        for ident in ids:
            check_group_id(ident)
        items = self.groups.all(ctx.scope)
        known = {g.group_id for g in items}
        absent = [i for i in dict.fromkeys(ids) if i not in known]
        if absent:
            raise e.InvalidGroupNotFound(missing_ids("security group", absent))
        named = {self._by_name(ctx.scope, n).group_id for n in params.get("GroupNames") or []}
        chosen = [g for g in items if (not ids or g.group_id in ids)
                  and (not named or g.group_id in named)]
        found = [views.security_group(g, ctx.region) for g in chosen]
        found = filters.apply(found, params.get("Filters"), filters.SECURITY_GROUP)
        chunk, token = filters.page(found, params.get("MaxResults"), params.get("NextToken"))
        return {"SecurityGroups": chunk, "NextToken": token}

    # -- rules ------------------------------------------------------------------------------

    def _specs(self, ctx: RequestContext, params: Params, group: SecurityGroup,
               direction: str) -> list[Rule]:
        specs: list[Rule] = []
        for perm in params.get("IpPermissions") or []:
            specs += self._permission_specs(ctx, perm, group)
        if direction == "ingress" and params.get("IpProtocol"):
            specs += self._flat_specs(ctx, params, group)
        return specs

    def _permission_specs(self, ctx: RequestContext, perm: Params,
                          group: SecurityGroup) -> list[Rule]:
        protocol = perm.get("IpProtocol")
        if protocol is None:
            raise e.MissingParameter("The request must contain the parameter ipProtocol")
        if perm.get("Ipv6Ranges") or perm.get("PrefixListIds"):
            raise e.NotImplementedYet("hsmkms does not implement IPv6 ranges or prefix lists in "
                                      "security group rules yet.")
        low, high = perm.get("FromPort"), perm.get("ToPort")
        specs = [rulebook.make(protocol, low, high, cidr=r.get("CidrIp", ""),
                               description=r.get("Description", ""))
                 for r in perm.get("IpRanges") or []]
        for pair in perm.get("UserIdGroupPairs") or []:
            peer = self._peer(ctx, pair.get("GroupId"), pair.get("GroupName"), group)
            specs.append(rulebook.make(protocol, low, high, source_group_id=peer,
                                       description=pair.get("Description", "")))
        if not specs:
            raise e.InvalidParameterValue("Each IP permission needs at least one peer: an IP "
                                          "range or a security group.")
        return specs

    def _flat_specs(self, ctx: RequestContext, params: Params,
                    group: SecurityGroup) -> list[Rule]:
        """The legacy flat parameters of AuthorizeSecurityGroupIngress (CLI ``--protocol``)."""
        protocol, low, high = params["IpProtocol"], params.get("FromPort"), params.get("ToPort")
        if params.get("SourceSecurityGroupName"):
            peer = self._peer(ctx, None, params["SourceSecurityGroupName"], group)
            return [rulebook.make(protocol, low, high, source_group_id=peer)]
        return [rulebook.make(protocol, low, high, cidr=params.get("CidrIp") or "0.0.0.0/0")]

    def _peer(self, ctx: RequestContext, group_id: str | None, name: str | None,
              group: SecurityGroup) -> str:
        if group_id:
            return self.groups.require(ctx.scope, group_id).group_id
        if name:
            peer = self.groups.by_name(ctx.scope, group.vpc_id, name)
            if peer is None:
                raise e.InvalidGroupNotFound(f"The security group '{name}' does not exist "
                                             f"in VPC '{group.vpc_id}'")
            return peer.group_id
        raise e.MissingParameter("The request must contain the parameter groupId")

    def authorize(self, ctx: RequestContext, params: Params, direction: str) -> Result:
        group = self._target(ctx, params)
        specs = self._specs(ctx, params, group, direction)
        if not specs:
            raise e.MissingParameter("The request must contain the parameter ipPermissions")
        added = self.groups.authorize(ctx.scope, group.group_id, direction, specs)
        egress = direction == "egress"
        return {"Return": True,
                "SecurityGroupRules": [views.rule(r, group, ctx.region, egress=egress)
                                       for r in added]}

    def revoke(self, ctx: RequestContext, params: Params, direction: str) -> Result:
        group = self._target(ctx, params)
        specs = self._specs(ctx, params, group, direction)
        rule_ids = params.get("SecurityGroupRuleIds") or []
        if not specs and not rule_ids:
            raise e.MissingParameter("The request must contain the parameter ipPermissions")
        gone, unknown = self.groups.revoke(ctx.scope, group.group_id, direction, specs,
                                           rule_ids)
        egress = direction == "egress"
        return {"Return": True,
                "UnknownIpPermissions": [views.permission(r.protocol, r.from_port, r.to_port,
                                                          [r], group.owner_id)
                                         for r in unknown] or None,
                "RevokedSecurityGroupRules": [views.rule(r, group, ctx.region, egress=egress)
                                              for r in gone]}
