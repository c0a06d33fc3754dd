"""Key objects across the HSMs of a cluster (pure: tuples of HsmContents in, out).

Token keys are synchronised to every HSM of the cluster (AWS concepts-key-sync), so a generated
key is written to each reachable HSM under one cluster-wide ``key-reference``. The cluster-wide
view merges the HSMs by reference; an attribute on which HSMs disagree prints
``"inconsistent"`` and a key missing from some HSMs has ``cluster-coverage`` ``"inconsistent"``.
An HSM that was unreachable (the ``hsm-unreachable`` fault) missed the key changes made
meanwhile; when it answers again :func:`synchronise` brings every HSM to the same keys, with
tombstones (``deleted_references``) so that a key deleted meanwhile is not copied back.

Ownership (AWS key delete/share/unshare/set-attribute): the crypto user who creates a key owns
it; only the owner deletes, shares, unshares or changes it; shared users may only use it. A
crypto user sees the keys it owns or that are shared with it; an admin may list all keys
(non-verbose) and is the only one who may set ``trusted``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from hsmkms.hsm.errors import (
    InvalidInput,
    KeyNotFound,
    MultipleKeysMatched,
    NoActiveHsm,
    PermissionDenied,
    SessionKeyRefused,
)
from hsmkms.hsm.material import AES_LENGTHS, check_value
from hsmkms.hsm.model import HsmContents, HsmKey, KeyAttributes, Role
from hsmkms.store.codec import Secret

Contents = tuple[HsmContents, ...]
MAX_LABEL = 127  # SDK >= 5.11 (cloudhsm-cli key attributes)
#: "You can share a key with up to seven CUs in addition to the key owner" (cloudhsm_cli-key-share).
MAX_SHARED_USERS = 7

#: CLI attribute name -> KeyAttributes field, in AWS's print order.
ATTRIBUTE_FIELDS = {f.name.replace("_", "-") if f.name != "key_class" else "class": f.name
                    for f in dataclasses.fields(KeyAttributes)}
_BOOLEAN = {n for n, f in ATTRIBUTE_FIELDS.items()
            if KeyAttributes.__dataclass_fields__[f].type in ("bool", bool)}
#: Attributes a generate command may set (``--attributes``), per the attribute table.
SETTABLE_AT_CREATION = {"decrypt", "derive", "destroyable", "encrypt", "extractable", "id",
                        "label", "modifiable", "private", "sensitive", "sign", "token",
                        "unwrap", "verify", "wrap", "wrap-with-trusted"}
#: Attributes ``key set-attribute`` may change on an AES key of an hsm1.medium cluster.
MODIFIABLE = {"decrypt", "derive", "destroyable", "encrypt", "label", "modifiable", "sign",
              "token", "trusted", "unwrap", "verify", "wrap", "wrap-with-trusted"}


@dataclass(frozen=True, slots=True)
class Actor:
    username: str
    role: Role


def _require(contents: Contents) -> None:
    if not contents:
        raise NoActiveHsm


def format_reference(ref: int) -> str:
    return f"0x{ref:016x}"


def parse_reference(text: str) -> int:
    try:
        return int(text, 16) if text.lower().startswith("0x") else int(text)
    except ValueError:
        raise InvalidInput(f"Invalid key-reference '{text}'.") from None


def parse_id(text: str) -> bytes:
    """``0x``-hex is read as hex (the KMS guide's ``attr.id=0x<backingKeyId>``), else text."""
    if text.lower().startswith("0x"):
        digits = text[2:]
        try:
            return bytes.fromhex(digits if len(digits) % 2 == 0 else "0" + digits)
        except ValueError:
            raise InvalidInput(f"Invalid id '{text}': expected hexadecimal digits.") from None
    return text.encode()


def _parse_bool(name: str, text: str) -> bool:
    low = text.lower()
    if low not in ("true", "false"):
        raise InvalidInput(f"Invalid value '{text}' for attribute '{name}': use true or false.")
    return low == "true"


def parse_value(name: str, text: str) -> Any:
    if name not in ATTRIBUTE_FIELDS:
        raise InvalidInput(f"Invalid attribute name '{name}'.")
    if name in _BOOLEAN:
        return _parse_bool(name, text)
    if name == "id":
        return parse_id(text)
    if name == "key-length-bytes":
        if not text.isdigit():
            raise InvalidInput(f"Invalid value '{text}' for attribute 'key-length-bytes'.")
        return int(text)
    if name == "check-value":
        return text.lower()
    return text


def render_value(name: str, value: Any) -> Any:
    if name == "id":
        return "0x" + value.hex() if value else ""
    return value


# -- filters --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Filter:
    reference: int | None = None
    attributes: tuple[tuple[str, Any], ...] = ()

    def matches(self, key: HsmKey) -> bool:
        if self.reference is not None and key.key_reference != self.reference:
            return False
        return all(getattr(key.attributes, ATTRIBUTE_FIELDS[n]) == v for n, v in self.attributes)


def parse_filter(terms: list[str]) -> Filter:
    """``key-reference=0x...`` and/or ``attr.<name>=<value>`` terms, all of which must match."""
    reference, attrs = None, []
    for term in terms:
        name, sep, value = term.partition("=")
        if not sep:
            raise InvalidInput(f"Invalid filter '{term}': expected key-reference=<value> or "
                               "attr.<name>=<value>.")
        if name == "key-reference":
            reference = parse_reference(value)
        elif name.startswith("attr."):
            attrs.append((name[5:], parse_value(name[5:], value)))
        else:
            raise InvalidInput(f"Invalid filter '{term}': expected key-reference=<value> or "
                               "attr.<name>=<value>.")
    return Filter(reference, tuple(attrs))


# -- the cluster-wide view ------------------------------------------------------------------


def _references(contents: Contents) -> list[int]:
    refs = {k.key_reference for c in contents for k in c.keys}
    return sorted(refs)


def _copies(contents: Contents, ref: int) -> list[HsmKey]:
    return [k for c in contents if (k := c.key(ref)) is not None]


def visible(key: HsmKey, actor: Actor) -> bool:
    if actor.role is Role.ADMIN:
        return True
    return actor.role is Role.CRYPTO_USER and (key.owner == actor.username
                                               or actor.username in key.shared_users)


def select(contents: Contents, actor: Actor, flt: Filter) -> list[int]:
    """References of the keys the actor can see that match on at least one HSM."""
    return [ref for ref in _references(contents)
            if any(visible(k, actor) and flt.matches(k) for k in _copies(contents, ref))]


def select_one(contents: Contents, actor: Actor, flt: Filter) -> int:
    refs = select(contents, actor, flt)
    if not refs:
        raise KeyNotFound("Key selection criteria did not match any key.")
    if len(refs) > 1:
        raise MultipleKeysMatched(len(refs))
    return refs[0]


def _agg(values: list[Any]) -> Any:
    first = values[0]
    return first if all(v == first for v in values) else "inconsistent"


def _coverage(n: int, total: int) -> str:
    return "full" if n == total else "inconsistent"


def render(contents: Contents, ref: int, *, verbose: bool) -> dict[str, Any]:
    copies = _copies(contents, ref)
    label = _agg([k.attributes.label for k in copies])
    if not verbose:
        return {"key-reference": format_reference(ref), "attributes": {"label": label}}
    owners = sorted({k.owner for k in copies})
    shared = sorted({u for k in copies for u in k.shared_users})
    attrs = {name: _agg([render_value(name, getattr(k.attributes, field)) for k in copies])
             for name, field in ATTRIBUTE_FIELDS.items()}
    return {
        "key-reference": format_reference(ref),
        "key-info": {
            "key-owners": [{"username": o, "key-coverage": _coverage(
                sum(k.owner == o for k in copies), len(contents))} for o in owners],
            "shared-users": [{"username": u, "key-coverage": _coverage(
                sum(u in k.shared_users for k in copies), len(contents))} for u in shared],
            "key-quorum-values": {"manage-key-quorum-value": 0, "use-key-quorum-value": 0},
            "cluster-coverage": _coverage(len(copies), len(contents)),
        },
        "attributes": attrs,
    }


def list_keys(contents: Contents, actor: Actor, flt: Filter, max_items: int, start: int, *,
              verbose: bool) -> dict[str, Any]:
    refs = select(contents, actor, flt)
    page = refs[start:start + max_items]
    data: dict[str, Any] = {
        "matched_keys": [render(contents, r, verbose=verbose and actor.role is Role.CRYPTO_USER)
                         for r in page],
        "total_key_count": len(refs),
        "returned_key_count": len(page),
    }
    if start + len(page) < len(refs):
        data["next_token"] = str(start + len(page))
    return data


# -- changes ---------------------------------------------------------------------------------


def _require_crypto_user(actor: Actor) -> None:
    if actor.role is not Role.CRYPTO_USER:
        raise PermissionDenied("Only crypto users can manage keys.")


def _update(contents: Contents, ref: int, fn: Any) -> Contents:
    return tuple(dataclasses.replace(c, keys=tuple(fn(k) if k.key_reference == ref else k
                                                   for k in c.keys)) for c in contents)


def creation_attributes(pairs: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise InvalidInput(f"Invalid attribute '{pair}': expected <name>=<value>.")
        parsed = parse_value(name, value)
        if name not in SETTABLE_AT_CREATION:
            raise InvalidInput(f"Attribute '{name}' cannot be set when generating a key.")
        if name == "token" and parsed is False:
            # token=false is a session key: refused like --session (no session keys here)
            raise SessionKeyRefused
        out[name] = parsed
    return out


def generate_aes(contents: Contents, actor: Actor, length: int, label: str,
                 material: Secret, attributes: dict[str, Any] | None = None,
                 share_with: tuple[str, ...] = (), next_reference: int = 0,
                 ) -> tuple[Contents, int]:
    """``next_reference``: the cluster's next key-reference when HSMs outside ``contents``
    (unreachable ones) may have handed out larger ones; references are never reused."""
    _require(contents)
    _require_crypto_user(actor)
    if length not in AES_LENGTHS:
        raise InvalidInput("Invalid key-length-bytes: AES keys are 16, 24 or 32 bytes long.")
    values = {ATTRIBUTE_FIELDS[n]: v for n, v in (attributes or {}).items()}
    values.setdefault("label", label)
    _check_label(values["label"])  # after merging: --attributes label=... overrides --label
    _check_share_targets(contents, actor, share_with)
    attrs = KeyAttributes(**values, check_value=check_value(material),
                          key_length_bytes=length)
    attrs = dataclasses.replace(attrs, always_sensitive=attrs.sensitive,
                                never_extractable=not attrs.extractable)
    ref = max(next_reference, *(c.next_key_reference for c in contents))
    key = HsmKey(ref, actor.username, material, attrs, tuple(sorted(set(share_with))))
    return tuple(dataclasses.replace(c, keys=(*c.keys, key), next_key_reference=ref + 1)
                 for c in contents), ref


def _check_label(label: str) -> None:
    if len(label) > MAX_LABEL:
        raise InvalidInput(f"Invalid label: at most {MAX_LABEL} characters.")


def _owned(contents: Contents, actor: Actor, ref: int) -> HsmKey:
    _require_crypto_user(actor)
    key = _copies(contents, ref)[0]
    if key.owner != actor.username:
        raise PermissionDenied("Only the key owner can perform this operation.")
    return key


def delete(contents: Contents, actor: Actor, ref: int) -> Contents:
    key = _owned(contents, actor, ref)
    if not key.attributes.destroyable:
        raise PermissionDenied("The key is not destroyable.")
    return tuple(dataclasses.replace(c, keys=tuple(k for k in c.keys if k.key_reference != ref),
                                     deleted_references=(*c.deleted_references, ref))
                 for c in contents)


def synchronise(contents: Contents) -> Contents:
    """Token keys made the same on every HSM given (AWS "automatically resynchronizes" keys,
    cluster-synchronization; users are not). A key on any HSM reaches all of them unless some
    HSM deleted it (its tombstone wins); where copies differ, the earlier HSM's copy wins, so
    callers list the HSMs that stayed reachable first."""
    gone = {r for c in contents for r in c.deleted_references}
    merged: dict[int, HsmKey] = {}
    for c in contents:
        for k in c.keys:
            if k.key_reference not in gone:
                merged.setdefault(k.key_reference, k)
    synced = tuple(merged[r] for r in sorted(merged))
    tombstones = tuple(sorted(gone))
    nxt = max(c.next_key_reference for c in contents)
    return tuple(dataclasses.replace(c, keys=synced, deleted_references=tombstones,
                                     next_key_reference=nxt) for c in contents)


def _check_share_count(count: int) -> None:
    if count > MAX_SHARED_USERS:
        raise InvalidInput(f"A key can be shared with at most {MAX_SHARED_USERS} crypto users "
                           "in addition to its owner.")


def _check_share_targets(contents: Contents, actor: Actor, users: tuple[str, ...]) -> None:
    _check_share_count(len(set(users)))
    for name in users:
        if name == actor.username:
            raise InvalidInput("A key cannot be shared with its owner.")
        roles = {u.role for c in contents if (u := c.user(name)) is not None}
        if roles != {Role.CRYPTO_USER}:
            raise InvalidInput(f"User '{name}' is not a crypto user: keys can be shared only "
                               "with crypto users.")


def share(contents: Contents, actor: Actor, ref: int, username: str) -> Contents:
    key = _owned(contents, actor, ref)
    _check_share_targets(contents, actor, (username,))
    if username in key.shared_users:
        raise InvalidInput(f"The key is already shared with '{username}'.")
    _check_share_count(len(key.shared_users) + 1)
    return _update(contents, ref, lambda k: dataclasses.replace(
        k, shared_users=tuple(sorted({*k.shared_users, username}))))


def unshare(contents: Contents, actor: Actor, ref: int, username: str) -> Contents:
    key = _owned(contents, actor, ref)
    if username not in key.shared_users:
        raise InvalidInput(f"The key is not shared with '{username}'.")
    return _update(contents, ref, lambda k: dataclasses.replace(
        k, shared_users=tuple(u for u in k.shared_users if u != username)))


def set_attribute(contents: Contents, actor: Actor, ref: int, name: str, text: str) -> Contents:
    value = parse_value(name, text)
    if name not in MODIFIABLE:
        raise InvalidInput(f"Attribute '{name}' cannot be modified.")
    if name == "trusted":
        if actor.role is not Role.ADMIN:
            raise PermissionDenied("Only an admin can set the trusted attribute.")
        key = _copies(contents, ref)[0]
    else:
        key = _owned(contents, actor, ref)
    current = getattr(key.attributes, ATTRIBUTE_FIELDS[name])
    if not key.attributes.modifiable and value != current:
        raise PermissionDenied("The key is not modifiable.")
    one_way = {"modifiable": False, "token": True, "wrap-with-trusted": True}
    if name in one_way and current == one_way[name] and value != current:
        raise InvalidInput(f"Attribute '{name}' can no longer be changed on this key.")
    if name == "label":
        _check_label(value)
    field = ATTRIBUTE_FIELDS[name]
    return _update(contents, ref, lambda k: dataclasses.replace(
        k, attributes=dataclasses.replace(k.attributes, **{field: value})))


def find_by_id(contents: Contents, actor: Actor, key_id: bytes) -> HsmKey:
    """The key (first HSM's copy) with this ``id`` that the actor owns or shares (KMS)."""
    for c in contents:
        for k in c.keys:
            if k.attributes.id == key_id and visible(k, actor) and actor.role is Role.CRYPTO_USER:
                return k
    raise KeyNotFound
