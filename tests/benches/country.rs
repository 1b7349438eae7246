//! A whole country's phones on one server (issue 13): `COUNTRY_DEVICES` (10,000) enrolled
//! devices each sync once every `COUNTRY_PERIOD_SECS` (60 s), spread evenly, for one minute of
//! warm-up and `COUNTRY_MINUTES` (2) measured minutes. Each sync opens a new TCP connection
//! and a new TLS handshake (a phone waking up), and one in 15 first opens a new session
//! (challenge, signature; a session lasts 15 minutes of the device's time). The load
//! generator runs in this process, beside the server, on the same 2-core machine.
//!
//! Devices are real: users imported through the admin's CSV import, a one-time code issued
//! for each and redeemed through the server's enrolment function with a fresh P-256 key, and
//! a session opened through the challenge and session functions with that key's signature;
//! what is skipped is only the HTTP round trips of that seeding. The syncs go over TLS.
//!
//! Lines: `sync.server_10000_devices_p99_ms` (connect to the end of the last response),
//! `sync.server_10000_devices_rps` (syncs completed per second of the measured minutes), and
//! where the time goes: `_p50_ms`, `_tls_p99_ms` (TCP connect and TLS handshake),
//! `_renewal_p99_ms` (the session's two requests, on renewals), `_sync_p99_ms` (the sync
//! request alone), `_errors`, and `_host_steal_pct` (the share of this machine's CPU the
//! hypervisor gave to other tenants during the measured time, Linux only; stderr shows how the
//! slow syncs fall between the seconds of high steal and the others, `host_steal.rs`).
//! `COUNTRY_RESUMPTION=1` lets each phone resume its TLS session.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use casebook_core::ids::DeviceId;
use casebook_core::sync::wire::{
    ChallengeRequest, ChallengeResponse, EnrolRequest, PROTOCOL_VERSION, SessionRequest,
    SessionResponse, SyncRequest, SyncResponse, session_signing_payload,
};
use casebook_server::admin;
use casebook_server::auth::{self, Caller};
use casebook_tests::bench_data::emit;
use casebook_tests::host_steal::{Steal, StealSampler};
use casebook_tests::support::Harness;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use rand::rngs::OsRng;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::sync::Mutex;
use tokio_rustls::TlsConnector;

/// A session lasts this many of a device's syncs (15 minutes at one a minute).
const SYNCS_PER_SESSION: usize = 15;
/// Users per team (the CSV import names each row's team).
const TEAM_SIZE: usize = 100;
/// Cases registered per team.
const CASES_PER_TEAM: usize = 5;

fn env_usize(name: &str, default: usize) -> Result<usize> {
    match std::env::var(name) {
        Ok(v) => v.parse().with_context(|| format!("{name}={v}")),
        Err(_) => Ok(default),
    }
}

/// One phone: its key and what it keeps between syncs.
struct Phone {
    device: DeviceId,
    key: SigningKey,
    /// Which of its syncs renew the session: those where `(n + phase) % 15 == 0`.
    phase: usize,
    /// Its TLS settings (its own session cache when resumption is on).
    tls: TlsConnector,
    state: Mutex<PhoneState>,
}

struct PhoneState {
    token: String,
    cursor: u64,
}

/// What one sync took.
#[derive(Debug, Clone, Copy)]
struct Timing {
    /// When the phone woke.
    at: Instant,
    total: Duration,
    tls: Duration,
    renewal: Option<Duration>,
    sync: Duration,
}

fn sign(phone: &Phone, challenge: &[u8]) -> Vec<u8> {
    let signature: Signature = phone
        .key
        .sign(&session_signing_payload(&phone.device, challenge));
    signature.to_der().as_bytes().to_vec()
}

/// The admin's caller, for the server's library functions.
async fn admin_caller(h: &Harness) -> Result<Caller> {
    let token = h.admin.token().to_owned();
    let now = h.server.state.clock.now();
    Ok(h.server
        .state
        .db
        .read(move |c| auth::authenticate(c, &token, now))
        .await?)
}

