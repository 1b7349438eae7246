//! The deadline index (migration 011): each case's deadlines as its `profile` and `safety`
//! documents fix them (`deadline_dates`), the check schedules of its active plan steps
//! (`plan_check_steps`) and every logged check's time (`plan_checks`), read from a document
//! the sync exchange or a console change holds in memory ([`facts_in`]) and written in the
//! transaction that stores it ([`record`]). A supervisor's deadlines ([`case_deadlines`]) and
//! a report's overdue checks read these rows and ask the core's rules at the time asked:
//! no document is parsed on a request.

use std::panic::{AssertUnwindSafe, catch_unwind};

use automerge::Automerge;
use casebook_core::doc::{DocId, DocKind};
use casebook_core::ids::EntryId;
use casebook_core::model::{
    CheckSchedule, Deadline, DeadlineFacts, DeadlineKind, ScheduledDeadline, deadline_facts_in,
    overdue_check, safety_check_deadline,
};
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};

use crate::error::Result;
use crate::params;
use crate::sql::{Conn, OptionalExtension, Tx};

/// What was read from a stored `profile` or `safety` document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Indexed {
    /// Its facts.
    Facts(DeadlineFacts),
    /// Its records do not read (or a deadline lies beyond the shipped bank holidays): the
    /// case is listed as unreadable, its earlier facts kept.
    Unreadable,
}

/// The deadline facts of `doc` (`None` for the kinds that fix no deadline).
pub fn facts_in(doc: &DocId, loaded: &Automerge) -> Option<Indexed> {
    if !matches!(doc.kind, DocKind::Profile | DocKind::Safety) {
        return None;
    }
    match catch_unwind(AssertUnwindSafe(|| deadline_facts_in(*doc, loaded))) {
        Ok(Ok(Some(facts))) => Some(Indexed::Facts(facts)),
        Ok(Ok(None)) => None,
        _ => {
            tracing::warn!(kind = doc.kind.as_str(), "deadline facts not read");
            Some(Indexed::Unreadable)
        }
    }
}

fn kind_str(kind: DeadlineKind) -> String {
    match serde_json::to_value(kind) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

fn kind_from(text: String) -> Option<DeadlineKind> {
    serde_json::from_value(serde_json::Value::String(text)).ok()
}

/// A schedule as its two columns (`every_hours`, `daily_at`).
pub(crate) fn schedule_columns(schedule: CheckSchedule) -> (Option<u32>, Option<String>) {
    match schedule {
        CheckSchedule::EveryHours(h) => (Some(h), None),
        CheckSchedule::DailyAt(t) => (None, Some(t.format("%H:%M:%S").to_string())),
    }
}

/// A schedule from its two columns (`None` if neither reads).
pub(crate) fn schedule_from(
    every_hours: Option<u32>,
    daily_at: Option<String>,
) -> Option<CheckSchedule> {
    match (every_hours, daily_at) {
        (Some(h), _) => Some(CheckSchedule::EveryHours(h)),
        (None, Some(t)) => NaiveTime::parse_from_str(&t, "%H:%M:%S")
            .ok()
            .map(CheckSchedule::DailyAt),
        (None, None) => None,
    }
}

fn insert_dates(tx: &Tx<'_>, doc: &DocId, deadlines: &[ScheduledDeadline]) -> Result<()> {
    let (case, kind) = (doc.case.to_string(), doc.kind.as_str());
    tx.prepare_cached("DELETE FROM deadline_dates WHERE case_id = ?1 AND doc_kind = ?2")?
        .execute(params![case, kind])?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO deadline_dates (case_id, doc_kind, kind, due_on, due_at, record)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (case_id, doc_kind, kind, record)
         DO UPDATE SET due_on = excluded.due_on, due_at = excluded.due_at",
    )?;
    for d in deadlines {
        insert.execute(params![
            case,
            kind,
            kind_str(d.kind),
            d.due_on.to_string(),
            d.due_at.map(|t| t.timestamp()),
            d.record,
        ])?;
    }
    Ok(())
}

/// Replace the deadline facts of `doc` with `indexed`. Call it in the transaction that
/// stores the document.
pub fn record(tx: &Tx<'_>, doc: &DocId, indexed: &Indexed) -> Result<()> {
    let case = doc.case.to_string();
    let readable = matches!(indexed, Indexed::Facts(_));
    tx.prepare_cached(
        "INSERT INTO deadline_docs (case_id, doc_kind, readable) VALUES (?1, ?2, ?3)
         ON CONFLICT(case_id, doc_kind) DO UPDATE SET readable = excluded.readable",
    )?
    .execute(params![case, doc.kind.as_str(), readable])?;
    let Indexed::Facts(facts) = indexed else {
        return Ok(());
    };
    match facts {
        DeadlineFacts::Profile(deadlines) => insert_dates(tx, doc, deadlines)?,
        DeadlineFacts::Safety {
            deadlines,
            steps,
            checks,
        } => {
            insert_dates(tx, doc, deadlines)?;
            tx.prepare_cached("DELETE FROM plan_check_steps WHERE case_id = ?1")?
                .execute([&case])?;
            let mut insert = tx.prepare_cached(
                "INSERT INTO plan_check_steps (case_id, step_id, every_hours, daily_at, checks_from)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for s in steps {
                let (every_hours, daily_at) = schedule_columns(s.schedule);
                insert.execute(params![
                    case,
                    s.step.to_string(),
                    every_hours,
                    daily_at,
                    s.checks_from.timestamp()
                ])?;
            }
            tx.prepare_cached("DELETE FROM plan_checks WHERE case_id = ?1")?
                .execute([&case])?;
            let mut insert = tx.prepare_cached(
                "INSERT INTO plan_checks (case_id, check_id, step_id, checked_at)
                 VALUES (?1, ?2, ?3, ?4)",
            )?;
            for c in checks {
                insert.execute(params![
                    case,
                    c.check.to_string(),
                    c.step.to_string(),
                    c.checked_at.timestamp()
                ])?;
            }
        }
    }
    Ok(())
}

