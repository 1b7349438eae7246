//! `cargo bench` figures for the console (issue 12), against the real server over TLS, one
//! JSON object per line: `{"bench": "<name>", "value": <number>, "unit": "<unit>"}`.
//!
//! `console.first_page_bytes`: what a signed-in administrator's browser downloads for the
//! home page, HTML + stylesheet + script, uncompressed (target under 100 KB).
//!
//! `console.case_page_ms`: a supervisor of 2,000 cases opens one case (a profile, 20 visit
//! notes with interpreters and actions, 10 plan steps, 30 safety checks, 2 missing
//! episodes, one open): the median of 20 page loads, timed at the client on loopback (TLS, the
//! session check, reading the documents, rendering, and auditing the reads), target under
//! 100 ms.
//!
//! `console.supervisor_home_2000_cases_ms`: the same supervisor opens their home page, whose
//! "Deadlines this week" covers 2,000 cases (each with an NRM referral, a care plan review
//! and a plan step whose carers' check is overdue): the median of 20 loads, timed at the
//! client. The deadlines come from the deadline index (documents stored before the index
//! are indexed as the server does on start, by the backfill), not from the documents.

use std::time::Instant;

use anyhow::{Context, Result, bail};
use casebook_core::doc::{Author, CaseDoc, DocKind, Edit};
use casebook_core::ids::{CaseId, DeviceId, EntryId, UserId};
use casebook_core::model::Nrm;
use casebook_core::model::{
    Interpreter, InterpreterMode, MissingEpisode, PlanStep, Profile, SafetyCheck, VisitNote,
    new_case,
};
use casebook_tests::bench_data::emit;
use casebook_tests::console::Console;
use casebook_tests::support::Harness;
use chrono::{Duration, Utc};

async fn run() -> Result<()> {
    let data = tempfile::tempdir()?;
    let server = casebook_server::start_for_tests(data.path()).await?;
    let admin = Console::enrol(&server, &server.admin_code, "bench browser").await?;
    let mut total = 0usize;
    for path in [
        "/console/",
        "/console/assets/console.css",
        "/console/assets/signin.js",
    ] {
        let resp = admin.get(path).await?;
        if !resp.status().is_success() {
            bail!("{path}: {}", resp.status());
        }
        total += resp.bytes().await?.len();
    }
    emit("console.first_page_bytes", total as f64, "bytes");
    server.shutdown().await?;
    case_page().await
}

fn id() -> EntryId {
    EntryId::random(&mut rand::rngs::OsRng)
}

/// The documents of one well-used case, as saves (profile, visits, safety).
fn busy_case(case: CaseId) -> Result<Vec<(DocKind, Vec<u8>)>> {
    let author = Author {
        user: UserId::from_bytes([7; 16]),
        device: DeviceId::from_bytes([7; 16]),
    };
    let at = Utc::now() - Duration::days(1);
    let edit = Edit::new(author, at);
    let profile = Profile {
        case_reference: "HUL-BENCH-0001".into(),
        given_name: "Linh".into(),
        family_name: "Pham".into(),
        nationality: "Vietnamese".into(),
        ..Profile::default()
    };
    let mut docs = new_case(case, &edit, &profile)?;
    for doc in &mut docs {
        match doc.kind() {
            DocKind::Visits => {
                for n in 0..20 {
                    let note = VisitNote {
                        visited_at: Some(at - Duration::days(n)),
                        place: "Foster home".into(),
                        wishes_and_feelings: "Wants to stay at school and see her sister. "
                            .repeat(8),
                        observations: "Settled; ate well; asked about her case.".repeat(4),
                        interpreter: Interpreter {
                            mode: InterpreterMode::Telephone,
                            name: "Interpreter Mai".into(),
                            language: "Vietnamese (northern)".into(),
                            child_consented: Some(true),
                            ..Interpreter::default()
                        },
                        ..VisitNote::default()
                    };
                    let note_id = id();
                    doc.add_visit_note(&edit, note_id, &note)?;
                }
            }
            DocKind::Safety => {
                for _ in 0..10 {
                    let step = PlanStep {
                        description: "Carer checks the bedroom window at 22:00".into(),
                        ..PlanStep::default()
                    };
                    doc.add_plan_step(&edit, id(), &step)?;
                }
                for n in 0..30 {
                    let check = SafetyCheck {
                        checked_at: Some(at - Duration::hours(n)),
                        note: "In her room, phone on the kitchen table.".into(),
                        ..SafetyCheck::default()
                    };
                    doc.log_safety_check(&edit, id(), &check)?;
                }
                for n in 0..2 {
                    let episode = MissingEpisode {
                        missing_since: Some(at - Duration::hours(n * 30 + 2)),
                        last_seen: "Bus station".into(),
                        ..MissingEpisode::default()
                    };
                    let episode_id = id();
                    doc.start_missing_episode(&edit, episode_id, &episode)?;
                    if n == 1 {
                        doc.end_missing_episode(&edit, episode_id, at - Duration::hours(20))?;
                    }
                }
            }
            _ => {}
        }
    }
    Ok(docs
        .iter_mut()
        .map(|d: &mut CaseDoc| (d.kind(), d.save()))
        .collect())
}

