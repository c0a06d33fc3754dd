-- CloudTrail event history (hsmkms.trail): one row per event, plus one row per (event, resource)
-- so that ResourceName/ResourceType lookups use an index. Rows are appended in batches and
-- never updated. ``t`` is the event time in whole seconds (as the record shows it), ``seq`` the
-- append order; LookupEvents answers newest first by (t, seq).
CREATE TABLE trail_events (
    seq           INTEGER PRIMARY KEY,
    scope         TEXT NOT NULL,
    t             INTEGER NOT NULL,
    event_id      TEXT NOT NULL,
    event_name    TEXT NOT NULL,
    read_only     TEXT NOT NULL,
    username      TEXT,
    access_key_id TEXT,
    event_source  TEXT NOT NULL,
    resources     TEXT NOT NULL,
    body          TEXT NOT NULL
);
CREATE INDEX trail_events_by_time ON trail_events (scope, t, seq);
CREATE INDEX trail_events_by_id ON trail_events (scope, event_id);
CREATE INDEX trail_events_by_name ON trail_events (scope, event_name, t, seq);
CREATE INDEX trail_events_by_read_only ON trail_events (scope, read_only, t, seq);
CREATE INDEX trail_events_by_username ON trail_events (scope, username, t, seq);
CREATE INDEX trail_events_by_access_key ON trail_events (scope, access_key_id, t, seq);
CREATE INDEX trail_events_by_source ON trail_events (scope, event_source, t, seq);
CREATE TABLE trail_resources (
    seq   INTEGER NOT NULL,
    scope TEXT NOT NULL,
    t     INTEGER NOT NULL,
    type  TEXT NOT NULL,
    name  TEXT NOT NULL
);
CREATE INDEX trail_resources_by_name ON trail_resources (scope, name, t, seq);
CREATE INDEX trail_resources_by_type ON trail_resources (scope, type, t, seq);
