"""Key rotation: the automatic schedule, and the rotations themselves (scheduled jobs).

Theory of operation. A symmetric encryption key with automatic rotation enabled keeps its
period (``Key.rotation_period_days``) and the date its schedule counts from
(``Key.rotation_anchor``: when rotation was enabled, then each automatic rotation); its
``NextRotationDate`` is a period after that date (:func:`next_rotation`). Every rotation is a
scheduled job (:mod:`hsmkms.scheduler`), dated by the time it was due, never by the time it
runs:

* automatic (:data:`AUTOMATIC_TASK`, one job per key): at its due time the key gets a new
  material, the anchor moves to that time, and the next job is scheduled a period later. A clock
  jump of three periods runs it three times, each rotation dated at its own due date; the job is
  persisted, so a rotation that came due while the server was down happens when it starts.
  A multi-Region set has one job, under its primary's scope: UpdatePrimaryRegion moves it
  (and an on-demand one) to the new primary, and a job found under a member that is no longer
  the primary reschedules itself under the primary's. A key that is neither ``Enabled`` nor
  ``Updating`` when its rotation is due is not rotated (AWS: disabled and pending-deletion keys
  are not rotated); :func:`resume` (from EnableKey) rotates it at once if a
  whole period has passed since the schedule's date, else the old schedule goes on.
* on demand (:data:`ON_DEMAND_TASK`): RotateKeyOnDemand starts it; it completes
  ``timing.duration(profile, Step.ON_DEMAND_ROTATION)`` later, and the automatic schedule does
  not move. A key with imported material (``Origin: EXTERNAL``) rotates into its material
  pending rotation instead of a new one.

Each completed rotation writes CloudTrail's ``RotateKey`` service event, and changes every key
sharing the material (:meth:`hsmkms.kms.keys.Keys.related`: the members of a multi-Region key
set) with the same material id and bytes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace

from hsmkms import crypto
from hsmkms.audit import AuditLog
from hsmkms.ids import IdSource
from hsmkms.kms.keys import DAY, Keys
from hsmkms.kms.model import Key, KeyState, MaterialState, Origin
from hsmkms.scheduler import Scheduler
from hsmkms.scope import Scope

log = logging.getLogger(__name__)

AUTOMATIC = "AUTOMATIC"
ON_DEMAND = "ON_DEMAND"
AUTOMATIC_TASK = "kms.rotate-key"
ON_DEMAND_TASK = "kms.rotate-key-on-demand"
#: EnableKeyRotation without RotationPeriodInDays (API reference).
DEFAULT_PERIOD_DAYS = 365
#: RotateKeyOnDemand answers ConflictException while an automatic rotation is due this soon
#: (API reference: "in progress or scheduled to occur within the next 20 minutes").
CONFLICT_WINDOW = 20 * 60.0


#: The states in which a key's automatic rotation happens: crypto works while a multi-Region
#: key is Updating ([15]), and so does its rotation (else the schedule would stop there).
ROTATABLE = frozenset({KeyState.ENABLED, KeyState.UPDATING})


def automatic_job(scope: str, key_id: str) -> str:
    return f"kms-rotate:{scope}:{key_id}"


def on_demand_job(scope: str, key_id: str) -> str:
    return f"kms-rotate-on-demand:{scope}:{key_id}"


# -- the schedule (pure) ------------------------------------------------------------------------


def next_rotation(key: Key) -> float | None:
    """``NextRotationDate``: a period after the schedule's date (None: rotation disabled)."""
    if key.rotation_period_days is None or key.rotation_anchor is None:
        return None
    return key.rotation_anchor + key.rotation_period_days * DAY


def enabled(key: Key, period_days: int, now: float) -> Key:
    """EnableKeyRotation. A key whose rotation was off counts its first period from ``now``; a
    key whose rotation is on keeps its schedule's date and takes the new period (spec
    kms-keys.md 10 Q10: the next rotation is then a new period after the last automatic
    rotation, or after enabling if there was none)."""
    anchor = key.rotation_anchor if key.rotation_period_days is not None else None
    return replace(key, rotation_period_days=period_days,
                   rotation_anchor=round(now, 3) if anchor is None else anchor)


def disabled(key: Key) -> Key:
    """DisableKeyRotation: no period, no schedule (enabling again starts a new one)."""
    return replace(key, rotation_period_days=None, rotation_anchor=None)


def job_due(key: Key, now: float) -> float | None:
    """When the key's automatic-rotation job runs: its next rotation date, or ``now`` if that
    has passed (a shortened period; a key enabled again after missing its date)."""
    due = next_rotation(key)
    return None if due is None else max(due, now)


def automatic_conflict(key: Key, now: float) -> bool:
    """An automatic rotation is due within :data:`CONFLICT_WINDOW` (or overdue, about to run):
    RotateKeyOnDemand must wait."""
    due = next_rotation(key)
    return due is not None and due - now < CONFLICT_WINDOW


def schedule_automatic(scheduler: Scheduler, scope: str, key: Key, now: float) -> None:
    """(Re)schedule the key's automatic-rotation job; cancel it if rotation is off."""
    due = job_due(key, now)
    if due is None:
        scheduler.cancel(automatic_job(scope, key.key_id))
        return
    scheduler.schedule(AUTOMATIC_TASK, due, {"scope": scope, "key": key.key_id},
                       job_id=automatic_job(scope, key.key_id))


