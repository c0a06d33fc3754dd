"""Imported key material (``Origin: EXTERNAL``): GetParametersForImport, ImportKeyMaterial,
DeleteImportedKeyMaterial, and the expiry of imported material on the clock (spec
kms-keys.md 4, 3.2, 6, 8).

Lifecycle (spec kms-keys.md 4.1)::

    CreateKey(Origin=EXTERNAL) -> PendingImport, no material
    GetParametersForImport -> a wrapping key pair's public key + an import token, 24 h
    ImportKeyMaterial -> Enabled (from PendingImport; any other state is kept)
    DeleteImportedKeyMaterial, or ValidTo reached -> PendingImport (PendingDeletion stays)

Every material of a key is a row of :mod:`hsmkms.kms.materials` (asymmetric and HMAC keys have
one, whose id no response but ImportKeyMaterial's and DeleteImportedKeyMaterial's shows). The
key document keeps the copy of its CURRENT material (None while that one is deleted). A deleted
or expired material keeps its row (``import_state`` PENDING_IMPORT, no secret), so that only the
same material can come back and old ciphertexts decrypt again once it does; a material pending
rotation, not yet permanently associated with its key, is dropped instead.

The material id is ``HMAC-SHA256(key = "kms-key-material-id" || key id, message = material)``
(spec kms-keys.md 3.2): re-importing the same bytes gives the same id, the same bytes in two keys
two ids.

Import tokens: an opaque reference to the parameters' row (a random 256-bit id) with its key id
and expiry beside it. The row, which holds the sealed wrapping private key, is deleted by a job
when the parameters expire; the expiry written in the token then still tells an expired token
from one that never was.

Check order of ImportKeyMaterial (spec kms-keys.md 4.4, proposed order): the request's own
members (ExpirationModel and ValidTo, KeyMaterialId with NEW_KEY_MATERIAL), the key (found,
authorized, origin, state), the members only symmetric keys take, the token (this key's?
expired?), the unwrap, the material's format, then ImportType and material id rules.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from dataclasses import dataclass, replace

from hsmkms import crypto, pkcrypto
from hsmkms.audit import AuditLog
from hsmkms.context import RequestContext
from hsmkms.errors import ValidationException
from hsmkms.ids import IdSource
from hsmkms.kms import keyspecs, states
from hsmkms.kms.backends import Backends
from hsmkms.kms.backends.imported import (
    DOES_NOT_EXPIRE,
    EXPIRES,
    IMPORTED,
    PENDING_IMPORT,
    PERMANENT,
)
from hsmkms.kms.backends.local import LocalBackend
from hsmkms.kms.errors import (
    ExpiredImportTokenException,
    IncorrectKeyMaterialException,
    InvalidCiphertextException,
    InvalidImportTokenException,
    KMSInvalidStateException,
    NotFoundException,
    UnsupportedOperationException,
)
from hsmkms.kms.keygen import KeyMaterials
from hsmkms.kms.keys import DAY, Keys
from hsmkms.kms.keyspecs import KeySpec
from hsmkms.kms.materials import Materials, moved
from hsmkms.kms.model import (
    IMPORT_PARAMETERS,
    ImportParameters,
    Key,
    KeyMaterial,
    KeyState,
    MaterialState,
    Origin,
    key_arn,
)
from hsmkms.kms.usecases.access import KeyAccess
from hsmkms.scheduler import Scheduler
from hsmkms.scope import Scope
from hsmkms.store.base import Store
from hsmkms.store.codec import Secret

EXPIRE_TASK = "kms.expire-key-material"
PURGE_TASK = "kms.purge-import-parameters"
NEW = "NEW_KEY_MATERIAL"
EXISTING = "EXISTING_KEY_MATERIAL"
#: Import parameters are valid for 24 hours (GetParametersForImport doc).
PARAMETERS_SECONDS = DAY
#: ValidTo may be at most 365 days after the request (ImportKeyMaterial doc).
MAX_VALID_TO_SECONDS = 365 * DAY
_TOKEN_PREFIX = b"hsmkms-import-token/1/"
_TOKEN_ID_BYTES = 32
_ID_KEY_PREFIX = b"kms-key-material-id"

#: WrappingAlgorithm -> the WrappingKeySpecs it works with (spec kms-keys.md 4.2).
RSA_WRAPPING_SPECS = ("RSA_2048", "RSA_3072", "RSA_4096")
WRAPPING: dict[str, tuple[str, ...]] = {
    "RSAES_OAEP_SHA_1": RSA_WRAPPING_SPECS, "RSAES_OAEP_SHA_256": RSA_WRAPPING_SPECS,
    "RSA_AES_KEY_WRAP_SHA_1": RSA_WRAPPING_SPECS, "RSA_AES_KEY_WRAP_SHA_256": RSA_WRAPPING_SPECS,
    "SM2PKE": ("SM2",),
}
#: Where each wrapping algorithm is offered: SM2PKE only in the China Regions, RSA_AES_KEY_WRAP
#: not there (GetParametersForImport doc).
WRAPPING_PARTITIONS: dict[str, frozenset[str]] = {
    "RSAES_OAEP_SHA_1": keyspecs.EVERYWHERE, "RSAES_OAEP_SHA_256": keyspecs.EVERYWHERE,
    "RSA_AES_KEY_WRAP_SHA_1": keyspecs.COMMERCIAL,
    "RSA_AES_KEY_WRAP_SHA_256": keyspecs.COMMERCIAL, "SM2PKE": keyspecs.CHINA,
}


def material_id(key_id: str, material: bytes) -> str:
    """The id of ``material`` imported into the key ``key_id`` (spec kms-keys.md 3.2)."""
    return hmac.new(_ID_KEY_PREFIX + key_id.encode(), material, hashlib.sha256).hexdigest()


def check_importable(spec: KeySpec) -> None:
    """CreateKey with Origin EXTERNAL: AWS documents imports for symmetric, HMAC, RSA, ECC and
    SM2 keys only; Ed25519, ML-DSA and ML-KEM are refused (spec kms-keys.md 10 Q4, our text)."""
    if not spec.importable:
        raise UnsupportedOperationException(
            f"KeySpec {spec.name} does not support imported key material (Origin EXTERNAL).")


def missing_material(materials: Materials, scope: str, key: Key) -> bool:
    """Whether an EXTERNAL key lacks any material it needs (it is, or would be, PendingImport)."""
    if key.material is None:
        return True
    return any(m.secret is None for m in materials.of(scope, key) if m.state in PERMANENT)


def imported_everywhere(keys: Keys, scope: str, key: Key, mid: str) -> None:
    """PENDING_MULTI_REGION_IMPORT_AND_ROTATION -> PENDING_ROTATION in every member, once
    every member of the set has the material (an import into the last replica lacking it, or
    the deletion of that replica)."""
    rows = [(member_scope, keys.materials.get(member_scope, member, mid))
            for member_scope, member in keys.related(scope, key)]
    if any(row is None for _, row in rows):
        return
    for member_scope, row in rows:
        if row is not None and (
                row.state is MaterialState.PENDING_MULTI_REGION_IMPORT_AND_ROTATION):
            keys.materials.put(member_scope, moved(row, "imported-everywhere"))


def replica_added(keys: Keys, scope: str, primary: Key) -> None:
    """A new replica of an EXTERNAL primary has none of its materials: one pending rotation
    waits for it again (PENDING_ROTATION -> PENDING_MULTI_REGION_IMPORT_AND_ROTATION in every
    member), so that the set never rotates into material a member lacks."""
    for member_scope, member in keys.related(scope, primary):
        for row in keys.materials.of(member_scope, member):
            if row.state is MaterialState.PENDING_ROTATION:
                keys.materials.put(member_scope, moved(row, "replica-added"))


def expiry_job(scope: str, key_id: str, mid: str) -> str:
    return f"kms-expire-material:{scope}:{key_id}:{mid}"


def purge_job(scope: str, token_id: str) -> str:
    return f"kms-import-parameters:{scope}:{token_id}"


@dataclass(frozen=True, slots=True)
class Parameters:
    key: Key
    token: bytes
    public_key: bytes
    valid_to: float


@dataclass(frozen=True, slots=True)
class Import:
    """ImportKeyMaterial's members besides the key id."""

    token: bytes
    encrypted_material: bytes
    valid_to: float | None = None
    expiration_model: str | None = None
    import_type: str | None = None
    description: str | None = None
    key_material_id: str | None = None


