//! `cargo bench` figures for alerts to the team (issue 10), against the real server over TLS,
//! one JSON object per line: `{"bench": "<name>", "value": <number>, "unit": "<unit>"}`.
//!
//! A carer's phone starts a missing episode offline and syncs; then the supervisor's phone
//! syncs by hand. `missing.alert_delivery_rounds` is the number of the supervisor's round
//! trips until an answer carries the alert (target 1: the first answer of the next sync).
//! The supervisor then makes a no-op sync: its answer must be as small as one with no alerts
//! ever (`missing.alert_noop_response_bytes`; an idle answer is about 80 bytes).

use std::time::Instant;

use anyhow::{Context, Result};
use casebook_core::doc::{DocId, DocKind};
use casebook_core::ids::EntryId;
use casebook_core::model::{MissingEpisode, Profile};
use casebook_tests::bench_data::emit;
use casebook_tests::support::Harness;

async fn run() -> Result<()> {
    let h = Harness::start().await?;
    let (guardian_id, guardian) = h.person("guardian", "guardian").await?;
    let (carer_id, carer) = h.person("carer", "carer").await?;
    let (supervisor_id, supervisor) = h.person("supervisor", "supervisor").await?;
    let team = h
        .admin
        .team("team", &[&supervisor_id, &guardian_id])
        .await?;
    let case = guardian.lock().create_case(
        &guardian.edit(),
        &mut rand::rngs::OsRng,
        &Profile {
            case_reference: "HUL-BENCH-1".into(),
            ..Profile::default()
        },
    )?;
    guardian.sync().await?;
    h.admin.set_team(&case.to_string(), &team).await?;
    h.admin.link_carer(&case.to_string(), &carer_id).await?;
    for device in [&carer, &supervisor, &guardian] {
        device.sync().await?;
    }

    carer.change(DocId::new(case, DocKind::Safety), |d, e| {
        d.start_missing_episode(
            e,
            EntryId::random(&mut rand::rngs::OsRng),
            &MissingEpisode {
                missing_since: Some(e.at),
                ..MissingEpisode::default()
            },
        )
    })?;
    carer.sync().await?;

    let started = Instant::now();
    let received = supervisor.sync_capturing().await?;
    let elapsed = started.elapsed();
    let round = received
        .responses
        .iter()
        .position(|r| !r.alerts.is_empty())
        .context("the supervisor's sync brought no alert")?;
    emit(
        "missing.alert_delivery_rounds",
        (round + 1) as f64,
        "round_trips",
    );
    emit(
        "missing.alert_delivery_sync_ms",
        elapsed.as_secs_f64() * 1e3,
        "ms",
    );

    let idle = supervisor.sync_capturing().await?;
    let bytes: usize = idle.raw.iter().map(Vec::len).sum();
    emit("missing.alert_noop_response_bytes", bytes as f64, "bytes");
    Ok(())
}

fn main() -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(run())
}
