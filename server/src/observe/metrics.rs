//! Prometheus metrics (the `metrics` facade and its Prometheus exporter) served on their own
//! plain-HTTP listener, loopback by default and never on the public one: request counts and
//! latency histograms by route template, bytes in and out, syncs by outcome, and, read from
//! the database at each scrape, enrolled, active and revoked devices, the audit chain's
//! length, the database's size and (on PostgreSQL) the statements sent to it.

use std::sync::OnceLock;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::state::AppState;

/// The metric names (see `docs/operations.md`).
pub mod names {
    /// Counter: requests, by `route`, `method` and `status`.
    pub const REQUESTS: &str = "casebook_http_requests_total";
    /// Histogram: seconds from a request's arrival to its response's headers, by `route` and
    /// `method`.
    pub const REQUEST_DURATION: &str = "casebook_http_request_duration_seconds";
    /// Counter: request body bytes received, by `route`.
    pub const REQUEST_BYTES: &str = "casebook_http_request_bytes_total";
    /// Counter: response body bytes sent, by `route`.
    pub const RESPONSE_BYTES: &str = "casebook_http_response_bytes_total";
    /// Counter: `/v1/sync` requests, by `outcome`.
    pub const SYNCS: &str = "casebook_syncs_total";
    /// Gauge: devices enrolled and not revoked.
    pub const DEVICES_ENROLLED: &str = "casebook_devices_enrolled";
    /// Gauge: enrolled devices holding an unexpired session.
    pub const DEVICES_ACTIVE: &str = "casebook_devices_active";
    /// Gauge: devices revoked, ever.
    pub const DEVICES_REVOKED: &str = "casebook_devices_revoked";
    /// Gauge: rows in the audit chain.
    pub const AUDIT_CHAIN_ROWS: &str = "casebook_audit_chain_rows";
    /// Gauge: bytes of the database file and its write-ahead log.
    pub const DATABASE_BYTES: &str = "casebook_database_bytes";
    /// Counter: statements sent to PostgreSQL by this instance, `BEGIN` and `COMMIT`
    /// included (absent on SQLite). Divided by the syncs, the statements a sync costs.
    pub const POSTGRES_STATEMENTS: &str = "casebook_postgres_statements_total";
}

/// The default metrics listener.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9464";

/// Histogram buckets for request latencies, in seconds (1 ms to 60 s).
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

static HANDLE: OnceLock<std::result::Result<PrometheusHandle, String>> = OnceLock::new();

/// Install the Prometheus recorder as the process's metrics recorder (once; later calls
/// return the same handle). Until it is installed, recording does nothing.
pub fn install() -> Result<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full(names::REQUEST_DURATION.to_owned()),
                    LATENCY_BUCKETS,
                )
                .map_err(|e| e.to_string())?
                .install_recorder()
                .map_err(|e| e.to_string())?;
            describe();
            Ok(handle)
        })
        .as_ref()
        .map_err(|e| Error::Config(format!("metrics recorder: {e}")))
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        names::REQUESTS,
        "Requests answered, by route template, method and status."
    );
    describe_histogram!(
        names::REQUEST_DURATION,
        Unit::Seconds,
        "Time from a request's arrival to its response, by route template and method."
    );
    describe_counter!(
        names::REQUEST_BYTES,
        Unit::Bytes,
        "Request body bytes received, by route template."
    );
    describe_counter!(
        names::RESPONSE_BYTES,
        Unit::Bytes,
        "Response body bytes sent, by route template."
    );
    describe_counter!(names::SYNCS, "Sync requests, by outcome.");
    describe_gauge!(names::DEVICES_ENROLLED, "Devices enrolled and not revoked.");
    describe_gauge!(
        names::DEVICES_ACTIVE,
        "Enrolled devices holding an unexpired session."
    );
    describe_gauge!(names::DEVICES_REVOKED, "Devices revoked, ever.");
    describe_gauge!(
        names::AUDIT_CHAIN_ROWS,
        "Rows in the hash-chained audit log."
    );
    describe_gauge!(
        names::DATABASE_BYTES,
        Unit::Bytes,
        "Bytes of the database (SQLite: its file and WAL; PostgreSQL: pg_database_size)."
    );
    describe_counter!(
        names::POSTGRES_STATEMENTS,
        "Statements this instance sent to PostgreSQL, BEGIN and COMMIT included."
    );
}

/// The figures read from the database at each scrape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inventory {
    /// Devices enrolled and not revoked.
    pub enrolled: i64,
    /// Of those, the ones holding an unexpired session.
    pub active: i64,
    /// Devices revoked.
    pub revoked: i64,
    /// Rows in the audit chain.
    pub audit_rows: i64,
}

