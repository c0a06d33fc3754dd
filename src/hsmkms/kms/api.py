"""The KMS wire layer: one handler per operation, from validated request dicts to use cases and
back to response dicts. No rules live here (those are the use cases'); a handler decodes the
parameters, calls one use case and encodes its result.

Operations of the KMS model without a handler answer ``NotImplementedYetException``
(``docs/compatibility.md`` lists them). Operations every key origin refuses
(:data:`hsmkms.kms.capabilities.REFUSED_ONLY`) answer the refusal of the key's origin.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hsmkms.context import RequestContext
from hsmkms.errors import ValidationException
from hsmkms.kms import api_grants, keyspecs
from hsmkms.kms.capabilities import REFUSED_ONLY
from hsmkms.kms.errors import DryRunOperationException
from hsmkms.kms.keyspecs import Usage
from hsmkms.kms.keystores import ConnectionState, CustomKeyStore
from hsmkms.kms.model import Origin, alias_arn
from hsmkms.kms.pagination import paginate
from hsmkms.kms.usecases.access import KeyAccess
from hsmkms.kms.usecases.aliases import Aliases
from hsmkms.kms.usecases.asymmetric import PublicKeyCrypto, SignRequest
from hsmkms.kms.usecases.crypto import ALGORITHM, DRY_RUN, Crypto
from hsmkms.kms.usecases.grants import GrantUseCases
from hsmkms.kms.usecases.imports import Import, Imports
from hsmkms.kms.usecases.keys import KeyLifecycle, NewKey, key_position
from hsmkms.kms.usecases.keystores import KeyStores, NewStore, StoreUpdate
from hsmkms.kms.usecases.replicas import NewReplica, Replicas
from hsmkms.kms.usecases.rotation import KeyRotation, rotation_entry, rotation_position
from hsmkms.kms.usecases.usage import KeyUsageReport

Params = dict[str, Any]
Result = dict[str, Any]
Handler = Callable[[RequestContext, Params], Result | None]


@dataclass(frozen=True, slots=True)
class UseCases:
    access: KeyAccess
    keys: KeyLifecycle
    aliases: Aliases
    crypto: Crypto
    stores: KeyStores
    public: PublicKeyCrypto
    usage: KeyUsageReport
    rotation: KeyRotation
    replicas: Replicas
    imports: Imports
    grants: GrantUseCases


def handlers(uc: UseCases) -> dict[str, Handler]:  # noqa: C901, PLR0915 - one entry per operation
    """Operation name -> handler."""
    keys, crypto, stores, public = uc.keys, uc.crypto, uc.stores, uc.public

    # -- keys ---------------------------------------------------------------------------------

    def create_key(ctx: RequestContext, p: Params) -> Result:
        key = keys.create(ctx, NewKey(
            key_spec=p.get("KeySpec"), customer_master_key_spec=p.get("CustomerMasterKeySpec"),
            key_usage=p.get("KeyUsage"),
            origin=Origin(p.get("Origin", "AWS_KMS")), description=p.get("Description", ""),
            policy=p.get("Policy"), tags=tuple(p.get("Tags", [])),
            multi_region=bool(p.get("MultiRegion")),
            custom_key_store_id=p.get("CustomKeyStoreId"),
            bypass_policy_lockout_safety_check=bool(p.get("BypassPolicyLockoutSafetyCheck"))))
        return {"KeyMetadata": keys.metadata(key)}

    def describe_key(ctx: RequestContext, p: Params) -> Result:
        return {"KeyMetadata": keys.metadata(keys.describe(ctx, p["KeyId"]))}

    def list_keys(ctx: RequestContext, p: Params) -> Result:
        page, more = paginate(keys.list_keys(ctx), p.get("Limit"), p.get("Marker"), 100,
                              key_position)
        return {"Keys": [{"KeyId": k.key_id, "KeyArn": k.arn} for k in page], **more}

    def enable_key(ctx: RequestContext, p: Params) -> None:
        keys.enable(ctx, p["KeyId"])

    def disable_key(ctx: RequestContext, p: Params) -> None:
        keys.disable(ctx, p["KeyId"])

    def schedule_key_deletion(ctx: RequestContext, p: Params) -> Result:
        done = keys.schedule_deletion(ctx, p["KeyId"], p.get("PendingWindowInDays"))
        return {"KeyId": done.key.arn, "DeletionDate": done.deletion_date,
                "KeyState": done.state,
                "PendingWindowInDays": done.pending_window_days}

    def cancel_key_deletion(ctx: RequestContext, p: Params) -> Result:
        return {"KeyId": keys.cancel_deletion(ctx, p["KeyId"]).arn}

    def update_key_description(ctx: RequestContext, p: Params) -> None:
        keys.update_description(ctx, p["KeyId"], p["Description"])

    def tag_resource(ctx: RequestContext, p: Params) -> None:
        keys.tag(ctx, p["KeyId"], p["Tags"])

    def untag_resource(ctx: RequestContext, p: Params) -> None:
        keys.untag(ctx, p["KeyId"], p["TagKeys"])

    def list_resource_tags(ctx: RequestContext, p: Params) -> Result:
        page, more = paginate(keys.tags(ctx, p["KeyId"]), p.get("Limit"), p.get("Marker"), 50,
                              lambda t: t[0])
        return {"Tags": [{"TagKey": k, "TagValue": v} for k, v in page], **more}

    def get_key_policy(ctx: RequestContext, p: Params) -> Result:
        return {"Policy": keys.get_policy(ctx, p["KeyId"], p.get("PolicyName")),
                "PolicyName": "default"}

    def put_key_policy(ctx: RequestContext, p: Params) -> None:
        keys.put_policy(ctx, p["KeyId"], p.get("PolicyName"), p["Policy"],
                        bypass_lockout_check=bool(p.get("BypassPolicyLockoutSafetyCheck")))

    def list_key_policies(ctx: RequestContext, p: Params) -> Result:
        return {"PolicyNames": keys.policy_names(ctx, p["KeyId"]), "Truncated": False}

    def get_key_last_usage(ctx: RequestContext, p: Params) -> Result:
        found = uc.usage.last_usage(ctx, p["KeyId"])
        use = found.usage
        return {"KeyId": found.key.arn, "KeyLastUsage": {} if use is None else {
                    "Operation": use.operation, "Timestamp": use.timestamp,
                    "CloudTrailEventId": use.event_id, "KmsRequestId": use.request_id},
                "TrackingStartDate": found.tracking_start, "KeyCreationDate": found.key.created}

    # -- multi-Region keys --------------------------------------------------------------------

    def replicate_key(ctx: RequestContext, p: Params) -> Result:
        replica = uc.replicas.replicate(ctx, NewReplica(
            key_id=p["KeyId"], replica_region=p["ReplicaRegion"],
            description=p.get("Description", ""), policy=p.get("Policy"),
            tags=tuple(p.get("Tags", [])),
            bypass_policy_lockout_safety_check=bool(p.get("BypassPolicyLockoutSafetyCheck"))))
        return {"ReplicaKeyMetadata": keys.metadata(replica), "ReplicaPolicy": replica.policy,
                "ReplicaTags": [{"TagKey": k, "TagValue": v} for k, v in replica.tags.items()]}

    def update_primary_region(ctx: RequestContext, p: Params) -> None:
        uc.replicas.update_primary_region(ctx, p["KeyId"], p["PrimaryRegion"])

    # -- imported key material ----------------------------------------------------------------

    def get_parameters_for_import(ctx: RequestContext, p: Params) -> Result:
        made = uc.imports.get_parameters(ctx, p["KeyId"], p["WrappingAlgorithm"],
                                         p["WrappingKeySpec"])
        return {"KeyId": made.key.arn, "ImportToken": made.token, "PublicKey": made.public_key,
                "ParametersValidTo": made.valid_to}

    def import_key_material(ctx: RequestContext, p: Params) -> Result:
        key, material_id = uc.imports.import_material(ctx, p["KeyId"], Import(
            token=p["ImportToken"], encrypted_material=p["EncryptedKeyMaterial"],
            valid_to=p.get("ValidTo"), expiration_model=p.get("ExpirationModel"),
            import_type=p.get("ImportType"), description=p.get("KeyMaterialDescription"),
            key_material_id=p.get("KeyMaterialId")))
        return {"KeyId": key.arn, "KeyMaterialId": material_id}

    def delete_imported_key_material(ctx: RequestContext, p: Params) -> Result:
        key, material_id = uc.imports.delete_material(ctx, p["KeyId"], p.get("KeyMaterialId"))
        return {"KeyId": key.arn, "KeyMaterialId": material_id}

    # -- aliases ------------------------------------------------------------------------------

    def create_alias(ctx: RequestContext, p: Params) -> None:
        uc.aliases.create(ctx, p["AliasName"], p["TargetKeyId"])

    def update_alias(ctx: RequestContext, p: Params) -> None:
        uc.aliases.update(ctx, p["AliasName"], p["TargetKeyId"])

    def delete_alias(ctx: RequestContext, p: Params) -> None:
        uc.aliases.delete(ctx, p["AliasName"])

    def list_aliases(ctx: RequestContext, p: Params) -> Result:
        found = uc.aliases.list(ctx, p.get("KeyId"))
        page, more = paginate(found, p.get("Limit"), p.get("Marker"), 50, lambda a: a.name)
        return {"Aliases": [{
            "AliasName": a.name, "AliasArn": alias_arn(ctx.region, ctx.account, a.name),
            "TargetKeyId": a.target_key_id, "CreationDate": a.created,
            "LastUpdatedDate": a.updated} for a in page], **more}

    # -- cryptography -------------------------------------------------------------------------

    def encrypt(ctx: RequestContext, p: Params) -> Result:
        key, blob = crypto.encrypt(ctx, p["KeyId"], p["Plaintext"], p.get("EncryptionContext"),
                                   dry_run=bool(p.get("DryRun")),
                                   algorithm=p.get("EncryptionAlgorithm"))
        return {"CiphertextBlob": blob, "KeyId": key.arn,
                "EncryptionAlgorithm": p.get("EncryptionAlgorithm") or ALGORITHM}

    def decrypt(ctx: RequestContext, p: Params) -> Result:
        algorithm = p.get("EncryptionAlgorithm")
        if _ignores_ciphertext(p):
            crypto.dry_run_without_blob(ctx, p.get("KeyId"), "Decrypt", algorithm)
            raise DryRunOperationException(DRY_RUN)
        _require_blob(p)
        key, plaintext = crypto.decrypt(ctx, p["CiphertextBlob"], p.get("EncryptionContext"),
                                        p.get("KeyId"), dry_run=bool(p.get("DryRun")),
                                        algorithm=algorithm)
        return {"KeyId": key.arn, "Plaintext": plaintext,
                "EncryptionAlgorithm": algorithm or ALGORITHM,
                "KeyMaterialId": key.key_material_id or None}

    def re_encrypt(ctx: RequestContext, p: Params) -> Result:
        dry_run = bool(p.get("DryRun"))
        source_algorithm = p.get("SourceEncryptionAlgorithm")
        destination_algorithm = p.get("DestinationEncryptionAlgorithm")
        if _ignores_ciphertext(p):
            crypto.dry_run_without_blob(ctx, p.get("SourceKeyId"), "ReEncrypt", source_algorithm)
            crypto.encrypt(ctx, p["DestinationKeyId"], b"", None, dry_run=True,
                           operation="ReEncrypt", algorithm=destination_algorithm)
        _require_blob(p)
        source, plaintext = crypto.decrypt(ctx, p["CiphertextBlob"],
                                           p.get("SourceEncryptionContext"),
                                           p.get("SourceKeyId"), operation="ReEncrypt",
                                           algorithm=source_algorithm)
        dest, blob = crypto.encrypt(ctx, p["DestinationKeyId"], plaintext,
                                    p.get("DestinationEncryptionContext"), dry_run=dry_run,
                                    operation="ReEncrypt", algorithm=destination_algorithm)
        return {"CiphertextBlob": blob, "SourceKeyId": source.arn, "KeyId": dest.arn,
                "SourceEncryptionAlgorithm": source_algorithm or ALGORITHM,
                "DestinationEncryptionAlgorithm": destination_algorithm or ALGORITHM,
                "SourceKeyMaterialId": source.key_material_id or None,
                "DestinationKeyMaterialId": dest.key_material_id or None}

    def data_key(operation: str, *, with_plaintext: bool) -> Handler:
        def handler(ctx: RequestContext, p: Params) -> Result:
            made = crypto.data_key(ctx, p["KeyId"], key_spec=p.get("KeySpec"),
                                   number_of_bytes=p.get("NumberOfBytes"),
                                   context=p.get("EncryptionContext"),
                                   dry_run=bool(p.get("DryRun")), operation=operation)
            plaintext = {"Plaintext": made.plaintext} if with_plaintext else {}
            return {"CiphertextBlob": made.blob, **plaintext, "KeyId": made.key.arn,
                    "KeyMaterialId": made.key.key_material_id or None}

        return handler

    def data_key_pair(operation: str, *, with_plaintext: bool) -> Handler:
        def handler(ctx: RequestContext, p: Params) -> Result:
            pair = public.data_key_pair(ctx, p["KeyId"], p["KeyPairSpec"],
                                        p.get("EncryptionContext"),
                                        dry_run=bool(p.get("DryRun")), operation=operation)
            plaintext = {"PrivateKeyPlaintext": pair.private_key} if with_plaintext else {}
            return {"PrivateKeyCiphertextBlob": pair.blob, **plaintext,
                    "PublicKey": pair.public_key, "KeyId": pair.key.arn,
                    "KeyPairSpec": p["KeyPairSpec"],
                    "KeyMaterialId": pair.key.key_material_id or None}

        return handler

    # -- asymmetric and HMAC keys -------------------------------------------------------------

    def get_public_key(ctx: RequestContext, p: Params) -> Result:
        found = public.public_key(ctx, p["KeyId"])
        key = found.key
        return {"KeyId": key.arn, "PublicKey": found.der, "KeySpec": key.key_spec,
                "CustomerMasterKeySpec": key.key_spec, "KeyUsage": key.key_usage,
                keyspecs.ALGORITHM_MEMBER[Usage(key.key_usage)]:
                    list(found.spec.algorithms(key.key_usage))}

    def _sign_request(p: Params) -> SignRequest:
        return SignRequest(p["KeyId"], p["Message"], p["SigningAlgorithm"],
                           p.get("MessageType", "RAW"), bool(p.get("DryRun")))

    def sign(ctx: RequestContext, p: Params) -> Result:
        key, signature = public.sign(ctx, _sign_request(p))
        return {"KeyId": key.arn, "Signature": signature,
                "SigningAlgorithm": p["SigningAlgorithm"]}

    def verify(ctx: RequestContext, p: Params) -> Result:
        key = public.verify(ctx, _sign_request(p), p["Signature"])
        return {"KeyId": key.arn, "SignatureValid": True,
                "SigningAlgorithm": p["SigningAlgorithm"]}

    def generate_mac(ctx: RequestContext, p: Params) -> Result:
        key, mac = public.generate_mac(ctx, p["KeyId"], p["Message"], p["MacAlgorithm"],
                                       dry_run=bool(p.get("DryRun")))
        return {"Mac": mac, "MacAlgorithm": p["MacAlgorithm"], "KeyId": key.arn}

    def verify_mac(ctx: RequestContext, p: Params) -> Result:
        key = public.verify_mac(ctx, p["KeyId"], p["Message"], p["MacAlgorithm"], p["Mac"],
                                dry_run=bool(p.get("DryRun")))
        return {"KeyId": key.arn, "MacValid": True, "MacAlgorithm": p["MacAlgorithm"]}

    def derive_shared_secret(ctx: RequestContext, p: Params) -> Result:
        key, secret = public.derive_shared_secret(
            ctx, p["KeyId"], p["KeyAgreementAlgorithm"], p["PublicKey"],
            dry_run=bool(p.get("DryRun")))
        return {"KeyId": key.arn, "SharedSecret": secret,
                "KeyAgreementAlgorithm": p["KeyAgreementAlgorithm"], "KeyOrigin": key.origin}

    def encapsulate(ctx: RequestContext, p: Params) -> Result:
        key, secret, ciphertext = public.encapsulate(ctx, p["KeyId"],
                                                     p["EncapsulationAlgorithm"],
                                                     dry_run=bool(p.get("DryRun")))
        return {"KeyId": key.arn, "SharedSecret": secret,
                "SharedSecretCiphertextBlob": ciphertext,
                "EncapsulationAlgorithm": p["EncapsulationAlgorithm"]}

    def decapsulate(ctx: RequestContext, p: Params) -> Result:
        key, secret = public.decapsulate(ctx, p["KeyId"], p["EncapsulationAlgorithm"],
                                         p["SharedSecretCiphertextBlob"],
                                         dry_run=bool(p.get("DryRun")))
        return {"KeyId": key.arn, "SharedSecret": secret,
                "EncapsulationAlgorithm": p["EncapsulationAlgorithm"]}

    def generate_random(ctx: RequestContext, p: Params) -> Result:
        if "NumberOfBytes" not in p:
            raise ValidationException("NumberOfBytes is required.")
        if "CustomKeyStoreId" in p:
            return {"Plaintext": stores.random(ctx, p["CustomKeyStoreId"], p["NumberOfBytes"])}
        return {"Plaintext": crypto.random(p["NumberOfBytes"])}

    # -- rotation -----------------------------------------------------------------------------

    def enable_key_rotation(ctx: RequestContext, p: Params) -> None:
        uc.rotation.enable(ctx, p["KeyId"], p.get("RotationPeriodInDays"))

    def disable_key_rotation(ctx: RequestContext, p: Params) -> None:
        uc.rotation.disable(ctx, p["KeyId"])

    def get_key_rotation_status(ctx: RequestContext, p: Params) -> Result:
        return uc.rotation.status(ctx, p["KeyId"])

    def rotate_key_on_demand(ctx: RequestContext, p: Params) -> Result:
        return {"KeyId": uc.rotation.rotate_on_demand(ctx, p["KeyId"]).arn}

    def list_key_rotations(ctx: RequestContext, p: Params) -> Result:
        key, found = uc.rotation.rotations(ctx, p["KeyId"], p.get("IncludeKeyMaterial"))
        page, more = paginate(found, p.get("Limit"), p.get("Marker"), 100, rotation_position)
        return {"Rotations": [rotation_entry(key, m) for m in page], **more}

    # -- custom key stores --------------------------------------------------------------------

    def create_custom_key_store(ctx: RequestContext, p: Params) -> Result:
        store_id = stores.create(ctx, NewStore(
            name=p["CustomKeyStoreName"],
            store_type=p.get("CustomKeyStoreType", "AWS_CLOUDHSM"),
            cluster_id=p.get("CloudHsmClusterId"),
            trust_anchor=p.get("TrustAnchorCertificate"), password=p.get("KeyStorePassword")))
        return {"CustomKeyStoreId": store_id}

    def describe_custom_key_stores(ctx: RequestContext, p: Params) -> Result:
        found = stores.describe(ctx, p.get("CustomKeyStoreId"), p.get("CustomKeyStoreName"))
        page, more = paginate(found, p.get("Limit"), p.get("Marker"), 1000,
                              lambda s: f"{s.created:020.6f}|{s.store_id}")
        return {"CustomKeyStores": [_store_entry(s) for s in page], **more}

    def connect_custom_key_store(ctx: RequestContext, p: Params) -> Result:
        stores.connect(ctx, p["CustomKeyStoreId"])
        return {}

    def disconnect_custom_key_store(ctx: RequestContext, p: Params) -> Result:
        stores.disconnect(ctx, p["CustomKeyStoreId"])
        return {}

    def update_custom_key_store(ctx: RequestContext, p: Params) -> Result:
        stores.update(ctx, p["CustomKeyStoreId"], StoreUpdate(
            new_name=p.get("NewCustomKeyStoreName"), cluster_id=p.get("CloudHsmClusterId"),
            password=p.get("KeyStorePassword")))
        return {}

    def delete_custom_key_store(ctx: RequestContext, p: Params) -> Result:
        stores.delete(ctx, p["CustomKeyStoreId"])
        return {}

    def refused(operation: str) -> Handler:
        def handler(ctx: RequestContext, p: Params) -> None:
            uc.access.refuse(ctx, operation, p["KeyId"])

        return handler

    table: dict[str, Handler] = {
        "CreateKey": create_key, "DescribeKey": describe_key, "ListKeys": list_keys,
        "EnableKey": enable_key, "DisableKey": disable_key,
        "ScheduleKeyDeletion": schedule_key_deletion, "CancelKeyDeletion": cancel_key_deletion,
        "UpdateKeyDescription": update_key_description,
        "TagResource": tag_resource, "UntagResource": untag_resource,
        "ListResourceTags": list_resource_tags,
        "GetKeyPolicy": get_key_policy, "PutKeyPolicy": put_key_policy,
        "ListKeyPolicies": list_key_policies, "GetKeyLastUsage": get_key_last_usage,
        "ReplicateKey": replicate_key, "UpdatePrimaryRegion": update_primary_region,
        "GetParametersForImport": get_parameters_for_import,
        "ImportKeyMaterial": import_key_material,
        "DeleteImportedKeyMaterial": delete_imported_key_material,
        "CreateAlias": create_alias, "UpdateAlias": update_alias, "DeleteAlias": delete_alias,
        "ListAliases": list_aliases,
        "Encrypt": encrypt, "Decrypt": decrypt, "ReEncrypt": re_encrypt,
        "GenerateDataKey": data_key("GenerateDataKey", with_plaintext=True),
        "GenerateDataKeyWithoutPlaintext": data_key("GenerateDataKeyWithoutPlaintext",
                                                    with_plaintext=False),
        "GenerateDataKeyPair": data_key_pair("GenerateDataKeyPair", with_plaintext=True),
        "GenerateDataKeyPairWithoutPlaintext": data_key_pair(
            "GenerateDataKeyPairWithoutPlaintext", with_plaintext=False),
        "GetPublicKey": get_public_key, "Sign": sign, "Verify": verify,
        "GenerateMac": generate_mac, "VerifyMac": verify_mac,
        "DeriveSharedSecret": derive_shared_secret,
        "Encapsulate": encapsulate, "Decapsulate": decapsulate,
        "GenerateRandom": generate_random,
        "EnableKeyRotation": enable_key_rotation, "DisableKeyRotation": disable_key_rotation,
        "GetKeyRotationStatus": get_key_rotation_status,
        "RotateKeyOnDemand": rotate_key_on_demand, "ListKeyRotations": list_key_rotations,
        "CreateCustomKeyStore": create_custom_key_store,
        "DescribeCustomKeyStores": describe_custom_key_stores,
        "ConnectCustomKeyStore": connect_custom_key_store,
        "DisconnectCustomKeyStore": disconnect_custom_key_store,
        "UpdateCustomKeyStore": update_custom_key_store,
        "DeleteCustomKeyStore": delete_custom_key_store,
    }
    clash = set(table) & set(REFUSED_ONLY)
    if clash:  # an implemented operation must get its own row in the capability table
        raise RuntimeError(f"operations both implemented and refused by every origin: {clash}")
    table.update(api_grants.handlers(uc.grants))
    all_handlers = {**table, **{op: refused(op) for op in REFUSED_ONLY}}
    return {op: api_grants.checking_tokens(h) for op, h in all_handlers.items()}


def _store_entry(store: CustomKeyStore) -> Result:
    failed = store.state is ConnectionState.FAILED
    return {"CustomKeyStoreId": store.store_id, "CustomKeyStoreName": store.name,
            "CloudHsmClusterId": store.cluster_id,
            "TrustAnchorCertificate": store.trust_anchor, "ConnectionState": store.state,
            "ConnectionErrorCode": store.error_code if failed else None,
            "CreationDate": store.created, "CustomKeyStoreType": "AWS_CLOUDHSM"}


def _ignores_ciphertext(p: Params) -> bool:
    return bool(p.get("DryRun")) and "IGNORE_CIPHERTEXT" in p.get("DryRunModifiers", ())


def _require_blob(p: Params) -> None:
    # Optional in the model only for DryRun with IGNORE_CIPHERTEXT; required otherwise.
    if "CiphertextBlob" not in p:
        raise ValidationException("1 validation error detected: Value null at "
                                  "'ciphertextBlob' failed to satisfy constraint: "
                                  "Member must not be null")
