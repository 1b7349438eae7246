//! The thief's held request: a stolen phone's session token sends a request's headers, holds
//! its body while the device is revoked (or the session expires) and new case content is
//! written, then sends the body. The server must check the session again inside the
//! transaction that reads or writes, so the answer is a refusal and carries no document.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use casebook_core::client::{ServerTrust, Transport, client_config};
use casebook_core::doc::{DocId, DocKind};
use casebook_core::model::{Placement, Profile};
use casebook_core::sync::wire::{ErrorBody, SyncResponse};
use casebook_server::{Clock, Settings, TestServer};
use casebook_tests::support::{Admin, Device, pin};
use chrono::Utc;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::team;

/// The new location, written after the thief's device lost its right to read it.
const LOCATION_CANARY: &str = "CANARY-new-placement-7-Hidden-Close";

/// A raw TLS connection to the server, trusting only its pinned certificate (no ALPN, so the
/// server speaks HTTP/1.1).
pub async fn tls_connect(server: &TestServer) -> Result<TlsStream<TcpStream>> {
    let config = client_config(&pin(server))?;
    let connector = TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(server.addr).await?;
    let name = ServerName::try_from("localhost")?.to_owned();
    Ok(connector.connect(name, tcp).await?)
}

/// Read one HTTP/1.1 response until the server closes: its status and body.
pub async fn read_response(stream: &mut TlsStream<TcpStream>) -> Result<(u16, Vec<u8>)> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        match tokio::time::timeout(Duration::from_secs(30), stream.read(&mut buf)).await {
            Ok(Ok(0)) => break,
            Ok(Ok(n)) => raw.extend_from_slice(&buf[..n]),
            // A peer that closes without close_notify; what arrived is the answer.
            Ok(Err(_)) => break,
            Err(_) => bail!("no answer within 30 s"),
        }
    }
    let text = String::from_utf8_lossy(&raw);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("not an HTTP response: {text:?}"))?;
    let start = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("no end of headers")?
        + 4;
    Ok((status, raw[start..].to_vec()))
}

/// Send a request's headers (with the body's length) and keep the body back.
async fn hold(
    server: &TestServer,
    method: &str,
    path: &str,
    token: &str,
    body_len: usize,
) -> Result<TlsStream<TcpStream>> {
    let mut stream = tls_connect(server).await?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {body_len}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await?;
    stream.flush().await?;
    // Let the server read the headers and authenticate the token before anything changes.
    tokio::time::sleep(Duration::from_millis(500)).await;
    Ok(stream)
}

/// Send the held body and read the answer.
async fn release(mut stream: TlsStream<TcpStream>, body: &str) -> Result<(u16, Vec<u8>)> {
    stream.write_all(body.as_bytes()).await?;
    stream.flush().await?;
    read_response(&mut stream).await
}

/// A session token for `device`, as its sync driver would open one.
async fn token(base: &str, trust: &ServerTrust, device: &Device) -> Result<String> {
    let transport = Transport::new(base, trust)?;
    Ok(transport
        .open_session(
            device.identity.device_id,
            |c| device.identity.sign_challenge(c),
            &mut Default::default(),
        )
        .await?
        .token)
}

/// Fail if an answer carries the location canary in any document it holds.
fn assert_no_location(status: u16, body: &[u8]) -> Result<()> {
    if let Ok(response) = serde_json::from_slice::<SyncResponse>(body) {
        for s in &response.snapshots {
            let doc = automerge::AutoCommit::load(&s.data)?;
            let text = serde_json::to_string(&automerge::AutoSerde::from(&doc))?;
            assert!(
                !text.contains(LOCATION_CANARY),
                "HTTP {status}: the held request received the new location of {}",
                s.doc
            );
        }
        bail!(
            "HTTP {status}: the held request was answered with a sync response ({} snapshots, \
             {} messages)",
            response.snapshots.len(),
            response.messages.len()
        );
    }
    assert!(
        !String::from_utf8_lossy(body).contains(LOCATION_CANARY),
        "canary in the answer"
    );
    Ok(())
}

fn error_of(status: u16, body: &[u8]) -> Result<String> {
    let error: ErrorBody = serde_json::from_slice(body).with_context(|| {
        format!(
            "HTTP {status}: not an error body: {}",
            String::from_utf8_lossy(body)
        )
    })?;
    Ok(error.error)
}

