//! The materialized view over real repositories: every change writes the rows it affects in
//! the same transaction, a view of an old version is rebuilt from the documents when the
//! store is opened (one test per kind of row), and, whatever edits and merges of concurrent
//! forks happen, the stored rows equal the rows computed from the documents.

mod common;

use casebook_core::doc::{CaseDoc, DocId, DocKind, Version};
use casebook_core::ids::{CaseId, EntryId};
use casebook_core::model::*;
use casebook_core::repo::Repo;
use casebook_core::store::{MemoryStore, SqliteStore, Store, StoreKey, WriteOp};
use casebook_core::view::{self, RowKind, VIEW_VERSION_KEY, ViewRow, VisitSummary};
use chrono::NaiveDate;
use common::{at, edit, rng};
use proptest::prelude::*;
use rand::Rng;

fn key() -> StoreKey {
    StoreKey::from_bytes(&[9u8; 32]).expect("key")
}

fn profile(reference: &str) -> Profile {
    Profile {
        case_reference: reference.into(),
        given_name: "Amira".into(),
        family_name: "Haddad".into(),
        ..Profile::default()
    }
}

/// A case with at least one record of every kind of row.
fn full_case(repo: &mut Repo) -> CaseId {
    let mut r = rng(3);
    let case = repo
        .create_case(&edit(1, 0), &mut r, &profile("HUL-1"))
        .expect("case");
    let doc = |kind| DocId::new(case, kind);
    let mut id = || EntryId::random(&mut r);
    let (n1, n2, s1, c1, m1, p1, h1) = (id(), id(), id(), id(), id(), id(), id());
    repo.edit(doc(DocKind::Visits), at(1), |d| {
        d.add_visit_note(
            &edit(1, 1),
            n1,
            &VisitNote {
                observations: "Settled, talked about school.".into(),
                interpreter: Interpreter {
                    mode: InterpreterMode::Telephone,
                    ..Interpreter::default()
                },
                ..VisitNote::default()
            },
        )?;
        d.add_visit_note(
            &edit(2, 2),
            n2,
            &VisitNote {
                wishes_and_feelings: "I want to stay.".into(),
                ..VisitNote::default()
            },
        )
    })
    .expect("notes");
    repo.edit(doc(DocKind::Safety), at(2), |d| {
        d.add_plan_step(
            &edit(1, 2),
            s1,
            &PlanStep {
                description: "No phone at night".into(),
                ..PlanStep::default()
            },
        )?;
        d.log_safety_check(
            &edit(1, 2),
            c1,
            &SafetyCheck {
                step: Some(s1),
                note: "Phone handed in".into(),
                ..SafetyCheck::default()
            },
        )?;
        d.start_missing_episode(
            &edit(1, 2),
            m1,
            &MissingEpisode {
                missing_since: Some(at(2)),
                ..MissingEpisode::default()
            },
        )?;
        d.set_placement_started_at(&edit(1, 2), Some(at(-60 * 24)))?;
        d.set_feel_safe(&edit(1, 2), "Her key worker")
    })
    .expect("safety");
    repo.edit(doc(DocKind::Associates), at(3), |d| {
        d.add_person(
            &edit(1, 3),
            p1,
            &PersonOfConcern {
                name: "Uncle".into(),
                ..PersonOfConcern::default()
            },
        )
    })
    .expect("person");
    repo.edit(doc(DocKind::Location), at(4), |d| {
        d.set_current_placement(
            &edit(1, 4),
            &Placement {
                address: "1 Elm Road".into(),
                ..Placement::default()
            },
        )?;
        let ended = NaiveDate::from_ymd_opt(2026, 11, 1).expect("date");
        d.move_placement(
            &edit(1, 4),
            h1,
            ended,
            &Placement {
                address: "2 Oak Road".into(),
                ..Placement::default()
            },
        )
    })
    .expect("placement");
    case
}

