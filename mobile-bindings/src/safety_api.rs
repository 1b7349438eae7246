//! Exported calls on the safety document (protection plan, safety checks, missing
//! episodes, what helps the child feel safe) and the associates document (persons of
//! concern).

use std::time::SystemTime;

use casebook_core::ids::EntryId;
use casebook_core::model as core;
use casebook_core::view::RowKind;
use rand::rngs::OsRng;

use crate::casebook::Casebook;
use crate::error::Result;
use crate::records::{
    DocKind, FeelSafe, MissingEpisode, MissingEpisodeEntry, PersonEntry, PersonOfConcern, PlanStep,
    PlanStepEntry, ReadAt, SafetyCheck, SafetyCheckEntry, instant, parse_id,
};

#[uniffi::export]
impl Casebook {
    /// Add a protection plan step. Returns its id.
    pub fn add_plan_step(&self, case_id: String, step: PlanStep) -> Result<String> {
        let step = core::PlanStep::from(step);
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
        let step = core::PlanStep::from(step);
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
                step: PlanStep::from(step).read_at(&version),
            })
            .collect())
    }

    /// Log a carer's safety check. Returns its id.
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

    /// Every missing episode. Read from the view.
    pub fn missing_episodes(&self, case_id: String) -> Result<Vec<MissingEpisodeEntry>> {
        let (version, view) =
            self.view_rows(&case_id, DocKind::Safety, RowKind::MissingEpisode, None)?;
        Ok(view
            .records::<core::MissingEpisode>()?
            .into_iter()
            .map(|(id, episode)| MissingEpisodeEntry {
                id,
                is_open: episode.is_open(),
                episode: MissingEpisode::from(episode).read_at(&version),
            })
            .collect())
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