@dataclass(frozen=True, slots=True)
class _Update:
    """An unwrapped, checked material and the settings it is imported with."""

    mid: str
    stored: Secret
    req: Import
    model: str
    valid_to: float | None

    def applied(self, row: KeyMaterial) -> KeyMaterial:
        """``row`` imported now (a description omitted keeps the one it had)."""
        return replace(row, secret=self.stored, import_state=IMPORTED,
                       expiration_model=self.model, valid_to=self.valid_to,
                       description=self.req.description if self.req.description is not None
                       else row.description)


def _symmetric_members(spec: KeySpec, req: Import) -> None:
    """ImportType, KeyMaterialDescription and KeyMaterialId are for symmetric encryption keys
    only (ImportKeyMaterial doc; text ours, spec kms-keys.md 10 Q19)."""
    if spec.symmetric:
        return
    for member, value in (("ImportType", req.import_type),
                          ("KeyMaterialDescription", req.description),
                          ("KeyMaterialId", req.key_material_id)):
        if value is not None:
            raise ValidationException(
                f"{member} is supported only for symmetric encryption KMS keys.")


@dataclass(frozen=True, slots=True)
class _Token:
    token_id: str
    valid_to: float
    key_id: str


def _encode_token(params: ImportParameters) -> bytes:
    return (_TOKEN_PREFIX + bytes.fromhex(params.token_id)
            + struct.pack(">Q", round(params.valid_to * 1000)) + params.key_id.encode())


