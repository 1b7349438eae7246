//! When carers' checks of plan steps fall due, and which are overdue (a due check not
//! logged). Pure: the caller passes the steps, the checks and the clock; the device lists
//! them among a case's deadlines, the server among a supervisor's and in its reports.
//!
//! A step with a schedule ([`CheckSchedule`]) is due again after its last check (or after
//! `checks_from` when none is logged): every N hours after it, or at the next daily time
//! (Europe/London) more than [`DAILY_CHECK_EARLY`] after it, so a check made a little
//! early counts for that day. A check logged as not possible (with its reason) counts as
//! logged: it is on record, and the case team reads why. A late check ends the overdue.

use chrono::{DateTime, Days, NaiveTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Europe::London;
use serde::{Deserialize, Serialize};

use super::protection_plan::CheckSchedule;
use super::safety::{CheckStatus, PlanStep, SafetyCheck, StepStatus};
use crate::error::{Error, Result};
use crate::ids::EntryId;

/// How early a daily check may be made and still count for that day's time.
pub const DAILY_CHECK_EARLY: TimeDelta = TimeDelta::hours(2);

/// A step whose check is overdue at the time asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverdueCheck {
    /// The plan step.
    pub step: EntryId,
    /// When the first check not logged fell due.
    pub due_at: DateTime<Utc>,
    /// How many due checks have passed unlogged since the last one (at least 1).
    pub missed: u32,
}

/// The overdue checks at `now`, one per step at most, soonest first: active steps with a
/// schedule and a start whose next check fell due before `now` with no check logged since.
/// Steps without a schedule (every step written before schedules existed) are never overdue;
/// checks with no time or a time after `now` are not counted.
pub fn overdue_safety_checks(
    steps: &[(EntryId, PlanStep)],
    checks: &[(EntryId, SafetyCheck)],
    now: DateTime<Utc>,
) -> Vec<OverdueCheck> {
    let mut out = Vec::new();
    for (id, step) in steps {
        if step.status != StepStatus::Active {
            continue;
        }
        let (Some(schedule), Some(from)) = (step.schedule(), step.checks_from) else {
            continue;
        };
        let last = checks
            .iter()
            .filter(|(_, c)| c.step == Some(*id))
            .filter_map(|(_, c)| c.checked_at)
            .filter(|at| *at <= now)
            .max();
        out.extend(overdue_check(*id, schedule, from, last, now));
    }
    out.sort_by_key(|o| (o.due_at, o.step));
    out
}

/// Whether the check of one active step is overdue at `now`: its schedule, when its checks
/// start, and its last check logged at or before `now` (as the server keeps them in its
/// index, so a supervisor's list and a report need not read the document). The rule of
/// [`overdue_safety_checks`], which calls it for each step.
pub fn overdue_check(
    step: EntryId,
    schedule: CheckSchedule,
    checks_from: DateTime<Utc>,
    last_check: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<OverdueCheck> {
    if schedule == CheckSchedule::EveryHours(0) {
        // Refused when written (`PlanStep::validate`); never a division by zero here.
        return None;
    }
    let since = last_check
        .filter(|at| *at <= now)
        .map_or(checks_from, |at| at.max(checks_from));
    let due_at = schedule.next_due(since)?;
    if now <= due_at {
        return None;
    }
    Some(OverdueCheck {
        step,
        due_at,
        missed: schedule.due_between(since, now),
    })
}

impl SafetyCheck {
    /// Refuse a check that cannot be logged, naming the field: "not possible" without a
    /// reason, or a time more than [`super::CLOCK_SKEW`] after `now` (it would hide a due
    /// check until then).
    pub fn validate(&self, now: DateTime<Utc>) -> Result<()> {
        if self.status == CheckStatus::NotPossible && self.not_possible_reason.trim().is_empty() {
            return Err(Error::invalid(
                "not_possible_reason",
                "is required when a check was not possible",
            ));
        }
        if self
            .checked_at
            .is_some_and(|at| at > now + super::CLOCK_SKEW)
        {
            return Err(Error::invalid("checked_at", "is in the future"));
        }
        Ok(())
    }
}

impl CheckSchedule {
    /// When a check falls due after one made at `since`.
    pub fn next_due(self, since: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            CheckSchedule::EveryHours(hours) => {
                since.checked_add_signed(TimeDelta::hours(i64::from(hours)))
            }
            CheckSchedule::DailyAt(time) => {
                let after = since.checked_add_signed(DAILY_CHECK_EARLY)?;
                let mut day = after.with_timezone(&London).date_naive();
                // The slot of the day after `after`'s date is always later than `after`.
                for _ in 0..3 {
                    if let Some(slot) = daily_slot(day, time).filter(|slot| *slot > after) {
                        return Some(slot);
                    }
                    day = day.checked_add_days(Days::new(1))?;
                }
                None
            }
        }
    }

    /// How many checks fell due after `since` and before `now`.
    fn due_between(self, since: DateTime<Utc>, now: DateTime<Utc>) -> u32 {
        match self {
            CheckSchedule::EveryHours(hours) => {
                // Due at `since + k * every` for k from 1: those before `now`.
                let every = i64::from(hours) * 3_600_000;
                let elapsed = (now - since).num_milliseconds();
                u32::try_from((elapsed - 1).max(0) / every).unwrap_or(u32::MAX)
            }
            CheckSchedule::DailyAt(_) => {
                let mut count = 0u32;
                let mut after = since;
                while let Some(due) = self.next_due(after) {
                    if due >= now || count == u32::MAX {
                        break;
                    }
                    count += 1;
                    // The next day's time: the first slot after `due` itself.
                    after = due - DAILY_CHECK_EARLY;
                }
                count
            }
        }
    }
}

/// The instant of `time` (Europe/London) on `day`; in the spring clock change's missing
/// hour, an hour later.
fn daily_slot(day: chrono::NaiveDate, time: NaiveTime) -> Option<DateTime<Utc>> {
    let local = day.and_time(time);
    London
        .from_local_datetime(&local)
        .earliest()
        .or_else(|| {
            London
                .from_local_datetime(&(local + TimeDelta::hours(1)))
                .earliest()
        })
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
#[path = "safety_checks_tests.rs"]
mod tests;
