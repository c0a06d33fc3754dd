"""Multi-Region keys: ReplicateKey and UpdatePrimaryRegion (spec kms-keys.md 5).

Theory of operation. A multi-Region key set is its members: one key per Region of one account,
all with the same ``mrk-`` id. Each member holds its independent properties (description,
policy, tags, aliases, state, creation date) and a copy of the shared ones (spec, usage,
origin, and every key material row, so that a replica decrypts what any member ever encrypted);
:attr:`~hsmkms.kms.model.Key.primary_region` on every member names the primary. The list of
replicas is held by the primary alone (:attr:`~hsmkms.kms.model.Key.replica_regions`) and
every member's ``MultiRegionConfiguration`` is read from it, so all members answer the same
list and there is no copy to keep in step. What changes membership (ReplicateKey,
UpdatePrimaryRegion, the deletion of a member: :class:`hsmkms.kms.jobs.ReplicaJobs`) writes
every member it touches in the unit of work of its request or job.

Asynchronous steps are scheduler jobs due after :func:`hsmkms.kms.timing.duration`: a new
replica is ``Creating`` until its job runs (then ``Enabled``, or ``PendingImport`` for an
EXTERNAL primary's), and UpdatePrimaryRegion leaves both keys ``Updating`` until its job runs.
Roles change at the call: from then on every member names the new primary.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from hsmkms.audit import AuditLog, Caller
from hsmkms.context import RequestContext
from hsmkms.errors import ValidationException
from hsmkms.kms import capabilities, jobs, rotation, states, timing
from hsmkms.kms.errors import (
    AlreadyExistsException,
    NotFoundException,
    UnsupportedOperationException,
)
from hsmkms.kms.keyspecs import partition
from hsmkms.kms.model import Key, KeyState, Origin, key_arn
from hsmkms.kms.usecases import imports
from hsmkms.kms.usecases.keys import KeyLifecycle
from hsmkms.scheduler import Scheduler
from hsmkms.scope import Scope

#: ``invokedBy`` of the events KMS writes in another Region for a caller's request (DGa
#: ct-update-primary-region).
KMS_PRINCIPAL = "kms.amazonaws.com"


@dataclass(frozen=True, slots=True)
class NewReplica:
    """ReplicateKey's inputs."""

    key_id: str
    replica_region: str
    description: str = ""
    policy: str | None = None
    tags: tuple[dict[str, str], ...] = ()
    bypass_policy_lockout_safety_check: bool = False


def not_primary(key: Key) -> UnsupportedOperationException:
    """Recorded for ReplicateKey on a replica (LS test_replicate_replica_key_should_fail);
    hsmkms answers it for single-Region keys and UpdatePrimaryRegion too (spec 10 Q16)."""
    return UnsupportedOperationException(f"{key.arn} is not a multi-region primary key.")


