//! `GET /v1/deadlines`: a supervisor's deadlines across the cases of their teams, computed
//! by the core from the stored documents; other roles are refused, and cases outside the
//! supervisor's teams are not listed.

use axum::http::{Method, StatusCode};
use casebook_core::doc::{Author, CaseDoc, DocId, DocKind, Edit};
use casebook_core::ids::EntryId;
use casebook_core::model::{
    DeadlineKind, MissingEpisode, NrmDecision, NrmRoute, PlanStep, Profile, SafetyCheck,
};
use casebook_core::sync::wire::SessionResponse;
use casebook_server::deadlines::DeadlinesResponse;
use chrono::{NaiveDate, TimeZone, Utc};

use crate::support::{Device, Harness, doc, new_case};

/// Edit the device's copy of `doc` (created first by a plain write) as the app would.
fn edit(device: &mut Device, doc: DocId, f: impl FnOnce(&mut CaseDoc, &Edit)) {
    device.write(doc, "setup", "x");
    let author = Author {
        user: device.user_id.parse().expect("user id"),
        device: device.id,
    };
    let e = Edit::new(author, Utc::now());
    let (am, _) = device.docs.get_mut(&doc).expect("held");
    let mut cd = CaseDoc::load(doc, Some(&am.save()), &[]).expect("case doc");
    let heads = cd.heads();
    f(&mut cd, &e);
    am.load_incremental(&cd.save_after(&heads)).expect("merge");
}

fn day(y: i32, m: u32, d: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(y, m, d)
}

fn set_profile(device: &mut Device, doc: DocId, change: impl FnOnce(&mut Profile)) {
    edit(device, doc, |cd, e| {
        let mut p = cd.profile().expect("profile");
        change(&mut p);
        cd.set_profile(e, &p).expect("saved");
    });
}

#[tokio::test]
async fn a_supervisor_lists_the_deadlines_of_their_teams_cases_soonest_first() {
    let h = Harness::new().await;
    // Server time: 2025-06-15 (the harness's START).
    let supervisor = h.person("supervisor").await;
    let mut guardian = h.person("guardian").await;
    let mut outsider = h.person("guardian").await;
    let team = h.new_team("East", &h.root_org).await;
    for user in [&supervisor.user_id, &guardian.user_id] {
        h.join(&team, user).await;
    }

    // Case A: referred on Friday 6 June 2025, no decision: due Friday 13 June, overdue. A
    // child returned on 14 June at 10:00: the return interview is due 17 June at 10:00.
    let a = new_case();
    set_profile(&mut guardian, doc(a, DocKind::Profile), |p| {
        p.case_reference = "EAST-A".into();
        p.nrm.referred_on = day(2025, 6, 6);
        p.nrm.route = NrmRoute::HomeOffice;
    });
    let returned = Utc.with_ymd_and_hms(2025, 6, 14, 10, 0, 0).single();
    let episode = EntryId::random(&mut rand::rngs::OsRng);
    edit(&mut guardian, doc(a, DocKind::Safety), |cd, e| {
        let ep = MissingEpisode {
            missing_since: Utc.with_ymd_and_hms(2025, 6, 13, 22, 0, 0).single(),
            returned_at: returned,
            ..MissingEpisode::default()
        };
        cd.start_missing_episode(e, episode, &ep).expect("episode");
    });
    // Case B: a care plan review on 1 July 2025; reasonable grounds found on 20 May, so
    // conclusive grounds from 19 June.
    let b = new_case();
    set_profile(&mut guardian, doc(b, DocKind::Profile), |p| {
        p.case_reference = "EAST-B".into();
        p.plans.care_plan = day(2025, 7, 1);
        p.nrm.referred_on = day(2025, 5, 14);
        p.nrm.reasonable_grounds = NrmDecision::Positive;
        p.nrm.reasonable_grounds_on = day(2025, 5, 20);
    });
    h.sync_until_quiet(&mut guardian).await;
    // Case C: another guardian's, outside the team: never listed.
    let c = new_case();
    set_profile(&mut outsider, doc(c, DocKind::Profile), |p| {
        p.case_reference = "CANARY-C".into();
        p.plans.care_plan = day(2025, 6, 1);
    });
    h.sync_until_quiet(&mut outsider).await;

    let r = h
        .raw(
            Method::GET,
            "/v1/deadlines",
            Some(&supervisor.token),
            vec![],
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let got: DeadlinesResponse = r.json();
    assert!(got.unreadable.is_empty(), "{:?}", got.unreadable);
    let listed: Vec<(&str, DeadlineKind, Option<NaiveDate>, bool)> = got
        .deadlines
        .iter()
        .map(|d| {
            (
                d.case_reference.as_str(),
                d.deadline.kind,
                Some(d.deadline.due_on),
                d.deadline.overdue,
            )
        })
        .collect();
    assert_eq!(
        listed,
        vec![
            (
                "EAST-A",
                DeadlineKind::ReasonableGrounds,
                day(2025, 6, 13),
                true
            ),
            (
                "EAST-A",
                DeadlineKind::ReturnInterview,
                day(2025, 6, 17),
                false
            ),
            (
                "EAST-B",
                DeadlineKind::ConclusiveGroundsFrom,
                day(2025, 6, 19),
                false
            ),
            (
                "EAST-B",
                DeadlineKind::CarePlanReview,
                day(2025, 7, 1),
                false
            ),
        ]
    );
    let ri = &got.deadlines[1];
    assert_eq!(ri.case_id, a);
    assert_eq!(
        ri.deadline.due_at,
        returned.map(|t| t + chrono::TimeDelta::hours(72))
    );
    assert_eq!(ri.deadline.record, format!("missing_episodes/{episode}"));
    assert!(!String::from_utf8_lossy(&r.body).contains("CANARY"));

    // A guardian is refused; no token is unauthenticated.
    let refused = h
        .raw(Method::GET, "/v1/deadlines", Some(&guardian.token), vec![])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let anonymous = h.raw(Method::GET, "/v1/deadlines", None, vec![]).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);

    // Time passes: the return interview becomes overdue.
    h.clock.advance(2 * 24 * 3600);
    let session: SessionResponse = h.open_session(&supervisor.id, &supervisor.key).await.json();
    let later: DeadlinesResponse = h
        .raw(Method::GET, "/v1/deadlines", Some(&session.token), vec![])
        .await
        .json();
    assert!(later.deadlines[1].deadline.overdue);
}

