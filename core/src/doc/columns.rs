//! A saved document's columns inflated for the wire, and deflated again for storage.
//!
//! automerge deflates each column of a saved document on its own (those of 256 bytes or more),
//! so a compressor that sees a whole sync response finds little to share between documents:
//! the notes of 200 cases are 1,000 small deflate streams. The server sends a fresh device
//! each document with its columns inflated ([`inflate_columns`], a byte transform: nothing is
//! loaded) inside a zstd-compressed response, where zstd sees the raw columns of every
//! document at once; the device stores each as the server does ([`deflate_columns`]), so what
//! it keeps is byte for byte the server's save. Both keep the chunk's checksum right and
//! refuse anything but a single document chunk.
//!
//! ```
//! use automerge::{AutoCommit, transaction::Transactable};
//! use casebook_core::doc::columns;
//!
//! let mut doc = AutoCommit::new();
//! doc.put(automerge::ROOT, "note", "the child said she felt safe ".repeat(100))?;
//! let saved = doc.save();
//! let wire = columns::inflate_columns(&saved)?;
//! assert!(wire.len() > saved.len());
//! assert_eq!(columns::deflate_columns(&wire)?, saved);
//! AutoCommit::load(&wire)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::io::Read;

use sha2::{Digest, Sha256};

use super::chunk_guard::MAX_INFLATED_BYTES;
use crate::error::ChunkError;

type Result<T> = std::result::Result<T, ChunkError>;

const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
const CHUNK_DOCUMENT: u8 = 0;
const COLUMN_DEFLATE: u64 = 0b1000;
const HASH_BYTES: usize = 32;
/// automerge deflates a column of at least this many bytes (`DEFLATE_MIN_SIZE`).
const DEFLATE_MIN_BYTES: usize = 256;

/// The same document with every deflated column inflated (at most
/// [`MAX_INFLATED_BYTES`] in all). automerge loads it as it loads the save.
pub fn inflate_columns(saved: &[u8]) -> Result<Vec<u8>> {
    let mut budget = MAX_INFLATED_BYTES;
    rewrite(saved, |spec, column, out| {
        if spec & COLUMN_DEFLATE == 0 {
            out.extend_from_slice(column);
            return Ok(spec);
        }
        let cap = u64::try_from(budget).unwrap_or(u64::MAX).saturating_add(1);
        let before = out.len();
        flate2::bufread::DeflateDecoder::new(column)
            .take(cap)
            .read_to_end(out)
            .map_err(|_| ChunkError::BadDeflate)?;
        let inflated = out.len() - before;
        if inflated > budget {
            return Err(ChunkError::InflateLimit {
                limit: MAX_INFLATED_BYTES,
            });
        }
        budget -= inflated;
        Ok(spec & !COLUMN_DEFLATE)
    })
}

/// The same document with its columns deflated as automerge's `save` deflates them: what
/// [`inflate_columns`] undoes.
pub fn deflate_columns(wire: &[u8]) -> Result<Vec<u8>> {
    rewrite(wire, |spec, column, out| {
        if spec & COLUMN_DEFLATE != 0 || column.len() < DEFLATE_MIN_BYTES {
            out.extend_from_slice(column);
            return Ok(spec);
        }
        flate2::bufread::DeflateEncoder::new(column, flate2::Compression::default())
            .read_to_end(out)
            .map_err(|_| ChunkError::BadDeflate)?;
        Ok(spec | COLUMN_DEFLATE)
    })
}

/// Rewrite every column of a single document chunk with `column(spec, data, out)`, which
/// appends the new data and returns the new specification.
fn rewrite(
    bytes: &[u8],
    mut column: impl FnMut(u64, &[u8], &mut Vec<u8>) -> Result<u64>,
) -> Result<Vec<u8>> {
    let mut r = bytes;
    if take(&mut r, MAGIC.len())? != MAGIC {
        return Err(ChunkError::BadMagic);
    }
    take(&mut r, 4)?; // checksum, computed afresh below
    let kind = take(&mut r, 1)?[0];
    if kind != CHUNK_DOCUMENT {
        return Err(ChunkError::UnknownChunkType(kind));
    }
    let n = len(&mut r)?;
    let data = take(&mut r, n)?;
    if !r.is_empty() {
        return Err(ChunkError::Trailing);
    }

    let mut d = data;
    // Actors and heads are copied as they are.
    let start = d;
    for _ in 0..uleb(&mut d)? {
        let n = len(&mut d)?;
        take(&mut d, n)?;
    }
    let heads = uleb(&mut d)?;
    let head_bytes = usize::try_from(heads)
        .ok()
        .and_then(|h| h.checked_mul(HASH_BYTES))
        .ok_or(ChunkError::Truncated)?;
    take(&mut d, head_bytes)?;
    let fixed = &start[..start.len() - d.len()];
    let change_meta = meta(&mut d)?;
    let op_meta = meta(&mut d)?;

    let mut columns = Vec::with_capacity(data.len());
    let mut new_meta = [Vec::new(), Vec::new()];
    for (spec_list, out_meta) in [change_meta, op_meta].iter().zip(new_meta.iter_mut()) {
        write_uleb(out_meta, spec_list.len() as u64);
        for &(spec, n) in spec_list {
            let input = take(&mut d, n)?;
            let before = columns.len();
            let spec = column(spec, input, &mut columns)?;
            write_uleb(out_meta, spec);
            write_uleb(out_meta, (columns.len() - before) as u64);
        }
    }
    // What is left is the head indices.
    let mut body = Vec::with_capacity(fixed.len() + columns.len() + d.len() + 64);
    body.extend_from_slice(fixed);
    body.extend_from_slice(&new_meta[0]);
    body.extend_from_slice(&new_meta[1]);
    body.extend_from_slice(&columns);
    body.extend_from_slice(d);

    let mut length = Vec::with_capacity(10);
    write_uleb(&mut length, body.len() as u64);
    let mut hasher = Sha256::new();
    hasher.update([CHUNK_DOCUMENT]);
    hasher.update(&length);
    hasher.update(&body);
    let hash = hasher.finalize();
    let mut out = Vec::with_capacity(MAGIC.len() + 5 + length.len() + body.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&hash[..4]);
    out.push(CHUNK_DOCUMENT);
    out.extend_from_slice(&length);
    out.extend_from_slice(&body);
    Ok(out)
}

