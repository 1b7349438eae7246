//! On PostgreSQL, what the server keeps beside the documents holds no case content either
//! (issue 14): a case's reference, the persons of concern's folded names and numbers (the
//! interpreter check's keys), the child's photo and an interpreter alert's linked reference are
//! written through the real product (phones, sync, the interpreter check), read back through
//! the server, and then looked for in `pg_dump` output and the database's files. The document
//! bodies themselves are the server suite's `a_pg_dump_and_the_clusters_files_hold_no_case_content`.
//! Runs on the cluster `scripts/test-all.sh` starts; without one it says so and passes unless
//! `CASEBOOK_REQUIRE_POSTGRES=1`.

use anyhow::{Context, Result, ensure};
use casebook_core::alert::AlertKind;
use casebook_core::doc::{DocId, DocKind};
use casebook_core::ids::EntryId;
use casebook_core::model::{Interpreter, InterpreterMode, PersonOfConcern, Profile, VisitNote};
use casebook_tests::support::Harness;

const REFERENCE_A: &str = "CANARYREFA-Qz7Linh";
const REFERENCE_B: &str = "CANARYREFB-Qz7Hung";
/// A person of concern's name: the server keeps it folded (lower case, by token).
const ASSOCIATE: &str = "Qzcanaryhung Vexillotran";
const ASSOCIATE_TOKENS: [&str; 2] = ["qzcanaryhung", "vexillotran"];
/// Their number, and its national digits as any normalised form holds them.
const PHONE: &str = "+44 7700 900987";
const PHONE_DIGITS: &str = "7700900987";

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(haystack, needle).is_some()
}

/// The child's photo: a PNG header and 64 KB of random bytes, so any copy holds its pieces.
fn photo() -> Vec<u8> {
    super::photo::canary_png(64 * 1024)
}

/// Every needle and where it must not be found, as bytes and as the hex of a `bytea`.
fn needles(photo: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = vec![
        ("reference A".into(), REFERENCE_A.into()),
        ("reference B".into(), REFERENCE_B.into()),
        ("phone digits".into(), PHONE_DIGITS.into()),
    ];
    // As typed and as folded (lower case).
    for token in ASSOCIATE_TOKENS {
        out.push((format!("associate token {token}"), token.into()));
        let typed: String = token[..1].to_uppercase() + &token[1..];
        out.push((format!("associate token {typed}"), typed.into()));
    }
    for at in [100, photo.len() / 2, photo.len() - 60] {
        out.push((format!("photo bytes at {at}"), photo[at..at + 48].to_vec()));
    }
    let hex: Vec<_> = out
        .iter()
        .map(|(what, bytes)| (format!("{what} (hex)"), hex::encode(bytes).into_bytes()))
        .collect();
    out.extend(hex);
    out
}

