//! The administrator's pages about teams and cases: teams (list, search, create) and their
//! members; cases (list, search, create), a case's team, its assigned guardians and social
//! workers, and its linked carers. Changes go through the administration services.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::admin_pages::{FieldErrors, ListQuery, check_name, id_ok};
use super::page::{self, Chrome, Paging};
use super::queries::{self, CaseRow, OrgRow, TeamRow, UserRow};
use super::session::Browser;
use crate::admin::{self, CaseLink, NewCase, NewTeam, SetTeam};
use crate::error::Error;
use crate::state::AppState;

/// The values of the new-team and new-case forms.
#[derive(Debug, Default, Deserialize)]
pub(super) struct NewForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    org_id: String,
    #[serde(default)]
    team_id: String,
}

#[derive(Template)]
#[template(path = "console/teams.html")]
struct TeamsPage {
    chrome: Option<Chrome>,
    teams: Vec<TeamRow>,
    paging: Paging,
    orgs: Vec<OrgRow>,
    form: NewForm,
    errors: FieldErrors,
}

async fn teams_page(
    state: &AppState,
    b: &Browser,
    status: StatusCode,
    paging: Paging,
    form: NewForm,
    errors: FieldErrors,
) -> Response {
    let admin = b.caller.user.clone();
    let mut p = paging;
    let found = state
        .db
        .read(move |c| {
            let teams = queries::teams(c, &admin, &mut p)?;
            Ok((teams, queries::orgs(c, &admin)?, p))
        })
        .await;
    match found {
        Ok((teams, orgs, paging)) => page::render(
            status,
            &TeamsPage {
                chrome: Some(b.chrome(state)),
                teams,
                paging,
                orgs,
                form,
                errors,
            },
        ),
        Err(e) => page::error_page(Some(b.chrome(state)), &e),
    }
}

/// `GET /console/teams?q=&page=`.
pub(super) async fn teams(
    State(state): State<AppState>,
    b: Browser,
    Query(q): Query<ListQuery>,
) -> Response {
    if let Err(r) = page::require_admin(&state, &b, "teams").await {
        return r;
    }
    let form = NewForm {
        org_id: b.caller.user.org_id.clone(),
        ..NewForm::default()
    };
    teams_page(
        &state,
        &b,
        StatusCode::OK,
        q.paging(),
        form,
        FieldErrors::default(),
    )
    .await
}

