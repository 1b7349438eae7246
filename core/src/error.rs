//! The core's error type.

use crate::ids::ParseIdError;

/// Everything that can go wrong in the core. Messages never contain case content: they end up
/// in logs and crash reports.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The store's key does not open this database. The file was left untouched.
    #[error("the key does not open this store")]
    WrongKey,
    /// The SQLite library linked into this build cannot encrypt (it is not SQLCipher), so the
    /// store refuses to open rather than write case data in plaintext.
    #[error("the storage engine cannot encrypt; refusing to open the store")]
    EncryptionUnavailable,
    /// The key is not 32 bytes.
    #[error("a store key must be 32 bytes, got {0}")]
    BadKeyLength(usize),
    /// The store was written by a newer version of Casebook.
    #[error("store schema version {found} is newer than this build supports ({supported})")]
    SchemaTooNew {
        /// Version found in the file.
        found: i64,
        /// Newest version this build knows.
        supported: i64,
    },
    /// A storage (SQLite/SQLCipher) failure.
    #[error("storage error: {0}")]
    Storage(#[from] rusqlite::Error),
    /// Automerge bytes (from storage or from a peer) that do not decode, or an automerge
    /// operation that failed.
    #[error("document error: {0}")]
    Document(#[from] automerge::AutomergeError),
    /// An automerge sync message that does not decode.
    #[error("sync message does not decode: {0}")]
    SyncMessage(#[from] automerge::sync::ReadMessageError),
    /// Automerge bytes refused before automerge parsed them (a decompression bomb, an unknown
    /// chunk type, or lengths that lie); see [`crate::doc::chunk_guard`].
    #[error("automerge bytes refused: {0}")]
    Chunk(#[from] ChunkError),
    /// A sync wire format 2 frame that does not decode ([`crate::sync::frame`]).
    #[error("sync frame refused: {0}")]
    Frame(#[from] FrameError),
    /// A persisted sync state that does not decode.
    #[error("sync state does not decode: {0}")]
    SyncState(#[from] automerge::sync::DecodeStateError),
    /// A document's content does not have the shape Casebook writes.
    #[error("document {doc} is malformed at {path}: {reason}")]
    Malformed {
        /// Which document.
        doc: String,
        /// Where in it.
        path: String,
        /// What was wrong (never the content itself).
        reason: String,
    },
    /// A request named a case the store does not hold.
    #[error("no such case: {0}")]
    NoSuchCase(String),
    /// This device does not hold the document (never shared with its user, or purged).
    #[error("document not held on this device: {0}")]
    NotHeld(String),
    /// A request named an entry (note, step, episode, person) the document does not hold.
    #[error("no such {kind}: {id}")]
    NoSuchEntry {
        /// What was looked for.
        kind: &'static str,
        /// The identifier asked for.
        id: String,
    },
    /// A caller-supplied value was rejected.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// Which field.
        field: String,
        /// Why.
        reason: String,
    },
    /// An identifier did not parse.
    #[error(transparent)]
    Id(#[from] ParseIdError),
    /// No conflict is open at the path given.
    #[error("no open conflict at {0}")]
    NoSuchConflict(String),
    /// A wire message could not be decoded.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// This device has been revoked; its local store has been wiped.
    #[error("this device has been revoked")]
    DeviceRevoked,
    /// The server did not accept the device's credentials.
    #[error("the server did not accept this device's credentials")]
    Unauthenticated,
    /// The server refused an action for this user.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The device is not enrolled with a server.
    #[error("this device is not enrolled")]
    NotEnrolled,
    /// The server could not be reached.
    #[error("network error: {0}")]
    Network(String),
    /// The server's TLS certificate is not the pinned one (or not from the configured CA).
    #[error("the server's certificate is not trusted")]
    UntrustedServer,
    /// The server answered with an error.
    #[error("server error {status} ({code}): {message}")]
    Server {
        /// HTTP status.
        status: u16,
        /// Stable error code.
        code: String,
        /// Human-readable message.
        message: String,
    },
    /// The operation was cancelled; nothing received so far is lost.
    #[error("cancelled")]
    Cancelled,
    /// The local data is locked because the device has not checked in with the server for
    /// too long.
    #[error("local data is locked until this device checks in with the server")]
    Locked,
    /// A change the writer's role may not make (the write rules per record); nothing was
    /// written.
    #[error("not permitted: {record}: {reason}")]
    NotPermitted {
        /// The record refused (kind and entry id, never content).
        record: String,
        /// Why.
        reason: String,
    },
    /// The device key could not sign: the app's signer failed, was not supplied, or holds
    /// another key. Nothing was sent.
    #[error("the device key could not sign: {0}")]
    Signer(String),
    /// One document's sync message alone is larger than a sync request may be
    /// ([`crate::sync::wire::SYNC_REQUEST_BUDGET_BYTES`]): it cannot be sent. The other
    /// documents still sync; this one keeps its local edits and stays unsynced.
    #[error(
        "document {doc} has {bytes} bytes of changes to send, more than one sync request may carry"
    )]
    DocumentTooLarge {
        /// Which document (its id, never content).
        doc: String,
        /// The encoded size of its message.
        bytes: usize,
    },
}

/// Why [`crate::doc::chunk_guard`] refused automerge bytes. Never carries the bytes themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChunkError {
    /// A chunk does not start with automerge's magic bytes.
    #[error("not an automerge chunk")]
    BadMagic,
    /// A chunk type this build does not accept (only document, change and compressed change).
    #[error("chunk type {0} is not accepted")]
    UnknownChunkType(u8),
    /// A declared length or count runs past the bytes present.
    #[error("a declared length runs past the bytes present")]
    Truncated,
    /// Bytes left over where the format says the data ends.
    #[error("bytes left over after the declared data")]
    Trailing,
    /// Compressed data would inflate past the limit (a decompression bomb).
    #[error("compressed data inflates past {limit} bytes")]
    InflateLimit {
        /// The limit, in inflated bytes.
        limit: usize,
    },
    /// Compressed data that is not a valid DEFLATE stream.
    #[error("compressed data does not inflate")]
    BadDeflate,
    /// A document's change column declares more rows than a document may have changes.
    #[error("a change column declares more than {limit} rows")]
    TooManyRows {
        /// The limit, in rows.
        limit: u64,
    },
    /// An actor column names an actor the document does not list.
    #[error("an op names actor {index} of {actors}")]
    UnknownActor {
        /// The index named.
        index: u64,
        /// The actors the document lists.
        actors: u64,
    },
    /// A sync message's Bloom filter with no bits, no probes or too many.
    #[error("a sync message's Bloom filter is malformed")]
    BadBloomFilter,
    /// The first byte is not an automerge sync message type.
    #[error("not an automerge sync message")]
    NotSyncMessage,
}

impl ChunkError {
    /// A short stable name for logs and audit rows.
    pub fn reason(&self) -> &'static str {
        match self {
            ChunkError::BadMagic => "chunk_bad_magic",
            ChunkError::UnknownChunkType(_) => "chunk_unknown_type",
            ChunkError::Truncated => "chunk_truncated",
            ChunkError::Trailing => "chunk_trailing_bytes",
            ChunkError::InflateLimit { .. } => "inflate_limit",
            ChunkError::BadDeflate => "chunk_bad_deflate",
            ChunkError::TooManyRows { .. } => "chunk_too_many_rows",
            ChunkError::UnknownActor { .. } => "chunk_unknown_actor",
            ChunkError::BadBloomFilter => "sync_bad_bloom_filter",
            ChunkError::NotSyncMessage => "not_sync_message",
        }
    }
}

/// Why a sync wire format 2 frame ([`crate::sync::frame`]) was refused. Never carries the
/// frame's bytes or any value from its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The body does not start with the frame's magic bytes `CBSY`.
    #[error("not a sync frame: the body must start with the bytes CBSY")]
    BadMagic,
    /// The frame's format byte names a wire format this build does not speak.
    #[error("sync wire format {0} is not supported (this build speaks 2)")]
    UnsupportedFormat(u8),
    /// A request where a response was expected, or the other way round, or an unknown kind.
    #[error("sync frame kind {found} where {expected} was expected")]
    WrongKind {
        /// The kind byte found.
        found: u8,
        /// The kind byte expected.
        expected: u8,
    },
    /// The frame ends inside its fixed prefix or its header.
    #[error("sync frame truncated in its {0}")]
    Truncated(&'static str),
    /// The header is not the JSON the format expects for this kind.
    #[error("sync frame header is not a valid {0} header")]
    Header(&'static str),
    /// The payload lengths the header declares do not add up to the bytes after it.
    #[error("sync frame payload lengths declare {declared} bytes, {present} are present")]
    PayloadLength {
        /// Bytes the header declares (saturated at `u64::MAX`).
        declared: u64,
        /// Bytes after the header.
        present: u64,
    },
}

/// The core's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidInput {
            field: field.into(),
            reason: reason.into(),
        }
    }
}
