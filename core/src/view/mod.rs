//! The materialized view: the rows the screens read (the profile card, the placement, visit
//! notes and their summaries, plan steps, safety checks, missing episodes, persons, the
//! missing-person profile and the persons shared into it), kept in
//! the store beside the documents and updated in the same transaction as every change, so a
//! screen reads rows and never waits for automerge to load a document.
//!
//! Everything here is pure: [`rows`] computes a document's rows, [`update`] the rows an
//! edit or a merge changed (only the records it touched, found from the new changes' ops).
//! Each row is the record's JSON (the core type's serde form), keyed by
//! `(document, kind, record id)`; the document's heads are stored with its rows, so a record
//! read from the view still carries the version a save needs.

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::doc::{DocId, Version};
use crate::error::{Error, Result};
use crate::ids::UserId;
use crate::model::{InterpreterMode, MissingEpisode, ReviewStatus};

mod compute;
pub(crate) mod touched;

pub(crate) use compute::update_with;
pub use compute::{rows, update};

/// The format of the rows this build writes. Bump it whenever what a row holds changes: a
/// store whose view is of another version is rebuilt from its documents when opened.
/// Version 2: missing episode rows are [`EpisodeRow`]s, and the safety document has
/// [`RowKind::PlacementStart`], [`RowKind::MissingPersonProfile`] and
/// [`RowKind::SharedPerson`] rows.
pub const VIEW_VERSION: u32 = 2;

/// The setting (in the store's meta) holding the view version the rows were written with.
pub const VIEW_VERSION_KEY: &str = "view.version";

/// How many characters of a note a summary shows.
pub const EXCERPT_CHARS: usize = 200;

/// What a row holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum RowKind {
    /// The profile (profile document; record id empty).
    Profile,
    /// The current placement (location document; record id empty).
    Placement,
    /// A past placement.
    PlacementHistory,
    /// A whole visit note.
    VisitNote,
    /// A visit note's [`VisitSummary`].
    VisitSummary,
    /// A protection plan step.
    PlanStep,
    /// A safety check.
    SafetyCheck,
    /// A missing episode, as an [`EpisodeRow`].
    MissingEpisode,
    /// What helps the child feel safe (a JSON string; record id empty).
    FeelSafe,
    /// A person of concern.
    Person,
    /// When the child arrived at the placement (safety document; record id empty; a JSON
    /// time or `null`).
    PlacementStart,
    /// The missing-person profile (safety document; record id empty).
    MissingPersonProfile,
    /// A person shared into the missing-person profile (by their `associates` id).
    SharedPerson,
}

impl RowKind {
    /// Every kind.
    pub const ALL: [RowKind; 13] = [
        RowKind::Profile,
        RowKind::Placement,
        RowKind::PlacementHistory,
        RowKind::VisitNote,
        RowKind::VisitSummary,
        RowKind::PlanStep,
        RowKind::SafetyCheck,
        RowKind::MissingEpisode,
        RowKind::FeelSafe,
        RowKind::Person,
        RowKind::PlacementStart,
        RowKind::MissingPersonProfile,
        RowKind::SharedPerson,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            RowKind::Profile => "profile",
            RowKind::Placement => "placement",
            RowKind::PlacementHistory => "placement_history",
            RowKind::VisitNote => "visit_note",
            RowKind::VisitSummary => "visit_summary",
            RowKind::PlanStep => "plan_step",
            RowKind::SafetyCheck => "safety_check",
            RowKind::MissingEpisode => "missing_episode",
            RowKind::FeelSafe => "feel_safe",
            RowKind::Person => "person",
            RowKind::PlacementStart => "placement_start",
            RowKind::MissingPersonProfile => "missing_person_profile",
            RowKind::SharedPerson => "shared_person",
        }
    }

    /// The kind stored as `name`.
    pub fn parse(name: &str) -> Option<RowKind> {
        RowKind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// One row of the view.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ViewRow {
    /// What it holds.
    pub kind: RowKind,
    /// The record's entry id (empty for a document's single record).
    pub record: String,
    /// The record as JSON.
    pub body: String,
}

