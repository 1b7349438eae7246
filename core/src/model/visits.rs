//! The `visits` document: visit notes with the interpreter used, the child's wishes and
//! feelings in their own words, observations, agreed actions, and supervisor review.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::doc::{CaseDoc, DocKind, Edit, Record};
use crate::error::{Error, Result};
use crate::ids::{EntryId, UserId};

/// Whether an interpreter's independence from the child's traffickers has been checked
/// (statutory guidance, paragraph 26).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VettingStatus {
    /// Not checked.
    #[default]
    NotChecked,
    /// Vetted through the agency and checked for links to the child's exploiters.
    Vetted,
    /// A concern was raised: do not use again without review.
    Concern,
}

/// How the interpreter took part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InterpreterMode {
    /// No interpreter.
    #[default]
    None,
    /// In the room.
    InPerson,
    /// By telephone.
    Telephone,
    /// By video.
    Video,
}

/// The interpreter at a visit.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Interpreter {
    /// How they took part; `None` if there was no interpreter.
    pub mode: InterpreterMode,
    /// Their name.
    pub name: String,
    /// Their agency.
    pub agency: String,
    /// Their phone number, as given (compared in E.164 by the link check).
    #[serde(default)]
    pub phone: String,
    /// Language and dialect interpreted.
    pub language: String,
    /// Vetting status.
    pub vetting: VettingStatus,
    /// Whether the child agreed to this interpreter.
    pub child_consented: Option<bool>,
}

/// What the user decided on an interpreter the link check warned about
/// ([`crate::model::interpreter_links`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkDecision {
    /// No decision.
    #[default]
    Undecided,
    /// Use another interpreter.
    OtherInterpreter,
    /// Go ahead with this interpreter, for the reason given.
    Proceed,
}

/// The decision on a link-check warning, with the interpreter it was made on and who made
/// it, when (stamped from the edit that saved it).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct InterpreterDecision {
    /// The decision.
    pub outcome: LinkDecision,
    /// Why (required to proceed).
    pub reason: String,
    /// The interpreter's name the decision was made on.
    pub interpreter_name: String,
    /// The interpreter's phone number the decision was made on.
    pub interpreter_phone: String,
    /// Who decided.
    pub decided_by: Option<UserId>,
    /// When.
    pub decided_at: Option<DateTime<Utc>>,
}

impl InterpreterDecision {
    /// Whether the decision itself (not who or when) differs from `other`.
    fn differs(&self, other: &InterpreterDecision) -> bool {
        (
            self.outcome,
            &self.reason,
            &self.interpreter_name,
            &self.interpreter_phone,
        ) != (
            other.outcome,
            &other.reason,
            &other.interpreter_name,
            &other.interpreter_phone,
        )
    }
}

/// Where a note stands in supervisor review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewStatus {
    /// Being written.
    #[default]
    Draft,
    /// Submitted for review.
    Submitted,
    /// Signed off by a supervisor.
    SignedOff,
    /// Returned to the author with comments.
    Returned,
}

/// Supervisor review of a note.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Review {
    /// Status.
    pub status: ReviewStatus,
    /// The reviewing supervisor.
    pub reviewer: Option<UserId>,
    /// When reviewed.
    pub reviewed_at: Option<DateTime<Utc>>,
    /// Review comments.
    pub comment: String,
}

impl Review {
    /// Whether the review stands as a supervisor's decision (signed off or returned).
    pub fn is_decided(&self) -> bool {
        matches!(
            self.status,
            ReviewStatus::SignedOff | ReviewStatus::Returned
        )
    }
}

/// Whether `after` writes a supervisor's decision over `before`: the review differs and ends
/// signed off or returned. Submitting (with the author's comment) and reopening do not.
pub fn writes_review(before: &Review, after: &Review) -> bool {
    before != after && after.is_decided()
}

/// Why `writer` may not turn review `before` into `after`, if they may not: a sign-off or
/// return is a supervisor's, in their own name.
pub fn review_refusal(
    before: &Review,
    after: &Review,
    writer: &super::Writer,
) -> Option<&'static str> {
    if !writes_review(before, after) {
        return None;
    }
    if writer.role != super::WriterRole::Supervisor {
        return Some("only a supervisor signs off or returns a note");
    }
    if after.reviewer != Some(writer.user) {
        return Some("a review must name the supervisor writing it");
    }
    None
}

/// Whether an edit by `edit` of a note reviewed as `review` reopens review: the note is
/// signed off, and the editor is not the supervisor who signed it off (their own correction
/// keeps it).
fn reopens(edit: &Edit, review: &Review) -> bool {
    review.status == ReviewStatus::SignedOff && review.reviewer != Some(edit.author.user)
}