#[tokio::test]
async fn a_supervisor_sees_a_carers_check_that_fell_due_unlogged_until_it_is_logged() {
    let h = Harness::new().await;
    // Server time: 2025-06-15 15:06:40 UTC (the harness's START).
    let supervisor = h.person("supervisor").await;
    let mut guardian = h.person("guardian").await;
    let team = h.new_team("West", &h.root_org).await;
    for user in [&supervisor.user_id, &guardian.user_id] {
        h.join(&team, user).await;
    }
    // A step checked every 4 hours from 08:00 on 15 June: due at 12:00, not logged.
    let case = new_case();
    let safety = doc(case, DocKind::Safety);
    let step = EntryId::random(&mut rand::rngs::OsRng);
    edit(&mut guardian, safety, |cd, e| {
        let plan = PlanStep {
            description: "CANARY-phone-handed-in".into(),
            restricts: true,
            check_every_hours: Some(4),
            checks_from: Utc.with_ymd_and_hms(2025, 6, 15, 8, 0, 0).single(),
            ..PlanStep::default()
        };
        cd.add_plan_step(e, step, &plan).expect("step");
    });
    h.sync_until_quiet(&mut guardian).await;
    let listed = |r: &crate::support::Reply| -> Vec<(DeadlineKind, bool, String)> {
        let got: DeadlinesResponse = r.json();
        got.deadlines
            .into_iter()
            .map(|d| (d.deadline.kind, d.deadline.overdue, d.deadline.record))
            .collect()
    };
    let r = h
        .raw(
            Method::GET,
            "/v1/deadlines",
            Some(&supervisor.token),
            vec![],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        listed(&r),
        vec![(
            DeadlineKind::SafetyCheck,
            true,
            format!("plan_steps/{step}")
        )]
    );
    assert!(!String::from_utf8_lossy(&r.body).contains("CANARY"));

    // The carers log it late, at 15:00: no longer overdue (next due 19:00).
    edit(&mut guardian, safety, |cd, e| {
        let check = SafetyCheck {
            checked_at: Utc.with_ymd_and_hms(2025, 6, 15, 15, 0, 0).single(),
            step: Some(step),
            ..SafetyCheck::default()
        };
        let id = EntryId::random(&mut rand::rngs::OsRng);
        cd.log_safety_check(e, id, &check).expect("check");
    });
    h.sync_until_quiet(&mut guardian).await;
    let r = h
        .raw(
            Method::GET,
            "/v1/deadlines",
            Some(&supervisor.token),
            vec![],
        )
        .await;
    assert_eq!(listed(&r), vec![]);
}
