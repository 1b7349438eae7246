//! The case model through its public API: records, concurrent text edits, conflicts with
//! authors and recorded resolutions, history, and bad bytes giving errors rather than panics.

mod common;

use casebook_core::Error;
use casebook_core::doc::{CaseDoc, DocId, DocKind};
use casebook_core::ids::{CaseId, EntryId};
use casebook_core::model::*;
use common::{author, edit, rng};
use serde_json::json;

fn sample_profile() -> Profile {
    Profile {
        case_reference: "HUL-2026-0142".into(),
        given_name: "Minh".into(),
        family_name: "Tran".into(),
        claimed_age: Some(15),
        age_status: AgeStatus::DisputedTreatAsChild,
        nationality: "Vietnamese".into(),
        languages: vec!["Vietnamese (northern)".into()],
        unaccompanied: true,
        trafficked: true,
        legal_basis: LegalBasis::Section20,
        ..Profile::default()
    }
}

/// All five documents of a new case, and a copy of them on a second device.
fn case_on_two_devices() -> (Vec<CaseDoc>, Vec<CaseDoc>) {
    let case = CaseId::random(&mut rng(1));
    let mut docs = new_case(case, &edit(1, 0), &sample_profile()).expect("new case");
    let copies = docs
        .iter_mut()
        .map(|d| CaseDoc::load(d.id(), Some(&d.save()), &[]).expect("load copy"))
        .collect();
    (docs, copies)
}

fn exchange(a: &mut CaseDoc, b: &mut CaseDoc) {
    let a_bytes = a.save();
    let b_bytes = b.save();
    a.merge_bytes(&b_bytes).expect("merge into a");
    b.merge_bytes(&a_bytes).expect("merge into b");
}

#[test]
fn profile_round_trips_and_age_dispute_means_child() {
    let (docs, _) = case_on_two_devices();
    let profile = docs[0].profile().expect("profile");
    assert_eq!(profile, sample_profile());
    assert!(profile.age_status.treat_as_child());
    assert!(!AgeStatus::AssessedAdult.treat_as_child());
}

#[test]
fn operations_on_the_wrong_document_kind_are_refused() {
    let (mut docs, _) = case_on_two_devices();
    let err = docs[0]
        .add_visit_note(
            &edit(1, 1),
            EntryId::random(&mut rng(2)),
            &VisitNote::default(),
        )
        .expect_err("profile doc has no notes");
    assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
}

#[test]
fn concurrent_text_edits_to_one_note_both_survive() {
    let (mut mine, mut theirs) = case_on_two_devices();
    let visits = DocKind::ALL
        .iter()
        .position(|k| *k == DocKind::Visits)
        .expect("visits");
    let note_id = EntryId::random(&mut rng(3));
    let note = VisitNote {
        place: "Foster home".into(),
        wishes_and_feelings: "I want to stay at school.".into(),
        interpreter: Interpreter {
            mode: InterpreterMode::InPerson,
            name: "T. Nguyen".into(),
            agency: "Language Line".into(),
            language: "Vietnamese (northern)".into(),
            vetting: VettingStatus::Vetted,
            child_consented: Some(true),
            ..Interpreter::default()
        },
        ..VisitNote::default()
    };
    mine[visits]
        .add_visit_note(&edit(1, 1), note_id, &note)
        .expect("add");
    exchange(&mut mine[visits], &mut theirs[visits]);

    let mut guardian = theirs[visits].visit_note(note_id).expect("read");
    guardian.wishes_and_feelings.push_str(" I miss my brother.");
    theirs[visits]
        .update_visit_note(&edit(2, 5), note_id, &guardian)
        .expect("guardian edit");

    let mut social_worker = mine[visits].visit_note(note_id).expect("read");
    social_worker.wishes_and_feelings =
        format!("(via interpreter) {}", social_worker.wishes_and_feelings);
    mine[visits]
        .update_visit_note(&edit(1, 6), note_id, &social_worker)
        .expect("sw edit");

    exchange(&mut mine[visits], &mut theirs[visits]);
    let merged = mine[visits].visit_note(note_id).expect("read merged");
    assert_eq!(
        merged.wishes_and_feelings,
        "(via interpreter) I want to stay at school. I miss my brother."
    );
    assert_eq!(theirs[visits].visit_note(note_id).expect("read"), merged);
    assert!(mine[visits].conflicts().expect("conflicts").is_empty());
}

