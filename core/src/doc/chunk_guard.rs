//! A walk over automerge's binary chunks that bounds them before automerge parses them:
//! automerge 0.12 inflates compressed chunks and deflated document columns with no limit, so a
//! few kilobytes from a peer can ask it for gigabytes (`docs/automerge-unbounded-inflate.md`).
//!
//! The walk reads the chunk framing of automerge's storage format (magic bytes, checksum,
//! chunk type, LEB128 length), refuses chunk types Casebook never sends (bundles and unknown
//! types), checks every declared length and count against the bytes present, and inflates
//! compressed data through a reader that stops one byte past the limit, discarding the output.
//! It counts the rows of every column of a document or change without expanding them, and
//! refuses more than [`MAX_DOC_CHANGES`] changes or [`MAX_DOC_OPS`] operations in one input; and it refuses
//! an actor column naming an actor the chunk does not list (automerge sizes tables by the
//! largest index named). It allocates nothing in proportion to the
//! inflated size except a deflated change column's inflated bytes (within the limit). It does not
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

use super::column_rows::{self, sleb, uleb};
use crate::error::ChunkError;
use crate::sync::wire::{MAX_DOC_BYTES, MAX_SYNC_REQUEST_BYTES};

/// The most one document or one sync message may inflate to, counting every compressed chunk
/// and deflated column in it: four times the largest compacted document a server stores.
pub const MAX_INFLATED_BYTES: usize = 4 * MAX_DOC_BYTES;

/// The most all the messages of one sync request may inflate to together.
pub const MAX_REQUEST_INFLATED_BYTES: usize = 4 * MAX_SYNC_REQUEST_BYTES;

/// The most rows any change column of a document chunk may hold: the most changes a document
/// may have (about a million; a case's busiest document holds thousands). automerge expands
/// these columns into vectors when it loads a document ([`super::column_rows`]).
pub const MAX_DOC_CHANGES: u64 = 1 << 20;

/// The most operations one input may hold, its document and change chunks together (any one
/// op column counts): about 4.2 million, four times the largest documents the field benches
/// make (100 notes of 10,000 characters, one operation a character), and room for a note of
/// 3 MB typed at once (the disk-full test pushes one). automerge's load and its
/// check of a change visit every row and keep about 400 bytes for each, so six bytes
/// declaring 2^40 rows of one repeated operation cost gigabytes (found by attackers' reviews;
/// measured: 2^23 operations from a 103-byte message took 3.28 GB and 14.3 s to receive; 2^21
/// took 823 MB and 3 to 4.4 s, so 2^22 about 1.6 GB and 8 s). A larger document, or more new
/// text in one document's changes of one sync, is refused whole: split a case's history before
/// it gets there.
pub const MAX_DOC_OPS: u64 = 1 << 22;

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
/// The most probes a have's Bloom filter may ask for (automerge writes 7).
const MAX_BLOOM_PROBES: u64 = 64;

type Result<T> = std::result::Result<T, ChunkError>;

