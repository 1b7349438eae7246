//! The casework report's figures, computed from the facts index alone (pure: the facts, the
//! period and the clock come in, figures go out). What each figure counts is in
//! `docs/casework.md` ("Reports").

use std::collections::{BTreeMap, HashSet};

use chrono::{Datelike, NaiveDate};

/// A case's missing episode as the index holds it.
#[derive(Debug, Clone)]
pub struct EpisodeRow {
    /// The case (its row in `cases`: a number, not its id, so counting children allocates
    /// nothing).
    pub case: i64,
    /// `missing` or `away_from_placement`.
    pub category: String,
    /// Unix seconds.
    pub started_at: i64,
    /// Unix seconds; `None` while missing.
    pub ended_at: Option<i64>,
    /// The return interview was held within 72 hours.
    pub interview_within_72_hours: bool,
    /// A repeat (third or more absence in 90 days).
    pub repeat: bool,
}

/// A case's NRM referral as the index holds it.
#[derive(Debug, Clone, Default)]
pub struct NrmRow {
    /// When referred.
    pub referred_on: Option<NaiveDate>,
    /// When reasonable grounds are due.
    pub reasonable_grounds_due_on: Option<NaiveDate>,
    /// The reasonable grounds decision was made (positive or negative).
    pub reasonable_grounds_made: bool,
    /// Its date.
    pub reasonable_grounds_on: Option<NaiveDate>,
    /// The conclusive grounds decision was made.
    pub conclusive_grounds_made: bool,
    /// Its date.
    pub conclusive_grounds_on: Option<NaiveDate>,
}

/// A visit note as the index holds it.
#[derive(Debug, Clone)]
pub struct NoteRow {
    /// The case (its row in `cases`: a number, not its id, so counting children allocates
    /// nothing).
    pub case: i64,
    /// Unix seconds.
    pub visited_at: Option<i64>,
    /// When submitted for review, if it is awaiting review now.
    pub awaiting_since: Option<i64>,
}

/// A plan step's check schedule as the deadline index holds it, with its last check before
/// the time the report counts overdue checks at.
#[derive(Debug, Clone)]
pub struct CheckRow {
    /// The case (its row in `cases`).
    pub case: i64,
    /// The step, its schedule and last check.
    pub step: crate::deadline_index::StepChecks,
}

/// Everything a report counts for the cases in its scope.
#[derive(Debug, Clone, Default)]
pub struct ScopeFacts {
    /// Children (cases) in scope.
    pub cases: u64,
    /// Their episodes (at least those that touch the period).
    pub episodes: Vec<EpisodeRow>,
    /// Their NRM records.
    pub nrm: Vec<NrmRow>,
    /// Their notes (at least those visited in the period or awaiting review).
    pub notes: Vec<NoteRow>,
    /// Their active plan steps with a check schedule (the last check as of
    /// [`Period::as_of`]).
    pub checks: Vec<CheckRow>,
}

/// The period a report covers: whole days `from` to `to`, both included, in Europe/London.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    /// First day.
    pub from: NaiveDate,
    /// Last day.
    pub to: NaiveDate,
}

/// The longest period a report covers.
pub const MAX_PERIOD_DAYS: i64 = 3660;

/// Average days in a month, for a rate per month.
const DAYS_PER_MONTH: f64 = 365.2425 / 12.0;

fn london_midnight(day: NaiveDate) -> i64 {
    use chrono::TimeZone;
    let midnight = day.and_hms_opt(0, 0, 0).unwrap_or_default();
    chrono_tz::Europe::London
        .from_local_datetime(&midnight)
        .earliest()
        .map(|t| t.timestamp())
        // No London midnight is skipped by a change of the clocks (they change at 01:00).
        .unwrap_or_else(|| midnight.and_utc().timestamp())
}

impl Period {
    /// Check a period: the end not before the start, and at most [`MAX_PERIOD_DAYS`] long.
    /// The error names the field.
    pub fn new(from: NaiveDate, to: NaiveDate) -> Result<Self, (&'static str, String)> {
        if to < from {
            return Err(("to", "is before from".into()));
        }
        if (to - from).num_days() >= MAX_PERIOD_DAYS {
            return Err((
                "to",
                format!("the period is longer than {MAX_PERIOD_DAYS} days"),
            ));
        }
        Ok(Self { from, to })
    }

