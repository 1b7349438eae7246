//! The protection plan, carers' safety checks and missing-from-care episodes (the `safety`
//! document, the only one carers receive).

use std::time::SystemTime;

use casebook_core::model as core;

use super::{invalid, mirror_enum, parse_opt_id, system, utc};
use crate::error::CasebookError;

/// A time of day as `HH:MM` (24-hour), refused naming `field` otherwise.
fn parse_time_of_day(field: &str, text: &str) -> Result<chrono::NaiveTime, CasebookError> {
    match chrono::NaiveTime::parse_from_str(text, "%H:%M") {
        Ok(time) if text.len() == 5 => Ok(time),
        _ => Err(invalid(field, "expected a time of day as HH:MM")),
    }
}

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
    /// Whether the child agreed to a plan step.
    ChildAgreement <=> core::ChildAgreement {
        /// Not asked (yet).
        #[default]
        NotAsked,
        /// The child agreed.
        Agreed,
        /// The child did not agree.
        NotAgreed,
    }
);

mirror_enum!(
    /// A supervisor's decision on a step that restricts the child.
    StepReviewOutcome <=> core::StepReviewOutcome {
        /// The restriction is approved as it stands.
        #[default]
        Approved,
        /// Changes asked (the step still needs review).
        ChangesAsked,
    }
);

mirror_enum!(
    /// Whether a safety check was carried out.
    CheckStatus <=> core::CheckStatus {
        /// Carried out.
        #[default]
        Done,
        /// Not possible (`not_possible_reason` is required).
        NotPossible,
    }
);

mirror_enum!(
    /// The two categories English local authorities return to the DfE.
    EpisodeCategory <=> core::EpisodeCategory {
        /// Missing: whereabouts not known.
        #[default]
        Missing,
        /// Away from placement without authorisation: whereabouts known or thought known.
        AwayFromPlacement,
    }
);

mirror_enum!(
    /// Where the return interview stands.
    ReturnInterviewOutcome <=> core::ReturnInterviewOutcome {
        /// Not yet held (nor declined).
        #[default]
        NotYet,
        /// Held.
        Done,
        /// Declined by the child.
        Declined,
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
    /// Set on the first weeks' 24-hour supervision step: in force until this instant (while
    /// active). Episodes that start before it are flagged.
    #[uniffi(default = None)]
    pub supervision_until: Option<SystemTime>,
    /// Whether the child agreed to the step. Optional in the FFI record (no enum defaults
    /// for proc-macro records): reads fill it in, `None` means `NOT_ASKED`.
    #[uniffi(default = None)]
    pub child_agreed: Option<ChildAgreement>,
    /// Whether the step restricts the child (phone removed, supervision, internet limits,
    /// the choice of room): it then needs a supervisor's review (guidance §41).
    #[uniffi(default = false)]
    pub restricts: bool,
    /// Carers check the step every this many hours (1 to 168)...
    #[uniffi(default = None)]
    pub check_every_hours: Option<u32>,
    /// ...or daily at this time in England (`HH:MM`).
    #[uniffi(default = None)]
    pub check_daily_at: Option<String>,
    /// When the checks start (left empty, the time the schedule is saved).
    #[uniffi(default = None)]
    pub checks_from: Option<SystemTime>,
    /// The supervisor's review (recorded with `review_plan_step`; read-only elsewhere: keep
    /// it as read when saving).
    #[uniffi(default = None)]
    pub review_outcome: Option<StepReviewOutcome>,
    /// The supervisor who recorded the review (a user id).
    #[uniffi(default = None)]
    pub reviewed_by: Option<String>,
    /// When the review was recorded.
    #[uniffi(default = None)]
    pub reviewed_at: Option<SystemTime>,
    /// A digest of the wording reviewed (read-only: keep it as read when saving); a step
    /// reworded since its approval needs review again.
    #[uniffi(default = None)]
    pub reviewed_wording: Option<String>,
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
    /// Whether it waits for a supervisor's review: it restricts the child, is in force, and
    /// is not approved.
    pub review_needed: bool,
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
    /// Whether the check was carried out. Optional in the FFI record: reads fill it in,
    /// `None` means `DONE`.
    #[uniffi(default = None)]
    pub status: Option<CheckStatus>,
    /// Why it was not possible (required when `status` is `NOT_POSSIBLE`).
    #[uniffi(default = "")]
    pub not_possible_reason: String,
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
/// Starting or saving one that is clearly wrong (an end before the start, a time in the
/// future) fails with `InvalidInput` naming the field.
#[derive(Debug, Clone, PartialEq, Eq, Default, uniffi::Record)]
pub struct MissingEpisode {
    /// Missing, or away from placement without authorisation (required: the app asks).
    pub category: EpisodeCategory,
    /// When the child was noticed missing (required to start an episode).
    #[uniffi(default = None)]
    pub missing_since: Option<SystemTime>,
    /// When the child was last seen.
    #[uniffi(default = None)]
    pub last_seen_at: Option<SystemTime>,
    /// Where the child was last seen.
    #[uniffi(default = "")]
    pub last_seen: String,
    /// Who the child was last seen with.
    #[uniffi(default = "")]
    pub last_seen_with: String,
    /// What the child was wearing.
    #[uniffi(default = "")]
    pub clothing: String,
    /// Circumstances and actions taken.
    #[uniffi(default = "")]
    pub circumstances: String,
    /// When reported to the police.
    #[uniffi(default = None)]
    pub reported_to_police_at: Option<SystemTime>,
    /// The police reference.
    #[uniffi(default = "")]
    pub police_reference: String,
    /// When the social worker or the out-of-hours team was told.
    #[uniffi(default = None)]
    pub social_worker_told_at: Option<SystemTime>,
    /// Who at the local authority was told.
    #[uniffi(default = "")]
    pub social_worker_told: String,
    /// When the guardian was told.
    #[uniffi(default = None)]
    pub guardian_told_at: Option<SystemTime>,
    /// When the child returned or was found.
    #[uniffi(default = None)]
    pub returned_at: Option<SystemTime>,
    /// Where the child was found or returned to.
    #[uniffi(default = "")]
    pub found_where: String,
    /// Who found or brought back the child.
    #[uniffi(default = "")]
    pub found_by: String,
    /// When a return interview was offered.
    #[uniffi(default = None)]
    pub return_interview_offered_at: Option<SystemTime>,
    /// Who offered it.
    #[uniffi(default = "")]
    pub return_interview_offered_by: String,
    /// Whether it was held or declined (`NOT_YET` until it is).
    pub return_interview_outcome: ReturnInterviewOutcome,
    /// When it was held.
    #[uniffi(default = None)]
    pub return_interview_done_at: Option<SystemTime>,
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
    /// When the return interview is due (72 hours after the return; `None` while missing).
    pub return_interview_due: Option<SystemTime>,
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
            supervision_until: system(s.supervision_until),
            child_agreed: Some(s.child_agreed.into()),
            restricts: s.restricts,
            check_every_hours: s.check_every_hours,
            check_daily_at: s.check_daily_at.map(|t| t.format("%H:%M").to_string()),
            checks_from: system(s.checks_from),
            review_outcome: s.review_outcome.map(Into::into),
            reviewed_by: s.reviewed_by.map(|u| u.to_string()),
            reviewed_at: system(s.reviewed_at),
            reviewed_wording: s.reviewed_wording,
            version: String::new(),
        }
    }
}

