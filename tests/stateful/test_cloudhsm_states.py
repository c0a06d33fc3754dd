"""Hypothesis stateful test of the CloudHSM lifecycles (clusters, HSMs, backups) and the
addresses they take, through boto3 against an in-process app (``hsmkms.testing.InProcess``).

The app runs the ``realistic`` timing profile, so nothing finishes on its own in real time:
every rule acts, checks the immediate answer, then advances the clock past every transition it
started ("settles"), and ``advance_days`` moves the clock by days (daily backups, the 7-day
pending deletion, retention purges, forgetting DELETED clusters after 24 h). The model knows
each cluster's settled state and HSMs; backups are learned by observation. Invariants:

* DescribeClusters lists exactly the model's clusters, in their states, with exactly the HSMs
  created minus those deleted, all ACTIVE; a DELETED cluster is listed for 24 h, then not;
* DeleteCluster succeeds only with zero HSMs (checked in the rule);
* a backup never disappears, and each change of its state is a path of the backup transition
  table (``hsmkms.cloudhsm.lifecycle.BACKUP``);
* every subnet's AvailableIpAddressCount is its size - 5 - the ENIs in it;
* never more than 4 live clusters and 6 live HSMs (the default quotas).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from hsmkms.cloudhsm.lifecycle import BACKUP
from hsmkms.cloudhsm.model import BackupState
from hsmkms.http import HttpRequest
from hsmkms.testing import InProcess

DAY = 86400.0
SETTLE = 2000.0  # longer than any transition of the realistic profile used here
MAX_CLUSTERS, MAX_HSMS = 4, 6
ZONES = ("us-east-1a", "us-east-1b")
ADMIN = "Admin-Password1"
_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _ca() -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lifecycle CA")])
    now = dt.datetime.now(dt.UTC)
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(_KEY.public_key()).serial_number(1)
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(_KEY, hashes.SHA256()))


CA = _ca()


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _sign(csr_pem: str) -> str:
    csr = x509.load_pem_x509_csr(csr_pem.encode())
    return _pem(x509.CertificateBuilder().subject_name(csr.subject).issuer_name(CA.subject)
                .public_key(csr.public_key()).serial_number(2)
                .not_valid_before(CA.not_valid_before_utc)
                .not_valid_after(CA.not_valid_after_utc).sign(_KEY, hashes.SHA256()))


def _reachable() -> dict[str, set[str]]:
    """State -> every state the backup table can lead to (itself included)."""
    steps: dict[str, set[str]] = {str(s): {str(s)} for s in BackupState}
    for (start, _event), end in BACKUP.items():
        steps[str(start)].add(str(end))
    changed = True
    while changed:
        changed = False
        for state, targets in steps.items():
            more = set().union(*(steps[t] for t in targets)) - targets
            steps[state] = targets | more
            changed = changed or bool(more)
    return steps


REACHABLE = _reachable()


@dataclass
class ModelCluster:
    state: str = "UNINITIALIZED"
    hsms: list[str] = field(default_factory=list)  # in creation order
    created: int = 0
    deleted: int = 0
    forget_at: float = 0.0  # clock time after which a DELETED cluster is no longer listed


def _code(err: ClientError) -> tuple[str, str]:
    return str(err.response["Error"]["Code"]), str(err.response["Error"]["Message"])


class CloudHsmLifecycle(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = tempfile.mkdtemp()
        self.inproc = InProcess(Path(self.tmp), timing="realistic")
        self.hsm = self.inproc.client("cloudhsmv2")
        self.ec2 = self.inproc.client("ec2")
        found = self.ec2.describe_subnets()["Subnets"]
        self.subnets = [s["SubnetId"] for s in sorted(found, key=lambda s: s["AvailabilityZone"])
                        if s["AvailabilityZone"] in ZONES]
        self.clusters: dict[str, ModelCluster] = {}
        # Everything in creation order, never sorted: IDs are random, so sorting them would make
        # the same Hypothesis choices pick other resources on a replay.
        self.forgotten: list[str] = []
        self.backups: dict[str, str] = {}  # backup id -> last observed state

    def teardown(self) -> None:
        self.inproc.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    # -- helpers ------------------------------------------------------------------------------

    def now(self) -> float:
        return self.inproc.app.clock.now()

    def settle(self) -> None:
        self.inproc.advance(SETTLE)

    def call(self, method: str, **kwargs: Any) -> tuple[dict[str, Any] | None, tuple[str, str]]:
        try:
            return getattr(self.hsm, method)(**kwargs), ("", "")
        except ClientError as err:
            return None, _code(err)

    def pick(self, data: st.DataObject, *states: str, with_hsms: bool | None = None) -> str:
        """A cluster id: half the time one the action can succeed on (in one of ``states``,
        with or without HSMs as asked), else any known one, forgotten ones included."""
        fit = [i for i, c in self.clusters.items() if (not states or c.state in states)
               and (with_hsms is None or bool(c.hsms) == with_hsms)]
        known = [*self.clusters, *self.forgotten]
        choices = st.sampled_from(known)
        if fit:
            choices = st.sampled_from(fit) | choices
        return data.draw(choices)

    def live(self) -> list[ModelCluster]:
        return [c for c in self.clusters.values() if c.state != "DELETED"]

    def gone_message(self, cluster_id: str) -> tuple[str, str] | None:
        if cluster_id in self.forgotten or self.clusters[cluster_id].state == "DELETED":
            return ("CloudHsmResourceNotFoundException", f"Cluster {cluster_id} not found.")
        return None

    def listed(self) -> dict[str, dict[str, Any]]:
        pages = self.hsm.get_paginator("describe_clusters").paginate()
        return {c["ClusterId"]: c for p in pages for c in p["Clusters"]}

    def cluster_backups(self, cluster_id: str) -> int:
        return len(self.hsm.describe_backups(Filters={"clusterIds": [cluster_id]})["Backups"])

    # -- clusters -----------------------------------------------------------------------------

    @precondition(lambda self: len(self.live()) < MAX_CLUSTERS)
    @rule()
    def create_cluster(self) -> None:
        self.create_cluster_at_quota()

    @precondition(lambda self: len(self.live()) >= MAX_CLUSTERS)
    @rule()
    def create_cluster_at_quota(self) -> None:
        answer, error = self.call("create_cluster", HsmType="hsm1.medium",
                                  SubnetIds=self.subnets)
        if len(self.live()) >= MAX_CLUSTERS:
            quota = (f"You have reached the limit of {MAX_CLUSTERS} clusters per Region for "
                     "this account.")
            assert error == ("CloudHsmInvalidRequestException", quota)
            return
        assert answer is not None, error
        assert answer["Cluster"]["State"] == "CREATE_IN_PROGRESS"
        self.settle()
        self.clusters[answer["Cluster"]["ClusterId"]] = ModelCluster()

    @precondition(lambda self: self.clusters)
    @rule(data=st.data())
    def initialize(self, data: st.DataObject) -> None:
        self._initialize(self.pick(data, "UNINITIALIZED", with_hsms=True))

    def _initialize(self, cluster_id: str) -> None:
        listed = self.listed().get(cluster_id, {})
        csr = listed.get("Certificates", {}).get("ClusterCsr")
        _, error = self.call("initialize_cluster", ClusterId=cluster_id, TrustAnchor=_pem(CA),
                             SignedCert=_sign(csr) if csr else _pem(CA))
        model = self.clusters.get(cluster_id)
        expected = self.gone_message(cluster_id)
        if expected is None and model is not None and model.state == "UNINITIALIZED":
            no_csr = (f"Cluster {cluster_id} has no certificate signing request yet: wait "
                      "until its first HSM is ACTIVE.")
            expected = None if model.hsms else ("CloudHsmInvalidRequestException", no_csr)
        elif expected is None and model is not None:
            refused = (f"Cluster {cluster_id} cannot be initialized in state {model.state}: it "
                       "must be UNINITIALIZED and contain an HSM.")
            expected = ("CloudHsmInvalidRequestException", refused)
        assert error == (expected or ("", ""))
        if expected is None and model is not None:
            self.settle()
            model.state = "INITIALIZED"

    @precondition(lambda self: self.clusters)
    @rule(data=st.data())
    def activate(self, data: st.DataObject) -> None:
        self._activate(self.pick(data, "INITIALIZED", with_hsms=True))

    def _activate(self, cluster_id: str) -> None:
        before = self.cluster_backups(cluster_id) if cluster_id in self.clusters else 0
        body = json.dumps({"cluster_id": cluster_id, "token": "", "args": {"password": ADMIN}})
        resp = self.inproc.app.handle(HttpRequest(
            "POST", "/_hsmkms/cloudhsm-cli/cluster-activate",
            {"content-type": "application/json"}, body.encode()))
        answer = json.loads(resp.body)
        model = self.clusters.get(cluster_id)
        if self.gone_message(cluster_id) is not None or model is None:
            assert answer == {"error_code": 1, "data": f"Cluster {cluster_id} not found."}
        elif model.state == "INITIALIZED" and model.hsms:
            assert answer["error_code"] == 0, answer
            self.settle()
            model.state = "ACTIVE"
            assert self.cluster_backups(cluster_id) == before + 1  # the activation backup
        elif model.state == "INITIALIZED":
            assert answer == {"error_code": 1, "data": "The cluster has no active HSM."}
        elif model.state == "ACTIVE":
            assert answer == {"error_code": 1, "data": "The cluster is already activated."}
        else:
            assert answer == {"error_code": 1, "data": "The cluster must be INITIALIZED to be "
                                                       f"activated; it is {model.state}."}

    @precondition(lambda self: self.clusters)
    @rule(data=st.data())
    def delete_cluster(self, data: st.DataObject) -> None:
        cluster_id = self.pick(data, "UNINITIALIZED", "INITIALIZED", "ACTIVE", with_hsms=False)
        answer, error = self.call("delete_cluster", ClusterId=cluster_id)
        model = self.clusters.get(cluster_id)
        gone = self.gone_message(cluster_id)
        if gone is not None or model is None:
            assert error == gone
        elif model.hsms:  # DeleteCluster only succeeds with zero HSMs
            has_hsms = (f"Cluster {cluster_id} contains HSMs. Delete all HSMs in the cluster "
                        "before deleting it.")
            assert error == ("CloudHsmInvalidRequestException", has_hsms)
        else:
            assert answer is not None, error
            assert answer["Cluster"]["State"] == "DELETE_IN_PROGRESS"
            deleted_at = self.now() + 90.0  # realistic DELETE_CLUSTER, then listed for 24 h
            self.settle()
            model.state, model.forget_at = "DELETED", deleted_at + DAY

    @precondition(lambda self: any(c.state in ("UNINITIALIZED", "INITIALIZED")
                                   for c in self.clusters.values()))
    @rule(data=st.data())
    def bring_up(self, data: st.DataObject) -> None:
        """One cluster along the whole happy path to ACTIVE (random rules seldom chain it)."""
        cluster_id = data.draw(st.sampled_from([
            i for i, c in self.clusters.items() if c.state in ("UNINITIALIZED", "INITIALIZED")]))
        model = self.clusters[cluster_id]
        if not model.hsms:
            self._create_hsm(cluster_id, ZONES[0])
        if model.state == "UNINITIALIZED" and model.hsms:
            self._initialize(cluster_id)
        if model.hsms:
            self._activate(cluster_id)

    # -- HSMs ---------------------------------------------------------------------------------

    def _create_hsm_refusal(self, cluster_id: str) -> tuple[str, str] | None:
        gone = self.gone_message(cluster_id)
        if gone is not None:
            return gone
        model = self.clusters[cluster_id]
        if model.state in ("UNINITIALIZED", "INITIALIZED") and model.hsms:
            first = (f"Cluster '{cluster_id}' already contains an HSM but has not yet been "
                     "fully activated")
            return ("CloudHsmInvalidRequestException", first)
        if sum(len(c.hsms) for c in self.live()) >= MAX_HSMS:
            return ("CloudHsmInvalidRequestException",
                    f"You have reached the limit of {MAX_HSMS} HSMs per Region for this account.")
        return None

    @precondition(lambda self: self.clusters)
    @rule(data=st.data(), zone=st.sampled_from(ZONES))
    def create_hsm(self, data: st.DataObject, zone: str) -> None:
        fresh = [i for i, c in self.clusters.items()
                 if c.state in ("UNINITIALIZED", "INITIALIZED") and not c.hsms]
        cluster_id = (data.draw(st.sampled_from(fresh) | st.just(""))
                      if fresh else "") or self.pick(data, "ACTIVE")
        self._create_hsm(cluster_id, zone)

    def _create_hsm(self, cluster_id: str, zone: str) -> None:
        backups = self.cluster_backups(cluster_id)
        answer, error = self.call("create_hsm", ClusterId=cluster_id, AvailabilityZone=zone)
        refusal = self._create_hsm_refusal(cluster_id)
        if refusal is not None:
            assert error == refusal
            return
        assert answer is not None, error
        model = self.clusters[cluster_id]
        assert answer["Hsm"]["State"] == "CREATE_IN_PROGRESS"
        self.settle()
        model.hsms.append(answer["Hsm"]["HsmId"])
        model.created += 1
        if model.state == "ACTIVE":  # a backup when an HSM is added to an ACTIVE cluster
            assert self.cluster_backups(cluster_id) == backups + 1

    @precondition(lambda self: any(c.hsms for c in self.clusters.values()))
    @rule(data=st.data(), selector=st.sampled_from(("HsmId", "EniId", "EniIp")))
    def delete_hsm(self, data: st.DataObject, selector: str) -> None:
        cluster_id = data.draw(st.sampled_from([i for i, c in self.clusters.items() if c.hsms]))
        model = self.clusters[cluster_id]
        hsm_id = data.draw(st.sampled_from(model.hsms))
        listed = next(h for h in self.listed()[cluster_id]["Hsms"] if h["HsmId"] == hsm_id)
        backups = self.cluster_backups(cluster_id)
        answer, error = self.call("delete_hsm", ClusterId=cluster_id,
                                  **{selector: listed[selector]})
        assert answer is not None, error
        assert answer["HsmId"] == hsm_id
        self.settle()
        model.hsms.remove(hsm_id)
        model.deleted += 1
        if model.state == "ACTIVE":  # ... and when one is removed
            assert self.cluster_backups(cluster_id) == backups + 1

    # -- backups and time ---------------------------------------------------------------------

    @precondition(lambda self: self.backups)
    @rule(data=st.data(), restore=st.booleans())
    def delete_or_restore_backup(self, data: st.DataObject, restore: bool) -> None:  # noqa: FBT001
        wanted, verb = ("PENDING_DELETION", "restored") if restore else ("READY", "deleted")
        fit = [i for i, state in self.backups.items() if state == wanted]
        choices = st.sampled_from(list(self.backups))
        backup_id = data.draw(st.sampled_from(fit) | choices if fit else choices)
        state = self.backups[backup_id]
        answer, error = self.call("restore_backup" if restore else "delete_backup",
                                  BackupId=backup_id)
        if state != wanted:
            only = ("only backups in PENDING_DELETION can be restored." if restore
                    else "only READY backups can be deleted.")
            assert error == ("CloudHsmInvalidRequestException",
                             f"Backup {backup_id} cannot be {verb} in state {state}: {only}")
            return
        assert answer is not None, error
        assert answer["Backup"]["BackupState"] == ("READY" if restore else "PENDING_DELETION")

    @rule(days=st.sampled_from((1, 3, 8)))
    def advance_days(self, days: int) -> None:
        self.inproc.advance(days * DAY)

    # -- invariants ---------------------------------------------------------------------------

    @invariant()
    def clusters_and_hsms_match_the_model(self) -> None:
        listed, now = self.listed(), self.now()
        for cluster_id, model in list(self.clusters.items()):
            if model.state == "DELETED" and now > model.forget_at + 5:
                assert cluster_id not in listed
                del self.clusters[cluster_id]
                self.forgotten.append(cluster_id)
                continue
            if model.state == "DELETED" and now > model.forget_at - 5:
                listed.pop(cluster_id, None)  # at the 24 h boundary: either
                continue
            shown = listed.pop(cluster_id)
            assert shown["State"] == model.state
            assert [h["HsmId"] for h in shown["Hsms"]] == model.hsms
            assert {h["State"] for h in shown["Hsms"]} <= {"ACTIVE"}
            assert len(shown["Hsms"]) == model.created - model.deleted
        assert listed == {}  # nothing the model does not know
        assert len(self.live()) <= MAX_CLUSTERS
        assert sum(len(c.hsms) for c in self.live()) <= MAX_HSMS

    @invariant()
    def backups_follow_their_table(self) -> None:
        pages = self.hsm.get_paginator("describe_backups").paginate(SortAscending=True)
        seen = {b["BackupId"]: b for p in pages for b in p["Backups"]}
        # Only a DELETED backup disappears, 7 days after it became DELETED (and 7 more after
        # its deletion was asked): no step moves the clock 14 days, so the model saw it DELETED.
        gone = set(self.backups) - set(seen)
        assert all(self.backups[b] == "DELETED" for b in gone), {
            b: self.backups[b] for b in gone}
        for backup_id in gone:
            del self.backups[backup_id]
        for backup_id, backup in seen.items():
            state = backup["BackupState"]
            before = self.backups.get(backup_id, "CREATE_IN_PROGRESS")
            assert state in REACHABLE[before], (backup_id, before, state)
            assert backup["ClusterId"] in self.clusters or backup["ClusterId"] in self.forgotten
            self.backups[backup_id] = state

    @invariant()
    def addresses_are_accounted(self) -> None:
        enis = self.ec2.describe_network_interfaces()["NetworkInterfaces"]
        for subnet in self.ec2.describe_subnets()["Subnets"]:
            size = ipaddress.ip_network(subnet["CidrBlock"]).num_addresses
            used = sum(e["SubnetId"] == subnet["SubnetId"] for e in enis)
            assert subnet["AvailableIpAddressCount"] == size - 5 - used


CloudHsmLifecycle.TestCase.settings = settings(
    max_examples=40, stateful_step_count=30, deadline=None,
    suppress_health_check=[HealthCheck.too_slow])


def test_cloudhsm_state_machine() -> None:
    CloudHsmLifecycle.TestCase().runTest()
