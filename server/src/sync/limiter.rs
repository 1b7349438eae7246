//! The per-device token bucket for sync requests: a device may send [`Settings::sync_burst`]
//! requests at once and [`Settings::sync_per_minute`] a minute after that. The excess is
//! answered 429 with `Retry-After` before any other database work. On SQLite the buckets live
//! in the one process's memory ([`SyncLimiter`]; a restart refills them); on PostgreSQL they
//! live in the database (`sync_buckets`), so a device syncing through several instances has
//! one budget, not one per instance.

use std::collections::HashMap;
use std::sync::Mutex;

use casebook_core::ids::DeviceId;

use crate::error::{Error, Result};
use crate::state::{AppState, Settings};

/// Buckets kept before the full ones (devices idle long enough) are forgotten.
const PRUNE_ABOVE: usize = 10_000;

/// Take one sync request from `device`'s budget at `now` (Unix seconds), or refuse with
/// [`Error::SyncRateLimited`] saying how many seconds until one is available: in the database
/// on PostgreSQL, in memory on SQLite.
pub async fn take(state: &AppState, device: &DeviceId, now: i64) -> Result<()> {
    let settings = &state.settings;
    if settings.sync_per_minute == 0 {
        return Ok(());
    }
    let (burst, per_sec) = rates(settings);
    match state
        .db
        .take_shared_sync_token(device.to_string(), now, burst, per_sec)
        .await?
    {
        None => state.sync_limiter.take(settings, device, now),
        Some((true, _)) => Ok(()),
        Some((false, tokens)) => Err(refusal(tokens, per_sec)),
    }
}

/// A bucket's size and its refill per second.
fn rates(settings: &Settings) -> (f64, f64) {
    (
        f64::from(settings.sync_burst.max(1)),
        f64::from(settings.sync_per_minute) / 60.0,
    )
}

/// The refusal of a bucket holding `tokens` (fewer than one), refilled at `per_sec`.
fn refusal(tokens: f64, per_sec: f64) -> Error {
    let wait = ((1.0 - tokens) / per_sec).ceil().max(1.0);
    Error::SyncRateLimited {
        retry_after: wait as u64,
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: i64,
}

/// Sync request budgets, one per device, in this process's memory (SQLite).
#[derive(Debug, Default)]
pub struct SyncLimiter {
    buckets: Mutex<HashMap<DeviceId, Bucket>>,
}

impl SyncLimiter {
    /// Take one request from `device`'s bucket at `now` (Unix seconds), or refuse with
    /// [`Error::SyncRateLimited`] saying how many seconds until one is available.
    pub fn take(&self, settings: &Settings, device: &DeviceId, now: i64) -> Result<()> {
        if settings.sync_per_minute == 0 {
            return Ok(());
        }
        let (burst, per_sec) = rates(settings);
        let refill = |b: &Bucket| {
            let elapsed = now.saturating_sub(b.at).max(0) as f64;
            (b.tokens + elapsed * per_sec).min(burst)
        };
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if buckets.len() > PRUNE_ABOVE {
            buckets.retain(|_, b| refill(b) < burst);
        }
        let bucket = buckets.entry(*device).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let tokens = refill(bucket);
        if tokens >= 1.0 {
            *bucket = Bucket {
                tokens: tokens - 1.0,
                at: now.max(bucket.at),
            };
            return Ok(());
        }
        *bucket = Bucket {
            tokens,
            at: now.max(bucket.at),
        };
        Err(refusal(tokens, per_sec))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_rate_then_other_devices_untouched() {
        let settings = Settings {
            sync_burst: 3,
            sync_per_minute: 60,
            ..Settings::default()
        };
        let l = SyncLimiter::default();
        let a = DeviceId::from_bytes([1; 16]);
        let b = DeviceId::from_bytes([2; 16]);
        for _ in 0..3 {
            l.take(&settings, &a, 100).expect("within the burst");
        }
        match l.take(&settings, &a, 100) {
            Err(Error::SyncRateLimited { retry_after }) => assert_eq!(retry_after, 1),
            other => panic!("expected a refusal, got {other:?}"),
        }
        l.take(&settings, &b, 100)
            .expect("another device is not limited");
        l.take(&settings, &a, 101).expect("one token a second");
        assert!(l.take(&settings, &a, 101).is_err());
    }
}
