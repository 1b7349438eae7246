//! A walk over automerge's binary chunks that bounds them before automerge parses them:
//! automerge 0.12 inflates compressed chunks and deflated document columns with no limit, so a
//! few kilobytes from a peer can ask it for gigabytes (`docs/automerge-unbounded-inflate.md`).
//!
//! The walk reads the chunk framing of automerge's storage format (magic bytes, checksum,
//! chunk type, LEB128 length), refuses chunk types Casebook never sends (bundles and unknown
//! types), checks every declared length and count against the bytes present, and inflates
//! compressed data through a reader that stops one byte past the limit, discarding the output.
//! It keeps nothing and allocates nothing in proportion to the inflated size. It does not
//! verify checksums or the operations themselves: automerge does that afterwards.
//!
//! ```
//! use automerge::{AutoCommit, ReadDoc, transaction::Transactable};
//! use casebook_core::doc::chunk_guard;
//!
//! let mut doc = AutoCommit::new();
//! doc.put(automerge::ROOT, "note", "x".repeat(10_000))?;
//! chunk_guard::check_document(&doc.save())?;
//! assert!(chunk_guard::check_document(b"not automerge").is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::io::Read;

use crate::error::ChunkError;
use crate::sync::wire::{MAX_DOC_BYTES, MAX_SYNC_REQUEST_BYTES};

/// The most one document or one sync message may inflate to, counting every compressed chunk
/// and deflated column in it: four times the largest compacted document a server stores.
pub const MAX_INFLATED_BYTES: usize = 4 * MAX_DOC_BYTES;

/// The most all the messages of one sync request may inflate to together.
pub const MAX_REQUEST_INFLATED_BYTES: usize = 4 * MAX_SYNC_REQUEST_BYTES;

/// automerge's chunk magic bytes (`storage.rs`, `MAGIC_BYTES`).
const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
const CHUNK_DOCUMENT: u8 = 0;
const CHUNK_CHANGE: u8 = 1;
const CHUNK_COMPRESSED: u8 = 2;
/// Sync message type bytes (`sync.rs`, `MESSAGE_TYPE_SYNC` and `_V2`).
const MESSAGE_V1: u8 = 0x42;
const MESSAGE_V2: u8 = 0x43;
/// The deflate bit of a column specification (`column_specification.rs`).
const COLUMN_DEFLATE: u64 = 0b1000;
const HASH_BYTES: usize = 32;

type Result<T> = std::result::Result<T, ChunkError>;

/// What a walk found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Walk {
    /// Chunks walked.
    pub chunks: usize,
    /// Bytes the compressed parts inflate to.
    pub inflated: usize,
}

/// A budget of inflated bytes shared by several inputs (the messages of one request), each of
/// which is also held to [`MAX_INFLATED_BYTES`].
#[derive(Debug, Clone)]
pub struct ChunkGuard {
    per_input: usize,
    left: usize,
}

impl Default for ChunkGuard {
    fn default() -> Self {
        Self::new(MAX_INFLATED_BYTES, MAX_REQUEST_INFLATED_BYTES)
    }
}

impl ChunkGuard {
    /// A guard allowing `per_input` inflated bytes for each input and `total` for all.
    pub fn new(per_input: usize, total: usize) -> Self {
        Self {
            per_input,
            left: total,
        }
    }

    /// Inflated bytes still allowed.
    pub fn left(&self) -> usize {
        self.left
    }

    /// Walk a saved document or bytes for `load_incremental`: a sequence of whole chunks.
    pub fn check_document(&mut self, bytes: &[u8]) -> Result<Walk> {
        self.run(|w| w.chunks(bytes))
    }

    /// Walk an encoded `automerge::sync::Message` and every chunk among its changes.
    pub fn check_sync_message(&mut self, bytes: &[u8]) -> Result<Walk> {
        self.run(|w| w.message(bytes))
    }

    fn run(&mut self, f: impl FnOnce(&mut Walker) -> Result<()>) -> Result<Walk> {
        let limit = self.per_input.min(self.left);
        let mut walker = Walker {
            limit,
            walk: Walk::default(),
        };
        f(&mut walker)?;
        self.left -= walker.walk.inflated;
        Ok(walker.walk)
    }
}

/// Walk a saved document (or `load_incremental` bytes) with the default per-input limit.
pub fn check_document(bytes: &[u8]) -> Result<Walk> {
    ChunkGuard::default().check_document(bytes)
}

/// Walk an encoded sync message with the default per-input limit.
pub fn check_sync_message(bytes: &[u8]) -> Result<Walk> {
    ChunkGuard::default().check_sync_message(bytes)
}

struct Walker {
    limit: usize,
    walk: Walk,
}

impl Walker {
    /// `heads`, `need`, `have`, the change list, then optional flags (`sync.rs`,
    /// `Message::parse`).
    fn message(&mut self, bytes: &[u8]) -> Result<()> {
        let mut r = bytes;
        match take1(&mut r)? {
            MESSAGE_V1 | MESSAGE_V2 => {}
            _ => return Err(ChunkError::NotSyncMessage),
        }
        hashes(&mut r)?; // heads
        hashes(&mut r)?; // need
        let haves = uleb(&mut r)?;
        for _ in 0..haves {
            hashes(&mut r)?; // last_sync
            let bloom = len(&mut r)?;
            take(&mut r, bloom)?;
        }
        let changes = uleb(&mut r)?;
        for _ in 0..changes {
            let n = len(&mut r)?;
            // automerge joins the entries and parses the result; each entry Casebook accepts
            // holds whole chunks.
            self.chunks(take(&mut r, n)?)?;
        }
        if !r.is_empty() {
            let flags = len(&mut r)?;
            take(&mut r, flags)?;
        }
        end(r)
    }