def _decode_token(token: bytes) -> _Token | None:
    head = len(_TOKEN_PREFIX) + _TOKEN_ID_BYTES
    if not token.startswith(_TOKEN_PREFIX) or len(token) <= head + 8:
        return None
    try:
        key_id = token[head + 8:].decode("ascii")
    except UnicodeDecodeError:
        return None
    (millis,) = struct.unpack(">Q", token[head:head + 8])
    return _Token(token[len(_TOKEN_PREFIX):head].hex(), millis / 1000, key_id)


class Imports:
    def __init__(self, access: KeyAccess, store: Store, scheduler: Scheduler,
                 wrapping_keys: KeyMaterials, ids: IdSource) -> None:
        self.access = access
        self.keys: Keys = access.keys
        self.materials: Materials = access.keys.materials
        self.backends = access.backends
        self.scheduler = scheduler
        self.wrapping_keys = wrapping_keys
        self.ids = ids
        self.parameters = store.repository(IMPORT_PARAMETERS, ImportParameters)

    # -- GetParametersForImport ---------------------------------------------------------------

    def get_parameters(self, ctx: RequestContext, key_id: str, algorithm: str,
                       wrapping_key_spec: str) -> Parameters:
        _check_wrapping(algorithm, wrapping_key_spec, ctx.region)
        key = self.access.key(ctx, key_id, "GetParametersForImport", aliases=False)
        # RSA key pairs are made in a worker thread before the request took the app lock
        # (:mod:`hsmkms.kms.keygen`); SM2 pairs take well under a millisecond.
        private = self.wrapping_keys.take(wrapping_key_spec)
        valid_to = round(ctx.now + PARAMETERS_SECONDS, 3)
        params = ImportParameters(token_id=self.ids.hex(2 * _TOKEN_ID_BYTES), key_id=key.key_id,
                                  wrapping_algorithm=algorithm,
                                  wrapping_key_spec=wrapping_key_spec,
                                  private=Secret(private), valid_to=valid_to)
        self.parameters.put(ctx.scope, params.token_id, params)
        self.scheduler.schedule(PURGE_TASK, valid_to,
                                {"scope": ctx.scope, "token": params.token_id},
                                job_id=purge_job(ctx.scope, params.token_id))
        public = pkcrypto.public_key(wrapping_key_spec, private, keep=False)
        return Parameters(key, _encode_token(params), public, valid_to)

    # -- ImportKeyMaterial --------------------------------------------------------------------

    def import_material(self, ctx: RequestContext, key_id: str, req: Import) -> tuple[Key, str]:
        model, valid_to = _expiration(ctx, req)
        if req.key_material_id is not None and req.import_type == NEW:
            raise ValidationException(  # ours (spec kms-keys.md 10 Q19)
                "KeyMaterialId cannot be specified with ImportType NEW_KEY_MATERIAL.")
        key = self.access.key(ctx, key_id, "ImportKeyMaterial", aliases=False)
        spec = keyspecs.get(key.key_spec)
        _symmetric_members(spec, req)
        params = self._token(ctx, key, req.token)
        try:
            raw = pkcrypto.unwrap(params.wrapping_key_spec, params.private,
                                  params.wrapping_algorithm, req.encrypted_material)
        except crypto.CryptoError:
            raise InvalidCiphertextException(None) from None
        try:
            stored = Secret(pkcrypto.imported(key.key_spec, raw))
        except pkcrypto.BadKeyMaterial as bad:
            raise IncorrectKeyMaterialException(str(bad)) from None
        mid = material_id(key.key_id, raw)
        if req.key_material_id is not None and req.key_material_id != mid:
            raise IncorrectKeyMaterialException(  # ours (spec kms-keys.md 10 Q19)
                f"The key material does not have the key material id {req.key_material_id}.")
        update = _Update(mid, stored, req, model, valid_to)
        key = self._place(ctx, key, spec, update)
        if key.state is KeyState.PENDING_IMPORT and not missing_material(
                self.materials, ctx.scope, key):
            key = self.keys.apply(ctx, key, states.Event.IMPORT_COMPLETE)
        else:
            self.keys.save(ctx, key)
        self._schedule_expiry(ctx.scope, key, mid, model, valid_to)
        return key, mid

    def _place(self, ctx: RequestContext, key: Key, spec: KeySpec, update: _Update) -> Key:
        """Where the material goes: the key's first, a new one pending rotation, or one it had
        (ImportType rules, spec kms-keys.md 4.4)."""
        if key.is_replica:
            return self._into_replica(ctx, key, spec, update)
        found = self.materials.of(ctx.scope, key)
        import_type = update.req.import_type or (EXISTING if found else NEW)
        existing = next((m for m in found if m.material_id == update.mid), None)
        if import_type == NEW:
            if existing is not None:
                raise IncorrectKeyMaterialException(
                    f"The key material (id: {update.mid}) is already associated with KMS key "
                    f"{key.key_id}. To import it again, use ImportType EXISTING_KEY_MATERIAL.")
            if found:
                return self._new_pending(ctx, key, found, update)
            return self._first(ctx, key, update, spec)
        if existing is None:
            raise IncorrectKeyMaterialException(
                "The key material is not the key material previously imported into KMS "
                f"key {key.arn}." if found else
                f"KMS key {key.arn} has no key material to import again. To import new "
                "key material, use ImportType NEW_KEY_MATERIAL.")
        return self._again(ctx, key, existing, update)

    def _token(self, ctx: RequestContext, key: Key, token: bytes) -> ImportParameters:
        """The parameters a token names, if they are this key's and still valid (messages are
        ours, spec kms-keys.md 10 Q19)."""
        decoded = _decode_token(token)
        params = self.parameters.get(ctx.scope, decoded.token_id) if decoded else None
        if decoded is None or decoded.key_id != key.key_id or (
                params is not None and (params.key_id != key.key_id
                                        or round(params.valid_to * 1000)
                                        != round(decoded.valid_to * 1000))):
            raise InvalidImportTokenException(
                f"The import token is not valid for KMS key {key.arn}.")
        if ctx.now >= decoded.valid_to:
            raise ExpiredImportTokenException(
                "The import token has expired. Use GetParametersForImport to get a new public "
                "key and import token.")
        if params is None:  # never issued (the row of valid parameters is kept until expiry)
            raise InvalidImportTokenException(
                f"The import token is not valid for KMS key {key.arn}.")
        return params

    def _first(self, ctx: RequestContext, key: Key, update: _Update, spec: KeySpec) -> Key:
        row = update.applied(KeyMaterial(key_id=key.key_id, material_id=update.mid,
                                         state=MaterialState.CURRENT, seq=0, created=ctx.now))
        self.materials.put(ctx.scope, row)
        # Only symmetric encryption keys show their material id (spec kms-keys.md 1.1).
        return replace(key, material=update.stored,
                       key_material_id=update.mid if spec.symmetric else key.key_material_id)

    def _new_pending(self, ctx: RequestContext, key: Key, found: list[KeyMaterial],
                     update: _Update) -> Key:
        """NEW_KEY_MATERIAL into a symmetric key that has material: it waits for
        RotateKeyOnDemand (spec kms-keys.md 4.4); one at a time (recorded message)."""
        if not keyspecs.get(key.key_spec).symmetric:  # one material for life
            raise IncorrectKeyMaterialException(
                f"KMS key {key.arn} already has key material. Asymmetric and HMAC KMS keys "
                "accept only the key material first imported into them.")
        pending = next((m for m in found if m.state in (
            MaterialState.PENDING_ROTATION,
            MaterialState.PENDING_MULTI_REGION_IMPORT_AND_ROTATION)), None)
        if pending is not None:
            raise KMSInvalidStateException(
                f"New key material (id: {update.mid}) cannot be imported into KMS key "
                f"{key.key_id}, "
                f"because another key material (id: {pending.material_id}) is pending "
                "rotation.")
        # A multi-Region primary with replicas: pending until every replica has it too
        # (spec kms-keys.md 4.6; :meth:`_into_replica`).
        replicated = len(self.keys.related(ctx.scope, key)) > 1
        row = update.applied(KeyMaterial(
            key_id=key.key_id, material_id=update.mid,
            state=MaterialState.PENDING_MULTI_REGION_IMPORT_AND_ROTATION if replicated
            else MaterialState.PENDING_ROTATION,
            seq=max(m.seq for m in found) + 1, created=ctx.now))
        self.materials.put(ctx.scope, row)
        return key

    def _into_replica(self, ctx: RequestContext, key: Key, spec: KeySpec,
                      update: _Update) -> Key:
        """A multi-Region replica takes only material its primary has (spec kms-keys.md 4.6),
        with its own import parameters and expiry settings: each import is EXISTING. The row
        takes the primary's place and state (a replica shares the key id, so the material id
        is the primary's); a material pending rotation becomes PENDING_ROTATION in every member
        once every replica has it."""
        if update.req.import_type == NEW:  # ours (docs/compatibility.md)
            raise UnsupportedOperationException(
                f"{key.arn} is a multi-Region replica key. Import new key material into its "
                f"primary key in {key.primary_region}, then import the same key material into "
                "this key with ImportType EXISTING_KEY_MATERIAL.")
        own = self.materials.of(ctx.scope, key)
        existing = next((m for m in own if m.material_id == update.mid), None)
        if existing is not None:
            return self._again(ctx, key, existing, update)
        primary = self.keys.primary_of(key)
        source = None if primary is None else self.materials.get(
            Scope.of(key.account, key.primary_region), primary, update.mid)
        if source is None:
            raise IncorrectKeyMaterialException(
                "The key material is not the key material previously imported into KMS "
                f"key {key_arn(key.primary_region, key.account, key.key_id)}.")
        row = update.applied(KeyMaterial(
            key_id=key.key_id, material_id=update.mid, state=source.state, seq=source.seq,
            created=source.created, rotation_date=source.rotation_date,
            rotation_type=source.rotation_type))
        if row.state is MaterialState.CURRENT:
            # The replica may still hold the material the set rotated away from (it had
            # dropped the pending one when the primary rotated into it).
            for material in own:
                if material.state is MaterialState.CURRENT:
                    self.materials.put(ctx.scope, moved(material, "rotate-away"))
            self.materials.put(ctx.scope, row)
            return replace(key, material=update.stored,
                           key_material_id=update.mid if spec.symmetric
                           else key.key_material_id)
        self.materials.put(ctx.scope, row)
        if row.state is MaterialState.PENDING_MULTI_REGION_IMPORT_AND_ROTATION:
            imported_everywhere(self.keys, ctx.scope, key, update.mid)
        return key

    def _again(self, ctx: RequestContext, key: Key, row: KeyMaterial, update: _Update) -> Key:
        """The same material again: it is back (if it was gone), with new expiry settings."""
        self.materials.put(ctx.scope, update.applied(row))
        if row.state is MaterialState.CURRENT:
            return replace(key, material=update.stored)
        return key

    def _schedule_expiry(self, scope: str, key: Key, mid: str, model: str,
                         valid_to: float | None) -> None:
        job = expiry_job(scope, key.key_id, mid)
        if model == EXPIRES and valid_to is not None:
            self.scheduler.schedule(EXPIRE_TASK, valid_to,
                                    {"scope": scope, "key": key.key_id, "material": mid},
                                    job_id=job)
        else:
            self.scheduler.cancel(job)

    # -- DeleteImportedKeyMaterial ------------------------------------------------------------

    def delete_material(self, ctx: RequestContext, key_id: str,
                        key_material_id: str | None) -> tuple[Key, str | None]:
        key = self.access.key(ctx, key_id, "DeleteImportedKeyMaterial", aliases=False)
        found = self.materials.of(ctx.scope, key)
        if key_material_id is not None:
            row = next((m for m in found if m.material_id == key_material_id), None)
            if row is None:  # ours (spec kms-keys.md 10 Q19)
                raise NotFoundException(
                    f"Key material {key_material_id} is not found in KMS key {key.arn}.")
        else:
            row = next((m for m in found if m.state is MaterialState.CURRENT), None)
        if row is None or row.secret is None:  # nothing imported: nothing changes
            return key, row.material_id if row is not None else None
        key = remove_material(self.keys, self.backends, ctx.scope, key, row)
        self.scheduler.cancel(expiry_job(ctx.scope, key.key_id, row.material_id))
        if key.multi_region and not key.is_replica and row.state not in PERMANENT:
            # A pending material deleted on the primary goes from the replicas too; one
            # deleted on a replica leaves the others as they are (spec kms-keys.md 4.5).
            for member_scope, member in self.keys.related(ctx.scope, key)[1:]:
                copy = self.materials.get(member_scope, member, row.material_id)
                if copy is not None and copy.state not in PERMANENT:
                    remove_material(self.keys, self.backends, member_scope, member, copy)
                    self.scheduler.cancel(expiry_job(member_scope, key.key_id,
                                                     row.material_id))
        return key, row.material_id


