//! Backup and restore of the server's database (`casebook-server backup` and `restore`).
//!
//! A backup is SQLite's online backup of the live database, taken while the server runs and
//! devices sync: it copies the pages of one read snapshot (the server's writers carry on in
//! WAL mode), into a file encrypted under the same key (SQLCipher's backup API copies pages
//! as they are stored, so both connections are keyed alike). It is written under a temporary
//! name, checked, fsynced and renamed into place, so a file at the backup's name is always
//! whole. The read is audited (`backup_created`) before the file appears.
//!
//! A restore copies a backup into a new or empty data directory, proves it opens under the
//! key and passes `PRAGMA integrity_check`, and gives the store a new epoch
//! ([`crate::db::epoch`]): the devices, whose cursors count from before, start over once at
//! their next sync and push what the backup lacks (`docs/operations.md`).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use casebook_core::store::{StoreKey, open_encrypted};
use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, TransactionBehavior};
use serde_json::json;

pub mod cli;

use crate::audit::{self, Event};
use crate::db::{self, Db};
use crate::error::{Error, Result};
use crate::sql::{Conn, Tx};

/// The database's file name inside a data directory.
pub const DB_FILE: &str = "casebook.sqlite";

/// Pages copied per step of the online backup (4 MiB of 4 KiB pages).
const PAGES_PER_STEP: i32 = 1024;

/// How long a step waits when the source is locked for a moment.
const BUSY_PAUSE: Duration = Duration::from_millis(20);

/// How far a backup has got: pages copied and pages in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Pages copied so far.
    pub copied: u64,
    /// Pages in the database.
    pub total: u64,
}

/// What a finished backup holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupReport {
    /// The file written.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// Pages copied.
    pub pages: u64,
    /// The server sequence of the snapshot copied.
    pub seq: u64,
}

/// What a finished restore did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreReport {
    /// The restored database.
    pub path: PathBuf,
    /// The server sequence the backup was taken at.
    pub seq: u64,
    /// The store's new epoch.
    pub epoch: String,
    /// Documents in the backup.
    pub docs: u64,
}

