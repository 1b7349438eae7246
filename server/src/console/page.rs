//! What every console page shares: the chrome (who is signed in, the CSRF token, whether to
//! renew the session), rendering a template into an answer, error pages, and the two guards
//! every change passes (administrators only, a valid CSRF token), both audited when refused.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde_json::json;

use super::session::{Browser, audit_refusal};
use crate::access::Role;
use crate::error::{Error, Result};
use crate::sql::Conn;
use crate::state::AppState;

/// Who is signed in, as every page's header shows it.
#[derive(Debug, Clone)]
pub struct Chrome {
    /// The user's display name.
    pub name: String,
    /// Their role.
    pub role: &'static str,
    /// Whether they are an administrator (the administrator pages are linked).
    pub is_admin: bool,
    /// Whether their organisation is the root one (organisations are linked).
    pub is_root: bool,
    /// This session's CSRF token, put in every form.
    pub csrf: String,
    /// The session is in its second half: the script renews it with a fresh challenge.
    pub renew: bool,
}

/// Render `t` with `status`; a template failure is a plain 500.
pub fn render<T: Template>(status: StatusCode, t: &T) -> Response {
    match t.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "console template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal server error").into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "console/error.html")]
struct ErrorPage {
    chrome: Option<Chrome>,
    title: &'static str,
    message: String,
}

/// The error page for `e` (internal detail is logged, never shown).
pub fn error_page(chrome: Option<Chrome>, e: &Error) -> Response {
    let (_, status) = e.code_and_status();
    let title = match status {
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::BAD_REQUEST => "Not accepted",
        StatusCode::CONFLICT => "Conflict",
        StatusCode::TOO_MANY_REQUESTS => "Too many attempts",
        _ => "Something went wrong",
    };
    let message = if status.is_server_error() {
        tracing::error!(error = %e, "console: internal error");
        "The server could not complete this request.".to_owned()
    } else {
        e.to_string()
    };
    render(
        status,
        &ErrorPage {
            chrome,
            title,
            message,
        },
    )
}

