//! Tests of the NRM record's checks and of saving it.

use chrono::{NaiveDate, TimeZone};

use super::*;
use crate::doc::Author;
use crate::ids::{CaseId, DeviceId, UserId};
use crate::model::{Profile, new_case};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 30, 12, 0, 0)
        .single()
        .expect("time")
}

fn day(y: i32, m: u32, d: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(y, m, d)
}

fn member(name: &str, agency: Agency) -> PanelMember {
    PanelMember {
        name: name.into(),
        agency,
    }
}

fn full_panel() -> Vec<PanelMember> {
    vec![
        member("A. Social Worker", Agency::SocialCare),
        member("B. Officer", Agency::Police),
        member("C. Nurse", Agency::Health),
    ]
}

/// A local-panel record with a positive reasonable grounds decision.
fn panel_record() -> Nrm {
    Nrm {
        referred_on: day(2026, 11, 2),
        referred_by: "Hull children's social care".into(),
        route: NrmRoute::LocalPanel,
        reasonable_grounds: NrmDecision::Positive,
        reasonable_grounds_on: day(2026, 11, 6),
        reasonable_grounds_reasons: "Indicators of criminal exploitation".into(),
        reasonable_grounds_recorded_by: "Panel chair".into(),
        reasonable_grounds_panel: full_panel(),
        ..Nrm::default()
    }
}

fn refused(result: Result<()>) -> (String, String) {
    match result {
        Err(Error::InvalidInput { field, reason }) => (field, reason),
        other => panic!("expected refused input, got {other:?}"),
    }
}

fn profile_doc() -> (CaseDoc, Edit) {
    let mut rng = rand::rngs::OsRng;
    let author = Author {
        user: UserId::random(&mut rng),
        device: DeviceId::random(&mut rng),
    };
    let e = Edit::new(author, now());
    let profile = Profile {
        case_reference: "HUL-9".into(),
        ..Profile::default()
    };
    let doc = new_case(CaseId::random(&mut rng), &e, &profile)
        .expect("case")
        .into_iter()
        .find(|d| d.id().kind == DocKind::Profile)
        .expect("profile document");
    (doc, e)
}

#[test]
fn a_complete_panel_decision_is_accepted() {
    panel_record().validate(now()).expect("valid");
}

#[test]
fn a_panel_decision_without_health_is_refused_naming_the_field() {
    let mut nrm = panel_record();
    nrm.reasonable_grounds_panel
        .retain(|m| m.agency != Agency::Health);
    nrm.reasonable_grounds_panel
        .push(member("D. Teacher", Agency::Education));
    let (field, reason) = refused(nrm.validate(now()));
    assert_eq!(field, "nrm.reasonable_grounds_panel");
    assert!(reason.ends_with("missing: health"), "{reason}");
    // Without police and social care too: all three named.
    nrm.reasonable_grounds_panel = vec![member("E. Officer", Agency::HomeOffice)];
    let (_, reason) = refused(nrm.validate(now()));
    assert!(reason.contains("social care, police, health"), "{reason}");
    // The same panel on the Home Office route is not a panel decision.
    nrm.route = NrmRoute::HomeOffice;
    nrm.validate(now()).expect("Home Office route");
    // A pending decision needs no panel yet.
    nrm.route = NrmRoute::LocalPanel;
    nrm.reasonable_grounds = NrmDecision::Pending;
    nrm.reasonable_grounds_on = None;
    nrm.validate(now()).expect("pending");
}

#[test]
fn the_conclusive_panel_is_checked_too() {
    let mut nrm = panel_record();
    nrm.conclusive_grounds = NrmDecision::Positive;
    nrm.conclusive_grounds_on = day(2026, 11, 27);
    nrm.conclusive_grounds_panel = vec![member("B. Officer", Agency::Police)];
    let (field, reason) = refused(nrm.validate(now()));
    assert_eq!(field, "nrm.conclusive_grounds_panel");
    assert!(reason.contains("social care, health"), "{reason}");
    nrm.conclusive_grounds_panel = full_panel();
    nrm.validate(now()).expect("complete");
}

#[test]
fn a_decision_dated_before_the_referral_is_refused() {
    let mut nrm = panel_record();
    nrm.reasonable_grounds_on = day(2026, 11, 1);
    let (field, reason) = refused(nrm.validate(now()));
    assert_eq!(field, "nrm.reasonable_grounds_on");
    assert!(reason.contains("before the referral"), "{reason}");
    let mut nrm = panel_record();
    nrm.conclusive_grounds = NrmDecision::Negative;
    nrm.conclusive_grounds_on = day(2026, 10, 1);
    nrm.conclusive_grounds_panel = full_panel();
    assert_eq!(refused(nrm.validate(now())).0, "nrm.conclusive_grounds_on");
}

