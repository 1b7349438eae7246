//! Issue 8, enrolment and authentication abuse: limits that cannot lock out a valid code,
//! limits that survive a restart, challenges that do not tell whether a device exists or is
//! revoked, a case id that does not tell whether another organisation holds it, and the
//! defaults of a data directory (modes, the first administrator's code).

use std::net::SocketAddr;
use std::path::Path;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode};
use casebook_core::ids::DeviceId;
use casebook_core::sync::wire::{ChallengeResponse, session_signing_payload};
use casebook_server::{AppState, Clock, Settings, open_data_dir, router};
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::support::{Harness, Reply, START, b64};

fn fresh_key() -> SigningKey {
    SigningKey::random(&mut rand::rngs::OsRng)
}

/// POST `body` to `app` as if from `ip` (the address the server sees on a socket).
async fn post_from(app: &Router, ip: &str, path: &str, body: &Value) -> Reply {
    let peer: SocketAddr = SocketAddr::new(ip.parse().expect("ip"), 40_000);
    let req = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header("content-type", "application/json")
        .extension(ConnectInfo(peer))
        .body(Body::from(serde_json::to_vec(body).expect("encode")))
        .expect("request");
    let resp = app.clone().oneshot(req).await.expect("infallible");
    let status = resp.status();
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .expect("body")
        .to_vec();
    Reply { status, body }
}

fn enrol_body(code: &str) -> Value {
    let public = fresh_key().verifying_key().to_encoded_point(false);
    json!({
        "code": code,
        "public_key": b64(public.as_bytes()),
        "device_name": "phone",
    })
}

const WRONG: &str = "WRONG-WRONG-WRONG-WRONG";

#[tokio::test]
async fn a_valid_code_enrols_from_a_fresh_address_after_100_failures_from_20() {
    let h = Harness::new().await;
    let user = h.create_user("guardian", &h.root_org).await;
    let good = h.code_for(&user).await;
    for host in 2..22 {
        for _ in 0..5 {
            let r = post_from(
                &h.app,
                &format!("127.0.0.{host}"),
                "/v1/enrol",
                &enrol_body(WRONG),
            )
            .await;
            assert_eq!(r.error(), "enrolment_code_invalid");
        }
    }
    let r = post_from(&h.app, "127.0.0.99", "/v1/enrol", &enrol_body(&good)).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    // The failing addresses are slowed for wrong codes, not for valid ones.
    let slowed = post_from(&h.app, "127.0.0.2", "/v1/enrol", &enrol_body(WRONG)).await;
    assert_eq!(slowed.error(), "rate_limited");
    let other = h.code_for(&user).await;
    let r = post_from(&h.app, "127.0.0.2", "/v1/enrol", &enrol_body(&other)).await;
    assert_eq!(r.status, StatusCode::OK);
    // Enrolment failures are aggregated in the audit: not one row per wrong code.
    let rows: i64 = h
        .state
        .db
        .read(|c| {
            Ok(c.query_row(
                "SELECT COUNT(*) FROM audit WHERE event = 'enrol_denied'",
                [],
                |r| r.get(0),
            )?)
        })
        .await
        .expect("count");
    assert!(rows <= 40, "{rows} audit rows for 101 failures");
}

#[tokio::test]
async fn ipv6_addresses_are_limited_by_their_slash_64() {
    let h = Harness::new().await;
    for i in 1..=5 {
        let ip = format!("2001:db8:aa:bb::{i}");
        let r = post_from(&h.app, &ip, "/v1/enrol", &enrol_body(WRONG)).await;
        assert_eq!(r.error(), "enrolment_code_invalid");
    }
    let same = post_from(
        &h.app,
        "2001:db8:aa:bb:ffff::7",
        "/v1/enrol",
        &enrol_body(WRONG),
    )
    .await;
    assert_eq!(same.error(), "rate_limited");
    let next = post_from(&h.app, "2001:db8:aa:bc::1", "/v1/enrol", &enrol_body(WRONG)).await;
    assert_eq!(next.error(), "enrolment_code_invalid");
}

fn open(dir: &Path, clock: &Clock) -> (AppState, Router, Option<String>) {
    let opened = open_data_dir(dir, clock.clone(), Settings::default()).expect("open");
    let app = router(opened.state.clone());
    (opened.state, app, opened.first_admin_code)
}