fn doc_of(kind: RowKind) -> DocKind {
    match kind {
        RowKind::Profile => DocKind::Profile,
        RowKind::Placement | RowKind::PlacementHistory => DocKind::Location,
        RowKind::VisitNote | RowKind::VisitSummary => DocKind::Visits,
        RowKind::Person => DocKind::Associates,
        _ => DocKind::Safety,
    }
}

/// The rows the store holds for `doc`, with the version they show.
fn stored_rows(repo: &Repo, doc: DocId) -> (String, Vec<ViewRow>) {
    let mut version = None;
    let mut rows = Vec::new();
    for kind in RowKind::ALL {
        if let Some(view) = repo.store().view(&doc, kind, None).expect("view") {
            version = Some(view.version);
            rows.extend(view.rows);
        }
    }
    rows.sort();
    (version.expect("rows are kept for the document"), rows)
}

/// The rows computed from the document itself, with its version.
fn computed_rows(repo: &mut Repo, doc: DocId) -> (String, Vec<ViewRow>) {
    repo.read(doc, |d| {
        let version = Version::new(d.heads()).to_string();
        Ok((version, view::rows(d)?))
    })
    .expect("document")
}

fn assert_view_matches(repo: &mut Repo, case: CaseId, context: &str) {
    for kind in DocKind::ALL {
        let doc = DocId::new(case, kind);
        if !repo.holds(doc).expect("holds") {
            continue;
        }
        let stored = stored_rows(repo, doc);
        assert!(!stored.0.is_empty(), "{context}: {kind} rows were computed");
        assert_eq!(stored, computed_rows(repo, doc), "{context}: {kind}");
    }
}

#[test]
fn every_change_writes_its_rows_and_a_note_summary_names_its_author() {
    let mut repo = Repo::open(MemoryStore::new()).expect("open");
    let case = full_case(&mut repo);
    assert_view_matches(&mut repo, case, "after the edits");

    let visits = DocId::new(case, DocKind::Visits);
    let summaries = repo
        .view(visits, RowKind::VisitSummary, None)
        .expect("summaries");
    let summaries = summaries.records::<VisitSummary>().expect("decode");
    assert_eq!(summaries.len(), 2);
    let by_author: Vec<_> = summaries.iter().map(|(_, s)| s.author).collect();
    assert!(by_author.contains(&Some(common::author(1).user)));
    assert!(by_author.contains(&Some(common::author(2).user)));
    let telephoned = summaries
        .iter()
        .find(|(_, s)| s.interpreter)
        .expect("one note had an interpreter");
    assert_eq!(telephoned.1.excerpt, "Settled, talked about school.");

    // Another user's edit of a note keeps its author, and the rows follow the edit.
    let (id, _) = telephoned.clone();
    let note_id: EntryId = id.parse().expect("id");
    repo.edit(visits, at(9), |d| {
        let mut note = d.visit_note(note_id)?;
        note.observations = "x".repeat(500);
        d.update_visit_note(&edit(3, 9), note_id, &note)
    })
    .expect("edit");
    let view = repo
        .view(visits, RowKind::VisitSummary, Some(&id))
        .expect("summary");
    let summary: VisitSummary = view.first().expect("decode").expect("one row");
    assert_eq!(summary.author, Some(common::author(1).user));
    assert_eq!(summary.excerpt.chars().count(), view::EXCERPT_CHARS);
    let note: VisitNote = repo
        .view(visits, RowKind::VisitNote, Some(&id))
        .expect("note")
        .first()
        .expect("decode")
        .expect("one row");
    assert_eq!(note.observations.len(), 500);
    assert_view_matches(&mut repo, case, "after another user's edit");
}

#[test]
fn a_document_not_held_is_not_held_in_the_view_either() {
    let mut repo = Repo::open(MemoryStore::new()).expect("open");
    let other = DocId::new(CaseId::from_bytes([7; 16]), DocKind::Visits);
    let err = repo
        .view(other, RowKind::VisitNote, None)
        .expect_err("unknown");
    assert!(matches!(err, casebook_core::Error::NotHeld(_)), "{err:?}");
}

