//! `cargo bench` figures for sync against the real server over TLS on this machine, one JSON
//! object per line: `{"bench": "<name>", "value": <number>, "unit": "<unit>"}`.
//!
//! A guardian's device holds 200 cases (1,000 documents; 20 notes of about 1 KB in each
//! visits document). Measured: a no-op sync, a fresh supervisor device pulling everything,
//! and 200 concurrent devices doing no-op syncs: saturated (back to back, for throughput) and
//! paced (each device once a second, for latency). Then a photo (`PHOTO_BYTES`) is attached
//! to every case and the no-op and 200-device figures are measured again (`*_with_photos_*`):
//! a photo travels outside the documents and must not slow a sync that has nothing to do.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use casebook_core::client::{Traffic, Transport};
use casebook_core::doc::Edit;
use casebook_core::sync::SyncStep;
use casebook_tests::bench_data::{emit, populate};
use casebook_tests::support::{Device, Harness};
use chrono::Utc;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const CASES: usize = 200;
const NOTES: usize = 20;
const DEVICES: usize = 200;
const NOOPS_PER_DEVICE: usize = 10;
const PACED_SYNCS: usize = 10;
/// The size of the photo attached to every case in the `*_with_photos_*` figures.
const PHOTO_BYTES: usize = 1024 * 1024;
/// Set (to anything) to stop after the fresh device's figures, when working on them.
const FRESH_ONLY: &str = "CASEBOOK_SYNC_BENCH_FRESH_ONLY";

/// One sync exchange with an already open session: (round trips, bytes, elapsed).
async fn exchange(
    device: &Device,
    transport: &Transport,
    token: &str,
) -> Result<(u32, Traffic, Duration)> {
    let mut traffic = Traffic::default();
    let started = Instant::now();
    let (mut session, mut request) = device.lock().start_sync(&device.identity.server_id)?;
    let mut rounds = 0;
    loop {
        let response = transport.sync(token, &request, &mut traffic).await?;
        rounds += 1;
        match device
            .lock()
            .receive_sync(&mut session, response, Utc::now())?
        {
            SyncStep::Send(next) => request = next,
            SyncStep::Done(_) => return Ok((rounds, traffic, started.elapsed())),
        }
    }
}

async fn token(device: &Device, transport: &Transport) -> Result<String> {
    let mut traffic = Traffic::default();
    Ok(transport
        .open_session(
            device.identity.device_id,
            |c| device.identity.sign_challenge(c),
            &mut traffic,
        )
        .await?
        .token)
}

/// A PNG header and `PHOTO_BYTES` of random (incompressible) bytes.
fn photo(rng: &mut StdRng) -> Vec<u8> {
    let mut bytes = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13];
    bytes.extend_from_slice(b"IHDR");
    bytes.extend_from_slice(&[0, 0, 4, 0, 0, 0, 3, 0, 8, 2, 0, 0, 0, 0, 0, 0, 0]);
    let mut filler = vec![0u8; PHOTO_BYTES - bytes.len()];
    rng.fill(filler.as_mut_slice());
    bytes.extend_from_slice(&filler);
    bytes
}

/// [`exchange`] plus what the sync driver does about photos when nothing changed: read the
/// lists of images to upload and to fetch (both empty).
async fn exchange_with_photos(
    device: &Device,
    transport: &Transport,
    token: &str,
) -> Result<(u32, Traffic, Duration)> {
    let started = Instant::now();
    let (rounds, traffic, _) = exchange(device, transport, token).await?;
    let (uploads, missing) = {
        let repo = device.lock();
        (
            repo.pending_attachment_uploads()?,
            repo.missing_attachments()?,
        )
    };
    anyhow::ensure!(
        uploads.is_empty() && missing.is_empty(),
        "a no-op sync with photos to move"
    );
    Ok((rounds, traffic, started.elapsed()))
}

type Simulated = Arc<(Device, Transport, String)>;

