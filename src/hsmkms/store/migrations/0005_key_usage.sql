-- Each KMS key's latest use, for GetKeyLastUsage (hsmkms.trail.log): the seq of the latest
-- successful trail event of a tracked cryptographic operation naming the key's ARN, and the
-- call's exact time (the event's t is whole seconds). The trail's writer upserts it with the
-- events, once per key and batch, never going back to an earlier seq: the request path writes
-- nothing more. Read with one primary-key lookup and a join on trail_events.
CREATE TABLE trail_key_usage (
    scope   TEXT NOT NULL,
    name    TEXT NOT NULL,
    seq     INTEGER NOT NULL,
    used_at REAL NOT NULL,
    PRIMARY KEY (scope, name)
);
