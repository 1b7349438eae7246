//! Unit tests of the chunk walker: real automerge output of every document kind passes; bombs,
//! lying lengths and unknown chunk types are refused.

use std::io::Write;

use automerge::sync::{State, SyncDoc};
use automerge::transaction::Transactable;
use automerge::{AutoCommit, ROOT};
use chrono::{TimeZone, Utc};
use rand::SeedableRng;
use rand::rngs::StdRng;

use super::*;
use crate::doc::{Author, DocKind, Edit};
use crate::ids::{CaseId, DeviceId, EntryId, UserId};
use crate::model::{self, VisitNote};

fn edit(rng: &mut StdRng) -> Edit {
    Edit::new(
        Author {
            user: UserId::random(rng),
            device: DeviceId::random(rng),
        },
        Utc.with_ymd_and_hms(2026, 11, 30, 9, 0, 0)
            .single()
            .expect("time"),
    )
}

/// The five documents of a case as Casebook writes them, with enough in the visits document
/// for automerge to deflate columns and compress changes.
fn case_docs() -> Vec<crate::doc::CaseDoc> {
    let mut rng = StdRng::seed_from_u64(8);
    let e = edit(&mut rng);
    let profile = model::Profile {
        case_reference: "HUL-2026-0008".into(),
        given_name: "Linh".into(),
        ..model::Profile::default()
    };
    let mut docs = model::new_case(CaseId::random(&mut rng), &e, &profile).expect("new case");
    assert_eq!(docs.len(), DocKind::ALL.len());
    let visits = docs
        .iter_mut()
        .find(|d| d.kind() == DocKind::Visits)
        .expect("visits");
    for n in 0..40 {
        let note = VisitNote {
            place: format!("Foster home {n}"),
            wishes_and_feelings: format!("visit {n}: ").repeat(40),
            ..VisitNote::default()
        };
        visits
            .add_visit_note(&e, EntryId::random(&mut rng), &note)
            .expect("note");
    }
    docs
}

fn deflate(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(data).expect("deflate");
    enc.finish().expect("deflate")
}

fn uleb_bytes(n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    leb128::write::unsigned(&mut out, n as u64).expect("leb128");
    out
}

fn chunk(kind: u8, data: &[u8]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend([0xde, 0xad, 0xbe, 0xef]);
    out.push(kind);
    out.extend(uleb_bytes(data.len()));
    out.extend(data);
    out
}

/// A sync message (version 1, no heads, needs or haves) carrying `changes`.
fn message(changes: &[Vec<u8>]) -> Vec<u8> {
    let mut out = vec![MESSAGE_V1, 0, 0, 0];
    out.extend(uleb_bytes(changes.len()));
    for c in changes {
        out.extend(uleb_bytes(c.len()));
        out.extend(c);
    }
    out
}

/// `size` zero bytes, deflated: about a thousandth of the size.
fn zeros_deflated(size: usize) -> Vec<u8> {
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
    let block = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        let n = left.min(block.len());
        enc.write_all(&block[..n]).expect("deflate");
        left -= n;
    }
    enc.finish().expect("deflate")
}

#[test]
fn every_document_kind_passes_and_deflated_parts_are_counted() {
    let mut total_inflated = 0;
    for mut doc in case_docs() {
        let saved = doc.save();
        let walk = check_document(&saved).expect("a real save passes");
        assert_eq!(walk.chunks, 1, "{:?}", doc.kind());
        total_inflated += walk.inflated;
        // The changes, as `save_after` writes them for `load_incremental`.
        let changes = doc.save_after(&[]);
        let walk = check_document(&changes).expect("real changes pass");
        assert!(walk.chunks >= 1);
        total_inflated += walk.inflated;
    }
    assert!(
        total_inflated > 0,
        "the fixture has deflated columns/chunks"
    );
}

#[test]
fn real_sync_messages_pass_in_both_directions() {
    for doc in case_docs() {
        let mut theirs = doc.automerge().clone();
        let mut mine = AutoCommit::new();
        let (mut s1, mut s2) = (State::new(), State::new());
        let (mut carried_changes, mut carried_bloom) = (false, false);
        for _ in 0..10 {
            let mut quiet = true;
            if let Some(m) = theirs.sync().generate_sync_message(&mut s1) {
                quiet = false;
                carried_changes |= !m.changes.is_empty();
                carried_bloom |= m.have.iter().any(|h| !h.bloom.to_bytes().is_empty());
                let bytes = m.encode();
                check_sync_message(&bytes).expect("a real message passes");
                let m = automerge::sync::Message::decode(&bytes).expect("decode");
                mine.sync()
                    .receive_sync_message(&mut s2, m)
                    .expect("receive");
            }
            if let Some(m) = mine.sync().generate_sync_message(&mut s2) {
                quiet = false;
                let bytes = m.encode();
                check_sync_message(&bytes).expect("a real reply passes");
                let m = automerge::sync::Message::decode(&bytes).expect("decode");
                theirs
                    .sync()
                    .receive_sync_message(&mut s1, m)
                    .expect("receive");
            }
            if quiet {
                break;
            }
        }
        assert!(carried_changes);
        assert!(carried_bloom, "a real Bloom filter was walked");
        assert_eq!(mine.get_heads(), theirs.get_heads());
    }
}

