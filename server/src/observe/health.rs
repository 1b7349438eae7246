//! `GET /healthz` (the process answers) and `GET /readyz` (it can do its work: the database
//! takes a real write, the data directory has room, the certificate is not about to expire),
//! without authentication and without case data. `/readyz` answers 503 naming each failed
//! check.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::state::AppState;

/// How long the readiness write waits for the database's write lock.
pub const DB_PROBE_BUSY: Duration = Duration::from_secs(1);

/// `/readyz` fails when the certificate expires within this many days.
pub const CERT_MIN_DAYS: i64 = 14;

/// One readiness check's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// `database`, `disk` or `certificate`.
    pub name: &'static str,
    /// Whether it passed.
    pub ok: bool,
    /// What was found (numbers and error kinds only).
    pub detail: String,
}

/// The body of `/readyz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Readiness {
    /// `ready` or `not_ready`.
    pub status: &'static str,
    /// The names of the failed checks.
    pub failed: Vec<&'static str>,
    /// Every check.
    pub checks: Vec<Check>,
}

impl Readiness {
    fn from_checks(checks: Vec<Check>) -> Self {
        let failed: Vec<&'static str> = checks.iter().filter(|c| !c.ok).map(|c| c.name).collect();
        Self {
            status: if failed.is_empty() {
                "ready"
            } else {
                "not_ready"
            },
            failed,
            checks,
        }
    }

    /// Whether every check passed.
    pub fn is_ready(&self) -> bool {
        self.failed.is_empty()
    }
}

/// The disk check: `available` bytes free for the server against the `minimum`.
pub fn disk_check(available: std::io::Result<u64>, minimum: u64) -> Check {
    match available {
        Ok(free) => Check {
            name: "disk",
            ok: free >= minimum,
            detail: format!("{free} bytes free in the data directory (minimum {minimum})"),
        },
        Err(e) => Check {
            name: "disk",
            ok: false,
            detail: format!("free space unknown: {}", e.kind()),
        },
    }
}

/// Bytes available to an unprivileged writer on the filesystem holding `dir`.
pub fn available_bytes(dir: &std::path::Path) -> std::io::Result<u64> {
    let stat = rustix::fs::statvfs(dir).map_err(std::io::Error::from)?;
    Ok(stat.f_bavail.saturating_mul(stat.f_frsize))
}

/// The certificate check: the served certificate (`cert_der`, `None` without TLS) must not
/// expire within [`CERT_MIN_DAYS`] of `now`.
pub fn certificate_check(cert_der: Option<&[u8]>, now: i64) -> Check {
    let Some(der) = cert_der else {
        return Check {
            name: "certificate",
            ok: true,
            detail: "no TLS on this listener (loopback test mode)".into(),
        };
    };
    match x509_parser::parse_x509_certificate(der) {
        Ok((_, cert)) => {
            let not_after = cert.validity().not_after.timestamp();
            let left = not_after - now;
            let days = left.div_euclid(86_400);
            Check {
                name: "certificate",
                ok: left >= CERT_MIN_DAYS * 86_400,
                detail: if left < 0 {
                    format!("expired {} days ago", -days)
                } else {
                    format!("expires in {days} days (minimum {CERT_MIN_DAYS})")
                },
            }
        }
        Err(_) => Check {
            name: "certificate",
            ok: false,
            detail: "the served certificate could not be parsed".into(),
        },
    }
}

/// The kind of a database failure (an SQLite error code), never its message.
fn db_failure(e: &crate::Error) -> String {
    e.db_failure_kind()
        .unwrap_or_else(|| "could not open the database".into())
}

/// Run every readiness check (the blocking ones off the async executor).
pub async fn readiness(state: &AppState) -> Readiness {
    let now = state.clock.now();
    let db = state.db.clone();
    let database = match tokio::task::spawn_blocking(move || {
        crate::sql::postgres::on_blocking_thread(|| db.probe_write_blocking(DB_PROBE_BUSY, now))
    })
    .await
    {
        Ok(Ok(())) => Check {
            name: "database",
            ok: true,
            detail: "a write committed".into(),
        },
        Ok(Err(e)) => Check {
            name: "database",
            ok: false,
            detail: format!("not writable: {}", db_failure(&e)),
        },
        Err(_) => Check {
            name: "database",
            ok: false,
            detail: "the write probe did not finish".into(),
        },
    };
    let dir = state.db.local_dir().to_owned();
    let minimum = state.settings.min_free_disk_bytes;
    let disk = match tokio::task::spawn_blocking(move || available_bytes(&dir)).await {
        Ok(available) => disk_check(available, minimum),
        Err(_) => disk_check(Err(std::io::Error::other("task")), minimum),
    };
    let cert = state.served_tls.get().map(crate::tls::TlsConfig::cert_der);
    let certificate = certificate_check(cert.as_deref(), now);
    Readiness::from_checks(vec![database, disk, certificate])
}

