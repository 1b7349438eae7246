//! The one error type the apps see, and the panic guard every exported call goes through.
//!
//! Messages never contain case content (they end up in crash reports): they are built from
//! the core's messages, which make the same promise, or are fixed text.

use std::panic::{AssertUnwindSafe, catch_unwind};

use casebook_core::Error as CoreError;

/// What can go wrong, as a small stable enum. Kotlin sees `CasebookException.WrongKey` etc.,
/// Swift `CasebookError.wrongKey`, Python `CasebookError.WrongKey`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
#[non_exhaustive]
pub enum CasebookError {
    /// The key does not open this store (the file was left untouched).
    #[error("the key does not open this store")]
    WrongKey,
    /// The device is not enrolled with a server.
    #[error("this device is not enrolled")]
    NotEnrolled,
    /// The device was revoked; its local store has been wiped.
    #[error("this device has been revoked")]
    DeviceRevoked,
    /// The server could not be reached (or is unavailable); try again later.
    #[error("offline: {reason}")]
    Offline {
        /// Why, without case content.
        reason: String,
    },
    /// The server's certificate is not the pinned one. Never retry automatically.
    #[error("the server's certificate is not trusted")]
    UntrustedServer,
    /// This user or device may not do that (or does not hold that document).
    #[error("forbidden: {reason}")]
    Forbidden {
        /// Why, without case content.
        reason: String,
    },
    /// A value handed in was rejected.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// Which field or argument.
        field: String,
        /// Why.
        reason: String,
    },
    /// A conflict to resolve first, or no open conflict where one was named.
    #[error("conflict: {reason}")]
    Conflict {
        /// Why, without case content.
        reason: String,
    },
    /// Local data is locked because the device has not checked in with its server for more
    /// than 72 hours; a successful `sync_now` unlocks it.
    #[error("local data is locked until this device checks in with the server")]
    Locked,
    /// The server speaks a newer protocol than this build: the app must be updated to sync.
    /// Local data stays usable.
    #[error("this app must be updated to sync with the server")]
    UpdateRequired,
    /// The sync was cancelled; what was received so far is kept.
    #[error("cancelled")]
    Cancelled,
    /// The store was closed with `close()`.
    #[error("the store is closed")]
    Closed,
    /// The encrypted store failed (disk full, corrupted file, newer schema).
    #[error("storage error: {reason}")]
    Storage {
        /// Why, without case content.
        reason: String,
    },
    /// The device key could not sign, so no session was opened: the app's signer failed or
    /// holds another key, or this store's key is held by a signer the app did not supply
    /// (`Casebook.open_with_signer`). Nothing was sent.
    #[error("the device key could not sign: {reason}")]
    SignerFailed {
        /// Why, without case content.
        reason: String,
    },
    /// A bug: a Rust panic or an unexpected internal state. The `Casebook` stays usable.
    #[error("internal error: {reason}")]
    Internal {
        /// Why, without case content.
        reason: String,
    },
}

/// The bindings' result type.
pub type Result<T, E = CasebookError> = std::result::Result<T, E>;

