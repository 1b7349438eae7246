//! The wire format is pinned by fixtures in `tests/fixtures/protocol/`: each message type is
//! encoded and compared with its fixture byte for byte, and each fixture decodes back to the
//! same value, so any change to the protocol's JSON is a visible, reviewed decision.
//! Regenerate deliberately with `UPDATE_FIXTURES=1 cargo test -p casebook-core --test protocol_fixtures`.

use std::path::PathBuf;

use casebook_core::alert::{AcknowledgeRequest, AcknowledgeResponse, Alert, AlertKind};
use casebook_core::doc::{DocId, DocKind};
use casebook_core::ids::{AlertId, CaseId, DeviceId, EntryId, UserId};
use casebook_core::sync::frame;
use casebook_core::sync::wire::*;
use serde::Serialize;
use serde::de::DeserializeOwned;

fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/protocol")
        .join(format!("{name}.json"))
}

fn pin<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(name: &str, value: &T) {
    let encoded = serde_json::to_string_pretty(value).expect("encode") + "\n";
    let path = fixture_path(name);
    if std::env::var_os("UPDATE_FIXTURES").is_some() {
        std::fs::write(&path, &encoded).expect("write fixture");
    }
    let fixture =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(encoded, fixture, "the encoding of {name} changed");
    let decoded: T = serde_json::from_str(&fixture).expect("fixture decodes");
    assert_eq!(&decoded, value);
}

/// Pin a wire format 2 frame (`<name>.v2.bin`): its bytes, and that it decodes back.
fn pin_frame<T: PartialEq + std::fmt::Debug>(
    name: &str,
    value: &T,
    encode: impl Fn(&T) -> Vec<u8>,
    decode: impl Fn(&[u8]) -> Result<T, casebook_core::error::FrameError>,
) {
    let encoded = encode(value);
    let path = fixture_path(name).with_extension("v2.bin");
    if std::env::var_os("UPDATE_FIXTURES").is_some() {
        std::fs::write(&path, &encoded).expect("write fixture");
    }
    let fixture = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(
        encoded, fixture,
        "the wire format 2 encoding of {name} changed"
    );
    assert_eq!(&decode(&fixture).expect("fixture decodes"), value);
}

fn doc(kind: DocKind) -> DocId {
    DocId::new(CaseId::from_bytes([0x11; 16]), kind)
}

#[test]
fn sync_messages_are_pinned() {
    pin(
        "sync_request_noop",
        &SyncRequest {
            v: PROTOCOL_VERSION,
            cursor: 4711,
            messages: vec![],
            purged: vec![],
            epoch: None,
        },
    );
    // A device that has synced before tells the server the epoch it knows.
    pin(
        "sync_request_noop_epoch",
        &SyncRequest {
            v: PROTOCOL_VERSION,
            cursor: 4711,
            messages: vec![],
            purged: vec![],
            epoch: Some("5f0c3b1d9a7e42c6".into()),
        },
    );
    pin(
        "sync_request",
        &SyncRequest {
            v: PROTOCOL_VERSION,
            cursor: 4711,
            messages: vec![DocMessage {
                doc: doc(DocKind::Visits),
                data: vec![0x43, 0x01, 0x02, 0x03],
            }],
            purged: vec![doc(DocKind::Location)],
            epoch: None,
        },
    );
    pin(
        "sync_response",
        &SyncResponse {
            v: PROTOCOL_VERSION,
            cursor: 4712,
            messages: vec![DocMessage {
                doc: doc(DocKind::Visits),
                data: vec![0x43, 0x04],
            }],
            snapshots: vec![DocSnapshot {
                doc: doc(DocKind::Safety),
                data: vec![0x85, 0x6f, 0x4a, 0x83],
            }],
            purge: vec![doc(DocKind::Associates)],
            rejected: vec![DocRejection {
                doc: doc(DocKind::Profile),
                reason: RejectReason::Forbidden,
            }],
            more: false,
            notices: vec![],
            alerts: vec![],
            pending_docs: 0,
            pending_bytes: 0,
            epoch: None,
        },
    );
    // A no-op answer from a server whose store has an epoch (new after every restore).
    pin(
        "sync_response_epoch",
        &SyncResponse {
            v: PROTOCOL_VERSION,
            cursor: 4712,
            messages: vec![],
            snapshots: vec![],
            purge: vec![],
            rejected: vec![],
            more: false,
            notices: vec![],
            alerts: vec![],
            pending_docs: 0,
            pending_bytes: 0,
            epoch: Some("5f0c3b1d9a7e42c6".into()),
        },
    );
    pin(
        "sync_response_notice",
        &SyncResponse {
            v: PROTOCOL_VERSION,
            cursor: 4712,
            messages: vec![],
            snapshots: vec![],
            purge: vec![],
            rejected: vec![],
            more: false,
            notices: vec![Notice {
                kind: NoticeKind::DeviceEnrolled,
                device_id: DeviceId::from_bytes([0x44; 16]),
                device_name: "Second phone".into(),
                at: 1_750_000_000,
            }],
            alerts: vec![],
            pending_docs: 0,
            pending_bytes: 0,
            epoch: None,
        },
    );
}

