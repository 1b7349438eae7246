//! Casebook's shared core: each child's case as five automerge CRDT documents, kept in an
//! encrypted local store, usable fully offline, merged without loss, and synced.
//!
//! The parts, from the inside out:
//! - [`doc`] and [`model`]: the case documents and their typed records. Edits take an
//!   [`doc::Edit`] (who and when: the caller's clock); new entries take fresh ids from the
//!   caller's randomness. Concurrent writes of one field surface as [`doc::Conflict`]s.
//! - [`store`]: the [`store::Store`] trait, with [`store::SqliteStore`] (SQLCipher, a raw
//!   32-byte key from the platform keystore) and [`store::MemoryStore`].
//! - [`repo`]: a device's cases over a store; every edit is durable when the call returns.
//! - [`sync`]: the wire protocol and the device's side of a sync session, with no I/O.
//! - [`client`]: enrolment, authenticated sessions and HTTPS (pinned certificate) transport.
//!
//! Recording a visit on a phone with no signal:
//!
//! ```
//! use casebook_core::doc::{Author, DocId, DocKind, Edit};
//! use casebook_core::ids::{DeviceId, EntryId, UserId};
//! use casebook_core::model::{Interpreter, InterpreterMode, Profile, VisitNote};
//! use casebook_core::repo::Repo;
//! use casebook_core::store::MemoryStore;
//!
//! # fn main() -> casebook_core::Result<()> {
//! let mut rng = rand::thread_rng();
//! let me = Author { user: UserId::random(&mut rng), device: DeviceId::random(&mut rng) };
//! let now = chrono::Utc::now();
//! // On a phone: SqliteStore::open(path, StoreKey::from_vec(key_from_keystore)?)
//! let mut repo = Repo::new(MemoryStore::new());
//!
//! let profile = Profile { case_reference: "HUL-2026-0142".into(), ..Profile::default() };
//! let case = repo.create_case(&Edit::new(me, now), &mut rng, &profile)?;
//!
//! let note = VisitNote {
//!     wishes_and_feelings: "I want to stay at my school.".into(),
//!     interpreter: Interpreter { mode: InterpreterMode::Telephone, ..Interpreter::default() },
//!     ..VisitNote::default()
//! };
//! let id = EntryId::random(&mut rng);
//! repo.edit(DocId::new(case, DocKind::Visits), now, |doc| {
//!     doc.add_visit_note(&Edit::new(me, now), id, &note)
//! })?;
//!
//! let saved = repo.read(DocId::new(case, DocKind::Visits), |doc| doc.visit_note(id))?;
//! assert_eq!(saved.wishes_and_feelings, "I want to stay at my school.");
//! assert_eq!(repo.cases()?.len(), 1);
//! # Ok(())
//! # }
//! ```

pub mod alert;
pub mod client;
pub mod doc;
pub mod error;
pub mod ids;
pub mod model;
pub mod names;
pub mod repo;
pub mod store;
pub mod sync;
pub mod view;

pub use error::{Error, Result};
