"""How long KMS's asynchronous steps take, per timing profile (``config.timing``).

Each is a scheduled job due this long after the call that started it (clock time: ``POST
/_hsmkms/clock`` past it completes it at once). ``fast`` keeps every step observable (a key is
``Creating`` until the clock moves) yet done within seconds; ``realistic`` follows what AWS
documents or clients were recorded waiting for (spec kms-keys.md 3.4, 5.3, 5.4).
"""

from __future__ import annotations

import enum


class Step(enum.StrEnum):
    #: RotateKeyOnDemand until the new material is CURRENT (recorded clients poll up to 10 s).
    ON_DEMAND_ROTATION = "on-demand-rotation"
    #: ReplicateKey until the replica leaves ``Creating`` ("a few seconds").
    REPLICA_CREATION = "replica-creation"
    #: UpdatePrimaryRegion until both keys leave ``Updating``.
    PRIMARY_UPDATE = "primary-update"


DURATIONS: dict[str, dict[Step, float]] = {
    "fast": {Step.ON_DEMAND_ROTATION: 1.0, Step.REPLICA_CREATION: 1.0,
             Step.PRIMARY_UPDATE: 1.0},
    "realistic": {Step.ON_DEMAND_ROTATION: 10.0, Step.REPLICA_CREATION: 5.0,
                  Step.PRIMARY_UPDATE: 30.0},
}


def duration(profile: str, step: Step) -> float:
    return DURATIONS[profile][step]
