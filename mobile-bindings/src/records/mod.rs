//! Records and enums that cross the FFI boundary. Each mirrors one core type field for field,
//! with `From<core type>` for what the app reads and `TryFrom<record>` for what it writes
//! (identifiers and dates arrive as text and are checked here, failing with
//! [`CasebookError::InvalidInput`] naming the field).
//!
//! Representation choices, the same in every record:
//! - identifiers (case, entry, user) are 32 lowercase hex characters;
//! - calendar dates are ISO 8601 text, `YYYY-MM-DD`;
//! - instants are uniffi timestamps (`java.time.Instant`, `Date`, `datetime`).

mod alerts;
mod associates;
mod case;
mod deadlines;
mod location;
mod missing;
mod missing_profile;
mod profile;
mod safety;
mod visits;

pub use alerts::{AlertKind, TeamAlert};
pub use associates::{PersonEntry, PersonOfConcern};
pub use case::{
    CaseSummary, ChangeEvent, ChangeSource, Conflict, ConflictValue, DeviceInfo, DocKind,
    Rejection, SecurityNotice, SyncProgress, SyncReport,
};
pub use deadlines::{Deadline, DeadlineKind};
pub use location::{Placement, PlacementEntry, PlacementType};
pub use missing::{MissingEpisodeStatus, RiskFlags};
pub use missing_profile::{MissingPersonProfile, SharedPerson};
pub use profile::{
    AgeStatus, Immigration, ImmigrationOutcome, IndependentVisitor, LegalBasis, Nrm, NrmDecision,
    NrmRoute, PanelMember, PlanDates, Profile,
};
pub use safety::{
    CheckOutcome, CheckStatus, ChildAgreement, EpisodeCategory, FeelSafe, MissingEpisode,
    MissingEpisodeEntry, PlanStep, PlanStepEntry, Responsible, ReturnInterviewOutcome, SafetyCheck,
    SafetyCheckEntry, StepReviewOutcome, StepStatus,
};
pub use visits::{
    Action, Interpreter, InterpreterDecision, InterpreterLink, InterpreterMode, LinkDecision,
    LinkField, Review, ReviewStatus, VettingStatus, VisitNote, VisitNoteEntry, VisitNoteSummary,
};

use std::str::FromStr;
use std::time::SystemTime;

use casebook_core::doc::Version;
use chrono::{DateTime, NaiveDate, Utc};

use crate::error::CasebookError;

/// `field` rejected because `reason`.
pub(crate) fn invalid(field: &str, reason: &str) -> CasebookError {
    CasebookError::InvalidInput {
        field: field.to_owned(),
        reason: reason.to_owned(),
    }
}

/// Parse an identifier handed in by the app.
pub(crate) fn parse_id<T: FromStr>(field: &str, text: &str) -> Result<T, CasebookError> {
    text.parse()
        .map_err(|_| invalid(field, "expected 32 lowercase hex characters"))
}

/// Parse an optional identifier.
pub(crate) fn parse_opt_id<T: FromStr>(
    field: &str,
    text: Option<String>,
) -> Result<Option<T>, CasebookError> {
    text.map(|t| parse_id(field, &t)).transpose()
}

/// The version a record was read at, as handed back with a save (`None` for a new record).
pub(crate) fn parse_version(text: &str) -> Result<Option<Version>, CasebookError> {
    if text.is_empty() {
        return Ok(None);
    }
    text.parse().map(Some).map_err(|_| {
        invalid(
            "version",
            "not a version read from this store; read the record again",
        )
    })
}

/// Records that carry the version of the document they were read at.
pub(crate) trait ReadAt {
    /// This record, marked as read at `version`.
    fn read_at(self, version: &Version) -> Self;
}

macro_rules! read_at {
    ($($record:ty),+) => {$(
        impl ReadAt for $record {
            fn read_at(mut self, version: &Version) -> Self {
                self.version = version.to_string();
                self
            }
        }
    )+};
}
read_at!(
    Profile,
    Nrm,
    Placement,
    PlanStep,
    MissingEpisode,
    PersonOfConcern,
    VisitNote,
    FeelSafe
);