#[test]
fn conflicting_addresses_are_reported_with_authors_until_resolved() {
    let (mut mine, mut theirs) = case_on_two_devices();
    let loc = DocKind::ALL
        .iter()
        .position(|k| *k == DocKind::Location)
        .expect("location");
    let mut a = mine[loc].current_placement().expect("read");
    a.address = "12 Elm Road".into();
    a.placement_type = PlacementType::FosterCare;
    mine[loc]
        .set_current_placement(&edit(1, 10), &a)
        .expect("a");
    let mut b = theirs[loc].current_placement().expect("read");
    b.address = "7 Station Street".into();
    b.placement_type = PlacementType::FosterCare;
    theirs[loc]
        .set_current_placement(&edit(2, 11), &b)
        .expect("b");
    exchange(&mut mine[loc], &mut theirs[loc]);

    let conflicts = mine[loc].conflicts().expect("conflicts");
    assert_eq!(
        conflicts.len(),
        1,
        "only the address differs: {conflicts:?}"
    );
    let conflict = &conflicts[0];
    assert_eq!(conflict.doc.kind, DocKind::Location);
    assert_eq!(
        conflict.path,
        vec!["current".to_string(), "address".to_string()]
    );
    let mut seen: Vec<_> = conflict
        .values
        .iter()
        .map(|v| (v.value.clone(), v.author, v.at))
        .collect();
    seen.sort_by_key(|(v, _, _)| v.to_string());
    assert_eq!(
        seen,
        vec![
            (json!("12 Elm Road"), Some(author(1)), Some(common::at(10))),
            (
                json!("7 Station Street"),
                Some(author(2)),
                Some(common::at(11))
            ),
        ]
    );
    // Both devices see the same conflict.
    assert_eq!(theirs[loc].conflicts().expect("conflicts").len(), 1);

    // An unrelated edit does not close it.
    let mut unrelated = mine[loc].current_placement().expect("read");
    unrelated.carer_name = "Mrs Okafor".into();
    mine[loc]
        .set_current_placement(&edit(1, 12), &unrelated)
        .expect("edit");
    assert_eq!(mine[loc].conflicts().expect("conflicts").len(), 1);

    // A supervisor resolves it; the resolution records who, when and what it replaced.
    let path = conflict.path.clone();
    mine[loc]
        .resolve_conflict(
            &edit(3, 20),
            &path,
            json!("7 Station Street"),
            EntryId::random(&mut rng(9)),
        )
        .expect("resolve");
    assert!(mine[loc].conflicts().expect("conflicts").is_empty());
    assert_eq!(
        mine[loc].current_placement().expect("read").address,
        "7 Station Street"
    );
    let resolutions = mine[loc].resolutions().expect("resolutions");
    assert_eq!(resolutions.len(), 1);
    let (_, resolution) = &resolutions[0];
    assert_eq!(resolution.by, author(3));
    assert_eq!(resolution.at, common::at(20));
    assert_eq!(resolution.path, "current/address");
    assert_eq!(resolution.replaced.len(), 2);

    exchange(&mut mine[loc], &mut theirs[loc]);
    assert!(theirs[loc].conflicts().expect("conflicts").is_empty());
    assert_eq!(
        theirs[loc].current_placement().expect("read").address,
        "7 Station Street"
    );

    let err = mine[loc]
        .resolve_conflict(
            &edit(3, 21),
            &path,
            json!("x"),
            EntryId::random(&mut rng(10)),
        )
        .expect_err("nothing to resolve");
    assert!(matches!(err, Error::NoSuchConflict(_)));
}