    /// The first instant (Unix seconds).
    pub fn start(&self) -> i64 {
        london_midnight(self.from)
    }

    /// The first instant after the period.
    pub fn end(&self) -> i64 {
        london_midnight(self.to.succ_opt().unwrap_or(self.to))
    }

    /// The time what is overdue is counted at: `now`, or the period's end if earlier.
    pub fn as_of(&self, now: i64) -> i64 {
        now.min(self.end())
    }

    /// Days in the period.
    pub fn days(&self) -> i64 {
        (self.to - self.from).num_days() + 1
    }

    fn contains_day(&self, day: NaiveDate) -> bool {
        day >= self.from && day <= self.to
    }

    fn contains(&self, at: i64) -> bool {
        at >= self.start() && at < self.end()
    }
}

/// A figure's value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    /// A count of children, episodes, decisions or notes.
    Count(u64),
    /// A figure derived from `base` items (a median, a total, a rate); `None` without any.
    Derived {
        /// The figure.
        value: Option<f64>,
        /// How many items it was derived from.
        base: u64,
    },
}

/// What a figure shows once small numbers are suppressed or not.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Shown {
    /// A whole count.
    Count(u64),
    /// A derived figure.
    Number(f64),
    /// Nothing to show (no items).
    Empty,
    /// Suppressed: from 1 to 4 (or derived from 1 to 4 items).
    FewerThanFive,
}

/// The text shown for a suppressed figure.
pub const FEWER_THAN_FIVE: &str = "fewer than 5";

impl Value {
    /// The value as shown; with `suppress`, a count from 1 to 4, or a figure derived from 1
    /// to 4 items, is [`Shown::FewerThanFive`].
    pub fn shown(self, suppress: bool) -> Shown {
        let small = |n: u64| suppress && (1..5).contains(&n);
        match self {
            Value::Count(n) if small(n) => Shown::FewerThanFive,
            Value::Count(n) => Shown::Count(n),
            Value::Derived { base, .. } if small(base) => Shown::FewerThanFive,
            Value::Derived { value: Some(v), .. } => Shown::Number(v),
            Value::Derived { value: None, .. } => Shown::Empty,
        }
    }
}

impl Shown {
    /// As text (CSV and pages): a count, a number, empty, or "fewer than 5".
    pub fn text(self) -> String {
        match self {
            Shown::Count(n) => n.to_string(),
            Shown::Number(v) => v.to_string(),
            Shown::Empty => String::new(),
            Shown::FewerThanFive => FEWER_THAN_FIVE.to_owned(),
        }
    }

    /// As JSON: a number, `null`, or "fewer than 5".
    pub fn json(self) -> serde_json::Value {
        match self {
            Shown::Count(n) => n.into(),
            Shown::Number(v) => v.into(),
            Shown::Empty => serde_json::Value::Null,
            Shown::FewerThanFive => FEWER_THAN_FIVE.into(),
        }
    }
}

/// One figure: `section` / `category` / `measure`.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// `scope`, `missing`, `nrm`, `visits`, `safety_checks` or `visits_by_month`.
    pub section: &'static str,
    /// `all`, `missing`, `away_from_placement`, or a month (`2026-03`).
    pub category: String,
    /// What is counted.
    pub measure: &'static str,
    /// The value.
    pub value: Value,
}

/// The episode categories a report splits by, after `all`.
pub const CATEGORIES: [&str; 2] = ["missing", "away_from_placement"];

fn round(v: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (v * f).round() / f
}

/// The median of `values` (the mean of the middle two for an even count).
pub fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    })
}

fn count(n: usize) -> Value {
    Value::Count(u64::try_from(n).unwrap_or(u64::MAX))
}

fn derived(value: Option<f64>, base: usize) -> Value {
    Value::Derived {
        value,
        base: u64::try_from(base).unwrap_or(u64::MAX),
    }
}

