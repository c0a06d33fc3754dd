"""Key states: the transition table and the operation policy table.

Theory of operation. A key has a *stored* state, changed only through :data:`TRANSITIONS`
(``(state, event) -> state``; anything else is illegal and changes nothing). Before any
operation touches a key, its *reported* state (see :func:`reported_state`) is looked up in
:data:`POLICY` (``operation -> reported state -> error``); a missing entry means "allowed". The
tables follow the "Key states of AWS KMS keys" page of the AWS KMS Developer Guide (footnotes
cited as [n], spec kms.md 1.1).

EnableKey/DisableKey/ScheduleKeyDeletion on an ``Unavailable`` key are allowed by the policy and
change the *stored* state, which the key reports again once its store reconnects ([12], [13]).
"""

from __future__ import annotations

import enum
from collections.abc import Callable

from hsmkms.errors import ServiceError
from hsmkms.kms.errors import (
    DisabledException,
    KMSInvalidStateException,
    UnsupportedOperationException,
)
from hsmkms.kms.model import Key, KeyState, Origin

S = KeyState


class Event(enum.StrEnum):
    ENABLE = "enable"
    DISABLE = "disable"
    SCHEDULE_DELETION = "schedule-deletion"
    CANCEL_DELETION = "cancel-deletion"
    #: A multi-Region primary that still has replicas is scheduled for deletion.
    SCHEDULE_REPLICA_DELETION = "schedule-replica-deletion"
    #: The last replica of a primary pending replica deletion was deleted.
    REPLICAS_DELETED = "replicas-deleted"
    #: A replica's creation finished: its material is there (AWS_KMS) or is to be imported.
    REPLICA_CREATED = "replica-created"
    REPLICA_AWAITS_IMPORT = "replica-awaits-import"
    #: UpdatePrimaryRegion starts (both keys) and completes.
    UPDATE_PRIMARY = "update-primary"
    PRIMARY_UPDATED = "primary-updated"
    #: Imported key material (spec kms-keys.md 4.1, 6): the import that gives the key every
    #: material it needs; a needed material deleted or expired; CancelKeyDeletion of a key whose
    #: imported material went away while it was pending deletion.
    IMPORT_COMPLETE = "import-complete"
    MATERIAL_GONE = "material-gone"
    CANCEL_DELETION_WITHOUT_MATERIAL = "cancel-deletion-without-material"


TRANSITIONS: dict[tuple[KeyState, Event], KeyState] = {
    (S.ENABLED, Event.ENABLE): S.ENABLED,
    (S.DISABLED, Event.ENABLE): S.ENABLED,
    (S.ENABLED, Event.DISABLE): S.DISABLED,
    (S.DISABLED, Event.DISABLE): S.DISABLED,
    (S.ENABLED, Event.SCHEDULE_DELETION): S.PENDING_DELETION,
    (S.DISABLED, Event.SCHEDULE_DELETION): S.PENDING_DELETION,
    (S.PENDING_IMPORT, Event.SCHEDULE_DELETION): S.PENDING_DELETION,
    # CancelKeyDeletion always lands in Disabled, never back in Enabled (API reference).
    (S.PENDING_DELETION, Event.CANCEL_DELETION): S.DISABLED,
    # Multi-Region keys (spec kms-keys.md 5, 6). A key still Creating may be scheduled for
    # deletion ([DG key-state] table); its creation then never completes.
    (S.CREATING, Event.SCHEDULE_DELETION): S.PENDING_DELETION,
    (S.CREATING, Event.REPLICA_CREATED): S.ENABLED,
    # An EXTERNAL primary's replica is created without material (spec kms-keys.md 4.6).
    (S.CREATING, Event.REPLICA_AWAITS_IMPORT): S.PENDING_IMPORT,
    # A primary with replicas waits for them; its waiting period starts once they are gone.
    (S.ENABLED, Event.SCHEDULE_REPLICA_DELETION): S.PENDING_REPLICA_DELETION,
    (S.DISABLED, Event.SCHEDULE_REPLICA_DELETION): S.PENDING_REPLICA_DELETION,
    (S.PENDING_IMPORT, Event.SCHEDULE_REPLICA_DELETION): S.PENDING_REPLICA_DELETION,
    (S.PENDING_REPLICA_DELETION, Event.REPLICAS_DELETED): S.PENDING_DELETION,
    (S.PENDING_REPLICA_DELETION, Event.CANCEL_DELETION): S.DISABLED,
    # UpdatePrimaryRegion needs both keys Enabled and returns them to Enabled (DG
    # multi-region-update).
    (S.ENABLED, Event.UPDATE_PRIMARY): S.UPDATING,
    (S.UPDATING, Event.PRIMARY_UPDATED): S.ENABLED,
    # A successful import makes the key Enabled (ImportKeyMaterial doc; kms-keys.md 10 Q17);
    # re-importing into a key that still has its material applies no event (keeps its state).
    (S.PENDING_IMPORT, Event.IMPORT_COMPLETE): S.ENABLED,
    (S.ENABLED, Event.MATERIAL_GONE): S.PENDING_IMPORT,
    (S.DISABLED, Event.MATERIAL_GONE): S.PENDING_IMPORT,
    (S.PENDING_IMPORT, Event.MATERIAL_GONE): S.PENDING_IMPORT,
    # A key pending deletion stays so when its material goes (kms.md 1.1); cancelled, it has
    # nothing to be Disabled with: it waits for its material (ours, docs/compatibility.md).
    (S.PENDING_DELETION, Event.MATERIAL_GONE): S.PENDING_DELETION,
    (S.PENDING_DELETION, Event.CANCEL_DELETION_WITHOUT_MATERIAL): S.PENDING_IMPORT,
    # The same for an EXTERNAL primary waiting for its replicas' deletion.
    (S.PENDING_REPLICA_DELETION, Event.MATERIAL_GONE): S.PENDING_REPLICA_DELETION,
    (S.PENDING_REPLICA_DELETION, Event.CANCEL_DELETION_WITHOUT_MATERIAL): S.PENDING_IMPORT,
}


