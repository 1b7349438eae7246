//! Alerts to the team, as the app lists them and its listener hears of them: the case (id and
//! the reference this device holds for it), the kind of event and times. Nothing of the
//! episode's text, so an alert may be shown on a lock screen.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use casebook_core::alert::{AlertKind as CoreKind, StoredAlert};
use casebook_core::ids::CaseId;

/// What an alert tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum AlertKind {
    /// The child went missing from care (an episode started).
    Missing,
    /// The missing episode ended (the child returned or was found).
    Ended,
    /// An interpreter recorded on another case of the organisation may be linked to a
    /// person of concern of this case; `linked_case_reference` names that case.
    InterpreterLink,
    /// A kind this build does not know.
    Other,
}

impl From<CoreKind> for AlertKind {
    fn from(kind: CoreKind) -> Self {
        match kind {
            CoreKind::Missing => AlertKind::Missing,
            CoreKind::Ended => AlertKind::Ended,
            CoreKind::InterpreterLink => AlertKind::InterpreterLink,
            _ => AlertKind::Other,
        }
    }
}

/// An alert to the people on a case.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct TeamAlert {
    /// The alert (pass it to `acknowledge_alert`).
    pub id: String,
    /// The case.
    pub case_id: String,
    /// The case's reference, if this device holds the case's summary.
    pub case_reference: Option<String>,
    /// The missing episode (an entry of the case's safety document).
    pub episode_id: String,
    /// What happened.
    pub kind: AlertKind,
    /// When it happened, as recorded (noticed missing, or returned).
    pub happened_at: Option<SystemTime>,
    /// When the server raised the alert.
    pub raised_at: SystemTime,
    /// Whether someone acknowledged it (or this device's user did, not yet sent).
    pub acknowledged: bool,
    /// Who acknowledged it (user id), once the server has it.
    pub acknowledged_by: Option<String>,
    /// When it was acknowledged (server time), once the server has it.
    pub acknowledged_at: Option<SystemTime>,
    /// This device's user acknowledged it and the next sync sends that.
    pub acknowledgement_pending: bool,
    /// For an `InterpreterLink` alert: the reference of the other case, where the
    /// interpreter was recorded (nothing else of it is sent).
    pub linked_case_reference: Option<String>,
}

fn time(secs: i64) -> SystemTime {
    match u64::try_from(secs) {
        Ok(after) => SystemTime::UNIX_EPOCH + Duration::from_secs(after),
        Err(_) => SystemTime::UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs()),
    }
}

impl TeamAlert {
    /// The record of `stored`, with the case references this device holds.
    pub(crate) fn new(stored: StoredAlert, references: &HashMap<CaseId, String>) -> Self {
        let acknowledged = stored.is_acknowledged();
        let a = stored.alert;
        TeamAlert {
            id: a.id.to_string(),
            case_id: a.case.to_string(),
            case_reference: references.get(&a.case).cloned(),
            episode_id: a.episode.to_string(),
            kind: a.kind.into(),
            happened_at: a.at.map(time),
            raised_at: time(a.raised_at),
            acknowledged,
            acknowledged_by: a.acknowledged_by.map(|u| u.to_string()),
            acknowledged_at: a.acknowledged_at.map(time),
            acknowledgement_pending: stored.pending_ack_at.is_some(),
            linked_case_reference: a.linked_case_reference,
        }
    }
}