#[test]
fn a_conclusive_decision_before_reasonable_grounds_is_refused() {
    let mut nrm = panel_record();
    nrm.conclusive_grounds = NrmDecision::Positive;
    nrm.conclusive_grounds_on = day(2026, 11, 5);
    nrm.conclusive_grounds_panel = full_panel();
    let (field, reason) = refused(nrm.validate(now()));
    assert_eq!(field, "nrm.conclusive_grounds_on");
    assert!(reason.contains("before the reasonable grounds"), "{reason}");
    nrm.reasonable_grounds = NrmDecision::Pending;
    nrm.reasonable_grounds_on = None;
    nrm.conclusive_grounds_on = day(2026, 11, 20);
    let (field, reason) = refused(nrm.validate(now()));
    assert_eq!(field, "nrm.conclusive_grounds");
    assert!(
        reason.contains("reasonable grounds decision first"),
        "{reason}"
    );
}

#[test]
fn dates_in_the_future_and_nameless_members_are_refused() {
    let mut nrm = panel_record();
    nrm.referred_on = day(2026, 12, 1);
    nrm.reasonable_grounds_on = day(2026, 12, 2);
    assert_eq!(refused(nrm.validate(now())).0, "nrm.referred_on");
    let mut nrm = panel_record();
    nrm.reasonable_grounds_panel
        .push(member(" ", Agency::Other));
    assert_eq!(
        refused(nrm.validate(now())),
        (
            "nrm.reasonable_grounds_panel".to_owned(),
            "a member has no name".to_owned()
        )
    );
}

#[test]
fn panel_members_are_stored_as_agency_and_name_and_unknown_agencies_do_not_read() {
    let text: String = member("Jo: Bloggs", Agency::SocialCare).into();
    assert_eq!(text, "social_care:Jo: Bloggs");
    assert_eq!(
        PanelMember::try_from(text).expect("reads"),
        member("Jo: Bloggs", Agency::SocialCare)
    );
    assert_eq!(
        PanelMember::try_from("probation:Jo".to_owned()),
        Err(UnknownAgency)
    );
    assert_eq!("probation".parse::<Agency>(), Err(UnknownAgency));
    for agency in Agency::ALL {
        assert_eq!(agency.as_str().parse::<Agency>(), Ok(agency));
    }
}

#[test]
fn saving_a_refused_record_writes_nothing_and_a_valid_one_round_trips() {
    let (mut doc, e) = profile_doc();
    let heads = doc.automerge_mut().get_heads();
    let mut bad = panel_record();
    bad.reasonable_grounds_panel
        .retain(|m| m.agency != Agency::Health);
    assert_eq!(
        refused(doc.set_nrm(&e, &bad)).0,
        "nrm.reasonable_grounds_panel"
    );
    assert_eq!(doc.automerge_mut().get_heads(), heads, "nothing written");
    // The same check on the profile's save path.
    let mut profile = doc.profile().expect("profile");
    profile.nrm = bad;
    assert_eq!(
        refused(doc.set_profile(&e, &profile)).0,
        "nrm.reasonable_grounds_panel"
    );
    assert_eq!(doc.automerge_mut().get_heads(), heads, "nothing written");

    doc.set_nrm(&e, &panel_record()).expect("saved");
    assert_eq!(doc.nrm().expect("read"), panel_record());
    assert_eq!(doc.profile().expect("profile").nrm, panel_record());
    // A profile save that leaves the NRM record alone keeps it.
    let mut profile = doc.profile().expect("profile");
    profile.given_name = "Minh".into();
    doc.set_profile(&e, &profile).expect("saved");
    assert_eq!(doc.nrm().expect("read"), panel_record());
}

#[test]
fn an_nrm_map_written_before_the_new_fields_still_reads() {
    use automerge::ROOT;
    use automerge::transaction::Transactable;
    let (mut doc, _) = profile_doc();
    let am = doc.automerge_mut();
    am.delete(ROOT, "nrm").expect("delete");
    let nrm = am
        .put_object(ROOT, "nrm", automerge::ObjType::Map)
        .expect("map");
    am.put(&nrm, "referred_on", "2026-11-02").expect("put");
    am.put(&nrm, "referred_by", "police").expect("put");
    am.put(&nrm, "decision_maker", "").expect("put");
    am.put(&nrm, "reasonable_grounds", "pending").expect("put");
    am.put(&nrm, "conclusive_grounds", "pending").expect("put");
    let read = doc.nrm().expect("old shape reads");
    assert_eq!(read.referred_on, day(2026, 11, 2));
    assert_eq!(read.route, NrmRoute::NotRecorded);
    assert!(read.reasonable_grounds_panel.is_empty());
}
