//! What the cross-crate benches (`tests/benches/`) share: the JSON line each figure is printed
//! as, and the sync bench's data (a guardian's 200 cases of notes made of words from a small
//! vocabulary), which the operations bench measures a backup of.

use anyhow::Result;
use casebook_core::doc::{DocKind, Edit};
use casebook_core::ids::{CaseId, EntryId};
use casebook_core::model::{Profile, VisitNote, new_case};
use casebook_core::store::{CaseSummary, WriteOp};
use chrono::Utc;
use rand::Rng;
use rand::rngs::StdRng;

use crate::support::Device;

/// Print one figure as `{"bench": name, "value": value, "unit": unit}`.
pub fn emit(name: &str, value: f64, unit: &str) {
    println!(
        "{}",
        serde_json::json!({"bench": name, "value": value, "unit": unit})
    );
}

/// The median of `samples` (the upper one of an even count).
pub fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// The sync bench's vocabulary (issue 13's byte figures compare with automerge-repo given
/// notes made of these words).
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
    "brother",
    "worried",
    "money",
    "owed",
    "football",
    "college",
    "english",
    "lessons",
    "sleep",
];

/// `bytes` bytes of words from [`WORDS`].
pub fn prose(rng: &mut StdRng, bytes: usize) -> String {
    let mut text = String::with_capacity(bytes + 16);
    while text.len() < bytes {
        text.push_str(WORDS[rng.gen_range(0..WORDS.len())]);
        text.push(' ');
    }
    text.truncate(bytes);
    text
}

/// Fill `device`'s store with `cases` cases of `notes` visit notes each (two fields of 512
/// bytes of [`prose`]), written as the device's own unsynced edits. Returns the cases.
pub fn populate(
    device: &Device,
    rng: &mut StdRng,
    cases: usize,
    notes: usize,
) -> Result<Vec<CaseId>> {
    let edit = Edit::new(device.identity.author(), Utc::now());
    let mut made = Vec::with_capacity(cases);
    for i in 0..cases {
        let case = CaseId::random(rng);
        let profile = Profile {
            case_reference: format!("BEN-{i:04}"),
            given_name: format!("Child {i}"),
            ..Profile::default()
        };
        let mut docs = new_case(case, &edit, &profile)?;
        let visits = docs
            .iter_mut()
            .find(|d| d.kind() == DocKind::Visits)
            .ok_or_else(|| anyhow::anyhow!("a new case without a visits document"))?;
        for _ in 0..notes {
            let note = VisitNote {
                wishes_and_feelings: prose(rng, 512),
                observations: prose(rng, 512),
                ..VisitNote::default()
            };
            visits.add_visit_note(&edit, EntryId::random(rng), &note)?;
        }
        let mut ops: Vec<WriteOp> = docs
            .iter_mut()
            .map(|d| WriteOp::AppendChunk {
                doc: d.id(),
                bytes: d.save(),
                local: true,
            })
            .collect();
        ops.push(WriteOp::PutSummary(CaseSummary {
            case,
            reference: profile.case_reference.clone(),
            display_name: profile.display_name(),
            updated_at: edit.at,
        }));
        device.lock().apply(ops)?;
        made.push(case);
    }
    Ok(made)
}
