//! `GET /v1/review-queue`: every submitted note across the cases of a supervisor's teams,
//! oldest submission first, with the case reference, the author's name and the note's age,
//! paged by a cursor. Read from the review index only (no document is parsed); every case
//! shown is audited as a read (`read`, view `review_queue`), and anyone but a supervisor is
//! refused `403`, audited (`denied`, reason `review_queue`).

use std::collections::BTreeSet;

use casebook_core::doc::{DocId, DocKind};
use casebook_core::ids::CaseId;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::access::Role;
use crate::audit::{self, Event};
use crate::auth::Caller;
use crate::directory::{self, User};
use crate::error::{Error, Result};
use crate::params;
use crate::sql::{Conn, Tx, Value};
use crate::state::AppState;

/// Most notes one page holds.
pub const MAX_LIMIT: u32 = 200;
/// Notes per page when the request does not say.
pub const DEFAULT_LIMIT: u32 = 50;

/// The query of `GET /v1/review-queue`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueQuery {
    /// Notes per page (1 to [`MAX_LIMIT`], default [`DEFAULT_LIMIT`]).
    #[serde(default)]
    pub limit: Option<u32>,
    /// The `next` cursor of the previous page.
    #[serde(default)]
    pub after: Option<String>,
}

/// One submitted note in the queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueEntry {
    /// The case.
    pub case_id: String,
    /// Its local authority reference (empty if its profile has not reached the server).
    pub case_reference: String,
    /// The note's entry id in the case's `visits` document.
    pub note_id: String,
    /// The author's user id.
    pub author_id: String,
    /// The author's name.
    pub author_name: String,
    /// When the visit happened (Unix seconds), if the note says.
    pub visited_at: Option<i64>,
    /// When the server received its submission (Unix seconds).
    pub submitted_at: i64,
    /// Seconds since then, at the server's clock.
    pub age_seconds: i64,
}

/// The answer of `GET /v1/review-queue`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewQueue {
    /// This page, oldest submission first.
    pub notes: Vec<QueueEntry>,
    /// The cursor of the next page, if there is one.
    pub next: Option<String>,
}

/// Where a page starts: after (submitted_at, case, note).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cursor {
    submitted_at: i64,
    case_id: String,
    note_id: String,
}

impl Cursor {
    fn encode(&self) -> String {
        format!("{}.{}.{}", self.submitted_at, self.case_id, self.note_id)
    }

    fn parse(s: &str) -> Result<Self> {
        let bad = || Error::BadRequest("after is not a cursor from a previous page".into());
        let mut parts = s.splitn(3, '.');
        let (Some(at), Some(case), Some(note)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad());
        };
        let id_like = |x: &str| x.len() == 32 && x.bytes().all(|b| b.is_ascii_hexdigit());
        if !id_like(case) || !id_like(note) {
            return Err(bad());
        }
        Ok(Cursor {
            submitted_at: at.parse().map_err(|_| bad())?,
            case_id: case.to_owned(),
            note_id: note.to_owned(),
        })
    }
}

/// `GET /v1/review-queue` for `caller`: checked, read and audited in one transaction.
pub async fn list(state: &AppState, caller: Caller, query: QueueQuery) -> Result<ReviewQueue> {
    let now = state.clock.now();
    let denied = state
        .db
        .write(move |tx| {
            if caller.user.role != Role::Supervisor {
                audit::append(
                    tx,
                    now,
                    Event {
                        event: "denied",
                        actor_user: Some(caller.user.id.clone()),
                        actor_device: Some(caller.device.to_string()),
                        detail: json!({ "reason": "review_queue" }),
                        ..Event::default()
                    },
                )?;
                return Ok(Err(()));
            }
            let page = queue(**tx, &caller.user, &query, now)?;
            audit_page(
                tx,
                &caller.user.id,
                Some(caller.device.to_string()),
                &page,
                now,
            )?;
            Ok(Ok(page))
        })
        .await?;
    denied.map_err(|()| Error::Forbidden("only a supervisor has a review queue"))
}

