//! Rate limits kept in the database, so that a restart forgets nothing: fixed windows of
//! counts per address (an IPv4 address, an IPv6 /64), per claimed device id and per
//! enrolment code.
//!
//! The rule everywhere is the same: a request that proves something (a valid, unused code; a
//! signature by the device's key over a live challenge) is never refused by a limit. Only
//! failures are counted, and a key that failed too often gets `429` for its next failures
//! without the server writing anything (see `auth.rs`), so a flood costs one read per
//! request and cannot lock anyone else out.

use std::net::{IpAddr, Ipv6Addr};

use crate::error::Result;
use crate::params;
use crate::sql::{Conn, OptionalExtension, Tx};

/// What is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Failed enrolments from one address.
    EnrolAddress,
    /// Failed enrolments with one (known but used or expired) code.
    EnrolCode,
    /// Challenges issued to one address.
    ChallengeAddress,
    /// Challenges issued for one device id.
    ChallengeDevice,
    /// Failed sessions from one address.
    SessionAddress,
    /// Failed sessions claiming one device id.
    SessionDevice,
}

impl Scope {
    /// The name stored in the `rate_limits` table.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::EnrolAddress => "enrol_address",
            Scope::EnrolCode => "enrol_code",
            Scope::ChallengeAddress => "challenge_address",
            Scope::ChallengeDevice => "challenge_device",
            Scope::SessionAddress => "session_address",
            Scope::SessionDevice => "session_device",
        }
    }
}

/// The key an address is counted under: an IPv4 address as is, an IPv6 address by its /64
/// (one subscriber's allocation), an IPv4-mapped IPv6 address as its IPv4 address. Anything
/// that is not an address (in-process tests) is kept as given.
pub fn address_key(source: &str) -> String {
    match source.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                let prefix = Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                format!("{prefix}/64")
            }
        },
        Err(_) => source.to_owned(),
    }
}

/// Failures (or requests) counted for `key` in its current window; 0 once the window passed.
pub fn count(conn: Conn<'_>, scope: Scope, key: &str, now: i64, window: i64) -> Result<i64> {
    let n: Option<i64> = conn
        .query_row(
            "SELECT count FROM rate_limits WHERE scope = ?1 AND key = ?2 AND window_start > ?3",
            params![scope.as_str(), key, now - window],
            |r| r.get(0),
        )
        .optional()?;
    Ok(n.unwrap_or(0))
}

/// Whether `key` reached `limit` in its current window.
pub fn exceeded(
    conn: Conn<'_>,
    scope: Scope,
    key: &str,
    now: i64,
    window: i64,
    limit: u32,
) -> Result<bool> {
    Ok(count(conn, scope, key, now, window)? >= i64::from(limit))
}

/// Count one more for `key` (opening a new window if the last one passed) and return the
/// count in the window. Windows that passed are deleted on the way.
pub fn bump(tx: &Tx<'_>, scope: Scope, key: &str, now: i64, window: i64) -> Result<i64> {
    let horizon = now - window;
    tx.execute(
        "DELETE FROM rate_limits WHERE window_start <= ?1",
        [horizon],
    )?;
    let n = tx.query_row(
        "INSERT INTO rate_limits (scope, key, window_start, count) VALUES (?1, ?2, ?3, 1)
         ON CONFLICT (scope, key) DO UPDATE SET
             count = CASE WHEN rate_limits.window_start <= ?4 THEN 1
                          ELSE rate_limits.count + 1 END,
             window_start = CASE WHEN rate_limits.window_start <= ?4 THEN ?3
                                 ELSE rate_limits.window_start END
         RETURNING count",
        params![scope.as_str(), key, now, horizon],
        |r| r.get(0),
    )?;
    Ok(n)
}

/// Take one back from `key`'s count in its current window (never below zero): a challenge
/// redeemed by a valid session is not held against its device or address, so a device that
/// opens a session for every sync is never limited, while challenges asked and left unused
/// (by someone who knows the device id but not its key) still are.
pub fn redeem(tx: &Tx<'_>, scope: Scope, key: &str, now: i64, window: i64) -> Result<()> {
    tx.execute(
        "UPDATE rate_limits SET count = MAX(count - 1, 0)
         WHERE scope = ?1 AND key = ?2 AND window_start > ?3",
        params![scope.as_str(), key, now - window],
    )?;
    Ok(())
}

/// The two counts a challenge is held against: its device id asked from `address`
/// ([`Scope::ChallengeDevice`]) and `address` itself ([`Scope::ChallengeAddress`]).
pub fn challenge_keys(device: &str, address: &str) -> [(Scope, String); 2] {
    [
        (Scope::ChallengeDevice, format!("{device}@{address}")),
        (Scope::ChallengeAddress, address.to_owned()),
    ]
}

/// Whether the `count`th failure in a window deserves an audit row: the first, the one that
/// reaches the limit, and every power of ten. A flood of failures thus writes a handful of
/// rows, each carrying the count so far, instead of one row per failure.
pub fn audit_due(count: i64, limit: u32) -> bool {
    if count == 1 || count == i64::from(limit) {
        return true;
    }
    let mut p = 10;
    while p < count {
        p *= 10;
    }
    p == count
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_group_by_v4_address_and_v6_slash_64() {
        assert_eq!(address_key("192.0.2.7"), "192.0.2.7");
        assert_eq!(address_key("::ffff:192.0.2.7"), "192.0.2.7");
        assert_eq!(
            address_key("2001:db8:1:2:aaaa::1"),
            address_key("2001:db8:1:2:bbbb::9")
        );
        assert_ne!(
            address_key("2001:db8:1:2::1"),
            address_key("2001:db8:1:3::1")
        );
        assert_eq!(address_key("unknown"), "unknown");
    }

    #[test]
    fn counts_per_key_in_fixed_windows() {
        let mut db = crate::sql::TestDb::migrated();
        db.write(|tx| {
            for i in 1..=3 {
                assert_eq!(
                    bump(tx, Scope::EnrolAddress, "a", 100, 60).expect("bump"),
                    i
                );
            }
            assert_eq!(bump(tx, Scope::EnrolCode, "a", 100, 60).expect("bump"), 1);
            assert!(exceeded(**tx, Scope::EnrolAddress, "a", 159, 60, 3).expect("read"));
            assert!(!exceeded(**tx, Scope::EnrolAddress, "b", 159, 60, 3).expect("read"));
            assert!(!exceeded(**tx, Scope::EnrolAddress, "a", 160, 60, 3).expect("read"));
            assert_eq!(
                bump(tx, Scope::EnrolAddress, "a", 160, 60).expect("bump"),
                1
            );
            let rows: i64 = tx
                .query_row("SELECT COUNT(*) FROM rate_limits", [], |r| r.get(0))
                .expect("count");
            assert_eq!(rows, 1, "the passed window of the other scope was deleted");
        });
    }

    #[test]
    fn audit_rows_are_few() {
        let due: Vec<i64> = (1..=1000).filter(|n| audit_due(*n, 20)).collect();
        assert_eq!(due, vec![1, 10, 20, 100, 1000]);
    }
}
