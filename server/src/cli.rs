//! The command line: configuration from flags, `CASEBOOK_*` environment variables or a TOML
//! file (in that order of precedence), and the `serve`, `admin` and `audit` commands.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::admin;
use crate::audit::anchors::{self, AnchorConfig, AnchorVerdict};
use crate::audit::{self, Verdict};
use crate::db::Db;
use crate::error::{Error, Result};
pub use crate::observe::logs::LogFormat;
use crate::server::{check_insecure_listen, open_data_dir, serve};
use crate::state::{Clock, Settings};
use crate::tls::TlsConfig;

/// Default data directory.
pub const DEFAULT_DATA_DIR: &str = "./casebook-data";
/// Default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8443";

/// Casebook's sync server.
#[derive(Debug, Parser)]
#[command(name = "casebook-server", version, about)]
pub struct Cli {
    /// A TOML file with `data_dir`, `listen`, `tls_cert`, `tls_key`.
    #[arg(long, env = "CASEBOOK_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Data directory (database, development certificate). Default ./casebook-data.
    #[arg(long, env = "CASEBOOK_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// Listen address. Default 127.0.0.1:8443.
    #[arg(long, env = "CASEBOOK_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// PEM certificate chain (reloaded when it changes or on SIGHUP).
    #[arg(long, env = "CASEBOOK_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key.
    #[arg(long, env = "CASEBOOK_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// File holding the database key (64 hex characters, mode 600). Default
    /// `<data-dir>/db.key`, created on first start; in production keep it outside the data
    /// directory.
    #[arg(long, env = "CASEBOOK_DB_KEY_FILE", global = true)]
    pub db_key_file: Option<PathBuf>,
    /// The database: a PostgreSQL URL (`postgres://user@host/db`, `?sslmode=require` with
    /// `&sslrootcert=FILE` for TLS). Default: the embedded SQLite database in the data
    /// directory. The data directory still holds the key file, whose key seals what the
    /// server writes to PostgreSQL.
    #[arg(long, env = "CASEBOOK_DATABASE", global = true)]
    pub database: Option<String>,
    /// Serve plain HTTP, on a loopback address only. For tests; never in production.
    #[arg(long)]
    pub insecure_loopback_for_tests: bool,
    /// The Ed25519 key that signs the audit chain's head (64 hex characters, mode 600).
    /// Default `<data-dir>/audit-signing.key`, created on first start; in production keep
    /// it away from the database and its key (someone holding both can rewrite the log).
    #[arg(long, env = "CASEBOOK_AUDIT_SIGNING_KEY_FILE", global = true)]
    pub audit_signing_key_file: Option<PathBuf>,
    /// Append-only JSON-lines file of signed audit chain heads. Default
    /// `<data-dir>.audit-anchors.jsonl` beside the data directory; ship it elsewhere.
    #[arg(long, env = "CASEBOOK_AUDIT_ANCHORS")]
    pub audit_anchors: Option<PathBuf>,
    /// Anchor the audit chain after this many new rows (default 1000).
    #[arg(long, env = "CASEBOOK_AUDIT_ANCHOR_ROWS")]
    pub audit_anchor_rows: Option<u64>,
    /// Anchor new audit rows at least this often, in seconds (default 300).
    #[arg(long, env = "CASEBOOK_AUDIT_ANCHOR_SECS")]
    pub audit_anchor_secs: Option<u64>,
    /// Write the first administrator's one-time enrolment code to this new file (mode 600,
    /// never overwritten) instead of printing it.
    #[arg(long, env = "CASEBOOK_ADMIN_CODE_FILE", global = true)]
    pub admin_code_file: Option<PathBuf>,
    /// Where to serve Prometheus metrics (`/metrics`, with `/healthz` and `/readyz`) over
    /// plain HTTP, or `off`. Default 127.0.0.1:9464; never the public listen address.
    #[arg(long, env = "CASEBOOK_METRICS_LISTEN")]
    pub metrics_listen: Option<String>,
    /// Log lines as `text` (the default) or `json` (one object a line).
    #[arg(long, env = "CASEBOOK_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// `/readyz` fails when the data directory's filesystem has fewer MiB free (default
    /// 1024).
    #[arg(long, env = "CASEBOOK_MIN_FREE_DISK_MB")]
    pub min_free_disk_mb: Option<u64>,
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Serve,
    /// Administration from the server's own machine.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// The audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Print the casework report of an organisation for a period (counts only; CSV is
    /// small-number suppressed, JSON only with `--suppress`).
    Report(ReportArgs),
    /// Copy the database to a file while the server runs (SQLite's online backup; the copy
    /// stays encrypted under the database key).
    Backup(BackupArgs),
    /// Restore a backup into a new or empty `--data-dir` (give `--db-key-file`: the key of
    /// the server the backup was taken from).
    Restore(RestoreArgs),
    /// Copy an embedded SQLite deployment (stopped) into a new PostgreSQL database, all or
    /// nothing; then run the server with `--database` and the same key file.
    Migrate(MigrateArgs),
    /// Change the database key, with every server stopped: re-encrypt the SQLite database (or
    /// re-seal every sealed PostgreSQL value) under a new key, then put the new key in the key
    /// file and keep the old one beside it as `<key file>.retired-<time>` (backups taken
    /// before open only with it). Safe to run again if interrupted.
    RotateKey,
}

