//! Enrolment codes, challenges, sessions and revocation.

use axum::http::StatusCode;
use casebook_core::sync::wire::{ChallengeResponse, PROTOCOL_VERSION, SyncRequest};
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use serde_json::json;

use crate::support::{Harness, b64};

fn fresh_key() -> SigningKey {
    SigningKey::random(&mut rand::rngs::OsRng)
}

#[tokio::test]
async fn enrolment_code_is_single_use() {
    let h = Harness::new().await;
    let reply = h.enrol(&h.admin_code_used, &fresh_key()).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.error(), "enrolment_code_invalid");
}

#[tokio::test]
async fn wrong_and_expired_codes_are_refused() {
    let h = Harness::new().await;
    let wrong = h.enrol("AAAAA-BBBBB-CCCCC-DDDDD", &fresh_key()).await;
    assert_eq!(wrong.error(), "enrolment_code_invalid");

    let user = h.create_user("guardian", &h.root_org).await;
    let code = h.code_for(&user).await;
    h.clock.advance(24 * 3600 + 1);
    let expired = h.enrol(&code, &fresh_key()).await;
    assert_eq!(expired.status, StatusCode::UNAUTHORIZED);
    assert_eq!(expired.error(), "enrolment_code_invalid");
}

#[tokio::test]
async fn codes_are_accepted_in_lower_case_without_dashes() {
    let h = Harness::new().await;
    let user = h.create_user("carer", &h.root_org).await;
    let code = h.code_for(&user).await.replace('-', "").to_lowercase();
    let reply = h.enrol(&code, &fresh_key()).await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test]
async fn failed_attempts_are_rate_limited_but_a_valid_code_always_enrols() {
    let h = Harness::new().await;
    let user = h.create_user("guardian", &h.root_org).await;
    let good = h.code_for(&user).await;
    for _ in 0..5 {
        let r = h.enrol("WRONG-WRONG-WRONG-WRONG", &fresh_key()).await;
        assert_eq!(r.error(), "enrolment_code_invalid");
    }
    // The address is slowed: its next wrong codes are refused without being looked at...
    let limited = h.enrol("WRONG-WRONG-WRONG-WRONG", &fresh_key()).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.error(), "rate_limited");
    // ...but a valid, unused code from the same address still enrols.
    assert_eq!(h.enrol(&good, &fresh_key()).await.status, StatusCode::OK);
    // Replaying the used code is slowed too; the window passing forgives everything.
    let replay = h.enrol(&good, &fresh_key()).await;
    assert_eq!(replay.status, StatusCode::TOO_MANY_REQUESTS);
    h.clock.advance(16 * 60);
    let r = h.enrol("WRONG-WRONG-WRONG-WRONG", &fresh_key()).await;
    assert_eq!(r.error(), "enrolment_code_invalid");
}

#[tokio::test]
async fn bad_signature_is_refused_and_audited() {
    let h = Harness::new().await;
    let device = &h.admin;
    let ch: ChallengeResponse = h.challenge(&device.id).await.json();
    let wrong_key = fresh_key();
    let sig: Signature = wrong_key.sign(&casebook_core::sync::wire::session_signing_payload(
        &device.id,
        &ch.challenge,
    ));
    let body = json!({
        "device_id": device.id,
        "challenge": b64(&ch.challenge),
        "signature": b64(sig.to_der().as_bytes()),
    });
    let before = h.audit_count().await;
    let reply = h.post("/v1/session", None, &body).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.error(), "unauthenticated");
    assert_eq!(h.audit_count().await, before + 1);
    // Garbage instead of a DER signature is refused the same way.
    let body = json!({ "device_id": device.id, "challenge": b64(&ch.challenge), "signature": b64(b"junk") });
    assert_eq!(
        h.post("/v1/session", None, &body).await.error(),
        "unauthenticated"
    );
}