/// A note's content changed since a sign-off reopens review: the status goes back to
/// submitted (the last reviewer, time and comment are kept, so the queue shows who signed
/// off before). `current` is the stored note, `note` what is being saved. A save from a read
/// that predates the sign-off (`note` still holds the review as it was then: a stale save,
/// `doc/stale.rs`) writes only what it changed and keeps the sign-off.
fn reopened(edit: &Edit, current: &VisitNote, note: &VisitNote) -> VisitNote {
    let mut note = note.clone();
    if !reopens(edit, &current.review) || note.review != current.review {
        return note;
    }
    let content = |n: &VisitNote| VisitNote {
        review: Review::default(),
        ..n.clone()
    };
    if content(current) != content(&note) {
        note.review.status = ReviewStatus::Submitted;
    }
    note
}

/// An agreed action.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Action {
    /// What will be done.
    pub description: String,
    /// Who will do it.
    pub owner: String,
    /// By when.
    pub due_on: Option<NaiveDate>,
    /// Whether it is done.
    pub done: bool,
}

impl Record for Action {
    const NAME: &'static str = "action";
    const TEXT_FIELDS: &'static [&'static str] = &["description"];
}

/// A visit note.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct VisitNote {
    /// When the visit happened.
    pub visited_at: Option<DateTime<Utc>>,
    /// Where (a description, not the placement address).
    pub place: String,
    /// Who attended.
    pub attendees: Vec<String>,
    /// The interpreter.
    pub interpreter: Interpreter,
    /// The child's wishes and feelings, in their own words.
    pub wishes_and_feelings: String,
    /// The visitor's observations.
    pub observations: String,
    /// Agreed actions, by entry id.
    pub actions: BTreeMap<EntryId, Action>,
    /// Supervisor review.
    pub review: Review,
    /// The decision on the interpreter link check's warning, if there was one.
    #[serde(default)]
    pub interpreter_decision: InterpreterDecision,
}

/// `note` with its interpreter decision stamped by `edit` when it is new or changed from
/// `stored` (who decided and when come from the edit, never from the caller).
fn stamp_decision(
    edit: &Edit,
    note: &VisitNote,
    stored: Option<&InterpreterDecision>,
) -> VisitNote {
    let mut note = note.clone();
    let decision = &mut note.interpreter_decision;
    match stored {
        Some(stored) if !decision.differs(stored) => {
            decision.decided_by = stored.decided_by;
            decision.decided_at = stored.decided_at;
        }
        _ if decision.outcome == LinkDecision::Undecided && stored.is_none() => {
            decision.decided_by = None;
            decision.decided_at = None;
        }
        _ => {
            decision.decided_by = Some(edit.author.user);
            decision.decided_at = Some(edit.at);
        }
    }
    note
}

impl Record for VisitNote {
    const NAME: &'static str = "visit note";
    const TEXT_FIELDS: &'static [&'static str] = &[
        "wishes_and_feelings",
        "observations",
        "description",
        "comment",
    ];
}

impl CaseDoc {
    /// Record a new visit note under the fresh `id`.
    pub fn add_visit_note(&mut self, edit: &Edit, id: EntryId, note: &VisitNote) -> Result<()> {
        self.expect_kind(DocKind::Visits)?;
        let note = stamp_decision(edit, note, None);
        self.add_entry(edit, &["notes"], id, &note)
    }

    /// One visit note.
    pub fn visit_note(&self, id: EntryId) -> Result<VisitNote> {
        self.expect_kind(DocKind::Visits)?;
        self.entry(&["notes"], id)
    }

    /// Every visit note, by id.
    pub fn visit_notes(&self) -> Result<Vec<(EntryId, VisitNote)>> {
        self.expect_kind(DocKind::Visits)?;
        self.entries(&["notes"])
    }

    /// Update a visit note, touching only what differs (text by diff, so concurrent edits to
    /// the same note both survive). New actions must be added with [`CaseDoc::add_action`].
    pub fn update_visit_note(&mut self, edit: &Edit, id: EntryId, note: &VisitNote) -> Result<()> {
        self.expect_kind(DocKind::Visits)?;
        let current = self.visit_note(id)?;
        if note
            .actions
            .keys()
            .any(|k| !current.actions.contains_key(k))
        {
            return Err(Error::invalid("actions", "add new actions with add_action"));
        }
        let note = stamp_decision(edit, note, Some(&current.interpreter_decision));
        let note = reopened(edit, &current, &note);
        self.update_entry_sparse(edit, &["notes"], id, &note)
    }

    /// Add an agreed action to a note under the fresh `action_id`.
    pub fn add_action(
        &mut self,
        edit: &Edit,
        note: EntryId,
        action_id: EntryId,
        action: &Action,
    ) -> Result<()> {
        let current = self.visit_note(note)?;
        let key = note.to_string();
        self.add_entry(edit, &["notes", &key, "actions"], action_id, action)?;
        if reopens(edit, &current.review) {
            // A new action is new content: review reopens.
            let mut updated = self.visit_note(note)?;
            updated.review.status = ReviewStatus::Submitted;
            self.update_entry_sparse(edit, &["notes"], note, &updated)?;
        }
        Ok(())
    }