/// Every device runs `syncs` no-op syncs, back to back or one per `period` (staggered
/// starts); returns each exchange's latency in ms and the wall time in seconds.
async fn load(
    devices: &[Simulated],
    syncs: usize,
    period: Option<Duration>,
) -> Result<(Vec<f64>, f64)> {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (i, d) in devices.iter().enumerate() {
        let d = d.clone();
        let offset = period.map(|p| p.mul_f64(i as f64 / devices.len() as f64));
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let begin = tokio::time::Instant::now() + offset.unwrap_or_default();
            for n in 0..syncs {
                if let Some(p) = period {
                    tokio::time::sleep_until(begin + p * u32::try_from(n).unwrap_or(0)).await;
                }
                let (_, _, elapsed) = exchange(&d.0, &d.1, &d.2).await?;
                latencies.push(elapsed.as_secs_f64() * 1e3);
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    Ok((latencies, started.elapsed().as_secs_f64()))
}

fn percentile(samples: &[f64], p: usize) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[(sorted.len() * p / 100).min(sorted.len().saturating_sub(1))]
}

/// A fresh device's first sync: the whole time, the bytes both ways, and the time spent
/// waiting on the server and the network and applying on the device.
struct FreshPull {
    ms: f64,
    bytes: f64,
    waiting_ms: f64,
    applying_ms: f64,
}

impl FreshPull {
    /// The `<prefix>.fresh_device_200_cases_*` lines: time, bytes, server and network.
    fn emit(&self, prefix: &str) {
        let name = |what: &str| format!("{prefix}.fresh_device_200_cases_{what}");
        emit(&name("ms"), self.ms, "ms");
        emit(&name("bytes"), self.bytes, "bytes");
        emit(&name("server_and_network_ms"), self.waiting_ms, "ms");
    }
}

/// A newly enrolled device of `user` (who may see all `CASES`) pulls everything.
async fn fresh_pull(h: &Harness, user: &str) -> Result<FreshPull> {
    let code = h.admin.code(user).await?;
    let fresh = Device::enrol_at(
        &h.server,
        h.devices_dir.path().join("fresh.db"),
        &code,
        "fresh",
    )
    .await?;
    let started = Instant::now();
    let transport = Transport::new(&fresh.identity.server_url, &fresh.identity.trust)?;
    let mut traffic = Traffic::default();
    let session = transport
        .open_session(
            fresh.identity.device_id,
            |c| fresh.identity.sign_challenge(c),
            &mut traffic,
        )
        .await?
        .token;
    let (mut waiting, mut applying) = (Duration::ZERO, Duration::ZERO);
    let (mut state, mut request) = fresh.lock().start_sync(&fresh.identity.server_id)?;
    loop {
        let sent = Instant::now();
        let response = transport.sync(&session, &request, &mut traffic).await?;
        waiting += sent.elapsed();
        let received = Instant::now();
        let step = fresh
            .lock()
            .receive_sync(&mut state, response, Utc::now())?;
        applying += received.elapsed();
        match step {
            SyncStep::Send(next) => request = next,
            SyncStep::Done(_) => break,
        }
    }
    let pull = FreshPull {
        ms: started.elapsed().as_secs_f64() * 1e3,
        bytes: (traffic.sent + traffic.received) as f64,
        waiting_ms: waiting.as_secs_f64() * 1e3,
        applying_ms: applying.as_secs_f64() * 1e3,
    };
    anyhow::ensure!(
        fresh.lock().cases()?.len() == CASES,
        "the fresh device holds every case"
    );
    Ok(pull)
}

/// Server settings for the bench: one guardian registers all 200 cases in one go (four times
/// the product's daily limit per person, 50), and the 200 phones all come from 127.0.0.1
/// (the per-address connection cap, 64, is raised). Nothing else changes.
fn bench_settings(database: Option<String>) -> casebook_server::Settings {
    casebook_server::Settings {
        database,
        max_case_registrations_per_day: 1_000,
        max_connections_per_address: 1_024,
        ..casebook_server::Settings::default()
    }
}

/// `pg.fresh_device_200_cases_ms`: the same cases and the same fresh pull, with the server on
/// PostgreSQL (the cluster `CASEBOOK_PG_CLUSTER` names, else a throwaway one; skipped, saying
/// so, where PostgreSQL is not installed).
async fn postgres_fresh_pull() -> Result<()> {
    let Some(cluster) = casebook_tests::pg::Cluster::for_bench()? else {
        eprintln!("PostgreSQL is not installed: pg.fresh_device_200_cases_* skipped");
        return Ok(());
    };
    let name = tempfile::tempdir()?;
    let database = casebook_server::create_test_database(cluster.url(), name.path()).await?;
    let h = Harness::start_with(bench_settings(Some(database))).await?;
    let seeded = seed(&h).await?;
    let fresh = fresh_pull(&h, &seeded.supervisor_user).await?;
    fresh.emit("pg");
    Ok(())
}

/// The bench's data on `h`'s server: a guardian's phone holding `CASES` cases of `NOTES`
/// notes (always the same, from one seed), pushed, and the cases put in a team with a
/// supervisor (who has no device yet).
struct Seeded {
    guardian: Device,
    supervisor_user: String,
    cases: Vec<casebook_core::ids::CaseId>,
    rng: StdRng,
}

async fn seed(h: &Harness) -> Result<Seeded> {
    let mut rng = StdRng::seed_from_u64(7);
    let (guardian_id, guardian) = h.person("guardian", "guardian").await?;
    let supervisor_user = h.admin.user("supervisor", "supervisor").await?;
    let team = h
        .admin
        .team("bench team", &[&supervisor_user, &guardian_id])
        .await?;
    let cases = populate(&guardian, &mut rng, CASES, NOTES)?;
    let first = guardian.sync().await?;
    eprintln!(
        "initial push: {} requests, {:?}",
        first.requests, first.traffic
    );
    for case in &cases {
        h.admin.set_team(&case.to_string(), &team).await?;
    }
    guardian.sync().await?;
    Ok(Seeded {
        guardian,
        supervisor_user,
        cases,
        rng,
    })
}

async fn run() -> Result<()> {
    let h = Harness::start_with(bench_settings(None)).await?;
    let Seeded {
        guardian,
        supervisor_user,
        cases,
        mut rng,
    } = seed(&h).await?;

    // No-op sync of 1,000 documents, with the session already open.
    let transport = Transport::new(&guardian.identity.server_url, &guardian.identity.trust)?;
    let session = token(&guardian, &transport).await?;
    exchange(&guardian, &transport, &session).await?;
    let mut samples = Vec::new();
    let mut last = (0, Traffic::default());
    for _ in 0..20 {
        let (rounds, traffic, elapsed) = exchange(&guardian, &transport, &session).await?;
        samples.push(elapsed.as_secs_f64() * 1e3);
        last = (rounds, traffic);
    }
    samples.sort_by(f64::total_cmp);
    emit(
        "sync.noop_1000_docs_round_trips",
        f64::from(last.0),
        "round_trips",
    );
    emit(
        "sync.noop_1000_docs_bytes",
        (last.1.sent + last.1.received) as f64,
        "bytes",
    );
    emit("sync.noop_1000_docs_ms", samples[samples.len() / 2], "ms");
    // The same with a new session (challenge + signature) first, as after 15 minutes idle.
    let started = Instant::now();
    let outcome = guardian.sync().await?;
    emit(
        "sync.noop_1000_docs_with_new_session_ms",
        started.elapsed().as_secs_f64() * 1e3,
        "ms",
    );
    emit(
        "sync.noop_1000_docs_with_new_session_bytes",
        (outcome.traffic.sent + outcome.traffic.received) as f64,
        "bytes",
    );

    // A newly enrolled supervisor pulls the 200 cases.
    let fresh = fresh_pull(&h, &supervisor_user).await?;
    fresh.emit("sync");
    emit(
        "sync.fresh_device_200_cases_device_apply_ms",
        fresh.applying_ms,
        "ms",
    );
    if std::env::var_os(FRESH_ONLY).is_some() {
        return Ok(());
    }

    // 200 devices (carers, one case each) doing no-op syncs at the same time.
    let mut devices = Vec::new();
    for i in 0..DEVICES {
        let (carer, device) = h.person(&format!("carer-{i}"), "carer").await?;
        h.admin
            .link_carer(&cases[i % cases.len()].to_string(), &carer)
            .await?;
        device.sync().await?;
        let transport = Transport::new(&device.identity.server_url, &device.identity.trust)?;
        let session = token(&device, &transport).await?;
        devices.push(Arc::new((device, transport, session)));
    }
    // Saturated: every device syncs back to back; throughput is what the server sustains.
    let (latencies, wall) = load(&devices, NOOPS_PER_DEVICE, None).await?;
    emit(
        "sync.server_200_devices_noop_rps",
        latencies.len() as f64 / wall,
        "requests_per_s",
    );
    emit(
        "sync.server_200_devices_saturated_p99_ms",
        percentile(&latencies, 99),
        "ms",
    );
    // Paced: each device syncs once a second (staggered), as phones do when nothing changed.
    let (latencies, wall) = load(&devices, PACED_SYNCS, Some(Duration::from_secs(1))).await?;
    emit(
        "sync.server_200_devices_p99_ms",
        percentile(&latencies, 99),
        "ms",
    );
    emit(
        "sync.server_200_devices_paced_rps",
        latencies.len() as f64 / wall,
        "requests_per_s",
    );

    // A photo attached to every case (set on the guardian's phone, uploaded at its sync,
    // fetched by each carer), then the same figures again.
    let edit = Edit::new(guardian.identity.author(), Utc::now());
    for case in &cases {
        let image = photo(&mut rng);
        guardian.lock().set_profile_photo(&edit, *case, &image)?;
    }
    let started = Instant::now();
    let pushed = guardian.sync().await?;
    anyhow::ensure!(
        pushed.attachments.sent == u32::try_from(CASES)?,
        "photos uploaded: {:?}",
        pushed.attachments
    );
    emit(
        "sync.upload_200_photos_ms",
        started.elapsed().as_secs_f64() * 1e3,
        "ms",
    );
    let transport = Transport::new(&guardian.identity.server_url, &guardian.identity.trust)?;
    let session = token(&guardian, &transport).await?;
    exchange_with_photos(&guardian, &transport, &session).await?;
    let mut samples = Vec::new();
    let mut last = (0, Traffic::default());
    for _ in 0..20 {
        let (rounds, traffic, elapsed) =
            exchange_with_photos(&guardian, &transport, &session).await?;
        samples.push(elapsed.as_secs_f64() * 1e3);
        last = (rounds, traffic);
    }
    samples.sort_by(f64::total_cmp);
    emit(
        "sync.noop_1000_docs_with_photos_round_trips",
        f64::from(last.0),
        "round_trips",
    );
    emit(
        "sync.noop_1000_docs_with_photos_bytes",
        (last.1.sent + last.1.received) as f64,
        "bytes",
    );
    emit(
        "sync.noop_1000_docs_with_photos_ms",
        samples[samples.len() / 2],
        "ms",
    );
    let started = Instant::now();
    let outcome = guardian.sync().await?;
    emit(
        "sync.noop_1000_docs_with_photos_with_new_session_ms",
        started.elapsed().as_secs_f64() * 1e3,
        "ms",
    );
    emit(
        "sync.noop_1000_docs_with_photos_with_new_session_bytes",
        (outcome.traffic.sent + outcome.traffic.received) as f64,
        "bytes",
    );
    anyhow::ensure!(outcome.attachments == Default::default() && outcome.requests == 3);

    let mut with_photos = Vec::new();
    for d in devices {
        let (device, _, _) =
            Arc::try_unwrap(d).map_err(|_| anyhow::anyhow!("a device is still in use"))?;
        let pulled = device.sync().await?;
        anyhow::ensure!(pulled.attachments.received == 1, "{:?}", pulled.attachments);
        let transport = Transport::new(&device.identity.server_url, &device.identity.trust)?;
        let session = token(&device, &transport).await?;
        with_photos.push(Arc::new((device, transport, session)));
    }
    let (latencies, wall) = load(&with_photos, NOOPS_PER_DEVICE, None).await?;
    emit(
        "sync.server_200_devices_with_photos_noop_rps",
        latencies.len() as f64 / wall,
        "requests_per_s",
    );
    let (latencies, _) = load(&with_photos, PACED_SYNCS, Some(Duration::from_secs(1))).await?;
    emit(
        "sync.server_200_devices_with_photos_p99_ms",
        percentile(&latencies, 99),
        "ms",
    );
    Ok(())
}

/// The server's peak memory for one 16 MiB decompression-bomb request, measured on a server
/// child process (this bench re-executed with `casebook_tests::bomb::CHILD_ENV`).
async fn bomb_peak_rss() -> Result<()> {
    let server = std::process::Command::new(std::env::current_exe()?);
    let out = casebook_tests::bomb::run(server, casebook_core::sync::wire::MAX_SYNC_REQUEST_BYTES)
        .await?;
    anyhow::ensure!(
        (400..500).contains(&out.status),
        "the bomb was not refused: {}",
        out.status
    );
    emit("security.bomb_peak_rss_mb", out.peak_rss_mb.round(), "MB");
    Ok(())
}

fn main() -> Result<()> {
    if let Ok(dir) = std::env::var(casebook_tests::bomb::CHILD_ENV) {
        return casebook_tests::bomb::serve_child(std::path::Path::new(&dir));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(run())?;
    runtime.block_on(postgres_fresh_pull())?;
    if std::env::var_os(FRESH_ONLY).is_some() {
        return Ok(());
    }
    runtime.block_on(bomb_peak_rss())
}