fn push(
    out: &mut Vec<Figure>,
    section: &'static str,
    category: &str,
    measure: &'static str,
    value: Value,
) {
    out.push(Figure {
        section,
        category: category.to_owned(),
        measure,
        value,
    });
}

/// The figures of the missing-from-care section for the episodes of one category (or all).
fn episode_figures(out: &mut Vec<Figure>, category: &str, episodes: &[&EpisodeRow], p: Period) {
    let (start, end) = (p.start(), p.end());
    let touching = episodes
        .iter()
        .filter(|e| e.started_at < end && e.ended_at.is_none_or(|t| t >= start));
    let children: HashSet<i64> = touching.map(|e| e.case).collect();
    let started: Vec<&&EpisodeRow> = episodes
        .iter()
        .filter(|e| p.contains(e.started_at))
        .collect();
    let mut hours: Vec<f64> = started
        .iter()
        .filter_map(|e| e.ended_at.map(|t| (t - e.started_at) as f64 / 3600.0))
        .collect();
    let total = (!hours.is_empty()).then(|| round(hours.iter().sum(), 1));
    let median_hours = median(&mut hours).map(|h| round(h, 1));
    let returned: Vec<&&EpisodeRow> = episodes
        .iter()
        .filter(|e| e.ended_at.is_some_and(|t| p.contains(t)))
        .collect();
    let still = episodes
        .iter()
        .filter(|e| e.started_at < end && e.ended_at.is_none())
        .count();
    push(
        out,
        "missing",
        category,
        "children_missing",
        count(children.len()),
    );
    push(out, "missing", category, "episodes", count(started.len()));
    push(
        out,
        "missing",
        category,
        "total_duration_hours",
        derived(total, hours.len()),
    );
    push(
        out,
        "missing",
        category,
        "median_duration_hours",
        derived(median_hours, hours.len()),
    );
    push(out, "missing", category, "still_missing", count(still));
    push(out, "missing", category, "returned", count(returned.len()));
    push(
        out,
        "missing",
        category,
        "returned_interview_within_72_hours",
        count(
            returned
                .iter()
                .filter(|e| e.interview_within_72_hours)
                .count(),
        ),
    );
    push(
        out,
        "missing",
        category,
        "repeat_episodes",
        count(started.iter().filter(|e| e.repeat).count()),
    );
}

