"""What lives inside the HSMs: users, roles, lockout, login sessions, keys, PKCS #11 pools.

``install`` attaches :class:`hsmkms.hsm.service.HsmService` as ``app.hsm`` and registers the
``cloudhsm-cli`` API under ``/_hsmkms/cloudhsm-cli/`` (see :mod:`hsmkms.hsm.routes`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hsmkms.app import App


def install(app: App) -> None:
    from hsmkms.hsm.routes import install_routes  # noqa: PLC0415 - imported at install time
    from hsmkms.hsm.service import HsmService  # noqa: PLC0415

    service = HsmService(app.store, app.clock.now, app.cloudhsm,  # type: ignore[attr-defined]
                         pkcs11_sessions=app.config.pkcs11_sessions,
                         cli_idle_timeout=app.config.cli_idle_timeout)
    app.hsm = service  # type: ignore[attr-defined]
    install_routes(app, service)
