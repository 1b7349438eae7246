-- Casebook server schema: enrolment control (issue 8, part H5).

-- A disabled user has no working device, no outstanding code and gets none until re-enabled.
ALTER TABLE users ADD COLUMN disabled_at INTEGER;

-- Codes get an id (to list and cancel them), an issue time, and a void mark: a code is void
-- once cancelled, once its user is disabled, or once one of its user's devices is revoked
-- after it was issued. A voided code's expires_at is also brought forward to the void time.
ALTER TABLE enrolment_codes ADD COLUMN id TEXT;
ALTER TABLE enrolment_codes ADD COLUMN issued_at INTEGER;
ALTER TABLE enrolment_codes ADD COLUMN voided_at INTEGER;
UPDATE enrolment_codes SET id = lower(hex(randomblob(16))) WHERE id IS NULL;
CREATE UNIQUE INDEX enrolment_codes_id ON enrolment_codes(id);
CREATE INDEX enrolment_codes_user ON enrolment_codes(user_id);

-- Security notices waiting for a device's next sync (another device enrolled for its user).
CREATE TABLE notices (
    id INTEGER PRIMARY KEY,
    device_id TEXT NOT NULL REFERENCES devices(id),
    kind TEXT NOT NULL,
    about_device TEXT NOT NULL,
    about_name TEXT NOT NULL,
    at INTEGER NOT NULL,
    delivered_at INTEGER
) STRICT;
CREATE INDEX notices_pending ON notices(device_id) WHERE delivered_at IS NULL;

-- Administrators may no longer be team members; the rows found are removed (and audited)
-- by the server at start-up (`admin::bootstrap`), where the audit chain can be extended.