/// How long one readiness result is reused.
pub const READINESS_REUSE: Duration = Duration::from_secs(1);

/// The last readiness result and when its checks finished.
#[derive(Debug, Default)]
pub struct ReadinessCache(tokio::sync::Mutex<Option<(std::time::Instant, Readiness)>>);

/// [`readiness`], reusing a result younger than [`READINESS_REUSE`]; concurrent callers wait
/// for one run of the checks and share it.
pub async fn readiness_cached(state: &AppState) -> Readiness {
    let mut last = state.readiness.0.lock().await;
    if let Some((at, result)) = last.as_ref()
        && at.elapsed() < READINESS_REUSE
    {
        return result.clone();
    }
    let fresh = readiness(state).await;
    *last = Some((std::time::Instant::now(), fresh.clone()));
    fresh
}

/// `GET /healthz`: 200 while the process serves requests.
pub async fn healthz() -> Response {
    (
        [(header::CACHE_CONTROL, "no-store")],
        Json(serde_json::json!({"status": "alive"})),
    )
        .into_response()
}

/// `GET /readyz`: 200 when every check passes, else 503; the body names the failed checks.
pub async fn readyz(State(state): State<AppState>) -> Response {
    let readiness = readiness_cached(&state).await;
    let status = if readiness.is_ready() {
        StatusCode::OK
    } else {
        tracing::warn!(failed = ?readiness.failed, "not ready");
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        Json(readiness),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert_valid_for(days: i64, now: i64) -> Vec<u8> {
        use chrono::Datelike;
        let mut params =
            rcgen::CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        let end = chrono::DateTime::from_timestamp(now + days * 86_400, 0)
            .expect("time")
            .date_naive();
        params.not_after = rcgen::date_time_ymd(end.year(), end.month() as u8, end.day() as u8);
        let key = rcgen::KeyPair::generate().expect("key");
        params.self_signed(&key).expect("cert").der().to_vec()
    }

    #[test]
    fn the_certificate_check_fails_inside_fourteen_days() {
        let now = 1_800_000_000;
        let ok = certificate_check(Some(&cert_valid_for(30, now)), now);
        assert!(ok.ok, "{ok:?}");
        let soon = certificate_check(Some(&cert_valid_for(3, now)), now);
        assert!(!soon.ok);
        assert!(
            soon.detail.contains("expires in 2 days") || soon.detail.contains("expires in 3 days"),
            "{soon:?}"
        );
        let gone = certificate_check(Some(&cert_valid_for(-2, now)), now);
        assert!(!gone.ok);
        assert!(gone.detail.starts_with("expired"), "{gone:?}");
        assert!(!certificate_check(Some(b"not a certificate"), now).ok);
        assert!(certificate_check(None, now).ok);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_flood_of_probes_shares_one_result_a_second() {
        let dir = tempfile::tempdir().expect("tempdir");
        let settings = crate::Settings {
            min_free_disk_bytes: 0,
            ..crate::Settings::default()
        };
        let opened =
            crate::open_data_dir(dir.path(), crate::Clock::System, settings).expect("open");
        let state = opened.state;
        assert!(readiness_cached(&state).await.is_ready());
        // Another connection takes the write lock: the reused result still says ready...
        let key = crate::db::read_key(&dir.path().join(crate::db::DEFAULT_KEY_FILE)).expect("key");
        let holder = casebook_core::store::open_encrypted(state.db.path(), key).expect("open");
        holder.execute_batch("BEGIN EXCLUSIVE").expect("lock");
        assert!(readiness_cached(&state).await.is_ready());
        // ...until it is a second old, when the checks run again and see the lock.
        tokio::time::sleep(READINESS_REUSE + Duration::from_millis(100)).await;
        let fresh = readiness_cached(&state).await;
        assert_eq!(fresh.failed, vec!["database"], "{fresh:?}");
        assert!(!readiness(&state).await.is_ready());
        holder.execute_batch("ROLLBACK").expect("unlock");
        assert!(readiness(&state).await.is_ready());
    }

    #[test]
    fn the_disk_check_compares_with_the_minimum() {
        assert!(disk_check(Ok(10), 10).ok);
        assert!(!disk_check(Ok(9), 10).ok);
        assert!(!disk_check(Err(std::io::Error::other("x")), 0).ok);
        let here = available_bytes(std::path::Path::new(".")).expect("statvfs");
        assert!(here > 0);
    }
}
