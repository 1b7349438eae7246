//! One case's deadlines, computed offline from its records and never stored: the NRM
//! decisions (reasonable grounds 5 working days after the referral; conclusive grounds not
//! before 30 days after reasonable grounds), return interviews (72 hours after a return,
//! `missing_status.rs`), plan reviews, the asylum decision and leave (apply before leave ends;
//! the review of UASC leave at 17½, statutory guidance §58), the pathway plan from 16, a
//! personal adviser at 18 (§66), the 18th birthday itself, and carers' safety checks that
//! fell due and were not logged (`safety_checks.rs`). Pure: the caller passes the
//! records and the clock; the device and the server compute the same list.

use chrono::{DateTime, Months, NaiveDate, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::missing_episode::{MissingEpisode, ReturnInterviewOutcome};
use super::profile::{AgeStatus, ImmigrationOutcome, NrmDecision, Profile};
use super::safety::{PlanStep, SafetyCheck};
use super::safety_checks::{OverdueCheck, overdue_safety_checks};
use super::working_days::add_working_days;
use crate::doc::DocKind;
use crate::error::Result;
use crate::ids::EntryId;

/// Working days from the referral to the reasonable grounds decision.
pub const REASONABLE_GROUNDS_WORKING_DAYS: u32 = 5;

/// The least time between the reasonable and the conclusive grounds decisions.
pub const CONCLUSIVE_GROUNDS_AFTER: TimeDelta = TimeDelta::days(30);

/// What falls due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadlineKind {
    /// The reasonable grounds decision: 5 working days after the referral.
    ReasonableGrounds,
    /// The conclusive grounds decision may be made from this day (30 days after reasonable
    /// grounds); never overdue.
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
    /// A pathway plan is due from the 16th birthday (none recorded yet).
    PathwayPlan,
    /// A personal adviser is due at 18 (none recorded yet).
    PersonalAdviser,
    /// The 18th birthday; never overdue, listed until it has passed.
    EighteenthBirthday,
    /// A carers' check of a plan step that fell due and was not logged (listed only when
    /// overdue; see `safety_checks.rs`).
    SafetyCheck,
}

/// One deadline of a case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deadline {
    /// What falls due.
    pub kind: DeadlineKind,
    /// The day it falls due (in England).
    pub due_on: NaiveDate,
    /// The instant it falls due, where the rule counts hours (return interviews).
    pub due_at: Option<DateTime<Utc>>,
    /// Whether it has passed undone at `now`.
    pub overdue: bool,
    /// The document of the record it comes from.
    pub doc: DocKind,
    /// The record within it: a field path (`nrm`, `plans/care_plan`) or an entry
    /// (`missing_episodes/<id>`).
    pub record: String,
}

impl Deadline {
    /// Soonest first: by day; within a day, timed deadlines first (a day-only one is due by
    /// the day's end), then by time and kind.
    fn sort_key(&self) -> (NaiveDate, bool, Option<DateTime<Utc>>, DeadlineKind, &str) {
        (
            self.due_on,
            self.due_at.is_none(),
            self.due_at,
            self.kind,
            &self.record,
        )
    }
}

/// A deadline as the records fix it, before the clock is asked: what falls due, when, and
/// from which record. [`ScheduledDeadline::at`] gives the [`Deadline`] at a time (whether it
/// is overdue, whether it is still listed). The server keeps these in an index when a
/// document arrives, so a supervisor's list reads no document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduledDeadline {
    /// What falls due.
    pub kind: DeadlineKind,
    /// The day it falls due (in England).
    pub due_on: NaiveDate,
    /// The instant it falls due, where the rule counts hours (return interviews).
    pub due_at: Option<DateTime<Utc>>,
    /// The document of the record it comes from.
    pub doc: DocKind,
    /// The record within it (see [`Deadline::record`]).
    pub record: String,
}

