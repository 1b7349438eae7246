//! Tests of a case's deadline list.

use chrono::TimeZone;

use super::*;
use crate::model::{Immigration, Nrm, PlanDates};

fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, 0, 0)
        .single()
        .expect("time")
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("date")
}

fn referred(on: NaiveDate) -> Profile {
    Profile {
        case_reference: "HUL-3".into(),
        nrm: Nrm {
            referred_on: Some(on),
            ..Nrm::default()
        },
        ..Profile::default()
    }
}

fn only(list: &[Deadline], kind: DeadlineKind) -> &Deadline {
    let found: Vec<&Deadline> = list.iter().filter(|d| d.kind == kind).collect();
    assert_eq!(found.len(), 1, "{kind:?} in {list:?}");
    found[0]
}

#[test]
fn reasonable_grounds_fall_due_5_working_days_after_a_referral_over_christmas() {
    let p = referred(day(2026, 12, 23));
    let list = case_deadlines(Some(&p), &[], &[], &[], at(2026, 12, 23, 10)).expect("list");
    let rg = only(&list, DeadlineKind::ReasonableGrounds);
    assert_eq!(rg.due_on, day(2027, 1, 4));
    assert!(!rg.overdue);
    assert_eq!((rg.doc, rg.record.as_str()), (DocKind::Profile, "nrm"));
    let on_the_day = case_deadlines(Some(&p), &[], &[], &[], at(2027, 1, 4, 16)).expect("list");
    assert!(!only(&on_the_day, DeadlineKind::ReasonableGrounds).overdue);
    let after = case_deadlines(Some(&p), &[], &[], &[], at(2027, 1, 5, 9)).expect("list");
    assert!(only(&after, DeadlineKind::ReasonableGrounds).overdue);
}

#[test]
fn reasonable_grounds_over_easter_2027() {
    // Wednesday 24 March: Good Friday 26 and Easter Monday 29 March are skipped.
    let p = referred(day(2027, 3, 24));
    let list = case_deadlines(Some(&p), &[], &[], &[], at(2027, 3, 24, 10)).expect("list");
    assert_eq!(
        only(&list, DeadlineKind::ReasonableGrounds).due_on,
        day(2027, 4, 2)
    );
    // Thursday 25 March: the next working day is Tuesday 30 March, the fifth Monday 5 April.
    let p = referred(day(2027, 3, 25));
    let list = case_deadlines(Some(&p), &[], &[], &[], at(2027, 3, 25, 10)).expect("list");
    assert_eq!(
        only(&list, DeadlineKind::ReasonableGrounds).due_on,
        day(2027, 4, 5)
    );
}

#[test]
fn conclusive_grounds_open_30_days_after_reasonable_grounds_and_are_never_overdue() {
    let mut p = referred(day(2026, 10, 1));
    p.nrm.reasonable_grounds = NrmDecision::Positive;
    p.nrm.reasonable_grounds_on = Some(day(2026, 10, 7));
    let list = case_deadlines(Some(&p), &[], &[], &[], at(2026, 12, 30, 10)).expect("list");
    assert!(
        list.iter()
            .all(|d| d.kind != DeadlineKind::ReasonableGrounds)
    );
    let cg = only(&list, DeadlineKind::ConclusiveGroundsFrom);
    assert_eq!(cg.due_on, day(2026, 11, 6));
    assert!(!cg.overdue);
    p.nrm.conclusive_grounds = NrmDecision::Positive;
    p.nrm.conclusive_grounds_on = Some(day(2026, 11, 20));
    let list = case_deadlines(Some(&p), &[], &[], &[], at(2026, 12, 30, 10)).expect("list");
    assert!(list.is_empty(), "{list:?}");
}

