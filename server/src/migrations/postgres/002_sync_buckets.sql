-- The per-device sync rate limit's token buckets, shared by every instance on this database
-- (`server/src/sync/limiter.rs`). One row per device that ever synced; ids and numbers only.
-- SQLite has no twin: its single process keeps the buckets in memory.
CREATE TABLE sync_buckets (
    device TEXT PRIMARY KEY,
    tokens DOUBLE PRECISION NOT NULL,
    at BIGINT NOT NULL,
    granted BOOLEAN NOT NULL
);
