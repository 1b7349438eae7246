//! The sync protocol's wire messages (version 1), shared by the device and the server.
//! They travel as JSON, automerge payloads in standard base64, or (sync only) in wire
//! format 2 ([`super::frame`]) with the payloads raw. `docs/protocol.md` describes
//! the exchange and `tests/fixtures/protocol/` pins the encoding.

use serde::{Deserialize, Serialize};

use crate::doc::DocId;
use crate::ids::{DeviceId, UserId};

/// The protocol version this build speaks. Every request and response carries it.
pub const PROTOCOL_VERSION: u32 = 1;

/// Largest sync request body a server accepts, in bytes.
pub const MAX_SYNC_REQUEST_BYTES: usize = 16 * 1024 * 1024;

/// Most bytes a device accepts in one sync answer once decompressed: the server's budget of
/// stored documents (about 8 MiB, or one document of up to [`MAX_DOC_BYTES`]) sent with their
/// columns inflated (at most four times their stored size, see `docs/protocol.md`), with
/// room to spare. A zstd answer that decompresses past it is refused.
pub const MAX_SYNC_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

/// Largest encoded JSON body a device puts in one sync request, in bytes: a quarter under
/// [`MAX_SYNC_REQUEST_BYTES`], so headers, JSON framing and a rounding error never reach the
/// server's limit. A device with more to send splits it over several requests of the same
/// session ("stepped push"); a single document's message larger than this is the only
/// message that cannot be sent.
pub const SYNC_REQUEST_BUDGET_BYTES: usize = MAX_SYNC_REQUEST_BYTES / 4 * 3;

/// JSON bytes a [`DocMessage`] (or [`DocSnapshot`]) whose payload is `data_len` bytes takes
/// in a request or response: base64 inflation (4 characters per 3 bytes, padded) plus the
/// object's keys, the document id and separators (bounded generously).
pub const fn encoded_message_len(data_len: usize) -> usize {
    data_len.div_ceil(3) * 4 + MESSAGE_FRAMING_BYTES
}

/// Upper bound on the JSON around one message's payload: `{"doc":"<id>","data":""},`.
pub const MESSAGE_FRAMING_BYTES: usize = 160;

/// JSON bytes of a request's fields other than its messages (version, cursor, purge
/// confirmations at their cap), bounded generously.
pub const REQUEST_FRAMING_BYTES: usize = 64 * 1024;

/// Largest single document a server stores or sends, in bytes of its compacted save.
pub const MAX_DOC_BYTES: usize = 8 * 1024 * 1024;

/// Most document messages one sync request may carry (and one response carries); a device
/// with more to say splits them over several requests of the same session.
pub const MAX_SYNC_MESSAGES: usize = 256;

/// Most purge confirmations one sync request may carry (and purge orders one response
/// carries); more are confirmed in the next request of the same session.
pub const MAX_SYNC_PURGED: usize = 1024;

/// Base64 (standard alphabet, padded) for byte fields.
pub mod b64 {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serialise bytes as base64.
    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    /// Parse base64 into bytes.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        STANDARD
            .decode(text.as_bytes())
            .map_err(serde::de::Error::custom)
    }
}

/// One automerge sync message for one document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocMessage {
    /// The document.
    pub doc: DocId,
    /// `automerge::sync::Message::encode()` bytes.
    #[serde(with = "b64")]
    pub data: Vec<u8>,
}

/// A whole document, sent when the device has never synced it with this server
/// (a case newly shared with the user, or a fresh device).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocSnapshot {
    /// The document.
    pub doc: DocId,
    /// `automerge::AutoCommit::save()` bytes.
    #[serde(with = "b64")]
    pub data: Vec<u8>,
}

/// Why the server did not take a device's message for a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RejectReason {
    /// The user may not read this document.
    Forbidden,
    /// The message carried changes to a document the user may read but not write.
    ReadOnly,
    /// The message or the resulting document did not decode, or was larger than
    /// [`MAX_DOC_BYTES`]; the document is quarantined for this device until it changes.
    Quarantined,
}

/// A document the server refused, and why. Other documents in the same request are unaffected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocRejection {
    /// The document.
    pub doc: DocId,
    /// Why.
    pub reason: RejectReason,
}

/// A device's sync request: `POST /v1/sync` with a session token.
///
/// The first request of a session carries the device's cursor (the server sequence it has
/// fully caught up to) and messages only for the documents it changed; later requests of the
/// same session carry the cursor the server last answered with, and replies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncRequest {
    /// Always [`PROTOCOL_VERSION`].
    pub v: u32,
    /// The server sequence the device has caught up to.
    pub cursor: u64,
    /// Sync messages, at most one per document.
    #[serde(default)]
    pub messages: Vec<DocMessage>,
    /// Documents the device has purged after being told to.
    #[serde(default)]
    pub purged: Vec<DocId>,
    /// The server store's epoch as the device last saw it (`None`: never synced, or a
    /// device that predates epochs). The server sends its own in the answer only when it
    /// differs. Absent from the JSON when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<String>,
}

