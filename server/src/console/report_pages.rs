//! The reports page (`/console/reports`, administrators and supervisors): the casework report
//! for a period as tables and as bar charts drawn on the server in SVG (no script; each chart
//! has a title and a description, and each bar its value as text beside it), and its CSV
//! (`/console/reports.csv`, small numbers suppressed: a file leaves the organisation). The
//! same service as `GET /v1/reports/casework`, with the same access rule and audit.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{Datelike, Duration};

use super::page::{self, Chrome};
use super::session::Browser;
use crate::error::Error;
use crate::reports::{self, Format, Report, ReportQuery, Value};
use crate::state::AppState;

/// One row of a table: a label and a value per column.
struct Line {
    label: &'static str,
    values: Vec<String>,
}

/// One bar of a chart, laid out.
struct Bar {
    label: String,
    value: String,
    /// Top of the bar.
    y: u32,
    /// Its length.
    width: u32,
    /// Where the text beside it starts.
    text_x: u32,
    /// Baseline of the label and value text.
    text_y: u32,
}

/// A horizontal bar chart.
struct Chart {
    id: &'static str,
    title: &'static str,
    desc: String,
    height: u32,
    bars: Vec<Bar>,
}

/// The charts are drawn at their own size (one per row, never scaled down on a page 1,280
/// px wide or a tablet's 768), so their text stays at [`FONT_SIZE`] px; a narrower screen
/// scales them down to fit (`max-width: 100%`).
const CHART_WIDTH: u32 = 640;
/// The labels' and values' text size, in px.
const FONT_SIZE: u32 = 15;
const BAR_LEFT: u32 = 230;
const BAR_MAX: u32 = 340;
const BAR_STEP: u32 = 32;

fn chart(id: &'static str, title: &'static str, bars: &[(String, u64)]) -> Chart {
    let max = bars.iter().map(|b| b.1).max().unwrap_or(0).max(1);
    let laid: Vec<Bar> = bars
        .iter()
        .zip(0u32..)
        .map(|((label, n), i)| {
            let width =
                u32::try_from(n.saturating_mul(u64::from(BAR_MAX)) / max).unwrap_or(BAR_MAX);
            Bar {
                label: label.clone(),
                value: n.to_string(),
                y: 10 + i * BAR_STEP,
                width,
                text_x: BAR_LEFT + width + 8,
                text_y: 10 + i * BAR_STEP + 16,
            }
        })
        .collect();
    let desc = bars
        .iter()
        .map(|(l, n)| format!("{l}: {n}"))
        .collect::<Vec<_>>()
        .join("; ");
    Chart {
        id,
        title,
        desc,
        height: 20 + BAR_STEP * u32::try_from(bars.len()).unwrap_or(0),
        bars: laid,
    }
}

#[derive(Template)]
#[template(path = "console/reports.html")]
struct ReportsPage {
    chrome: Option<Chrome>,
    from: String,
    to: String,
    from_error: Option<String>,
    to_error: Option<String>,
    shown: bool,
    csv_query: String,
    children: String,
    missing: Vec<Line>,
    nrm: Vec<Line>,
    visits: Vec<Line>,
    safety_checks: Vec<Line>,
    charts: Vec<Chart>,
    chart_width: u32,
    font_size: u32,
    bar_left: u32,
}

const MISSING: [(&str, &str); 8] = [
    (
        "children_missing",
        "Children missing from care in the period",
    ),
    ("episodes", "Episodes started"),
    (
        "total_duration_hours",
        "Total duration of ended episodes (hours)",
    ),
    ("median_duration_hours", "Median duration (hours)"),
    ("still_missing", "Still missing"),
    ("returned", "Returned in the period"),
    (
        "returned_interview_within_72_hours",
        "Returned with a return interview within 72 hours",
    ),
    (
        "repeat_episodes",
        "Repeat episodes (third or more in 90 days)",
    ),
];

const NRM: [(&str, &str); 6] = [
    ("referrals", "NRM referrals"),
    ("decisions_made", "NRM decisions made"),
    (
        "reasonable_grounds_decisions",
        "Reasonable grounds decisions",
    ),
    (
        "conclusive_grounds_decisions",
        "Conclusive grounds decisions",
    ),
    (
        "median_days_to_reasonable_grounds",
        "Median days from referral to reasonable grounds",
    ),
    (
        "reasonable_grounds_overdue",
        "Reasonable grounds overdue (over 5 working days)",
    ),
];

const VISITS: [(&str, &str); 5] = [
    ("visits", "Visits"),
    ("children_visited", "Children visited"),
    ("visits_per_child_per_month", "Visits per child per month"),
    ("notes_awaiting_review", "Notes awaiting review now"),
    ("median_days_awaiting_review", "Median days awaiting review"),
];

const SAFETY_CHECKS: [(&str, &str); 2] = [
    (
        "children_with_overdue_checks",
        "Children with a carers' check overdue at the end of the period",
    ),
    (
        "overdue_checks",
        "Plan steps with a check overdue at the end of the period",
    ),
];