fn side_file(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Remove a database file and its WAL and shared-memory files, if present.
fn remove_db_files(path: &Path) {
    for file in [
        path.to_owned(),
        side_file(path, "-wal"),
        side_file(path, "-shm"),
        side_file(path, "-journal"),
    ] {
        let _ = std::fs::remove_file(file);
    }
}

/// Make a file readable by its owner only, write it to disk and return its size.
fn seal(path: &Path) -> Result<u64> {
    let file = File::open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.sync_all()?;
    Ok(file.metadata()?.len())
}

/// fsync a directory, so a rename in it survives a power cut.
fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// Open an existing encrypted database, mapping a wrong key to a message that names `what`.
fn open_keyed(path: &Path, key: StoreKey, what: &str) -> Result<Connection> {
    db::quiet_sqlcipher();
    let conn = open_encrypted(path, key).map_err(|e| match e {
        casebook_core::Error::WrongKey => Error::Config(format!(
            "{what} does not open under the database key (a wrong key file, or not a \
             Casebook database)"
        )),
        casebook_core::Error::Storage(e) => Error::Db(e),
        other => Error::Config(other.to_string()),
    })?;
    conn.busy_timeout(Duration::from_secs(10))?;
    Ok(conn)
}

/// Copy the live database `source` (encrypted under `key`) to `to`, calling `progress` after
/// every step. An existing file at `to` is replaced only once the new one is whole.
pub fn backup(
    source: &Path,
    key: &StoreKey,
    to: &Path,
    progress: &mut dyn FnMut(Progress),
) -> Result<BackupReport> {
    if !source.is_file() {
        return Err(Error::Config(format!(
            "--data-dir: no database at {}",
            source.display()
        )));
    }
    if to.is_dir() {
        return Err(Error::Config(format!(
            "--to: {} is a directory; give a file name",
            to.display()
        )));
    }
    if let (Ok(a), Ok(b)) = (std::fs::canonicalize(to), std::fs::canonicalize(source))
        && a == b
    {
        return Err(Error::Config(format!(
            "--to: {} is the live database itself",
            to.display()
        )));
    }
    let partial = side_file(to, ".partial");
    remove_db_files(&partial);
    let result = copy_to_partial(source, key, &partial, progress);
    let (pages, seq) = match result {
        Ok(done) => done,
        Err(e) => {
            remove_db_files(&partial);
            return Err(e);
        }
    };
    let bytes = match seal(&partial) {
        Ok(bytes) => bytes,
        Err(e) => {
            remove_db_files(&partial);
            return Err(e);
        }
    };
    // The whole database was read: audited in it before the copy appears under its name.
    let audited = open_keyed(source, key.clone(), "the database").and_then(|mut conn| {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        audit::append(
            &Tx::sqlite(&tx),
            chrono::Utc::now().timestamp(),
            Event {
                event: "backup_created",
                detail: json!({ "pages": pages, "bytes": bytes, "seq": seq }),
                ..Event::default()
            },
        )?;
        tx.commit()?;
        Ok(())
    });
    if let Err(e) = audited.and_then(|()| Ok(std::fs::rename(&partial, to)?)) {
        remove_db_files(&partial);
        return Err(e);
    }
    sync_dir(&parent_of(to))?;
    Ok(BackupReport {
        path: to.to_owned(),
        bytes,
        pages,
        seq,
    })
}

/// The online backup proper: every page of one read snapshot of `source` into `partial`,
/// checked and closed. Returns the pages copied and the snapshot's sequence.
fn copy_to_partial(
    source: &Path,
    key: &StoreKey,
    partial: &Path,
    progress: &mut dyn FnMut(Progress),
) -> Result<(u64, u64)> {
    let src = open_keyed(source, key.clone(), "the database")?;
    src.execute_batch("PRAGMA query_only = ON; BEGIN DEFERRED")?;
    // The read transaction starts here and holds one snapshot for every step, so writes by
    // the running server neither block the copy nor restart it.
    let seq = db::current_seq(Conn::sqlite(&src))?;
    let mut dst = open_keyed(partial, key.clone(), "the backup file")?;
    let pages = {
        let copy = Backup::new(&src, &mut dst)?;
        loop {
            match copy.step(PAGES_PER_STEP)? {
                StepResult::Done => break,
                StepResult::More => {}
                // Busy or locked for a moment.
                _ => std::thread::sleep(BUSY_PAUSE),
            }
            let p = copy.progress();
            let total = u64::try_from(p.pagecount).unwrap_or(0);
            let left = u64::try_from(p.remaining).unwrap_or(0);
            progress(Progress {
                copied: total.saturating_sub(left),
                total,
            });
        }
        let total = u64::try_from(copy.progress().pagecount).unwrap_or(0);
        progress(Progress {
            copied: total,
            total,
        });
        total
    };
    src.execute_batch("COMMIT")?;
    drop(src);
    let check: String = dst.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
    if check != "ok" {
        return Err(Error::Corrupt(format!("the backup's quick_check: {check}")));
    }
    dst.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")?;
    dst.close().map_err(|(_, e)| Error::Db(e))?;
    Ok((pages, seq))
}

/// Restore the backup `from` (encrypted under `key`) into `data_dir`, which must be new or
/// empty. Nothing is left in `data_dir` if the backup is refused.
pub fn restore(from: &Path, key: &StoreKey, data_dir: &Path) -> Result<RestoreReport> {
    if !from.is_file() {
        return Err(Error::Config(format!(
            "--from: no backup file at {}",
            from.display()
        )));
    }
    let created = match std::fs::read_dir(data_dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(Error::Config(format!(
                    "--data-dir: {} is not empty; restore only into a new or empty directory",
                    data_dir.display()
                )));
            }
            false
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::DirBuilderExt;
                builder.mode(0o700);
            }
            builder.create(data_dir)?;
            true
        }
        Err(e) => {
            return Err(Error::Config(format!(
                "--data-dir: {} cannot be read: {e}",
                data_dir.display()
            )));
        }
    };
    let target = data_dir.join(DB_FILE);
    let restoring = side_file(&target, ".restoring");
    match restore_into(from, key, &restoring) {
        Ok(mut report) => {
            std::fs::rename(&restoring, &target)?;
            sync_dir(data_dir)?;
            report.path = target;
            Ok(report)
        }
        Err(e) => {
            remove_db_files(&restoring);
            if created {
                let _ = std::fs::remove_dir(data_dir);
            }
            Err(e)
        }
    }
}

