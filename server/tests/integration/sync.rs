//! The sync exchange through the HTTP router: two users sharing a case, carers' limits,
//! refusals, purges, no-op syncs and paging.

use axum::http::StatusCode;
use casebook_core::doc::DocKind;
use casebook_core::sync::wire::{
    DocMessage, PROTOCOL_VERSION, RejectReason, SyncRequest, SyncResponse,
};
use casebook_server::Settings;
use serde_json::json;

use crate::support::{Harness, doc, new_case};

#[tokio::test]
async fn two_users_exchange_a_document() {
    let h = Harness::new().await;
    let mut guardian = h.person("guardian").await;
    let mut worker = h.person("social_worker").await;
    let case = new_case();
    let profile = doc(case, DocKind::Profile);

    // The guardian creates the case offline; the first sync registers it.
    guardian.write(profile, "name", "A.");
    h.sync_until_quiet(&mut guardian).await;
    let events = h.audit_events(&profile).await;
    assert!(events.contains(&"write".to_owned()), "{events:?}");

    // Not yet assigned: the social worker sees nothing.
    let first = h.sync_until_quiet(&mut worker).await;
    assert!(
        first
            .iter()
            .all(|r| r.snapshots.is_empty() && r.messages.is_empty())
    );

    let r = h
        .admin_post(
            &format!("/v1/admin/cases/{case}/assignments"),
            json!({ "user_id": worker.user_id }),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let got = h.sync_until_quiet(&mut worker).await;
    assert_eq!(got[0].snapshots.len(), 1);
    assert_eq!(worker.read(&profile, "name").as_deref(), Some("A."));

    worker.write(profile, "status", "NRM referral made");
    h.sync_until_quiet(&mut worker).await;
    h.sync_until_quiet(&mut guardian).await;
    assert_eq!(
        guardian.read(&profile, "status").as_deref(),
        Some("NRM referral made")
    );
    assert_eq!(guardian.read(&profile, "name").as_deref(), Some("A."));
}

#[tokio::test]
async fn carer_receives_only_safety() {
    let h = Harness::new().await;
    let mut guardian = h.person("guardian").await;
    let mut carer = h.person("carer").await;
    let case = new_case();
    for kind in DocKind::ALL {
        guardian.write(doc(case, kind), "note", "SECRET-CONTENT");
    }
    h.sync_until_quiet(&mut guardian).await;
    let r = h
        .admin_post(
            &format!("/v1/admin/cases/{case}/placements"),
            json!({ "user_id": carer.user_id }),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);

    let req = SyncRequest {
        v: PROTOCOL_VERSION,
        cursor: 0,
        messages: vec![],
        purged: vec![],
        epoch: None,
    };
    let reply = h.sync_raw(&carer, &req).await;
    assert_eq!(reply.status, StatusCode::OK);
    let text = String::from_utf8_lossy(&reply.body).into_owned();
    for kind in [
        DocKind::Profile,
        DocKind::Visits,
        DocKind::Location,
        DocKind::Associates,
    ] {
        assert!(
            !text.contains(&doc(case, kind).to_string()),
            "{kind} leaked"
        );
    }
    assert!(text.contains(&doc(case, DocKind::Safety).to_string()));

    let all = h.sync_until_quiet(&mut carer).await;
    assert!(all.iter().all(|r| r.rejected.is_empty()));
    assert_eq!(carer.docs.len(), 1);
    assert_eq!(
        carer.read(&doc(case, DocKind::Safety), "note").as_deref(),
        Some("SECRET-CONTENT")
    );
    // The carer writes a safety check; the guardian gets it.
    carer.write(doc(case, DocKind::Safety), "check", "done");
    h.sync_until_quiet(&mut carer).await;
    h.sync_until_quiet(&mut guardian).await;
    assert_eq!(
        guardian
            .read(&doc(case, DocKind::Safety), "check")
            .as_deref(),
        Some("done")
    );
}

#[tokio::test]
async fn forbidden_write_is_refused_and_audited() {
    let h = Harness::new().await;
    let mut guardian = h.person("guardian").await;
    let mut carer = h.person("carer").await;
    let case = new_case();
    let profile = doc(case, DocKind::Profile);
    guardian.write(profile, "name", "B.");
    h.sync_until_quiet(&mut guardian).await;
    h.admin_post(
        &format!("/v1/admin/cases/{case}/placements"),
        json!({ "user_id": carer.user_id }),
    )
    .await;
    let seq_before = h
        .state
        .db
        .read(casebook_server::db::current_seq)
        .await
        .expect("seq");

    carer.write(profile, "name", "overwritten");
    let resp = h.sync_once(&mut carer).await;
    assert_eq!(resp.rejected.len(), 1);
    assert_eq!(resp.rejected[0].doc, profile);
    assert_eq!(resp.rejected[0].reason, RejectReason::Forbidden);
    assert!(
        h.audit_events(&profile)
            .await
            .contains(&"denied".to_owned())
    );
    let seq_after = h
        .state
        .db
        .read(casebook_server::db::current_seq)
        .await
        .expect("seq");
    assert_eq!(seq_before, seq_after);
    h.sync_until_quiet(&mut guardian).await;
    assert_eq!(guardian.read(&profile, "name").as_deref(), Some("B."));
}

#[tokio::test]
async fn carers_cannot_create_cases() {
    let h = Harness::new().await;
    let mut carer = h.person("carer").await;
    let case = new_case();
    carer.write(doc(case, DocKind::Safety), "x", "y");
    let resp = h.sync_once(&mut carer).await;
    assert_eq!(resp.rejected[0].reason, RejectReason::Forbidden);
    let org = h
        .state
        .db
        .read(move |c| casebook_server::directory::case_org(c, &case.to_string()))
        .await
        .expect("lookup");
    assert_eq!(org, None);
}

#[tokio::test]
async fn noop_sync_is_tiny_and_unaudited() {
    let h = Harness::new().await;
    let mut guardian = h.person("guardian").await;
    let case = new_case();
    guardian.write(doc(case, DocKind::Visits), "v1", "visit");
    h.sync_until_quiet(&mut guardian).await;
    let before = h.audit_count().await;
    let epoch = guardian.epoch.clone();
    assert!(
        epoch.is_some(),
        "the first answer told the device the store's epoch"
    );
    let mut req = SyncRequest {
        v: PROTOCOL_VERSION,
        cursor: guardian.cursor,
        messages: vec![],
        purged: vec![],
        epoch,
    };
    let reply = h.sync_raw(&guardian, &req).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.body.len() < 100, "{} bytes", reply.body.len());
    assert_eq!(reply.json::<SyncResponse>().epoch, None, "known: left out");
    assert_eq!(h.audit_count().await, before);
    // A device that names another epoch (its server was restored since) is told this one.
    req.epoch = Some("0000000000000000".into());
    let reply = h.sync_raw(&guardian, &req).await;
    assert_eq!(reply.json::<SyncResponse>().epoch, guardian.epoch);
}

