//! Reports (issue 11, "What must be shown" 4 and 5): an organisation of 52 children built
//! through a real phone and the real exchange (missing episodes with and without return
//! interviews, NRM referrals and decisions, plan steps with carers' checks, visit notes
//! submitted, signed off and returned on the supervisor's phone), then every figure of
//! `GET /v1/reports/casework` checked against one counted by hand below; the supervisor's
//! report covers their team only; names,
//! references and free text never appear in JSON, CSV or the console page; CSV suppresses
//! small numbers; a guardian is refused (audited); bad input names its field.

use anyhow::{Context, Result};
use casebook_core::doc::{DocId, DocKind};
use casebook_core::ids::{CaseId, EntryId};
use casebook_core::model::{
    EpisodeCategory, MissingEpisode, Nrm, NrmDecision, NrmRoute, PlanStep, Profile,
    ReturnInterviewOutcome, ReviewStatus, SafetyCheck, StepStatus, VisitNote,
};
use casebook_server::{Clock, Settings};
use casebook_tests::console::Console;
use casebook_tests::support::{Device, Harness};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::{Value, json};

const NAME_CANARY: &str = "CANARY-NAME-Nguyen-Thi-Lan";
const REF_CANARY: &str = "CANARY-REF";
const EPISODE_CANARY: &str = "CANARY-EPISODE-seen-at-the-nail-bar";
const NOTE_CANARY: &str = "CANARY-NOTE-I-miss-my-brother";
const STEP_CANARY: &str = "CANARY-STEP-phone-handed-in-at-night";
const CASES: usize = 52;
const DAY: i64 = 86_400;

/// The first day of the report's period, 120 days ago, at noon UTC (a London date too).
fn day0() -> DateTime<Utc> {
    (Utc::now() - Duration::days(120))
        .date_naive()
        .and_hms_opt(12, 0, 0)
        .map(|t| t.and_utc())
        .unwrap_or_default()
}

/// Noon of day `n` of the period (negative: before it).
fn day(n: i64) -> DateTime<Utc> {
    day0() + Duration::days(n)
}

fn date(n: i64) -> NaiveDate {
    day(n).date_naive()
}

/// Record an episode on `case` in one go, with the return and interview if given.
fn episode(
    phone: &Device,
    case: CaseId,
    category: EpisodeCategory,
    start: DateTime<Utc>,
    returned: Option<DateTime<Utc>>,
    interview_after_hours: Option<i64>,
) -> Result<()> {
    let record = MissingEpisode {
        category,
        missing_since: Some(start),
        returned_at: returned,
        return_interview_outcome: if interview_after_hours.is_some() {
            ReturnInterviewOutcome::Done
        } else {
            ReturnInterviewOutcome::NotYet
        },
        return_interview_done_at: returned
            .zip(interview_after_hours)
            .map(|(r, h)| r + Duration::hours(h)),
        circumstances: EPISODE_CANARY.into(),
        return_interview: EPISODE_CANARY.into(),
        ..MissingEpisode::default()
    };
    let id = EntryId::random(&mut rand::rngs::OsRng);
    phone.change(DocId::new(case, DocKind::Safety), |d, e| {
        d.start_missing_episode(e, id, &record)
    })?;
    Ok(())
}

fn nrm(
    phone: &Device,
    case: CaseId,
    referred: i64,
    rg: Option<(i64, NrmDecision)>,
    cg: Option<i64>,
) -> Result<()> {
    let record = Nrm {
        referred_on: Some(date(referred)),
        route: NrmRoute::HomeOffice,
        reasonable_grounds: rg.map_or(NrmDecision::Pending, |(_, d)| d),
        reasonable_grounds_on: rg.map(|(n, _)| date(n)),
        conclusive_grounds: if cg.is_some() {
            NrmDecision::Positive
        } else {
            NrmDecision::Pending
        },
        conclusive_grounds_on: cg.map(date),
        ..Nrm::default()
    };
    phone.change(DocId::new(case, DocKind::Profile), |d, e| {
        d.set_nrm(e, &record)
    })?;
    Ok(())
}

fn visit(phone: &Device, case: CaseId, on: i64) -> Result<EntryId> {
    let id = EntryId::random(&mut rand::rngs::OsRng);
    let note = VisitNote {
        visited_at: Some(day(on)),
        place: NOTE_CANARY.into(),
        wishes_and_feelings: NOTE_CANARY.into(),
        observations: NOTE_CANARY.into(),
        ..VisitNote::default()
    };
    phone.change(DocId::new(case, DocKind::Visits), |d, e| {
        d.add_visit_note(e, id, &note)
    })?;
    Ok(id)
}

