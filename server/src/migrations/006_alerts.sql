-- Version 6 (after 005_attachments): alerts to the team. The sync exchange raises one when a
-- `safety` document it stores first holds an open missing episode (`missing`) or first shows
-- one ended (`ended`), at most one per case, episode and kind. `seq` comes from the global
-- sequence (meta 'seq'), bumped again when the alert is acknowledged, so a device's sync
-- cursor says which alerts (and acknowledgements) it has received. No case content.
CREATE TABLE alerts (
    id              TEXT PRIMARY KEY NOT NULL,
    case_id         TEXT NOT NULL REFERENCES cases(id),
    episode_id      TEXT NOT NULL,
    kind            TEXT NOT NULL,
    at              INTEGER,
    raised_at       INTEGER NOT NULL,
    raised_by       TEXT NOT NULL,
    seq             INTEGER NOT NULL,
    acknowledged_by TEXT,
    acknowledged_at INTEGER,
    UNIQUE (case_id, episode_id, kind)
);
CREATE INDEX alerts_seq ON alerts(seq);

-- Who an alert is for, fixed when it is raised (delivery also needs read access to the
-- case's `safety` document at the time).
CREATE TABLE alert_recipients (
    alert_id TEXT NOT NULL REFERENCES alerts(id),
    user_id  TEXT NOT NULL REFERENCES users(id),
    PRIMARY KEY (user_id, alert_id)
) WITHOUT ROWID;
