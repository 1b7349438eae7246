//! Visit notes: interpreter, the child's wishes and feelings, agreed actions and supervisor
//! review (the `visits` document).

use std::collections::HashMap;
use std::time::SystemTime;

use casebook_core::doc::Version;
use casebook_core::ids::EntryId;
use casebook_core::model as core;

use super::{mirror_enum, parse_id, parse_opt_date, parse_opt_id, show_date, system, utc};
use crate::error::CasebookError;

mirror_enum!(
    /// Whether an interpreter's independence from the child's traffickers was checked.
    VettingStatus <=> core::VettingStatus {
        /// Not checked.
        #[default]
        NotChecked,
        /// Vetted and checked for links to the child's exploiters.
        Vetted,
        /// A concern was raised: do not use again without review.
        Concern,
    }
);

mirror_enum!(
    /// How the interpreter took part.
    InterpreterMode <=> core::InterpreterMode {
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
);

mirror_enum!(
    /// Where a note stands in supervisor review.
    ReviewStatus <=> core::ReviewStatus {
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
);

/// The interpreter at a visit.
#[derive(Debug, Clone, PartialEq, Eq, Default, uniffi::Record)]
pub struct Interpreter {
    /// How they took part; `None` if there was no interpreter.
    pub mode: InterpreterMode,
    /// Their name.
    #[uniffi(default = "")]
    pub name: String,
    /// Their agency.
    #[uniffi(default = "")]
    pub agency: String,
    /// Their phone number (checked against the persons of concern in E.164).
    #[uniffi(default = "")]
    pub phone: String,
    /// Language and dialect interpreted.
    #[uniffi(default = "")]
    pub language: String,
    /// Vetting status.
    pub vetting: VettingStatus,
    /// Whether the child agreed to this interpreter.
    #[uniffi(default = None)]
    pub child_consented: Option<bool>,
}

mirror_enum!(
    /// What the user decided on an interpreter the link check warned about.
    LinkDecision <=> core::LinkDecision {
        /// No decision.
        #[default]
        Undecided,
        /// Use another interpreter.
        OtherInterpreter,
        /// Go ahead with this interpreter, for the reason given.
        Proceed,
    }
);

mirror_enum!(
    /// Which of a person of concern's fields the interpreter matched.
    LinkField <=> core::LinkField {
        /// The person's name.
        #[default]
        Name,
        /// One of their other names.
        Alias,
        /// One of their phone numbers.
        Phone,
        /// The organisation they are linked to.
        Organisation,
    }
);

/// The decision on the interpreter link check's warning (`interpreter_links`), saved on the
/// note. Who decided and when are filled in by the save (this device's user, now).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct InterpreterDecision {
    /// The decision.
    pub outcome: LinkDecision,
    /// Why (required to proceed).
    #[uniffi(default = "")]
    pub reason: String,
    /// The interpreter's name the decision was made on (empty: the note's interpreter).
    #[uniffi(default = "")]
    pub interpreter_name: String,
    /// The interpreter's phone number the decision was made on (with `interpreter_name`
    /// empty: the note's interpreter).
    #[uniffi(default = "")]
    pub interpreter_phone: String,
    /// Who decided (user id); set by the save.
    #[uniffi(default = None)]
    pub decided_by: Option<String>,
    /// When; set by the save.
    #[uniffi(default = None)]
    pub decided_at: Option<SystemTime>,
}

/// A possible link between an interpreter and one of the case's persons of concern.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct InterpreterLink {
    /// The person of concern (`persons`).
    pub person_id: String,
    /// Their name as recorded.
    pub person_name: String,
    /// Which of their fields matched.
    pub field: LinkField,
    /// Their value that matched.
    pub matched: String,
    /// The interpreter's value that matched it.
    pub interpreter_value: String,
    /// Why they match, in words.
    pub reason: String,
}

impl From<core::PossibleLink> for InterpreterLink {
    fn from(l: core::PossibleLink) -> Self {
        InterpreterLink {
            person_id: l.person.to_string(),
            person_name: l.person_name,
            field: l.field.into(),
            matched: l.matched,
            interpreter_value: l.interpreter_value,
            reason: l.reason,
        }
    }
}