/// The server's answer to a [`SyncRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncResponse {
    /// Always [`PROTOCOL_VERSION`].
    pub v: u32,
    /// The server sequence this answer brings the device up to; send it in the next request,
    /// and persist it once a session ends with nothing left to exchange.
    pub cursor: u64,
    /// Sync messages: replies to the device's, and openings for documents changed since the
    /// request's cursor.
    #[serde(default)]
    pub messages: Vec<DocMessage>,
    /// Whole documents the device has never synced with this server.
    #[serde(default)]
    pub snapshots: Vec<DocSnapshot>,
    /// Documents the device must delete: the user's access to them has ended.
    #[serde(default)]
    pub purge: Vec<DocId>,
    /// Documents whose messages the server refused.
    #[serde(default)]
    pub rejected: Vec<DocRejection>,
    /// The server left documents out to keep this answer small; ask again.
    #[serde(default)]
    pub more: bool,
    /// Security notices for this device's user (another device enrolled, ...), each sent
    /// once. Absent from the JSON when empty, so answers without notices are unchanged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notices: Vec<Notice>,
    /// Alerts for this device's user it has not received yet, new or changed since the
    /// request's cursor (see [`crate::alert`]). Absent from the JSON when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alerts: Vec<crate::alert::Alert>,
    /// With `more`: how many documents the server has still to offer after this answer
    /// (at most: one the device turns out to hold already needs nothing), for progress
    /// displays. Absent from the JSON when zero.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub pending_docs: u64,
    /// With `more`: the stored bytes of those documents. Absent from the JSON when zero.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub pending_bytes: u64,
    /// The server store's epoch: new whenever the store is restored from a backup, when the
    /// server's sequences restart lower. Sent when the request's `epoch` is not this one. A
    /// device that sees it change forgets its cursor and sync states and offers every document
    /// it holds once (`docs/protocol.md`, "After a restore"). Absent from servers that
    /// predate it, and when the device already knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<String>,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde passes a reference
fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// What a [`Notice`] tells the device's user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum NoticeKind {
    /// A new device was enrolled for this user (with a code issued by an administrator or
    /// a supervisor). If the user did not enrol it, someone else holds their identity.
    DeviceEnrolled,
    /// A kind this build does not know (sent by a newer server).
    #[serde(other)]
    Unknown,
}

/// A security notice about the user's account, delivered through sync. It carries no case
/// content: only which device, its label and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notice {
    /// What happened.
    pub kind: NoticeKind,
    /// The device the notice is about (for `device_enrolled`: the new device).
    pub device_id: DeviceId,
    /// That device's label as given at enrolment.
    pub device_name: String,
    /// When it happened, in Unix seconds (server time).
    pub at: i64,
}

/// Largest body of an attachment request (`/v1/attachments/*`), in bytes: a photo of
/// [`crate::model::MAX_PHOTO_BYTES`] in base64 plus the JSON around it.
pub const MAX_ATTACHMENT_REQUEST_BYTES: usize = 8 * 1024 * 1024;

/// `POST /v1/attachments/upload`: an image a document refers to, taken on this device. The
/// server keeps it only if the document it stored refers to exactly these bytes.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttachmentUpload {
    /// Always [`PROTOCOL_VERSION`].
    pub v: u32,
    /// The document that refers to it (its access is the attachment's).
    pub doc: DocId,
    /// The attachment's id (32 lowercase hex characters).
    pub attachment_id: String,
    /// `image/png` or `image/jpeg`.
    pub media_type: String,
    /// The image.
    #[serde(with = "b64")]
    pub data: Vec<u8>,
}

/// `POST /v1/attachments/fetch`: ask for an image a document the device holds refers to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttachmentFetch {
    /// Always [`PROTOCOL_VERSION`].
    pub v: u32,
    /// The document that refers to it.
    pub doc: DocId,
    /// The attachment's id.
    pub attachment_id: String,
}

/// The answer to an [`AttachmentFetch`] (and the shape of an upload's image).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttachmentData {
    /// Always [`PROTOCOL_VERSION`].
    pub v: u32,
    /// The document that refers to it.
    pub doc: DocId,
    /// The attachment's id.
    pub attachment_id: String,
    /// `image/png` or `image/jpeg`.
    pub media_type: String,
    /// The image.
    #[serde(with = "b64")]
    pub data: Vec<u8>,
}

/// The answer to an [`AttachmentUpload`]: the server holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttachmentStored {
    /// Always [`PROTOCOL_VERSION`].
    pub v: u32,
    /// The attachment's id.
    pub attachment_id: String,
}

macro_rules! debug_without_bytes {
    ($($ty:ident),*) => {$(
        // The image is case data: never in logs.
        impl std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($ty))
                    .field("doc", &self.doc)
                    .field("attachment_id", &self.attachment_id)
                    .field("bytes", &self.data.len())
                    .finish_non_exhaustive()
            }
        }
    )*};
}
debug_without_bytes!(AttachmentUpload, AttachmentData);

/// `POST /v1/enrol`: a new device registers its public key with a one-time code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrolRequest {
    /// The one-time enrolment code an administrator or supervisor issued.
    pub code: String,
    /// The device's ECDSA P-256 public key, SEC1 encoded (compressed or not).
    #[serde(with = "b64")]
    pub public_key: Vec<u8>,
    /// A label for administrators ("Amira's work phone").
    pub device_name: String,
}

