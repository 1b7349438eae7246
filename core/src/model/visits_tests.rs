//! Tests of supervisor review: who may sign off or return a note (the write rules), an edit
//! of a signed-off note reopening review, and the review index's reader.

use chrono::{TimeZone, Utc};
use rand::SeedableRng;
use rand::rngs::StdRng;

use super::*;
use crate::doc::{Author, DocId, Edit};
use crate::ids::{CaseId, DeviceId};
use crate::model::{Profile, Writer, WriterRole, new_case};

fn at(hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 30, hour, 0, 0)
        .single()
        .expect("time")
}

fn person(rng: &mut StdRng) -> Author {
    Author {
        user: UserId::random(rng),
        device: DeviceId::random(rng),
    }
}

fn as_role(author: Author, role: WriterRole) -> Writer {
    Writer {
        user: author.user,
        role,
        device: author.device,
    }
}

/// A visits document holding one submitted note by `guardian`.
fn submitted(rng: &mut StdRng, guardian: Author) -> (CaseDoc, EntryId) {
    let case = CaseId::random(rng);
    let profile = Profile {
        case_reference: "HUL-11".into(),
        ..Profile::default()
    };
    let docs = new_case(case, &Edit::new(guardian, at(8)), &profile).expect("case");
    let mut visits = docs
        .into_iter()
        .find(|d| d.kind() == DocKind::Visits)
        .expect("visits");
    let note = EntryId::random(rng);
    let edit = Edit::new(guardian, at(9));
    let g = as_role(guardian, WriterRole::Guardian);
    visits
        .edit_checked(&g, |d| {
            d.add_visit_note(
                &edit,
                note,
                &VisitNote {
                    visited_at: Some(at(9)),
                    observations: "Settled, ate well.".into(),
                    ..VisitNote::default()
                },
            )?;
            d.review_visit_note(&edit, note, ReviewStatus::Submitted, "For review")
        })
        .expect("submitted");
    (visits, note)
}

fn refusal_reason(e: crate::Error) -> String {
    match e {
        crate::Error::NotPermitted { reason, .. } => reason,
        other => panic!("not a refusal: {other:?}"),
    }
}

#[test]
fn only_a_supervisor_signs_off_or_returns_a_note_in_their_own_name() {
    let mut rng = StdRng::seed_from_u64(110);
    let guardian = person(&mut rng);
    let supervisor = person(&mut rng);
    let (mut visits, note) = submitted(&mut rng, guardian);

    // The guardian's own app signing off its note: refused, nothing kept.
    let g = as_role(guardian, WriterRole::Guardian);
    for status in [ReviewStatus::SignedOff, ReviewStatus::Returned] {
        let err = visits
            .edit_checked(&g, |d| {
                d.review_visit_note(&Edit::new(guardian, at(10)), note, status, "Fine")
            })
            .expect_err("a guardian's sign-off");
        assert_eq!(
            refusal_reason(err),
            "only a supervisor signs off or returns a note"
        );
        assert_eq!(
            visits.visit_note(note).expect("note").review.status,
            ReviewStatus::Submitted
        );
    }

    // A supervisor's review naming someone else as the reviewer: refused.
    let s = as_role(supervisor, WriterRole::Supervisor);
    let err = visits
        .edit_checked(&s, |d| {
            let mut forged = d.visit_note(note)?;
            forged.review = Review {
                status: ReviewStatus::SignedOff,
                reviewer: Some(guardian.user),
                reviewed_at: Some(at(10)),
                comment: "Fine".into(),
            };
            d.update_visit_note(&Edit::new(supervisor, at(10)), note, &forged)
        })
        .expect_err("a review in another's name");
    assert_eq!(
        refusal_reason(err),
        "a review must name the supervisor writing it"
    );

    // The supervisor's own sign-off: kept.
    visits
        .edit_checked(&s, |d| {
            d.review_visit_note(
                &Edit::new(supervisor, at(10)),
                note,
                ReviewStatus::SignedOff,
                "Good record",
            )
        })
        .expect("sign-off");
    let review = visits.visit_note(note).expect("note").review;
    assert_eq!(review.status, ReviewStatus::SignedOff);
    assert_eq!(review.reviewer, Some(supervisor.user));
}

