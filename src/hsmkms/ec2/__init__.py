"""Amazon EC2, the VPC subset a CloudHSM cluster lives in (spec ec2.md).

``install(app)`` attaches :class:`hsmkms.ec2.network.Network` as ``app.network`` (the Python API
the CloudHSM and KMS packages use) and serves the EC2 query protocol.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hsmkms.app import App


def install(app: App) -> None:
    from hsmkms.ec2.network import Network  # noqa: PLC0415

    app.network = Network(app.store)  # type: ignore[attr-defined]
    try:
        from hsmkms.ec2.api import register  # noqa: PLC0415
    except ImportError:
        return
    register(app)