#[tokio::test]
async fn limits_survive_a_restart() {
    let dir = tempfile::tempdir().expect("dir");
    let clock = Clock::manual(START);
    let (state, app, code) = open(dir.path(), &clock);
    let code = code.expect("first start");
    for _ in 0..5 {
        let r = post_from(&app, "192.0.2.1", "/v1/enrol", &enrol_body(WRONG)).await;
        assert_eq!(r.error(), "enrolment_code_invalid");
    }
    let device = DeviceId::random(&mut rand::rngs::OsRng);
    for _ in 0..10 {
        let bad =
            json!({ "device_id": device, "challenge": b64(&[1; 32]), "signature": b64(b"x") });
        let r = post_from(&app, "192.0.2.2", "/v1/session", &bad).await;
        assert_eq!(r.error(), "unauthenticated");
    }
    drop((state, app));

    let (_state, app, again) = open(dir.path(), &clock);
    assert!(again.is_none(), "not a first start");
    let r = post_from(&app, "192.0.2.1", "/v1/enrol", &enrol_body(WRONG)).await;
    assert_eq!(r.error(), "rate_limited", "the address is still slowed");
    let bad = json!({ "device_id": device, "challenge": b64(&[2; 32]), "signature": b64(b"x") });
    let r = post_from(&app, "192.0.2.3", "/v1/session", &bad).await;
    assert_eq!(r.error(), "rate_limited", "the device id is still slowed");
    let r = post_from(&app, "192.0.2.1", "/v1/enrol", &enrol_body(&code)).await;
    assert_eq!(r.status, StatusCode::OK, "a valid code still enrols");
}

/// Status, error code and the shape of the body (keys, challenge length, lifetime).
fn shape(r: &Reply) -> (StatusCode, Value) {
    let v: Value = serde_json::from_slice(&r.body).expect("json");
    let mut shape = json!({});
    if let Some(obj) = v.as_object() {
        for (k, val) in obj {
            shape[k] = match (k.as_str(), val) {
                ("challenge", Value::String(s)) => json!(s.len()),
                ("expires_in", n) => n.clone(),
                ("error", e) => e.clone(),
                _ => json!("present"),
            };
        }
    }
    (r.status, shape)
}

#[tokio::test]
async fn challenges_answer_alike_for_unknown_revoked_and_live_devices() {
    let h = Harness::new().await;
    let live = h.person("guardian").await;
    let revoked = h.person("carer").await;
    let r = h
        .admin_post(
            &format!("/v1/admin/devices/{}/revoke", revoked.id),
            json!(null),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let unknown = DeviceId::random(&mut rand::rngs::OsRng);

    let a = shape(&h.challenge(&live.id).await);
    let b = shape(&h.challenge(&revoked.id).await);
    let c = shape(&h.challenge(&unknown).await);
    assert_eq!(a.0, StatusCode::OK);
    assert_eq!(a, b, "revoked answers like live");
    assert_eq!(a, c, "unknown answers like live");

    // A session with a wrong key is refused alike too, message included.
    let mut answers = Vec::new();
    for id in [live.id, revoked.id, unknown] {
        let ch: ChallengeResponse = h.challenge(&id).await.json();
        let sig: Signature = fresh_key().sign(&session_signing_payload(&id, &ch.challenge));
        let body = json!({
            "device_id": id,
            "challenge": b64(&ch.challenge),
            "signature": b64(sig.to_der().as_bytes()),
        });
        let r = h.post("/v1/session", None, &body).await;
        answers.push((r.status, String::from_utf8_lossy(&r.body).into_owned()));
    }
    assert_eq!(answers[0].0, StatusCode::UNAUTHORIZED);
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[0], answers[2]);
}

#[tokio::test]
async fn a_device_keeps_five_live_challenges_the_oldest_dropped() {
    let h = Harness::new().await;
    let g = h.person("guardian").await;
    let mut all = Vec::new();
    for _ in 0..7 {
        all.push(h.challenge(&g.id).await.json::<ChallengeResponse>());
        h.clock.advance(1);
    }
    let live: i64 = h
        .state
        .db
        .read(move |c| {
            Ok(c.query_row(
                "SELECT COUNT(*) FROM challenges WHERE device_id = ?1",
                [g.id.to_string()],
                |r| r.get(0),
            )?)
        })
        .await
        .expect("count");
    assert_eq!(live, 5);
    let try_session = |ch: &ChallengeResponse| {
        let sig: Signature = g.key.sign(&session_signing_payload(&g.id, &ch.challenge));
        json!({
            "device_id": g.id,
            "challenge": b64(&ch.challenge),
            "signature": b64(sig.to_der().as_bytes()),
        })
    };
    let oldest = h.post("/v1/session", None, &try_session(&all[0])).await;
    assert_eq!(oldest.status, StatusCode::UNAUTHORIZED);
    let newest = h.post("/v1/session", None, &try_session(&all[6])).await;
    assert_eq!(newest.status, StatusCode::OK);
}

