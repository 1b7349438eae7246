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
use casebook_core::doc::{DocKind, Edit};
use casebook_core::ids::{CaseId, EntryId};
use casebook_core::model::{Profile, VisitNote, new_case};
use casebook_core::store::{CaseSummary, WriteOp};
use casebook_tests::support::{Device, Harness};
use chrono::Utc;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const CASES: usize = 200;
const NOTES: usize = 20;
const RUNS: usize = 5;

/// The sync bench's vocabulary.
const WORDS: &[&str] = &[
    "the",
    "child",
    "said",
    "she",
    "felt",
    "safe",
    "at",
    "school",
    "and",
    "wanted",
    "to",
    "stay",
    "with",
    "her",
    "carer",
    "interpreter",
    "explained",
    "we",
    "talked",
    "about",
    "phone",
    "brother",
    "worried",
    "money",
    "owed",
    "football",
    "college",
    "english",
    "lessons",
    "sleep",
];

fn prose(rng: &mut StdRng, bytes: usize) -> String {
    let mut text = String::with_capacity(bytes + 16);
    while text.len() < bytes {
        text.push_str(WORDS[rng.gen_range(0..WORDS.len())]);
        text.push(' ');
    }
    text.truncate(bytes);
    text
}

fn emit(name: &str, value: f64, unit: &str) {
    println!(
        "{}",
        serde_json::json!({"bench": name, "value": value, "unit": unit})
    );
}

/// Fill the guardian's store with the 200 cases, as its own unsynced edits.
fn populate(device: &Device, rng: &mut StdRng) -> Result<()> {
    let edit = Edit::new(device.identity.author(), Utc::now());
    for i in 0..CASES {
        let case = CaseId::random(rng);
        let profile = Profile {
            case_reference: format!("BEN-{i:04}"),
            given_name: format!("Child {i}"),
            ..Profile::default()
        };
        let mut docs = new_case(case, &edit, &profile)?;
        let visits = docs
            .iter_mut()
            .find(|d| d.kind() == DocKind::Visits)
            .expect("visits doc");
        for _ in 0..NOTES {
            let note = VisitNote {
                wishes_and_feelings: prose(rng, 512),
                observations: prose(rng, 512),
                ..VisitNote::default()
            };
            visits.add_visit_note(&edit, EntryId::random(rng), &note)?;
        }
        let mut ops: Vec<WriteOp> = docs
            .iter_mut()
            .map(|d| WriteOp::AppendChunk {
                doc: d.id(),
                bytes: d.save(),
                local: true,
            })
            .collect();
        ops.push(WriteOp::PutSummary(CaseSummary {
            case,
            reference: profile.case_reference.clone(),
            display_name: profile.display_name(),
            updated_at: edit.at,
        }));
        device.lock().apply(ops)?;
    }
    Ok(())
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

async fn run() -> Result<()> {
    let mut rng = StdRng::seed_from_u64(7);
    let h = Harness::start_with(casebook_server::Settings {
        max_case_registrations_per_day: 1_000,
        ..casebook_server::Settings::default()
    })
    .await?;
    let (_, guardian) = h.person("guardian", "guardian").await?;
    populate(&guardian, &mut rng)?;
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
