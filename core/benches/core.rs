//! `cargo bench` figures for the core, one JSON object per line:
//! `{"bench": "<name>", "value": <number>, "unit": "<unit>"}`.

use std::time::Instant;

use casebook_core::doc::{Author, CaseDoc, DocId, DocKind, Edit};
use casebook_core::ids::{CaseId, DeviceId, EntryId, UserId};
use casebook_core::model::{Profile, VisitNote, new_case};
use casebook_core::repo::Repo;
use casebook_core::store::{SqliteStore, Store, StoreKey, WriteOp};
use chrono::{TimeZone, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

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
    "review",
    "next",
    "week",
    "visit",
    "happy",
    "quiet",
];

fn prose(rng: &mut StdRng, bytes: usize) -> String {
    let mut text = String::with_capacity(bytes + 16);
    while text.len() < bytes {
        text.push_str(WORDS[rng.gen_range(0..WORDS.len())]);
        text.push(if rng.gen_range(0..12) == 0 { '.' } else { ' ' });
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

fn edit(n: u8) -> Edit {
    Edit::new(
        Author {
            user: UserId::from_bytes([n; 16]),
            device: DeviceId::from_bytes([n + 1; 16]),
        },
        Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0)
            .single()
            .expect("time"),
    )
}

fn note(rng: &mut StdRng) -> VisitNote {
    VisitNote {
        place: "Foster home".into(),
        wishes_and_feelings: prose(rng, 512),
        observations: prose(rng, 512),
        ..VisitNote::default()
    }
}

fn key() -> StoreKey {
    StoreKey::from_bytes(&[7u8; 32]).expect("key")
}

/// A store holding `cases` cases of 20 notes each, written as compacted documents.
fn populate(path: &std::path::Path, cases: usize, rng: &mut StdRng) -> usize {
    let mut store = SqliteStore::open(path, key()).expect("open");
    let mut text_bytes = 0;
    for i in 0..cases {
        let case = CaseId::random(rng);
        let profile = Profile {
            case_reference: format!("HUL-2026-{i:04}"),
            given_name: format!("Child {i}"),
            ..Profile::default()
        };
        let mut docs = new_case(case, &edit(1), &profile).expect("case");
        let visits = docs
            .iter_mut()
            .find(|d| d.kind() == DocKind::Visits)
            .expect("visits");
        for _ in 0..20 {
            let n = note(rng);
            text_bytes += n.wishes_and_feelings.len() + n.observations.len();
            visits
                .add_visit_note(&edit(1), EntryId::random(rng), &n)
                .expect("note");
        }
        let mut ops: Vec<WriteOp> = docs
            .iter_mut()
            .map(|d| WriteOp::AppendChunk {
                doc: d.id(),
                bytes: d.save(),
                local: false,
            })
            .collect();
        ops.push(WriteOp::PutSummary(casebook_core::store::CaseSummary {
            case,
            reference: profile.case_reference.clone(),
            display_name: profile.display_name(),
            updated_at: edit(1).at,
        }));
        store.apply(ops).expect("write case");
    }
    text_bytes
}

fn db_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .expect("dir")
        .filter_map(|e| e.ok())
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum()
}

fn main() {
    let mut rng = StdRng::seed_from_u64(2026);
    let dir = tempfile::tempdir().expect("tempdir");

    // Open an encrypted store holding 500 cases (20 notes of ~1 KB each) and list them.
    let path = dir.path().join("500.db");
    populate(&path, 500, &mut rng);
    let mut samples = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let repo = Repo::new(SqliteStore::open(&path, key()).expect("open"));
        let cases = repo.cases().expect("list");
        assert_eq!(cases.len(), 500);
        samples.push(started.elapsed().as_secs_f64() * 1e3);
    }
    samples.sort_by(f64::total_cmp);
    emit(
        "core.open_and_list_500_cases_ms",
        samples[samples.len() / 2],
        "ms",
    );

    // Record one 1 KB visit note durably, through the repository, as an app would.
    let small = tempfile::tempdir().expect("tempdir");
    let mut repo =
        Repo::new(SqliteStore::open(&small.path().join("notes.db"), key()).expect("open"));
    let case = repo
        .create_case(
            &edit(1),
            &mut rng,
            &Profile {
                case_reference: "HUL-1".into(),
                ..Profile::default()
            },
        )
        .expect("case");
    let visits = DocId::new(case, DocKind::Visits);
    let mut written = 0usize;
    let runs = 200;
    let started = Instant::now();
    for _ in 0..runs {
        let n = note(&mut rng);
        written += n.wishes_and_feelings.len() + n.observations.len();
        let id = EntryId::random(&mut rng);
        repo.edit(visits, edit(1).at, |d| d.add_visit_note(&edit(1), id, &n))
            .expect("append");
    }
    emit(
        "core.append_visit_note_ms",
        started.elapsed().as_secs_f64() * 1e3 / f64::from(runs),
        "ms",
    );

    // Database size over note text, for notes recorded one by one (with compaction).
    drop(repo);
    let reopened = SqliteStore::open(&small.path().join("notes.db"), key()).expect("reopen");
    drop(reopened);
    emit(
        "core.store_bytes_per_note_byte",
        db_bytes(small.path()) as f64 / written as f64,
        "ratio",
    );

    // Merge 1,000 concurrent changes from another replica into a case.
    let mut base = new_case(
        CaseId::random(&mut rng),
        &edit(1),
        &Profile {
            case_reference: "HUL-2".into(),
            ..Profile::default()
        },
    )
    .expect("case");
    let visits = base
        .iter_mut()
        .find(|d| d.kind() == DocKind::Visits)
        .expect("visits");
    let id = visits.id();
    let snapshot = visits.save();
    let mut ours = CaseDoc::load(id, Some(&snapshot), &[]).expect("ours");
    let mut theirs = CaseDoc::load(id, Some(&snapshot), &[]).expect("theirs");
    let base_heads = theirs.heads();
    for _ in 0..1000 {
        let n = VisitNote {
            observations: prose(&mut rng, 64),
            ..VisitNote::default()
        };
        theirs
            .add_visit_note(&edit(2), EntryId::random(&mut rng), &n)
            .expect("theirs");
    }
    for _ in 0..50 {
        let n = note(&mut rng);
        ours.add_visit_note(&edit(1), EntryId::random(&mut rng), &n)
            .expect("ours");
    }
    let changes = theirs.save_after(&base_heads);
    let started = Instant::now();
    ours.merge_bytes(&changes).expect("merge");
    emit(
        "core.merge_1000_concurrent_changes_ms",
        started.elapsed().as_secs_f64() * 1e3,
        "ms",
    );
    assert_eq!(ours.visit_notes().expect("notes").len(), 1050);
}
