//! Fixed episodes: the 72-hour due time (a return at 23:59, across the changes to and from
//! British Summer Time), when it is overdue, and each risk flag.

use chrono::{TimeDelta, TimeZone, Utc};

use super::*;
use crate::model::StepStatus;

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0)
        .single()
        .expect("time")
}

fn returned(at: DateTime<Utc>) -> MissingEpisode {
    MissingEpisode {
        missing_since: Some(at - TimeDelta::hours(5)),
        returned_at: Some(at),
        ..MissingEpisode::default()
    }
}

fn id(n: u8) -> EntryId {
    EntryId::from_bytes([n; 16])
}

#[test]
fn a_return_at_23_59_is_due_72_hours_later() {
    // 30 November (GMT): due at 23:59 on 3 December, shown as such.
    let back = utc(2026, 11, 30, 23, 59);
    let due = return_interview_due(back);
    assert_eq!(due, utc(2026, 12, 3, 23, 59));
    assert_eq!(london_time(due), "Thu 3 Dec 2026, 23:59 GMT");
    // 23:59 in London in July is 22:59 UTC; due at 23:59 BST three days on.
    let summer = utc(2026, 7, 15, 22, 59);
    assert_eq!(london_time(summer), "Wed 15 Jul 2026, 23:59 BST");
    assert_eq!(
        london_time(return_interview_due(summer)),
        "Sat 18 Jul 2026, 23:59 BST"
    );
}

#[test]
fn the_due_time_is_72_elapsed_hours_across_the_start_of_summer_time() {
    // Clocks go forward at 01:00 UTC on Sunday 29 March 2026. A return at 23:59 GMT on
    // Friday 27 March is due 72 hours later: 23:59 UTC on Monday, 00:59 BST on Tuesday.
    let back = utc(2026, 3, 27, 23, 59);
    assert_eq!(london_time(back), "Fri 27 Mar 2026, 23:59 GMT");
    let due = return_interview_due(back);
    assert_eq!(due, utc(2026, 3, 30, 23, 59));
    assert_eq!(london_time(due), "Tue 31 Mar 2026, 00:59 BST");
    // Just around the change itself.
    assert_eq!(
        london_time(utc(2026, 3, 29, 0, 59)),
        "Sun 29 Mar 2026, 00:59 GMT"
    );
    assert_eq!(
        london_time(utc(2026, 3, 29, 1, 0)),
        "Sun 29 Mar 2026, 02:00 BST"
    );
}

#[test]
fn the_due_time_is_72_elapsed_hours_across_the_end_of_summer_time() {
    // Clocks go back at 01:00 UTC on Sunday 25 October 2026. A return at 23:59 BST on
    // Friday 23 October (22:59 UTC) is due at 22:59 GMT on Monday 26 October.
    let back = utc(2026, 10, 23, 22, 59);
    assert_eq!(london_time(back), "Fri 23 Oct 2026, 23:59 BST");
    let due = return_interview_due(back);
    assert_eq!(due - back, TimeDelta::hours(72));
    assert_eq!(london_time(due), "Mon 26 Oct 2026, 22:59 GMT");
    assert_eq!(
        london_time(utc(2026, 10, 25, 0, 59)),
        "Sun 25 Oct 2026, 01:59 BST"
    );
    assert_eq!(
        london_time(utc(2026, 10, 25, 1, 0)),
        "Sun 25 Oct 2026, 01:00 GMT"
    );
}

#[test]
fn an_interview_is_overdue_after_its_due_time_unless_held_or_declined() {
    let back = utc(2026, 11, 30, 23, 59);
    let due = return_interview_due(back);
    let mut episode = returned(back);
    assert_eq!(episode.return_interview_due(), Some(due));
    assert!(!episode.return_interview_overdue(due));
    assert!(episode.return_interview_overdue(due + TimeDelta::seconds(1)));
    episode.return_interview_outcome = ReturnInterviewOutcome::Done;
    assert!(!episode.return_interview_overdue(due + TimeDelta::days(3)));
    episode.return_interview_outcome = ReturnInterviewOutcome::Declined;
    assert!(!episode.return_interview_overdue(due + TimeDelta::days(3)));

    let open = MissingEpisode {
        missing_since: Some(back),
        ..MissingEpisode::default()
    };
    assert_eq!(open.return_interview_due(), None);
    assert!(!open.return_interview_overdue(due + TimeDelta::days(30)));

    let statuses = episode_statuses(
        &[(id(1), returned(back)), (id(2), open)],
        &[],
        None,
        due + TimeDelta::hours(1),
    );
    assert_eq!(statuses[0].return_interview_due, Some(due));
    assert!(statuses[0].return_interview_overdue);
    assert!(!statuses[0].open);
    assert!(statuses[1].open);
    assert!(!statuses[1].return_interview_overdue);
}

/// The placement started at 18:00 on 1 November 2026.
fn placed() -> DateTime<Utc> {
    utc(2026, 11, 1, 18, 0)
}