/// Parse an ISO date: exactly `YYYY-MM-DD` (chrono alone would take `10-5-1` as 1 May of
/// the year 10).
pub(crate) fn parse_date(field: &str, text: &str) -> Result<NaiveDate, CasebookError> {
    let shaped = text.len() == 10
        && text.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        });
    shaped
        .then(|| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok())
        .flatten()
        .ok_or_else(|| invalid(field, "expected a calendar date as YYYY-MM-DD"))
}

/// Parse an optional ISO date.
pub(crate) fn parse_opt_date(
    field: &str,
    text: Option<String>,
) -> Result<Option<NaiveDate>, CasebookError> {
    text.map(|t| parse_date(field, &t)).transpose()
}

/// A date as the app sees it.
pub(crate) fn show_date(date: Option<NaiveDate>) -> Option<String> {
    date.map(|d| d.format("%Y-%m-%d").to_string())
}

/// An instant handed in by the app, as the core takes it. Instants chrono cannot hold (such
/// as `java.time.Instant.MAX`) fail with `InvalidInput` naming `field`.
pub(crate) fn instant(field: &str, time: SystemTime) -> Result<DateTime<Utc>, CasebookError> {
    let checked = match time.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs())
            .ok()
            .and_then(|secs| DateTime::from_timestamp(secs, after.subsec_nanos())),
        Err(before) => {
            let before = before.duration();
            i64::try_from(before.as_nanos())
                .ok()
                .map(|nanos| DateTime::from_timestamp_nanos(-nanos))
                .or_else(|| {
                    let secs = i64::try_from(before.as_secs()).ok()?;
                    DateTime::from_timestamp(secs.checked_neg()?, 0)
                })
        }
    };
    checked.ok_or_else(|| invalid(field, "instant out of range"))
}

/// An optional instant handed in by the app (see [`instant`]).
pub(crate) fn utc(
    field: &str,
    time: Option<SystemTime>,
) -> Result<Option<DateTime<Utc>>, CasebookError> {
    time.map(|t| instant(field, t)).transpose()
}

/// An instant as the app sees it.
pub(crate) fn system(time: Option<DateTime<Utc>>) -> Option<SystemTime> {
    time.map(SystemTime::from)
}

/// Map one enum onto another variant for variant (both directions), so the two stay in
/// step: a variant added to the core and not here fails to compile.
macro_rules! mirror_enum {
    ($(#[$meta:meta])* $name:ident <=> $core:path { $($(#[$vmeta:meta])* $variant:ident),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Default, uniffi::Enum)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl From<$core> for $name {
            fn from(value: $core) -> Self {
                type Core = $core;
                match value {
                    $(Core::$variant => $name::$variant),+
                }
            }
        }

        impl From<$name> for $core {
            fn from(value: $name) -> Self {
                type Core = $core;
                match value {
                    $($name::$variant => Core::$variant),+
                }
            }
        }
    };
}
pub(crate) use mirror_enum;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_ids_are_checked_with_the_field_named() {
        for bad in [
            "2026-02-30",
            "10-5-1",
            " 2026-02-28",
            "+2026-02-28",
            "2026-2-28",
            "",
        ] {
            assert!(parse_date("due_on", bad).is_err(), "{bad:?} accepted");
        }
        let date = parse_date("due_on", "2026-02-28").expect("valid date");
        assert_eq!(show_date(Some(date)).as_deref(), Some("2026-02-28"));
        match parse_id::<casebook_core::ids::CaseId>("case_id", "nope") {
            Err(CasebookError::InvalidInput { field, .. }) => assert_eq!(field, "case_id"),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn instants_out_of_chronos_range_are_invalid_input_not_a_panic() {
        use std::time::Duration;
        let far = SystemTime::UNIX_EPOCH + Duration::from_secs(31_556_889_864_403_199);
        match utc("visited_at", Some(far)) {
            Err(CasebookError::InvalidInput { field, .. }) => assert_eq!(field, "visited_at"),
            other => panic!("unexpected {other:?}"),
        }
        let before = SystemTime::UNIX_EPOCH - Duration::from_millis(1_500);
        let parsed = utc("at", Some(before)).expect("before 1970").expect("some");
        assert_eq!(parsed.timestamp_millis(), -1_500);
        let now = SystemTime::now();
        let parsed = utc("at", Some(now)).expect("now").expect("some");
        assert_eq!(SystemTime::from(parsed), now);
        assert_eq!(utc("at", None), Ok(None));
    }
}
