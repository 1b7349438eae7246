//! Transferring a case to another organisation (root administrators only): a page that shows
//! what the transfer ends (the team, the assigned guardians and social workers, the linked
//! carers, the devices holding the case's documents, which delete them at their next sync)
//! and asks for the receiving organisation and a confirmation. The change is the
//! administration service's `transfer_case`, audited `case_transferred`.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::admin_pages::FieldErrors;
use super::page::{self, Chrome};
use super::queries::{self, CaseRow, OrgRow, UserRow};
use super::session::Browser;
use crate::admin::{self, Transfer};
use crate::error::Error;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "console/transfer.html")]
struct TransferPage {
    chrome: Option<Chrome>,
    case: CaseRow,
    assigned: Vec<UserRow>,
    carers: Vec<UserRow>,
    devices: i64,
    targets: Vec<OrgRow>,
    org_id: String,
    errors: FieldErrors,
}

async fn transfer_page(
    state: &AppState,
    b: &Browser,
    status: StatusCode,
    id: String,
    org_id: String,
    errors: FieldErrors,
) -> Response {
    let admin = b.caller.user.clone();
    let read = move |c: crate::sql::Conn<'_>| {
        let (case, _, org) = queries::case(c, &admin, &id)?.ok_or(Error::NotFound(
            "no such case in an organisation you manage",
        ))?;
        let (assigned, carers) = queries::case_people(c, &id)?;
        let devices = queries::devices_holding(c, &id)?;
        let targets = queries::orgs(c, &admin)?
            .into_iter()
            .filter(|o| o.id != org)
            .collect();
        Ok((case, assigned, carers, devices, targets))
    };
    page::read_and_render(
        state,
        b,
        status,
        read,
        |(case, assigned, carers, devices, targets), chrome| TransferPage {
            chrome: Some(chrome),
            case,
            assigned,
            carers,
            devices,
            targets,
            org_id,
            errors,
        },
    )
    .await
}

/// `GET /console/cases/{case}/transfer`.
pub(super) async fn transfer_form(
    State(state): State<AppState>,
    b: Browser,
    Path(id): Path<String>,
) -> Response {
    let guard = page::root_record(&state, &b, "transfer_case", &id, "no such case");
    if let Err(r) = guard.await {
        return r;
    }
    let errors = FieldErrors::default();
    transfer_page(&state, &b, StatusCode::OK, id, String::new(), errors).await
}

/// The transfer form.
#[derive(Debug, Deserialize)]
pub(super) struct TransferForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    org_id: String,
    /// The confirmation checkbox (`yes` when ticked, absent otherwise).
    #[serde(default)]
    confirm: String,
}

/// `POST /console/cases/{case}/transfer`: move the case; bad input comes back beside the
/// field, unwritten.
pub(super) async fn transfer(
    State(state): State<AppState>,
    b: Browser,
    Path(id): Path<String>,
    Form(f): Form<TransferForm>,
) -> Response {
    let guard = page::root_record(&state, &b, "transfer_case", &id, "no such case");
    if let Err(r) = guard.await {
        return r;
    }
    if let Err(r) = page::check_csrf(&state, &b, &f.csrf, "transfer_case").await {
        return r;
    }
    let mut errors = FieldErrors::default();
    if f.org_id.trim().is_empty() {
        errors.org = Some("Choose the organisation that takes the case.".into());
    }
    if f.confirm != "yes" {
        errors.other =
            Some("Tick the box to confirm that the case's people and devices lose it.".into());
    }
    if !errors.any() {
        let req = Transfer {
            org_id: f.org_id.clone(),
        };
        match admin::transfer_case(&state, b.caller.clone(), id.clone(), req).await {
            Ok(()) => {
                return Redirect::to(&format!("/console/cases/{id}?transferred=1")).into_response();
            }
            Err(Error::NotFound("organisation")) => {
                errors.org = Some("No such organisation.".into());
            }
            Err(Error::Conflict(_)) => {
                errors.org = Some("The case already belongs to that organisation.".into());
            }
            Err(e) => return page::error_for(&state, &b, &e),
        }
    }
    transfer_page(&state, &b, StatusCode::BAD_REQUEST, id, f.org_id, errors).await
}
