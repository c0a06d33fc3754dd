"""CloudHSM v2 (``BaldrApiService``) operation handlers: validated request dicts in, response
dicts out. Requests are already checked against the model (required, lengths, patterns, enums)
by the protocol engine; these handlers check the rules the model cannot express."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from hsmkms.cloudhsm import ids, render
from hsmkms.cloudhsm.errors import (
    CloudHsmInvalidRequestException,
    CloudHsmResourceLimitExceededException,
    CloudHsmResourceNotFoundException,
    message,
)
from hsmkms.cloudhsm.model import Backup, BackupState, Cluster, ClusterState
from hsmkms.cloudhsm.pagination import by_creation, by_index, page
from hsmkms.cloudhsm.service import CloudHsmService
from hsmkms.context import RequestContext
from hsmkms.scope import Scope

Params = dict[str, Any]
Result = dict[str, Any]
MAX_TAGS = 50  # per resource (model: TagList max 50; limits page)

#: Filter keys per operation, and a check of each value (None: any string).
CLUSTER_FILTERS: dict[str, Callable[[str], bool] | None] = {
    "clusterIds": None, "vpcIds": None, "states": lambda v: v in ClusterState.__members__}
BACKUP_FILTERS: dict[str, Callable[[str], bool] | None] = {
    "backupIds": None, "sourceBackupIds": None, "clusterIds": None,
    "states": lambda v: v in BackupState.__members__, "neverExpires": lambda v: v in (
        "true", "false")}


def check_filters(filters: dict[str, list[str]],
                  allowed: dict[str, Callable[[str], bool] | None]) -> dict[str, list[str]]:
    for key, values in filters.items():
        if key not in allowed:
            raise CloudHsmInvalidRequestException(
                message("unknown_filter", key=key, valid=", ".join(allowed)))
        ok = allowed[key]
        for value in values:
            if ok is not None and not ok(value):
                raise CloudHsmInvalidRequestException(
                    message("filter_value", key=key, value=value))
    return filters


class CloudHsmApi:
    def __init__(self, service: CloudHsmService) -> None:
        self.service = service
        self.backups = service.backups

    def handlers(self) -> dict[str, Callable[[RequestContext, Params], Result | None]]:
        return {name[3:]: getattr(self, name) for name in dir(self) if name.startswith("op_")}

    # -- clusters ------------------------------------------------------------------------------

    def op_CreateCluster(self, ctx: RequestContext, p: Params) -> Result:  # noqa: N802
        cluster = self.service.create_cluster(ctx.scope, ctx.region, ctx.now, p)
        return {"Cluster": render.cluster(cluster)}

    def op_DescribeClusters(self, ctx: RequestContext, p: Params) -> Result:  # noqa: N802
        filters = check_filters(p.get("Filters", {}), CLUSTER_FILTERS)
        found = sorted(self.service.describe_clusters(ctx.scope, filters), key=_cluster_position)
        items, token = page(found, p.get("MaxResults"), p.get("NextToken"), 25,
                            _cluster_position)
        return {"Clusters": [render.cluster(c) for c in items], "NextToken": token}

    def op_InitializeCluster(self, ctx: RequestContext, p: Params) -> Result:  # noqa: N802
        cluster = self.service.initialize(ctx.scope, ctx.now, p["ClusterId"], p["SignedCert"],
                                          p["TrustAnchor"])
        return {"State": cluster.state, "StateMessage": cluster.state_message or None}

    def op_ModifyCluster(self, ctx: RequestContext, p: Params) -> Result:  # noqa: N802
        return {"Cluster": render.cluster(self.service.modify_cluster(ctx.scope, ctx.now, p))}

    def op_DeleteCluster(self, ctx: RequestContext, p: Params) -> Result:  # noqa: N802
        cluster = self.service.delete_cluster(ctx.scope, ctx.now, p["ClusterId"])
        return {"Cluster": render.cluster(cluster)}

    # -- HSMs ----------------------------------------------------------------------------------

    def op_CreateHsm(self, ctx: RequestContext, p: Params) -> Result:  # noqa: N802
        hsm = self.service.hsms.create(ctx.scope, ctx.now, p["ClusterId"],
                                       p["AvailabilityZone"], p.get("IpAddress"))
        return {"Hsm": render.hsm(hsm, p["ClusterId"])}

    def op_DeleteHsm(self, ctx: RequestContext, p: Params) -> Result:  # noqa: N802
        return {"HsmId": self.service.hsms.delete(ctx.scope, ctx.now, p)}

    # -- backups -------------------------------------------------------------------------------

    def _backup(self, ctx: RequestContext, b: Backup) -> Result:
        return render.backup(b, ctx.account, ctx.region)

    def op_DescribeBackups(self, ctx: RequestContext, p: Params) -> Result:  # noqa: N802
        f = check_filters(p.get("Filters", {}), BACKUP_FILTERS)
        # (owner scope, backup): a shared backup's ARN names its owner's account.
        found = (self.backups.shared_with(ctx.account, ctx.region) if p.get("Shared")
                 else [(ctx.scope, b) for b in self.backups.repo.values(ctx.scope)])
        for key, attr in (("backupIds", "backup_id"), ("sourceBackupIds", "source_backup"),
                          ("clusterIds", "cluster_id"), ("states", "state")):
            if key in f:
                found = [(s, b) for s, b in found if getattr(b, attr) in f[key]]
        if "neverExpires" in f:
            found = [(s, b) for s, b in found if ("true" if b.never_expires else "false")
                     in f["neverExpires"]]
        # Order: SortAscending true -> oldest first; otherwise newest first (spec 8.8).
        newest_first = not p.get("SortAscending", False)

        def position(scoped: tuple[str, Backup]) -> str:
            return by_creation(scoped[1].create_timestamp, scoped[1].backup_id,
                               newest_first=newest_first)

        found.sort(key=position)
        items, token = page(found, p.get("MaxResults"), p.get("NextToken"), 50, position)
        return {"Backups": [render.backup(b, *_account_region(s)) for s, b in items],
                "NextToken": token}

    def op_DeleteBackup(self, ctx: RequestContext, p: Params) -> Result:  # noqa: N802
        return {"Backup": self._backup(ctx, self.backups.delete(ctx.scope, p["BackupId"],
                                                                ctx.now))}

    def op_RestoreBackup(self, ctx: RequestContext, p: Params) -> Result:  # noqa: N802
        return {"Backup": self._backup(ctx, self.backups.restore(ctx.scope, p["BackupId"]))}

    def op_ModifyBackupAttributes(self, ctx: RequestContext, p: Params) -> Result:  # noqa: N802
        backup = self.backups.set_never_expires(ctx.scope, p["BackupId"],
                                                never_expires=p["NeverExpires"])
        return {"Backup": self._backup(ctx, backup)}

    def op_CopyBackupToRegion(self, ctx: RequestContext, p: Params) -> Result:  # noqa: N802
        source = self.backups.get(ctx.scope, p["BackupId"])
        if p["DestinationRegion"] == ctx.region:
            raise CloudHsmInvalidRequestException(
                message("copy_same_region", region=ctx.region))
        tags = render_tags_in(p["TagList"]) if "TagList" in p else None
        copy = self.backups.copy(source, ctx.region,
                                 Scope.of(ctx.account, p["DestinationRegion"]), tags, ctx.now)
        return {"DestinationBackup": {
            "CreateTimestamp": copy.create_timestamp, "SourceRegion": copy.source_region,
            "SourceBackup": copy.source_backup, "SourceCluster": copy.source_cluster}}

    # -- resource policies (backups only) ------------------------------------------------------

    def _policy_backup(self, ctx: RequestContext, p: Params) -> str:
        if "ResourceArn" not in p:
            raise CloudHsmInvalidRequestException(message("resource_arn_missing"))
        arn = ids.parse_arn(p["ResourceArn"])
        if arn is None or arn.scope != ctx.scope:
            raise CloudHsmResourceNotFoundException(
                message("resource_not_found", id=p.get("ResourceArn", "")))
        if arn.kind != "backup":
            raise CloudHsmInvalidRequestException(message("policy_resource", id=arn.ident))
        return arn.ident

    def op_PutResourcePolicy(self, ctx: RequestContext, p: Params) -> Result:  # noqa: N802
        backup_id = self._policy_backup(ctx, p)
        backup = self.backups.put_policy(ctx.scope, backup_id, p.get("Policy", ""))
        return {"ResourceArn": p["ResourceArn"], "Policy": backup.policy}

    def op_GetResourcePolicy(self, ctx: RequestContext, p: Params) -> Result:  # noqa: N802
        backup = self.backups.get(ctx.scope, self._policy_backup(ctx, p))
        return {"Policy": backup.policy or None}

    def op_DeleteResourcePolicy(self, ctx: RequestContext, p: Params) -> Result:  # noqa: N802
        policy = self.backups.delete_policy(ctx.scope, self._policy_backup(ctx, p))
        return {"ResourceArn": p["ResourceArn"], "Policy": policy}

    # -- tags (clusters and backups) -----------------------------------------------------------

    def _tags_of(self, ctx: RequestContext, resource_id: str,
                 change: str | None = None) -> dict[str, str]:
        """The resource's tags; ``change`` (an operation name) checks a backup's state."""
        if resource_id.startswith("cluster-"):
            return self.service.cluster(ctx.scope, resource_id).tags
        if change is not None:
            return self.backups.changeable(ctx.scope, resource_id, change).tags
        return self.backups.get(ctx.scope, resource_id).tags

    def _set_tags(self, ctx: RequestContext, resource_id: str, tags: dict[str, str]) -> None:
        if resource_id.startswith("cluster-"):
            cluster: Cluster = self.service.cluster(ctx.scope, resource_id)
            self.service.save_cluster(ctx.scope, replace(cluster, tags=tags))
        else:
            backup = self.backups.get(ctx.scope, resource_id)
            self.backups.repo.put(ctx.scope, resource_id, replace(backup, tags=tags))

    def op_TagResource(self, ctx: RequestContext, p: Params) -> Result:  # noqa: N802
        tags = {**self._tags_of(ctx, p["ResourceId"], "TagResource"),
                **render_tags_in(p["TagList"])}
        if len(tags) > MAX_TAGS:
            raise CloudHsmResourceLimitExceededException(
                message("tag_limit", id=p["ResourceId"], n=len(tags)))
        self._set_tags(ctx, p["ResourceId"], tags)
        return {}

    def op_UntagResource(self, ctx: RequestContext, p: Params) -> Result:  # noqa: N802
        tags = {k: v for k, v in self._tags_of(ctx, p["ResourceId"], "UntagResource").items()
                if k not in p["TagKeyList"]}
        self._set_tags(ctx, p["ResourceId"], tags)
        return {}

    def op_ListTags(self, ctx: RequestContext, p: Params) -> Result:  # noqa: N802
        tags, position = by_index(render.tag_list(self._tags_of(ctx, p["ResourceId"])))
        items, token = page(tags, p.get("MaxResults"), p.get("NextToken"), 100, position)
        return {"TagList": [tag for _i, tag in items], "NextToken": token}


def _account_region(scope: str) -> tuple[str, str]:
    account, region = Scope(scope).parts()
    return account, region


def render_tags_in(tag_list: list[dict[str, str]]) -> dict[str, str]:
    return {t["Key"]: t.get("Value", "") for t in tag_list}


def _cluster_position(cluster: Cluster) -> str:
    return by_creation(cluster.create_timestamp, cluster.cluster_id)
