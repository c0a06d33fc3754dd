"""The six custom key store operations, every check and exception (spec kms.md 1.2, 2.1, 3.2),
driven with boto3 and the real AWS CLI against a real server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cloudhsm_helpers as ch
import pytest
from guide_helpers import (
    KMSUSER_PASSWORD,
    Env,
    build_env,
    error,
    make_cluster,
    module_env_server,
)

from hsmkms.testing.server import ServerProcess


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = module_env_server(tmp_path_factory)
    try:
        yield srv
    finally:
        srv.kill()


@pytest.fixture(scope="module")
def env(server: ServerProcess) -> Env:
    return build_env(server, name="ExampleKeyStore")


def _create(kms: Any, name: str, cluster_id: str, anchor: str,
            password: str = KMSUSER_PASSWORD) -> tuple[str, str]:
    return error(kms.create_custom_key_store, CustomKeyStoreName=name,
                 CloudHsmClusterId=cluster_id, TrustAnchorCertificate=anchor,
                 KeyStorePassword=password)


def test_describe_shows_the_connected_store(env: Env) -> None:
    store = env.store()
    assert store == {
        "CustomKeyStoreId": env.store_id, "CustomKeyStoreName": "ExampleKeyStore",
        "CloudHsmClusterId": env.cluster_id, "TrustAnchorCertificate": env.ca.pem,
        "ConnectionState": "CONNECTED", "CreationDate": store["CreationDate"],
        "CustomKeyStoreType": "AWS_CLOUDHSM"}
    assert store["CustomKeyStoreId"].startswith("cks-")
    assert len(store["CustomKeyStoreId"]) == len("cks-1234567890abcdef0")
    by_name = env.kms.describe_custom_key_stores(CustomKeyStoreName="ExampleKeyStore")
    assert by_name["CustomKeyStores"] == [store]
    code, out = env.aws("kms", "describe-custom-key-stores", "--custom-key-store-name",
                        "ExampleKeyStore")
    assert code == 0, out
    [entry] = out["CustomKeyStores"]
    assert entry["ConnectionState"] == "CONNECTED"
    assert "ConnectionErrorCode" not in entry
    assert entry["CloudHsmClusterId"] == env.cluster_id


def test_describe_unknown_store(env: Env) -> None:
    assert error(env.kms.describe_custom_key_stores,
                 CustomKeyStoreId="cks-0000000000000000a") == (
        "CustomKeyStoreNotFoundException",
        "Custom key store cks-0000000000000000a does not exist in this account and Region.")
    assert error(env.kms.describe_custom_key_stores, CustomKeyStoreName="nope") == (
        "CustomKeyStoreNotFoundException",
        "No custom key store named nope exists in this account and Region.")
    for op in (env.kms.connect_custom_key_store, env.kms.disconnect_custom_key_store,
               env.kms.delete_custom_key_store, env.kms.update_custom_key_store):
        assert error(op, CustomKeyStoreId="cks-0000000000000000a")[0] == \
            "CustomKeyStoreNotFoundException"


def test_create_checks_the_cluster(server: ServerProcess, env: Env) -> None:
    kms = env.kms
    assert _create(kms, "x", "cluster-aaaaaaaaaaa", env.ca.pem) == (
        "CloudHsmClusterNotFoundException",
        "KMS cannot find the CloudHSM cluster cluster-aaaaaaaaaaa in this account and Region.")
    # The same cluster again, under another name.
    assert _create(kms, "again", env.cluster_id, env.ca.pem) == (
        "CloudHsmClusterInUseException",
        f"The CloudHSM cluster {env.cluster_id}, or a cluster that shares its backup history, "
        f"is already associated with the custom key store {env.store_id}.")
    # A name in use.
    assert _create(kms, "ExampleKeyStore", env.cluster_id, env.ca.pem) == (
        "CustomKeyStoreNameInUseException",
        "The custom key store name ExampleKeyStore is already in use in this account and "
        "Region.")


def test_create_refuses_a_cluster_that_is_not_active(server: ServerProcess, env: Env) -> None:
    cluster, ca = ch.initialized_cluster(server)
    cid = cluster["ClusterId"]
    assert _create(env.kms, "not-active", cid, ca.pem) == (
        "CloudHsmClusterNotActiveException",
        f"The CloudHSM cluster {cid} is not active (its state is INITIALIZED). Initialize and "
        "activate the cluster first.")


def test_create_needs_two_hsms_in_two_zones_and_the_trust_anchor(server: ServerProcess,
                                                                 env: Env) -> None:
    cid, ca = make_cluster(server, hsms=1)
    hsm = env.hsm
    message = (f"The CloudHSM cluster {cid} must have at least two active HSMs, each in a "
               "different Availability Zone. It has 1 active HSM in 1 Availability Zone.")
    assert _create(env.kms, "one-hsm", cid, ca.pem) == (
        "CloudHsmClusterInvalidConfigurationException", message)
    # A second HSM in the same zone is not enough.
    zone = env.cluster(cid)["Hsms"][0]["AvailabilityZone"]
    hsm.create_hsm(ClusterId=cid, AvailabilityZone=zone)
    ch.wait_hsms_active(hsm, cid, 2)
    assert _create(env.kms, "same-zone", cid, ca.pem) == (
        "CloudHsmClusterInvalidConfigurationException",
        message.replace("1 active HSM in", "2 active HSMs in"))
    other_zone = next(z for z in env.cluster(cid)["SubnetMapping"] if z != zone)
    hsm.create_hsm(ClusterId=cid, AvailabilityZone=other_zone)
    ch.wait_hsms_active(hsm, cid, 3)
    # Now only the trust anchor is wrong.
    assert _create(env.kms, "wrong-anchor", cid, ch.make_ca("Other CA").pem) == (
        "IncorrectTrustAnchorException",
        f"The trust anchor certificate does not match the trust anchor of the CloudHSM cluster "
        f"{cid}.")
    # ... and a revoked security group rule (aws ec2 revoke-security-group-ingress).
    sg = env.cluster(cid)["SecurityGroup"]
    code, out = env.aws("ec2", "revoke-security-group-ingress", "--group-id", sg,
                        "--ip-permissions",
                        f"IpProtocol=tcp,FromPort=2223,ToPort=2225,UserIdGroupPairs=[{{GroupId={sg}}}]")
    assert code == 0, out
    assert _create(env.kms, "no-rule", cid, ca.pem) == (
        "CloudHsmClusterInvalidConfigurationException",
        f"The security group {sg} of the CloudHSM cluster {cid} must allow inbound and "
        "outbound TCP traffic on ports 2223-2225 from itself.")
    code, out = env.aws("ec2", "authorize-security-group-ingress", "--group-id", sg,
                        "--ip-permissions",
                        f"IpProtocol=tcp,FromPort=2223,ToPort=2225,UserIdGroupPairs=[{{GroupId={sg}}}]")
    assert code == 0, out
    store_id = env.kms.create_custom_key_store(
        CustomKeyStoreName="fixed", CloudHsmClusterId=cid, TrustAnchorCertificate=ca.pem,
        KeyStorePassword=KMSUSER_PASSWORD)["CustomKeyStoreId"]
    env.kms.delete_custom_key_store(CustomKeyStoreId=store_id)


def test_create_needs_subnets_in_two_zones(server: ServerProcess, env: Env) -> None:
    [subnet] = ch.subnets(server)[:1]
    cid, ca = make_cluster(server, hsms=2, subnet_ids=[subnet])
    assert _create(env.kms, "one-zone", cid, ca.pem) == (
        "CloudHsmClusterInvalidConfigurationException",
        f"The CloudHSM cluster {cid} must have private subnets in at least two Availability "
        "Zones.")


def test_create_is_idempotent_while_disconnected(server: ServerProcess, env: Env) -> None:
    cid, ca = make_cluster(server)
    args = {"CustomKeyStoreName": "idem", "CloudHsmClusterId": cid,
            "TrustAnchorCertificate": ca.pem, "KeyStorePassword": KMSUSER_PASSWORD}
    first = env.kms.create_custom_key_store(**args)["CustomKeyStoreId"]
    assert env.kms.create_custom_key_store(**args)["CustomKeyStoreId"] == first
    # A different password is a different request: the name is then in use.
    assert error(env.kms.create_custom_key_store, **{**args, "KeyStorePassword": "other123"}) \
        == ("CustomKeyStoreNameInUseException",
            "The custom key store name idem is already in use in this account and Region.")
    named = env.kms.describe_custom_key_stores(CustomKeyStoreName="idem")["CustomKeyStores"]
    assert [s["CustomKeyStoreId"] for s in named] == [first]
    # A related cluster (restored from a backup of this one) is in use too.
    backup = env.backups(cid)[-1]["BackupId"]
    related = env.restore(backup, hsms=0)
    assert _create(env.kms, "related", related, ca.pem)[0] == "CloudHsmClusterInUseException"
    env.kms.delete_custom_key_store(CustomKeyStoreId=first)


def test_update_rules_per_connection_state(server: ServerProcess, env: Env) -> None:
    kms, sid = env.kms, env.store_id
    assert env.state() == "CONNECTED"
    kms.update_custom_key_store(CustomKeyStoreId=sid, NewCustomKeyStoreName="Renamed")
    assert env.store()["CustomKeyStoreName"] == "Renamed"
    kms.update_custom_key_store(CustomKeyStoreId=sid, NewCustomKeyStoreName="ExampleKeyStore")
    assert error(kms.update_custom_key_store, CustomKeyStoreId=sid,
                 KeyStorePassword="newPassword1") == (
        "CustomKeyStoreInvalidStateException",
        f"You cannot update the password or cluster of the custom key store {sid} while it is "
        "CONNECTED. Disconnect the custom key store first.")
    assert error(kms.update_custom_key_store, CustomKeyStoreId=sid,
                 CloudHsmClusterId=env.cluster_id)[0] == "CustomKeyStoreInvalidStateException"
    other_cid, other_ca = make_cluster(server)
    other = kms.create_custom_key_store(
        CustomKeyStoreName="Other", CloudHsmClusterId=other_cid,
        TrustAnchorCertificate=other_ca.pem, KeyStorePassword=KMSUSER_PASSWORD)
    assert error(kms.update_custom_key_store, CustomKeyStoreId=sid,
                 NewCustomKeyStoreName="Other") == (
        "CustomKeyStoreNameInUseException",
        "The custom key store name Other is already in use in this account and Region.")
    env.disconnect()
    assert error(kms.update_custom_key_store, CustomKeyStoreId=sid,
                 CloudHsmClusterId=other_cid) == (
        "CloudHsmClusterNotRelatedException",
        f"The CloudHSM cluster {other_cid} is not related to the cluster {env.cluster_id}: "
        "they do not share a backup history.")
    assert error(kms.update_custom_key_store, CustomKeyStoreId=sid,
                 CloudHsmClusterId="cluster-aaaaaaaaaaa")[0] == \
        "CloudHsmClusterNotFoundException"
    # Nothing changed by the refused updates.
    assert env.store()["CloudHsmClusterId"] == env.cluster_id
    # The password only informs KMS (AWS CLI, as in the guide): KMS rotated kmsuser's password
    # when it connected, so set a known one in the cluster first.
    env.set_kmsuser_password(KMSUSER_PASSWORD)
    code, out = env.aws("kms", "update-custom-key-store", "--custom-key-store-id", sid,
                        "--key-store-password", KMSUSER_PASSWORD)
    assert (code, out) == (0, None)
    kms.delete_custom_key_store(CustomKeyStoreId=other["CustomKeyStoreId"])
    env.connect()


def test_connect_and_disconnect_state_rules(env: Env) -> None:
    kms, sid = env.kms, env.store_id
    # Connect on a connected store: valid, nothing happens.
    assert kms.connect_custom_key_store(CustomKeyStoreId=sid)["ResponseMetadata"][
        "HTTPStatusCode"] == 200
    assert env.state() == "CONNECTED"
    code, out = env.aws("kms", "disconnect-custom-key-store", "--custom-key-store-id", sid)
    assert (code, out) == (0, None)
    assert env.state() in ("DISCONNECTING", "DISCONNECTED")
    env.wait("DISCONNECTED")
    assert error(kms.disconnect_custom_key_store, CustomKeyStoreId=sid) == (
        "CustomKeyStoreInvalidStateException",
        f"The custom key store {sid} is already disconnected.")
    code, out = env.aws("kms", "connect-custom-key-store", "--custom-key-store-id", sid)
    assert (code, out) == (0, None)
    assert env.wait("CONNECTED")["ConnectionState"] == "CONNECTED"


def test_delete_only_disconnected_and_empty(server: ServerProcess, env: Env,
                                            tmp_path: Path) -> None:
    other = build_env(server, name="ToDelete")
    kms, sid = other.kms, other.store_id
    assert error(kms.delete_custom_key_store, CustomKeyStoreId=sid) == (
        "CustomKeyStoreInvalidStateException",
        f"You cannot delete the custom key store {sid} while it is CONNECTED. Disconnect it "
        "first.")
    key_id = other.create_key()
    other.disconnect()
    assert error(kms.delete_custom_key_store, CustomKeyStoreId=sid) == (
        "CustomKeyStoreHasCMKsException",
        f"The custom key store {sid} still contains KMS keys. Schedule their deletion and wait "
        "until the waiting periods end.")
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    # Still pending deletion: it still counts.
    assert error(kms.delete_custom_key_store, CustomKeyStoreId=sid)[0] == \
        "CustomKeyStoreHasCMKsException"
    server.advance(7 * 86400 + 60)
    assert error(kms.describe_key, KeyId=key_id)[0] == "NotFoundException"
    code, out = other.aws("kms", "delete-custom-key-store", "--custom-key-store-id", sid)
    assert (code, out) == (0, None)
    assert error(kms.describe_custom_key_stores, CustomKeyStoreId=sid)[0] == \
        "CustomKeyStoreNotFoundException"
    # The cluster is free again: create a store the way the KMS guide does, with the
    # customerCA.crt written at cluster initialization.
    anchor = tmp_path / "customerCA.crt"
    anchor.write_text(other.ca.pem)
    code, out = other.aws("kms", "create-custom-key-store", "--custom-key-store-name",
                          "ToDelete", "--cloud-hsm-cluster-id", other.cluster_id,
                          "--trust-anchor-certificate", f"file://{anchor}",
                          "--key-store-password", KMSUSER_PASSWORD)
    assert code == 0, out
    assert out["CustomKeyStoreId"].startswith("cks-")
    assert env.kms.describe_custom_key_stores(CustomKeyStoreId=out["CustomKeyStoreId"])[
        "CustomKeyStores"][0]["TrustAnchorCertificate"] == other.ca.pem
    kms.delete_custom_key_store(CustomKeyStoreId=out["CustomKeyStoreId"])


def test_create_key_only_in_a_connected_store(server: ServerProcess, env: Env) -> None:
    other = build_env(server, connect=False)
    assert error(other.kms.create_key, Origin="AWS_CLOUDHSM",
                 CustomKeyStoreId=other.store_id) == (
        "CustomKeyStoreInvalidStateException",
        f"The custom key store {other.store_id} is DISCONNECTED. You can create KMS keys only "
        "in a connected custom key store.")
    assert error(other.kms.generate_random, NumberOfBytes=8,
                 CustomKeyStoreId=other.store_id)[0] == "CustomKeyStoreInvalidStateException"
    random = env.kms.generate_random(NumberOfBytes=16, CustomKeyStoreId=env.store_id)
    assert len(random["Plaintext"]) == 16
    other.kms.delete_custom_key_store(CustomKeyStoreId=other.store_id)


def test_cloudhsm_keys_refuse_rotation_and_import(env: Env) -> None:
    key_id = env.create_key()
    arn = env.key_arn(key_id)
    message = f"{arn} origin is AWS_CLOUDHSM which is not valid for this operation."
    for op in (env.kms.enable_key_rotation, env.kms.get_key_rotation_status,
               env.kms.disable_key_rotation, env.kms.rotate_key_on_demand):
        assert error(op, KeyId=key_id) == ("UnsupportedOperationException", message)
    assert error(env.kms.get_parameters_for_import, KeyId=key_id,
                 WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048") == (
        "UnsupportedOperationException", message)
    assert error(env.kms.generate_data_key_pair, KeyId=key_id, KeyPairSpec="RSA_2048") == (
        "UnsupportedOperationException", message)
    assert error(env.kms.replicate_key, KeyId=key_id, ReplicaRegion="us-west-2") == (
        "UnsupportedOperationException", message)
    meta = env.kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert (meta["Origin"], meta["CustomKeyStoreId"], meta["CloudHsmClusterId"]) == (
        "AWS_CLOUDHSM", env.store_id, env.cluster_id)
    assert env.decrypt(env.encrypt(key_id, b"secret")) == b"secret"


def test_cloudhsm_keys_are_single_region_symmetric(env: Env) -> None:
    """Other key shapes are unsupported in a CloudHSM key store (not merely unimplemented
    here), and nothing is created."""
    kms, sid = env.kms, env.store_id
    before = len(kms.list_keys()["Keys"])
    assert error(kms.create_key, Origin="AWS_CLOUDHSM", CustomKeyStoreId=sid,
                 MultiRegion=True) == (
        "UnsupportedOperationException",
        "Multi-Region keys cannot be created in an AWS CloudHSM key store.")
    for spec, usage in (("RSA_2048", "SIGN_VERIFY"), ("HMAC_256", "GENERATE_VERIFY_MAC")):
        assert error(kms.create_key, Origin="AWS_CLOUDHSM", CustomKeyStoreId=sid,
                     KeySpec=spec, KeyUsage=usage) == (
            "UnsupportedOperationException",
            f"KeySpec {spec} is not supported for KMS keys in an AWS CloudHSM key store. Only "
            "symmetric encryption keys (SYMMETRIC_DEFAULT) can be created in it.")
    assert len(kms.list_keys()["Keys"]) == before


def test_store_operations_in_cloudtrail(env: Env) -> None:
    import json  # noqa: PLC0415

    env.disconnect()
    env.set_kmsuser_password("trailPass77")
    env.update_password()
    env.connect()
    trail = env.server.client("cloudtrail")
    for name in ("ConnectCustomKeyStore", "DisconnectCustomKeyStore", "UpdateCustomKeyStore"):
        events = trail.lookup_events(LookupAttributes=[
            {"AttributeKey": "EventName", "AttributeValue": name}])["Events"]
        record = json.loads(events[0]["CloudTrailEvent"])
        assert record["requestParameters"]["customKeyStoreId"] == env.store_id
        assert record["additionalEventData"] == {"customKeyStoreName": "ExampleKeyStore",
                                                 "clusterId": env.cluster_id}
        assert "trailPass77" not in events[0]["CloudTrailEvent"]


@pytest.mark.parametrize(("target", "body", "code", "message"), [
    ("CreateCustomKeyStore", {"CustomKeyStoreName": "bad", "CloudHsmClusterId":
                              "cluster-aaaaaaaaaaa", "TrustAnchorCertificate": "x"},
     "ValidationException",
     "KeyStorePassword is required for a custom key store of type AWS_CLOUDHSM."),
    ("CreateCustomKeyStore", {"CustomKeyStoreName": "bad", "CloudHsmClusterId":
                              "cluster-aaaaaaaaaaa", "TrustAnchorCertificate": "x",
                              "KeyStorePassword": "short"},
     "ValidationException", None),
    ("CreateCustomKeyStore", {"CustomKeyStoreName": "bad", "CloudHsmClusterId": "cluster-1",
                              "TrustAnchorCertificate": "x", "KeyStorePassword": "longEnough"},
     "ValidationException", None),
    ("CreateCustomKeyStore", {"CustomKeyStoreName": "bad", "CloudHsmClusterId":
                              "cluster-aaaaaaaaaaa", "TrustAnchorCertificate": "x",
                              "KeyStorePassword": "longEnough", "CustomKeyStoreType": "BOGUS"},
     "ValidationException", None),
    ("ConnectCustomKeyStore", {"CustomKeyStoreId": ""}, "ValidationException", None),
    ("ConnectCustomKeyStore", {}, "ValidationException", None),
    ("UpdateCustomKeyStore", {"CustomKeyStoreId": 7}, "SerializationException", None),
    ("DescribeCustomKeyStores", {"Limit": 0}, "ValidationException", None),
    ("DescribeCustomKeyStores", {"Marker": "garbage"}, "InvalidMarkerException", None),
    ("CreateKey", {"Origin": "AWS_CLOUDHSM"}, "ValidationException",
     "To create a KMS key with an AWS_CLOUDHSM origin, you must specify a CustomKeyStoreId."),
])
def test_bad_input_changes_nothing(env: Env, raw: Any, target: str, body: dict[str, Any],
                                   code: str, message: str | None) -> None:
    import json  # noqa: PLC0415

    before = env.kms.describe_custom_key_stores()["CustomKeyStores"]
    status, _headers, answer = raw(env.server, f"TrentService.{target}", body)
    doc = json.loads(answer)
    assert (status, doc["__type"]) == (400, code), doc
    if message is not None:
        assert doc["message"] == message
    assert env.kms.describe_custom_key_stores()["CustomKeyStores"] == before
