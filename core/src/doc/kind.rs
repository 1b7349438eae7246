//! Which document of a case: a case is split into five automerge documents by audience,
//! because a CRDT history cannot be partly shared.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ids::{CaseId, ParseIdError};

/// The five documents of a case, each shared with its own audience.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocKind {
    /// Who the child is: names, age, languages, legal status, NRM, plans.
    Profile,
    /// Where the child lives: the most sensitive document.
    Location,
    /// Visit notes, with interpreters and the child's own words.
    Visits,
    /// Protection plan steps, carers' safety checks and missing-from-care episodes.
    Safety,
    /// Persons of concern: suspected traffickers and their contacts.
    Associates,
}

impl DocKind {
    /// Every kind, in a fixed order.
    pub const ALL: [DocKind; 5] = [
        DocKind::Profile,
        DocKind::Location,
        DocKind::Visits,
        DocKind::Safety,
        DocKind::Associates,
    ];

    /// The stable wire and storage name.
    pub const fn as_str(self) -> &'static str {
        match self {
            DocKind::Profile => "profile",
            DocKind::Location => "location",
            DocKind::Visits => "visits",
            DocKind::Safety => "safety",
            DocKind::Associates => "associates",
        }
    }
}

impl fmt::Display for DocKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a string is not a document kind or document id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseDocIdError {
    /// The kind part is not one of the five kinds.
    #[error("unknown document kind")]
    UnknownKind,
    /// The string is not `<case>/<kind>`.
    #[error("a document id has the form <case>/<kind>")]
    Shape,
    /// The case part did not parse.
    #[error(transparent)]
    Case(#[from] ParseIdError),
}

impl FromStr for DocKind {
    type Err = ParseDocIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DocKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or(ParseDocIdError::UnknownKind)
    }
}

/// One document: a case and a kind. Printed `<case>/<kind>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DocId {
    /// The child's case.
    pub case: CaseId,
    /// Which of its documents.
    pub kind: DocKind,
}

impl DocId {
    /// The document of `kind` in `case`.
    pub const fn new(case: CaseId, kind: DocKind) -> Self {
        Self { case, kind }
    }
}

impl fmt::Display for DocId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.case, self.kind)
    }
}

impl FromStr for DocId {
    type Err = ParseDocIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (case, kind) = s.split_once('/').ok_or(ParseDocIdError::Shape)?;
        Ok(DocId::new(case.parse()?, kind.parse()?))
    }
}

impl TryFrom<String> for DocId {
    type Error = ParseDocIdError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<DocId> for String {
    fn from(id: DocId) -> String {
        id.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doc_id_round_trips_and_rejects_garbage() {
        let id = DocId::new(CaseId::from_bytes([7; 16]), DocKind::Safety);
        assert_eq!(id.to_string().parse::<DocId>(), Ok(id));
        assert_eq!("x".parse::<DocId>(), Err(ParseDocIdError::Shape));
        let bad_kind = format!("{}/secrets", CaseId::from_bytes([1; 16]));
        assert_eq!(bad_kind.parse::<DocId>(), Err(ParseDocIdError::UnknownKind));
    }
}