impl From<core::Interpreter> for Interpreter {
    fn from(i: core::Interpreter) -> Self {
        Interpreter {
            mode: i.mode.into(),
            name: i.name,
            agency: i.agency,
            phone: i.phone,
            language: i.language,
            vetting: i.vetting.into(),
            child_consented: i.child_consented,
        }
    }
}

impl From<Interpreter> for core::Interpreter {
    fn from(i: Interpreter) -> Self {
        core::Interpreter {
            mode: i.mode.into(),
            name: i.name,
            agency: i.agency,
            phone: i.phone,
            language: i.language,
            vetting: i.vetting.into(),
            child_consented: i.child_consented,
        }
    }
}

/// Supervisor review of a note (set with `review_visit_note`).
#[derive(Debug, Clone, PartialEq, Eq, Default, uniffi::Record)]
pub struct Review {
    /// Status.
    pub status: ReviewStatus,
    /// The reviewing supervisor's user id.
    #[uniffi(default = None)]
    pub reviewer: Option<String>,
    /// When reviewed.
    #[uniffi(default = None)]
    pub reviewed_at: Option<SystemTime>,
    /// Review comments.
    #[uniffi(default = "")]
    pub comment: String,
}

/// An agreed action. `due_on` is `YYYY-MM-DD`.
#[derive(Debug, Clone, PartialEq, Eq, Default, uniffi::Record)]
pub struct Action {
    /// What will be done.
    pub description: String,
    /// Who will do it.
    #[uniffi(default = "")]
    pub owner: String,
    /// By when.
    #[uniffi(default = None)]
    pub due_on: Option<String>,
    /// Whether it is done.
    #[uniffi(default = false)]
    pub done: bool,
}

/// A visit note. New actions are added with `add_action`; `actions` (by entry id) can only
/// carry updates to existing ones.
#[derive(Debug, Clone, PartialEq, Eq, Default, uniffi::Record)]
pub struct VisitNote {
    /// When the visit happened.
    #[uniffi(default = None)]
    pub visited_at: Option<SystemTime>,
    /// Where (a description, not the placement address).
    #[uniffi(default = "")]
    pub place: String,
    /// Who attended.
    #[uniffi(default = [])]
    pub attendees: Vec<String>,
    /// The interpreter.
    pub interpreter: Interpreter,
    /// The child's wishes and feelings, in their own words.
    #[uniffi(default = "")]
    pub wishes_and_feelings: String,
    /// The visitor's observations.
    #[uniffi(default = "")]
    pub observations: String,
    /// Agreed actions, by entry id.
    #[uniffi(default)]
    pub actions: HashMap<String, Action>,
    /// Supervisor review.
    pub review: Review,
    /// The decision on the interpreter link check's warning; needed to save a note whose
    /// interpreter has possible links (`interpreter_links`).
    #[uniffi(default = None)]
    pub interpreter_decision: Option<InterpreterDecision>,
    /// The version of its document this was read at: reads fill it in; keep it when you
    /// save, so the save writes only what was changed since and keeps what others wrote
    /// meanwhile. Empty for a record made from scratch (the save then writes every field
    /// that differs from the document now).
    #[uniffi(default = "")]
    pub version: String,
}

/// A visit note with its entry id.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct VisitNoteEntry {
    /// Entry id.
    pub id: String,
    /// The note.
    pub note: VisitNote,
}

/// The line shown for a visit note in a list, read without loading the note: who wrote
/// it, when, where it stands in review, whether an interpreter took part, and its first
/// 200 characters. Open the note itself with `visit_note(case_id, id)`.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct VisitNoteSummary {
    /// The note's id.
    pub id: String,
    /// When the visit happened.
    pub visited_at: Option<SystemTime>,
    /// The user who wrote the note, when known.
    pub author: Option<String>,
    /// Where the note stands in review.
    pub status: ReviewStatus,
    /// Whether an interpreter took part.
    pub interpreter: bool,
    /// How the interpreter took part.
    pub interpreter_mode: InterpreterMode,
    /// Where the visit was.
    pub place: String,
    /// The first 200 characters of the observations (or, when there are none, of the
    /// child's wishes and feelings).
    pub excerpt: String,
    /// How many agreed actions the note has.
    pub actions: u32,
    /// How many of them are done.
    pub actions_done: u32,
    /// The version of the visits document this was read at.
    pub version: String,
}