def remove_material(keys: Keys, backends: Backends, scope: str, key: Key,
                    row: KeyMaterial) -> Key:
    """Delete an imported material (DeleteImportedKeyMaterial, expiry): a pending one goes
    entirely; a permanently associated one keeps its row without its secret, and its key goes
    to PendingImport (a key pending deletion stays so). Returns the key as saved."""
    materials = keys.materials
    backend = backends.of(key)
    if isinstance(backend, LocalBackend):
        backend.forget(key, row.material_id)
    if row.state not in PERMANENT:
        materials.rows.delete(scope, row.row_id)
        return key
    materials.put(scope, replace(row, secret=None, import_state=PENDING_IMPORT,
                                 expiration_model=None, valid_to=None))
    if row.state is MaterialState.CURRENT:
        if key.material is not None and not keyspecs.get(key.key_spec).symmetric:
            pkcrypto.forget(bytes(key.material))
        key = replace(key, material=None)
    try:
        state = states.transition(key.state, states.Event.MATERIAL_GONE)
    except states.IllegalTransition:
        if key.state not in (KeyState.CREATING, KeyState.UPDATING):
            raise  # a state the table forgot: a bug, not a state to keep silently
        # Creating/Updating (multi-Region keys): kept until the step completes, which then
        # moves the key to PendingImport (hsmkms.kms.jobs.ReplicaJobs).
        state = key.state
    updated = replace(key, state=state)
    keys.keys.put(scope, key.key_id, updated)
    return updated