#[tokio::test]
async fn session_failures_are_aggregated_and_name_the_claimed_device_as_subject() {
    let h = Harness::new().await;
    let victim = h.person("guardian").await;
    let before = h.audit_count().await;
    let mut limited = 0;
    for i in 0..200 {
        let bad = json!({
            "device_id": victim.id,
            "challenge": b64(&[7; 32]),
            "signature": b64(b"junk"),
        });
        let r = post_from(
            &h.app,
            &format!("10.0.{}.{}", i / 250, i % 250 + 1),
            "/v1/session",
            &bad,
        )
        .await;
        match r.status {
            StatusCode::UNAUTHORIZED => {}
            StatusCode::TOO_MANY_REQUESTS => limited += 1,
            other => panic!("{other}"),
        }
    }
    assert!(limited >= 150, "{limited} of 200 limited");
    let added = h.audit_count().await - before;
    assert!(added <= 3, "{added} audit rows for 200 failures");
    let victim_id = victim.id.to_string();
    let (as_actor, as_subject): (i64, i64) = h
        .state
        .db
        .read(move |c| {
            Ok(c.query_row(
                "SELECT SUM(CASE WHEN actor_device = ?1 THEN 1 ELSE 0 END),
                        SUM(CASE WHEN subject = ?1 THEN 1 ELSE 0 END) FROM audit
                 WHERE event = 'auth_failed'",
                [&victim_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?)
        })
        .await
        .expect("rows");
    assert_eq!(as_actor, 0, "the victim is not the actor");
    assert!(as_subject >= 1);
    // The victim's own session still opens.
    let r = h.open_session(&victim.id, &victim.key).await;
    assert_eq!(r.status, StatusCode::OK);
}

/// An administrator of a new organisation (not the root one).
async fn org_admin(h: &Harness, name: &str) -> (String, crate::support::Device) {
    let org: Value = h
        .admin_post("/v1/admin/orgs", json!({ "name": name, "authorities": [] }))
        .await
        .json();
    let org = org["id"].as_str().expect("id").to_owned();
    let user = h.create_user("administrator", &org).await;
    let code = h.code_for(&user).await;
    (org, h.enrol_device(&code).await)
}

#[tokio::test]
async fn another_organisations_case_id_answers_as_an_unknown_one() {
    let h = Harness::new().await;
    let (org_a, admin_a) = org_admin(&h, "Hull").await;
    let (org_b, admin_b) = org_admin(&h, "Leeds").await;
    let theirs = casebook_core::ids::CaseId::random(&mut rand::rngs::OsRng);
    let r = h
        .post(
            "/v1/admin/cases",
            Some(&admin_a.token),
            &json!({ "org_id": org_a, "case_id": theirs }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);

    let unknown = casebook_core::ids::CaseId::random(&mut rand::rngs::OsRng);
    let mut answers = Vec::new();
    for case in [theirs, unknown] {
        let r = h
            .post(
                "/v1/admin/cases",
                Some(&admin_b.token),
                &json!({ "org_id": org_b, "case_id": case }),
            )
            .await;
        let body: Value = r.json();
        assert_eq!(body["id"], json!(case.to_string()));
        answers.push((r.status, body.as_object().map(|o| o.len())));
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[0].0, StatusCode::OK);
    // Asking twice answers alike too, and the case stays with its organisation.
    for case in [theirs, unknown] {
        let r = h
            .post(
                "/v1/admin/cases",
                Some(&admin_b.token),
                &json!({ "org_id": org_b, "case_id": case }),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
    }
    let theirs_id = theirs.to_string();
    let owner: String = h
        .state
        .db
        .read(move |c| {
            Ok(
                c.query_row("SELECT org_id FROM cases WHERE id = ?1", [theirs_id], |r| {
                    r.get(0)
                })?,
            )
        })
        .await
        .expect("owner");
    assert_eq!(owner, org_a);
    // The probe is in the audit under the case, where its organisation looks.
    let r = h
        .raw(
            Method::GET,
            &format!("/v1/admin/audit?case={theirs}"),
            Some(&admin_a.token),
            vec![],
        )
        .await;
    let rows: Vec<Value> = r.json();
    assert!(
        rows.iter()
            .any(|row| row["event"] == "case_register_ignored"
                && row["actor_device"] == json!(admin_b.id.to_string())),
        "{rows:?}"
    );
}

#[cfg(unix)]
#[tokio::test]
async fn a_loose_pre_existing_data_directory_is_tightened_on_start() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
    let chmod = |p: &Path, m: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).expect("chmod")
    };
    let parent = tempfile::tempdir().expect("dir");
    let dir = parent.path().join("data");
    std::fs::create_dir(&dir).expect("mkdir");
    chmod(&dir, 0o755);
    let clock = Clock::manual(START);
    drop(open(&dir, &clock));
    // An older version, a restore or an operator left everything readable.
    chmod(&dir, 0o755);
    let db = dir.join("casebook.sqlite");
    chmod(&db, 0o644);
    for extra in ["casebook.sqlite-wal", "casebook.sqlite-shm"] {
        let p = dir.join(extra);
        if !p.exists() {
            std::fs::write(&p, b"").expect("create");
        }
        chmod(&p, 0o644);
    }
    let (state, _app, _) = open(&dir, &clock);
    assert_eq!(mode(&dir), 0o700);
    for name in [
        "casebook.sqlite",
        "casebook.sqlite-wal",
        "casebook.sqlite-shm",
        "db.key",
    ] {
        assert_eq!(mode(&dir.join(name)), 0o600, "{name}");
    }
    drop(state);
}

#[tokio::test]
async fn the_first_administrators_code_lasts_one_hour() {
    let dir = tempfile::tempdir().expect("dir");
    let clock = Clock::manual(START);
    let (_state, app, code) = open(dir.path(), &clock);
    let code = code.expect("first start");
    clock.advance(3600);
    let r = post_from(&app, "192.0.2.9", "/v1/enrol", &enrol_body(&code)).await;
    assert_eq!(
        r.error(),
        "enrolment_code_invalid",
        "expired after one hour"
    );
}

/// A `/v1/session` body: `challenge` signed by `key` for `device`.
fn signed_session(key: &SigningKey, device: DeviceId, challenge: &[u8]) -> Value {
    let sig: Signature = key.sign(&session_signing_payload(&device, challenge));
    json!({
        "device_id": device,
        "challenge": b64(challenge),
        "signature": b64(sig.to_der().as_bytes()),
    })
}

/// A device id is public (the automerge actor on every change its device made). Someone who
/// knows it asks for more challenges for it than its limit, from another address, as fast as
/// it is allowed: the device, asking from its own address, still gets a challenge, its
/// challenge is not evicted by the flood, and it opens a session.
#[tokio::test]
async fn challenges_asked_from_another_address_cannot_lock_out_a_device() {
    let h = Harness::new().await;
    let victim = h.person("guardian").await;
    let ask = |ip: &'static str| {
        let app = h.app.clone();
        let id = victim.id;
        async move { post_from(&app, ip, "/v1/challenge", &json!({ "device_id": id })).await }
    };
    let mine = ask("127.0.0.2").await;
    assert_eq!(mine.status, StatusCode::OK);
    let mine: ChallengeResponse = mine.json();
    let mut limited = 0;
    for _ in 0..(h.state.settings.max_challenges_per_device + 10) {
        if ask("127.0.0.66").await.status == StatusCode::TOO_MANY_REQUESTS {
            limited += 1;
        }
    }
    assert!(limited >= 10, "the flooding address is limited ({limited})");
    let again = ask("127.0.0.2").await;
    assert_eq!(again.status, StatusCode::OK, "the device's own address");
    let session = signed_session(&victim.key, victim.id, &mine.challenge);
    let opened = post_from(&h.app, "127.0.0.2", "/v1/session", &session).await;
    assert_eq!(
        opened.status,
        StatusCode::OK,
        "the challenge asked before the flood still opens a session: {}",
        String::from_utf8_lossy(&opened.body)
    );
}