/// `POST /console/teams`.
pub(super) async fn create_team(
    State(state): State<AppState>,
    b: Browser,
    Form(f): Form<NewForm>,
) -> Response {
    if let Err(r) = page::admin_change(&state, &b, &f.csrf, "create_team").await {
        return r;
    }
    let mut errors = FieldErrors {
        name: check_name(&f.name),
        ..FieldErrors::default()
    };
    if f.org_id.trim().is_empty() {
        errors.org = Some("Choose an organisation.".into());
    }
    if !errors.any() {
        let req = NewTeam {
            name: f.name.trim().to_owned(),
            org_id: f.org_id.clone(),
        };
        match admin::create_team(&state, b.caller.clone(), req).await {
            Ok(c) => return Redirect::to(&format!("/console/teams/{}", c.id)).into_response(),
            Err(Error::NotFound(_)) => errors.org = Some("No such organisation.".into()),
            Err(e) => errors.other = Some(page::field_message(&e)),
        }
    }
    teams_page(
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
#[template(path = "console/team.html")]
struct TeamPage {
    chrome: Option<Chrome>,
    team: TeamRow,
    members: Vec<UserRow>,
    choices: Vec<UserRow>,
    error: Option<String>,
}

async fn team_page(
    state: &AppState,
    b: &Browser,
    status: StatusCode,
    id: String,
    error: Option<String>,
) -> Response {
    let admin = b.caller.user.clone();
    let found = state
        .db
        .read(move |c| {
            let team = queries::team(c, &admin, &id)?.ok_or(Error::NotFound(
                "no such team in an organisation you manage",
            ))?;
            let org = queries::team_org(c, &id)?.unwrap_or_default();
            let members = queries::team_members(c, &id)?;
            let choices = queries::choices(
                c,
                &org,
                &["supervisor", "guardian", "social_worker", "carer"],
            )?
            .into_iter()
            .filter(|u| !members.iter().any(|m| m.id == u.id))
            .collect();
            Ok((team, members, choices))
        })
        .await;
    match found {
        Ok((team, members, choices)) => page::render(
            status,
            &TeamPage {
                chrome: Some(b.chrome(state)),
                team,
                members,
                choices,
                error,
            },
        ),
        Err(e) => page::error_page(Some(b.chrome(state)), &e),
    }
}

/// `GET /console/teams/{team}`.
pub(super) async fn team(
    State(state): State<AppState>,
    b: Browser,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = page::require_admin(&state, &b, "team").await {
        return r;
    }
    if !id_ok(&id) {
        return page::error_page(Some(b.chrome(&state)), &Error::NotFound("no such team"));
    }
    team_page(&state, &b, StatusCode::OK, id, None).await
}

/// Add or remove one person (teams) or link (cases).
#[derive(Debug, Deserialize)]
pub(super) struct LinkForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    user_id: String,
    /// `add` or `remove`.
    #[serde(default)]
    action: String,
    /// Cases: `assign` (guardian, social worker) or `carer`.
    #[serde(default)]
    link: String,
}

/// `POST /console/teams/{team}/members`.
pub(super) async fn team_member(
    State(state): State<AppState>,
    b: Browser,
    Path(id): Path<String>,
    Form(f): Form<LinkForm>,
) -> Response {
    if let Err(r) = page::admin_change(&state, &b, &f.csrf, "team_member").await {
        return r;
    }
    if !id_ok(&id) {
        return page::error_page(Some(b.chrome(&state)), &Error::NotFound("no such team"));
    }
    let add = match f.action.as_str() {
        "add" => true,
        "remove" => false,
        _ => {
            let msg = Some("Unknown action.".to_owned());
            return team_page(&state, &b, StatusCode::BAD_REQUEST, id, msg).await;
        }
    };
    if !id_ok(&f.user_id) {
        let msg = Some("Choose a person.".to_owned());
        return team_page(&state, &b, StatusCode::BAD_REQUEST, id, msg).await;
    }
    match admin::team_member(&state, b.caller.clone(), id.clone(), f.user_id, add).await {
        Ok(()) => Redirect::to(&format!("/console/teams/{id}")).into_response(),
        Err(e) => {
            let (_, status) = e.code_and_status();
            team_page(&state, &b, status, id, Some(page::field_message(&e))).await
        }
    }
}

#[derive(Template)]
#[template(path = "console/cases.html")]
struct CasesPage {
    chrome: Option<Chrome>,
    cases: Vec<CaseRow>,
    paging: Paging,
    orgs: Vec<OrgRow>,
    teams: Vec<(String, String)>,
    form: NewForm,
    errors: FieldErrors,
}

async fn cases_page(
    state: &AppState,
    b: &Browser,
    status: StatusCode,
    paging: Paging,
    form: NewForm,
    errors: FieldErrors,
) -> Response {
    let admin = b.caller.user.clone();
    let mut p = paging;
    let found = state
        .db
        .read(move |c| {
            let cases = queries::cases(c, &admin, &mut p)?;
            let teams = queries::team_choices(c, &admin.org_id)?;
            Ok((cases, queries::orgs(c, &admin)?, teams, p))
        })
        .await;
    match found {
        Ok((cases, orgs, teams, paging)) => page::render(
            status,
            &CasesPage {
                chrome: Some(b.chrome(state)),
                cases,
                paging,
                orgs,
                teams,
                form,
                errors,
            },
        ),
        Err(e) => page::error_page(Some(b.chrome(state)), &e),
    }
}

/// `GET /console/cases?q=&page=`.
pub(super) async fn cases(
    State(state): State<AppState>,
    b: Browser,
    Query(q): Query<ListQuery>,
) -> Response {
    if let Err(r) = page::require_admin(&state, &b, "cases").await {
        return r;
    }
    let form = NewForm {
        org_id: b.caller.user.org_id.clone(),
        ..NewForm::default()
    };
    cases_page(
        &state,
        &b,
        StatusCode::OK,
        q.paging(),
        form,
        FieldErrors::default(),
    )
    .await
}

/// `POST /console/cases`: register a case (its documents come from the phones).
pub(super) async fn create_case(
    State(state): State<AppState>,
    b: Browser,
    Form(f): Form<NewForm>,
) -> Response {
    if let Err(r) = page::admin_change(&state, &b, &f.csrf, "create_case").await {
        return r;
    }
    let mut errors = FieldErrors::default();
    if f.org_id.trim().is_empty() {
        errors.org = Some("Choose an organisation.".into());
    }
    let team = (!f.team_id.is_empty()).then(|| f.team_id.clone());
    if team.as_deref().is_some_and(|t| !id_ok(t)) {
        errors.name = Some("No such team.".into());
    }
    if !errors.any() {
        let req = NewCase {
            case_id: None,
            org_id: f.org_id.clone(),
            team_id: team,
        };
        match admin::create_case(&state, b.caller.clone(), req).await {
            Ok(c) => return Redirect::to(&format!("/console/cases/{}", c.id)).into_response(),
            Err(Error::NotFound(_)) => errors.org = Some("No such organisation or team.".into()),
            Err(e) => errors.other = Some(page::field_message(&e)),
        }
    }
    cases_page(
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
#[template(path = "console/case.html")]
struct CasePage {
    chrome: Option<Chrome>,
    case: CaseRow,
    team_id: String,
    teams: Vec<(String, String)>,
    assigned: Vec<UserRow>,
    carers: Vec<UserRow>,
    assignable: Vec<UserRow>,
    carer_choices: Vec<UserRow>,
    error: Option<String>,
}

async fn case_page(
    state: &AppState,
    b: &Browser,
    status: StatusCode,
    id: String,
    error: Option<String>,
) -> Response {
    let admin = b.caller.user.clone();
    let found = state
        .db
        .read(move |c| {
            let (case, team, org) = queries::case(c, &admin, &id)?.ok_or(Error::NotFound(
                "no such case in an organisation you manage",
            ))?;
            let (assigned, carers) = queries::case_people(c, &id)?;
            let teams = queries::team_choices(c, &org)?;
            let assignable = queries::choices(c, &org, &["guardian", "social_worker"])?
                .into_iter()
                .filter(|u| !assigned.iter().any(|a| a.id == u.id))
                .collect();
            let carer_choices = queries::choices(c, &org, &["carer"])?
                .into_iter()
                .filter(|u| !carers.iter().any(|a| a.id == u.id))
                .collect();
            Ok(CasePage {
                chrome: None,
                case,
                team_id: team.unwrap_or_default(),
                teams,
                assigned,
                carers,
                assignable,
                carer_choices,
                error,
            })
        })
        .await;
    match found {
        Ok(mut p) => {
            p.chrome = Some(b.chrome(state));
            page::render(status, &p)
        }
        Err(e) => page::error_page(Some(b.chrome(state)), &e),
    }
}

/// `GET /console/cases/{case}`.
pub(super) async fn case(
    State(state): State<AppState>,
    b: Browser,
    Path(id): Path<String>,
    Query(q): Query<super::case_read::CasePageQuery>,
) -> Response {
    if b.caller.user.role != crate::access::Role::Administrator {
        return super::case_read::case(&state, &b, &id, q).await;
    }
    if !id_ok(&id) {
        return page::error_page(Some(b.chrome(&state)), &Error::NotFound("no such case"));
    }
    case_page(&state, &b, StatusCode::OK, id, None).await
}

/// `POST /console/cases/{case}/links`: assign or unassign a guardian or social worker, link
/// or unlink a carer.
pub(super) async fn case_link(
    State(state): State<AppState>,
    b: Browser,
    Path(id): Path<String>,
    Form(f): Form<LinkForm>,
) -> Response {
    if let Err(r) = page::admin_change(&state, &b, &f.csrf, "case_link").await {
        return r;
    }
    if !id_ok(&id) {
        return page::error_page(Some(b.chrome(&state)), &Error::NotFound("no such case"));
    }
    let link = match f.link.as_str() {
        "assign" => Some(CaseLink::Assignment),
        "carer" => Some(CaseLink::Placement),
        _ => None,
    };
    let add = match f.action.as_str() {
        "add" => Some(true),
        "remove" => Some(false),
        _ => None,
    };
    let (Some(link), Some(add)) = (link, add) else {
        let msg = Some("Unknown action.".to_owned());
        return case_page(&state, &b, StatusCode::BAD_REQUEST, id, msg).await;
    };
    if !id_ok(&f.user_id) {
        let msg = Some("Choose a person.".to_owned());
        return case_page(&state, &b, StatusCode::BAD_REQUEST, id, msg).await;
    }
    match admin::case_link(&state, b.caller.clone(), id.clone(), f.user_id, link, add).await {
        Ok(()) => Redirect::to(&format!("/console/cases/{id}")).into_response(),
        Err(e) => {
            let (_, status) = e.code_and_status();
            case_page(&state, &b, status, id, Some(page::field_message(&e))).await
        }
    }
}

/// `POST /console/cases/{case}/team`: put the case in a team (empty: none).
pub(super) async fn case_team(
    State(state): State<AppState>,
    b: Browser,
    Path(id): Path<String>,
    Form(f): Form<NewForm>,
) -> Response {
    if let Err(r) = page::admin_change(&state, &b, &f.csrf, "case_team").await {
        return r;
    }
    if !id_ok(&id) {
        return page::error_page(Some(b.chrome(&state)), &Error::NotFound("no such case"));
    }
    let team_id = (!f.team_id.is_empty()).then(|| f.team_id.clone());
    if team_id.as_deref().is_some_and(|t| !id_ok(t)) {
        let msg = Some("No such team.".to_owned());
        return case_page(&state, &b, StatusCode::BAD_REQUEST, id, msg).await;
    }
    match admin::set_case_team(&state, b.caller.clone(), id.clone(), SetTeam { team_id }).await {
        Ok(()) => Redirect::to(&format!("/console/cases/{id}")).into_response(),
        Err(e) => {
            let (_, status) = e.code_and_status();
            case_page(&state, &b, status, id, Some(page::field_message(&e))).await
        }
    }
}
