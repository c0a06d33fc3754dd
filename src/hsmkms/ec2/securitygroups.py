"""Security groups and their rules (written only through :class:`hsmkms.ec2.network.Network`).

Facts: spec ec2.md §2.5 and §4.2. Every VPC has a group named ``default`` (description
``default VPC security group``) allowing all inbound traffic from itself and all outbound
traffic; it goes with its VPC and users cannot delete it. A new group has no inbound rules and
one outbound rule allowing everything (VPC user guide, security-groups).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from hsmkms.ec2 import errors as e
from hsmkms.ec2 import rules as rulebook
from hsmkms.ec2.ids import check_id
from hsmkms.ec2.model import Eni, Rule, SecurityGroup, Tag, Vpc
from hsmkms.scope import Scope

if TYPE_CHECKING:
    from hsmkms.store.base import Store

MAX_RULES = 60
MAX_GROUPS = 2500  # VPC security groups per Region (spec §4.5)
MAX_NAME = 255
DIRECTIONS = ("ingress", "egress")
_ALLOWED = re.compile(r"[a-zA-Z0-9 ._\-:/()#,@\[\]+=&;{}!$*]*")


def check_group_id(group_id: str) -> None:
    check_id("sg", group_id)


def _check_text(value: str, parameter: str) -> None:
    if len(value) > MAX_NAME or _ALLOWED.fullmatch(value) is None:
        raise e.InvalidParameterValue(
            f"Invalid value '{value}' for {parameter}. Valid values are up to {MAX_NAME} "
            "characters of a-z, A-Z, 0-9, spaces, and ._-:/()#,@[]+=&;{}!$*")


class SecurityGroups:
    def __init__(self, store: Store, new_id: Callable[[str], str],
                 touch: Callable[[str], None], vpc: Callable[[str, str], Vpc]) -> None:
        self._repo = store.repository("ec2.sg", SecurityGroup)
        self._new_id = new_id
        self._touch = touch
        self._vpc = vpc

    # -- lookups ----------------------------------------------------------------------------

    def all(self, scope: str) -> list[SecurityGroup]:
        self._touch(scope)
        return self._repo.values(scope)

    def find(self, scope: str, group_id: str) -> SecurityGroup | None:
        self._touch(scope)
        return self._repo.get(scope, group_id)

    def require(self, scope: str, group_id: str) -> SecurityGroup:
        check_group_id(group_id)
        group = self.find(scope, group_id)
        if group is None:
            raise e.InvalidGroupNotFound(f"The security group '{group_id}' does not exist")
        return group

    def by_name(self, scope: str, vpc_id: str, name: str) -> SecurityGroup | None:
        wanted = name.rstrip(" ").lower()
        return next((g for g in self.all(scope)
                     if g.vpc_id == vpc_id and g.name.lower() == wanted), None)

    def default_of(self, scope: str, vpc_id: str) -> SecurityGroup:
        group = self.by_name(scope, vpc_id, "default")
        assert group is not None, f"VPC {vpc_id} lost its default security group"
        return group

    # -- groups -----------------------------------------------------------------------------

    def create_default(self, scope: str, vpc_id: str) -> SecurityGroup:
        group_id = self._new_id("sg")
        group = SecurityGroup(
            group_id, vpc_id, "default", "default VPC security group", Scope(scope).account,
            ingress=(Rule(self._new_id("sgr"), "-1", -1, -1, source_group_id=group_id),),
            egress=(Rule(self._new_id("sgr"), "-1", -1, -1, cidr="0.0.0.0/0"),))
        self._repo.put(scope, group_id, group)
        return group

    def create(self, scope: str, vpc_id: str, name: str, description: str,
               tags: tuple[Tag, ...] = ()) -> SecurityGroup:
        vpc = self._vpc(scope, vpc_id)
        name = name.rstrip(" ")
        if name.lower().startswith("sg-"):
            raise e.InvalidParameterValue(f"Value ({name}) for parameter GroupName is invalid. "
                                          "Group names may not be in the format sg-*.")
        _check_text(name, "GroupName")
        _check_text(description, "GroupDescription")
        if name.lower() == "default":
            raise e.InvalidGroupReserved("The security group 'default' is reserved")
        if self.by_name(scope, vpc.vpc_id, name) is not None:
            raise e.InvalidGroupDuplicate(
                f"The security group '{name}' already exists for VPC '{vpc.vpc_id}'")
        if len(self.all(scope)) >= MAX_GROUPS:
            raise e.SecurityGroupLimitExceeded(
                "The maximum number of security groups has been reached.")
        group = SecurityGroup(self._new_id("sg"), vpc.vpc_id, name, description, vpc.owner_id,
                              egress=(Rule(self._new_id("sgr"), "-1", -1, -1,
                                           cidr="0.0.0.0/0"),), tags=tags)
        self._repo.put(scope, group.group_id, group)
        return group

    def delete(self, scope: str, group: SecurityGroup, enis: list[Eni]) -> None:
        if group.name == "default":
            raise e.CannotDelete(f'the specified group: "{group.group_id}" name: "default" '
                                 "cannot be deleted by a user")
        referenced = any(r.source_group_id == group.group_id
                         for other in self.all(scope) if other.group_id != group.group_id
                         for r in other.ingress + other.egress)
        if referenced or any(group.group_id in eni.group_ids for eni in enis):
            raise e.DependencyViolation(f"resource {group.group_id} has a dependent object")
        self._repo.delete(scope, group.group_id)

    def drop_vpc(self, scope: str, vpc_id: str) -> None:
        for group in self.all(scope):
            if group.vpc_id == vpc_id:
                self._repo.delete(scope, group.group_id)

    # -- rules ------------------------------------------------------------------------------

    def authorize(self, scope: str, group_id: str, direction: str,
                  specs: list[Rule]) -> list[Rule]:
        group = self.require(scope, group_id)
        existing = list(_rules(group, direction))
        added: list[Rule] = []
        for spec in specs:
            if spec.source_group_id and spec.source_group_id != group_id:
                self.require(scope, spec.source_group_id)
            if any(spec.same_permission(r) for r in existing + added):
                raise e.InvalidPermissionDuplicate(rulebook.duplicate_message(spec))
            added.append(dataclasses.replace(spec, rule_id=self._new_id("sgr")))
        if len(existing) + len(added) > MAX_RULES:
            raise e.RulesPerSecurityGroupLimitExceeded(
                "The maximum number of rules per security group has been reached.")
        self._repo.put(scope, group_id, _with_rules(group, direction, tuple(existing + added)))
        return added

    def revoke(self, scope: str, group_id: str, direction: str, specs: list[Rule],
               rule_ids: list[str]) -> tuple[list[Rule], list[Rule]]:
        """``(revoked rules, unknown specs)``. Unknown rules are an error except in the default
        VPC, where AWS returns them in ``UnknownIpPermissions`` (API reference, Revoke*)."""
        group = self.require(scope, group_id)
        existing = _rules(group, direction)
        gone = [r for r in existing if r.rule_id in rule_ids
                or any(r.same_permission(s) for s in specs)]
        unknown = [s for s in specs if not any(s.same_permission(r) for r in existing)]
        missing_ids = [i for i in rule_ids if all(r.rule_id != i for r in existing)]
        if missing_ids:
            raise e.InvalidSecurityGroupRuleIdNotFound(
                f"The security group rule ID '{missing_ids[0]}' does not exist")
        if unknown and not self._vpc(scope, group.vpc_id).is_default:
            raise e.InvalidPermissionNotFound(
                "The specified rule does not exist in this security group.")
        kept = tuple(r for r in existing if r not in gone)
        self._repo.put(scope, group_id, _with_rules(group, direction, kept))
        return gone, unknown

    def has_rule(self, scope: str, group_id: str, direction: str, protocol: str,
                 from_port: int, to_port: int, source_group_id: str | None) -> bool:
        group = self.find(scope, group_id)
        if group is None:
            return False
        spec = rulebook.make(protocol, from_port, to_port, source_group_id=source_group_id or "",
                             cidr="" if source_group_id else "0.0.0.0/0")
        return any(spec.same_permission(r) for r in _rules(group, direction))


def _rules(group: SecurityGroup, direction: str) -> tuple[Rule, ...]:
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, not {direction!r}")
    return group.ingress if direction == "ingress" else group.egress


def _with_rules(group: SecurityGroup, direction: str, new: tuple[Rule, ...]) -> SecurityGroup:
    if direction == "ingress":
        return dataclasses.replace(group, ingress=new)
    return dataclasses.replace(group, egress=new)