impl TryFrom<PlanStep> for core::PlanStep {
    type Error = CasebookError;

    fn try_from(s: PlanStep) -> Result<Self, CasebookError> {
        Ok(core::PlanStep {
            description: s.description,
            responsible: s.responsible.into(),
            if_missing: s.if_missing,
            status: s.status.into(),
            supervision_until: utc("supervision_until", s.supervision_until)?,
            child_agreed: s.child_agreed.map(Into::into).unwrap_or_default(),
            restricts: s.restricts,
            check_every_hours: s.check_every_hours,
            check_daily_at: s
                .check_daily_at
                .map(|t| parse_time_of_day("check_daily_at", &t))
                .transpose()?,
            checks_from: utc("checks_from", s.checks_from)?,
            review_outcome: s.review_outcome.map(Into::into),
            reviewed_by: parse_opt_id("reviewed_by", s.reviewed_by)?,
            reviewed_at: utc("reviewed_at", s.reviewed_at)?,
            reviewed_wording: s.reviewed_wording,
        })
    }
}

impl From<core::SafetyCheck> for SafetyCheck {
    fn from(c: core::SafetyCheck) -> Self {
        SafetyCheck {
            checked_at: system(c.checked_at),
            step: c.step.map(|s| s.to_string()),
            outcome: c.outcome.into(),
            note: c.note,
            status: Some(c.status.into()),
            not_possible_reason: c.not_possible_reason,
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
            status: c.status.map(Into::into).unwrap_or_default(),
            not_possible_reason: c.not_possible_reason,
        })
    }
}

impl From<core::MissingEpisode> for MissingEpisode {
    fn from(e: core::MissingEpisode) -> Self {
        MissingEpisode {
            category: e.category.into(),
            missing_since: system(e.missing_since),
            last_seen_at: system(e.last_seen_at),
            last_seen: e.last_seen,
            last_seen_with: e.last_seen_with,
            clothing: e.clothing,
            circumstances: e.circumstances,
            reported_to_police_at: system(e.reported_to_police_at),
            police_reference: e.police_reference,
            social_worker_told_at: system(e.social_worker_told_at),
            social_worker_told: e.social_worker_told,
            guardian_told_at: system(e.guardian_told_at),
            returned_at: system(e.returned_at),
            found_where: e.found_where,
            found_by: e.found_by,
            return_interview_offered_at: system(e.return_interview_offered_at),
            return_interview_offered_by: e.return_interview_offered_by,
            return_interview_outcome: e.return_interview_outcome.into(),
            return_interview_done_at: system(e.return_interview_done_at),
            return_interview: e.return_interview,
            version: String::new(),
        }
    }
}

impl TryFrom<MissingEpisode> for core::MissingEpisode {
    type Error = CasebookError;

    fn try_from(e: MissingEpisode) -> Result<Self, CasebookError> {
        Ok(core::MissingEpisode {
            category: e.category.into(),
            missing_since: utc("missing_since", e.missing_since)?,
            last_seen_at: utc("last_seen_at", e.last_seen_at)?,
            last_seen: e.last_seen,
            last_seen_with: e.last_seen_with,
            clothing: e.clothing,
            circumstances: e.circumstances,
            reported_to_police_at: utc("reported_to_police_at", e.reported_to_police_at)?,
            police_reference: e.police_reference,
            social_worker_told_at: utc("social_worker_told_at", e.social_worker_told_at)?,
            social_worker_told: e.social_worker_told,
            guardian_told_at: utc("guardian_told_at", e.guardian_told_at)?,
            returned_at: utc("returned_at", e.returned_at)?,
            found_where: e.found_where,
            found_by: e.found_by,
            return_interview_offered_at: utc(
                "return_interview_offered_at",
                e.return_interview_offered_at,
            )?,
            return_interview_offered_by: e.return_interview_offered_by,
            return_interview_outcome: e.return_interview_outcome.into(),
            return_interview_done_at: utc("return_interview_done_at", e.return_interview_done_at)?,
            return_interview: e.return_interview,
        })
    }
}
