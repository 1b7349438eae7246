//! Exported calls on the safety document (protection plan, safety checks, missing
//! episodes, what helps the child feel safe) and the associates document (persons of
//! concern).

use std::time::SystemTime;

use casebook_core::ids::EntryId;
use casebook_core::model as core;
use casebook_core::view::{EpisodeRow, RowKind};
use rand::rngs::OsRng;

use crate::casebook::Casebook;
use crate::error::Result;
use crate::records::{
    DocKind, FeelSafe, MissingEpisode, MissingEpisodeEntry, MissingEpisodeStatus, PersonEntry,
    PersonOfConcern, PlanStep, PlanStepEntry, ReadAt, SafetyCheck, SafetyCheckEntry,
    StepReviewOutcome, instant, parse_id, system, utc,
};

#[uniffi::export]
impl Casebook {
    /// Add a protection plan step. Returns its id.
    pub fn add_plan_step(&self, case_id: String, step: PlanStep) -> Result<String> {
        let step = core::PlanStep::try_from(step)?;
        let id = EntryId::random(&mut OsRng);
        self.edit(&case_id, DocKind::Safety, |d, e| {
            d.add_plan_step(e, id, &step)
        })?;
        Ok(id.to_string())
    }

    /// Save a plan step (for example, retire it): only what was changed since it was read
    /// (its `version`) is written.
    pub fn update_plan_step(&self, case_id: String, step_id: String, step: PlanStep) -> Result<()> {
        let id: EntryId = parse_id("step_id", &step_id)?;
        let version = step.version.clone();
        let step = core::PlanStep::try_from(step)?;
        self.save(&case_id, DocKind::Safety, &version, |d, e| {
            d.update_plan_step(e, id, &step)
        })
    }

    /// Every plan step (each with the `version` it was read at). Read from the view.
    pub fn plan_steps(&self, case_id: String) -> Result<Vec<PlanStepEntry>> {
        let (version, view) = self.view_rows(&case_id, DocKind::Safety, RowKind::PlanStep, None)?;
        Ok(view
            .records::<core::PlanStep>()?
            .into_iter()
            .map(|(id, step)| PlanStepEntry {
                id,
                review_needed: step.review_needed(),
                step: PlanStep::from(step).read_at(&version),
            })
            .collect())
    }

    /// Add the protection plan template's steps (statutory guidance §43: other ways to keep
    /// in touch while a phone is removed, a memorised emergency number, internet in group
    /// settings, 24-hour supervision outside the care setting for `supervision_weeks`, a
    /// room without easy exit) as one change, offline. Returns their ids in that order.
    /// `InvalidInput` (nothing written): weeks outside 8 to 12 (`supervision_weeks`), no
    /// placement start recorded (`placement_started_at`: the supervision counts from it).
    pub fn apply_plan_template(
        &self,
        case_id: String,
        supervision_weeks: u32,
    ) -> Result<Vec<String>> {
        let ids = self.edit(&case_id, DocKind::Safety, |d, e| {
            d.apply_plan_template(e, &mut OsRng, supervision_weeks)
        })?;
        Ok(ids.into_iter().map(|id| id.to_string()).collect())
    }

    /// Record a supervisor's review of a step that restricts the child, under this device's
    /// user and the time now. Another role's device is refused (`NotPermitted`), and so is
    /// the server for a device that sends it anyway; a step that restricts nothing is
    /// `InvalidInput` naming `step`.
    pub fn review_plan_step(
        &self,
        case_id: String,
        step_id: String,
        outcome: StepReviewOutcome,
    ) -> Result<()> {
        let id: EntryId = parse_id("step_id", &step_id)?;
        self.edit(&case_id, DocKind::Safety, |d, e| {
            d.review_plan_step(e, id, outcome.into())
        })
    }

    /// Withdraw a supervisor's review of a step (the step needs review again), recorded under
    /// this device's user and the time now. Another role's device is refused
    /// (`NotPermitted`); a step with no review is `InvalidInput` naming `step`.
    pub fn withdraw_plan_step_review(&self, case_id: String, step_id: String) -> Result<()> {
        let id: EntryId = parse_id("step_id", &step_id)?;
        self.edit(&case_id, DocKind::Safety, |d, e| {
            d.withdraw_plan_step_review(e, id)
        })
    }

