//! The protection plan, carers' safety checks and missing-from-care episodes (the `safety`
//! document, the only one carers receive).

use std::time::SystemTime;

use casebook_core::model as core;

use super::{mirror_enum, parse_opt_id, system, utc};
use crate::error::CasebookError;

mirror_enum!(
    /// Who carries out a plan step.
    Responsible <=> core::Responsible {
        /// The foster or residential carers.
        #[default]
        Carers,
        /// The local authority.
        LocalAuthority,
        /// The police.
        Police,
        /// The guardian.
        Guardian,
    }
);

mirror_enum!(
    /// Whether a plan step is in force.
    StepStatus <=> core::StepStatus {
        /// In force.
        #[default]
        Active,
        /// No longer needed.
        Retired,
    }
);

mirror_enum!(
    /// The outcome of a safety check.
    CheckOutcome <=> core::CheckOutcome {
        /// All well.
        #[default]
        Ok,
        /// A concern to follow up.
        Concern,
    }
);

/// A step of the protection plan.
#[derive(Debug, Clone, PartialEq, Eq, Default, uniffi::Record)]
pub struct PlanStep {
    /// What is done.
    pub description: String,
    /// Who does it.
    pub responsible: Responsible,
    /// Whether this step is part of the response if the child goes missing.
    #[uniffi(default = false)]
    pub if_missing: bool,
    /// Whether it is in force.
    pub status: StepStatus,
    /// The version of its document this was read at: reads fill it in; keep it when you
    /// save, so the save writes only what was changed since and keeps what others wrote
    /// meanwhile. Empty for a record made from scratch (the save then writes every field
    /// that differs from the document now).
    #[uniffi(default = "")]
    pub version: String,
}

/// A plan step with its entry id.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PlanStepEntry {
    /// Entry id.
    pub id: String,
    /// The step.
    pub step: PlanStep,
}

/// A carer's safety check.
#[derive(Debug, Clone, PartialEq, Eq, Default, uniffi::Record)]
pub struct SafetyCheck {
    /// When the check was made.
    #[uniffi(default = None)]
    pub checked_at: Option<SystemTime>,
    /// The entry id of the plan step it checks, if any.
    #[uniffi(default = None)]
    pub step: Option<String>,
    /// The outcome.
    pub outcome: CheckOutcome,
    /// What was seen.
    #[uniffi(default = "")]
    pub note: String,
}

/// A safety check with its entry id.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SafetyCheckEntry {
    /// Entry id.
    pub id: String,
    /// The check.
    pub check: SafetyCheck,
}

/// A missing-from-care episode, from noticing the child is missing to the return interview.
#[derive(Debug, Clone, PartialEq, Eq, Default, uniffi::Record)]
pub struct MissingEpisode {
    /// When the child was noticed missing (required to start an episode).
    #[uniffi(default = None)]
    pub missing_since: Option<SystemTime>,
    /// When last seen, and with whom.
    #[uniffi(default = "")]
    pub last_seen: String,
    /// When reported to the police.
    #[uniffi(default = None)]
    pub reported_to_police_at: Option<SystemTime>,
    /// The police reference.
    #[uniffi(default = "")]
    pub police_reference: String,
    /// Circumstances and actions taken.
    #[uniffi(default = "")]
    pub circumstances: String,
    /// When the child returned or was found.
    #[uniffi(default = None)]
    pub returned_at: Option<SystemTime>,
    /// When a return interview was offered.
    #[uniffi(default = None)]
    pub return_interview_offered_at: Option<SystemTime>,
    /// What the child said at the return interview.
    #[uniffi(default = "")]
    pub return_interview: String,
    /// The version of its document this was read at: reads fill it in; keep it when you
    /// save, so the save writes only what was changed since and keeps what others wrote
    /// meanwhile. Empty for a record made from scratch (the save then writes every field
    /// that differs from the document now).
    #[uniffi(default = "")]
    pub version: String,
}

/// A missing episode with its entry id.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct MissingEpisodeEntry {
    /// Entry id.
    pub id: String,
    /// The episode.
    pub episode: MissingEpisode,
    /// Whether the child is still missing.
    pub is_open: bool,
}

/// What the child says helps them feel safe (free text, shared with carers).
#[derive(Debug, Clone, PartialEq, Eq, Default, uniffi::Record)]
pub struct FeelSafe {
    /// The text.
    #[uniffi(default = "")]
    pub text: String,
    /// The version of the safety document this was read at (see `VisitNote.version`).
    #[uniffi(default = "")]
    pub version: String,
}

impl From<core::PlanStep> for PlanStep {
    fn from(s: core::PlanStep) -> Self {
        PlanStep {
            description: s.description,
            responsible: s.responsible.into(),
            if_missing: s.if_missing,
            status: s.status.into(),
            version: String::new(),
        }
    }
}

impl From<PlanStep> for core::PlanStep {
    fn from(s: PlanStep) -> Self {
        core::PlanStep {
            description: s.description,
            responsible: s.responsible.into(),
            if_missing: s.if_missing,
            status: s.status.into(),
        }
    }
}

impl From<core::SafetyCheck> for SafetyCheck {
    fn from(c: core::SafetyCheck) -> Self {
        SafetyCheck {
            checked_at: system(c.checked_at),
            step: c.step.map(|s| s.to_string()),
            outcome: c.outcome.into(),
            note: c.note,
        }
    }
}

impl TryFrom<SafetyCheck> for core::SafetyCheck {
    type Error = CasebookError;

    fn try_from(c: SafetyCheck) -> Result<Self, CasebookError> {
        Ok(core::SafetyCheck {
            checked_at: utc("checked_at", c.checked_at)?,
            step: parse_opt_id("step", c.step)?,
            outcome: c.outcome.into(),
            note: c.note,
        })
    }
}

impl From<core::MissingEpisode> for MissingEpisode {
    fn from(e: core::MissingEpisode) -> Self {
        MissingEpisode {
            missing_since: system(e.missing_since),
            last_seen: e.last_seen,
            reported_to_police_at: system(e.reported_to_police_at),
            police_reference: e.police_reference,
            circumstances: e.circumstances,
            returned_at: system(e.returned_at),
            return_interview_offered_at: system(e.return_interview_offered_at),
            return_interview: e.return_interview,
            version: String::new(),
        }
    }
}

impl TryFrom<MissingEpisode> for core::MissingEpisode {
    type Error = CasebookError;

    fn try_from(e: MissingEpisode) -> Result<Self, CasebookError> {
        Ok(core::MissingEpisode {
            missing_since: utc("missing_since", e.missing_since)?,
            last_seen: e.last_seen,
            reported_to_police_at: utc("reported_to_police_at", e.reported_to_police_at)?,
            police_reference: e.police_reference,
            circumstances: e.circumstances,
            returned_at: utc("returned_at", e.returned_at)?,
            return_interview_offered_at: utc(
                "return_interview_offered_at",
                e.return_interview_offered_at,
            )?,
            return_interview: e.return_interview,
        })
    }
}
