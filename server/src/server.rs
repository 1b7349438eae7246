//! Serving: the TLS accept loop with graceful shutdown, opening the data directory on first
//! start, and a helper that starts a real server for tests.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::admin;
use crate::conn_limits::{self, AcceptBackoff, Activity, ConnLimits, PausingBody};
use crate::db::Db;
use crate::error::{Error, Result};
use crate::http::router;
use crate::state::{AppState, Clock, Settings};
use crate::tls::TlsConfig;

/// How often certificate files are checked for changes.
pub const CERT_POLL_INTERVAL: Duration = Duration::from_secs(5);

/// The opened data directory: state ready to serve, and the first administrator's enrolment
/// code if this was the first start.
#[derive(Debug)]
pub struct Opened {
    /// Shared state for [`router`] and [`serve`].
    pub state: AppState,
    /// `Some` only on the first start.
    pub first_admin_code: Option<String>,
    /// Where the database key came from.
    pub key_origin: crate::db::KeyOrigin,
}

/// Open (creating on first start) the data directory and the database (`casebook.sqlite` in
/// it, or PostgreSQL when [`Settings::database`] names one), the root organisation and its
/// first administrator.
pub fn open_data_dir(data_dir: &Path, clock: Clock, settings: Settings) -> Result<Opened> {
    create_private_dir(data_dir)?;
    let db_path = data_dir.join("casebook.sqlite");
    let (key, key_origin) =
        crate::db::load_or_create_key(data_dir, settings.db_key_file.as_deref(), &db_path)?;
    let db = match &settings.database {
        Some(url) => Db::open_postgres(url, data_dir, &key)?,
        None => Db::open(&db_path, key)?,
    };
    tighten_modes(data_dir, &db_path)?;
    let state = AppState::new(db, clock, settings)?;
    let now = state.clock.now();
    state
        .db
        .write_blocking(|tx| crate::reports::facts::backfill(tx, now))?;
    crate::conflict_index::backfill(&state.db, now)?;
    let ttl = state.settings.admin_code_ttl;
    let first = state
        .db
        .write_blocking(|tx| admin::bootstrap(tx, now, ttl))?;
    Ok(Opened {
        state,
        first_admin_code: first.map(|(_, code)| code),
        key_origin,
    })
}

fn create_private_dir(dir: &Path) -> Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)?;
    Ok(())
}

/// A data directory made by hand or by an older version may be readable by others: make it
/// `0700`, and the database, its WAL and shared-memory files and the default key file `0600`,
/// on every start.
fn tighten_modes(data_dir: &Path, db_path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let set = |path: &Path, mode: u32| -> Result<()> {
            match std::fs::metadata(path) {
                Ok(meta) if meta.permissions().mode() & 0o777 != mode => {
                    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
                    tracing::info!(path = %path.display(), mode = format!("{mode:o}"), "tightened");
                    Ok(())
                }
                Ok(_) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(e.into()),
            }
        };
        set(data_dir, 0o700)?;
        let mut files = vec![
            db_path.to_owned(),
            data_dir.join(crate::db::DEFAULT_KEY_FILE),
        ];
        for suffix in ["-wal", "-shm", "-journal"] {
            let mut name = db_path.as_os_str().to_owned();
            name.push(suffix);
            files.push(PathBuf::from(name));
        }
        for file in &files {
            set(file, 0o600)?;
        }
    }
    #[cfg(not(unix))]
    let _ = (data_dir, db_path);
    Ok(())
}