/// Teams, cases and `devices` users (imported 2,000 rows at a time), one code each, each
/// redeemed with a new key, and a session opened for each: the phones.
async fn seed(h: &Harness, devices: usize, resumption: bool) -> Result<Vec<Arc<Phone>>> {
    let state = &h.server.state;
    let caller = admin_caller(h).await?;
    let org = h.admin.org.clone();
    let teams = devices.div_ceil(TEAM_SIZE);
    let started = Instant::now();
    for t in 0..teams {
        let team = admin::create_team(
            state,
            caller.clone(),
            admin::NewTeam {
                name: format!("Team {t}"),
                org_id: org.clone(),
            },
        )
        .await?;
        for _ in 0..CASES_PER_TEAM {
            admin::create_case(
                state,
                caller.clone(),
                admin::NewCase {
                    case_id: None,
                    org_id: org.clone(),
                    team_id: Some(team.id.clone()),
                },
            )
            .await?;
        }
    }
    let rows: Vec<String> = (0..devices)
        .map(|i| {
            let role = match i % 20 {
                0 => "supervisor",
                n if n % 3 == 0 => "social_worker",
                n if n % 3 == 1 => "carer",
                _ => "guardian",
            };
            format!("Worker {i},{role},Team {}\n", i / TEAM_SIZE)
        })
        .collect();
    for chunk in rows.chunks(admin::MAX_IMPORT_ROWS) {
        let csv = format!("name,role,teams\n{}", chunk.concat());
        admin::import_users(state, caller.clone(), org.clone(), csv.into_bytes()).await?;
    }
    let users: Vec<String> = {
        let org = org.clone();
        state
            .db
            .read(move |c| {
                let mut stmt = c.prepare(
                    "SELECT id FROM users WHERE org_id = ?1 AND name LIKE 'Worker %' ORDER BY rowid",
                )?;
                let ids = stmt
                    .query_map([org], |r| r.get(0))?
                    .collect::<casebook_server::sql::Result<Vec<String>>>()?;
                Ok(ids)
            })
            .await?
    };
    ensure!(users.len() == devices, "{} users imported", users.len());
    let now = state.clock.now();
    let issuer = caller.user.id.clone();
    let codes: Vec<String> = state
        .db
        .write(move |tx| {
            users
                .iter()
                .map(|u| auth::issue_enrolment_code(tx, u, Some(&issuer), now, 24 * 3600))
                .collect()
        })
        .await?;
    eprintln!(
        "seeded {devices} users and codes in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let mut tls = casebook_core::client::client_config(&casebook_tests::support::pin(&h.server))?;
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    if !resumption {
        tls.resumption = rustls::client::Resumption::disabled();
    }
    let mut phones = Vec::with_capacity(devices);
    let source = "127.0.0.1".to_owned();
    for (i, code) in codes.into_iter().enumerate() {
        let key = SigningKey::random(&mut OsRng);
        let enrolled = auth::enrol(
            state,
            source.clone(),
            EnrolRequest {
                code,
                public_key: key
                    .verifying_key()
                    .to_encoded_point(true)
                    .as_bytes()
                    .to_vec(),
                device_name: format!("phone {i}"),
            },
        )
        .await?;
        let challenge = auth::challenge(
            state,
            source.clone(),
            ChallengeRequest {
                device_id: enrolled.device_id,
            },
        )
        .await?;
        let mut config = tls.clone();
        if resumption {
            // Each phone keeps its own tickets, as a real one does.
            config.resumption = rustls::client::Resumption::in_memory_sessions(4);
        }
        let mut phone = Phone {
            device: enrolled.device_id,
            key,
            phase: i % SYNCS_PER_SESSION,
            tls: TlsConnector::from(Arc::new(config)),
            state: Mutex::new(PhoneState {
                token: String::new(),
                cursor: 0,
            }),
        };
        let signature = sign(&phone, &challenge.challenge);
        let session = auth::open_session(
            state,
            source.clone(),
            SessionRequest {
                device_id: phone.device,
                challenge: challenge.challenge,
                signature,
            },
        )
        .await?;
        phone.state.get_mut().token = session.token;
        phones.push(Arc::new(phone));
    }
    eprintln!(
        "seeded {devices} enrolled devices with sessions in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(phones)
}

/// POST `body` as JSON on an open HTTP/1.1 connection; the response body if 200.
async fn post(
    sender: &mut hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    path: &str,
    token: Option<&str>,
    body: Vec<u8>,
) -> Result<Bytes> {
    let mut request = hyper::Request::post(path)
        .header(hyper::header::HOST, "127.0.0.1")
        .header(hyper::header::CONTENT_TYPE, "application/json");
    if let Some(token) = token {
        request = request.header(hyper::header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let response = sender
        .send_request(request.body(Full::new(Bytes::from(body)))?)
        .await?;
    let status = response.status();
    let bytes = response.into_body().collect().await?.to_bytes();
    if status != hyper::StatusCode::OK {
        bail!("{path}: HTTP {status}: {}", String::from_utf8_lossy(&bytes));
    }
    Ok(bytes)
}

/// One wake-up of `phone`: connect, handshake, renew the session if `renew`, sync.
async fn wake(phone: &Phone, server: std::net::SocketAddr, renew: bool) -> Result<Timing> {
    let started = Instant::now();
    let tcp = TcpStream::connect(server).await?;
    tcp.set_nodelay(true)?;
    let stream = phone
        .tls
        .connect(ServerName::try_from("localhost")?.to_owned(), tcp)
        .await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    let driver = tokio::spawn(connection);
    let tls = started.elapsed();
    let mut state = phone.state.lock().await;
    let mut renewal = None;
    if renew {
        let began = Instant::now();
        let body = serde_json::to_vec(&ChallengeRequest {
            device_id: phone.device,
        })?;
        let challenge: ChallengeResponse =
            serde_json::from_slice(&post(&mut sender, "/v1/challenge", None, body).await?)?;
        let body = serde_json::to_vec(&SessionRequest {
            device_id: phone.device,
            signature: sign(phone, &challenge.challenge),
            challenge: challenge.challenge,
        })?;
        let session: SessionResponse =
            serde_json::from_slice(&post(&mut sender, "/v1/session", None, body).await?)?;
        state.token = session.token;
        renewal = Some(began.elapsed());
    }
    let began = Instant::now();
    let body = serde_json::to_vec(&SyncRequest {
        v: PROTOCOL_VERSION,
        cursor: state.cursor,
        messages: Vec::new(),
        purged: Vec::new(),
        epoch: None,
    })?;
    let answer: SyncResponse =
        serde_json::from_slice(&post(&mut sender, "/v1/sync", Some(&state.token), body).await?)?;
    let sync = began.elapsed();
    let total = started.elapsed();
    ensure!(
        answer.messages.is_empty() && answer.snapshots.is_empty() && !answer.more,
        "a phone with nothing to do was sent documents"
    );
    state.cursor = answer.cursor;
    drop(sender);
    driver.abort();
    Ok(Timing {
        at: started,
        total,
        tls,
        renewal,
        sync,
    })
}

/// Where in time the tail is (to stderr): the seconds of the run holding the most syncs over
/// 50 ms. A tail spread over the whole run is the server's steady cost; one bunched into a
/// second or two is a stall (the database's checkpoint, the host's other tenants).
fn report_slow_seconds(timings: &[Timing], from: Instant) {
    const SLOW: Duration = Duration::from_millis(50);
    let mut by_second = std::collections::BTreeMap::<u64, (usize, Duration)>::new();
    for t in timings.iter().filter(|t| t.total > SLOW) {
        let second = t.at.saturating_duration_since(from).as_secs();
        let entry = by_second.entry(second).or_default();
        entry.0 += 1;
        entry.1 = entry.1.max(t.total);
    }
    let slow: usize = by_second.values().map(|(n, _)| n).sum();
    let mut worst: Vec<_> = by_second.into_iter().collect();
    worst.sort_by_key(|(_, (n, _))| std::cmp::Reverse(*n));
    let shown: Vec<String> = worst
        .iter()
        .take(5)
        .map(|(s, (n, max))| format!("s{s}: {n} (max {:.0} ms)", ms(*max)))
        .collect();
    eprintln!(
        "{slow} of {} syncs over 50 ms; busiest seconds: {}",
        timings.len(),
        shown.join(", ")
    );
}

/// The host's CPU steal over the run (a `_host_steal_pct` line), and to stderr how the syncs
/// over 50 ms fall between the seconds when the host stole at least 10 % of the CPU and the
/// others, with the p99 of the syncs begun in the others: a tail that lives in the stolen
/// seconds is the machine's other tenants, one spread over the quiet seconds is the server's.
fn report_steal(name: &str, steal: &Steal, timings: &[Timing], from: Instant, to: Instant) {
    const SLOW: Duration = Duration::from_millis(50);
    const STOLEN_PCT: f64 = 10.0;
    if let Some(pct) = steal.percent(from, to) {
        emit(&format!("{name}_host_steal_pct"), pct, "percent");
    }
    let seconds = to.saturating_duration_since(from).as_secs();
    let stolen: std::collections::BTreeSet<u64> = (0..=seconds)
        .filter(|s| {
            let start = from + Duration::from_secs(*s);
            steal
                .percent(start, start + Duration::from_secs(1))
                .is_some_and(|p| p >= STOLEN_PCT)
        })
        .collect();
    let in_stolen = |t: &Timing| stolen.contains(&t.at.saturating_duration_since(from).as_secs());
    let slow_in_stolen = timings
        .iter()
        .filter(|t| t.total > SLOW && in_stolen(t))
        .count();
    let slow = timings.iter().filter(|t| t.total > SLOW).count();
    let mut quiet: Vec<f64> = timings
        .iter()
        .filter(|t| !in_stolen(t))
        .map(|t| ms(t.total))
        .collect();
    eprintln!(
        "host CPU steal: {} of {} seconds at {STOLEN_PCT} % or more, holding {slow_in_stolen} of \
         the {slow} syncs over 50 ms; p99 of the {} syncs in the other seconds: {:.1} ms",
        stolen.len(),
        seconds + 1,
        quiet.len(),
        percentile(&mut quiet, 99.0)
    );
}

fn percentile(samples: &mut [f64], p: f64) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    samples.sort_by(f64::total_cmp);
    let rank = ((samples.len() as f64) * p / 100.0).ceil() as usize;
    samples[rank.clamp(1, samples.len()) - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// One load run: `devices` phones waking every `period` for `rounds` periods after one of
/// warm-up, on `instances` servers (phone `i` wakes on server `i % instances`; more than one
/// only on PostgreSQL, `database`), its lines named `<name>_...`.
struct Load {
    name: String,
    devices: usize,
    rounds: usize,
    period: Duration,
    resumption: bool,
    database: Option<String>,
    instances: usize,
}

async fn run() -> Result<()> {
    let devices = env_usize("COUNTRY_DEVICES", 10_000)?;
    let resumption = std::env::var("COUNTRY_RESUMPTION").is_ok_and(|v| v == "1");
    if devices > 0 {
        load(Load {
            name: format!("sync.server_{devices}_devices"),
            devices,
            rounds: env_usize("COUNTRY_MINUTES", 2)?,
            period: Duration::from_secs(u64::try_from(env_usize("COUNTRY_PERIOD_SECS", 60)?)?),
            resumption,
            database: None,
            instances: 1,
        })
        .await?;
    }
    // The same on PostgreSQL (issue 14): `PG_DEVICES` (200) phones each syncing once a second
    // for `PG_SECONDS` (60) measured seconds, on one instance and on two sharing the database.
    let pg_devices = env_usize("PG_DEVICES", 200)?;
    if pg_devices == 0 {
        return Ok(());
    }
    let Some(cluster) = casebook_tests::pg::Cluster::for_bench()? else {
        eprintln!("no PostgreSQL (scripts/install-deps.sh installs it): pg.* lines skipped");
        return Ok(());
    };
    for (instances, name) in [
        (1, format!("pg.server_{pg_devices}_devices")),
        (2, format!("pg.two_instances_{pg_devices}_devices")),
    ] {
        let name_dir = tempfile::tempdir()?;
        let database =
            casebook_server::create_test_database(cluster.url(), name_dir.path()).await?;
        load(Load {
            name,
            devices: pg_devices,
            rounds: env_usize("PG_SECONDS", 60)?,
            period: Duration::from_secs(1),
            resumption,
            database: Some(database),
            instances,
        })
        .await?;
    }
    Ok(())
}

async fn load(config: Load) -> Result<()> {
    let Load {
        name,
        devices,
        rounds: minutes,
        period,
        resumption,
        database,
        instances,
    } = config;
    // Every phone connects from 127.0.0.1 here, where in the field each has its own address:
    // the per-address caps (connections, challenges, session failures) are raised to let
    // them all in, and the per-device sync limit is left as it is.
    let settings = casebook_server::Settings {
        max_connections_per_address: 100_000,
        max_challenges_per_address: u32::MAX,
        max_session_failures_per_address: u32::MAX,
        database,
        ..casebook_server::Settings::default()
    };
    let h = Harness::start_with(settings.clone()).await?;
    let phones = seed(&h, devices, resumption).await?;
    // Further instances on the same data directory (its key file and certificate) and database.
    let mut servers = vec![h.server.addr];
    let mut others = Vec::new();
    for _ in 1..instances {
        ensure!(
            settings.database.is_some(),
            "several instances need PostgreSQL"
        );
        let other = casebook_server::start_for_tests_with(
            &h.server.data_dir,
            casebook_server::Clock::System,
            settings.clone(),
        )
        .await?;
        ensure!(
            other.cert_fingerprint == h.server.cert_fingerprint,
            "one pin"
        );
        servers.push(other.addr);
        others.push(other);
    }
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(usize, Result<Timing>)>();
    let sampler = StealSampler::start();
    let begin = tokio::time::Instant::now() + Duration::from_secs(1);
    let rounds = minutes + 1;
    let driver = tokio::spawn(async move {
        for round in 0..rounds {
            for (i, phone) in phones.iter().enumerate() {
                let offset = period.mul_f64(i as f64 / phones.len() as f64);
                tokio::time::sleep_until(begin + period * u32::try_from(round)? + offset).await;
                let (phone, tx) = (Arc::clone(phone), tx.clone());
                let server = servers[i % servers.len()];
                // The first round is the warm-up: every phone's first sync takes the notice of
                // its enrolment, and its session is the one seeded.
                let renew = round > 0 && (round + phone.phase) % SYNCS_PER_SESSION == 0;
                tokio::spawn(async move {
                    let timing = wake(&phone, server, renew).await;
                    let _ = tx.send((round, timing));
                });
            }
        }
        anyhow::Ok(())
    });
    let measured_from = begin + period;
    eprintln!(
        "{name}: measured from {} UTC",
        (chrono::Utc::now()
            + chrono::Duration::from_std(
                measured_from.duration_since(tokio::time::Instant::now())
            )?)
        .format("%H:%M:%S%.3f")
    );
    let mut timings = Vec::new();
    let mut errors = 0usize;
    let mut last_end = measured_from;
    let mut first_error = None;
    while let Some((round, timing)) = rx.recv().await {
        if round == 0 {
            if let Err(e) = timing {
                errors += 1;
                first_error.get_or_insert_with(|| format!("warm-up: {e:#}"));
            }
            continue;
        }
        last_end = tokio::time::Instant::now();
        match timing {
            Ok(t) => timings.push(t),
            Err(e) => {
                errors += 1;
                first_error.get_or_insert_with(|| format!("{e:#}"));
            }
        }
    }
    driver.await??;
    if let Some(e) = &first_error {
        eprintln!("first error: {e}");
    }
    let wall = last_end.duration_since(measured_from).as_secs_f64();
    for other in others {
        other.shutdown().await?;
    }
    report_slow_seconds(&timings, measured_from.into_std());
    let steal = sampler.map(StealSampler::finish);
    if let Some(steal) = &steal {
        report_steal(
            &name,
            steal,
            &timings,
            measured_from.into_std(),
            last_end.into_std(),
        );
    }
    let mut total: Vec<f64> = timings.iter().map(|t| ms(t.total)).collect();
    let mut tls: Vec<f64> = timings.iter().map(|t| ms(t.tls)).collect();
    let mut sync: Vec<f64> = timings.iter().map(|t| ms(t.sync)).collect();
    let mut renewal: Vec<f64> = timings.iter().filter_map(|t| t.renewal.map(ms)).collect();
    eprintln!(
        "{} measured syncs ({} with a new session) in {wall:.1} s, {errors} errors",
        timings.len(),
        renewal.len()
    );
    emit(
        &format!("{name}_p99_ms"),
        percentile(&mut total, 99.0),
        "ms",
    );
    // Every sync here is a no-op (the phones hold everything): on PostgreSQL the issue names
    // the rate `_noop_rps`.
    let rps = if name.starts_with("pg.") {
        format!("{name}_noop_rps")
    } else {
        format!("{name}_rps")
    };
    emit(&rps, timings.len() as f64 / wall, "requests_per_s");
    emit(
        &format!("{name}_p50_ms"),
        percentile(&mut total, 50.0),
        "ms",
    );
    emit(
        &format!("{name}_tls_p99_ms"),
        percentile(&mut tls, 99.0),
        "ms",
    );
    emit(
        &format!("{name}_sync_p99_ms"),
        percentile(&mut sync, 99.0),
        "ms",
    );
    emit(
        &format!("{name}_renewal_p99_ms"),
        percentile(&mut renewal, 99.0),
        "ms",
    );
    emit(&format!("{name}_errors"), errors as f64, "count");
    ensure!(errors == 0, "{errors} syncs failed");
    Ok(())
}

fn main() -> Result<()> {
    // The server as deployed: no device store in its process to turn on SQLCipher's memory
    // security (the harness's administrator device would, for the whole process).
    ensure!(
        casebook_tests::support::devices_leave_memory_security_off(),
        "a device store was opened before the bench began"
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(run())
}
