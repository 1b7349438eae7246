//! Sync wire format 2: a [`SyncRequest`] or [`SyncResponse`] as a small binary envelope whose
//! automerge payloads travel as raw bytes, not base64 inside JSON. `docs/protocol.md`
//! ("Wire formats") describes it and `tests/fixtures/protocol/*.v2.bin` pin it.
//!
//! ```text
//! "CBSY"  format: u8 = 2  kind: u8 (1 request, 2 response)  header length: u32, big-endian
//! header: the version 1 JSON of the message with every `data` replaced by `"len": <bytes>`
//! payloads: each message's bytes, then each snapshot's, in header order, back to back
//! ```
//!
//! Decoding is bounded by the input: the header length and every payload length are checked
//! against the bytes present before anything is sliced or copied, and the lengths must add up
//! to exactly the bytes after the header. Decoding checks only the envelope; the payloads go
//! through [`crate::doc::chunk_guard`] where they are used, as in version 1.
//!
//! ```
//! use casebook_core::sync::frame;
//! use casebook_core::sync::wire::{PROTOCOL_VERSION, SyncRequest};
//!
//! let request = SyncRequest {
//!     v: PROTOCOL_VERSION,
//!     cursor: 7,
//!     messages: vec![],
//!     purged: vec![],
//!     epoch: None,
//! };
//! let bytes = frame::encode_request(&request);
//! assert_eq!(frame::decode_request(&bytes)?, request);
//! assert!(frame::decode_request(b"{\"v\":1}").is_err());
//! # Ok::<(), casebook_core::error::FrameError>(())
//! ```

use serde::{Deserialize, Serialize};

use super::wire::{DocMessage, DocRejection, DocSnapshot, Notice, SyncRequest, SyncResponse};
use crate::alert::Alert;
use crate::doc::DocId;
use crate::error::FrameError;

/// The content type of a version 1 body (JSON, payloads in base64).
pub const CONTENT_TYPE_JSON: &str = "application/json";

/// The content type of a wire format 2 body, request and response alike.
pub const CONTENT_TYPE_V2: &str = "application/vnd.casebook.sync.v2";

/// The prefix of every wire format's content type after version 1; what follows is the
/// format's number.
pub const CONTENT_TYPE_PREFIX: &str = "application/vnd.casebook.sync.v";

/// The frame's magic bytes.
pub const MAGIC: [u8; 4] = *b"CBSY";

/// The wire format these frames are.
pub const WIRE_FORMAT: u8 = 2;

/// The kind byte of a request frame.
pub const KIND_REQUEST: u8 = 1;

/// The kind byte of a response frame.
pub const KIND_RESPONSE: u8 = 2;

/// Bytes before the header: magic, format, kind, header length.
pub const PREFIX_BYTES: usize = MAGIC.len() + 2 + 4;

type Result<T> = std::result::Result<T, FrameError>;

/// A payload as the header names it: its document and its length in bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Part {
    doc: DocId,
    len: u64,
}

/// A request's header: [`SyncRequest`] with lengths for payloads.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestHeader {
    v: u32,
    cursor: u64,
    #[serde(default)]
    messages: Vec<Part>,
    #[serde(default)]
    purged: Vec<DocId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    epoch: Option<String>,
}

/// A response's header: [`SyncResponse`] with lengths for payloads (the same optional fields
/// left out when empty).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResponseHeader {
    v: u32,
    cursor: u64,
    #[serde(default)]
    messages: Vec<Part>,
    #[serde(default)]
    snapshots: Vec<Part>,
    #[serde(default)]
    purge: Vec<DocId>,
    #[serde(default)]
    rejected: Vec<DocRejection>,
    #[serde(default)]
    more: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    notices: Vec<Notice>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    alerts: Vec<Alert>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pending_docs: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pending_bytes: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    epoch: Option<String>,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde passes a reference
fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn part(doc: DocId, data: &[u8]) -> Part {
    Part {
        doc,
        len: data.len() as u64,
    }
}

/// Encode a request as a wire format 2 frame.
pub fn encode_request(request: &SyncRequest) -> Vec<u8> {
    // Every field named, so a field added to the message cannot be forgotten here.
    let SyncRequest {
        v,
        cursor,
        messages,
        purged,
        epoch,
    } = request;
    let header = RequestHeader {
        v: *v,
        cursor: *cursor,
        messages: messages.iter().map(|m| part(m.doc, &m.data)).collect(),
        purged: purged.clone(),
        epoch: epoch.clone(),
    };
    frame(
        KIND_REQUEST,
        &header,
        messages.iter().map(|m| m.data.as_slice()),
    )
}

/// Encode a response as a wire format 2 frame.
pub fn encode_response(response: &SyncResponse) -> Vec<u8> {
    let SyncResponse {
        v,
        cursor,
        messages,
        snapshots,
        purge,
        rejected,
        more,
        notices,
        alerts,
        pending_docs,
        pending_bytes,
        epoch,
    } = response;
    let header = ResponseHeader {
        v: *v,
        cursor: *cursor,
        messages: messages.iter().map(|m| part(m.doc, &m.data)).collect(),
        snapshots: snapshots.iter().map(|s| part(s.doc, &s.data)).collect(),
        purge: purge.clone(),
        rejected: rejected.clone(),
        more: *more,
        notices: notices.clone(),
        alerts: alerts.clone(),
        pending_docs: *pending_docs,
        pending_bytes: *pending_bytes,
        epoch: epoch.clone(),
    };
    let payloads = messages
        .iter()
        .map(|m| m.data.as_slice())
        .chain(snapshots.iter().map(|s| s.data.as_slice()));
    frame(KIND_RESPONSE, &header, payloads)
}

fn frame<'a>(
    kind: u8,
    header: &impl Serialize,
    payloads: impl Iterator<Item = &'a [u8]>,
) -> Vec<u8> {
    // Serialising these plain structs cannot fail (string keys, no maps of other keys).
    let header = serde_json::to_vec(header).unwrap_or_default();
    let header_len = u32::try_from(header.len()).unwrap_or(u32::MAX);
    let payloads: Vec<&[u8]> = payloads.collect();
    let total = PREFIX_BYTES + header.len() + payloads.iter().map(|p| p.len()).sum::<usize>();
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&MAGIC);
    out.push(WIRE_FORMAT);
    out.push(kind);
    out.extend_from_slice(&header_len.to_be_bytes());
    out.extend_from_slice(&header);
    for payload in payloads {
        out.extend_from_slice(payload);
    }
    out
}

/// Decode a request frame. Bytes in, request or a reason out; nothing is allocated beyond
/// what the input holds.
pub fn decode_request(bytes: &[u8]) -> Result<SyncRequest> {
    let (header, payloads) = split(bytes, KIND_REQUEST)?;
    let header: RequestHeader =
        serde_json::from_slice(header).map_err(|_| FrameError::Header("sync request"))?;
    let mut payloads = Payloads::new(payloads, [&header.messages])?;
    let messages = header
        .messages
        .into_iter()
        .map(|p| DocMessage {
            doc: p.doc,
            data: payloads.take(p.len),
        })
        .collect();
    Ok(SyncRequest {
        v: header.v,
        cursor: header.cursor,
        messages,
        purged: header.purged,
        epoch: header.epoch,
    })
}

