//! One person's page: their devices (phones and browsers, paged) with "revoke", their
//! outstanding enrolment codes with "cancel", issuing a code (shown once as text and QR code),
//! and disabling or re-enabling them. Every change calls the administration service the JSON
//! API calls, with its access checks and audit.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::page::{self, Chrome, Paging, id_ok};
use super::queries::{self, DeviceRow, UserRow};
use super::session::Browser;
use crate::admin::{self, IssueCode};
use crate::error::{Error, Result};
use crate::state::AppState;

/// An outstanding code as listed (never the code itself).
#[derive(Debug, Clone)]
struct CodeLine {
    id: String,
    issued: String,
    expires: String,
}

#[derive(Template)]
#[template(path = "console/user.html")]
struct UserPage {
    chrome: Option<Chrome>,
    user: UserRow,
    devices: Vec<DeviceRow>,
    paging: Paging,
    codes: Vec<CodeLine>,
    issued: Option<Issued>,
    error: Option<String>,
}

/// A code just issued: shown once, as text, as a link and as a QR code.
#[derive(Debug, Clone)]
struct Issued {
    code: String,
    expires: String,
    link: String,
    svg: String,
}

/// What a person's page shows besides the person: a page of devices, a code just issued,
/// an error about the last change.
#[derive(Debug, Default)]
struct Shown {
    page: u32,
    issued: Option<Issued>,
    error: Option<String>,
}

async fn user_page(
    state: &AppState,
    b: &Browser,
    status: StatusCode,
    id: String,
    shown: Shown,
) -> Response {
    let codes = match admin::list_codes(state, b.caller.clone(), id.clone()).await {
        Ok(codes) => codes
            .into_iter()
            .map(|c| CodeLine {
                id: c.code_id,
                issued: c.issued_at.map(page::time).unwrap_or_default(),
                expires: page::time(c.expires_at),
            })
            .collect(),
        Err(e) => return page::error_for(state, b, &e),
    };
    let admin = b.caller.user.clone();
    let mut paging = Paging {
        page: shown.page.min(100_000),
        ..Paging::default()
    };
    let read = move |c: crate::sql::Conn<'_>| {
        let Some(user) = queries::user(c, &admin, &id)? else {
            return Err(Error::NotFound(
                "no such user in an organisation you manage",
            ));
        };
        let devices = queries::devices(c, &user.id, &mut paging)?;
        Ok((user, devices, paging))
    };
    let Shown { issued, error, .. } = shown;
    page::read_and_render(state, b, status, read, |(user, devices, paging), chrome| {
        UserPage {
            chrome: Some(chrome),
            user,
            devices,
            paging,
            codes,
            issued,
            error,
        }
    })
    .await
}

/// `?page=` of a person's devices.
#[derive(Debug, Default, Deserialize)]
pub(super) struct DevicePage {
    #[serde(default)]
    page: u32,
}

/// `GET /console/users/{user}?page=`: the person, their devices, codes and the forms.
pub(super) async fn user(
    State(state): State<AppState>,
    b: Browser,
    Path(id): Path<String>,
    Query(q): Query<DevicePage>,
) -> Response {
    if let Err(r) = page::admin_record(&state, &b, "user", &id, "no such user").await {
        return r;
    }
    let shown = Shown {
        page: q.page,
        ..Shown::default()
    };
    user_page(&state, &b, StatusCode::OK, id, shown).await
}

#[derive(Debug, Deserialize)]
pub(super) struct CodeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    hours: String,
}

/// The address this browser reached the server at, as `https://host[:port]`.
fn server_address(headers: &HeaderMap, uri: &Uri) -> String {
    // HTTP/1.1 sends `Host`; HTTP/2 sends the authority in the URI.
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| uri.authority().map(|a| a.as_str()))
        .filter(|h| {
            h.bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b':' | b'-' | b'[' | b']'))
        })
        .unwrap_or("localhost");
    format!("https://{host}")
}

/// A change on a person's page failed: the page again with the error, in the error's status.
async fn refused(state: &AppState, b: &Browser, id: String, e: &Error) -> Response {
    let (_, status) = e.code_and_status();
    let shown = Shown {
        error: Some(page::field_message(e)),
        ..Shown::default()
    };
    user_page(state, b, status, id, shown).await
}