/// The page shows the organisation's own figures, not suppressed ("none" where there is
/// nothing to derive a figure from).
fn text(report: &Report, section: &str, category: &str, measure: &str) -> String {
    match report
        .get(section, category, measure)
        .map(|v| v.shown(false))
    {
        Some(reports::Shown::Empty) | None => "none".to_owned(),
        Some(shown) => shown.text(),
    }
}

fn count(report: &Report, section: &str, category: &str, measure: &str) -> u64 {
    match report.get(section, category, measure) {
        Some(Value::Count(n)) => n,
        _ => 0,
    }
}

fn lines(
    report: &Report,
    section: &str,
    categories: &[&str],
    rows: &[(&str, &'static str)],
) -> Vec<Line> {
    rows.iter()
        .map(|(measure, label)| Line {
            label,
            values: categories
                .iter()
                .map(|c| text(report, section, c, measure))
                .collect(),
        })
        .collect()
}

fn fill(page: &mut ReportsPage, report: &Report) {
    page.shown = true;
    page.children = text(report, "scope", "all", "children");
    page.missing = lines(
        report,
        "missing",
        &["all", "missing", "away_from_placement"],
        &MISSING,
    );
    page.nrm = lines(report, "nrm", &["all"], &NRM);
    page.visits = lines(report, "visits", &["all"], &VISITS);
    page.safety_checks = lines(report, "safety_checks", &["all"], &SAFETY_CHECKS);
    let episodes = [
        (
            "Missing".to_owned(),
            count(report, "missing", "missing", "episodes"),
        ),
        (
            "Away without authorisation".to_owned(),
            count(report, "missing", "away_from_placement", "episodes"),
        ),
    ];
    let months: Vec<(String, u64)> = report
        .figures
        .iter()
        .filter(|f| f.section == "visits_by_month")
        .map(|f| match f.value {
            Value::Count(n) => (f.category.clone(), n),
            Value::Derived { .. } => (f.category.clone(), 0),
        })
        .collect();
    page.charts = vec![
        chart(
            "chart-episodes",
            "Missing episodes started in the period, by category",
            &episodes,
        ),
        chart("chart-visits", "Visits by month", &months),
    ];
}

fn default_period(state: &AppState) -> (String, String) {
    let today = chrono::DateTime::from_timestamp(state.clock.now(), 0)
        .map(|t| t.date_naive())
        .unwrap_or_default();
    let from = today
        .with_day(1)
        .and_then(|d| d.checked_sub_months(chrono::Months::new(2)))
        .unwrap_or(today - Duration::days(60));
    (from.to_string(), today.to_string())
}

/// `GET /console/reports?from=&to=`: the form, and the report for the period given (by
/// default, from the first day of the month two months back to today).
pub(super) async fn reports(
    State(state): State<AppState>,
    b: Browser,
    Query(q): Query<ReportQuery>,
) -> Response {
    let chrome = b.chrome(&state);
    let (default_from, default_to) = default_period(&state);
    let from = q.from.clone().unwrap_or(default_from);
    let to = q.to.clone().unwrap_or(default_to);
    let mut page = ReportsPage {
        chrome: Some(chrome.clone()),
        csv_query: format!("from={}&to={}", urlencoding(&from), urlencoding(&to)),
        from,
        to,
        from_error: None,
        to_error: None,
        shown: false,
        children: String::new(),
        missing: Vec::new(),
        nrm: Vec::new(),
        visits: Vec::new(),
        safety_checks: Vec::new(),
        charts: Vec::new(),
        chart_width: CHART_WIDTH,
        font_size: FONT_SIZE,
        bar_left: BAR_LEFT,
    };
    let period = match reports::parse_period(Some(&page.from), Some(&page.to)) {
        Ok(p) => p,
        Err(Error::BadRequest(m)) => {
            match m.split_once(": ") {
                Some(("from", why)) => page.from_error = Some(why.to_owned()),
                Some((_, why)) => page.to_error = Some(why.to_owned()),
                None => page.to_error = Some(m),
            }
            return page::render(StatusCode::BAD_REQUEST, &page);
        }
        Err(e) => return page::error_page(Some(chrome), &e),
    };
    match reports::casework(&state, b.caller.clone(), period, Format::Json, false).await {
        Ok(report) => {
            fill(&mut page, &report);
            page::render(StatusCode::OK, &page)
        }
        Err(e) => page::error_page(Some(chrome), &e),
    }
}

/// `GET /console/reports.csv?from=&to=`: the report as CSV, small numbers suppressed.
pub(super) async fn reports_csv(
    State(state): State<AppState>,
    b: Browser,
    Query(q): Query<ReportQuery>,
) -> Response {
    let chrome = b.chrome(&state);
    let period = match reports::parse_period(q.from.as_deref(), q.to.as_deref()) {
        Ok(p) => p,
        Err(e) => return page::error_page(Some(chrome), &e),
    };
    match reports::casework(&state, b.caller.clone(), period, Format::Csv, true).await {
        Ok(report) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"casework-report.csv\"",
                ),
            ],
            report.to_csv(),
        )
            .into_response(),
        Err(e) => page::error_page(Some(chrome), &e),
    }
}

/// Percent-encode a query value (dates and what a person typed instead).
fn urlencoding(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
