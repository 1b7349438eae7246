//! Tests of the pure figures: each figure computed by hand from a few facts.

use super::*;

fn day(m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, m, d).expect("date")
}

/// Unix seconds of 2026-`m`-`d` `h`:00 UTC (London is on GMT in January and February).
fn at(m: u32, d: u32, h: u32) -> i64 {
    day(m, d)
        .and_hms_opt(h, 0, 0)
        .expect("time")
        .and_utc()
        .timestamp()
}

fn episode(
    case: i64,
    category: &str,
    started: i64,
    ended: Option<i64>,
    interview: bool,
    repeat: bool,
) -> EpisodeRow {
    EpisodeRow {
        case,
        category: category.into(),
        started_at: started,
        ended_at: ended,
        interview_within_72_hours: interview,
        repeat,
    }
}

fn get(figures: &[Figure], section: &str, category: &str, measure: &str) -> Value {
    figures
        .iter()
        .find(|f| f.section == section && f.category == category && f.measure == measure)
        .map(|f| f.value)
        .unwrap_or_else(|| panic!("no figure {section}/{category}/{measure}"))
}

#[test]
fn a_period_ending_before_it_starts_or_too_long_is_refused_naming_to() {
    assert_eq!(
        Period::new(day(2, 1), day(1, 31)).map_err(|e| e.0),
        Err("to")
    );
    let long = Period::new(day(1, 1), day(1, 1) + chrono::Days::new(4000));
    assert_eq!(long.map_err(|e| e.0), Err("to"));
    let one = Period::new(day(1, 1), day(1, 1)).expect("one day");
    assert_eq!(one.days(), 1);
    assert_eq!(one.end() - one.start(), 86_400);
}

#[test]
fn a_period_in_summer_starts_at_london_midnight() {
    let p = Period::new(day(7, 1), day(7, 1)).expect("period");
    // 00:00 BST is 23:00 UTC the day before.
    assert_eq!(p.start(), at(6, 30, 23));
}

#[test]
fn counts_from_1_to_4_and_figures_from_1_to_4_items_are_suppressed_only_when_asked() {
    for n in 1..5 {
        assert_eq!(Value::Count(n).shown(true), Shown::FewerThanFive);
        assert_eq!(Value::Count(n).shown(false), Shown::Count(n));
        let d = Value::Derived {
            value: Some(2.5),
            base: n,
        };
        assert_eq!(d.shown(true), Shown::FewerThanFive);
        assert_eq!(d.shown(false), Shown::Number(2.5));
    }
    assert_eq!(Value::Count(0).shown(true), Shown::Count(0));
    assert_eq!(Value::Count(5).shown(true), Shown::Count(5));
    let none = Value::Derived {
        value: None,
        base: 0,
    };
    assert_eq!(none.shown(true), Shown::Empty);
    assert_eq!(Shown::FewerThanFive.text(), "fewer than 5");
    assert_eq!(
        Shown::FewerThanFive.json(),
        serde_json::json!("fewer than 5")
    );
}

#[test]
fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
    assert_eq!(median(&mut []), None);
    assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
    assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), Some(2.5));
}

#[test]
fn episode_figures_count_what_started_ended_and_is_still_open_in_the_period() {
    let period = Period::new(day(1, 1), day(1, 31)).expect("period");
    let facts = ScopeFacts {
        cases: 10,
        episodes: vec![
            // Started in December, returned in January: a child missing in the period,
            // returned in it, but not an episode started in it.
            episode(
                1,
                "missing",
                at(1, 1, 0) - 2 * 86_400,
                Some(at(1, 2, 0)),
                true,
                false,
            ),
            // Started and ended in January: 10 hours, interview within 72 hours, a repeat.
            episode(2, "missing", at(1, 5, 8), Some(at(1, 5, 18)), true, true),
            // Started in January, 30 hours, away from placement, no interview.
            episode(
                3,
                "away_from_placement",
                at(1, 10, 0),
                Some(at(1, 11, 6)),
                false,
                false,
            ),
            // Started in January and still missing.
            episode(2, "missing", at(1, 20, 0), None, false, false),
            // Started in February: not in the period at all.
            episode(4, "missing", at(2, 2, 0), None, false, false),
        ],
        ..ScopeFacts::default()
    };
    let f = compute(&facts, period, at(3, 1, 0));
    let count = |category: &str, measure: &str| get(&f, "missing", category, measure);
    assert_eq!(count("all", "children_missing"), Value::Count(3));
    assert_eq!(count("all", "episodes"), Value::Count(3));
    assert_eq!(count("all", "still_missing"), Value::Count(1));
    assert_eq!(count("all", "returned"), Value::Count(3));
    assert_eq!(
        count("all", "returned_interview_within_72_hours"),
        Value::Count(2)
    );
    assert_eq!(count("all", "repeat_episodes"), Value::Count(1));
    assert_eq!(
        count("all", "total_duration_hours"),
        Value::Derived {
            value: Some(40.0),
            base: 2
        }
    );
    assert_eq!(
        count("all", "median_duration_hours"),
        Value::Derived {
            value: Some(20.0),
            base: 2
        }
    );
    assert_eq!(count("missing", "children_missing"), Value::Count(2));
    assert_eq!(count("missing", "episodes"), Value::Count(2));
    assert_eq!(count("away_from_placement", "episodes"), Value::Count(1));
    assert_eq!(
        count("away_from_placement", "median_duration_hours"),
        Value::Derived {
            value: Some(30.0),
            base: 1
        }
    );
}

