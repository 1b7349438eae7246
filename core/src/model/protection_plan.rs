//! The protection plan template (statutory guidance §39 to §45) and the supervisor's review
//! of steps that restrict the child (§41: measures that copy a trafficker's control put the
//! child at risk). Pure: the template is computed from the placement start and the chosen
//! weeks of supervision; applying it adds every step to the `safety` document in one change.

use std::ops::RangeInclusive;

use chrono::{DateTime, Days, NaiveTime, Utc};
use rand::RngCore;

use super::safety::{
    ChildAgreement, PLACEMENT_STARTED_AT, PlanStep, Responsible, StepReviewOutcome, StepStatus,
};
use crate::doc::{CaseDoc, DocKind, Edit};
use crate::error::{Error, Result};
use crate::ids::EntryId;

/// The weeks of 24-hour supervision outside the care setting the guidance names (§43: the
/// first 8 to 12 weeks in care).
pub const SUPERVISION_WEEKS: RangeInclusive<u32> = 8..=12;

/// The most hours between two checks of one step (a week).
pub const MAX_CHECK_EVERY_HOURS: u32 = 168;

/// How often carers check a plan step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckSchedule {
    /// Every this many hours after the last check.
    EveryHours(u32),
    /// Daily at this time of day (Europe/London).
    DailyAt(NaiveTime),
}

impl PlanStep {
    /// The step's check schedule, if it has one.
    pub fn schedule(&self) -> Option<CheckSchedule> {
        match (self.check_every_hours, self.check_daily_at) {
            (Some(hours), _) => Some(CheckSchedule::EveryHours(hours)),
            (None, Some(time)) => Some(CheckSchedule::DailyAt(time)),
            (None, None) => None,
        }
    }

    /// Whether the step waits for a supervisor's review: it restricts the child, is in force,
    /// and no supervisor has approved it as it is worded now (changes asked still waits; an
    /// approval of an earlier wording, or one withdrawn, no longer counts).
    pub fn review_needed(&self) -> bool {
        let approved = self.review_outcome == Some(StepReviewOutcome::Approved)
            && self
                .reviewed_wording
                .as_deref()
                .is_none_or(|w| w == Self::wording_digest(&self.description));
        self.restricts && self.status == StepStatus::Active && !approved
    }

    /// A digest of a step's wording (SHA-256 of the description with its ends trimmed, hex),
    /// kept with a review so that a reworded step needs review again without the review
    /// holding a second copy of the text.
    pub fn wording_digest(description: &str) -> String {
        use sha2::{Digest, Sha256};
        hex::encode(Sha256::digest(description.trim().as_bytes()))
    }

    /// Refuse a step that cannot be kept, naming the field: a check every 0 or more than
    /// [`MAX_CHECK_EVERY_HOURS`] hours, or both an hourly and a daily schedule.
    pub fn validate(&self) -> Result<()> {
        if let Some(hours) = self.check_every_hours {
            if !(1..=MAX_CHECK_EVERY_HOURS).contains(&hours) {
                return Err(Error::invalid(
                    "check_every_hours",
                    format!("must be from 1 to {MAX_CHECK_EVERY_HOURS}"),
                ));
            }
            if self.check_daily_at.is_some() {
                return Err(Error::invalid(
                    "check_daily_at",
                    "give either check_every_hours or check_daily_at, not both",
                ));
            }
        }
        Ok(())
    }

    /// The step as it is written: validated, and a schedule without a start starts at the
    /// edit's time.
    pub(crate) fn prepared(&self, edit: &Edit) -> Result<PlanStep> {
        self.validate()?;
        let mut step = self.clone();
        if step.schedule().is_some() && step.checks_from.is_none() {
            step.checks_from = Some(edit.at);
        }
        Ok(step)
    }
}

/// The guidance's protection plan steps (§43) for a child placed at `placement_started`,
/// with 24-hour supervision outside the care setting for `supervision_weeks` (8 to 12,
/// refused otherwise naming `supervision_weeks`), ending that many weeks later at the same
/// time of day in England. Every step starts as not yet put to the child; those that
/// restrict the child are marked so (they need a supervisor's review).
pub fn protection_plan_template(
    placement_started: DateTime<Utc>,
    supervision_weeks: u32,
) -> Result<Vec<PlanStep>> {
    if !SUPERVISION_WEEKS.contains(&supervision_weeks) {
        return Err(Error::invalid(
            "supervision_weeks",
            format!(
                "must be from {} to {}",
                SUPERVISION_WEEKS.start(),
                SUPERVISION_WEEKS.end()
            ),
        ));
    }
    let supervision_until = supervision_end(placement_started, supervision_weeks)?;
    let step = |description: &str, restricts: bool| PlanStep {
        description: description.to_owned(),
        responsible: Responsible::Carers,
        status: StepStatus::Active,
        child_agreed: ChildAgreement::NotAsked,
        restricts,
        ..PlanStep::default()
    };
    let bedtime = NaiveTime::from_hms_opt(22, 0, 0)
        .ok_or_else(|| Error::invalid("check_daily_at", "not a time of day"))?;
    Ok(vec![
        step(
            "Mobile phone removed for a time so traffickers cannot make contact; other ways \
             to keep in touch with friends or family arranged",
            true,
        ),
        step(
            "The child memorises the local authority's emergency number, to call if they go \
             missing and find they are at risk",
            false,
        ),
        step("Internet used only in group settings", true),
        PlanStep {
            supervision_until: Some(supervision_until),
            if_missing: false,
            ..step(
                &format!(
                    "24-hour supervision whenever the child leaves the care setting, for the \
                     first {supervision_weeks} weeks"
                ),
                true,
            )
        },
        PlanStep {
            check_daily_at: Some(bedtime),
            ..step(
                "The child's room does not allow easy exit (for example, on an upper floor)",
                true,
            )
        },
    ])
}