/// A sync message with one have (no last-sync heads) whose Bloom filter is `bloom`.
fn message_with_bloom(bloom: &[u8]) -> Vec<u8> {
    let mut out = vec![MESSAGE_V1, 0, 0, 1, 0];
    out.extend(uleb_bytes(bloom.len()));
    out.extend(bloom);
    out.push(0); // no changes
    out
}

/// automerge 0.12 takes each probe modulo the filter's bits and reserves `probes` slots, with
/// no check: a filter with no bits panicked the server and the device while they generated
/// their reply (`scripts/fuzz.sh`, `sync_message`); 2^32 - 1 probes would ask for 16 GiB.
#[test]
fn a_bloom_filter_with_no_bits_or_absurd_probes_is_refused() {
    let filter = |entries: u64, bits_per_entry: u64, probes: u64, bits: usize| {
        let mut out = Vec::new();
        for n in [entries, bits_per_entry, probes] {
            leb128::write::unsigned(&mut out, n).expect("vec");
        }
        out.extend(vec![0xa5; bits]);
        out
    };
    // A well-formed filter (automerge's shape: 10 bits an entry, 7 probes) and none at all pass.
    assert!(check_sync_message(&message_with_bloom(&filter(3, 10, 7, 4))).is_ok());
    assert!(check_sync_message(&message_with_bloom(&[])).is_ok());
    for (why, bloom) in [
        ("no bits per entry", filter(3, 0, 7, 0)),
        ("no entries", filter(0, 10, 7, 0)),
        ("no probes", filter(3, 10, 0, 4)),
        ("2^32 - 1 probes", filter(3, 10, u64::from(u32::MAX), 4)),
        ("fewer bits than declared", filter(3, 10, 7, 3)),
        ("a count past u32", filter(1 << 33, 10, 7, 4)),
    ] {
        assert_eq!(
            check_sync_message(&message_with_bloom(&bloom)),
            Err(ChunkError::BadBloomFilter),
            "{why}"
        );
    }
}

#[test]
fn a_compressed_change_bomb_is_refused_without_inflating_it_all() {
    let bomb = chunk(
        CHUNK_COMPRESSED,
        &zeros_deflated(MAX_INFLATED_BYTES + (1 << 20)),
    );
    assert!(bomb.len() < 1 << 20, "{} bytes", bomb.len());
    let err = check_sync_message(&message(std::slice::from_ref(&bomb))).expect_err("bomb refused");
    assert_eq!(
        err,
        ChunkError::InflateLimit {
            limit: MAX_INFLATED_BYTES
        }
    );
    assert_eq!(err.reason(), "inflate_limit");
    assert!(check_document(&bomb).is_err());
}

#[test]
fn many_small_bombs_add_up_to_the_limit() {
    // Each inflates to 1 MiB, within the limit alone; 40 of them are not.
    let one = chunk(CHUNK_COMPRESSED, &zeros_deflated(1 << 20));
    let several = vec![one; 40];
    assert!(matches!(
        check_sync_message(&message(&several)),
        Err(ChunkError::InflateLimit { .. })
    ));
    // And a guard shared by a request's messages counts them all.
    let mut guard = ChunkGuard::new(8 << 20, 18 << 20);
    let msg = message(&several[..5]);
    guard.check_sync_message(&msg).expect("5 MiB");
    guard.check_sync_message(&msg).expect("10 MiB");
    guard.check_sync_message(&msg).expect("15 MiB");
    assert_eq!(guard.left(), 3 << 20);
    assert!(guard.check_sync_message(&msg).is_err(), "20 MiB is over 18");
    // Exactly at the limit is allowed.
    let mut guard = ChunkGuard::new(5 << 20, 5 << 20);
    guard.check_sync_message(&msg).expect("5 MiB of 5");
}

