//! Sync wire format 2 over real TLS (`docs/protocol.md`, "Wire formats"): the same answer as
//! version 1 with the payloads raw, zstd negotiated both ways, an old JSON client still
//! served, another format refused by number, and malformed frames and zstd bombs refused
//! with a clear error and nothing changed.

use anyhow::Result;
use casebook_core::client::compression;
use casebook_core::doc::columns;
use casebook_core::sync::frame;
use casebook_core::sync::wire::{
    ErrorBody, MAX_SYNC_REQUEST_BYTES, MAX_SYNC_RESPONSE_BYTES, PROTOCOL_VERSION, SyncRequest,
    SyncResponse,
};
use casebook_tests::support::Device;

use super::{Team, record_visit, team};

const V2: &str = frame::CONTENT_TYPE_V2;

fn first_request() -> SyncRequest {
    SyncRequest {
        v: PROTOCOL_VERSION,
        cursor: 0,
        messages: vec![],
        purged: vec![],
        epoch: None,
    }
}

/// A new phone of the team's supervisor, which has never synced.
async fn fresh_supervisor_phone(t: &Team, name: &str) -> Result<Device> {
    let code = t.h.admin.code(&t.supervisor_id).await?;
    Device::enrol_at(
        &t.h.server,
        t.h.devices_dir.path().join(format!("{name}.db")),
        &code,
        name,
    )
    .await
}

/// What came back: status, content type, content encoding, the body as on the wire.
struct Raw {
    status: u16,
    content_type: String,
    content_encoding: Option<String>,
    body: Vec<u8>,
}

async fn post(device: &Device, body: Vec<u8>, headers: &[(&str, &str)]) -> Result<Raw> {
    let (client, token) = device.session().await?;
    let mut request = client
        .post(format!("{}/v1/sync", device.identity.server_url))
        .bearer_auth(token)
        .body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await?;
    let header = |name| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    Ok(Raw {
        status: response.status().as_u16(),
        content_type: header(reqwest::header::CONTENT_TYPE).unwrap_or_default(),
        content_encoding: header(reqwest::header::CONTENT_ENCODING),
        body: response.bytes().await?.to_vec(),
    })
}

