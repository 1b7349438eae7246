//! The administrator's pages about people: home, organisations, users (list, search, create),
//! one user (devices with "revoke", enrolment codes as text and QR code). Every change calls
//! the administration service the JSON API calls, with its access checks and audit.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::page::{self, Chrome, Paging};
use super::queries::{self, DeviceRow, OrgRow, UserRow};
use super::session::Browser;
use crate::access::Role;
use crate::admin::{self, IssueCode, NewOrg, NewUser};
use crate::error::{Error, Result};
use crate::names;
use crate::state::AppState;

/// Search and page of a list.
#[derive(Debug, Default, Deserialize)]
pub(super) struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    page: u32,
}

impl ListQuery {
    pub(super) fn paging(&self) -> Paging {
        Paging {
            page: self.page.min(100_000),
            more: false,
            q: self.q.chars().take(100).collect(),
        }
    }
}

#[derive(Template)]
#[template(path = "console/home.html")]
struct HomePage {
    chrome: Option<Chrome>,
    counts: Vec<(&'static str, i64, &'static str)>,
}

/// `GET /console/`: what there is to do.
pub(super) async fn home(
    State(state): State<AppState>,
    b: Browser,
    Query(q): Query<super::work_home::HomeQuery>,
) -> Response {
    if b.caller.user.role != crate::access::Role::Administrator {
        return super::work_home::home(&state, &b, q).await;
    }
    let chrome = b.chrome(&state);
    let counts = if chrome.is_admin {
        let admin = b.caller.user.clone();
        let found = state
            .db
            .read(move |conn| {
                let mut out = Vec::new();
                for (label, sql, link) in [
                    (
                        "Users",
                        "SELECT COUNT(*) FROM users WHERE (?2 OR org_id = ?1)",
                        "/console/users",
                    ),
                    (
                        "Teams",
                        "SELECT COUNT(*) FROM teams WHERE (?2 OR org_id = ?1)",
                        "/console/teams",
                    ),
                    (
                        "Cases",
                        "SELECT COUNT(*) FROM cases WHERE (?2 OR org_id = ?1)",
                        "/console/cases",
                    ),
                ] {
                    let n: i64 = conn.query_row(
                        sql,
                        rusqlite::params![admin.org_id, admin.org_is_root],
                        |r| r.get(0),
                    )?;
                    out.push((label, n, link));
                }
                Ok(out)
            })
            .await;
        match found {
            Ok(c) => c,
            Err(e) => return page::error_page(Some(chrome), &e),
        }
    } else {
        Vec::new()
    };
    page::render(
        StatusCode::OK,
        &HomePage {
            chrome: Some(chrome),
            counts,
        },
    )
}

/// Field errors of a form, shown beside each field.
#[derive(Debug, Default, Clone)]
pub(super) struct FieldErrors {
    pub name: Option<String>,
    pub role: Option<String>,
    pub org: Option<String>,
    pub other: Option<String>,
}

impl FieldErrors {
    pub(super) fn any(&self) -> bool {
        self.name.is_some() || self.role.is_some() || self.org.is_some() || self.other.is_some()
    }
}

/// A name as the forms check it: not empty, and what every shown name must be.
pub(super) fn check_name(name: &str) -> Option<String> {
    if name.trim().is_empty() {
        return Some("Enter a name.".into());
    }
    names::check("name", name.trim())
        .err()
        .map(|e| page::field_message(&e))
}

#[derive(Template)]
#[template(path = "console/orgs.html")]
struct OrgsPage {
    chrome: Option<Chrome>,
    orgs: Vec<OrgRow>,
    name: String,
    errors: FieldErrors,
}

async fn orgs_page(
    state: &AppState,
    b: &Browser,
    status: StatusCode,
    name: String,
    errors: FieldErrors,
) -> Response {
    let admin = b.caller.user.clone();
    match state.db.read(move |c| queries::orgs(c, &admin)).await {
        Ok(orgs) => page::render(
            status,
            &OrgsPage {
                chrome: Some(b.chrome(state)),
                orgs,
                name,
                errors,
            },
        ),
        Err(e) => page::error_page(Some(b.chrome(state)), &e),
    }
}

