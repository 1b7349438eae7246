//! `cargo bench` figures for operating the server, one JSON object per line:
//! `{"bench": "<name>", "value": <number>, "unit": "<unit>"}`.
//!
//! The data is the sync bench's: a guardian's device holds 200 cases (1,000 documents; 20
//! notes of about 1 KB of words in each visits document), pushed to a real server over TLS.
//! Measured while that server runs: `casebook-server backup` of its database (SQLite's
//! online backup, encrypted under the same key; the median of five), the backup's size, and
//! a restore of it into a new directory.

use std::time::Instant;

use anyhow::Result;
use casebook_tests::bench_data::{emit, median, populate};
use casebook_tests::support::Harness;
use rand::SeedableRng;
use rand::rngs::StdRng;

const CASES: usize = 200;
const NOTES: usize = 20;
const RUNS: usize = 5;

async fn run() -> Result<()> {
    let mut rng = StdRng::seed_from_u64(7);
    let h = Harness::start_with(casebook_server::Settings {
        max_case_registrations_per_day: 1_000,
        ..casebook_server::Settings::default()
    })
    .await?;
    let (_, guardian) = h.person("guardian", "guardian").await?;
    populate(&guardian, &mut rng, CASES, NOTES)?;
    guardian.sync().await?;

    let data_dir = h.server.data_dir.clone();
    let out = tempfile::tempdir()?;
    let (times, bytes, restore_ms) = tokio::task::spawn_blocking(move || -> Result<_> {
        let source = data_dir.join(casebook_server::backup::DB_FILE);
        let key =
            casebook_server::db::read_key(&data_dir.join(casebook_server::db::DEFAULT_KEY_FILE))?;
        let file = out.path().join("casebook.backup");
        let mut times = Vec::new();
        let mut bytes = 0;
        for _ in 0..RUNS {
            let started = Instant::now();
            let report = casebook_server::backup::backup(&source, &key, &file, &mut |_| {})?;
            times.push(started.elapsed().as_secs_f64() * 1000.0);
            bytes = report.bytes;
        }
        let started = Instant::now();
        casebook_server::backup::restore(&file, &key, &out.path().join("restored"))?;
        let restore_ms = started.elapsed().as_secs_f64() * 1000.0;
        Ok((times, bytes, restore_ms))
    })
    .await??;
    emit("ops.backup_200_cases_ms", median(times), "ms");
    emit("ops.backup_200_cases_bytes", bytes as f64, "bytes");
    emit("ops.restore_200_cases_ms", restore_ms, "ms");
    Ok(())
}

fn main() -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(run())
}
