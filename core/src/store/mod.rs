//! The local store: where a device keeps its documents, sync states and small settings.
//! It sits behind the [`Store`] trait, with an encrypted SQLite implementation
//! ([`SqliteStore`]) and an in-memory one ([`MemoryStore`]), both checked by one shared suite.
//!
//! A document is kept as a compacted automerge save plus the incremental chunks appended since;
//! every local edit appends one chunk durably, and the repository compacts once enough chunks
//! have piled up.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::alert::{Alert, StoredAlert};
use crate::doc::DocId;
use crate::error::Result;
use crate::ids::{AlertId, CaseId};
use crate::model::PhotoRef;
use crate::view::{DocView, RowKind, ViewChange};

mod attachments;
mod cipher;
mod key;
mod memory;
mod schema;
mod sqlite;
mod sqlite_alerts;
#[cfg(test)]
mod suite;

pub use cipher::MemorySecurity;
pub use key::StoreKey;

/// Open any SQLCipher database of Casebook's (the server uses this for its own) with the same
/// key handling as [`SqliteStore`]: a raw 32-byte key, proven right before anything can write
/// to the file ([`Error::WrongKey`](crate::Error::WrongKey) otherwise, files untouched), WAL,
/// `synchronous=FULL`, `secure_delete`, no temporary files. The schema is the caller's.
///
/// Unlike a device's store it does not turn on SQLCipher's memory security (wiped and
/// `mlock`ed allocations, [`MemorySecurity`]): a server's concurrent requests queue behind
/// every `mlock`. A process that also opens a device's store has it on for both.
pub fn open_encrypted(path: &std::path::Path, key: StoreKey) -> Result<rusqlite::Connection> {
    cipher::open(path, key, MemorySecurity::Unchanged)
}

/// A read-only connection to a database already opened with [`open_encrypted`] and `key`.
pub fn open_encrypted_reader(
    path: &std::path::Path,
    key: &StoreKey,
) -> Result<rusqlite::Connection> {
    cipher::open_reader(path, key, MemorySecurity::Unchanged)
}
/// Copy the database of `conn` (opened with [`open_encrypted`]) into a new file at `to`,
/// encrypted under `key`: schema, rows and `user_version` (SQLCipher's `sqlcipher_export`).
/// The server's `rotate-key` changes its database key this way. `to` must not exist.
pub fn export_encrypted(
    conn: &rusqlite::Connection,
    to: &std::path::Path,
    key: &StoreKey,
) -> Result<()> {
    cipher::export(conn, to, key)
}
pub use memory::MemoryStore;
pub use sqlite::SqliteStore;

/// What is stored of one document.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredDoc {
    /// The last compacted save, if the document was ever compacted.
    pub snapshot: Option<Vec<u8>>,
    /// Incremental chunks appended after the snapshot, in order.
    pub chunks: Vec<Vec<u8>>,
    /// Sequence number of the last chunk ever appended (0 when there was none); pass it to
    /// [`WriteOp::Compact`] to drop exactly the chunks folded into a new snapshot. Numbers
    /// start at 1 and are never reused, so after a compaction this may name a chunk that is
    /// no longer listed.
    pub last_chunk: u64,
}

/// The line shown for a case in the case list, kept so listing never loads a document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseSummary {
    /// The case.
    pub case: CaseId,
    /// The local authority's case reference.
    pub reference: String,
    /// The name the child is known by.
    pub display_name: String,
    /// When anything in the case last changed on this device.
    pub updated_at: DateTime<Utc>,
}

/// One write; [`Store::apply`] commits a batch of them atomically and durably.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WriteOp {
    /// Append an incremental automerge chunk to a document (creating it if new).
    /// `local` marks an edit made on this device, which makes the document dirty until
    /// [`WriteOp::MarkSynced`] covers it.
    AppendChunk {
        /// The document.
        doc: DocId,
        /// Bytes from `save_incremental` or a peer's changes.
        bytes: Vec<u8>,
        /// Whether this device made the change.
        local: bool,
    },
    /// Replace a document's snapshot and drop its chunks numbered `upto` and below; chunks
    /// appended since keep their numbers. Creates the document if new (with `upto` 0).
    /// Fails the batch if `upto` is beyond the document's last chunk.
    Compact {
        /// The document.
        doc: DocId,
        /// A full automerge save.
        snapshot: Vec<u8>,
        /// The last chunk folded into the snapshot.
        upto: u64,
    },
    /// Record that local chunks up to `upto` have reached the server. The mark never moves
    /// back; an unknown document with `upto` 0 is ignored. Fails the batch if `upto` is
    /// beyond the document's last chunk.
    MarkSynced {
        /// The document.
        doc: DocId,
        /// The last chunk sequence the server has.
        upto: u64,
    },
    /// Remove a document, its chunks, its sync states and its view rows (access ended,
    /// purge). A later
    /// append starts a new document, numbered from 1.
    RemoveDoc(DocId),
    /// Insert or replace a case's summary line.
    PutSummary(CaseSummary),
    /// Remove a case's summary line.
    RemoveSummary(CaseId),
    /// Store the automerge sync state of a document with a peer.
    PutSyncState {
        /// The peer (the server's identity).
        peer: String,
        /// The document.
        doc: DocId,
        /// `automerge::sync::State::encode()` output.
        state: Vec<u8>,
    },
    /// Change a document's view rows (see [`crate::view`]) and record the version they show.
    /// [`WriteOp::RemoveDoc`] and [`Store::wipe`] drop a document's rows with it.
    PutView(ViewChange),
    /// Store an attachment (an image referred to by a document). Replaces one with the same
    /// id.
    PutAttachment(Attachment),
    /// Record that an attachment has reached the server.
    MarkAttachmentUploaded(String),
    /// Record the attachment `doc` refers to now (`None`: none), and delete every attachment
    /// of `doc` it does not name: a replaced photo leaves no copy. [`WriteOp::RemoveDoc`] and
    /// [`Store::wipe`] drop a document's attachments and reference with it.
    SetAttachmentRef {
        /// The document.
        doc: DocId,
        /// Its current reference.
        reference: Option<PhotoRef>,
    },
    /// Set a small named setting (cursor, last check-in, device identity).
    PutMeta {
        /// The setting's name.
        key: String,
        /// Its value.
        value: Vec<u8>,
    },
    /// Insert or update an alert as the server sent it. An acknowledgement made here and not
    /// yet sent is kept, unless the server's record is acknowledged.
    PutAlert(Alert),
    /// This device's user acknowledged an alert at `at` (device clock, Unix seconds): kept
    /// until sent. Nothing changes if it is acknowledged already; fails the batch with
    /// [`Error::NoSuchEntry`](crate::Error::NoSuchEntry) for an alert not stored.
    AcknowledgeAlert {
        /// The alert.
        id: AlertId,
        /// When.
        at: i64,
    },
    /// The acknowledgement of an alert reached the server: forget the pending one.
    AcknowledgementSent(AlertId),
    /// Remove every alert about a case (its `safety` document was purged).
    RemoveAlerts(CaseId),
}

