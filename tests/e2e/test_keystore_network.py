"""What KMS builds in the cluster's VPC while a store is connected (spec kms.md 1.4 step 2,
ec2.md 5.2): a security group ``kms-<store id>`` with one inbound rule from the cluster group,
and one ENI per cluster subnet described ``KMS managed ENI for cluster <id>``; all removed at
disconnect. Also the 10-store quota (spec kms.md 6.1)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from guide_helpers import (
    KMSUSER_PASSWORD,
    build_env,
    error,
    make_clusters,
    module_env_server,
    run_aws,
)

from hsmkms.testing.server import ServerProcess


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = module_env_server(tmp_path_factory)
    try:
        yield srv
    finally:
        srv.kill()


def test_kms_enis_and_security_group(server: ServerProcess) -> None:
    env = build_env(server)
    cluster = env.cluster()
    description = f"KMS managed ENI for cluster {env.cluster_id}"
    code, out = env.aws("ec2", "describe-network-interfaces", "--filters",
                        f"Name=description,Values={description}")
    assert code == 0, out
    enis = out["NetworkInterfaces"]
    assert sorted(e["SubnetId"] for e in enis) == sorted(cluster["SubnetMapping"].values())
    groups = env.ec2.describe_security_groups(Filters=[
        {"Name": "group-name", "Values": [f"kms-{env.store_id}"]}])["SecurityGroups"]
    assert len(groups) == 1
    kms_group = groups[0]
    assert kms_group["VpcId"] == cluster["VpcId"]
    assert [[p["GroupId"] for p in rule["UserIdGroupPairs"]]
            for rule in kms_group["IpPermissions"]] == [[cluster["SecurityGroup"]]]
    assert kms_group["IpPermissionsEgress"] == []  # KMS removes all outbound rules
    [inbound] = kms_group["IpPermissions"]
    assert (inbound["IpProtocol"], inbound["FromPort"], inbound["ToPort"]) == ("tcp", 2223, 2225)
    for eni in enis:
        assert eni["Description"] == description
        assert eni["PrivateIpAddress"]
        assert sorted(g["GroupId"] for g in eni["Groups"]) == sorted(
            [kms_group["GroupId"], cluster["SecurityGroup"]])
    # The addresses come out of the subnets' free addresses.
    env.disconnect()
    assert not env.ec2.describe_network_interfaces(Filters=[
        {"Name": "description", "Values": [description]}])["NetworkInterfaces"]
    assert not env.ec2.describe_security_groups(Filters=[
        {"Name": "group-name", "Values": [f"kms-{env.store_id}"]}])["SecurityGroups"]
    subnet = next(iter(cluster["SubnetMapping"].values()))
    before = env.ec2.describe_subnets(SubnetIds=[subnet])["Subnets"][0][
        "AvailableIpAddressCount"]
    env.connect()
    after = env.ec2.describe_subnets(SubnetIds=[subnet])["Subnets"][0][
        "AvailableIpAddressCount"]
    assert after == before - 1
    # A failed attempt leaves nothing behind either.
    env.disconnect()
    env.update_password("notThePassword1")
    env.connect(expect="FAILED")
    assert not env.ec2.describe_network_interfaces(Filters=[
        {"Name": "description", "Values": [description]}])["NetworkInterfaces"]


def test_ten_custom_key_stores_per_account_and_region(server: ServerProcess) -> None:
    kms = server.client("kms")
    existing = len(kms.describe_custom_key_stores()["CustomKeyStores"])
    clusters = make_clusters(server, 11 - existing)
    for i, (cid, ca) in enumerate(clusters[:-1]):
        kms.create_custom_key_store(CustomKeyStoreName=f"quota-{i}", CloudHsmClusterId=cid,
                                    TrustAnchorCertificate=ca.pem,
                                    KeyStorePassword=KMSUSER_PASSWORD)
    assert len(kms.describe_custom_key_stores()["CustomKeyStores"]) == 10
    cid, ca = clusters[-1]
    assert error(kms.create_custom_key_store, CustomKeyStoreName="eleventh",
                 CloudHsmClusterId=cid, TrustAnchorCertificate=ca.pem,
                 KeyStorePassword=KMSUSER_PASSWORD) == (
        "LimitExceededException",
        "You have reached the limit of 10 custom key stores in this account and Region.")
    # Pagination over the ten.
    page = kms.describe_custom_key_stores(Limit=4)
    assert len(page["CustomKeyStores"]) == 4
    assert page["Truncated"] is True
    rest = kms.describe_custom_key_stores(Marker=page["NextMarker"])
    assert len(rest["CustomKeyStores"]) == 6
    assert rest["Truncated"] is False
    code, out = run_aws(server, "kms", "describe-custom-key-stores")
    assert code == 0, out
    assert len(out["CustomKeyStores"]) == 10
