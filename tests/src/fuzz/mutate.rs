//! Mutations of real inputs: raw byte edits (flip, interesting values, insert, delete,
//! duplicate, splice from another seed) and structure-aware ones that edit inside an
//! automerge chunk, a document column, a sync message's change list, or a sync request's
//! JSON, and then repair the framing so the edit reaches the parser behind it.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde_json::{Value, json};

use super::automerge_bytes::{DocumentParts, MessageParts, encode_chunks, parse_chunks};

const INTERESTING: &[u64] = &[
    0,
    1,
    0x7f,
    0x80,
    0xff,
    0x100,
    0x7fff,
    0xffff,
    0x1_0000,
    0x7fff_ffff,
    0xffff_ffff,
    u64::MAX,
    u64::MAX / 2,
];

/// Raw byte edits, 1 to 4 of them, splicing from `other` sometimes.
pub fn bytes(rng: &mut StdRng, input: &mut Vec<u8>, other: &[u8]) {
    for _ in 0..rng.gen_range(1..=4) {
        one_byte_edit(rng, input, other);
    }
}

fn one_byte_edit(rng: &mut StdRng, input: &mut Vec<u8>, other: &[u8]) {
    let len = input.len();
    match rng.gen_range(0..9) {
        0 if len > 0 => {
            let i = rng.gen_range(0..len);
            input[i] ^= 1 << rng.gen_range(0..8);
        }
        1 if len > 0 => {
            let i = rng.gen_range(0..len);
            input[i] = rng.r#gen();
        }
        2 if len > 0 => {
            // An interesting value as LEB128 over whatever was there.
            let i = rng.gen_range(0..len);
            let mut leb = Vec::new();
            super::automerge_bytes::write_uleb(&mut leb, *INTERESTING.choose(rng).unwrap_or(&0));
            let end = (i + leb.len()).min(len);
            input.splice(i..end, leb);
        }
        3 => {
            let i = rng.gen_range(0..=len);
            let n = rng.gen_range(1..=16);
            let fill: Vec<u8> = (0..n).map(|_| rng.r#gen()).collect();
            input.splice(i..i, fill);
        }
        4 if len > 1 => {
            let i = rng.gen_range(0..len);
            let n = rng.gen_range(1..=(len - i).min(64));
            input.drain(i..i + n);
        }
        5 if len > 1 => {
            // Duplicate a range in place.
            let i = rng.gen_range(0..len);
            let n = rng.gen_range(1..=(len - i).min(64));
            let copy = input[i..i + n].to_vec();
            let at = rng.gen_range(0..=len);
            input.splice(at..at, copy);
        }
        6 if !other.is_empty() => {
            // Splice a range of another seed.
            let i = rng.gen_range(0..other.len());
            let n = rng.gen_range(1..=(other.len() - i).min(256));
            let at = rng.gen_range(0..=len);
            let end = (at + rng.gen_range(0..=n)).min(len);
            input.splice(at..end, other[i..i + n].iter().copied());
        }
        7 if len > 0 => {
            let i = rng.gen_range(0..len);
            input.truncate(i);
        }
        _ if len > 0 => {
            let i = rng.gen_range(0..len);
            input[i] = *[0u8, 0x7f, 0x80, 0xff, 0x01, 0x85, 0x42, 0x43]
                .choose(rng)
                .unwrap_or(&0);
        }
        _ => input.push(rng.r#gen()),
    }
}

/// Edit inside a chunk (a column of a document chunk when it parses) and repair the framing
/// (lengths always, checksums nine times in ten); falls back to raw edits.
pub fn chunks(rng: &mut StdRng, input: &mut Vec<u8>, other: &[u8]) {
    let Some(mut parsed) = parse_chunks(input) else {
        return bytes(rng, input, other);
    };
    let i = rng.gen_range(0..parsed.len());
    let count = parsed.len();
    let chunk = &mut parsed[i];
    match DocumentParts::parse(&chunk.data).filter(|_| rng.gen_bool(0.7)) {
        Some(mut parts) => {
            let total = parts.change_columns.len() + parts.op_columns.len();
            match rng.gen_range(0..6) {
                0 => bytes(rng, &mut parts.prefix, other),
                1 if total > 0 => {
                    let c = rng.gen_range(0..total);
                    let column = if c < parts.change_columns.len() {
                        &mut parts.change_columns[c]
                    } else {
                        &mut parts.op_columns[c - parts.change_columns.len()]
                    };
                    column.0 ^= 1 << rng.gen_range(0..8);
                }
                2 if total > 1 => {
                    // Drop or swap columns.
                    if rng.gen_bool(0.5) && !parts.op_columns.is_empty() {
                        let c = rng.gen_range(0..parts.op_columns.len());
                        parts.op_columns.remove(c);
                    } else if parts.op_columns.len() > 1 {
                        let a = rng.gen_range(0..parts.op_columns.len());
                        let b = rng.gen_range(0..parts.op_columns.len());
                        parts.op_columns.swap(a, b);
                    }
                }
                _ if total > 0 => {
                    let c = rng.gen_range(0..total);
                    let column = if c < parts.change_columns.len() {
                        &mut parts.change_columns[c].1
                    } else {
                        &mut parts.op_columns[c - parts.change_columns.len()].1
                    };
                    bytes(rng, column, other);
                }
                _ => bytes(rng, &mut parts.suffix, other),
            }
            chunk.data = parts.encode();
        }
        None => match rng.gen_range(0..8) {
            0 => chunk.kind = rng.gen_range(0..5),
            1 if count > 1 => {
                parsed.remove(i);
            }
            2 => {
                let copy = chunk.clone();
                parsed.push(copy);
            }
            _ => bytes(rng, &mut chunk.data, other),
        },
    }
    *input = encode_chunks(&parsed, rng.gen_bool(0.9));
}

/// Edit an encoded sync message: its summary (heads, need, have), its change list (entries
/// dropped, duplicated, or edited inside with [`chunks`]) or its flags; falls back to raw
/// edits.
pub fn message(rng: &mut StdRng, input: &mut Vec<u8>, other: &[u8]) {
    let Some(mut parts) = MessageParts::parse(input) else {
        return bytes(rng, input, other);
    };
    match rng.gen_range(0..10) {
        0 => bytes(rng, &mut parts.summary, other),
        1 => bytes(rng, &mut parts.suffix, other),
        2 => parts.kind = *[0x42u8, 0x43, 0x41, 0x00].choose(rng).unwrap_or(&0x42),
        3 if !parts.changes.is_empty() => {
            let c = rng.gen_range(0..parts.changes.len());
            if rng.gen_bool(0.5) {
                parts.changes.remove(c);
            } else {
                let copy = parts.changes[c].clone();
                parts.changes.push(copy);
            }
        }
        4 if !other.is_empty() => {
            // Another message's changes (a document's changes sent for another).
            if let Some(theirs) = MessageParts::parse(other) {
                parts.changes.extend(theirs.changes);
            }
        }
        _ if !parts.changes.is_empty() => {
            let c = rng.gen_range(0..parts.changes.len());
            chunks(rng, &mut parts.changes[c], other);
        }
        _ => bytes(rng, &mut parts.summary, other),
    }
    *input = parts.encode();
}

/// Edit a sync request's JSON: a message's bytes (decoded, edited as a sync message,
/// encoded again), document ids, the cursor and version, the lists and their caps, unknown
/// fields; or the text itself one time in eight.
pub fn request(rng: &mut StdRng, input: &mut Vec<u8>, other: &[u8]) {
    let parsed: Option<Value> = serde_json::from_slice(input).ok();
    let Some(mut value) = parsed.filter(|_| rng.gen_range(0..8) != 0) else {
        return bytes(rng, input, other);
    };
    let Some(object) = value.as_object_mut() else {
        return bytes(rng, input, other);
    };
    let weird = [
        json!(-1),
        json!(u64::MAX),
        json!(1e300),
        json!("1"),
        json!(null),
        json!([]),
        json!({}),
        json!(true),
    ];
    match rng.gen_range(0..12) {
        0 => {
            object.insert("v".into(), weird.choose(rng).cloned().unwrap_or_default());
        }
        1 => {
            object.insert(
                "cursor".into(),
                weird.choose(rng).cloned().unwrap_or_default(),
            );
        }
        2 => {
            object.insert("extra".into(), json!(1));
        }
        3 => {
            let key = ["v", "cursor", "messages", "purged"]
                .choose(rng)
                .copied()
                .unwrap_or("v");
            object.remove(key);
        }
        4 => {
            // Over the caps: many purge confirmations, or many messages.
            let n = *[1024usize, 1025, 257, 5000].choose(rng).unwrap_or(&1025);
            let doc = first_doc(object).unwrap_or_else(|| json!("x"));
            if rng.gen_bool(0.5) {
                object.insert("purged".into(), Value::Array(vec![doc; n]));
            } else {
                let message = json!({"doc": doc, "data": ""});
                object.insert("messages".into(), Value::Array(vec![message; n.min(300)]));
            }
        }
        5 => {
            if let Some(Value::Array(messages)) = object.get_mut("messages")
                && let Some(first) = messages.first().cloned()
            {
                messages.push(first);
            }
        }
        6 => {
            if let Some(Value::Array(messages)) = object.get_mut("messages")
                && let Some(Value::Object(m)) = messages.first_mut()
                && let Some(Value::String(doc)) = m.get_mut("doc")
            {
                let mut raw = doc.clone().into_bytes();
                bytes(rng, &mut raw, b"");
                *doc = String::from_utf8_lossy(&raw).into_owned();
            }
        }
        7 => {
            if let Some(Value::Array(messages)) = object.get_mut("messages")
                && let Some(Value::Object(m)) = messages.first_mut()
            {
                let bad = ["!!!!", "QQ=", "QUJD", "====", "\u{e9}"];
                m.insert("data".into(), json!(bad.choose(rng).copied().unwrap_or("")));
            }
        }
        _ => {
            // The bytes of a message, edited as a sync message.
            if let Some(Value::Array(messages)) = object.get_mut("messages")
                && !messages.is_empty()
            {
                let i = rng.gen_range(0..messages.len());
                if let Value::Object(m) = &mut messages[i]
                    && let Some(Value::String(data)) = m.get_mut("data")
                    && let Ok(mut raw) = STANDARD.decode(data.as_bytes())
                {
                    message(rng, &mut raw, other);
                    *data = STANDARD.encode(&raw);
                }
            } else {
                bytes(rng, input, other);
                return;
            }
        }
    }
    *input = serde_json::to_vec(&value).unwrap_or_default();
}

fn first_doc(object: &serde_json::Map<String, Value>) -> Option<Value> {
    object
        .get("messages")?
        .as_array()?
        .first()?
        .get("doc")
        .cloned()
}
