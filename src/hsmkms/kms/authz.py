"""Who may do what to a key: the seam every key use case goes through.

hsmkms has no IAM yet, so :class:`AllowAll` is the only authorizer: every caller of the account
may do everything to its keys (key policies are stored and returned, not evaluated;
docs/compatibility.md). Key policies, grants and IAM policies will plug in here.
"""

from __future__ import annotations

from typing import Protocol

from hsmkms.context import RequestContext
from hsmkms.kms.model import Key


class Authorizer(Protocol):
    def authorize(self, ctx: RequestContext, operation: str, key: Key) -> None:
        """Return if the caller may run ``operation`` on ``key``; else raise the AWS error
        (``AccessDeniedException``)."""
        ...


class AllowAll:
    def authorize(self, ctx: RequestContext, operation: str, key: Key) -> None:
        """Everything is allowed (no IAM yet)."""
