//! The check-in lock: a device that has not finished a sync with its server for too long
//! (72 hours in the apps) stops showing case data, so a lost phone goes dark by itself.
//!
//! Elapsed time is judged by the wall clock and, where the platform has one, by a clock that
//! counts time since boot including sleep, which nobody can set back. Setting the wall clock
//! back therefore does not reopen a store while the phone has not restarted (and a restarted
//! phone keeps app storage sealed until its owner unlocks it).

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::error::{Error, Result};
use crate::repo::Repo;
use crate::store::WriteOp;

const CHECKIN_KEY: &str = "sync.last_checkin";

/// How far the wall clock may read before the last check-in (a clock corrected after running
/// fast, say) before the store locks as if the clock had been set back. Only used when the
/// boot clock cannot tell what really passed.
pub const CLOCK_SET_BACK_TOLERANCE: Duration = Duration::from_secs(60 * 60);

/// A reading of the device's clocks, passed in by the caller: the core reads no clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceTime {
    /// The wall clock, which the user can set.
    pub wall: DateTime<Utc>,
    /// Time since the device booted, counting sleep (`CLOCK_BOOTTIME` on Linux and Android,
    /// `CLOCK_MONOTONIC` on Apple platforms); `None` where the platform has no such clock.
    pub since_boot: Option<Duration>,
}

impl From<DateTime<Utc>> for DeviceTime {
    /// A reading of the wall clock alone.
    fn from(wall: DateTime<Utc>) -> Self {
        Self {
            wall,
            since_boot: None,
        }
    }
}

/// Whether a device that last checked in at `last` is locked at `now`: more than
/// `max_offline` has passed by the wall clock, or by the boot clock within one boot. Where
/// the boot clock cannot tell (no boot clock, or a restart since the check-in), a wall clock
/// reading more than [`CLOCK_SET_BACK_TOLERANCE`] before the last check-in locks too.
///
/// The boot clock never locks early: across a restart it restarts from zero, which is seen
/// as a reading below the one at check-in. Within one boot it also makes a wall clock put
/// right after running fast harmless.
pub fn is_locked(last: DeviceTime, now: DeviceTime, max_offline: Duration) -> bool {
    let max = chrono::Duration::from_std(max_offline).unwrap_or(chrono::Duration::MAX);
    if now.wall - last.wall > max {
        return true;
    }
    match (last.since_boot, now.since_boot) {
        (Some(then), Some(now_since_boot)) if now_since_boot >= then => {
            now_since_boot - then > max_offline
        }
        _ => {
            let tolerance = chrono::Duration::from_std(CLOCK_SET_BACK_TOLERANCE)
                .unwrap_or(chrono::Duration::MAX);
            last.wall - now.wall > tolerance
        }
    }
}

/// The stored form: wall-clock milliseconds since the epoch, then boot-clock milliseconds
/// when known, each as 8 big-endian bytes. Records from before the boot clock are 8 bytes.
fn encode(time: DeviceTime) -> Vec<u8> {
    let wall = u64::try_from(time.wall.timestamp_millis()).unwrap_or_default();
    let mut bytes = wall.to_be_bytes().to_vec();
    if let Some(since_boot) = time.since_boot {
        let millis = u64::try_from(since_boot.as_millis()).unwrap_or(u64::MAX);
        bytes.extend_from_slice(&millis.to_be_bytes());
    }
    bytes
}

fn decode(bytes: &[u8]) -> Result<DeviceTime> {
    let bad = || Error::Protocol("the stored check-in time is unreadable".into());
    let word = |at: usize| -> Result<u64> {
        bytes
            .get(at..at + 8)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map(u64::from_be_bytes)
            .ok_or_else(bad)
    };
    let since_boot = match bytes.len() {
        8 => None,
        16 => Some(Duration::from_millis(word(8)?)),
        _ => return Err(bad()),
    };
    let wall = i64::try_from(word(0)?)
        .ok()
        .and_then(DateTime::from_timestamp_millis)
        .ok_or_else(bad)?;
    Ok(DeviceTime { wall, since_boot })
}

impl Repo {
    /// When this device last finished a sync session (or enrolled), by its wall clock.
    pub fn last_checkin(&self) -> Result<Option<DateTime<Utc>>> {
        Ok(self.last_checkin_time()?.map(|t| t.wall))
    }