def resume(scheduler: Scheduler, scope: str, key: Key, now: float) -> None:
    """The key became ``Enabled`` again (EnableKey): its rotation goes on. If a whole period has
    passed since the schedule's date (the key missed its rotation while disabled or pending
    deletion) it rotates at once, else the old schedule resumes (API reference,
    GetKeyRotationStatus: "Disabled" and "Pending deletion" keys)."""
    if key.rotation_period_days is not None and not key.is_replica:
        schedule_automatic(scheduler, scope, key, now)


def share(keys: Keys, scope: str, key: Key, **changes: object) -> Key:
    """Save ``changes`` (rotation settings and progress) to the key and to every key sharing
    its material: a multi-Region key set shares them, managed on its primary. Returns the key
    as saved."""
    result = replace(key, **changes)  # type: ignore[arg-type]
    for member_scope, member in keys.related(scope, key):
        if member_scope == scope and member.key_id == key.key_id:
            keys.keys.put(scope, result.key_id, result)
        else:
            current = keys.get(member_scope, member.key_id) or member
            keys.keys.put(member_scope, member.key_id,
                          replace(current, **changes))  # type: ignore[arg-type]
    return result


# -- the rotations (scheduled jobs) ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rotations:
    keys: Keys
    scheduler: Scheduler
    audit: AuditLog
    ids: IdSource

    def register(self) -> None:
        self.scheduler.register(AUTOMATIC_TASK, self.automatic)
        self.scheduler.register(ON_DEMAND_TASK, self.on_demand)

    def automatic(self, args: dict[str, str], due: float) -> None:
        scope = args["scope"]
        key = self.keys.get(scope, args["key"])
        if key is None:
            return
        expected = next_rotation(key)
        if expected is None:
            return  # rotation was disabled since
        if expected > due:  # the schedule moved since this job was written
            schedule_automatic(self.scheduler, scope, key, due)
            return
        primary = self.keys.primary_of(key)
        if primary is None:
            return  # a replica whose set has no primary any more: nothing manages it
        if primary.region != key.region:
            # The set's primary moved since this job was written (a job written before
            # UpdatePrimaryRegion moved the jobs with it): the schedule follows the primary,
            # under the primary's job id (one job per set, run once).
            primary_scope = str(Scope.of(key.account, primary.region))
            schedule_automatic(self.scheduler, primary_scope, primary, due)
            return
        if key.state not in ROTATABLE:
            # Not rotated while disabled or pending deletion; EnableKey resumes (:func:`resume`).
            return
        rotated = self._each(scope, key, due, AUTOMATIC, self._new_material())
        settled = share(self.keys, scope, rotated, rotation_anchor=due)
        schedule_automatic(self.scheduler, scope, settled, due)

    def on_demand(self, args: dict[str, str], due: float) -> None:
        scope = args["scope"]
        key = self.keys.get(scope, args["key"])
        if key is None or key.on_demand_started is None:
            return
        if key.origin is Origin.EXTERNAL:
            pending = self.keys.materials.pending(scope, key)
            if pending is None or pending.state is not MaterialState.PENDING_ROTATION:
                # The material was deleted while the rotation ran: nothing to rotate into.
                log.warning("on-demand rotation of %s found no material pending rotation",
                            key.key_id)
                rotated = key
            else:
                rotated = self._each(scope, key, due, ON_DEMAND, self._promotion(
                    pending.material_id))
        else:
            rotated = self._each(scope, key, due, ON_DEMAND, self._new_material())
        share(self.keys, scope, rotated, on_demand_started=None)

    # -- helpers ----------------------------------------------------------------------------

    def _new_material(self) -> Callable[[str, Key, float, str], Key]:
        """Rotate into one new AES-256 material (the same id and bytes for every key)."""
        material_id = self.ids.hex(64)
        secret = crypto.new_aes_key()

        def rotate(scope: str, key: Key, when: float, rotation_type: str) -> Key:
            return self.keys.materials.rotate(scope, key, material_id=material_id,
                                              secret=secret, when=when,
                                              rotation_type=rotation_type)

        return rotate

    def _promotion(self, material_id: str) -> Callable[[str, Key, float, str], Key]:
        """Rotate into the imported material pending rotation (the same id in every key)."""

        def promote(scope: str, key: Key, when: float, rotation_type: str) -> Key:
            found = self.keys.materials.get(scope, key, material_id)
            if found is None or found.state is not MaterialState.PENDING_ROTATION:
                return key  # not imported into this member (yet): it keeps its material
            return self.keys.materials.promote(scope, key, material_id, when=when,
                                               rotation_type=rotation_type)

        return promote

    def _each(self, scope: str, key: Key, when: float, rotation_type: str,
              change: Callable[[str, Key, float, str], Key]) -> Key:
        """Apply ``change`` to the key and every key sharing its material, save them, record
        ``RotateKey`` for each; return ``key`` as changed (not saved again by the caller unless
        it changes more)."""
        result = key
        for member_scope, member in self.keys.related(scope, key):
            changed = change(member_scope, member, when, rotation_type)
            if changed.key_material_id == member.key_material_id:
                continue
            self.keys.keys.put(member_scope, changed.key_id, changed)
            self.audit.record_service_event(
                member_scope, "RotateKey", when, resources=[changed.arn],
                service_event_details={"rotationType": rotation_type,
                                       "keyId": changed.key_id,
                                       "keyMaterialId": changed.key_material_id})
            if member_scope == scope and member.key_id == key.key_id:
                result = changed
        return result
