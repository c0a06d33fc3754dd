"""Keys across HSMs: generation, sync, filters, visibility, ownership, attributes."""

from __future__ import annotations

import pytest

from hsmkms.hsm import errors, keys, users
from hsmkms.hsm.material import check_value, new_aes_material
from hsmkms.hsm.model import HsmContents, Role

ALICE = keys.Actor("alice", Role.CRYPTO_USER)
BOB = keys.Actor("bob", Role.CRYPTO_USER)
ADMIN = keys.Actor("admin", Role.ADMIN)


def cluster(n: int = 2) -> tuple[HsmContents, ...]:
    c = users.activate(tuple(HsmContents() for _ in range(n)), "adminpass1")
    c = users.create_user(c, "alice", Role.CRYPTO_USER, "alicepw1")
    return users.create_user(c, "bob", Role.CRYPTO_USER, "bobpass1")


def gen(c: tuple[HsmContents, ...], label: str = "k", actor: keys.Actor = ALICE,
        **attrs: object) -> tuple[tuple[HsmContents, ...], int]:
    return keys.generate_aes(c, actor, 32, label, new_aes_material(32), dict(attrs))


def test_check_value_known_answer() -> None:
    # AES-128 with the zero key on the zero block starts 66e94b (FIPS-197 vectors).
    assert check_value(bytes(16)) == "0x66e94b"


def test_generated_key_is_synchronised_with_one_reference() -> None:
    c, ref = gen(cluster(3), id=b"\x1a\x2b")
    assert all(x.key(ref) is not None for x in c)
    assert len({bytes(x.key(ref).material) for x in c}) == 1  # type: ignore[union-attr]
    c, ref2 = gen(c)
    assert ref2 == ref + 1
    view = keys.render(c, ref, verbose=True)
    assert view["key-reference"] == f"0x{ref:016x}"
    assert view["key-info"]["cluster-coverage"] == "full"
    assert view["key-info"]["key-owners"] == [{"username": "alice", "key-coverage": "full"}]
    attrs = view["attributes"]
    assert list(attrs)[:5] == ["key-type", "label", "id", "check-value", "class"]
    assert list(attrs)[-1] == "key-length-bytes"
    assert attrs["id"] == "0x1a2b"
    assert attrs["key-type"] == "aes"
    assert attrs["class"] == "secret-key"
    assert attrs["extractable"] is True
    assert attrs["never-extractable"] is False


def test_non_extractable_key() -> None:
    c, ref = gen(cluster(), extractable=False)
    attrs = keys.render(c, ref, verbose=True)["attributes"]
    assert attrs["extractable"] is False
    assert attrs["never-extractable"] is True


def test_visibility_and_sharing() -> None:
    c, ref = gen(cluster())
    assert keys.select(c, BOB, keys.Filter()) == []
    assert keys.select(c, ADMIN, keys.Filter()) == [ref]
    c = keys.share(c, ALICE, ref, "bob")
    assert keys.select(c, BOB, keys.Filter()) == [ref]
    with pytest.raises(errors.PermissionDenied, match="owner"):
        keys.delete(c, BOB, ref)
    with pytest.raises(errors.InvalidInput, match="already shared"):
        keys.share(c, ALICE, ref, "bob")
    with pytest.raises(errors.InvalidInput, match="not a crypto user"):
        keys.share(c, ALICE, ref, "admin")
    c = keys.unshare(c, ALICE, ref, "bob")
    assert keys.select(c, BOB, keys.Filter()) == []


def test_filters() -> None:
    c, r1 = gen(cluster(), "one", id=bytes.fromhex("01abcdef"))
    c, r2 = gen(c, "two")
    assert keys.select(c, ALICE, keys.parse_filter(["attr.label=one"])) == [r1]
    assert keys.select(c, ALICE, keys.parse_filter(["attr.id=0x1abcdef"])) == [r1]
    assert keys.select(c, ALICE, keys.parse_filter([f"key-reference=0x{r2:x}"])) == [r2]
    assert keys.select(c, ALICE, keys.parse_filter([f"key-reference={r2}"])) == [r2]
    both = keys.parse_filter(["attr.key-type=aes", "attr.class=secret-key"])
    assert keys.select(c, ALICE, both) == [r1, r2]
    with pytest.raises(errors.MultipleKeysMatched, match=(
            r"^Key selection criteria matched 2 keys\. Refine selection criteria to select a "
            r"single key\.$")):
        keys.select_one(c, ALICE, both)
    with pytest.raises(errors.KeyNotFound):
        keys.select_one(c, BOB, both)
    with pytest.raises(errors.InvalidInput, match="Invalid attribute name 'colour'"):
        keys.parse_filter(["attr.colour=red"])
    with pytest.raises(errors.InvalidInput, match="use true or false"):
        keys.parse_filter(["attr.encrypt=maybe"])
    with pytest.raises(errors.InvalidInput, match="Invalid filter"):
        keys.parse_filter(["label=one"])


