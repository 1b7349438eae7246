//! What follows from a case's missing episodes, computed offline and never stored: when each
//! return interview is due (72 hours after the return: the DfE's statutory guidance on
//! children who run away or go missing from home or care, 2014), whether it is overdue at
//! `now`, and three risk flags (an episode in the child's first 48 hours in the placement,
//! §23 of the trafficked children guidance; one while the first weeks' 24-hour supervision
//! step, §43, is in force; a repeat episode: the third or more in 90 days). Pure: the caller
//! passes the records and the clock. Due times are shown in Europe/London
//! (`docs/missing-from-care.md`).

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::missing_episode::{MissingEpisode, ReturnInterviewOutcome};
use super::safety::{PlanStep, StepStatus};
use crate::ids::EntryId;

/// The return interview is due this long after the child returns (elapsed time, so a
/// change of the clocks in between does not move it).
pub const RETURN_INTERVIEW_WITHIN: TimeDelta = TimeDelta::hours(72);

/// The first hours in a placement, when trafficked children most often go missing.
pub const FIRST_HOURS: TimeDelta = TimeDelta::hours(48);

/// The window in which [`REPEAT_COUNT`] absences make an episode a repeat.
pub const REPEAT_WINDOW: TimeDelta = TimeDelta::days(90);

/// The number of absences within [`REPEAT_WINDOW`] (this one included) that makes a repeat.
pub const REPEAT_COUNT: u32 = 3;

/// When the return interview is due for a child who returned at `returned_at`.
pub fn return_interview_due(returned_at: DateTime<Utc>) -> DateTime<Utc> {
    returned_at + RETURN_INTERVIEW_WITHIN
}

/// `time` as a person in England reads it: local time in Europe/London with its zone,
/// "Wed 1 Apr 2026, 00:59 BST".
pub fn london_time(time: DateTime<Utc>) -> String {
    time.with_timezone(&chrono_tz::Europe::London)
        .format("%a %-d %b %Y, %H:%M %Z")
        .to_string()
}

impl MissingEpisode {
    /// When the return interview is due (`None` while the child is missing).
    pub fn return_interview_due(&self) -> Option<DateTime<Utc>> {
        self.returned_at.map(return_interview_due)
    }

    /// Whether the return interview is overdue at `now`: past its due time and neither held
    /// nor declined.
    pub fn return_interview_overdue(&self, now: DateTime<Utc>) -> bool {
        self.return_interview_outcome == ReturnInterviewOutcome::NotYet
            && self.return_interview_due().is_some_and(|due| now > due)
    }

    /// The earliest the child may have gone: last seen, else noticed missing.
    fn went_missing(&self) -> Option<DateTime<Utc>> {
        match (self.last_seen_at, self.missing_since) {
            (Some(seen), Some(since)) => Some(seen.min(since)),
            (seen, since) => seen.or(since),
        }
    }
}

/// The risk flags of one episode. Each follows from the records; none is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RiskFlags {
    /// The child went missing within [`FIRST_HOURS`] of arriving at the placement
    /// (`placement_started_at` of the safety document).
    pub first_48_hours: bool,
    /// The child went missing while a 24-hour supervision step (a plan step with
    /// `supervision_until`, active) was in force.
    pub during_supervision: bool,
    /// This absence is the [`REPEAT_COUNT`]th or more within [`REPEAT_WINDOW`].
    pub repeat: bool,
}

impl RiskFlags {
    /// Whether any flag is raised.
    pub fn any(&self) -> bool {
        self.first_48_hours || self.during_supervision || self.repeat
    }
}

/// An episode's computed status at a given `now`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpisodeStatus {
    /// The episode.
    pub id: EntryId,
    /// Whether the child is still missing.
    pub open: bool,
    /// Its risk flags.
    pub flags: RiskFlags,
    /// How many absences began within [`REPEAT_WINDOW`] up to this one's start, this one
    /// included (episodes that overlap in time count as one absence: two carers may report
    /// the same absence). 0 for an episode with no start.
    pub absences_in_window: u32,
    /// When the return interview is due (`None` while missing).
    pub return_interview_due: Option<DateTime<Utc>>,
    /// Whether it is overdue at `now`.
    pub return_interview_overdue: bool,
}

/// An absence: episodes overlapping in time, merged.
struct Absence {
    start: DateTime<Utc>,
    /// `None` while open.
    end: Option<DateTime<Utc>>,
}

/// The status of every episode (in the order given) at `now`, from the case's episodes, its
/// plan steps and when the placement started.
///
/// - An episode is "in the first 48 hours" when the time between the last sighting (or, if
///   none, noticing) and noticing overlaps `[placement_started_at, + 48 h]`; never without a
///   placement start.
/// - "During supervision": that time overlaps `[placement_started_at, supervision_until)` of
///   an active plan step with `supervision_until` (from the start of time if the placement
///   start is not recorded). A retired step counts as never in force.
/// - "Repeat": its absence is at least the third to begin within 90 days.
pub fn episode_statuses(
    episodes: &[(EntryId, MissingEpisode)],
    steps: &[PlanStep],
    placement_started_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Vec<EpisodeStatus> {
    let absences = absences(episodes);
    episodes
        .iter()
        .map(|(id, episode)| {
            let span = episode.went_missing().zip(episode.missing_since);
            let first_48_hours = match (span, placement_started_at) {
                (Some((went, since)), Some(placed)) => {
                    went <= placed + FIRST_HOURS && since >= placed
                }
                _ => false,
            };
            let during_supervision = span.is_some_and(|(went, since)| {
                steps.iter().any(|step| {
                    step.status == StepStatus::Active
                        && step.supervision_until.is_some_and(|until| {
                            went < until && placement_started_at.is_none_or(|p| since >= p)
                        })
                })
            });
            let absences_in_window = episode
                .went_missing()
                .map(|went| repeat_count(&absences, went))
                .unwrap_or(0);
            EpisodeStatus {
                id: *id,
                open: episode.is_open(),
                flags: RiskFlags {
                    first_48_hours,
                    during_supervision,
                    repeat: absences_in_window >= REPEAT_COUNT,
                },
                absences_in_window,
                return_interview_due: episode.return_interview_due(),
                return_interview_overdue: episode.return_interview_overdue(now),
            }
        })
        .collect()
}

/// The case's absences, oldest first: episodes whose times overlap merged into one.
fn absences(episodes: &[(EntryId, MissingEpisode)]) -> Vec<Absence> {
    let mut spans: Vec<(DateTime<Utc>, Option<DateTime<Utc>>)> = episodes
        .iter()
        .filter_map(|(_, e)| {
            let start = e.went_missing()?;
            Some((start, e.returned_at.map(|r| r.max(start))))
        })
        .collect();
    spans.sort();
    let mut out: Vec<Absence> = Vec::new();
    for (start, end) in spans {
        if let Some(last) = out.last_mut()
            && last.end.is_none_or(|e| start < e)
        {
            last.end = last.end.zip(end).map(|(a, b)| a.max(b));
            continue;
        }
        out.push(Absence { start, end });
    }
    out
}

/// How many absences began within [`REPEAT_WINDOW`] up to the one holding `went`.
fn repeat_count(absences: &[Absence], went: DateTime<Utc>) -> u32 {
    let Some(own) = absences
        .iter()
        .rev()
        .find(|a| a.start <= went)
        .map(|a| a.start)
    else {
        return 0;
    };
    let from = own - REPEAT_WINDOW;
    let n = absences
        .iter()
        .filter(|a| a.start >= from && a.start <= own)
        .count();
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
#[path = "missing_status_tests.rs"]
mod tests;
