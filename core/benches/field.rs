//! `cargo bench --bench field`: a phone after years of casework, one JSON object per line:
//! `{"bench": "<name>", "value": <number>, "unit": "<unit>"}`.
//!
//! The data set is 200 cases, each with 100 visit notes of 10,000 characters, written once
//! into an encrypted store under the target directory (`field/field.db`) and reused by later
//! runs. It is built directly through the core API: each case's documents are made in memory
//! and written with their view rows in one transaction, exactly what the repository writes,
//! without replaying 20,000 separate edits.

mod field_data;

use std::time::Instant;

use casebook_core::doc::{DocId, DocKind};
use casebook_core::ids::EntryId;
use casebook_core::model::{PlanStep, Profile, VisitNote, Writer, WriterRole};
use casebook_core::repo::Repo;
use casebook_core::store::SqliteStore;
use casebook_core::view::{self, RowKind};
use rand::SeedableRng;
use rand::rngs::StdRng;

use field_data::*;

fn main() {
    let path = dataset();

    // Open a case cold: the store just opened, nothing loaded; read what the case screen
    // shows (the profile card, the notes list, the plan).
    let mut samples = Vec::new();
    for round in 0..9 {
        let started = Instant::now();
        let mut repo = Repo::open(SqliteStore::open(&path, key()).expect("open")).expect("repo");
        let cases = repo.cases().expect("cases");
        let case = cases[(round * 37) % cases.len()].case;
        let profile = repo
            .view(DocId::new(case, DocKind::Profile), RowKind::Profile, None)
            .expect("profile");
        let profile: Profile = profile.single("profile").expect("profile row");
        let notes = repo
            .view(
                DocId::new(case, DocKind::Visits),
                RowKind::VisitSummary,
                None,
            )
            .expect("notes");
        let notes = notes.records::<view::VisitSummary>().expect("summaries");
        let plan = repo
            .view(DocId::new(case, DocKind::Safety), RowKind::PlanStep, None)
            .expect("plan");
        let plan = plan.records::<PlanStep>().expect("steps");
        samples.push(started.elapsed().as_secs_f64() * 1e3);
        assert!(profile.case_reference.starts_with("HUL-"));
        assert_eq!((notes.len(), plan.len()), (NOTES, 5));
        assert_eq!(repo.cache_usage().0, 0, "no document was loaded");
    }
    emit("field.open_case_100_long_notes_ms", median(samples), "ms");

    // The notes lists of 100 cases (a supervisor's caseload).
    let mut samples = Vec::new();
    for _ in 0..5 {
        let mut repo = Repo::open(SqliteStore::open(&path, key()).expect("open")).expect("repo");
        let cases = repo.cases().expect("cases");
        let started = Instant::now();
        let mut listed = 0;
        for summary in cases.iter().take(100) {
            let notes = repo
                .view(
                    DocId::new(summary.case, DocKind::Visits),
                    RowKind::VisitSummary,
                    None,
                )
                .expect("notes");
            listed += notes
                .records::<view::VisitSummary>()
                .expect("summaries")
                .len();
        }
        samples.push(started.elapsed().as_secs_f64() * 1e3);
        assert_eq!(listed, 100 * NOTES);
    }
    emit("field.list_notes_100_cases_ms", median(samples), "ms");

    // Append a 10,000-character note to a visits document of 100 such notes, durably,
    // through the repository (as an app records a visit).
    let scratch = tempfile::tempdir().expect("tempdir");
    let mut rng = StdRng::seed_from_u64(11);
    let mut repo =
        Repo::open(SqliteStore::open(&scratch.path().join("append.db"), key()).expect("open"))
            .expect("repo");
    let case = repo
        .create_case(
            &edit(),
            &mut rng,
            &Profile {
                case_reference: "HUL-APPEND".into(),
                ..Profile::default()
            },
        )
        .expect("case");
    let visits = DocId::new(case, DocKind::Visits);
    let notes: Vec<VisitNote> = (0..NOTES).map(|_| long_note(&mut rng)).collect();
    repo.edit(visits, edit().at, |d| {
        for note in &notes {
            d.add_visit_note(&edit(), EntryId::random(&mut rng), note)?;
        }
        Ok(())
    })
    .expect("100 notes");
    // As the app saves it: checked against the guardian's write rules on the way (what
    // `mobile-bindings` does for every edit), then written with its view rows.
    let writer = Writer {
        user: edit().author.user,
        role: WriterRole::Guardian,
        device: edit().author.device,
    };
    let mut samples = Vec::new();
    for _ in 0..60 {
        let note = long_note(&mut rng);
        let id = EntryId::random(&mut rng);
        let started = Instant::now();
        repo.edit(visits, edit().at, |d| {
            d.edit_checked(&writer, |d| d.add_visit_note(&edit(), id, &note))
        })
        .expect("append");
        samples.push(started.elapsed().as_secs_f64() * 1e3);
    }
    let mean = samples.iter().sum::<f64>() / samples.len() as f64;
    emit("field.append_long_note_ms", median(samples), "ms");
    emit("field.append_long_note_mean_ms", mean, "ms");
    // The repository's part alone (no write rules): what automerge and the store cost.
    let mut samples = Vec::new();
    for _ in 0..30 {
        let note = long_note(&mut rng);
        let id = EntryId::random(&mut rng);
        let started = Instant::now();
        repo.edit(visits, edit().at, |d| d.add_visit_note(&edit(), id, &note))
            .expect("append");
        samples.push(started.elapsed().as_secs_f64() * 1e3);
    }
    emit("field.append_long_note_unchecked_ms", median(samples), "ms");
}
