//! The decompression bomb of issue 8, shared by the e2e test and the bench: a real server in a
//! child process (so its peak memory is its own), an enrolled guardian, and one sync request
//! of up to 16 MiB whose message holds a compressed change chunk that inflates to gigabytes.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use anyhow::{Context, Result};
use casebook_core::client::{ServerTrust, Transport, client_config};
use casebook_core::doc::{DocId, DocKind};
use casebook_core::model::Profile;
use casebook_core::sync::wire::{
    DocMessage, MAX_SYNC_REQUEST_BYTES, PROTOCOL_VERSION, SyncRequest,
};
use serde_json::Value;

use crate::support::{Admin, Device};

/// Set in a child process's environment to make it serve: the server's data directory.
pub const CHILD_ENV: &str = "CASEBOOK_BOMB_SERVER_DIR";

/// Run a real server (the library's `serve`, as `main` runs it) on `dir` until killed,
/// printing `READY <addr> <fingerprint> <admin code>` once it listens. The bomb's server
/// child and the server-kill tests' child both run this.
pub fn serve_child(dir: &Path) -> Result<()> {
    crate::server_child::serve(dir, casebook_server::Settings::default())
}

/// What the bomb did.
#[derive(Debug, Clone)]
pub struct BombOutcome {
    /// The HTTP status of the answer.
    pub status: u16,
    /// Size of the request body.
    pub body_bytes: usize,
    /// What the bomb claims to inflate to.
    pub claimed_inflated_bytes: u64,
    /// The server process's peak resident memory before the bomb (VmHWM), MiB.
    pub peak_rss_before_mb: f64,
    /// Its peak resident memory after answering the bomb, MiB.
    pub peak_rss_mb: f64,
    /// The audit rows of the guardian's case after the bomb.
    pub audit: Vec<Value>,
}

struct ServerChild {
    child: Child,
    url: String,
    trust: ServerTrust,
    admin_code: String,
}

impl Drop for ServerChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(mut command: Command, dir: &Path) -> Result<ServerChild> {
    let mut child = command
        .env(CHILD_ENV, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let ready = crate::server_child::wait_ready(&mut child);
    let ready = match ready {
        Ok(ready) => ready,
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(e);
        }
    };
    Ok(ServerChild {
        url: ready.url(),
        trust: ready.trust(),
        admin_code: ready
            .admin_code
            .context("a server on a new data directory prints an administrator code")?,
        child,
    })
}

/// Peak resident memory of process `pid` (VmHWM), MiB.
pub fn peak_rss_mb(pid: u32) -> Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .context("no VmHWM")?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()?;
    Ok(kb / 1024.0)
}

fn uleb(out: &mut Vec<u8>, n: usize) -> Result<()> {
    leb128::write::unsigned(out, u64::try_from(n)?)?;
    Ok(())
}

/// A raw DEFLATE stream of at most `max_len` bytes that inflates to one MiB of zeros per
/// kilobyte or so: one fully flushed segment (self-contained, so it can be repeated), repeated,
/// then the stream's end. Returns the stream and the bytes it inflates to.
pub fn zeros_stream(max_len: usize) -> Result<(Vec<u8>, u64)> {
    use flate2::{Compress, Compression, FlushCompress};
    const SEGMENT: usize = 1 << 20;
    let mut deflate = Compress::new(Compression::best(), false);
    let mut segment = Vec::with_capacity(64 << 10);
    deflate.compress_vec(&vec![0u8; SEGMENT], &mut segment, FlushCompress::Full)?;
    let mut finish = Vec::with_capacity(64);
    deflate.compress_vec(&[], &mut finish, FlushCompress::Finish)?;
    let copies = max_len.saturating_sub(finish.len()) / segment.len();
    let mut stream = Vec::with_capacity(copies * segment.len() + finish.len());
    for _ in 0..copies {
        stream.extend_from_slice(&segment);
    }
    stream.extend_from_slice(&finish);
    Ok((stream, u64::try_from(copies * SEGMENT)?))
}

/// An automerge sync message of at most `max_len` bytes: no heads, needs or haves, and one
/// compressed change chunk (type 2) holding [`zeros_stream`]. Returns it and what it claims.
pub fn bomb_message(max_len: usize) -> Result<(Vec<u8>, u64)> {
    let (stream, claimed) = zeros_stream(max_len.saturating_sub(32))?;
    let mut chunk = vec![0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 2];
    uleb(&mut chunk, stream.len())?;
    chunk.extend_from_slice(&stream);
    let mut message = vec![0x42, 0, 0, 0, 1];
    uleb(&mut message, chunk.len())?;
    message.extend_from_slice(&chunk);
    Ok((message, claimed))
}

/// Start a server with `command` (a re-execution of the caller that runs [`serve_child`] when
/// it finds [`CHILD_ENV`]), enrol a guardian who syncs a case, then send one sync request of at
/// most `body_limit` bytes carrying a bomb for the case's visits document.
pub async fn run(command: Command, body_limit: usize) -> Result<BombOutcome> {
    let data = tempfile::tempdir()?;
    let phones = tempfile::tempdir()?;
    let server = start(command, data.path())?;
    let admin_device = Device::enrol(
        &server.url,
        server.trust.clone(),
        phones.path().join("admin.db"),
        &server.admin_code,
        "admin",
    )
    .await?;
    let mut admin = Admin::connect(&server.url, &server.trust, &admin_device).await?;
    admin.create_org("Hull City Council").await?;
    let user = admin.user("guardian", "guardian").await?;
    let code = admin.code(&user).await?;
    let guardian = Device::enrol(
        &server.url,
        server.trust.clone(),
        phones.path().join("guardian.db"),
        &code,
        "guardian",
    )
    .await?;
    let case = guardian.lock().create_case(
        &guardian.edit(),
        &mut rand::rngs::OsRng,
        &Profile {
            case_reference: "HUL-BOMB-1".into(),
            ..Profile::default()
        },
    )?;
    guardian.sync().await?;

    let identity = &guardian.identity;
    let transport = Transport::new(&identity.server_url, &identity.trust)?;
    let token = transport
        .open_session(
            identity.device_id,
            |c| identity.sign_challenge(c),
            &mut Default::default(),
        )
        .await?
        .token;
    // Base64 takes 4 bytes per 3; leave room for the JSON around it.
    let (data, claimed) = bomb_message((body_limit.min(MAX_SYNC_REQUEST_BYTES) - 512) / 4 * 3)?;
    let request = SyncRequest {
        v: PROTOCOL_VERSION,
        cursor: 0,
        messages: vec![DocMessage {
            doc: DocId::new(case, DocKind::Visits),
            data,
        }],
        purged: vec![],
        epoch: None,
    };
    let body = serde_json::to_vec(&request)?;
    drop(request);
    let client = reqwest::Client::builder()
        .use_preconfigured_tls(client_config(&identity.trust)?)
        .build()?;
    let pid = server.child.id();
    let peak_rss_before_mb = peak_rss_mb(pid)?;
    let body_bytes = body.len();
    let sent = client
        .post(format!("{}/v1/sync", identity.server_url))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await;
    let peak_rss_mb = peak_rss_mb(pid)?;
    let status = match sent {
        Ok(response) => response.status().as_u16(),
        // No answer at all (the process was killed for memory): report it as a 5xx.
        Err(_) => 599,
    };
    let audit = admin.audit_for_case(&case.to_string()).await?;
    Ok(BombOutcome {
        status,
        body_bytes,
        claimed_inflated_bytes: claimed,
        peak_rss_before_mb,
        peak_rss_mb,
        audit,
    })
}
