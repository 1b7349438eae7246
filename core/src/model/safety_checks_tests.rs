//! Tests of due and overdue safety checks, and their place in a case's deadlines.

use chrono::{NaiveTime, TimeZone};
use rand::SeedableRng;
use rand::rngs::StdRng;

use super::*;
use crate::doc::DocKind;
use crate::model::{CheckStatus, DeadlineKind, case_deadlines};

fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0)
        .single()
        .expect("time")
}

fn ids(n: usize) -> Vec<EntryId> {
    let mut rng = StdRng::seed_from_u64(7);
    (0..n).map(|_| EntryId::random(&mut rng)).collect()
}

/// A step checked every `hours` from 08:00 on 30 November 2026.
fn every(hours: u32) -> PlanStep {
    PlanStep {
        description: "Phone handed in".into(),
        check_every_hours: Some(hours),
        checks_from: Some(at(2026, 11, 30, 8, 0)),
        ..PlanStep::default()
    }
}

fn check(step: EntryId, checked_at: DateTime<Utc>) -> SafetyCheck {
    SafetyCheck {
        checked_at: Some(checked_at),
        step: Some(step),
        ..SafetyCheck::default()
    }
}

#[test]
fn a_due_check_not_logged_becomes_overdue() {
    let id = ids(1)[0];
    let steps = [(id, every(4))];
    // Due at 12:00: not overdue at 12:00 itself, overdue a minute later.
    assert!(overdue_safety_checks(&steps, &[], at(2026, 11, 30, 12, 0)).is_empty());
    let overdue = overdue_safety_checks(&steps, &[], at(2026, 11, 30, 12, 1));
    assert_eq!(
        overdue,
        vec![OverdueCheck {
            step: id,
            due_at: at(2026, 11, 30, 12, 0),
            missed: 1,
        }]
    );
    // By 17:00 the checks due at 12:00 and 16:00 are both missed.
    let overdue = overdue_safety_checks(&steps, &[], at(2026, 11, 30, 17, 0));
    assert_eq!(overdue[0].missed, 2);
    assert_eq!(overdue[0].due_at, at(2026, 11, 30, 12, 0));
}

#[test]
fn a_check_logged_in_time_is_not_overdue_and_sets_the_next_due() {
    let v = ids(2);
    let (id, other) = (v[0], v[1]);
    let steps = [(id, every(4))];
    let checks = [
        (other, check(id, at(2026, 11, 30, 11, 30))),
        // A check of another step does not count.
        (other, check(other, at(2026, 11, 30, 15, 0))),
    ];
    assert!(overdue_safety_checks(&steps, &checks, at(2026, 11, 30, 15, 30)).is_empty());
    let overdue = overdue_safety_checks(&steps, &checks, at(2026, 11, 30, 15, 31));
    assert_eq!(overdue[0].due_at, at(2026, 11, 30, 15, 30));
}

#[test]
fn a_check_logged_late_ends_the_overdue() {
    let v = ids(2);
    let (id, c) = (v[0], v[1]);
    let steps = [(id, every(4))];
    let late = [(c, check(id, at(2026, 11, 30, 13, 15)))];
    // Overdue from 12:00 until the late check at 13:15; then due again at 17:15.
    assert_eq!(
        overdue_safety_checks(&steps, &[], at(2026, 11, 30, 14, 0)).len(),
        1
    );
    assert!(overdue_safety_checks(&steps, &late, at(2026, 11, 30, 14, 0)).is_empty());
    let again = overdue_safety_checks(&steps, &late, at(2026, 11, 30, 18, 0));
    assert_eq!(again[0].due_at, at(2026, 11, 30, 17, 15));
    // A check logged with a time after `now` does not count (yet).
    let future = [(c, check(id, at(2026, 11, 30, 20, 0)))];
    assert_eq!(
        overdue_safety_checks(&steps, &future, at(2026, 11, 30, 14, 0)).len(),
        1
    );
}

#[test]
fn a_check_not_possible_with_a_reason_counts_as_logged() {
    let v = ids(2);
    let (id, c) = (v[0], v[1]);
    let steps = [(id, every(4))];
    let not_possible = SafetyCheck {
        status: CheckStatus::NotPossible,
        not_possible_reason: "Child out with the social worker".into(),
        ..check(id, at(2026, 11, 30, 11, 55))
    };
    assert!(not_possible.validate(at(2026, 11, 30, 12, 0)).is_ok());
    assert!(
        overdue_safety_checks(&steps, &[(c, not_possible)], at(2026, 11, 30, 13, 0)).is_empty()
    );
}

