//! What the console refuses: a guardian's session on the administrator pages (403, audited),
//! a form without its session's CSRF token, a replayed challenge, a revoked browser. A small
//! HTTP client signs in the way the page's script does (WebCrypto's 64-byte r‖s signatures)
//! to read statuses and headers exactly; Chromium shows what a person sees.

use anyhow::{Context, Result};
use casebook_server::TestServer;
use casebook_tests::console::{Console, session_cookie};
use reqwest::StatusCode;
use reqwest::header::LOCATION;
use serde_json::Value;

use super::browser::Driver;
use super::{count, enrol_browser};

async fn audited(server: &TestServer, event: &'static str, actor: &str) -> Result<i64> {
    let actor = actor.to_owned();
    Ok(server
        .state
        .db
        .read(move |c| {
            Ok(c.query_row(
                "SELECT COUNT(*) FROM audit WHERE event = ?1 AND actor_user = ?2",
                casebook_server::params![event, actor],
                |r| r.get(0),
            )?)
        })
        .await?)
}

async fn user_of_device(server: &TestServer, device: String) -> Result<String> {
    Ok(server
        .state
        .db
        .read(move |c| {
            Ok(
                c.query_row("SELECT user_id FROM devices WHERE id = ?1", [device], |r| {
                    r.get(0)
                })?,
            )
        })
        .await?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_headers_csrf_replays_and_revocations() -> Result<()> {
    let data = tempfile::tempdir()?;
    let server = casebook_server::start_for_tests(data.path()).await?;
    let admin = Console::enrol(&server, &server.admin_code, "Admin browser").await?;
    let admin_user = user_of_device(&server, admin.device.to_string()).await?;

    // The session cookie: HttpOnly, Secure, SameSite=Strict, host-only, short-lived.
    let (challenge, signature) = admin.signed_challenge().await?;
    let mut again = Console {
        http: admin.http.clone(),
        base: admin.base.clone(),
        key: admin.key.clone(),
        device: admin.device,
        cookie: None,
    };
    let resp = again.open(&challenge, &signature).await?;
    assert_eq!(resp.status(), StatusCode::OK);
    let set = session_cookie(resp.headers()).context("a session cookie")?;
    for part in [
        "__Host-",
        "HttpOnly",
        "Secure",
        "SameSite=Strict",
        "Path=/",
        "Max-Age=900",
    ] {
        assert!(set.contains(part), "{set}");
    }
    assert!(
        !resp.text().await?.contains(
            again
                .cookie
                .as_deref()
                .unwrap_or("?")
                .split('=')
                .nth(1)
                .unwrap_or("?")
        ),
        "the token is never in the body"
    );

    // A replayed challenge (same challenge, same valid signature) is refused.
    let mut replay = Console {
        cookie: None,
        http: admin.http.clone(),
        base: admin.base.clone(),
        key: admin.key.clone(),
        device: admin.device,
    };
    let resp = replay.open(&challenge, &signature).await?;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(replay.cookie.is_none(), "no session for a replay");

    // Every page: a strict CSP, no framing, no caching, no inline script.
    let resp = admin.get("/console/").await?;
    assert_eq!(resp.status(), StatusCode::OK);
    let h = resp.headers().clone();
    assert_eq!(h["content-security-policy"], casebook_server::console::CSP);
    assert!(casebook_server::console::CSP.starts_with("default-src 'self'"));
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["cache-control"], "no-store");
    let html = resp.text().await?;
    assert!(html.contains("<script src=\"/console/assets/signin.js\""));
    assert!(
        !html.contains("<script>") && !html.contains("style=\""),
        "no inline script or style"
    );
    let signin = admin.get("/console/signin").await?;
    assert_eq!(signin.headers()["x-frame-options"], "DENY");

    // Without a session: to the sign-in page.
    let anonymous = Console {
        cookie: None,
        http: admin.http.clone(),
        base: admin.base.clone(),
        key: admin.key.clone(),
        device: admin.device,
    };
    let resp = anonymous.get("/console/users").await?;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);

    // A form without the CSRF token (or with another's) is refused, audited, unwritten.
    let org: String = server
        .state
        .db
        .read(|c| Ok(c.query_row("SELECT id FROM orgs WHERE is_root = 1", [], |r| r.get(0))?))
        .await?;
    let users = count(&server, "SELECT COUNT(*) FROM users").await?;
    let forged = [
        ("name", "Mallory"),
        ("role", "administrator"),
        ("org_id", org.as_str()),
    ];
    let resp = admin.post("/console/users", &forged).await?;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let wrong = [
        ("csrf", "0".repeat(64)),
        ("name", "Mallory".into()),
        ("role", "administrator".into()),
        ("org_id", org.clone()),
    ];
    let wrong: Vec<(&str, &str)> = wrong.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(
        admin.post("/console/users", &wrong).await?.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(count(&server, "SELECT COUNT(*) FROM users").await?, users);
    assert_eq!(
        audited(&server, "console_csrf_refused", &admin_user).await?,
        2
    );
    // Bad input with the token: beside the field, 400, nothing written.
    let csrf = admin.csrf().await?;
    let resp = admin
        .post(
            "/console/users",
            &[
                ("csrf", &csrf),
                ("name", " "),
                ("role", "wizard"),
                ("org_id", &org),
            ],
        )
        .await?;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let html = resp.text().await?;
    assert!(
        html.contains("id=\"user-name-error\">Enter a name.<"),
        "{html}"
    );
    assert!(html.contains("id=\"user-role-error\">Choose one of the roles.<"));
    assert_eq!(count(&server, "SELECT COUNT(*) FROM users").await?, users);

    // A guardian's browser session: 403 on the administrator pages, audited.
    let guardian = admin.new_user("Gita Patel", "guardian", &org).await?;
    let code = admin.code(&guardian).await?;
    let gita = Console::enrol(&server, &code, "Gita's laptop").await?;
    let csrf = gita.csrf().await?;
    for path in [
        "/console/users",
        "/console/teams",
        "/console/cases",
        "/console/audit/verify",
    ] {
        assert_eq!(
            gita.get(path).await?.status(),
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }
    let resp = gita
        .post(
            "/console/users",
            &[
                ("csrf", &csrf),
                ("name", "Eve"),
                ("role", "administrator"),
                ("org_id", &org),
            ],
        )
        .await?;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        count(&server, "SELECT COUNT(*) FROM users").await?,
        users + 1
    );
    assert_eq!(audited(&server, "console_denied", &guardian).await?, 5);

    // The same in Chromium, as the guardian sees it.
    let driver = Driver::start().await?;
    let b = driver.browser(&server.cert_fingerprint).await?;
    let code = admin.code(&guardian).await?;
    enrol_browser(&b, &server, &code, "Gita's office browser").await?;
    b.goto(&format!("{}/console/users", server.base_url()))
        .await?;
    assert_eq!(b.text("h1").await?, "Not allowed");
    b.screenshot("12-guardian-forbidden").await?;
    assert_eq!(audited(&server, "console_denied", &guardian).await?, 6);

    // A revoked browser is refused: its session ends, and so does signing in again.
    let browser_device: String = server
        .state
        .db
        .read(|c| {
            Ok(c.query_row(
                "SELECT id FROM devices WHERE name = 'Gita''s office browser'",
                [],
                |r| r.get(0),
            )?)
        })
        .await?;
    assert_eq!(admin.revoke(&browser_device).await?, StatusCode::SEE_OTHER);
    assert_eq!(
        admin.revoke(&gita.device.to_string()).await?,
        StatusCode::SEE_OTHER
    );
    let resp = gita.get("/console/").await?;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()[LOCATION], "/console/signin?reason=revoked");
    let (challenge, signature) = gita.signed_challenge().await?;
    let mut gita = gita;
    let resp = gita.open(&challenge, &signature).await?;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let body: Value = resp.json().await?;
    assert_eq!(body["error"], "device_revoked");

    b.goto(&format!("{}/console/", server.base_url())).await?;
    b.wait_path("/console/signin?reason=revoked").await?;
    b.click("#signin").await?;
    b.wait_text("Enrol it again with a new code").await?;
    b.screenshot("13-revoked-browser").await?;
    assert!(
        b.find("#signin-known")
            .await?
            .attr("hidden")
            .await?
            .is_some(),
        "key forgotten"
    );

    b.close().await?;
    drop(driver);
    server.shutdown().await?;
    Ok(())
}