fn error_of(raw: &Raw) -> Result<ErrorBody> {
    Ok(serde_json::from_slice(&raw.body)?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_pull_is_the_same_in_every_format_and_smaller_in_v2_with_zstd() -> Result<()> {
    let t = team().await?;
    // Enough words that the answer is worth compressing.
    for i in 0..12 {
        record_visit(
            &t.guardian,
            t.case,
            &format!(
                "visit {i}: {}",
                "she felt safe at school and wanted to stay ".repeat(20)
            ),
        )?;
    }
    t.guardian.sync().await?;

    // An old client: JSON in, JSON out, as before.
    let old = fresh_supervisor_phone(&t, "old").await?;
    let json = post(
        &old,
        serde_json::to_vec(&first_request())?,
        &[("content-type", "application/json")],
    )
    .await?;
    assert_eq!(json.status, 200);
    assert!(
        json.content_type.starts_with("application/json"),
        "{}",
        json.content_type
    );
    let from_json: SyncResponse = serde_json::from_slice(&json.body)?;
    assert_eq!(from_json.snapshots.len(), 5, "the case's five documents");

    // Wire format 2 without zstd: the same answer, payloads raw, byte for byte the stored saves.
    let plain = fresh_supervisor_phone(&t, "plain").await?;
    let v2 = post(
        &plain,
        frame::encode_request(&first_request()),
        &[("content-type", V2), ("accept", V2)],
    )
    .await?;
    assert_eq!(v2.status, 200);
    assert_eq!(v2.content_type, V2);
    assert_eq!(v2.content_encoding, None);
    let from_v2 = frame::decode_response(&v2.body)?;
    assert_eq!(from_v2.snapshots, from_json.snapshots);
    assert!(
        // base64 is 4 bytes for 3: the raw payloads take about a quarter less.
        v2.body.len() * 5 < json.body.len() * 4,
        "{} vs {}",
        v2.body.len(),
        json.body.len()
    );

    // Wire format 2 with zstd: compressed on the wire, each document with its columns
    // inflated, which the device stores back as the very save the server holds.
    let zstd = fresh_supervisor_phone(&t, "zstd").await?;
    let packed = post(
        &zstd,
        frame::encode_request(&first_request()),
        &[
            ("content-type", V2),
            ("accept", V2),
            ("accept-encoding", "zstd"),
        ],
    )
    .await?;
    assert_eq!(packed.status, 200);
    assert_eq!(packed.content_encoding.as_deref(), Some("zstd"));
    let from_zstd = frame::decode_response(&compression::decompress(
        &packed.body,
        MAX_SYNC_RESPONSE_BYTES,
    )?)?;
    assert_eq!(from_zstd.snapshots.len(), from_json.snapshots.len());
    let mut inflated = 0;
    for (wire, stored) in from_zstd.snapshots.iter().zip(&from_json.snapshots) {
        assert_eq!(wire.doc, stored.doc);
        assert_eq!(
            columns::deflate_columns(&wire.data)?,
            stored.data,
            "{}",
            wire.doc
        );
        inflated += usize::from(wire.data != stored.data);
    }
    assert!(inflated > 0, "no document went with inflated columns");
    assert!(
        packed.body.len() < v2.body.len(),
        "zstd {} vs plain {}",
        packed.body.len(),
        v2.body.len()
    );

    // The core's own client speaks wire format 2 with zstd, and its phone ends up with the
    // notes.
    let device = fresh_supervisor_phone(&t, "core").await?;
    let outcome = device.sync().await?;
    assert_eq!(outcome.report.docs_received, 5);
    assert!(
        // Its session's challenge and token included.
        outcome.traffic.received < json.body.len() as u64,
        "{:?}",
        outcome.traffic
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_format_and_malformed_frames_are_refused_by_name_and_change_nothing() -> Result<()>
{
    let t = team().await?;
    record_visit(&t.guardian, t.case, "before the garbage")?;
    t.guardian.sync().await?;
    let audit_before = t.h.admin.audit_for_case(&t.case.to_string()).await?.len();

    // A newer app's format: refused by number.
    let raw = post(
        &t.guardian,
        frame::encode_request(&first_request()),
        &[("content-type", "application/vnd.casebook.sync.v3")],
    )
    .await?;
    assert_eq!(raw.status, 400);
    let error = error_of(&raw)?;
    assert_eq!(error.error, "unsupported_version");
    assert!(error.message.contains('3'), "{}", error.message);

    // Neither JSON nor a sync format.
    let raw = post(
        &t.guardian,
        b"cursor=0".to_vec(),
        &[("content-type", "text/plain")],
    )
    .await?;
    assert_eq!(raw.status, 400);
    assert!(
        error_of(&raw)?.message.contains(V2),
        "{}",
        error_of(&raw)?.message
    );

    let good = frame::encode_request(&SyncRequest {
        v: PROTOCOL_VERSION,
        cursor: 0,
        messages: vec![casebook_core::sync::wire::DocMessage {
            doc: casebook_core::doc::DocId::new(t.case, casebook_core::doc::DocKind::Visits),
            data: vec![0x43, 0, 0, 0],
        }],
        purged: vec![],
        epoch: None,
    });
    let mut lying = good.clone();
    lying.truncate(good.len() - 1);
    let mut format_3 = good.clone();
    format_3[4] = 3;
    let mut response_kind = good.clone();
    response_kind[5] = frame::KIND_RESPONSE;
    let mut long_header = good[..6].to_vec();
    long_header.extend(u32::MAX.to_be_bytes());
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", vec![], "truncated in its prefix"),
        (
            "json in a v2 body",
            serde_json::to_vec(&first_request())?,
            "CBSY",
        ),
        (
            "payload short of its length",
            lying,
            "payload lengths declare 4 bytes, 3 are present",
        ),
        (
            "format 3 in a v2 body",
            format_3,
            "wire format 3 is not supported",
        ),
        (
            "a response frame",
            response_kind,
            "kind 2 where 1 was expected",
        ),
        (
            "header past the end",
            long_header,
            "truncated in its header",
        ),
    ];
    for (label, body, says) in cases {
        let raw = post(&t.guardian, body, &[("content-type", V2)]).await?;
        assert_eq!(raw.status, 400, "{label}");
        let error = error_of(&raw)?;
        assert_eq!(error.error, "bad_request", "{label}");
        assert!(error.message.contains(says), "{label}: {}", error.message);
    }
    // Over the limit once decompressed: a zstd bomb of a few kilobytes.
    let bomb = zstd_bomb(MAX_SYNC_REQUEST_BYTES + 1024 * 1024);
    assert!(bomb.len() < 64 * 1024, "{}", bomb.len());
    let raw = post(
        &t.guardian,
        bomb,
        &[("content-type", V2), ("content-encoding", "zstd")],
    )
    .await?;
    assert_eq!(raw.status, 413);
    assert_eq!(error_of(&raw)?.error, "payload_too_large");
    // A coding the server does not take, and zstd that is not zstd.
    for (coding, says) in [("gzip", "Content-Encoding"), ("zstd", "not valid")] {
        let raw = post(
            &t.guardian,
            b"\x1f\x8b not really compressed".to_vec(),
            &[("content-type", V2), ("content-encoding", coding)],
        )
        .await?;
        assert_eq!(raw.status, 400, "{coding}");
        assert!(
            error_of(&raw)?.message.contains(says),
            "{coding}: {}",
            error_of(&raw)?.message
        );
    }

    let audit_after = t.h.admin.audit_for_case(&t.case.to_string()).await?.len();
    assert_eq!(audit_after, audit_before, "a refused frame wrote nothing");
    // And the device still syncs.
    t.guardian.sync().await?;
    Ok(())
}

/// `size` zero bytes (a sync frame's magic first), zstd-compressed.
fn zstd_bomb(size: usize) -> Vec<u8> {
    let mut plain = vec![0u8; size];
    plain[..4].copy_from_slice(&frame::MAGIC);
    zstd::bulk::compress(&plain, 19).expect("compress")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_push_goes_compressed_and_arrives() -> Result<()> {
    let t = team().await?;
    let words = "the interpreter explained what the carer said about college ".repeat(400);
    record_visit(&t.guardian, t.case, &words)?;
    let outcome = t.guardian.sync().await?;
    // 24 KB of note compress far below the request's raw size.
    assert!(outcome.traffic.sent < 12 * 1024, "{:?}", outcome.traffic);
    let pulled = t.supervisor.sync().await?;
    assert!(pulled.report.docs_received >= 1);
    let visits = casebook_core::doc::DocId::new(t.case, casebook_core::doc::DocKind::Visits);
    let notes = t.supervisor.lock().read(visits, |d| d.visit_notes())?;
    assert!(notes.iter().any(|(_, n)| n.wishes_and_feelings == words));

    // By hand: a compressed v2 request is decompressed before it is read.
    let plain = frame::encode_request(&first_request());
    let raw = post(
        &t.guardian,
        zstd::bulk::compress(&plain, 3)?,
        &[("content-type", V2), ("content-encoding", "zstd")],
    )
    .await?;
    assert_eq!(raw.status, 200);
    frame::decode_response(&raw.body)?;
    Ok(())
}
