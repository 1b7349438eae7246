//! `GET /v1/deadlines`: a supervisor's deadlines across the cases of their teams, soonest
//! first. Each case's list is the core's (`casebook_core::model::case_deadlines`), computed
//! from the stored `profile` and `safety` documents (overdue safety checks included), the
//! same list the devices compute offline. Only documents the caller may read are loaded.

use std::panic::{AssertUnwindSafe, catch_unwind};

use casebook_core::doc::{CaseDoc, DocId, DocKind};
use casebook_core::ids::CaseId;
use casebook_core::model::{Deadline, case_deadlines};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::access::Role;
use crate::auth::Caller;
use crate::directory;
use crate::error::{Error, Result};
use crate::state::AppState;

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

fn list_in(conn: &Connection, caller: &Caller, now: DateTime<Utc>) -> Result<DeadlinesResponse> {
    let perms = directory::permissions(conn, &caller.user)?;
    let mut cases: Vec<CaseId> = perms.cases().filter_map(|c| c.parse().ok()).collect();
    cases.sort_unstable();
    let mut out = Vec::new();
    let mut unreadable = Vec::new();
    for case in cases {
        let profile_id = DocId::new(case, DocKind::Profile);
        let safety_id = DocId::new(case, DocKind::Safety);
        let profile = if perms.access(&profile_id).can_read() {
            match stored(conn, &profile_id)? {
                Some(bytes) => match read(&profile_id, &bytes, CaseDoc::profile) {
                    Some(p) => Some(p),
                    None => {
                        unreadable.push(case);
                        continue;
                    }
                },
                None => None,
            }
        } else {
            None
        };
        let (episodes, steps, checks) = if perms.access(&safety_id).can_read() {
            match stored(conn, &safety_id)? {
                Some(bytes) => match read(&safety_id, &bytes, |d| {
                    Ok((d.missing_episodes()?, d.plan_steps()?, d.safety_checks()?))
                }) {
                    Some(records) => records,
                    None => {
                        unreadable.push(case);
                        continue;
                    }
                },
                None => Default::default(),
            }
        } else {
            Default::default()
        };
        let Ok(list) = case_deadlines(profile.as_ref(), &episodes, &steps, &checks, now) else {
            unreadable.push(case);
            continue;
        };
        let reference = profile.map(|p| p.case_reference).unwrap_or_default();
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

fn stored(conn: &Connection, doc: &DocId) -> Result<Option<Vec<u8>>> {
    Ok(conn
        .prepare_cached("SELECT bytes FROM docs WHERE doc_id = ?1")?
        .query_row([doc.to_string()], |r| r.get(0))
        .optional()?)
}

/// Load a stored document and read it with `f` (`None` if either fails, or panics on
/// bytes the server cannot read).
fn read<T>(
    doc: &DocId,
    bytes: &[u8],
    f: impl Fn(&CaseDoc) -> casebook_core::Result<T>,
) -> Option<T> {
    catch_unwind(AssertUnwindSafe(|| {
        let loaded = CaseDoc::load(*doc, Some(bytes), &[]).ok()?;
        f(&loaded).ok()
    }))
    .ok()
    .flatten()
}