/// `GET /console/orgs`.
pub(super) async fn orgs(State(state): State<AppState>, b: Browser) -> Response {
    if let Err(r) = page::require_admin(&state, &b, "orgs").await {
        return r;
    }
    orgs_page(
        &state,
        &b,
        StatusCode::OK,
        String::new(),
        FieldErrors::default(),
    )
    .await
}

#[derive(Debug, Deserialize)]
pub(super) struct OrgForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
}

/// `POST /console/orgs` (root administrators).
pub(super) async fn create_org(
    State(state): State<AppState>,
    b: Browser,
    Form(f): Form<OrgForm>,
) -> Response {
    if let Err(r) = page::admin_change(&state, &b, &f.csrf, "create_org").await {
        return r;
    }
    let mut errors = FieldErrors {
        name: check_name(&f.name),
        ..FieldErrors::default()
    };
    if !errors.any() {
        let req = NewOrg {
            name: f.name.trim().to_owned(),
            authorities: Vec::new(),
        };
        match admin::create_org(&state, b.caller.clone(), req).await {
            Ok(_) => return Redirect::to("/console/orgs").into_response(),
            Err(e) => errors.other = Some(page::field_message(&e)),
        }
    }
    orgs_page(&state, &b, StatusCode::BAD_REQUEST, f.name, errors).await
}

/// The values of the new-user form.
#[derive(Debug, Default, Deserialize)]
pub(super) struct UserForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    org_id: String,
}

#[derive(Template)]
#[template(path = "console/users.html")]
struct UsersPage {
    chrome: Option<Chrome>,
    users: Vec<UserRow>,
    paging: Paging,
    orgs: Vec<OrgRow>,
    roles: Vec<(&'static str, &'static str)>,
    form: UserForm,
    errors: FieldErrors,
}

/// Roles as the forms offer them: (value, label).
pub(super) fn roles() -> Vec<(&'static str, &'static str)> {
    Role::ALL
        .into_iter()
        .map(|r| {
            let label = match r {
                Role::Guardian => "Independent child trafficking guardian",
                Role::SocialWorker => "Social worker",
                Role::Carer => "Carer",
                Role::Supervisor => "Supervisor",
                Role::Administrator => "Administrator",
            };
            (r.as_str(), label)
        })
        .collect()
}

async fn users_page(
    state: &AppState,
    b: &Browser,
    status: StatusCode,
    mut paging: Paging,
    form: UserForm,
    errors: FieldErrors,
) -> Response {
    let admin = b.caller.user.clone();
    let mut p = paging.clone();
    let found = state
        .db
        .read(move |c| {
            let users = queries::users(c, &admin, &mut p, None)?;
            Ok((users, queries::orgs(c, &admin)?, p))
        })
        .await;
    match found {
        Ok((users, orgs, p)) => {
            paging = p;
            page::render(
                status,
                &UsersPage {
                    chrome: Some(b.chrome(state)),
                    users,
                    paging,
                    orgs,
                    roles: roles(),
                    form,
                    errors,
                },
            )
        }
        Err(e) => page::error_page(Some(b.chrome(state)), &e),
    }
}

/// `GET /console/users?q=&page=`.
pub(super) async fn users(
    State(state): State<AppState>,
    b: Browser,
    Query(q): Query<ListQuery>,
) -> Response {
    if let Err(r) = page::require_admin(&state, &b, "users").await {
        return r;
    }
    let form = UserForm {
        org_id: b.caller.user.org_id.clone(),
        ..UserForm::default()
    };
    users_page(
        &state,
        &b,
        StatusCode::OK,
        q.paging(),
        form,
        FieldErrors::default(),
    )
    .await
}

/// `POST /console/users`: create a user; bad input comes back beside the field, unwritten.
pub(super) async fn create_user(
    State(state): State<AppState>,
    b: Browser,
    Form(f): Form<UserForm>,
) -> Response {
    if let Err(r) = page::admin_change(&state, &b, &f.csrf, "create_user").await {
        return r;
    }
    let mut errors = FieldErrors {
        name: check_name(&f.name),
        ..FieldErrors::default()
    };
    if f.role.parse::<Role>().is_err() {
        errors.role = Some("Choose one of the roles.".into());
    }
    if f.org_id.trim().is_empty() {
        errors.org = Some("Choose an organisation.".into());
    }
    if !errors.any() {
        let req = NewUser {
            name: f.name.trim().to_owned(),
            role: f.role.clone(),
            org_id: f.org_id.clone(),
        };
        match admin::create_user(&state, b.caller.clone(), req).await {
            Ok(c) => return Redirect::to(&format!("/console/users/{}", c.id)).into_response(),
            Err(Error::NotFound(_)) => errors.org = Some("No such organisation.".into()),
            Err(e) => errors.other = Some(page::field_message(&e)),
        }
    }
    users_page(
        &state,
        &b,
        StatusCode::BAD_REQUEST,
        Paging::default(),
        f,
        errors,
    )
    .await
}

