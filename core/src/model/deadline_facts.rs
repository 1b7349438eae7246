//! The facts behind a case's deadlines and carers' checks, read from a document the server
//! already holds in memory, without a clock: the deadlines its records fix
//! ([`ScheduledDeadline`]), and for a `safety` document the check schedules of its active
//! plan steps and the time of every logged check. Dates, kinds, ids and times only: never a
//! name, a reference or free text. Pure: the server indexes these when it stores a document,
//! so a supervisor's deadlines and a report's overdue checks parse no document; whether a
//! check is overdue is asked at read time ([`super::overdue_check`]).

use automerge::{ROOT, ReadDoc, Value};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::deadlines::{ScheduledDeadline, scheduled_deadlines};
use super::missing_episode::missing_episodes_in;
use super::profile::Profile;
use super::protection_plan::CheckSchedule;
use super::safety::{PlanStep, SafetyCheck, StepStatus};
use crate::doc::{DocId, DocKind};
use crate::error::{Error, Result};
use crate::ids::EntryId;

/// The check schedule of an active plan step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepCheckFact {
    /// The plan step.
    pub step: EntryId,
    /// How often it is checked.
    pub schedule: CheckSchedule,
    /// When its checks start.
    pub checks_from: DateTime<Utc>,
}

/// One logged check of a plan step, with a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckFact {
    /// The check.
    pub check: EntryId,
    /// The step it checks.
    pub step: EntryId,
    /// When it was made (done, or not possible: both are on record).
    pub checked_at: DateTime<Utc>,
}

/// The deadline facts of one stored document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeadlineFacts {
    /// A `profile` document: the deadlines of its NRM, plans, immigration and birthdays.
    Profile(Vec<ScheduledDeadline>),
    /// A `safety` document.
    Safety {
        /// Its return interviews.
        deadlines: Vec<ScheduledDeadline>,
        /// Its active plan steps that have a check schedule and a start.
        steps: Vec<StepCheckFact>,
        /// Every check of a plan step logged with a time.
        checks: Vec<CheckFact>,
    },
}

fn malformed(id: DocId, path: &str, reason: &str) -> Error {
    Error::Malformed {
        doc: id.to_string(),
        path: path.to_owned(),
        reason: reason.to_owned(),
    }
}

/// Every entry of the root collection `collection` (an absent collection is empty).
fn entries_in<T: DeserializeOwned>(
    id: DocId,
    doc: &impl ReadDoc,
    collection: &str,
) -> Result<Vec<(EntryId, T)>> {
    let parent = match doc.get(ROOT, collection)? {
        Some((Value::Object(_), parent)) => parent,
        None => return Ok(Vec::new()),
        Some(_) => return Err(malformed(id, collection, "expected an object")),
    };
    let mut out = Vec::new();
    for key in doc.keys(&parent) {
        let entry: EntryId = key
            .parse()
            .map_err(|_| malformed(id, collection, "entry key is not an id"))?;
        let Some((Value::Object(_), obj)) = doc.get(&parent, key.as_str())? else {
            return Err(malformed(id, collection, "expected an object"));
        };
        let record = serde_json::from_value(crate::doc::read_object(doc, &obj)?)
            .map_err(|_| malformed(id, collection, "an entry does not read"))?;
        out.push((entry, record));
    }
    Ok(out)
}

/// The deadline facts of `doc`, the automerge form of document `id` (`None` for the kinds
/// that fix no deadline). An error if the records do not read, or a working-day deadline
/// lies beyond the shipped bank holidays.
pub fn deadline_facts_in(id: DocId, doc: &impl ReadDoc) -> Result<Option<DeadlineFacts>> {
    match id.kind {
        DocKind::Profile => {
            let root_str = |key: &str| match doc.get(ROOT, key) {
                Ok(Some((Value::Scalar(s), _))) => s.as_str().map(str::to_owned),
                _ => None,
            };
            if root_str("case") != Some(id.case.to_string())
                || root_str("kind").as_deref() != Some(DocKind::Profile.as_str())
            {
                return Err(malformed(
                    id,
                    "/",
                    "document belongs to another case or kind",
                ));
            }
            let profile: Profile = serde_json::from_value(crate::doc::read_object(doc, &ROOT)?)
                .map_err(|_| malformed(id, "/", "the profile does not read"))?;
            let deadlines = scheduled_deadlines(Some(&profile), &[])?;
            Ok(Some(DeadlineFacts::Profile(deadlines)))
        }
        DocKind::Safety => {
            // Checks the document's case and kind.
            let episodes = missing_episodes_in(id, doc)?;
            let deadlines = scheduled_deadlines(None, &episodes)?;
            let steps = entries_in::<PlanStep>(id, doc, "plan_steps")?
                .into_iter()
                .filter(|(_, s)| s.status == StepStatus::Active)
                .filter_map(|(step, s)| {
                    Some(StepCheckFact {
                        step,
                        schedule: s.schedule()?,
                        checks_from: s.checks_from?,
                    })
                })
                .collect();
            let checks = entries_in::<SafetyCheck>(id, doc, "checks")?
                .into_iter()
                .filter_map(|(check, c)| {
                    Some(CheckFact {
                        check,
                        step: c.step?,
                        checked_at: c.checked_at?,
                    })
                })
                .collect();
            Ok(Some(DeadlineFacts::Safety {
                deadlines,
                steps,
                checks,
            }))
        }
        DocKind::Visits | DocKind::Location | DocKind::Associates => Ok(None),
    }
}

#[cfg(test)]
#[path = "deadline_facts_tests.rs"]
mod tests;
