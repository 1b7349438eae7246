//! Case list lines, document kinds, conflicts, device identity and sync reports.

use std::time::SystemTime;

use casebook_core::doc as core_doc;
use casebook_core::store as core_store;
use casebook_core::sync as core_sync;
use casebook_core::sync::wire::{Notice, NoticeKind, RejectReason};

use super::{mirror_enum, system};

mirror_enum!(
    /// The five documents of a case, split by audience.
    DocKind <=> core_doc::DocKind {
        /// Who the child is.
        #[default]
        Profile,
        /// Where the child lives (most sensitive).
        Location,
        /// Visit notes.
        Visits,
        /// Protection plan, safety checks, missing episodes (shared with carers).
        Safety,
        /// Persons of concern.
        Associates,
    }
);

/// A line of the case list.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CaseSummary {
    /// The case id.
    pub case_id: String,
    /// The local authority's case reference.
    pub reference: String,
    /// The name the child is known by (empty where this device does not hold the profile).
    pub display_name: String,
    /// When anything in the case last changed on this device.
    pub updated_at: SystemTime,
}

impl From<core_store::CaseSummary> for CaseSummary {
    fn from(c: core_store::CaseSummary) -> Self {
        CaseSummary {
            case_id: c.case.to_string(),
            reference: c.reference,
            display_name: c.display_name,
            updated_at: c.updated_at.into(),
        }
    }
}

/// One of the values of a conflicted field, with who wrote it and when.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ConflictValue {
    /// The value as JSON text.
    pub value_json: String,
    /// The author's user id, if recorded.
    pub user_id: Option<String>,
    /// The author's device id, if recorded.
    pub device_id: Option<String>,
    /// When it was written, if recorded.
    pub at: Option<SystemTime>,
}

/// A field written concurrently on two devices; it stays a conflict until resolved.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Conflict {
    /// The case.
    pub case_id: String,
    /// Which document.
    pub kind: DocKind,
    /// The field's path in the document (pass it back to `resolve_conflict`).
    pub path: Vec<String>,
    /// The competing values.
    pub values: Vec<ConflictValue>,
}

impl From<core_doc::Conflict> for Conflict {
    fn from(c: core_doc::Conflict) -> Self {
        Conflict {
            case_id: c.doc.case.to_string(),
            kind: c.doc.kind.into(),
            path: c.path,
            values: c
                .values
                .into_iter()
                .map(|v| ConflictValue {
                    value_json: v.value.to_string(),
                    user_id: v.author.map(|a| a.user.to_string()),
                    device_id: v.author.map(|a| a.device.to_string()),
                    at: system(v.at),
                })
                .collect(),
        }
    }
}

/// Who this device is enrolled as.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DeviceInfo {
    /// The enrolled user.
    pub user_id: String,
    /// This device.
    pub device_id: String,
    /// The user's role (for menus only: the server decides access).
    pub role: String,
    /// The server's base URL.
    pub server_url: String,
}

/// A document the server refused in a sync; its local edits are kept.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Rejection {
    /// The case.
    pub case_id: String,
    /// Which document.
    pub kind: DocKind,
    /// `forbidden`, `read_only`, `quarantined`, `too_large` (its changes alone are more than
    /// one sync request may carry: kept here, not sent), or `other` for a reason this build
    /// does not know.
    pub reason: String,
}

/// What a finished sync did.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SyncReport {
    /// Round trips made.
    pub rounds: u32,
    /// Documents this device sent changes for.
    pub docs_pushed: u64,
    /// Documents that changed here because of the server.
    pub docs_updated: u64,
    /// Documents received whole (newly shared).
    pub docs_received: u64,
    /// Documents removed because access ended (`case_id/kind`).
    pub purged: Vec<String>,
    /// Documents the server refused.
    pub rejected: Vec<Rejection>,
    /// Documents from the server that did not decode (`case_id/kind`).
    pub quarantined: Vec<String>,
    /// Security notices the server delivered (each once): show them to the user.
    #[uniffi(default)]
    pub notices: Vec<SecurityNotice>,
    /// The server was restored from a backup since this device last synced: this sync
    /// started over and offered everything held here, so that what the backup lacked is back
    /// on the server. Worth telling a supervisor; nothing for the user to do.
    #[uniffi(default)]
    pub server_restored: bool,
}

/// A security notice about the user's account, delivered by a sync. It names a device,
/// never case content.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SecurityNotice {
    /// `device_enrolled`: another device was enrolled for this user; if the user did not
    /// enrol it, they should tell their administrator at once. `other` for a kind this build
    /// does not know.
    pub kind: String,
    /// The device the notice is about.
    pub device_id: String,
    /// Its label as given at enrolment.
    pub device_name: String,
    /// When it happened (server time).
    pub at: SystemTime,
}

