//! One device cannot monopolise the writer: the daily limit on cases registered by sync, the
//! per-device rate limit, and two devices writing one document at the same time (the
//! compare-on-`seq` commit) both landing.

use automerge::sync::State;
use axum::http::StatusCode;
use casebook_core::doc::DocKind;
use casebook_core::sync::wire::{PROTOCOL_VERSION, RejectReason, SessionResponse, SyncRequest};
use casebook_server::Settings;
use serde_json::json;

use crate::support::{Harness, doc, new_case};

async fn count(h: &Harness, sql: &'static str) -> i64 {
    h.state
        .db
        .read(move |c| Ok(c.query_row(sql, [], |r| r.get(0))?))
        .await
        .expect("count")
}

#[tokio::test]
async fn case_registrations_are_limited_per_user_per_day() {
    let h = Harness::with_settings(Settings {
        max_case_registrations_per_day: 3,
        ..Settings::default()
    })
    .await;
    let mut guardian = h.person("guardian").await;
    let cases: Vec<_> = (0..5).map(|_| new_case()).collect();
    for case in &cases {
        guardian.write(doc(*case, DocKind::Visits), "note", "first visit");
    }
    let cases_before = count(&h, "SELECT COUNT(*) FROM cases").await;
    let resp = h.sync_once(&mut guardian).await;
    let refused: Vec<_> = resp
        .rejected
        .iter()
        .filter(|r| r.reason == RejectReason::Quarantined)
        .map(|r| r.doc)
        .collect();
    assert_eq!(refused.len(), 2, "{:?}", resp.rejected);
    assert_eq!(
        count(&h, "SELECT COUNT(*) FROM cases").await - cases_before,
        3
    );
    assert_eq!(
        count(
            &h,
            "SELECT COUNT(*) FROM audit WHERE event = 'case_registration_refused'"
        )
        .await,
        1,
        "one audit row for the refusal"
    );

    // A day later the refused cases register.
    h.clock.advance(24 * 3600 + 1);
    let session: SessionResponse = h.open_session(&guardian.id, &guardian.key).await.json();
    guardian.token = session.token;
    for d in &refused {
        if let Some((_, state)) = guardian.docs.get_mut(d) {
            *state = State::new();
        }
        guardian.write(*d, "note", "second visit");
    }
    let resp = h.sync_once(&mut guardian).await;
    assert!(resp.rejected.is_empty(), "{:?}", resp.rejected);
    assert_eq!(
        count(&h, "SELECT COUNT(*) FROM cases").await - cases_before,
        5
    );
}

#[tokio::test]
async fn a_device_over_its_rate_gets_429_with_retry_after_then_recovers() {
    let h = Harness::with_settings(Settings {
        sync_burst: 2,
        sync_per_minute: 6,
        ..Settings::default()
    })
    .await;
    let guardian = h.person("guardian").await;
    let carer = h.person("carer").await;
    let noop = SyncRequest {
        v: PROTOCOL_VERSION,
        cursor: 0,
        messages: vec![],
        purged: vec![],
        epoch: None,
    };
    for _ in 0..2 {
        assert_eq!(h.sync_raw(&guardian, &noop).await.status, StatusCode::OK);
    }
    let refused = h.sync_raw(&guardian, &noop).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.error(), "rate_limited");
    let audit_before = h.audit_count().await;
    // Another device is unaffected.
    assert_eq!(h.sync_raw(&carer, &noop).await.status, StatusCode::OK);
    // One request every 10 seconds refills.
    h.clock.advance(10);
    assert_eq!(h.sync_raw(&guardian, &noop).await.status, StatusCode::OK);
    assert_eq!(
        h.sync_raw(&guardian, &noop).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        h.audit_count().await,
        audit_before,
        "refusals do not flood the audit"
    );
}

#[tokio::test]
async fn the_retry_after_header_says_when() {
    let h = Harness::with_settings(Settings {
        sync_burst: 1,
        sync_per_minute: 2,
        ..Settings::default()
    })
    .await;
    let guardian = h.person("guardian").await;
    let noop = SyncRequest {
        v: PROTOCOL_VERSION,
        cursor: 0,
        messages: vec![],
        purged: vec![],
        epoch: None,
    };
    assert_eq!(h.sync_raw(&guardian, &noop).await.status, StatusCode::OK);
    let req = axum::http::Request::builder()
        .method("POST")
        .uri("/v1/sync")
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {}", guardian.token))
        .body(axum::body::Body::from(
            serde_json::to_vec(&noop).expect("encode"),
        ))
        .expect("request");
    let resp = tower::ServiceExt::oneshot(h.app.clone(), req)
        .await
        .expect("infallible");
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .expect("Retry-After");
    assert_eq!(retry, "30");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_devices_writing_one_document_at_once_both_land() {
    let h = Harness::new().await;
    let mut a = h.person("guardian").await;
    let mut b = h.person("social_worker").await;
    let case = new_case();
    let visits = doc(case, DocKind::Visits);
    a.write(visits, "opened", "yes");
    h.sync_until_quiet(&mut a).await;
    let r = h
        .admin_post(
            &format!("/v1/admin/cases/{case}/assignments"),
            json!({ "user_id": b.user_id }),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    h.sync_until_quiet(&mut b).await;
    assert_eq!(b.read(&visits, "opened").as_deref(), Some("yes"));

    const ROUNDS: usize = 12;
    for i in 0..ROUNDS {
        a.write(visits, &format!("a{i}"), "from a");
        b.write(visits, &format!("b{i}"), "from b");
        let (ra, rb) = tokio::join!(h.sync_once(&mut a), h.sync_once(&mut b));
        assert!(ra.rejected.is_empty() && rb.rejected.is_empty());
    }
    for _ in 0..2 {
        h.sync_until_quiet(&mut a).await;
        h.sync_until_quiet(&mut b).await;
    }
    for i in 0..ROUNDS {
        for device in [&a, &b] {
            assert_eq!(
                device.read(&visits, &format!("a{i}")).as_deref(),
                Some("from a")
            );
            assert_eq!(
                device.read(&visits, &format!("b{i}")).as_deref(),
                Some("from b")
            );
        }
    }
}