fn restore_into(from: &Path, key: &StoreKey, restoring: &Path) -> Result<RestoreReport> {
    let what = format!("--from: {}", from.display());
    {
        let mut out = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(restoring)?;
        let mut input = File::open(from)?;
        std::io::copy(&mut input, &mut out)?;
        out.flush()?;
    }
    let conn = open_keyed(restoring, key.clone(), &what)?;
    let damaged = |detail: String| {
        Error::Config(format!(
            "{what} fails PRAGMA integrity_check ({detail}); it is damaged: use another backup"
        ))
    };
    let problems: Vec<String> = {
        let mut stmt = conn
            .prepare("PRAGMA integrity_check")
            .map_err(|e| damaged(e.to_string()))?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(|e| damaged(e.to_string()))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(|e| damaged(e.to_string()))?
    };
    if problems != ["ok"] {
        let first = problems.first().cloned().unwrap_or_default();
        return Err(damaged(format!(
            "{} problems, first: {first}",
            problems.len()
        )));
    }
    let seq = db::current_seq(Conn::sqlite(&conn)).map_err(|_| {
        Error::Config(format!(
            "{what} is not a Casebook server database (no sequence)"
        ))
    })?;
    drop(conn);
    let db = Db::open(restoring, key.clone())?;
    let (epoch, docs) = db.write_blocking(|tx| {
        let before = db::epoch::current(**tx)?;
        let epoch = db::epoch::renew(tx)?;
        let docs: i64 = tx.query_row("SELECT COUNT(*) FROM docs", [], |r| r.get(0))?;
        let docs = u64::try_from(docs).unwrap_or(0);
        audit::append(
            tx,
            chrono::Utc::now().timestamp(),
            Event {
                event: "restored",
                detail: json!({ "seq": seq, "docs": docs, "epoch": epoch,
                                "previous_epoch": before }),
                ..Event::default()
            },
        )?;
        Ok((epoch, docs))
    })?;
    db.close_blocking()?;
    drop(db);
    let wal = side_file(restoring, "-wal");
    if std::fs::metadata(&wal).is_ok_and(|m| m.len() > 0) {
        return Err(Error::Task(
            "the restored database's WAL was not folded in".into(),
        ));
    }
    remove_db_files(&wal);
    remove_db_files(&side_file(restoring, "-shm"));
    seal(restoring)?;
    Ok(RestoreReport {
        path: restoring.to_owned(),
        seq,
        epoch,
        docs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{Clock, Settings};

    fn data_dir_with_docs(dir: &Path) -> StoreKey {
        let opened = crate::open_data_dir(dir, Clock::System, Settings::default()).expect("open");
        opened
            .state
            .db
            .write_blocking(|tx| {
                for i in 0..50 {
                    let seq = db::next_seq(tx)?;
                    tx.execute(
                        "INSERT INTO docs (doc_id, case_id, kind, seq, bytes)
                         VALUES (?1, ?2, 'visits', ?3, ?4)",
                        crate::params![
                            format!("{i:032x}.visits"),
                            format!("{i:032x}"),
                            i64::try_from(seq).expect("seq"),
                            vec![7u8; 20_000]
                        ],
                    )?;
                }
                Ok(())
            })
            .expect("docs");
        drop(opened);
        crate::db::read_key(&dir.join(crate::db::DEFAULT_KEY_FILE)).expect("key")
    }

    #[test]
    fn a_backup_restores_into_a_new_directory_with_a_new_epoch() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let live = tmp.path().join("live");
        let key = data_dir_with_docs(&live);
        let before = Db::open(&live.join(DB_FILE), key.clone())
            .expect("open")
            .read_blocking(db::epoch::current)
            .expect("epoch");
        let file = tmp.path().join("casebook.backup");
        let mut steps = Vec::new();
        let report =
            backup(&live.join(DB_FILE), &key, &file, &mut |p| steps.push(p)).expect("backup");
        assert_eq!(report.seq, 50);
        assert!(report.bytes > 50 * 20_000, "{report:?}");
        let last = steps.last().expect("progress reported");
        assert_eq!(last.copied, last.total);
        assert!(!side_file(&file, ".partial").exists());
        // Encrypted: the documents' bytes are nowhere in the file.
        let raw = std::fs::read(&file).expect("read");
        assert!(!raw.windows(64).any(|w| w.iter().all(|b| *b == 7)));
        assert!(!raw.starts_with(b"SQLite format 3"));

        let restored = tmp.path().join("restored");
        let r = restore(&file, &key, &restored).expect("restore");
        assert_eq!((r.seq, r.docs), (50, 50));
        assert_ne!(Some(r.epoch.clone()), before);
        let names: Vec<_> = std::fs::read_dir(&restored)
            .expect("dir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, [DB_FILE], "only the database is restored");
        let db = Db::open(&restored.join(DB_FILE), key.clone()).expect("reopen");
        assert_eq!(db.read_blocking(db::current_seq).expect("seq"), 50);
        assert_eq!(
            db.read_blocking(db::epoch::current).expect("e"),
            Some(r.epoch)
        );
        assert!(matches!(
            db.read_blocking(audit::verify).expect("verify"),
            audit::Verdict::Intact(_)
        ));
        let events: Vec<String> = db
            .read_blocking(|c| {
                let mut s = c.prepare("SELECT event FROM audit ORDER BY id DESC LIMIT 1")?;
                let rows = s.query_map([], |r| r.get(0))?;
                Ok(rows.collect::<crate::sql::Result<_>>()?)
            })
            .expect("audit");
        assert_eq!(events, ["restored"]);
        // The live database audited the backup.
        let live_db = Db::open(&live.join(DB_FILE), key).expect("live");
        let n: i64 = live_db
            .read_blocking(|c| {
                Ok(c.query_row(
                    "SELECT COUNT(*) FROM audit WHERE event = 'backup_created'",
                    [],
                    |r| r.get(0),
                )?)
            })
            .expect("count");
        assert_eq!(n, 1);
    }

    #[test]
    fn a_restore_refuses_a_non_empty_directory_a_wrong_key_and_a_damaged_file() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let live = tmp.path().join("live");
        let key = data_dir_with_docs(&live);
        let file = tmp.path().join("b");
        backup(&live.join(DB_FILE), &key, &file, &mut |_| {}).expect("backup");

        let m = backup(&live.join(DB_FILE), &key, &live.join(DB_FILE), &mut |_| {})
            .expect_err("over itself")
            .to_string();
        assert!(m.contains("the live database itself"), "{m}");

        let busy = tmp.path().join("busy");
        std::fs::create_dir(&busy).expect("mkdir");
        std::fs::write(busy.join("something"), b"x").expect("write");
        let m = restore(&file, &key, &busy)
            .expect_err("not empty")
            .to_string();
        assert!(m.contains("--data-dir") && m.contains("not empty"), "{m}");

        let wrong = StoreKey::from_bytes(&[9u8; 32]).expect("key");
        let fresh = tmp.path().join("fresh");
        let m = restore(&file, &wrong, &fresh)
            .expect_err("wrong key")
            .to_string();
        assert!(m.contains("does not open under the database key"), "{m}");
        assert!(!fresh.exists(), "a refused restore leaves nothing behind");

        let mut bytes = std::fs::read(&file).expect("read");
        let middle = bytes.len() / 2;
        for b in &mut bytes[middle..middle + 64] {
            *b ^= 0x5a;
        }
        let damaged = tmp.path().join("damaged");
        std::fs::write(&damaged, bytes).expect("write");
        let empty = tmp.path().join("empty");
        std::fs::create_dir(&empty).expect("mkdir");
        let m = restore(&damaged, &key, &empty)
            .expect_err("damaged")
            .to_string();
        assert!(m.contains("integrity_check"), "{m}");
        assert_eq!(std::fs::read_dir(&empty).expect("dir").count(), 0);
        assert!(empty.exists(), "an empty directory given is kept");
    }
}
