//! Walking an automerge column without expanding it: the chunk guard's bound on a document's
//! change columns and its check of actor indexes. Two aborts on allocation that no
//! `catch_unwind` stops, both found by `scripts/fuzz.sh` (`document_loader`):
//! - automerge 0.12 (`ChangeGraphCols::load`) collects the actor, sequence, op-counter and
//!   dependency columns of a document chunk into vectors, and their run-length encoding lets a
//!   few bytes declare billions of rows;
//! - it sizes tables by the largest actor index an op names (`ProgressiveEncoder::
//!   build_mapping`, while it rebuilds changes), so an index of 2^32 - 1 in an op column asks
//!   for 4 GiB and then 32 GiB, though the document has a handful of actors.
//!
//! The encodings are those of automerge's storage format (`columnar/encoding`): a run-length
//! column is a sequence of runs, each a signed LEB128 count followed by one value (count > 0, a
//! repeat), `-count` values (count < 0, literals) or an unsigned count of nulls (count 0); a
//! boolean column is alternating unsigned run lengths; a value column holds raw bytes and no
//! rows of its own.

use crate::error::ChunkError;

type Result<T> = std::result::Result<T, ChunkError>;

/// A column's value type: the low three bits of its specification (`column_specification.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ColumnType {
    Group,
    Actor,
    Integer,
    Delta,
    Boolean,
    String,
    ValueMeta,
    Value,
}

impl ColumnType {
    fn of(spec: u64) -> Self {
        match spec & 0b111 {
            0 => Self::Group,
            1 => Self::Actor,
            2 => Self::Integer,
            3 => Self::Delta,
            4 => Self::Boolean,
            5 => Self::String,
            6 => Self::ValueMeta,
            _ => Self::Value,
        }
    }
}

/// The rows `data` (inflated) holds as a column of specification `spec`, refused as soon as
/// they pass `limit`, and, in an actor column, an index not below `actors` is refused.
/// Malformed encodings are refused too: automerge would refuse them later.
pub(crate) fn count(spec: u64, data: &[u8], limit: u64, actors: u64) -> Result<u64> {
    let kind = ColumnType::of(spec);
    let mut r = data;
    let mut rows: u64 = 0;
    let mut add = |n: u64| -> Result<()> {
        rows = rows.saturating_add(n);
        if rows > limit {
            Err(ChunkError::TooManyRows { limit })
        } else {
            Ok(())
        }
    };
    match kind {
        ColumnType::Value => {}
        ColumnType::Boolean => {
            while !r.is_empty() {
                add(uleb(&mut r)?)?;
            }
        }
        _ => {
            while !r.is_empty() {
                let run = sleb(&mut r)?;
                if run > 0 {
                    add(run.unsigned_abs())?;
                    value(kind, &mut r, actors)?;
                } else if run < 0 {
                    let n = run.unsigned_abs();
                    add(n)?;
                    for _ in 0..n {
                        value(kind, &mut r, actors)?;
                    }
                } else {
                    add(uleb(&mut r)?)?;
                }
            }
        }
    }
    Ok(rows)
}

/// Skip one value of a run-length column, checking an actor index against `actors`.
fn value(kind: ColumnType, r: &mut &[u8], actors: u64) -> Result<()> {
    match kind {
        ColumnType::Actor => {
            let index = uleb(r)?;
            if index >= actors {
                return Err(ChunkError::UnknownActor { index, actors });
            }
            Ok(())
        }
        ColumnType::Delta => sleb(r).map(drop),
        ColumnType::String => {
            let n = usize::try_from(uleb(r)?).map_err(|_| ChunkError::Truncated)?;
            if n > r.len() {
                return Err(ChunkError::Truncated);
            }
            *r = &r[n..];
            Ok(())
        }
        _ => uleb(r).map(drop),
    }
}

