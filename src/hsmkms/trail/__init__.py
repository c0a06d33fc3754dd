"""CloudTrail for KMS: an event for every KMS (``TrentService``) call, successful or failed,
plus the events KMS causes itself (``DeleteKey`` at the end of a waiting period), and the
CloudTrail ``LookupEvents`` API over them.

Durability: recording is cheap on the request path (the observer keeps a small object in an
in-memory buffer). After a response, once 32 calls wait (or on a tick, once the oldest waited
a quarter of a second), they become rows; a writer thread inserts rows in big transactions,
once 512 wait or the oldest waited half a second. ``LookupEvents`` and closing the app write
everything first. A crash (``kill -9``) can therefore lose up to about the last second of trail
events, never a key or any other state change: those are committed in the request's own unit
of work before the response is sent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hsmkms.app import App


def install(app: App) -> None:
    from hsmkms.trail.api import build  # noqa: PLC0415
    from hsmkms.trail.service import KMS_PREFIX, Trail  # noqa: PLC0415

    kms = app.json_services.get(KMS_PREFIX)
    trail = Trail(app.db, kms.operations if kms is not None else {})
    app.trail = trail  # type: ignore[attr-defined]
    app.call_observers.append(trail.observe)
    app.background.append(trail.background)
    app.add_json_service(build(trail, app.clock.now))
    app.closing.append(trail.close)
    app.after_response.append(trail.after_response)