#[test]
fn a_document_with_a_deflated_column_bomb_is_refused() {
    let column = zeros_deflated(9 << 20);
    let mut data = vec![0, 0]; // no actors, no heads
    data.push(1); // one change column, deflated
    data.extend(uleb_bytes((1 << 4) | COLUMN_DEFLATE as usize));
    data.extend(uleb_bytes(column.len()));
    data.push(0); // no op columns
    data.extend(&column);
    let mut guard = ChunkGuard::new(8 << 20, 8 << 20);
    assert_eq!(
        guard.check_document(&chunk(CHUNK_DOCUMENT, &data)),
        Err(ChunkError::InflateLimit { limit: 8 << 20 })
    );
    // The same column, small and well formed (a literal run of three group counts), passes
    // the walk (automerge judges the rest).
    let small = deflate(&[0x7d, 1, 2, 3]);
    let mut data = vec![0, 0, 1];
    data.extend(uleb_bytes((1 << 4) | COLUMN_DEFLATE as usize));
    data.extend(uleb_bytes(small.len()));
    data.push(0);
    data.extend(&small);
    let walk = check_document(&chunk(CHUNK_DOCUMENT, &data)).expect("small column");
    assert_eq!(walk.inflated, 4);
}

/// A change column whose run-length encoding declares billions of rows in a few bytes, plain
/// or deflated: automerge 0.12 would collect them into a vector and abort on the allocation.
#[test]
fn a_change_column_declaring_billions_of_rows_is_refused() {
    let mut run = Vec::new();
    leb128::write::signed(&mut run, 1 << 32).expect("vec");
    run.push(0); // actor 0, repeated 2^32 times
    for deflated in [false, true] {
        let column = if deflated { deflate(&run) } else { run.clone() };
        let spec = (1 << 4) | 1 | if deflated { COLUMN_DEFLATE as usize } else { 0 };
        let mut data = vec![0, 0, 1]; // no actors, no heads, one change column
        data.extend(uleb_bytes(spec));
        data.extend(uleb_bytes(column.len()));
        data.push(0); // no op columns
        data.extend(&column);
        assert_eq!(
            check_document(&chunk(CHUNK_DOCUMENT, &data)),
            Err(ChunkError::TooManyRows {
                limit: MAX_DOC_CHANGES
            }),
            "deflated: {deflated}"
        );
    }
    // An op column of as many rows is refused too: automerge visits every op row.
    let mut data = vec![0, 0, 0, 1];
    data.extend(uleb_bytes((1 << 4) | 2));
    data.extend(uleb_bytes(run.len()));
    data.extend(&run);
    assert_eq!(
        check_document(&chunk(CHUNK_DOCUMENT, &data)),
        Err(ChunkError::TooManyRows { limit: MAX_DOC_OPS })
    );
}

/// A change chunk (inside a sync message, as a device or a server sends it) whose op columns
/// declare 2^40 rows of one repeated operation in a few bytes: automerge would check and apply
/// each (gigabytes, hours). Plain and compressed, alone and split across changes.
#[test]
fn a_change_declaring_billions_of_ops_is_refused_plain_or_compressed() {
    // dependencies none, actor of one byte, seq 1, start op 1, time 0, no message, no others
    let header = |body: &mut Vec<u8>| body.extend([0, 1, 7, 1, 1, 0, 0, 0]);
    let change_with_rows = |rows: u64| {
        let mut run = Vec::new();
        leb128::write::signed(&mut run, i64::try_from(rows).expect("rows")).expect("vec");
        run.push(3); // an integer column: 3, `rows` times
        let mut body = Vec::new();
        header(&mut body);
        body.push(1); // one op column
        body.extend(uleb_bytes((2 << 4) | 2));
        body.extend(uleb_bytes(run.len()));
        body.extend(&run);
        body
    };
    let bomb = change_with_rows(1 << 40);
    for (what, bytes) in [
        ("plain", chunk(CHUNK_CHANGE, &bomb)),
        ("compressed", chunk(CHUNK_COMPRESSED, &deflate(&bomb))),
    ] {
        assert_eq!(
            check_sync_message(&message(&[bytes])),
            Err(ChunkError::TooManyRows { limit: MAX_DOC_OPS }),
            "{what}"
        );
    }
    // Two document chunks of three quarters of the limit each in one input (automerge applies
    // a message's document chunks one by one): the second is refused.
    let doc_with_rows = |rows: u64| {
        let mut run = Vec::new();
        leb128::write::signed(&mut run, i64::try_from(rows).expect("rows")).expect("vec");
        run.push(3);
        let mut data = vec![0, 0, 0, 1]; // no actors, heads or change columns; one op column
        data.extend(uleb_bytes((2 << 4) | 2));
        data.extend(uleb_bytes(run.len()));
        data.extend(&run);
        chunk(CHUNK_DOCUMENT, &data)
    };
    let doc = doc_with_rows(MAX_DOC_OPS / 4 * 3);
    assert!(check_document(&doc).is_ok());
    assert!(matches!(
        check_document(&[doc.clone(), doc.clone()].concat()),
        Err(ChunkError::TooManyRows { .. })
    ));
    assert!(matches!(
        check_sync_message(&message(&[doc.clone(), doc])),
        Err(ChunkError::TooManyRows { .. })
    ));
    // Two changes of three quarters of the limit each: the second is refused.
    let big = chunk(CHUNK_CHANGE, &change_with_rows(MAX_DOC_OPS / 4 * 3));
    assert!(check_sync_message(&message(std::slice::from_ref(&big))).is_ok());
    assert!(matches!(
        check_sync_message(&message(&[big.clone(), big])),
        Err(ChunkError::TooManyRows { .. })
    ));
    // A change's actor column may name its own actor (0) and the others it lists, no more.
    let mut body = Vec::new();
    header(&mut body);
    body.push(1);
    body.extend(uleb_bytes((3 << 4) | 1)); // an actor column of two bytes:
    body.extend([2, 2, 1]); // a repeat run of two of actor 1, which this change does not list
    assert_eq!(
        check_sync_message(&message(&[chunk(CHUNK_CHANGE, &body)])),
        Err(ChunkError::UnknownActor {
            index: 1,
            actors: 1
        })
    );
}

