"""(installed into the app by ``install``; filled in by its issue)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hsmkms.app import App


def install(app: App) -> None:
    """Nothing to install yet."""
