"""The doctor's checks over facts built by hand (no server): every ConnectionErrorCode and
every crypto failure of the guide gets its cause and a fix with the ids in it."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from hsmkms.doctor import causes, checks, report
from hsmkms.doctor.checks import Status
from hsmkms.doctor.command import ask_login
from hsmkms.doctor.facts import (
    Backup,
    Cluster,
    Deletion,
    Facts,
    Hsm,
    HsmUser,
    HsmView,
    Key,
    KeyFacts,
    Probe,
    SecurityGroup,
    Store,
    StoreFacts,
    Subnet,
)
from hsmkms.kms import connection
from hsmkms.kms.keystores import ConnectionErrorCode

SID, CID, SG = "cks-1234567890abcdef0", "cluster-1a23b4cdefg", "sg-0123"
SUBNETS = {"us-east-1a": "subnet-a", "us-east-1b": "subnet-b"}


def _cert(subject: str, issuer_key: Any, issuer: str, key: Any) -> str:
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(1))
            .sign(issuer_key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


CA_KEY, OTHER_KEY, CLUSTER_KEY = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
ANCHOR = _cert("Customer CA", CA_KEY, "Customer CA", CA_KEY)
CLUSTER_CERT = _cert(CID, CA_KEY, "Customer CA", CLUSTER_KEY)
FOREIGN_CERT = _cert(CID, OTHER_KEY, "Customer CA", CLUSTER_KEY)


def facts(state: str = "CONNECTED", code: str | None = None, **kw: Any) -> StoreFacts:
    hsms = (Hsm("hsm-1", "us-east-1a", "subnet-a", "ACTIVE"),
            Hsm("hsm-2", "us-east-1b", "subnet-b", "ACTIVE"))
    base = StoreFacts(
        Store(SID, "ExampleKeyStore", CID, state, code, ANCHOR),
        Cluster(CID, "ACTIVE", "hsm1.medium", hsms, SUBNETS, SG, CLUSTER_CERT),
        (Subnet("subnet-a", "us-east-1a", 4000), Subnet("subnet-b", "us-east-1b", 4000)),
        SecurityGroup(SG, exists=True, inbound=True, outbound=True),
        (Backup("backup-old", "READY", 1.0), Backup("backup-new", "READY", 2.0),
         Backup("backup-gone", "DELETED", 3.0)),
        hsm=HsmView(users=(HsmUser("admin", "admin", "false", "full"),
                           HsmUser("kmsuser", "crypto-user", "false", "full"))))
    return dataclasses.replace(base, **kw)


def by_check(f: StoreFacts) -> dict[str, checks.Finding]:
    return {x.check: x for x in checks.run(Facts("us-east-1", None, (f,)))}


def test_a_healthy_store_passes_every_check() -> None:
    found = by_check(facts(probe=Probe("GenerateRandom")))
    assert list(found) == ["store.crypto", "store.connection", "cluster.state", "cluster.hsms",
                           "cluster.subnets", "cluster.security-group", "hsm.kmsuser",
                           "store.trust-anchor", "trail.deletions"]
    assert {x.status for x in found.values()} == {Status.OK}


@pytest.mark.parametrize("code", list(ConnectionErrorCode))
def test_every_connection_error_code_has_the_guides_cause_and_fix(code: str) -> None:
    """The table covers the server's whole enum; a FAILED store must be disconnected before it
    is connected again (the guide's note), and the fix names the store."""
    f = checks.connection(facts("FAILED", code))
    assert (f.status, f.cause) == (Status.FAIL, code)
    assert f.guide == causes.CONNECTION_ERRORS[code].guide
    assert causes.CONNECTION_ERRORS[code].meaning in f.summary
    disconnect = f"aws kms disconnect-custom-key-store --custom-key-store-id {SID}"
    connect = f"aws kms connect-custom-key-store --custom-key-store-id {SID}"
    assert disconnect in f.fix
    assert f.fix.index(disconnect) < f.fix.index(connect)
    assert f.fix[-1] == f"aws kms describe-custom-key-stores --custom-key-store-id {SID}"


def test_fixes_of_the_cluster_codes_fill_in_the_latest_backup_and_the_subnets() -> None:
    f = checks.connection(facts("FAILED", "CLUSTER_NOT_FOUND", cluster=None, subnets=()))
    assert f.fix[:3] == (
        f"aws cloudhsmv2 describe-clusters --filters clusterIds={CID}",
        f"aws cloudhsmv2 describe-backups --filters clusterIds={CID}",
        ("aws cloudhsmv2 create-cluster --hsm-type hsm1.medium --subnet-ids <subnet-id> "
        "<subnet-id> --source-backup-id backup-new"))
    gone = (Subnet("subnet-a", "us-east-1a", 10), Subnet("subnet-b", "us-east-1b", None))
    f = checks.connection(facts("FAILED", "SUBNET_NOT_FOUND", subnets=gone))
    assert f.fix[1] == ("aws cloudhsmv2 create-cluster --hsm-type hsm1.medium --subnet-ids "
                        "subnet-a <subnet-id> --source-backup-id backup-new")


@pytest.mark.parametrize(("message", "name"), [
    (connection.CANNOT_COMMUNICATE, "NETWORK"),
    (connection.LOCKED_OUT, "KMSUSER_LOCKED_OUT"),
    (connection.NO_SESSIONS, "PKCS11_SESSIONS_EXHAUSTED"),
    (connection.INTERNAL, "INTERNAL_ERROR"),
    (connection.NO_HSMS.format(cluster=CID, store=SID), "NO_ACTIVE_HSMS"),
    ((f"KMS cannot find the CloudHSM cluster {CID} associated with the custom key store {SID}. "
     "x cannot be used until the key store is associated with a related cluster."),
     "CLUSTER_DELETED"),
    ((f"The key material for arn (backing key id ab12) was not found in the CloudHSM cluster "
     f"{CID}."), "KEY_MATERIAL_DELETED"),
    ("arn:aws:kms:us-east-1:111122223333:key/k is unavailable.", "UNAVAILABLE"),
])
def test_every_crypto_failure_of_the_guide_is_named(message: str, name: str) -> None:
    found = causes.crypto_cause(message)
    assert found is not None
    assert found[0] == name


def test_an_unknown_crypto_failure_still_fails_with_its_code() -> None:
    f = checks.store_crypto(facts(probe=Probe("GenerateRandom", "ThrottlingException", "slow")))
    assert f is not None
    assert (f.status, f.cause, f.evidence) == (Status.FAIL, "ThrottlingException",
                                               ("GenerateRandom: ThrottlingException: slow",))


def _key(state: str, deletion: float | None = None) -> KeyFacts:
    return KeyFacts(Key("k-1", "arn:k-1", state, "AWS_CLOUDHSM", SID, CID, deletion),
                    backing_key_id="ab12")


def test_key_states_and_their_causes() -> None:
    enabled = checks.key_state(facts(key=_key("Enabled")))
    assert enabled is not None
    assert enabled.status is Status.OK
    unavailable = checks.key_state(facts("DISCONNECTED", key=_key("Unavailable")))
    assert unavailable is not None
    assert (unavailable.status, unavailable.cause) == (Status.FAIL, "STORE_DISCONNECTED")
    assert unavailable.fix[0] == f"aws kms connect-custom-key-store --custom-key-store-id {SID}"
    failed = checks.key_state(facts("FAILED", "NETWORK_ERRORS", key=_key("Unavailable")))
    assert failed is not None
    assert failed.fix == ("# the fix of store.connection below",)
    # "the key state of the KMS key eventually changes to UNAVAILABLE" (key material deleted).
    lost = checks.key_state(facts(key=_key("Unavailable")))
    assert lost is not None
    assert (lost.cause, lost.guide) == ("KEY_MATERIAL_DELETED", causes.RECOVER)
    assert 'aws-cloudhsm > key list --filter attr.id="0xab12"' in lost.fix


def test_pending_deletion_fails_only_when_the_backing_key_cannot_be_deleted() -> None:
    when = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC).timestamp()
    connected = checks.key_state(facts(key=_key("PendingDeletion", when)))
    assert connected is not None
    assert connected.status is Status.WARN
    assert "2030-01-02T03:04:05Z" in connected.summary
    disconnected = checks.key_state(facts("DISCONNECTED", key=_key("PendingDeletion", when)))
    assert disconnected is not None
    assert disconnected.status is Status.FAIL
    assert disconnected.fix == ("aws kms cancel-key-deletion --key-id k-1",
                                "aws kms enable-key --key-id k-1")


