//! Property test: 3 to 5 replicas of one case make random offline edits across all five
//! documents and exchange their changes in random order, with duplicates and delays. Some
//! edits are saves of a note read earlier (a screen left open while changes arrived), saved
//! again and again as more is typed, across restarts that keep only the stored bytes. When every message has been delivered, all replicas hold
//! identical documents and no edit is lost.

mod common;

use std::collections::BTreeSet;

use casebook_core::doc::{CaseDoc, DocKind, Version};
use casebook_core::ids::{CaseId, EntryId};
use casebook_core::model::*;
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[derive(Debug, Clone)]
enum Step {
    Edit {
        replica: usize,
        action: u8,
    },
    Deliver {
        replica: usize,
        pick: usize,
    },
    Duplicate {
        replica: usize,
        pick: usize,
    },
    /// The app restarts (or its documents leave memory): only the bytes survive.
    Reload {
        replica: usize,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0usize..5, 0u8..11).prop_map(|(replica, action)| Step::Edit { replica, action }),
        3 => (0usize..5, any::<usize>()).prop_map(|(replica, pick)| Step::Deliver { replica, pick }),
        1 => (0usize..5, any::<usize>()).prop_map(|(replica, pick)| Step::Duplicate { replica, pick }),
        1 => (0usize..5).prop_map(|replica| Step::Reload { replica }),
    ]
}

struct Replica {
    docs: Vec<CaseDoc>,
    inbox: Vec<(usize, Vec<u8>)>,
    /// A visit note on screen: the version it was read at, its id, and what is typed.
    screen: Option<(Version, EntryId, VisitNote)>,
}

/// Tokens every replica must hold at the end, and tokens written to last-writer fields.
#[derive(Default)]
struct Expected {
    everywhere: BTreeSet<String>,
    /// Words typed into notes: each must appear exactly once (a save applied twice repeats).
    once: BTreeSet<String>,
    addresses: BTreeSet<String>,
    nationalities: BTreeSet<String>,
}

fn kind_index(kind: DocKind) -> usize {
    DocKind::ALL
        .iter()
        .position(|k| *k == kind)
        .unwrap_or_default()
}

