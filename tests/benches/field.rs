//! `cargo bench` figures for field scale (issue 9), one JSON object per line:
//! `{"bench": "<name>", "value": <number>, "unit": "<unit>"}`.
//!
//! A guardian's phone, offline for days, holds 900 visit notes of 10,000 characters across
//! 100 cases it created: the backlog is more than one 16 MiB request may carry, and the real
//! sync driver pushes it in steps to the real server over TLS on this machine.
//!
//! A new phone for a guardian with 200 cases of 100 visit notes of 10,000 characters each:
//! the server's data set is written once straight into a server data directory (cached under
//! the target directory and copied for each run), and the phone enrols and syncs it all in a
//! child process of its own, whose peak resident memory (`VmHWM`) is the phone's alone.
//!
//! Arguments that do not start with `--` select the benches whose names contain them.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Result;
use casebook_core::doc::{DocId, DocKind};
use casebook_core::ids::EntryId;
use casebook_core::model::{Profile, VisitNote};
use casebook_tests::support::{Device, Harness};
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
    if std::env::var_os(fresh::CHILD).is_some() {
        return fresh::device_child();
    }
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let wanted = |name: &str| filters.is_empty() || filters.iter().any(|f| name.contains(f));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    if wanted("field.push_900_long_notes") {
        runtime.block_on(push_900_long_notes())?;
    }
    if wanted("field.fresh_device") {
        runtime.block_on(fresh::fresh_device())?;
    }
    Ok(())
}

/// A fresh phone syncing 200 cases of 100 long notes.
mod fresh {
    use super::{Device, DocId, DocKind, EntryId, Instant, Path, PathBuf, Profile, Result, print};
    use anyhow::Context;
    use casebook_core::client::ServerTrust;
    use casebook_core::doc::{Author, Edit};
    use casebook_core::ids::{CaseId, DeviceId, UserId};
    use casebook_core::model::{VisitNote, new_case};
    use casebook_core::view::{RowKind, VisitSummary};
    use casebook_tests::support::{Admin, pin};
    use chrono::Utc;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// Set in the child process that plays the phone.
    pub const CHILD: &str = "CASEBOOK_FIELD_FRESH_DEVICE";
    const CASES: usize = 200;
    const NOTES: usize = 100;
    const NOTE_CHARS: usize = 10_000;
    /// Bump when the data set changes.
    const DATASET: &str = "v1";
    /// Cases in a smaller data set, for quicker runs (`FIELD_FRESH_CASES=20`; the figures'
    /// names stay the same, so say so when quoting them).
    const CASES_VAR: &str = "FIELD_FRESH_CASES";

