//! `casebook-server backup` and `restore` as the operator sees them: the key found, progress
//! for a large database, and what a restored server needs besides its database.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::{DB_FILE, Progress};
use crate::cli::Config;
use crate::error::{Error, Result};

/// Print progress only for a database of at least this many pages (about 100 MiB; smaller
/// ones take seconds).
const PROGRESS_FROM_PAGES: u64 = 25_000;

fn key_path(config: &Config) -> PathBuf {
    config
        .db_key_file
        .clone()
        .unwrap_or_else(|| config.data_dir.join(crate::db::DEFAULT_KEY_FILE))
}

/// `casebook-server backup --to FILE`.
pub fn backup(config: &Config, to: &Path) -> Result<ExitCode> {
    refuse_on_postgres(config, "backup")?;
    let key = crate::db::read_key(&key_path(config))?;
    let source = config.data_dir.join(DB_FILE);
    let mut shown = 0u64;
    let mut progress = |p: Progress| {
        if p.total < PROGRESS_FROM_PAGES || p.total == 0 {
            return;
        }
        let tenth = p.copied * 10 / p.total;
        if tenth > shown {
            shown = tenth;
            let mut out = std::io::stdout().lock();
            let _ = writeln!(
                out,
                "backup: {} of {} pages ({}%)",
                p.copied,
                p.total,
                tenth * 10
            );
            let _ = out.flush();
        }
    };
    let started = std::time::Instant::now();
    let report = super::backup(&source, &key, to, &mut progress)?;
    println!(
        "backup written to {} ({} bytes, {} pages, server sequence {}) in {} ms",
        report.path.display(),
        report.bytes,
        report.pages,
        report.seq,
        started.elapsed().as_millis()
    );
    println!("  encrypted under the database key: keep the key file apart from the backup");
    Ok(ExitCode::SUCCESS)
}

/// `casebook-server restore --from FILE --data-dir DIR --db-key-file KEY`.
pub fn restore(config: &Config, from: &Path) -> Result<ExitCode> {
    refuse_on_postgres(config, "restore")?;
    let dir = &config.data_dir;
    let key_file = match &config.db_key_file {
        Some(path) => path.clone(),
        None => {
            return Err(Error::Config(format!(
                "--db-key-file: give the key file of the server the backup was taken from \
                 (the backup is encrypted under it; {} is new)",
                dir.display()
            )));
        }
    };
    let key = crate::db::read_key(&key_file)?;
    let report = super::restore(from, &key, dir)?;
    println!(
        "restored {} documents (server sequence {}) to {}",
        report.docs,
        report.seq,
        report.path.display()
    );
    println!(
        "  new store epoch {}: each device starts over once at its next sync and pushes \
         what the backup lacks",
        report.epoch
    );
    println!(
        "before starting the server on {}, it also needs:",
        dir.display()
    );
    println!(
        "  - the database key: keep --db-key-file {} (or copy it to {}, mode 600)",
        key_file.display(),
        dir.join(crate::db::DEFAULT_KEY_FILE).display()
    );
    println!(
        "  - the TLS certificate and key (--tls-cert/--tls-key), or, with the development \
         certificate, the old data directory's tls/ copied in, so the devices' pin still \
         matches"
    );
    println!(
        "  - the audit signing key (--audit-signing-key-file) and a new anchors file \
         (--audit-anchors): the old one signed rows after the backup"
    );
    println!(
        "  - devices enrolled and revocations made after the backup are not in it: revoke \
         again any device revoked since"
    );
    Ok(ExitCode::SUCCESS)
}

/// `backup` and `restore` copy SQLite's file; PostgreSQL has its own tools.
fn refuse_on_postgres(config: &Config, command: &str) -> Result<()> {
    if config.database.is_some() {
        return Err(Error::Config(format!(
            "{command} copies the embedded SQLite database; on PostgreSQL use pg_dump and \
             pg_restore, or the service's point-in-time recovery (docs/postgres.md)"
        )));
    }
    Ok(())
}