/// An image kept beside a document (see [`WriteOp::PutAttachment`]).
#[derive(Clone, PartialEq, Eq)]
pub struct Attachment {
    /// Its id (32 lowercase hex characters).
    pub id: String,
    /// The document that refers to it.
    pub doc: DocId,
    /// `image/png` or `image/jpeg`.
    pub media_type: String,
    /// SHA-256 of `bytes`, lowercase hex.
    pub sha256: String,
    /// The image.
    pub bytes: Vec<u8>,
    /// Whether it still has to be uploaded to the server.
    pub pending_upload: bool,
}

impl std::fmt::Debug for Attachment {
    // The image is case data: never in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attachment")
            .field("id", &self.id)
            .field("doc", &self.doc)
            .field("bytes", &self.bytes.len())
            .field("pending_upload", &self.pending_upload)
            .finish_non_exhaustive()
    }
}

/// A document whose local edits have not all reached the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirtyDoc {
    /// The document.
    pub doc: DocId,
    /// The last local chunk; mark this synced once the server has it.
    pub last_local_chunk: u64,
}

/// A device's local store of documents. Reads take `&self`; writes are batched through
/// [`Store::apply`], which commits all of its operations or none.
pub trait Store: Send {
    /// What is stored of `doc`, or `None` if nothing is.
    fn load(&self, doc: &DocId) -> Result<Option<StoredDoc>>;
    /// Whether anything is stored of `doc` (as `load` would say, without reading its bytes).
    fn holds(&self, doc: &DocId) -> Result<bool>;
    /// Every stored document.
    fn docs(&self) -> Result<Vec<DocId>>;
    /// Documents with local edits not yet marked synced.
    fn dirty(&self) -> Result<Vec<DirtyDoc>>;
    /// Every case summary, ordered by reference.
    fn cases(&self) -> Result<Vec<CaseSummary>>;
    /// One case's summary.
    fn case(&self, case: &CaseId) -> Result<Option<CaseSummary>> {
        Ok(self.cases()?.into_iter().find(|c| c.case == *case))
    }
    /// The sync state stored for `doc` with `peer`.
    fn sync_state(&self, peer: &str, doc: &DocId) -> Result<Option<Vec<u8>>>;
    /// The view rows of `doc` of `kind` (only the one of `record`, if given), ordered by
    /// record id, with the version they show; `None` if no rows are kept for `doc`.
    fn view(&self, doc: &DocId, kind: RowKind, record: Option<&str>) -> Result<Option<DocView>>;
    /// The version of `doc` its view rows show, if rows are kept for it.
    fn view_version(&self, doc: &DocId) -> Result<Option<String>>;
    /// A named setting.
    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>>;
    /// The attachment `id`, if held.
    fn attachment(&self, id: &str) -> Result<Option<Attachment>>;
    /// The attachment `doc` refers to now, as last recorded with
    /// [`WriteOp::SetAttachmentRef`].
    fn attachment_ref(&self, doc: &DocId) -> Result<Option<PhotoRef>>;
    /// Attachments still to be uploaded: (document, attachment id), ordered by id.
    fn pending_uploads(&self) -> Result<Vec<(DocId, String)>>;
    /// References whose attachment is not held, ordered by document.
    fn missing_attachments(&self) -> Result<Vec<(DocId, PhotoRef)>>;
    /// Every alert stored, in no particular order (see [`crate::alert::sort_for_listing`]).
    fn alerts(&self) -> Result<Vec<StoredAlert>>;
    /// Commit `ops` atomically and durably: after this returns, a crash loses none of them;
    /// if it fails, none of them happened.
    fn apply(&mut self, ops: Vec<WriteOp>) -> Result<()>;
    /// Erase everything (remote wipe). The store stays usable and empty.
    fn wipe(&mut self) -> Result<()>;
}