class Replicas:
    def __init__(self, lifecycle: KeyLifecycle, scheduler: Scheduler, timing_profile: str,
                 audit: AuditLog) -> None:
        self.lifecycle = lifecycle
        self.access = lifecycle.access
        self.keys = lifecycle.keys
        self.scheduler = scheduler
        self.profile = timing_profile
        self.audit = audit

    def _primary(self, ctx: RequestContext, key_id: str, operation: str) -> Key:
        """Resolve, authorize, the origin's capability, "is it a primary", then the key-state
        policy (a replica is refused as such whatever its state)."""
        key = self.keys.resolve(ctx, key_id, aliases=False)
        self.access.authz.authorize(ctx, operation, key)
        capabilities.check(operation, key)
        if not key.multi_region or key.is_replica:
            raise not_primary(key)
        states.check(operation, self.access.reported(key), key.arn)
        return key

    # -- ReplicateKey -------------------------------------------------------------------------

    def replicate(self, ctx: RequestContext, new: NewReplica) -> Key:
        primary = self._primary(ctx, new.key_id, "ReplicateKey")
        region = new.replica_region
        _check_region(ctx.region, region)
        scope = Scope.of(ctx.account, region)
        if self.keys.get(scope, primary.key_id) is not None:  # in any state (DGa)
            raise AlreadyExistsException(
                f"A replica of {primary.arn} already exists in {region}.")
        if new.policy is not None:
            self.keys.check_policy(new.policy)
        tags = self.keys.merged_tags({}, list(new.tags))
        # ReplicaPolicy: the request's, else the default key policy, never the primary's
        # (spec kms-keys.md 5.3).
        policy = new.policy if new.policy is not None else self.keys.default_policy(
            ctx.account, region)
        replica = replace(primary, region=region, created=ctx.now, state=KeyState.CREATING,
                          description=new.description, policy=policy, tags=tags,
                          deletion_date=None,
                          pending_window_days=None, replica_regions=())
        if new.policy is not None:
            self.access.authz.check_policy(ctx, replica,
                                           bypass=new.bypass_policy_lockout_safety_check)
        if primary.origin is Origin.EXTERNAL:
            # Created without material: the user imports the primary's into the replica with
            # the replica's own import parameters (spec kms-keys.md 4.6).
            replica = replace(replica, material=None, key_material_id="")
            imports.replica_added(self.keys, ctx.scope, primary)
        else:
            # Every material, not only the current one: old ciphertexts decrypt in the replica.
            for material in self.keys.materials.of(ctx.scope, primary):
                self.keys.materials.put(scope, material)
        self.keys.put(scope, replica)
        self.keys.forget_deletion(scope, primary.key_id)  # replicating again after a deletion
        self.keys.save(ctx, replace(primary,
                                    replica_regions=(*primary.replica_regions, region)))
        due = ctx.now + timing.duration(self.profile, timing.Step.REPLICA_CREATION)
        self.scheduler.schedule(jobs.REPLICA_TASK, due, {"scope": scope, "key": replica.key_id},
                                job_id=jobs.replica_job(scope, replica.key_id))
        self._replica_created_event(ctx, scope, replica, new)
        return replica

    def _replica_created_event(self, ctx: RequestContext, scope: Scope, replica: Key,
                               new: NewReplica) -> None:
        """ReplicateKey also logs a ``CreateKey`` in the replica Region (DGa
        ct-replicate-key); its request is what made the replica."""
        params: dict[str, Any] = {
            "Description": new.description, "KeyUsage": replica.key_usage,
            "KeySpec": replica.key_spec, "Origin": replica.origin.value, "MultiRegion": True,
            "BypassPolicyLockoutSafetyCheck": new.bypass_policy_lockout_safety_check}
        if new.policy is not None:
            params["Policy"] = new.policy
        if new.tags:
            params["Tags"] = list(new.tags)
        self.audit.record_call_event(
            scope, "CreateKey", ctx.now, caller=_caller(ctx), params=params,
            result={"KeyMetadata": self.lifecycle.metadata(replica)}, invoked_by=KMS_PRINCIPAL)

    # -- UpdatePrimaryRegion ------------------------------------------------------------------

    def update_primary_region(self, ctx: RequestContext, key_id: str, region: str) -> None:
        primary = self._primary(ctx, key_id, "UpdatePrimaryRegion")
        if region not in primary.replica_regions:
            if region == primary.region:
                raise ValidationException(
                    f"{primary.arn} is already the primary key in {region}.")
            raise NotFoundException(
                f"Key '{key_arn(region, ctx.account, primary.key_id)}' does not exist")
        scope = Scope.of(ctx.account, region)
        target = self.keys.get(scope, primary.key_id)
        if target is None:  # the list and the keys are written together: not reachable
            raise NotFoundException(f"Key '{key_arn(region, ctx.account, key_id)}' does not exist")
        # The caller needs kms:UpdatePrimaryRegion on both keys, and both must be Enabled (DG
        # multi-region-update): the new primary answers the same errors, naming itself.
        self.access.authz.authorize(ctx, "UpdatePrimaryRegion", target)
        states.check("UpdatePrimaryRegion", self.access.reported(target), target.arn)
        replicas = tuple(r for r in (*primary.replica_regions, primary.region) if r != region)
        for member_scope, member in self.keys.related(ctx.scope, primary):
            changes: dict[str, object] = {"primary_region": region, "replica_regions": ()}
            if member_scope == scope:
                changes["replica_regions"] = replicas
            if member_scope in (ctx.scope, scope):
                self.keys.move(member_scope, member, states.Event.UPDATE_PRIMARY, **changes)
            else:
                self.keys.put(member_scope, replace(member, **changes))  # type: ignore[arg-type]
        # The set's rotations are managed on its primary: its scheduled ones move with it.
        for job_of in (rotation.automatic_job, rotation.on_demand_job):
            self.scheduler.move(job_of(ctx.scope, primary.key_id), job_of(scope, primary.key_id),
                                {"scope": scope, "key": primary.key_id})
        due = ctx.now + timing.duration(self.profile, timing.Step.PRIMARY_UPDATE)
        for member_scope in (ctx.scope, scope):
            self.scheduler.schedule(jobs.PRIMARY_UPDATE_TASK, due,
                                    {"scope": member_scope, "key": primary.key_id},
                                    job_id=jobs.primary_update_job(member_scope,
                                                                   primary.key_id))
        # A second event in the new primary's Region, keyId its ARN, without resources (DGa
        # ct-update-primary-region).
        self.audit.record_call_event(
            scope, "UpdatePrimaryRegion", ctx.now, caller=_caller(ctx),
            params={"KeyId": target.arn, "PrimaryRegion": region}, result=None,
            invoked_by=KMS_PRINCIPAL, resources=False)


def _check_region(primary_region: str, region: str) -> None:
    """The replica Region: another Region of the primary's partition (DGa replica Regions;
    the refusals' wording is hsmkms's, spec 10 Q16)."""
    if region == primary_region:
        raise ValidationException(
            f"The replica Region {region} is the Region of the primary key.")
    if partition(region) != partition(primary_region):
        raise ValidationException(
            f"The replica Region {region} is not in the partition of the primary key "
            f"({partition(primary_region)}).")


def _caller(ctx: RequestContext) -> Caller:
    return Caller(ctx.access_key_id, ctx.source_ip, ctx.user_agent, ctx.request_id)
