//! Automerge documents of a case: identifiers, authorship, the generic record codec,
//! conflicts, history, and saves of records read at an older version.

mod author;
mod case_doc;
pub mod chunk_guard;
mod codec;
mod column_rows;
pub mod columns;
mod conflicts;
mod kind;
mod stale;
mod version;

pub use author::{Author, ChangeRecord, Edit};
pub use case_doc::{CaseDoc, Record};
pub(crate) use case_doc::{CheckedChanges, to_fields, validate_chunk};
pub(crate) use codec::read as read_object;
pub(crate) use codec::scalar_to_json;
pub(crate) use codec::{create_map, update_map};
pub use conflicts::{Conflict, ConflictValue, Resolution};
pub use kind::{DocId, DocKind, ParseDocIdError};
pub use version::{ParseVersionError, Version};
