//! Alerts to the team: when a `safety` document the server stores first holds an open missing
//! episode (or first shows one ended), the server raises an [`Alert`] for the other people on
//! the case and delivers it in their devices' sync answers (`SyncResponse::alerts`). A person
//! acknowledges it ([`AcknowledgeRequest`], `POST /v1/alerts/acknowledge`); every recipient's
//! device then receives it again, acknowledged.
//!
//! An alert carries no case content: the case, the episode's entry id, the kind of event and
//! times. It may be shown on a lock screen.

use std::cmp::Reverse;

use serde::{Deserialize, Serialize};

use crate::ids::{AlertId, CaseId, EntryId, UserId};

/// Most alerts one acknowledgement request may name.
pub const MAX_ACKNOWLEDGE: usize = 256;

/// What an alert tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AlertKind {
    /// A missing-from-care episode started (the child is missing).
    Missing,
    /// A missing-from-care episode ended (the child returned or was found).
    Ended,
    /// An interpreter recorded on another case of the organisation may be linked to a
    /// person of concern of this case (statutory guidance, paragraph 26): the alert names
    /// the other case's reference only.
    InterpreterLink,
    /// A kind this build does not know (sent by a newer server).
    #[serde(other)]
    Unknown,
}

impl AlertKind {
    /// The stable wire and storage name.
    pub const fn as_str(self) -> &'static str {
        match self {
            AlertKind::Missing => "missing",
            AlertKind::Ended => "ended",
            AlertKind::InterpreterLink => "interpreter_link",
            AlertKind::Unknown => "unknown",
        }
    }

    /// The kind stored under `name` ([`AlertKind::Unknown`] for any other).
    pub fn from_name(name: &str) -> Self {
        match name {
            "missing" => AlertKind::Missing,
            "ended" => AlertKind::Ended,
            "interpreter_link" => AlertKind::InterpreterLink,
            _ => AlertKind::Unknown,
        }
    }
}

/// An alert as the server sends it: in a sync answer when it is new to the device, and again
/// whenever it changes (acknowledged). Times are Unix seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Alert {
    /// The alert.
    pub id: AlertId,
    /// The case it is about.
    pub case: CaseId,
    /// The missing episode's entry id in the case's `safety` document (for an
    /// `interpreter_link` alert, an opaque id of the other case's note and the person).
    pub episode: EntryId,
    /// What happened.
    pub kind: AlertKind,
    /// When it happened, as recorded: the episode's `missing_since` (for `missing`) or
    /// `returned_at` (for `ended`).
    pub at: Option<i64>,
    /// When the server raised the alert (server time).
    pub raised_at: i64,
    /// Who acknowledged it, once someone has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged_by: Option<UserId>,
    /// When it was acknowledged (server time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged_at: Option<i64>,
    /// For an `interpreter_link` alert: the reference of the other case, where the
    /// interpreter was recorded (nothing else of that case is sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linked_case_reference: Option<String>,
}

/// `POST /v1/alerts/acknowledge`: the device's user acknowledges these alerts. Idempotent: an
/// alert already acknowledged (by anyone) keeps its first acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcknowledgeRequest {
    /// The alerts, at most [`MAX_ACKNOWLEDGE`].
    pub alerts: Vec<AlertId>,
}

/// The answer to an [`AcknowledgeRequest`]: the named alerts the user may see, as they now
/// stand (one named that the user may not see, or that does not exist, is left out).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcknowledgeResponse {
    /// The alerts as they now stand.
    pub alerts: Vec<Alert>,
}

/// An alert as a device keeps it: the server's record, and an acknowledgement made on this
/// device that has not reached the server yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredAlert {
    /// The server's record, as last received.
    pub alert: Alert,
    /// When this device's user acknowledged it here (device clock, Unix seconds), while that
    /// has not been sent.
    pub pending_ack_at: Option<i64>,
}

impl StoredAlert {
    /// Whether someone acknowledged it (or this device's user did, not yet sent).
    pub fn is_acknowledged(&self) -> bool {
        self.alert.acknowledged_at.is_some() || self.pending_ack_at.is_some()
    }
}

/// Order alerts as they are listed: unacknowledged first, then newest first (by when they
/// were raised, then by id so the order is total).
pub fn sort_for_listing(alerts: &mut [StoredAlert]) {
    alerts.sort_by_key(|a| {
        (
            a.is_acknowledged(),
            Reverse(a.alert.raised_at),
            Reverse(a.alert.id),
        )
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(n: u8, raised_at: i64, acknowledged: bool) -> StoredAlert {
        StoredAlert {
            alert: Alert {
                id: AlertId::from_bytes([n; 16]),
                case: CaseId::from_bytes([1; 16]),
                episode: EntryId::from_bytes([2; 16]),
                kind: AlertKind::Missing,
                at: Some(raised_at - 60),
                raised_at,
                acknowledged_by: acknowledged.then(|| UserId::from_bytes([3; 16])),
                acknowledged_at: acknowledged.then_some(raised_at + 5),
                linked_case_reference: None,
            },
            pending_ack_at: None,
        }
    }

    #[test]
    fn unacknowledged_alerts_come_first_then_newest() {
        let mut pending = alert(4, 50, false);
        pending.pending_ack_at = Some(60);
        let mut list = vec![
            alert(1, 100, true),
            alert(2, 10, false),
            pending,
            alert(3, 20, false),
        ];
        sort_for_listing(&mut list);
        let order: Vec<u8> = list.iter().map(|a| a.alert.id.as_bytes()[0]).collect();
        assert_eq!(order, [3, 2, 1, 4]);
    }

    #[test]
    fn an_alert_holds_no_text_and_unknown_kinds_decode() {
        let json = serde_json::to_string(&alert(1, 100, false).alert).expect("encode");
        assert_eq!(
            json,
            format!(
                r#"{{"id":"{}","case":"{}","episode":"{}","kind":"missing","at":40,"raised_at":100}}"#,
                "01".repeat(16),
                "01".repeat(16),
                "02".repeat(16)
            )
        );
        let newer = json.replace("missing", "found_abroad");
        let decoded: Alert = serde_json::from_str(&newer).expect("decode");
        assert_eq!(decoded.kind, AlertKind::Unknown);
    }
}
