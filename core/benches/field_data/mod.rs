//! The field benches' data set, shared by `field.rs` (timings) and `field_memory.rs` (memory
//! with a counting allocator, kept apart so the timings run on the system allocator): 200
//! cases, each with 100 visit notes of 10,000 characters, written once into an encrypted store
//! under the target directory (`field/field.db`) and reused by later runs. It is built directly
//! through the core API: each case's documents are made in memory and written with their view
//! rows in one transaction, exactly what the repository writes, without replaying 20,000
//! separate edits.
// Each bench binary uses part of this module.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Instant;

use casebook_core::doc::{Author, DocKind, Edit};
use casebook_core::ids::{CaseId, DeviceId, EntryId, UserId};
use casebook_core::model::{PlanStep, Profile, VisitNote, new_case};
use casebook_core::store::{CaseSummary, SqliteStore, Store, StoreKey, WriteOp};
use casebook_core::view::{self, VIEW_VERSION, VIEW_VERSION_KEY, ViewChange};
use chrono::{TimeZone, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub const CASES: usize = 200;
pub const NOTES: usize = 100;
pub const NOTE_CHARS: usize = 10_000;
/// Marks a complete data set (a run cut short while writing it leaves no mark).
pub const DATASET_KEY: &str = "bench.field.dataset";
pub const DATASET: &str = "200 cases x 100 notes x 10000 chars, v1";

pub const WORDS: &[&str] = &[
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

pub fn prose(rng: &mut StdRng, chars: usize) -> String {
    let mut text = String::with_capacity(chars + 16);
    while text.len() < chars {
        text.push_str(WORDS[rng.gen_range(0..WORDS.len())]);
        text.push(if rng.gen_range(0..12) == 0 { '.' } else { ' ' });
    }
    text.truncate(chars);
    text
}

pub fn emit(name: &str, value: f64, unit: &str) {
    println!(
        "{}",
        serde_json::json!({"bench": name, "value": value, "unit": unit})
    );
}

pub fn edit() -> Edit {
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

pub fn key() -> StoreKey {
    StoreKey::from_bytes(&[7u8; 32]).expect("key")
}

pub fn long_note(rng: &mut StdRng) -> VisitNote {
    VisitNote {
        place: "Foster home".into(),
        wishes_and_feelings: prose(rng, 200),
        observations: prose(rng, NOTE_CHARS),
        ..VisitNote::default()
    }
}

/// Write one case: its five documents as compacted saves, with their view rows and summary.
pub fn write_case(store: &mut SqliteStore, i: usize, rng: &mut StdRng) -> CaseId {
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
pub fn dataset() -> PathBuf {
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
pub fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}
