//! Helpers shared by the core's integration tests (included with `mod common;`).
#![allow(dead_code)]

use casebook_core::doc::{Author, Edit};
use casebook_core::ids::{DeviceId, UserId};
use chrono::{DateTime, TimeZone, Utc};
use rand::SeedableRng;
use rand::rngs::StdRng;

pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

pub fn author(n: u8) -> Author {
    Author {
        user: UserId::from_bytes([n; 16]),
        device: DeviceId::from_bytes([n.wrapping_add(100); 16]),
    }
}

pub fn at(minute: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0)
        .single()
        .expect("valid time")
        + chrono::Duration::minutes(minute)
}

pub fn edit(n: u8, minute: i64) -> Edit {
    Edit::new(author(n), at(minute))
}
