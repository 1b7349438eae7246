-- Casebook server schema, version 1.

CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

-- A local authority, or a joint arrangement of several.
CREATE TABLE orgs (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    is_root INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE org_authorities (
    org_id TEXT NOT NULL REFERENCES orgs(id),
    authority TEXT NOT NULL,
    PRIMARY KEY (org_id, authority)
) STRICT;

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id),
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE teams (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id),
    name TEXT NOT NULL
) STRICT;

CREATE TABLE team_members (
    team_id TEXT NOT NULL REFERENCES teams(id),
    user_id TEXT NOT NULL REFERENCES users(id),
    PRIMARY KEY (team_id, user_id)
) STRICT;
CREATE INDEX team_members_user ON team_members(user_id);

CREATE TABLE cases (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id),
    team_id TEXT REFERENCES teams(id),
    created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX cases_team ON cases(team_id);

-- Guardians and social workers assigned to a case.
CREATE TABLE assignments (
    case_id TEXT NOT NULL REFERENCES cases(id),
    user_id TEXT NOT NULL REFERENCES users(id),
    PRIMARY KEY (case_id, user_id)
) STRICT;
CREATE INDEX assignments_user ON assignments(user_id);

-- Carers linked to the placement of the child of a case.
CREATE TABLE placements (
    case_id TEXT NOT NULL REFERENCES cases(id),
    carer_id TEXT NOT NULL REFERENCES users(id),
    PRIMARY KEY (case_id, carer_id)
) STRICT;
CREATE INDEX placements_carer ON placements(carer_id);

CREATE TABLE enrolment_codes (
    code_hash BLOB PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    issued_by TEXT,
    expires_at INTEGER NOT NULL,
    used_at INTEGER
) STRICT;

CREATE TABLE devices (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    name TEXT NOT NULL,
    public_key BLOB NOT NULL,
    enrolled_at INTEGER NOT NULL,
    revoked_at INTEGER
) STRICT;
CREATE INDEX devices_user ON devices(user_id);

CREATE TABLE challenges (
    challenge BLOB PRIMARY KEY,
    device_id TEXT NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;

CREATE TABLE sessions (
    token_hash BLOB PRIMARY KEY,
    device_id TEXT NOT NULL REFERENCES devices(id),
    expires_at INTEGER NOT NULL
) STRICT;

CREATE TABLE docs (
    doc_id TEXT PRIMARY KEY,
    case_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    seq INTEGER NOT NULL,
    bytes BLOB NOT NULL
) STRICT;
CREATE INDEX docs_seq ON docs(seq);
CREATE INDEX docs_case ON docs(case_id);

CREATE TABLE device_docs (
    device_id TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    sync_state BLOB NOT NULL,
    PRIMARY KEY (device_id, doc_id)
) STRICT, WITHOUT ROWID;

-- Append-only, hash-chained: hash = SHA-256(prev_hash || canonical(row)).
CREATE TABLE audit (
    id INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    event TEXT NOT NULL,
    actor_user TEXT,
    actor_device TEXT,
    case_id TEXT,
    doc_id TEXT,
    subject TEXT,
    detail TEXT NOT NULL,
    prev_hash BLOB NOT NULL,
    hash BLOB NOT NULL
) STRICT;
CREATE INDEX audit_case ON audit(case_id);
CREATE INDEX audit_actor ON audit(actor_user);
CREATE INDEX audit_subject ON audit(subject);

INSERT INTO meta (key, value) VALUES ('seq', '0');