def _check_wrapping(algorithm: str, wrapping_key_spec: str, region: str) -> None:
    """The wrapping algorithm and key spec must go together and be offered in the Region
    (texts ours, spec kms-keys.md 10 Q14 and Q5)."""
    if algorithm not in WRAPPING:  # RSAES_PKCS1_V1_5, unsupported since 2023-10-10
        raise ValidationException(
            f"WrappingAlgorithm {algorithm} is not supported. Use RSAES_OAEP_SHA_1, "
            "RSAES_OAEP_SHA_256, RSA_AES_KEY_WRAP_SHA_1, RSA_AES_KEY_WRAP_SHA_256 or SM2PKE.")
    if wrapping_key_spec not in WRAPPING[algorithm]:
        raise ValidationException(
            f"WrappingAlgorithm {algorithm} cannot be used with WrappingKeySpec "
            f"{wrapping_key_spec}.")
    if keyspecs.partition(region) not in WRAPPING_PARTITIONS[algorithm]:
        raise UnsupportedOperationException(
            f"WrappingAlgorithm {algorithm} is not available in the Region {region}.")


def _expiration(ctx: RequestContext, req: Import) -> tuple[str, float | None]:
    """ExpirationModel (default KEY_MATERIAL_EXPIRES) and ValidTo (spec kms-keys.md 4.4)."""
    model = req.expiration_model or EXPIRES
    if model == EXPIRES:
        if req.valid_to is None:  # recorded
            raise ValidationException(
                "A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES")
        if req.valid_to <= ctx.now:  # ours
            raise ValidationException("The validTo date must be in the future.")
        if req.valid_to > ctx.now + MAX_VALID_TO_SECONDS:  # ours
            raise ValidationException(
                "The validTo date must be at most 365 days after the request.")
        return model, round(req.valid_to, 3)
    if req.valid_to is not None:  # ours
        raise ValidationException(
            f"A validTo date cannot be set if the ExpirationModel is {DOES_NOT_EXPIRE}")
    return model, None


