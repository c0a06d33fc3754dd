"""KMS entities and identifiers: keys, aliases, ARNs.

A key stores its *stored* state (what the user last set). The state a caller sees, its
*reported* state, is derived by :mod:`hsmkms.kms.states` (a key in a disconnected CloudHSM key
store reports ``Unavailable`` unless it is pending deletion), so reconnecting restores every
key's prior state for free.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field

from hsmkms.kms.keyspecs import partition
from hsmkms.store.codec import Secret

KEYS = "kms.key"
ALIASES = "kms.alias"
#: Ids of keys whose waiting period ended (a blob naming one gets NotFoundException).
DELETED_KEYS = "kms.deleted-key"
#: The key materials of symmetric encryption keys (:class:`KeyMaterial`), by
#: ``<key id>/<material id>``.
MATERIALS = "kms.key-material"

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
MRK_RE = re.compile(r"^mrk-[0-9a-f]{32}$")
KEY_ARN_RE = re.compile(r"^arn:(aws[a-z-]*):kms:([a-z0-9-]+):(\d{12}):key/(.+)$")
ALIAS_ARN_RE = re.compile(r"^arn:(aws[a-z-]*):kms:([a-z0-9-]+):(\d{12}):(alias/.+)$")


class KeyState(enum.StrEnum):
    CREATING = "Creating"
    ENABLED = "Enabled"
    DISABLED = "Disabled"
    PENDING_DELETION = "PendingDeletion"
    PENDING_IMPORT = "PendingImport"
    PENDING_REPLICA_DELETION = "PendingReplicaDeletion"
    UNAVAILABLE = "Unavailable"
    UPDATING = "Updating"


class Origin(enum.StrEnum):
    AWS_KMS = "AWS_KMS"
    EXTERNAL = "EXTERNAL"
    AWS_CLOUDHSM = "AWS_CLOUDHSM"
    EXTERNAL_KEY_STORE = "EXTERNAL_KEY_STORE"


class MaterialState(enum.StrEnum):
    """``KeyMaterialState`` (spec kms-keys.md 3.2): exactly one material of a key is CURRENT
    (it encrypts); NON_CURRENT ones only decrypt; pending ones do neither yet."""

    CURRENT = "CURRENT"
    NON_CURRENT = "NON_CURRENT"
    PENDING_ROTATION = "PENDING_ROTATION"
    PENDING_MULTI_REGION_IMPORT_AND_ROTATION = "PENDING_MULTI_REGION_IMPORT_AND_ROTATION"


def key_arn(region: str, account: str, key_id: str) -> str:
    """The key's ARN, in the Region's partition (``arn:aws-cn:`` in the China Regions)."""
    return f"arn:{partition(region)}:kms:{region}:{account}:key/{key_id}"


def alias_arn(region: str, account: str, alias_name: str) -> str:
    return f"arn:{partition(region)}:kms:{region}:{account}:{alias_name}"


@dataclass(frozen=True, slots=True)
class Key:
    key_id: str
    account: str
    region: str
    created: float
    state: KeyState
    description: str = ""
    key_usage: str = "ENCRYPT_DECRYPT"
    key_spec: str = "SYMMETRIC_DEFAULT"
    origin: Origin = Origin.AWS_KMS
    policy: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    #: AWS_KMS keys: the material, sealed at rest: AES-256 for SYMMETRIC_DEFAULT, the raw key
    #: for HMAC, the DER PKCS #8 private key for asymmetric specs (:mod:`hsmkms.pkcrypto`).
    material: Secret | None = None
    key_material_id: str = ""
    deletion_date: float | None = None
    pending_window_days: int | None = None
    #: Automatic rotation (:mod:`hsmkms.kms.rotation`): the period in days while it is enabled
    #: (None: disabled), and the date its schedule counts from (enabling it, then each automatic
    #: rotation): the next one is due a period after it.
    rotation_period_days: int | None = None
    rotation_anchor: float | None = None
    #: RotateKeyOnDemand: when the rotation under way started (None: none is), and how many
    #: were ever started (the per-key limit counts them).
    on_demand_started: float | None = None
    on_demand_rotations: int = 0
    #: Multi-Region keys: the Region of the set's primary key ("" for a single-Region key).
    #: Owned by the multi-Region use cases (issue 12 item 4).
    primary_region: str = ""
    #: The primary of a multi-Region set: the Regions of its replicas, in the order they were
    #: made (empty on replicas, which read it from their primary: one list, one writer).
    replica_regions: tuple[str, ...] = ()
    #: AWS_CLOUDHSM keys: where the backing key lives (its ``id`` attribute, hex).
    custom_key_store_id: str | None = None
    backing_key_id: str | None = None
    backing_key_reference: str | None = None

    @property
    def arn(self) -> str:
        return key_arn(self.region, self.account, self.key_id)

    @property
    def multi_region(self) -> bool:
        return bool(self.primary_region)

    @property
    def is_replica(self) -> bool:
        """A multi-Region replica key (its shared properties are managed on the primary)."""
        return bool(self.primary_region) and self.primary_region != self.region


@dataclass(frozen=True, slots=True)
class KeyMaterial:
    """One key material of a key (spec kms-keys.md 3.2): every material of a symmetric encryption
    key, and the one imported material of an asymmetric or HMAC key.

    A key's materials are its history: the first one, one per rotation, and imported ones
    pending rotation. The key's ``material`` and ``key_material_id`` are a copy of its CURRENT
    one (the hot path reads the key alone); :mod:`hsmkms.kms.materials` keeps the two in step.
    A key that never rotated and imported nothing has no rows: its one material is the key's
    own (:meth:`hsmkms.kms.materials.Materials.of` makes the row it would have).
    """

    key_id: str
    material_id: str
    state: MaterialState
    #: Place among the key's materials: 0 for the first, then increasing (ListKeyRotations).
    seq: int
    #: When the material became associated with the key (created or imported).
    created: float
    #: The AES-256 material; None once imported material was deleted or expired.
    secret: Secret | None = None
    #: When a rotation made it CURRENT, and how (``AUTOMATIC``/``ON_DEMAND``); None for the
    #: first material and for pending ones.
    rotation_date: float | None = None
    rotation_type: str | None = None
    #: Imported material (``Origin: EXTERNAL``): ``IMPORTED``/``PENDING_IMPORT``, the
    #: ``ExpirationModel``, ``ValidTo`` and ``KeyMaterialDescription``.
    import_state: str | None = None
    expiration_model: str | None = None
    valid_to: float | None = None
    description: str | None = None

    @property
    def row_id(self) -> str:
        return material_row(self.key_id, self.material_id)


def material_row(key_id: str, material_id: str) -> str:
    """The store id of a key's material."""
    return f"{key_id}/{material_id}"


@dataclass(frozen=True, slots=True)
class Alias:
    name: str
    target_key_id: str
    created: float
    updated: float


@dataclass(frozen=True, slots=True)
class DeletedKey:
    """What remains of a key after its deletion: enough to tell "deleted" from "never was"."""

    key_id: str
    deleted: float


#: The parameters GetParametersForImport issued (:class:`ImportParameters`), by token id.
IMPORT_PARAMETERS = "kms.import-parameters"


@dataclass(frozen=True, slots=True)
class ImportParameters:
    """One GetParametersForImport answer: the wrapping key pair (its private half sealed at
    rest like key material), what it is for, and until when. The import token refers to it by
    ``token_id`` (random, 256 bits: a token can't be made to point at other parameters)."""

    token_id: str
    key_id: str
    wrapping_algorithm: str
    wrapping_key_spec: str
    private: Secret
    valid_to: float
