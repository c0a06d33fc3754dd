"""The one clock: real time plus an offset that ``POST /_hsmkms/clock`` advances.

Domain code never reads the wall clock; it is handed ``now`` (epoch seconds, float) by the
service layer, which reads it from here. The offset is persisted, so an advanced clock stays
advanced across restarts (as it would in a world where that much time had really passed).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from hsmkms.store.base import Database

_META_KEY = "clock_offset"


class Clock:
    def __init__(self, db: Database | None = None, wall: Callable[[], float] = time.time) -> None:
        self._db = db
        self._wall = wall
        stored = db.get_meta(_META_KEY) if db is not None else None
        self.offset = float(stored) if stored is not None else 0.0

    def now(self) -> float:
        return self._wall() + self.offset

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self.offset += seconds
        if self._db is not None:
            self._db.set_meta(_META_KEY, repr(self.offset))
        return self.now()