/// `migrate` arguments.
#[derive(Debug, clap::Args)]
pub struct MigrateArgs {
    /// The SQLite deployment's data directory (its key file is `--db-key-file`, or `db.key`
    /// in it).
    #[arg(long, value_name = "DIR")]
    pub from_sqlite: PathBuf,
    /// The PostgreSQL database to fill (new, or holding no organisation, document, device
    /// or audit row).
    #[arg(long, value_name = "URL")]
    pub to: String,
}

/// `backup` arguments.
#[derive(Debug, clap::Args)]
pub struct BackupArgs {
    /// The backup file to write (replaced only once the new copy is whole).
    #[arg(long)]
    pub to: PathBuf,
}

/// `restore` arguments.
#[derive(Debug, clap::Args)]
pub struct RestoreArgs {
    /// The backup file written by `backup`.
    #[arg(long)]
    pub from: PathBuf,
}

/// `report` arguments.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// The organisation's id.
    #[arg(long)]
    pub org: String,
    /// First day, YYYY-MM-DD.
    #[arg(long)]
    pub from: String,
    /// Last day, YYYY-MM-DD.
    #[arg(long)]
    pub to: String,
    /// `json` (default) or `csv`.
    #[arg(long, default_value = "json")]
    pub format: String,
    /// Show counts from 1 to 4 as "fewer than 5" in JSON too (CSV always does).
    #[arg(long)]
    pub suppress: bool,
    /// Write the report to this new file instead of standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// `admin` subcommands.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Issue a new one-time enrolment code for the first administrator.
    AdminCode,
}

/// `audit` subcommands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain (and, with `--anchors`, that it holds every signed head);
    /// exits non-zero at the first broken link, truncation or rewrite.
    Verify {
        /// The anchors file written by the server (`--audit-anchors`). Without it, rows
        /// removed from the end of the log together with the head in `meta` go unseen.
        #[arg(long)]
        anchors: Option<PathBuf>,
        /// The anchors' Ed25519 public key in hex, as printed at start. Default: derived
        /// from the signing key file.
        #[arg(long, requires = "anchors")]
        public_key: Option<String>,
    },
    /// Print the rows for a case or a user as JSON lines.
    Export {
        /// A case id.
        #[arg(long, conflicts_with = "user", required_unless_present = "user")]
        case: Option<String>,
        /// A user id.
        #[arg(long)]
        user: Option<String>,
    },
}

/// The config file's shape.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    listen: Option<SocketAddr>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    db_key_file: Option<PathBuf>,
    database: Option<String>,
    audit_signing_key_file: Option<PathBuf>,
    audit_anchors: Option<PathBuf>,
    audit_anchor_rows: Option<u64>,
    audit_anchor_secs: Option<u64>,
    metrics_listen: Option<String>,
    log_format: Option<LogFormat>,
    min_free_disk_mb: Option<u64>,
}

/// Resolved configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Data directory.
    pub data_dir: PathBuf,
    /// Listen address.
    pub listen: SocketAddr,
    /// Certificate and key PEM files; `None` means the development certificate.
    pub tls_files: Option<(PathBuf, PathBuf)>,
    /// Plain HTTP on loopback.
    pub insecure_loopback_for_tests: bool,
    /// The database key file; `None` means `<data-dir>/db.key`.
    pub db_key_file: Option<PathBuf>,
    /// A PostgreSQL URL; `None` means SQLite in the data directory.
    pub database: Option<String>,
    /// Audit anchoring: signing key, anchors file, how often.
    pub anchors: AnchorConfig,
    /// Where to write the first administrator's code; `None` prints it.
    pub admin_code_file: Option<PathBuf>,
    /// The metrics listener; `None` when turned off.
    pub metrics_listen: Option<SocketAddr>,
    /// The log format.
    pub log_format: LogFormat,
    /// `/readyz`'s minimum free space in the data directory, in bytes.
    pub min_free_disk_bytes: u64,
}

