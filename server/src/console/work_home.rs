//! The home page of a supervisor (and of a guardian, social worker or carer who signs in):
//! their alerts (missing from care first, unacknowledged at the top, acknowledged in one
//! click), the deadlines due this week across their cases, the documents with conflicts
//! waiting for a person, and the cases they may open. Every list pages.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use casebook_core::alert::AcknowledgeRequest;
use casebook_core::doc::{DocId, DocKind};
use casebook_core::ids::{AlertId, CaseId};
use chrono::{DateTime, Days, Utc};
use serde::Deserialize;

use super::page::{self, Chrome, Paging};
use super::session::Browser;
use crate::access::Role;
use crate::directory::{self, Permissions};
use crate::error::{Error, Result};
use crate::params;
use crate::sql::Conn;
use crate::state::AppState;
use crate::{conflict_index, deadlines};

/// One alert as the home page shows it.
#[derive(Debug, Clone)]
pub(super) struct AlertLine {
    id: String,
    case: String,
    reference: String,
    kind: &'static str,
    missing: bool,
    at: String,
    raised: String,
    acknowledged: Option<String>,
}

/// One deadline.
#[derive(Debug, Clone)]
pub(super) struct DeadlineLine {
    case: String,
    reference: String,
    what: String,
    due: String,
    overdue: bool,
}

/// One document with conflicts.
#[derive(Debug, Clone)]
pub(super) struct ConflictLine {
    case: String,
    reference: String,
    doc: &'static str,
    fields: i64,
    seen: String,
}

#[derive(Template)]
#[template(path = "console/work_home.html")]
struct WorkHome {
    chrome: Option<Chrome>,
    supervisor: bool,
    alerts: Vec<AlertLine>,
    alerts_paging: Paging,
    unacknowledged: usize,
    deadlines: Vec<DeadlineLine>,
    deadlines_paging: Paging,
    deadlines_unreadable: usize,
    conflicts: Vec<ConflictLine>,
    conflicts_paging: Paging,
    cases: Vec<(String, String)>,
    cases_paging: Paging,
    query: HomeQuery,
}

/// Which page of each list.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub(super) struct HomeQuery {
    #[serde(default)]
    alerts: u32,
    #[serde(default)]
    deadlines: u32,
    #[serde(default)]
    conflicts: u32,
    #[serde(default)]
    cases: u32,
}

impl HomeQuery {
    /// The query string of this page with one list's page changed.
    fn with(&self, list: &str, page: &u32) -> String {
        let (mut q, page) = (*self, *page);
        match list {
            "alerts" => q.alerts = page,
            "deadlines" => q.deadlines = page,
            "conflicts" => q.conflicts = page,
            _ => q.cases = page,
        }
        format!(
            "?alerts={}&deadlines={}&conflicts={}&cases={}",
            q.alerts, q.deadlines, q.conflicts, q.cases
        )
    }
}

fn alert_label(kind: &str) -> &'static str {
    match kind {
        "missing" => "Missing from care",
        "ended" => "Returned from missing",
        "interpreter_link" => "Interpreter may be linked to a person of concern",
        _ => "Alert",
    }
}

/// The alerts sent to `user` that `perms` may still see: unacknowledged first, then missing
/// before other kinds, newest first.
fn alerts(conn: Conn<'_>, perms: &Permissions, user: &str) -> Result<Vec<AlertLine>> {
    let mut stmt = conn.prepare_cached(
        "SELECT a.id, a.case_id, a.kind, a.at, a.raised_at, a.acknowledged_at, IFNULL(u.name, '')
         FROM alert_recipients r JOIN alerts a ON a.id = r.alert_id
              LEFT JOIN users u ON u.id = a.acknowledged_by
         WHERE r.user_id = ?1
         ORDER BY a.acknowledged_at IS NOT NULL, a.kind <> 'missing', a.raised_at DESC, a.id",
    )?;
    let rows = stmt.query_map(params![user], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, Option<i64>>(3)?,
            r.get::<_, i64>(4)?,
            r.get::<_, Option<i64>>(5)?,
            r.get::<_, String>(6)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, case, kind, at, raised, acked_at, acked_by) = row?;
        let Ok(case_id) = case.parse::<CaseId>() else {
            continue;
        };
        if !perms
            .access(&DocId::new(case_id, DocKind::Safety))
            .can_read()
        {
            continue;
        }
        out.push(AlertLine {
            id,
            reference: reference_of(conn, perms, &case)?,
            case,
            missing: kind == "missing",
            kind: alert_label(&kind),
            at: at.map(page::time).unwrap_or_default(),
            raised: page::time(raised),
            acknowledged: acked_at.map(|t| format!("{} by {acked_by}", page::time(t))),
        });
    }
    Ok(out)
}

/// The cases `perms` may open (any document readable), by id.
fn readable_cases(perms: &Permissions) -> Vec<String> {
    let mut cases: Vec<String> = perms
        .cases()
        .filter(|c| {
            c.parse::<CaseId>().is_ok_and(|id| {
                DocKind::ALL
                    .iter()
                    .any(|k| perms.access(&DocId::new(id, *k)).can_read())
            })
        })
        .map(str::to_owned)
        .collect();
    cases.sort_unstable();
    cases
}

/// What the read gives.
struct Found {
    alerts: Vec<AlertLine>,
    conflicts: Vec<ConflictLine>,
    /// Case id and reference (empty until the case's profile reached the server).
    cases: Vec<(String, String)>,
}

