//! Shared server state: the database, the clock and the server's settings (lifetimes and
//! limits; the limits' counters live in the database, see `rate_limit.rs`).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use crate::db::Db;
use crate::error::Result;

/// The source of "now" (Unix seconds). Tests use a manual clock to cross expiry times.
#[derive(Debug, Clone)]
pub enum Clock {
    /// The system clock.
    System,
    /// A clock that only moves when told to.
    Manual(Arc<AtomicI64>),
}

impl Clock {
    /// A manual clock starting at `start`.
    pub fn manual(start: i64) -> Self {
        Clock::Manual(Arc::new(AtomicI64::new(start)))
    }

    /// The current time in Unix seconds.
    pub fn now(&self) -> i64 {
        match self {
            Clock::System => chrono::Utc::now().timestamp(),
            Clock::Manual(t) => t.load(Ordering::SeqCst),
        }
    }

    /// Move a manual clock forward; does nothing to the system clock.
    pub fn advance(&self, secs: i64) {
        if let Clock::Manual(t) = self {
            t.fetch_add(secs, Ordering::SeqCst);
        }
    }
}

/// Lifetimes and limits.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How long an enrolment code stays valid, in seconds.
    pub enrolment_code_ttl: i64,
    /// How long a challenge stays valid, in seconds.
    pub challenge_ttl: i64,
    /// How long a session token stays valid, in seconds.
    pub session_ttl: i64,
    /// Failed enrolment attempts per address (IPv4 address, IPv6 /64) within
    /// [`Settings::rate_window`]; after that the address's wrong codes get `429`. A valid,
    /// unused code is always accepted.
    pub max_failures_per_source: usize,
    /// The rate-limit window, in seconds.
    pub rate_window: i64,
    /// Soft limit on the size of one sync response, in bytes of document payload.
    pub response_budget: usize,
    /// The database key file; `None` means `<data-dir>/db.key`, created on first start.
    pub db_key_file: Option<std::path::PathBuf>,
    /// A PostgreSQL URL (`postgres://...`); `None` means the embedded SQLite database in the
    /// data directory.
    pub database: Option<String>,
    /// Sync requests one device may send at once before [`Settings::sync_per_minute`] applies.
    pub sync_burst: u32,
    /// Sync requests a minute one device may sustain; 0 turns the limit off.
    pub sync_per_minute: u32,
    /// Cases one user may register by syncing them (created offline) in 24 hours.
    pub max_case_registrations_per_day: u32,
    /// Longest time for one request, from its headers to its answer, body included (the
    /// device's own timeout is 120 s; past it nobody waits for the answer).
    pub request_timeout: std::time::Duration,
    /// Longest pause between two pieces of a request body.
    pub body_pause_timeout: std::time::Duration,
    /// Longest time for an HTTP/1 request's headers to arrive.
    pub header_read_timeout: std::time::Duration,
    /// Longest time from TCP accept to the end of the TLS handshake.
    pub tls_handshake_timeout: std::time::Duration,
    /// Longest time from the TLS handshake to the first request.
    pub first_request_timeout: std::time::Duration,
    /// Longest time a keep-alive connection may sit with no request in flight.
    pub idle_timeout: std::time::Duration,
    /// HTTP/2: how often to ping an otherwise silent client.
    pub h2_keep_alive_interval: std::time::Duration,
    /// HTTP/2: how long to wait for the ping's answer before closing.
    pub h2_keep_alive_timeout: std::time::Duration,
    /// HTTP/2: concurrent streams (requests) per connection.
    pub h2_max_concurrent_streams: u32,
    /// Concurrent connections overall; more are closed before the TLS handshake.
    pub max_connections: usize,
    /// Concurrent connections from one client address (an IPv6 /64 counts as one).
    pub max_connections_per_address: usize,
    /// How long the first administrator's enrolment code stays valid, in seconds.
    pub admin_code_ttl: i64,
    /// Failed enrolments with one known (used or expired) code per window.
    pub max_failures_per_code: u32,
    /// Challenges issued for one device id to one address per window.
    pub max_challenges_per_device: u32,
    /// Challenges issued to one address per window.
    pub max_challenges_per_address: u32,
    /// Live challenges kept per device id and address; the oldest are dropped.
    pub live_challenges_per_device: u32,
    /// Failed sessions claiming one device id per window, after which its failures get `429`
    /// (a valid signature over a live challenge still opens a session).
    pub max_session_failures_per_device: u32,
    /// Failed sessions from one address per window.
    pub max_session_failures_per_address: u32,
    /// `/readyz` fails when the data directory's filesystem has fewer bytes free.
    pub min_free_disk_bytes: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            enrolment_code_ttl: 24 * 3600,
            challenge_ttl: 60,
            session_ttl: 15 * 60,
            max_failures_per_source: 5,
            rate_window: 15 * 60,
            response_budget: 8 * 1024 * 1024,
            db_key_file: None,
            database: None,
            sync_burst: 120,
            sync_per_minute: 120,
            max_case_registrations_per_day: 50,
            request_timeout: std::time::Duration::from_secs(120),
            body_pause_timeout: std::time::Duration::from_secs(30),
            header_read_timeout: std::time::Duration::from_secs(15),
            tls_handshake_timeout: std::time::Duration::from_secs(15),
            first_request_timeout: std::time::Duration::from_secs(15),
            idle_timeout: std::time::Duration::from_secs(60),
            h2_keep_alive_interval: std::time::Duration::from_secs(30),
            h2_keep_alive_timeout: std::time::Duration::from_secs(15),
            h2_max_concurrent_streams: 16,
            max_connections: 2048,
            max_connections_per_address: 64,
            admin_code_ttl: 3600,
            max_failures_per_code: 5,
            max_challenges_per_device: 30,
            max_challenges_per_address: 1000,
            live_challenges_per_device: 5,
            max_session_failures_per_device: 10,
            max_session_failures_per_address: 20,
            min_free_disk_bytes: 1 << 30,
        }
    }
}