/// Count the devices and audit rows at `now`.
pub fn inventory(conn: crate::sql::Conn<'_>, now: i64) -> Result<Inventory> {
    let (enrolled, revoked) = conn.query_row(
        "SELECT COUNT(*) FILTER (WHERE revoked_at IS NULL),
                COUNT(*) FILTER (WHERE revoked_at IS NOT NULL)
         FROM devices",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let active = conn.query_row(
        "SELECT COUNT(DISTINCT s.device_id) FROM sessions s
         JOIN devices d ON d.id = s.device_id
         WHERE s.expires_at > ?1 AND d.revoked_at IS NULL",
        [now],
        |r| r.get(0),
    )?;
    let audit_rows = conn.query_row("SELECT COUNT(*) FROM audit", [], |r| r.get(0))?;
    Ok(Inventory {
        enrolled,
        active,
        revoked,
        audit_rows,
    })
}

/// Set the gauges from the database (off the async executor), then render every metric.
pub async fn scrape(state: &AppState) -> Result<String> {
    let handle = install()?;
    let now = state.clock.now();
    let inventory = state.db.read(move |conn| inventory(conn, now)).await?;
    let db = state.db.clone();
    let bytes = tokio::task::spawn_blocking(move || db.size_bytes_blocking()).await??;
    // The gauges are process-wide: with several servers in one process (tests), one
    // scrape's gauges are set and rendered before another's are set.
    static SCRAPE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _one_at_a_time = SCRAPE.lock().await;
    {
        metrics::gauge!(names::DEVICES_ENROLLED).set(inventory.enrolled as f64);
        metrics::gauge!(names::DEVICES_ACTIVE).set(inventory.active as f64);
        metrics::gauge!(names::DEVICES_REVOKED).set(inventory.revoked as f64);
        metrics::gauge!(names::AUDIT_CHAIN_ROWS).set(inventory.audit_rows as f64);
        metrics::gauge!(names::DATABASE_BYTES).set(bytes as f64);
        if let Some(statements) = state.db.postgres_statements() {
            metrics::counter!(names::POSTGRES_STATEMENTS).absolute(statements);
        }
    }
    handle.run_upkeep();
    Ok(handle.render())
}

async fn metrics_page(State(state): State<AppState>) -> Response {
    match scrape(&state).await {
        Ok(body) => (
            [
                (
                    header::CONTENT_TYPE,
                    "text/plain; version=0.0.4; charset=utf-8",
                ),
                (header::CACHE_CONTROL, "no-store"),
            ],
            body,
        )
            .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "metrics scrape failed");
            (StatusCode::SERVICE_UNAVAILABLE, "metrics unavailable\n").into_response()
        }
    }
}

/// The metrics listener's routes: `/metrics`, and the probes `/healthz` and `/readyz`.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics_page))
        .route("/healthz", get(super::health::healthz))
        .route("/readyz", get(super::health::readyz))
        .with_state(state)
}

/// Serve [`router`] over plain HTTP on `listener` until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: CancellationToken,
) -> Result<()> {
    install()?;
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_inventory_counts_devices_sessions_and_audit_rows() {
        let dir = tempfile::tempdir().expect("tempdir");
        let opened = crate::open_data_dir(
            dir.path(),
            crate::Clock::manual(1_000),
            crate::Settings::default(),
        )
        .expect("open");
        let before = opened
            .state
            .db
            .read_blocking(|c| inventory(c, 1_000))
            .expect("inventory");
        opened
            .state
            .db
            .write_blocking(|tx| {
                let user: String = tx.query_row("SELECT id FROM users LIMIT 1", [], |r| r.get(0))?;
                for (id, revoked) in [("dev-a", None), ("dev-b", None), ("dev-c", Some(900_i64))] {
                    tx.execute(
                        "INSERT INTO devices (id, user_id, name, public_key, enrolled_at, revoked_at)
                         VALUES (?1, ?2, 'phone', x'00', 0, ?3)",
                        crate::params![id, user, revoked],
                    )?;
                }
                for (token, device, expires) in [(1_u8, "dev-a", 2_000_i64), (2, "dev-b", 500), (3, "dev-c", 2_000)] {
                    tx.execute(
                        "INSERT INTO sessions (token_hash, device_id, expires_at) VALUES (?1, ?2, ?3)",
                        crate::params![vec![token], device, expires],
                    )?;
                }
                Ok(())
            })
            .expect("seed");
        let after = opened
            .state
            .db
            .read_blocking(|c| inventory(c, 1_000))
            .expect("inventory");
        assert_eq!(after.enrolled, before.enrolled + 2);
        assert_eq!(after.revoked, before.revoked + 1);
        assert_eq!(
            after.active,
            before.active + 1,
            "only dev-a: dev-b's session expired, dev-c is revoked"
        );
        assert!(after.audit_rows >= before.audit_rows);
        assert!(opened.state.db.size_bytes_blocking().expect("size") > 0);
    }
}