@dataclass(frozen=True, slots=True)
class ImportJobs:
    """Expiry of imported material at its ValidTo, and the end of import parameters."""

    keys: Keys
    backends: Backends
    audit: AuditLog
    store: Store

    def expire(self, args: dict[str, str], due: float) -> None:
        scope = args["scope"]
        key = self.keys.get(scope, args["key"])
        if key is None or key.origin is not Origin.EXTERNAL:
            return
        row = self.keys.materials.get(scope, key, args["material"])
        if row is None or row.secret is None or row.valid_to is None or row.valid_to > due:
            return  # gone, or imported again since with another ValidTo (its own job)
        key = remove_material(self.keys, self.backends, scope, key, row)
        # DG ct-deleteexpiredkeymaterial (2025): the bare key id and the material id.
        self.audit.record_service_event(
            scope, "DeleteExpiredKeyMaterial", due, resources=[key.arn],
            service_event_details={"keyId": key.key_id, "keyMaterialId": row.material_id})

    def purge(self, args: dict[str, str], _due: float) -> None:
        self.store.repository(IMPORT_PARAMETERS, ImportParameters).delete(
            args["scope"], args["token"])


def register(scheduler: Scheduler, jobs: ImportJobs) -> None:
    scheduler.register(EXPIRE_TASK, jobs.expire)
    scheduler.register(PURGE_TASK, jobs.purge)