#[test]
fn a_purged_document_takes_its_rows_with_it_and_a_wipe_takes_all() {
    let mut repo = Repo::open(MemoryStore::new()).expect("open");
    let case = full_case(&mut repo);
    let visits = DocId::new(case, DocKind::Visits);
    repo.apply(vec![WriteOp::RemoveDoc(visits)]).expect("purge");
    assert_eq!(
        repo.store()
            .view(&visits, RowKind::VisitNote, None)
            .expect("view"),
        None
    );
    repo.wipe().expect("wipe");
    let profile = DocId::new(case, DocKind::Profile);
    assert_eq!(
        repo.store()
            .view(&profile, RowKind::Profile, None)
            .expect("view"),
        None
    );
}

/// Writes a case to a store file, spoils its view rows of `kind` and sets an old view
/// version, reopens, and checks the rows are rebuilt equal to what they were.
fn rebuilt_on_open(kind: RowKind) {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("device.db");
    let mut repo = Repo::open(SqliteStore::open(&path, key()).expect("open")).expect("repo");
    let case = full_case(&mut repo);
    let doc = DocId::new(case, doc_of(kind));
    let before = repo.view(doc, kind, None).expect("rows");
    assert!(!before.rows.is_empty(), "the case has {kind:?} rows");
    repo.apply(vec![
        WriteOp::PutView(view::ViewChange {
            doc,
            version: "stale".into(),
            rows: vec![],
            removed: vec![],
            whole: true,
        }),
        WriteOp::PutMeta {
            key: VIEW_VERSION_KEY.into(),
            value: 0u32.to_be_bytes().to_vec(),
        },
    ])
    .expect("spoil the view");
    drop(repo);

    let mut reopened = Repo::open(SqliteStore::open(&path, key()).expect("reopen")).expect("repo");
    assert_eq!(
        reopened.cache_usage().0,
        0,
        "rebuilding keeps nothing loaded"
    );
    let after = reopened
        .store()
        .view(&doc, kind, None)
        .expect("view")
        .expect("rows");
    assert_eq!(after, before, "{kind:?}");
    assert!(!reopened.ensure_view().expect("checked"), "checked once");
    assert_view_matches(&mut reopened, case, "after the rebuild");
}

macro_rules! rebuild_tests {
    ($($name:ident => $kind:expr),+ $(,)?) => {$(
        #[test]
        fn $name() {
            rebuilt_on_open($kind);
        }
    )+};
}

rebuild_tests!(
    an_old_view_is_rebuilt_profile => RowKind::Profile,
    an_old_view_is_rebuilt_placement => RowKind::Placement,
    an_old_view_is_rebuilt_placement_history => RowKind::PlacementHistory,
    an_old_view_is_rebuilt_visit_notes => RowKind::VisitNote,
    an_old_view_is_rebuilt_visit_summaries => RowKind::VisitSummary,
    an_old_view_is_rebuilt_plan_steps => RowKind::PlanStep,
    an_old_view_is_rebuilt_safety_checks => RowKind::SafetyCheck,
    an_old_view_is_rebuilt_missing_episodes => RowKind::MissingEpisode,
    an_old_view_is_rebuilt_feel_safe => RowKind::FeelSafe,
    an_old_view_is_rebuilt_persons => RowKind::Person,
    an_old_view_is_rebuilt_placement_start => RowKind::PlacementStart,
);

