"""The hsm-unreachable moves and key synchronisation when an HSM answers again (pure)."""

from __future__ import annotations

import dataclasses

import pytest

from hsmkms.cloudhsm.model import Cluster, ClusterState, Hsm, HsmState
from hsmkms.hsm import errors, keys, reachability, users
from hsmkms.hsm.material import new_aes_material
from hsmkms.hsm.model import HsmContents, Role

ALICE = keys.Actor("alice", Role.CRYPTO_USER)


def contents() -> HsmContents:
    c = users.activate((HsmContents(),), "adminpass1")
    return users.create_user(c, "alice", Role.CRYPTO_USER, "alicepw1")[0]


def cluster(n: int = 2) -> Cluster:
    hsms = tuple(Hsm(f"hsm-abcdefghij{i}", "us-east-1a", "subnet-1", HsmState.ACTIVE,
                     contents=contents()) for i in range(2, 2 + n))
    return Cluster("cluster-abcdefghijk", ClusterState.ACTIVE, "hsm1.medium", 0.0, {},
                   "vpc-1", "sg-1", hsms)


def active(c: Cluster) -> tuple[HsmContents, ...]:
    return tuple(h.contents for h in c.active_hsms())


def with_contents(c: Cluster, new: tuple[HsmContents, ...]) -> Cluster:
    it = iter(new)
    return dataclasses.replace(c, hsms=tuple(
        dataclasses.replace(h, contents=next(it)) if h.state is HsmState.ACTIVE else h
        for h in c.hsms))


def generate(c: Cluster, label: str) -> tuple[Cluster, int]:
    new, ref = keys.generate_aes(active(c), ALICE, 32, label, new_aes_material(32), {}, (),
                                 reachability.next_reference(c))
    return with_contents(c, new), ref


def test_moves_and_refusals() -> None:
    c = reachability.move(cluster(), "hsm-abcdefghij3", reachable=False)
    assert [h.state for h in c.hsms] == [HsmState.ACTIVE, HsmState.DEGRADED]
    assert c.state is ClusterState.ACTIVE  # the cluster's own state does not change
    with pytest.raises(errors.ClusterStateError, match="already unreachable"):
        reachability.move(c, "hsm-abcdefghij3", reachable=False)
    with pytest.raises(errors.ClusterStateError, match="is ACTIVE"):
        reachability.move(c, "hsm-abcdefghij2", reachable=True)
    with pytest.raises(errors.InvalidInput, match="not in cluster"):
        reachability.move(c, "hsm-zzzzzzzzzzz", reachable=False)
    back = reachability.move(c, "hsm-abcdefghij3", reachable=True)
    assert [h.state for h in back.hsms] == [HsmState.ACTIVE, HsmState.ACTIVE]


def test_keys_are_synchronised_when_the_hsm_answers_again_users_are_not() -> None:
    c, kept = generate(cluster(), "kept")
    c, doomed = generate(c, "doomed")
    c = reachability.move(c, "hsm-abcdefghij3", reachable=False)
    c, made = generate(c, "made while away")
    c = with_contents(c, keys.delete(active(c), ALICE, doomed))
    c = with_contents(c, keys.set_attribute(active(c), ALICE, kept, "label", "renamed"))
    c = with_contents(c, users.create_user(active(c), "bob", Role.CRYPTO_USER, "bobpass1"))
    away = c.hsms[1].contents
    assert {k.key_reference for k in away.keys} == {kept, doomed}  # untouched while away
    c = reachability.move(c, "hsm-abcdefghij3", reachable=True)
    both = active(c)
    for x in both:  # the same keys everywhere; the deleted key did not come back
        assert [k.key_reference for k in x.keys] == [kept, made]
        assert x.key(kept).attributes.label == "renamed"  # type: ignore[union-attr]
    assert keys.render(both, made, verbose=True)["key-info"]["cluster-coverage"] == "full"
    bob = next(u for u in users.list_users(both) if u["username"] == "bob")
    assert bob["cluster-coverage"] == "inconsistent"  # users are not synchronised


def test_references_are_not_reused_across_unreachable_hsms() -> None:
    c = reachability.move(cluster(), "hsm-abcdefghij3", reachable=False)
    c, first = generate(c, "on the first HSM only")
    c = reachability.move(c, "hsm-abcdefghij2", reachable=False)
    c = reachability.move(c, "hsm-abcdefghij3", reachable=True)  # nothing reachable to sync
    c, second = generate(c, "on the second HSM only")
    assert second == first + 1
    c = reachability.move(c, "hsm-abcdefghij2", reachable=True)
    for x in active(c):  # both keys survive the synchronisation
        assert [k.key_reference for k in x.keys] == [first, second]


def test_synchronise_prefers_the_first_copy_and_keeps_tombstones() -> None:
    base = users.create_user((HsmContents(), HsmContents()), "alice", Role.CRYPTO_USER,
                             "alicepw1")
    c, ref = keys.generate_aes(base, ALICE, 16, "a", new_aes_material(16))
    renamed = keys.set_attribute(c[:1], ALICE, ref, "label", "b")[0]
    synced = keys.synchronise((renamed, c[1]))
    assert [x.key(ref).attributes.label for x in synced] == ["b", "b"]  # type: ignore[union-attr]
    deleted = keys.delete(c[:1], ALICE, ref)[0]
    synced = keys.synchronise((c[1], deleted))
    assert all(x.keys == () and x.deleted_references == (ref,) for x in synced)
