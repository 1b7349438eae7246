//! The typed case model: one module per document kind, each adding typed reads and writes to
//! [`CaseDoc`]. [`new_case`] creates all five documents' skeletons once, on the device that
//! opens the case, so no nested object is ever created by two devices under one key.

mod associates;
mod deadline_facts;
mod deadlines;
mod interpreter_check;
mod location;
mod missing_episode;
mod missing_profile;
mod missing_status;
mod nrm;
mod photo;
mod profile;
mod protection_plan;
mod report_facts;
mod safety;
mod safety_checks;
mod visits;
mod working_days;
mod write_rules;

pub use associates::PersonOfConcern;
pub use deadline_facts::{CheckFact, DeadlineFacts, StepCheckFact, deadline_facts_in};
pub use deadlines::{
    Deadline, DeadlineKind, ScheduledDeadline, case_deadlines, safety_check_deadline,
    scheduled_deadlines, sort_deadlines,
};
pub use interpreter_check::{
    AssociateKeys, InterpreterKeys, LinkField, NameKey, PhoneKey, PossibleLink,
    check_interpreter_decision, decision_covers, fold_agency, fold_words, interpreter_links,
    links_to_persons, normalise_phone,
};
pub use location::{Placement, PlacementType};
pub use missing_episode::{
    CLOCK_SKEW, EpisodeCategory, MissingEpisode, ReturnInterviewOutcome, missing_episodes_in,
};
pub use missing_profile::{MissingPersonProfile, PROFILE_KEY, SHARED_KEY, SharedPerson};
pub use missing_status::{
    EpisodeStatus, FIRST_HOURS, REPEAT_COUNT, REPEAT_WINDOW, RETURN_INTERVIEW_WITHIN, RiskFlags,
    episode_statuses, london_time, return_interview_due,
};
pub use nrm::{Agency, NrmRoute, PanelMember, UnknownAgency};
pub use photo::{
    MAX_PHOTO_BYTES, PHOTO_KEY, PHOTO_MEDIA_TYPES, PhotoRef, is_attachment_id, photo_ref,
    referenced_photo, validate_photo,
};
pub use profile::{
    AgeStatus, Immigration, ImmigrationOutcome, IndependentVisitor, LegalBasis, Nrm, NrmDecision,
    PlanDates, Profile,
};
pub use protection_plan::{
    CheckSchedule, MAX_CHECK_EVERY_HOURS, SUPERVISION_WEEKS, protection_plan_template,
};
pub use report_facts::{
    DocFacts, EpisodeFact, NoteFact, NrmFact, REASONABLE_GROUNDS_WORKING_DAYS, episode_facts_in,
    note_facts_in, nrm_fact_in, report_facts_in,
};
pub use safety::{
    CheckOutcome, CheckStatus, ChildAgreement, PLACEMENT_STARTED_AT, PlanStep, Responsible,
    SafetyCheck, StepReviewOutcome, StepStatus,
};
pub use safety_checks::{DAILY_CHECK_EARLY, OverdueCheck, overdue_check, overdue_safety_checks};
pub use visits::{
    Action, Interpreter, InterpreterDecision, InterpreterMode, LinkDecision, NoteReview, Review,
    ReviewStatus, VettingStatus, VisitNote, interpreters_in, review_refusal, reviews_in,
    writes_review,
};
pub use working_days::{
    add_working_days, bank_holidays, bank_holidays_cover_until, check_bank_holiday_coverage,
    is_working_day,
};
pub use write_rules::{
    RecordClass, Violation, WriteAction, Writer, WriterRole, allowed, check_write,
};

use serde_json::{Map, Value as Json};

use crate::doc::{CaseDoc, DocId, DocKind, Edit, Record, to_fields};
use crate::error::{Error, Result};
use crate::ids::{CaseId, EntryId};

impl CaseDoc {
    /// Resolve the conflict at `path` by writing `chosen` over every competing value, and
    /// record who resolved it, when, and what was replaced. A choice that does not fit the
    /// field (a word where a number goes, a value no enum has) is refused as `InvalidInput`
    /// on `chosen` and nothing is written, so a resolution never leaves a record unreadable.
    pub fn resolve_conflict(
        &mut self,
        edit: &Edit,
        path: &[String],
        chosen: Json,
        resolution_id: EntryId,
    ) -> Result<()> {
        if self.check_records().is_ok() {
            let mut trial = self.trial();
            trial.resolve_conflict_unchecked(edit, path, chosen.clone(), resolution_id)?;
            if trial.check_records().is_err() {
                return Err(Error::invalid("chosen", "does not fit this field"));
            }
        }
        self.resolve_conflict_unchecked(edit, path, chosen, resolution_id)
    }