#: The state CreateKey gives a new key of an origin (default Enabled): an EXTERNAL key has no
#: material until the customer imports it (kms.md 1.1).
INITIAL: dict[Origin, KeyState] = {Origin.EXTERNAL: S.PENDING_IMPORT}


def initial_state(origin: Origin) -> KeyState:
    return INITIAL.get(origin, S.ENABLED)


class IllegalTransition(Exception):
    pass


def transition(state: KeyState, event: Event) -> KeyState:
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        raise IllegalTransition(f"{event} is not allowed in {state}") from None


ErrorFactory = Callable[[str], ServiceError]


def _invalid(suffix: str) -> ErrorFactory:
    return lambda arn: KMSInvalidStateException(f"{arn} is {suffix}.")


DISABLED = lambda arn: DisabledException(f"{arn} is disabled.")  # noqa: E731 - [1]
PENDING_DELETION = _invalid("pending deletion")  # [3]
PENDING_IMPORT = _invalid("pending import")  # [5]
NOT_PENDING_DELETION = _invalid("not pending deletion")  # [4]
UNAVAILABLE = _invalid("unavailable")  # [11]
CREATING = _invalid("creating")  # [14]
UPDATING = _invalid("updating")  # [15]

_CRYPTO = {S.DISABLED: DISABLED, S.PENDING_DELETION: PENDING_DELETION,
           S.PENDING_REPLICA_DELETION: PENDING_DELETION, S.PENDING_IMPORT: PENDING_IMPORT,
           S.UNAVAILABLE: UNAVAILABLE, S.CREATING: CREATING}
_NOT_PENDING = {S.PENDING_DELETION: PENDING_DELETION,
                S.PENDING_REPLICA_DELETION: PENDING_DELETION}
_ENABLE_DISABLE = {**_NOT_PENDING, S.PENDING_IMPORT: PENDING_IMPORT, S.CREATING: CREATING,
                   S.UPDATING: UPDATING}
_ANY: dict[KeyState, ErrorFactory] = {}
#: [6]: only keys with imported material are ever PendingImport.
EXTERNAL_ORIGIN = lambda arn: UnsupportedOperationException(  # noqa: E731
    f"{arn} origin is EXTERNAL which is not valid for this operation.")
#: Enable/DisableKeyRotation: [1] or [7], [3] or [7], [6], [14] ([7]: CloudHSM keys, refused by
#: the capability table before the state is looked at).
_ROTATION_SETTINGS = {S.DISABLED: DISABLED, **_NOT_PENDING, S.PENDING_IMPORT: EXTERNAL_ORIGIN,
                      S.CREATING: CREATING}
#: RotateKeyOnDemand (not in the archived table): as a cryptographic operation, its recorded
#: answers for Disabled and PendingImport keys; Updating as the other management operations.
_ON_DEMAND = {**_CRYPTO, S.UPDATING: UPDATING}
_MULTI_REGION = {**_CRYPTO, S.UPDATING: UPDATING}