impl ScheduledDeadline {
    fn on(kind: DeadlineKind, due_on: NaiveDate, record: &str) -> Self {
        ScheduledDeadline {
            kind,
            due_on,
            due_at: None,
            doc: DocKind::Profile,
            record: record.to_owned(),
        }
    }

    /// The deadline at `now`: `None` once it is no longer listed (the review of UASC leave
    /// and the 18th birthday, after their day); overdue when its time or day has passed
    /// (never for the kinds that only open a window or mark a day).
    pub fn at(&self, now: DateTime<Utc>) -> Option<Deadline> {
        use DeadlineKind as K;
        let today = now.with_timezone(&chrono_tz::Europe::London).date_naive();
        let marks_a_day = matches!(self.kind, K::UascLeaveReview | K::EighteenthBirthday);
        if marks_a_day && self.due_on < today {
            return None;
        }
        let overdue = match (self.kind, self.due_at) {
            (K::ConclusiveGroundsFrom | K::UascLeaveReview | K::EighteenthBirthday, _) => false,
            (_, Some(due_at)) => now > due_at,
            (_, None) => today > self.due_on,
        };
        Some(Deadline {
            kind: self.kind,
            due_on: self.due_on,
            due_at: self.due_at,
            overdue,
            doc: self.doc,
            record: self.record.clone(),
        })
    }
}

/// The deadlines `profile` and `episodes` fix, whatever the time (see
/// [`ScheduledDeadline::at`]); [`case_deadlines`] without the clock and the safety checks.
/// Fails only if a working-day deadline lies beyond the shipped bank holidays.
pub fn scheduled_deadlines(
    profile: Option<&Profile>,
    episodes: &[(EntryId, MissingEpisode)],
) -> Result<Vec<ScheduledDeadline>> {
    let mut out = Vec::new();
    if let Some(profile) = profile {
        profile_deadlines(profile, &mut out)?;
    }
    for (id, episode) in episodes {
        if episode.return_interview_outcome != ReturnInterviewOutcome::NotYet {
            continue;
        }
        let Some(due) = episode.return_interview_due() else {
            continue;
        };
        out.push(ScheduledDeadline {
            kind: DeadlineKind::ReturnInterview,
            due_on: due.with_timezone(&chrono_tz::Europe::London).date_naive(),
            due_at: Some(due),
            doc: DocKind::Safety,
            record: format!("missing_episodes/{id}"),
        });
    }
    Ok(out)
}

/// The deadline of an overdue carers' check (always overdue; listed only while it is).
pub fn safety_check_deadline(overdue: &OverdueCheck) -> Deadline {
    Deadline {
        kind: DeadlineKind::SafetyCheck,
        due_on: overdue
            .due_at
            .with_timezone(&chrono_tz::Europe::London)
            .date_naive(),
        due_at: Some(overdue.due_at),
        overdue: true,
        doc: DocKind::Safety,
        record: format!("plan_steps/{}", overdue.step),
    }
}

/// Sort deadlines soonest first (by day; within a day timed ones first, then by time, kind
/// and record).
pub fn sort_deadlines(list: &mut [Deadline]) {
    list.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
}

/// The case's deadlines at `now`, soonest first (see `Deadline::sort_key`). `profile` is `None` on a
/// device that does not hold it (a carer's); `episodes`, `steps` and `checks` are the safety
/// document's missing episodes, plan steps and safety checks (overdue checks are listed, see
/// [`overdue_safety_checks`]). Fails only if a working-day deadline lies beyond the shipped
/// bank holidays.
pub fn case_deadlines(
    profile: Option<&Profile>,
    episodes: &[(EntryId, MissingEpisode)],
    steps: &[(EntryId, PlanStep)],
    checks: &[(EntryId, SafetyCheck)],
    now: DateTime<Utc>,
) -> Result<Vec<Deadline>> {
    let mut out: Vec<Deadline> = scheduled_deadlines(profile, episodes)?
        .iter()
        .filter_map(|d| d.at(now))
        .collect();
    out.extend(
        overdue_safety_checks(steps, checks, now)
            .iter()
            .map(safety_check_deadline),
    );
    sort_deadlines(&mut out);
    Ok(out)
}