impl From<Notice> for SecurityNotice {
    fn from(n: Notice) -> Self {
        SecurityNotice {
            kind: match n.kind {
                NoticeKind::DeviceEnrolled => "device_enrolled",
                _ => "other",
            }
            .to_owned(),
            device_id: n.device_id.to_string(),
            device_name: n.device_name,
            at: SystemTime::UNIX_EPOCH
                + std::time::Duration::from_secs(u64::try_from(n.at).unwrap_or(0)),
        }
    }
}

impl From<core_sync::SyncReport> for SyncReport {
    fn from(r: core_sync::SyncReport) -> Self {
        SyncReport {
            rounds: r.rounds,
            docs_pushed: count(r.docs_pushed),
            docs_updated: count(r.docs_updated),
            docs_received: count(r.docs_received),
            purged: r.purged.iter().map(ToString::to_string).collect(),
            rejected: r
                .rejected
                .into_iter()
                .map(|j| Rejection {
                    case_id: j.doc.case.to_string(),
                    kind: j.doc.kind.into(),
                    reason: match j.reason {
                        RejectReason::Forbidden => "forbidden",
                        RejectReason::ReadOnly => "read_only",
                        RejectReason::Quarantined => "quarantined",
                        _ => "other",
                    }
                    .to_owned(),
                })
                .chain(r.too_large.iter().map(|doc| Rejection {
                    case_id: doc.case.to_string(),
                    kind: doc.kind.into(),
                    reason: "too_large".to_owned(),
                }))
                .collect(),
            quarantined: r.quarantined.iter().map(ToString::to_string).collect(),
            notices: r.notices.into_iter().map(Into::into).collect(),
            server_restored: r.server_restored,
        }
    }
}

/// How far a sync has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct SyncProgress {
    /// Round trips so far.
    pub rounds: u32,
    /// Documents updated or received so far (counted as they arrive).
    pub docs_done: u64,
    /// This device's changed documents the server has acknowledged so far.
    #[uniffi(default)]
    pub docs_sent: u64,
    /// This device's changed documents to send in this sync (known from the start).
    #[uniffi(default)]
    pub docs_to_send: u64,
    /// Bytes sent so far.
    #[uniffi(default)]
    pub bytes_sent: u64,
    /// Bytes received so far.
    #[uniffi(default)]
    pub bytes_received: u64,
    /// Documents to update or receive in this sync, as far as known (those done and those
    /// the server said it has still to send; equal to `docs_done` once nothing is left).
    #[uniffi(default)]
    pub docs_to_receive: u64,
    /// Stored bytes of the documents the server said it has still to send.
    #[uniffi(default)]
    pub bytes_pending: u64,
}

impl From<core_sync::SyncProgress> for SyncProgress {
    fn from(p: core_sync::SyncProgress) -> Self {
        SyncProgress {
            rounds: p.rounds,
            docs_done: count(p.docs_done),
            docs_sent: count(p.docs_sent),
            docs_to_send: count(p.docs_to_send),
            bytes_sent: p.bytes_sent,
            bytes_received: p.bytes_received,
            docs_to_receive: count(p.docs_to_receive),
            bytes_pending: p.bytes_pending,
        }
    }
}

fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// What caused a change notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ChangeSource {
    /// An edit made through this `Casebook`.
    Local,
    /// A sync brought changes from the server (or purged documents).
    Sync,
    /// The store was wiped (device revoked).
    Wipe,
    /// A sync delivered a security notice (in the event's `notice`); nothing in the store
    /// changed.
    Notice,
    /// An alert to the team arrived with a sync, new or changed (acknowledged), or was
    /// acknowledged on this device: in the event's `alert` (and `case_id`).
    Alert,
}

/// A change notification. `case_id` and `kind` name the document changed by a local edit or
/// by a sync (one event per document; a purged document is no longer held). They are empty
/// after a wipe, or a sync that failed part-way, and the app should reload what it shows.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ChangeEvent {
    /// What caused it.
    pub source: ChangeSource,
    /// The case, for local edits and syncs.
    pub case_id: Option<String>,
    /// The document, for local edits and syncs.
    pub kind: Option<DocKind>,
    /// The security notice, for `Notice` events.
    #[uniffi(default)]
    pub notice: Option<SecurityNotice>,
    /// The alert, for `Alert` events.
    #[uniffi(default)]
    pub alert: Option<super::TeamAlert>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sync_after_the_server_was_restored_says_so_to_the_app() {
        for restored in [false, true] {
            let core = core_sync::SyncReport {
                server_restored: restored,
                ..core_sync::SyncReport::default()
            };
            assert_eq!(SyncReport::from(core).server_restored, restored);
        }
    }
}
