-- A document's compacted snapshot moves out of its `docs` row into a table of its own.
--
-- SQLite rewrites a whole row when any of its columns changes, so while the snapshot (megabytes
-- for a visits document of years of long notes) sat beside the chunk counters, every appended
-- chunk rewrote it: encrypted again, written to the WAL again and synced again. The counters
-- now change without touching the snapshot.
CREATE TABLE doc_snapshots (
    doc_id   TEXT PRIMARY KEY NOT NULL REFERENCES docs(doc_id) ON DELETE CASCADE,
    snapshot BLOB NOT NULL
) STRICT, WITHOUT ROWID;

INSERT INTO doc_snapshots (doc_id, snapshot)
    SELECT doc_id, snapshot FROM docs WHERE snapshot IS NOT NULL;

ALTER TABLE docs DROP COLUMN snapshot;