fn set_location(device: &Device, case: casebook_core::ids::CaseId) -> Result<()> {
    device.change(DocId::new(case, DocKind::Location), |d, e| {
        d.set_current_placement(
            e,
            &Placement {
                address: LOCATION_CANARY.into(),
                ..Placement::default()
            },
        )
    })?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_held_across_revocation_gets_no_documents() -> Result<()> {
    let t = team().await?;
    let url = t.h.server.base_url();
    let stolen = token(&url, &t.guardian.identity.trust, &t.guardian).await?;
    let body = format!(r#"{{"v":1,"cursor":0,"purged":["{}/location"]}}"#, t.case);
    let held = hold(&t.h.server, "POST", "/v1/sync", &stolen, body.len()).await?;

    // The guardian reports the phone stolen; the administrator revokes it. The supervisor
    // then records where the child was moved to.
    t.h.admin
        .revoke(&t.guardian.identity.device_id.to_string())
        .await?;
    t.supervisor.sync().await?;
    set_location(&t.supervisor, t.case)?;
    t.supervisor.sync().await?;

    let (status, answer) = release(held, &body).await?;
    assert_no_location(status, &answer)?;
    assert_eq!(status, 403, "{}", String::from_utf8_lossy(&answer));
    assert_eq!(error_of(status, &answer)?, "device_revoked");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_request_held_across_revocation_is_refused() -> Result<()> {
    let t = team().await?;
    let url = t.h.server.base_url();
    let trust = pin(&t.h.server);
    // A second administrator of the organisation; their laptop is stolen.
    let admin2 = t.h.admin.user("second admin", "administrator").await?;
    let code = t.h.admin.code(&admin2).await?;
    let laptop = Device::enrol_at(
        &t.h.server,
        t.h.devices_dir.path().join("admin2.db"),
        &code,
        "admin2 laptop",
    )
    .await?;
    let stolen = token(&url, &trust, &laptop).await?;
    // The thief asks for an enrolment code for the guardian: with it, a phone of their own
    // would read every case of the guardian.
    let path = format!("/v1/admin/users/{}/enrolment-code", t.guardian_id);
    let body = "{}";
    let held = hold(&t.h.server, "POST", &path, &stolen, body.len()).await?;

    t.h.admin
        .revoke(&laptop.identity.device_id.to_string())
        .await?;

    let (status, answer) = release(held, body).await?;
    let text = String::from_utf8_lossy(&answer).into_owned();
    assert!(
        !text.contains("\"code\""),
        "HTTP {status}: code issued: {text}"
    );
    assert_eq!(status, 403, "{text}");
    assert_eq!(error_of(status, &answer)?, "device_revoked");
    let codes =
        t.h.admin
            .get(&format!("/v1/admin/audit?user={}", t.guardian_id))
            .await?;
    let issued = codes
        .as_array()
        .map(|rows| {
            rows.iter()
                .filter(|r| r["event"] == "enrolment_code_issued")
                .count()
        })
        .unwrap_or_default();
    assert_eq!(
        issued, 1,
        "only the code the guardian enrolled with: {codes}"
    );
    Ok(())
}

/// A server of its own (with `clock` and `settings`), an organisation with one guardian whose
/// phone opened a case and synced it.
#[allow(missing_debug_implementations)]
pub struct World {
    pub server: TestServer,

    pub guardian: Device,
    pub case: casebook_core::ids::CaseId,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

pub async fn small_world(clock: Clock, settings: Settings) -> Result<World> {
    let data_dir = tempfile::tempdir()?;
    let devices = tempfile::tempdir()?;
    let server = casebook_server::start_for_tests_with(data_dir.path(), clock, settings).await?;
    let trust = pin(&server);
    let admin_laptop = Device::enrol_at(
        &server,
        devices.path().join("admin.db"),
        &server.admin_code.clone(),
        "admin laptop",
    )
    .await?;
    let mut admin = Admin::connect(&server.base_url(), &trust, &admin_laptop).await?;
    admin.create_org("Hull City Council").await?;
    let user = admin.user("guardian", "guardian").await?;
    let code = admin.code(&user).await?;
    let guardian =
        Device::enrol_at(&server, devices.path().join("g.db"), &code, "guardian").await?;
    let profile = Profile {
        case_reference: "HUL-2026-0100".into(),
        ..Profile::default()
    };
    let case = guardian
        .lock()
        .create_case(&guardian.edit(), &mut rand::rngs::OsRng, &profile)?;
    guardian.sync().await?;
    Ok(World {
        server,
        guardian,
        case,
        _dirs: (data_dir, devices),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_held_past_session_expiry_gets_no_documents() -> Result<()> {
    let clock = Clock::manual(Utc::now().timestamp());
    let settings = Settings::default();
    let session_ttl = settings.session_ttl;
    let w = small_world(clock.clone(), settings).await?;
    let (server, guardian, case) = (&w.server, &w.guardian, w.case);

    // The token is copied off the phone; the thief holds a request open past its expiry.
    let stolen = token(&server.base_url(), &pin(server), guardian).await?;
    let body = format!(r#"{{"v":1,"cursor":0,"purged":["{case}/location"]}}"#);
    let held = hold(server, "POST", "/v1/sync", &stolen, body.len()).await?;
    clock.advance(session_ttl + 1);
    // The guardian's phone, with a fresh session, records the child's new placement.
    set_location(guardian, case)?;
    guardian.sync().await?;

    let (status, answer) = release(held, &body).await?;
    assert_no_location(status, &answer)?;
    assert_eq!(status, 401, "{}", String::from_utf8_lossy(&answer));
    assert_eq!(error_of(status, &answer)?, "unauthenticated");
    w.server.shutdown().await?;
    Ok(())
}