/// Every figure for `facts` over `period`, at `now` (Unix seconds; what is still missing,
/// awaiting review or overdue is as of now, or as of the period's end if that is earlier).
pub fn compute(facts: &ScopeFacts, period: Period, now: i64) -> Vec<Figure> {
    let mut out = Vec::new();
    push(
        &mut out,
        "scope",
        "all",
        "children",
        Value::Count(facts.cases),
    );
    // Missing from care.
    let all: Vec<&EpisodeRow> = facts.episodes.iter().collect();
    episode_figures(&mut out, "all", &all, period);
    for category in CATEGORIES {
        let some: Vec<&EpisodeRow> = all
            .iter()
            .copied()
            .filter(|e| e.category == category)
            .collect();
        episode_figures(&mut out, category, &some, period);
    }
    // NRM.
    let today = chrono::DateTime::from_timestamp(now, 0)
        .map(|t| t.with_timezone(&chrono_tz::Europe::London).date_naive())
        .unwrap_or(period.to);
    let as_of = today.min(period.to);
    let in_period = |d: Option<NaiveDate>| d.is_some_and(|d| period.contains_day(d));
    let referrals = facts
        .nrm
        .iter()
        .filter(|n| in_period(n.referred_on))
        .count();
    let rg: Vec<&NrmRow> = facts
        .nrm
        .iter()
        .filter(|n| n.reasonable_grounds_made && in_period(n.reasonable_grounds_on))
        .collect();
    let cg = facts
        .nrm
        .iter()
        .filter(|n| n.conclusive_grounds_made && in_period(n.conclusive_grounds_on))
        .count();
    let mut days: Vec<f64> = rg
        .iter()
        .filter_map(|n| Some((n.reasonable_grounds_on? - n.referred_on?).num_days() as f64))
        .collect();
    let median_days = median(&mut days).map(|d| round(d, 1));
    let overdue = facts
        .nrm
        .iter()
        .filter(|n| {
            n.referred_on.is_some_and(|r| r <= as_of)
                && n.reasonable_grounds_due_on.is_some_and(|due| due < as_of)
                && !(n.reasonable_grounds_made
                    && n.reasonable_grounds_on.is_some_and(|d| d <= as_of))
        })
        .count();
    push(&mut out, "nrm", "all", "referrals", count(referrals));
    push(
        &mut out,
        "nrm",
        "all",
        "decisions_made",
        count(rg.len() + cg),
    );
    push(
        &mut out,
        "nrm",
        "all",
        "reasonable_grounds_decisions",
        count(rg.len()),
    );
    push(
        &mut out,
        "nrm",
        "all",
        "conclusive_grounds_decisions",
        count(cg),
    );
    push(
        &mut out,
        "nrm",
        "all",
        "median_days_to_reasonable_grounds",
        derived(median_days, days.len()),
    );
    push(
        &mut out,
        "nrm",
        "all",
        "reasonable_grounds_overdue",
        count(overdue),
    );
    // Visits.
    let visits: Vec<&NoteRow> = facts
        .notes
        .iter()
        .filter(|n| n.visited_at.is_some_and(|t| period.contains(t)))
        .collect();
    let visited: HashSet<i64> = visits.iter().map(|n| n.case).collect();
    let months = period.days() as f64 / DAYS_PER_MONTH;
    let rate = (facts.cases > 0 && !visits.is_empty())
        .then(|| round(visits.len() as f64 / facts.cases as f64 / months, 2));
    let mut waits: Vec<f64> = facts
        .notes
        .iter()
        .filter_map(|n| n.awaiting_since.map(|t| (now - t).max(0) as f64 / 86_400.0))
        .collect();
    let waiting = waits.len();
    let median_wait = median(&mut waits).map(|d| round(d, 1));
    push(&mut out, "visits", "all", "visits", count(visits.len()));
    push(
        &mut out,
        "visits",
        "all",
        "children_visited",
        count(visited.len()),
    );
    push(
        &mut out,
        "visits",
        "all",
        "visits_per_child_per_month",
        derived(rate, visits.len()),
    );
    push(
        &mut out,
        "visits",
        "all",
        "notes_awaiting_review",
        count(waiting),
    );
    push(
        &mut out,
        "visits",
        "all",
        "median_days_awaiting_review",
        derived(median_wait, waiting),
    );
    // Carers' checks of plan steps overdue at the period's end (or now, if earlier).
    let as_of = period.as_of(now);
    let overdue: Vec<&CheckRow> = facts
        .checks
        .iter()
        .filter(|c| c.step.overdue_at(as_of).is_some())
        .collect();
    let children: HashSet<i64> = overdue.iter().map(|c| c.case).collect();
    push(
        &mut out,
        "safety_checks",
        "all",
        "children_with_overdue_checks",
        count(children.len()),
    );
    push(
        &mut out,
        "safety_checks",
        "all",
        "overdue_checks",
        count(overdue.len()),
    );
    // Visits by calendar month of the period.
    let mut by_month: BTreeMap<String, usize> = BTreeMap::new();
    let mut month = NaiveDate::from_ymd_opt(period.from.year(), period.from.month(), 1);
    while let Some(m) = month.filter(|m| *m <= period.to) {
        by_month.insert(m.format("%Y-%m").to_string(), 0);
        month = m.checked_add_months(chrono::Months::new(1));
    }
    for n in &visits {
        let Some(day) = n
            .visited_at
            .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
            .map(|t| t.with_timezone(&chrono_tz::Europe::London).date_naive())
        else {
            continue;
        };
        *by_month.entry(day.format("%Y-%m").to_string()).or_default() += 1;
    }
    for (m, n) in by_month {
        push(&mut out, "visits_by_month", &m, "visits", count(n));
    }
    out
}

#[cfg(test)]
#[path = "figures_tests.rs"]
mod tests;
