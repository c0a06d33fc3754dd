"""CloudHSM v2 control plane, clusters and HSMs: real boto3 against a real server."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import re
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cloudhsm_helpers import (
    Ca,
    activate,
    active_cluster,
    describe,
    initialized_cluster,
    make_ca,
    sign_csr,
    subnets,
    uninitialized_cluster,
    wait_for,
    wait_hsms_active,
    wait_state,
)
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from hsmkms.testing.server import ServerProcess

CLUSTER_ID = re.compile(r"cluster-[a-z2-7]{11}")
HSM_ID = re.compile(r"hsm-[a-z2-7]{11}")


def error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    err = exc.value.response["Error"]
    return err["Code"], err["Message"]


def count_clusters(hsm: Any) -> int:
    return len(hsm.describe_clusters()["Clusters"])


def test_create_cluster_answers_and_network(hsmkms_server: ServerProcess) -> None:
    hsm = hsmkms_server.client("cloudhsmv2")
    ec2 = hsmkms_server.client("ec2")
    ids = subnets(hsmkms_server)[:2]
    cluster = hsm.create_cluster(HsmType="hsm1.medium", SubnetIds=ids,
                                 TagList=[{"Key": "team", "Value": "crypto"}])["Cluster"]
    assert CLUSTER_ID.fullmatch(cluster["ClusterId"])
    assert cluster["State"] == "CREATE_IN_PROGRESS"
    assert cluster["BackupPolicy"] == "DEFAULT"
    assert cluster["BackupRetentionPolicy"] == {"Type": "DAYS", "Value": "90"}
    assert cluster["Certificates"] == {}
    assert cluster["Hsms"] == []
    assert cluster["HsmType"] == "hsm1.medium"
    assert cluster["Mode"] == "FIPS"
    assert cluster["TagList"] == [{"Key": "team", "Value": "crypto"}]
    found = ec2.describe_subnets(SubnetIds=ids)["Subnets"]
    assert cluster["SubnetMapping"] == {s["AvailabilityZone"]: s["SubnetId"] for s in found}
    assert cluster["VpcId"] == found[0]["VpcId"]
    assert "SourceBackupId" not in cluster
    group = ec2.describe_security_groups(GroupIds=[cluster["SecurityGroup"]])["SecurityGroups"][0]
    assert group["GroupName"] == f"cloudhsm-cluster-{cluster['ClusterId']}-sg"
    # Only the self-referencing TCP 2223-2225 rules, both ways: EC2's default outbound
    # allow-all rule of a new group is replaced (spec ec2.md 5.1).
    hsm_ports = [{"IpProtocol": "tcp", "FromPort": 2223, "ToPort": 2225,
                  "UserIdGroupPairs": [{"UserId": "111122223333", "GroupId": group["GroupId"]}],
                  "IpRanges": [], "Ipv6Ranges": [], "PrefixListIds": []}]
    assert group["IpPermissions"] == hsm_ports
    assert group["IpPermissionsEgress"] == hsm_ports
    done = wait_state(hsm, cluster["ClusterId"], "UNINITIALIZED")
    assert done["Certificates"] == {}


def test_first_hsm_makes_a_real_csr_and_a_second_is_refused(
        hsmkms_server: ServerProcess) -> None:
    hsm = hsmkms_server.client("cloudhsmv2")
    ec2 = hsmkms_server.client("ec2")
    cluster = uninitialized_cluster(hsmkms_server, with_hsm=False)
    cluster_id = cluster["ClusterId"]
    zone = min(cluster["SubnetMapping"])
    made = hsm.create_hsm(ClusterId=cluster_id, AvailabilityZone=zone)["Hsm"]
    assert HSM_ID.fullmatch(made["HsmId"])
    assert made["State"] == "CREATE_IN_PROGRESS"
    assert (made["ClusterId"], made["AvailabilityZone"]) == (cluster_id, zone)
    assert made["SubnetId"] == cluster["SubnetMapping"][zone]
    subnet = ec2.describe_subnets(SubnetIds=[made["SubnetId"]])["Subnets"][0]
    assert ipaddress.ip_address(made["EniIp"]) in ipaddress.ip_network(subnet["CidrBlock"])
    eni = ec2.describe_network_interfaces(NetworkInterfaceIds=[made["EniId"]])
    assert eni["NetworkInterfaces"][0]["PrivateIpAddress"] == made["EniIp"]
    with pytest.raises(ClientError) as exc:  # even while the first is still being created
        hsm.create_hsm(ClusterId=cluster_id, AvailabilityZone=zone)
    assert error(exc) == ("CloudHsmInvalidRequestException",
                          f"Cluster '{cluster_id}' already contains an HSM but has not yet been "
                          "fully activated")
    cluster = wait_hsms_active(hsm, cluster_id, 1)
    assert cluster["State"] == "UNINITIALIZED"
    certs = cluster["Certificates"]
    assert sorted(certs) == ["AwsHardwareCertificate", "ClusterCsr", "HsmCertificate",
                             "ManufacturerHardwareCertificate"]
    csr = x509.load_pem_x509_csr(certs["ClusterCsr"].encode())
    assert csr.is_signature_valid
    hsm_cert = x509.load_pem_x509_certificate(certs["HsmCertificate"].encode())
    assert hsm_cert.public_key() == csr.public_key()
    assert len(cluster["Hsms"]) == 1


def test_initialize_checks_the_certificate(hsmkms_server: ServerProcess) -> None:
    hsm = hsmkms_server.client("cloudhsmv2")
    cluster = uninitialized_cluster(hsmkms_server)
    cluster_id = cluster["ClusterId"]
    csr = cluster["Certificates"]["ClusterCsr"]
    ca, wrong = make_ca("Right CA"), make_ca("Wrong CA")
    cases = [
        (sign_csr(csr, wrong), ca.pem, "The signed certificate was not signed by the trust "
                                       "anchor."),
        (sign_csr(csr, ca), make_ca("Big CA", 3072).pem,
         "The trust anchor must have an RSA 2048 or RSA 4096 key."),
        (ca.pem, ca.pem, "The signed certificate was not issued for the cluster's certificate "
                         "signing request (CSR): its public key differs."),
        (sign_csr(csr, ca), "bm90IGEgY2VydGlmaWNhdGU=",
         "The trust anchor is not a valid PEM-encoded X.509 certificate."),
    ]
    for signed, anchor, problem in cases:
        with pytest.raises(ClientError) as exc:
            hsm.initialize_cluster(ClusterId=cluster_id, SignedCert=signed, TrustAnchor=anchor)
        assert error(exc) == ("CloudHsmInvalidRequestException", f"Invalid certificate: {problem}")
        assert describe(hsm, cluster_id)["State"] == "UNINITIALIZED"
    signed = sign_csr(csr, ca)
    answer = hsm.initialize_cluster(ClusterId=cluster_id, SignedCert=signed, TrustAnchor=ca.pem)
    assert {k: answer[k] for k in ("State", "StateMessage")} == {
        "State": "INITIALIZE_IN_PROGRESS",
        "StateMessage": "Cluster is initializing. State will change to INITIALIZED upon "
                        "completion."}
    done = wait_state(hsm, cluster_id, "INITIALIZED")
    assert done["Certificates"] == {"ClusterCertificate": signed}
    assert "StateMessage" not in done
    with pytest.raises(ClientError) as exc:
        hsm.initialize_cluster(ClusterId=cluster_id, SignedCert=signed, TrustAnchor=ca.pem)
    assert error(exc) == ("CloudHsmInvalidRequestException",
                          f"Cluster {cluster_id} cannot be initialized in state INITIALIZED: it "
                          "must be UNINITIALIZED and contain an HSM.")


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _cert(subject: x509.Name, public: Any, ca: Ca | None, key: Any, begin: dt.datetime,
          end: dt.datetime, basic: x509.BasicConstraints | None = None) -> x509.Certificate:
    builder = (x509.CertificateBuilder().subject_name(subject)
               .issuer_name(ca.cert.subject if ca else subject).public_key(public)
               .serial_number(x509.random_serial_number())
               .not_valid_before(begin).not_valid_after(end))
    if basic is not None:
        builder = builder.add_extension(basic, critical=True)
    return builder.sign(key, hashes.SHA256())


def _when(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_initialize_checks_validity_on_the_clock_and_wants_a_ca(
        hsmkms_server: ServerProcess) -> None:
    hsm = hsmkms_server.client("cloudhsmv2")
    cluster = uninitialized_cluster(hsmkms_server)
    cluster_id = cluster["ClusterId"]
    csr = x509.load_pem_x509_csr(cluster["Certificates"]["ClusterCsr"].encode())
    ca = make_ca()
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    day = dt.timedelta(days=1)
    expired = _cert(csr.subject, csr.public_key(), ca, ca.key, now - 30 * day, now - day)
    not_ca = _cert(ca.cert.subject, ca.key.public_key(), None, ca.key, now - day, now + day,
                   x509.BasicConstraints(ca=False, path_length=None))
    short = _cert(ca.cert.subject, ca.key.public_key(), None, ca.key, now - day, now + 2 * day,
                  x509.BasicConstraints(ca=True, path_length=None))
    cases = [
        (_pem(expired), ca.pem, "The signed certificate has expired: its validity ended at "
                                f"{_when(now - day)}."),
        (sign_csr(cluster["Certificates"]["ClusterCsr"], ca), _pem(not_ca),
         "The trust anchor is not a CA certificate: its Basic Constraints extension says "
         "CA:FALSE."),
    ]
    for signed, anchor, problem in cases:
        with pytest.raises(ClientError) as exc:
            hsm.initialize_cluster(ClusterId=cluster_id, SignedCert=signed, TrustAnchor=anchor)
        assert error(exc) == ("CloudHsmInvalidRequestException", f"Invalid certificate: {problem}")
    # Validity is judged at the server's clock time: three days on, the 2-day anchor is over.
    signed = sign_csr(cluster["Certificates"]["ClusterCsr"], Ca(ca.key, short))
    hsmkms_server.advance(3 * 86400)
    with pytest.raises(ClientError) as exc:
        hsm.initialize_cluster(ClusterId=cluster_id, SignedCert=signed, TrustAnchor=_pem(short))
    assert error(exc) == ("CloudHsmInvalidRequestException",
                          "Invalid certificate: The trust anchor has expired: its validity "
                          f"ended at {_when(now + 2 * day)}.")
    assert describe(hsm, cluster_id)["State"] == "UNINITIALIZED"
    hsm.initialize_cluster(ClusterId=cluster_id, SignedCert=sign_csr(
        cluster["Certificates"]["ClusterCsr"], ca), TrustAnchor=ca.pem)
    wait_state(hsm, cluster_id, "INITIALIZED")


def test_initialize_needs_the_first_hsm(hsmkms_server: ServerProcess) -> None:
    hsm = hsmkms_server.client("cloudhsmv2")
    cluster_id = uninitialized_cluster(hsmkms_server, with_hsm=False)["ClusterId"]
    ca = make_ca()
    with pytest.raises(ClientError) as exc:
        hsm.initialize_cluster(ClusterId=cluster_id, SignedCert=ca.pem, TrustAnchor=ca.pem)
    assert error(exc) == ("CloudHsmInvalidRequestException",
                          f"Cluster {cluster_id} has no certificate signing request yet: wait "
                          "until its first HSM is ACTIVE.")


def test_activation_then_more_hsms_and_deletions(hsmkms_server: ServerProcess) -> None:
    hsm = hsmkms_server.client("cloudhsmv2")
    ec2 = hsmkms_server.client("ec2")
    cluster, _ca = initialized_cluster(hsmkms_server)
    cluster_id = cluster["ClusterId"]
    zones = sorted(cluster["SubnetMapping"])
    with pytest.raises(ClientError) as exc:  # INITIALIZED is not yet "fully activated"
        hsm.create_hsm(ClusterId=cluster_id, AvailabilityZone=zones[1])
    assert error(exc)[0] == "CloudHsmInvalidRequestException"
    assert activate(hsmkms_server, cluster_id)["error_code"] == 0
    assert describe(hsm, cluster_id)["State"] == "ACTIVE"
    second = hsm.create_hsm(ClusterId=cluster_id, AvailabilityZone=zones[1],
                            IpAddress="172.31.16.20")["Hsm"]
    assert second["EniIp"] == "172.31.16.20"
    third = hsm.create_hsm(ClusterId=cluster_id, AvailabilityZone=zones[1])["Hsm"]
    cluster = wait_hsms_active(hsm, cluster_id, 3)
    first = cluster["Hsms"][0]
    # DeleteHsm by each selector; the answer is only the HSM id.
    answer = hsm.delete_hsm(ClusterId=cluster_id, EniIp=second["EniIp"])
    assert {k: v for k, v in answer.items() if k != "ResponseMetadata"} == {
        "HsmId": second["HsmId"]}
    hsm.delete_hsm(ClusterId=cluster_id, EniId=third["EniId"])
    with pytest.raises(ClientError) as exc:
        hsm.delete_cluster(ClusterId=cluster_id)
    assert error(exc) == ("CloudHsmInvalidRequestException",
                          f"Cluster {cluster_id} contains HSMs. Delete all HSMs in the cluster "
                          "before deleting it.")
    hsm.delete_hsm(ClusterId=cluster_id, HsmId=first["HsmId"])
    states = [h["State"] for h in describe(hsm, cluster_id)["Hsms"]]
    assert states == ["DELETE_IN_PROGRESS"] * 3
    with pytest.raises(ClientError) as exc:
        hsm.delete_hsm(ClusterId=cluster_id, HsmId=first["HsmId"])
    assert error(exc) == ("CloudHsmInvalidRequestException",
                          f"HSM {first['HsmId']} cannot be deleted in state DELETE_IN_PROGRESS.")
    cluster = wait_for(lambda: describe(hsm, cluster_id), lambda c: c["Hsms"] == [])
    assert cluster["State"] == "ACTIVE"  # an ACTIVE cluster stays ACTIVE with no HSMs
    enis = ec2.describe_network_interfaces()["NetworkInterfaces"]
    assert not {first["EniId"], second["EniId"], third["EniId"]} & {e["NetworkInterfaceId"]
                                                                    for e in enis}
    deleting = hsm.delete_cluster(ClusterId=cluster_id)["Cluster"]
    assert deleting["State"] == "DELETE_IN_PROGRESS"
    assert deleting["StateMessage"] == "The cluster is being deleted."
    wait_state(hsm, cluster_id, "DELETED")
    listed = hsm.describe_clusters(Filters={"states": ["DELETED"]})["Clusters"]
    assert [c["ClusterId"] for c in listed] == [cluster_id]
    assert hsm.describe_clusters(Filters={"states": ["ACTIVE"]})["Clusters"] == []
    groups = ec2.describe_security_groups()["SecurityGroups"]
    assert cluster["SecurityGroup"] not in {g["GroupId"] for g in groups}
    with pytest.raises(ClientError) as exc:
        hsm.delete_cluster(ClusterId=cluster_id)
    assert error(exc) == ("CloudHsmResourceNotFoundException", f"Cluster {cluster_id} not found.")


def test_an_initialized_cluster_that_lost_its_hsm_gets_a_new_first_one(
        hsmkms_server: ServerProcess) -> None:
    hsm = hsmkms_server.client("cloudhsmv2")
    cluster, _ca = initialized_cluster(hsmkms_server)
    cluster_id = cluster["ClusterId"]
    hsm.delete_hsm(ClusterId=cluster_id, HsmId=cluster["Hsms"][0]["HsmId"])
    wait_for(lambda: describe(hsm, cluster_id), lambda c: c["Hsms"] == [])
    refused = activate(hsmkms_server, cluster_id)  # no HSM left to activate
    assert (refused["error_code"], refused["data"]) == (1, "The cluster has no active HSM.")
    hsm.create_hsm(ClusterId=cluster_id, AvailabilityZone="us-east-1b")
    with pytest.raises(ClientError) as exc:
        hsm.create_hsm(ClusterId=cluster_id, AvailabilityZone="us-east-1a")
    assert error(exc) == ("CloudHsmInvalidRequestException",
                          f"Cluster '{cluster_id}' already contains an HSM but has not yet been "
                          "fully activated")
    done = wait_hsms_active(hsm, cluster_id, 1)
    assert (done["State"], done["Certificates"]) == ("INITIALIZED", cluster["Certificates"])
    assert activate(hsmkms_server, cluster_id)["error_code"] == 0
    assert describe(hsm, cluster_id)["State"] == "ACTIVE"


def test_hsm_placement_errors_change_nothing(hsmkms_server: ServerProcess) -> None:
    hsm = hsmkms_server.client("cloudhsmv2")
    cluster, _ca = active_cluster(hsmkms_server)
    cluster_id = cluster["ClusterId"]
    zones = sorted(cluster["SubnetMapping"])
    taken = cluster["Hsms"][0]["EniIp"]
    cases = [
        ({"AvailabilityZone": "us-east-1f"},
         f"Availability zone us-east-1f is not in the subnet mapping of cluster {cluster_id} "
         f"(valid availability zones: {', '.join(zones)})."),
        ({"AvailabilityZone": zones[0], "IpAddress": taken},
         f"The IP address {taken} cannot be used in subnet {cluster['SubnetMapping'][zones[0]]}: "
         "The specified address is already in use"),
        ({"AvailabilityZone": zones[0], "IpAddress": "10.9.9.9"},
         f"The IP address 10.9.9.9 cannot be used in subnet "
         f"{cluster['SubnetMapping'][zones[0]]}: Address 10.9.9.9 does not fall within the "
         "subnet's address range"),
    ]
    for args, text in cases:
        with pytest.raises(ClientError) as exc:
            hsm.create_hsm(ClusterId=cluster_id, **args)
        assert error(exc) == ("CloudHsmInvalidRequestException", text)
    assert len(describe(hsm, cluster_id)["Hsms"]) == 1
    with pytest.raises(ClientError) as exc:
        hsm.create_hsm(ClusterId="cluster-aaaaaaaaaaa", AvailabilityZone=zones[0])
    assert error(exc) == ("CloudHsmResourceNotFoundException",
                          "Cluster cluster-aaaaaaaaaaa not found.")
    with pytest.raises(ClientError) as exc:
        hsm.delete_hsm(ClusterId=cluster_id, HsmId="hsm-aaaaaaaaaaa")
    assert error(exc) == ("CloudHsmResourceNotFoundException",
                          f"HSM not found in cluster {cluster_id}: HsmId hsm-aaaaaaaaaaa.")
    only = cluster["Hsms"][0]
    for selectors in ({}, {"HsmId": only["HsmId"], "EniIp": only["EniIp"]},
                      {"HsmId": only["HsmId"], "EniId": only["EniId"], "EniIp": only["EniIp"]}):
        with pytest.raises(ClientError) as exc:
            hsm.delete_hsm(ClusterId=cluster_id, **selectors)
        assert error(exc) == ("CloudHsmInvalidRequestException",
                              "Specify the HSM to delete with exactly one of HsmId, EniId or "
                              "EniIp.")
    assert [h["State"] for h in describe(hsm, cluster_id)["Hsms"]] == ["ACTIVE"]


def test_create_hsm_where_the_network_is_gone_or_full(hsmkms_server: ServerProcess) -> None:
    hsm = hsmkms_server.client("cloudhsmv2")
    ec2 = hsmkms_server.client("ec2")
    vpc = ec2.describe_subnets(SubnetIds=subnets(hsmkms_server)[:1])["Subnets"][0]["VpcId"]
    tiny = ec2.create_subnet(VpcId=vpc, CidrBlock="172.31.200.0/28",
                             AvailabilityZone="us-east-1c")["Subnet"]["SubnetId"]
    mapped = [*subnets(hsmkms_server)[:2], tiny]
    cluster_id = hsm.create_cluster(HsmType="hsm1.medium",
                                    SubnetIds=mapped)["Cluster"]["ClusterId"]
    cluster = wait_state(hsm, cluster_id, "UNINITIALIZED")
    for _ in range(11):  # a /28 has 16 - 5 reserved addresses
        ec2.create_network_interface(SubnetId=tiny)
    ec2.delete_subnet(SubnetId=mapped[1])  # no ENI in it yet: EC2 lets the user delete it
    group = cluster["SecurityGroup"]
    cases = [
        ("us-east-1b", f"Subnet {mapped[1]}, which cluster {cluster_id} uses in availability "
                       "zone us-east-1b, no longer exists: no HSM can be created in us-east-1b."),
        ("us-east-1c", f"Subnet {tiny} of availability zone us-east-1c has no free IP address "
                       "for a new HSM."),
    ]
    for zone, text in cases:
        with pytest.raises(ClientError) as exc:
            hsm.create_hsm(ClusterId=cluster_id, AvailabilityZone=zone)
        assert error(exc) == ("CloudHsmInvalidRequestException", text)
    ec2.delete_security_group(GroupId=group)  # no HSM uses it yet
    with pytest.raises(ClientError) as exc:
        hsm.create_hsm(ClusterId=cluster_id, AvailabilityZone="us-east-1a")
    assert error(exc) == ("CloudHsmInvalidRequestException",
                          f"Security group {group} of cluster {cluster_id} no longer exists: "
                          "no HSM can be created in the cluster.")
    assert describe(hsm, cluster_id)["Hsms"] == []
    enis = ec2.describe_network_interfaces()["NetworkInterfaces"]
    assert {e["SubnetId"] for e in enis} == {tiny}


def test_quotas_count_live_resources_only(tmp_path: Any) -> None:
    server = ServerProcess(tmp_path / "data", env={"HSMKMS_MAX_HSMS": "2"}).start()
    try:
        hsm = server.client("cloudhsmv2")
        ids = subnets(server)[:2]
        made = [hsm.create_cluster(HsmType="hsm1.medium", SubnetIds=ids)["Cluster"]["ClusterId"]
                for _ in range(4)]
        with pytest.raises(ClientError) as exc:
            hsm.create_cluster(HsmType="hsm1.medium", SubnetIds=ids)
        assert error(exc) == ("CloudHsmInvalidRequestException",
                              "You have reached the limit of 4 clusters per Region for this "
                              "account.")
        assert count_clusters(hsm) == 4
        for cluster_id in made[1:]:
            wait_state(hsm, cluster_id, "UNINITIALIZED")
            hsm.delete_cluster(ClusterId=cluster_id)
            wait_state(hsm, cluster_id, "DELETED")
        wait_state(hsm, made[0], "UNINITIALIZED")
        spare = hsm.create_cluster(HsmType="hsm1.medium", SubnetIds=ids)["Cluster"]["ClusterId"]
        for cluster_id in (made[0], spare):
            wait_state(hsm, cluster_id, "UNINITIALIZED")
            hsm.create_hsm(ClusterId=cluster_id, AvailabilityZone="us-east-1a")
        third = hsm.create_cluster(HsmType="hsm1.medium", SubnetIds=ids)["Cluster"]["ClusterId"]
        wait_state(hsm, third, "UNINITIALIZED")
        with pytest.raises(ClientError) as exc:
            hsm.create_hsm(ClusterId=third, AvailabilityZone="us-east-1a")
        assert error(exc) == ("CloudHsmInvalidRequestException",
                              "You have reached the limit of 2 HSMs per Region for this account.")
        # A deleted HSM stops counting once it is gone (while being deleted it still exists).
        victim = wait_hsms_active(hsm, spare, 1)["Hsms"][0]["HsmId"]
        hsm.delete_hsm(ClusterId=spare, HsmId=victim)
        with pytest.raises(ClientError) as exc:
            hsm.create_hsm(ClusterId=third, AvailabilityZone="us-east-1a")
        assert error(exc)[1] == "You have reached the limit of 2 HSMs per Region for this account."
        wait_for(lambda: describe(hsm, spare), lambda c: c["Hsms"] == [])
        made_hsm = hsm.create_hsm(ClusterId=third, AvailabilityZone="us-east-1a")["Hsm"]
        assert made_hsm["State"] == "CREATE_IN_PROGRESS"
        assert sum(len(c["Hsms"]) for c in hsm.describe_clusters()["Clusters"]) == 2
    finally:
        server.kill()


def test_bad_input_gets_aws_errors_and_changes_nothing(hsmkms_server: ServerProcess,
                                                       raw: Any) -> None:
    hsm = hsmkms_server.client("cloudhsmv2")
    ec2 = hsmkms_server.client("ec2")
    ids = subnets(hsmkms_server)
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    elsewhere = ec2.create_subnet(VpcId=vpc, CidrBlock="10.20.1.0/24",
                                  AvailabilityZone="us-east-1b")["Subnet"]["SubnetId"]
    default_vpc = ec2.describe_subnets(SubnetIds=[ids[0]])["Subnets"][0]["VpcId"]
    twin = ec2.create_subnet(VpcId=default_vpc, CidrBlock="172.31.200.0/24",
                             AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    validation = [
        (dict(HsmType="hsm1.medium", SubnetIds=ids[:1], SourceBackupId="backup-1"),
         "1 validation error detected: Value 'backup-1' at 'sourceBackupId' failed to satisfy "
         "constraint: Member must satisfy regular expression pattern: "),
        (dict(HsmType="hsm1.medium", SubnetIds=["subnet-xyz"]),
         "1 validation error detected: Value 'subnet-xyz' at 'subnetIds.1.member' failed to "
         "satisfy constraint: Member must satisfy regular expression pattern: "
         "subnet-[0-9a-fA-F]{8,17}"),
        (dict(HsmType="hsm1.medium", SubnetIds=ids[:1],
              BackupRetentionPolicy={"Type": "DAYS", "Value": "1234"}),
         "1 validation error detected: Value '1234' at 'backupRetentionPolicy.value' failed to "
         "satisfy constraint: Member must have length less than or equal to 3"),
    ]
    for args, text in validation:
        with pytest.raises(ClientError) as exc:
            hsm.create_cluster(**args)
        code, message = error(exc)
        assert code == "ValidationException"
        assert message.startswith(text)
    invalid = [
        (dict(HsmType="hsm9.medium", SubnetIds=ids[:1]),
         "HSM type 'hsm9.medium' is not supported. Valid HSM types: hsm1.medium, hsm2m.medium."),
        (dict(HsmType="hsm1.medium", SubnetIds=ids[:1],
              BackupRetentionPolicy={"Type": "DAYS", "Value": "6"}),
         "Backup retention period '6' is not valid. Specify a number of days between 7 and 379."),
        (dict(HsmType="hsm1.medium", SubnetIds=ids[:1],
              BackupRetentionPolicy={"Type": "DAYS", "Value": "380"}),
         "Backup retention period '380' is not valid. Specify a number of days between 7 and "
         "379."),
        (dict(HsmType="hsm1.medium", SubnetIds=ids[:1], Mode="NON_FIPS"),
         "NON_FIPS mode requires HSM type hsm2m.medium."),
        (dict(HsmType="hsm1.medium", SubnetIds=["subnet-0123456789abcdef0"]),
         "Subnet subnet-0123456789abcdef0 does not exist."),
        (dict(HsmType="hsm1.medium", SubnetIds=[ids[0], twin]),
         f"Subnets {ids[0]} and {twin} are both in availability zone us-east-1a; specify at "
         "most one subnet per availability zone."),
        (dict(HsmType="hsm1.medium", SubnetIds=[ids[0], elsewhere]),
         f"All subnets must be in the same VPC; {ids[0]} is in {default_vpc} and {elsewhere} "
         f"is in {vpc}."),
    ]
    for args, text in invalid:
        with pytest.raises(ClientError) as exc:
            hsm.create_cluster(**args)
        assert error(exc) == ("CloudHsmInvalidRequestException", text)
    for filters, text in [({"bogus": ["x"]}, "Invalid filter 'bogus'. Valid filters: "
                           "clusterIds, vpcIds, states."),
                          ({"states": ["RUNNING"]}, "Invalid value 'RUNNING' for filter "
                           "'states'.")]:
        with pytest.raises(ClientError) as exc:
            hsm.describe_clusters(Filters=filters)
        assert error(exc) == ("CloudHsmInvalidRequestException", text)
    for bad, rule in ((0, "greater than or equal to 1"), (26, "less than or equal to 25")):
        status, _headers, body = raw(hsmkms_server, "BaldrApiService.DescribeClusters",
                                     {"MaxResults": bad})
        assert status == 400
        assert json.loads(body) == {
            "__type": "ValidationException",
            "Message": f"1 validation error detected: Value '{bad}' at 'maxResults' failed to "
                       f"satisfy constraint: Member must have value {rule}"}
    with pytest.raises(ClientError) as exc:
        hsm.describe_clusters(NextToken="not-a-token")
    assert error(exc) == ("CloudHsmInvalidRequestException", "The NextToken value is not valid.")
    with pytest.raises(ClientError) as exc:
        hsm.delete_cluster(ClusterId="cluster-UPPER1")
    assert error(exc) == ("ValidationException",
                          "1 validation error detected: Value 'cluster-UPPER1' at 'clusterId' "
                          "failed to satisfy constraint: Member must satisfy regular expression "
                          "pattern: cluster-[2-7a-zA-Z]{11,16}")
    assert count_clusters(hsm) == 0
    groups = ec2.describe_security_groups()["SecurityGroups"]
    assert not [g for g in groups if g["GroupName"].startswith("cloudhsm-cluster-")]


def test_describe_clusters_pages_and_filters(hsmkms_server: ServerProcess) -> None:
    hsm = hsmkms_server.client("cloudhsmv2")
    ids = subnets(hsmkms_server)[:2]
    made = [hsm.create_cluster(HsmType="hsm1.medium", SubnetIds=ids)["Cluster"]
            for _ in range(3)]
    first = hsm.describe_clusters(MaxResults=2)
    assert [c["ClusterId"] for c in first["Clusters"]] == [c["ClusterId"] for c in made[:2]]
    rest = hsm.describe_clusters(MaxResults=2, NextToken=first["NextToken"])
    assert [c["ClusterId"] for c in rest["Clusters"]] == [made[2]["ClusterId"]]
    assert "NextToken" not in rest
    pages = hsm.get_paginator("describe_clusters").paginate(PaginationConfig={"PageSize": 1})
    assert [c["ClusterId"] for p in pages for c in p["Clusters"]] == [c["ClusterId"]
                                                                     for c in made]
    picked = hsm.describe_clusters(Filters={"clusterIds": [made[1]["ClusterId"]],
                                            "vpcIds": [made[1]["VpcId"]]})["Clusters"]
    assert [c["ClusterId"] for c in picked] == [made[1]["ClusterId"]]
    assert hsm.describe_clusters(Filters={"vpcIds": ["vpc-00000000"]})["Clusters"] == []


def test_tags_on_clusters(hsmkms_server: ServerProcess) -> None:
    hsm = hsmkms_server.client("cloudhsmv2")
    cluster_id = hsm.create_cluster(HsmType="hsm1.medium", SubnetIds=subnets(hsmkms_server)[:1],
                                    TagList=[{"Key": "a", "Value": "1"}])["Cluster"]["ClusterId"]
    hsm.tag_resource(ResourceId=cluster_id, TagList=[{"Key": "b", "Value": "2"},
                                                     {"Key": "a", "Value": "3"}])
    assert hsm.list_tags(ResourceId=cluster_id)["TagList"] == [{"Key": "a", "Value": "3"},
                                                               {"Key": "b", "Value": "2"}]
    first = hsm.list_tags(ResourceId=cluster_id, MaxResults=1)
    assert first["TagList"] == [{"Key": "a", "Value": "3"}]
    second = hsm.list_tags(ResourceId=cluster_id, MaxResults=1, NextToken=first["NextToken"])
    assert second["TagList"] == [{"Key": "b", "Value": "2"}]
    assert "NextToken" not in second
    hsm.untag_resource(ResourceId=cluster_id, TagKeyList=["a", "zzz"])
    assert describe(hsm, cluster_id)["TagList"] == [{"Key": "b", "Value": "2"}]
    many = [{"Key": f"k{i}", "Value": "v"} for i in range(50)]
    with pytest.raises(ClientError) as exc:
        hsm.tag_resource(ResourceId=cluster_id, TagList=many)
    assert error(exc) == ("CloudHsmResourceLimitExceededException",
                          f"The resource {cluster_id} would have 51 tags; a resource can have "
                          "at most 50 tags.")
    assert hsm.list_tags(ResourceId=cluster_id)["TagList"] == [{"Key": "b", "Value": "2"}]
    with pytest.raises(ClientError) as exc:
        hsm.list_tags(ResourceId="cluster-aaaaaaaaaaa")
    assert error(exc)[0] == "CloudHsmResourceNotFoundException"
    hsm.untag_resource(ResourceId=cluster_id, TagKeyList=["b"])
    assert hsm.list_tags(ResourceId=cluster_id)["TagList"] == []


def test_realistic_timing_and_jobs_survive_a_kill(tmp_path: Any) -> None:
    server = ServerProcess(tmp_path / "data", env={"HSMKMS_TIMING": "realistic"}).start()
    try:
        hsm = server.client("cloudhsmv2")
        cluster_id = hsm.create_cluster(HsmType="hsm1.medium",
                                        SubnetIds=subnets(server)[:2])["Cluster"]["ClusterId"]
        server.advance(170)
        assert describe(hsm, cluster_id)["State"] == "CREATE_IN_PROGRESS"
        server.restart(hard=True)
        hsm = server.client("cloudhsmv2")
        server.advance(15)
        assert describe(hsm, cluster_id)["State"] == "UNINITIALIZED"
        hsm.create_hsm(ClusterId=cluster_id, AvailabilityZone="us-east-1a")
        server.advance(400)
        assert describe(hsm, cluster_id)["Hsms"][0]["State"] == "CREATE_IN_PROGRESS"
        server.advance(30)
        assert describe(hsm, cluster_id)["Hsms"][0]["State"] == "ACTIVE"
    finally:
        server.kill()


def test_hsm_type_migration(hsmkms_server: ServerProcess) -> None:
    hsm = hsmkms_server.client("cloudhsmv2")
    cluster, _ca = active_cluster(hsmkms_server)
    cluster_id = cluster["ClusterId"]
    with pytest.raises(ClientError) as exc:
        hsm.modify_cluster(ClusterId=cluster_id, HsmType="hsm3.medium")
    assert error(exc) == ("CloudHsmInvalidRequestException",
                          "HSM type 'hsm3.medium' is not supported. Valid HSM types: "
                          "hsm1.medium, hsm2m.medium.")
    moving = hsm.modify_cluster(ClusterId=cluster_id, HsmType="hsm2m.medium")["Cluster"]
    assert (moving["State"], moving["HsmType"]) == ("MODIFY_IN_PROGRESS", "hsm2m.medium")
    assert "HsmTypeRollbackExpiration" in moving
    with pytest.raises(ClientError) as exc:
        hsm.create_hsm(ClusterId=cluster_id, AvailabilityZone="us-east-1a")
    assert error(exc) == ("CloudHsmInvalidRequestException",
                          f"HSMs cannot be created in cluster {cluster_id} while it is in state "
                          "MODIFY_IN_PROGRESS.")
    done = wait_state(hsm, cluster_id, "ACTIVE")
    assert [h["HsmType"] for h in done["Hsms"]] == ["hsm2m.medium"]
