-- Version 11 (issues 11 and 12): the deadline index, kept up to date in the transaction that
-- stores a `profile` or `safety` document (the sync exchange and console changes), so the
-- supervisor's deadlines (`GET /v1/deadlines`, the console's home) and a report's overdue
-- carers' checks parse no document. Kinds, dates, ids and times only: no name, reference or
-- free text. Whether a deadline is overdue, and whether a check is, is decided when read.
--
-- Each deadline a document's records fix, as `casebook_core::model::ScheduledDeadline`.
CREATE TABLE deadline_dates (
    case_id  TEXT NOT NULL,
    -- 'profile' or 'safety'
    doc_kind TEXT NOT NULL,
    -- `DeadlineKind` in snake_case ('reasonable_grounds', 'return_interview', ...)
    kind     TEXT NOT NULL,
    due_on   TEXT NOT NULL,
    due_at   INTEGER,
    record   TEXT NOT NULL,
    PRIMARY KEY (case_id, doc_kind, kind, record)
) STRICT;

-- Whether the last stored version of a case's `profile` or `safety` document was read (0: it
-- did not load or read, or a deadline lies beyond the shipped bank holidays; the case is then
-- listed as unreadable and its earlier facts are kept).
CREATE TABLE deadline_docs (
    case_id  TEXT NOT NULL,
    doc_kind TEXT NOT NULL,
    readable INTEGER NOT NULL,
    PRIMARY KEY (case_id, doc_kind)
) STRICT;

-- The active plan steps with a check schedule: every N hours, or daily at a London time.
CREATE TABLE plan_check_steps (
    case_id     TEXT NOT NULL,
    step_id     TEXT NOT NULL,
    every_hours INTEGER,
    -- 'HH:MM:SS', when `every_hours` is NULL
    daily_at    TEXT,
    checks_from INTEGER NOT NULL,
    PRIMARY KEY (case_id, step_id)
) STRICT;

-- Every check of a plan step logged with a time (all of them, so a report over a past period
-- finds the last check before its end).
CREATE TABLE plan_checks (
    case_id    TEXT NOT NULL,
    check_id   TEXT NOT NULL,
    step_id    TEXT NOT NULL,
    checked_at INTEGER NOT NULL,
    PRIMARY KEY (case_id, check_id)
) STRICT;
CREATE INDEX plan_checks_last ON plan_checks (case_id, step_id, checked_at);

-- Documents stored before this version are indexed once when the server next opens the
-- database: the report facts backfill (`reports::facts::backfill`) runs again and fills these
-- tables too; the conflict counts of documents stored before 010 are backfilled once
-- (`conflict_index::backfill`).
INSERT INTO meta (key, value) VALUES ('report_facts_backfill', 'pending')
    ON CONFLICT(key) DO UPDATE SET value = excluded.value;
INSERT INTO meta (key, value) VALUES ('conflict_index_backfill', 'pending')
    ON CONFLICT(key) DO UPDATE SET value = excluded.value;