/// Serve the API on `listener` (over TLS unless `tls` is `None`) until `shutdown` is
/// cancelled; then stop accepting, let in-flight requests finish, and close the database.
///
/// Connections beyond [`Settings::max_connections`] (or
/// [`Settings::max_connections_per_address`] from one address) are closed right after
/// `accept`, before any TLS work. When `accept` fails because the process is out of file
/// descriptors, the loop backs off (10 ms doubling to 1 s) while open connections carry on.
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsConfig>,
    state: AppState,
    shutdown: CancellationToken,
) -> Result<()> {
    let app = router(state.clone());
    let settings = Arc::clone(&state.settings);
    let tracker = TaskTracker::new();
    if let Some(tls) = &tls {
        let _ = state.cert_pin.set(tls.fingerprint());
        let _ = state.served_tls.set(tls.clone());
        tracker.spawn(tls.clone().watch(CERT_POLL_INTERVAL, shutdown.clone()));
    }
    let acceptor = tls.map(|t| TlsAcceptor::from(t.server_config()));
    let max_connections = conn_limits::effective_max_connections(
        settings.max_connections,
        conn_limits::fd_soft_limit(),
    );
    if max_connections < settings.max_connections {
        tracing::warn!(
            configured = settings.max_connections,
            max_connections,
            "connection cap lowered to fit the open-file limit (raise `ulimit -n`)"
        );
    }
    let limits = ConnLimits::new(max_connections, settings.max_connections_per_address);
    let mut backoff = AcceptBackoff::default();
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => {
                if backoff.in_streak() {
                    tracing::info!("accepting connections again");
                }
                backoff.succeeded();
                // A response goes out as several TLS records: without this, Nagle's algorithm
                // holds the last until the client's delayed ACK (40 ms) arrives.
                if let Err(e) = pair.0.set_nodelay(true) {
                    tracing::debug!(error = %e, "could not set TCP_NODELAY");
                }
                pair
            }
            Err(e) if conn_limits::is_resource_exhaustion(&e) => {
                if !backoff.in_streak() {
                    tracing::warn!(error = %e, open = limits.open(), "accept failed: out of resources; backing off");
                }
                let wait = backoff.failed();
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(wait) => continue,
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "accept failed");
                continue;
            }
        };
        let permit = match limits.admit(peer.ip()) {
            Ok(permit) => permit,
            Err(why) => {
                tracing::debug!(%peer, ?why, "connection refused: too many open");
                drop(stream);
                continue;
            }
        };
        let app = app.clone();
        let acceptor = acceptor.clone();
        let shutdown = shutdown.clone();
        let settings = Arc::clone(&settings);
        tracker.spawn(async move {
            let _permit = permit;
            match acceptor {
                Some(acceptor) => {
                    let handshake = acceptor.accept(stream);
                    match tokio::time::timeout(settings.tls_handshake_timeout, handshake).await {
                        Ok(Ok(tls)) => serve_connection(tls, peer, app, &settings, shutdown).await,
                        Ok(Err(e)) => tracing::debug!(error = %e, %peer, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
                None => serve_connection(stream, peer, app, &settings, shutdown).await,
            }
        });
    }
    drop(listener);
    tracing::info!("shutting down: waiting for in-flight requests");
    tracker.close();
    tracker.wait().await;
    let db = state.db.clone();
    tokio::task::spawn_blocking(move || db.close_blocking()).await??;
    tracing::info!("shut down cleanly");
    Ok(())
}

/// Serve HTTP/1.1 or HTTP/2 on one connection, under the timeouts of `settings`: each request
/// (and each pause in its body) is bounded, and the connection is closed gracefully when it
/// has been idle too long (before its first request or between requests) or the server shuts
/// down; a connection that does not finish closing within the request timeout is dropped.
async fn serve_connection<I>(
    io: I,
    peer: SocketAddr,
    app: Router,
    settings: &Settings,
    shutdown: CancellationToken,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = Activity::new();
    let request_timeout = settings.request_timeout;
    let body_pause = settings.body_pause_timeout;
    let tracked = Arc::clone(&activity);
    let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let busy = tracked.begin();
        let version = req.version();
        let (parts, body) = req.into_parts();
        let (body, paused) = PausingBody::new(body, body_pause);
        let mut req = hyper::Request::from_parts(parts, axum::body::Body::new(body));
        req.extensions_mut().insert(ConnectInfo(peer));
        let call = app.clone().oneshot(req);
        async move {
            let _busy = busy;
            let response = match tokio::time::timeout(request_timeout, call).await {
                Ok(Ok(response)) if !paused.load(Ordering::SeqCst) => response,
                Ok(Err(never)) => match never {},
                Ok(Ok(_)) | Err(_) => {
                    tracing::debug!(%peer, "request timed out");
                    conn_limits::timeout_response(version)
                }
            };
            Ok::<_, std::convert::Infallible>(response)
        }
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(settings.h2_keep_alive_interval)
        .keep_alive_timeout(settings.h2_keep_alive_timeout)
        .max_concurrent_streams(settings.h2_max_concurrent_streams);
    let conn = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    let idle = activity.idle(settings.first_request_timeout, settings.idle_timeout);
    let finished = tokio::select! {
        res = conn.as_mut() => Some(res),
        () = shutdown.cancelled() => None,
        () = idle => {
            tracing::debug!(%peer, "closing an idle connection");
            None
        }
    };
    let res = match finished {
        Some(res) => res,
        None => {
            conn.as_mut().graceful_shutdown();
            match tokio::time::timeout(request_timeout, conn).await {
                Ok(res) => res,
                Err(_) => {
                    tracing::debug!(%peer, "connection did not close in time; dropped");
                    return;
                }
            }
        }
    };
    if let Err(e) = res {
        tracing::debug!(error = %e, %peer, "connection ended with an error");
    }
}

/// Refuse a plaintext listener on anything but a loopback address.
pub fn check_insecure_listen(addr: &SocketAddr) -> Result<()> {
    if addr.ip().is_loopback() {
        Ok(())
    } else {
        Err(Error::Config(format!(
            "--insecure-loopback-for-tests refuses the non-loopback address {addr}"
        )))
    }
}

/// A real server on `127.0.0.1:<random port>` over TLS, for tests.
#[derive(Debug)]
pub struct TestServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// DER of its self-signed certificate (trust only this).
    pub cert_der: Vec<u8>,
    /// The SPKI pin devices trust: hex SHA-256 of `cert_der`'s SubjectPublicKeyInfo
    /// (stays the same when the certificate is renewed with the same key).
    pub cert_fingerprint: String,
    /// A one-time enrolment code for the root organisation's first administrator.
    pub admin_code: String,
    /// The data directory.
    pub data_dir: PathBuf,
    /// The TLS configuration (to reload certificates in tests).
    pub tls: TlsConfig,
    /// The state the server runs on (its database and clock).
    pub state: AppState,
    /// Where its metrics listener (plain HTTP, `/metrics`) listens.
    pub metrics_addr: SocketAddr,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<Result<()>>,
}

