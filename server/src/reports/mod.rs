//! Casework reports (issue 11, seed 004: "not held centrally"): the figures no one else
//! holds, for an organisation or a supervisor's teams over a period, as JSON or CSV, from
//! `GET /v1/reports/casework`, the console's reports page and `casebook-server report`.
//! Figures are counted from the facts index ([`facts`]) kept by the sync exchange, never by
//! parsing documents, and hold counts only: no name, reference or free text. Outputs that
//! leave the organisation (CSV, and JSON asked with `suppress=true`) show a count from 1 to 4
//! as "fewer than 5". Administrators report on their organisation, supervisors on their
//! teams' cases; anyone else is refused `403`, audited. Every report is audited
//! (`report_generated`).

pub mod facts;
pub mod figures;

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::{Value as Json, json};

use crate::access::Role;
use crate::audit::{self, Event};
use crate::auth::{self, Caller};
use crate::db::Db;
use crate::error::{Error, Result};
use crate::params;
use crate::sql::{Conn, OptionalExtension};
use crate::state::AppState;
use figures::{CheckRow, EpisodeRow, NoteRow, NrmRow};
pub use figures::{FEWER_THAN_FIVE, Figure, Period, ScopeFacts, Shown, Value};

/// Whose cases a report covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every case of the organisation.
    Organisation(String),
    /// The cases of the teams `supervisor` belongs to, in `org`.
    Teams {
        /// The organisation.
        org: String,
        /// The supervisor.
        supervisor: String,
    },
}

impl Scope {
    /// `organisation` or `teams`.
    pub fn kind(&self) -> &'static str {
        match self {
            Scope::Organisation(_) => "organisation",
            Scope::Teams { .. } => "teams",
        }
    }

    fn org(&self) -> &str {
        match self {
            Scope::Organisation(org) | Scope::Teams { org, .. } => org,
        }
    }
}

/// The output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// JSON.
    Json,
    /// CSV (always suppressed).
    Csv,
}

impl Format {
    /// `json` or `csv`.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Csv => "csv",
        }
    }
}

/// A report: its period, scope, when it was made and its figures.
#[derive(Debug, Clone)]
pub struct Report {
    /// The period.
    pub period: Period,
    /// Whose cases.
    pub scope: Scope,
    /// When made (Unix seconds).
    pub generated_at: i64,
    /// The figures.
    pub figures: Vec<Figure>,
}

impl Report {
    /// The figure `section` / `category` / `measure`.
    pub fn get(&self, section: &str, category: &str, measure: &str) -> Option<Value> {
        self.figures
            .iter()
            .find(|f| f.section == section && f.category == category && f.measure == measure)
            .map(|f| f.value)
    }

    /// As JSON: `figures[section][category][measure]`, small counts suppressed if asked.
    pub fn to_json(&self, suppress: bool) -> Json {
        let mut sections: BTreeMap<&str, BTreeMap<&str, serde_json::Map<String, Json>>> =
            BTreeMap::new();
        for f in &self.figures {
            sections
                .entry(f.section)
                .or_default()
                .entry(f.category.as_str())
                .or_default()
                .insert(f.measure.to_owned(), f.value.shown(suppress).json());
        }
        json!({
            "from": self.period.from.to_string(),
            "to": self.period.to.to_string(),
            "scope": self.scope.kind(),
            "generated_at": chrono::DateTime::from_timestamp(self.generated_at, 0)
                .map(|t| t.to_rfc3339()),
            "suppressed": suppress,
            "figures": sections,
        })
    }

    /// As CSV (`section,category,measure,value`), small counts always suppressed: a CSV file
    /// is made to leave the organisation.
    pub fn to_csv(&self) -> String {
        let mut out = String::from("section,category,measure,value\n");
        out.push_str(&format!("period,all,from,{}\n", self.period.from));
        out.push_str(&format!("period,all,to,{}\n", self.period.to));
        out.push_str(&format!("period,all,scope,{}\n", self.scope.kind()));
        for f in &self.figures {
            out.push_str(&format!(
                "{},{},{},{}\n",
                f.section,
                f.category,
                f.measure,
                f.value.shown(true).text()
            ));
        }
        out
    }
}

/// A date given as `YYYY-MM-DD`; the error names `field`.
pub fn parse_date(field: &str, text: Option<&str>) -> Result<NaiveDate> {
    let text = text
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| Error::BadRequest(format!("{field}: a date (YYYY-MM-DD) is required")))?;
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| Error::BadRequest(format!("{field}: expected a date as YYYY-MM-DD")))
}

/// The period from two dates given as text; errors name `from` or `to`.
pub fn parse_period(from: Option<&str>, to: Option<&str>) -> Result<Period> {
    let from = parse_date("from", from)?;
    let to = parse_date("to", to)?;
    Period::new(from, to).map_err(|(field, why)| Error::BadRequest(format!("{field}: {why}")))
}