    /// How many cases the data set holds: [`CASES`] unless [`CASES_VAR`] says fewer.
    fn case_count() -> usize {
        std::env::var(CASES_VAR)
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|n| (1..=CASES).contains(n))
            .unwrap_or(CASES)
    }

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
        "contact",
        "brother",
        "worried",
        "money",
        "owed",
        "football",
        "college",
        "english",
        "lessons",
        "sleep",
        "nightmares",
        "doctor",
        "appointment",
        "solicitor",
        "asylum",
        "interview",
        "friends",
        "park",
        "evening",
        "curfew",
        "agreed",
        "plan",
    ];

    /// English prose (as `core/benches/field.rs` writes on the device side).
    fn prose(rng: &mut StdRng, chars: usize) -> String {
        let mut text = String::with_capacity(chars + 16);
        while text.len() < chars {
            text.push_str(WORDS[rng.gen_range(0..WORDS.len())]);
            text.push(if rng.gen_range(0..12) == 0 { '.' } else { ' ' });
        }
        text.truncate(chars);
        text
    }

    /// The cached server data directory and the guardian's user id.
    fn data_root() -> PathBuf {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("field-data");
        match case_count() {
            CASES => dir.join(DATASET),
            n => dir.join(format!("{DATASET}-{n}-cases")),
        }
    }

    fn guardian_file(dir: &Path) -> PathBuf {
        dir.join("bench-guardian.txt")
    }

    /// Build the server data set once: an organisation, a guardian, and 200 cases assigned to
    /// them whose documents are written straight into the server's `docs` table (as a sync
    /// commit stores them: the document's save under the next global sequence).
    async fn dataset() -> Result<PathBuf> {
        let root = data_root();
        if guardian_file(&root).exists() {
            return Ok(root);
        }
        let building = root.with_extension("partial");
        if building.exists() {
            std::fs::remove_dir_all(&building)?;
        }
        let started = Instant::now();
        let server = casebook_server::start_for_tests(&building).await?;
        let scratch = tempfile::tempdir()?;
        let admin_device = Device::enrol_at(
            &server,
            scratch.path().join("admin.db"),
            &server.admin_code.clone(),
            "admin laptop",
        )
        .await?;
        let mut admin = Admin::connect(&server.base_url(), &pin(&server), &admin_device).await?;
        admin.create_org("Hull City Council").await?;
        let guardian = admin.user("guardian", "guardian").await?;
        let org = admin.org.clone();
        let edit = Edit::new(
            Author {
                user: guardian
                    .parse::<UserId>()
                    .unwrap_or(UserId::from_bytes([1; 16])),
                device: DeviceId::from_bytes([2; 16]),
            },
            Utc::now(),
        );
        let mut rng = StdRng::seed_from_u64(9);
        for c in 0..case_count() {
            let case = CaseId::random(&mut rng);
            let profile = Profile {
                case_reference: format!("HUL-2026-{c:04}"),
                given_name: format!("Child {c}"),
                ..Profile::default()
            };
            let mut docs = new_case(case, &edit, &profile)?;
            let mut saved = Vec::new();
            for doc in &mut docs {
                if doc.kind() == DocKind::Visits {
                    for _ in 0..NOTES {
                        let note = VisitNote {
                            place: "Foster home".into(),
                            wishes_and_feelings: prose(&mut rng, 200),
                            observations: prose(&mut rng, NOTE_CHARS),
                            ..VisitNote::default()
                        };
                        doc.add_visit_note(&edit, EntryId::random(&mut rng), &note)?;
                    }
                }
                saved.push((doc.id(), doc.save()));
            }
            let (org, guardian) = (org.clone(), guardian.clone());
            let now = Utc::now().timestamp();
            server
                .state
                .db
                .write(move |tx| {
                    tx.execute(
                        "INSERT INTO cases (id, org_id, team_id, created_at) VALUES (?1, ?2, NULL, ?3)",
                        casebook_server::params![case.to_string(), org, now],
                    )?;
                    tx.execute(
                        "INSERT INTO assignments (case_id, user_id) VALUES (?1, ?2)",
                        casebook_server::params![case.to_string(), guardian],
                    )?;
                    for (doc, bytes) in &saved {
                        let seq = casebook_server::db::next_seq(tx)?;
                        tx.execute(
                            "INSERT INTO docs (doc_id, case_id, kind, seq, bytes) VALUES (?1, ?2, ?3, ?4, ?5)",
                            casebook_server::params![
                                doc.to_string(),
                                doc.case.to_string(),
                                doc.kind.as_str(),
                                i64::try_from(seq).unwrap_or(i64::MAX),
                                bytes
                            ],
                        )?;
                    }
                    Ok(())
                })
                .await?;
        }
        server.shutdown().await?;
        std::fs::write(guardian_file(&building), &guardian)?;
        std::fs::rename(&building, &root)?;
        eprintln!(
            "wrote the server field data set in {:.0} s",
            started.elapsed().as_secs_f64()
        );
        Ok(root)
    }

    fn copy_dir(from: &Path, to: &Path) -> Result<()> {
        std::fs::create_dir_all(to)?;
        for entry in std::fs::read_dir(from)? {
            let entry = entry?;
            let target = to.join(entry.file_name());
            if entry.file_type()?.is_dir() {
                copy_dir(&entry.path(), &target)?;
            } else {
                std::fs::copy(entry.path(), &target)?;
            }
        }
        Ok(())
    }

    /// What the child reports: one line `elapsed_s vmhwm_kb`.
    const REPORT: &str = "fresh-device:";

    pub async fn fresh_device() -> Result<()> {
        let root = dataset().await?;
        let guardian = std::fs::read_to_string(guardian_file(&root))?;
        let run = tempfile::tempdir()?;
        let data = run.path().join("server");
        copy_dir(&root, &data)?;
        let server = casebook_server::start_for_tests(&data).await?;
        let now = Utc::now().timestamp();
        let code = server
            .state
            .db
            .write(move |tx| {
                casebook_server::auth::issue_enrolment_code(tx, &guardian, None, now, 3600)
            })
            .await?;
        let exe = std::env::current_exe()?;
        let base = server.base_url();
        let fingerprint = server.cert_fingerprint.clone();
        let store = run.path().join("phone.db");
        let output = tokio::task::spawn_blocking(move || {
            std::process::Command::new(exe)
                .env(CHILD, "1")
                .env("FIELD_URL", base)
                .env("FIELD_PIN", fingerprint)
                .env("FIELD_CODE", code)
                .env("FIELD_STORE", store)
                .stderr(std::process::Stdio::inherit())
                .output()
        })
        .await??;
        server.shutdown().await?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        anyhow::ensure!(output.status.success(), "phone failed: {stdout}");
        let line = stdout
            .lines()
            .find_map(|l| l.strip_prefix(REPORT))
            .context("the phone reported nothing")?;
        let mut fields = line.split_whitespace();
        let elapsed: f64 = fields.next().context("elapsed")?.parse()?;
        let vmhwm_kb: f64 = fields.next().context("VmHWM")?.parse()?;
        print("field.fresh_device_200_cases_long_notes_s", elapsed, "s");
        print("field.fresh_device_peak_rss_mb", vmhwm_kb / 1024.0, "MB");
        Ok(())
    }

    /// The peak resident memory of this process (`VmHWM`), in kB.
    fn vmhwm_kb() -> Result<u64> {
        let status = std::fs::read_to_string("/proc/self/status")?;
        let line = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .context("no VmHWM")?;
        Ok(line.trim().trim_end_matches("kB").trim().parse()?)
    }

    /// The phone: enrol, sync everything, report the time taken and the peak memory.
    pub fn device_child() -> Result<()> {
        let var = |name: &str| std::env::var(name).with_context(|| name.to_owned());
        let (url, fingerprint, code, store) = (
            var("FIELD_URL")?,
            var("FIELD_PIN")?,
            var("FIELD_CODE")?,
            var("FIELD_STORE")?,
        );
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        runtime.block_on(async {
            let device = Device::enrol(
                &url,
                ServerTrust::Pin(fingerprint),
                PathBuf::from(store),
                &code,
                "new phone",
            )
            .await?;
            // As the app opens its store (`Repo::open`): the empty store's view is current.
            device.lock().ensure_view()?;
            let started = Instant::now();
            let outcome = device.sync().await?;
            let elapsed = started.elapsed().as_secs_f64();
            let peak = vmhwm_kb()?;
            anyhow::ensure!(
                outcome.report.rejected.is_empty(),
                "{:?}",
                outcome.report.rejected
            );
            let mut repo = device.lock();
            let cases = repo.cases()?;
            anyhow::ensure!(cases.len() == case_count(), "{} cases synced", cases.len());
            for summary in cases.iter().step_by(50) {
                let notes = repo
                    .view(
                        DocId::new(summary.case, DocKind::Visits),
                        RowKind::VisitSummary,
                        None,
                    )?
                    .records::<VisitSummary>()?;
                anyhow::ensure!(notes.len() == NOTES, "{} notes synced", notes.len());
            }
            eprintln!(
                "fresh phone: {} requests, {:.0} MiB received, {elapsed:.0} s, VmHWM {peak} kB",
                outcome.requests,
                outcome.traffic.received as f64 / (1024.0 * 1024.0)
            );
            println!("{REPORT}{elapsed} {peak}");
            Ok(())
        })
    }
}