#[tokio::test]
async fn challenges_are_single_use_and_expire() {
    let h = Harness::new().await;
    let device = &h.admin;
    let ch: ChallengeResponse = h.challenge(&device.id).await.json();
    let sig: Signature = device
        .key
        .sign(&casebook_core::sync::wire::session_signing_payload(
            &device.id,
            &ch.challenge,
        ));
    let body = json!({
        "device_id": device.id,
        "challenge": b64(&ch.challenge),
        "signature": b64(sig.to_der().as_bytes()),
    });
    assert_eq!(
        h.post("/v1/session", None, &body).await.status,
        StatusCode::OK
    );
    let replay = h.post("/v1/session", None, &body).await;
    assert_eq!(replay.status, StatusCode::UNAUTHORIZED);

    let ch: ChallengeResponse = h.challenge(&device.id).await.json();
    let sig: Signature = device
        .key
        .sign(&casebook_core::sync::wire::session_signing_payload(
            &device.id,
            &ch.challenge,
        ));
    h.clock.advance(ch.expires_in as i64 + 1);
    let body = json!({
        "device_id": device.id,
        "challenge": b64(&ch.challenge),
        "signature": b64(sig.to_der().as_bytes()),
    });
    let late = h.post("/v1/session", None, &body).await;
    assert_eq!(late.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn sessions_expire() {
    let h = Harness::new().await;
    let guardian = h.person("guardian").await;
    let req = SyncRequest {
        v: PROTOCOL_VERSION,
        cursor: 0,
        messages: vec![],
        purged: vec![],
        epoch: None,
    };
    assert_eq!(h.sync_raw(&guardian, &req).await.status, StatusCode::OK);
    h.clock.advance(15 * 60 + 1);
    let reply = h.sync_raw(&guardian, &req).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.error(), "unauthenticated");
    let none = h
        .raw(axum::http::Method::POST, "/v1/sync", None, b"{}".to_vec())
        .await;
    assert_eq!(none.error(), "unauthenticated");
}

#[tokio::test]
async fn revoked_device_gets_device_revoked_everywhere() {
    let h = Harness::new().await;
    let guardian = h.person("guardian").await;
    // A challenge fetched before the revocation, signed properly, used after it.
    let early: ChallengeResponse = h.challenge(&guardian.id).await.json();
    let sig: Signature = guardian
        .key
        .sign(&casebook_core::sync::wire::session_signing_payload(
            &guardian.id,
            &early.challenge,
        ));
    let listed = h
        .raw(
            axum::http::Method::GET,
            &format!("/v1/admin/devices?user={}", guardian.user_id),
            Some(&h.admin.token),
            vec![],
        )
        .await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(listed.json::<Vec<serde_json::Value>>().len(), 1);

    let r = h
        .admin_post(
            &format!("/v1/admin/devices/{}/revoke", guardian.id),
            json!(null),
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
    let sync = h.sync_raw(&guardian, &req).await;
    assert_eq!(sync.status, StatusCode::FORBIDDEN);
    assert_eq!(sync.error(), "device_revoked");
    // The challenge does not say that the device is revoked (anyone may ask for one)...
    let ch = h.challenge(&guardian.id).await;
    assert_eq!(ch.status, StatusCode::OK);
    let late: ChallengeResponse = ch.json();
    // ...nor does a session without the device's signature...
    let forged: Signature = fresh_key().sign(&casebook_core::sync::wire::session_signing_payload(
        &guardian.id,
        &late.challenge,
    ));
    let body = json!({
        "device_id": guardian.id,
        "challenge": b64(&late.challenge),
        "signature": b64(forged.to_der().as_bytes()),
    });
    let session = h.post("/v1/session", None, &body).await;
    assert_eq!(session.status, StatusCode::UNAUTHORIZED);
    assert_eq!(session.error(), "unauthenticated");
    // ...but the device itself, proving its key, learns it (and wipes its store).
    let body = json!({
        "device_id": guardian.id,
        "challenge": b64(&early.challenge),
        "signature": b64(sig.to_der().as_bytes()),
    });
    let session = h.post("/v1/session", None, &body).await;
    assert_eq!(session.status, StatusCode::FORBIDDEN);
    assert_eq!(session.error(), "device_revoked");
}

#[tokio::test]
async fn only_admins_and_team_supervisors_issue_codes() {
    let h = Harness::new().await;
    let supervisor = h.person("supervisor").await;
    let guardian = h.create_user("guardian", &h.root_org).await;
    let path = format!("/v1/admin/users/{guardian}/enrolment-code");
    let refused = h.post(&path, Some(&supervisor.token), &json!({})).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    let team = h.new_team("North", &h.root_org).await;
    for user in [&supervisor.user_id, &guardian] {
        h.join(&team, user).await;
    }
    let issued = h.post(&path, Some(&supervisor.token), &json!({})).await;
    assert_eq!(issued.status, StatusCode::OK);
    // A guardian cannot administer anything.
    let g = h
        .enrol_device(
            issued.json::<serde_json::Value>()["code"]
                .as_str()
                .expect("code"),
        )
        .await;
    let r = h
        .post(
            "/v1/admin/users",
            Some(&g.token),
            &json!({"name":"x","role":"carer","org_id":h.root_org}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}
