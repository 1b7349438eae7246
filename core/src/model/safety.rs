//! The `safety` document: the protection plan's steps, the carers' log of safety checks, and
//! missing-from-care episodes (statutory guidance, paragraphs 39-44; the episode itself is in
//! `missing_episode.rs`), and when the child arrived at the placement. Carers linked to the
//! child's placement share this document, and only this one.

use chrono::{DateTime, NaiveTime, Utc};
use serde::{Deserialize, Serialize};

use crate::doc::{CaseDoc, DocKind, Edit, Record};
use crate::error::{Error, Result};
use crate::ids::{EntryId, UserId};

/// Who carries out a plan step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Responsible {
    /// The foster or residential carers.
    #[default]
    Carers,
    /// The local authority.
    LocalAuthority,
    /// The police.
    Police,
    /// The guardian (ICTG).
    Guardian,
}

/// Whether a step is in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// In force.
    #[default]
    Active,
    /// No longer needed (reviewed).
    Retired,
}

/// A step of the protection plan, including what is done if the child goes missing.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PlanStep {
    /// What is done ("24-hour supervision when leaving the home for the first 8 weeks").
    pub description: String,
    /// Who does it.
    pub responsible: Responsible,
    /// Whether this step is part of the response if the child goes missing.
    pub if_missing: bool,
    /// Whether it is in force.
    pub status: StepStatus,
    /// Set on the first weeks' 24-hour supervision step: it is in force until this time
    /// (while `status` is active). An episode that starts before it (and after the
    /// placement started) is flagged. To end supervision early while keeping the flag on
    /// earlier episodes, bring this time forward rather than retiring the step.
    pub supervision_until: Option<DateTime<Utc>>,
    /// Whether the child agreed to the step (statutory guidance §41: involve the child).
    #[serde(default)]
    pub child_agreed: ChildAgreement,
    /// Whether the step restricts the child (a phone removed, supervision, internet limits,
    /// the choice of room): such a step needs a supervisor's review (§41), see
    /// [`PlanStep::review_needed`]. Set by the template; the case team may change it.
    #[serde(default)]
    pub restricts: bool,
    /// How often carers check the step, every this many hours (1 to 168); `None` with
    /// `check_daily_at` also `None`: the step has no checks.
    #[serde(default)]
    pub check_every_hours: Option<u32>,
    /// Or: carers check it daily at this time of day (Europe/London).
    #[serde(default)]
    pub check_daily_at: Option<NaiveTime>,
    /// When the checks start (set to the edit's time when a schedule is first given).
    #[serde(default)]
    pub checks_from: Option<DateTime<Utc>>,
    /// A supervisor's review of a restricting step (write rules: only a supervisor records
    /// it, under their own name; see `protection_plan.rs`).
    #[serde(default)]
    pub review_outcome: Option<StepReviewOutcome>,
    /// The supervisor who recorded `review_outcome`.
    #[serde(default)]
    pub reviewed_by: Option<UserId>,
    /// When they recorded it.
    #[serde(default)]
    pub reviewed_at: Option<DateTime<Utc>>,
    /// The wording the supervisor reviewed ([`PlanStep::wording_digest`] of the description):
    /// an approved step reworded since needs review again. `None` for a review recorded
    /// before wordings were kept (its approval stands) and for a withdrawn review.
    #[serde(default)]
    pub reviewed_wording: Option<String>,
}

/// Whether the child agreed to a plan step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChildAgreement {
    /// The child was not asked (yet).
    #[default]
    NotAsked,
    /// The child agreed.
    Agreed,
    /// The child did not agree.
    NotAgreed,
}

/// A supervisor's decision on a step that restricts the child.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepReviewOutcome {
    /// The restriction is approved as it stands.
    Approved,
    /// The supervisor asks for changes (the step still needs review).
    ChangesAsked,
}

impl Record for PlanStep {
    const NAME: &'static str = "plan step";
    const TEXT_FIELDS: &'static [&'static str] = &["description"];
}

/// The outcome of a safety check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckOutcome {
    /// All well.
    #[default]
    Ok,
    /// A concern to follow up.
    Concern,
}

/// Whether a safety check was carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    /// Carried out.
    #[default]
    Done,
    /// Not possible (the reason is required).
    NotPossible,
}

/// A carer's safety check.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SafetyCheck {
    /// When the check was made.
    pub checked_at: Option<DateTime<Utc>>,
    /// The plan step it checks, if any.
    pub step: Option<EntryId>,
    /// The outcome.
    pub outcome: CheckOutcome,
    /// What was seen.
    pub note: String,
    /// Whether the check was carried out.
    #[serde(default)]
    pub status: CheckStatus,
    /// Why it was not possible (required when `status` is not possible).
    #[serde(default)]
    pub not_possible_reason: String,
}

impl Record for SafetyCheck {
    const NAME: &'static str = "safety check";
    const TEXT_FIELDS: &'static [&'static str] = &["note", "not_possible_reason"];
}

