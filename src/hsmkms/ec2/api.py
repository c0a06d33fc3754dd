"""The EC2 API handlers: request members in, output members out (no HTTP, no XML).

Every handler reads the scope's network through :class:`~hsmkms.ec2.network.Network`, renders
results with :mod:`hsmkms.ec2.views` and filters them with :mod:`hsmkms.ec2.filters`. The
request runs in the app's envelope (``serve``), in one unit of work: a failure, or ``DryRun``,
drops every write of the operation.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from hsmkms.context import RequestContext
from hsmkms.ec2 import addressing, filters, views
from hsmkms.ec2 import errors as e
from hsmkms.ec2.model import Tag
from hsmkms.ec2.network import Network, check_id
from hsmkms.envelope import Exchange, Style
from hsmkms.errors import ServiceError
from hsmkms.http import HttpRequest, HttpResponse
from hsmkms.protocol.ec2query import Ec2QueryService, QueryErrors

if TYPE_CHECKING:
    from hsmkms.envelope import Routes

Params = dict[str, Any]
Result = dict[str, Any]

#: EC2's first API version, and its latest: every change since 2016 went into 2016-11-15.
FIRST_VERSION, LATEST_VERSION = "2006-06-26", "2016-11-15"

ERRORS = QueryErrors(missing_action=e.MissingAction, invalid_action=e.InvalidAction,
                     not_implemented=e.NotImplementedYet, unknown_parameter=e.UnknownParameter,
                     missing_parameter=e.MissingParameter, invalid_value=e.InvalidParameterValue)


def missing_ids(noun: str, ids: list[str]) -> str:
    """``The subnet ID 'a' does not exist`` / ``The subnet IDs 'a, b' do not exist``."""
    if len(ids) == 1:
        return f"The {noun} '{ids[0]}' does not exist"
    return f"The {noun}s '{', '.join(ids)}' do not exist"


def tags_of(params: Params, resource_type: str) -> tuple[Tag, ...]:
    found: list[Tag] = []
    for spec in params.get("TagSpecifications") or []:
        if spec.get("ResourceType") != resource_type:
            raise e.InvalidParameterValue(f"'{spec.get('ResourceType')}' is not a valid "
                                          "taggable resource type for this operation.")
        found += [Tag(t.get("Key", ""), t.get("Value", "")) for t in spec.get("Tags") or []]
    return tuple(found)


class Ec2Api:
    def __init__(self, network: Network) -> None:
        self.network = network

    def handlers(self) -> dict[str, Callable[[RequestContext, Params], Result | None]]:
        from hsmkms.ec2.api_groups import GroupHandlers  # noqa: PLC0415

        groups = GroupHandlers(self.network)
        return {
            "DescribeAvailabilityZones": self.describe_availability_zones,
            "DescribeVpcs": self.describe_vpcs, "CreateVpc": self.create_vpc,
            "DeleteVpc": self.delete_vpc,
            "DescribeSubnets": self.describe_subnets, "CreateSubnet": self.create_subnet,
            "DeleteSubnet": self.delete_subnet,
            "DescribeNetworkInterfaces": self.describe_network_interfaces,
            "CreateNetworkInterface": self.create_network_interface,
            "DeleteNetworkInterface": self.delete_network_interface,
            **groups.handlers(),
        }

    # -- zones ------------------------------------------------------------------------------

    def describe_availability_zones(self, ctx: RequestContext, params: Params) -> Result:
        zones = addressing.zones(ctx.region)
        names, ids = params.get("ZoneNames") or [], params.get("ZoneIds") or []
        for wanted in names:
            if wanted not in zones:
                raise e.InvalidParameterValue(f"The zone '{wanted}' does not exist.")
        for wanted in ids:
            if wanted not in zones.values():
                raise e.InvalidParameterValue(f"The zone ID '{wanted}' does not exist.")
        found = [views.zone(ctx.region, n, i) for n, i in zones.items()
                 if (not names or n in names) and (not ids or i in ids)]
        return {"AvailabilityZones": filters.apply(found, params.get("Filters"), filters.ZONE)}

    # -- VPCs -------------------------------------------------------------------------------

    def describe_vpcs(self, ctx: RequestContext, params: Params) -> Result:
        wanted = params.get("VpcIds") or []
        for ident in wanted:
            check_id("vpc", ident)
        items = self.network.vpcs(ctx.scope)
        known = {v.vpc_id for v in items}
        absent = [i for i in dict.fromkeys(wanted) if i not in known]
        if absent:
            raise e.InvalidVpcIDNotFound(missing_ids("vpc ID", absent))
        found = [views.vpc(v) for v in items if not wanted or v.vpc_id in wanted]
        found = filters.apply(found, params.get("Filters"), filters.VPC)
        chunk, token = filters.page(found, params.get("MaxResults"), params.get("NextToken"))
        return {"Vpcs": chunk, "NextToken": token}

    def create_vpc(self, ctx: RequestContext, params: Params) -> Result:
        cidr = params.get("CidrBlock")
        if cidr is None:
            raise e.MissingParameter("Either 'cidrBlock' or 'ipv4IpamPoolId' should be "
                                     "provided.")
        vpc = self.network.create_vpc(ctx.scope, cidr, params.get("InstanceTenancy", "default"),
                                      tags_of(params, "vpc"))
        return {"Vpc": views.vpc(vpc, state="pending")}

    def delete_vpc(self, ctx: RequestContext, params: Params) -> None:
        self.network.delete_vpc(ctx.scope, params["VpcId"])

    # -- subnets ----------------------------------------------------------------------------

    def describe_subnets(self, ctx: RequestContext, params: Params) -> Result:
        wanted = params.get("SubnetIds") or []
        for ident in wanted:
            check_id("subnet", ident)
        items = self.network.subnets(ctx.scope)
        known = {s.subnet_id for s in items}
        absent = [i for i in dict.fromkeys(wanted) if i not in known]
        if absent:
            raise e.InvalidSubnetIDNotFound(missing_ids("subnet ID", absent))
        found = [views.subnet(s, ctx.region) for s in items if not wanted or s.subnet_id in wanted]
        found = filters.apply(found, params.get("Filters"), filters.SUBNET)
        chunk, token = filters.page(found, params.get("MaxResults"), params.get("NextToken"))
        return {"Subnets": chunk, "NextToken": token}

    def create_subnet(self, ctx: RequestContext, params: Params) -> Result:
        cidr = params.get("CidrBlock")
        if cidr is None:
            raise e.MissingParameter("The request must contain the parameter CidrBlock")
        subnet = self.network.create_subnet(
            ctx.scope, params["VpcId"], cidr, params.get("AvailabilityZone"),
            params.get("AvailabilityZoneId"), tags_of(params, "subnet"))
        return {"Subnet": views.subnet(subnet, ctx.region, state="pending")}

    def delete_subnet(self, ctx: RequestContext, params: Params) -> None:
        self.network.delete_subnet(ctx.scope, params["SubnetId"])

    # -- network interfaces -----------------------------------------------------------------

    def _eni_view(self, ctx: RequestContext, eni: Any, status: str | None = None) -> Result:
        zone_ids = addressing.zones(ctx.region)

        def group_name(group_id: str) -> str:
            group = self.network.groups.find(ctx.scope, group_id)
            return group.name if group is not None else ""

        return views.eni(eni, ctx.region, zone_ids.get(eni.availability_zone, ""), group_name,
                         status)

    def describe_network_interfaces(self, ctx: RequestContext, params: Params) -> Result:
        wanted = params.get("NetworkInterfaceIds") or []
        if wanted and params.get("MaxResults") is not None:
            raise e.InvalidParameterCombination(
                "The parameter NetworkInterfaceIds cannot be used with the parameter "
                "MaxResults")
        for ident in wanted:
            check_id("eni", ident)
        items = self.network.enis(ctx.scope)
        known = {n.eni_id for n in items}
        absent = [i for i in dict.fromkeys(wanted) if i not in known]
        if absent:
            raise e.InvalidNetworkInterfaceIDNotFound(missing_ids("networkInterface ID", absent))
        found = [self._eni_view(ctx, n) for n in items if not wanted or n.eni_id in wanted]
        found = filters.apply(found, params.get("Filters"), filters.ENI, tags_member="TagSet")
        chunk, token = filters.page(found, params.get("MaxResults"), params.get("NextToken"))
        return {"NetworkInterfaces": chunk, "NextToken": token}

    def create_network_interface(self, ctx: RequestContext, params: Params) -> Result:
        _only_one_address(params)
        token = params.get("ClientToken")
        fingerprint = _fingerprint(params)
        if token:
            known = self.network.client_token(ctx.scope, token)
            if known is not None:
                return self._replay(ctx, known, fingerprint, token)
        address = params.get("PrivateIpAddress") or _primary(params)
        eni = self.network.create_eni(ctx.scope, params["SubnetId"],
                                      params.get("Description", ""), params.get("Groups") or [],
                                      address, tags=tags_of(params, "network-interface"))
        if token:
            self.network.remember_token(ctx.scope, token, fingerprint, eni.eni_id)
        return {"NetworkInterface": self._eni_view(ctx, eni, status="pending"),
                "ClientToken": token}

    def _replay(self, ctx: RequestContext, known: Any, fingerprint: str, token: str) -> Result:
        """A retried CreateNetworkInterface with the same client token (idempotency)."""
        if known.fingerprint != fingerprint:
            raise e.IdempotentParameterMismatch(
                "Client token already used before with different parameters.")
        eni = self.network.eni(ctx.scope, known.eni_id)
        return {"NetworkInterface": self._eni_view(ctx, eni), "ClientToken": token}

    def delete_network_interface(self, ctx: RequestContext, params: Params) -> None:
        self.network.delete_network_interface(ctx.scope, params["NetworkInterfaceId"])


def _primary(params: Params) -> str | None:
    for spec in params.get("PrivateIpAddresses") or []:
        if spec.get("Primary", True):
            address: str | None = spec.get("PrivateIpAddress")
            return address
    return None


def _only_one_address(params: Params) -> None:
    """hsmkms models one private IPv4 address per ENI (all that HSMs and KMS use)."""
    extra = (len(params.get("PrivateIpAddresses") or []) > 1
             or params.get("SecondaryPrivateIpAddressCount")
             or params.get("Ipv6AddressCount") or params.get("Ipv6Addresses")
             or params.get("Ipv4Prefixes") or params.get("Ipv4PrefixCount")
             or params.get("Ipv6Prefixes") or params.get("Ipv6PrefixCount"))
    if extra:
        raise e.NotImplementedYet("hsmkms supports one private IPv4 address per network "
                                  "interface; secondary, IPv6 and prefix addresses are not "
                                  "implemented yet.")


def _fingerprint(params: Params) -> str:
    relevant = {k: v for k, v in params.items() if k not in ("ClientToken", "DryRun")}
    return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()


# -- wiring -----------------------------------------------------------------------------------


def register(routes: Routes, network: Network) -> Ec2QueryService:
    """Serve the EC2 query protocol over ``network``; the service (its operations are what the
    trail audits)."""
    service = Ec2QueryService(Ec2Api(network).handlers(), ERRORS)

    def handle(req: HttpRequest, ctx: RequestContext, call: Exchange) -> HttpResponse:
        return serve(service, req, ctx, call)

    def answer(err: ServiceError, ctx: RequestContext) -> HttpResponse:
        return service.failure(err, ctx.request_id)

    routes.add_query_service("ec2", handle, Style(
        answer, lambda: e.InternalError("An internal error has occurred"), authenticate=True))
    return service


def _roll_back_dry_run(params: Params) -> None:
    """DryRun: the operation ran (so its errors are the real ones); raising drops its writes."""
    if params.get("DryRun"):
        raise e.DryRunOperation("Request would have succeeded, but DryRun flag is set.")


def check_version(req: HttpRequest) -> None:
    """Refuse a ``Version`` that cannot be one of EC2's (AWS: ``NoSuchVersion``, "The requested
    version (2010-03-31) of service AmazonEC2 does not exist", boto/boto3#1138): not a date,
    before EC2's first API version or after its latest. Older dated versions are accepted (AWS
    still serves them) and answered in 2016-11-15 shapes; a request without one is accepted."""
    pairs = parse_qsl(req.query, keep_blank_values=True)
    pairs += parse_qsl(req.body.decode("utf-8", errors="replace"), keep_blank_values=True)
    version = dict(pairs).get("Version")
    if version is None:
        return
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", version) is None or not (
            FIRST_VERSION <= version <= LATEST_VERSION):
        raise e.NoSuchVersion(f"The requested version ({version}) of service AmazonEC2 does "
                              "not exist")


def serve(service: Ec2QueryService, req: HttpRequest, ctx: RequestContext,
          call: Exchange) -> HttpResponse:
    """Parse, run and answer, in the envelope's unit of work (so that a failure or DryRun
    changes nothing); ``call`` tells the envelope what to audit."""
    check_version(req)
    op, params = service.parse(req)
    call.service, call.operation, call.params = "ec2", op.name, params
    ctx = dataclasses.replace(ctx, service="ec2", operation=op.name)
    call.result = service.invoke(ctx, op, params)
    _roll_back_dry_run(params)
    return service.success(op, call.result, ctx.request_id)
