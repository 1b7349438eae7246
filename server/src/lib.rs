//! Casebook's sync server: devices enrol with a one-time code, authenticate every session by
//! signing a fresh challenge, and exchange automerge sync messages for the documents of the
//! cases they may see. Access is decided from the server's own tables; every enrolment,
//! authentication, read, write, denial, revocation and purge is recorded in a hash-chained
//! audit log.
//!
//! Start a real server (TLS, self-signed development certificate) the way tests do:
//!
//! ```no_run
//! # async fn demo() -> casebook_server::Result<()> {
//! let dir = std::env::temp_dir().join("casebook-demo");
//! let server = casebook_server::start_for_tests(&dir).await?;
//! println!("{} pinned to {}", server.base_url(), server.cert_fingerprint);
//! println!("first administrator's enrolment code: {}", server.admin_code);
//! server.shutdown().await?;
//! # Ok(())
//! # }
//! ```
//!
//! Or build the router alone and drive it in-process:
//!
//! ```no_run
//! # fn demo(dir: &std::path::Path) -> casebook_server::Result<()> {
//! use casebook_server::{Clock, Settings, open_data_dir, router};
//! let opened = open_data_dir(dir, Clock::System, Settings::default())?;
//! let app: axum::Router = router(opened.state);
//! # let _ = app;
//! # Ok(())
//! # }
//! ```
//!
//! `docs/protocol.md` describes the endpoints and the sync exchange.

pub mod access;
pub mod admin;
pub mod alerts;
pub mod attachments;
pub mod audit;
pub mod auth;
pub mod backup;
pub mod cli;
pub mod conflict_index;
pub mod conn_limits;
pub mod console;
pub mod db;
pub mod deadline_index;
pub mod deadlines;
pub mod directory;
pub mod error;
pub mod http;
pub mod interpreter_links;
pub mod names;
pub mod observe;
pub mod person_edits;
pub mod police_pack;
pub mod rate_limit;
pub mod reports;
pub mod review;
pub mod schema;
pub mod sealing;
pub mod server;
pub mod shared_persons;
mod signals;
pub mod sql;
pub mod state;
pub mod sync;
pub mod sync_guard;
pub mod tls;
pub mod write_rules;

pub use error::{Error, Result};
pub use http::router;
pub use server::{
    Opened, TEST_POSTGRES_ENV, TestServer, create_test_database, open_data_dir, serve,
    start_for_tests, start_for_tests_with, test_postgres_url,
};
pub use state::{AppState, Clock, Settings};
pub use tls::TlsConfig;