fn apply_edit(
    replica: &mut Replica,
    who: u8,
    action: u8,
    token: &str,
    rng: &mut StdRng,
    expected: &mut Expected,
) -> Option<(usize, Vec<u8>)> {
    let edit = common::edit(who, i64::from(who));
    let (kind, result) = match action {
        0 => {
            let note = VisitNote {
                wishes_and_feelings: token.to_owned(),
                ..VisitNote::default()
            };
            let i = kind_index(DocKind::Visits);
            (
                i,
                replica.docs[i].add_visit_note(&edit, EntryId::random(rng), &note),
            )
        }
        1 => {
            let i = kind_index(DocKind::Visits);
            let notes = replica.docs[i].visit_notes().expect("notes");
            if notes.is_empty() {
                return None;
            }
            let (id, mut note) = notes[rng.gen_range(0..notes.len())].clone();
            note.observations.push_str(&format!(" {token}"));
            (i, replica.docs[i].update_visit_note(&edit, id, &note))
        }
        2 => {
            let i = kind_index(DocKind::Location);
            let mut placement = replica.docs[i].current_placement().expect("placement");
            placement.address = token.to_owned();
            expected.addresses.insert(token.to_owned());
            (i, replica.docs[i].set_current_placement(&edit, &placement))
        }
        3 => {
            let i = kind_index(DocKind::Safety);
            let check = SafetyCheck {
                note: token.to_owned(),
                ..SafetyCheck::default()
            };
            (
                i,
                replica.docs[i].log_safety_check(&edit, EntryId::random(rng), &check),
            )
        }
        4 => {
            let i = kind_index(DocKind::Safety);
            let episode = MissingEpisode {
                missing_since: Some(common::at(1)),
                last_seen: token.to_owned(),
                ..MissingEpisode::default()
            };
            (
                i,
                replica.docs[i].start_missing_episode(&edit, EntryId::random(rng), &episode),
            )
        }
        5 => {
            let i = kind_index(DocKind::Associates);
            let person = PersonOfConcern {
                name: token.to_owned(),
                phone_numbers: vec![format!("07700 {token}")],
                ..PersonOfConcern::default()
            };
            (
                i,
                replica.docs[i].add_person(&edit, EntryId::random(rng), &person),
            )
        }
        6 => {
            let i = kind_index(DocKind::Profile);
            let mut profile = replica.docs[i].profile().expect("profile");
            profile.nationality = token.to_owned();
            expected.nationalities.insert(token.to_owned());
            (i, replica.docs[i].set_profile(&edit, &profile))
        }
        7 => {
            let i = kind_index(DocKind::Safety);
            let text = format!(
                "{} {token}",
                replica.docs[i].feel_safe().expect("feel safe")
            );
            (i, replica.docs[i].set_feel_safe(&edit, &text))
        }
        9 => {
            // Open a note on screen; nothing is written yet.
            let i = kind_index(DocKind::Visits);
            let notes = replica.docs[i].visit_notes().expect("notes");
            if !notes.is_empty() {
                let (id, note) = notes[rng.gen_range(0..notes.len())].clone();
                replica.screen = Some((replica.docs[i].version(), id, note));
            }
            return None;
        }
        10 => {
            // Type a word on the open screen and save it, whatever arrived since it opened.
            let i = kind_index(DocKind::Visits);
            let (read_at, id, note) = replica.screen.as_mut()?;
            note.observations.push_str(&format!(" {token}"));
            let doc = &mut replica.docs[i];
            (
                i,
                doc.edit_from(read_at, rng, |d| d.update_visit_note(&edit, *id, note)),
            )
        }
        _ => {
            let i = kind_index(DocKind::Safety);
            let step = PlanStep {
                description: token.to_owned(),
                ..PlanStep::default()
            };
            (
                i,
                replica.docs[i].add_plan_step(&edit, EntryId::random(rng), &step),
            )
        }
    };
    result.expect("edit succeeds");
    if !matches!(action, 2 | 6) {
        expected.everywhere.insert(token.to_owned());
    }
    if matches!(action, 0 | 1 | 10) {
        expected.once.insert(token.to_owned());
    }
    Some((kind, Vec::new()))
}

fn deliver(replica: &mut Replica, index: usize, remove: bool) {
    if replica.inbox.is_empty() {
        return;
    }
    let index = index % replica.inbox.len();
    let (kind, bytes) = if remove {
        replica.inbox.remove(index)
    } else {
        replica.inbox[index].clone()
    };
    replica.docs[kind].merge_bytes(&bytes).expect("merge");
}