/// The same messages in wire format 2 (`docs/protocol.md`, "Wire formats and compression"):
/// the JSON header and the raw payloads after it.
#[test]
fn sync_frames_are_pinned() {
    let request = SyncRequest {
        v: PROTOCOL_VERSION,
        cursor: 4711,
        messages: vec![DocMessage {
            doc: doc(DocKind::Visits),
            data: vec![0x43, 0x01, 0x02, 0x03],
        }],
        purged: vec![doc(DocKind::Location)],
        epoch: None,
    };
    pin_frame(
        "sync_request",
        &request,
        frame::encode_request,
        frame::decode_request,
    );
    pin_frame(
        "sync_request_noop",
        &SyncRequest {
            v: PROTOCOL_VERSION,
            cursor: 4711,
            messages: vec![],
            purged: vec![],
            epoch: None,
        },
        frame::encode_request,
        frame::decode_request,
    );
    let response = SyncResponse {
        v: PROTOCOL_VERSION,
        cursor: 4712,
        messages: vec![DocMessage {
            doc: doc(DocKind::Visits),
            data: vec![0x43, 0x04],
        }],
        snapshots: vec![DocSnapshot {
            doc: doc(DocKind::Safety),
            data: vec![0x85, 0x6f, 0x4a, 0x83],
        }],
        purge: vec![doc(DocKind::Associates)],
        rejected: vec![DocRejection {
            doc: doc(DocKind::Profile),
            reason: RejectReason::Forbidden,
        }],
        more: false,
        notices: vec![],
        alerts: vec![],
        pending_docs: 0,
        pending_bytes: 0,
        epoch: None,
    };
    pin_frame(
        "sync_response",
        &response,
        frame::encode_response,
        frame::decode_response,
    );
    // The header is the version 1 JSON with lengths for payloads; the payloads follow it raw.
    let bytes = frame::encode_response(&response);
    assert!(bytes.starts_with(b"CBSY\x02\x02"));
    assert!(bytes.ends_with(&[0x43, 0x04, 0x85, 0x6f, 0x4a, 0x83]));
    let header_len = u32::from_be_bytes([bytes[6], bytes[7], bytes[8], bytes[9]]) as usize;
    let header: serde_json::Value =
        serde_json::from_slice(&bytes[10..10 + header_len]).expect("JSON header");
    assert_eq!(header["snapshots"][0]["len"], 4);
    assert_eq!(header["purge"][0], doc(DocKind::Associates).to_string());
}

/// A notice of a kind this build does not know still decodes (as `Unknown`), so a newer
/// server's notices do not break an older device's sync.
#[test]
fn an_unknown_notice_kind_decodes() {
    let json = r#"{"v":1,"cursor":1,"notices":[{"kind":"from_the_future",
        "device_id":"44444444444444444444444444444444","device_name":"x","at":1}]}"#;
    let response: SyncResponse = serde_json::from_str(json).expect("decodes");
    assert_eq!(response.notices[0].kind, NoticeKind::Unknown);
}

