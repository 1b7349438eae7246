//! Tests of the missing-person profile and the persons shared into it: what a share copies,
//! who may share, edit and unshare, and safety documents created before the profile existed.

use automerge::ROOT;
use chrono::{TimeZone, Utc};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::{Map, Value as Json};

use super::*;
use crate::doc::{Author, DocId};
use crate::error::Error;
use crate::ids::{CaseId, DeviceId};
use crate::model::{Profile, Writer, WriterRole, check_write, new_case};

fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 30, 2, 10, 0)
        .single()
        .expect("time")
}

fn someone(rng: &mut StdRng) -> Author {
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

fn safety(rng: &mut StdRng, by: Author) -> CaseDoc {
    let profile = Profile {
        case_reference: "HUL-7".into(),
        ..Profile::default()
    };
    new_case(CaseId::random(rng), &Edit::new(by, at()), &profile)
        .expect("case")
        .into_iter()
        .find(|d| d.kind() == DocKind::Safety)
        .expect("safety")
}

/// A safety document as cases created before the profile existed have it.
fn old_safety(rng: &mut StdRng, by: Author) -> CaseDoc {
    let id = DocId::new(CaseId::random(rng), DocKind::Safety);
    let mut root: Map<String, Json> = ["plan_steps", "checks", "missing_episodes"]
        .iter()
        .map(|k| ((*k).to_owned(), Json::Object(Map::new())))
        .collect();
    root.insert("feel_safe".into(), Json::String(String::new()));
    CaseDoc::create(id, &Edit::new(by, at()), &root, &["feel_safe"]).expect("old safety")
}

fn canary_person() -> PersonOfConcern {
    PersonOfConcern {
        name: "Ëndrit Hoxha".into(),
        aliases: vec!["Eni".into()],
        relationship: "CANARY-relationship-boss".into(),
        phone_numbers: vec!["07700 900123".into()],
        vehicles: vec!["Silver Audi A4 YX17 ABC".into()],
        places: vec!["CANARY-place-car-wash".into()],
        notes: "CANARY-notes-moves-children".into(),
        organisation: String::new(),
    }
}

fn sample_profile() -> MissingPersonProfile {
    MissingPersonProfile {
        name: "Nguyễn Thị Hương".into(),
        known_as: vec!["Huong".into()],
        date_of_birth: NaiveDate::from_ymd_opt(2010, 4, 2),
        physical_description: "Slim, 150 cm, long black hair".into(),
        languages: vec!["Vietnamese".into()],
        interpreter_needed: true,
        places_may_go: vec!["Nail bar, 3 High St, Hull".into()],
        memorised_emergency_number: "07700 900999".into(),
        ..MissingPersonProfile::default()
    }
}

#[test]
fn the_profile_round_trips_and_a_new_case_starts_with_it_empty() {
    let mut rng = StdRng::seed_from_u64(1);
    let carer = someone(&mut rng);
    let creator = someone(&mut rng);
    let mut doc = safety(&mut rng, creator);
    assert_eq!(
        doc.missing_person_profile().expect("read"),
        MissingPersonProfile::default()
    );
    assert!(doc.shared_persons().expect("read").is_empty());
    let profile = sample_profile();
    doc.edit_checked(&as_role(carer, WriterRole::Carer), |d| {
        d.set_missing_person_profile(&Edit::new(carer, at()), &profile)
    })
    .expect("a carer keeps the profile");
    assert_eq!(doc.missing_person_profile().expect("read"), profile);
}

#[test]
fn a_share_copies_name_aliases_phones_and_vehicles_only_and_unshare_removes_it() {
    let mut rng = StdRng::seed_from_u64(2);
    let guardian = someone(&mut rng);
    let mut doc = safety(&mut rng, guardian);
    let id = EntryId::random(&mut rng);
    let edit = Edit::new(guardian, at());
    let writer = as_role(guardian, WriterRole::Guardian);
    doc.edit_checked(&writer, |d| d.share_person(&edit, id, &canary_person()))
        .expect("the guardian shares");
    let shared = doc.shared_persons().expect("read");
    assert_eq!(
        shared,
        vec![(
            id,
            SharedPerson {
                name: "Ëndrit Hoxha".into(),
                aliases: vec!["Eni".into()],
                phone_numbers: vec!["07700 900123".into()],
                vehicles: vec!["Silver Audi A4 YX17 ABC".into()],
                shared_by: Some(guardian.user),
                shared_at: Some(at()),
            }
        )]
    );
    let whole = doc.to_json().expect("json").to_string();
    assert!(!whole.contains("CANARY"), "{whole}");

    // Sharing again brings the copy up to date; unsharing removes it.
    let mut changed = canary_person();
    changed.phone_numbers.push("07700 900456".into());
    doc.edit_checked(&writer, |d| d.share_person(&edit, id, &changed))
        .expect("share again");
    assert_eq!(
        doc.shared_persons().expect("read")[0].1.phone_numbers.len(),
        2
    );
    doc.edit_checked(&writer, |d| d.unshare_person(&edit, id))
        .expect("the guardian unshares");
    assert!(doc.shared_persons().expect("read").is_empty());
    assert!(matches!(
        doc.unshare_person(&edit, id),
        Err(Error::NoSuchEntry { .. })
    ));
}

#[test]
fn a_carer_may_keep_the_profile_but_never_share_or_unshare() {
    let mut rng = StdRng::seed_from_u64(3);
    let guardian = someone(&mut rng);
    let carer = someone(&mut rng);
    let mut doc = safety(&mut rng, guardian);
    let id = EntryId::random(&mut rng);
    let carer_edit = Edit::new(carer, at());
    let as_carer = as_role(carer, WriterRole::Carer);
    let err = doc
        .edit_checked(&as_carer, |d| {
            d.share_person(&carer_edit, id, &canary_person())
        })
        .expect_err("a carer may not share");
    assert!(matches!(err, Error::NotPermitted { .. }), "{err:?}");
    assert!(doc.shared_persons().expect("read").is_empty());

    doc.edit_checked(&as_role(guardian, WriterRole::Guardian), |d| {
        d.share_person(&Edit::new(guardian, at()), id, &canary_person())
    })
    .expect("share");
    let err = doc
        .edit_checked(&as_carer, |d| d.unshare_person(&carer_edit, id))
        .expect_err("a carer may not unshare");
    assert!(matches!(err, Error::NotPermitted { .. }), "{err:?}");
    assert_eq!(doc.shared_persons().expect("read").len(), 1);

    // A social worker and a supervisor may; an administrator changes nothing.
    for role in [WriterRole::SocialWorker, WriterRole::Supervisor] {
        let who = someone(&mut rng);
        let mut trial = doc.trial();
        trial
            .edit_checked(&as_role(who, role), |d| {
                d.unshare_person(&Edit::new(who, at()), id)
            })
            .expect("case team unshares");
    }
    let admin = someone(&mut rng);
    assert!(
        doc.edit_checked(&as_role(admin, WriterRole::Administrator), |d| {
            d.set_missing_person_profile(&Edit::new(admin, at()), &sample_profile())
        })
        .is_err()
    );
}

#[test]
fn a_carer_may_not_remove_the_profile_itself() {
    let mut rng = StdRng::seed_from_u64(4);
    let carer = someone(&mut rng);
    let creator = someone(&mut rng);
    let mut doc = safety(&mut rng, creator);
    let err = doc
        .edit_checked(&as_role(carer, WriterRole::Carer), |d| {
            d.edit(&Edit::new(carer, at()), "remove", |am| {
                am.delete(ROOT, PROFILE_KEY)?;
                Ok(())
            })
        })
        .expect_err("the profile stays");
    assert!(matches!(err, Error::NotPermitted { .. }), "{err:?}");
}

#[test]
fn a_safety_document_from_before_the_profile_gets_it_on_its_first_save() {
    let mut rng = StdRng::seed_from_u64(5);
    let guardian = someone(&mut rng);
    let carer = someone(&mut rng);
    let mut doc = old_safety(&mut rng, guardian);
    assert_eq!(
        doc.missing_person_profile().expect("read"),
        MissingPersonProfile::default()
    );
    assert!(doc.shared_persons().expect("read").is_empty());
    assert!(crate::view::rows(&mut doc).is_ok(), "its view computes");

    // A carer may not create the shared persons; the guardian may; the carer adds the
    // profile.
    let id = EntryId::random(&mut rng);
    assert!(
        doc.edit_checked(&as_role(carer, WriterRole::Carer), |d| {
            d.share_person(&Edit::new(carer, at()), id, &canary_person())
        })
        .is_err()
    );
    doc.edit_checked(&as_role(guardian, WriterRole::Guardian), |d| {
        d.share_person(&Edit::new(guardian, at()), id, &canary_person())
    })
    .expect("the guardian shares");
    assert_eq!(doc.shared_persons().expect("read").len(), 1);

    // Two devices add the profile at once: the second one's changes are still accepted
    // (the competing objects stay visible as a conflict), not refused for ever.
    let mut other = doc.trial();
    doc.edit_checked(&as_role(carer, WriterRole::Carer), |d| {
        d.set_missing_person_profile(&Edit::new(carer, at()), &sample_profile())
    })
    .expect("the carer adds the profile");
    let second = someone(&mut rng);
    other
        .set_missing_person_profile(&Edit::new(second, at()), &sample_profile())
        .expect("added elsewhere");
    let before = doc.automerge_mut().document().clone();
    let mut merged = doc.trial();
    merged
        .automerge_mut()
        .merge(other.automerge_mut())
        .expect("merge");
    let after = merged.automerge_mut().document().clone();
    assert_eq!(
        check_write(
            DocKind::Safety,
            &before,
            &after,
            &as_role(second, WriterRole::Carer)
        ),
        Ok(())
    );
    assert_eq!(
        merged.missing_person_profile().expect("read").name,
        "Nguyễn Thị Hương"
    );
    assert!(crate::view::rows(&mut merged).is_ok());
}

#[test]
fn the_view_has_the_profile_and_the_shared_persons() {
    let mut rng = StdRng::seed_from_u64(6);
    let guardian = someone(&mut rng);
    let mut doc = safety(&mut rng, guardian);
    let before = doc.heads();
    let edit = Edit::new(guardian, at());
    let id = EntryId::random(&mut rng);
    doc.set_missing_person_profile(&edit, &sample_profile())
        .expect("set");
    doc.share_person(&edit, id, &canary_person())
        .expect("share");
    let change = crate::view::update(&mut doc, &before).expect("view");
    let kinds: Vec<_> = change.rows.iter().map(|r| r.kind).collect();
    assert!(kinds.contains(&crate::view::RowKind::MissingPersonProfile));
    assert!(kinds.contains(&crate::view::RowKind::SharedPerson));
    let rows = crate::view::rows(&mut doc).expect("rows");
    let profile = rows
        .iter()
        .find(|r| r.kind == crate::view::RowKind::MissingPersonProfile)
        .expect("profile row");
    assert_eq!(
        profile.decode::<MissingPersonProfile>().expect("decode"),
        sample_profile()
    );
    // An unshare removes the row.
    let before = doc.heads();
    doc.unshare_person(&edit, id).expect("unshare");
    let change = crate::view::update(&mut doc, &before).expect("view");
    assert_eq!(
        change.removed,
        vec![(crate::view::RowKind::SharedPerson, id.to_string())]
    );
}