/// Everything a request handler needs; cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The database.
    pub db: Db,
    /// The clock.
    pub clock: Clock,
    /// Lifetimes and limits.
    pub settings: Arc<Settings>,
    /// This server's stable identity (devices key their sync state by it).
    pub server_id: Arc<str>,
    /// Sync requests per device (a token bucket each).
    pub sync_limiter: Arc<crate::sync::SyncLimiter>,
    /// The SPKI pin of the certificate being served (set by `serve` over TLS), for the
    /// console's enrolment QR codes.
    pub cert_pin: Arc<std::sync::OnceLock<String>>,
    /// The TLS configuration being served (set by `serve`), whose certificate's expiry
    /// `/readyz` checks.
    pub served_tls: Arc<std::sync::OnceLock<crate::tls::TlsConfig>>,
    /// The last readiness result, reused for a moment so that a flood of `/readyz` requests
    /// runs the checks (a database write among them) at most once a second.
    pub readiness: Arc<crate::observe::health::ReadinessCache>,
}

impl AppState {
    /// State over an opened database, reading (or creating) the server id.
    pub fn new(db: Db, clock: Clock, settings: Settings) -> Result<Self> {
        let server_id = db.write_blocking(|tx| {
            if let Some(id) = crate::db::meta_get(**tx, "server_id")? {
                return Ok(id);
            }
            let id = crate::directory::random_id();
            crate::db::meta_set(tx, "server_id", &id)?;
            Ok(id)
        })?;
        Ok(Self {
            db,
            clock,
            settings: Arc::new(settings),
            server_id: server_id.into(),
            sync_limiter: Arc::new(crate::sync::SyncLimiter::default()),
            cert_pin: Arc::default(),
            served_tls: Arc::default(),
            readiness: Arc::default(),
        })
    }
}