#[test]
fn nrm_figures_count_decisions_in_the_period_and_overdue_at_its_end() {
    let period = Period::new(day(3, 1), day(3, 31)).expect("period");
    let row = |referred: u32, due: u32, rg: Option<u32>, cg: Option<u32>| NrmRow {
        referred_on: Some(day(3, referred)),
        reasonable_grounds_due_on: Some(day(3, due)),
        reasonable_grounds_made: rg.is_some(),
        reasonable_grounds_on: rg.map(|d| day(3, d)),
        conclusive_grounds_made: cg.is_some(),
        conclusive_grounds_on: cg.map(|d| day(3, d)),
    };
    let facts = ScopeFacts {
        cases: 4,
        nrm: vec![
            row(2, 9, Some(6), None),       // 4 days
            row(3, 10, Some(12), Some(30)), // 9 days, and a conclusive decision
            row(16, 23, None, None),        // overdue at the end of March
            row(27, 31, None, None),        // due on the last day: not overdue
        ],
        ..ScopeFacts::default()
    };
    let f = compute(&facts, period, at(6, 1, 0));
    assert_eq!(get(&f, "nrm", "all", "referrals"), Value::Count(4));
    assert_eq!(
        get(&f, "nrm", "all", "reasonable_grounds_decisions"),
        Value::Count(2)
    );
    assert_eq!(
        get(&f, "nrm", "all", "conclusive_grounds_decisions"),
        Value::Count(1)
    );
    assert_eq!(get(&f, "nrm", "all", "decisions_made"), Value::Count(3));
    assert_eq!(
        get(&f, "nrm", "all", "median_days_to_reasonable_grounds"),
        Value::Derived {
            value: Some(6.5),
            base: 2
        }
    );
    assert_eq!(
        get(&f, "nrm", "all", "reasonable_grounds_overdue"),
        Value::Count(1)
    );
}

#[test]
fn visit_figures_give_a_rate_per_child_per_month_and_the_review_wait() {
    // February 2026: 28 days.
    let period = Period::new(day(2, 1), day(2, 28)).expect("period");
    let now = at(3, 1, 0);
    let note = |case: i64, visited: i64, awaiting: Option<i64>| NoteRow {
        case,
        visited_at: Some(visited),
        awaiting_since: awaiting,
    };
    let facts = ScopeFacts {
        cases: 2,
        notes: vec![
            note(1, at(2, 3, 10), None),
            note(1, at(2, 17, 10), Some(now - 86_400 * 3)),
            note(2, at(2, 20, 10), Some(now - 86_400)),
            // January: not a visit of the period, but awaiting review now.
            note(2, at(1, 20, 10), Some(now - 86_400 * 10)),
        ],
        ..ScopeFacts::default()
    };
    let f = compute(&facts, period, now);
    assert_eq!(get(&f, "visits", "all", "visits"), Value::Count(3));
    assert_eq!(
        get(&f, "visits", "all", "children_visited"),
        Value::Count(2)
    );
    let months = 28.0 / (365.2425 / 12.0);
    let rate = (3.0 / 2.0 / months * 100.0_f64).round() / 100.0;
    assert_eq!(
        get(&f, "visits", "all", "visits_per_child_per_month"),
        Value::Derived {
            value: Some(rate),
            base: 3
        }
    );
    assert_eq!(
        get(&f, "visits", "all", "notes_awaiting_review"),
        Value::Count(3)
    );
    assert_eq!(
        get(&f, "visits", "all", "median_days_awaiting_review"),
        Value::Derived {
            value: Some(3.0),
            base: 3
        }
    );
    assert_eq!(
        get(&f, "visits_by_month", "2026-02", "visits"),
        Value::Count(3)
    );
    assert!(f.iter().all(|x| x.category != "2026-01"));
}