#[test]
fn an_episode_row_carries_what_the_list_shows_and_follows_the_return() {
    let mut repo = Repo::open(MemoryStore::new()).expect("repo");
    let case = full_case(&mut repo);
    let safety = DocId::new(case, DocKind::Safety);
    let rows = |repo: &mut Repo| {
        repo.view(safety, RowKind::MissingEpisode, None)
            .expect("rows")
            .records::<view::EpisodeRow>()
            .expect("episode rows")
    };
    let before = rows(&mut repo);
    let (id, row) = before.first().expect("one episode").clone();
    assert!(row.open);
    assert_eq!(row.episode.category, EpisodeCategory::Missing);
    assert_eq!(row.episode.missing_since, Some(at(2)));
    assert_eq!(row.return_interview_due, None);
    let id: EntryId = id.parse().expect("id");
    repo.edit(safety, at(9), |d| {
        d.end_missing_episode(&edit(1, 9), id, at(8))
    })
    .expect("end");
    let (_, row) = rows(&mut repo).remove(0);
    assert!(!row.open);
    assert_eq!(row.episode.returned_at, Some(at(8)));
    assert_eq!(
        row.return_interview_due,
        Some(at(8) + chrono::TimeDelta::hours(72))
    );
    let start: Option<chrono::DateTime<chrono::Utc>> = repo
        .view(safety, RowKind::PlacementStart, None)
        .expect("row")
        .single("placement start")
        .expect("placement start row");
    assert_eq!(start, Some(at(-60 * 24)));
    assert_view_matches(&mut repo, case, "after the return");
}

#[test]
fn a_store_from_before_the_view_gets_one_at_open() {
    // A store written with no view at all (as by a build before it): the version is missing.
    let mut source = Repo::new(MemoryStore::new());
    let case = full_case(&mut source);
    let mut store = MemoryStore::new();
    for kind in DocKind::ALL {
        let doc = DocId::new(case, kind);
        let bytes = source.read(doc, |d| Ok(d.save())).expect("save");
        store
            .apply(vec![WriteOp::AppendChunk {
                doc,
                bytes,
                local: false,
            }])
            .expect("store");
    }
    assert_eq!(store.meta(VIEW_VERSION_KEY).expect("meta"), None);
    let mut repo = Repo::open(store).expect("open");
    assert_view_matches(&mut repo, case, "after open");
}

#[test]
fn the_document_cache_is_bounded_by_bytes_and_keeps_the_document_in_use() {
    let mut repo = Repo::open(MemoryStore::new()).expect("open");
    let mut r = rng(8);
    let cases: Vec<CaseId> = (0..6)
        .map(|i| {
            repo.create_case(&edit(1, i), &mut r, &profile(&format!("R-{i}")))
                .expect("case")
        })
        .collect();
    assert_eq!(
        repo.cache_usage().0,
        30,
        "the default budget holds them all"
    );
    repo.set_cache_budget(1);
    assert_eq!(repo.cache_usage().0, 1, "only the most recent one stays");
    // Editing works under any budget: the document being edited is never evicted, and
    // what was written is read back from the store.
    for (i, case) in cases.iter().enumerate() {
        let doc = DocId::new(*case, DocKind::Visits);
        let id = EntryId::random(&mut r);
        repo.edit(doc, at(20), |d| {
            d.add_visit_note(
                &edit(1, 20),
                id,
                &VisitNote {
                    place: format!("visit {i}"),
                    ..VisitNote::default()
                },
            )
        })
        .expect("edit");
        let (count, _) = repo.cache_usage();
        assert_eq!(count, 1);
    }
    repo.set_cache_budget(usize::MAX);
    for case in &cases {
        let doc = DocId::new(*case, DocKind::Visits);
        let notes = repo.read(doc, |d| d.visit_notes()).expect("notes");
        assert_eq!(notes.len(), 1);
    }
    let (count, bytes) = repo.cache_usage();
    assert_eq!(count, 6, "the six visits documents");
    repo.set_cache_budget(bytes / 2);
    let (_, kept) = repo.cache_usage();
    assert!(kept <= bytes / 2, "{kept} > {}", bytes / 2);
}