#[test]
fn conflicting_nrm_decision_dates_are_surfaced_and_resolved_only_with_a_date() {
    let (mut mine, mut theirs) = case_on_two_devices();
    let mut a = mine[0].profile().expect("read");
    a.nrm.reasonable_grounds = NrmDecision::Positive;
    a.nrm.reasonable_grounds_on = chrono::NaiveDate::from_ymd_opt(2026, 10, 1);
    mine[0].set_profile(&edit(1, 1), &a).expect("a");
    let mut b = theirs[0].profile().expect("read");
    b.nrm.reasonable_grounds = NrmDecision::Positive;
    b.nrm.reasonable_grounds_on = chrono::NaiveDate::from_ymd_opt(2026, 10, 3);
    theirs[0].set_profile(&edit(2, 2), &b).expect("b");
    exchange(&mut mine[0], &mut theirs[0]);
    let paths: Vec<_> = mine[0]
        .conflicts()
        .expect("conflicts")
        .into_iter()
        .map(|c| c.path.join("/"))
        .collect();
    assert_eq!(paths, vec!["nrm/reasonable_grounds_on".to_string()]);

    // A choice that is not a date is refused and changes nothing; the conflict stays open.
    let path: Vec<String> = vec!["nrm".into(), "reasonable_grounds_on".into()];
    let before = mine[0].to_json().expect("json");
    for bad in [json!("last Tuesday"), json!(12), json!(true)] {
        let err = mine[0]
            .resolve_conflict(
                &edit(3, 3),
                &path,
                bad.clone(),
                EntryId::random(&mut rng(11)),
            )
            .expect_err("not a date");
        assert!(
            matches!(&err, Error::InvalidInput { field, .. } if field == "chosen"),
            "{bad}: {err:?}"
        );
    }
    assert_eq!(mine[0].to_json().expect("json"), before);
    assert_eq!(mine[0].conflicts().expect("conflicts").len(), 1);
    mine[0]
        .resolve_conflict(
            &edit(3, 4),
            &path,
            json!("2026-10-03"),
            EntryId::random(&mut rng(12)),
        )
        .expect("a date fits");
    assert!(mine[0].conflicts().expect("conflicts").is_empty());
    assert_eq!(
        mine[0]
            .profile()
            .expect("readable")
            .nrm
            .reasonable_grounds_on,
        chrono::NaiveDate::from_ymd_opt(2026, 10, 3)
    );
}

#[test]
fn safety_missing_episode_lifecycle_and_history() {
    let (mut docs, _) = case_on_two_devices();
    let safety = DocKind::ALL
        .iter()
        .position(|k| *k == DocKind::Safety)
        .expect("safety");
    let step = EntryId::random(&mut rng(4));
    docs[safety]
        .add_plan_step(
            &edit(1, 1),
            step,
            &PlanStep {
                description: "Phone the police and the duty social worker at once".into(),
                responsible: Responsible::Carers,
                if_missing: true,
                status: StepStatus::Active,
                supervision_until: None,
                ..PlanStep::default()
            },
        )
        .expect("step");
    let check = EntryId::random(&mut rng(5));
    docs[safety]
        .log_safety_check(
            &edit(2, 2),
            check,
            &SafetyCheck {
                checked_at: Some(common::at(2)),
                step: Some(step),
                outcome: CheckOutcome::Ok,
                note: "Window locks checked".into(),
                ..SafetyCheck::default()
            },
        )
        .expect("check");
    let bad_check = SafetyCheck {
        step: Some(EntryId::random(&mut rng(77))),
        ..SafetyCheck::default()
    };
    assert!(
        docs[safety]
            .log_safety_check(&edit(2, 3), EntryId::random(&mut rng(6)), &bad_check)
            .is_err()
    );

    let episode = EntryId::random(&mut rng(7));
    let missing = MissingEpisode {
        missing_since: Some(common::at(30)),
        last_seen: "Leaving school gate with an older man".into(),
        ..MissingEpisode::default()
    };
    assert!(
        docs[safety]
            .start_missing_episode(&edit(2, 31), episode, &MissingEpisode::default())
            .is_err(),
        "an episode needs its start time"
    );
    docs[safety]
        .start_missing_episode(&edit(2, 31), episode, &missing)
        .expect("start");
    assert!(
        docs[safety]
            .end_missing_episode(&edit(2, 32), episode, common::at(10))
            .is_err()
    );
    docs[safety]
        .end_missing_episode(&edit(2, 90), episode, common::at(89))
        .expect("end");
    let episodes = docs[safety].missing_episodes().expect("episodes");
    assert_eq!(episodes.len(), 1);
    assert!(!episodes[0].1.is_open());

    let history = docs[safety].history();
    let whats: Vec<_> = history.iter().map(|c| c.what.as_str()).collect();
    assert_eq!(
        whats,
        vec![
            "create",
            "add plan step",
            "add safety check",
            "add missing episode",
            "update missing episode"
        ]
    );
    assert_eq!(history[2].author, Some(author(2)));
    assert_eq!(history[2].at, Some(common::at(2)));
}

