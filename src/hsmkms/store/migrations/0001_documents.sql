-- Aggregates as JSON documents, one row each, keyed by kind, scope ("account/region") and id.
CREATE TABLE documents (
    kind  TEXT NOT NULL,
    scope TEXT NOT NULL,
    id    TEXT NOT NULL,
    body  TEXT NOT NULL,
    PRIMARY KEY (kind, scope, id)
);
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