/// What a walk found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Walk {
    /// Chunks walked.
    pub chunks: usize,
    /// Bytes the compressed parts inflate to.
    pub inflated: usize,
    /// Operations in the change chunks walked (at most [`MAX_DOC_OPS`]).
    pub ops: u64,
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
            bloom_filter(take(&mut r, bloom)?)?;
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
            CHUNK_CHANGE => self.change(data),
            CHUNK_COMPRESSED => {
                let mut inflated = Vec::new();
                self.inflate(data, Some(&mut inflated))?;
                self.change(&inflated)
            }
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
        let mut ops = 0;
        for (meta, changes) in [(change_meta, true), (op_meta, false)] {
            let mut m = meta;
            let count = uleb(&mut m)?;
            for _ in 0..count {
                let spec = uleb(&mut m)?;
                let n = usize::try_from(uleb(&mut m)?).map_err(|_| ChunkError::Truncated)?;
                let column = take(&mut r, n)?;
                let deflated = spec & COLUMN_DEFLATE != 0;
                // Every column's rows are bounded (change columns are expanded by automerge's
                // load; op rows are each visited) and actor columns name listed actors only.
                // The ops of every chunk of one input share one budget.
                let limit = if changes {
                    MAX_DOC_CHANGES
                } else {
                    MAX_DOC_OPS - self.walk.ops
                };
                let rows = if deflated {
                    let mut inflated = Vec::new();
                    self.inflate(column, Some(&mut inflated))?;
                    column_rows::count(spec, &inflated, limit, actors)?
                } else {
                    column_rows::count(spec, column, limit, actors)?
                };
                if !changes {
                    ops = ops.max(rows);
                }
            }
        }
        self.walk.ops += ops;
        if !r.is_empty() {
            for _ in 0..heads {
                uleb(&mut r)?;
            }
        }
        end(r)
    }

    /// A change (`storage/change.rs`, `Change::parse_following_header`): dependencies, actor,
    /// seq, start op, time, message, other actors, op column metadata, the columns, extra
    /// bytes. Its op rows count against the input's [`MAX_DOC_OPS`] and its actor columns may
    /// name only its own actor and the others it lists. A change's columns are never deflated
    /// (automerge refuses them, `ParseError::CompressedChangeCols`), so a deflated one is not
    /// walked.
    fn change(&mut self, data: &[u8]) -> Result<()> {
        let mut r = data;
        hashes(&mut r)?; // dependencies
        let actor = len(&mut r)?;
        take(&mut r, actor)?;
        uleb(&mut r)?; // seq
        uleb(&mut r)?; // start op
        sleb(&mut r)?; // time
        let message = len(&mut r)?;
        take(&mut r, message)?;
        let others = uleb(&mut r)?;
        for _ in 0..others {
            let n = len(&mut r)?;
            take(&mut r, n)?;
        }
        let actors = others.saturating_add(1);
        let mut meta = columns_meta(&mut r)?;
        let count = uleb(&mut meta)?;
        let mut rows = 0;
        for _ in 0..count {
            let spec = uleb(&mut meta)?;
            let n = usize::try_from(uleb(&mut meta)?).map_err(|_| ChunkError::Truncated)?;
            let column = take(&mut r, n)?;
            if spec & COLUMN_DEFLATE == 0 {
                let limit = MAX_DOC_OPS - self.walk.ops;
                rows = rows.max(column_rows::count(spec, column, limit, actors)?);
            }
        }
        self.walk.ops += rows;
        Ok(())
    }

    /// Inflate through a reader that stops one byte past what is left of the limit, into
    /// `keep` (a change column, whose rows are counted next) or nowhere.
    fn inflate(&mut self, compressed: &[u8], keep: Option<&mut Vec<u8>>) -> Result<()> {
        let room = self.limit.saturating_sub(self.walk.inflated);
        let cap = u64::try_from(room).unwrap_or(u64::MAX).saturating_add(1);
        let mut bounded = flate2::bufread::DeflateDecoder::new(compressed).take(cap);
        let copied = match keep {
            Some(out) => std::io::copy(&mut bounded, out),
            None => std::io::copy(&mut bounded, &mut std::io::sink()),
        };
        let inflated = copied.map_err(|_| ChunkError::BadDeflate)?;
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

/// A have's Bloom filter (`sync/bloom.rs`, `BloomFilter::parse`): empty, or entries, bits per
/// entry and probes (LEB128 `u32`s) then the bits. automerge 0.12 takes each probe modulo the
/// bits' length and reserves a vector of `probes`, outside any check: a filter with no bits
/// divides by zero (a panic while the reply is generated, found by `scripts/fuzz.sh`,
/// `sync_message`) and one with 2^32 - 1 probes asks for 16 GiB.
fn bloom_filter(bytes: &[u8]) -> Result<()> {
    if bytes.is_empty() {
        return Ok(());
    }
    let mut r = bytes;
    let mut field = || -> Result<u64> {
        let n = uleb(&mut r)?;
        if n > u64::from(u32::MAX) {
            return Err(ChunkError::BadBloomFilter);
        }
        Ok(n)
    };
    let (entries, bits_per_entry, probes) = (field()?, field()?, field()?);
    // automerge's `bits_capacity`: ceil(entries * bits per entry / 8), which it then takes.
    let bits = (entries * bits_per_entry).div_ceil(8);
    if bits == 0 || probes == 0 || probes > MAX_BLOOM_PROBES || bits > r.len() as u64 {
        return Err(ChunkError::BadBloomFilter);
    }
    Ok(())
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