#[test]
fn long_chunks_are_compacted_before_sixty_four_of_them_pile_up() {
    let mut repo = Repo::open(MemoryStore::new()).expect("open");
    let mut r = rng(4);
    let case = repo
        .create_case(&edit(1, 0), &mut r, &profile("L-1"))
        .expect("case");
    let visits = DocId::new(case, DocKind::Visits);
    let mut compacted_at = None;
    for i in 0..20 {
        let id = EntryId::random(&mut r);
        let text: String = (0..10_000)
            .map(|_| char::from(b'a' + r.gen_range(0..26u8)))
            .collect();
        repo.edit(visits, at(i), |d| {
            d.add_visit_note(
                &edit(1, i),
                id,
                &VisitNote {
                    observations: text,
                    ..VisitNote::default()
                },
            )
        })
        .expect("note");
        let stored = repo.store().load(&visits).expect("load").expect("stored");
        if stored.snapshot.is_some() {
            compacted_at = Some(i);
            break;
        }
    }
    let at_note = compacted_at.expect("compacted by size within 20 long notes");
    assert!(at_note < 20);
}

#[derive(Debug, Clone)]
enum Step {
    Edit { replica: usize, action: u8 },
    Merge { from: usize, to: usize, kind: usize },
    Evict { replica: usize },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0usize..3, 0u8..10).prop_map(|(replica, action)| Step::Edit { replica, action }),
        3 => (0usize..3, 0usize..3, 0usize..5)
            .prop_map(|(from, to, kind)| Step::Merge { from, to, kind }),
        1 => (0usize..3).prop_map(|replica| Step::Evict { replica }),
    ]
}

/// A random edit by replica `who` (notes, reviews, plan, checks, episodes, persons, the
/// profile and the placement), on records it already holds where the edit needs one.
fn random_edit(repo: &mut Repo, case: CaseId, who: u8, action: u8, seed: u64) {
    let mut r = rng(seed);
    let e = edit(who, i64::try_from(seed % 1000).unwrap_or(0));
    let token = format!("t{seed}");
    let doc = |kind| DocId::new(case, kind);
    // Every other edit is made as the app makes it: checked against the write rules (a
    // supervisor signs off, the guardian does the rest), which hands the repository the
    // changes it checked instead of their being rebuilt.
    let writer = seed.is_multiple_of(2).then_some(Writer {
        user: e.author.user,
        role: if action == 2 {
            WriterRole::Supervisor
        } else {
            WriterRole::Guardian
        },
        device: e.author.device,
    });
    let result = match action {
        0 => edit_as(repo, doc(DocKind::Visits), e.at, writer.as_ref(), |d| {
            d.add_visit_note(
                &e,
                EntryId::random(&mut r),
                &VisitNote {
                    observations: token.clone(),
                    ..VisitNote::default()
                },
            )
        }),
        1 | 2 => edit_as(repo, doc(DocKind::Visits), e.at, writer.as_ref(), |d| {
            let notes = d.visit_notes()?;
            if notes.is_empty() {
                return Ok(());
            }
            let (id, mut note) = notes[r.gen_range(0..notes.len())].clone();
            if action == 1 {
                note.observations.push_str(&token);
                note.interpreter.mode = InterpreterMode::Video;
                d.update_visit_note(&e, id, &note)
            } else {
                d.review_visit_note(&e, id, ReviewStatus::SignedOff, &token)
            }
        }),
        3 => edit_as(repo, doc(DocKind::Safety), e.at, writer.as_ref(), |d| {
            d.add_plan_step(
                &e,
                EntryId::random(&mut r),
                &PlanStep {
                    description: token.clone(),
                    ..PlanStep::default()
                },
            )
        }),
        4 => edit_as(repo, doc(DocKind::Safety), e.at, writer.as_ref(), |d| {
            d.log_safety_check(
                &e,
                EntryId::random(&mut r),
                &SafetyCheck {
                    note: token.clone(),
                    ..SafetyCheck::default()
                },
            )?;
            d.set_feel_safe(&e, &token)
        }),
        5 => edit_as(repo, doc(DocKind::Safety), e.at, writer.as_ref(), |d| {
            // End an open episode this replica holds (the row's `open` and due time
            // change), else start one; and move the placement start (its own row).
            d.set_placement_started_at(&e, Some(e.at - chrono::TimeDelta::days(1)))?;
            let open = d
                .missing_episodes()?
                .into_iter()
                .find(|(_, m)| m.is_open() && m.missing_since.is_some_and(|since| since <= e.at));
            match open {
                Some((id, _)) => d.end_missing_episode(&e, id, e.at),
                None => d.start_missing_episode(
                    &e,
                    EntryId::random(&mut r),
                    &MissingEpisode {
                        missing_since: Some(e.at),
                        circumstances: token.clone(),
                        clothing: token.clone(),
                        ..MissingEpisode::default()
                    },
                ),
            }
        }),
        6 => edit_as(repo, doc(DocKind::Associates), e.at, writer.as_ref(), |d| {
            d.add_person(
                &e,
                EntryId::random(&mut r),
                &PersonOfConcern {
                    name: token.clone(),
                    ..PersonOfConcern::default()
                },
            )
        }),
        7 => edit_as(repo, doc(DocKind::Profile), e.at, writer.as_ref(), |d| {
            let mut p = d.profile()?;
            p.nationality = token.clone();
            p.given_name = token.clone();
            d.set_profile(&e, &p)
        }),
        8 => edit_as(repo, doc(DocKind::Location), e.at, writer.as_ref(), |d| {
            let mut p = d.current_placement()?;
            p.address = token.clone();
            d.set_current_placement(&e, &p)
        }),
        _ => edit_as(repo, doc(DocKind::Location), e.at, writer.as_ref(), |d| {
            let next = Placement {
                address: token.clone(),
                ..Placement::default()
            };
            let ended = NaiveDate::from_ymd_opt(2026, 1, 1).expect("date");
            d.move_placement(&e, EntryId::random(&mut r), ended, &next)
        }),
    };
    result.expect("edit");
}

