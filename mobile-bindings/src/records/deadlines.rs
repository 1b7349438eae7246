//! A case's deadlines, computed by the core offline from its records (never stored).

use std::time::SystemTime;

use casebook_core::model as core;

use super::{DocKind, mirror_enum, show_date, system};

mirror_enum!(
    /// What falls due.
    DeadlineKind <=> core::DeadlineKind {
        /// The reasonable grounds decision: 5 working days after the referral.
        #[default]
        ReasonableGrounds,
        /// The conclusive grounds decision may be made from this day; never overdue.
        ConclusiveGroundsFrom,
        /// A return interview: 72 hours after the child returned.
        ReturnInterview,
        /// The care plan's next review.
        CarePlanReview,
        /// The health plan's next review.
        HealthPlanReview,
        /// The personal education plan's next review.
        EducationPlanReview,
        /// The pathway plan's next review.
        PathwayPlanReview,
        /// A decision expected on a pending asylum claim or appeal.
        AsylumDecision,
        /// Apply to extend leave before it ends.
        ApplyBeforeLeaveEnds,
        /// The Home Office reviews UASC leave at 17½; never overdue.
        UascLeaveReview,
        /// A pathway plan is due from 16.
        PathwayPlan,
        /// A personal adviser is due at 18.
        PersonalAdviser,
        /// The 18th birthday; never overdue.
        EighteenthBirthday,
        /// A carers' check of a plan step that fell due and was not logged (listed only
        /// when overdue).
        SafetyCheck,
    }
);

/// One deadline of a case.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Deadline {
    /// What falls due.
    pub kind: DeadlineKind,
    /// The day it falls due in England (`YYYY-MM-DD`).
    pub due_on: String,
    /// The instant it falls due, where the rule counts hours (return interviews).
    pub due_at: Option<SystemTime>,
    /// Whether it has passed undone.
    pub overdue: bool,
    /// The document of the record it comes from.
    pub doc: DocKind,
    /// The record within it: a field path (`nrm`, `plans/care_plan`) or an entry
    /// (`missing_episodes/<id>`).
    pub record: String,
}

impl From<core::Deadline> for Deadline {
    fn from(d: core::Deadline) -> Self {
        Deadline {
            kind: d.kind.into(),
            due_on: show_date(Some(d.due_on)).unwrap_or_default(),
            due_at: system(d.due_at),
            overdue: d.overdue,
            doc: d.doc.into(),
            record: d.record,
        }
    }
}