fn found_in(haystack: &[u8], needles: &[(String, Vec<u8>)]) -> Vec<String> {
    needles
        .iter()
        .filter(|(_, n)| memchr::memmem::find(haystack, n).is_some())
        .map(|(what, _)| what.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn references_associate_keys_photos_and_alert_links_are_sealed_on_postgres() -> Result<()> {
    let Some(cluster) = casebook_tests::pg::from_env() else {
        return Ok(());
    };
    let name_dir = tempfile::tempdir()?;
    let url = casebook_server::create_test_database(&cluster, name_dir.path()).await?;
    let h = Harness::start_with(casebook_server::Settings {
        database: Some(url.clone()),
        ..casebook_server::Settings::default()
    })
    .await?;

    // Case A: a guardian's case with a person of concern and the child's photo.
    let (guardian_id, guardian) = h.person("guardian", "guardian").await?;
    let (supervisor_id, supervisor) = h.person("supervisor", "supervisor").await?;
    let team = h
        .admin
        .team("Hull team", &[&supervisor_id, &guardian_id])
        .await?;
    let case_a = guardian.lock().create_case(
        &guardian.edit(),
        &mut rand::rngs::OsRng,
        &Profile {
            case_reference: REFERENCE_A.into(),
            ..Profile::default()
        },
    )?;
    guardian.change(DocId::new(case_a, DocKind::Associates), |d, e| {
        d.add_person(
            e,
            EntryId::random(&mut rand::rngs::OsRng),
            &PersonOfConcern {
                name: ASSOCIATE.into(),
                phone_numbers: vec![PHONE.into()],
                ..PersonOfConcern::default()
            },
        )
    })?;
    let image = photo();
    guardian
        .lock()
        .set_profile_photo(&guardian.edit(), case_a, &image)?;
    guardian.sync().await?;
    h.admin.set_team(&case_a.to_string(), &team).await?;
    supervisor.sync().await?;

    // Case B, another team's: a visit with an interpreter who is case A's person of concern.
    let (guardian_b_id, guardian_b) = h.person("guardian b", "guardian").await?;
    let (supervisor_b_id, _) = h.person("supervisor b", "supervisor").await?;
    let team_b = h
        .admin
        .team("Leeds team", &[&supervisor_b_id, &guardian_b_id])
        .await?;
    let case_b = guardian_b.lock().create_case(
        &guardian_b.edit(),
        &mut rand::rngs::OsRng,
        &Profile {
            case_reference: REFERENCE_B.into(),
            ..Profile::default()
        },
    )?;
    guardian_b.sync().await?;
    h.admin.set_team(&case_b.to_string(), &team_b).await?;
    let note = VisitNote {
        place: "Supported lodgings".into(),
        interpreter: Interpreter {
            mode: InterpreterMode::InPerson,
            name: ASSOCIATE.into(),
            phone: PHONE.into(),
            language: "Vietnamese".into(),
            ..Interpreter::default()
        },
        ..VisitNote::default()
    };
    guardian_b.change(DocId::new(case_b, DocKind::Visits), |d, e| {
        d.add_visit_note(e, EntryId::random(&mut rand::rngs::OsRng), &note)
    })?;
    guardian_b.sync().await?;

    // The server reads all of it back: the interpreter check matched the sealed keys, the
    // alert carries case B's reference, the reference index opens, the photo comes down.
    let heard = supervisor.sync().await?;
    let link = heard
        .report
        .alerts
        .iter()
        .find(|a| a.kind == AlertKind::InterpreterLink)
        .context("case A's supervisor hears of the interpreter link")?;
    ensure!(link.linked_case_reference.as_deref() == Some(REFERENCE_B));
    let case = case_a.to_string();
    let reference = h
        .server
        .state
        .db
        .read(move |c| casebook_server::review::case_reference(c, &case))
        .await?;
    ensure!(
        reference == REFERENCE_A,
        "the reference index opens: {reference:?}"
    );
    ensure!(
        supervisor.lock().profile_photo(case_a)? == Some(image.clone()),
        "the photo reaches the supervisor"
    );

    // None of it is in a dump ...
    let needles = needles(&image);
    let dump = std::process::Command::new(casebook_tests::pg::bin("pg_dump")?)
        .arg("--dbname")
        .arg(&url)
        .output()?;
    ensure!(
        dump.status.success(),
        "{}",
        String::from_utf8_lossy(&dump.stderr)
    );
    ensure!(
        contains(&dump.stdout, case_a.to_string().as_bytes()),
        "the dump holds the case's rows (ids are readable)"
    );
    let in_dump = found_in(&dump.stdout, &needles);
    ensure!(in_dump.is_empty(), "in pg_dump: {in_dump:?}");

    // ... nor in the database's files or the WAL after a checkpoint.
    let socket_dir = url
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("host="))
        .context("the cluster's socket directory")?;
    let data = std::path::Path::new(socket_dir).join("data");
    if data.is_dir() {
        let psql = |sql: &str| -> Result<String> {
            let out = std::process::Command::new(casebook_tests::pg::bin("psql")?)
                .args(["--no-psqlrc", "--tuples-only", "--no-align", "--dbname"])
                .arg(&url)
                .args(["--command", sql])
                .output()?;
            ensure!(
                out.status.success(),
                "psql: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            Ok(String::from_utf8(out.stdout)?.trim().to_owned())
        };
        psql("SELECT pg_switch_wal()")?;
        psql("CHECKPOINT")?;
        let oid = psql("SELECT oid::text FROM pg_database WHERE datname = current_database()")?;
        let base = data.join("base").join(&oid);
        ensure!(
            base.is_dir(),
            "the database's directory is where the test looks"
        );
        let mut found = Vec::new();
        for dir in [base, data.join("pg_wal")] {
            let mut stack = vec![dir];
            while let Some(d) = stack.pop() {
                for entry in std::fs::read_dir(&d)?.flatten() {
                    let path = entry.path();
                    if path.is_dir() {
                        stack.push(path);
                    } else if let Ok(bytes) = std::fs::read(&path) {
                        for what in found_in(&bytes, &needles) {
                            found.push(format!("{what} in {}", path.display()));
                        }
                    }
                }
            }
        }
        ensure!(found.is_empty(), "in the cluster's files: {found:?}");
    }
    Ok(())
}