def test_security_group_rules() -> None:
    def group(ingress: list[dict[str, Any]], egress: list[dict[str, Any]]) -> SecurityGroup:
        return SecurityGroup.from_api({"GroupId": SG, "IpPermissions": ingress,
                                       "IpPermissionsEgress": egress})

    own = {"IpProtocol": "tcp", "FromPort": 2223, "ToPort": 2225,
           "UserIdGroupPairs": [{"GroupId": SG}]}
    every = {"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": SG}]}
    other = {**own, "UserIdGroupPairs": [{"GroupId": "sg-other"}]}
    narrow = {**own, "ToPort": 2224}
    anywhere = {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
    assert group([own], [every]) == SecurityGroup(SG, exists=True, inbound=True, outbound=True)
    assert group([other, narrow], [other, narrow]) == SecurityGroup(SG, exists=True)
    # EC2's default outbound rule lets the traffic out too; inbound needs the group itself.
    assert group([anywhere], [anywhere]) == SecurityGroup(SG, exists=True, outbound=True)
    f = checks.security_group(facts(security_group=group([], [own])))
    assert f is not None
    assert (f.status, f.fix) == (Status.FAIL, (
        (f"aws ec2 authorize-security-group-ingress --group-id {SG} --ip-permissions "
        f"IpProtocol=tcp,FromPort=2223,ToPort=2225,UserIdGroupPairs=[{{GroupId={SG}}}]"),))


def test_hsms_per_availability_zone() -> None:
    one_zone = (Hsm("hsm-1", "us-east-1a", "subnet-a", "ACTIVE"),
                Hsm("hsm-2", "us-east-1a", "subnet-a", "ACTIVE"),
                Hsm("hsm-3", "us-east-1b", "subnet-b", "DEGRADED"))
    base = facts()
    assert base.cluster is not None
    cluster = dataclasses.replace(base.cluster, hsms=one_zone)
    assert cluster.active_by_zone() == {"us-east-1a": 2, "us-east-1b": 0}
    f = checks.hsms(facts(cluster=cluster))
    assert f is not None
    assert f.status is Status.WARN
    assert f.evidence == ("us-east-1a: 2 ACTIVE HSMs", "us-east-1b: 0 ACTIVE HSMs",
                          "hsm-3 in us-east-1b: DEGRADED")
    assert f.fix == ((f"aws cloudhsmv2 create-hsm --cluster-id {CID} "
                     "--availability-zone us-east-1b"),)
    none = checks.hsms(facts(cluster=dataclasses.replace(cluster, hsms=())))
    assert none is not None
    assert (none.status, none.cause) == (Status.FAIL, "NO_ACTIVE_HSMS")


def test_subnet_addresses() -> None:
    def subnets(state: str, a: int | None, b: int | None) -> checks.Finding:
        found = checks.subnets(facts(state, subnets=(Subnet("subnet-a", "us-east-1a", a),
                                                     Subnet("subnet-b", "us-east-1b", b))))
        assert found is not None
        return found

    assert subnets("DISCONNECTED", 0, 5).cause == "INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET"
    assert subnets("CONNECTED", 0, 5).status is Status.WARN  # KMS's own ENI holds it
    assert subnets("DISCONNECTED", 1, 5).status is Status.WARN  # "two are preferable"
    assert subnets("DISCONNECTED", None, 5).cause == "SUBNET_NOT_FOUND"


def test_kmsuser_presence_lock_and_login() -> None:
    seen = facts().hsm

    def kmsuser(state: str = "CONNECTED", code: str | None = None,
                view: HsmView | None = seen) -> checks.Finding:
        return checks.kmsuser(facts(state, code, hsm=view))

    assert kmsuser().status is Status.OK
    assert "KMS is logged in as kmsuser" in kmsuser().evidence[-1]
    locked = HsmView(users=(HsmUser("kmsuser", "crypto-user", "true", "full"),))
    assert kmsuser(view=locked).cause == "USER_LOCKED_OUT"
    assert kmsuser(view=HsmView(users=())).cause == "USER_NOT_FOUND"
    unseen = kmsuser(view=None)
    assert unseen.status is Status.SKIP
    logged_in = kmsuser("FAILED", "USER_LOGGED_IN", None)
    assert (logged_in.status, logged_in.cause) == (Status.FAIL, "USER_LOGGED_IN")
    assert logged_in.fix == (checks.SEE_CONNECTION,)


def test_trust_anchor() -> None:
    assert checks.trust_anchor(facts()).status is Status.OK  # type: ignore[union-attr]
    base = facts()
    assert base.cluster is not None
    foreign = checks.trust_anchor(facts(cluster=dataclasses.replace(
        base.cluster, cluster_certificate=FOREIGN_CERT)))
    assert foreign is not None
    assert (foreign.status, foreign.cause) == (Status.FAIL, "TRUST_ANCHOR_MISMATCH")
    none = checks.trust_anchor(facts(cluster=dataclasses.replace(
        base.cluster, cluster_certificate=None)))
    assert none is not None
    assert none.status is Status.SKIP


def _delete_event(status: str) -> dict[str, Any]:
    return {"eventName": "DeleteKey", "responseElements": {"keyId": "arn:k"},
            "additionalEventData": {
                "customKeyStoreId": SID, "clusterId": CID,
                "backingKeys": '[{"backingKeyId":"ab12"}]',
                "backingKeysDeletionStatus":
                    f'[{{"backingKeyId":"ab12","deletionStatus":"{status}"}}]'}}


def test_failed_backing_key_deletions_are_orphans_until_seen_gone() -> None:
    failed = Deletion.from_record(_delete_event("FAILURE"), 0.0)
    done = Deletion.from_record(_delete_event("SUCCESS"), 0.0)
    assert failed is not None
    assert done is not None
    assert (failed.failed(), done.failed()) == (("ab12",), ())
    assert Deletion.from_record({"eventName": "DeleteKey"}, 0.0) is None
    f = checks.deletions(facts(deletions=(failed, done), hsm=None))
    assert f is not None
    assert (f.status, f.cause) == (Status.FAIL, "ORPHANED_KEY_MATERIAL")
    assert 'aws-cloudhsm > key delete --filter attr.id="0xab12"' in f.fix
    seen_gone = HsmView(users=(), backing_keys={"ab12": False})
    cleared = checks.deletions(facts(deletions=(failed,), hsm=seen_gone))
    assert cleared is not None
    assert cleared.status is Status.OK


def test_report_json_and_exit_status() -> None:
    f = facts("FAILED", "USER_NOT_FOUND")
    found = checks.run(Facts("us-east-1", "http://x", (f,)))
    doc = json.loads(report.as_json(Facts("us-east-1", "http://x"), found,
                                    {"custom_key_store_id": SID, "key_id": None}))
    assert (doc["schema_version"], doc["healthy"], doc["exit_status"]) == (1, False, 1)
    assert report.exit_status(found) == 1
    assert report.exit_status([x for x in found if x.status is not Status.FAIL]) == 0
    text = report.as_text(Facts("us-east-1", None), found, unicode=False)
    assert f"[FAIL] store.connection {SID}: the last connection attempt FAILED" in text
    assert "      aws-cloudhsm > user create --username kmsuser --role crypto-user\n" in text
    assert text.endswith("check(s) failed\n")


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_hsm_login_comes_from_the_environment_or_a_prompt() -> None:
    login = ask_login({"CLOUDHSM_ROLE": "admin", "CLOUDHSM_PIN": "admin:pw:with:colons"},
                      io.StringIO())
    assert login is not None
    assert (login.role, login.username, login.password) == ("admin", "admin", "pw:with:colons")
    assert "pw" not in repr(login)
    assert ask_login({}, io.StringIO()) is None  # no terminal: no login, no prompt
    answers = iter(["crypto-user", ""])
    login = ask_login({}, _Tty(), prompt=lambda _p: next(answers), secret=lambda _p: "s3cret")
    assert login is not None
    assert (login.role, login.username, login.password) == ("crypto-user", "kmsuser", "s3cret")
    assert ask_login({}, _Tty(), prompt=lambda _p: "", secret=lambda _p: "") is None


def test_every_option_check_and_cause_is_documented() -> None:
    """docs/doctor.md names every option of ``hsmkms doctor``, every check and every cause."""
    import argparse  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415

    from hsmkms.cli import build_parser  # noqa: PLC0415

    text = (Path(__file__).resolve().parents[2] / "docs" / "doctor.md").read_text()
    parser = build_parser()
    [sub] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]  # noqa: SLF001
    options = [o for a in sub.choices["doctor"]._actions for o in a.option_strings  # noqa: SLF001
               if o.startswith("--") and o != "--help"]
    assert len(options) == 9
    everything = {x.check for x in checks.run(Facts("r", None, (
        facts("FAILED", "USER_NOT_FOUND", key=_key("Enabled"), unreadable=(), probe=None),)))}
    names = [*options, *everything, "doctor.target", "doctor.access", "hsm.backing-key",
             "store.crypto", "key.crypto", *causes.CONNECTION_ERRORS,
             *(name for _w, name, _c in causes.CRYPTO_ERRORS)]
    assert [n for n in names if f"`{n}`" not in text] == []


