//! What the core computes from a case's missing episodes (never stored): risk flags, the
//! return interview's due time (also shown in Europe/London) and whether it is overdue.

use std::time::SystemTime;

use casebook_core::model as core;

use super::system;

/// The risk flags of one episode, computed from the records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, uniffi::Record)]
pub struct RiskFlags {
    /// The child went missing within 48 hours of arriving at the placement.
    pub first_48_hours: bool,
    /// The child went missing while the 24-hour supervision step was in force.
    pub during_supervision: bool,
    /// The third or more absence within 90 days.
    pub repeat: bool,
}

impl From<core::RiskFlags> for RiskFlags {
    fn from(f: core::RiskFlags) -> Self {
        RiskFlags {
            first_48_hours: f.first_48_hours,
            during_supervision: f.during_supervision,
            repeat: f.repeat,
        }
    }
}

/// One episode's status at the time asked about.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct MissingEpisodeStatus {
    /// The episode's entry id.
    pub id: String,
    /// Whether the child is still missing.
    pub is_open: bool,
    /// Its risk flags.
    pub flags: RiskFlags,
    /// Absences that began in the 90 days up to this one, this one included (overlapping
    /// episodes count once).
    pub absences_in_90_days: u32,
    /// When the return interview is due (72 hours after the return; `None` while missing).
    pub return_interview_due: Option<SystemTime>,
    /// The due time as read in England ("Wed 1 Apr 2026, 00:59 BST").
    pub return_interview_due_london: Option<String>,
    /// Past due and neither held nor declined.
    pub return_interview_overdue: bool,
}

impl From<core::EpisodeStatus> for MissingEpisodeStatus {
    fn from(s: core::EpisodeStatus) -> Self {
        MissingEpisodeStatus {
            id: s.id.to_string(),
            is_open: s.open,
            flags: s.flags.into(),
            absences_in_90_days: s.absences_in_window,
            return_interview_due: system(s.return_interview_due),
            return_interview_due_london: s.return_interview_due.map(core::london_time),
            return_interview_overdue: s.return_interview_overdue,
        }
    }
}
