-- Casebook server schema, version 2: rate limits kept in the database (they survive a
-- restart), and an index to cap the live challenges of one device.

-- One fixed window per (scope, key): a scope is what is counted (`enrol_address`,
-- `enrol_code`, `challenge_address`, `challenge_device`, `session_address`,
-- `session_device`), a key whom it is counted for (an address, a device id, a code hash).
CREATE TABLE rate_limits (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    window_start INTEGER NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (scope, key)
) STRICT, WITHOUT ROWID;
CREATE INDEX rate_limits_window ON rate_limits(window_start);

CREATE INDEX challenges_device ON challenges(device_id, expires_at);