    /// Supervisor sign-off (or return) of a note.
    pub fn review_visit_note(
        &mut self,
        edit: &Edit,
        id: EntryId,
        status: ReviewStatus,
        comment: &str,
    ) -> Result<()> {
        let mut note = self.visit_note(id)?;
        note.review = Review {
            status,
            reviewer: Some(edit.author.user),
            reviewed_at: Some(edit.at),
            comment: comment.to_owned(),
        };
        self.update_entry(edit, &["notes"], id, &note)
    }
}

/// What the server's review index keeps of one note: when the visit was, and its review.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NoteReview {
    /// When the visit happened.
    pub visited_at: Option<DateTime<Utc>>,
    /// The review.
    pub review: Review,
}

/// The visit time and review of every note of a `visits` document held as a plain automerge
/// document (the server's copy), read without the notes' text: what the server's review
/// index keeps.
pub fn reviews_in(
    id: crate::doc::DocId,
    doc: &impl automerge::ReadDoc,
) -> Result<Vec<(EntryId, NoteReview)>> {
    use automerge::Value;
    let malformed = |path: &str, reason: &str| Error::Malformed {
        doc: id.to_string(),
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    let mut out = Vec::new();
    for (entry, note) in notes_in(id, doc)? {
        let visited_at = match doc.get(&note, "visited_at")? {
            Some((Value::Scalar(s), _)) => s
                .as_str()
                .map(|t| {
                    t.parse::<DateTime<Utc>>()
                        .map_err(|_| malformed("notes", "a visit time does not read"))
                })
                .transpose()?,
            _ => None,
        };
        let review = match doc.get(&note, "review")? {
            Some((Value::Object(_), obj)) => {
                serde_json::from_value(crate::doc::read_object(doc, &obj)?)
                    .map_err(|_| malformed("notes", "a review does not read"))?
            }
            _ => Review::default(),
        };
        out.push((entry, NoteReview { visited_at, review }));
    }
    Ok(out)
}

/// The notes of a `visits` document held as a plain automerge document, by entry id, after
/// checking the document is the one named.
fn notes_in(
    id: crate::doc::DocId,
    doc: &impl automerge::ReadDoc,
) -> Result<Vec<(EntryId, automerge::ObjId)>> {
    use automerge::{ROOT, Value};
    let malformed = |path: &str, reason: &str| Error::Malformed {
        doc: id.to_string(),
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    if id.kind != DocKind::Visits {
        return Err(malformed("/", "not a visits document"));
    }
    let root_str = |key: &str| match doc.get(ROOT, key) {
        Ok(Some((Value::Scalar(s), _))) => s.as_str().map(str::to_owned),
        _ => None,
    };
    if root_str("case") != Some(id.case.to_string())
        || root_str("kind").as_deref() != Some(DocKind::Visits.as_str())
    {
        return Err(malformed("/", "document belongs to another case or kind"));
    }
    let Some((Value::Object(_), notes)) = doc.get(ROOT, "notes")? else {
        return Err(malformed("notes", "expected an object"));
    };
    let mut out = Vec::new();
    for key in doc.keys(&notes) {
        let entry: EntryId = key
            .parse()
            .map_err(|_| malformed("notes", "entry key is not an id"))?;
        let Some((Value::Object(_), note)) = doc.get(&notes, key.as_str())? else {
            return Err(malformed("notes", "expected an object"));
        };
        out.push((entry, note));
    }
    Ok(out)
}

/// The interpreter of every note of a `visits` document held as a plain automerge document
/// (the server's copy), read without the notes' text: what the server's interpreter link
/// check compares, with no second load of a document of years of long notes.
pub fn interpreters_in(
    id: crate::doc::DocId,
    doc: &impl automerge::ReadDoc,
) -> Result<Vec<(EntryId, Interpreter)>> {
    use automerge::Value;
    let mut out = Vec::new();
    for (entry, note) in notes_in(id, doc)? {
        let interpreter = match doc.get(&note, "interpreter")? {
            Some((Value::Object(_), obj)) => {
                serde_json::from_value(crate::doc::read_object(doc, &obj)?).map_err(|_| {
                    Error::Malformed {
                        doc: id.to_string(),
                        path: "notes".to_owned(),
                        reason: "an interpreter does not read".to_owned(),
                    }
                })?
            }
            _ => Interpreter::default(),
        };
        out.push((entry, interpreter));
    }
    Ok(out)
}

#[cfg(test)]
#[path = "visits_tests.rs"]
mod tests;