/// Column metadata: (specification, length) pairs, each length within the bytes present.
fn meta(r: &mut &[u8]) -> Result<Vec<(u64, usize)>> {
    let count = uleb(r)?;
    // Each pair takes at least two bytes: a count past that is a lie.
    if count > r.len() as u64 / 2 {
        return Err(ChunkError::Truncated);
    }
    let mut pairs = Vec::new();
    for _ in 0..count {
        let spec = uleb(r)?;
        let n = usize::try_from(uleb(r)?).map_err(|_| ChunkError::Truncated)?;
        pairs.push((spec, n));
    }
    Ok(pairs)
}

fn take<'a>(r: &mut &'a [u8], n: usize) -> Result<&'a [u8]> {
    if n > r.len() {
        return Err(ChunkError::Truncated);
    }
    let (head, tail) = r.split_at(n);
    *r = tail;
    Ok(head)
}

fn uleb(r: &mut &[u8]) -> Result<u64> {
    leb128::read::unsigned(r).map_err(|_| ChunkError::Truncated)
}

fn len(r: &mut &[u8]) -> Result<usize> {
    let n = usize::try_from(uleb(r)?).map_err(|_| ChunkError::Truncated)?;
    if n > r.len() {
        return Err(ChunkError::Truncated);
    }
    Ok(n)
}

fn write_uleb(out: &mut Vec<u8>, value: u64) {
    // Writing to a Vec cannot fail.
    let _ = leb128::write::unsigned(out, value);
}

#[cfg(test)]
mod tests {
    use automerge::transaction::Transactable;
    use automerge::{AutoCommit, ObjType, ROOT};

    use super::*;

    fn notes() -> AutoCommit {
        let mut doc = AutoCommit::new();
        let list = doc.put_object(ROOT, "notes", ObjType::List).expect("list");
        for i in 0..20 {
            let text = doc.insert_object(&list, i, ObjType::Text).expect("text");
            doc.splice_text(&text, 0, 0, &"she wanted to stay at school ".repeat(30))
                .expect("splice");
            doc.commit();
        }
        doc
    }

    #[test]
    fn the_wire_copy_loads_as_the_same_document_and_stores_back_byte_for_byte() {
        let mut doc = notes();
        let saved = doc.save();
        let wire = inflate_columns(&saved).expect("inflates");
        assert!(
            wire.len() > 2 * saved.len(),
            "{} vs {}",
            wire.len(),
            saved.len()
        );
        // automerge writes the same when asked not to deflate.
        assert_eq!(wire, doc.save_nocompress());
        let mut loaded = AutoCommit::load(&wire).expect("loads");
        assert_eq!(loaded.get_heads(), doc.get_heads());
        assert_eq!(deflate_columns(&wire).expect("deflates"), saved);
        // Inflating a copy without deflated columns changes nothing.
        assert_eq!(inflate_columns(&wire).expect("again"), wire);
    }

    #[test]
    fn anything_but_one_whole_document_chunk_is_refused() {
        let mut doc = notes();
        let saved = doc.save();
        for cut in [0, 3, 9, 20, saved.len() / 2, saved.len() - 1] {
            assert!(inflate_columns(&saved[..cut]).is_err(), "cut at {cut}");
        }
        let mut twice = saved.clone();
        twice.extend_from_slice(&saved);
        assert_eq!(inflate_columns(&twice), Err(ChunkError::Trailing));
        let change = doc
            .get_last_local_change()
            .expect("change")
            .raw_bytes()
            .to_vec();
        assert_eq!(
            inflate_columns(&change),
            Err(ChunkError::UnknownChunkType(1))
        );
    }
}