    /// Read every record of the document as its type.
    fn check_records(&self) -> Result<()> {
        match self.kind() {
            DocKind::Profile => self.profile().map(drop),
            DocKind::Location => {
                self.current_placement()?;
                self.placement_history().map(drop)
            }
            DocKind::Visits => self.visit_notes().map(drop),
            DocKind::Safety => {
                self.plan_steps()?;
                self.safety_checks()?;
                self.missing_episodes()?;
                self.placement_started_at()?;
                self.photo_ref()?;
                self.missing_person_profile()?;
                self.shared_persons()?;
                self.feel_safe().map(drop)
            }
            DocKind::Associates => self.persons().map(drop),
        }
    }

    pub(crate) fn expect_kind(&self, kind: DocKind) -> Result<()> {
        if self.kind() == kind {
            Ok(())
        } else {
            Err(Error::invalid(
                "document",
                format!(
                    "this operation needs the {kind} document, not {}",
                    self.kind()
                ),
            ))
        }
    }
}

fn empty_maps(keys: &[&str]) -> Map<String, Json> {
    keys.iter()
        .map(|k| ((*k).to_owned(), Json::Object(Map::new())))
        .collect()
}

/// The five documents of a new case, created by `edit` with `profile` filled in.
pub fn new_case(case: CaseId, edit: &Edit, profile: &Profile) -> Result<Vec<CaseDoc>> {
    if profile.case_reference.trim().is_empty() {
        return Err(Error::invalid("case_reference", "is required"));
    }
    profile.validate(edit.at)?;
    profile.nrm.validate(edit.at)?;
    DocKind::ALL
        .into_iter()
        .map(|kind| {
            let id = DocId::new(case, kind);
            match kind {
                DocKind::Profile => {
                    CaseDoc::create(id, edit, &to_fields(profile)?, Profile::TEXT_FIELDS)
                }
                DocKind::Location => {
                    let mut root = empty_maps(&["history"]);
                    root.insert(
                        "current".into(),
                        Json::Object(to_fields(&Placement::default())?),
                    );
                    CaseDoc::create(id, edit, &root, Placement::TEXT_FIELDS)
                }
                DocKind::Visits => CaseDoc::create(id, edit, &empty_maps(&["notes"]), &[]),
                DocKind::Safety => {
                    let mut root =
                        empty_maps(&["plan_steps", "checks", "missing_episodes", SHARED_KEY]);
                    root.insert("feel_safe".into(), Json::String(String::new()));
                    root.insert(
                        PHOTO_KEY.into(),
                        Json::Object(to_fields(&PhotoRef::default())?),
                    );
                    root.insert(
                        PROFILE_KEY.into(),
                        Json::Object(to_fields(&MissingPersonProfile::default())?),
                    );
                    let mut text = vec!["feel_safe"];
                    text.extend(MissingPersonProfile::TEXT_FIELDS);
                    CaseDoc::create(id, edit, &root, &text)
                }
                DocKind::Associates => CaseDoc::create(id, edit, &empty_maps(&["persons"]), &[]),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use automerge::ROOT;
    use automerge::transaction::Transactable;
    use chrono::{TimeZone, Utc};
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;
    use crate::doc::Author;
    use crate::ids::{DeviceId, UserId};

    #[test]
    fn a_record_that_does_not_decode_is_an_error_that_does_not_quote_the_value() {
        let mut rng = StdRng::seed_from_u64(5);
        let author = Author {
            user: UserId::random(&mut rng),
            device: DeviceId::random(&mut rng),
        };
        let at = Utc
            .with_ymd_and_hms(2026, 11, 25, 9, 0, 0)
            .single()
            .expect("time");
        let profile = Profile {
            case_reference: "HUL-1".into(),
            ..Profile::default()
        };
        let mut doc = new_case(CaseId::random(&mut rng), &Edit::new(author, at), &profile)
            .expect("case")
            .remove(0);
        doc.automerge_mut()
            .put(ROOT, "claimed_age", "CANARY-lives-at-12-Elm-Road")
            .expect("raw write");
        let err = doc.profile().expect_err("a word where a number goes");
        assert!(matches!(err, Error::Malformed { .. }), "{err:?}");
        assert!(!err.to_string().contains("CANARY"), "{err}");
    }
}
