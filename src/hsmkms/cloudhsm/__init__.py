"""AWS CloudHSM v2 control plane (``BaldrApiService``): clusters, HSMs, backups, certificates.

``install`` registers the JSON service and attaches :class:`~hsmkms.cloudhsm.service.
CloudHsmService` as ``app.cloudhsm`` for the packages installed after this one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hsmkms.app import App


def install(app: App) -> None:
    from hsmkms.cloudhsm.api import CloudHsmApi  # noqa: PLC0415
    from hsmkms.cloudhsm.service import CloudHsmService  # noqa: PLC0415
    from hsmkms.protocol.awsjson import JsonService  # noqa: PLC0415

    service = CloudHsmService(app.store, app.scheduler, app.config,
                              lambda: getattr(app, "network", None))
    app.cloudhsm = service  # type: ignore[attr-defined]
    app.add_json_service(JsonService("cloudhsmv2", CloudHsmApi(service).handlers()))