/// An unsigned LEB128 number; a short or overlong one is [`ChunkError::Truncated`].
pub(super) fn uleb(r: &mut &[u8]) -> Result<u64> {
    leb128::read::unsigned(r).map_err(|_| ChunkError::Truncated)
}

/// A signed LEB128 number; a short or overlong one is [`ChunkError::Truncated`].
pub(super) fn sleb(r: &mut &[u8]) -> Result<i64> {
    leb128::read::signed(r).map_err(|_| ChunkError::Truncated)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uleb_bytes(n: u64) -> Vec<u8> {
        let mut out = Vec::new();
        leb128::write::unsigned(&mut out, n).expect("vec");
        out
    }

    fn sleb_bytes(n: i64) -> Vec<u8> {
        let mut out = Vec::new();
        leb128::write::signed(&mut out, n).expect("vec");
        out
    }

    #[test]
    fn repeats_literals_and_nulls_are_counted() {
        // actor column (type 1): 3 × actor 0, literals [1, 2], 4 nulls
        let mut data = sleb_bytes(3);
        data.extend(uleb_bytes(0));
        data.extend(sleb_bytes(-2));
        data.extend(uleb_bytes(1));
        data.extend(uleb_bytes(2));
        data.extend(sleb_bytes(0));
        data.extend(uleb_bytes(4));
        assert_eq!(count(0x01, &data, 100, 3), Ok(9));
        // string column (type 5): literal "ab", "c"
        let mut data = sleb_bytes(-2);
        data.extend(uleb_bytes(2));
        data.extend(b"ab");
        data.extend(uleb_bytes(1));
        data.extend(b"c");
        assert_eq!(count(0x05, &data, 100, 0), Ok(2));
        // boolean column (type 4): 5 false, 3 true
        let data = [uleb_bytes(5), uleb_bytes(3)].concat();
        assert_eq!(count(0x04, &data, 100, 0), Ok(8));
        // value column (type 7): raw bytes, no rows
        assert_eq!(count(0x07, b"anything", 100, 0), Ok(0));
    }

    #[test]
    fn a_run_of_billions_is_refused_from_a_few_bytes() {
        let mut data = sleb_bytes(1 << 32);
        data.extend(uleb_bytes(0));
        assert_eq!(data.len(), 6);
        assert_eq!(
            count(0x01, &data, 1_000_000, 1),
            Err(ChunkError::TooManyRows { limit: 1_000_000 })
        );
        let data = [sleb_bytes(0), uleb_bytes(u64::MAX)].concat();
        assert!(count(0x03, &data, 1_000_000, 0).is_err());
    }

    #[test]
    fn an_actor_index_past_the_documents_actors_is_refused() {
        // literals [0, 1, u32::MAX - 1] in an actor column of a document with two actors
        let data = [
            sleb_bytes(-3),
            uleb_bytes(0),
            uleb_bytes(1),
            uleb_bytes(u64::from(u32::MAX) - 1),
        ]
        .concat();
        assert_eq!(
            count(0x01, &data, 100, 2),
            Err(ChunkError::UnknownActor {
                index: u64::from(u32::MAX) - 1,
                actors: 2
            })
        );
        // the same in a repeat run; an integer column is not checked
        let data = [sleb_bytes(5), uleb_bytes(2)].concat();
        assert!(count(0x01, &data, 100, 2).is_err());
        assert_eq!(count(0x02, &data, 100, 2), Ok(5));
    }

    #[test]
    fn truncated_runs_are_refused() {
        // a literal run of 3 with one value present
        let data = [sleb_bytes(-3), uleb_bytes(1)].concat();
        assert_eq!(count(0x02, &data, 100, 0), Err(ChunkError::Truncated));
        // a string longer than the bytes left
        let data = [sleb_bytes(1), uleb_bytes(10), b"ab".to_vec()].concat();
        assert_eq!(count(0x05, &data, 100, 0), Err(ChunkError::Truncated));
    }
}