/// Audit a page of the queue as a read of each case it shows.
pub(crate) fn audit_page(
    tx: &Tx<'_>,
    user: &str,
    device: Option<String>,
    page: &ReviewQueue,
    now: i64,
) -> Result<()> {
    let cases: BTreeSet<&str> = page.notes.iter().map(|n| n.case_id.as_str()).collect();
    for case in cases {
        let shown = page.notes.iter().filter(|n| n.case_id == case).count();
        audit::append(
            tx,
            now,
            Event {
                event: "read",
                actor_user: Some(user.to_owned()),
                actor_device: device.clone(),
                case_id: Some(case.to_owned()),
                detail: json!({ "view": "review_queue", "notes": shown }),
                ..Event::default()
            },
        )?;
    }
    Ok(())
}

/// One page of `user`'s queue at `now` (Unix seconds), from the index, walked in the order of
/// `review_index_queue` (status, submission time, case, note) and stopped at the page's end.
/// The caller checks the
/// role and audits; only notes of cases whose `visits` document `user` may read are listed.
pub fn queue(conn: Conn<'_>, user: &User, query: &QueueQuery, now: i64) -> Result<ReviewQueue> {
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(Error::BadRequest(format!(
            "limit must be between 1 and {MAX_LIMIT}"
        )));
    }
    let after = query.after.as_deref().map(Cursor::parse).transpose()?;
    let perms = directory::permissions(conn, user)?;
    let (at, case, note) = match &after {
        Some(c) => (c.submitted_at, c.case_id.as_str(), c.note_id.as_str()),
        None => (i64::MIN, "", ""),
    };
    let mut stmt = conn.prepare_cached(
        "SELECT r.case_id, cr.reference, r.note_id, r.author_user,
                IFNULL(u.name, ''), r.visited_at, r.submitted_at
         FROM review_index r
         JOIN cases c ON c.id = r.case_id
         LEFT JOIN users u ON u.id = r.author_user
         LEFT JOIN case_references cr ON cr.case_id = r.case_id
         WHERE r.status = 'submitted' AND c.org_id = ?1
           AND c.team_id IN (SELECT team_id FROM team_members WHERE user_id = ?2)
           AND r.submitted_at IS NOT NULL
           AND (r.submitted_at, r.case_id, r.note_id) > (?3, ?4, ?5)
         ORDER BY r.submitted_at, r.case_id, r.note_id
         LIMIT ?6",
    )?;
    let rows = stmt.query_map(
        params![user.org_id, user.id, at, case, note, i64::from(limit) + 1],
        |r| {
            let entry = QueueEntry {
                case_id: r.get(0)?,
                case_reference: String::new(),
                note_id: r.get(2)?,
                author_id: r.get(3)?,
                author_name: r.get(4)?,
                visited_at: r.get(5)?,
                submitted_at: r.get(6)?,
                age_seconds: 0,
            };
            Ok((entry, r.get::<_, Value>(1)?))
        },
    )?;
    let mut notes = Vec::new();
    for row in rows {
        let (mut entry, reference) = row?;
        let readable = entry
            .case_id
            .parse::<CaseId>()
            .is_ok_and(|c| perms.access(&DocId::new(c, DocKind::Visits)).can_read());
        if !readable {
            continue;
        }
        entry.case_reference = super::unseal_reference(conn, &entry.case_id, reference)?;
        entry.age_seconds = now.saturating_sub(entry.submitted_at).max(0);
        notes.push(entry);
    }
    let more = notes.len() > limit as usize;
    notes.truncate(limit as usize);
    let next = more.then(|| notes.last()).flatten().map(|last| {
        Cursor {
            submitted_at: last.submitted_at,
            case_id: last.case_id.clone(),
            note_id: last.note_id.clone(),
        }
        .encode()
    });
    Ok(ReviewQueue { notes, next })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_and_a_forged_one_is_a_clear_error() {
        let c = Cursor {
            submitted_at: 1_790_000_000,
            case_id: "a".repeat(32),
            note_id: "b".repeat(32),
        };
        assert_eq!(Cursor::parse(&c.encode()).expect("parse"), c);
        for bad in [
            "",
            "1.2.3",
            "x.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
        ] {
            let err = Cursor::parse(bad).expect_err(bad);
            assert!(err.to_string().contains("after"), "{err}");
        }
    }
}