/// The query of `GET /v1/reports/casework` and the console's form (all text, so that bad
/// input gets an error naming its field).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ReportQuery {
    /// First day, `YYYY-MM-DD`.
    pub from: Option<String>,
    /// Last day, `YYYY-MM-DD`.
    pub to: Option<String>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
    /// `true` to suppress small numbers in JSON (CSV always is).
    pub suppress: Option<String>,
}

impl ReportQuery {
    /// The period, format and suppression asked for.
    pub fn parse(&self) -> Result<(Period, Format, bool)> {
        let period = parse_period(self.from.as_deref(), self.to.as_deref())?;
        let format = match self.format.as_deref().map(str::trim) {
            None | Some("") | Some("json") => Format::Json,
            Some("csv") => Format::Csv,
            Some(_) => return Err(Error::BadRequest("format: expected json or csv".into())),
        };
        let suppress = match self.suppress.as_deref().map(str::trim) {
            None | Some("") | Some("false") => format == Format::Csv,
            Some("true") => true,
            Some(_) => return Err(Error::BadRequest("suppress: expected true or false".into())),
        };
        Ok((period, format, suppress))
    }
}

const SCOPE_CTE: &str = "WITH scope(id, rid) AS (
    SELECT c.id, c.rowid FROM cases c WHERE c.org_id = ?1 AND (CAST(?2 AS TEXT) IS NULL OR c.team_id IN
        (SELECT m.team_id FROM team_members m JOIN teams t ON t.id = m.team_id
         WHERE m.user_id = ?2 AND t.org_id = ?1)))";

fn date(text: Option<String>) -> Option<NaiveDate> {
    text.and_then(|t| NaiveDate::parse_from_str(&t, "%Y-%m-%d").ok())
}

/// The facts of the cases in `scope` that `period` needs, at `now` (Unix seconds).
pub fn load(conn: Conn<'_>, scope: &Scope, period: Period, now: i64) -> Result<ScopeFacts> {
    let org = scope.org();
    let supervisor = match scope {
        Scope::Teams { supervisor, .. } => Some(supervisor.as_str()),
        Scope::Organisation(_) => None,
    };
    let (start, end) = (period.start(), period.end());
    let cases: i64 = conn.query_row(
        &format!("{SCOPE_CTE} SELECT COUNT(*) FROM scope"),
        params![org, supervisor],
        |r| r.get(0),
    )?;
    let mut stmt = conn.prepare_cached(&format!(
        "{SCOPE_CTE} SELECT s.rid, e.category, e.started_at, e.ended_at,
             e.interview_within_72_hours, e.repeat
         FROM report_episodes e JOIN scope s ON s.id = e.case_id
         WHERE e.started_at < ?3 AND (e.ended_at IS NULL OR e.ended_at >= ?4)"
    ))?;
    let episodes = stmt
        .query_map(params![org, supervisor, end, start], |r| {
            Ok(EpisodeRow {
                case: r.get(0)?,
                category: r.get(1)?,
                started_at: r.get(2)?,
                ended_at: r.get(3)?,
                interview_within_72_hours: r.get(4)?,
                repeat: r.get(5)?,
            })
        })?
        .collect::<crate::sql::Result<Vec<_>>>()?;
    let mut stmt = conn.prepare_cached(&format!(
        "{SCOPE_CTE} SELECT n.referred_on, n.reasonable_grounds_due_on, n.reasonable_grounds,
             n.reasonable_grounds_on, n.conclusive_grounds, n.conclusive_grounds_on
         FROM report_nrm n JOIN scope s ON s.id = n.case_id"
    ))?;
    let nrm = stmt
        .query_map(params![org, supervisor], |r| {
            Ok(NrmRow {
                referred_on: date(r.get(0)?),
                reasonable_grounds_due_on: date(r.get(1)?),
                reasonable_grounds_made: r.get::<_, String>(2)? != "pending",
                reasonable_grounds_on: date(r.get(3)?),
                conclusive_grounds_made: r.get::<_, String>(4)? != "pending",
                conclusive_grounds_on: date(r.get(5)?),
            })
        })?
        .collect::<crate::sql::Result<Vec<_>>>()?;
    let mut stmt = conn.prepare_cached(&format!(
        "{SCOPE_CTE} SELECT s.rid, n.visited_at, n.submitted_at
         FROM report_notes n JOIN scope s ON s.id = n.case_id
         WHERE n.review = 'submitted' OR (n.visited_at >= ?3 AND n.visited_at < ?4)"
    ))?;
    let notes = stmt
        .query_map(params![org, supervisor, start, end], |r| {
            Ok(NoteRow {
                case: r.get(0)?,
                visited_at: r.get(1)?,
                awaiting_since: r.get(2)?,
            })
        })?
        .collect::<crate::sql::Result<Vec<_>>>()?;
    // The select's time bound is the third parameter, after the scope's `?1` and `?2`.
    let mut stmt = conn.prepare_cached(&format!(
        "{SCOPE_CTE} SELECT s.rid, {} FROM plan_check_steps p JOIN scope s ON s.id = p.case_id",
        crate::deadline_index::step_checks_select(3)
    ))?;
    let checks = stmt
        .query_map(params![org, supervisor, period.as_of(now)], |r| {
            let case: i64 = r.get(0)?;
            Ok(crate::deadline_index::step_checks_row(r, 1)?.map(|step| CheckRow { case, step }))
        })?
        .collect::<crate::sql::Result<Vec<_>>>()?
        .into_iter()
        .flatten()
        .collect();
    Ok(ScopeFacts {
        cases: u64::try_from(cases).unwrap_or(0),
        episodes,
        nrm,
        notes,
        checks,
    })
}

