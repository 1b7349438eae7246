//! `cargo bench --bench field`: a phone after years of casework, one JSON object per line:
//! `{"bench": "<name>", "value": <number>, "unit": "<unit>"}`.
//!
//! The data set is 200 cases, each with 100 visit notes of 10,000 characters, written once
//! into an encrypted store under the target directory (`field/field.db`) and reused by later
//! runs. It is built directly through the core API: each case's documents are made in memory
//! and written with their view rows in one transaction, exactly what the repository writes,
//! without replaying 20,000 separate edits.

use std::path::{Path, PathBuf};
use std::time::Instant;

use casebook_core::doc::{Author, DocId, DocKind, Edit};
use casebook_core::ids::{CaseId, DeviceId, EntryId, UserId};
use casebook_core::model::{PlanStep, Profile, VisitNote, Writer, WriterRole, new_case};
use casebook_core::repo::Repo;
use casebook_core::store::{CaseSummary, SqliteStore, Store, StoreKey, WriteOp};
use casebook_core::view::{self, RowKind, VIEW_VERSION, VIEW_VERSION_KEY, ViewChange};
use chrono::{TimeZone, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Counts the heap bytes live at any moment (the `cap` crate wraps the system allocator).
#[global_allocator]
static ALLOCATOR: cap::Cap<std::alloc::System> = cap::Cap::new(std::alloc::System, usize::MAX);

const CASES: usize = 200;
const NOTES: usize = 100;
const NOTE_CHARS: usize = 10_000;
/// Marks a complete data set (a run cut short while writing it leaves no mark).
const DATASET_KEY: &str = "bench.field.dataset";
const DATASET: &str = "200 cases x 100 notes x 10000 chars, v1";

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

fn prose(rng: &mut StdRng, chars: usize) -> String {
    let mut text = String::with_capacity(chars + 16);
    while text.len() < chars {
        text.push_str(WORDS[rng.gen_range(0..WORDS.len())]);
        text.push(if rng.gen_range(0..12) == 0 { '.' } else { ' ' });
    }
    text.truncate(chars);
    text
}

fn emit(name: &str, value: f64, unit: &str) {
    println!(
        "{}",
        serde_json::json!({"bench": name, "value": value, "unit": unit})
    );
}

fn edit() -> Edit {
    Edit::new(
        Author {
            user: UserId::from_bytes([1; 16]),
            device: DeviceId::from_bytes([2; 16]),
        },
        Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0)
            .single()
            .expect("time"),
    )
}

fn key() -> StoreKey {
    StoreKey::from_bytes(&[7u8; 32]).expect("key")
}

fn long_note(rng: &mut StdRng) -> VisitNote {
    VisitNote {
        place: "Foster home".into(),
        wishes_and_feelings: prose(rng, 200),
        observations: prose(rng, NOTE_CHARS),
        ..VisitNote::default()
    }
}

/// Write one case: its five documents as compacted saves, with their view rows and summary.
fn write_case(store: &mut SqliteStore, i: usize, rng: &mut StdRng) -> CaseId {
    let case = CaseId::random(rng);
    let profile = Profile {
        case_reference: format!("HUL-2026-{i:04}"),
        given_name: format!("Child {i}"),
        ..Profile::default()
    };
    let mut docs = new_case(case, &edit(), &profile).expect("case");
    let mut ops = Vec::new();
    for doc in &mut docs {
        match doc.kind() {
            DocKind::Visits => {
                for _ in 0..NOTES {
                    let note = long_note(rng);
                    doc.add_visit_note(&edit(), EntryId::random(rng), &note)
                        .expect("note");
                }
            }
            DocKind::Safety => {
                for s in 0..5 {
                    let step = PlanStep {
                        description: format!("step {s}: {}", prose(rng, 120)),
                        ..PlanStep::default()
                    };
                    doc.add_plan_step(&edit(), EntryId::random(rng), &step)
                        .expect("step");
                }
            }
            _ => {}
        }
        ops.push(WriteOp::Compact {
            doc: doc.id(),
            snapshot: doc.save(),
            upto: 0,
        });
        let rows = view::rows(doc).expect("rows");
        ops.push(WriteOp::PutView(ViewChange {
            doc: doc.id(),
            version: doc.version().to_string(),
            rows,
            removed: Vec::new(),
            whole: true,
        }));
    }
    ops.push(WriteOp::PutSummary(CaseSummary {
        case,
        reference: profile.case_reference.clone(),
        display_name: profile.display_name(),
        updated_at: edit().at,
    }));
    store.apply(ops).expect("write case");
    case
}

/// The data set's store, written on the first run and reused after.
fn dataset() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("field");
    let path = dir.join("field.db");
    if path.exists() {
        let store = SqliteStore::open(&path, key()).expect("open data set");
        if store.meta(DATASET_KEY).expect("meta").as_deref() == Some(DATASET.as_bytes()) {
            return path;
        }
        drop(store);
        std::fs::remove_dir_all(&dir).expect("remove an unfinished data set");
    }
    std::fs::create_dir_all(&dir).expect("data set dir");
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(9);
    let mut store = SqliteStore::open(&path, key()).expect("create data set");
    for i in 0..CASES {
        write_case(&mut store, i, &mut rng);
    }
    store
        .apply(vec![
            WriteOp::PutMeta {
                key: VIEW_VERSION_KEY.into(),
                value: VIEW_VERSION.to_be_bytes().to_vec(),
            },
            WriteOp::PutMeta {
                key: DATASET_KEY.into(),
                value: DATASET.as_bytes().to_vec(),
            },
        ])
        .expect("mark complete");
    eprintln!(
        "wrote the field data set in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    path
}

/// This process's resident memory, from `/proc/self/statm` (0 where there is none).
fn resident_bytes() -> usize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<usize>().ok())
        .map_or(0, |pages| pages * 4096)
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

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

    // Memory taken by loaded documents of long notes, per byte stored: what the document
    // cache's byte budget assumes (`repo::MEMORY_PER_STORED_BYTE`). Counted as live heap
    // bytes (the allocator's own count), which is what the loaded documents keep; the
    // process's resident size is reported beside it: it also holds what the allocator kept
    // back after automerge's transient of a load (about 90 MB for one of these documents),
    // which is why it swings from run to run and is not the cache's figure.
    {
        let mut repo = Repo::open(SqliteStore::open(&path, key()).expect("open")).expect("repo");
        repo.set_cache_budget(usize::MAX);
        let cases = repo.cases().expect("cases");
        let (heap_before, resident_before) = (ALLOCATOR.allocated(), resident_bytes());
        let mut stored = 0usize;
        for summary in cases.iter().take(20) {
            let doc = DocId::new(summary.case, DocKind::Visits);
            let on_disk = repo.store().load(&doc).expect("load").expect("stored");
            stored += on_disk.snapshot.as_ref().map_or(0, Vec::len)
                + on_disk.chunks.iter().map(Vec::len).sum::<usize>();
            drop(on_disk);
            repo.read(doc, |d| Ok(d.heads().len())).expect("load");
        }
        let heap = ALLOCATOR.allocated().saturating_sub(heap_before);
        let resident = resident_bytes().saturating_sub(resident_before);
        emit(
            "field.loaded_memory_per_stored_byte",
            heap as f64 / stored as f64,
            "ratio",
        );
        emit(
            "field.loaded_resident_per_stored_byte",
            resident as f64 / stored as f64,
            "ratio",
        );
        emit(
            "field.loaded_stored_bytes_per_doc",
            stored as f64 / 20.0,
            "bytes",
        );
    }

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
