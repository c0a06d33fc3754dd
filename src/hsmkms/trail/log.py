"""The event history in the database (tables of migration ``0002_trail.sql``): batched appends and
indexed, keyset-paginated lookups, newest first; and each key's latest use (``trail_key_usage``,
migration ``0005_key_usage.sql``) for ``GetKeyLastUsage``, kept with the events it points to.

``body`` holds what :func:`hsmkms.trail.record.expand` needs beyond the columns (written by
hsmkms 0.1 after this change), or the whole record (rows written before it): lookups turn
either into the record's JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hsmkms.protocol.awsjson import dumps
from hsmkms.trail.record import expand, key_uses

if TYPE_CHECKING:
    from hsmkms.store.base import Database
    from hsmkms.trail.record import Event

#: LookupAttributes key -> (column of ``trail_events``, the index to search; ``None``: the
#: time index, for values that match most events anyway).
COLUMNS: dict[str, tuple[str, str | None]] = {
    "EventId": ("event_id", "trail_events_by_id"),
    "EventName": ("event_name", "trail_events_by_name"),
    "ReadOnly": ("read_only", None),
    "Username": ("username", "trail_events_by_username"),
    "AccessKeyId": ("access_key_id", "trail_events_by_access_key"),
    "EventSource": ("event_source", None),
}
#: LookupAttributes key -> column of ``trail_resources``.
RESOURCE_COLUMNS = {"ResourceType": "type", "ResourceName": "name"}

_JSON = json.JSONEncoder(separators=(",", ":")).encode


def _text(doc: object) -> str:
    """Compact JSON text for a column (orjson's: a fifth of the standard encoder's time)."""
    return dumps(doc).decode()


#: Records a key's latest use; a batch numbered before one already written (rows the
#: database refused and were retried) never replaces a later use.
_USE = ("INSERT INTO trail_key_usage VALUES (?, ?, ?, ?) ON CONFLICT (scope, name) "
        "DO UPDATE SET seq = excluded.seq, used_at = excluded.used_at "
        "WHERE excluded.seq > trail_key_usage.seq")

_FIELDS = ("seq, t, event_id, event_name, read_only, access_key_id, event_source, username, "
           "resources, body")


@dataclass(frozen=True, slots=True)
class Query:
    scope: str
    start: float
    end: float
    attribute: tuple[str, str] | None = None
    after: tuple[int, int] | None = None  # (t, seq) of the last event already returned
    limit: int = 50


@dataclass(slots=True)
class Batch:
    """Rows ready to insert: ``trail_events`` rows and their ``trail_resources`` rows."""

    events: list[tuple[object, ...]] = field(default_factory=list)
    resources: list[tuple[object, ...]] = field(default_factory=list)
    #: (scope, key ARN) -> (seq, exact time) of the batch's latest event that used the key
    #: (see :func:`hsmkms.trail.record.key_uses`): one ``trail_key_usage`` row per key and
    #: batch, however many calls used it.
    usage: dict[tuple[str, str], tuple[int, float]] = field(default_factory=dict)

    def extend(self, other: Batch) -> None:
        self.events.extend(other.events)
        self.resources.extend(other.resources)
        self.usage.update(other.usage)  # numbered after ours: the later use wins


@dataclass(frozen=True, slots=True)
class Use:
    """A key's latest use, as its event recorded it (``time``: the call's exact time)."""

    operation: str
    time: float
    event_id: str
    request_id: str


@dataclass(frozen=True, slots=True)
class Row:
    seq: int
    time: int
    event_id: str
    event_name: str
    read_only: str
    access_key_id: str | None
    event_source: str
    username: str | None
    resources: list[list[str]]
    body: str


class EventLog:
    def __init__(self, db: Database) -> None:
        self._db = db
        # Both tables number rows from one counter. Older data dirs may hold resource rows
        # written in a transaction of their own, without their event: never reuse their numbers.
        (events,), = db.execute("SELECT COALESCE(MAX(seq), 0) FROM trail_events")
        (resources,), = db.execute("SELECT COALESCE(MAX(seq), 0) FROM trail_resources")
        self._seq = max(int(str(events)), int(str(resources)))

    def prepare(self, events: list[Event]) -> Batch:
        """The rows of ``events``, numbered in order (the caller serialises calls)."""
        batch = Batch()
        for event in events:
            self._seq += 1
            batch.events.append((self._seq, event.scope, event.time, event.event_id,
                                 event.event_name, event.read_only, event.username,
                                 event.access_key_id, event.event_source,
                                 _text(event.resources), _text(event.stored)))
            batch.resources.extend((self._seq, event.scope, event.time, kind, name)
                                   for kind, name in dict.fromkeys(event.resources))
            for arn in key_uses(event):
                batch.usage[event.scope, arn] = (self._seq, event.at)
        return batch

    def write(self, batch: Batch) -> None:
        """Insert prepared rows; resource rows first (see __init__), in one transaction, with
        each used key's latest use (never replacing a later one)."""
        self._db.executemany(
            ("INSERT INTO trail_resources VALUES (?, ?, ?, ?, ?)", batch.resources),
            ("INSERT INTO trail_events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", batch.events),
            (_USE, [(scope, arn, seq, at) for (scope, arn), (seq, at) in batch.usage.items()]))

    def last_use(self, scope: str, arn: str) -> Use | None:
        """The latest event recorded as a use of the key ``arn`` (see
        :func:`hsmkms.trail.record.key_uses`), if any: one primary-key read and one join."""
        found = self._db.execute(
            "SELECT u.used_at, e.event_id, e.event_name, e.body FROM trail_key_usage AS u "
            "JOIN trail_events AS e ON e.seq = u.seq WHERE u.scope = ? AND u.name = ?",
            (scope, arn))
        if not found:
            return None
        at, event_id, event_name, body = found[0]
        # Only events written since this table exists are pointed to: compact rows ("rid").
        request_id = json.loads(str(body))["rid"]
        return Use(str(event_name), float(str(at)), str(event_id), str(request_id))

    def append(self, events: list[Event]) -> None:
        self.write(self.prepare(events))

    def lookup(self, q: Query) -> list[Row]:
        """Up to ``q.limit`` events of ``q.scope`` in ``[start, end]``, newest first."""
        after_t, after_seq = q.after if q.after is not None else (2**62, 2**62)
        if q.attribute is not None and q.attribute[0] in RESOURCE_COLUMNS:
            column = RESOURCE_COLUMNS[q.attribute[0]]
            # Column names come from the tables above, values are bound: no injection.
            sql = (f"SELECT {_FIELDS} FROM trail_events WHERE seq IN (SELECT seq FROM ("  # noqa: S608
                   "SELECT DISTINCT t, seq FROM trail_resources "
                   f"WHERE scope = ? AND {column} = ? AND t >= ? AND t <= ? "
                   "AND (t, seq) < (?, ?) ORDER BY t DESC, seq DESC LIMIT ?) AS hits) "
                   "ORDER BY t DESC, seq DESC")
            args: tuple[object, ...] = (q.scope, q.attribute[1], q.start, q.end, after_t,
                                        after_seq, q.limit)
        else:
            source, where = "trail_events", ""
            args = (q.scope,)
            if q.attribute is not None:
                # A rare value among many events needs its own index, not the time index.
                column, index = COLUMNS[q.attribute[0]]
                source = "trail_events" if index is None else self._db.indexed("trail_events",
                                                                               index)
                where = f"AND {column} = ? "
                args += (q.attribute[1],)
            sql = (f"SELECT {_FIELDS} FROM {source} WHERE scope = ? {where}"  # noqa: S608
                   "AND t >= ? AND t <= ? AND (t, seq) < (?, ?) "
                   "ORDER BY t DESC, seq DESC LIMIT ?")
            args += (q.start, q.end, after_t, after_seq, q.limit)
        return [_row(q.scope, r) for r in self._db.execute(sql, args)]


def _row(scope: str, r: tuple[object, ...]) -> Row:
    resources = json.loads(str(r[8]))
    body = str(r[9])
    stored = json.loads(body)
    if "eventVersion" not in stored:  # a compact row: build the record
        access_key_id = None if r[5] is None else str(r[5])
        body = _JSON(expand(scope, int(str(r[1])), str(r[2]), str(r[3]), access_key_id,
                            [name for _kind, name in resources], stored, str(r[6])))
    return Row(int(str(r[0])), int(str(r[1])), str(r[2]), str(r[3]), str(r[4]),
               None if r[5] is None else str(r[5]), str(r[6]),
               None if r[7] is None else str(r[7]), resources, body)
