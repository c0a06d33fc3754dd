"""Hypothesis stateful test of multi-Region key sets (spec kms-keys.md 5, 6), through boto3
clients in four Regions against an in-process app (``hsmkms.testing.InProcess``).

The app runs the ``realistic`` timing profile: each rule acts, then advances the clock past the
step it may have started (replica creation, primary update), and ``advance_days`` moves the clock
by days (deletion windows). Each example makes a new primary in us-east-1 and encrypts one
message under it. Invariants, read from every Region:

* the members are exactly the primary and the replicas every member names, all members name
  the same primary and the same replica list, and exactly the named primary says PRIMARY;
* a primary is ``PendingReplicaDeletion`` only while it has replicas and ``PendingDeletion``
  only once it has none (its window starts when the last replica is deleted);
* every ``Enabled`` member decrypts the first message (its material was never lost).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from hsmkms.testing import InProcess

DAY = 86400.0
SETTLE = 31.0  # past replica creation (5 s) and primary update (30 s) in "realistic"
REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "ap-southeast-1")
#: What a rule may be answered besides success (the rules act without looking first).
REFUSALS = {"NotFoundException", "AlreadyExistsException", "ValidationException",
            "KMSInvalidStateException", "DisabledException", "UnsupportedOperationException"}


#: Outcomes over the whole run: the test checks the machine reached each of them.
SEEN: dict[str, int] = {}


class World:
    def __init__(self, inproc: InProcess) -> None:
        self.inproc = inproc
        self.kms = {region: inproc.client("kms", region) for region in REGIONS}


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with tempfile.TemporaryDirectory() as tmp, InProcess(Path(tmp), timing="realistic") as app:
        yield World(app)


class MultiRegionMachine(RuleBasedStateMachine):
    world: World

    def __init__(self) -> None:
        super().__init__()
        self.key_id = ""
        self.blob = b""

    @initialize()
    def new_primary(self) -> None:
        east = self.world.kms["us-east-1"]
        self.key_id = east.create_key(MultiRegion=True)["KeyMetadata"]["KeyId"]
        self.blob = east.encrypt(KeyId=self.key_id, Plaintext=b"first")["CiphertextBlob"]

    def members(self) -> dict[str, dict[str, Any]]:
        found = {}
        for region, client in self.world.kms.items():
            code = None
            try:
                found[region] = client.describe_key(KeyId=self.key_id)["KeyMetadata"]
            except ClientError as err:
                code = err.response["Error"]["Code"]
            assert code in (None, "NotFoundException")
        return found

    def primary_region(self) -> str | None:
        return next((region for region, meta in self.members().items()
                     if meta["MultiRegionConfiguration"]["MultiRegionKeyType"] == "PRIMARY"),
                    None)

    def act(self, region: str, operation: str, **params: Any) -> bool:
        """Call, then settle; True if the call succeeded."""
        refused = None
        try:
            getattr(self.world.kms[region], operation)(KeyId=self.key_id, **params)
        except ClientError as err:
            refused = err.response["Error"]
        assert refused is None or refused["Code"] in REFUSALS, refused
        outcome = f"{operation}: {'refused' if refused else 'ok'}"
        event(outcome)
        SEEN[outcome] = SEEN.get(outcome, 0) + 1
        self.world.inproc.advance(SETTLE)
        return refused is None

    @rule(region=st.sampled_from(REGIONS))
    def replicate(self, region: str) -> None:
        members = self.members()
        primary = self.primary_region()
        ok = self.act(primary or "us-east-1", "replicate_key", ReplicaRegion=region)
        if primary is not None and region not in members and \
                members[primary]["KeyState"] == "Enabled":
            assert ok, "an Enabled primary replicates to a new Region"
        if region in members:
            assert not ok

    @rule(region=st.sampled_from(REGIONS))
    def update_primary(self, region: str) -> None:
        members = self.members()
        primary = self.primary_region()
        ok = self.act(primary or "us-east-1", "update_primary_region", PrimaryRegion=region)
        both_enabled = primary is not None and region in members and region != primary and \
            members[primary]["KeyState"] == members[region]["KeyState"] == "Enabled"
        assert ok is both_enabled
        if ok:
            assert self.primary_region() == region

    @rule(region=st.sampled_from(REGIONS), enable=st.booleans())
    def enable_or_disable(self, region: str, enable: bool) -> None:  # noqa: FBT001
        self.act(region, "enable_key" if enable else "disable_key")

    @rule(region=st.sampled_from(REGIONS), days=st.sampled_from([7, 10]))
    def schedule_deletion(self, region: str, days: int) -> None:
        self.act(region, "schedule_key_deletion", PendingWindowInDays=days)

    @rule(region=st.sampled_from(REGIONS))
    def cancel_deletion(self, region: str) -> None:
        before = self.members().get(region, {}).get("KeyState")
        ok = self.act(region, "cancel_key_deletion")
        assert ok is (before in ("PendingDeletion", "PendingReplicaDeletion"))
        if ok:
            assert self.members()[region]["KeyState"] == "Disabled"

    @rule(days=st.sampled_from([8, 1, 4]))
    def advance_days(self, days: int) -> None:
        self.world.inproc.advance(days * DAY)

    @invariant()
    def one_consistent_set(self) -> None:
        if not self.key_id:
            return
        members = self.members()
        if not members:
            return
        configs = {region: meta["MultiRegionConfiguration"] for region, meta in members.items()}
        named = {(c["PrimaryKey"]["Region"], tuple(r["Region"] for r in c["ReplicaKeys"]))
                 for c in configs.values()}
        assert len(named) == 1, configs
        (primary, replicas), = named
        assert set(members) == {primary, *replicas}
        assert len(replicas) == len(set(replicas))
        assert [r for r, c in configs.items() if c["MultiRegionKeyType"] == "PRIMARY"] == [
            primary]
        state = members[primary]["KeyState"]
        if state == "PendingReplicaDeletion":
            assert replicas
            assert "DeletionDate" not in members[primary]
        if state == "PendingDeletion":
            assert not replicas

    @invariant()
    def nothing_decryptable_is_lost(self) -> None:
        if not self.key_id:
            return
        for region, meta in self.members().items():
            if meta["KeyState"] == "Enabled":
                answer = self.world.kms[region].decrypt(CiphertextBlob=self.blob)
                assert answer["Plaintext"] == b"first", region


MultiRegionMachine.TestCase.settings = settings(
    # Derandomized: the same examples every run, so the check of what the run reached below
    # cannot fail by chance.
    max_examples=30, stateful_step_count=30, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def test_multi_region_state_machine(world: World) -> None:
    MultiRegionMachine.world = world
    MultiRegionMachine.TestCase().runTest()
    print(sorted(SEEN.items()))  # noqa: T201 - with -s, what the run did
    for operation in ("replicate_key", "update_primary_region", "schedule_key_deletion",
                      "cancel_key_deletion", "disable_key", "enable_key"):
        assert SEEN.get(f"{operation}: ok", 0) > 0, (operation, SEEN)