/// The plan-step checks of one step as the index holds them, with its last check at or
/// before the time asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepChecks {
    /// The step.
    pub step: EntryId,
    /// Its schedule.
    pub schedule: CheckSchedule,
    /// When its checks start (Unix seconds).
    pub checks_from: i64,
    /// Its last check at or before the time asked (Unix seconds).
    pub last_checked_at: Option<i64>,
}

impl StepChecks {
    /// Its overdue check at `at` (Unix seconds), by the core's rule.
    pub fn overdue_at(&self, at: i64) -> Option<casebook_core::model::OverdueCheck> {
        let time = |t: i64| DateTime::<Utc>::from_timestamp(t, 0);
        overdue_check(
            self.step,
            self.schedule,
            time(self.checks_from)?,
            self.last_checked_at.and_then(time),
            time(at)?,
        )
    }
}

/// The SQL giving, per indexed step, `case_id, step_id, every_hours, daily_at, checks_from`
/// and its last check at or before the time bound as parameter `?{as_of}` (the statement's
/// placeholders are all positional, as both engines number them).
pub(crate) fn step_checks_select(as_of: usize) -> String {
    format!(
        "p.case_id, p.step_id, p.every_hours, p.daily_at,
    p.checks_from, (SELECT MAX(c.checked_at) FROM plan_checks c
        WHERE c.case_id = p.case_id AND c.step_id = p.step_id AND c.checked_at <= ?{as_of})"
    )
}

/// A row of [`step_checks_select`] from column `first` on (`None` if it does not read).
pub(crate) fn step_checks_row(
    r: &crate::sql::Row<'_>,
    first: usize,
) -> crate::sql::Result<Option<StepChecks>> {
    let step: String = r.get(first + 1)?;
    let schedule = schedule_from(r.get(first + 2)?, r.get(first + 3)?);
    let checks_from: i64 = r.get(first + 4)?;
    let last: Option<i64> = r.get(first + 5)?;
    Ok(match (step.parse::<EntryId>(), schedule) {
        (Ok(step), Some(schedule)) => Some(StepChecks {
            step,
            schedule,
            checks_from,
            last_checked_at: last,
        }),
        _ => None,
    })
}

/// The deadlines of `case` at `now` from the index, from the documents the caller may read
/// (`profile`, `safety`), soonest first; `None` if one of those did not read when stored.
pub fn case_deadlines(
    conn: Conn<'_>,
    case: &str,
    profile: bool,
    safety: bool,
    now: DateTime<Utc>,
) -> Result<Option<Vec<Deadline>>> {
    let mut kinds = Vec::new();
    if profile {
        kinds.push(DocKind::Profile);
    }
    if safety {
        kinds.push(DocKind::Safety);
    }
    let mut out = Vec::new();
    for kind in kinds {
        let readable: Option<bool> = conn
            .prepare_cached(
                "SELECT readable FROM deadline_docs WHERE case_id = ?1 AND doc_kind = ?2",
            )?
            .query_row(params![case, kind.as_str()], |r| r.get(0))
            .optional()?;
        if readable == Some(false) {
            return Ok(None);
        }
        let mut stmt = conn.prepare_cached(
            "SELECT kind, due_on, due_at, record FROM deadline_dates
             WHERE case_id = ?1 AND doc_kind = ?2",
        )?;
        let rows = stmt.query_map(params![case, kind.as_str()], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<i64>>(2)?,
                r.get::<_, String>(3)?,
            ))
        })?;
        for row in rows {
            let (k, due_on, due_at, record) = row?;
            let (Some(k), Ok(due_on)) = (kind_from(k), due_on.parse::<NaiveDate>()) else {
                continue;
            };
            let scheduled = ScheduledDeadline {
                kind: k,
                due_on,
                due_at: due_at.and_then(|t| DateTime::<Utc>::from_timestamp(t, 0)),
                doc: kind,
                record,
            };
            out.extend(scheduled.at(now));
        }
    }
    if safety {
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {} FROM plan_check_steps p WHERE p.case_id = ?1",
            step_checks_select(2)
        ))?;
        let rows = stmt.query_map(params![case, now.timestamp()], |r| step_checks_row(r, 0))?;
        for row in rows {
            if let Some(overdue) = row?.and_then(|s| s.overdue_at(now.timestamp())) {
                out.push(safety_check_deadline(&overdue));
            }
        }
    }
    casebook_core::model::sort_deadlines(&mut out);
    Ok(Some(out))
}