    /// Log a carer's safety check (done, or not possible with a reason). Returns its id.
    /// `InvalidInput` (nothing written): not possible without `not_possible_reason`, a
    /// `checked_at` in the future, or none for a step with a check schedule.
    pub fn log_safety_check(&self, case_id: String, check: SafetyCheck) -> Result<String> {
        let check = core::SafetyCheck::try_from(check)?;
        let id = EntryId::random(&mut OsRng);
        self.edit(&case_id, DocKind::Safety, |d, e| {
            d.log_safety_check(e, id, &check)
        })?;
        Ok(id.to_string())
    }

    /// Every safety check. Read from the view.
    pub fn safety_checks(&self, case_id: String) -> Result<Vec<SafetyCheckEntry>> {
        let (_, view) = self.view_rows(&case_id, DocKind::Safety, RowKind::SafetyCheck, None)?;
        Ok(view
            .records::<core::SafetyCheck>()?
            .into_iter()
            .map(|(id, check)| SafetyCheckEntry {
                id,
                check: check.into(),
            })
            .collect())
    }

    /// Start a missing-from-care episode (`missing_since` is required). Returns its id.
    pub fn start_missing_episode(
        &self,
        case_id: String,
        episode: MissingEpisode,
    ) -> Result<String> {
        let episode = core::MissingEpisode::try_from(episode)?;
        let id = EntryId::random(&mut OsRng);
        self.edit(&case_id, DocKind::Safety, |d, e| {
            d.start_missing_episode(e, id, &episode)
        })?;
        Ok(id.to_string())
    }

    /// Save a missing episode (police report, return interview): only what was changed
    /// since it was read (its `version`) is written.
    pub fn update_missing_episode(
        &self,
        case_id: String,
        episode_id: String,
        episode: MissingEpisode,
    ) -> Result<()> {
        let id: EntryId = parse_id("episode_id", &episode_id)?;
        let version = episode.version.clone();
        let episode = core::MissingEpisode::try_from(episode)?;
        self.save(&case_id, DocKind::Safety, &version, |d, e| {
            d.update_missing_episode(e, id, &episode)
        })
    }

    /// End a missing episode: the child returned or was found at `returned_at`.
    pub fn end_missing_episode(
        &self,
        case_id: String,
        episode_id: String,
        returned_at: SystemTime,
    ) -> Result<()> {
        let id: EntryId = parse_id("episode_id", &episode_id)?;
        let returned_at = instant("returned_at", returned_at)?;
        self.edit(&case_id, DocKind::Safety, |d, e| {
            d.end_missing_episode(e, id, returned_at)
        })
    }

    /// Every missing episode, with whether it is open and when its return interview is
    /// due. Read from the view.
    pub fn missing_episodes(&self, case_id: String) -> Result<Vec<MissingEpisodeEntry>> {
        let (version, view) =
            self.view_rows(&case_id, DocKind::Safety, RowKind::MissingEpisode, None)?;
        Ok(view
            .records::<EpisodeRow>()?
            .into_iter()
            .map(|(id, row)| MissingEpisodeEntry {
                id,
                is_open: row.open,
                return_interview_due: system(row.return_interview_due),
                episode: MissingEpisode::from(row.episode).read_at(&version),
            })
            .collect())
    }

