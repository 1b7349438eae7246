//! Tests of the missing episode record: older episodes still read, every refusal names its
//! field and writes nothing, and fields an older episode lacks are added only with a value.

use automerge::transaction::Transactable;
use automerge::{ObjType, ReadDoc};
use chrono::{TimeDelta, TimeZone, Utc};

use super::*;
use crate::doc::Author;
use crate::ids::{CaseId, DeviceId, UserId};
use crate::model::{Profile, new_case};

fn t(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 30, h, m, 0)
        .single()
        .expect("time")
}

fn edit_at(at: DateTime<Utc>) -> Edit {
    Edit::new(
        Author {
            user: UserId::from_bytes([1; 16]),
            device: DeviceId::from_bytes([2; 16]),
        },
        at,
    )
}

fn safety() -> CaseDoc {
    let profile = Profile {
        case_reference: "HUL-9".into(),
        ..Profile::default()
    };
    new_case(CaseId::from_bytes([7; 16]), &edit_at(t(0, 0)), &profile)
        .expect("case")
        .into_iter()
        .find(|d| d.kind() == DocKind::Safety)
        .expect("safety")
}

/// An episode: last seen at 01:30, noticed missing at 02:10, police told at 02:25.
fn episode() -> MissingEpisode {
    MissingEpisode {
        category: EpisodeCategory::Missing,
        missing_since: Some(t(2, 10)),
        last_seen_at: Some(t(1, 30)),
        last_seen: "Bedroom, lights out".into(),
        clothing: "Black North Face jacket, white trainers".into(),
        reported_to_police_at: Some(t(2, 25)),
        police_reference: "CAD 0231 30/11".into(),
        social_worker_told_at: Some(t(2, 40)),
        social_worker_told: "EDT, duty worker".into(),
        guardian_told_at: Some(t(7, 0)),
        ..MissingEpisode::default()
    }
}

#[test]
fn a_whole_episode_is_kept_field_for_field() {
    let mut doc = safety();
    let id = EntryId::from_bytes([3; 16]);
    let mut full = episode();
    full.category = EpisodeCategory::AwayFromPlacement;
    full.last_seen_with = "Two older boys in a grey car".into();
    full.circumstances = "Window open".into();
    doc.start_missing_episode(&edit_at(t(7, 5)), id, &full)
        .expect("start");
    full.returned_at = Some(t(9, 0));
    full.found_where = "Birmingham New Street".into();
    full.found_by = "British Transport Police".into();
    full.return_interview_offered_at = Some(t(10, 0));
    full.return_interview_offered_by = "Barnardo's return interview service".into();
    full.return_interview_outcome = ReturnInterviewOutcome::Done;
    full.return_interview_done_at = Some(t(11, 0));
    full.return_interview = "Was told to go to a house".into();
    doc.update_missing_episode(&edit_at(t(11, 5)), id, &full)
        .expect("update");
    assert_eq!(doc.missing_episodes().expect("read"), vec![(id, full)]);
}

#[test]
fn an_episode_written_before_the_new_fields_still_reads_and_updates() {
    let mut doc = safety();
    let id = EntryId::from_bytes([4; 16]);
    // The shape of an episode recorded by the previous build: its eight fields only.
    let parent = doc.object(&["missing_episodes"]).expect("collection");
    let am = doc.automerge_mut();
    let entry = am
        .put_object(&parent, id.to_string(), ObjType::Map)
        .expect("entry");
    am.put(&entry, "missing_since", "2026-11-30T02:10:00Z")
        .expect("put");
    for key in ["last_seen", "circumstances", "return_interview"] {
        am.put_object(&entry, key, ObjType::Text).expect("text");
    }
    am.put(&entry, "reported_to_police_at", ()).expect("put");
    am.put(&entry, "police_reference", "").expect("put");
    am.put(&entry, "returned_at", ()).expect("put");
    am.put(&entry, "return_interview_offered_at", ())
        .expect("put");
    am.commit();

    let episodes = doc.missing_episodes().expect("old episode reads");
    let (_, mut old) = episodes.into_iter().next().expect("one");
    assert_eq!(old.missing_since, Some(t(2, 10)));
    assert_eq!(old.category, EpisodeCategory::Missing);
    assert_eq!(old.clothing, "");
    assert_eq!(old.return_interview_outcome, ReturnInterviewOutcome::NotYet);

    // Saving it adds only the new fields given a value.
    old.clothing = "Red hoodie".into();
    doc.update_missing_episode(&edit_at(t(3, 0)), id, &old)
        .expect("update");
    let entry = doc
        .object(&["missing_episodes", &id.to_string()])
        .expect("entry");
    let keys: Vec<String> = doc.automerge().keys(&entry).collect();
    assert!(keys.contains(&"clothing".to_owned()), "{keys:?}");
    for absent in ["category", "found_by", "guardian_told_at", "last_seen_at"] {
        assert!(!keys.contains(&absent.to_owned()), "{absent} in {keys:?}");
    }
    assert_eq!(
        doc.missing_episodes().expect("read")[0].1.clothing,
        "Red hoodie"
    );
}

