//! The `safety` document: the protection plan's steps, the carers' log of safety checks, and
//! missing-from-care episodes (statutory guidance, paragraphs 39-44). Carers linked to the
//! child's placement share this document, and only this one.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::doc::{CaseDoc, DocKind, Edit, Record};
use crate::error::{Error, Result};
use crate::ids::EntryId;

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
}

impl Record for SafetyCheck {
    const NAME: &'static str = "safety check";
    const TEXT_FIELDS: &'static [&'static str] = &["note"];
}

/// A missing-from-care episode, from noticing the child is missing to the return interview.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MissingEpisode {
    /// When the child was noticed missing.
    pub missing_since: Option<DateTime<Utc>>,
    /// When last seen, and with whom (free text).
    pub last_seen: String,
    /// When reported to the police.
    pub reported_to_police_at: Option<DateTime<Utc>>,
    /// The police reference.
    pub police_reference: String,
    /// Circumstances and actions taken.
    pub circumstances: String,
    /// When the child returned or was found.
    pub returned_at: Option<DateTime<Utc>>,
    /// When a return interview was offered.
    pub return_interview_offered_at: Option<DateTime<Utc>>,
    /// What the child said at the return interview.
    pub return_interview: String,
}

impl Record for MissingEpisode {
    const NAME: &'static str = "missing episode";
    const TEXT_FIELDS: &'static [&'static str] =
        &["circumstances", "return_interview", "last_seen"];
}

impl MissingEpisode {
    /// Whether the child is still missing.
    pub fn is_open(&self) -> bool {
        self.returned_at.is_none()
    }
}

impl CaseDoc {
    /// Add a protection plan step under the fresh `id`.
    pub fn add_plan_step(&mut self, edit: &Edit, id: EntryId, step: &PlanStep) -> Result<()> {
        self.expect_kind(DocKind::Safety)?;
        self.add_entry(edit, &["plan_steps"], id, step)
    }

    /// Update a plan step.
    pub fn update_plan_step(&mut self, edit: &Edit, id: EntryId, step: &PlanStep) -> Result<()> {
        self.expect_kind(DocKind::Safety)?;
        self.update_entry(edit, &["plan_steps"], id, step)
    }

    /// Every plan step.
    pub fn plan_steps(&self) -> Result<Vec<(EntryId, PlanStep)>> {
        self.expect_kind(DocKind::Safety)?;
        self.entries(&["plan_steps"])
    }

    /// Log a safety check under the fresh `id`.
    pub fn log_safety_check(
        &mut self,
        edit: &Edit,
        id: EntryId,
        check: &SafetyCheck,
    ) -> Result<()> {
        self.expect_kind(DocKind::Safety)?;
        if let Some(step) = check.step {
            self.entry::<PlanStep>(&["plan_steps"], step)?;
        }
        self.add_entry(edit, &["checks"], id, check)
    }

    /// Every safety check.
    pub fn safety_checks(&self) -> Result<Vec<(EntryId, SafetyCheck)>> {
        self.expect_kind(DocKind::Safety)?;
        self.entries(&["checks"])
    }

    /// Start a missing episode under the fresh `id`. Starting one while another is open is
    /// allowed (two carers may report the same absence offline); both stay visible.
    pub fn start_missing_episode(
        &mut self,
        edit: &Edit,
        id: EntryId,
        episode: &MissingEpisode,
    ) -> Result<()> {
        self.expect_kind(DocKind::Safety)?;
        if episode.missing_since.is_none() {
            return Err(Error::invalid(
                "missing_since",
                "when the child was noticed missing is required",
            ));
        }
        self.add_entry(edit, &["missing_episodes"], id, episode)
    }

    /// Update a missing episode (police report, return, return interview).
    pub fn update_missing_episode(
        &mut self,
        edit: &Edit,
        id: EntryId,
        episode: &MissingEpisode,
    ) -> Result<()> {
        self.expect_kind(DocKind::Safety)?;
        self.update_entry(edit, &["missing_episodes"], id, episode)
    }

    /// End a missing episode: the child returned or was found at `returned_at`.
    pub fn end_missing_episode(
        &mut self,
        edit: &Edit,
        id: EntryId,
        returned_at: DateTime<Utc>,
    ) -> Result<()> {
        let mut episode: MissingEpisode = self.entry(&["missing_episodes"], id)?;
        if let Some(since) = episode.missing_since
            && returned_at < since
        {
            return Err(Error::invalid(
                "returned_at",
                "is before the child went missing",
            ));
        }
        episode.returned_at = Some(returned_at);
        self.update_missing_episode(edit, id, &episode)
    }

    /// Every missing episode.
    pub fn missing_episodes(&self) -> Result<Vec<(EntryId, MissingEpisode)>> {
        self.expect_kind(DocKind::Safety)?;
        self.entries(&["missing_episodes"])
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
}