    /// Every missing episode's status at `now`: its risk flags (first 48 hours in the
    /// placement, during the 24-hour supervision step, third or more absence in 90 days),
    /// when the return interview is due (also as Europe/London text) and whether it is
    /// overdue. Computed offline from the view's episodes, plan steps and placement start;
    /// nothing is stored.
    pub fn missing_episode_status(
        &self,
        case_id: String,
        now: SystemTime,
    ) -> Result<Vec<MissingEpisodeStatus>> {
        let now = instant("now", now)?;
        let doc = crate::casebook::doc_id(&case_id, DocKind::Safety)?;
        let (episodes, steps, started) = self.with_unlocked(|repo| {
            let episodes = repo.view(doc, RowKind::MissingEpisode, None)?;
            let steps = repo.view(doc, RowKind::PlanStep, None)?;
            let started = repo.view(doc, RowKind::PlacementStart, None)?;
            Ok((
                episodes.records::<EpisodeRow>()?,
                steps.records::<core::PlanStep>()?,
                started.first::<Option<chrono::DateTime<chrono::Utc>>>()?,
            ))
        })?;
        let episodes = episodes
            .into_iter()
            .map(|(id, row)| Ok((parse_id::<EntryId>("episode_id", &id)?, row.episode)))
            .collect::<Result<Vec<_>>>()?;
        let steps: Vec<core::PlanStep> = steps.into_iter().map(|(_, s)| s).collect();
        Ok(
            core::episode_statuses(&episodes, &steps, started.flatten(), now)
                .into_iter()
                .map(MissingEpisodeStatus::from)
                .collect(),
        )
    }

    /// When the child arrived at this placement, as recorded in the safety document (what
    /// the first-48-hours flag counts from). Read from the view.
    pub fn placement_started_at(&self, case_id: String) -> Result<Option<SystemTime>> {
        let (_, view) = self.view_rows(&case_id, DocKind::Safety, RowKind::PlacementStart, None)?;
        let started: Option<Option<chrono::DateTime<chrono::Utc>>> = view.first()?;
        Ok(system(started.flatten()))
    }

    /// Record when the child arrived at this placement (`None` clears it). The case team
    /// sets it; a carer's device is refused by the write rules.
    pub fn set_placement_started_at(
        &self,
        case_id: String,
        started: Option<SystemTime>,
    ) -> Result<()> {
        let started = utc("placement_started_at", started)?;
        self.edit(&case_id, DocKind::Safety, |d, e| {
            d.set_placement_started_at(e, started)
        })
    }

    /// What the child says helps them feel safe (with the `version` it was read at). Read
    /// from the view.
    pub fn feel_safe(&self, case_id: String) -> Result<FeelSafe> {
        let (version, view) = self.view_rows(&case_id, DocKind::Safety, RowKind::FeelSafe, None)?;
        let text: String = view.single("feel safe")?;
        Ok(FeelSafe {
            text,
            version: String::new(),
        }
        .read_at(&version))
    }

    /// Save what helps the child feel safe: by diff from the version read, so words a carer
    /// added meanwhile are kept.
    pub fn set_feel_safe(&self, case_id: String, feel_safe: FeelSafe) -> Result<()> {
        self.save(&case_id, DocKind::Safety, &feel_safe.version, |d, e| {
            d.set_feel_safe(e, &feel_safe.text)
        })
    }

    /// Record a person of concern. Returns their id.
    pub fn add_person(&self, case_id: String, person: PersonOfConcern) -> Result<String> {
        let person = core::PersonOfConcern::from(person);
        let id = EntryId::random(&mut OsRng);
        self.edit(&case_id, DocKind::Associates, |d, e| {
            d.add_person(e, id, &person)
        })?;
        Ok(id.to_string())
    }

    /// Save a person of concern: only what was changed since it was read (its `version`)
    /// is written.
    pub fn update_person(
        &self,
        case_id: String,
        person_id: String,
        person: PersonOfConcern,
    ) -> Result<()> {
        let id: EntryId = parse_id("person_id", &person_id)?;
        let version = person.version.clone();
        let person = core::PersonOfConcern::from(person);
        self.save(&case_id, DocKind::Associates, &version, |d, e| {
            d.update_person(e, id, &person)
        })
    }

    /// Every person of concern (each with the `version` it was read at). Read from the
    /// view.
    pub fn persons(&self, case_id: String) -> Result<Vec<PersonEntry>> {
        let (version, view) =
            self.view_rows(&case_id, DocKind::Associates, RowKind::Person, None)?;
        Ok(view
            .records::<core::PersonOfConcern>()?
            .into_iter()
            .map(|(id, person)| PersonEntry {
                id,
                person: PersonOfConcern::from(person).read_at(&version),
            })
            .collect())
    }
}
