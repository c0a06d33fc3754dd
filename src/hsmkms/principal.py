"""Who signed a request: an account's root user, an IAM user, or a session of an assumed role
(spec authz.md §3.3, §3.6, §3.7). Pure data, shared by authentication (which finds it), the
authorizers (which decide for it) and the trail (which records it)."""

from __future__ import annotations

from dataclasses import dataclass

ROOT, USER, ASSUMED_ROLE = "Root", "IAMUser", "AssumedRole"


@dataclass(frozen=True, slots=True)
class Principal:
    #: CloudTrail's ``userIdentity.type``: ``Root``, ``IAMUser`` or ``AssumedRole``.
    type: str
    account: str
    #: The root ARN, the user ARN (with its path) or the session ARN
    #: (``arn:aws:sts::<acct>:assumed-role/<role>/<session>``).
    arn: str
    #: ``aws:userid``: the account id, the user's ``AIDA...`` id, or ``AROA...:<session>``.
    principal_id: str
    #: IAM users: the user name.
    user_name: str = ""
    #: Sessions: the role (ARN with path, unique id, name), the session name, when it began.
    role_arn: str = ""
    role_id: str = ""
    role_name: str = ""
    session_name: str = ""
    issued: float = 0.0
    #: Sessions: the session policy given to AssumeRole (``Policy``), "" for none; it limits
    #: what the role's identity policies allow.
    session_policy: str = ""

    @property
    def is_root(self) -> bool:
        return self.type == ROOT

    @property
    def principal_type(self) -> str:
        """``aws:PrincipalType``."""
        return {ROOT: "Account", USER: "User", ASSUMED_ROLE: "AssumedRole"}[self.type]


def root(account: str) -> Principal:
    return Principal(ROOT, account, f"arn:aws:iam::{account}:root", account)