impl Config {
    /// Server settings for this configuration.
    pub fn settings(&self) -> Settings {
        Settings {
            db_key_file: self.db_key_file.clone(),
            database: self.database.clone(),
            min_free_disk_bytes: self.min_free_disk_bytes,
            ..Settings::default()
        }
    }
}

impl Cli {
    /// Merge flags and environment over the config file over the defaults.
    pub fn resolve(&self) -> Result<Config> {
        let file = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)?;
                toml::from_str::<FileConfig>(&text)
                    .map_err(|e| Error::Config(format!("{}: {e}", path.display())))?
            }
            None => FileConfig::default(),
        };
        let listen = match self.listen.or(file.listen) {
            Some(addr) => addr,
            None => DEFAULT_LISTEN
                .parse()
                .map_err(|_| Error::Config("default listen address".into()))?,
        };
        let cert = self.tls_cert.clone().or(file.tls_cert);
        let key = self.tls_key.clone().or(file.tls_key);
        let tls_files = match (cert, key) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            _ => {
                return Err(Error::Config(
                    "give both a TLS certificate and a key".into(),
                ));
            }
        };
        if self.insecure_loopback_for_tests {
            check_insecure_listen(&listen)?;
            if tls_files.is_some() {
                return Err(Error::Config(
                    "--insecure-loopback-for-tests cannot be combined with a certificate".into(),
                ));
            }
        }
        let data_dir = self
            .data_dir
            .clone()
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        let anchors = AnchorConfig {
            key_file: self
                .audit_signing_key_file
                .clone()
                .or(file.audit_signing_key_file)
                .unwrap_or_else(|| data_dir.join(anchors::DEFAULT_SIGNING_KEY_FILE)),
            anchors_file: self
                .audit_anchors
                .clone()
                .or(file.audit_anchors)
                .unwrap_or_else(|| anchors::default_anchors_file(&data_dir)),
            every_rows: self
                .audit_anchor_rows
                .or(file.audit_anchor_rows)
                .unwrap_or(anchors::DEFAULT_EVERY_ROWS)
                .max(1),
            every_secs: self
                .audit_anchor_secs
                .or(file.audit_anchor_secs)
                .unwrap_or(anchors::DEFAULT_EVERY_SECS)
                .max(1),
        };
        let metrics_listen = match self
            .metrics_listen
            .clone()
            .or(file.metrics_listen)
            .as_deref()
            .unwrap_or(crate::observe::metrics::DEFAULT_LISTEN)
        {
            "off" => None,
            text => {
                let addr: SocketAddr = text.parse().map_err(|_| {
                    Error::Config(format!(
                        "--metrics-listen: {text:?} is not an address (or `off`)"
                    ))
                })?;
                if addr == listen {
                    return Err(Error::Config(
                        "--metrics-listen: metrics are never served on the public listen address"
                            .into(),
                    ));
                }
                Some(addr)
            }
        };
        let min_free_disk_bytes = self
            .min_free_disk_mb
            .or(file.min_free_disk_mb)
            .map_or(Settings::default().min_free_disk_bytes, |mb| {
                mb.saturating_mul(1 << 20)
            });
        Ok(Config {
            metrics_listen,
            log_format: self.log_format.or(file.log_format).unwrap_or_default(),
            min_free_disk_bytes,
            data_dir,
            listen,
            tls_files,
            insecure_loopback_for_tests: self.insecure_loopback_for_tests,
            db_key_file: self.db_key_file.clone().or(file.db_key_file),
            database: self.database.clone().or(file.database),
            anchors,
            admin_code_file: self.admin_code_file.clone(),
        })
    }
}