fn noticed(at: DateTime<Utc>, last_seen: Option<DateTime<Utc>>) -> MissingEpisode {
    MissingEpisode {
        missing_since: Some(at),
        last_seen_at: last_seen,
        returned_at: Some(at + TimeDelta::hours(3)),
        ..MissingEpisode::default()
    }
}

fn flags(
    episodes: &[MissingEpisode],
    steps: &[PlanStep],
    start: Option<DateTime<Utc>>,
) -> Vec<RiskFlags> {
    let episodes: Vec<_> = episodes
        .iter()
        .enumerate()
        .map(|(i, e)| (id(u8::try_from(i).expect("few")), e.clone()))
        .collect();
    episode_statuses(&episodes, steps, start, placed() + TimeDelta::days(400))
        .into_iter()
        .map(|s| s.flags)
        .collect()
}

#[test]
fn an_episode_in_the_first_48_hours_of_the_placement_is_flagged() {
    let p = placed();
    let episodes = [
        // Noticed 47 hours in.
        noticed(p + TimeDelta::hours(47), None),
        // Last seen 47.5 hours in, noticed 49 hours in: gone within the first 48 hours.
        noticed(
            p + TimeDelta::hours(49),
            Some(p + TimeDelta::minutes(47 * 60 + 30)),
        ),
        // Noticed 48 hours and 1 minute in, no sighting recorded.
        noticed(p + TimeDelta::minutes(48 * 60 + 1), None),
        // Before this placement (the previous one).
        noticed(p - TimeDelta::days(20), None),
    ];
    let got: Vec<bool> = flags(&episodes, &[], Some(p))
        .iter()
        .map(|f| f.first_48_hours)
        .collect();
    assert_eq!(got, [true, true, false, false]);
    // Without a placement start nothing is flagged.
    assert!(
        flags(&episodes, &[], None)
            .iter()
            .all(|f| !f.first_48_hours)
    );
}

#[test]
fn an_episode_while_the_supervision_step_is_in_force_is_flagged() {
    let p = placed();
    let step = |status, until| PlanStep {
        description: "24-hour supervision when leaving the home, first 8 weeks".into(),
        status,
        supervision_until: Some(until),
        ..PlanStep::default()
    };
    let until = p + TimeDelta::weeks(8);
    let episodes = [
        noticed(p + TimeDelta::weeks(3), None),
        // Last seen the hour before supervision ended, noticed after.
        noticed(
            until + TimeDelta::hours(1),
            Some(until - TimeDelta::hours(1)),
        ),
        noticed(until + TimeDelta::days(1), None),
        noticed(p - TimeDelta::days(20), None),
    ];
    let during = |steps: &[PlanStep], start| -> Vec<bool> {
        flags(&episodes, steps, start)
            .iter()
            .map(|f| f.during_supervision)
            .collect()
    };
    let active = [step(StepStatus::Active, until)];
    assert_eq!(during(&active, Some(p)), [true, true, false, false]);
    // Without a placement start, everything before the end of supervision counts.
    assert_eq!(during(&active, None), [true, true, false, true]);
    // A retired step, or a step that is not a supervision step, flags nothing.
    assert_eq!(
        during(&[step(StepStatus::Retired, until)], Some(p)),
        [false; 4]
    );
    assert_eq!(during(&[PlanStep::default()], Some(p)), [false; 4]);
}

#[test]
fn the_third_absence_in_90_days_is_a_repeat() {
    let p = placed();
    let day = |d: i64| noticed(p + TimeDelta::days(d), None);
    let repeats = |episodes: &[MissingEpisode]| -> Vec<bool> {
        flags(episodes, &[], Some(p))
            .iter()
            .map(|f| f.repeat)
            .collect()
    };
    assert_eq!(repeats(&[day(10), day(40), day(70)]), [false, false, true]);
    assert_eq!(
        repeats(&[day(10), day(40), day(70), day(80)]),
        [false, false, true, true]
    );
    // Exactly 90 days from the first to the third counts; 91 does not.
    assert_eq!(repeats(&[day(10), day(40), day(100)]), [false, false, true]);
    assert_eq!(
        repeats(&[day(10), day(40), day(101)]),
        [false, false, false]
    );
    // Given in any order.
    assert_eq!(repeats(&[day(70), day(10), day(40)]), [true, false, false]);
    // Two carers reporting the same absence offline (overlapping episodes) count once.
    let same_night = MissingEpisode {
        missing_since: Some(p + TimeDelta::days(40) + TimeDelta::minutes(30)),
        returned_at: None,
        ..MissingEpisode::default()
    };
    assert_eq!(
        repeats(&[day(10), day(40), same_night.clone()]),
        [false, false, false]
    );
    assert_eq!(
        repeats(&[day(10), day(40), same_night, day(60)]),
        [false, false, false, false],
        "the open duplicate runs on, so day 60 overlaps it too"
    );
    let statuses = episode_statuses(
        &[(id(1), day(10)), (id(2), day(40)), (id(3), day(70))],
        &[],
        Some(p),
        p,
    );
    let counts: Vec<u32> = statuses.iter().map(|s| s.absences_in_window).collect();
    assert_eq!(counts, [1, 2, 3]);
}