impl VisitNoteSummary {
    /// The summary of note `id`, read at `version`.
    pub(crate) fn new(id: String, s: casebook_core::view::VisitSummary, version: &Version) -> Self {
        VisitNoteSummary {
            id,
            visited_at: system(s.visited_at),
            author: s.author.map(|u| u.to_string()),
            status: s.status.into(),
            interpreter: s.interpreter,
            interpreter_mode: s.interpreter_mode.into(),
            place: s.place,
            excerpt: s.excerpt,
            actions: s.actions,
            actions_done: s.actions_done,
            version: version.to_string(),
        }
    }
}

impl From<core::Action> for Action {
    fn from(a: core::Action) -> Self {
        Action {
            description: a.description,
            owner: a.owner,
            due_on: show_date(a.due_on),
            done: a.done,
        }
    }
}

impl TryFrom<Action> for core::Action {
    type Error = CasebookError;

    fn try_from(a: Action) -> Result<Self, CasebookError> {
        Ok(core::Action {
            description: a.description,
            owner: a.owner,
            due_on: parse_opt_date("due_on", a.due_on)?,
            done: a.done,
        })
    }
}

impl From<core::VisitNote> for VisitNote {
    fn from(n: core::VisitNote) -> Self {
        VisitNote {
            visited_at: system(n.visited_at),
            place: n.place,
            attendees: n.attendees,
            interpreter: n.interpreter.into(),
            wishes_and_feelings: n.wishes_and_feelings,
            observations: n.observations,
            actions: n
                .actions
                .into_iter()
                .map(|(id, a)| (id.to_string(), a.into()))
                .collect(),
            review: Review {
                status: n.review.status.into(),
                reviewer: n.review.reviewer.map(|u| u.to_string()),
                reviewed_at: system(n.review.reviewed_at),
                comment: n.review.comment,
            },
            interpreter_decision: (n.interpreter_decision != core::InterpreterDecision::default())
                .then(|| {
                    let d = n.interpreter_decision;
                    InterpreterDecision {
                        outcome: d.outcome.into(),
                        reason: d.reason,
                        interpreter_name: d.interpreter_name,
                        interpreter_phone: d.interpreter_phone,
                        decided_by: d.decided_by.map(|u| u.to_string()),
                        decided_at: system(d.decided_at),
                    }
                }),
            version: String::new(),
        }
    }
}

impl TryFrom<VisitNote> for core::VisitNote {
    type Error = CasebookError;

    fn try_from(n: VisitNote) -> Result<Self, CasebookError> {
        let interpreter = core::Interpreter::from(n.interpreter);
        let interpreter_decision = match n.interpreter_decision {
            None => core::InterpreterDecision::default(),
            Some(d) => {
                let on_note = d.interpreter_name.is_empty() && d.interpreter_phone.is_empty();
                core::InterpreterDecision {
                    outcome: d.outcome.into(),
                    reason: d.reason,
                    interpreter_name: if on_note {
                        interpreter.name.clone()
                    } else {
                        d.interpreter_name
                    },
                    interpreter_phone: if on_note {
                        interpreter.phone.clone()
                    } else {
                        d.interpreter_phone
                    },
                    // Who and when are stamped by the save.
                    decided_by: None,
                    decided_at: None,
                }
            }
        };
        Ok(core::VisitNote {
            visited_at: utc("visited_at", n.visited_at)?,
            place: n.place,
            attendees: n.attendees,
            interpreter,
            wishes_and_feelings: n.wishes_and_feelings,
            observations: n.observations,
            actions: n
                .actions
                .into_iter()
                .map(|(id, a)| Ok((parse_id::<EntryId>("actions", &id)?, a.try_into()?)))
                .collect::<Result<_, CasebookError>>()?,
            review: core::Review {
                status: n.review.status.into(),
                reviewer: parse_opt_id("review.reviewer", n.review.reviewer)?,
                reviewed_at: utc("review.reviewed_at", n.review.reviewed_at)?,
                comment: n.review.comment,
            },
            interpreter_decision,
        })
    }
}