#[tokio::test]
async fn access_ending_purges_and_confirmation_is_audited() {
    let h = Harness::new().await;
    let mut guardian = h.person("guardian").await;
    let mut worker = h.person("social_worker").await;
    let case = new_case();
    let location = doc(case, DocKind::Location);
    guardian.write(location, "address", "somewhere");
    h.sync_until_quiet(&mut guardian).await;
    h.admin_post(
        &format!("/v1/admin/cases/{case}/assignments"),
        json!({ "user_id": worker.user_id }),
    )
    .await;
    h.sync_until_quiet(&mut worker).await;
    assert!(worker.docs.contains_key(&location));

    let r = h
        .raw(
            axum::http::Method::DELETE,
            &format!("/v1/admin/cases/{case}/assignments/{}", worker.user_id),
            Some(&h.admin.token),
            vec![],
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let resp = h.sync_once(&mut worker).await;
    assert_eq!(resp.purge, vec![location]);

    let req = SyncRequest {
        v: PROTOCOL_VERSION,
        cursor: worker.cursor,
        messages: vec![],
        purged: vec![location],
        epoch: None,
    };
    let resp: casebook_core::sync::wire::SyncResponse = h.sync_raw(&worker, &req).await.json();
    assert!(resp.purge.is_empty());
    assert!(
        h.audit_events(&location)
            .await
            .contains(&"purge_confirmed".to_owned())
    );

    // Transfer to another organisation ends the guardian's access too.
    let org: serde_json::Value = h
        .admin_post(
            "/v1/admin/orgs",
            json!({ "name": "Joint", "authorities": ["A", "B"] }),
        )
        .await
        .json();
    let r = h
        .admin_post(
            &format!("/v1/admin/cases/{case}/transfer"),
            json!({ "org_id": org["id"] }),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let resp = h.sync_once(&mut guardian).await;
    assert_eq!(resp.purge, vec![location]);
    let audit = h
        .raw(
            axum::http::Method::GET,
            &format!("/v1/admin/audit?case={case}"),
            Some(&h.admin.token),
            vec![],
        )
        .await;
    assert_eq!(audit.status, StatusCode::OK);
    let text = String::from_utf8_lossy(&audit.body).into_owned();
    assert!(text.contains("case_transferred"));
    assert!(!text.contains("somewhere"));
}

#[tokio::test]
async fn large_pulls_are_paged_without_skipping() {
    let settings = Settings {
        response_budget: 1,
        ..Settings::default()
    };
    let h = Harness::with_settings(settings).await;
    let mut guardian = h.person("guardian").await;
    let case = new_case();
    for kind in DocKind::ALL {
        guardian.write(doc(case, kind), "k", kind.as_str());
    }
    h.sync_until_quiet(&mut guardian).await;

    let enrolled_again = {
        let code = h.code_for(&guardian.user_id).await;
        h.enrol_device(&code).await
    };
    let mut second = enrolled_again;
    let mut pages = 0;
    loop {
        let resp = h.sync_once(&mut second).await;
        pages += 1;
        assert!(resp.snapshots.len() <= 1);
        if !resp.more {
            break;
        }
    }
    assert!(pages >= 5, "{pages} pages");
    assert_eq!(second.docs.len(), 5);
    for kind in DocKind::ALL {
        assert_eq!(
            second.read(&doc(case, kind), "k").as_deref(),
            Some(kind.as_str())
        );
    }
}

#[tokio::test]
async fn request_level_errors() {
    let h = Harness::new().await;
    let guardian = h.person("guardian").await;
    let bad_version = SyncRequest {
        v: 99,
        cursor: 0,
        messages: vec![],
        purged: vec![],
        epoch: None,
    };
    let r = h.sync_raw(&guardian, &bad_version).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.error(), "unsupported_version");

    let d = doc(new_case(), DocKind::Profile);
    let dup = SyncRequest {
        v: PROTOCOL_VERSION,
        cursor: 0,
        messages: vec![
            DocMessage {
                doc: d,
                data: vec![1],
            },
            DocMessage {
                doc: d,
                data: vec![2],
            },
        ],
        purged: vec![],
        epoch: None,
    };
    let r = h.sync_raw(&guardian, &dup).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    let garbage = SyncRequest {
        v: PROTOCOL_VERSION,
        cursor: 0,
        messages: vec![DocMessage {
            doc: d,
            data: vec![0x42, 0xff, 0xff],
        }],
        purged: vec![],
        epoch: None,
    };
    let r = h.sync_raw(&guardian, &garbage).await;
    assert_eq!(r.status, StatusCode::OK);
    let resp: casebook_core::sync::wire::SyncResponse = r.json();
    assert_eq!(resp.rejected[0].reason, RejectReason::Quarantined);
}

#[tokio::test]
async fn supervisors_see_their_teams_cases_only() {
    let h = Harness::new().await;
    let mut supervisor = h.person("supervisor").await;
    let mut other_supervisor = h.person("supervisor").await;
    let team = h.new_team("South", &h.root_org).await;
    h.join(&team, &supervisor.user_id).await;

    // A supervisor's offline case goes to their team.
    let case = new_case();
    let visits = doc(case, DocKind::Visits);
    supervisor.write(visits, "v", "first visit");
    let resps = h.sync_until_quiet(&mut supervisor).await;
    assert!(resps.iter().all(|r| r.rejected.is_empty()));
    let team_of_case: Option<String> = h
        .state
        .db
        .read(move |c| {
            Ok(c.query_row(
                "SELECT team_id FROM cases WHERE id = ?1",
                [case.to_string()],
                |r| r.get(0),
            )?)
        })
        .await
        .expect("case");
    assert_eq!(team_of_case.as_deref(), Some(team.as_str()));

    let seen = h.sync_until_quiet(&mut other_supervisor).await;
    assert!(
        seen.iter()
            .all(|r| r.snapshots.is_empty() && r.messages.is_empty())
    );

    // A supervisor with no team cannot register cases.
    other_supervisor.write(doc(new_case(), DocKind::Profile), "x", "y");
    let resp = h.sync_once(&mut other_supervisor).await;
    assert_eq!(resp.rejected[0].reason, RejectReason::Forbidden);

    // Moving the case out of the team purges it from the supervisor.
    let r = h
        .raw(
            axum::http::Method::PUT,
            &format!("/v1/admin/cases/{case}/team"),
            Some(&h.admin.token),
            serde_json::to_vec(&json!({ "team_id": null })).expect("json"),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let resp = h.sync_once(&mut supervisor).await;
    assert_eq!(resp.purge, vec![visits]);
}

/// A supervisor who joins a team is sent every document of its cases at their next sync,
/// however many cases there are: the documents a device was never sent are looked up for many
/// cases a statement (`commit::offers`, 64 at a time), and a team of 130 cases takes three
/// such lookups, the last one short.
#[tokio::test]
async fn a_supervisor_joining_a_team_of_many_cases_is_sent_every_one() {
    const CASES: usize = 130;
    let h = Harness::with_settings(Settings {
        max_case_registrations_per_day: 1_000,
        ..Settings::default()
    })
    .await;
    let mut founder = h.person("supervisor").await;
    let mut joiner = h.person("supervisor").await;
    let team = h.new_team("East", &h.root_org).await;
    h.join(&team, &founder.user_id).await;
    let cases: Vec<_> = (0..CASES).map(|_| new_case()).collect();
    for (i, case) in cases.iter().enumerate() {
        founder.write(doc(*case, DocKind::Visits), "v", &format!("visit {i}"));
    }
    let pushed = h.sync_until_quiet(&mut founder).await;
    assert!(pushed.iter().all(|r| r.rejected.is_empty()));

    // The joiner syncs before joining: nothing is theirs, and their cursor passes every
    // document, so what they are sent on joining comes from the never-sent lookup alone.
    let mut before = h.sync_until_quiet(&mut joiner).await;
    before.push(h.sync_once(&mut joiner).await);
    assert!(
        before
            .iter()
            .all(|r| r.snapshots.is_empty() && r.messages.is_empty())
    );
    assert!(
        joiner.cursor >= u64::try_from(CASES).expect("small"),
        "the joiner's cursor {} should be past the team's documents",
        joiner.cursor
    );
    h.join(&team, &joiner.user_id).await;
    // One answer brings them all: an answer that says there is no more must have left none
    // out (a case missed here would wait for a later sync that happens to look again).
    let first = h.sync_once(&mut joiner).await;
    assert!(!first.more);
    assert_eq!(first.snapshots.len(), CASES);
    h.sync_until_quiet(&mut joiner).await;
    assert_eq!(joiner.docs.len(), CASES);
    for (i, case) in cases.iter().enumerate() {
        assert_eq!(
            joiner.read(&doc(*case, DocKind::Visits), "v").as_deref(),
            Some(format!("visit {i}").as_str()),
            "case {i}"
        );
    }
}
