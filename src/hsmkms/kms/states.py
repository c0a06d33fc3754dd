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
from hsmkms.kms.errors import DisabledException, KMSInvalidStateException
from hsmkms.kms.model import Key, KeyState

S = KeyState


class Event(enum.StrEnum):
    ENABLE = "enable"
    DISABLE = "disable"
    SCHEDULE_DELETION = "schedule-deletion"
    CANCEL_DELETION = "cancel-deletion"


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
}


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
    **dict.fromkeys(("DescribeKey", "GetKeyPolicy", "PutKeyPolicy", "ListKeyPolicies",
                     "ListResourceTags", "DeleteAlias", "ListAliases", "GetKeyLastUsage",
                     "ListGrants", "RetireGrant", "RevokeGrant"), _ANY),
}


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