/// An op naming actor 2^32 - 2 of a document with one actor: automerge 0.12 sizes tables by
/// that index while it rebuilds the changes (4 GiB, then 32 GiB: an abort).
#[test]
fn an_op_naming_an_actor_the_document_does_not_list_is_refused() {
    let mut run = Vec::new();
    leb128::write::signed(&mut run, 1).expect("vec");
    leb128::write::unsigned(&mut run, u64::from(u32::MAX) - 1).expect("vec");
    let mut data = vec![1, 1, 7, 0, 0]; // one actor (one byte), no heads, no change columns
    data.push(1); // one op column: the pred actor column, an actor column
    data.extend(uleb_bytes((7 << 4) | 1));
    data.extend(uleb_bytes(run.len()));
    data.extend(&run);
    assert_eq!(
        check_document(&chunk(CHUNK_DOCUMENT, &data)),
        Err(ChunkError::UnknownActor {
            index: u64::from(u32::MAX) - 1,
            actors: 1
        })
    );
}

#[test]
fn truncated_and_lying_lengths_are_refused() {
    let mut doc = case_docs().remove(0);
    let saved = doc.save();
    for cut in [1, 5, 9, saved.len() / 2, saved.len() - 1] {
        assert!(check_document(&saved[..cut]).is_err(), "cut at {cut}");
    }
    assert_eq!(check_document(&[]), Err(ChunkError::Truncated));
    // A chunk length one more than the bytes present.
    let data = b"change body";
    let mut lying = chunk(CHUNK_CHANGE, data);
    lying[9] += 1;
    assert_eq!(check_document(&lying), Err(ChunkError::Truncated));
    // A message whose change entry claims more bytes than follow.
    let mut msg = message(&[chunk(CHUNK_CHANGE, data)]);
    msg[5] += 1;
    assert_eq!(check_sync_message(&msg), Err(ChunkError::Truncated));
    // Counts of hashes that cannot be there.
    let huge_count = [MESSAGE_V1, 0xff, 0xff, 0xff, 0xff, 0x0f];
    assert_eq!(check_sync_message(&huge_count), Err(ChunkError::Truncated));
    // A document column longer than the chunk.
    let mut data = vec![0, 0, 1];
    data.extend(uleb_bytes(1 << 4));
    data.extend(uleb_bytes(1 << 30));
    data.push(0);
    assert_eq!(
        check_document(&chunk(CHUNK_DOCUMENT, &data)),
        Err(ChunkError::Truncated)
    );
    // Garbage after a message's flags.
    let mut msg = message(&[]);
    msg.extend([1, 2, 9]);
    assert_eq!(check_sync_message(&msg), Err(ChunkError::Trailing));
}

#[test]
fn unknown_chunk_types_bundles_and_garbage_are_refused() {
    for kind in [3u8, 4, 0x7f, 0xff] {
        assert_eq!(
            check_document(&chunk(kind, b"x")),
            Err(ChunkError::UnknownChunkType(kind))
        );
        assert_eq!(
            check_sync_message(&message(&[chunk(kind, b"x")])),
            Err(ChunkError::UnknownChunkType(kind))
        );
    }
    assert_eq!(check_document(b"not automerge"), Err(ChunkError::BadMagic));
    assert_eq!(
        check_sync_message(b"\x41rest"),
        Err(ChunkError::NotSyncMessage)
    );
    let not_deflate = chunk(CHUNK_COMPRESSED, &[0xff; 16]);
    assert_eq!(check_document(&not_deflate), Err(ChunkError::BadDeflate));
}

#[test]
fn automerge_accepts_what_the_walker_passes_for_a_plain_document() {
    let mut doc = AutoCommit::new();
    doc.put(ROOT, "text", "word ".repeat(5_000)).expect("put");
    let saved = doc.save();
    let walk = check_document(&saved).expect("passes");
    assert!(walk.inflated > 0, "a long string is a deflated column");
    AutoCommit::load(&saved).expect("automerge loads it");
}