/// The answer to an [`EnrolRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrolResponse {
    /// The device's identifier, also its automerge actor.
    pub device_id: DeviceId,
    /// The user the code was issued for.
    pub user_id: UserId,
    /// The user's role, for the app's menus (the server decides access regardless).
    pub role: String,
    /// The server's stable identity; the device keys its sync states by it.
    pub server_id: String,
}

/// `POST /v1/challenge`: ask for a fresh challenge to sign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChallengeRequest {
    /// The enrolled device.
    pub device_id: DeviceId,
}

/// A fresh single-use challenge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChallengeResponse {
    /// Random bytes to sign.
    #[serde(with = "b64")]
    pub challenge: Vec<u8>,
    /// Seconds the challenge stays valid.
    pub expires_in: u64,
}

/// `POST /v1/session`: prove possession of the device key, get a session token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionRequest {
    /// The enrolled device.
    pub device_id: DeviceId,
    /// The challenge the server issued.
    #[serde(with = "b64")]
    pub challenge: Vec<u8>,
    /// ECDSA P-256 / SHA-256 signature, DER encoded, over [`session_signing_payload`].
    #[serde(with = "b64")]
    pub signature: Vec<u8>,
}

/// A short-lived session token bound to one device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionResponse {
    /// Bearer token for `Authorization: Bearer <token>`.
    pub token: String,
    /// Seconds the token stays valid.
    pub expires_in: u64,
}

/// The bytes a device signs to open a session: a domain-separation tag, the device id and
/// the challenge, so a signature cannot be replayed for another device or purpose.
pub fn session_signing_payload(device: &DeviceId, challenge: &[u8]) -> Vec<u8> {
    let mut payload = b"casebook-session-v1\0".to_vec();
    payload.extend_from_slice(device.as_bytes());
    payload.extend_from_slice(challenge);
    payload
}

/// Every error the server returns has this JSON shape, with a stable machine-readable `error`
/// code and a human `message` that never contains case content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Stable code: `device_revoked`, `unauthenticated`, `forbidden`, `bad_request`,
    /// `payload_too_large`, `unsupported_version`, `enrolment_code_invalid`,
    /// `rate_limited`, `not_found`, `internal`, `storage_full` (503: the server's disk is
    /// full; nothing of the request was kept, try again later), `database_unavailable` (503:
    /// the server's PostgreSQL is down or failing over; nothing kept, try again shortly).
    pub error: String,
    /// Human-readable explanation.
    pub message: String,
}

/// The error code that tells a device it has been revoked and must wipe its store.
pub const ERROR_DEVICE_REVOKED: &str = "device_revoked";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doc::DocKind;
    use crate::ids::CaseId;

    #[test]
    fn noop_request_is_tiny_and_round_trips() {
        let req = SyncRequest {
            v: PROTOCOL_VERSION,
            cursor: 123_456,
            messages: vec![],
            purged: vec![],
            epoch: None,
        };
        let json = serde_json::to_vec(&req).expect("encode");
        assert!(json.len() < 80, "{} bytes", json.len());
        assert_eq!(
            serde_json::from_slice::<SyncRequest>(&json).expect("decode"),
            req
        );
    }

    #[test]
    fn encoded_message_len_bounds_the_real_json() {
        let doc = DocId::new(CaseId::from_bytes([7; 16]), DocKind::Visits);
        for len in [0, 1, 2, 3, 4, 1000, 65_537] {
            let message = DocMessage {
                doc,
                data: vec![0xAB; len],
            };
            let json = serde_json::to_vec(&message).expect("encode");
            // One more byte for the comma between messages.
            assert!(
                json.len() < encoded_message_len(len),
                "{len}: {}",
                json.len()
            );
            assert!(encoded_message_len(len) - json.len() <= MESSAGE_FRAMING_BYTES);
        }
        let full_purge = SyncRequest {
            v: PROTOCOL_VERSION,
            cursor: u64::MAX,
            messages: vec![],
            purged: vec![doc; MAX_SYNC_PURGED],
            epoch: None,
        };
        let json = serde_json::to_vec(&full_purge).expect("encode");
        assert!(json.len() < REQUEST_FRAMING_BYTES, "{}", json.len());
        const { assert!(SYNC_REQUEST_BUDGET_BYTES + REQUEST_FRAMING_BYTES < MAX_SYNC_REQUEST_BYTES) };
    }

    #[test]
    fn bad_base64_and_unknown_fields_are_rejected() {
        let doc = DocId::new(CaseId::from_bytes([1; 16]), DocKind::Visits);
        let bad = format!(r#"{{"v":1,"cursor":0,"messages":[{{"doc":"{doc}","data":"***"}}]}}"#);
        assert!(serde_json::from_str::<SyncRequest>(&bad).is_err());
        let extra = r#"{"v":1,"cursor":0,"sneaky":true}"#;
        assert!(serde_json::from_str::<SyncRequest>(extra).is_err());
    }
}
