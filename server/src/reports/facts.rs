//! The report facts index (`report_episodes`, `report_nrm`, `report_notes`, migration 009):
//! read from a document the sync exchange holds in memory ([`facts_in`], off the writer
//! lock), written in the transaction that stores it ([`record`]), and built once for the
//! documents stored before the index existed ([`backfill`]).

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};

use automerge::Automerge;
use casebook_core::doc::{DocId, DocKind};
use casebook_core::model::{DocFacts, EpisodeCategory, NrmDecision, ReviewStatus, report_facts_in};

use crate::db;
use crate::error::Result;
use crate::params;
use crate::sql::{Conn, Tx};

/// The `meta` row that says documents stored before migration 009 are not indexed yet.
const BACKFILL_PENDING: &str = "report_facts_backfill";

/// The report facts of `doc` (`None` for kinds a report does not count, and for a document
/// whose records do not read: its previous facts are kept).
pub fn facts_in(doc: &DocId, loaded: &Automerge) -> Option<DocFacts> {
    if !matches!(
        doc.kind,
        DocKind::Safety | DocKind::Profile | DocKind::Visits
    ) {
        return None;
    }
    let read = catch_unwind(AssertUnwindSafe(|| report_facts_in(*doc, loaded)));
    match read {
        Ok(Ok(facts)) => facts,
        _ => {
            tracing::warn!(
                kind = doc.kind.as_str(),
                "report facts not read; kept as they were"
            );
            None
        }
    }
}

pub(crate) fn category_str(c: EpisodeCategory) -> &'static str {
    match c {
        EpisodeCategory::Missing => "missing",
        EpisodeCategory::AwayFromPlacement => "away_from_placement",
    }
}

pub(crate) fn decision_str(d: NrmDecision) -> &'static str {
    match d {
        NrmDecision::Pending => "pending",
        NrmDecision::Positive => "positive",
        NrmDecision::Negative => "negative",
    }
}

pub(crate) fn review_str(r: ReviewStatus) -> &'static str {
    match r {
        ReviewStatus::Draft => "draft",
        ReviewStatus::Submitted => "submitted",
        ReviewStatus::SignedOff => "signed_off",
        ReviewStatus::Returned => "returned",
    }
}

/// Replace the facts of `doc` with `facts`, at `now` (Unix seconds: a note first stored as
/// submitted is submitted now; one that stays submitted keeps its time). Call it in the
/// transaction that stores the document.
pub fn record(tx: &Tx<'_>, doc: &DocId, facts: &DocFacts, now: i64) -> Result<()> {
    let case = doc.case.to_string();
    match facts {
        DocFacts::Episodes(episodes) => {
            tx.execute("DELETE FROM report_episodes WHERE case_id = ?1", [&case])?;
            let mut insert = tx.prepare_cached(
                "INSERT INTO report_episodes (case_id, episode_id, category, started_at,
                     ended_at, interview_within_72_hours, repeat)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            for e in episodes {
                // An episode without a start is not counted.
                let Some(started) = e.started_at else {
                    continue;
                };
                insert.execute(params![
                    case,
                    e.id.to_string(),
                    category_str(e.category),
                    started.timestamp(),
                    e.ended_at.map(|t| t.timestamp()),
                    e.interview_within_72_hours,
                    e.repeat,
                ])?;
            }
        }
        DocFacts::Nrm(n) => {
            let date = |d: Option<chrono::NaiveDate>| d.map(|d| d.to_string());
            tx.execute(
                "INSERT INTO report_nrm (case_id, referred_on, reasonable_grounds_due_on,
                     reasonable_grounds, reasonable_grounds_on, conclusive_grounds,
                     conclusive_grounds_on)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT(case_id) DO UPDATE SET referred_on = excluded.referred_on,
                     reasonable_grounds_due_on = excluded.reasonable_grounds_due_on,
                     reasonable_grounds = excluded.reasonable_grounds,
                     reasonable_grounds_on = excluded.reasonable_grounds_on,
                     conclusive_grounds = excluded.conclusive_grounds,
                     conclusive_grounds_on = excluded.conclusive_grounds_on",
                params![
                    case,
                    date(n.referred_on),
                    date(n.reasonable_grounds_due_on),
                    decision_str(n.reasonable_grounds),
                    date(n.reasonable_grounds_on),
                    decision_str(n.conclusive_grounds),
                    date(n.conclusive_grounds_on),
                ],
            )?;
        }
        DocFacts::Notes(notes) => {
            let mut submitted: HashMap<String, i64> = HashMap::new();
            {
                let mut stmt = tx.prepare_cached(
                    "SELECT note_id, submitted_at FROM report_notes
                     WHERE case_id = ?1 AND review = 'submitted' AND submitted_at IS NOT NULL",
                )?;
                for row in stmt.query_map([&case], |r| Ok((r.get(0)?, r.get(1)?)))? {
                    let (note, at) = row?;
                    submitted.insert(note, at);
                }
            }
            tx.execute("DELETE FROM report_notes WHERE case_id = ?1", [&case])?;
            let mut insert = tx.prepare_cached(
                "INSERT INTO report_notes (case_id, note_id, visited_at, review, submitted_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for n in notes {
                let id = n.id.to_string();
                let submitted_at = (n.review == ReviewStatus::Submitted)
                    .then(|| submitted.get(&id).copied().unwrap_or(now));
                insert.execute(params![
                    case,
                    id,
                    n.visited_at.map(|t| t.timestamp()),
                    review_str(n.review),
                    submitted_at,
                ])?;
            }
        }
    }
    Ok(())
}