impl TestServer {
    /// `https://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// Stop it gracefully and wait until the database is closed.
    pub async fn shutdown(self) -> Result<()> {
        self.shutdown.cancel();
        self.task.await?
    }
}

/// Start a real TLS server for tests on `data_dir` (created if needed), with a self-signed
/// development certificate and the system clock.
pub async fn start_for_tests(data_dir: &Path) -> Result<TestServer> {
    start_for_tests_with(data_dir, Clock::System, Settings::default()).await
}

/// The environment variable that runs the test servers on PostgreSQL: the URL of a cluster's
/// `postgres` database as a role that may create databases
/// (`postgresql://casebook@/postgres?host=/tmp/dir&port=5433`, as `scripts/pg-cluster.sh`
/// prints it). Each data directory gets a database of its own there.
pub const TEST_POSTGRES_ENV: &str = "CASEBOOK_TEST_POSTGRES";

/// The PostgreSQL URL the test server on `data_dir` uses when [`TEST_POSTGRES_ENV`] is set
/// (creating its database on first use), or `None` for SQLite.
pub async fn test_postgres_url(data_dir: &Path) -> Result<Option<String>> {
    let Ok(admin) = std::env::var(TEST_POSTGRES_ENV) else {
        return Ok(None);
    };
    if admin.is_empty() {
        return Ok(None);
    }
    create_test_database(&admin, data_dir).await.map(Some)
}

/// The URL of a database of its own for the test server on `data_dir`, in the cluster whose
/// `postgres` database `admin` names (created on first use).
pub async fn create_test_database(admin: &str, data_dir: &Path) -> Result<String> {
    use sha2::Digest;
    let name = format!(
        "casebook_test_{}",
        &hex::encode(sha2::Sha256::digest(
            data_dir.as_os_str().as_encoded_bytes()
        ))[..20]
    );
    let url = admin.replacen("/postgres", &format!("/{name}"), 1);
    if url == *admin {
        return Err(Error::Config(format!(
            "{TEST_POSTGRES_ENV} must name the `postgres` database (…/postgres?host=…)"
        )));
    }
    let (client, connection) = tokio_postgres::connect(admin, tokio_postgres::NoTls)
        .await
        .map_err(|e| Error::Config(format!("{TEST_POSTGRES_ENV}: {e}")))?;
    let driver = tokio::spawn(connection);
    let exists = client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await
        .map_err(|e| Error::Config(format!("{TEST_POSTGRES_ENV}: {e}")))?
        .is_some();
    if !exists {
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .map_err(|e| Error::Config(format!("{TEST_POSTGRES_ENV}: {e}")))?;
    }
    drop(client);
    let _ = driver.await;
    Ok(url)
}

/// [`start_for_tests`] with a chosen clock and settings.
pub async fn start_for_tests_with(
    data_dir: &Path,
    clock: Clock,
    mut settings: Settings,
) -> Result<TestServer> {
    if settings.database.is_none() {
        settings.database = test_postgres_url(data_dir).await?;
    }
    let dir = data_dir.to_owned();
    let (opened, tls) = tokio::task::spawn_blocking(move || {
        let opened = open_data_dir(&dir, clock, settings)?;
        let tls = TlsConfig::development(&dir)?;
        Ok::<_, Error>((opened, tls))
    })
    .await??;
    let state = opened.state;
    let admin_code = match opened.first_admin_code {
        Some(code) => code,
        None => {
            let now = state.clock.now();
            let ttl = state.settings.admin_code_ttl;
            state
                .db
                .write(move |tx| admin::first_admin_code(tx, now, ttl))
                .await?
                .1
        }
    };
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let shutdown = CancellationToken::new();
    let metrics_listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let metrics_addr = metrics_listener.local_addr()?;
    crate::observe::metrics::install()?;
    tokio::spawn(crate::observe::metrics::serve(
        metrics_listener,
        state.clone(),
        shutdown.clone(),
    ));
    let task = tokio::spawn(serve(
        listener,
        Some(tls.clone()),
        state.clone(),
        shutdown.clone(),
    ));
    Ok(TestServer {
        addr,
        cert_der: tls.cert_der(),
        cert_fingerprint: tls.fingerprint(),
        admin_code,
        data_dir: data_dir.to_owned(),
        tls,
        state,
        metrics_addr,
        shutdown,
        task,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insecure_listener_only_on_loopback() {
        let ok: SocketAddr = "127.0.0.1:0".parse().expect("addr");
        let ok6: SocketAddr = "[::1]:0".parse().expect("addr");
        let bad: SocketAddr = "0.0.0.0:8080".parse().expect("addr");
        assert!(check_insecure_listen(&ok).is_ok());
        assert!(check_insecure_listen(&ok6).is_ok());
        assert!(matches!(check_insecure_listen(&bad), Err(Error::Config(_))));
    }
}
