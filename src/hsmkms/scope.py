"""Where a resource lives: one account in one Region.

A :class:`Scope` *is* the string ``"<account>/<region>"`` that the store partitions documents by,
so it goes wherever a scope string goes; building and splitting it happen here and nowhere else.
"""

from __future__ import annotations


class Scope(str):
    __slots__ = ()

    @classmethod
    def of(cls, account: str, region: str) -> Scope:
        return cls(f"{account}/{region}")

    @property
    def account(self) -> str:
        return self.partition("/")[0]

    @property
    def region(self) -> str:
        return self.partition("/")[2]

    def parts(self) -> tuple[str, str]:
        """``(account, region)``."""
        account, _, region = self.partition("/")
        return account, region
