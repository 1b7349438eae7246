//! The administrator's pages about teams and cases: teams (list, search, create) and their
//! members; cases (list, search, create), a case's team, its assigned guardians and social
//! workers, and its linked carers. Changes go through the administration services.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::admin_pages::{FieldErrors, ListQuery, check_name};
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

impl NewForm {
    /// An empty form, the administrator's own organisation chosen.
    fn blank(b: &Browser) -> Self {
        NewForm {
            org_id: b.caller.user.org_id.clone(),
            ..NewForm::default()
        }
    }
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
    mut paging: Paging,
    form: NewForm,
    errors: FieldErrors,
) -> Response {
    let admin = b.caller.user.clone();
    let read = move |c: crate::sql::Conn<'_>| {
        let teams = queries::teams(c, &admin, &mut paging)?;
        Ok((teams, queries::orgs(c, &admin)?, paging))
    };
    page::read_and_render(state, b, status, read, |(teams, orgs, paging), chrome| {
        TeamsPage {
            chrome: Some(chrome),
            teams,
            paging,
            orgs,
            form,
            errors,
        }
    })
    .await
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
    let (paging, form) = (q.paging(), NewForm::blank(&b));
    teams_page(
        &state,
        &b,
        StatusCode::OK,
        paging,
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
    let read = move |c: crate::sql::Conn<'_>| {
        let team = queries::team(c, &admin, &id)?.ok_or(Error::NotFound(
            "no such team in an organisation you manage",
        ))?;
        let org = queries::team_org(c, &id)?.unwrap_or_default();
        let members = queries::team_members(c, &id)?;
        let roles = ["supervisor", "guardian", "social_worker", "carer"];
        let choices = not_among(queries::choices(c, &org, &roles)?, &members);
        Ok((team, members, choices))
    };
    page::read_and_render(
        state,
        b,
        status,
        read,
        |(team, members, choices), chrome| TeamPage {
            chrome: Some(chrome),
            team,
            members,
            choices,
            error,
        },
    )
    .await
}

/// The people of `choices` who are not in `present` (a form offers only the others).
fn not_among(choices: Vec<UserRow>, present: &[UserRow]) -> Vec<UserRow> {
    choices
        .into_iter()
        .filter(|u| !present.iter().any(|p| p.id == u.id))
        .collect()
}

/// `GET /console/teams/{team}`.
pub(super) async fn team(
    State(state): State<AppState>,
    b: Browser,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = page::admin_record(&state, &b, "team", &id, "no such team").await {
        return r;
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
    let guard = page::admin_record_change(&state, &b, &f.csrf, "team_member", &id, "no such team");
    if let Err(r) = guard.await {
        return r;
    }
    let add = match f.action.as_str() {
        "add" => true,
        "remove" => false,
        _ => {
            let msg = Some("Unknown action.".to_owned());
            return team_page(&state, &b, StatusCode::BAD_REQUEST, id, msg).await;
        }
    };
    if !page::id_ok(&f.user_id) {
        let msg = Some("Choose a person.".to_owned());
        return team_page(&state, &b, StatusCode::BAD_REQUEST, id, msg).await;
    }
    let result = admin::team_member(&state, b.caller.clone(), id.clone(), f.user_id, add).await;
    let back = format!("/console/teams/{id}");
    answered(result, &back, |status, e| {
        team_page(&state, &b, status, id, e)
    })
    .await
}

/// After a change on a team's or a case's page: back to `back`, or the page again (`again`)
/// with the refusal and its status.
async fn answered<F, Fut>(result: crate::error::Result<()>, back: &str, again: F) -> Response
where
    F: FnOnce(StatusCode, Option<String>) -> Fut,
    Fut: std::future::Future<Output = Response>,
{
    match result {
        Ok(()) => Redirect::to(back).into_response(),
        Err(e) => {
            let (_, status) = e.code_and_status();
            again(status, Some(page::field_message(&e))).await
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
    mut paging: Paging,
    form: NewForm,
    errors: FieldErrors,
) -> Response {
    let admin = b.caller.user.clone();
    let read = move |c: crate::sql::Conn<'_>| {
        let cases = queries::cases(c, &admin, &mut paging)?;
        let teams = queries::team_choices(c, &admin.org_id)?;
        Ok((cases, queries::orgs(c, &admin)?, teams, paging))
    };
    page::read_and_render(
        state,
        b,
        status,
        read,
        |(cases, orgs, teams, paging), chrome| CasesPage {
            chrome: Some(chrome),
            cases,
            paging,
            orgs,
            teams,
            form,
            errors,
        },
    )
    .await
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
    let (paging, form) = (q.paging(), NewForm::blank(&b));
    cases_page(
        &state,
        &b,
        StatusCode::OK,
        paging,
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
    if team.as_deref().is_some_and(|t| !page::id_ok(t)) {
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
    let read = move |c: crate::sql::Conn<'_>| {
        let (case, team, org) = queries::case(c, &admin, &id)?.ok_or(Error::NotFound(
            "no such case in an organisation you manage",
        ))?;
        let (assigned, carers) = queries::case_people(c, &id)?;
        let teams = queries::team_choices(c, &org)?;
        let assignable = not_among(
            queries::choices(c, &org, &["guardian", "social_worker"])?,
            &assigned,
        );
        let carer_choices = not_among(queries::choices(c, &org, &["carer"])?, &carers);
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
    };
    page::read_and_render(state, b, status, read, |found: CasePage, chrome| CasePage {
        chrome: Some(chrome),
        ..found
    })
    .await
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
    if let Err(r) = page::admin_record(&state, &b, "case", &id, "no such case").await {
        return r;
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
    let guard = page::admin_record_change(&state, &b, &f.csrf, "case_link", &id, "no such case");
    if let Err(r) = guard.await {
        return r;
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
    if !page::id_ok(&f.user_id) {
        let msg = Some("Choose a person.".to_owned());
        return case_page(&state, &b, StatusCode::BAD_REQUEST, id, msg).await;
    }
    let result = admin::case_link(&state, b.caller.clone(), id.clone(), f.user_id, link, add).await;
    let back = format!("/console/cases/{id}");
    answered(result, &back, |status, e| {
        case_page(&state, &b, status, id, e)
    })
    .await
}

/// `POST /console/cases/{case}/team`: put the case in a team (empty: none).
pub(super) async fn case_team(
    State(state): State<AppState>,
    b: Browser,
    Path(id): Path<String>,
    Form(f): Form<NewForm>,
) -> Response {
    let guard = page::admin_record_change(&state, &b, &f.csrf, "case_team", &id, "no such case");
    if let Err(r) = guard.await {
        return r;
    }
    let team_id = (!f.team_id.is_empty()).then(|| f.team_id.clone());
    if team_id.as_deref().is_some_and(|t| !page::id_ok(t)) {
        let msg = Some("No such team.".to_owned());
        return case_page(&state, &b, StatusCode::BAD_REQUEST, id, msg).await;
    }
    let result = admin::set_case_team(&state, b.caller.clone(), id.clone(), SetTeam { team_id });
    let back = format!("/console/cases/{id}");
    answered(result.await, &back, |status, e| {
        case_page(&state, &b, status, id, e)
    })
    .await
}
