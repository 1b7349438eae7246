//! automerge's binary formats taken apart and put back together, so a mutation lands inside a
//! chunk, a document column or a sync message's change list and still passes the framing
//! checks in front of it: lengths are rewritten and checksums (the first four bytes of the
//! SHA-256 of the chunk's type, length and data) recomputed.

use sha2::{Digest, Sha256};

/// automerge's chunk magic bytes.
pub const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
/// A whole document chunk.
pub const CHUNK_DOCUMENT: u8 = 0;
/// One change.
pub const CHUNK_CHANGE: u8 = 1;

/// One chunk: its type, its data, and whether its stored checksum was right.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// The chunk type byte.
    pub kind: u8,
    /// The stored checksum.
    pub checksum: [u8; 4],
    /// The data after the header.
    pub data: Vec<u8>,
}

impl Chunk {
    /// The checksum automerge expects for this chunk's type and data.
    pub fn expected_checksum(&self) -> [u8; 4] {
        let mut header = vec![self.kind];
        write_uleb(&mut header, self.data.len() as u64);
        let digest = Sha256::new()
            .chain_update(&header)
            .chain_update(&self.data)
            .finalize();
        [digest[0], digest[1], digest[2], digest[3]]
    }

    /// The chunk written out, with its checksum recomputed when `repair`.
    pub fn encode(&self, repair: bool, out: &mut Vec<u8>) {
        out.extend_from_slice(&MAGIC);
        let checksum = if repair {
            self.expected_checksum()
        } else {
            self.checksum
        };
        out.extend_from_slice(&checksum);
        out.push(self.kind);
        write_uleb(out, self.data.len() as u64);
        out.extend_from_slice(&self.data);
    }
}

/// Append `n` as unsigned LEB128.
pub fn write_uleb(out: &mut Vec<u8>, mut n: u64) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn read_uleb(r: &mut &[u8]) -> Option<u64> {
    leb128::read::unsigned(r).ok()
}

fn take<'a>(r: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if n > r.len() {
        return None;
    }
    let (head, tail) = r.split_at(n);
    *r = tail;
    Some(head)
}

fn take_len<'a>(r: &mut &'a [u8]) -> Option<&'a [u8]> {
    let n = usize::try_from(read_uleb(r)?).ok()?;
    take(r, n)
}

/// Split bytes made of whole chunks back to back; `None` if they are not.
pub fn parse_chunks(bytes: &[u8]) -> Option<Vec<Chunk>> {
    let mut r = bytes;
    let mut out = Vec::new();
    while !r.is_empty() {
        if take(&mut r, 4)? != MAGIC {
            return None;
        }
        let checksum: [u8; 4] = take(&mut r, 4)?.try_into().ok()?;
        let kind = take(&mut r, 1)?[0];
        let data = take_len(&mut r)?.to_vec();
        out.push(Chunk {
            kind,
            checksum,
            data,
        });
    }
    (!out.is_empty()).then_some(out)
}

/// Write chunks back to back.
pub fn encode_chunks(chunks: &[Chunk], repair: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for chunk in chunks {
        chunk.encode(repair, &mut out);
    }
    out
}

/// A document chunk's data split into its parts: the prefix (actors and heads), the change
/// and op column specifications with each column's bytes, and the suffix (head indices).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentParts {
    /// Actors and heads, as they were.
    pub prefix: Vec<u8>,
    /// Change columns: (specification, bytes).
    pub change_columns: Vec<(u64, Vec<u8>)>,
    /// Op columns: (specification, bytes).
    pub op_columns: Vec<(u64, Vec<u8>)>,
    /// What follows the columns.
    pub suffix: Vec<u8>,
}

fn columns_meta(r: &mut &[u8]) -> Option<Vec<(u64, usize)>> {
    let count = read_uleb(r)?;
    let mut out = Vec::new();
    for _ in 0..count.min(4096) {
        let spec = read_uleb(r)?;
        let len = usize::try_from(read_uleb(r)?).ok()?;
        out.push((spec, len));
    }
    Some(out)
}