    fn last_checkin_time(&self) -> Result<Option<DeviceTime>> {
        self.store
            .meta(CHECKIN_KEY)?
            .map(|bytes| decode(&bytes))
            .transpose()
    }

    /// The write that records a check-in with the server at `now`.
    pub fn checkin_op(&self, now: impl Into<DeviceTime>) -> WriteOp {
        WriteOp::PutMeta {
            key: CHECKIN_KEY.into(),
            value: encode(now.into()),
        }
    }

    /// Whether local data is locked at `now` (see [`is_locked`]). A device never enrolled
    /// is not locked.
    pub fn locked(&self, now: impl Into<DeviceTime>, max_offline: Duration) -> Result<bool> {
        let now = now.into();
        Ok(self
            .last_checkin_time()?
            .is_some_and(|last| is_locked(last, now, max_offline)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: Duration = Duration::from_secs(72 * 60 * 60);

    fn wall(hours: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_790_000_000 + hours * 3600, 0).expect("in range")
    }

    fn reading(hours: i64, boot_hours: Option<u64>) -> DeviceTime {
        DeviceTime {
            wall: wall(hours),
            since_boot: boot_hours.map(|h| Duration::from_secs(h * 3600)),
        }
    }

    #[test]
    fn the_wall_clock_locks_after_the_limit() {
        let last = reading(0, None);
        assert!(!is_locked(last, reading(71, None), LIMIT));
        assert!(!is_locked(last, reading(72, None), LIMIT));
        assert!(is_locked(last, reading(73, None), LIMIT));
    }

    #[test]
    fn a_wall_clock_set_back_before_the_check_in_locks() {
        let last = reading(100, None);
        let minutes_back = |m: i64| DeviceTime {
            wall: wall(100) - chrono::Duration::minutes(m),
            since_boot: None,
        };
        assert!(
            !is_locked(last, minutes_back(59), LIMIT),
            "within tolerance"
        );
        assert!(is_locked(last, minutes_back(61), LIMIT));
        assert!(is_locked(last, reading(0, None), LIMIT));
    }

    #[test]
    fn within_one_boot_a_wall_clock_put_right_after_running_fast_stays_open() {
        // Checked in with the wall clock three hours fast; an hour later it is put right.
        let last = reading(3, Some(10));
        assert!(!is_locked(last, reading(1, Some(11)), LIMIT));
        // After a restart the boot clock cannot vouch for it: locked until the next sync.
        assert!(is_locked(last, reading(1, Some(0)), LIMIT));
    }

    #[test]
    fn within_one_boot_the_boot_clock_locks_whatever_the_wall_clock_says() {
        // Checked in 10 hours after boot; four days later the wall clock has been set back
        // to an hour after the check-in.
        let last = reading(0, Some(10));
        assert!(is_locked(last, reading(1, Some(10 + 96)), LIMIT));
        assert!(!is_locked(last, reading(1, Some(10 + 71)), LIMIT));
        // The boot clock alone is enough: the wall clock agrees here.
        assert!(is_locked(last, reading(73, Some(10 + 73)), LIMIT));
    }

    #[test]
    fn after_a_restart_only_the_wall_clock_counts() {
        // The boot clock restarted: its reading is below the one at check-in.
        let last = reading(0, Some(500));
        assert!(!is_locked(last, reading(2, Some(1)), LIMIT));
        assert!(is_locked(last, reading(80, Some(1)), LIMIT));
        // A reading without a boot clock falls back to the wall clock too.
        assert!(!is_locked(last, reading(2, None), LIMIT));
        assert!(!is_locked(reading(0, None), reading(2, Some(900)), LIMIT));
    }

    #[test]
    fn records_round_trip_and_old_records_still_read() {
        for time in [reading(5, Some(3)), reading(5, None), reading(-1, Some(0))] {
            assert_eq!(decode(&encode(time)).expect("decode"), time);
        }
        let legacy = u64::try_from(wall(5).timestamp_millis())
            .expect("after 1970")
            .to_be_bytes();
        assert_eq!(decode(&legacy).expect("legacy"), reading(5, None));
        for bad in [&[][..], &[0u8; 7], &[0u8; 12], &[0xff; 8]] {
            assert!(decode(bad).is_err(), "{bad:?}");
        }
    }
}