/// The report of `scope` over `period` at `now`, from the index (no audit: callers audit).
pub fn report(conn: Conn<'_>, scope: Scope, period: Period, now: i64) -> Result<Report> {
    let facts = load(conn, &scope, period, now)?;
    Ok(Report {
        period,
        figures: figures::compute(&facts, period, now),
        scope,
        generated_at: now,
    })
}

/// What the read found for a signed-in caller.
enum Found {
    Denied(Caller),
    Made(Caller, Report),
}

fn audit_detail(period: Period, format: Format, suppress: bool, scope: &Scope) -> Json {
    json!({
        "from": period.from.to_string(),
        "to": period.to.to_string(),
        "format": format.as_str(),
        "suppressed": suppress,
        "scope": scope.kind(),
    })
}

/// The casework report for `caller` (a device's session or a console browser's): the
/// organisation's for an administrator, their teams' for a supervisor; anyone else is refused
/// [`Error::Forbidden`], audited (`denied`, reason `report`). Audited `report_generated`.
pub async fn casework(
    state: &AppState,
    caller: Caller,
    period: Period,
    format: Format,
    suppress: bool,
) -> Result<Report> {
    let now = state.clock.now();
    let found = state
        .db
        .read(move |conn| {
            let caller = auth::recheck(conn, &caller, now)?;
            let scope = match caller.user.role {
                Role::Administrator => Scope::Organisation(caller.user.org_id.clone()),
                Role::Supervisor => Scope::Teams {
                    org: caller.user.org_id.clone(),
                    supervisor: caller.user.id.clone(),
                },
                _ => return Ok(Found::Denied(caller)),
            };
            let made = report(conn, scope, period, now)?;
            Ok(Found::Made(caller, made))
        })
        .await?;
    match found {
        Found::Denied(caller) => {
            let detail = json!({ "reason": "report" });
            audit_caller(&state.db, &caller, now, "denied", detail).await?;
            Err(Error::Forbidden(
                "reports are for administrators and supervisors",
            ))
        }
        Found::Made(caller, made) => {
            let detail = audit_detail(period, format, suppress, &made.scope);
            audit_caller(&state.db, &caller, now, "report_generated", detail).await?;
            Ok(made)
        }
    }
}

async fn audit_caller(
    db: &Db,
    caller: &Caller,
    now: i64,
    event: &'static str,
    detail: Json,
) -> Result<()> {
    let user = caller.user.id.clone();
    let device = caller.device.to_string();
    db.write(move |tx| {
        audit::append(
            tx,
            now,
            Event {
                event,
                actor_user: Some(user),
                actor_device: Some(device),
                detail,
                ..Event::default()
            },
        )
        .map(drop)
    })
    .await
}

/// The report `casebook-server report` prints: organisation `org` (an unknown one is an error
/// naming `--org`), audited `report_generated` with no actor (`"via": "cli"`).
pub fn for_operator(
    db: &Db,
    org: &str,
    period: Period,
    format: Format,
    suppress: bool,
    now: i64,
) -> Result<Report> {
    let org = org.trim().to_owned();
    let made = db.read_blocking(|conn| {
        let known: Option<String> = conn
            .query_row("SELECT id FROM orgs WHERE id = ?1", [&org], |r| r.get(0))
            .optional()?;
        if known.is_none() {
            return Err(Error::BadRequest("--org: no such organisation".into()));
        }
        report(conn, Scope::Organisation(org.clone()), period, now)
    })?;
    let mut detail = audit_detail(period, format, suppress, &made.scope);
    detail["via"] = "cli".into();
    db.write_blocking(|tx| {
        audit::append(
            tx,
            now,
            Event {
                event: "report_generated",
                subject: Some(org.clone()),
                detail,
                ..Event::default()
            },
        )
        .map(drop)
    })?;
    Ok(made)
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
