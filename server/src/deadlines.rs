//! `GET /v1/deadlines`: a supervisor's deadlines across the cases of their teams, soonest
//! first. Each case's list is the one the devices compute offline
//! (`casebook_core::model::case_deadlines`, overdue safety checks included), computed from
//! the deadline index (`deadline_index`, kept when documents arrive) at the server's clock:
//! no document is parsed on a request. Only documents the caller may read are counted.

use casebook_core::doc::{DocId, DocKind};
use casebook_core::ids::CaseId;
use casebook_core::model::Deadline;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::access::Role;
use crate::auth::Caller;
use crate::error::{Error, Result};
use crate::sql::Conn;
use crate::state::AppState;
use crate::{deadline_index, directory};

/// One deadline of one case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseDeadline {
    /// The case.
    pub case_id: CaseId,
    /// Its local authority reference (from the profile).
    pub case_reference: String,
    /// The deadline, as the core computes it.
    #[serde(flatten)]
    pub deadline: Deadline,
}

/// The answer of `GET /v1/deadlines`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadlinesResponse {
    /// Every deadline, soonest first.
    pub deadlines: Vec<CaseDeadline>,
    /// Cases whose documents could not be read (left out of the list), by id.
    pub unreadable: Vec<CaseId>,
}

/// The deadlines of the cases `caller` supervises, at the server's clock.
pub async fn list(state: &AppState, caller: Caller) -> Result<DeadlinesResponse> {
    if caller.user.role != Role::Supervisor {
        return Err(Error::Forbidden(
            "only a supervisor lists deadlines across cases",
        ));
    }
    let secs = state.clock.now();
    let now = DateTime::<Utc>::from_timestamp(secs, 0)
        .ok_or_else(|| Error::Corrupt("clock out of range".into()))?;
    state.db.read(move |conn| list_in(conn, &caller, now)).await
}

fn list_in(conn: Conn<'_>, caller: &Caller, now: DateTime<Utc>) -> Result<DeadlinesResponse> {
    let perms = directory::permissions(conn, &caller.user)?;
    let mut cases: Vec<CaseId> = perms.cases().filter_map(|c| c.parse().ok()).collect();
    cases.sort_unstable();
    let mut out = Vec::new();
    let mut unreadable = Vec::new();
    for case in cases {
        let profile = perms.access(&DocId::new(case, DocKind::Profile)).can_read();
        let safety = perms.access(&DocId::new(case, DocKind::Safety)).can_read();
        let id = case.to_string();
        let Some(list) = deadline_index::case_deadlines(conn, &id, profile, safety, now)? else {
            unreadable.push(case);
            continue;
        };
        if list.is_empty() {
            continue;
        }
        let reference = if profile {
            crate::review::case_reference(conn, &id)?
        } else {
            String::new()
        };
        out.extend(list.into_iter().map(|deadline| CaseDeadline {
            case_id: case,
            case_reference: reference.clone(),
            deadline,
        }));
    }
    out.sort_by(|a, b| {
        let key = |d: &CaseDeadline| {
            (
                d.deadline.due_on,
                d.deadline.due_at.is_none(),
                d.deadline.due_at,
                d.deadline.kind,
                d.case_id,
            )
        };
        key(a).cmp(&key(b))
    });
    Ok(DeadlinesResponse {
        deadlines: out,
        unreadable,
    })
}