/// Decode a response frame. Bytes in, response or a reason out; nothing is allocated beyond
/// what the input holds.
pub fn decode_response(bytes: &[u8]) -> Result<SyncResponse> {
    let (header, payloads) = split(bytes, KIND_RESPONSE)?;
    let header: ResponseHeader =
        serde_json::from_slice(header).map_err(|_| FrameError::Header("sync response"))?;
    let mut payloads = Payloads::new(payloads, [&header.messages, &header.snapshots])?;
    let messages = header
        .messages
        .into_iter()
        .map(|p| DocMessage {
            doc: p.doc,
            data: payloads.take(p.len),
        })
        .collect();
    let snapshots = header
        .snapshots
        .into_iter()
        .map(|p| DocSnapshot {
            doc: p.doc,
            data: payloads.take(p.len),
        })
        .collect();
    Ok(SyncResponse {
        v: header.v,
        cursor: header.cursor,
        messages,
        snapshots,
        purge: header.purge,
        rejected: header.rejected,
        more: header.more,
        notices: header.notices,
        alerts: header.alerts,
        pending_docs: header.pending_docs,
        pending_bytes: header.pending_bytes,
        epoch: header.epoch,
    })
}

/// Check the prefix; give the header and the payload bytes.
fn split(bytes: &[u8], kind: u8) -> Result<(&[u8], &[u8])> {
    let Some((prefix, rest)) = bytes.split_first_chunk::<PREFIX_BYTES>() else {
        return Err(
            if bytes.len() >= MAGIC.len() && !bytes.starts_with(&MAGIC) {
                FrameError::BadMagic
            } else {
                FrameError::Truncated("prefix")
            },
        );
    };
    let [m0, m1, m2, m3, format, found, l0, l1, l2, l3] = *prefix;
    if [m0, m1, m2, m3] != MAGIC {
        return Err(FrameError::BadMagic);
    }
    if format != WIRE_FORMAT {
        return Err(FrameError::UnsupportedFormat(format));
    }
    if found != kind {
        return Err(FrameError::WrongKind {
            found,
            expected: kind,
        });
    }
    let header_len = usize::try_from(u32::from_be_bytes([l0, l1, l2, l3]))
        .map_err(|_| FrameError::Truncated("header"))?;
    if header_len > rest.len() {
        return Err(FrameError::Truncated("header"));
    }
    Ok(rest.split_at(header_len))
}

/// The payload bytes, handed out in order once their declared lengths are known to add up to
/// exactly what is present.
struct Payloads<'a> {
    rest: &'a [u8],
}

impl<'a> Payloads<'a> {
    fn new<const N: usize>(bytes: &'a [u8], parts: [&Vec<Part>; N]) -> Result<Self> {
        let declared = parts
            .iter()
            .flat_map(|list| list.iter())
            .try_fold(0u64, |sum, p| sum.checked_add(p.len))
            .unwrap_or(u64::MAX);
        let present = bytes.len() as u64;
        if declared != present {
            return Err(FrameError::PayloadLength { declared, present });
        }
        Ok(Self { rest: bytes })
    }