impl CaseDoc {
    /// Add a protection plan step under the fresh `id`.
    /// Refused as `InvalidInput` naming the field (nothing written): a check schedule out of
    /// range or given twice (see [`PlanStep::validate`]). A schedule without `checks_from`
    /// starts at the edit's time.
    pub fn add_plan_step(&mut self, edit: &Edit, id: EntryId, step: &PlanStep) -> Result<()> {
        self.expect_kind(DocKind::Safety)?;
        let step = step.prepared(edit)?;
        self.add_entry(edit, &["plan_steps"], id, &step)
    }

    /// Update a plan step (checked as [`CaseDoc::add_plan_step`]).
    pub fn update_plan_step(&mut self, edit: &Edit, id: EntryId, step: &PlanStep) -> Result<()> {
        self.expect_kind(DocKind::Safety)?;
        let step = step.prepared(edit)?;
        self.update_entry_sparse(edit, &["plan_steps"], id, &step)
    }

    /// Every plan step.
    pub fn plan_steps(&self) -> Result<Vec<(EntryId, PlanStep)>> {
        self.expect_kind(DocKind::Safety)?;
        self.entries(&["plan_steps"])
    }

    /// Log a safety check under the fresh `id`. Refused as `InvalidInput` naming the field
    /// (nothing written): "not possible" without a reason (`not_possible_reason`), a time
    /// after the edit's (beyond [`super::CLOCK_SKEW`]), or no time for a check of a step
    /// with a schedule (`checked_at`: it is what makes the check count).
    pub fn log_safety_check(
        &mut self,
        edit: &Edit,
        id: EntryId,
        check: &SafetyCheck,
    ) -> Result<()> {
        self.expect_kind(DocKind::Safety)?;
        check.validate(edit.at)?;
        if let Some(step) = check.step {
            let step = self.entry::<PlanStep>(&["plan_steps"], step)?;
            if step.schedule().is_some() && check.checked_at.is_none() {
                return Err(Error::invalid(
                    "checked_at",
                    "is required for a check of a step with a schedule",
                ));
            }
        }
        self.add_entry(edit, &["checks"], id, check)
    }

    /// Every safety check.
    pub fn safety_checks(&self) -> Result<Vec<(EntryId, SafetyCheck)>> {
        self.expect_kind(DocKind::Safety)?;
        self.entries(&["checks"])
    }

    /// What the child says helps them feel safe (paragraph 40).
    pub fn feel_safe(&self) -> Result<String> {
        self.expect_kind(DocKind::Safety)?;
        let obj = self.object(&["feel_safe"])?;
        Ok(automerge::ReadDoc::text(self.automerge(), &obj)?)
    }

    /// Replace what helps the child feel safe (by diff, so concurrent edits both survive).
    pub fn set_feel_safe(&mut self, edit: &Edit, text: &str) -> Result<()> {
        self.expect_kind(DocKind::Safety)?;
        let fields = serde_json::Map::from_iter([("feel_safe".to_owned(), text.into())]);
        self.write_fields(edit, &[], &fields, &["feel_safe"], "update feel_safe")
    }

    /// When the child arrived at this placement (a root field of `safety`, so that the
    /// carers, who never receive `location`, hold it): the start of the first 48 hours the
    /// risk flags look at. `None` until the case team records it.
    pub fn placement_started_at(&self) -> Result<Option<DateTime<Utc>>> {
        self.expect_kind(DocKind::Safety)?;
        let value =
            match automerge::ReadDoc::get(self.automerge(), automerge::ROOT, PLACEMENT_STARTED_AT)?
            {
                None => return Ok(None),
                Some((automerge::Value::Scalar(s), _)) => crate::doc::scalar_to_json(&s),
                Some(_) => return Err(self.malformed(PLACEMENT_STARTED_AT, "expected a time")),
            };
        serde_json::from_value(value)
            .map_err(|_| self.malformed(PLACEMENT_STARTED_AT, "expected a time"))
    }

    /// Record when the child arrived at this placement (`None` clears it). Refused as
    /// `InvalidInput` if more than [`super::CLOCK_SKEW`] after the edit's time.
    pub fn set_placement_started_at(
        &mut self,
        edit: &Edit,
        started: Option<DateTime<Utc>>,
    ) -> Result<()> {
        self.expect_kind(DocKind::Safety)?;
        if started.is_some_and(|t| t > edit.at + super::CLOCK_SKEW) {
            return Err(Error::invalid(PLACEMENT_STARTED_AT, "is in the future"));
        }
        let value = serde_json::to_value(started)
            .map_err(|e| Error::invalid(PLACEMENT_STARTED_AT, e.to_string()))?;
        let fields = serde_json::Map::from_iter([(PLACEMENT_STARTED_AT.to_owned(), value)]);
        self.write_fields(edit, &[], &fields, &[], "update placement_started_at")
    }
}

/// The safety document's root key holding when the placement started.
pub const PLACEMENT_STARTED_AT: &str = "placement_started_at";
