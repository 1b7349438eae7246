//! The supervisor's review pages: the queue (every submitted note across the cases of their
//! teams, oldest first, paged) and one note laid out for reading with "Sign off" and "Return
//! with comment". Both call [`crate::review`], the same services as `GET /v1/review-queue`,
//! with its access checks and audit; the decision is written into the `visits` document as
//! the supervisor's change, with this browser as the device.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use casebook_core::ids::{CaseId, EntryId};
use casebook_core::model::{InterpreterMode, VisitNote};
use serde::Deserialize;
use serde_json::json;

use super::page::{self, Chrome};
use super::session::{Browser, audit_refusal};
use crate::access::Role;
use crate::error::Error;
use crate::review::{self, Decision, QueueEntry, QueueQuery};
use crate::state::AppState;

/// Supervisors only: anyone else gets 403, audited (`console_denied`, with the page).
async fn require_supervisor(state: &AppState, b: &Browser, page: &str) -> Result<(), Response> {
    if b.caller.user.role == Role::Supervisor {
        return Ok(());
    }
    let detail = json!({ "page": page, "reason": "supervisors only" });
    if let Err(e) = audit_refusal(state, b, "console_denied", detail).await {
        return Err(page::error_page(Some(b.chrome(state)), &e));
    }
    Err(page::error_page(
        Some(b.chrome(state)),
        &Error::Forbidden("supervisors only"),
    ))
}

/// "3 days", "5 hours", "12 minutes", "under a minute".
pub(super) fn age(seconds: i64) -> String {
    let plural = |n: i64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    match seconds {
        s if s >= 2 * 86_400 => plural(s / 86_400, "day"),
        s if s >= 3_600 => plural(s / 3_600, "hour"),
        s if s >= 60 => plural(s / 60, "minute"),
        _ => "under a minute".to_owned(),
    }
}

/// One row of the queue page.
struct QueueRow {
    href: String,
    reference: String,
    author: String,
    visited: String,
    age: String,
}

impl QueueRow {
    fn of(e: &QueueEntry) -> Self {
        QueueRow {
            href: format!("/console/review/{}/{}", e.case_id, e.note_id),
            reference: if e.case_reference.is_empty() {
                format!("Case {}", &e.case_id[..8.min(e.case_id.len())])
            } else {
                e.case_reference.clone()
            },
            author: e.author_name.clone(),
            visited: e.visited_at.map(date).unwrap_or_else(|| "—".into()),
            age: age(e.age_seconds),
        }
    }
}