/// `change` makes the episode invalid; starting it (and updating a valid one to it) must
/// fail with `InvalidInput` on `field` and write nothing.
fn refused(field: &str, now: DateTime<Utc>, change: impl Fn(&mut MissingEpisode)) -> Error {
    let mut bad = episode();
    change(&mut bad);
    let mut doc = safety();
    let heads = doc.heads();
    let err = doc
        .start_missing_episode(&edit_at(now), EntryId::from_bytes([5; 16]), &bad)
        .expect_err("refused");
    assert!(
        matches!(&err, Error::InvalidInput { field: f, .. } if f == field),
        "{field}: {err:?}"
    );
    assert_eq!(doc.heads(), heads, "{field}: nothing written on start");

    let id = EntryId::from_bytes([6; 16]);
    doc.start_missing_episode(&edit_at(t(12, 0)), id, &episode())
        .expect("a valid one");
    let heads = doc.heads();
    let err = doc
        .update_missing_episode(&edit_at(now), id, &bad)
        .expect_err("refused");
    assert!(
        matches!(&err, Error::InvalidInput { field: f, .. } if f == field),
        "{field}: {err:?}"
    );
    assert_eq!(doc.heads(), heads, "{field}: nothing written on update");
    err
}

#[test]
fn the_time_noticed_missing_is_required() {
    refused("missing_since", t(12, 0), |e| e.missing_since = None);
}

#[test]
fn an_episode_that_ends_before_it_starts_is_refused() {
    let err = refused("returned_at", t(12, 0), |e| {
        e.last_seen_at = None;
        e.returned_at = Some(t(2, 0));
    });
    assert!(err.to_string().contains("went missing"), "{err}");
}

#[test]
fn a_return_before_the_last_sighting_is_refused() {
    // Last seen at 01:30: a return at 01:00 is before the last sighting.
    let err = refused("returned_at", t(12, 0), |e| e.returned_at = Some(t(1, 0)));
    assert!(err.to_string().contains("last seen"), "{err}");
}

#[test]
fn last_seen_after_noticed_missing_is_refused() {
    refused("last_seen_at", t(12, 0), |e| {
        e.last_seen_at = Some(t(2, 30))
    });
}

#[test]
fn telling_the_police_or_others_before_the_episode_is_refused() {
    refused("reported_to_police_at", t(12, 0), |e| {
        e.reported_to_police_at = Some(t(2, 0));
    });
    refused("social_worker_told_at", t(12, 0), |e| {
        e.social_worker_told_at = Some(t(1, 0));
    });
    refused("guardian_told_at", t(12, 0), |e| {
        e.guardian_told_at = Some(t(2, 9));
    });
}

#[test]
fn times_in_the_future_beyond_the_clock_skew_are_refused() {
    // Written at 07:00 by the writer's clock: the guardian told at 07:09 is within the skew
    // allowance, at 07:11 it is in the future.
    let now = t(7, 0);
    let mut within = episode();
    within.guardian_told_at = Some(now + CLOCK_SKEW - TimeDelta::minutes(1));
    within.validate(now).expect("within the allowance");
    refused("guardian_told_at", now, |e| {
        e.guardian_told_at = Some(now + CLOCK_SKEW + TimeDelta::minutes(1));
    });
    refused("missing_since", t(1, 0), |e| {
        e.missing_since = Some(t(2, 11));
        e.last_seen_at = None;
        e.reported_to_police_at = None;
        e.social_worker_told_at = None;
        e.guardian_told_at = None;
    });
    refused("returned_at", now, |e| e.returned_at = Some(t(23, 0)));
}

