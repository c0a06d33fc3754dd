"""CloudHSM v2 backups: snapshots, pending deletion, retention, restore into new clusters, copies,
resource policies; the clock is advanced instead of waiting days."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cloudhsm_helpers import (
    active_cluster,
    create_crypto_user,
    describe,
    subnets,
    usernames,
    wait_for,
    wait_hsms_active,
    wait_state,
)

from hsmkms.testing.server import ServerProcess

DAY = 86400


def error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    err = exc.value.response["Error"]
    return err["Code"], err["Message"]


def backups(hsm: Any, cluster_id: str | None = None, **kwargs: Any) -> list[dict[str, Any]]:
    filters = {"clusterIds": [cluster_id]} if cluster_id else {}
    return hsm.describe_backups(Filters=filters, SortAscending=True, **kwargs)["Backups"]


def ready_backups(hsm: Any, cluster_id: str, count: int) -> list[dict[str, Any]]:
    return wait_for(lambda: backups(hsm, cluster_id),
                    lambda bs: sum(b["BackupState"] == "READY" for b in bs) == count)


def clock(server: ServerProcess) -> float:
    return float(server.admin("GET", "clock")["now"])


def test_activation_backup_delete_restore_and_expiry(hsmkms_server: ServerProcess) -> None:
    hsm = hsmkms_server.client("cloudhsmv2")
    cluster, _ca = active_cluster(hsmkms_server)
    cluster_id = cluster["ClusterId"]
    (backup,) = ready_backups(hsm, cluster_id, 1)  # taken on activation
    backup_id = backup["BackupId"]
    assert backup["BackupArn"] == f"arn:aws:cloudhsm:us-east-1:111122223333:backup/{backup_id}"
    assert (backup["ClusterId"], backup["HsmType"], backup["Mode"]) == (cluster_id,
                                                                       "hsm1.medium", "FIPS")
    assert backup["NeverExpires"] is False
    assert not {"DeleteTimestamp", "CopyTimestamp", "SourceBackup"} & set(backup)
    deleted = hsm.delete_backup(BackupId=backup_id)["Backup"]
    assert deleted["BackupState"] == "PENDING_DELETION"
    assert abs(deleted["DeleteTimestamp"].timestamp() - (clock(hsmkms_server) + 7 * DAY)) < 5
    restored = hsm.restore_backup(BackupId=backup_id)["Backup"]
    assert restored["BackupState"] == "READY"
    assert "DeleteTimestamp" not in restored
    with pytest.raises(ClientError) as exc:
        hsm.restore_backup(BackupId=backup_id)
    assert error(exc) == ("CloudHsmInvalidRequestException",
                          f"Backup {backup_id} cannot be restored in state READY: only backups "
                          "in PENDING_DELETION can be restored.")
    hsm.delete_backup(BackupId=backup_id)
    # A backup pending deletion can still be tagged and exempted, not shared.
    hsm.tag_resource(ResourceId=backup_id, TagList=[{"Key": "keep", "Value": "me"}])
    kept = hsm.modify_backup_attributes(BackupId=backup_id, NeverExpires=True)["Backup"]
    assert (kept["BackupState"], kept["NeverExpires"]) == ("PENDING_DELETION", True)
    with pytest.raises(ClientError) as exc:
        hsm.put_resource_policy(ResourceArn=backup["BackupArn"], Policy="{}")
    assert error(exc) == ("CloudHsmInvalidRequestException",
                          f"Backup {backup_id} is in state PENDING_DELETION; PutResourcePolicy "
                          "requires a backup in state READY.")
    with pytest.raises(ClientError) as exc:
        hsm.delete_backup(BackupId=backup_id)
    assert error(exc) == ("CloudHsmInvalidRequestException",
                          f"Backup {backup_id} cannot be deleted in state PENDING_DELETION: only "
                          "READY backups can be deleted.")
    hsmkms_server.advance(7 * DAY - 60)
    assert backups(hsm, cluster_id)[0]["BackupState"] == "PENDING_DELETION"
    hsmkms_server.advance(120)
    gone = hsm.describe_backups(Filters={"backupIds": [backup_id]})["Backups"][0]
    assert gone["BackupState"] == "DELETED"
    with pytest.raises(ClientError) as exc:
        hsm.restore_backup(BackupId=backup_id)
    assert error(exc)[0] == "CloudHsmInvalidRequestException"
    # A DELETED backup is still listed, and can no longer change.
    refusals = [
        ("ModifyBackupAttributes", lambda: hsm.modify_backup_attributes(BackupId=backup_id,
                                                                        NeverExpires=False)),
        ("TagResource", lambda: hsm.tag_resource(ResourceId=backup_id,
                                                 TagList=[{"Key": "k", "Value": "v"}])),
        ("UntagResource", lambda: hsm.untag_resource(ResourceId=backup_id,
                                                     TagKeyList=["keep"])),
    ]
    for operation, call in refusals:
        with pytest.raises(ClientError) as exc:
            call()
        assert error(exc) == ("CloudHsmInvalidRequestException",
                              f"Backup {backup_id} is in state DELETED; {operation} requires a "
                              "backup in state READY or PENDING_DELETION.")
    assert hsm.list_tags(ResourceId=backup_id)["TagList"] == [{"Key": "keep", "Value": "me"}]
    gone = hsm.describe_backups(Filters={"backupIds": [backup_id]})["Backups"][0]
    assert (gone["BackupState"], gone["NeverExpires"]) == ("DELETED", True)
    # Meanwhile the cluster was backed up every day.
    daily = [b for b in backups(hsm, cluster_id) if b["BackupId"] != backup_id]
    assert len(daily) == 7
    assert {b["BackupState"] for b in daily} == {"READY"}
    with pytest.raises(ClientError) as exc:
        hsm.delete_backup(BackupId="backup-aaaaaaaaaaa")
    assert error(exc) == ("CloudHsmResourceNotFoundException",
                          "Backup backup-aaaaaaaaaaa not found.")


def test_retention_policy_purges_old_backups_but_never_the_last(
        hsmkms_server: ServerProcess) -> None:
    hsm = hsmkms_server.client("cloudhsmv2")
    cluster, _ca = active_cluster(hsmkms_server)
    cluster_id = cluster["ClusterId"]
    (first,) = ready_backups(hsm, cluster_id, 1)
    with pytest.raises(ClientError) as exc:
        hsm.modify_cluster(ClusterId=cluster_id,
                           BackupRetentionPolicy={"Type": "DAYS", "Value": "380"})
    assert error(exc)[0] == "CloudHsmInvalidRequestException"
    modified = hsm.modify_cluster(ClusterId=cluster_id,
                                  BackupRetentionPolicy={"Type": "DAYS", "Value": "7"})["Cluster"]
    assert modified["BackupRetentionPolicy"] == {"Type": "DAYS", "Value": "7"}
    hsmkms_server.advance(DAY)
    kept = backups(hsm, cluster_id)[1]
    answer = hsm.modify_backup_attributes(BackupId=kept["BackupId"], NeverExpires=True)
    assert answer["Backup"]["NeverExpires"] is True
    hsmkms_server.advance(7 * DAY)
    states = {b["BackupId"]: b for b in backups(hsm, cluster_id)}
    purged = states[first["BackupId"]]
    assert purged["BackupState"] == "PENDING_DELETION"
    expected = first["CreateTimestamp"].timestamp() + 14 * DAY
    assert abs(purged["DeleteTimestamp"].timestamp() - expected) < 0.01
    assert states[kept["BackupId"]]["BackupState"] == "READY"
    assert [b["BackupId"] for b in hsm.describe_backups(
        Filters={"neverExpires": ["true"]})["Backups"]] == [kept["BackupId"]]
    # With no HSM left no more backups are made; the policy never deletes the last one.
    hsm.delete_hsm(ClusterId=cluster_id, HsmId=cluster["Hsms"][0]["HsmId"])
    wait_for(lambda: describe(hsm, cluster_id), lambda c: c["Hsms"] == [])
    hsmkms_server.advance(30 * DAY)
    ready = [b["BackupId"] for b in backups(hsm, cluster_id) if b["BackupState"] == "READY"]
    newest = max(backups(hsm, cluster_id), key=lambda b: b["CreateTimestamp"])
    assert ready == [kept["BackupId"], newest["BackupId"]]


def test_restore_a_cluster_from_a_backup(hsmkms_server: ServerProcess) -> None:
    hsm = hsmkms_server.client("cloudhsmv2")
    cluster, _ca = active_cluster(hsmkms_server)
    cluster_id = cluster["ClusterId"]
    certificate = cluster["Certificates"]["ClusterCertificate"]
    ready_backups(hsm, cluster_id, 1)
    create_crypto_user(hsmkms_server, cluster_id, "alice")
    hsm.create_hsm(ClusterId=cluster_id, AvailabilityZone=sorted(cluster["SubnetMapping"])[1])
    wait_hsms_active(hsm, cluster_id, 2)
    older, newer = ready_backups(hsm, cluster_id, 2)  # activation, then adding the HSM
    create_crypto_user(hsmkms_server, cluster_id, "bob")
    restored = hsm.create_cluster(HsmType="hsm1.medium", SubnetIds=subnets(hsmkms_server)[2:4],
                                  SourceBackupId=newer["BackupId"])["Cluster"]
    assert restored["State"] == "CREATE_IN_PROGRESS"
    assert restored["SourceBackupId"] == newer["BackupId"]
    assert restored["Certificates"] == {"ClusterCertificate": certificate}
    new_id = restored["ClusterId"]
    active = wait_state(hsm, new_id, "ACTIVE")
    assert active["Hsms"] == []
    hsm.create_hsm(ClusterId=new_id, AvailabilityZone=min(active["SubnetMapping"]))
    wait_hsms_active(hsm, new_id, 1)
    assert "alice" in usernames(hsmkms_server, new_id)
    assert "bob" not in usernames(hsmkms_server, new_id)
    assert "bob" in usernames(hsmkms_server, cluster_id)
    from_older = hsm.create_cluster(HsmType="hsm1.medium", SubnetIds=subnets(hsmkms_server)[:1],
                                    SourceBackupId=older["BackupId"])["Cluster"]["ClusterId"]
    wait_state(hsm, from_older, "ACTIVE")
    hsm.create_hsm(ClusterId=from_older, AvailabilityZone="us-east-1a")
    wait_hsms_active(hsm, from_older, 1)
    assert "alice" not in usernames(hsmkms_server, from_older)
    # Backups outlive their cluster.
    for h in describe(hsm, cluster_id)["Hsms"]:
        hsm.delete_hsm(ClusterId=cluster_id, HsmId=h["HsmId"])
    wait_for(lambda: describe(hsm, cluster_id), lambda c: c["Hsms"] == [])
    hsm.delete_cluster(ClusterId=cluster_id)
    wait_state(hsm, cluster_id, "DELETED")
    assert len(ready_backups(hsm, cluster_id, 4)) == 4  # + one per HSM deletion


def test_a_deleted_cluster_is_listed_for_a_day_and_its_backups_keep_its_policy(
        hsmkms_server: ServerProcess) -> None:
    hsm = hsmkms_server.client("cloudhsmv2")
    cluster, _ca = active_cluster(hsmkms_server)
    cluster_id = cluster["ClusterId"]
    hsm.modify_cluster(ClusterId=cluster_id, BackupRetentionPolicy={"Type": "DAYS", "Value": "7"})
    ready_backups(hsm, cluster_id, 1)
    hsm.delete_hsm(ClusterId=cluster_id, HsmId=cluster["Hsms"][0]["HsmId"])  # a second backup
    wait_for(lambda: describe(hsm, cluster_id), lambda c: c["Hsms"] == [])
    older, newer = ready_backups(hsm, cluster_id, 2)
    hsm.delete_cluster(ClusterId=cluster_id)
    wait_state(hsm, cluster_id, "DELETED")
    hsmkms_server.advance(DAY - 60)
    assert [c["ClusterId"] for c in hsm.describe_clusters(
        Filters={"states": ["DELETED"]})["Clusters"]] == [cluster_id]
    hsmkms_server.advance(120)  # 24 h after the deletion: forgotten
    assert hsm.describe_clusters()["Clusters"] == []
    assert hsm.describe_clusters(Filters={"clusterIds": [cluster_id]})["Clusters"] == []
    with pytest.raises(ClientError) as exc:
        hsm.list_tags(ResourceId=cluster_id)
    assert error(exc) == ("CloudHsmResourceNotFoundException", f"Cluster {cluster_id} not found.")
    # Its backups stay, and its 7-day policy still purges all but the last one - but not their
    # copies in another Region, which no retention policy governs.
    assert [b["BackupId"] for b in backups(hsm, cluster_id)] == [older["BackupId"],
                                                                 newer["BackupId"]]
    west = hsmkms_server.client("cloudhsmv2", region="us-west-2")
    for backup in (older, newer):
        hsm.copy_backup_to_region(DestinationRegion="us-west-2", BackupId=backup["BackupId"])
    hsmkms_server.advance(7 * DAY)
    states = {b["BackupId"]: b["BackupState"] for b in backups(hsm, cluster_id)}
    assert states == {older["BackupId"]: "PENDING_DELETION", newer["BackupId"]: "READY"}
    assert [b["BackupState"] for b in backups(west, cluster_id)] == ["READY", "READY"]
    restored = hsm.create_cluster(HsmType="hsm1.medium", SubnetIds=subnets(hsmkms_server)[:1],
                                  SourceBackupId=newer["BackupId"])["Cluster"]
    assert restored["Certificates"] == {
        "ClusterCertificate": cluster["Certificates"]["ClusterCertificate"]}


def test_restore_refusals(hsmkms_server: ServerProcess) -> None:
    hsm = hsmkms_server.client("cloudhsmv2")
    cluster, _ca = active_cluster(hsmkms_server)
    (backup,) = ready_backups(hsm, cluster["ClusterId"], 1)
    ids = subnets(hsmkms_server)[:2]
    with pytest.raises(ClientError) as exc:
        hsm.create_cluster(HsmType="hsm1.medium", SubnetIds=ids,
                           SourceBackupId="backup-aaaaaaaaaaa")
    assert error(exc) == ("CloudHsmResourceNotFoundException",
                          "Backup backup-aaaaaaaaaaa not found.")
    with pytest.raises(ClientError) as exc:
        hsm.create_cluster(HsmType="hsm2m.medium", SubnetIds=ids, Mode="NON_FIPS",
                           SourceBackupId=backup["BackupId"])
    assert error(exc) == ("CloudHsmInvalidRequestException",
                          "A FIPS backup can only be restored into a FIPS cluster.")
    hsm.delete_backup(BackupId=backup["BackupId"])
    with pytest.raises(ClientError) as exc:
        hsm.create_cluster(HsmType="hsm1.medium", SubnetIds=ids,
                           SourceBackupId=backup["BackupId"])
    assert error(exc) == ("CloudHsmInvalidRequestException",
                          f"Backup {backup['BackupId']} is in state PENDING_DELETION; only READY "
                          "backups can be used to create a cluster.")
    assert len(hsm.describe_clusters()["Clusters"]) == 1


def test_copy_backup_to_another_region(hsmkms_server: ServerProcess) -> None:
    hsm = hsmkms_server.client("cloudhsmv2")
    west = hsmkms_server.client("cloudhsmv2", region="us-west-2")
    cluster, _ca = active_cluster(hsmkms_server)
    cluster_id = cluster["ClusterId"]
    (backup,) = ready_backups(hsm, cluster_id, 1)
    hsm.tag_resource(ResourceId=backup["BackupId"], TagList=[{"Key": "k", "Value": "v"}])
    answer = hsm.copy_backup_to_region(DestinationRegion="us-west-2",
                                       BackupId=backup["BackupId"])["DestinationBackup"]
    assert answer == {"CreateTimestamp": backup["CreateTimestamp"], "SourceRegion": "us-east-1",
                      "SourceBackup": backup["BackupId"], "SourceCluster": cluster_id}
    copy = wait_for(lambda: west.describe_backups(
        Filters={"sourceBackupIds": [backup["BackupId"]]})["Backups"],
        lambda bs: bs and bs[0]["BackupState"] == "READY")[0]
    assert copy["BackupId"] != backup["BackupId"]
    assert copy["BackupArn"].startswith("arn:aws:cloudhsm:us-west-2:111122223333:backup/")
    assert (copy["ClusterId"], copy["SourceCluster"]) == (cluster_id, cluster_id)
    assert copy["CreateTimestamp"] == backup["CreateTimestamp"]
    assert "CopyTimestamp" in copy
    assert copy["TagList"] == [{"Key": "k", "Value": "v"}]
    tagged = hsm.copy_backup_to_region(DestinationRegion="us-west-2", BackupId=backup["BackupId"],
                                       TagList=[{"Key": "x", "Value": "y"}])
    assert tagged["DestinationBackup"]["SourceBackup"] == backup["BackupId"]
    assert hsm.describe_backups(Filters={"sourceBackupIds": [backup["BackupId"]]})[
        "Backups"] == []
    west_cluster = west.create_cluster(HsmType="hsm1.medium",
                                       SubnetIds=subnets(hsmkms_server, "us-west-2")[:1],
                                       SourceBackupId=copy["BackupId"])["Cluster"]
    assert west_cluster["Certificates"] == {
        "ClusterCertificate": cluster["Certificates"]["ClusterCertificate"]}
    with pytest.raises(ClientError) as exc:
        hsm.copy_backup_to_region(DestinationRegion="us-east-1", BackupId=backup["BackupId"])
    assert error(exc) == ("CloudHsmInvalidRequestException",
                          "The destination Region us-east-1 must differ from the backup's "
                          "Region.")


def test_resource_policy_shares_a_backup(hsmkms_server: ServerProcess) -> None:
    hsm = hsmkms_server.client("cloudhsmv2")
    stranger = {"credentials": {"aws_access_key_id": "444455556666"}}
    other = hsmkms_server.client("cloudhsmv2", **stranger)
    cluster, _ca = active_cluster(hsmkms_server)
    (backup,) = ready_backups(hsm, cluster["ClusterId"], 1)
    arn = backup["BackupArn"]
    assert other.describe_backups(Shared=True)["Backups"] == []
    policy = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::444455556666:root"},
        "Action": ["cloudhsm:CreateCluster", "cloudhsm:DescribeBackups"], "Resource": arn}]})
    put = hsm.put_resource_policy(ResourceArn=arn, Policy=policy)
    assert (put["ResourceArn"], put["Policy"]) == (arn, policy)
    assert hsm.get_resource_policy(ResourceArn=arn)["Policy"] == policy
    shared = other.describe_backups(Shared=True)["Backups"]
    assert [b["BackupId"] for b in shared] == [backup["BackupId"]]
    # The ARN names the owner's account, not the caller's, and restores a cluster as it is.
    assert shared[0]["BackupArn"] == arn == (
        f"arn:aws:cloudhsm:us-east-1:111122223333:backup/{backup['BackupId']}")
    their_subnets = subnets(hsmkms_server, **stranger)[:1]
    with pytest.raises(ClientError) as exc:  # another account's backup needs its full ARN
        other.create_cluster(HsmType="hsm1.medium", SubnetIds=their_subnets,
                             SourceBackupId=backup["BackupId"])
    assert error(exc) == ("CloudHsmResourceNotFoundException",
                          f"Backup {backup['BackupId']} not found in this account. It belongs "
                          f"to account 111122223333: specify a backup of another account by "
                          f"its full ARN ({arn}).")
    for wrong in (arn.replace("111122223333", "444455556666"),  # the caller's own account
                  arn.replace("111122223333", "777788889999")):
        with pytest.raises(ClientError) as exc:
            other.create_cluster(HsmType="hsm1.medium", SubnetIds=their_subnets,
                                 SourceBackupId=wrong)
        assert error(exc) == ("CloudHsmResourceNotFoundException",
                              f"Backup {backup['BackupId']} not found.")
    restored = other.create_cluster(HsmType="hsm1.medium", SubnetIds=their_subnets,
                                    SourceBackupId=shared[0]["BackupArn"])["Cluster"]
    assert restored["SourceBackupId"] == backup["BackupId"]
    assert restored["Certificates"] == {
        "ClusterCertificate": cluster["Certificates"]["ClusterCertificate"]}
    wait_state(other, restored["ClusterId"], "ACTIVE")
    removed = hsm.delete_resource_policy(ResourceArn=arn)
    assert (removed["ResourceArn"], removed["Policy"]) == (arn, policy)
    assert "Policy" not in hsm.get_resource_policy(ResourceArn=arn)
    assert other.describe_backups(Shared=True)["Backups"] == []
    cluster_arn = f"arn:aws:cloudhsm:us-east-1:111122223333:cluster/{cluster['ClusterId']}"
    for resource, text, code in [
        (cluster_arn, f"Resource policies can be attached only to backups, not to "
                      f"{cluster['ClusterId']}.", "CloudHsmInvalidRequestException"),
        (arn, "The policy is not a valid JSON policy document.",
         "CloudHsmInvalidRequestException")]:
        with pytest.raises(ClientError) as exc:
            hsm.put_resource_policy(ResourceArn=resource, Policy="{not json")
        assert error(exc) == (code, text)
    with pytest.raises(ClientError) as exc:
        hsm.delete_resource_policy(ResourceArn=arn)
    assert error(exc) == ("CloudHsmResourceNotFoundException",
                          f"Backup {backup['BackupId']} has no resource policy.")


def test_describe_backups_order_filters_paging_and_tags(hsmkms_server: ServerProcess) -> None:
    hsm = hsmkms_server.client("cloudhsmv2")
    cluster, _ca = active_cluster(hsmkms_server)
    ready_backups(hsm, cluster["ClusterId"], 1)
    hsmkms_server.advance(3 * DAY)
    oldest_first = [b["BackupId"] for b in backups(hsm, cluster["ClusterId"])]
    assert len(oldest_first) == 4
    newest_first = [b["BackupId"] for b in hsm.describe_backups()["Backups"]]
    assert newest_first == oldest_first[::-1]
    page = hsm.describe_backups(MaxResults=3, SortAscending=True)
    assert [b["BackupId"] for b in page["Backups"]] == oldest_first[:3]
    rest = hsm.describe_backups(MaxResults=3, SortAscending=True, NextToken=page["NextToken"])
    assert [b["BackupId"] for b in rest["Backups"]] == oldest_first[3:]
    assert "NextToken" not in rest
    pages = hsm.get_paginator("describe_backups").paginate(PaginationConfig={"PageSize": 1})
    assert len([b for p in pages for b in p["Backups"]]) == 4
    hsm.delete_backup(BackupId=oldest_first[0])
    pending = hsm.describe_backups(Filters={"states": ["PENDING_DELETION"]})["Backups"]
    assert [b["BackupId"] for b in pending] == [oldest_first[0]]
    picked = hsm.describe_backups(Filters={"backupIds": oldest_first[1:3]}, SortAscending=True)
    assert [b["BackupId"] for b in picked["Backups"]] == oldest_first[1:3]
    assert hsm.describe_backups(Filters={"clusterIds": ["cluster-aaaaaaaaaaa"]})["Backups"] == []
    for filters, text in [
        ({"vpcIds": ["vpc-1"]}, "Invalid filter 'vpcIds'. Valid filters: backupIds, "
                                "sourceBackupIds, clusterIds, states, neverExpires."),
        ({"neverExpires": ["maybe"]}, "Invalid value 'maybe' for filter 'neverExpires'."),
        ({"states": ["GONE"]}, "Invalid value 'GONE' for filter 'states'.")]:
        with pytest.raises(ClientError) as exc:
            hsm.describe_backups(Filters=filters)
        assert error(exc) == ("CloudHsmInvalidRequestException", text)
    backup_id = oldest_first[1]
    hsm.tag_resource(ResourceId=backup_id, TagList=[{"Key": "env", "Value": "prod"}])
    assert hsm.list_tags(ResourceId=backup_id)["TagList"] == [{"Key": "env", "Value": "prod"}]
    listed = hsm.describe_backups(Filters={"backupIds": [backup_id]})["Backups"][0]
    assert listed["TagList"] == [{"Key": "env", "Value": "prod"}]
    hsm.untag_resource(ResourceId=backup_id, TagKeyList=["env"])
    assert hsm.list_tags(ResourceId=backup_id)["TagList"] == []
