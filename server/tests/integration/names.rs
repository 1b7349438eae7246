//! Names shown to other people (organisations and their authorities, users, teams, a device's
//! name at enrolment) refuse control characters, bidirectional overrides, isolates and marks,
//! and other invisible format characters, with `bad_request`; names in any script pass.

use axum::http::StatusCode;
use p256::ecdsa::SigningKey;
use serde_json::{Value, json};

use crate::support::{Harness, b64};

/// Names that would show as something else, or break a line on an audit screen.
const HOSTILE: &[&str] = &[
    "Amira \u{202E}nosnhoJ",
    "Ali\u{2066}Grace\u{2069}",
    "Ali\u{200F}",
    "Ali\nBaker",
    "Ali\u{1B}[31m",
    "Ali\u{200B}Baker",
    "Ali\u{FEFF}",
];

/// Names real people and teams have.
const GOOD: &[&str] = &[
    "Nguyễn Văn An",
    "مریم\u{200C}ها",
    "Zoë O'Brien-Smith",
    "अर्जुन",
];

fn refused(reply: &crate::support::Reply, name: &str) {
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{name:?}");
    let body: Value = reply.json();
    assert_eq!(body["error"], json!("bad_request"), "{name:?}");
    let message = body["message"].as_str().expect("message");
    assert!(message.contains("U+"), "names the character: {message}");
}

#[tokio::test]
async fn admin_names_refuse_controls_and_bidirectional_overrides() {
    let h = Harness::new().await;
    let root = h.root_org.clone();
    for name in HOSTILE {
        let r = h
            .admin_post("/v1/admin/orgs", json!({ "name": name, "authorities": [] }))
            .await;
        refused(&r, name);
        let r = h
            .admin_post(
                "/v1/admin/orgs",
                json!({ "name": "Kent", "authorities": [name] }),
            )
            .await;
        refused(&r, name);
        let r = h
            .admin_post(
                "/v1/admin/users",
                json!({ "name": name, "role": "guardian", "org_id": root }),
            )
            .await;
        refused(&r, name);
        let r = h
            .admin_post("/v1/admin/teams", json!({ "name": name, "org_id": root }))
            .await;
        refused(&r, name);
    }
    for name in GOOD {
        let r = h
            .admin_post(
                "/v1/admin/users",
                json!({ "name": name, "role": "guardian", "org_id": root }),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{name:?}: {}", r.error());
        let r = h
            .admin_post("/v1/admin/teams", json!({ "name": name, "org_id": root }))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{name:?}: {}", r.error());
    }
    let users: i64 = h
        .state
        .db
        .read(|c| {
            Ok(c.query_row(
                "SELECT COUNT(*) FROM users WHERE role = 'guardian'",
                [],
                |r| r.get(0),
            )?)
        })
        .await
        .expect("count");
    assert_eq!(users, GOOD.len() as i64, "no hostile name stored");
}

#[tokio::test]
async fn a_device_name_at_enrolment_refuses_controls_and_bidirectional_overrides() {
    let h = Harness::new().await;
    let user = h.create_user("guardian", &h.root_org.clone()).await;
    let code = h.code_for(&user).await;
    let key = SigningKey::random(&mut rand::rngs::OsRng);
    let public = b64(key.verifying_key().to_encoded_point(false).as_bytes());
    for name in HOSTILE {
        let body = json!({ "code": code, "public_key": public, "device_name": name });
        let r = h.post("/v1/enrol", None, &body).await;
        refused(&r, name);
    }
    // The code was never spent: a good name enrols with it.
    let body = json!({ "code": code, "public_key": public, "device_name": GOOD[0] });
    let r = h.post("/v1/enrol", None, &body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.error());
}