/// A phone opens a session for every sync (a new challenge each time). Ten times the
/// challenge limit of sessions from one address in one window are all opened: a redeemed
/// challenge is not held against its device. Challenges asked and left unused from that
/// address are still limited at the limit.
#[tokio::test]
async fn a_device_opening_a_session_for_every_sync_is_never_limited_but_unused_challenges_are() {
    let h = Harness::new().await;
    let phone = h.person("guardian").await;
    let limit = h.state.settings.max_challenges_per_device;
    let ask = || async {
        post_from(
            &h.app,
            "127.0.0.2",
            "/v1/challenge",
            &json!({ "device_id": phone.id }),
        )
        .await
    };
    for n in 0..limit * 10 {
        let r = ask().await;
        assert_eq!(r.status, StatusCode::OK, "challenge {n} of a syncing phone");
        let challenge: ChallengeResponse = r.json();
        let session = signed_session(&phone.key, phone.id, &challenge.challenge);
        let opened = post_from(&h.app, "127.0.0.2", "/v1/session", &session).await;
        assert_eq!(
            opened.status,
            StatusCode::OK,
            "session {n} of a syncing phone"
        );
    }
    let mut statuses = Vec::new();
    for _ in 0..limit + 5 {
        statuses.push(ask().await.status);
    }
    let granted = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!(
        granted,
        usize::try_from(limit).expect("limit"),
        "unused challenges are limited at the limit"
    );
    assert!(
        statuses[granted..]
            .iter()
            .all(|s| *s == StatusCode::TOO_MANY_REQUESTS),
        "then 429: {statuses:?}"
    );
}