/// Index every stored `safety`, `profile` and `visits` document once, if documents stored
/// before migration 009 (or 011, for the deadline index) are not indexed yet (a no-op
/// afterwards): the report facts and the deadline index (`deadline_index`). A document that does not
/// load or read is left out (and logged by kind, never by content). Notes submitted before
/// count as submitted at `now`.
pub fn backfill(tx: &Tx<'_>, now: i64) -> Result<usize> {
    if db::meta_get(**tx, BACKFILL_PENDING)?.is_none() {
        return Ok(0);
    }
    let docs: Vec<(String, Vec<u8>)> = {
        let mut stmt = tx.prepare(
            "SELECT doc_id, bytes FROM docs WHERE kind IN ('safety', 'profile', 'visits')",
        )?;
        stmt.query_map([], |r| {
            let id: String = r.get(0)?;
            let bytes = tx.unseal(&db::docs::row(&id), r.get(1)?)?;
            Ok((id, bytes))
        })?
        .collect::<crate::sql::Result<_>>()?
    };
    let mut indexed = 0;
    for (id, bytes) in docs {
        let Ok(doc) = id.parse::<DocId>() else {
            tracing::warn!("stored document with an invalid id not indexed");
            continue;
        };
        let loaded = catch_unwind(|| Automerge::load(&bytes).ok()).ok().flatten();
        let Some(loaded) = loaded else {
            if matches!(doc.kind, DocKind::Profile | DocKind::Safety) {
                crate::deadline_index::record(
                    tx,
                    &doc,
                    &crate::deadline_index::Indexed::Unreadable,
                )?;
            }
            continue;
        };
        if let Some(deadlines) = crate::deadline_index::facts_in(&doc, &loaded) {
            crate::deadline_index::record(tx, &doc, &deadlines)?;
        }
        let Some(facts) = facts_in(&doc, &loaded) else {
            continue;
        };
        record(tx, &doc, &facts, now)?;
        indexed += 1;
    }
    tx.execute("DELETE FROM meta WHERE key = ?1", [BACKFILL_PENDING])?;
    Ok(indexed)
}

/// Whether the backfill is still to run (for tests and the start-up log).
pub fn backfill_pending(conn: Conn<'_>) -> Result<bool> {
    Ok(db::meta_get(conn, BACKFILL_PENDING)?.is_some())
}