#[test]
fn corrupt_or_truncated_bytes_are_errors_not_panics() {
    let (mut docs, _) = case_on_two_devices();
    let id = docs[0].id();
    let bytes = docs[0].save();
    for cut in [0, 1, 5, bytes.len() / 2, bytes.len() - 1] {
        let _ = CaseDoc::load(id, Some(&bytes[..cut]), &[]);
    }
    assert!(CaseDoc::load(id, Some(&bytes[..bytes.len() / 2]), &[]).is_err());
    assert!(CaseDoc::load(id, Some(b"not automerge at all"), &[]).is_err());
    let mut flipped = bytes.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0xff;
    let _ = CaseDoc::load(id, Some(&flipped), &[]);
    assert!(docs[0].merge_bytes(b"\x85\x6f\x4a\x83garbage").is_err());
    assert_eq!(docs[0].profile().expect("still readable"), sample_profile());

    // A valid document of another kind or case is refused, not mixed in.
    let other = DocId::new(id.case, DocKind::Visits);
    assert!(matches!(
        CaseDoc::load(other, Some(&bytes), &[]),
        Err(Error::Malformed { .. })
    ));
}

proptest::proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
        let id = DocId::new(CaseId::from_bytes([3; 16]), DocKind::Profile);
        let _ = CaseDoc::load(id, Some(&bytes), &[]);
        let _ = CaseDoc::load(id, None, std::slice::from_ref(&bytes));
        let _ = automerge::sync::Message::decode(&bytes);
    }
}

/// A document stored as chunks without a snapshot (a whole document as a peer sent it, then
/// later changes) loads the same as its save, whichever order its chunks come in; a corrupt
/// first chunk is refused rather than skipped.
#[test]
fn a_document_stored_as_chunks_alone_loads_whole() {
    let (mut docs, _) = case_on_two_devices();
    let safety = docs
        .iter_mut()
        .find(|d| d.kind() == DocKind::Safety)
        .expect("safety");
    let id = safety.id();
    let whole = safety.save();
    let heads = safety.heads();
    safety
        .set_feel_safe(&edit(1, 1), "football on Saturdays")
        .expect("edit");
    let middle = safety.heads();
    safety
        .set_feel_safe(&edit(1, 2), "football on Saturdays with Tuan")
        .expect("edit");
    let first = safety.save_after(&heads);
    let second = safety.save_after(&middle);
    let expected = safety.feel_safe().expect("text");

    for chunks in [
        vec![whole.clone(), first.clone()],
        vec![safety.save()],
        // The later change before the rest: it waits for what it depends on.
        vec![
            second.clone(),
            whole.clone(),
            first[..first.len() - second.len()].to_vec(),
        ],
    ] {
        let mut loaded = CaseDoc::load(id, None, &chunks).expect("load from chunks");
        assert_eq!(loaded.feel_safe().expect("text"), expected);
        assert_eq!(loaded.heads(), safety.heads());
    }
    let mut corrupt = whole.clone();
    corrupt.truncate(whole.len() / 2);
    assert!(CaseDoc::load(id, None, &[corrupt, first]).is_err());
}
