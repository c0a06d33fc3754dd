"""CloudTrail for KMS: an event for every KMS (``TrentService``) call, successful or failed,
plus the events KMS causes itself (``DeleteKey`` at the end of a waiting period), and the
CloudTrail ``LookupEvents`` API over them.

Durability: recording is cheap on the request path (the observer keeps a small object in an
in-memory buffer); building the JSON records and inserting them into SQLite happens in batches,
in a background duty (when the oldest buffered event is about a second old or the buffer is
large), before every ``LookupEvents`` answer and when the app closes. A crash (``kill -9``) can
therefore lose about the last second of trail events, never a key or any other state change:
those are committed in the request's own unit of work before the response is sent.
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
    app.closing.append(trail.flush)
    app.after_response.append(trail.after_response)
