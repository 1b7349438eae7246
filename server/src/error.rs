//! The server's error type: every failure a request or a command can meet, and how each one
//! becomes an HTTP answer in the [`ErrorBody`] shape.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use casebook_core::sync::wire::{ERROR_DEVICE_REVOKED, ErrorBody};

/// Everything that can go wrong in the server. Messages never contain case content.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The device has been revoked: it must wipe its store.
    #[error("this device has been revoked")]
    DeviceRevoked,
    /// No valid session, challenge signature or device.
    #[error("authentication required: {0}")]
    Unauthenticated(&'static str),
    /// Authenticated, but not allowed to do this.
    #[error("not allowed: {0}")]
    Forbidden(&'static str),
    /// The request is malformed.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The request body is larger than this endpoint accepts.
    #[error("request body too large")]
    PayloadTooLarge,
    /// The request speaks another protocol version.
    #[error("unsupported protocol version {0}")]
    UnsupportedVersion(u32),
    /// The enrolment code is wrong, expired or already used.
    #[error("enrolment code invalid, expired or already used")]
    EnrolmentCodeInvalid,
    /// Too many failed attempts; try later.
    #[error("too many attempts; try again later")]
    RateLimited,
    /// The thing named does not exist (or is not visible to the caller).
    #[error("not found: {0}")]
    NotFound(&'static str),
    /// The request conflicts with the current state.
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// This device sent sync requests faster than its limit; retry after this many seconds.
    #[error("too many sync requests; retry in {retry_after} s")]
    SyncRateLimited {
        /// Seconds until a request will be accepted.
        retry_after: u64,
    },
    /// A database failure.
    #[error("database error: {0}")]
    Db(#[from] rusqlite::Error),
    /// A database failure on another engine (or of the SQL layer itself).
    #[error("database error: {0}")]
    Sql(crate::sql::Error),
    /// A file or socket failure.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// A TLS configuration failure (certificate or key).
    #[error("tls error: {0}")]
    Tls(String),
    /// Invalid configuration.
    #[error("configuration error: {0}")]
    Config(String),
    /// A background task failed (panicked or was cancelled).
    #[error("background task failed: {0}")]
    Task(String),
    /// Stored data is not what the server wrote.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
}

impl From<crate::sql::Error> for Error {
    /// SQLite's own errors stay [`Error::Db`], so their codes read as before.
    fn from(e: crate::sql::Error) -> Self {
        match e {
            crate::sql::Error::Sqlite(e) => Error::Db(e),
            other => Error::Sql(other),
        }
    }
}

/// Result with the server's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The stable code and HTTP status for this error.
    pub fn code_and_status(&self) -> (&'static str, StatusCode) {
        match self {
            Error::DeviceRevoked => (ERROR_DEVICE_REVOKED, StatusCode::FORBIDDEN),
            Error::Unauthenticated(_) => ("unauthenticated", StatusCode::UNAUTHORIZED),
            Error::Forbidden(_) => ("forbidden", StatusCode::FORBIDDEN),
            Error::BadRequest(_) => ("bad_request", StatusCode::BAD_REQUEST),
            Error::PayloadTooLarge => ("payload_too_large", StatusCode::PAYLOAD_TOO_LARGE),
            Error::UnsupportedVersion(_) => ("unsupported_version", StatusCode::BAD_REQUEST),
            Error::EnrolmentCodeInvalid => ("enrolment_code_invalid", StatusCode::UNAUTHORIZED),
            Error::RateLimited | Error::SyncRateLimited { .. } => {
                ("rate_limited", StatusCode::TOO_MANY_REQUESTS)
            }
            e if e.is_storage_full() => ("storage_full", StatusCode::SERVICE_UNAVAILABLE),
            Error::Sql(e) if e.is_unavailable() => {
                ("database_unavailable", StatusCode::SERVICE_UNAVAILABLE)
            }
            Error::NotFound(_) => ("not_found", StatusCode::NOT_FOUND),
            Error::Conflict(_) => ("conflict", StatusCode::CONFLICT),
            Error::Db(_)
            | Error::Sql(_)
            | Error::Io(_)
            | Error::Tls(_)
            | Error::Config(_)
            | Error::Task(_)
            | Error::Corrupt(_) => ("internal", StatusCode::INTERNAL_SERVER_ERROR),
        }
    }

    /// For a database failure, a short name for its kind (the engine's error code), never its
    /// message: safe to show on `/readyz`. `None` for any other failure.
    pub fn db_failure_kind(&self) -> Option<String> {
        match self {
            Error::Db(rusqlite::Error::SqliteFailure(failure, _)) => {
                Some(format!("{:?}", failure.code))
            }
            Error::Db(_) => Some("database error".into()),
            Error::Sql(e) => Some(e.kind_name()),
            _ => None,
        }
    }

    /// Whether the disk under the database (or another file the server writes) is full:
    /// `SQLITE_FULL`, or `ENOSPC` from a file write. The transaction was rolled back, so
    /// nothing of the request was kept; the server answers 503 and serves what needs no
    /// space until space returns.
    pub fn is_storage_full(&self) -> bool {
        match self {
            Error::Db(e) => e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull),
            Error::Sql(e) => e.is_disk_full(),
            Error::Io(e) => e.kind() == std::io::ErrorKind::StorageFull,
            _ => false,
        }
    }

    /// The body sent to the client: internal detail is logged, never sent.
    pub fn body(&self) -> ErrorBody {
        let (code, status) = self.code_and_status();
        let message = if self.is_storage_full() {
            "the server's storage is full; nothing of this request was kept, try again later"
                .to_owned()
        } else if status.is_server_error() {
            "internal server error".to_owned()
        } else {
            self.to_string()
        };
        ErrorBody {
            error: code.to_owned(),
            message,
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let (_, status) = self.code_and_status();
        if status.is_server_error() {
            tracing::error!(error = %self, "internal error");
        } else {
            tracing::debug!(error = %self, "request refused");
        }
        let mut response = (status, Json(self.body())).into_response();
        if let Error::SyncRateLimited { retry_after } = self {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(retry_after),
            );
        }
        response
    }
}

impl From<tokio::task::JoinError> for Error {
    fn from(e: tokio::task::JoinError) -> Self {
        Error::Task(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_hide_detail() {
        let e = Error::Corrupt("secret detail".into());
        let body = e.body();
        assert_eq!(body.error, "internal");
        assert!(!body.message.contains("secret"));
        // A full disk is a 503 the device retries, not an internal error.
        let full = Error::Db(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
            Some("database or disk is full".into()),
        ));
        assert_eq!(
            full.code_and_status(),
            ("storage_full", StatusCode::SERVICE_UNAVAILABLE)
        );
        assert!(full.body().message.contains("storage is full"));
        let enospc = Error::Io(std::io::Error::from_raw_os_error(28));
        assert_eq!(enospc.code_and_status().1, StatusCode::SERVICE_UNAVAILABLE);
        let other = Error::Db(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_IOERR),
            None,
        ));
        assert_eq!(other.code_and_status().0, "internal");
        // PostgreSQL down or failing over: a 503 the device retries, its detail kept back.
        let down = Error::Sql(crate::sql::Error::Unavailable(
            "no connection to /tmp/secret-host/postgres".into(),
        ));
        assert_eq!(
            down.code_and_status(),
            ("database_unavailable", StatusCode::SERVICE_UNAVAILABLE)
        );
        assert!(!down.body().message.contains("secret"));
        let refused = Error::Sql(crate::sql::Error::Postgres("23505: duplicate key".into()));
        assert_eq!(refused.code_and_status().0, "internal");
        let e = Error::DeviceRevoked;
        assert_eq!(e.code_and_status().1, StatusCode::FORBIDDEN);
        assert_eq!(e.body().error, "device_revoked");
    }
}
