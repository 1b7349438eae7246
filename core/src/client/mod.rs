//! The device's network side: enrolment, session authentication and running sync sessions
//! against a server over TLS. The protocol logic itself lives in [`crate::sync`] and does no
//! I/O; this module moves its messages.

mod attachments;
pub mod compression;
mod identity;
mod retry;
mod signer;
mod tls;
mod transport;

use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rand::{CryptoRng, RngCore};

pub use attachments::AttachmentCounts;
pub use identity::{DeviceIdentity, DeviceKey, ExternalKey, ServerTrust};
pub use retry::{Backoff, RetryPolicy};
pub use signer::{ChallengeSigner, normalise_public_key, sign_checked};
pub use tls::{client_config, fingerprint, parse_fingerprint, spki_fingerprint, spki_sha256};
pub use transport::{POOL_IDLE_TIMEOUT, Traffic, Transport};

use crate::alert::AcknowledgeRequest;
use crate::error::{Error, Result};
use crate::repo::Repo;
use crate::sync::wire::EnrolRequest;
use crate::sync::{DeviceTime, SyncProgress, SyncReport, SyncStep};

/// What a finished sync did, and what it cost on the wire.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncOutcome {
    /// What changed.
    pub report: SyncReport,
    /// Bytes moved, including authentication.
    pub traffic: Traffic,
    /// HTTP requests made, including authentication (a retried request counts once).
    pub requests: u32,
    /// Attempts that failed on the way and were made again on a fresh connection.
    pub retries: u32,
    /// Attachments moved after the session (none when nothing changed).
    pub attachments: AttachmentCounts,
}

/// How [`sync_now_with_options`] runs a session.
#[derive(Clone, Copy)]
pub struct SyncOptions<'a> {
    /// The app's signer, when it holds this device's key.
    pub signer: Option<&'a dyn ChallengeSigner>,
    /// How a round trip that fails on the way is retried.
    pub retry: RetryPolicy,
    /// Randomness for the back-off's jitter.
    pub jitter_seed: u64,
    /// JSON bytes one request's messages may take
    /// ([`crate::sync::wire::SYNC_REQUEST_BUDGET_BYTES`]; tests use less to push in more
    /// steps).
    pub request_budget: usize,
}

impl Default for SyncOptions<'_> {
    /// No signer, the default retries, jitter seeded with 0 (pass real randomness), the
    /// protocol's request budget.
    fn default() -> Self {
        Self {
            signer: None,
            retry: RetryPolicy::default(),
            jitter_seed: 0,
            request_budget: crate::sync::wire::SYNC_REQUEST_BUDGET_BYTES,
        }
    }
}

impl std::fmt::Debug for SyncOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncOptions")
            .field("signer", &self.signer.is_some())
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

fn lock(repo: &Mutex<Repo>) -> Result<std::sync::MutexGuard<'_, Repo>> {
    repo.lock()
        .map_err(|_| Error::Protocol("the store lock was poisoned".into()))
}

/// Enrol this device: create its key pair, register the public key with the one-time `code`,
/// and keep the identity in the (encrypted) store.
pub async fn enrol(
    repo: &Mutex<Repo>,
    server_url: &str,
    trust: ServerTrust,
    code: &str,
    device_name: &str,
    rng: &mut (impl RngCore + CryptoRng),
    now: DeviceTime,
) -> Result<DeviceIdentity> {
    if code.trim().is_empty() {
        return Err(Error::invalid("code", "is required"));
    }
    identity::check_device_name(device_name)?;
    let key = DeviceKey::generate(rng);
    let public_key = key.public_key_sec1();
    let transport = Transport::new(server_url, &trust)?;
    let answer = transport
        .enrol(&enrol_request(code, public_key, device_name))
        .await?;
    let identity = DeviceIdentity::new(
        &key,
        answer.device_id,
        answer.user_id,
        answer.role,
        answer.server_id,
        server_url.to_owned(),
        trust,
    );
    save_enrolled(repo, &identity, now)?;
    Ok(identity)
}