async fn case_page() -> Result<()> {
    const CASES: usize = 2_000;
    let h = Harness::start().await?;
    let sam = h.admin.user("Sam Okafor", "supervisor").await?;
    let team = h.admin.team("Bench team", &[&sam]).await?;
    let org = h.admin.org.clone();
    let cases: Vec<CaseId> = (0..CASES)
        .map(|_| CaseId::random(&mut rand::rngs::OsRng))
        .collect();
    let measured = cases[CASES / 2];
    let busy = busy_case(measured)?;
    let small = case_with_deadlines(cases[0])?;
    let now = Utc::now().timestamp();
    h.server
        .state
        .db
        .write(move |tx| {
            for case in &cases {
                tx.execute(
                    "INSERT INTO cases (id, org_id, team_id, created_at) VALUES (?1, ?2, ?3, ?4)",
                    casebook_server::params![case.to_string(), org, team, now],
                )?;
                let docs = if *case == measured { &busy } else { &small };
                for (kind, bytes) in docs {
                    let seq = i64::try_from(casebook_server::db::next_seq(tx)?).unwrap_or(0);
                    tx.execute(
                        "INSERT INTO docs (doc_id, case_id, kind, seq, bytes)
                         VALUES (?1, ?2, ?3, ?4, ?5)",
                        casebook_server::params![
                            format!("{case}/{}", kind.as_str()),
                            case.to_string(),
                            kind.as_str(),
                            seq,
                            bytes
                        ],
                    )?;
                }
            }
            // Index them as the server does documents stored before its indexes.
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('report_facts_backfill', 'pending')
                 ON CONFLICT(key) DO UPDATE SET value = 'pending'",
                [],
            )?;
            casebook_server::reports::facts::backfill(tx, now)?;
            Ok(())
        })
        .await?;
    let code = h.admin.code(&sam).await?;
    let browser = Console::enrol(&h.server, &code, "bench browser").await?;
    let path = format!("/console/cases/{measured}");
    let mut times = Vec::new();
    for round in 0..23 {
        let started = Instant::now();
        let resp = browser.get(&path).await?;
        let status = resp.status();
        let body = resp.text().await?;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        if !status.is_success() || !body.contains("Interpreter Mai") {
            bail!("{path}: {status}");
        }
        if round >= 3 {
            times.push(ms);
        }
    }
    times.sort_by(f64::total_cmp);
    let median = times.get(times.len() / 2).context("timings")?;
    emit("console.case_page_ms", (median * 10.0).round() / 10.0, "ms");
    supervisor_home(&browser).await
}

/// The median of 20 loads of the supervisor's home page (after 3 to warm up).
async fn supervisor_home(browser: &Console) -> Result<()> {
    let mut times = Vec::new();
    for round in 0..23 {
        let started = Instant::now();
        let resp = browser.get("/console/").await?;
        let status = resp.status();
        let body = resp.text().await?;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        if !status.is_success() || !body.contains("Safety check") {
            bail!("/console/: {status}, no overdue check listed");
        }
        if round >= 3 {
            times.push(ms);
        }
    }
    times.sort_by(f64::total_cmp);
    let median = times.get(times.len() / 2).context("timings")?;
    emit(
        "console.supervisor_home_2000_cases_ms",
        (median * 10.0).round() / 10.0,
        "ms",
    );
    Ok(())
}

/// A case's profile (an NRM referral and a care plan review in the coming week) and safety
/// document (a plan step checked every 24 hours from two days ago, never checked), as saves.
fn case_with_deadlines(case: CaseId) -> Result<Vec<(DocKind, Vec<u8>)>> {
    let author = Author {
        user: UserId::from_bytes([8; 16]),
        device: DeviceId::from_bytes([8; 16]),
    };
    let at = Utc::now() - Duration::days(2);
    let edit = Edit::new(author, at);
    let today = Utc::now().date_naive();
    let profile = Profile {
        case_reference: "HUL-BENCH-0002".into(),
        given_name: "Anh".into(),
        nrm: Nrm {
            referred_on: Some(today - Duration::days(3)),
            ..Nrm::default()
        },
        plans: casebook_core::model::PlanDates {
            care_plan: Some(today + Duration::days(3)),
            ..Default::default()
        },
        ..Profile::default()
    };
    let mut docs = new_case(case, &edit, &profile)?;
    for doc in &mut docs {
        if doc.kind() == DocKind::Safety {
            let step = PlanStep {
                description: "Phone handed in at night".into(),
                restricts: true,
                check_every_hours: Some(24),
                checks_from: Some(at),
                ..PlanStep::default()
            };
            doc.add_plan_step(&edit, id(), &step)?;
        }
    }
    Ok(docs
        .iter_mut()
        .filter(|d| matches!(d.kind(), DocKind::Profile | DocKind::Safety))
        .map(|d| (d.kind(), d.save()))
        .collect())
}

fn main() -> Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(run())
}
