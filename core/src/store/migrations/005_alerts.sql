-- Version 5 (after 004_attachments): alerts to the team (missing episodes started or ended),
-- as the server last sent them, with an acknowledgement made on this device not yet sent.
-- No case content: the case, the episode's entry id, the kind and times (Unix seconds).
CREATE TABLE alerts (
    id              TEXT PRIMARY KEY NOT NULL,
    case_id         TEXT NOT NULL,
    episode_id      TEXT NOT NULL,
    kind            TEXT NOT NULL,
    at              INTEGER,
    raised_at       INTEGER NOT NULL,
    acknowledged_by TEXT,
    acknowledged_at INTEGER,
    pending_ack_at  INTEGER
) STRICT, WITHOUT ROWID;

CREATE INDEX alerts_case ON alerts (case_id);
