"""EnableKeyRotation, DisableKeyRotation, GetKeyRotationStatus, RotateKeyOnDemand and
ListKeyRotations (spec kms-keys.md 3; the schedule and the rotations: :mod:`hsmkms.kms.rotation`).

Only symmetric encryption keys rotate. The other key specs answer
``UnsupportedOperationException`` with an empty message, as AWS answered EnableKeyRotation and
RotateKeyOnDemand for them; GetKeyRotationStatus tells them ``KeyRotationEnabled: false``. A key
with imported material (``Origin: EXTERNAL``) rotates on demand only, into its material pending
rotation; a multi-Region replica's rotation is managed on its primary.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hsmkms.context import RequestContext
from hsmkms.kms import rotation, timing
from hsmkms.kms.capabilities import NOT_VALID_FOR_ORIGIN
from hsmkms.kms.errors import (
    ConflictException,
    KMSInvalidStateException,
    LimitExceededException,
    UnsupportedOperationException,
)
from hsmkms.kms.model import Key, KeyMaterial, KeyState, MaterialState, Origin
from hsmkms.kms.usecases.access import KeyAccess
from hsmkms.scheduler import Scheduler

ROTATIONS_ONLY = "ROTATIONS_ONLY"
ALL_KEY_MATERIAL = "ALL_KEY_MATERIAL"
#: AWS's texts (LocalStack recordings of real AWS, spec kms-keys.md 3.4).
LIMIT_REACHED = ("The on-demand rotations limit has been reached for the given keyId. No more "
                 "on-demand rotations can be performed for this key: {arn}")
NOTHING_PENDING = "No available key material pending rotation for the key: {arn}."
#: Ours (AWS's are not published; docs/compatibility.md).
IN_PROGRESS = "An on-demand rotation of {arn} is already in progress."
AUTOMATIC_DUE = "An automatic rotation of {arn} is in progress or due within 20 minutes."
ON_REPLICA = ("{arn} is a multi-Region replica key: manage its rotation on its primary key "
              "in {region}.")


@dataclass(frozen=True, slots=True)
class RotationSettings:
    """What a server decides: its timing profile, and RotateKeyOnDemand's per-key limit."""

    timing: str = "fast"
    on_demand_limit: int = 25


def _rotates(key: Key) -> bool:
    """Symmetric encryption keys rotate; no other key spec does."""
    return key.key_spec == "SYMMETRIC_DEFAULT"


def _refuse_unless_rotates(key: Key) -> None:
    if not _rotates(key):
        raise UnsupportedOperationException("")


def _refuse_replica(key: Key) -> None:
    if key.is_replica:
        raise UnsupportedOperationException(
            ON_REPLICA.format(arn=key.arn, region=key.primary_region))


