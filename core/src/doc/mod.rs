//! Automerge documents of a case: identifiers, authorship, conflicts and the generic
//! record codec the typed models are built on.

mod kind;

pub use kind::{DocId, DocKind, ParseDocIdError};
