"""Fault injection for what AWS has no API for (a flaky network, a burst that exhausts the
cluster's PKCS #11 sessions, an internal error in KMS).

``POST /_hsmkms/faults`` with ``{"fault": "network-errors" | "pkcs11-sessions-exhausted" |
"internal-error", "cluster_id": "cluster-..."}`` -> ``{"fault_id": "..."}``;
``GET /_hsmkms/faults`` -> ``{"faults": [...]}``; ``DELETE /_hsmkms/faults/<fault_id>``.
Faults are stored with the state and persist until removed (also across restarts). The same is
available as ``hsmkms fault add|list|clear``.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hsmkms.http import HttpRequest, HttpResponse

if TYPE_CHECKING:
    from hsmkms.app import App

FAULTS = "faults"
KINDS = ("network-errors", "pkcs11-sessions-exhausted", "internal-error")
CLUSTER_ID = re.compile(r"^cluster-[2-7a-zA-Z]{11,16}$")


@dataclass(frozen=True, slots=True)
class Fault:
    fault_id: str
    fault: str
    cluster_id: str
    created: float


class Faults:
    def __init__(self, app: App) -> None:
        self._app = app
        self._repo = app.store.repository(FAULTS, Fault)

    def active(self, cluster_id: str, kind: str) -> bool:
        return any(f.cluster_id == cluster_id and f.fault == kind for f in self._repo.values(""))

    def add(self, kind: str, cluster_id: str, now: float) -> Fault:
        if kind not in KINDS:
            raise ValueError(f"fault must be one of {', '.join(KINDS)}")
        if not isinstance(cluster_id, str) or not CLUSTER_ID.match(cluster_id):
            raise ValueError("cluster_id must be a CloudHSM cluster id (cluster-...)")
        fault = Fault("fault-" + uuid.uuid4().hex[:16], kind, cluster_id, now)
        self._repo.put("", fault.fault_id, fault)
        return fault

    def remove(self, fault_id: str) -> bool:
        if self._repo.get("", fault_id) is None:
            return False
        self._repo.delete("", fault_id)
        return True

    def all(self) -> list[Fault]:
        return self._repo.values("")


def _doc(f: Fault) -> dict[str, object]:
    return {"fault_id": f.fault_id, "fault": f.fault, "cluster_id": f.cluster_id,
            "created": f.created}


def install(app: App) -> None:
    faults = Faults(app)
    app.faults = faults  # type: ignore[attr-defined]

    def add(req: HttpRequest, _rest: str) -> HttpResponse:
        doc = req.json()
        if not isinstance(doc, dict):
            raise ValueError("the body must be a JSON object")
        with app.store.unit_of_work():
            fault = faults.add(doc.get("fault"), doc.get("cluster_id"),  # type: ignore[arg-type]
                               app.clock.now())
        return HttpResponse.of_json(200, {"fault_id": fault.fault_id})

    def listing(_req: HttpRequest, _rest: str) -> HttpResponse:
        return HttpResponse.of_json(200, {"faults": [_doc(f) for f in faults.all()]})

    def remove(_req: HttpRequest, rest: str) -> HttpResponse:
        with app.store.unit_of_work():
            found = faults.remove(rest)
        if not found:
            return HttpResponse.of_json(404, {"__type": "NotFound",
                                              "message": f"No fault {rest}"})
        return HttpResponse.of_json(200, {"fault_id": rest, "removed": True})

    app.add_admin_route("POST", "faults", add)
    app.add_admin_route("GET", "faults", listing)
    app.add_admin_route("DELETE", "faults", remove)