/// `weeks` after `started`, at the same time of day in England (across a clock change).
fn supervision_end(started: DateTime<Utc>, weeks: u32) -> Result<DateTime<Utc>> {
    let local = started.with_timezone(&chrono_tz::Europe::London);
    local
        .checked_add_days(Days::new(u64::from(weeks) * 7))
        .map(|end| end.with_timezone(&Utc))
        .ok_or_else(|| Error::invalid(PLACEMENT_STARTED_AT, "is out of range"))
}

impl CaseDoc {
    /// Add the protection plan template's steps ([`protection_plan_template`], counting the
    /// supervision from the recorded placement start) as one change, under fresh ids drawn
    /// from `rng`; returns them in the template's order. Refused as `InvalidInput` (nothing
    /// written) without a placement start (`placement_started_at`) or with weeks out of
    /// range (`supervision_weeks`), and while a template step is still in force
    /// (`plan_steps`: applying it twice would list every step twice).
    pub fn apply_plan_template(
        &mut self,
        edit: &Edit,
        rng: &mut dyn RngCore,
        supervision_weeks: u32,
    ) -> Result<Vec<EntryId>> {
        self.expect_kind(DocKind::Safety)?;
        let started = self.placement_started_at()?.ok_or_else(|| {
            Error::invalid(
                PLACEMENT_STARTED_AT,
                "is required: the supervision's end counts from it",
            )
        })?;
        let template = protection_plan_template(started, supervision_weeks)?;
        let in_force = self.plan_steps()?;
        if in_force.iter().any(|(_, step)| {
            step.status == StepStatus::Active
                && template.iter().any(|t| t.description == step.description)
        }) {
            return Err(Error::invalid(
                "plan_steps",
                "already hold the template's steps: edit or retire them instead",
            ));
        }
        let entries = template
            .iter()
            .map(|step| Ok((EntryId::random(rng), step.prepared(edit)?)))
            .collect::<Result<Vec<_>>>()?;
        self.add_entries(
            edit,
            &["plan_steps"],
            &entries,
            "add protection plan template",
        )?;
        Ok(entries.into_iter().map(|(id, _)| id).collect())
    }

    /// Record a supervisor's review of the step `id`, under the editing user and time. Only a
    /// step that restricts the child is reviewed (`InvalidInput` naming `step` otherwise);
    /// the write rules let only a supervisor write it, on the device and on the server.
    pub fn review_plan_step(
        &mut self,
        edit: &Edit,
        id: EntryId,
        outcome: StepReviewOutcome,
    ) -> Result<()> {
        self.expect_kind(DocKind::Safety)?;
        let mut step = self.entry::<PlanStep>(&["plan_steps"], id)?;
        if !step.restricts {
            return Err(Error::invalid(
                "step",
                "does not restrict the child: it needs no review",
            ));
        }
        step.review_outcome = Some(outcome);
        step.reviewed_by = Some(edit.author.user);
        step.reviewed_at = Some(edit.at);
        step.reviewed_wording = Some(PlanStep::wording_digest(&step.description));
        self.update_entry_sparse(edit, &["plan_steps"], id, &step)
    }

    /// Withdraw the review of the step `id` (an approval given too soon): the step needs
    /// review again, and the withdrawal is recorded under the editing user and time
    /// (`review_outcome` empty, `reviewed_by` and `reviewed_at` the withdrawing supervisor's).
    /// A step with no review to withdraw is `InvalidInput` naming `step`; the write rules let
    /// only a supervisor write it, as a review.
    pub fn withdraw_plan_step_review(&mut self, edit: &Edit, id: EntryId) -> Result<()> {
        self.expect_kind(DocKind::Safety)?;
        let mut step = self.entry::<PlanStep>(&["plan_steps"], id)?;
        if step.review_outcome.is_none() {
            return Err(Error::invalid("step", "has no review to withdraw"));
        }
        step.review_outcome = None;
        step.reviewed_by = Some(edit.author.user);
        step.reviewed_at = Some(edit.at);
        step.reviewed_wording = None;
        self.update_entry_sparse(edit, &["plan_steps"], id, &step)
    }
}

#[cfg(test)]
#[path = "protection_plan_tests.rs"]
mod tests;
