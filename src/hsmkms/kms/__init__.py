"""AWS KMS (``TrentService``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hsmkms.app import App


def install(app: App) -> None:
    from hsmkms.kms.api import build  # noqa: PLC0415

    build(app)