fn profile_deadlines(p: &Profile, out: &mut Vec<ScheduledDeadline>) -> Result<()> {
    use DeadlineKind as K;
    let nrm = &p.nrm;
    if let (Some(referred), NrmDecision::Pending) = (nrm.referred_on, nrm.reasonable_grounds) {
        let due = add_working_days(referred, REASONABLE_GROUNDS_WORKING_DAYS)?;
        out.push(ScheduledDeadline::on(K::ReasonableGrounds, due, "nrm"));
    }
    if let (NrmDecision::Positive, Some(rg), NrmDecision::Pending) = (
        nrm.reasonable_grounds,
        nrm.reasonable_grounds_on,
        nrm.conclusive_grounds,
    ) {
        let from = rg + CONCLUSIVE_GROUNDS_AFTER;
        out.push(ScheduledDeadline::on(K::ConclusiveGroundsFrom, from, "nrm"));
    }
    for (kind, date, record) in [
        (K::CarePlanReview, p.plans.care_plan, "plans/care_plan"),
        (
            K::HealthPlanReview,
            p.plans.health_plan,
            "plans/health_plan",
        ),
        (
            K::EducationPlanReview,
            p.plans.education_plan,
            "plans/education_plan",
        ),
        (
            K::PathwayPlanReview,
            p.plans.pathway_plan,
            "plans/pathway_plan",
        ),
    ] {
        if let Some(date) = date {
            out.push(ScheduledDeadline::on(kind, date, record));
        }
    }
    let im = &p.immigration;
    if matches!(
        im.outcome,
        ImmigrationOutcome::Pending | ImmigrationOutcome::Appealing
    ) && let Some(due) = im.decision_due_on
    {
        out.push(ScheduledDeadline::on(K::AsylumDecision, due, "immigration"));
    }
    let has_leave = matches!(
        im.outcome,
        ImmigrationOutcome::UascLeave
            | ImmigrationOutcome::RefugeeStatus
            | ImmigrationOutcome::HumanitarianProtection
    );
    if has_leave
        && im.extension_applied_on.is_none()
        && let Some(ends) = im.leave_expires_on
    {
        out.push(ScheduledDeadline::on(
            K::ApplyBeforeLeaveEnds,
            ends,
            "immigration",
        ));
    }
    let born = p.accepted_date_of_birth.or(p.date_of_birth);
    let Some(born) = born.filter(|_| p.age_status != AgeStatus::AssessedAdult) else {
        return Ok(());
    };
    let birth_record = if p.accepted_date_of_birth.is_some() {
        "accepted_date_of_birth"
    } else {
        "date_of_birth"
    };
    let at = |months: u32| born.checked_add_months(Months::new(months));
    if im.outcome == ImmigrationOutcome::UascLeave
        && let Some(review) = at(17 * 12 + 6)
    {
        out.push(ScheduledDeadline::on(
            K::UascLeaveReview,
            review,
            "immigration",
        ));
    }
    if p.plans.pathway_plan.is_none()
        && let Some(sixteen) = at(16 * 12)
    {
        out.push(ScheduledDeadline::on(
            K::PathwayPlan,
            sixteen,
            "plans/pathway_plan",
        ));
    }
    if let Some(eighteen) = at(18 * 12) {
        if p.personal_adviser.trim().is_empty() {
            out.push(ScheduledDeadline::on(
                K::PersonalAdviser,
                eighteen,
                "personal_adviser",
            ));
        }
        out.push(ScheduledDeadline::on(
            K::EighteenthBirthday,
            eighteen,
            birth_record,
        ));
    }
    Ok(())
}

#[cfg(test)]
#[path = "deadlines_tests.rs"]
mod tests;
