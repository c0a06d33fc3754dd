"""The admin surface under ``/_hsmkms/``: what AWS has no API for.

* ``GET /_hsmkms/health`` -> ``{"status": "ok", ...}``
* ``GET /_hsmkms/clock`` -> ``{"now": <epoch seconds>, "offset": <seconds>}``
* ``POST /_hsmkms/clock`` with ``{"advance_seconds": N}`` -> ``{"now": ...}``, answered only after
  every piece of scheduled work that became due has been carried out; if some of it failed
  (it is kept and retried), the answer adds ``"failed_jobs": [{"job_id", "task", "error"}]``.
  A jump of years runs thousands of jobs: every :data:`SLICE_SECONDS` of them, the call lets go
  of the app lock for a moment so that other requests are served meanwhile (the server runs
  this call in a worker thread, so the event loop stays free).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from hsmkms import __version__
from hsmkms.http import HttpRequest, HttpResponse

if TYPE_CHECKING:
    from hsmkms.app import App


#: 3000-01-01T00:00:00Z: the clock is never advanced beyond it.
CLOCK_LIMIT = 32503680000.0
#: A clock jump runs due jobs for this long (real time) before other requests get a turn ...
SLICE_SECONDS = 0.02
#: ... of at least this long (a lock released and taken back at once would mostly be taken
#: back by the same thread: Python's locks are not fair).
TURN_SECONDS = 0.002


def install(app: App) -> None:
    def health(_req: HttpRequest, _rest: str) -> HttpResponse:
        return HttpResponse.of_json(200, {
            "status": "ok", "version": __version__, "now": app.clock.now(),
            "pending_jobs": app.scheduler.pending_count(),
            "failed_job_runs": app.scheduler.failures,
            "services": sorted(app.json_services),
            "auth": app.config.auth,
        })

    def get_clock(_req: HttpRequest, _rest: str) -> HttpResponse:
        return HttpResponse.of_json(200, {"now": app.clock.now(), "offset": app.clock.offset})

    def advance_clock(req: HttpRequest, _rest: str) -> HttpResponse:
        return HttpResponse.of_json(200, advance(app, req.json()))

    app.add_admin_route("GET", "health", health)
    app.add_admin_route("GET", "clock", get_clock)
    app.add_admin_route("POST", "clock", advance_clock)


def advance(app: App, doc: object) -> dict[str, object]:
    """Advance the clock as ``doc`` (``{"advance_seconds": N}``) says and run the work that
    became due (the clock route's and the web console's); its answer."""
    seconds = doc.get("advance_seconds") if isinstance(doc, dict) else None
    # An int is checked without float conversion (a 401-digit one overflows a float).
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) \
            or (isinstance(seconds, float) and not math.isfinite(seconds)) or seconds < 0:
        raise ValueError("advance_seconds must be a non-negative number")
    if seconds > CLOCK_LIMIT - app.clock.now():
        # Timestamps beyond this break SDKs' date parsing (and no key lives that long).
        raise ValueError("advance_seconds would move the clock past the year 3000")
    app.clock.advance(float(seconds))
    # Stops early if the app closes meanwhile (it may take the lock between two jobs).
    failed = app.scheduler.run_due(between=_turns(app.lock), stop=lambda: app.stopping)
    answer: dict[str, object] = {"now": app.clock.now()}
    if failed:
        # The failed jobs are kept and retried; the caller learns the work is not all done.
        answer["failed_jobs"] = [{"job_id": f.job_id, "task": f.task, "error": f.error}
                                 for f in failed]
    return answer


def _turns(lock: threading.RLock) -> Callable[[], None]:
    """Called between two jobs (no unit of work open): once a slice of work is done, release
    ``lock`` briefly so that requests waiting for it run, then take it back. Held more than
    once (a caller nested in another), it stays held: nothing else could run anyway."""
    slice_end = time.monotonic() + SLICE_SECONDS

    def between() -> None:
        nonlocal slice_end
        if time.monotonic() < slice_end:
            return
        lock.release()
        try:
            time.sleep(TURN_SECONDS)
        finally:
            lock.acquire()
        slice_end = time.monotonic() + SLICE_SECONDS

    return between