/// A plan step checked every 24 hours from `from` (retired if `retired`), with checks logged
/// on the days `checked`.
fn checked_step(
    phone: &Device,
    case: CaseId,
    from: i64,
    retired: bool,
    checked: &[i64],
) -> Result<()> {
    let id = EntryId::random(&mut rand::rngs::OsRng);
    let step = PlanStep {
        description: STEP_CANARY.into(),
        restricts: true,
        check_every_hours: Some(24),
        checks_from: Some(day(from)),
        status: if retired {
            StepStatus::Retired
        } else {
            StepStatus::Active
        },
        ..PlanStep::default()
    };
    let safety = DocId::new(case, DocKind::Safety);
    phone.change(safety, |d, e| d.add_plan_step(e, id, &step))?;
    for on in checked {
        let check = SafetyCheck {
            checked_at: Some(day(*on)),
            step: Some(id),
            note: STEP_CANARY.into(),
            ..SafetyCheck::default()
        };
        let check_id = EntryId::random(&mut rand::rngs::OsRng);
        phone.change(safety, |d, e| d.log_safety_check(e, check_id, &check))?;
    }
    Ok(())
}

fn review(phone: &Device, case: CaseId, note: EntryId, status: ReviewStatus) -> Result<()> {
    phone.change(DocId::new(case, DocKind::Visits), |d, e| {
        d.review_visit_note(e, note, status, NOTE_CANARY)
    })?;
    Ok(())
}

/// GET `path` with a fresh session of `phone`: (status, body).
async fn get_as(phone: &Device, path: &str) -> Result<(u16, String)> {
    let identity = &phone.identity;
    let (client, token) = phone.session().await?;
    let response = client
        .get(format!("{}{path}", identity.server_url))
        .bearer_auth(token)
        .send()
        .await?;
    let status = response.status().as_u16();
    Ok((status, response.text().await?))
}

fn assert_no_canary(what: &str, text: &str) {
    for canary in [
        NAME_CANARY,
        REF_CANARY,
        EPISODE_CANARY,
        NOTE_CANARY,
        STEP_CANARY,
        "CANARY",
    ] {
        assert!(!text.contains(canary), "{what} holds {canary}");
    }
}