/// `POST /console/users/{user}/codes`: issue a code, shown once with its QR code.
pub(super) async fn issue_code(
    State(state): State<AppState>,
    b: Browser,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
    Form(f): Form<CodeForm>,
) -> Response {
    let guard = page::admin_record_change(&state, &b, &f.csrf, "issue_code", &id, "no such user");
    if let Err(r) = guard.await {
        return r;
    }
    let ttl = match f.hours.trim() {
        "" => None,
        h => match h.parse::<i64>() {
            Ok(h) if (1..=168).contains(&h) => Some(h * 3600),
            _ => {
                let e = Error::BadRequest("Validity must be between 1 and 168 hours.".into());
                return refused(&state, &b, id, &e).await;
            }
        },
    };
    let req = IssueCode { ttl_secs: ttl };
    match admin::issue_code(&state, b.caller.clone(), id.clone(), req).await {
        Ok(issued) => {
            let pin = state.cert_pin.get().map(String::as_str);
            let link = super::enrol_link(&server_address(&headers, &uri), pin, &issued.code);
            let svg = match super::qr_svg(&link) {
                Ok(svg) => svg,
                Err(e) => return page::error_for(&state, &b, &e),
            };
            let shown = Shown {
                issued: Some(Issued {
                    code: issued.code,
                    expires: page::time(issued.expires_at),
                    link,
                    svg,
                }),
                ..Shown::default()
            };
            user_page(&state, &b, StatusCode::OK, id, shown).await
        }
        Err(e) => refused(&state, &b, id, &e).await,
    }
}

/// A change on a person's page: the token, and the person to go back to.
#[derive(Debug, Deserialize)]
pub(super) struct PersonForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    user: String,
    /// Disabling: `disable` or `enable`.
    #[serde(default)]
    action: String,
}

/// After a change: back to the person's page (or the users list if the form named nobody).
fn back_to(user: &str, flag: &str) -> Response {
    if id_ok(user) {
        Redirect::to(&format!("/console/users/{user}?{flag}=1")).into_response()
    } else {
        Redirect::to("/console/users").into_response()
    }
}

/// `POST /console/devices/{device}/revoke`: the device's next contact is refused (a phone
/// wipes itself); back to its user's page.
pub(super) async fn revoke(
    State(state): State<AppState>,
    b: Browser,
    Path(device): Path<String>,
    Form(f): Form<PersonForm>,
) -> Response {
    let guard = page::admin_record_change(&state, &b, &f.csrf, "revoke_device", &device, "device");
    if let Err(r) = guard.await {
        return r;
    }
    let result: Result<()> = admin::revoke_device(&state, b.caller.clone(), device).await;
    match result {
        Ok(()) => back_to(&f.user, "revoked"),
        Err(e) => page::error_for(&state, &b, &e),
    }
}

/// `POST /console/codes/{code}/cancel`: an unused code stops working; back to its user.
pub(super) async fn cancel_code(
    State(state): State<AppState>,
    b: Browser,
    Path(code): Path<String>,
    Form(f): Form<PersonForm>,
) -> Response {
    let guard = page::admin_record_change(&state, &b, &f.csrf, "cancel_code", &code, "code");
    if let Err(r) = guard.await {
        return r;
    }
    match admin::cancel_code(&state, b.caller.clone(), code).await {
        Ok(()) => back_to(&f.user, "cancelled"),
        Err(e) if id_ok(&f.user) => refused(&state, &b, f.user, &e).await,
        Err(e) => page::error_for(&state, &b, &e),
    }
}

/// `POST /console/users/{user}/disabled`: disable the person (every device revoked, every
/// session ended, every outstanding code void) or enable them again (old devices stay
/// revoked).
pub(super) async fn set_disabled(
    State(state): State<AppState>,
    b: Browser,
    Path(id): Path<String>,
    Form(f): Form<PersonForm>,
) -> Response {
    let guard = page::admin_record_change(&state, &b, &f.csrf, "set_disabled", &id, "no such user");
    if let Err(r) = guard.await {
        return r;
    }
    let disabled = match f.action.as_str() {
        "disable" => true,
        "enable" => false,
        _ => {
            let e = Error::BadRequest("Unknown action.".into());
            return refused(&state, &b, id, &e).await;
        }
    };
    match admin::set_disabled(&state, b.caller.clone(), id.clone(), disabled).await {
        Ok(()) => back_to(&id, if disabled { "disabled" } else { "enabled" }),
        Err(e) => refused(&state, &b, id, &e).await,
    }
}
