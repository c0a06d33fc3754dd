"""Hypothesis stateful test of HSMs going unreachable and coming back (pure core: no server).

Three HSMs; keys are generated, deleted and relabelled on whichever HSMs are reachable, while
the hsm-unreachable moves come and go in any order. Properties (hsm/reachability.py):
* a key-reference is never handed out twice, whatever was unreachable at the time;
* once every HSM answers again, every HSM holds exactly the keys that were generated and not
  deleted - a key made while others were away reaches them, a deleted one never comes back;
* the users of an HSM are never touched by the synchronisation.
"""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from hsmkms.cloudhsm.model import Cluster, ClusterState, Hsm, HsmState
from hsmkms.hsm import keys, reachability, users
from hsmkms.hsm.model import HsmContents, Role
from hsmkms.store.codec import Secret

ALICE = keys.Actor("alice", Role.CRYPTO_USER)
IDS = ("hsm-aaaaaaaaaaa", "hsm-bbbbbbbbbbb", "hsm-ccccccccccc")


def _start() -> tuple[Cluster, dict[str, HsmContents]]:
    base = users.create_user((HsmContents(),), "alice", Role.CRYPTO_USER, "alicepw1",
                             salt=lambda: b"s" * 16)[0]
    hsms = tuple(Hsm(i, "us-east-1a", "subnet-1", HsmState.ACTIVE) for i in IDS)
    return Cluster("cluster-abcdefghijk", ClusterState.ACTIVE, "hsm1.medium", 0.0, {},
                   "vpc-1", "sg-1", hsms), dict.fromkeys(IDS, base)


class Reachability(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.cluster, self.contents = _start()
        self.live: set[int] = set()
        self.handed_out: list[int] = []

    def _active(self) -> tuple[HsmContents, ...]:
        return tuple(self.contents[h.hsm_id] for h in self.cluster.active_hsms())

    def _write(self, new: tuple[HsmContents, ...]) -> None:
        ids = [h.hsm_id for h in self.cluster.active_hsms()]
        self.contents = {**self.contents, **dict(zip(ids, new, strict=True))}

    def _state(self, i: int) -> HsmState:
        return self.cluster.hsms[i].state

    @rule(i=st.integers(0, 2))
    def unreachable(self, i: int) -> None:
        if self._state(i) is HsmState.ACTIVE:
            self.cluster = reachability.move(self.cluster, IDS[i], reachable=False)

    @rule(i=st.integers(0, 2))
    def reachable(self, i: int) -> None:
        if self._state(i) is HsmState.DEGRADED:
            before = self.contents[IDS[i]].users
            self.cluster = reachability.move(self.cluster, IDS[i], reachable=True)
            self.contents.update(reachability.synchronise_returning(
                self.cluster, self.contents, IDS[i]))
            assert self.contents[IDS[i]].users == before

    @precondition(lambda self: bool(self.cluster.active_hsms()))
    @rule()
    def generate(self) -> None:
        new, ref = keys.generate_aes(self._active(), ALICE, 16, "k", Secret(bytes(16)), {}, (),
                                     reachability.next_reference(
                                         self.contents[h.hsm_id]
                                         for h in self.cluster.hsms_in_service()))
        self._write(new)
        assert ref not in self.handed_out
        self.handed_out.append(ref)
        self.live.add(ref)

    @precondition(lambda self: bool(self.cluster.active_hsms()))
    @rule(data=st.data())
    def delete_or_relabel(self, data: st.DataObject) -> None:
        visible = keys.select(self._active(), ALICE, keys.Filter())
        if not visible:
            return
        ref = data.draw(st.sampled_from(visible))
        if data.draw(st.booleans()):
            self._write(keys.delete(self._active(), ALICE, ref))
            self.live.discard(ref)
        else:
            self._write(keys.set_attribute(self._active(), ALICE, ref, "label",
                                           data.draw(st.sampled_from(["x", "y"]))))

    @invariant()
    def all_back_means_all_equal(self) -> None:
        if len(self.cluster.active_hsms()) != len(IDS):
            return
        for h in self.cluster.hsms:
            assert {k.key_reference for k in self.contents[h.hsm_id].keys} == self.live


TestReachability = Reachability.TestCase
TestReachability.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)