POLICY: dict[str, dict[KeyState, ErrorFactory]] = {
    **dict.fromkeys(("Encrypt", "Decrypt", "ReEncrypt", "GenerateDataKey",
                     "GenerateDataKeyWithoutPlaintext", "GenerateDataKeyPair",
                     "GenerateDataKeyPairWithoutPlaintext", "Sign", "Verify", "GenerateMac",
                     "VerifyMac", "GetPublicKey", "DeriveSharedSecret", "Encapsulate",
                     "Decapsulate"), _CRYPTO),
    **dict.fromkeys(("CreateAlias", "TagResource", "UntagResource", "UpdateKeyDescription"),
                    _NOT_PENDING),
    # Unavailable and Updating keys take grants (key-state table); using them then fails.
    "CreateGrant": {S.DISABLED: DISABLED, S.PENDING_DELETION: PENDING_DELETION,
                    S.PENDING_REPLICA_DELETION: PENDING_DELETION,
                    S.PENDING_IMPORT: PENDING_IMPORT, S.CREATING: CREATING},
    "EnableKey": _ENABLE_DISABLE,
    "DisableKey": _ENABLE_DISABLE,
    "ScheduleKeyDeletion": {**_NOT_PENDING, S.UPDATING: UPDATING},
    "CancelKeyDeletion": {s: NOT_PENDING_DELETION for s in KeyState
                          if s not in (S.PENDING_DELETION, S.PENDING_REPLICA_DELETION)},
    # [10]: the alias's new target must not be pending deletion (the old one may be).
    "UpdateAlias": _NOT_PENDING,
    # [1], [2]/[3], [5], [14], [15]; UpdatePrimaryRegion on an Updating key: the archived table
    # says allowed, but both keys must be Enabled when it starts (DG multi-region-update), so
    # hsmkms refuses it as "updating" (docs/compatibility.md).
    **dict.fromkeys(("ReplicateKey", "UpdatePrimaryRegion"), _MULTI_REGION),
    # Imported key material ([8], [14], [15]; DeleteImportedKeyMaterial works while pending
    # deletion, [9], and on a PendingImport key, changing nothing).
    "GetParametersForImport": {**_NOT_PENDING, S.CREATING: CREATING, S.UPDATING: UPDATING},
    "ImportKeyMaterial": {**_NOT_PENDING, S.CREATING: CREATING},
    "DeleteImportedKeyMaterial": {S.CREATING: CREATING, S.UPDATING: UPDATING},
    **dict.fromkeys(("DescribeKey", "GetKeyPolicy", "PutKeyPolicy", "ListKeyPolicies",
                     "ListResourceTags", "DeleteAlias", "ListAliases", "GetKeyLastUsage",
                     "ListGrants", "RetireGrant", "RevokeGrant"), _ANY),
    "EnableKeyRotation": _ROTATION_SETTINGS,
    "DisableKeyRotation": _ROTATION_SETTINGS,
    "RotateKeyOnDemand": _ON_DEMAND,
    # ?[7] in every state a key that rotates can be in: PendingDeletion keys answer "false",
    # PendingImport (imported) keys answer as spec kms-keys.md 10 Q11 proposes.
    "GetKeyRotationStatus": _ANY,
    # Listed in every state, pending deletion included (spec kms-keys.md 3.5, inferred).
    "ListKeyRotations": _ANY,
}


#: The operations that use a key's current material (the cryptographic ones).
USES_MATERIAL = frozenset(op for op, policy in POLICY.items() if policy is _CRYPTO)


def check_material(operation: str, key: Key) -> None:
    """Defensive: a key with imported material that has no current material never reaches a
    cipher, whatever its stored state says; it answers as the PendingImport key it should be
    (the state tables keep this from happening; a 500 would be worse than this answer)."""
    if operation in USES_MATERIAL and key.origin is Origin.EXTERNAL and key.material is None:
        raise PENDING_IMPORT(key.arn)


def reported_state(key: Key, store_connected: Callable[[Key], bool] | None) -> KeyState:
    """The state a caller sees: Unavailable while a custom key store is not connected."""
    if key.custom_key_store_id is None or key.state is S.PENDING_DELETION:
        return key.state
    if store_connected is not None and store_connected(key):
        return key.state
    return S.UNAVAILABLE


def check(operation: str, state: KeyState, arn: str) -> None:
    """Raise the AWS error if ``operation`` is not allowed for a key in ``state``."""
    error = POLICY[operation].get(state)
    if error is not None:
        raise error(arn)
