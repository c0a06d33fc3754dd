"""Fault injection for what AWS has no API for (a flaky network, a burst that exhausts the
cluster's PKCS #11 sessions, an internal error in KMS, one HSM that stops answering).

``POST /_hsmkms/faults`` with ``{"fault": "network-errors" | "pkcs11-sessions-exhausted" |
"internal-error", "cluster_id": "cluster-..."}`` or ``{"fault": "hsm-unreachable",
"cluster_id": "cluster-...", "hsm_id": "hsm-..."}`` -> ``{"fault_id": "..."}``;
``GET /_hsmkms/faults`` -> ``{"faults": [...]}``; ``DELETE /_hsmkms/faults/<fault_id>``.
Faults are stored with the state and persist until removed (also across restarts). The same is
available as ``hsmkms fault add|list|clear``.

``hsm-unreachable`` changes the HSM itself (:mod:`hsmkms.hsm.reachability`): while it holds the
HSM is ``DEGRADED`` and skipped by cloudhsm-cli and KMS; removing it makes the HSM ``ACTIVE``
again and synchronises its keys (not its users). It needs an ACTIVE HSM of an existing cluster;
removing it after the HSM was deleted just removes it.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from hsmkms.hsm.errors import HsmError
from hsmkms.http import HttpRequest, HttpResponse

if TYPE_CHECKING:
    from collections.abc import Callable

    from hsmkms.envelope import Routes
    from hsmkms.ids import IdSource
    from hsmkms.store.base import Store

FAULTS = "faults"
KINDS = ("network-errors", "pkcs11-sessions-exhausted", "internal-error", "hsm-unreachable")
#: Faults about one HSM of the cluster (they need ``hsm_id``).
HSM_KINDS = ("hsm-unreachable",)
CLUSTER_ID = re.compile(r"^cluster-[2-7a-zA-Z]{11,16}$")
HSM_ID = re.compile(r"^hsm-[2-7a-zA-Z]{11,16}$")


@dataclass(frozen=True, slots=True)
class Fault:
    fault_id: str
    fault: str
    cluster_id: str
    created: float
    hsm_id: str = ""


class Reachability(Protocol):
    """What faults need from the HSMs: make one stop answering, or answer again."""

    def set_reachable(self, cluster_id: str, hsm_id: str, *, reachable: bool) -> None: ...


class Faults:
    def __init__(self, store: Store, ids: IdSource, hsms: Reachability) -> None:
        self._ids = ids
        self._hsms = hsms
        self._repo = store.repository(FAULTS, Fault)

    def active(self, cluster_id: str, kind: str) -> bool:
        return any(f.cluster_id == cluster_id and f.fault == kind for f in self._repo.values(""))

    def add(self, kind: str, cluster_id: str, now: float, hsm_id: str | None = None) -> Fault:
        if kind not in KINDS:
            raise ValueError(f"fault must be one of {', '.join(KINDS)}")
        if not isinstance(cluster_id, str) or not CLUSTER_ID.match(cluster_id):
            raise ValueError("cluster_id must be a CloudHSM cluster id (cluster-...)")
        if kind in HSM_KINDS:
            if not isinstance(hsm_id, str) or not HSM_ID.match(hsm_id):
                raise ValueError(f"{kind} needs hsm_id, an HSM id (hsm-...)")
            self._set_reachable(cluster_id, hsm_id, reachable=False)
        elif hsm_id is not None:
            raise ValueError(f"{kind} is a fault of the whole cluster: it takes no hsm_id")
        fault = Fault("fault-" + self._ids.hex(16), kind, cluster_id, now, hsm_id or "")
        self._repo.put("", fault.fault_id, fault)
        return fault

    def remove(self, fault_id: str) -> bool:
        fault = self._repo.get("", fault_id)
        if fault is None:
            return False
        if fault.fault in HSM_KINDS:
            with contextlib.suppress(ValueError):  # the HSM or its cluster is gone meanwhile
                self._set_reachable(fault.cluster_id, fault.hsm_id, reachable=True)
        self._repo.delete("", fault_id)
        return True

    def _set_reachable(self, cluster_id: str, hsm_id: str, *, reachable: bool) -> None:
        try:
            self._hsms.set_reachable(cluster_id, hsm_id, reachable=reachable)
        except HsmError as err:
            raise ValueError(err.message) from None

    def all(self) -> list[Fault]:
        return self._repo.values("")


def _doc(f: Fault) -> dict[str, object]:
    doc: dict[str, object] = {"fault_id": f.fault_id, "fault": f.fault,
                              "cluster_id": f.cluster_id, "created": f.created}
    if f.hsm_id:
        doc["hsm_id"] = f.hsm_id
    return doc


def install_routes(routes: Routes, faults: Faults, store: Store,
                   now: Callable[[], float]) -> None:

    def add(req: HttpRequest, _rest: str) -> HttpResponse:
        doc = req.json()
        if not isinstance(doc, dict):
            raise ValueError("the body must be a JSON object")  # noqa: TRY004 - admin: 400
        with store.unit_of_work():
            fault = faults.add(doc.get("fault"), doc.get("cluster_id"),  # type: ignore[arg-type]
                               now(), doc.get("hsm_id"))
        return HttpResponse.of_json(200, {"fault_id": fault.fault_id})

    def listing(_req: HttpRequest, _rest: str) -> HttpResponse:
        return HttpResponse.of_json(200, {"faults": [_doc(f) for f in faults.all()]})

    def remove(_req: HttpRequest, rest: str) -> HttpResponse:
        with store.unit_of_work():
            found = faults.remove(rest)
        if not found:
            return HttpResponse.of_json(404, {"__type": "NotFound",
                                              "message": f"No fault {rest}"})
        return HttpResponse.of_json(200, {"fault_id": rest, "removed": True})

    routes.add_admin_route("POST", "faults", add)
    routes.add_admin_route("GET", "faults", listing)
    routes.add_admin_route("DELETE", "faults", remove)
