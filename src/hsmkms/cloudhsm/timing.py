"""How long CloudHSM processes take, per timing profile (``app.config.timing``).

``fast``: every transition completes well within a second of real time (and at once when the
clock is advanced past it). ``realistic``: the emulator defaults of spec cloudhsm.md 1.5 (AWS
publishes no figures). Fixed periods (24 h backups, 7-day pending deletion, retention days) are
AWS rules, not durations, and do not depend on the profile.
"""

from __future__ import annotations

import enum

DAY = 86400.0
#: DeleteBackup / retention purge: restorable for 7 days (API_DeleteBackup).
PENDING_DELETION_SECONDS = 7 * DAY
#: "AWS CloudHSM makes at least one backup every 24 hours" (manage-backups).
BACKUP_PERIOD_SECONDS = DAY
#: Manual rollback of an HSM type migration is possible for 24 h (hsm1-to-hsm2-migration).
ROLLBACK_WINDOW_SECONDS = DAY
#: A DELETED cluster stays listed (state DELETED) this long, then is forgotten. AWS says only
#: "for a while"; spec cloudhsm.md 8.22 proposes 24 h. Fixed (not a server flag).
DELETED_CLUSTER_LISTED_SECONDS = DAY


class Step(enum.StrEnum):
    CREATE_CLUSTER = "create-cluster"
    CREATE_HSM = "create-hsm"
    INITIALIZE = "initialize"
    DELETE_HSM = "delete-hsm"
    DELETE_CLUSTER = "delete-cluster"
    BACKUP = "backup"
    MIGRATE_HSM = "migrate-hsm"


PROFILES: dict[str, dict[Step, float]] = {
    "fast": {Step.CREATE_CLUSTER: 0.3, Step.CREATE_HSM: 0.4, Step.INITIALIZE: 0.3,
             Step.DELETE_HSM: 0.3, Step.DELETE_CLUSTER: 0.3, Step.BACKUP: 0.2,
             Step.MIGRATE_HSM: 0.4},
    "realistic": {Step.CREATE_CLUSTER: 180.0, Step.CREATE_HSM: 420.0, Step.INITIALIZE: 90.0,
                  Step.DELETE_HSM: 90.0, Step.DELETE_CLUSTER: 90.0, Step.BACKUP: 90.0,
                  Step.MIGRATE_HSM: 1800.0},
}


def duration(profile: str, step: Step) -> float:
    return PROFILES.get(profile, PROFILES["fast"])[step]
