"""KMS operation handlers: validated request dicts in, response dicts out.

Operations of the KMS model without a handler here answer ``NotImplementedYetException``
(``docs/compatibility.md`` lists them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from hsmkms import crypto
from hsmkms.context import RequestContext
from hsmkms.errors import NotImplementedYet as NotImplementedYetError
from hsmkms.errors import ValidationException
from hsmkms.kms import states
from hsmkms.kms.cryptoops import ALGORITHM, DRY_RUN, Crypto
from hsmkms.kms.errors import (
    DryRunOperationException,
    NotFoundException,
    UnsupportedOperationException,
)
from hsmkms.kms.keys import DAY, Caller, Keys
from hsmkms.kms.model import Key, KeyState, Origin, alias_arn
from hsmkms.kms.pagination import paginate
from hsmkms.protocol.awsjson import JsonService

if TYPE_CHECKING:
    from hsmkms.app import App

Params = dict[str, Any]
Result = dict[str, Any]
DELETE_TASK = "kms.delete-key"
UNSUPPORTED_SPEC = ("hsmkms implements symmetric encryption keys (SYMMETRIC_DEFAULT, "
                    "ENCRYPT_DECRYPT) only; {what} is not implemented yet.")


class KmsApi:
    """The KMS service: the domain objects plus one handler per implemented operation."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.keys = Keys(app.store)
        self.crypto = Crypto(self.keys)
        #: Extra CreateKey logic for other origins (the key-store package adds AWS_CLOUDHSM).
        self.create_hooks: dict[Origin, Callable[[Caller, Params], Key]] = {}
        #: Called after a key's metadata is deleted at the end of its waiting period.
        self.deleted_hooks: list[Callable[[str, Key, float], None]] = []
        #: Called after ScheduleKeyDeletion (the key store adds its CloudTrail details).
        self.scheduled_hooks: list[Callable[[Caller, Key], None]] = []
        #: Extra KeyMetadata members per key (e.g. CloudHsmClusterId).
        self.metadata_hooks: list[Callable[[Key, Result], None]] = []
        app.scheduler.register(DELETE_TASK, self._delete_due)

    # -- helpers ------------------------------------------------------------------------------

    @staticmethod
    def caller(ctx: RequestContext) -> Caller:
        return Caller(ctx.account, ctx.region, ctx.now, ctx.request_id)

    def metadata(self, key: Key) -> Result:
        state = self.keys.reported(key)
        meta: Result = {
            "AWSAccountId": key.account, "KeyId": key.key_id, "Arn": key.arn,
            "CreationDate": key.created, "Enabled": state is KeyState.ENABLED,
            "Description": key.description, "KeyUsage": key.key_usage, "KeyState": state,
            "DeletionDate": key.deletion_date if state is KeyState.PENDING_DELETION else None,
            "Origin": key.origin, "KeyManager": "CUSTOMER",
            "CustomerMasterKeySpec": key.key_spec, "KeySpec": key.key_spec,
            "EncryptionAlgorithms": [ALGORITHM], "MultiRegion": False,
            "CurrentKeyMaterialId": key.key_material_id or None,
        }
        for hook in self.metadata_hooks:
            hook(key, meta)
        return meta

    def handlers(self) -> dict[str, Callable[[RequestContext, Params], Result | None]]:
        return {name[3:]: getattr(self, name) for name in dir(self) if name.startswith("op_")}

    # -- key lifecycle ------------------------------------------------------------------------

    def op_CreateKey(self, ctx: RequestContext, p: Params) -> Result:  # noqa: N802
        who = self.caller(ctx)
        spec = p.get("KeySpec") or p.get("CustomerMasterKeySpec") or "SYMMETRIC_DEFAULT"
        if "KeySpec" in p and "CustomerMasterKeySpec" in p:
            raise ValidationException("You cannot specify KeySpec and CustomerMasterKeySpec in "
                                      "the same request. CustomerMasterKeySpec is deprecated.")
        usage = p.get("KeyUsage", "ENCRYPT_DECRYPT")
        if spec == "SYMMETRIC_DEFAULT" and usage != "ENCRYPT_DECRYPT":
            raise ValidationException(f"KeyUsage {usage} is not compatible with KeySpec {spec}")
        origin = Origin(p.get("Origin", "AWS_KMS"))
        if origin is Origin.AWS_CLOUDHSM:
            _cloudhsm_key_shape(spec, bool(p.get("MultiRegion")))
        if spec != "SYMMETRIC_DEFAULT":
            raise NotImplementedYetError(UNSUPPORTED_SPEC.format(what=f"KeySpec {spec}"))
        if p.get("MultiRegion"):
            raise NotImplementedYetError(UNSUPPORTED_SPEC.format(what="MultiRegion"))
        if "Policy" in p:
            self.keys.check_policy(p["Policy"])
        tags = self.keys.merged_tags({}, p.get("Tags", []))
        hook = self.create_hooks.get(origin)
        if origin is Origin.AWS_KMS and "CustomKeyStoreId" not in p:
            key = self.keys.create(who, description=p.get("Description", ""),
                                   policy=p.get("Policy"), tags=tags)
        elif origin is Origin.AWS_KMS:
            raise ValidationException(
                "To create a KMS key in a custom key store, set Origin to AWS_CLOUDHSM (for an "
                "AWS CloudHSM key store) or EXTERNAL_KEY_STORE (for an external key store).")
        elif hook is not None:
            key = hook(who, {**p, "Tags": tags})
        else:
            raise NotImplementedYetError(UNSUPPORTED_SPEC.format(what=f"Origin {origin}"))
        return {"KeyMetadata": self.metadata(key)}

    def op_DescribeKey(self, ctx: RequestContext, p: Params) -> Result:  # noqa: N802
        key = self.keys.resolve(self.caller(ctx), p["KeyId"], aliases=True)
        return {"KeyMetadata": self.metadata(key)}

    def op_ListKeys(self, ctx: RequestContext, p: Params) -> Result:  # noqa: N802
        # Sorted by the marker's own order (creation time, then id), so that paging stays right
        # even if the wall clock once stepped back between two CreateKey calls.
        keys = sorted(self.keys.list_keys(self.caller(ctx)), key=_key_position)
        page, more = paginate(keys, p.get("Limit"), p.get("Marker"), 100, _key_position)
        return {"Keys": [{"KeyId": k.key_id, "KeyArn": k.arn} for k in page], **more}

    def _managed(self, ctx: RequestContext, p: Params, operation: str) -> tuple[Caller, Key]:
        who = self.caller(ctx)
        return who, self.keys.usable(who, p["KeyId"], operation, aliases=False)

    def op_EnableKey(self, ctx: RequestContext, p: Params) -> None:  # noqa: N802
        who, key = self._managed(ctx, p, "EnableKey")
        self.keys.apply(who, key, states.Event.ENABLE)

    def op_DisableKey(self, ctx: RequestContext, p: Params) -> None:  # noqa: N802
        who, key = self._managed(ctx, p, "DisableKey")
        self.keys.apply(who, key, states.Event.DISABLE)

    def op_ScheduleKeyDeletion(self, ctx: RequestContext, p: Params) -> Result:  # noqa: N802
        who, key = self._managed(ctx, p, "ScheduleKeyDeletion")
        days = self.keys.schedule_window(p.get("PendingWindowInDays"))
        when = who.now + days * DAY
        self.keys.apply(who, key, states.Event.SCHEDULE_DELETION, deletion_date=when,
                        pending_window_days=days)
        self.app.scheduler.schedule(DELETE_TASK, when, {"scope": who.scope, "key": key.key_id},
                                    job_id=_deletion_job(who.scope, key.key_id))
        for hook in self.scheduled_hooks:
            hook(who, key)
        return {"KeyId": key.arn, "DeletionDate": when, "KeyState": KeyState.PENDING_DELETION,
                "PendingWindowInDays": days}

    def op_CancelKeyDeletion(self, ctx: RequestContext, p: Params) -> Result:  # noqa: N802
        who, key = self._managed(ctx, p, "CancelKeyDeletion")
        self.keys.apply(who, key, states.Event.CANCEL_DELETION, deletion_date=None,
                        pending_window_days=None)
        self.app.scheduler.cancel(_deletion_job(who.scope, key.key_id))
        return {"KeyId": key.arn}

    def _delete_due(self, args: dict[str, str], due: float) -> None:
        scope = args["scope"]
        key = self.keys.keys.get(scope, args["key"])
        if key is None or key.state is not KeyState.PENDING_DELETION:
            return
        # Dated when the waiting period ended, even if the clock jumped well past it.
        self.keys.delete_now(scope, key, due)
        self.crypto.forget(key.key_id)
        for hook in self.deleted_hooks:
            hook(scope, key, due)

    def op_UpdateKeyDescription(self, ctx: RequestContext, p: Params) -> None:  # noqa: N802
        who, key = self._managed(ctx, p, "UpdateKeyDescription")
        self.keys.save(who, replace(key, description=p["Description"]))

    # -- tags and policies --------------------------------------------------------------------

    def op_TagResource(self, ctx: RequestContext, p: Params) -> None:  # noqa: N802
        who, key = self._managed(ctx, p, "TagResource")
        self.keys.save(who, replace(key, tags=self.keys.merged_tags(key.tags, p["Tags"])))

    def op_UntagResource(self, ctx: RequestContext, p: Params) -> None:  # noqa: N802
        who, key = self._managed(ctx, p, "UntagResource")
        remaining = {k: v for k, v in key.tags.items() if k not in set(p["TagKeys"])}
        self.keys.save(who, replace(key, tags=remaining))

    def op_ListResourceTags(self, ctx: RequestContext, p: Params) -> Result:  # noqa: N802
        _who, key = self._managed(ctx, p, "ListResourceTags")
        tags = sorted(key.tags.items())
        page, more = paginate(tags, p.get("Limit"), p.get("Marker"), 50, lambda t: t[0])
        return {"Tags": [{"TagKey": k, "TagValue": v} for k, v in page], **more}

    def _policy_name(self, p: Params, key: Key) -> None:
        if p.get("PolicyName", "default") != "default":
            raise NotFoundException(f"No such policy exists for key {key.arn}: "
                                    f"{p['PolicyName']}. The only key policy name is default.")

    def op_GetKeyPolicy(self, ctx: RequestContext, p: Params) -> Result:  # noqa: N802
        _who, key = self._managed(ctx, p, "GetKeyPolicy")
        self._policy_name(p, key)
        return {"Policy": key.policy, "PolicyName": "default"}

    def op_PutKeyPolicy(self, ctx: RequestContext, p: Params) -> None:  # noqa: N802
        who, key = self._managed(ctx, p, "PutKeyPolicy")
        self._policy_name(p, key)
        self.keys.save(who, replace(key, policy=self.keys.check_policy(p["Policy"])))

    def op_ListKeyPolicies(self, ctx: RequestContext, p: Params) -> Result:  # noqa: N802
        self._managed(ctx, p, "ListKeyPolicies")
        return {"PolicyNames": ["default"], "Truncated": False}

    # -- aliases ------------------------------------------------------------------------------

    def op_CreateAlias(self, ctx: RequestContext, p: Params) -> None:  # noqa: N802
        who = self.caller(ctx)
        target = self.keys.usable(who, p["TargetKeyId"], "CreateAlias", aliases=False)
        self.keys.create_alias(who, p["AliasName"], target)

    def op_UpdateAlias(self, ctx: RequestContext, p: Params) -> None:  # noqa: N802
        who = self.caller(ctx)
        alias = self.keys.existing_alias(who, p["AliasName"])
        target = self.keys.usable(who, p["TargetKeyId"], "UpdateAlias", aliases=False)
        self.keys.aliases.put(who.scope, alias.name,
                              replace(alias, target_key_id=target.key_id, updated=who.now))

    def op_DeleteAlias(self, ctx: RequestContext, p: Params) -> None:  # noqa: N802
        who = self.caller(ctx)
        alias = self.keys.existing_alias(who, p["AliasName"])
        self.keys.aliases.delete(who.scope, alias.name)

    def op_ListAliases(self, ctx: RequestContext, p: Params) -> Result:  # noqa: N802
        who = self.caller(ctx)
        key = self.keys.resolve(who, p["KeyId"], aliases=False) if "KeyId" in p else None
        aliases = self.keys.aliases_of(who, key)
        page, more = paginate(aliases, p.get("Limit"), p.get("Marker"), 50, lambda a: a.name)
        return {"Aliases": [{
            "AliasName": a.name, "AliasArn": alias_arn(who.region, who.account, a.name),
            "TargetKeyId": a.target_key_id, "CreationDate": a.created,
            "LastUpdatedDate": a.updated} for a in page], **more}

    # -- cryptography -------------------------------------------------------------------------

    def op_Encrypt(self, ctx: RequestContext, p: Params) -> Result:  # noqa: N802
        key, blob = self.crypto.encrypt(self.caller(ctx), p["KeyId"], p["Plaintext"],
                                        p.get("EncryptionContext"),
                                        dry_run=bool(p.get("DryRun")),
                                        algorithm=p.get("EncryptionAlgorithm"))
        return {"CiphertextBlob": blob, "KeyId": key.arn, "EncryptionAlgorithm": ALGORITHM}

    def op_Decrypt(self, ctx: RequestContext, p: Params) -> Result:  # noqa: N802
        who = self.caller(ctx)
        algorithm = p.get("EncryptionAlgorithm")
        if _ignores_ciphertext(p):
            self.crypto.dry_run_without_blob(who, p.get("KeyId"), "Decrypt", algorithm)
            raise DryRunOperationException(DRY_RUN)
        _require_blob(p)
        key, plaintext = self.crypto.decrypt(who, p["CiphertextBlob"],
                                             p.get("EncryptionContext"), p.get("KeyId"),
                                             dry_run=bool(p.get("DryRun")), algorithm=algorithm)
        return {"KeyId": key.arn, "Plaintext": plaintext, "EncryptionAlgorithm": ALGORITHM,
                "KeyMaterialId": key.key_material_id or None}

    def op_ReEncrypt(self, ctx: RequestContext, p: Params) -> Result:  # noqa: N802
        who = self.caller(ctx)
        dry_run = bool(p.get("DryRun"))
        source_algorithm = p.get("SourceEncryptionAlgorithm")
        if _ignores_ciphertext(p):
            self.crypto.dry_run_without_blob(who, p.get("SourceKeyId"), "ReEncrypt",
                                             source_algorithm)
            self.crypto.encrypt(who, p["DestinationKeyId"], b"", None, dry_run=True,
                                operation="ReEncrypt",
                                algorithm=p.get("DestinationEncryptionAlgorithm"))
        _require_blob(p)
        source, plaintext = self.crypto.decrypt(who, p["CiphertextBlob"],
                                                p.get("SourceEncryptionContext"),
                                                p.get("SourceKeyId"), operation="ReEncrypt",
                                                algorithm=source_algorithm)
        dest, blob = self.crypto.encrypt(who, p["DestinationKeyId"], plaintext,
                                         p.get("DestinationEncryptionContext"), dry_run=dry_run,
                                         operation="ReEncrypt",
                                         algorithm=p.get("DestinationEncryptionAlgorithm"))
        return {"CiphertextBlob": blob, "SourceKeyId": source.arn, "KeyId": dest.arn,
                "SourceEncryptionAlgorithm": ALGORITHM,
                "DestinationEncryptionAlgorithm": ALGORITHM,
                "SourceKeyMaterialId": source.key_material_id or None,
                "DestinationKeyMaterialId": dest.key_material_id or None}

    def op_GenerateDataKey(self, ctx: RequestContext, p: Params) -> Result:  # noqa: N802
        key, plaintext, blob = self.crypto.data_key(self.caller(ctx), p, "GenerateDataKey")
        return {"CiphertextBlob": blob, "Plaintext": plaintext, "KeyId": key.arn,
                "KeyMaterialId": key.key_material_id or None}

    def op_GenerateDataKeyWithoutPlaintext(self, ctx: RequestContext,  # noqa: N802
                                           p: Params) -> Result:
        key, _plaintext, blob = self.crypto.data_key(self.caller(ctx), p,
                                                     "GenerateDataKeyWithoutPlaintext")
        return {"CiphertextBlob": blob, "KeyId": key.arn,
                "KeyMaterialId": key.key_material_id or None}

    def op_GenerateRandom(self, ctx: RequestContext, p: Params) -> Result:  # noqa: N802
        if "NumberOfBytes" not in p:
            raise ValidationException("NumberOfBytes is required.")
        if "CustomKeyStoreId" in p:
            return {"Plaintext": self.random_from_store(ctx, p["CustomKeyStoreId"],
                                                        p["NumberOfBytes"])}
        return {"Plaintext": crypto.random_bytes(p["NumberOfBytes"])}

    def random_from_store(self, ctx: RequestContext, store_id: str, n: int) -> bytes:
        """Replaced by the key-store package; without it no store exists."""
        from hsmkms.kms.errors import CustomKeyStoreNotFoundException  # noqa: PLC0415

        raise CustomKeyStoreNotFoundException(f"Custom key store {store_id} does not exist.")


