-- Version 9 (reports, issue 11): the facts a casework report counts, kept up to date by the
-- sync exchange in the transaction that stores a `safety`, `profile` or `visits` document, so
-- a report never parses a document. Dates, categories and statuses only: no name, reference
-- or free text. Times are Unix seconds, dates `YYYY-MM-DD`. The organisation and team of a
-- case are read from `cases` when a report runs (a transferred case moves with its facts).
CREATE TABLE report_episodes (
    case_id     TEXT NOT NULL,
    episode_id  TEXT NOT NULL,
    -- 'missing' or 'away_from_placement'
    category    TEXT NOT NULL,
    started_at  INTEGER NOT NULL,
    ended_at    INTEGER,
    -- 1: the return interview was held within 72 hours of the return
    interview_within_72_hours INTEGER NOT NULL,
    -- 1: the third or more absence within 90 days
    repeat      INTEGER NOT NULL,
    PRIMARY KEY (case_id, episode_id)
) STRICT;

CREATE TABLE report_nrm (
    case_id                 TEXT PRIMARY KEY NOT NULL,
    referred_on             TEXT,
    reasonable_grounds_due_on TEXT,
    -- 'pending', 'positive' or 'negative'
    reasonable_grounds      TEXT NOT NULL,
    reasonable_grounds_on   TEXT,
    conclusive_grounds      TEXT NOT NULL,
    conclusive_grounds_on   TEXT
) STRICT;

CREATE TABLE report_notes (
    case_id      TEXT NOT NULL,
    note_id      TEXT NOT NULL,
    visited_at   INTEGER,
    -- 'draft', 'submitted', 'signed_off' or 'returned'
    review       TEXT NOT NULL,
    -- When the server first stored the note as submitted (its clock), while it stays so.
    submitted_at INTEGER,
    PRIMARY KEY (case_id, note_id)
) STRICT;

-- Documents stored before this version are indexed once, when the server next opens the
-- database (`reports::facts::backfill`), which then removes this row.
INSERT INTO meta (key, value) VALUES ('report_facts_backfill', 'pending');
