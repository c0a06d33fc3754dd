"""The doctor's only I/O: read the world through the public AWS APIs (boto3), into facts.

Calls made, all read-only except the optional probe (one ``Encrypt`` of a few bytes with the
key, or one ``GenerateRandom`` in the key store, whose results are thrown away):
KMS ``DescribeKey``, ``DescribeCustomKeyStores``; CloudHSM v2 ``DescribeClusters``,
``DescribeBackups``; EC2 ``DescribeSubnets``, ``DescribeSecurityGroups``; CloudTrail
``LookupEvents``. Credentials, region and endpoint come from the standard resolution of a
boto3 session (``--profile``, ``--region``, ``--endpoint-url``, ``AWS_ENDPOINT_URL``, ...).
A call that fails for a secondary fact (AccessDenied, ...) is recorded as
:class:`~hsmkms.doctor.facts.Unreadable` and the checks needing it are left out.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from botocore.config import Config
from botocore.exceptions import ClientError

from hsmkms.doctor.facts import (
    Backup,
    Cluster,
    Deletion,
    Facts,
    HsmView,
    Key,
    KeyFacts,
    Probe,
    SecurityGroup,
    Store,
    StoreFacts,
    Subnet,
    TrailEvent,
    Unreadable,
    backing_key_of,
)
from hsmkms.doctor.hsmcli import CloudHsmCli

#: How far back CloudTrail is read for DeleteKey events (pages of 50; LookupEvents keeps 90
#: days).
TRAIL_PAGES = 10
PROBE_PLAINTEXT = b"hsmkms doctor"
#: The events of a key that explain its state.
EXPLAINING = ("ScheduleKeyDeletion", "DisableKey")


def _code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", "Unknown"))


def _message(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Message", ""))


def _trail_event(event: dict[str, Any]) -> TrailEvent:
    when = event.get("EventTime")
    return TrailEvent(str(event.get("EventName", "")),
                      when.timestamp() if when is not None else 0.0,
                      str(event.get("Username", "?")))


@dataclass
class Aws:
    """boto3 clients of one session, made on first use."""

    session: Any
    endpoint_url: str | None = None
    _clients: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        if service not in self._clients:
            # Retries as the user configured them (AWS_MAX_ATTEMPTS, AWS_RETRY_MODE, the
            # profile); a short connect timeout so that a wrong endpoint is said soon.
            self._clients[service] = self.session.client(
                service, endpoint_url=self.endpoint_url, config=Config(connect_timeout=10))
        return self._clients[service]

    @property
    def endpoint(self) -> str:
        return str(self.client("kms").meta.endpoint_url)

    @property
    def region(self) -> str:
        return str(self.client("kms").meta.region_name)


@dataclass(frozen=True, slots=True)
class Request:
    store_id: str | None = None
    key_id: str | None = None
    probe: bool = True
    hsm: CloudHsmCli | None = None


class Fetcher:
    def __init__(self, aws: Aws, request: Request) -> None:
        self.aws = aws
        self.request = request
        self._deletions: list[tuple[dict[str, Any], float]] | None = None
        self._disconnects: list[dict[str, Any]] | None = None

    def gather(self) -> Facts:
        base = Facts(self.aws.region, self.aws.endpoint)
        req = self.request
        if req.key_id is not None:
            return self._for_key(req.key_id, base)
        try:
            stores = self._stores(req.store_id)
        except ClientError as err:
            return replace(base, missing=(Unreadable(f"custom key store {req.store_id}",
                                                     _code(err), _message(err)),))
        return replace(base, stores=tuple(self._store(s) for s in stores))

    # -- KMS ------------------------------------------------------------------------------

    def _stores(self, store_id: str | None) -> list[Store]:
        kms = self.aws.client("kms")
        if store_id is not None:
            found = kms.describe_custom_key_stores(CustomKeyStoreId=store_id)
            return [Store.from_api(s) for s in found["CustomKeyStores"]]
        pages = kms.get_paginator("describe_custom_key_stores").paginate()
        return [Store.from_api(s) for page in pages for s in page["CustomKeyStores"]
                if s.get("CustomKeyStoreType", "AWS_CLOUDHSM") == "AWS_CLOUDHSM"]

    def _for_key(self, key_id: str, base: Facts) -> Facts:
        kms = self.aws.client("kms")
        try:
            key = Key.from_api(kms.describe_key(KeyId=key_id)["KeyMetadata"])
        except ClientError as err:
            missing = replace(base, missing=(Unreadable(f"key {key_id}", _code(err),
                                                        _message(err)),))
            return self._deleted_key(key_id, missing) if _code(err) == "NotFoundException" \
                else missing
        backing, history = self._key_events(key)
        kf = KeyFacts(key, backing, self._key_probe(key), history)
        stores = self._stores(key.store_id) if key.store_id else []
        if not stores:  # not in a CloudHSM key store: only its state matters here
            return replace(base, key=kf)
        return replace(base, stores=(self._store(stores[0], kf),))

    def _deleted_key(self, key_id: str, facts: Facts) -> Facts:
        """A key that is gone: its DeleteKey event, and the key store it was in (for the
        orphaned key material its backing key deletion may have left)."""
        try:
            found = [d for record, when in self._delete_key_events()
                     if (d := Deletion.from_record(record, when)) is not None
                     and (d.key_arn == key_id or d.key_arn.endswith(f"/{key_id}"))]
            stores = self._stores(found[0].store_id) if found and found[0].store_id else []
        except (ClientError, ValueError):
            return facts
        if not found:
            return facts
        return replace(facts, deleted_key=found[0],
                       stores=tuple(self._store(s) for s in stores))

    def _key_probe(self, key: Key) -> Probe | None:
        if not self.request.probe or key.state != "Enabled":
            return None
        return self._probe("Encrypt", lambda: self.aws.client("kms").encrypt(
            KeyId=key.arn, Plaintext=PROBE_PLAINTEXT))

    @staticmethod
    def _probe(operation: str, call: Callable[[], Any]) -> Probe:
        try:
            call()
        except ClientError as err:
            return Probe(operation, _code(err), _message(err))
        return Probe(operation)

    def _key_events(self, key: Key) -> tuple[str | None, tuple[TrailEvent, ...]]:
        """The backing key id (its CreateKey event) and the events that explain its state,
        newest first, from the key's CloudTrail history."""
        trail = self.aws.client("cloudtrail")
        backing, history = None, []
        try:
            pages = trail.get_paginator("lookup_events").paginate(
                LookupAttributes=[{"AttributeKey": "ResourceName", "AttributeValue": key.arn}],
                PaginationConfig={"MaxItems": 50 * TRAIL_PAGES, "PageSize": 50})
            for event in (e for page in pages for e in page["Events"]):
                if event.get("EventName") in EXPLAINING:
                    history.append(_trail_event(event))
                elif event.get("EventName") == "CreateKey":
                    backing = backing_key_of(json.loads(event.get("CloudTrailEvent", "{}")))
        except (ClientError, ValueError):
            pass  # the key's history only adds evidence
        return backing, tuple(history)

    def _disconnected_by(self, store: Store) -> TrailEvent | None:
        if store.state == "CONNECTED":
            return None
        if self._disconnects is None:  # one page for every store of the run
            self._disconnects = self.aws.client("cloudtrail").lookup_events(LookupAttributes=[
                {"AttributeKey": "EventName", "AttributeValue": "DisconnectCustomKeyStore"}],
                MaxResults=50)["Events"]
        for event in self._disconnects:
            params = json.loads(event.get("CloudTrailEvent", "{}")).get("requestParameters")
            if (params or {}).get("customKeyStoreId") == store.store_id:
                return _trail_event(event)
        return None

    # -- one key store ----------------------------------------------------------------------

    def _store(self, store: Store, key: KeyFacts | None = None) -> StoreFacts:
        unreadable: list[Unreadable] = []

        def read(call: str, fn: Callable[[], Any], default: Any) -> Any:
            try:
                return fn()
            except ClientError as err:
                unreadable.append(Unreadable(call, _code(err), _message(err)))
            except ValueError as err:  # an answer that is not what the API documents
                unreadable.append(Unreadable(call, "UnreadableAnswer", str(err)))
            return default

        cluster = read("cloudhsmv2 DescribeClusters", lambda: self._cluster(store.cluster_id),
                       None)
        live = cluster is not None and not cluster.gone
        subnets = tuple(read("ec2 DescribeSubnets", lambda: self._subnets(cluster), ())
                        if live and cluster else ())
        sg = (read("ec2 DescribeSecurityGroups",
                   lambda: self._security_group(cluster.security_group), None)
              if live and cluster and cluster.security_group else None)
        backups = tuple(read("cloudhsmv2 DescribeBackups",
                             lambda: self._backups(store.cluster_id), ()))
        deletions = tuple(read("cloudtrail LookupEvents",
                               lambda: self._store_deletions(store.store_id), ()))
        probe = None
        if key is None and self.request.probe and store.state == "CONNECTED":
            probe = self._probe("GenerateRandom", lambda: self.aws.client("kms").generate_random(
                NumberOfBytes=1, CustomKeyStoreId=store.store_id))
        hsm = self._hsm_view(store, cluster, key, deletions) if live and cluster else None
        disconnected_by = read("cloudtrail LookupEvents",
                               lambda: self._disconnected_by(store), None)
        return StoreFacts(store, cluster, subnets, sg, backups, deletions, probe, hsm, key,
                          tuple(unreadable), disconnected_by)

    def _cluster(self, cluster_id: str) -> Cluster | None:
        hsm = self.aws.client("cloudhsmv2")
        try:
            found = hsm.describe_clusters(Filters={"clusterIds": [cluster_id]})["Clusters"]
        except ClientError as err:
            if _code(err) == "CloudHsmResourceNotFoundException":
                return None
            raise
        return Cluster.from_api(found[0]) if found else None

    def _subnets(self, cluster: Cluster) -> list[Subnet]:
        ec2 = self.aws.client("ec2")
        out = []
        for zone, subnet_id in sorted(cluster.subnet_mapping.items()):
            try:
                found = ec2.describe_subnets(SubnetIds=[subnet_id])["Subnets"]
            except ClientError as err:
                if _code(err) != "InvalidSubnetID.NotFound":
                    raise
                found = []
            free = int(found[0]["AvailableIpAddressCount"]) if found else None
            out.append(Subnet(subnet_id, zone, free))
        return out

    def _security_group(self, group_id: str) -> SecurityGroup:
        ec2 = self.aws.client("ec2")
        try:
            found = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"]
        except ClientError as err:
            if _code(err) not in ("InvalidGroup.NotFound", "InvalidGroupId.NotFound"):
                raise
            found = []
        return SecurityGroup.from_api(found[0]) if found else SecurityGroup(group_id, exists=False)

    def _backups(self, cluster_id: str) -> list[Backup]:
        pages = self.aws.client("cloudhsmv2").get_paginator("describe_backups").paginate(
            Filters={"clusterIds": [cluster_id]})
        return [Backup.from_api(b) for page in pages for b in page["Backups"]]

    # -- CloudTrail -------------------------------------------------------------------------

    def _delete_key_events(self) -> Iterator[tuple[dict[str, Any], float]]:
        if self._deletions is None:
            trail = self.aws.client("cloudtrail")
            pages = trail.get_paginator("lookup_events").paginate(
                LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "DeleteKey"}],
                PaginationConfig={"MaxItems": 50 * TRAIL_PAGES, "PageSize": 50})
            self._deletions = [(json.loads(e.get("CloudTrailEvent", "{}")),
                                e["EventTime"].timestamp())
                               for page in pages for e in page["Events"]]
        return iter(self._deletions)

    def _store_deletions(self, store_id: str) -> list[Deletion]:
        found = (Deletion.from_record(record, when)
                 for record, when in self._delete_key_events())
        return [d for d in found if d is not None and d.store_id == store_id]

    # -- the HSMs (opt-in) ------------------------------------------------------------------

    def _hsm_view(self, store: Store, cluster: Cluster, key: KeyFacts | None,
                  deletions: tuple[Deletion, ...]) -> HsmView | None:
        cli = self.request.hsm
        if cli is None:
            return None
        wanted = [b for d in deletions if d.cluster_id == cluster.cluster_id for b in d.failed()]
        if key is not None and key.backing_key_id:
            wanted.append(key.backing_key_id)
        return cli.read(cluster.cluster_id, list(dict.fromkeys(wanted)),
                        kmsuser_busy=store.state == "CONNECTED")