#[test]
fn a_check_not_possible_without_a_reason_is_refused_naming_the_field() {
    let id = ids(1)[0];
    let check = SafetyCheck {
        status: CheckStatus::NotPossible,
        ..check(id, at(2026, 11, 30, 11, 55))
    };
    match check.validate(at(2026, 11, 30, 12, 0)) {
        Err(Error::InvalidInput { field, .. }) => assert_eq!(field, "not_possible_reason"),
        other => panic!("expected InvalidInput, got {other:?}"),
    }
}

#[test]
fn a_daily_check_is_due_at_its_time_in_england_and_may_be_made_a_little_early() {
    let v = ids(2);
    let (id, c) = (v[0], v[1]);
    let step = PlanStep {
        description: "Window locks checked".into(),
        check_daily_at: NaiveTime::from_hms_opt(22, 0, 0),
        checks_from: Some(at(2026, 11, 30, 9, 0)),
        ..PlanStep::default()
    };
    let steps = [(id, step.clone())];
    assert!(overdue_safety_checks(&steps, &[], at(2026, 11, 30, 22, 0)).is_empty());
    let overdue = overdue_safety_checks(&steps, &[], at(2026, 12, 2, 23, 0));
    assert_eq!(overdue[0].due_at, at(2026, 11, 30, 22, 0));
    assert_eq!(overdue[0].missed, 3, "30 November, 1 and 2 December");
    // Checked at 20:30 (within two hours before): that day's check is made.
    let early = [(c, check(id, at(2026, 11, 30, 20, 30)))];
    assert!(overdue_safety_checks(&steps, &early, at(2026, 12, 1, 21, 0)).is_empty());
    let next = overdue_safety_checks(&steps, &early, at(2026, 12, 1, 22, 1));
    assert_eq!(next[0].due_at, at(2026, 12, 1, 22, 0));
    // Checked at 19:00 (too early): that day's check is still due at 22:00.
    let too_early = [(c, check(id, at(2026, 11, 30, 19, 0)))];
    let overdue = overdue_safety_checks(&steps, &too_early, at(2026, 11, 30, 22, 5));
    assert_eq!(overdue[0].due_at, at(2026, 11, 30, 22, 0));
    // In summer 22:00 in London is 21:00 UTC.
    let summer = PlanStep {
        checks_from: Some(at(2027, 7, 1, 9, 0)),
        ..step
    };
    let overdue = overdue_safety_checks(&[(id, summer)], &[], at(2027, 7, 1, 21, 30));
    assert_eq!(overdue[0].due_at, at(2027, 7, 1, 21, 0));
}

#[test]
fn retired_steps_and_steps_without_a_schedule_are_never_overdue() {
    let v = ids(3);
    let (a, b, c) = (v[0], v[1], v[2]);
    let retired = PlanStep {
        status: StepStatus::Retired,
        ..every(1)
    };
    let unscheduled = PlanStep {
        description: "Curfew 9pm".into(),
        ..PlanStep::default()
    };
    let no_start = PlanStep {
        checks_from: None,
        ..every(1)
    };
    let steps = [(a, retired), (b, unscheduled), (c, no_start)];
    assert!(overdue_safety_checks(&steps, &[], at(2027, 6, 1, 9, 0)).is_empty());
}

#[test]
fn overdue_checks_are_listed_among_the_case_deadlines() {
    let v = ids(2);
    let (a, b) = (v[0], v[1]);
    let steps = [(a, every(4)), (b, every(24))];
    let now = at(2026, 11, 30, 13, 0);
    let list = case_deadlines(None, &[], &steps, &[], now).expect("list");
    assert_eq!(list.len(), 1, "only the overdue check: {list:?}");
    let d = &list[0];
    assert_eq!(d.kind, DeadlineKind::SafetyCheck);
    assert!(d.overdue);
    assert_eq!(d.due_at, Some(at(2026, 11, 30, 12, 0)));
    assert_eq!(d.doc, DocKind::Safety);
    assert_eq!(d.record, format!("plan_steps/{a}"));
}
