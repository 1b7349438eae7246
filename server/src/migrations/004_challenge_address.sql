-- Casebook server schema, version 4: a challenge remembers the address that asked for it, so
-- the live-challenge cap and the challenge rate limit apply per device id *and* address: a
-- reader who knows a device id (it is the automerge actor on its changes) cannot use up, or
-- evict, the challenges of that device from another address.
ALTER TABLE challenges ADD COLUMN address TEXT;
CREATE INDEX challenges_device_address ON challenges(device_id, address, expires_at);