#[derive(Template)]
#[template(path = "console/user.html")]
struct UserPage {
    chrome: Option<Chrome>,
    user: UserRow,
    devices: Vec<DeviceRow>,
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

/// A hex id from a path or form (anything else is not found, without a query).
pub(super) fn id_ok(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

async fn user_page(
    state: &AppState,
    b: &Browser,
    status: StatusCode,
    id: String,
    issued: Option<Issued>,
    error: Option<String>,
) -> Response {
    let admin = b.caller.user.clone();
    let found = state
        .db
        .read(move |c| {
            let Some(user) = queries::user(c, &admin, &id)? else {
                return Err(Error::NotFound(
                    "no such user in an organisation you manage",
                ));
            };
            let devices = queries::devices(c, &user.id)?;
            Ok((user, devices))
        })
        .await;
    match found {
        Ok((user, devices)) => page::render(
            status,
            &UserPage {
                chrome: Some(b.chrome(state)),
                user,
                devices,
                issued,
                error,
            },
        ),
        Err(e) => page::error_page(Some(b.chrome(state)), &e),
    }
}

/// `GET /console/users/{user}`: the person, their devices and the codes form.
pub(super) async fn user(
    State(state): State<AppState>,
    b: Browser,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = page::require_admin(&state, &b, "user").await {
        return r;
    }
    if !id_ok(&id) {
        return page::error_page(Some(b.chrome(&state)), &Error::NotFound("no such user"));
    }
    user_page(&state, &b, StatusCode::OK, id, None, None).await
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

/// `POST /console/users/{user}/codes`: issue a code, shown once with its QR code.
pub(super) async fn issue_code(
    State(state): State<AppState>,
    b: Browser,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
    Form(f): Form<CodeForm>,
) -> Response {
    if let Err(r) = page::admin_change(&state, &b, &f.csrf, "issue_code").await {
        return r;
    }
    if !id_ok(&id) {
        return page::error_page(Some(b.chrome(&state)), &Error::NotFound("no such user"));
    }
    let ttl = match f.hours.trim() {
        "" => None,
        h => match h.parse::<i64>() {
            Ok(h) if (1..=168).contains(&h) => Some(h * 3600),
            _ => {
                let msg = "Validity must be between 1 and 168 hours.".to_owned();
                return user_page(&state, &b, StatusCode::BAD_REQUEST, id, None, Some(msg)).await;
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
                Err(e) => return page::error_page(Some(b.chrome(&state)), &e),
            };
            let shown = Issued {
                code: issued.code,
                expires: page::time(issued.expires_at),
                link,
                svg,
            };
            user_page(&state, &b, StatusCode::OK, id, Some(shown), None).await
        }
        Err(e) => {
            let (_, status) = e.code_and_status();
            let msg = page::field_message(&e);
            user_page(&state, &b, status, id, None, Some(msg)).await
        }
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct RevokeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    user: String,
}

/// `POST /console/devices/{device}/revoke`: the device's next contact is refused (a phone
/// wipes itself); back to its user's page.
pub(super) async fn revoke(
    State(state): State<AppState>,
    b: Browser,
    Path(device): Path<String>,
    Form(f): Form<RevokeForm>,
) -> Response {
    if let Err(r) = page::admin_change(&state, &b, &f.csrf, "revoke_device").await {
        return r;
    }
    if !id_ok(&device) {
        return page::error_page(Some(b.chrome(&state)), &Error::NotFound("device"));
    }
    let result: Result<()> = admin::revoke_device(&state, b.caller.clone(), device).await;
    match result {
        Ok(()) if id_ok(&f.user) => {
            Redirect::to(&format!("/console/users/{}?revoked=1", f.user)).into_response()
        }
        Ok(()) => Redirect::to("/console/users").into_response(),
        Err(e) => page::error_page(Some(b.chrome(&state)), &e),
    }
}