/// Read what a page shows with `read` (off the async executor), then render the page `build`
/// makes of it and this browser's chrome with `status`; a failed read is the error page.
pub async fn read_and_render<R, T, F, B>(
    state: &AppState,
    b: &Browser,
    status: StatusCode,
    read: F,
    build: B,
) -> Response
where
    R: Send + 'static,
    T: Template,
    F: FnOnce(Conn<'_>) -> Result<R> + Send + 'static,
    B: FnOnce(R, Chrome) -> T,
{
    match state.db.read(read).await {
        Ok(found) => render(status, &build(found, b.chrome(state))),
        Err(e) => error_page(Some(b.chrome(state)), &e),
    }
}

/// The error page for `e`, with this browser's chrome.
pub fn error_for(state: &AppState, b: &Browser, e: &Error) -> Response {
    error_page(Some(b.chrome(state)), e)
}

/// A page about the record `id` (a hex id from the path): administrators only, and an id of
/// any other shape is "no such `what`" without a query.
pub async fn admin_record(
    state: &AppState,
    b: &Browser,
    page: &str,
    id: &str,
    what: &'static str,
) -> Result<(), Response> {
    require_admin(state, b, page).await?;
    known_shape(state, b, id, what).await
}

/// A change to the record `id` (a hex id from the path): administrators only, a valid CSRF
/// token, and an id of any other shape is "no such `what`".
pub async fn admin_record_change(
    state: &AppState,
    b: &Browser,
    csrf: &str,
    form: &str,
    id: &str,
    what: &'static str,
) -> Result<(), Response> {
    admin_change(state, b, csrf, form).await?;
    known_shape(state, b, id, what).await
}

/// An id of the shape ids have, or the error page "no such `what`".
async fn known_shape(
    state: &AppState,
    b: &Browser,
    id: &str,
    what: &'static str,
) -> Result<(), Response> {
    if id_ok(id) {
        Ok(())
    } else {
        Err(error_for(state, b, &Error::NotFound(what)))
    }
}

/// A page or change about the record `id` for root administrators only: anyone else gets
/// 403, audited (`console_denied`); an id of any other shape is "no such `what`".
pub async fn root_record(
    state: &AppState,
    b: &Browser,
    page: &str,
    id: &str,
    what: &'static str,
) -> Result<(), Response> {
    require_admin(state, b, page).await?;
    if !b.caller.user.org_is_root {
        let detail = json!({ "page": page, "reason": "root administrators only" });
        if let Err(e) = audit_refusal(state, b, "console_denied", detail).await {
            return Err(error_for(state, b, &e));
        }
        let e = Error::Forbidden("only root administrators may do this");
        return Err(error_for(state, b, &e));
    }
    known_shape(state, b, id, what).await
}

/// A hex id from a path or form (anything else is not found, without a query).
pub fn id_ok(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Fallback for unknown console paths.
pub async fn not_found() -> Response {
    error_page(None, &Error::NotFound("no such page"))
}

/// Administrators only: anyone else gets 403, and the refusal is audited
/// (`console_denied`, with the page).
pub async fn require_admin(state: &AppState, b: &Browser, page: &str) -> Result<(), Response> {
    if b.caller.user.role == Role::Administrator {
        return Ok(());
    }
    let detail = json!({ "page": page, "reason": "administrators only" });
    if let Err(e) = audit_refusal(state, b, "console_denied", detail).await {
        return Err(error_for(state, b, &e));
    }
    Err(error_for(
        state,
        b,
        &Error::Forbidden("administrators only"),
    ))
}

/// A form's CSRF token must be this session's: otherwise 403, audited (`console_csrf_refused`).
pub async fn check_csrf(
    state: &AppState,
    b: &Browser,
    given: &str,
    form: &str,
) -> Result<(), Response> {
    if b.csrf_ok(given) {
        return Ok(());
    }
    let detail =
        json!({ "form": form, "token": if given.is_empty() { "missing" } else { "wrong" } });
    if let Err(e) = audit_refusal(state, b, "console_csrf_refused", detail).await {
        return Err(error_for(state, b, &e));
    }
    Err(error_for(
        state,
        b,
        &Error::Forbidden("the form's security token is missing or wrong; reload the page"),
    ))
}

/// Both guards of a change: administrator, then CSRF.
pub async fn admin_change(
    state: &AppState,
    b: &Browser,
    given: &str,
    form: &str,
) -> Result<(), Response> {
    require_admin(state, b, form).await?;
    check_csrf(state, b, given, form).await
}

/// Unix seconds as `2026-11-30 23:40 UTC`.
pub fn time(at: i64) -> String {
    chrono::DateTime::from_timestamp(at, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| at.to_string())
}

/// A human message for a field from a domain error (`name must not be empty` → the part after
/// the field name).
pub fn field_message(e: &Error) -> String {
    match e {
        Error::BadRequest(m) => m.clone(),
        other => other.to_string(),
    }
}

/// One page of a list: which page, and whether there are more.
#[derive(Debug, Clone, Default)]
pub struct Paging {
    /// From 0.
    pub page: u32,
    /// A next page exists.
    pub more: bool,
    /// The search text.
    pub q: String,
}

impl Paging {
    /// Rows per page.
    pub const SIZE: u32 = 50;

    /// The previous page's number, if any.
    pub fn prev(&self) -> Option<u32> {
        self.page.checked_sub(1)
    }

    /// The next page's number, if any.
    pub fn next(&self) -> Option<u32> {
        self.more.then_some(self.page + 1)
    }
}

/// A value of one of the core's snake_case enums as words: `reasonable_grounds` →
/// `Reasonable grounds`.
pub fn label<T: serde::Serialize>(value: &T) -> String {
    let text = match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    };
    if let Some(plain) = value_label(&text) {
        return plain.to_owned();
    }
    let words = text.replace('_', " ");
    let mut chars = words.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => words,
    }
}

/// Page `rows` (already filtered and ordered) by [`Paging::SIZE`]: the rows of `page`, and the
/// paging to show.
pub fn page_of<T>(rows: Vec<T>, page: u32) -> (Vec<T>, Paging) {
    let size = Paging::SIZE as usize;
    let start = (page as usize).saturating_mul(size);
    let more = rows.len() > start.saturating_add(size);
    let shown = rows.into_iter().skip(start).take(size).collect();
    (
        shown,
        Paging {
            page,
            more,
            q: String::new(),
        },
    )
}