/// The reference of `case` as the review index keeps it (`case_references`), or empty when
/// it is not known or `perms` may not read the case's `profile` (where the reference lives:
/// a carer, who reads only `safety`, sees the case's id).
fn reference_of(conn: Conn<'_>, perms: &Permissions, case: &str) -> Result<String> {
    let readable = case
        .parse::<CaseId>()
        .is_ok_and(|id| perms.access(&DocId::new(id, DocKind::Profile)).can_read());
    if !readable {
        return Ok(String::new());
    }
    crate::review::case_reference(conn, case)
}

/// `GET /console/` for anyone but an administrator.
pub(super) async fn home(state: &AppState, b: &Browser, q: HomeQuery) -> Response {
    let chrome = b.chrome(state);
    let user = b.caller.user.clone();
    let found = state
        .db
        .read(move |conn| {
            let perms = directory::permissions(conn, &user)?;
            let alerts = alerts(conn, &perms, &user.id)?;
            let conflicts = conflict_index::list(conn, |d| perms.access(d).can_read())?
                .into_iter()
                .map(|c| {
                    let case = c.doc.case.to_string();
                    Ok(ConflictLine {
                        reference: reference_of(conn, &perms, &case)?,
                        case,
                        doc: c.doc.kind.as_str(),
                        fields: c.fields,
                        seen: page::time(c.seen_at),
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            let cases = readable_cases(&perms)
                .into_iter()
                .map(|case| Ok((reference_of(conn, &perms, &case)?, case)))
                .collect::<Result<Vec<_>>>()?
                .into_iter()
                .map(|(reference, case)| (case, reference))
                .collect();
            Ok(Found {
                alerts,
                conflicts,
                cases,
            })
        })
        .await;
    let found = match found {
        Ok(f) => f,
        Err(e) => return page::error_page(Some(chrome), &e),
    };
    let supervisor = b.caller.user.role == Role::Supervisor;
    let (deadlines, deadlines_unreadable) = if supervisor {
        match due_this_week(state, b).await {
            Ok(d) => d,
            Err(e) => return page::error_page(Some(chrome), &e),
        }
    } else {
        (Vec::new(), 0)
    };
    let unacknowledged = found
        .alerts
        .iter()
        .filter(|a| a.acknowledged.is_none())
        .count();
    let (alerts, alerts_paging) = page::page_of(found.alerts, q.alerts);
    let (deadlines, deadlines_paging) = page::page_of(deadlines, q.deadlines);
    let (conflicts, conflicts_paging) = page::page_of(found.conflicts, q.conflicts);
    let (cases, cases_paging) = page::page_of(found.cases, q.cases);
    page::render(
        StatusCode::OK,
        &WorkHome {
            chrome: Some(chrome),
            supervisor,
            alerts,
            alerts_paging,
            unacknowledged,
            deadlines,
            deadlines_paging,
            deadlines_unreadable,
            conflicts,
            conflicts_paging,
            cases,
            cases_paging,
            query: q,
        },
    )
}

/// The supervisor's deadlines due by the end of the seventh day from today (overdue ones
/// included), soonest first, and how many cases could not be read.
async fn due_this_week(state: &AppState, b: &Browser) -> Result<(Vec<DeadlineLine>, usize)> {
    let list = deadlines::list(state, b.caller.clone()).await?;
    let now = DateTime::<Utc>::from_timestamp(state.clock.now(), 0)
        .ok_or_else(|| Error::Corrupt("clock out of range".into()))?;
    let until = now
        .date_naive()
        .checked_add_days(Days::new(7))
        .unwrap_or(now.date_naive());
    let lines = list
        .deadlines
        .into_iter()
        .filter(|d| d.deadline.due_on <= until)
        .map(|d| DeadlineLine {
            case: d.case_id.to_string(),
            reference: d.case_reference,
            what: page::label(&d.deadline.kind),
            due: match d.deadline.due_at {
                Some(at) => page::time(at.timestamp()),
                None => d.deadline.due_on.format("%Y-%m-%d").to_string(),
            },
            overdue: d.deadline.overdue,
        })
        .collect();
    Ok((lines, list.unreadable.len()))
}

/// The acknowledge button's form.
#[derive(Debug, Deserialize)]
pub(super) struct AckForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /console/alerts/{alert}/acknowledge`: the same service (checks, audit) as a phone's
/// acknowledgement, with this browser as the device.
pub(super) async fn acknowledge(
    State(state): State<AppState>,
    b: Browser,
    Path(id): Path<String>,
    Form(f): Form<AckForm>,
) -> Response {
    if let Err(r) = page::check_csrf(&state, &b, &f.csrf, "acknowledge_alert").await {
        return r;
    }
    let Ok(alert) = id.parse::<AlertId>() else {
        return page::error_page(Some(b.chrome(&state)), &Error::NotFound("no such alert"));
    };
    let req = AcknowledgeRequest {
        alerts: vec![alert],
    };
    match crate::alerts::acknowledge(&state, b.caller.clone(), req).await {
        // An alert the person may not see is left out of the answer (and the refusal audited).
        Ok(resp) if resp.alerts.is_empty() => page::error_page(
            Some(b.chrome(&state)),
            &Error::Forbidden("this alert is not yours to acknowledge"),
        ),
        Ok(_) => Redirect::to("/console/").into_response(),
        Err(e) => page::error_page(Some(b.chrome(&state)), &e),
    }
}
