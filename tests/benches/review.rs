//! `cargo bench` figures for supervisor review (issues 11 and 12), against the real server
//! over TLS, one JSON object per line: `{"bench": "<name>", "value": <number>, "unit": "<unit>"}`.
//!
//! A supervisor's team holds 2,000 cases, each with five visit notes in the review index (one
//! submitted, four signed off: 10,000 rows), seeded in the server's tables directly (the
//! queue reads only the index, the case references and the directory; no document). Then,
//! the median of 30 requests:
//!
//! - `casework.review_queue_2000_cases_ms`: `GET /v1/review-queue` (the first page of 50,
//!   audited), from the supervisor's phone session (target under 50 ms);
//! - `console.review_queue_ms`: `GET /console/review`, the rendered page, from the
//!   supervisor's browser session (target under 100 ms).

use std::time::Instant;

use anyhow::{Result, ensure};
use casebook_tests::bench_data::emit;
use casebook_tests::console::Console;
use casebook_tests::support::{Admin, Harness, pin};

const CASES: usize = 2_000;
const NOTES_PER_CASE: usize = 5;
const RUNS: usize = 30;

fn median(mut ms: Vec<f64>) -> f64 {
    ms.sort_by(f64::total_cmp);
    ms[ms.len() / 2]
}

fn hex_id(i: usize, salt: u8) -> String {
    format!("{:02x}{:030x}", salt, i)
}

async fn run() -> Result<()> {
    let h = Harness::start().await?;
    let (guardian_id, _guardian) = h.person("guardian", "guardian").await?;
    let (supervisor_id, supervisor) = h.person("supervisor", "supervisor").await?;
    let team = h
        .admin
        .team("team", &[&supervisor_id, &guardian_id])
        .await?;
    let org = h.admin.org.clone();
    let guardian = guardian_id.clone();
    h.server
        .state
        .db
        .write(move |tx| {
            let now = 1_800_000_000_i64;
            for c in 0..CASES {
                let case = hex_id(c, 0xca);
                tx.execute(
                    "INSERT INTO cases (id, org_id, team_id, created_at) VALUES (?1, ?2, ?3, ?4)",
                    casebook_server::params![case, org, team, now],
                )?;
                tx.execute(
                    "INSERT INTO assignments (case_id, user_id) VALUES (?1, ?2)",
                    casebook_server::params![case, guardian],
                )?;
                tx.execute(
                    "INSERT INTO case_references (case_id, reference) VALUES (?1, ?2)",
                    casebook_server::params![case, format!("HUL-2026-{c:04}")],
                )?;
                for n in 0..NOTES_PER_CASE {
                    let submitted = n == 0;
                    tx.execute(
                        "INSERT INTO review_index (case_id, note_id, author_user, visited_at,
                             status, submitted_at, reviewer, reviewed_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                        casebook_server::params![
                            case,
                            hex_id(c * NOTES_PER_CASE + n, 0x0e),
                            guardian,
                            now - 86_400,
                            if submitted { "submitted" } else { "signed_off" },
                            now - (c as i64) * 60,
                            (!submitted).then_some(&supervisor_id_placeholder()),
                            (!submitted).then_some(now),
                        ],
                    )?;
                }
            }
            Ok(())
        })
        .await?;

    let phone = Admin::connect(&h.server.base_url(), &pin(&h.server), &supervisor).await?;
    let first = phone.get("/v1/review-queue").await?;
    ensure!(
        first["notes"].as_array().map(Vec::len) == Some(50),
        "{first}"
    );
    let mut api = Vec::new();
    for _ in 0..RUNS {
        let started = Instant::now();
        phone.get("/v1/review-queue").await?;
        api.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    emit("casework.review_queue_2000_cases_ms", median(api), "ms");

    let code = h.admin.code(&supervisor_id).await?;
    let browser = Console::enrol(&h.server, &code, "bench browser").await?;
    let page = browser.get("/console/review").await?;
    ensure!(page.status().is_success(), "{}", page.status());
    ensure!(page.text().await?.contains("HUL-2026-1999"), "oldest first");
    let mut console = Vec::new();
    for _ in 0..RUNS {
        let started = Instant::now();
        let resp = browser.get("/console/review").await?;
        let _ = resp.bytes().await?;
        console.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    emit("console.review_queue_ms", median(console), "ms");
    Ok(())
}

/// The reviewer recorded on signed-off rows (any user id; the queue does not read it).
fn supervisor_id_placeholder() -> String {
    "5".repeat(32)
}

fn main() -> Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(run())
}
