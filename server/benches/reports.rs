//! `cargo bench` figure for casework reports (issue 11), one JSON object per line:
//! `{"bench": "<name>", "value": <number>, "unit": "<unit>"}`.
//!
//! `casework.report_10000_cases_ms`: an organisation of 10,000 children whose facts index
//! holds, per child, three missing episodes, an NRM referral with decisions and twelve visit
//! notes (a third awaiting review), written by the same function the sync exchange calls; the
//! time of the server's report function for a 12-month period over the whole organisation
//! (median of 5 runs, in one read transaction as the endpoint does). Target under 1,000 ms.

use std::time::Instant;

use anyhow::Result;
use casebook_core::doc::{DocId, DocKind};
use casebook_core::ids::{CaseId, EntryId};
use casebook_core::model::{
    DocFacts, EpisodeCategory, EpisodeFact, NoteFact, NrmDecision, NrmFact, ReviewStatus,
};
use casebook_server::reports::{self, Period, Scope};
use casebook_server::{Clock, Settings, open_data_dir};
use chrono::{Duration, NaiveDate, TimeZone, Utc};
use rand::SeedableRng;
use rand::rngs::StdRng;

const CASES: usize = 10_000;

fn emit(name: &str, value: f64, unit: &str) {
    println!(
        "{}",
        serde_json::json!({"bench": name, "value": value, "unit": unit})
    );
}

fn main() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let opened = open_data_dir(dir.path(), Clock::System, Settings::default())?;
    let db = opened.state.db.clone();
    let mut rng = StdRng::seed_from_u64(19);
    let start = Utc
        .with_ymd_and_hms(2025, 1, 1, 12, 0, 0)
        .single()
        .ok_or_else(|| anyhow::anyhow!("time"))?;
    let cases: Vec<CaseId> = (0..CASES).map(|_| CaseId::random(&mut rng)).collect();
    db.write_blocking(|tx| {
        tx.execute(
            "INSERT INTO orgs (id, name, created_at) VALUES ('bench-org', 'Bench', 0)",
            [],
        )?;
        for (i, case) in cases.iter().enumerate() {
            tx.execute(
                "INSERT INTO cases (id, org_id, team_id, created_at) VALUES (?1, 'bench-org', NULL, 0)",
                [case.to_string()],
            )?;
            let day = i64::try_from(i % 300).unwrap_or(0);
            let episodes = (0..3)
                .map(|k| {
                    let began = start + Duration::days(day + 20 * k);
                    EpisodeFact {
                        id: EntryId::random(&mut rng),
                        category: if k == 1 {
                            EpisodeCategory::AwayFromPlacement
                        } else {
                            EpisodeCategory::Missing
                        },
                        started_at: Some(began),
                        ended_at: (k < 2).then(|| began + Duration::hours(10 + k)),
                        interview_within_72_hours: k == 0,
                        repeat: k == 2,
                    }
                })
                .collect();
            let now = start.timestamp();
            let safety = DocId::new(*case, DocKind::Safety);
            reports::facts::record(tx, &safety, &DocFacts::Episodes(episodes), now)?;
            let referred = NaiveDate::from_ymd_opt(2025, 1, 2).map(|d| d + Duration::days(day));
            let nrm = NrmFact {
                referred_on: referred,
                reasonable_grounds_due_on: referred.map(|d| d + Duration::days(7)),
                reasonable_grounds: NrmDecision::Positive,
                reasonable_grounds_on: referred.map(|d| d + Duration::days(6)),
                conclusive_grounds: NrmDecision::Pending,
                conclusive_grounds_on: None,
            };
            let profile = DocId::new(*case, DocKind::Profile);
            reports::facts::record(tx, &profile, &DocFacts::Nrm(nrm), now)?;
            let notes = (0..12)
                .map(|k| NoteFact {
                    id: EntryId::random(&mut rng),
                    visited_at: Some(start + Duration::days(day + 30 * k)),
                    review: if k % 3 == 0 {
                        ReviewStatus::Submitted
                    } else {
                        ReviewStatus::SignedOff
                    },
                })
                .collect();
            let visits = DocId::new(*case, DocKind::Visits);
            reports::facts::record(tx, &visits, &DocFacts::Notes(notes), now)?;
        }
        Ok(())
    })?;
    let period = Period::new(
        NaiveDate::from_ymd_opt(2025, 1, 1).unwrap_or_default(),
        NaiveDate::from_ymd_opt(2025, 12, 31).unwrap_or_default(),
    )
    .map_err(|(field, why)| anyhow::anyhow!("{field}: {why}"))?;
    let now = Utc::now().timestamp();
    let mut times = Vec::new();
    let mut episodes = None;
    for _ in 0..5 {
        let t = Instant::now();
        let made = db.read_blocking(|conn| {
            reports::report(conn, Scope::Organisation("bench-org".into()), period, now)
        })?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        episodes = made.get("missing", "all", "episodes");
    }
    if episodes != Some(reports::Value::Count(u64::try_from(CASES * 3).unwrap_or(0))) {
        anyhow::bail!("the bench's report is wrong: {episodes:?}");
    }
    times.sort_by(f64::total_cmp);
    emit("casework.report_10000_cases_ms", times[2], "ms");
    Ok(())
}
