"""KMS operation handlers: plain dicts in, plain dicts out."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hsmkms.protocol.awsjson import JsonService

if TYPE_CHECKING:
    from hsmkms.app import App


def build(app: App) -> JsonService:
    service = JsonService("kms", {})
    app.add_json_service(service)
    return service