def _cloudhsm_key_shape(spec: str, multi_region: bool) -> None:
    """AWS supports only single-Region symmetric encryption keys in CloudHSM key stores
    (DG keystore-cloudhsm): anything else is unsupported, not merely unimplemented here."""
    if spec != "SYMMETRIC_DEFAULT":
        raise UnsupportedOperationException(
            f"KeySpec {spec} is not supported for KMS keys in an AWS CloudHSM key store. Only "
            "symmetric encryption keys (SYMMETRIC_DEFAULT) can be created in it.")
    if multi_region:
        raise UnsupportedOperationException(
            "Multi-Region keys cannot be created in an AWS CloudHSM key store.")


def _ignores_ciphertext(p: Params) -> bool:
    return bool(p.get("DryRun")) and "IGNORE_CIPHERTEXT" in p.get("DryRunModifiers", ())


def _require_blob(p: Params) -> None:
    # Optional in the model only for DryRun with IGNORE_CIPHERTEXT; required otherwise.
    if "CiphertextBlob" not in p:
        raise ValidationException("1 validation error detected: Value null at "
                                  "'ciphertextBlob' failed to satisfy constraint: "
                                  "Member must not be null")


def _key_position(key: Key) -> str:
    return f"{key.created:020.6f}|{key.key_id}"


def _deletion_job(scope: str, key_id: str) -> str:
    return f"kms-delete:{scope}:{key_id}"


def build(app: App) -> KmsApi:
    from hsmkms.kms.keystore_api import KeyStoreApi  # noqa: PLC0415

    api = KmsApi(app)
    stores = KeyStoreApi(app, api)
    app.add_json_service(JsonService("kms", {**stores.handlers(), **api.handlers()}))
    app.kms = api  # type: ignore[attr-defined]
    return api