fn months_of_period() -> Vec<String> {
    let mut out: Vec<String> = (0..60)
        .map(|n| date(n).format("%Y-%m").to_string())
        .collect();
    out.dedup();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_figures_equal_those_counted_by_hand_for_52_children() -> Result<()> {
    let settings = Settings {
        max_case_registrations_per_day: 200,
        max_challenges_per_device: 1000,
        ..Settings::default()
    };
    let clock = Clock::manual(Utc::now().timestamp());
    let h = Harness::start_with_clock(settings, clock.clone()).await?;
    let (guardian_id, guardian) = h.person("guardian", "guardian").await?;
    let (supervisor_id, supervisor) = h.person("supervisor", "supervisor").await?;
    let (_, analyst) = h.person("analyst", "administrator").await?;
    let team_a = h
        .admin
        .team("Team A", &[&supervisor_id, &guardian_id])
        .await?;
    let team_b = h.admin.team("Team B", &[&guardian_id]).await?;
    let console_code = h.admin.code(&supervisor_id).await?;
    let mut console = Console::enrol(&h.server, &console_code, "supervisor's desk").await?;

    // 52 children, opened on the guardian's phone: cases 0..40 in team A (the supervisor's),
    // 40..52 in team B.
    let mut cases = Vec::new();
    for i in 0..CASES {
        let profile = Profile {
            case_reference: format!("{REF_CANARY}-{i:03}"),
            given_name: NAME_CANARY.into(),
            ..Profile::default()
        };
        let edit = guardian.edit();
        cases.push(
            guardian
                .lock()
                .create_case(&edit, &mut rand::rngs::OsRng, &profile)?,
        );
    }
    let g = &guardian;
    use EpisodeCategory::{AwayFromPlacement as Away, Missing};
    // Episodes.
    for (i, case) in cases.iter().enumerate().take(10) {
        // Missing on day 10 for 24 h; interview after 48 h (0..6), after 80 h (6..8), none.
        let interview = match i {
            0..6 => Some(48),
            6..8 => Some(80),
            _ => None,
        };
        episode(g, *case, Missing, day(10), Some(day(11)), interview)?;
    }
    for (i, case) in cases.iter().enumerate().take(14).skip(10) {
        // Away on day 20 for 6 h; interview within 72 h for 10 and 11.
        let back = day(20) + Duration::hours(6);
        episode(g, *case, Away, day(20), Some(back), (i < 12).then_some(70))?;
    }
    // Case 14: three absences in 90 days (the third a repeat, still missing).
    episode(
        g,
        cases[14],
        Missing,
        day(30),
        Some(day(30) + Duration::hours(12)),
        None,
    )?;
    episode(
        g,
        cases[14],
        Missing,
        day(40),
        Some(day(40) + Duration::hours(12)),
        None,
    )?;
    episode(g, cases[14], Missing, day(50), None, None)?;
    // Case 15: before the period. Case 16: from before it, returned on day 2. Case 17: after.
    episode(g, cases[15], Missing, day(-10), Some(day(-9)), Some(1))?;
    episode(g, cases[16], Missing, day(-5), Some(day(2)), None)?;
    episode(g, cases[17], Missing, day(70), None, None)?;
    // Team B: case 40 missing on day 15 for 24 h, interviewed within 72 h.
    episode(g, cases[40], Missing, day(15), Some(day(16)), Some(24))?;

    // NRM.
    for (i, case) in cases.iter().enumerate().take(30).skip(20) {
        let rg = match i {
            20..26 => Some((9, NrmDecision::Positive)),
            26..28 => Some((12, NrmDecision::Positive)),
            _ => None, // 28, 29: overdue
        };
        nrm(g, *case, 5, rg, None)?;
    }
    nrm(
        g,
        cases[30],
        10,
        Some((13, NrmDecision::Negative)),
        Some(50),
    )?;
    nrm(g, cases[31], 10, Some((13, NrmDecision::Negative)), None)?;
    nrm(g, cases[32], -30, Some((3, NrmDecision::Positive)), None)?;
    nrm(g, cases[33], 57, None, None)?;
    nrm(g, cases[41], 20, Some((25, NrmDecision::Positive)), None)?;

    // Carers' checks every 24 hours from day 50: cases 0..5 never checked (overdue at the
    // period's end); 5 checked on day 59 (next due on day 60: not overdue); 6 checked only on
    // day 61, after the period (overdue at its end); 7 two steps never checked; 8 a retired
    // step; 40 (team B) one never checked.
    for case in cases.iter().take(5) {
        checked_step(g, *case, 50, false, &[])?;
    }
    checked_step(g, cases[5], 50, false, &[59])?;
    checked_step(g, cases[6], 50, false, &[61])?;
    checked_step(g, cases[7], 50, false, &[])?;
    checked_step(g, cases[7], 50, false, &[])?;
    checked_step(g, cases[8], 50, true, &[])?;
    checked_step(g, cases[40], 50, false, &[])?;

    // Visits: 0..20 on days 10 and 40, 20..25 on day 45, 40..45 on day 20, 50 before.
    let mut day10_notes = Vec::new();
    for case in cases.iter().take(20) {
        day10_notes.push(visit(g, *case, 10)?);
        visit(g, *case, 40)?;
    }
    for case in cases.iter().take(25).skip(20) {
        visit(g, *case, 45)?;
    }
    for case in cases.iter().take(45).skip(40) {
        visit(g, *case, 20)?;
    }
    visit(g, cases[50], -3)?;
    // Submitted now: the day-10 notes of cases 0..6 and 9..13.
    for i in (0..6).chain(9..13) {
        review(g, cases[i], day10_notes[i], ReviewStatus::Submitted)?;
    }
    guardian.sync().await?;
    for (i, case) in cases.iter().enumerate() {
        let team = if i < 40 { &team_a } else { &team_b };
        h.admin.set_team(&case.to_string(), team).await?;
    }

    // Two days later (the server's clock): cases 6..9 submitted.
    clock.advance(2 * DAY);
    for i in 6..9 {
        review(g, cases[i], day10_notes[i], ReviewStatus::Submitted)?;
    }
    guardian.sync().await?;
    // The supervisor signs off 9..12 and returns 12 on their phone.
    supervisor.sync().await?;
    for i in 9..12 {
        review(
            &supervisor,
            cases[i],
            day10_notes[i],
            ReviewStatus::SignedOff,
        )?;
    }
    review(
        &supervisor,
        cases[12],
        day10_notes[12],
        ReviewStatus::Returned,
    )?;
    let synced = supervisor.sync().await?;
    assert!(synced.report.rejected.is_empty(), "{:?}", synced.report);
    guardian.sync().await?;

    // Three days later: the report.
    clock.advance(3 * DAY);
    let (from, to) = (date(0), date(59));
    let query = format!("/v1/reports/casework?from={from}&to={to}");
    let (status, body) = get_as(&analyst, &query).await?;
    assert_eq!(status, 200, "{body}");
    assert_no_canary("the administrator's JSON", &body);
    let report: Value = serde_json::from_str(&body)?;
    let f = &report["figures"];

    // Counted by hand from the records above.
    let expected_missing = [
        // (measure, all, missing, away)
        ("children_missing", json!(17), json!(13), json!(4)),
        ("episodes", json!(18), json!(14), json!(4)),
        (
            "total_duration_hours",
            json!(312.0),
            json!(288.0),
            json!(24.0),
        ),
        (
            "median_duration_hours",
            json!(24.0),
            json!(24.0),
            json!(6.0),
        ),
        ("still_missing", json!(1), json!(1), json!(0)),
        ("returned", json!(18), json!(14), json!(4)),
        (
            "returned_interview_within_72_hours",
            json!(9),
            json!(7),
            json!(2),
        ),
        ("repeat_episodes", json!(1), json!(1), json!(0)),
    ];
    for (measure, all, missing, away) in expected_missing {
        assert_eq!(f["missing"]["all"][measure], all, "all {measure}");
        assert_eq!(
            f["missing"]["missing"][measure], missing,
            "missing {measure}"
        );
        assert_eq!(
            f["missing"]["away_from_placement"][measure], away,
            "away {measure}"
        );
    }
    assert_eq!(f["scope"]["all"]["children"], json!(52));
    let nrm_expected = [
        ("referrals", json!(14)),
        ("reasonable_grounds_decisions", json!(12)),
        ("conclusive_grounds_decisions", json!(1)),
        ("decisions_made", json!(13)),
        // 4 ×6, 7 ×2, 3 ×2, 33, 5: the middle two are both 4.
        ("median_days_to_reasonable_grounds", json!(4.0)),
        ("reasonable_grounds_overdue", json!(2)),
    ];
    for (measure, value) in nrm_expected {
        assert_eq!(f["nrm"]["all"][measure], value, "nrm {measure}");
    }
    let months = 60.0 / (365.2425 / 12.0);
    let rate = (50.0 / 52.0 / months * 100.0_f64).round() / 100.0;
    let visits_expected = [
        ("visits", json!(50)),
        ("children_visited", json!(30)),
        ("visits_per_child_per_month", json!(rate)),
        ("notes_awaiting_review", json!(9)),
        // 0..6 waited 5 days, 6..9 three.
        ("median_days_awaiting_review", json!(5.0)),
    ];
    for (measure, value) in visits_expected {
        assert_eq!(f["visits"]["all"][measure], value, "visits {measure}");
    }
    // Overdue checks at the period's end: cases 0..5, 6, 7 (two steps) and 40.
    assert_eq!(
        f["safety_checks"]["all"]["children_with_overdue_checks"],
        json!(8)
    );
    assert_eq!(f["safety_checks"]["all"]["overdue_checks"], json!(9));
    let mut by_month: std::collections::BTreeMap<String, u64> =
        months_of_period().into_iter().map(|m| (m, 0)).collect();
    for (on, n) in [(10, 20), (40, 20), (45, 5), (20, 5)] {
        *by_month
            .entry(date(on).format("%Y-%m").to_string())
            .or_default() += n;
    }
    let shown = f["visits_by_month"].as_object().context("months")?;
    assert_eq!(shown.len(), by_month.len(), "{shown:?}");
    for (month, n) in &by_month {
        assert_eq!(shown[month.as_str()]["visits"], json!(n), "{month}");
    }

    // The supervisor's report: team A only (no case 40 or 41).
    let (status, body) = get_as(&supervisor, &query).await?;
    assert_eq!(status, 200, "{body}");
    assert_no_canary("the supervisor's JSON", &body);
    let sup: Value = serde_json::from_str(&body)?;
    let s = &sup["figures"];
    assert_eq!(s["scope"]["all"]["children"], json!(40));
    assert_eq!(s["missing"]["all"]["episodes"], json!(17));
    assert_eq!(
        s["missing"]["all"]["returned_interview_within_72_hours"],
        json!(8)
    );
    assert_eq!(s["nrm"]["all"]["referrals"], json!(13));
    assert_eq!(s["visits"]["all"]["visits"], json!(45));
    assert_eq!(s["visits"]["all"]["notes_awaiting_review"], json!(9));
    assert_eq!(
        s["safety_checks"]["all"]["children_with_overdue_checks"],
        json!(7)
    );
    assert_eq!(s["safety_checks"]["all"]["overdue_checks"], json!(8));

    // CSV: suppressed (still missing 1, repeat 1, away 4 → "fewer than 5"; 18 stays).
    let (status, csv) = get_as(&analyst, &format!("{query}&format=csv")).await?;
    assert_eq!(status, 200, "{csv}");
    assert_no_canary("the CSV", &csv);
    assert!(csv.starts_with("section,category,measure,value\n"), "{csv}");
    for line in [
        "missing,all,episodes,18",
        "missing,all,still_missing,fewer than 5",
        "missing,all,repeat_episodes,fewer than 5",
        "missing,away_from_placement,episodes,fewer than 5",
        "missing,away_from_placement,median_duration_hours,fewer than 5",
        "nrm,all,reasonable_grounds_overdue,fewer than 5",
        "nrm,all,referrals,14",
        "safety_checks,all,overdue_checks,9",
        "missing,away_from_placement,still_missing,0",
    ] {
        assert!(csv.lines().any(|l| l == line), "{line} not in\n{csv}");
    }
    // JSON suppressed on request.
    let (_, body) = get_as(&analyst, &format!("{query}&suppress=true")).await?;
    let suppressed: Value = serde_json::from_str(&body)?;
    assert_eq!(
        suppressed["figures"]["missing"]["all"]["still_missing"],
        json!("fewer than 5")
    );
    assert_eq!(
        suppressed["figures"]["missing"]["all"]["episodes"],
        json!(18)
    );

    // The console page as the supervisor: the same figures, no canary.
    let (challenge, signature) = console.signed_challenge().await?;
    console.open(&challenge, &signature).await?;
    let page = console
        .get(&format!("/console/reports?from={from}&to={to}"))
        .await?;
    assert_eq!(page.status().as_u16(), 200);
    let html = page.text().await?;
    assert_no_canary("the console page", &html);
    assert!(
        html.contains("<strong id=\"children\">40</strong>"),
        "{html}"
    );
    assert!(html.contains("<title id=\"chart-visits-title\">Visits by month</title>"));
    assert!(
        html.contains("Plan steps with a check overdue at the end of the period</th><td>8</td>"),
        "{html}"
    );
    assert!(!html.contains("not reported yet"));
    let csv_page = console
        .get(&format!("/console/reports.csv?from={from}&to={to}"))
        .await?
        .text()
        .await?;
    assert_no_canary("the console's CSV", &csv_page);
    assert!(
        csv_page
            .lines()
            .any(|l| l == "missing,all,still_missing,fewer than 5")
    );

    // A guardian is refused, and the refusal audited.
    let (status, _) = get_as(&guardian, &query).await?;
    assert_eq!(status, 403);
    let denied = casebook_tests::support::audit_rows(&h.server)
        .await?
        .iter()
        .filter(|r| {
            r.event == "denied"
                && serde_json::from_str::<serde_json::Value>(&r.detail)
                    .is_ok_and(|d| d["reason"] == "report")
        })
        .count();
    assert_eq!(denied, 1);
    let made: i64 = h
        .server
        .state
        .db
        .read(|c| {
            Ok(c.query_row(
                "SELECT COUNT(*) FROM audit WHERE event = 'report_generated'",
                [],
                |r| r.get(0),
            )?)
        })
        .await?;
    assert_eq!(made, 6, "every report made is audited");

    // Bad input: a clear error naming the field.
    for (q, field) in [
        (format!("from={to}&to={from}"), "to"),
        ("from=2026-02-30&to=2026-03-01".to_owned(), "from"),
        ("from=2026-01-01".to_owned(), "to"),
        (format!("from={from}&to={to}&format=xml"), "format"),
    ] {
        let (status, body) = get_as(&analyst, &format!("/v1/reports/casework?{q}")).await?;
        assert_eq!(status, 400, "{q}: {body}");
        let error: Value = serde_json::from_str(&body)?;
        let message = error["message"].as_str().context("message")?;
        assert!(
            message.contains(&format!("{field}:")),
            "{q}: {message} should name {field}"
        );
    }
    Ok(())
}