fn date(at: i64) -> String {
    chrono::DateTime::from_timestamp(at, 0)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

#[derive(Template)]
#[template(path = "console/review.html")]
struct QueuePage {
    chrome: Option<Chrome>,
    rows: Vec<QueueRow>,
    next: Option<String>,
    first: bool,
    done: Option<&'static str>,
}

/// The query of the queue page.
#[derive(Debug, Default, Deserialize)]
pub(super) struct QueuePageQuery {
    #[serde(default)]
    after: Option<String>,
    #[serde(default)]
    done: Option<String>,
}

/// `GET /console/review`: the queue, oldest first, 50 a page.
pub(super) async fn queue(
    State(state): State<AppState>,
    b: Browser,
    Query(q): Query<QueuePageQuery>,
) -> Response {
    if let Err(r) = require_supervisor(&state, &b, "review").await {
        return r;
    }
    let query = QueueQuery {
        limit: Some(page::Paging::SIZE),
        after: q.after.clone().filter(|a| !a.is_empty()),
    };
    let first = query.after.is_none();
    let done = match q.done.as_deref() {
        Some("signed_off") => Some("Signed off. The author's phone receives it on its next sync."),
        Some("returned") => {
            Some("Returned with your comment. The author's phone receives it on its next sync.")
        }
        _ => None,
    };
    match review::list(&state, b.caller.clone(), query).await {
        Ok(found) => page::render(
            StatusCode::OK,
            &QueuePage {
                chrome: Some(b.chrome(&state)),
                rows: found.notes.iter().map(QueueRow::of).collect(),
                next: found.next,
                first,
                done,
            },
        ),
        Err(e) => page::error_page(Some(b.chrome(&state)), &e),
    }
}

/// A note as the page lays it out.
struct NoteView {
    visited: String,
    place: String,
    attendees: String,
    interpreter: String,
    interpreter_vetting: String,
    wishes_and_feelings: String,
    observations: String,
    actions: Vec<(String, String, String, bool)>,
    submit_comment: String,
}

impl NoteView {
    fn of(n: &VisitNote) -> Self {
        let i = &n.interpreter;
        let interpreter = match i.mode {
            InterpreterMode::None => "No interpreter".to_owned(),
            mode => {
                let how = match mode {
                    InterpreterMode::InPerson => "in person",
                    InterpreterMode::Telephone => "by telephone",
                    InterpreterMode::Video => "by video",
                    InterpreterMode::None => "",
                };
                format!("{} ({}), {}, {how}", i.name, i.agency, i.language)
            }
        };
        let vetting = match i.vetting {
            casebook_core::model::VettingStatus::NotChecked => "not checked",
            casebook_core::model::VettingStatus::Vetted => "vetted",
            casebook_core::model::VettingStatus::Concern => "concern raised",
        };
        NoteView {
            visited: n
                .visited_at
                .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
                .unwrap_or_else(|| "—".into()),
            place: n.place.clone(),
            attendees: n.attendees.join(", "),
            interpreter,
            interpreter_vetting: vetting.to_owned(),
            wishes_and_feelings: n.wishes_and_feelings.clone(),
            observations: n.observations.clone(),
            actions: n
                .actions
                .values()
                .map(|a| {
                    (
                        a.description.clone(),
                        a.owner.clone(),
                        a.due_on.map(|d| d.to_string()).unwrap_or_default(),
                        a.done,
                    )
                })
                .collect(),
            submit_comment: n.review.comment.clone(),
        }
    }
}

#[derive(Template)]
#[template(path = "console/review_note.html")]
struct NotePage {
    chrome: Option<Chrome>,
    action: String,
    reference: String,
    author: String,
    note: NoteView,
    awaiting: bool,
    comment: String,
    comment_error: Option<String>,
    error: Option<String>,
}

fn ids(case: &str, note: &str) -> Option<(CaseId, EntryId)> {
    Some((case.parse().ok()?, note.parse().ok()?))
}

async fn note_page(
    state: &AppState,
    b: &Browser,
    status: StatusCode,
    (case, note): (CaseId, EntryId),
    comment: String,
    comment_error: Option<String>,
    error: Option<String>,
) -> Response {
    match review::note_for_review(state, b.caller.clone(), case, note).await {
        Ok(found) => page::render(
            status,
            &NotePage {
                chrome: Some(b.chrome(state)),
                action: format!("/console/review/{case}/{note}"),
                reference: found.case_reference,
                author: found.author_name,
                awaiting: found.note.review.status == casebook_core::model::ReviewStatus::Submitted,
                note: NoteView::of(&found.note),
                comment,
                comment_error,
                error,
            },
        ),
        Err(e) => page::error_page(Some(b.chrome(state)), &e),
    }
}

/// `GET /console/review/{case}/{note}`: the note, laid out for reading.
pub(super) async fn note(
    State(state): State<AppState>,
    b: Browser,
    Path((case, note)): Path<(String, String)>,
) -> Response {
    if let Err(r) = require_supervisor(&state, &b, "review_note").await {
        return r;
    }
    let Some(ids) = ids(&case, &note) else {
        return page::error_page(Some(b.chrome(&state)), &Error::NotFound("no such note"));
    };
    note_page(&state, &b, StatusCode::OK, ids, String::new(), None, None).await
}

/// The sign-off and return forms.
#[derive(Debug, Deserialize)]
pub(super) struct DecisionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    decision: String,
    #[serde(default)]
    comment: String,
}

/// `POST /console/review/{case}/{note}`: sign off, or return with a comment (required).
pub(super) async fn decide(
    State(state): State<AppState>,
    b: Browser,
    Path((case, note)): Path<(String, String)>,
    Form(f): Form<DecisionForm>,
) -> Response {
    if let Err(r) = require_supervisor(&state, &b, "review_decision").await {
        return r;
    }
    if let Err(r) = page::check_csrf(&state, &b, &f.csrf, "review_decision").await {
        return r;
    }
    let Some(ids) = ids(&case, &note) else {
        return page::error_page(Some(b.chrome(&state)), &Error::NotFound("no such note"));
    };
    let (decision, done) = match f.decision.as_str() {
        "sign_off" => (Decision::SignOff, "signed_off"),
        "return" => (Decision::Return, "returned"),
        _ => {
            return page::error_page(
                Some(b.chrome(&state)),
                &Error::BadRequest("decision must be sign_off or return".into()),
            );
        }
    };
    match review::decide(&state, b.caller.clone(), ids.0, ids.1, decision, &f.comment).await {
        Ok(()) => Redirect::to(&format!("/console/review?done={done}")).into_response(),
        Err(Error::BadRequest(m)) => {
            let message = m.strip_prefix("comment: ").unwrap_or(&m);
            let mut chars = message.chars();
            let message: String = chars
                .next()
                .map(|first| first.to_uppercase().chain(chars).collect())
                .unwrap_or_default();
            note_page(
                &state,
                &b,
                StatusCode::BAD_REQUEST,
                ids,
                f.comment,
                Some(format!("{message}.")),
                None,
            )
            .await
        }
        Err(e @ Error::Conflict(_)) => {
            note_page(
                &state,
                &b,
                StatusCode::CONFLICT,
                ids,
                f.comment,
                None,
                Some(e.to_string()),
            )
            .await
        }
        Err(e) => page::error_page(Some(b.chrome(&state)), &e),
    }
}

#[cfg(test)]
mod tests {
    use super::age;

    #[test]
    fn a_waiting_time_reads_in_its_largest_whole_unit() {
        for (seconds, shown) in [
            (0, "under a minute"),
            (59, "under a minute"),
            (60, "1 minute"),
            (3_599, "59 minutes"),
            (3_600, "1 hour"),
            (2 * 86_400 - 1, "47 hours"),
            (2 * 86_400, "2 days"),
        ] {
            assert_eq!(age(seconds), shown, "{seconds}");
        }
    }
}