fn run(replicas: usize, steps: Vec<Step>, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let case = CaseId::random(&mut rng);
    let mut origin = new_case(
        case,
        &common::edit(0, 0),
        &Profile {
            case_reference: "REF-1".into(),
            ..Profile::default()
        },
    )
    .expect("case");
    let mut nodes: Vec<Replica> = (0..replicas)
        .map(|_| Replica {
            docs: origin
                .iter_mut()
                .map(|d| CaseDoc::load(d.id(), Some(&d.save()), &[]).expect("copy"))
                .collect(),
            inbox: Vec::new(),
            screen: None,
        })
        .collect();
    let mut expected = Expected::default();

    for (n, step) in steps.into_iter().enumerate() {
        match step {
            Step::Edit { replica, action } => {
                let r = replica % replicas;
                let token = format!("tok{n}x");
                let heads: Vec<_> = nodes[r].docs.iter_mut().map(|d| d.heads()).collect();
                let Some((kind, _)) = apply_edit(
                    &mut nodes[r],
                    u8::try_from(r).unwrap_or(0) + 1,
                    action,
                    &token,
                    &mut rng,
                    &mut expected,
                ) else {
                    continue;
                };
                let bytes = nodes[r].docs[kind].save_after(&heads[kind]);
                for (other, node) in nodes.iter_mut().enumerate() {
                    if other != r {
                        node.inbox.push((kind, bytes.clone()));
                    }
                }
            }
            Step::Deliver { replica, pick } => deliver(&mut nodes[replica % replicas], pick, true),
            Step::Duplicate { replica, pick } => {
                deliver(&mut nodes[replica % replicas], pick, false)
            }
            Step::Reload { replica } => {
                for doc in &mut nodes[replica % replicas].docs {
                    *doc = CaseDoc::load(doc.id(), Some(&doc.save()), &[]).expect("reload");
                }
            }
        }
    }
    // The network eventually delivers everything, in a scrambled order.
    for node in &mut nodes {
        while !node.inbox.is_empty() {
            let pick = rng.gen_range(0..node.inbox.len());
            deliver(node, pick, true);
        }
    }

    let reference: Vec<_> = nodes[0]
        .docs
        .iter()
        .map(|d| d.to_json().expect("json"))
        .collect();
    let reference_heads: Vec<_> = nodes[0].docs.iter_mut().map(|d| d.heads()).collect();
    for node in &mut nodes[1..] {
        let json: Vec<_> = node
            .docs
            .iter()
            .map(|d| d.to_json().expect("json"))
            .collect();
        let heads: Vec<_> = node.docs.iter_mut().map(|d| d.heads()).collect();
        assert_eq!(heads, reference_heads, "replicas disagree on history");
        assert_eq!(json, reference, "replicas disagree on content");
    }
    let everything = serde_json::to_string(&reference).expect("json");
    for token in &expected.everywhere {
        assert!(everything.contains(token.as_str()), "lost edit {token}");
    }
    for token in &expected.once {
        let times = everything.matches(token.as_str()).count();
        assert_eq!(times, 1, "{token} appears {times} times");
    }
    // Last-writer fields: what is shown, and every competing value, was written by someone;
    // concurrent values are all still visible as conflicts.
    let location = &mut nodes[0].docs[kind_index(DocKind::Location)];
    let address = location.current_placement().expect("placement").address;
    assert!(
        expected.addresses.is_empty() || expected.addresses.contains(&address),
        "{address}"
    );
    for conflict in location.conflicts().expect("conflicts") {
        for value in conflict.values {
            let text = value.value.as_str().unwrap_or_default().to_owned();
            assert!(expected.addresses.contains(&text), "unknown value {text}");
            assert!(value.author.is_some());
        }
    }
    let nationality = nodes[0].docs[kind_index(DocKind::Profile)]
        .profile()
        .expect("profile")
        .nationality;
    assert!(expected.nationalities.is_empty() || expected.nationalities.contains(&nationality));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]
    #[test]
    fn replicas_converge_without_losing_edits(
        replicas in 3usize..=5,
        steps in proptest::collection::vec(step(), 10..80),
        seed in any::<u64>(),
    ) {
        run(replicas, steps, seed);
    }
}

#[test]
fn concurrent_writes_of_one_field_stay_visible_as_a_conflict() {
    // A fixed scenario the property test may not hit: three replicas set the address offline.
    let steps = vec![
        Step::Edit {
            replica: 0,
            action: 2,
        },
        Step::Edit {
            replica: 1,
            action: 2,
        },
        Step::Edit {
            replica: 2,
            action: 2,
        },
    ];
    run(3, steps, 42);
}

#[test]
fn a_screen_saved_again_and_again_across_a_restart_applies_each_word_once() {
    // Shrunk from a failure the property test found, with words from elsewhere and a
    // restart between the saves.
    let steps = vec![
        Step::Edit {
            replica: 0,
            action: 0,
        },
        Step::Deliver {
            replica: 1,
            pick: 0,
        },
        Step::Edit {
            replica: 1,
            action: 9,
        },
        Step::Edit {
            replica: 1,
            action: 10,
        },
        Step::Edit {
            replica: 0,
            action: 1,
        },
        Step::Deliver {
            replica: 1,
            pick: 0,
        },
        Step::Edit {
            replica: 1,
            action: 10,
        },
        Step::Reload { replica: 1 },
        Step::Edit {
            replica: 1,
            action: 10,
        },
    ];
    run(3, steps, 7);
}