impl DocumentParts {
    /// Split a document chunk's data; `None` if its framing does not parse.
    pub fn parse(data: &[u8]) -> Option<Self> {
        let mut r = data;
        let actors = read_uleb(&mut r)?;
        for _ in 0..actors.min(4096) {
            take_len(&mut r)?;
        }
        let heads = usize::try_from(read_uleb(&mut r)?).ok()?;
        take(&mut r, heads.checked_mul(32)?)?;
        let prefix = data[..data.len() - r.len()].to_vec();
        let change_meta = columns_meta(&mut r)?;
        let op_meta = columns_meta(&mut r)?;
        let mut columns = |meta: Vec<(u64, usize)>| -> Option<Vec<(u64, Vec<u8>)>> {
            meta.into_iter()
                .map(|(spec, len)| Some((spec, take(&mut r, len)?.to_vec())))
                .collect()
        };
        let change_columns = columns(change_meta)?;
        let op_columns = columns(op_meta)?;
        Some(Self {
            prefix,
            change_columns,
            op_columns,
            suffix: r.to_vec(),
        })
    }

    /// The data back together, column lengths rewritten.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = self.prefix.clone();
        for columns in [&self.change_columns, &self.op_columns] {
            write_uleb(&mut out, columns.len() as u64);
            for (spec, bytes) in columns {
                write_uleb(&mut out, *spec);
                write_uleb(&mut out, bytes.len() as u64);
            }
        }
        for (_, bytes) in self.change_columns.iter().chain(&self.op_columns) {
            out.extend_from_slice(bytes);
        }
        out.extend_from_slice(&self.suffix);
        out
    }
}

/// An encoded automerge sync message split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageParts {
    /// The message type byte (0x42 or 0x43).
    pub kind: u8,
    /// Heads, need and have, as they were.
    pub summary: Vec<u8>,
    /// Each entry of the change list.
    pub changes: Vec<Vec<u8>>,
    /// Whatever follows (flags).
    pub suffix: Vec<u8>,
}

fn hashes(r: &mut &[u8]) -> Option<()> {
    let n = usize::try_from(read_uleb(r)?).ok()?;
    take(r, n.checked_mul(32)?)?;
    Some(())
}

impl MessageParts {
    /// Split an encoded sync message; `None` if its framing does not parse.
    pub fn parse(bytes: &[u8]) -> Option<Self> {
        let (&kind, rest) = bytes.split_first()?;
        let mut r = rest;
        hashes(&mut r)?;
        hashes(&mut r)?;
        let haves = read_uleb(&mut r)?;
        for _ in 0..haves.min(4096) {
            hashes(&mut r)?;
            take_len(&mut r)?;
        }
        let summary = rest[..rest.len() - r.len()].to_vec();
        let count = read_uleb(&mut r)?;
        let mut changes = Vec::new();
        for _ in 0..count.min(4096) {
            changes.push(take_len(&mut r)?.to_vec());
        }
        Some(Self {
            kind,
            summary,
            changes,
            suffix: r.to_vec(),
        })
    }

    /// The message back together, lengths rewritten.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![self.kind];
        out.extend_from_slice(&self.summary);
        write_uleb(&mut out, self.changes.len() as u64);
        for change in &self.changes {
            write_uleb(&mut out, change.len() as u64);
            out.extend_from_slice(change);
        }
        out.extend_from_slice(&self.suffix);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::sync::SyncDoc;
    use automerge::transaction::Transactable;

    #[test]
    fn a_saved_document_and_a_sync_message_come_apart_and_back_unchanged() {
        let mut doc = automerge::AutoCommit::new();
        doc.put(automerge::ROOT, "note", "x".repeat(300))
            .expect("put");
        doc.put(automerge::ROOT, "n", 3).expect("put");
        let saved = doc.save();
        let chunks = parse_chunks(&saved).expect("chunks");
        assert_eq!(chunks[0].kind, CHUNK_DOCUMENT);
        assert_eq!(chunks[0].checksum, chunks[0].expected_checksum());
        assert_eq!(encode_chunks(&chunks, false), saved);
        let parts = DocumentParts::parse(&chunks[0].data).expect("document");
        assert!(!parts.op_columns.is_empty());
        assert_eq!(parts.encode(), chunks[0].data);

        let mut state = automerge::sync::State::new();
        let mut peer = automerge::AutoCommit::new();
        let mut peer_state = automerge::sync::State::new();
        let first = peer
            .sync()
            .generate_sync_message(&mut peer_state)
            .expect("m");
        doc.sync()
            .receive_sync_message(&mut state, first)
            .expect("receive");
        let message = doc.sync().generate_sync_message(&mut state).expect("m");
        assert!(!message.changes.is_empty());
        let encoded = message.encode();
        let parts = MessageParts::parse(&encoded).expect("message");
        assert_eq!(parts.encode(), encoded);
        assert!(parse_chunks(&parts.changes[0]).is_some());
    }
}