    /// The next `len` bytes. The lengths were checked to add up to the bytes present, so
    /// this never runs short.
    fn take(&mut self, len: u64) -> Vec<u8> {
        let len = usize::try_from(len)
            .unwrap_or(usize::MAX)
            .min(self.rest.len());
        let (head, tail) = self.rest.split_at(len);
        self.rest = tail;
        head.to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doc::DocKind;
    use crate::ids::CaseId;
    use crate::sync::wire::{PROTOCOL_VERSION, RejectReason};

    fn doc(kind: DocKind) -> DocId {
        DocId::new(CaseId::from_bytes([0x11; 16]), kind)
    }

    fn response() -> SyncResponse {
        SyncResponse {
            v: PROTOCOL_VERSION,
            cursor: 9,
            messages: vec![DocMessage {
                doc: doc(DocKind::Visits),
                data: vec![0x43, 1, 2],
            }],
            snapshots: vec![
                DocSnapshot {
                    doc: doc(DocKind::Safety),
                    data: vec![0x85; 300],
                },
                DocSnapshot {
                    doc: doc(DocKind::Profile),
                    data: vec![],
                },
            ],
            purge: vec![doc(DocKind::Location)],
            rejected: vec![DocRejection {
                doc: doc(DocKind::Associates),
                reason: RejectReason::ReadOnly,
            }],
            more: true,
            notices: vec![],
            alerts: vec![],
            pending_docs: 3,
            pending_bytes: 4000,
            epoch: Some("3f9a0c12d4e5b6a7".into()),
        }
    }

    #[test]
    fn a_response_round_trips_with_its_payloads_raw() {
        let response = response();
        let bytes = encode_response(&response);
        assert_eq!(decode_response(&bytes), Ok(response.clone()));
        // The payloads are the frame's tail, as they are: no base64.
        assert!(bytes.ends_with(&[&[0x43, 1, 2][..], &[0x85; 300]].concat()));
        // A response frame is not a request.
        assert_eq!(
            decode_request(&bytes),
            Err(FrameError::WrongKind {
                found: KIND_RESPONSE,
                expected: KIND_REQUEST
            })
        );
    }

    #[test]
    fn every_truncation_and_every_wrong_length_is_refused() {
        let bytes = encode_response(&response());
        for cut in 0..bytes.len() {
            assert!(decode_response(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(
            decode_response(&longer),
            Err(FrameError::PayloadLength {
                declared: 303,
                present: 304
            })
        );
    }

    #[test]
    fn lengths_that_overflow_or_lie_allocate_nothing_and_are_refused() {
        let header = format!(
            r#"{{"v":1,"cursor":0,"messages":[{{"doc":"{}","len":{}}},{{"doc":"{}","len":2}}]}}"#,
            doc(DocKind::Visits),
            u64::MAX,
            doc(DocKind::Safety),
        );
        let mut bytes = MAGIC.to_vec();
        bytes.extend([WIRE_FORMAT, KIND_REQUEST]);
        bytes.extend(u32::try_from(header.len()).expect("small").to_be_bytes());
        bytes.extend(header.as_bytes());
        bytes.extend([1, 2, 3]);
        assert_eq!(
            decode_request(&bytes),
            Err(FrameError::PayloadLength {
                declared: u64::MAX,
                present: 3
            })
        );
        // A header length past the end.
        let mut bytes = MAGIC.to_vec();
        bytes.extend([WIRE_FORMAT, KIND_REQUEST]);
        bytes.extend(u32::MAX.to_be_bytes());
        assert_eq!(decode_request(&bytes), Err(FrameError::Truncated("header")));
    }

    #[test]
    fn other_formats_kinds_and_headers_are_refused_by_name() {
        let request = SyncRequest {
            v: PROTOCOL_VERSION,
            cursor: 1,
            messages: vec![],
            purged: vec![],
            epoch: None,
        };
        let good = encode_request(&request);
        let mut v3 = good.clone();
        v3[4] = 3;
        assert_eq!(decode_request(&v3), Err(FrameError::UnsupportedFormat(3)));
        assert_eq!(
            decode_request(br#"{"v":1,"cursor":0,"messages":[]}"#),
            Err(FrameError::BadMagic)
        );
        let mut kind = good.clone();
        kind[5] = 9;
        assert_eq!(
            decode_request(&kind),
            Err(FrameError::WrongKind {
                found: 9,
                expected: KIND_REQUEST
            })
        );
        // An unknown header field, as in version 1's JSON.
        let header = br#"{"v":1,"cursor":0,"sneaky":true}"#;
        let mut bytes = good[..6].to_vec();
        bytes.extend(u32::try_from(header.len()).expect("small").to_be_bytes());
        bytes.extend(header);
        assert_eq!(
            decode_request(&bytes),
            Err(FrameError::Header("sync request"))
        );
    }

    #[test]
    fn a_noop_request_is_a_few_dozen_bytes() {
        let request = SyncRequest {
            v: PROTOCOL_VERSION,
            cursor: 123_456,
            messages: vec![],
            purged: vec![],
            epoch: None,
        };
        let bytes = encode_request(&request);
        assert!(bytes.len() < 64, "{}", bytes.len());
    }
}
