//! The device's clocks, read for the core: the wall clock, and a clock counting time since
//! boot (including sleep) that the check-in lock trusts where the wall clock can be set back.

use std::time::Duration;

use casebook_core::sync::DeviceTime;
use chrono::Utc;

/// Read the wall clock and, where the platform has one, the boot clock.
pub(crate) fn device_now() -> DeviceTime {
    #[cfg(test)]
    if let Some(fake) = FAKE_NOW.get() {
        return fake;
    }
    DeviceTime {
        wall: Utc::now(),
        since_boot: since_boot(),
    }
}

/// Time since boot, counting sleep: `CLOCK_BOOTTIME` on Linux and Android.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn since_boot() -> Option<Duration> {
    timespec_duration(rustix::time::clock_gettime(rustix::time::ClockId::Boottime))
}

/// Time since boot, counting sleep: Apple's `CLOCK_MONOTONIC` keeps counting while asleep.
#[cfg(any(target_os = "ios", target_os = "macos"))]
fn since_boot() -> Option<Duration> {
    timespec_duration(rustix::time::clock_gettime(
        rustix::time::ClockId::Monotonic,
    ))
}

/// Elsewhere the lock falls back to the wall clock alone.
#[cfg(not(any(
    target_os = "linux",
    target_os = "android",
    target_os = "ios",
    target_os = "macos"
)))]
fn since_boot() -> Option<Duration> {
    None
}

#[cfg(any(
    target_os = "linux",
    target_os = "android",
    target_os = "ios",
    target_os = "macos"
))]
fn timespec_duration(t: rustix::time::Timespec) -> Option<Duration> {
    let secs = u64::try_from(t.tv_sec).ok()?;
    let nanos = u32::try_from(t.tv_nsec).ok()?;
    Some(Duration::new(secs, nanos))
}

#[cfg(test)]
thread_local! {
    static FAKE_NOW: std::cell::Cell<Option<DeviceTime>> = const { std::cell::Cell::new(None) };
}

/// For tests: make [`device_now`] on this thread return `time` (or the real clocks again).
#[cfg(test)]
pub(crate) fn set_fake_now(time: Option<DeviceTime>) {
    FAKE_NOW.set(time);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The boot clock counts everything the monotonic clock does, plus time asleep (equal on
    /// a machine that never slept), and never goes back.
    #[cfg(target_os = "linux")]
    #[test]
    fn the_boot_clock_counts_at_least_the_monotonic_time_and_never_goes_back() {
        let monotonic = timespec_duration(rustix::time::clock_gettime(
            rustix::time::ClockId::Monotonic,
        ))
        .expect("monotonic clock");
        let read = device_now().since_boot.expect("Linux has a boot clock");
        assert!(read >= monotonic, "boot {read:?} < monotonic {monotonic:?}");
        let later = device_now().since_boot.expect("boot clock");
        assert!(later >= read);
    }

    #[test]
    fn a_fake_reading_stays_on_its_thread() {
        let fake = DeviceTime {
            wall: chrono::DateTime::UNIX_EPOCH,
            since_boot: Some(Duration::from_secs(1)),
        };
        set_fake_now(Some(fake));
        assert_eq!(device_now(), fake);
        let elsewhere = std::thread::spawn(device_now).join().expect("thread");
        assert_ne!(elsewhere, fake);
        set_fake_now(None);
        assert_ne!(device_now(), fake);
    }
}
