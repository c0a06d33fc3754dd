"""IAM's entities as the store keeps them (frozen: a change writes a new version)."""

from __future__ import annotations

from dataclasses import dataclass, field

from hsmkms.store.codec import Secret

DEFAULT_SESSION = 3600


@dataclass(frozen=True, slots=True)
class User:
    name: str
    user_id: str
    path: str
    created: float
    #: Inline policies: name -> document (as given).
    inline: dict[str, str] = field(default_factory=dict)
    #: ARNs of the attached managed policies, in attachment order.
    attached: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Role:
    name: str
    role_id: str
    path: str
    created: float
    trust: str
    description: str = ""
    max_session: int = DEFAULT_SESSION
    inline: dict[str, str] = field(default_factory=dict)
    attached: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ManagedPolicy:
    name: str
    policy_id: str
    path: str
    created: float
    document: str
    description: str = ""
    attachments: int = 0


@dataclass(frozen=True, slots=True)
class UserKey:
    """An IAM user's access key (the secret sealed by the store's codec)."""

    access_key_id: str
    account: str
    user_name: str
    secret: Secret
    active: bool
    created: float


def user_arn(account: str, user: User) -> str:
    return f"arn:aws:iam::{account}:user{user.path}{user.name}"


def role_arn(account: str, role: Role) -> str:
    return f"arn:aws:iam::{account}:role{role.path}{role.name}"


def policy_arn(account: str, path: str, name: str) -> str:
    return f"arn:aws:iam::{account}:policy{path}{name}"
