"""The console's live timeline: what just happened, for the server-sent event streams.

Two sources feed one :class:`Timeline` (a bounded, numbered ring of events, thread-safe):

* every AWS call the envelope records for CloudTrail (:meth:`Timeline.record_call`, an envelope
  recorder: called after the call's unit of work ended, so it says what was committed);
* state changes nobody called for (a store's connection finishing, a key's deletion, an HSM
  turning ``DEGRADED``): while a stream is open, a tick duty (:meth:`Timeline.watch`) compares
  the states of clusters, HSMs, key stores and keys with the last look, at most every
  :data:`WATCH_SECONDS`.

Streams (:mod:`hsmkms.server`) poll :meth:`Timeline.since` from the event loop without the app
lock; :meth:`Timeline.close` ends them (graceful shutdown).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hsmkms.cloudhsm.model import CLUSTERS, Cluster
from hsmkms.kms.keystores import STORES, CustomKeyStore
from hsmkms.kms.model import KEYS, Key
from hsmkms.webconsole import views

if TYPE_CHECKING:
    from hsmkms.context import RequestContext
    from hsmkms.envelope import Exchange
    from hsmkms.errors import ServiceError
    from hsmkms.store.base import Store

#: Events kept for streams that fall behind (or connect late).
KEEP = 500
#: The least time between two looks at the states.
WATCH_SECONDS = 0.25
#: A look at every state takes at most one part in SHARE of the time (its interval grows).
SHARE = 50
#: Request members shown with a call (ids, never secrets or data).
SHOWN = ("KeyId", "CustomKeyStoreId", "ClusterId", "HsmId", "CloudHsmClusterId", "AliasName",
         "AvailabilityZone", "BackupId")

Event = dict[str, Any]


class Timeline:
    def __init__(self, store: Store, now: Callable[[], float],
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._store = store
        self._now = now
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._events: deque[Event] = deque(maxlen=KEEP)
        self._seq = itertools.count(1)
        self._last = 0
        #: Open streams (the states are watched only while some stream is open).
        self.streams = 0
        self.closed = False
        self._states: dict[tuple[str, str, str], str] | None = None
        self._looked = 0.0
        self._interval = WATCH_SECONDS

    # -- publishing -------------------------------------------------------------------------

    def publish(self, event: Event) -> None:
        with self._lock:
            self._last = next(self._seq)
            self._events.append({"seq": self._last, **event})

    def record_call(self, ctx: RequestContext, call: Exchange,
                    error: ServiceError | None) -> None:
        """Envelope recorder: one event per AWS call (what CloudTrail records)."""
        params = call.params if isinstance(call.params, dict) else {}
        self.publish({
            "kind": "call", "time": ctx.now, "account": ctx.account, "region": ctx.region,
            "source": call.service, "name": call.operation,
            "error": error.code() if error is not None else None,
            "detail": {k: v for k in SHOWN if isinstance(v := params.get(k), str)}})

    def watch(self) -> None:
        """Tick duty (under the app lock): publish the states that changed since the last
        look, while a stream is open."""
        if self.streams <= 0:
            self._states = None
            return
        if self._states is not None and self._monotonic() - self._looked < self._interval:
            return
        self._looked = self._monotonic()
        states = self._snapshot()
        # The look holds the app lock: with many keys it waits longer, so that it never takes
        # more than 1/SHARE of the time (20,000 keys: a look of ~20 ms once a second).
        self._interval = max(WATCH_SECONDS, SHARE * (self._monotonic() - self._looked))
        before, self._states = self._states, states
        if before is None:
            return
        when = self._now()
        for ident, value in states.items():
            if before.get(ident) != value:
                self._state_event(ident, before.get(ident), value, when)
        for ident in before.keys() - states.keys():
            self._state_event(ident, before[ident], "GONE", when)

    def _state_event(self, ident: tuple[str, str, str], old: str | None, new: str,
                     when: float) -> None:
        scope, kind, name = ident
        account, _, region = scope.partition("/")
        self.publish({"kind": "state", "time": when, "account": account, "region": region,
                      "source": kind, "name": name, "from": old, "to": new})

    def _snapshot(self) -> dict[tuple[str, str, str], str]:
        states: dict[tuple[str, str, str], str] = {}
        clusters = self._store.repository(CLUSTERS, Cluster)
        for scope in clusters.scopes():
            for c in clusters.values(scope):
                states[scope, "cluster", c.cluster_id] = str(c.state)
                for h in c.hsms:
                    states[scope, "hsm", h.hsm_id] = str(h.state)
        stores = self._store.repository(STORES, CustomKeyStore)
        connected: dict[str, frozenset[str]] = {}
        for scope in stores.scopes():
            found = stores.values(scope)
            connected[scope] = views.connected_stores(found)
            for s in found:
                states[scope, "store", s.store_id] = str(s.state) + (
                    f" ({s.error_code})" if s.error_code else "")
        keys = self._store.repository(KEYS, Key)
        for scope in keys.scopes():
            for k in keys.values(scope):
                states[scope, "key", k.key_id] = views.key_state(
                    k, connected.get(scope, frozenset()))
        return states

    # -- reading ----------------------------------------------------------------------------

    @property
    def last(self) -> int:
        return self._last

    def since(self, seq: int) -> list[Event]:
        """The events after number ``seq``, oldest first (thread-safe; no app lock)."""
        with self._lock:
            if self._last <= seq:
                return []
            return [e for e in self._events if e["seq"] > seq]

    def recent(self, count: int) -> list[Event]:
        with self._lock:
            return list(self._events)[-count:]

    def close(self) -> None:
        """End every stream (graceful shutdown)."""
        self.closed = True