/// Enrol this device with a key the app's `signer` holds (Android Keystore, the Secure
/// Enclave) under its alias: the signer must sign a test payload with the key it reports before
/// the one-time `code` is spent, and the store keeps only the public key and the alias.
pub async fn enrol_with_signer(
    repo: &Mutex<Repo>,
    server_url: &str,
    trust: ServerTrust,
    code: &str,
    device_name: &str,
    signer: &dyn ChallengeSigner,
    now: DeviceTime,
) -> Result<DeviceIdentity> {
    if code.trim().is_empty() {
        return Err(Error::invalid("code", "is required"));
    }
    identity::check_device_name(device_name)?;
    let public_key = normalise_public_key(&signer.public_key()?)?;
    sign_checked(signer, &public_key, b"casebook-signer-check-v1\0")?;
    let transport = Transport::new(server_url, &trust)?;
    let request = enrol_request(code, public_key.clone(), device_name);
    let answer = transport.enrol(&request).await?;
    let key = ExternalKey {
        public_key,
        alias: signer.key_alias(),
    };
    let identity = DeviceIdentity::with_external_key(
        key,
        answer.device_id,
        answer.user_id,
        answer.role,
        answer.server_id,
        server_url.to_owned(),
        trust,
    );
    save_enrolled(repo, &identity, now)?;
    Ok(identity)
}

fn enrol_request(code: &str, public_key: Vec<u8>, device_name: &str) -> EnrolRequest {
    EnrolRequest {
        code: code.trim().to_owned(),
        public_key,
        device_name: device_name.to_owned(),
    }
}

/// Keep the enrolled identity and a first check-in.
fn save_enrolled(repo: &Mutex<Repo>, identity: &DeviceIdentity, now: DeviceTime) -> Result<()> {
    let mut repo = lock(repo)?;
    let mut ops = vec![identity.save_op()?];
    ops.push(repo.checkin_op(now));
    repo.apply(ops)
}

/// Run one sync session with the server: authenticate, exchange until nothing is left, and
/// persist the result with a check-in read from `clock`. A revoked device's store is wiped
/// before this returns [`Error::DeviceRevoked`]. Setting `cancel` stops the sync before its
/// first request, between round trips, or within [`CANCEL_CHECK_INTERVAL`] while a round
/// trip is in flight (abandoning it); a response already being applied is applied first.
/// What was received and stored so far is kept and the next sync resumes.
pub async fn sync_now(
    repo: &Mutex<Repo>,
    identity: &DeviceIdentity,
    clock: &(dyn Fn() -> DeviceTime + Sync),
    progress: &(dyn Fn(SyncProgress) + Sync),
    cancel: &AtomicBool,
) -> Result<SyncOutcome> {
    sync_now_with_signer(repo, identity, None, clock, progress, cancel).await
}

/// [`sync_now`], opening the session with the app's `signer` when the app's signer holds
/// this device's key (see [`DeviceIdentity::sign_challenge_with`]).
pub async fn sync_now_with_signer(
    repo: &Mutex<Repo>,
    identity: &DeviceIdentity,
    signer: Option<&dyn ChallengeSigner>,
    clock: &(dyn Fn() -> DeviceTime + Sync),
    progress: &(dyn Fn(SyncProgress) + Sync),
    cancel: &AtomicBool,
) -> Result<SyncOutcome> {
    let options = SyncOptions {
        signer,
        jitter_seed: rand::random(),
        ..SyncOptions::default()
    };
    sync_now_with_options(repo, identity, clock, progress, cancel, options).await
}

/// [`sync_now`] with every option: the signer, and how failed round trips are retried (a
/// round trip that fails on a dead or reset connection, a connect error, a timeout or a
/// 502/503/504 is sent again on a fresh connection after a jittered, doubling wait; a 429
/// is waited out if its `Retry-After` is short). [`Error::Network`] means every attempt
/// failed.
pub async fn sync_now_with_options(
    repo: &Mutex<Repo>,
    identity: &DeviceIdentity,
    clock: &(dyn Fn() -> DeviceTime + Sync),
    progress: &(dyn Fn(SyncProgress) + Sync),
    cancel: &AtomicBool,
    options: SyncOptions<'_>,
) -> Result<SyncOutcome> {
    let transport = Transport::new(&identity.server_url, &identity.trust)?;
    let mut backoff = Backoff::new(options.retry, options.jitter_seed);
    let result = run_session(
        repo,
        identity,
        &options,
        &transport,
        &mut backoff,
        (clock, progress),
        cancel,
    )
    .await;
    if matches!(result, Err(Error::DeviceRevoked)) {
        tracing::warn!("this device was revoked; wiping its local store");
        lock(repo)?.wipe()?;
    }
    result
}

