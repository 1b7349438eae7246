//! Browser sign-in and sessions. The page's script makes a non-extractable P-256 key with
//! WebCrypto and enrols it with a one-time code ([`enrol`], the same service as a phone's
//! `/v1/enrol`); it then signs the server's single-use challenges ([`challenge`], [`open`],
//! the same services as `/v1/challenge` and `/v1/session`). The session token travels only in
//! an HttpOnly, Secure, SameSite=Strict cookie and lives [`crate::Settings::session_ttl`]
//! seconds (15 minutes by default): a page load in its second half renews it with a fresh
//! challenge, so 15 idle minutes end it. Forms carry a CSRF token derived from the session.

use askama::Template;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use casebook_core::sync::wire::{
    ChallengeRequest, ChallengeResponse, EnrolRequest, SessionRequest,
};
use p256::ecdsa::Signature;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::page::{self, Chrome};
use crate::audit::{self, Event};
use crate::auth::{self, Caller};
use crate::error::{Error, Result};
use crate::http::{ApiJson, Source};
use crate::state::AppState;

/// The session cookie. `__Host-` makes the browser insist on Secure, Path=/ and no Domain.
pub const COOKIE: &str = "__Host-casebook_console";

/// The CSRF token of the session `token`: SHA-256 over a tag and the token, hex. Only the
/// holder of the session cookie (which scripts cannot read) gets it, in the pages' forms.
pub fn csrf_token(token: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"casebook-console-csrf-v1\0");
    h.update(token.as_bytes());
    hex::encode(h.finalize())
}

fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().strip_prefix(COOKIE)?.strip_prefix('='))
        .map(str::to_owned)
        .find(|t| !t.is_empty() && t.len() <= 128)
}

fn set_cookie(token: &str, max_age: i64) -> HeaderValue {
    let value =
        format!("{COOKIE}={token}; Path=/; Max-Age={max_age}; HttpOnly; Secure; SameSite=Strict");
    HeaderValue::from_str(&value).unwrap_or_else(|_| clear_cookie())
}

fn clear_cookie() -> HeaderValue {
    HeaderValue::from_static(
        "__Host-casebook_console=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict",
    )
}

/// A signed-in browser: its device's caller, the session token and when it ends.
#[derive(Debug, Clone)]
pub struct Browser {
    /// The device (this browser) and its user.
    pub caller: Caller,
    /// The session token from the cookie.
    pub token: String,
    /// Unix seconds at which the session ends.
    pub expires_at: i64,
    /// The user's display name.
    pub name: String,
}

impl Browser {
    /// The page chrome for this browser at `now`.
    pub fn chrome(&self, state: &AppState) -> Chrome {
        let left = self.expires_at - state.clock.now();
        Chrome {
            name: self.name.clone(),
            role: self.caller.user.role.as_str(),
            is_admin: self.caller.user.role == crate::access::Role::Administrator,
            is_root: self.caller.user.org_is_root,
            csrf: csrf_token(&self.token),
            renew: left < state.settings.session_ttl / 2,
        }
    }

    /// Whether `given` is this session's CSRF token (compared as hashes).
    pub fn csrf_ok(&self, given: &str) -> bool {
        Sha256::digest(given.as_bytes()) == Sha256::digest(csrf_token(&self.token).as_bytes())
    }
}

fn to_signin(reason: &str) -> Response {
    let mut r = Redirect::to(&format!("/console/signin?reason={reason}")).into_response();
    r.headers_mut().insert(header::SET_COOKIE, clear_cookie());
    r
}

impl FromRequestParts<AppState> for Browser {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let Some(token) = cookie_token(&parts.headers) else {
            return Err(to_signin("signed_out"));
        };
        let now = state.clock.now();
        let t = token.clone();
        let found = state
            .db
            .read(move |conn| {
                let caller = auth::authenticate(conn, &t, now)?;
                let expires: i64 = conn.query_row(
                    "SELECT expires_at FROM sessions WHERE token_hash = ?1",
                    [auth::hash_secret(t.as_bytes())],
                    |r| r.get(0),
                )?;
                let name: String = conn.query_row(
                    "SELECT name FROM users WHERE id = ?1",
                    [&caller.user.id],
                    |r| r.get(0),
                )?;
                Ok((caller, expires, name))
            })
            .await;
        match found {
            Ok((caller, expires_at, name)) => Ok(Browser {
                caller,
                token,
                expires_at,
                name,
            }),
            Err(Error::DeviceRevoked) => Err(to_signin("revoked")),
            Err(Error::Unauthenticated(_)) => Err(to_signin("expired")),
            Err(e) => Err(page::error_page(None, &e)),
        }
    }
}

