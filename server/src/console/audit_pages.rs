//! The audit pages: the trail of one case or one person (newest first, paged), and the state
//! of the audit chain (what `casebook-server audit verify` checks).

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::page::{self, Chrome, Paging, id_ok};
use super::session::Browser;
use crate::admin::{self, Lookup};
use crate::audit::{self, Verdict};
use crate::error::Error;
use crate::state::AppState;

/// One audit row as shown.
#[derive(Debug, Clone)]
struct AuditLine {
    id: i64,
    at: String,
    event: String,
    actor: String,
    subject: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "console/audit.html")]
struct TrailPage {
    chrome: Option<Chrome>,
    about: String,
    query: String,
    rows: Vec<AuditLine>,
    paging: Paging,
    total: u64,
}

#[derive(Debug, Deserialize)]
pub(super) struct TrailQuery {
    #[serde(default)]
    case: Option<String>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    page: u32,
}

/// `GET /console/audit?case=…` or `?user=…`.
pub(super) async fn trail(
    State(state): State<AppState>,
    b: Browser,
    Query(q): Query<TrailQuery>,
) -> Response {
    if let Err(r) = page::require_admin(&state, &b, "audit").await {
        return r;
    }
    let (about, query) = match (&q.case, &q.user) {
        (Some(c), None) if id_ok(c) => (format!("case {c}"), format!("case={c}")),
        (None, Some(u)) if id_ok(u) => (format!("person {u}"), format!("user={u}")),
        _ => {
            let e = Error::BadRequest("give one case or one person".into());
            return page::error_page(Some(b.chrome(&state)), &e);
        }
    };
    let lookup = Lookup {
        case: q.case.clone(),
        user: q.user.clone(),
    };
    let size = u64::from(Paging::SIZE);
    let offset = u64::from(q.page.min(100_000)) * size;
    let found = admin::audit_page(&state, b.caller.clone(), lookup, offset, size).await;
    let (rows, total) = match found {
        Ok(found) => found,
        Err(e) => return page::error_for(&state, &b, &e),
    };
    let shown: Vec<AuditLine> = rows
        .into_iter()
        .map(|r| AuditLine {
            id: r.id,
            at: page::time(r.at),
            event: r.event,
            actor: r.actor_user.unwrap_or_default(),
            subject: r.subject.unwrap_or_default(),
            detail: r.detail,
        })
        .collect();
    let paging = Paging {
        page: q.page.min(100_000),
        more: offset + size < total,
        q: String::new(),
    };
    page::render(
        StatusCode::OK,
        &TrailPage {
            chrome: Some(b.chrome(&state)),
            about,
            query,
            rows: shown,
            paging,
            total,
        },
    )
}

#[derive(Template)]
#[template(path = "console/verify.html")]
struct VerifyPage {
    chrome: Option<Chrome>,
    intact: bool,
    rows: u64,
    broken_at: i64,
    reason: &'static str,
    head: String,
}

/// `GET /console/audit/verify`: check the whole chain now.
pub(super) async fn verify(State(state): State<AppState>, b: Browser) -> Response {
    if let Err(r) = page::require_admin(&state, &b, "audit_verify").await {
        return r;
    }
    let found = state
        .db
        .read(|c| Ok((audit::verify(c)?, audit::head(c)?)))
        .await;
    let (verdict, head) = match found {
        Ok(v) => v,
        Err(e) => return page::error_page(Some(b.chrome(&state)), &e),
    };
    let head = head
        .map(|(id, hash)| format!("row {id}, hash {}", hex::encode(hash)))
        .unwrap_or_else(|| "empty".into());
    let p = match verdict {
        Verdict::Intact(rows) => VerifyPage {
            chrome: Some(b.chrome(&state)),
            intact: true,
            rows,
            broken_at: 0,
            reason: "",
            head,
        },
        Verdict::Broken(link) => VerifyPage {
            chrome: Some(b.chrome(&state)),
            intact: false,
            rows: 0,
            broken_at: link.row_id,
            reason: link.reason,
            head,
        },
    };
    let status = if p.intact {
        StatusCode::OK
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    };
    page::render(status, &p)
}
