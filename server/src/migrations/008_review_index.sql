-- Version 8 (after 007_interpreter_links): supervisor review. `review_index` holds one row
-- per visit note (no note text): its author (the user whose sync first stored it), the visit
-- date, the review status, when it was last submitted (server time), and the last reviewer.
-- It is rewritten from the in-memory documents whenever a `visits` document is stored, so
-- the review queue parses no document. `case_references` holds each case's reference, read
-- from its `profile` document whenever that is stored, for lists that name cases.
CREATE TABLE review_index (
    case_id      TEXT NOT NULL REFERENCES cases(id),
    note_id      TEXT NOT NULL,
    author_user  TEXT NOT NULL,
    visited_at   INTEGER,
    status       TEXT NOT NULL CHECK (status IN ('draft', 'submitted', 'signed_off', 'returned')),
    submitted_at INTEGER,
    reviewer     TEXT,
    reviewed_at  INTEGER,
    PRIMARY KEY (case_id, note_id)
) STRICT;

CREATE INDEX review_index_queue ON review_index (status, submitted_at, case_id, note_id);

CREATE TABLE case_references (
    case_id   TEXT PRIMARY KEY NOT NULL REFERENCES cases(id),
    reference TEXT NOT NULL
) STRICT;
