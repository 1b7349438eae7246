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
mod import_pages;
mod page;
mod person_pages;
mod qr;
mod queries;
mod report_pages;
mod review_pages;
mod session;
mod transfer_pages;
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

/// Largest form body the console accepts (the CSV import's routes accept
/// [`import_pages::IMPORT_BODY_LIMIT`]).
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
        .route(
            "/console/users/import",
            get(import_pages::form)
                .post(import_pages::upload)
                .layer(DefaultBodyLimit::max(import_pages::IMPORT_BODY_LIMIT)),
        )
        .route(
            "/console/users/import/confirm",
            post(import_pages::confirm)
                .layer(DefaultBodyLimit::max(import_pages::IMPORT_BODY_LIMIT)),
        )
        .route("/console/users/{user}", get(person_pages::user))
        .route(
            "/console/users/{user}/codes",
            post(person_pages::issue_code),
        )
        .route(
            "/console/users/{user}/disabled",
            post(person_pages::set_disabled),
        )
        .route(
            "/console/codes/{code}/cancel",
            post(person_pages::cancel_code),
        )
        .route(
            "/console/devices/{device}/revoke",
            post(person_pages::revoke),
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
        .route(
            "/console/cases/{case}/transfer",
            get(transfer_pages::transfer_form).post(transfer_pages::transfer),
        )
        .route("/console/review", get(review_pages::queue))
        .route(
            "/console/review/{case}/{note}",
            get(review_pages::note).post(review_pages::decide),
        )
        .route("/console/reports", get(report_pages::reports))
        .route("/console/reports.csv", get(report_pages::reports_csv))
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
