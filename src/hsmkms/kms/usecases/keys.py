"""Key lifecycle, description, tags and policies."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from hsmkms.context import RequestContext
from hsmkms.kms import capabilities, jobs, keyspecs, rotation, states
from hsmkms.kms.errors import NotFoundException, UnsupportedOperationException
from hsmkms.kms.keys import DAY
from hsmkms.kms.keyspecs import Usage
from hsmkms.kms.model import Key, KeyState, Origin, key_arn
from hsmkms.kms.usecases import imports, rules
from hsmkms.kms.usecases.access import KeyAccess
from hsmkms.scheduler import Scheduler


@dataclass(frozen=True, slots=True)
class NewKey:
    """CreateKey's inputs."""

    key_spec: str | None = None
    #: The deprecated name of ``key_spec``.
    customer_master_key_spec: str | None = None
    key_usage: str | None = None
    origin: Origin = Origin.AWS_KMS
    description: str = ""
    policy: str | None = None
    tags: tuple[dict[str, str], ...] = ()
    multi_region: bool = False
    custom_key_store_id: str | None = None
    bypass_policy_lockout_safety_check: bool = False


@dataclass(frozen=True, slots=True)
class Deletion:
    key: Key
    #: None while a multi-Region primary waits for its replicas' deletion.
    deletion_date: float | None
    pending_window_days: int
    state: KeyState = KeyState.PENDING_DELETION