/// The plain English of a value the case model stores as a code (its enums, in snake case:
/// `not_recorded`, `home_office`, `agreed`), for pages that show a record's fields; `None` for
/// anything else (free text is shown as written).
pub fn value_label(value: &str) -> Option<&'static str> {
    VALUE_LABELS
        .iter()
        .find(|(code, _)| *code == value)
        .map(|(_, plain)| *plain)
}

/// Every enum value of the case model and its label.
const VALUE_LABELS: &[(&str, &str)] = &[
    ("active", "Active"),
    ("agreed", "Agreed"),
    ("alias", "Alias"),
    ("appealing", "Appealing"),
    ("approved", "Approved"),
    ("assessed_adult", "Assessed as an adult"),
    ("asylum_decision", "Asylum decision"),
    ("apply_before_leave_ends", "Apply before leave ends"),
    (
        "away_from_placement",
        "Away from placement without authorisation",
    ),
    ("care_order", "Care order"),
    ("care_plan_review", "Care plan review"),
    ("carers", "Carers"),
    ("changes_asked", "Changes asked for"),
    ("claimed", "Claimed"),
    ("concern", "Concern"),
    (
        "conclusive_grounds_from",
        "Conclusive grounds decision possible from",
    ),
    ("declined", "Declined"),
    ("disputed_treat_as_child", "Disputed (treated as a child)"),
    ("documented", "Documented"),
    ("done", "Done"),
    ("draft", "Draft"),
    ("education", "Education"),
    ("education_plan_review", "Education plan review"),
    ("eighteenth_birthday", "18th birthday"),
    ("emergency", "Emergency placement"),
    ("foster_care", "Foster care"),
    ("guardian", "Guardian"),
    ("health", "Health"),
    ("health_plan_review", "Health plan review"),
    ("home_office", "Home Office"),
    ("humanitarian_protection", "Humanitarian protection"),
    ("in_person", "In person"),
    ("local_authority", "Local authority"),
    ("local_panel", "Local safeguarding partners' panel"),
    ("missing", "Missing"),
    ("negative", "Negative"),
    ("none", "None"),
    ("not_agreed", "Not agreed"),
    ("not_asked", "Not asked"),
    ("not_checked", "Not checked"),
    ("not_possible", "Not possible"),
    ("not_recorded", "Not recorded"),
    ("not_yet", "Not yet"),
    ("ok", "OK"),
    ("organisation", "Organisation"),
    ("other", "Other"),
    ("other_interpreter", "Another interpreter"),
    ("pathway_plan", "Pathway plan"),
    ("pathway_plan_review", "Pathway plan review"),
    ("pending", "Pending"),
    ("personal_adviser", "Personal adviser"),
    ("phone", "Phone"),
    ("police", "Police"),
    ("police_protection", "Police protection"),
    ("positive", "Positive"),
    ("proceed", "Proceed"),
    ("reasonable_grounds", "Reasonable grounds decision"),
    ("refugee_status", "Refugee status"),
    ("refused_no_leave", "Refused, no leave"),
    ("residential_home", "Residential home"),
    ("retired", "Retired"),
    ("return_interview", "Return interview"),
    ("returned", "Returned"),
    ("safety_check", "Safety check"),
    ("signed_off", "Signed off"),
    ("social_care", "Social care"),
    ("specialist", "Specialist placement"),
    ("submitted", "Submitted"),
    ("supported_accommodation", "Supported accommodation"),
    ("telephone", "Telephone"),
    ("uasc_leave", "UASC leave"),
    ("uasc_leave_review", "UASC leave review (at 17½)"),
    ("undecided", "Undecided"),
    ("vetted", "Vetted"),
    ("video", "Video"),
];

/// [`VALUE_LABELS`], for the tests of the pages that use it.
#[cfg(test)]
pub(super) const VALUE_LABELS_FOR_TESTS: &[(&str, &str)] = VALUE_LABELS;
