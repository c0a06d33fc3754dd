"""The real AWS CLI v1 (``aws cloudhsmv2 ...``) against a real server, with the shorthand syntax
the guides use."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cloudhsm_helpers import (
    activate,
    active_cluster,
    make_ca,
    sign_csr,
    subnets,
    uninitialized_cluster,
    wait_for,
    wait_state,
)

from hsmkms.testing.server import ServerProcess

Aws = Callable[..., subprocess.CompletedProcess[str]]


def run(aws: Aws, server: ServerProcess, *args: str, **kwargs: Any) -> Any:
    done = aws(server, "cloudhsmv2", *args, **kwargs)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if done.stdout.strip() else None


def run_as(server: ServerProcess, account: str, *args: str) -> Any:
    """``aws cloudhsmv2 ...`` with another account's credentials (a 12-digit access key)."""
    env = {**server.cli_env(), "AWS_ACCESS_KEY_ID": account}
    exe = Path(sys.executable).with_name("aws")
    done = subprocess.run([str(exe) if exe.exists() else "aws", "cloudhsmv2", *args],  # noqa: S603
                          env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_initialize_restore_copy_and_share(hsmkms_server: ServerProcess, aws: Aws,
                                          tmp_path: Path) -> None:
    """The guide's commands: initialize with file:// certificates, then restore, copy and
    share the activation backup."""
    cluster_id = uninitialized_cluster(hsmkms_server)["ClusterId"]
    csr = aws(hsmkms_server, "cloudhsmv2", "describe-clusters", "--filters",
              f"clusterIds={cluster_id}", "--output", "text", "--query",
              "Clusters[].Certificates.ClusterCsr")
    assert csr.returncode == 0, csr.stderr
    ca = make_ca()
    (tmp_path / "customerCA.crt").write_text(ca.pem)
    (tmp_path / "hsm.crt").write_text(sign_csr(csr.stdout, ca))
    answer = run(aws, hsmkms_server, "initialize-cluster", "--cluster-id", cluster_id,
                 "--signed-cert", "file://hsm.crt", "--trust-anchor", "file://customerCA.crt",
                 cwd=tmp_path)
    assert answer == {"State": "INITIALIZE_IN_PROGRESS",
                      "StateMessage": "Cluster is initializing. State will change to "
                                      "INITIALIZED upon completion."}
    hsm = hsmkms_server.client("cloudhsmv2")
    wait_state(hsm, cluster_id, "INITIALIZED")
    assert activate(hsmkms_server, cluster_id)["error_code"] == 0
    changed = run(aws, hsmkms_server, "modify-cluster", "--cluster-id", cluster_id,
                  "--backup-retention-policy", "Type=DAYS,Value=30")["Cluster"]
    assert changed["BackupRetentionPolicy"] == {"Type": "DAYS", "Value": "30"}
    (backup,) = wait_for(lambda: hsm.describe_backups()["Backups"],
                         lambda bs: [b["BackupState"] for b in bs] == ["READY"])
    backup_id, arn = backup["BackupId"], backup["BackupArn"]
    restored = run(aws, hsmkms_server, "create-cluster", "--hsm-type", "hsm1.medium",
                   "--subnet-ids", *subnets(hsmkms_server)[2:4],
                   "--source-backup-id", backup_id)["Cluster"]
    assert (restored["State"], restored["SourceBackupId"]) == ("CREATE_IN_PROGRESS", backup_id)
    assert restored["Certificates"] == {"ClusterCertificate": (tmp_path / "hsm.crt").read_text()}
    copied = run(aws, hsmkms_server, "copy-backup-to-region", "--destination-region",
                 "us-west-2", "--backup-id", backup_id)["DestinationBackup"]
    assert copied == {"CreateTimestamp": backup["CreateTimestamp"].timestamp(),
                      "SourceRegion": "us-east-1", "SourceBackup": backup_id,
                      "SourceCluster": cluster_id}
    policy = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::444455556666:root"},
        "Action": ["cloudhsm:CreateCluster", "cloudhsm:DescribeBackups"], "Resource": arn}]})
    put = run(aws, hsmkms_server, "put-resource-policy", "--resource-arn", arn,
              "--policy", policy)
    assert put == {"ResourceArn": arn, "Policy": policy}
    assert run(aws, hsmkms_server, "get-resource-policy", "--resource-arn", arn) == {
        "Policy": policy}
    shared = run_as(hsmkms_server, "444455556666", "describe-backups", "--shared")["Backups"]
    assert [(b["BackupId"], b["BackupArn"]) for b in shared] == [(backup_id, arn)]
    theirs = subnets(hsmkms_server, credentials={"aws_access_key_id": "444455556666"})
    made = run_as(hsmkms_server, "444455556666", "create-cluster", "--hsm-type", "hsm1.medium",
                  "--subnet-ids", theirs[0], "--source-backup-id", arn)["Cluster"]
    assert made["SourceBackupId"] == backup_id
    removed = run(aws, hsmkms_server, "delete-resource-policy", "--resource-arn", arn)
    assert removed == {"ResourceArn": arn, "Policy": policy}
    # No Policy left: an empty answer, which the CLI prints as nothing at all.
    assert run(aws, hsmkms_server, "get-resource-policy", "--resource-arn", arn) is None
    assert run_as(hsmkms_server, "444455556666", "describe-backups", "--shared") == {
        "Backups": []}


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
    # A failing command: the AWS CLI v1 exits 255 and prints the error alone on stderr.
    failed = aws(hsmkms_server, "cloudhsmv2", "modify-cluster", "--cluster-id", cluster_id,
                 "--backup-retention-policy", "Type=DAYS,Value=90")
    assert (failed.returncode, failed.stdout) == (255, "")
    assert failed.stderr == (
        "\nAn error occurred (CloudHsmInvalidRequestException) when calling the ModifyCluster "
        f"operation: The backup retention policy of cluster {cluster_id} can be changed only "
        "while the cluster is ACTIVE; it is UNINITIALIZED.\n")
    failed = aws(hsmkms_server, "cloudhsmv2", "create-hsm", "--cluster-id", cluster_id,
                 "--availability-zone", "us-east-1f")
    assert (failed.returncode, failed.stdout) == (255, "")
    assert failed.stderr == (
        "\nAn error occurred (CloudHsmInvalidRequestException) when calling the CreateHsm "
        f"operation: Availability zone us-east-1f is not in the subnet mapping of cluster "
        f"{cluster_id} (valid availability zones: us-east-1a, us-east-1b).\n")
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
    assert back["BackupState"] == "READY"
    assert "DeleteTimestamp" not in back
    run(aws, hsmkms_server, "tag-resource", "--resource-id", backup_id, "--tag-list",
        "Key=a,Value=b")
    assert run(aws, hsmkms_server, "list-tags", "--resource-id", backup_id)["TagList"] == [
        {"Key": "a", "Value": "b"}]
    everything = run(aws, hsmkms_server, "describe-backups", "--max-items", "1")
    assert len(everything["Backups"]) == 1
    assert "NextToken" in everything