#[test]
fn the_list_holds_every_kind_soonest_first_with_overdue_flags() {
    let now = at(2026, 11, 30, 12);
    let p = Profile {
        case_reference: "HUL-4".into(),
        date_of_birth: Some(day(2009, 1, 10)),
        age_status: AgeStatus::DisputedTreatAsChild,
        // The local authority accepts an older age than the child gives.
        accepted_date_of_birth: Some(day(2009, 6, 1)),
        nrm: Nrm {
            referred_on: Some(day(2026, 11, 20)),
            ..Nrm::default()
        },
        immigration: Immigration {
            outcome: ImmigrationOutcome::UascLeave,
            leave_expires_on: Some(day(2026, 12, 1)),
            ..Immigration::default()
        },
        plans: PlanDates {
            care_plan: Some(day(2026, 11, 1)),
            health_plan: Some(day(2027, 2, 1)),
            ..PlanDates::default()
        },
        ..Profile::default()
    };
    let returned = MissingEpisode {
        missing_since: Some(at(2026, 11, 26, 20)),
        returned_at: Some(at(2026, 11, 28, 9)),
        ..MissingEpisode::default()
    };
    let held = MissingEpisode {
        returned_at: Some(at(2026, 11, 1, 9)),
        return_interview_outcome: ReturnInterviewOutcome::Done,
        ..returned.clone()
    };
    let mut rng = rand::rngs::OsRng;
    let episode = EntryId::random(&mut rng);
    let episodes = vec![(episode, returned), (EntryId::random(&mut rng), held)];
    let list = case_deadlines(Some(&p), &episodes, &[], &[], now).expect("list");
    let kinds: Vec<(DeadlineKind, NaiveDate, bool)> =
        list.iter().map(|d| (d.kind, d.due_on, d.overdue)).collect();
    assert_eq!(
        kinds,
        vec![
            (DeadlineKind::PathwayPlan, day(2025, 6, 1), true),
            (DeadlineKind::CarePlanReview, day(2026, 11, 1), true),
            (DeadlineKind::ReasonableGrounds, day(2026, 11, 27), true),
            (DeadlineKind::ReturnInterview, day(2026, 12, 1), false),
            (DeadlineKind::ApplyBeforeLeaveEnds, day(2026, 12, 1), false),
            (DeadlineKind::UascLeaveReview, day(2026, 12, 1), false),
            (DeadlineKind::HealthPlanReview, day(2027, 2, 1), false),
            (DeadlineKind::PersonalAdviser, day(2027, 6, 1), false),
            (DeadlineKind::EighteenthBirthday, day(2027, 6, 1), false),
        ],
        "{list:#?}"
    );
    let ri = only(&list, DeadlineKind::ReturnInterview);
    assert_eq!(ri.due_at, Some(at(2026, 12, 1, 9)));
    assert_eq!(ri.doc, DocKind::Safety);
    assert_eq!(ri.record, format!("missing_episodes/{episode}"));
    assert_eq!(
        only(&list, DeadlineKind::EighteenthBirthday).record,
        "accepted_date_of_birth"
    );
    // Once a pathway plan and a personal adviser are recorded, those two leave the list;
    // an assessed adult has no age deadlines at all.
    let mut done = p.clone();
    done.plans.pathway_plan = Some(day(2027, 3, 1));
    done.personal_adviser = "P. Adviser".into();
    let list = case_deadlines(Some(&done), &[], &[], &[], now).expect("list");
    assert!(list.iter().all(|d| d.kind != DeadlineKind::PathwayPlan
        && d.kind != DeadlineKind::PersonalAdviser));
    only(&list, DeadlineKind::PathwayPlanReview);
    let adult = Profile {
        age_status: AgeStatus::AssessedAdult,
        ..done
    };
    let list = case_deadlines(Some(&adult), &[], &[], &[], now).expect("list");
    assert!(
        list.iter()
            .all(|d| d.kind != DeadlineKind::EighteenthBirthday
                && d.kind != DeadlineKind::UascLeaveReview)
    );
}

#[test]
fn a_carer_without_the_profile_still_sees_return_interviews() {
    let episode = MissingEpisode {
        returned_at: Some(at(2026, 11, 20, 9)),
        ..MissingEpisode::default()
    };
    let id = EntryId::random(&mut rand::rngs::OsRng);
    let list =
        case_deadlines(None, &[(id, episode)], &[], &[], at(2026, 11, 30, 12)).expect("list");
    assert_eq!(list.len(), 1);
    assert!(list[0].overdue);
    assert_eq!(list[0].kind, DeadlineKind::ReturnInterview);
}