/// A supervisor issues codes for the guardians of their team, then is taken off the team (or
/// disabled). The codes they issued go with their authority: none of them enrols a device
/// afterwards, so a supervisor cannot keep a way to become a guardian of the team.
#[tokio::test]
async fn a_supervisors_codes_stop_working_when_the_supervisor_leaves_the_team_or_is_disabled() {
    let h = Harness::new().await;
    let supervisor = h.person("supervisor").await;
    let guardian = h.create_user("guardian", &h.root_org).await;
    let team = h
        .admin_post(
            "/v1/admin/teams",
            json!({ "name": "north", "org_id": h.root_org }),
        )
        .await
        .json::<Value>()["id"]
        .as_str()
        .expect("team id")
        .to_owned();
    for member in [&supervisor.user_id, &guardian] {
        let r = h
            .admin_post(
                &format!("/v1/admin/teams/{team}/members"),
                json!({ "user_id": member }),
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
    }
    let issue = || async {
        let r = h
            .post(
                &format!("/v1/admin/users/{guardian}/enrolment-code"),
                Some(&supervisor.token),
                &json!({}),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "{}",
            String::from_utf8_lossy(&r.body)
        );
        r.json::<Value>()["code"].as_str().expect("code").to_owned()
    };
    let kept_after_leaving = issue().await;
    let kept_after_disabling = issue().await;
    let still_good = issue().await;
    // While the supervisor is in the team, their code enrols.
    assert_eq!(
        h.enrol(&still_good, &fresh_key()).await.status,
        StatusCode::OK
    );

    let removed = h
        .raw(
            Method::DELETE,
            &format!("/v1/admin/teams/{team}/members/{}", supervisor.user_id),
            Some(&h.admin.token),
            Vec::new(),
        )
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    let refused = h.enrol(&kept_after_leaving, &fresh_key()).await;
    assert_eq!(refused.error(), "enrolment_code_invalid");

    // Back in the team, then disabled: the other code is refused too.
    let r = h
        .admin_post(
            &format!("/v1/admin/teams/{team}/members"),
            json!({ "user_id": supervisor.user_id }),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let disabled = h
        .admin_post(
            &format!("/v1/admin/users/{}/disable", supervisor.user_id),
            json!({}),
        )
        .await;
    assert!(
        disabled.status.is_success(),
        "{}",
        String::from_utf8_lossy(&disabled.body)
    );
    let refused = h.enrol(&kept_after_disabling, &fresh_key()).await;
    assert_eq!(refused.error(), "enrolment_code_invalid");
}

#[tokio::test]
async fn only_a_root_administrator_transfers_a_case() {
    let h = Harness::new().await;
    let (hull, hull_admin) = org_admin(&h, "Hull").await;
    let (leeds, _) = org_admin(&h, "Leeds").await;
    let r = h
        .post(
            "/v1/admin/cases",
            Some(&hull_admin.token),
            &json!({ "org_id": hull }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let case = r.json::<Value>()["id"].as_str().expect("id").to_owned();
    let path = format!("/v1/admin/cases/{case}/transfer");

    // Hull's administrator manages the case but may not hand it to another organisation.
    let r = h
        .post(&path, Some(&hull_admin.token), &json!({ "org_id": leeds }))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let audit_before = h.audit_count().await;

    // A root administrator may.
    let r = h.admin_post(&path, json!({ "org_id": leeds })).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(h.audit_count().await, audit_before + 1, "case_transferred");
}