#[test]
fn an_edit_of_a_signed_off_note_reopens_review() {
    let mut rng = StdRng::seed_from_u64(111);
    let guardian = person(&mut rng);
    let supervisor = person(&mut rng);
    let (mut visits, note) = submitted(&mut rng, guardian);
    let s = as_role(supervisor, WriterRole::Supervisor);
    let g = as_role(guardian, WriterRole::Guardian);
    let sign_off = |visits: &mut CaseDoc, hour| {
        visits
            .edit_checked(&s, |d| {
                d.review_visit_note(
                    &Edit::new(supervisor, at(hour)),
                    note,
                    ReviewStatus::SignedOff,
                    "Good record",
                )
            })
            .expect("sign-off");
    };
    sign_off(&mut visits, 10);

    // Saving the note unchanged keeps the sign-off.
    let same = visits.visit_note(note).expect("note");
    visits
        .edit_checked(&g, |d| {
            d.update_visit_note(&Edit::new(guardian, at(11)), note, &same)
        })
        .expect("unchanged save");
    assert_eq!(
        visits.visit_note(note).expect("note").review.status,
        ReviewStatus::SignedOff
    );

    // Changing the observations reopens it, by the guardian's allowed change; the last
    // reviewer and comment stay for the supervisor to see.
    let mut edited = visits.visit_note(note).expect("note");
    edited.observations.push_str(" Mentioned a new friend.");
    visits
        .edit_checked(&g, |d| {
            d.update_visit_note(&Edit::new(guardian, at(11)), note, &edited)
        })
        .expect("an edit after sign-off");
    let review = visits.visit_note(note).expect("note").review;
    assert_eq!(review.status, ReviewStatus::Submitted);
    assert_eq!(review.reviewer, Some(supervisor.user));
    assert_eq!(review.comment, "Good record");

    // A new agreed action reopens it too.
    sign_off(&mut visits, 12);
    let action = EntryId::random(&mut rng);
    visits
        .edit_checked(&g, |d| {
            d.add_action(
                &Edit::new(guardian, at(13)),
                note,
                action,
                &Action {
                    description: "Call the school".into(),
                    ..Action::default()
                },
            )
        })
        .expect("a new action");
    assert_eq!(
        visits.visit_note(note).expect("note").review.status,
        ReviewStatus::Submitted
    );
}

#[test]
fn the_review_reader_gives_each_notes_visit_time_and_review_without_its_text() {
    let mut rng = StdRng::seed_from_u64(112);
    let guardian = person(&mut rng);
    let supervisor = person(&mut rng);
    let (mut visits, note) = submitted(&mut rng, guardian);
    let s = as_role(supervisor, WriterRole::Supervisor);
    visits
        .edit_checked(&s, |d| {
            d.review_visit_note(
                &Edit::new(supervisor, at(10)),
                note,
                ReviewStatus::Returned,
                "Add the interpreter",
            )
        })
        .expect("return");
    let bytes = visits.save();
    let raw = automerge::Automerge::load(&bytes).expect("load");
    let read = reviews_in(visits.id(), &raw).expect("reviews");
    assert_eq!(read.len(), 1);
    let (id, r) = &read[0];
    assert_eq!(*id, note);
    assert_eq!(r.visited_at, Some(at(9)));
    assert_eq!(r.review.status, ReviewStatus::Returned);
    assert_eq!(r.review.reviewer, Some(supervisor.user));
    assert_eq!(r.review.comment, "Add the interpreter");

    // Another document's bytes under this id: an error, not a reading.
    let other = DocId::new(CaseId::random(&mut rng), DocKind::Visits);
    assert!(reviews_in(other, &raw).is_err());
}
