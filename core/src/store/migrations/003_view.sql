-- Version 3: the materialized view (core/src/view/): what the screens read, kept beside the
-- documents and written in the same transaction as every change to them.

-- One line per document whose rows are kept: the document's version (its heads, in the text
-- form of `Version`) that the rows show. An empty version means the document's records did
-- not read, so screens read the document itself (and meet the same error).
CREATE TABLE view_docs (
    doc_id  TEXT PRIMARY KEY NOT NULL,
    version TEXT NOT NULL
) STRICT, WITHOUT ROWID;

-- One row per record: its JSON, keyed by document, row kind and entry id ('' for a
-- document's single record). Bodies can be long (a note of 10,000 characters), so this is a
-- rowid table with the key as its index. A body is one tag byte then the JSON: 0 as is, 1
-- deflated (long bodies, so the view does not double the store's size).
CREATE TABLE view_rows (
    doc_id    TEXT NOT NULL,
    kind      TEXT NOT NULL,
    record_id TEXT NOT NULL,
    body      BLOB NOT NULL,
    PRIMARY KEY (doc_id, kind, record_id)
) STRICT;
