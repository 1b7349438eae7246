-- Version 10 (after 008 and 009 of other work): which stored documents hold conflicting field
-- values waiting for a person (two devices set the same field differently offline). Rewritten
-- whenever a document is stored (by a sync or a console resolution), so the supervisor's home
-- page lists conflicts across their cases without loading any document. Only the number of
-- conflicted fields is kept, never a value.
CREATE TABLE doc_conflicts (
    doc_id  TEXT PRIMARY KEY NOT NULL,
    case_id TEXT NOT NULL,
    fields  INTEGER NOT NULL CHECK (fields > 0),
    seen_at INTEGER NOT NULL
) STRICT;
CREATE INDEX doc_conflicts_case ON doc_conflicts(case_id);