/// How often a wait (a round trip in flight, or another sync's turn) looks at its cancel flag.
pub const CANCEL_CHECK_INTERVAL: Duration = Duration::from_millis(50);

/// Wait for `work`, or drop it and fail with [`Error::Cancelled`] once `cancel` is set
/// (looked at every [`CANCEL_CHECK_INTERVAL`]).
pub async fn or_cancelled<F: Future>(cancel: &AtomicBool, work: F) -> Result<F::Output> {
    let mut work = std::pin::pin!(work);
    let mut check = tokio::time::interval(CANCEL_CHECK_INTERVAL);
    loop {
        tokio::select! {
            done = &mut work => return Ok(done),
            _ = check.tick() => {
                if cancel.load(Ordering::Relaxed) {
                    return Err(Error::Cancelled);
                }
            }
        }
    }
}

/// Run `round_trip`, or drop it (closing its connection) once `cancel` is set.
///
/// Dropping a round trip is safe at any point: nothing is stored until its answer has been
/// received whole, and a request the server applied but whose answer was lost is the same
/// as a connection lost in a car park: the next sync's exchange of heads repairs it.
async fn unless_cancelled<T>(
    cancel: &AtomicBool,
    round_trip: impl Future<Output = Result<T>>,
) -> Result<T> {
    or_cancelled(cancel, round_trip).await?
}

/// The clock and the progress listener of a sync.
type Callbacks<'a> = (
    &'a (dyn Fn() -> DeviceTime + Sync),
    &'a (dyn Fn(SyncProgress) + Sync),
);

async fn run_session(
    repo: &Mutex<Repo>,
    identity: &DeviceIdentity,
    options: &SyncOptions<'_>,
    transport: &Transport,
    backoff: &mut Backoff,
    (clock, progress): Callbacks<'_>,
    cancel: &AtomicBool,
) -> Result<SyncOutcome> {
    if cancel.load(Ordering::Relaxed) {
        return Err(Error::Cancelled);
    }
    let mut outcome = SyncOutcome::default();
    let session_token = unless_cancelled(
        cancel,
        transport.open_session_retrying(
            identity.device_id,
            |c| identity.sign_challenge_with(options.signer, c),
            &mut outcome.traffic,
            backoff,
        ),
    )
    .await?;
    outcome.requests += 2;
    // Acknowledgements made on this device go first, so this sync's answers already carry
    // them back (to this device and, from their next sync, to the other recipients').
    let acknowledged = lock(repo)?.pending_acknowledgements()?;
    if !acknowledged.is_empty() {
        let request = AcknowledgeRequest {
            alerts: acknowledged.clone(),
        };
        let answer = unless_cancelled(
            cancel,
            transport.acknowledge_alerts_retrying(
                &session_token.token,
                &request,
                &mut outcome.traffic,
                backoff,
            ),
        )
        .await?;
        outcome.requests += 1;
        lock(repo)?.acknowledgements_sent(&acknowledged, answer)?;
    }
    let (mut session, mut request) = lock(repo)?.start_sync(&identity.server_id)?;
    session.set_budget(options.request_budget);
    loop {
        if cancel.load(Ordering::Relaxed) {
            return Err(Error::Cancelled);
        }
        let response = unless_cancelled(
            cancel,
            transport.sync_retrying(
                &session_token.token,
                &request,
                &mut outcome.traffic,
                backoff,
            ),
        )
        .await?;
        outcome.requests += 1;
        outcome.retries = backoff.retries;
        let step = lock(repo)?.receive_sync(&mut session, response, clock())?;
        progress(SyncProgress {
            bytes_sent: outcome.traffic.sent,
            bytes_received: outcome.traffic.received,
            ..session.progress()
        });
        match step {
            SyncStep::Send(next) => request = next,
            SyncStep::Done(report) => {
                outcome.report = report;
                let (moved, requests) = attachments::transfer(
                    repo,
                    transport,
                    &session_token.token,
                    &mut outcome.traffic,
                    backoff,
                    cancel,
                )
                .await?;
                outcome.attachments = moved;
                outcome.requests += requests;
                outcome.retries = backoff.retries;
                return Ok(outcome);
            }
        }
    }
}