/// `f` on `doc`, checked against the write rules for `writer` when there is one.
fn edit_as(
    repo: &mut Repo,
    doc: DocId,
    at: chrono::DateTime<chrono::Utc>,
    writer: Option<&Writer>,
    f: impl FnOnce(&mut CaseDoc) -> casebook_core::Result<()>,
) -> casebook_core::Result<()> {
    repo.edit(doc, at, |d| match writer {
        Some(writer) => d.edit_checked(writer, f),
        None => f(d),
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// After random edits on three forks of one case and merges between them in any order,
    /// every replica's stored rows equal the rows computed from its documents.
    #[test]
    fn the_view_never_disagrees_with_the_documents(steps in prop::collection::vec(step(), 1..40)) {
        let mut origin = Repo::open(MemoryStore::new()).expect("open");
        let case = origin
            .create_case(&edit(1, 0), &mut rng(1), &profile("P-1"))
            .expect("case");
        let mut replicas = vec![origin];
        for _ in 1..3 {
            let mut store = MemoryStore::new();
            for kind in DocKind::ALL {
                let doc = DocId::new(case, kind);
                let bytes = replicas[0].read(doc, |d| Ok(d.save())).expect("save");
                store
                    .apply(vec![WriteOp::AppendChunk { doc, bytes, local: false }])
                    .expect("copy");
            }
            replicas.push(Repo::open(store).expect("fork"));
        }
        for (n, step) in steps.into_iter().enumerate() {
            let seed = u64::try_from(n).unwrap_or(0) + 1;
            match step {
                Step::Edit { replica, action } => {
                    let who = u8::try_from(replica + 1).unwrap_or(1);
                    random_edit(&mut replicas[replica], case, who, action, seed);
                }
                Step::Merge { from, to, kind } => {
                    let doc = DocId::new(case, DocKind::ALL[kind]);
                    let bytes = replicas[from].read(doc, |d| Ok(d.save())).expect("save");
                    replicas[to]
                        .edit(doc, at(0), |d| d.merge_bytes(&bytes))
                        .expect("merge");
                }
                Step::Evict { replica } => {
                    replicas[replica].set_cache_budget(0);
                    replicas[replica].set_cache_budget(usize::MAX);
                }
            }
            for (i, replica) in replicas.iter_mut().enumerate() {
                assert_view_matches(replica, case, &format!("replica {i} after step {n}"));
            }
        }
    }
}
