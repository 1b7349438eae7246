//! Who made a change and when: every commit carries its author (user and device) and the
//! caller's clock, so a record's history answers "who wrote what, when".

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{DeviceId, UserId};

/// The person and device making a change. The device is also the automerge actor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Author {
    /// The person.
    pub user: UserId,
    /// Their enrolled device.
    pub device: DeviceId,
}

/// The context of one edit: who, and when (the clock is the caller's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edit {
    /// Who is editing.
    pub author: Author,
    /// The time of the edit, from the caller's clock.
    pub at: DateTime<Utc>,
}

impl Edit {
    /// An edit by `author` at `at`.
    pub fn new(author: Author, at: DateTime<Utc>) -> Self {
        Self { author, at }
    }
}

/// What a commit message records: the author and a short description of the change
/// (a field or entry name, never case content).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CommitNote {
    pub(crate) user: UserId,
    pub(crate) device: DeviceId,
    pub(crate) what: String,
    /// For the save of a record read at some version: that version (change hashes, never
    /// content), so later saves from the same read continue from this one (`stale.rs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) read_at: Option<String>,
}

/// One change in a document's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeRecord {
    /// Who made it, when the commit message says so (changes from outside Casebook don't).
    pub author: Option<Author>,
    /// When, by the author's clock.
    pub at: Option<DateTime<Utc>>,
    /// What was changed (a field or entry description, never content).
    pub what: String,
    /// The automerge change hash, hex.
    pub hash: String,
}

impl CommitNote {
    pub(crate) fn parse(message: Option<&str>) -> Option<CommitNote> {
        serde_json::from_str(message?).ok()
    }
}

pub(crate) fn timestamp_to_utc(millis: i64) -> Option<DateTime<Utc>> {
    DateTime::<Utc>::from_timestamp_millis(millis)
}