    /// One or more whole chunks back to back.
    fn chunks(&mut self, bytes: &[u8]) -> Result<()> {
        let mut r = bytes;
        if r.is_empty() {
            return Err(ChunkError::Truncated);
        }
        while !r.is_empty() {
            self.chunk(&mut r)?;
        }
        Ok(())
    }

    /// Magic bytes, checksum, type, LEB128 length, data (`chunk.rs`, `Header::parse`).
    fn chunk(&mut self, r: &mut &[u8]) -> Result<()> {
        if take(r, MAGIC.len())? != MAGIC {
            return Err(ChunkError::BadMagic);
        }
        take(r, 4)?; // checksum: automerge verifies it
        let kind = take1(r)?;
        let n = len(r)?;
        let data = take(r, n)?;
        self.walk.chunks += 1;
        match kind {
            CHUNK_DOCUMENT => self.document(data),
            // A change's columns are never deflated: automerge refuses them
            // (`ParseError::CompressedChangeCols`), so its length is all there is to check.
            CHUNK_CHANGE => Ok(()),
            CHUNK_COMPRESSED => self.inflate(data),
            // Bundles (3) are experimental in automerge 0.12 and Casebook never writes them.
            other => Err(ChunkError::UnknownChunkType(other)),
        }
    }

    /// Actors, heads, change and op column metadata, the column data, then the head indices
    /// (`storage/document.rs`, `Document::parse`). Deflated columns are inflated, bounded.
    fn document(&mut self, data: &[u8]) -> Result<()> {
        let mut r = data;
        let actors = uleb(&mut r)?;
        for _ in 0..actors {
            let n = len(&mut r)?;
            take(&mut r, n)?;
        }
        let heads = hashes(&mut r)?;
        let change_meta = columns_meta(&mut r)?;
        let op_meta = columns_meta(&mut r)?;
        for meta in [change_meta, op_meta] {
            let mut m = meta;
            let count = uleb(&mut m)?;
            for _ in 0..count {
                let spec = uleb(&mut m)?;
                let n = usize::try_from(uleb(&mut m)?).map_err(|_| ChunkError::Truncated)?;
                let column = take(&mut r, n)?;
                if spec & COLUMN_DEFLATE != 0 {
                    self.inflate(column)?;
                }
            }
        }
        if !r.is_empty() {
            for _ in 0..heads {
                uleb(&mut r)?;
            }
        }
        end(r)
    }

    /// Inflate through a reader that stops one byte past what is left of the limit.
    fn inflate(&mut self, compressed: &[u8]) -> Result<()> {
        let room = self.limit.saturating_sub(self.walk.inflated);
        let cap = u64::try_from(room).unwrap_or(u64::MAX).saturating_add(1);
        let mut bounded = flate2::bufread::DeflateDecoder::new(compressed).take(cap);
        let inflated = std::io::copy(&mut bounded, &mut std::io::sink())
            .map_err(|_| ChunkError::BadDeflate)?;
        let inflated = usize::try_from(inflated).unwrap_or(usize::MAX);
        if inflated > room {
            return Err(ChunkError::InflateLimit { limit: self.limit });
        }
        self.walk.inflated += inflated;
        Ok(())
    }
}

fn take<'a>(r: &mut &'a [u8], n: usize) -> Result<&'a [u8]> {
    if n > r.len() {
        return Err(ChunkError::Truncated);
    }
    let (head, tail) = r.split_at(n);
    *r = tail;
    Ok(head)
}

fn take1(r: &mut &[u8]) -> Result<u8> {
    Ok(take(r, 1)?[0])
}

fn uleb(r: &mut &[u8]) -> Result<u64> {
    leb128::read::unsigned(r).map_err(|e| match e {
        leb128::read::Error::IoError(_) => ChunkError::Truncated,
        leb128::read::Error::Overflow => ChunkError::Truncated,
    })
}

/// A LEB128 length, refused if it exceeds the bytes left (so no count drives a loop or an
/// allocation past the input).
fn len(r: &mut &[u8]) -> Result<usize> {
    let n = usize::try_from(uleb(r)?).map_err(|_| ChunkError::Truncated)?;
    if n > r.len() {
        return Err(ChunkError::Truncated);
    }
    Ok(n)
}

/// A count of change hashes and the hashes; returns the count.
fn hashes(r: &mut &[u8]) -> Result<u64> {
    let count = uleb(r)?;
    let bytes = usize::try_from(count)
        .ok()
        .and_then(|c| c.checked_mul(HASH_BYTES))
        .ok_or(ChunkError::Truncated)?;
    take(r, bytes)?;
    Ok(count)
}

/// Column metadata (a count, then specification and length pairs): checked to parse, and
/// returned as its bytes to be read again beside the column data, so nothing is allocated.
fn columns_meta<'a>(r: &mut &'a [u8]) -> Result<&'a [u8]> {
    let start = *r;
    let count = uleb(r)?;
    for _ in 0..count {
        uleb(r)?;
        uleb(r)?;
    }
    Ok(&start[..start.len() - r.len()])
}

fn end(r: &[u8]) -> Result<()> {
    if r.is_empty() {
        Ok(())
    } else {
        Err(ChunkError::Trailing)
    }
}

#[cfg(test)]
#[path = "chunk_guard_tests.rs"]
mod tests;