class KeyRotation:
    def __init__(self, access: KeyAccess, scheduler: Scheduler,
                 settings: RotationSettings | None = None) -> None:
        self.access = access
        self.keys = access.keys
        self.scheduler = scheduler
        self.settings = settings or RotationSettings()

    # -- automatic rotation ---------------------------------------------------------------------

    def enable(self, ctx: RequestContext, key_id: str, period_days: int | None) -> None:
        key = self.access.key(ctx, key_id, "EnableKeyRotation", aliases=False)
        _refuse_unless_rotates(key)
        _refuse_replica(key)
        period = rotation.DEFAULT_PERIOD_DAYS if period_days is None else period_days
        updated = rotation.enabled(key, period, ctx.now)
        saved = rotation.share(self.keys, ctx.scope, key,
                               rotation_period_days=updated.rotation_period_days,
                               rotation_anchor=updated.rotation_anchor)
        rotation.schedule_automatic(self.scheduler, ctx.scope, saved, ctx.now)

    def disable(self, ctx: RequestContext, key_id: str) -> None:
        key = self.access.key(ctx, key_id, "DisableKeyRotation", aliases=False)
        _refuse_unless_rotates(key)
        _refuse_replica(key)
        off = rotation.disabled(key)
        rotation.share(self.keys, ctx.scope, key, rotation_period_days=off.rotation_period_days,
                       rotation_anchor=off.rotation_anchor)
        self.scheduler.cancel(rotation.automatic_job(ctx.scope, key.key_id))

    def status(self, ctx: RequestContext, key_id: str) -> dict[str, Any]:
        """GetKeyRotationStatus's answer, member for member as AWS's recorded shapes."""
        key = self.access.key(ctx, key_id, "GetKeyRotationStatus", aliases=False)
        if not _rotates(key):
            if key.origin is Origin.EXTERNAL:  # spec kms-keys.md 10 Q11
                raise NOT_VALID_FOR_ORIGIN.exception("GetKeyRotationStatus", arn=key.arn,
                                                     origin=key.origin)
            return {"KeyRotationEnabled": False}
        answer: dict[str, Any] = {"KeyId": key.arn, "KeyRotationEnabled": False}
        pending_deletion = self.access.reported(key) in (KeyState.PENDING_DELETION,
                                                         KeyState.PENDING_REPLICA_DELETION)
        due = rotation.next_rotation(key)
        if due is not None and not pending_deletion:
            answer.update({"KeyRotationEnabled": True,
                           "RotationPeriodInDays": key.rotation_period_days,
                           "NextRotationDate": due})
        if key.on_demand_started is not None:
            answer["OnDemandRotationStartDate"] = key.on_demand_started
        return answer

    # -- on demand ------------------------------------------------------------------------------

    def rotate_on_demand(self, ctx: RequestContext, key_id: str) -> Key:
        """Start a rotation; it completes ``timing.ON_DEMAND_ROTATION`` later (a job)."""
        key = self.access.key(ctx, key_id, "RotateKeyOnDemand", aliases=False)
        _refuse_unless_rotates(key)
        _refuse_replica(key)
        if key.origin is Origin.EXTERNAL:
            pending = self.keys.materials.pending(ctx.scope, key)
            if pending is None or pending.state is not MaterialState.PENDING_ROTATION:
                raise KMSInvalidStateException(NOTHING_PENDING.format(arn=key.arn))
        if key.on_demand_rotations >= self.settings.on_demand_limit:
            raise LimitExceededException(LIMIT_REACHED.format(arn=key.arn))
        if key.on_demand_started is not None:  # spec kms-keys.md 10 Q20
            raise ConflictException(IN_PROGRESS.format(arn=key.arn))
        if rotation.automatic_conflict(key, ctx.now):
            raise ConflictException(AUTOMATIC_DUE.format(arn=key.arn))
        started = round(ctx.now, 3)
        saved = rotation.share(self.keys, ctx.scope, key, on_demand_started=started,
                               on_demand_rotations=key.on_demand_rotations + 1)
        due = ctx.now + timing.duration(self.settings.timing, timing.Step.ON_DEMAND_ROTATION)
        self.scheduler.schedule(rotation.ON_DEMAND_TASK, due,
                                {"scope": ctx.scope, "key": key.key_id},
                                job_id=rotation.on_demand_job(ctx.scope, key.key_id))
        return saved

    # -- history --------------------------------------------------------------------------------

    def rotations(self, ctx: RequestContext, key_id: str,
                  include: str | None) -> tuple[Key, Sequence[KeyMaterial]]:
        """ListKeyRotations: the key's materials, oldest first (the first, each rotation in
        turn, a material pending rotation last); ``ROTATIONS_ONLY`` (the default) keeps those
        a rotation made current. Read when asked: a page costs the page."""
        key = self.access.key(ctx, key_id, "ListKeyRotations", aliases=False)
        _refuse_unless_rotates(key)
        found = self.keys.materials.listing(ctx.scope, key)
        if (include or ROTATIONS_ONLY) == ROTATIONS_ONLY:
            return key, found.trimmed()
        return key, found


def rotation_position(material: KeyMaterial) -> str:
    """A material's place in ListKeyRotations (its marker)."""
    return f"{material.seq + 10**9:012d}"


def rotation_entry(key: Key, material: KeyMaterial) -> dict[str, Any]:
    """A ``RotationsListEntry``: absent members are left out (the wire layer drops None)."""
    imported = key.origin is Origin.EXTERNAL
    return {
        "KeyId": key.arn, "KeyMaterialId": material.material_id,
        "KeyMaterialDescription": material.description if imported else None,
        "ImportState": material.import_state if imported else None,
        "KeyMaterialState": material.state,
        "ExpirationModel": material.expiration_model if imported else None,
        "ValidTo": material.valid_to if imported else None,
        "RotationDate": material.rotation_date, "RotationType": material.rotation_type,
    }
