//! Records and enums that cross the FFI boundary. Each mirrors one core type field for field,
//! with `From<core type>` for what the app reads and `TryFrom<record>` for what it writes
//! (identifiers and dates arrive as text and are checked here, failing with
//! [`CasebookError::InvalidInput`] naming the field).
//!
//! Representation choices, the same in every record:
//! - identifiers (case, entry, user) are 32 lowercase hex characters;
//! - calendar dates are ISO 8601 text, `YYYY-MM-DD`;
//! - instants are uniffi timestamps (`java.time.Instant`, `Date`, `datetime`).

mod associates;
mod case;
mod location;
mod profile;
mod safety;
mod visits;

pub use associates::{PersonEntry, PersonOfConcern};
pub use case::{
    CaseSummary, ChangeEvent, ChangeSource, Conflict, ConflictValue, DeviceInfo, DocKind,
    Rejection, SyncProgress, SyncReport,
};
pub use location::{Placement, PlacementEntry, PlacementType};
pub use profile::{
    AgeStatus, Immigration, ImmigrationOutcome, IndependentVisitor, LegalBasis, Nrm, NrmDecision,
    PlanDates, Profile,
};
pub use safety::{
    CheckOutcome, MissingEpisode, MissingEpisodeEntry, PlanStep, PlanStepEntry, Responsible,
    SafetyCheck, SafetyCheckEntry, StepStatus,
};
pub use visits::{
    Action, Interpreter, InterpreterMode, Review, ReviewStatus, VettingStatus, VisitNote,
    VisitNoteEntry,
};

use std::str::FromStr;
use std::time::SystemTime;

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

/// Parse an ISO date (`YYYY-MM-DD`).
pub(crate) fn parse_date(field: &str, text: &str) -> Result<NaiveDate, CasebookError> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| invalid(field, "expected YYYY-MM-DD"))
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

/// An instant as the core takes it.
pub(crate) fn utc(time: Option<SystemTime>) -> Option<DateTime<Utc>> {
    time.map(DateTime::<Utc>::from)
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
        assert!(parse_date("due_on", "2026-02-30").is_err());
        let date = parse_date("due_on", "2026-02-28").expect("valid date");
        assert_eq!(show_date(Some(date)).as_deref(), Some("2026-02-28"));
        match parse_id::<casebook_core::ids::CaseId>("case_id", "nope") {
            Err(CasebookError::InvalidInput { field, .. }) => assert_eq!(field, "case_id"),
            other => panic!("unexpected {other:?}"),
        }
    }
}
