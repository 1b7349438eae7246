//! The console: server-rendered administrator pages for a browser, served by the same binary
//! at `/console/`. A browser enrols like a phone (a one-time code, a P-256 key it cannot
//! export, signed challenges) and holds a short-lived session cookie; every form carries a
//! CSRF token bound to that session, and every answer carries a strict Content-Security-Policy.
//! Changes go through the same domain functions (and access checks, and audit) as the
//! administration API. Supervisors and caseworkers get their own home (alerts, deadlines,
//! conflicts) and read the cases they may read, laid out from the stored documents.
//! `docs/console.md` describes the pages and the rules.

mod admin_pages;
mod assets;
mod audit_pages;
mod case_pages;
mod case_read;
mod case_view;
mod field_history;
mod page;
mod qr;
mod queries;
mod session;
mod work_home;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, header};
use axum::middleware;
use axum::response::{Redirect, Response};
use axum::routing::{get, post};

pub use qr::{enrol_link, qr_svg};
pub use session::{COOKIE, csrf_token};

use crate::state::AppState;

/// The Content-Security-Policy of every console answer: nothing but this origin, no inline
/// script or style, no framing, forms posting only here.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
img-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Largest form body the console accepts.
const MAX_FORM_BYTES: usize = 16 * 1024;

async fn security_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static("max-age=31536000"),
    );
    response
}

/// The console's routes, all under `/console/`, to be merged into the server's router.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console", get(to_home))
        .route("/console/", get(admin_pages::home))
        .route("/console/signin", get(session::signin_page))
        .route("/console/signout", post(session::signout))
        .route("/console/api/enrol", post(session::enrol))
        .route("/console/api/challenge", post(session::challenge))
        .route("/console/api/session", post(session::open))
        .route("/console/assets/{name}", get(assets::asset))
        .route(
            "/console/orgs",
            get(admin_pages::orgs).post(admin_pages::create_org),
        )
        .route(
            "/console/users",
            get(admin_pages::users).post(admin_pages::create_user),
        )
        .route("/console/users/{user}", get(admin_pages::user))
        .route("/console/users/{user}/codes", post(admin_pages::issue_code))
        .route(
            "/console/devices/{device}/revoke",
            post(admin_pages::revoke),
        )
        .route(
            "/console/teams",
            get(case_pages::teams).post(case_pages::create_team),
        )
        .route("/console/teams/{team}", get(case_pages::team))
        .route(
            "/console/teams/{team}/members",
            post(case_pages::team_member),
        )
        .route(
            "/console/cases",
            get(case_pages::cases).post(case_pages::create_case),
        )
        .route("/console/cases/{case}", get(case_pages::case))
        .route("/console/cases/{case}/links", post(case_pages::case_link))
        .route("/console/cases/{case}/team", post(case_pages::case_team))
        .route("/console/cases/{case}/history", get(case_read::history))
        .route("/console/cases/{case}/conflicts", post(case_read::resolve))
        .route(
            "/console/cases/{case}/police-pack",
            get(case_read::police_pack),
        )
        .route(
            "/console/alerts/{alert}/acknowledge",
            post(work_home::acknowledge),
        )
        .route("/console/audit", get(audit_pages::trail))
        .route("/console/audit/verify", get(audit_pages::verify))
        .route(
            "/console/{*rest}",
            get(page::not_found).post(page::not_found),
        )
        .layer(DefaultBodyLimit::max(MAX_FORM_BYTES))
        .layer(middleware::map_response(security_headers))
}

/// `/console` without the slash.
pub async fn to_home() -> Redirect {
    Redirect::permanent("/console/")
}