def test_list_pagination() -> None:
    c = cluster()
    for i in range(5):
        c, _ = gen(c, f"k{i}")
    page = keys.list_keys(c, ALICE, keys.Filter(), 2, 0, verbose=False)
    assert page["total_key_count"] == 5
    assert page["returned_key_count"] == 2
    assert page["next_token"] == "2"  # noqa: S105 - a page token, not a password
    assert page["matched_keys"][0]["attributes"] == {"label": "k0"}
    last = keys.list_keys(c, ALICE, keys.Filter(), 2, 4, verbose=False)
    assert "next_token" not in last
    assert last["returned_key_count"] == 1


def test_set_attribute_rules() -> None:
    c, ref = gen(cluster())
    c = keys.set_attribute(c, ALICE, ref, "label", "renamed")
    c = keys.set_attribute(c, ALICE, ref, "encrypt", "true")
    attrs = keys.render(c, ref, verbose=True)["attributes"]
    assert attrs["label"] == "renamed"
    assert attrs["encrypt"] is True
    with pytest.raises(errors.InvalidInput, match="cannot be modified"):
        keys.set_attribute(c, ALICE, ref, "key-type", "rsa")
    with pytest.raises(errors.PermissionDenied, match="Only an admin"):
        keys.set_attribute(c, ALICE, ref, "trusted", "true")
    c = keys.set_attribute(c, ADMIN, ref, "trusted", "true")
    c = keys.set_attribute(c, ALICE, ref, "modifiable", "false")
    with pytest.raises(errors.PermissionDenied, match="not modifiable"):
        keys.set_attribute(c, ALICE, ref, "label", "again")


def test_delete_removes_key_from_every_hsm_and_inconsistency_shows() -> None:
    c, ref = gen(cluster(2))
    partial = (c[0], keys.delete(c, ALICE, ref)[1])
    view = keys.render(partial, ref, verbose=True)
    assert view["key-info"]["cluster-coverage"] == "inconsistent"
    c = keys.delete(c, ALICE, ref)
    assert all(x.key(ref) is None for x in c)


def test_generate_checks() -> None:
    with pytest.raises(errors.PermissionDenied):
        gen(cluster(), actor=ADMIN)
    with pytest.raises(errors.InvalidInput, match="16, 24 or 32"):
        keys.generate_aes(cluster(), ALICE, 20, "x", new_aes_material(20))
    with pytest.raises(errors.InvalidInput, match="cannot be set"):
        keys.creation_attributes(["check-value=0x000000"])
    assert keys.creation_attributes(["encrypt=true", "id=0x0102"]) == {
        "encrypt": True, "id": b"\x01\x02"}


def test_token_false_is_refused_like_a_session_key() -> None:
    # hsmkms keeps token keys only: token=false would be a session key
    with pytest.raises(errors.SessionKeyRefused,
                       match=r"^Session keys are not supported; generate a token key\.$"):
        keys.creation_attributes(["token=false"])
    assert keys.creation_attributes(["token=true"]) == {"token": True}


def test_label_limit_applies_to_the_label_the_key_gets() -> None:
    long = "x" * (keys.MAX_LABEL + 1)
    with pytest.raises(errors.InvalidInput, match="at most 127 characters"):
        keys.generate_aes(cluster(), ALICE, 32, "short", new_aes_material(32),
                          {"label": long})
    with pytest.raises(errors.InvalidInput, match="at most 127 characters"):
        gen(cluster(), label=long)
    c, ref = keys.generate_aes(cluster(), ALICE, 32, long, new_aes_material(32),
                               {"label": "x" * keys.MAX_LABEL})
    assert keys.render(c, ref, verbose=False)["attributes"]["label"] == "x" * keys.MAX_LABEL


def test_a_key_is_shared_with_at_most_seven_crypto_users() -> None:
    c = cluster(1)
    names = [f"cu{i}" for i in range(1, 9)]
    for name in names:
        c = users.create_user(c, name, Role.CRYPTO_USER, "sharepw1")
    limit = "at most 7 crypto users in addition to its owner"
    with pytest.raises(errors.InvalidInput, match=limit):
        keys.generate_aes(c, ALICE, 32, "k", new_aes_material(32), {}, tuple(names))
    c, ref = keys.generate_aes(c, ALICE, 32, "k", new_aes_material(32), {}, tuple(names[:6]))
    c = keys.share(c, ALICE, ref, names[6])
    with pytest.raises(errors.InvalidInput, match=limit):
        keys.share(c, ALICE, ref, names[7])
    c = keys.unshare(c, ALICE, ref, names[0])
    c = keys.share(c, ALICE, ref, names[7])
    assert len(c[0].key(ref).shared_users) == 7  # type: ignore[union-attr]