impl From<CoreError> for CasebookError {
    fn from(error: CoreError) -> Self {
        let reason = error.to_string();
        match error {
            CoreError::WrongKey => CasebookError::WrongKey,
            CoreError::NotEnrolled => CasebookError::NotEnrolled,
            CoreError::DeviceRevoked => CasebookError::DeviceRevoked,
            CoreError::Locked => CasebookError::Locked,
            CoreError::Cancelled => CasebookError::Cancelled,
            CoreError::UntrustedServer => CasebookError::UntrustedServer,
            CoreError::Network(_) => CasebookError::Offline { reason },
            CoreError::Forbidden(_)
            | CoreError::Unauthenticated
            | CoreError::NotHeld(_)
            | CoreError::NotPermitted { .. } => CasebookError::Forbidden { reason },
            CoreError::InvalidInput { field, reason } => {
                CasebookError::InvalidInput { field, reason }
            }
            CoreError::BadKeyLength(_) => CasebookError::InvalidInput {
                field: "key".into(),
                reason,
            },
            CoreError::Id(e) => CasebookError::InvalidInput {
                field: format!("{} id", e.kind),
                reason,
            },
            CoreError::NoSuchCase(_) => CasebookError::InvalidInput {
                field: "case_id".into(),
                reason: "no such case on this device".into(),
            },
            CoreError::NoSuchEntry { kind, .. } => CasebookError::InvalidInput {
                field: kind.into(),
                reason: "no such entry".into(),
            },
            CoreError::NoSuchConflict(_) => CasebookError::Conflict { reason },
            CoreError::Server { status, code, .. } => match (code.as_str(), status) {
                ("rate_limited", _) | (_, 408 | 429) => CasebookError::Offline {
                    reason: "the server is busy; try again in a minute".into(),
                },
                ("enrolment_code_invalid", _) => CasebookError::InvalidInput {
                    field: "enrolment_code".into(),
                    reason: "not valid, expired or already used; ask for a new code".into(),
                },
                ("unsupported_version", _) => CasebookError::UpdateRequired,
                ("payload_too_large", _) | (_, 413) => CasebookError::InvalidInput {
                    field: "document".into(),
                    reason: "too large to sync (see the limits in the README)".into(),
                },
                (_, 401 | 403) => CasebookError::Forbidden { reason },
                (_, 409) => CasebookError::Conflict { reason },
                (_, 400..=499) => CasebookError::InvalidInput {
                    field: "request".into(),
                    reason,
                },
                _ => CasebookError::Offline { reason },
            },
            CoreError::Signer(reason) => CasebookError::SignerFailed { reason },
            CoreError::Storage(_)
            | CoreError::EncryptionUnavailable
            | CoreError::SchemaTooNew { .. } => CasebookError::Storage { reason },
            _ => CasebookError::Internal { reason },
        }
    }
}

/// The error a caught panic becomes. The panic's own message is not passed on (it could
/// quote data); the default panic hook has already logged it.
pub(crate) fn panicked() -> CasebookError {
    CasebookError::Internal {
        reason: "a bug in the Casebook library was caught; the operation did not happen".into(),
    }
}

/// Run `f`, turning a panic into [`CasebookError::Internal`] so it never unwinds into the
/// app (uniffi would report a panic too, but as an untyped exception).
pub(crate) fn guard<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| Err(panicked()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_errors_map_to_the_small_enum() {
        assert_eq!(
            CasebookError::from(CoreError::WrongKey),
            CasebookError::WrongKey
        );
        assert!(matches!(
            CasebookError::from(CoreError::Network("refused".into())),
            CasebookError::Offline { .. }
        ));
        assert!(matches!(
            CasebookError::from(CoreError::NotHeld("x".into())),
            CasebookError::Forbidden { .. }
        ));
        assert!(matches!(
            CasebookError::from(CoreError::Signer("no signer".into())),
            CasebookError::SignerFailed { reason } if reason == "no signer"
        ));
        assert!(matches!(
            CasebookError::from(CoreError::BadKeyLength(3)),
            CasebookError::InvalidInput { field, .. } if field == "key"
        ));
    }

    #[test]
    fn server_refusals_map_to_what_the_app_should_do() {
        let server = |status: u16, code: &str| {
            CasebookError::from(CoreError::Server {
                status,
                code: code.into(),
                message: "m".into(),
            })
        };
        assert!(matches!(
            server(429, "rate_limited"),
            CasebookError::Offline { .. }
        ));
        assert!(matches!(
            server(401, "enrolment_code_invalid"),
            CasebookError::InvalidInput { field, .. } if field == "enrolment_code"
        ));
        assert_eq!(
            server(400, "unsupported_version"),
            CasebookError::UpdateRequired
        );
        assert!(matches!(
            server(413, "payload_too_large"),
            CasebookError::InvalidInput { field, .. } if field == "document"
        ));
        assert!(matches!(
            server(403, "forbidden_by_policy"),
            CasebookError::Forbidden { .. }
        ));
        assert!(matches!(
            server(400, "bad_request"),
            CasebookError::InvalidInput { field, .. } if field == "request"
        ));
        assert!(matches!(
            server(503, "internal"),
            CasebookError::Offline { .. }
        ));
    }

    #[test]
    fn a_panic_becomes_internal() {
        let result: Result<()> = guard(|| panic!("boom"));
        assert!(matches!(result, Err(CasebookError::Internal { .. })));
    }
}
