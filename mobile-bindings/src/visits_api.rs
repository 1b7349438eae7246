//! Exported calls on visit notes: recording a visit (with its interpreter), agreed actions,
//! and supervisor review and sign-off.

use casebook_core::ids::EntryId;
use casebook_core::model as core;
use casebook_core::view::{RowKind, VisitSummary};
use rand::rngs::OsRng;

use crate::casebook::{Casebook, doc_id};
use crate::error::{CasebookError, Result};
use crate::records::{
    Action, DocKind, Interpreter, InterpreterLink, ReadAt, ReviewStatus, VisitNote, VisitNoteEntry,
    VisitNoteSummary, parse_id,
};

impl Casebook {
    /// The case's persons of concern as the core reads them (none when this device does not
    /// hold the case's `associates` document).
    fn core_persons(&self, case_id: &str) -> Result<Vec<(EntryId, core::PersonOfConcern)>> {
        let doc = doc_id(case_id, DocKind::Associates)?;
        let view = self.with_unlocked(|repo| match repo.view(doc, RowKind::Person, None) {
            Ok(view) => Ok(Some(view)),
            Err(casebook_core::Error::NotHeld(_)) => Ok(None),
            Err(other) => Err(other.into()),
        })?;
        let Some(view) = view else {
            return Ok(Vec::new());
        };
        view.records::<core::PersonOfConcern>()?
            .into_iter()
            .map(|(id, person)| Ok((parse_id::<EntryId>("person_id", &id)?, person)))
            .collect()
    }

    /// Refuse `note` when its interpreter has possible links to the case's persons of
    /// concern and it holds no decision on them.
    fn check_interpreter(&self, case_id: &str, note: &core::VisitNote) -> Result<()> {
        let links = core::links_to_persons(&note.interpreter, &self.core_persons(case_id)?);
        Ok(core::check_interpreter_decision(note, &links)?)
    }
}

#[uniffi::export]
impl Casebook {
    /// The possible links between `interpreter` and the case's persons of concern (names
    /// and aliases regardless of case, accents, word order and middle names; phone numbers
    /// in E.164; agency against their organisation). Works offline. Call it before saving a
    /// visit note: a note whose interpreter has links is saved only with an
    /// `interpreter_decision` (use another interpreter, or proceed with a reason).
    pub fn interpreter_links(
        &self,
        case_id: String,
        interpreter: Interpreter,
    ) -> Result<Vec<InterpreterLink>> {
        let interpreter = core::Interpreter::from(interpreter);
        Ok(
            core::links_to_persons(&interpreter, &self.core_persons(&case_id)?)
                .into_iter()
                .map(InterpreterLink::from)
                .collect(),
        )
    }

    /// Record a visit note. Returns its id. A note whose interpreter has possible links to
    /// the case's persons of concern (`interpreter_links`) and no `interpreter_decision` on
    /// them is refused (`InvalidInput` on `interpreter_decision`); the decision is saved
    /// with this device's user and the time.
    pub fn add_visit_note(&self, case_id: String, note: VisitNote) -> Result<String> {
        let note = core::VisitNote::try_from(note)?;
        self.check_interpreter(&case_id, &note)?;
        let id = EntryId::random(&mut OsRng);
        self.edit(&case_id, DocKind::Visits, |d, e| {
            d.add_visit_note(e, id, &note)
        })?;
        Ok(id.to_string())
    }

    /// One visit note (with the `version` it was read at). Read from the view: loads no
    /// document.
    pub fn visit_note(&self, case_id: String, note_id: String) -> Result<VisitNote> {
        let id: EntryId = parse_id("note_id", &note_id)?;
        let (version, view) = self.view_rows(
            &case_id,
            DocKind::Visits,
            RowKind::VisitNote,
            Some(&id.to_string()),
        )?;
        let note: core::VisitNote = view.single("visit note")?;
        Ok(VisitNote::from(note).read_at(&version))
    }

    /// Every visit note of the case, whole (each with the `version` it was read at). A list
    /// screen wants `visit_note_summaries`, which reads far less.
    pub fn visit_notes(&self, case_id: String) -> Result<Vec<VisitNoteEntry>> {
        let (version, view) =
            self.view_rows(&case_id, DocKind::Visits, RowKind::VisitNote, None)?;
        Ok(view
            .records::<core::VisitNote>()?
            .into_iter()
            .map(|(id, note)| VisitNoteEntry {
                id,
                note: VisitNote::from(note).read_at(&version),
            })
            .collect())
    }

    /// The summary line of every visit note of the case (author, date, review status,
    /// interpreter, the first 200 characters), ordered by note id. Loads no document.
    pub fn visit_note_summaries(&self, case_id: String) -> Result<Vec<VisitNoteSummary>> {
        let (version, view) =
            self.view_rows(&case_id, DocKind::Visits, RowKind::VisitSummary, None)?;
        Ok(view
            .records::<VisitSummary>()?
            .into_iter()
            .map(|(id, summary)| VisitNoteSummary::new(id, summary, &version))
            .collect())
    }

    /// Save a visit note: only what was changed since it was read (its `version`) is
    /// written, text by diff, so a sign-off or words others added meanwhile are kept; a
    /// field changed on both sides becomes a conflict. New actions go through `add_action`.
    pub fn update_visit_note(
        &self,
        case_id: String,
        note_id: String,
        note: VisitNote,
    ) -> Result<()> {
        let id: EntryId = parse_id("note_id", &note_id)?;
        let version = note.version.clone();
        let note = core::VisitNote::try_from(note)?;
        self.check_interpreter(&case_id, &note)?;
        self.save(&case_id, DocKind::Visits, &version, |d, e| {
            d.update_visit_note(e, id, &note)
        })
    }

    /// Add an agreed action to a note. Returns the action's id.
    pub fn add_action(&self, case_id: String, note_id: String, action: Action) -> Result<String> {
        let note: EntryId = parse_id("note_id", &note_id)?;
        let action = core::Action::try_from(action)?;
        let id = EntryId::random(&mut OsRng);
        self.edit(&case_id, DocKind::Visits, |d, e| {
            d.add_action(e, note, id, &action)
        })?;
        Ok(id.to_string())
    }

    /// Supervisor review of a note: sign it off, or return it with a comment. The reviewer
    /// is this device's enrolled user and the time is now; before enrolment there is no one
    /// to record, so this fails with `NotEnrolled`.
    pub fn review_visit_note(
        &self,
        case_id: String,
        note_id: String,
        status: ReviewStatus,
        comment: String,
    ) -> Result<()> {
        let id: EntryId = parse_id("note_id", &note_id)?;
        if !self.is_enrolled()? {
            return Err(CasebookError::NotEnrolled);
        }
        self.edit(&case_id, DocKind::Visits, |d, e| {
            d.review_visit_note(e, id, status.into(), &comment)
        })
    }
}
