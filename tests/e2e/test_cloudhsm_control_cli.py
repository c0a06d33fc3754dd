"""The real AWS CLI v1 (``aws cloudhsmv2 ...``) against a real server, with the shorthand syntax
the guides use."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from typing import Any

from cloudhsm_helpers import active_cluster, subnets, wait_for, wait_state
from hsmkms.testing.server import ServerProcess

Aws = Callable[..., subprocess.CompletedProcess[str]]


def run(aws: Aws, server: ServerProcess, *args: str) -> Any:
    done = aws(server, "cloudhsmv2", *args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if done.stdout.strip() else None


def test_cluster_commands(hsmkms_server: ServerProcess, aws: Aws) -> None:
    ids = subnets(hsmkms_server)[:2]
    made = run(aws, hsmkms_server, "create-cluster", "--hsm-type", "hsm1.medium",
               "--subnet-ids", *ids, "--backup-retention-policy", "Type=DAYS,Value=30",
               "--tag-list", "Key=owner,Value=me")["Cluster"]
    assert made["State"] == "CREATE_IN_PROGRESS"
    assert made["BackupRetentionPolicy"] == {"Type": "DAYS", "Value": "30"}
    assert isinstance(made["CreateTimestamp"], float)
    cluster_id = made["ClusterId"]
    hsm = hsmkms_server.client("cloudhsmv2")
    wait_state(hsm, cluster_id, "UNINITIALIZED")
    listed = run(aws, hsmkms_server, "describe-clusters", "--filters",
                 f"clusterIds={cluster_id}")["Clusters"]
    assert [c["ClusterId"] for c in listed] == [cluster_id]
    assert listed[0]["TagList"] == [{"Key": "owner", "Value": "me"}]
    changed = run(aws, hsmkms_server, "modify-cluster", "--cluster-id", cluster_id,
                  "--backup-retention-policy", "Type=DAYS,Value=90")["Cluster"]
    assert changed["BackupRetentionPolicy"]["Value"] == "90"
    failed = aws(hsmkms_server, "cloudhsmv2", "create-hsm", "--cluster-id", cluster_id,
                 "--availability-zone", "us-east-1f")
    assert failed.returncode != 0
    assert (f"An error occurred (CloudHsmInvalidRequestException) when calling the CreateHsm "
            f"operation: Availability zone us-east-1f is not in the subnet mapping of cluster "
            f"{cluster_id}") in failed.stderr
    deleted = run(aws, hsmkms_server, "delete-cluster", "--cluster-id", cluster_id)["Cluster"]
    assert deleted["StateMessage"] == "The cluster is being deleted."
    wait_state(hsm, cluster_id, "DELETED")
    gone = run(aws, hsmkms_server, "describe-clusters", "--filters", "states=DELETED")
    assert [c["ClusterId"] for c in gone["Clusters"]] == [cluster_id]


def test_hsm_and_backup_commands(hsmkms_server: ServerProcess, aws: Aws) -> None:
    hsm = hsmkms_server.client("cloudhsmv2")
    cluster, _ca = active_cluster(hsmkms_server)
    cluster_id = cluster["ClusterId"]
    zone = sorted(cluster["SubnetMapping"])[1]
    made = run(aws, hsmkms_server, "create-hsm", "--cluster-id", cluster_id,
               "--availability-zone", zone, "--ip-address", "172.31.16.12")["Hsm"]
    assert made["EniIp"] == "172.31.16.12"
    wait_for(lambda: hsm.describe_clusters()["Clusters"][0]["Hsms"],
             lambda hs: [h["State"] for h in hs] == ["ACTIVE", "ACTIVE"])
    answer = run(aws, hsmkms_server, "delete-hsm", "--cluster-id", cluster_id,
                 "--eni-ip", "172.31.16.12")
    assert answer == {"HsmId": made["HsmId"]}
    found = wait_for(lambda: run(aws, hsmkms_server, "describe-backups", "--filters",
                                 f"clusterIds={cluster_id}")["Backups"],
                     lambda bs: len(bs) == 3 and all(b["BackupState"] == "READY" for b in bs))
    backup_id = found[0]["BackupId"]
    kept = run(aws, hsmkms_server, "modify-backup-attributes", "--backup-id", backup_id,
               "--never-expires")["Backup"]
    assert kept["NeverExpires"] is True
    exempt = run(aws, hsmkms_server, "describe-backups", "--filters", "neverExpires=true")
    assert [b["BackupId"] for b in exempt["Backups"]] == [backup_id]
    run(aws, hsmkms_server, "modify-backup-attributes", "--backup-id", backup_id,
        "--no-never-expires")
    pending = run(aws, hsmkms_server, "delete-backup", "--backup-id", backup_id)["Backup"]
    assert pending["BackupState"] == "PENDING_DELETION"
    assert isinstance(pending["DeleteTimestamp"], float)
    listed = run(aws, hsmkms_server, "describe-backups", "--filters", "states=PENDING_DELETION")
    assert [b["BackupId"] for b in listed["Backups"]] == [backup_id]
    back = run(aws, hsmkms_server, "restore-backup", "--backup-id", backup_id)["Backup"]
    assert back["BackupState"] == "READY" and "DeleteTimestamp" not in back
    run(aws, hsmkms_server, "tag-resource", "--resource-id", backup_id, "--tag-list",
        "Key=a,Value=b")
    assert run(aws, hsmkms_server, "list-tags", "--resource-id", backup_id)["TagList"] == [
        {"Key": "a", "Value": "b"}]
    everything = run(aws, hsmkms_server, "describe-backups", "--max-items", "1")
    assert len(everything["Backups"]) == 1 and "NextToken" in everything