class KeyLifecycle:
    def __init__(self, access: KeyAccess, scheduler: Scheduler) -> None:
        self.access = access
        self.keys = access.keys
        self.backends = access.backends
        self.scheduler = scheduler

    def metadata(self, key: Key) -> dict[str, Any]:
        """The ``KeyMetadata`` of ``key`` as the caller sees it."""
        state = self.access.reported(key)
        spec = keyspecs.get(key.key_spec)
        algorithms = {keyspecs.ALGORITHM_MEMBER[Usage(key.key_usage)]:
                      list(spec.algorithms(key.key_usage))}
        return {
            "AWSAccountId": key.account, "KeyId": key.key_id, "Arn": key.arn,
            "CreationDate": key.created, "Enabled": state is KeyState.ENABLED,
            "Description": key.description, "KeyUsage": key.key_usage, "KeyState": state,
            "DeletionDate": key.deletion_date if state is KeyState.PENDING_DELETION else None,
            "Origin": key.origin, "KeyManager": "CUSTOMER",
            "CustomerMasterKeySpec": key.key_spec, "KeySpec": key.key_spec,
            **algorithms, "MultiRegion": key.multi_region,
            **self._multi_region(key, state),
            # A replica has no current material until its creation completes (spec
            # kms-keys.md 5.3).
            "CurrentKeyMaterialId": (key.key_material_id or None)
            if state is not KeyState.CREATING else None,
            **self.backends.of(key).metadata_extras(key),
        }

    def _multi_region(self, key: Key, state: KeyState) -> dict[str, Any]:
        """``MultiRegionConfiguration`` (spec kms-keys.md 5.2: every member names the same
        primary and the same replicas, read from the primary) and, for a primary waiting for
        its replicas' deletion, ``PendingDeletionWindowInDays``."""
        if not key.multi_region:
            return {}
        primary = self.keys.primary_of(key)
        replicas = primary.replica_regions if primary is not None else ()
        found: dict[str, Any] = {"MultiRegionConfiguration": {
            "MultiRegionKeyType": "REPLICA" if key.is_replica else "PRIMARY",
            "PrimaryKey": _member(key, key.primary_region),
            "ReplicaKeys": [_member(key, region) for region in replicas]}}
        if state is KeyState.PENDING_REPLICA_DELETION:
            found["PendingDeletionWindowInDays"] = key.pending_window_days
        return found

    # -- create, describe, list ---------------------------------------------------------------

    def create(self, ctx: RequestContext, new: NewKey) -> Key:
        spec, usage = rules.create_key_spec(new.key_spec, new.customer_master_key_spec,
                                            new.key_usage, ctx.region)
        if new.origin is Origin.AWS_CLOUDHSM:
            _cloudhsm_key_shape(spec.name, multi_region=new.multi_region)
        if new.origin is Origin.EXTERNAL:
            imports.check_importable(spec)
        if new.multi_region and not spec.multi_region:  # the key spec table's column
            raise UnsupportedOperationException(
                f"KeySpec {spec.name} is not supported for multi-Region keys.")
        if new.policy is not None:
            self.keys.check_policy(new.policy)
        tags = self.keys.merged_tags({}, list(new.tags))
        capabilities.check_origin("CreateKey", new.origin)
        backend = self.backends.for_origin(new.origin)
        key = self.keys.new(ctx, description=new.description, policy=new.policy, tags=tags,
                            origin=new.origin, key_spec=spec.name, key_usage=usage,
                            multi_region=new.multi_region)
        key = replace(key, state=states.initial_state(new.origin))
        if new.policy is not None:  # the default policy is not checked (spec authz.md §4.9)
            self.access.authz.check_policy(ctx, key,
                                           bypass=new.bypass_policy_lockout_safety_check)
        key = backend.create_material(ctx, key, new.custom_key_store_id)
        self.keys.save(ctx, key)
        ctx.audit.add(additional_event_data=backend.trail_extras(ctx.scope, key, "CreateKey"))
        return key

    def describe(self, ctx: RequestContext, key_id: str) -> Key:
        return self.access.key(ctx, key_id, "DescribeKey", aliases=True)

    def list_keys(self, ctx: RequestContext) -> Sequence[Key]:
        """Sorted by :func:`key_position`, the order of ListKeys markers (kept sorted by the
        repository: a page is a bisect and a slice, not a sort of every key)."""
        return self.keys.ordered_keys(ctx, key_position)

    # -- state --------------------------------------------------------------------------------

    def enable(self, ctx: RequestContext, key_id: str) -> None:
        key = self.access.key(ctx, key_id, "EnableKey", aliases=False)
        enabled = self.keys.apply(ctx, key, states.Event.ENABLE)
        if key.state is not KeyState.ENABLED:  # a rotation missed while disabled is due
            rotation.resume(self.scheduler, ctx.scope, enabled, ctx.now)

    def disable(self, ctx: RequestContext, key_id: str) -> None:
        key = self.access.key(ctx, key_id, "DisableKey", aliases=False)
        self.keys.apply(ctx, key, states.Event.DISABLE)

    def schedule_deletion(self, ctx: RequestContext, key_id: str,
                          pending_window_days: int | None) -> Deletion:
        key = self.access.key(ctx, key_id, "ScheduleKeyDeletion", aliases=False)
        days = self.keys.schedule_window(pending_window_days)
        if key.replica_regions:
            # A primary with replicas (even ones pending deletion) waits for them: no
            # DeletionDate and no job yet; the deletion of its last replica starts its window
            # (spec kms-keys.md 5.5, :class:`hsmkms.kms.jobs.KeyDeletion`).
            self.keys.apply(ctx, key, states.Event.SCHEDULE_REPLICA_DELETION,
                            deletion_date=None, pending_window_days=days)
            return Deletion(key, None, days, KeyState.PENDING_REPLICA_DELETION)
        # To the millisecond, as the wire carries it: the DeleteKey event (dated when the
        # job was due) then falls in the same second as the DeletionDate the caller saw.
        when = round(ctx.now + days * DAY, 3)
        self.keys.apply(ctx, key, states.Event.SCHEDULE_DELETION, deletion_date=when,
                        pending_window_days=days)
        self.scheduler.schedule(jobs.DELETE_TASK, when, {"scope": ctx.scope, "key": key.key_id},
                                job_id=jobs.deletion_job(ctx.scope, key.key_id))
        ctx.audit.add(additional_event_data=self.backends.of(key).trail_extras(
            ctx.scope, key, "ScheduleKeyDeletion"))
        return Deletion(key, when, days)

    def cancel_deletion(self, ctx: RequestContext, key_id: str) -> Key:
        key = self.access.key(ctx, key_id, "CancelKeyDeletion", aliases=False)
        event = states.Event.CANCEL_DELETION
        if key.origin is Origin.EXTERNAL and imports.missing_material(
                self.keys.materials, ctx.scope, key):  # its material expired or was deleted
            event = states.Event.CANCEL_DELETION_WITHOUT_MATERIAL
        self.keys.apply(ctx, key, event, deletion_date=None, pending_window_days=None)
        self.scheduler.cancel(jobs.deletion_job(ctx.scope, key.key_id))
        return key

    def update_description(self, ctx: RequestContext, key_id: str, description: str) -> None:
        key = self.access.key(ctx, key_id, "UpdateKeyDescription", aliases=False)
        self.keys.save(ctx, replace(key, description=description))

    # -- tags ---------------------------------------------------------------------------------

    def tag(self, ctx: RequestContext, key_id: str, tags: list[dict[str, str]]) -> None:
        key = self.access.key(ctx, key_id, "TagResource", aliases=False)
        self.keys.save(ctx, replace(key, tags=self.keys.merged_tags(key.tags, tags)))

    def untag(self, ctx: RequestContext, key_id: str, tag_keys: list[str]) -> None:
        key = self.access.key(ctx, key_id, "UntagResource", aliases=False)
        remaining = {k: v for k, v in key.tags.items() if k not in set(tag_keys)}
        self.keys.save(ctx, replace(key, tags=remaining))

    def tags(self, ctx: RequestContext, key_id: str) -> list[tuple[str, str]]:
        key = self.access.key(ctx, key_id, "ListResourceTags", aliases=False)
        return sorted(key.tags.items())

    # -- policies -----------------------------------------------------------------------------

    def get_policy(self, ctx: RequestContext, key_id: str, name: str | None) -> str:
        key = self.access.key(ctx, key_id, "GetKeyPolicy", aliases=False)
        _policy_name(name, key)
        return key.policy

    def put_policy(self, ctx: RequestContext, key_id: str, name: str | None,
                   policy: str, *, bypass_lockout_check: bool = False) -> None:
        key = self.access.key(ctx, key_id, "PutKeyPolicy", aliases=False)
        _policy_name(name, key)
        changed = replace(key, policy=self.keys.check_policy(policy))
        self.access.authz.check_policy(ctx, changed, bypass=bypass_lockout_check)
        self.keys.save(ctx, changed)

    def policy_names(self, ctx: RequestContext, key_id: str) -> list[str]:
        self.access.key(ctx, key_id, "ListKeyPolicies", aliases=False)
        return ["default"]


def key_position(key: Key) -> str:
    """A key's place in ListKeys: creation time, then id (paging stays right even if the wall
    clock once stepped back between two CreateKey calls)."""
    return f"{key.created:020.6f}|{key.key_id}"


def _member(key: Key, region: str) -> dict[str, str]:
    return {"Arn": key_arn(region, key.account, key.key_id), "Region": region}


def _policy_name(name: str | None, key: Key) -> None:
    if name is not None and name != "default":
        raise NotFoundException(f"No such policy exists for key {key.arn}: "
                                f"{name}. The only key policy name is default.")


def _cloudhsm_key_shape(spec: str, *, multi_region: bool) -> None:
    """AWS supports only single-Region symmetric encryption keys in CloudHSM key stores
    (DG keystore-cloudhsm): anything else is unsupported, not merely unimplemented here."""
    if spec != "SYMMETRIC_DEFAULT":
        raise UnsupportedOperationException(
            f"KeySpec {spec} is not supported for KMS keys in an AWS CloudHSM key store. Only "
            "symmetric encryption keys (SYMMETRIC_DEFAULT) can be created in it.")
    if multi_region:
        raise UnsupportedOperationException(
            "Multi-Region keys cannot be created in an AWS CloudHSM key store.")
