//! `cargo bench` figures for field scale (issue 9), one JSON object per line:
//! `{"bench": "<name>", "value": <number>, "unit": "<unit>"}`.
//!
//! A guardian's phone, offline for days, holds 900 visit notes of 10,000 characters across
//! 100 cases it created: the backlog is more than one 16 MiB request may carry, and the real
//! sync driver pushes it in steps to the real server over TLS on this machine.

use std::time::Instant;

use anyhow::Result;
use casebook_core::doc::{DocId, DocKind};
use casebook_core::ids::EntryId;
use casebook_core::model::{Profile, VisitNote};
use casebook_tests::support::Harness;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const CASES: usize = 100;
const NOTES: usize = 900;
const CHARS: usize = 10_000;

fn print(bench: &str, value: f64, unit: &str) {
    println!(
        "{}",
        serde_json::json!({"bench": bench, "value": value, "unit": unit})
    );
}

/// A note of a one-hour visit with an interpreter.
fn long_note(random: &mut impl Rng) -> String {
    // Written in Chinese (one of the languages interpreters most often work in for these
    // children): ideographs barely compress, so 900 such notes are more than one request
    // may carry even after automerge deflates them (about 16 KiB a note).
    let mut text = String::with_capacity(CHARS * 3);
    for i in 0..CHARS {
        text.push(if i % 40 == 39 {
            '。'
        } else {
            char::from_u32(random.gen_range(0x4E00..0x9FA5)).unwrap_or('人')
        });
    }
    text
}

async fn push_900_long_notes() -> Result<()> {
    let h = Harness::start_with(casebook_server::Settings {
        max_case_registrations_per_day: 1_000,
        ..casebook_server::Settings::default()
    })
    .await?;
    let (_, guardian) = h.person("guardian", "guardian").await?;
    let mut random = StdRng::seed_from_u64(9);
    let mut cases = Vec::new();
    for c in 0..CASES {
        let edit = guardian.edit();
        cases.push(guardian.lock().create_case(
            &edit,
            &mut random,
            &Profile {
                case_reference: format!("HUL-2026-{c:04}"),
                ..Profile::default()
            },
        )?);
    }
    for n in 0..NOTES {
        let note = VisitNote {
            place: "Foster home".into(),
            wishes_and_feelings: long_note(&mut random),
            ..VisitNote::default()
        };
        let id = EntryId::random(&mut random);
        guardian.change(DocId::new(cases[n % CASES], DocKind::Visits), |d, e| {
            d.add_visit_note(e, id, &note)
        })?;
    }
    let started = Instant::now();
    let outcome = guardian.sync().await?;
    let elapsed = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        outcome.report.rejected.is_empty() && outcome.report.too_large.is_empty(),
        "{:?}",
        outcome.report
    );
    anyhow::ensure!(
        guardian.lock().store().dirty()?.is_empty(),
        "not all pushed"
    );
    print("field.push_900_long_notes_s", elapsed, "s");
    // Sync requests only: the two that open the session are not part of the push.
    print(
        "field.push_900_long_notes_requests",
        f64::from(outcome.requests.saturating_sub(2)),
        "requests",
    );
    print(
        "field.push_900_long_notes_sent_mb",
        outcome.traffic.sent as f64 / (1024.0 * 1024.0),
        "MiB",
    );
    Ok(())
}

fn main() -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(push_900_long_notes())
}
