//! A token bucket per device for sync requests, kept in memory: a device may send
//! [`Settings::sync_burst`] requests at once and [`Settings::sync_per_minute`] a minute after
//! that. The excess is answered 429 with `Retry-After` before any database work.

use std::collections::HashMap;
use std::sync::Mutex;

use casebook_core::ids::DeviceId;

use crate::error::{Error, Result};
use crate::state::Settings;

/// Buckets kept before the full ones (devices idle long enough) are forgotten.
const PRUNE_ABOVE: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: i64,
}

/// Sync request budgets, one per device.
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
        let burst = f64::from(settings.sync_burst.max(1));
        let per_sec = f64::from(settings.sync_per_minute) / 60.0;
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
        let wait = ((1.0 - tokens) / per_sec).ceil().max(1.0);
        Err(Error::SyncRateLimited {
            retry_after: wait as u64,
        })
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