/// Run the command line; returns the process exit code.
pub async fn run(cli: Cli) -> Result<ExitCode> {
    let config = cli.resolve()?;
    match cli.command {
        None | Some(Command::Serve) => run_server(config).await.map(|()| ExitCode::SUCCESS),
        Some(Command::Admin(AdminCommand::AdminCode)) => {
            let dir = config.data_dir.clone();
            let settings = config.settings();
            let (admin, code) = tokio::task::spawn_blocking(move || {
                let opened = open_data_dir(&dir, Clock::System, settings)?;
                let state = opened.state;
                let now = state.clock.now();
                let ttl = state.settings.admin_code_ttl;
                state
                    .db
                    .write_blocking(|tx| admin::first_admin_code(tx, now, ttl))
            })
            .await??;
            let valid = valid_for(config.settings().admin_code_ttl);
            match &config.admin_code_file {
                Some(path) => {
                    admin::write_code_file(path, &code)?;
                    println!(
                        "enrolment code for administrator {admin} ({valid}, single use) \
                         written to {}",
                        path.display()
                    );
                }
                None => {
                    println!("enrolment code for administrator {admin} ({valid}, single use):");
                    println!("{code}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Audit(cmd)) => {
            tokio::task::spawn_blocking(move || run_audit(&config, cmd)).await?
        }
        Some(Command::Report(args)) => {
            tokio::task::spawn_blocking(move || run_report(&config, &args)).await?
        }
        Some(Command::Backup(args)) => {
            tokio::task::spawn_blocking(move || crate::backup::cli::backup(&config, &args.to))
                .await?
        }
        Some(Command::Restore(args)) => {
            tokio::task::spawn_blocking(move || crate::backup::cli::restore(&config, &args.from))
                .await?
        }
        Some(Command::Migrate(args)) => {
            tokio::task::spawn_blocking(move || run_migrate(&config, &args)).await?
        }
        Some(Command::RotateKey) => {
            tokio::task::spawn_blocking(move || run_rotate_key(&config)).await?
        }
    }
}

/// `casebook-server rotate-key`.
fn run_rotate_key(config: &Config) -> Result<ExitCode> {
    let target = crate::db::rotate::Target {
        data_dir: &config.data_dir,
        key_file: config.db_key_file.as_deref(),
        database: config.database.as_deref(),
    };
    let rotated = crate::db::rotate::rotate(&target, |table, rows| {
        if rows % 5000 == 0 {
            eprintln!("  {table}: {rows} values re-sealed");
        }
    })?;
    for (table, rows) in &rotated.resealed {
        println!("{table}: {rows}");
    }
    println!(
        "the database is now under key {} in {}",
        rotated.new_key_id,
        rotated.key_file.display()
    );
    if let Some(retired) = &rotated.retired_key {
        println!(
            "the old key is kept in {}: backups taken before now open only with it; delete it \
             once they have expired",
            retired.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `casebook-server migrate --from-sqlite DIR --to URL`.
fn run_migrate(config: &Config, args: &MigrateArgs) -> Result<ExitCode> {
    let key_path = config
        .db_key_file
        .clone()
        .unwrap_or_else(|| args.from_sqlite.join(crate::db::DEFAULT_KEY_FILE));
    let sqlite = existing_db(&args.from_sqlite, Some(&key_path))?;
    let key = crate::db::read_key(&key_path)?;
    let postgres = Db::open_postgres(&args.to, &args.from_sqlite, &key)?;
    let copied = crate::db::to_postgres::copy(&sqlite, &postgres, |table, rows| {
        if rows % 5000 == 0 {
            eprintln!("  {table}: {rows} rows");
        }
    })?;
    let total: u64 = copied.values().sum();
    for (table, rows) in &copied {
        println!("{table}: {rows}");
    }
    println!(
        "copied {total} rows of {} tables; run the server with --database and the key file {}",
        copied.len(),
        key_path.display()
    );
    postgres.close_blocking()?;
    Ok(ExitCode::SUCCESS)
}

/// `casebook-server report`: bad input is refused (naming the option) before the database
/// is opened.
fn run_report(config: &Config, args: &ReportArgs) -> Result<ExitCode> {
    use crate::reports::{Format, ReportQuery};
    let query = ReportQuery {
        from: Some(args.from.clone()),
        to: Some(args.to.clone()),
        format: Some(args.format.clone()),
        suppress: Some(args.suppress.to_string()),
    };
    let (period, format, suppress) = query.parse().map_err(|e| match e {
        Error::BadRequest(m) => Error::Config(format!("--{m}")),
        other => other,
    })?;
    if args.out.as_ref().is_some_and(|p| p.exists()) {
        return Err(Error::Config(
            "--out: the file exists (a report never overwrites one)".into(),
        ));
    }
    let db = configured_db(config)?;
    let now = chrono::Utc::now().timestamp();
    db.write_blocking(|tx| crate::reports::facts::backfill(tx, now))?;
    let report = crate::reports::for_operator(&db, &args.org, period, format, suppress, now)
        .map_err(|e| match e {
            Error::BadRequest(m) => Error::Config(m),
            other => other,
        })?;
    let text = match format {
        Format::Json => {
            let mut t = serde_json::to_string_pretty(&report.to_json(suppress))
                .map_err(|e| Error::Corrupt(format!("report: {e}")))?;
            t.push('\n');
            t
        }
        Format::Csv => report.to_csv(),
    };
    match &args.out {
        Some(path) => {
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)?;
            file.write_all(text.as_bytes())?;
        }
        None => std::io::stdout().lock().write_all(text.as_bytes())?,
    }
    Ok(ExitCode::SUCCESS)
}

/// "valid 1 hour", "valid 90 minutes": how long a code lasts, for the operator.
fn valid_for(ttl: i64) -> String {
    match ttl {
        3600 => "valid 1 hour".to_owned(),
        t if t % 3600 == 0 => format!("valid {} hours", t / 3600),
        t => format!("valid {} minutes", t / 60),
    }
}

/// The configured database for the CLI's tools: PostgreSQL when `--database` names one
/// (opened with the key file, which its sealed rows need), else the data directory's SQLite.
pub fn configured_db(config: &Config) -> Result<Db> {
    match &config.database {
        Some(url) => {
            let key_path = config
                .db_key_file
                .clone()
                .unwrap_or_else(|| config.data_dir.join(crate::db::DEFAULT_KEY_FILE));
            Db::open_postgres(url, &config.data_dir, &crate::db::read_key(&key_path)?)
        }
        None => existing_db(&config.data_dir, config.db_key_file.as_deref()),
    }
}

/// Open the existing database of `data_dir` with its key (for inspection and the CLI).
pub fn existing_db(data_dir: &Path, key_file: Option<&Path>) -> Result<Db> {
    let path = data_dir.join("casebook.sqlite");
    if !path.exists() {
        return Err(Error::Config(format!("no database at {}", path.display())));
    }
    let key_path = key_file.map_or_else(
        || data_dir.join(crate::db::DEFAULT_KEY_FILE),
        Path::to_owned,
    );
    Db::open(&path, crate::db::read_key(&key_path)?)
}

fn run_audit(config: &Config, cmd: AuditCommand) -> Result<ExitCode> {
    let db = configured_db(config)?;
    match cmd {
        AuditCommand::Verify {
            anchors,
            public_key,
        } => {
            let rows = match db.read_blocking(audit::verify)? {
                Verdict::Intact(n) => n,
                Verdict::Broken(link) => {
                    println!("audit chain broken at row {}: {}", link.row_id, link.reason);
                    return Ok(ExitCode::from(2));
                }
            };
            let Some(anchors_file) = anchors else {
                println!("audit chain intact: {rows} rows");
                println!("  (no --anchors given: rows removed from the end cannot be detected)");
                return Ok(ExitCode::SUCCESS);
            };
            let key = match public_key {
                Some(text) => anchors::parse_public_key(&text)?,
                None => anchors::read_key(&config.anchors.key_file)
                    .map_err(|e| {
                        Error::Config(format!(
                            "no --public-key given and the signing key {} cannot be read: {e}",
                            config.anchors.key_file.display()
                        ))
                    })?
                    .verifying_key(),
            };
            let verdict = db.read_blocking(|c| anchors::verify_anchors(c, &anchors_file, &key))?;
            match verdict {
                AnchorVerdict::Consistent {
                    anchors,
                    newest_row,
                } => {
                    println!(
                        "audit chain intact: {rows} rows; {anchors} signed anchors hold, \
                         the newest at row {newest_row}"
                    );
                    Ok(ExitCode::SUCCESS)
                }
                AnchorVerdict::BadAnchor { line, reason } => {
                    println!("audit anchors file tampered with at line {line}: {reason}");
                    Ok(ExitCode::from(3))
                }
                AnchorVerdict::Truncated {
                    chain_ends_at,
                    anchored_row,
                } => {
                    println!(
                        "audit chain truncated: it ends at row {chain_ends_at} but row \
                         {anchored_row} was anchored"
                    );
                    Ok(ExitCode::from(2))
                }
                AnchorVerdict::Mismatch { row_id } => {
                    println!(
                        "audit chain rewritten: row {row_id} does not match its signed anchor"
                    );
                    Ok(ExitCode::from(2))
                }
            }
        }
        AuditCommand::Export { case, user } => {
            let filter = match (case, user) {
                (Some(c), None) => audit::Filter::Case(c),
                (None, Some(u)) => audit::Filter::User(u),
                _ => return Err(Error::Config("give exactly one of --case or --user".into())),
            };
            let rows = db.read_blocking(|c| audit::export(c, &filter))?;
            let mut out = std::io::stdout().lock();
            for row in rows {
                let line = serde_json::to_string(&row)
                    .map_err(|e| Error::Corrupt(format!("audit row: {e}")))?;
                writeln!(out, "{line}")?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn run_server(config: Config) -> Result<()> {
    // Before anything is printed: a supervisor may signal as soon as it reads the banner.
    let stop_signals = crate::signals::StopSignals::register();
    let dir = config.data_dir.clone();
    let tls_files = config.tls_files.clone();
    let insecure = config.insecure_loopback_for_tests;
    let settings = config.settings();
    let anchor_config = config.anchors.clone();
    let (opened, tls, anchorer, key_created) = tokio::task::spawn_blocking(move || {
        let opened = open_data_dir(&dir, Clock::System, settings)?;
        let tls = match (&tls_files, insecure) {
            (Some((cert, key)), _) => Some(TlsConfig::from_pem_files(cert, key)?),
            (None, true) => None,
            (None, false) => Some(TlsConfig::development(&dir)?),
        };
        let (key, created) = anchors::load_or_create_key(&anchor_config.key_file)?;
        let anchorer = anchors::Anchorer::new(key, anchor_config);
        Ok::<_, Error>((opened, tls, anchorer, created))
    })
    .await??;
    let listener = TcpListener::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    let metrics_listener = match config.metrics_listen {
        Some(at) => Some(
            TcpListener::bind(at)
                .await
                .map_err(|e| Error::Config(format!("--metrics-listen {at}: {e}")))?,
        ),
        None => None,
    };
    println!("casebook-server");
    println!("  data directory: {}", config.data_dir.display());
    match (&tls, &config.tls_files) {
        (Some(tls), Some((cert, _))) => {
            println!("  listening on https://{addr} with {}", cert.display());
            println!("  public key SPKI SHA-256 (pin): {}", tls.spki_pin());
            println!("  certificate SHA-256: {}", tls.leaf_fingerprint());
        }
        (Some(tls), None) => {
            println!("  listening on https://{addr} with a self-signed development certificate");
            println!("  public key SPKI SHA-256 (pin this): {}", tls.spki_pin());
            println!("  (renewals reuse the key in tls/dev-key.pem, so the pin stays)");
            println!(
                "  (also written to {})",
                config.data_dir.join("cert.sha256").display()
            );
        }
        (None, _) => println!("  listening on http://{addr} WITHOUT TLS (tests only)"),
    }
    if tls.is_some() {
        println!(
            "  console (a browser signs in with the one-time code below): https://{addr}/console/"
        );
    }
    let protection = match opened.state.db.engine() {
        crate::sql::Engine::Sqlite => "database encrypted (SQLCipher)",
        crate::sql::Engine::Postgres => "database on PostgreSQL, case content sealed",
    };
    match &opened.key_origin {
        crate::db::KeyOrigin::Generated(path) => {
            println!(
                "  {protection} with a new key written to {}",
                path.display()
            );
            println!("  production: keep the key outside the data directory (--db-key-file)");
        }
        crate::db::KeyOrigin::Loaded(path) => {
            println!("  {protection} with the key in {}", path.display());
        }
    }
    let public = anchorer.public_key();
    println!(
        "  audit chain anchored to {} (Ed25519 key {} in {}{})",
        config.anchors.anchors_file.display(),
        anchors::key_id(&public),
        config.anchors.key_file.display(),
        if key_created { ", new" } else { "" }
    );
    println!(
        "  audit anchor public key (for audit verify --public-key): {}",
        hex::encode(public.as_bytes())
    );
    if let Some(code) = &opened.first_admin_code {
        let valid = valid_for(opened.state.settings.admin_code_ttl);
        println!("  first start: created the default organisation and its administrator");
        match &config.admin_code_file {
            Some(path) => {
                admin::write_code_file(path, code)?;
                println!(
                    "  one-time administrator enrolment code ({valid}) written to {}",
                    path.display()
                );
            }
            None => println!("  one-time administrator enrolment code ({valid}): {code}"),
        }
    }
    let shutdown = CancellationToken::new();
    tokio::spawn(stop_signals.cancel_on_signal(shutdown.clone()));
    if let Some(metrics_listener) = metrics_listener {
        println!(
            "  metrics (Prometheus, plain HTTP): http://{}/metrics",
            metrics_listener.local_addr()?
        );
        let state = opened.state.clone();
        let stop = shutdown.clone();
        tokio::spawn(async move {
            if let Err(e) = crate::observe::metrics::serve(metrics_listener, state, stop).await {
                tracing::error!(error = %e, "the metrics listener stopped");
            }
        });
    }
    let stop_anchoring = CancellationToken::new();
    let anchoring = anchors::spawn(
        anchorer,
        opened.state.db.clone(),
        opened.state.clock.clone(),
        stop_anchoring.clone(),
    );
    let served = serve(listener, tls, opened.state, shutdown).await;
    // A last anchor over everything written before the connections drained.
    stop_anchoring.cancel();
    anchoring
        .await
        .map_err(|e| Error::Task(format!("audit anchoring: {e}")))?;
    served
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli(args: &[&str]) -> Cli {
        let mut all = vec!["casebook-server"];
        all.extend_from_slice(args);
        Cli::try_parse_from(all).expect("parse")
    }

    #[test]
    fn defaults_file_and_flags_layer() {
        let c = cli(&[]).resolve().expect("resolve");
        assert_eq!(c.data_dir, PathBuf::from(DEFAULT_DATA_DIR));
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(c.tls_files, None);

        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("casebook.toml");
        std::fs::write(
            &file,
            "data_dir = \"/srv/casebook\"\nlisten = \"0.0.0.0:443\"\ntls_cert = \"c.pem\"\ntls_key = \"k.pem\"\n",
        )
        .expect("write");
        let path = file.to_str().expect("utf-8");
        let c = cli(&["--config", path]).resolve().expect("resolve");
        assert_eq!(c.data_dir, PathBuf::from("/srv/casebook"));
        assert_eq!(c.listen.to_string(), "0.0.0.0:443");
        assert!(c.tls_files.is_some());
        let c = cli(&["--config", path, "--listen", "127.0.0.1:9000"])
            .resolve()
            .expect("resolve");
        assert_eq!(c.listen.to_string(), "127.0.0.1:9000");
    }

    #[test]
    fn insecure_mode_refuses_non_loopback() {
        let err = cli(&["--insecure-loopback-for-tests", "--listen", "0.0.0.0:8080"]).resolve();
        assert!(matches!(err, Err(Error::Config(_))));
        let ok = cli(&[
            "--insecure-loopback-for-tests",
            "--listen",
            "127.0.0.1:8080",
        ])
        .resolve();
        assert!(ok.is_ok());
    }

    #[test]
    fn metrics_listener_log_format_and_disk_minimum_resolve() {
        let c = cli(&[]).resolve().expect("resolve");
        assert_eq!(
            c.metrics_listen.map(|a| a.to_string()).as_deref(),
            Some(crate::observe::metrics::DEFAULT_LISTEN)
        );
        assert_eq!(c.log_format, LogFormat::Text);
        assert_eq!(c.settings().min_free_disk_bytes, 1 << 30);

        let c = cli(&["--metrics-listen", "off", "--log-format", "json"])
            .resolve()
            .expect("resolve");
        assert_eq!(c.metrics_listen, None);
        assert_eq!(c.log_format, LogFormat::Json);

        let err = cli(&["--metrics-listen", "127.0.0.1:8443"]).resolve();
        assert!(
            matches!(&err, Err(Error::Config(m)) if m.contains("--metrics-listen")),
            "metrics on the public address: {err:?}"
        );
        let err = cli(&["--metrics-listen", "everywhere"]).resolve();
        assert!(matches!(&err, Err(Error::Config(m)) if m.contains("--metrics-listen")));
        assert!(Cli::try_parse_from(["casebook-server", "--log-format", "xml"]).is_err());

        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("casebook.toml");
        std::fs::write(
            &file,
            "metrics_listen = \"127.0.0.1:9999\"\nlog_format = \"json\"\nmin_free_disk_mb = 5\n",
        )
        .expect("write");
        let path = file.to_str().expect("utf-8");
        let c = cli(&["--config", path]).resolve().expect("resolve");
        assert_eq!(
            c.metrics_listen.map(|a| a.to_string()).as_deref(),
            Some("127.0.0.1:9999")
        );
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(c.settings().min_free_disk_bytes, 5 << 20);
        let c = cli(&["--config", path, "--log-format", "text"])
            .resolve()
            .expect("resolve");
        assert_eq!(c.log_format, LogFormat::Text, "the flag wins over the file");
    }

    #[test]
    fn the_database_comes_from_the_flag_or_the_file_and_backup_refuses_postgres() {
        assert_eq!(cli(&[]).resolve().expect("resolve").database, None);
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("casebook.toml");
        std::fs::write(&file, "database = \"postgres://db.internal/casebook\"\n").expect("write");
        let path = file.to_str().expect("utf-8");
        let c = cli(&["--config", path]).resolve().expect("resolve");
        assert_eq!(
            c.database.as_deref(),
            Some("postgres://db.internal/casebook")
        );
        assert_eq!(
            c.settings().database.as_deref(),
            Some("postgres://db.internal/casebook")
        );
        let c = cli(&["--config", path, "--database", "postgres://other/cb"])
            .resolve()
            .expect("resolve");
        assert_eq!(c.database.as_deref(), Some("postgres://other/cb"));
        let err = crate::backup::cli::backup(&c, &dir.path().join("b.sqlite"))
            .expect_err("backup on PostgreSQL");
        assert!(err.to_string().contains("pg_dump"), "{err}");
        assert!(!dir.path().join("b.sqlite").exists());
    }

    #[test]
    fn audit_subcommands_parse() {
        let c = cli(&["audit", "verify", "--data-dir", "/tmp/x"]);
        assert!(matches!(
            c.command,
            Some(Command::Audit(AuditCommand::Verify { anchors: None, .. }))
        ));
        assert_eq!(c.data_dir, Some(PathBuf::from("/tmp/x")));
        assert!(Cli::try_parse_from(["casebook-server", "audit", "export"]).is_err());
    }

    #[test]
    fn the_report_command_names_a_bad_option_and_writes_a_suppressed_csv() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        let opened = open_data_dir(&data, Clock::System, Settings::default()).expect("open");
        opened
            .state
            .db
            .write_blocking(|tx| {
                tx.execute(
                    "INSERT INTO orgs (id, name, created_at) VALUES ('org-1', 'Hull', 0)",
                    [],
                )?;
                Ok(())
            })
            .expect("org");
        let data = data.to_str().expect("utf-8");
        let run = |args: &[&str]| -> Result<ExitCode> {
            let mut all = vec!["report", "--data-dir", data];
            all.extend_from_slice(args);
            let c = cli(&all);
            let config = c.resolve()?;
            let Some(Command::Report(args)) = c.command else {
                panic!("not the report command");
            };
            run_report(&config, &args)
        };
        let message = |r: Result<ExitCode>| match r {
            Err(e) => e.to_string(),
            Ok(_) => panic!("expected a refusal"),
        };
        let period = ["--from", "2026-01-01", "--to", "2026-01-31"];
        let m = message(run(&[
            "--org",
            "org-1",
            "--from",
            "2026-02-01",
            "--to",
            "2026-01-31",
        ]));
        assert!(m.contains("--to: is before from"), "{m}");
        let m = message(run(&[
            "--org",
            "org-1",
            "--from",
            "1 Jan",
            "--to",
            "2026-01-31",
        ]));
        assert!(m.contains("--from:"), "{m}");
        let m = message(run(&[&["--org", "no-such-org"][..], &period[..]].concat()));
        assert!(m.contains("--org: no such organisation"), "{m}");
        let out = dir.path().join("report.csv");
        let out_arg = out.to_str().expect("utf-8");
        let args = [
            &["--org", "org-1", "--format", "csv", "--out", out_arg][..],
            &period[..],
        ]
        .concat();
        run(&args).expect("report");
        let csv = std::fs::read_to_string(&out).expect("csv");
        assert!(csv.starts_with("section,category,measure,value\n"), "{csv}");
        assert!(csv.contains("scope,all,children,0\n"), "{csv}");
        // --out never overwrites.
        let m = message(run(&args));
        assert!(m.contains("--out: the file exists"), "{m}");
        let audited: i64 = opened
            .state
            .db
            .read_blocking(|c| {
                Ok(c.query_row(
                    "SELECT COUNT(*) FROM audit WHERE event = 'report_generated'
                     AND subject = 'org-1'",
                    [],
                    |r| r.get(0),
                )?)
            })
            .expect("audit");
        assert_eq!(
            audited, 1,
            "the report made is audited, the refused ones are not"
        );
    }
}
