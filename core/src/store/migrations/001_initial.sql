-- Casebook local store, version 1.
--
-- A document is a compacted automerge save (`snapshot`) plus the incremental chunks appended
-- since. Chunk sequence numbers are per document, start at 1 and are never reused:
-- `last_chunk` remembers the highest one ever assigned, even after compaction dropped it.
CREATE TABLE docs (
    doc_id           TEXT PRIMARY KEY NOT NULL,
    snapshot         BLOB,
    last_chunk       INTEGER NOT NULL DEFAULT 0,
    last_local_chunk INTEGER NOT NULL DEFAULT 0,
    synced_chunk     INTEGER NOT NULL DEFAULT 0
) STRICT, WITHOUT ROWID;

CREATE TABLE chunks (
    doc_id TEXT NOT NULL REFERENCES docs(doc_id) ON DELETE CASCADE,
    seq    INTEGER NOT NULL,
    bytes  BLOB NOT NULL,
    PRIMARY KEY (doc_id, seq)
) STRICT;

-- Automerge sync states, per peer and document. A state may exist before the document does
-- (the first sync of a new document), so there is no foreign key.
CREATE TABLE sync_states (
    peer   TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    state  BLOB NOT NULL,
    PRIMARY KEY (peer, doc_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE case_summaries (
    case_id      TEXT PRIMARY KEY NOT NULL,
    reference    TEXT NOT NULL,
    display_name TEXT NOT NULL,
    updated_at   TEXT NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value BLOB NOT NULL
) STRICT, WITHOUT ROWID;
