"""The admin surface under ``/_hsmkms/``: what AWS has no API for.

* ``GET /_hsmkms/health`` -> ``{"status": "ok", ...}``
* ``GET /_hsmkms/clock`` -> ``{"now": <epoch seconds>, "offset": <seconds>}``
* ``POST /_hsmkms/clock`` with ``{"advance_seconds": N}`` -> ``{"now": ...}``, answered only after
  every piece of scheduled work that became due has been carried out; if some of it failed
  (it is kept and retried), the answer adds ``"failed_jobs": [{"job_id", "task", "error"}]``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from hsmkms import __version__
from hsmkms.http import HttpRequest, HttpResponse

if TYPE_CHECKING:
    from hsmkms.app import App


#: 3000-01-01T00:00:00Z: the clock is never advanced beyond it.
CLOCK_LIMIT = 32503680000.0


def install(app: App) -> None:
    def health(_req: HttpRequest, _rest: str) -> HttpResponse:
        return HttpResponse.of_json(200, {
            "status": "ok", "version": __version__, "now": app.clock.now(),
            "pending_jobs": len(app.scheduler.pending()),
            "failed_job_runs": app.scheduler.failures,
            "services": sorted(app.json_services),
        })

    def get_clock(_req: HttpRequest, _rest: str) -> HttpResponse:
        return HttpResponse.of_json(200, {"now": app.clock.now(), "offset": app.clock.offset})

    def advance_clock(req: HttpRequest, _rest: str) -> HttpResponse:
        doc = req.json()
        seconds = doc.get("advance_seconds") if isinstance(doc, dict) else None
        # An int is checked without float conversion (a 401-digit one overflows a float).
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) \
                or (isinstance(seconds, float) and not math.isfinite(seconds)) or seconds < 0:
            raise ValueError("advance_seconds must be a non-negative number")
        if seconds > CLOCK_LIMIT - app.clock.now():
            # Timestamps beyond this break SDKs' date parsing (and no key lives that long).
            raise ValueError("advance_seconds would move the clock past the year 3000")
        app.clock.advance(float(seconds))
        failed = app.scheduler.run_due()
        answer: dict[str, object] = {"now": app.clock.now()}
        if failed:
            # The failed jobs are kept and retried; the caller learns the work is not all done.
            answer["failed_jobs"] = [{"job_id": f.job_id, "task": f.task, "error": f.error}
                                     for f in failed]
        return HttpResponse.of_json(200, answer)

    app.add_admin_route("GET", "health", health)
    app.add_admin_route("GET", "clock", get_clock)
    app.add_admin_route("POST", "clock", advance_clock)
