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


@dataclasses.dataclass(frozen=True)
class C:
    """A cluster and its HSMs' contents by HSM id (rows of their own in the service)."""

    cluster: Cluster
    contents: dict[str, HsmContents]

    @property
    def hsms(self) -> tuple[Hsm, ...]:
        return self.cluster.hsms

    def of(self, i: int) -> HsmContents:
        return self.contents[self.cluster.hsms[i].hsm_id]


def cluster(n: int = 2) -> C:
    hsms = tuple(Hsm(f"hsm-abcdefghij{i}", "us-east-1a", "subnet-1", HsmState.ACTIVE)
                 for i in range(2, 2 + n))
    return C(Cluster("cluster-abcdefghijk", ClusterState.ACTIVE, "hsm1.medium", 0.0, {},
                     "vpc-1", "sg-1", hsms), {h.hsm_id: contents() for h in hsms})


def move(c: C, hsm_id: str, *, reachable: bool) -> C:
    moved = reachability.move(c.cluster, hsm_id, reachable=reachable)
    if not reachable:
        return C(moved, c.contents)
    synced = reachability.synchronise_returning(moved, c.contents, hsm_id)
    return C(moved, {**c.contents, **synced})


def active(c: C) -> tuple[HsmContents, ...]:
    return tuple(c.contents[h.hsm_id] for h in c.cluster.active_hsms())


def with_contents(c: C, new: tuple[HsmContents, ...]) -> C:
    ids = [h.hsm_id for h in c.cluster.active_hsms()]
    return C(c.cluster, {**c.contents, **dict(zip(ids, new, strict=True))})


def generate(c: C, label: str) -> tuple[C, int]:
    in_service = [c.contents[h.hsm_id] for h in c.cluster.hsms_in_service()]
    new, ref = keys.generate_aes(active(c), ALICE, 32, label, new_aes_material(32), {}, (),
                                 reachability.next_reference(in_service))
    return with_contents(c, new), ref


def test_moves_and_refusals() -> None:
    c = move(cluster(), "hsm-abcdefghij3", reachable=False)
    assert [h.state for h in c.hsms] == [HsmState.ACTIVE, HsmState.DEGRADED]
    assert c.cluster.state is ClusterState.ACTIVE  # the cluster's own state does not change
    with pytest.raises(errors.ClusterStateError, match="already unreachable"):
        move(c, "hsm-abcdefghij3", reachable=False)
    with pytest.raises(errors.ClusterStateError, match="is ACTIVE"):
        move(c, "hsm-abcdefghij2", reachable=True)
    with pytest.raises(errors.InvalidInput, match="not in cluster"):
        move(c, "hsm-zzzzzzzzzzz", reachable=False)
    back = move(c, "hsm-abcdefghij3", reachable=True)
    assert [h.state for h in back.hsms] == [HsmState.ACTIVE, HsmState.ACTIVE]


def test_keys_are_synchronised_when_the_hsm_answers_again_users_are_not() -> None:
    c, kept = generate(cluster(), "kept")
    c, doomed = generate(c, "doomed")
    c = move(c, "hsm-abcdefghij3", reachable=False)
    c, made = generate(c, "made while away")
    c = with_contents(c, keys.delete(active(c), ALICE, doomed))
    c = with_contents(c, keys.set_attribute(active(c), ALICE, kept, "label", "renamed"))
    c = with_contents(c, users.create_user(active(c), "bob", Role.CRYPTO_USER, "bobpass1"))
    away = c.of(1)
    assert {k.key_reference for k in away.keys} == {kept, doomed}  # untouched while away
    c = move(c, "hsm-abcdefghij3", reachable=True)
    both = active(c)
    for x in both:  # the same keys everywhere; the deleted key did not come back
        assert [k.key_reference for k in x.keys] == [kept, made]
        assert x.key(kept).attributes.label == "renamed"  # type: ignore[union-attr]
    assert keys.render(both, made, verbose=True)["key-info"]["cluster-coverage"] == "full"
    bob = next(u for u in users.list_users(both) if u["username"] == "bob")
    assert bob["cluster-coverage"] == "inconsistent"  # users are not synchronised


def test_references_are_not_reused_across_unreachable_hsms() -> None:
    c = move(cluster(), "hsm-abcdefghij3", reachable=False)
    c, first = generate(c, "on the first HSM only")
    c = move(c, "hsm-abcdefghij2", reachable=False)
    c = move(c, "hsm-abcdefghij3", reachable=True)  # nothing reachable to sync
    c, second = generate(c, "on the second HSM only")
    assert second == first + 1
    c = move(c, "hsm-abcdefghij2", reachable=True)
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