impl ViewRow {
    /// A row holding `value` as JSON.
    pub fn new<T: Serialize>(kind: RowKind, record: impl Into<String>, value: &T) -> Result<Self> {
        Ok(ViewRow {
            kind,
            record: record.into(),
            body: serde_json::to_string(value)
                .map_err(|e| Error::invalid("view row", e.to_string()))?,
        })
    }

    /// The row's record, decoded as `T`.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_str(&self.body).map_err(|_| Error::Malformed {
            doc: "view".into(),
            path: format!("{}/{}", self.kind.as_str(), self.record),
            reason: "a stored row does not decode".into(),
        })
    }
}

/// The rows of one document's view read from the store, with the version (heads) of the
/// document they were computed from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DocView {
    /// The document version the rows show (text form of [`Version`]).
    pub version: String,
    /// The rows asked for, ordered by record id.
    pub rows: Vec<ViewRow>,
}

impl DocView {
    /// The version the rows were computed at.
    pub fn version(&self) -> Result<Version> {
        self.version.parse().map_err(|_| Error::Malformed {
            doc: "view".into(),
            path: "version".into(),
            reason: "not a document version".into(),
        })
    }

    /// Every row decoded as `T`, with its record id.
    pub fn records<T: DeserializeOwned>(&self) -> Result<Vec<(String, T)>> {
        self.rows
            .iter()
            .map(|row| Ok((row.record.clone(), row.decode()?)))
            .collect()
    }

    /// The single row decoded as `T`, if there is one.
    pub fn first<T: DeserializeOwned>(&self) -> Result<Option<T>> {
        self.rows.first().map(ViewRow::decode).transpose()
    }

    /// The single row decoded as `T`; [`Error::NoSuchEntry`] naming `what` if there is none
    /// (a record asked for by an id the document does not have).
    pub fn single<T: DeserializeOwned>(&self, what: &'static str) -> Result<T> {
        self.first()?.ok_or_else(|| Error::NoSuchEntry {
            kind: what,
            id: self
                .rows
                .first()
                .map(|r| r.record.clone())
                .unwrap_or_default(),
        })
    }
}

/// A change to one document's rows, committed with the change to the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewChange {
    /// The document.
    pub doc: DocId,
    /// Its version after the change (text form of [`Version`]).
    pub version: String,
    /// Rows to insert or replace.
    pub rows: Vec<ViewRow>,
    /// Rows to remove, by kind and record id.
    pub removed: Vec<(RowKind, String)>,
    /// Whether `rows` are all of the document's rows (every other row is removed).
    pub whole: bool,
}

/// The line shown for a visit note in a list: enough to pick a note without loading it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct VisitSummary {
    /// When the visit happened.
    pub visited_at: Option<DateTime<Utc>>,
    /// Who wrote the note (the user whose change created it), when known.
    pub author: Option<UserId>,
    /// Where the note stands in review.
    pub status: ReviewStatus,
    /// Whether an interpreter took part.
    pub interpreter: bool,
    /// How the interpreter took part.
    pub interpreter_mode: InterpreterMode,
    /// Where the visit was.
    pub place: String,
    /// The first [`EXCERPT_CHARS`] characters of the observations (or, when there are none,
    /// of the child's wishes and feelings).
    pub excerpt: String,
    /// How many agreed actions the note has.
    pub actions: u32,
    /// How many of them are done.
    pub actions_done: u32,
}

/// A missing episode's row: the whole episode (its fields at the top level, so the row also
/// decodes as a [`MissingEpisode`]) and what a list shows without computing it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct EpisodeRow {
    /// The episode (category, times, who was told, the return interview).
    #[serde(flatten)]
    pub episode: MissingEpisode,
    /// Whether the child is still missing.
    pub open: bool,
    /// When the return interview is due (72 hours after the return; `None` while missing).
    /// Whether it is overdue depends on the time it is read: see
    /// [`MissingEpisode::return_interview_overdue`].
    pub return_interview_due: Option<DateTime<Utc>>,
}

impl From<MissingEpisode> for EpisodeRow {
    fn from(episode: MissingEpisode) -> Self {
        EpisodeRow {
            open: episode.is_open(),
            return_interview_due: episode.return_interview_due(),
            episode,
        }
    }
}