def test_cloudtrail_says_who_and_when() -> None:
    from hsmkms.doctor.facts import TrailEvent  # noqa: PLC0415

    t = dt.datetime(2030, 5, 6, 7, 8, 9, tzinfo=dt.UTC).timestamp()
    f = facts("DISCONNECTED", disconnected_by=TrailEvent("DisconnectCustomKeyStore", t, "ops"))
    said = "CloudTrail: DisconnectCustomKeyStore at 2030-05-06T07:08:09Z by ops"
    assert checks.connection(f).evidence[-1] == said
    unavailable = checks.key_state(dataclasses.replace(f, key=_key("Unavailable")))
    assert unavailable is not None
    assert unavailable.evidence[-1] == said
    disabled = dataclasses.replace(_key("Disabled"), history=(
        TrailEvent("ScheduleKeyDeletion", t - 9, "x"), TrailEvent("DisableKey", t, "alice")))
    found = checks.key_state(facts(key=disabled))
    assert found is not None
    assert found.evidence[-1] == "CloudTrail: DisableKey at 2030-05-06T07:08:09Z by alice"


def test_a_deleted_key_and_its_backing_key() -> None:
    failed = Deletion.from_record(_delete_event("FAILURE"), 0.0)
    done = Deletion.from_record(_delete_event("SUCCESS"), 0.0)
    assert failed is not None
    assert done is not None
    orphan = checks.deleted_key(failed)
    assert (orphan.subject, orphan.status, orphan.cause) == ("arn:k", Status.FAIL,
                                                            "ORPHANED_KEY_MATERIAL")
    assert orphan.fix[0] == f"aws kms disconnect-custom-key-store --custom-key-store-id {SID}"
    assert checks.deleted_key(done).status is Status.WARN


def test_a_probe_the_caller_may_not_make_is_skipped() -> None:
    f = checks.store_crypto(facts(probe=Probe("GenerateRandom", "AccessDeniedException", "no")))
    assert f is not None
    assert f.status is Status.SKIP
