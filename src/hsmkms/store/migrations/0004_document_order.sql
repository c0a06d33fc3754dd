-- Store.repository loads a kind's documents in creation order, which an update keeps.
-- SQLite has it already: the rowid, which an upsert does not change.
-- PostgreSQL has no rowid: an identity column numbers rows as they are inserted.
-- dialect: postgresql
ALTER TABLE documents ADD COLUMN created BIGINT GENERATED ALWAYS AS IDENTITY;
CREATE INDEX documents_by_kind ON documents (kind, created);