#[derive(Template)]
#[template(path = "console/signin.html")]
struct SigninPage {
    chrome: Option<Chrome>,
    notice: &'static str,
}

#[derive(Debug, Deserialize)]
pub(super) struct SigninQuery {
    #[serde(default)]
    reason: String,
}

/// `GET /console/signin`: the enrolment form and, for an enrolled browser, the sign-in button
/// (the script shows what applies).
pub(super) async fn signin_page(Query(q): Query<SigninQuery>) -> Response {
    let notice = match q.reason.as_str() {
        "revoked" => {
            "This browser's access has been revoked. Ask an administrator for a new enrolment code."
        }
        "expired" => "Your session ended. Sign in again.",
        "signed_out" => "Sign in to continue.",
        "bye" => "You have signed out.",
        _ => "",
    };
    page::render(
        StatusCode::OK,
        &SigninPage {
            chrome: None,
            notice,
        },
    )
}

#[derive(Debug, Serialize)]
pub(super) struct Enrolled {
    device_id: String,
}

/// `POST /console/api/enrol`: the browser's public key and one-time code (as a phone's).
pub(super) async fn enrol(
    State(state): State<AppState>,
    source: Source,
    ApiJson(req): ApiJson<EnrolRequest>,
) -> Result<Json<Enrolled>> {
    let resp = auth::enrol(&state, source.0, req).await?;
    Ok(Json(Enrolled {
        device_id: resp.device_id.to_string(),
    }))
}

/// `POST /console/api/challenge`: a fresh single-use challenge (as a phone's).
pub(super) async fn challenge(
    State(state): State<AppState>,
    source: Source,
    ApiJson(req): ApiJson<ChallengeRequest>,
) -> Result<Json<ChallengeResponse>> {
    auth::challenge(&state, source.0, req).await.map(Json)
}

#[derive(Debug, Serialize)]
pub(super) struct Opened {
    expires_in: u64,
    /// The new session's CSRF token: the page's forms carry it from now on.
    csrf: String,
}

/// `POST /console/api/session`: the signed challenge (WebCrypto's 64-byte r‖s, or DER) opens
/// a session whose token is set as the cookie and never shown to the script. A session being
/// renewed (its cookie sent along) ends.
pub(super) async fn open(
    State(state): State<AppState>,
    source: Source,
    headers: HeaderMap,
    ApiJson(mut req): ApiJson<SessionRequest>,
) -> Result<Response> {
    if Signature::from_der(&req.signature).is_err()
        && let Ok(sig) = Signature::from_slice(&req.signature)
    {
        req.signature = sig.to_der().as_bytes().to_vec();
    }
    let opened = auth::open_session(&state, source.0, req).await?;
    if let Some(old) = cookie_token(&headers) {
        end_session(&state, old).await?;
    }
    let max_age = i64::try_from(opened.expires_in).unwrap_or(0);
    let mut response = Json(Opened {
        expires_in: opened.expires_in,
        csrf: csrf_token(&opened.token),
    })
    .into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, set_cookie(&opened.token, max_age));
    Ok(response)
}

async fn end_session(state: &AppState, token: String) -> Result<()> {
    state
        .db
        .write(move |tx| {
            tx.execute(
                "DELETE FROM sessions WHERE token_hash = ?1",
                [auth::hash_secret(token.as_bytes())],
            )?;
            Ok(())
        })
        .await
}

#[derive(Debug, Deserialize)]
pub(super) struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

/// `POST /console/signout`: end the session and clear the cookie.
pub(super) async fn signout(
    State(state): State<AppState>,
    browser: Browser,
    Form(form): Form<CsrfOnly>,
) -> Response {
    if let Err(r) = page::check_csrf(&state, &browser, &form.csrf, "signout").await {
        return r;
    }
    if let Err(e) = end_session(&state, browser.token.clone()).await {
        return page::error_page(Some(browser.chrome(&state)), &e);
    }
    to_signin("bye")
}

/// Audit a console refusal for this browser.
pub(super) async fn audit_refusal(
    state: &AppState,
    browser: &Browser,
    event: &'static str,
    detail: serde_json::Value,
) -> Result<()> {
    let now = state.clock.now();
    let (user, device) = (
        browser.caller.user.id.clone(),
        browser.caller.device.to_string(),
    );
    state
        .db
        .write(move |tx| {
            audit::append(
                tx,
                now,
                Event {
                    event,
                    actor_user: Some(user),
                    actor_device: Some(device),
                    detail,
                    ..Event::default()
                },
            )?;
            Ok(())
        })
        .await
}