#[test]
fn a_return_interview_before_the_return_or_without_one_is_refused() {
    refused("return_interview_offered_at", t(12, 0), |e| {
        e.return_interview_offered_at = Some(t(8, 0));
    });
    refused("return_interview_offered_at", t(12, 0), |e| {
        e.returned_at = Some(t(9, 0));
        e.return_interview_offered_at = Some(t(8, 0));
    });
    refused("return_interview_done_at", t(12, 0), |e| {
        e.returned_at = Some(t(9, 0));
        e.return_interview_done_at = Some(t(8, 59));
    });
    refused("return_interview_outcome", t(12, 0), |e| {
        e.return_interview_outcome = ReturnInterviewOutcome::Declined;
    });
}

#[test]
fn ending_before_the_start_is_refused_and_writes_nothing() {
    let mut doc = safety();
    let id = EntryId::from_bytes([8; 16]);
    doc.start_missing_episode(&edit_at(t(7, 0)), id, &episode())
        .expect("start");
    let heads = doc.heads();
    let err = doc
        .end_missing_episode(&edit_at(t(12, 0)), id, t(1, 0))
        .expect_err("before the start");
    assert!(
        matches!(&err, Error::InvalidInput { field, .. } if field == "returned_at"),
        "{err:?}"
    );
    assert_eq!(doc.heads(), heads);
    doc.end_missing_episode(&edit_at(t(12, 0)), id, t(9, 0))
        .expect("end");
    let (_, ended) = doc.missing_episodes().expect("read").remove(0);
    assert!(!ended.is_open());
}

#[test]
fn a_time_another_device_wrote_ahead_of_this_clock_does_not_block_a_save() {
    // The carer's phone runs 30 minutes fast and starts the episode; the guardian's phone,
    // on time, then records when it was told. Only the time it changes is checked.
    let mut doc = safety();
    let id = EntryId::from_bytes([9; 16]);
    let fast = t(2, 40);
    let mut started = episode();
    started.missing_since = Some(t(2, 35));
    started.reported_to_police_at = None;
    started.social_worker_told_at = None;
    started.guardian_told_at = None;
    doc.start_missing_episode(&edit_at(fast), id, &started)
        .expect("start");
    let on_time = t(2, 12);
    let mut told = started.clone();
    told.guardian_told_at = Some(t(2, 36));
    let err = doc
        .update_missing_episode(&edit_at(on_time), id, &told)
        .expect_err("the time this save writes is still checked");
    assert!(
        matches!(&err, Error::InvalidInput { field, .. } if field == "guardian_told_at"),
        "{err:?}"
    );
    told.guardian_told_at = None;
    told.police_reference = "CAD 0240".into();
    doc.update_missing_episode(&edit_at(on_time), id, &told)
        .expect("missing_since was written by the other device");
}

/// The server reads episodes from the automerge document it holds, without a `CaseDoc`:
/// the same episodes as the document's own reader, and nothing from another case's document.
#[test]
fn episodes_read_from_the_automerge_document_match_the_case_docs() {
    let mut doc = safety();
    let first = EntryId::from_bytes([3; 16]);
    let second = EntryId::from_bytes([4; 16]);
    let edit = edit_at(t(23, 0));
    doc.start_missing_episode(&edit, first, &episode())
        .expect("first");
    let mut ended = episode();
    ended.returned_at = Some(t(9, 50));
    doc.start_missing_episode(&edit, second, &ended)
        .expect("second");
    let saved = doc.save();
    let loaded = automerge::Automerge::load(&saved).expect("load");
    let read = missing_episodes_in(doc.id(), &loaded).expect("episodes");
    assert_eq!(read, doc.missing_episodes().expect("episodes"));
    assert_eq!(read.len(), 2);
    let other = DocId::new(CaseId::from_bytes([8; 16]), DocKind::Safety);
    assert!(missing_episodes_in(other, &loaded).is_err());
    let visits = DocId::new(doc.id().case, DocKind::Visits);
    assert!(missing_episodes_in(visits, &loaded).is_err());
    assert!(missing_episodes_in(doc.id(), &automerge::Automerge::new()).is_err());
}
