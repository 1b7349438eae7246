//! The typed case model: one module per document kind, each adding typed reads and writes to
//! [`CaseDoc`]. [`new_case`] creates all five documents' skeletons once, on the device that
//! opens the case, so no nested object is ever created by two devices under one key.

mod associates;
mod location;
mod profile;
mod safety;
mod visits;

pub use associates::PersonOfConcern;
pub use location::{Placement, PlacementType};
pub use profile::{
    AgeStatus, Immigration, ImmigrationOutcome, IndependentVisitor, LegalBasis, Nrm, NrmDecision,
    PlanDates, Profile,
};
pub use safety::{CheckOutcome, MissingEpisode, PlanStep, Responsible, SafetyCheck, StepStatus};
pub use visits::{
    Action, Interpreter, InterpreterMode, Review, ReviewStatus, VettingStatus, VisitNote,
};

use serde_json::{Map, Value as Json};

use crate::doc::{CaseDoc, DocId, DocKind, Edit, Record, to_fields};
use crate::error::{Error, Result};
use crate::ids::CaseId;

impl CaseDoc {
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
                    let mut root = empty_maps(&["plan_steps", "checks", "missing_episodes"]);
                    root.insert("feel_safe".into(), Json::String(String::new()));
                    CaseDoc::create(id, edit, &root, &["feel_safe"])
                }
                DocKind::Associates => CaseDoc::create(id, edit, &empty_maps(&["persons"]), &[]),
            }
        })
        .collect()
}
