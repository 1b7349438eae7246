//! The repository over both stores: cases persist across reopening, every edit is durable
//! before the call returns, documents compact as chunks pile up, and note text never reaches
//! the disk in the clear.

mod common;

use casebook_core::Error;
use casebook_core::doc::{DocId, DocKind};
use casebook_core::ids::EntryId;
use casebook_core::model::{Placement, Profile, VisitNote};
use casebook_core::repo::{COMPACT_AFTER_CHUNKS, Repo};
use casebook_core::store::{MemoryStore, SqliteStore, StoreKey};
use common::{edit, rng};

fn profile(reference: &str) -> Profile {
    Profile {
        case_reference: reference.into(),
        given_name: "Amira".into(),
        family_name: "Haddad".into(),
        ..Profile::default()
    }
}

fn exercise(mut repo: Repo) -> Repo {
    let mut r = rng(11);
    let b = repo
        .create_case(&edit(1, 0), &mut r, &profile("B-2"))
        .expect("case b");
    let a = repo
        .create_case(&edit(1, 1), &mut r, &profile("A-1"))
        .expect("case a");
    let refs: Vec<_> = repo
        .cases()
        .expect("cases")
        .into_iter()
        .map(|c| c.reference)
        .collect();
    assert_eq!(refs, vec!["A-1", "B-2"]);
    assert_eq!(repo.held_kinds(a).expect("kinds"), DocKind::ALL.to_vec());

    let visits = DocId::new(a, DocKind::Visits);
    for i in 0..(COMPACT_AFTER_CHUNKS + 10) {
        let note = VisitNote {
            observations: format!("visit {i}"),
            ..VisitNote::default()
        };
        let id = EntryId::random(&mut r);
        repo.edit(visits, common::at(10), |d| {
            d.add_visit_note(&edit(1, 2), id, &note)
        })
        .expect("note");
    }
    let stored = repo.store().load(&visits).expect("load").expect("stored");
    assert!(
        stored.snapshot.is_some(),
        "compacted after {COMPACT_AFTER_CHUNKS} chunks"
    );
    assert!(
        stored.chunks.len() < COMPACT_AFTER_CHUNKS,
        "{} chunks",
        stored.chunks.len()
    );

    let mut renamed = repo
        .read(DocId::new(b, DocKind::Profile), |d| d.profile())
        .expect("read");
    renamed.given_name = "Sara".into();
    repo.edit(DocId::new(b, DocKind::Profile), common::at(20), |d| {
        d.set_profile(&edit(1, 20), &renamed)
    })
    .expect("rename");
    let line = repo
        .cases()
        .expect("cases")
        .into_iter()
        .find(|c| c.case == b)
        .expect("b");
    assert_eq!(line.display_name, "Sara Haddad");
    assert_eq!(line.updated_at, common::at(20));

    // A failed edit leaves nothing behind.
    let err = repo
        .edit(DocId::new(a, DocKind::Location), common::at(30), |d| {
            d.set_current_placement(&edit(1, 30), &Placement::default())?;
            Err::<(), _>(Error::Cancelled)
        })
        .expect_err("closure failed");
    assert!(matches!(err, Error::Cancelled));
    repo
}

fn check_reopened(mut repo: Repo, extra_notes: usize) {
    let cases = repo.cases().expect("cases");
    assert_eq!(cases.len(), 2);
    let a = cases[0].case;
    let notes = repo
        .read(DocId::new(a, DocKind::Visits), |d| d.visit_notes())
        .expect("notes");
    assert_eq!(notes.len(), COMPACT_AFTER_CHUNKS + 10 + extra_notes);
    assert_eq!(
        repo.store().dirty().expect("dirty").len(),
        10,
        "5 docs of 2 new cases, never synced"
    );
    let err = repo
        .read(
            DocId::new(
                casebook_core::ids::CaseId::random(&mut rng(99)),
                DocKind::Profile,
            ),
            |d| d.profile(),
        )
        .expect_err("unknown");
    assert!(matches!(err, Error::NotHeld(_)));
}

#[test]
fn memory_repository_keeps_cases() {
    let repo = exercise(Repo::new(MemoryStore::new()));
    check_reopened(repo, 0);
}

#[test]
fn sqlite_repository_keeps_cases_across_reopening_and_never_writes_plaintext() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("device.db");
    let key = || StoreKey::from_bytes(&[42u8; 32]).expect("key");
    let repo = exercise(Repo::new(SqliteStore::open(&path, key()).expect("open")));
    let canary = "CANARY-visit-Amira-Haddad-9f2c";
    let mut repo = repo;
    let a = repo.cases().expect("cases")[0].case;
    let note = VisitNote {
        wishes_and_feelings: canary.into(),
        ..VisitNote::default()
    };
    let id = EntryId::random(&mut rng(5));
    repo.edit(DocId::new(a, DocKind::Visits), common::at(40), |d| {
        d.add_visit_note(&edit(1, 40), id, &note)
    })
    .expect("note");
    let scan = |label: &str| {
        for entry in std::fs::read_dir(dir.path()).expect("dir") {
            let bytes = std::fs::read(entry.expect("entry").path()).expect("read");
            for needle in [canary.as_bytes(), b"Haddad".as_slice()] {
                assert!(
                    !bytes.windows(needle.len()).any(|w| w == needle),
                    "{label}: plaintext found on disk"
                );
            }
        }
    };
    scan("while open");
    drop(repo);
    scan("after close");
    let mut reopened = Repo::new(SqliteStore::open(&path, key()).expect("reopen"));
    let text = reopened
        .read(DocId::new(a, DocKind::Visits), |d| d.visit_note(id))
        .expect("note")
        .wishes_and_feelings;
    assert_eq!(text, canary);
    check_reopened(reopened, 1);
}

#[test]
fn local_data_locks_after_72_hours_without_a_check_in() {
    let mut repo = Repo::new(MemoryStore::new());
    let limit = std::time::Duration::from_secs(72 * 60 * 60);
    assert!(
        !repo.locked(common::at(0), limit).expect("locked"),
        "never enrolled"
    );
    let op = repo.checkin_op(common::at(0));
    repo.apply(vec![op]).expect("check in");
    assert_eq!(repo.last_checkin().expect("checkin"), Some(common::at(0)));
    assert!(!repo.locked(common::at(71 * 60), limit).expect("locked"));
    assert!(repo.locked(common::at(73 * 60), limit).expect("locked"));
}
