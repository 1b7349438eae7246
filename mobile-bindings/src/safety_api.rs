//! Exported calls on the safety document (protection plan, safety checks, missing
//! episodes, what helps the child feel safe) and the associates document (persons of
//! concern).

use std::time::SystemTime;

use casebook_core::ids::EntryId;
use casebook_core::model as core;
use rand::rngs::OsRng;

use crate::casebook::Casebook;
use crate::error::Result;
use crate::records::{
    DocKind, MissingEpisode, MissingEpisodeEntry, PersonEntry, PersonOfConcern, PlanStep,
    PlanStepEntry, SafetyCheck, SafetyCheckEntry, instant, parse_id,
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

    /// Update a plan step (for example, retire it).
    pub fn update_plan_step(&self, case_id: String, step_id: String, step: PlanStep) -> Result<()> {
        let id: EntryId = parse_id("step_id", &step_id)?;
        let step = core::PlanStep::from(step);
        self.edit(&case_id, DocKind::Safety, |d, e| {
            d.update_plan_step(e, id, &step)
        })
    }

    /// Every plan step.
    pub fn plan_steps(&self, case_id: String) -> Result<Vec<PlanStepEntry>> {
        self.read(&case_id, DocKind::Safety, |d| {
            Ok(d.plan_steps()?
                .into_iter()
                .map(|(id, step)| PlanStepEntry {
                    id: id.to_string(),
                    step: step.into(),
                })
                .collect())
        })
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

    /// Every safety check.
    pub fn safety_checks(&self, case_id: String) -> Result<Vec<SafetyCheckEntry>> {
        self.read(&case_id, DocKind::Safety, |d| {
            Ok(d.safety_checks()?
                .into_iter()
                .map(|(id, check)| SafetyCheckEntry {
                    id: id.to_string(),
                    check: check.into(),
                })
                .collect())
        })
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

    /// Update a missing episode (police report, return interview).
    pub fn update_missing_episode(
        &self,
        case_id: String,
        episode_id: String,
        episode: MissingEpisode,
    ) -> Result<()> {
        let id: EntryId = parse_id("episode_id", &episode_id)?;
        let episode = core::MissingEpisode::try_from(episode)?;
        self.edit(&case_id, DocKind::Safety, |d, e| {
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

    /// Every missing episode.
    pub fn missing_episodes(&self, case_id: String) -> Result<Vec<MissingEpisodeEntry>> {
        self.read(&case_id, DocKind::Safety, |d| {
            Ok(d.missing_episodes()?
                .into_iter()
                .map(|(id, episode)| MissingEpisodeEntry {
                    id: id.to_string(),
                    is_open: episode.is_open(),
                    episode: episode.into(),
                })
                .collect())
        })
    }

    /// What the child says helps them feel safe.
    pub fn feel_safe(&self, case_id: String) -> Result<String> {
        self.read(&case_id, DocKind::Safety, |d| d.feel_safe())
    }

    /// Replace what helps the child feel safe (by diff).
    pub fn set_feel_safe(&self, case_id: String, text: String) -> Result<()> {
        self.edit(&case_id, DocKind::Safety, |d, e| d.set_feel_safe(e, &text))
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

    /// Update a person of concern.
    pub fn update_person(
        &self,
        case_id: String,
        person_id: String,
        person: PersonOfConcern,
    ) -> Result<()> {
        let id: EntryId = parse_id("person_id", &person_id)?;
        let person = core::PersonOfConcern::from(person);
        self.edit(&case_id, DocKind::Associates, |d, e| {
            d.update_person(e, id, &person)
        })
    }

    /// Every person of concern.
    pub fn persons(&self, case_id: String) -> Result<Vec<PersonEntry>> {
        self.read(&case_id, DocKind::Associates, |d| {
            Ok(d.persons()?
                .into_iter()
                .map(|(id, person)| PersonEntry {
                    id: id.to_string(),
                    person: person.into(),
                })
                .collect())
        })
    }
}
