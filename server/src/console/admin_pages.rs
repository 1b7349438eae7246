//! The administrator's pages about the directory: home, organisations, users (list, search,
//! create). One person's page is in `person_pages`, the CSV import in `import_pages`. Every
//! change calls the administration service the JSON API calls, with its access checks and
//! audit.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::page::{self, Chrome, Paging};
use super::queries::{self, OrgRow, UserRow};
use super::session::Browser;
use crate::access::Role;
use crate::admin::{self, NewOrg, NewUser};
use crate::error::Error;
use crate::names;
use crate::state::AppState;

/// Search and page of a list.
#[derive(Debug, Default, Deserialize)]
pub(super) struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    page: u32,
    /// Users just imported (a notice on the users page).
    #[serde(default)]
    imported: Option<u32>,
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
                        crate::params![admin.org_id, admin.org_is_root],
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
    let read = move |c: crate::sql::Conn<'_>| queries::orgs(c, &admin);
    page::read_and_render(state, b, status, read, |orgs, chrome| OrgsPage {
        chrome: Some(chrome),
        orgs,
        name,
        errors,
    })
    .await
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
    imported: Option<u32>,
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
    (mut paging, imported): (Paging, Option<u32>),
    form: UserForm,
    errors: FieldErrors,
) -> Response {
    let admin = b.caller.user.clone();
    let read = move |c: crate::sql::Conn<'_>| {
        let users = queries::users(c, &admin, &mut paging, None)?;
        Ok((users, queries::orgs(c, &admin)?, paging))
    };
    page::read_and_render(state, b, status, read, |(users, orgs, paging), chrome| {
        UsersPage {
            chrome: Some(chrome),
            imported,
            users,
            paging,
            orgs,
            roles: roles(),
            form,
            errors,
        }
    })
    .await
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
    let listed = (q.paging(), q.imported);
    users_page(
        &state,
        &b,
        StatusCode::OK,
        listed,
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
    let listed = (Paging::default(), None);
    users_page(&state, &b, StatusCode::BAD_REQUEST, listed, f, errors).await
}