#[test]
fn enrolment_and_session_messages_are_pinned() {
    pin(
        "enrol_request",
        &EnrolRequest {
            code: "K6T33-KQY8G-4D6K0-T8X8R".into(),
            public_key: vec![4; 65],
            device_name: "Guardian phone".into(),
        },
    );
    pin(
        "enrol_response",
        &EnrolResponse {
            device_id: DeviceId::from_bytes([0x22; 16]),
            user_id: UserId::from_bytes([0x33; 16]),
            role: "guardian".into(),
            server_id: "casebook-server-1".into(),
        },
    );
    pin(
        "challenge_request",
        &ChallengeRequest {
            device_id: DeviceId::from_bytes([0x22; 16]),
        },
    );
    pin(
        "challenge_response",
        &ChallengeResponse {
            challenge: vec![9; 32],
            expires_in: 60,
        },
    );
    pin(
        "session_request",
        &SessionRequest {
            device_id: DeviceId::from_bytes([0x22; 16]),
            challenge: vec![9; 32],
            signature: vec![0x30, 0x44, 0x02, 0x20],
        },
    );
    pin(
        "session_response",
        &SessionResponse {
            token: "opaque-token".into(),
            expires_in: 900,
        },
    );
    pin(
        "error_device_revoked",
        &ErrorBody {
            error: ERROR_DEVICE_REVOKED.into(),
            message: "this device has been revoked".into(),
        },
    );
}

/// Alerts ride in the sync answer (absent when there are none) and are acknowledged through
/// `POST /v1/alerts/acknowledge`; `docs/protocol.md`, "Alerts".
#[test]
fn alert_messages_are_pinned() {
    let missing = Alert {
        id: AlertId::from_bytes([0x55; 16]),
        case: CaseId::from_bytes([0x11; 16]),
        episode: EntryId::from_bytes([0x66; 16]),
        kind: AlertKind::Missing,
        at: Some(1_750_000_000),
        raised_at: 1_750_003_600,
        acknowledged_by: None,
        acknowledged_at: None,
        linked_case_reference: None,
    };
    let acknowledged = Alert {
        acknowledged_by: Some(UserId::from_bytes([0x33; 16])),
        acknowledged_at: Some(1_750_004_000),
        ..missing.clone()
    };
    pin(
        "sync_response_alert",
        &SyncResponse {
            v: PROTOCOL_VERSION,
            cursor: 4712,
            messages: vec![],
            snapshots: vec![],
            purge: vec![],
            rejected: vec![],
            more: false,
            notices: vec![],
            alerts: vec![missing],
            pending_docs: 0,
            pending_bytes: 0,
            epoch: None,
        },
    );
    pin(
        "alert_acknowledge_request",
        &AcknowledgeRequest {
            alerts: vec![AlertId::from_bytes([0x55; 16])],
        },
    );
    pin(
        "alert_acknowledge_response",
        &AcknowledgeResponse {
            alerts: vec![acknowledged],
        },
    );
}

#[test]
fn the_signed_payload_is_pinned() {
    let payload = session_signing_payload(&DeviceId::from_bytes([0x22; 16]), &[9; 4]);
    assert_eq!(
        hex_of(&payload),
        "63617365626f6f6b2d73657373696f6e2d7631002222222222222222222222222222222209090909"
    );
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn attachment_messages_are_pinned() {
    let png = vec![0x89, 0x50, 0x4e, 0x47];
    pin(
        "attachment_upload",
        &AttachmentUpload {
            v: PROTOCOL_VERSION,
            doc: doc(DocKind::Safety),
            attachment_id: "0123456789abcdef0123456789abcdef".into(),
            media_type: "image/png".into(),
            data: png.clone(),
        },
    );
    pin(
        "attachment_stored",
        &AttachmentStored {
            v: PROTOCOL_VERSION,
            attachment_id: "0123456789abcdef0123456789abcdef".into(),
        },
    );
    pin(
        "attachment_fetch",
        &AttachmentFetch {
            v: PROTOCOL_VERSION,
            doc: doc(DocKind::Safety),
            attachment_id: "0123456789abcdef0123456789abcdef".into(),
        },
    );
    pin(
        "attachment_data",
        &AttachmentData {
            v: PROTOCOL_VERSION,
            doc: doc(DocKind::Safety),
            attachment_id: "0123456789abcdef0123456789abcdef".into(),
            media_type: "image/png".into(),
            data: png,
        },
    );
}
