//! `casebook-server rotate-key`: a new database key, with every server stopped.
//!
//! On SQLite the database is copied into a new file encrypted under the new key
//! (`sqlcipher_export`), checked, and put in the old file's place. On PostgreSQL every sealed
//! value ([`super::sealed_columns`], and the audit chain's sealed head) is opened under the old
//! key and sealed under the new, in one transaction under the writer lock, and
//! `meta.sealing_key_id` names the new key. Then the key files change places: the old key is
//! kept beside the new one as `<key file>.retired-<unix time>` (backups taken before the
//! rotation open only with it), and the new key, written first to `<key file>.new`, becomes
//! the key file.
//!
//! Every step can be interrupted and the command run again: it picks up the `.new` key it
//! wrote, sees from the database whether the re-encryption committed, and finishes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use casebook_core::store::StoreKey;

use crate::error::{Error, Result};
use crate::sql::Value;

use super::Db;

/// Rows re-sealed per page on PostgreSQL.
const PAGE: i64 = 200;

/// What a rotation did.
#[derive(Debug, Default)]
pub struct Rotated {
    /// Values sealed again, by table (PostgreSQL), or the database file's size (SQLite).
    pub resealed: BTreeMap<String, u64>,
    /// Where the old key now is.
    pub retired_key: Option<PathBuf>,
    /// The key file, now holding the new key.
    pub key_file: PathBuf,
    /// The new key's id (PostgreSQL's sealing key id; on SQLite the same derivation, for the
    /// operator's records).
    pub new_key_id: String,
}

/// Where things are.
#[derive(Debug, Clone)]
pub struct Target<'a> {
    /// The data directory.
    pub data_dir: &'a Path,
    /// The key file (`<data-dir>/db.key` when `None`).
    pub key_file: Option<&'a Path>,
    /// The PostgreSQL URL, or `None` for the embedded SQLite database.
    pub database: Option<&'a str>,
}

/// Rotate the database key of `target`, reporting `(table, rows so far)` as it goes.
pub fn rotate(target: &Target<'_>, mut progress: impl FnMut(&str, u64)) -> Result<Rotated> {
    let key_path = target.key_file.map_or_else(
        || target.data_dir.join(super::DEFAULT_KEY_FILE),
        Path::to_owned,
    );
    let new_path = suffixed(&key_path, ".new");
    if !key_path.exists() && new_path.exists() {
        // Interrupted after the old key was retired: the database is under the new key.
        std::fs::rename(&new_path, &key_path)?;
        sync_dir(&key_path)?;
        let new = super::read_key(&key_path)?;
        return Ok(Rotated {
            key_file: key_path,
            new_key_id: crate::sealing::Sealer::new(&new, &[]).current_key_id(),
            ..Rotated::default()
        });
    }
    let old = super::read_key(&key_path)?;
    let new = if new_path.exists() {
        super::read_key(&new_path)?
    } else {
        write_new_key(&new_path)?
    };
    let resealed = match target.database {
        Some(url) => reseal_postgres(url, target.data_dir, &old, &new, &mut progress)?,
        None => export_sqlite(target.data_dir, &old, &new)?,
    };
    let retired = suffixed(
        &key_path,
        &format!(".retired-{}", chrono::Utc::now().timestamp()),
    );
    std::fs::rename(&key_path, &retired)?;
    std::fs::rename(&new_path, &key_path)?;
    sync_dir(&key_path)?;
    Ok(Rotated {
        resealed,
        retired_key: Some(retired),
        key_file: key_path,
        new_key_id: crate::sealing::Sealer::new(&new, &[]).current_key_id(),
    })
}

/// `path` with `suffix` added to its file name.
fn suffixed(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Write a new random key to `path` (mode 600, created new, synced) and return it.
fn write_new_key(path: &Path) -> Result<StoreKey> {
    let bytes = super::key_file::create_secret_file(path)?;
    sync_dir(path)?;
    StoreKey::from_bytes(bytes.as_ref()).map_err(|e| Error::Config(e.to_string()))
}

/// Make a rename or a new file in `path`'s directory durable.
fn sync_dir(path: &Path) -> Result<()> {
    #[cfg(unix)]
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// SQLite: copy the database into a new file under `new`, check it, and put it in place of
/// the old one. Refused while a server has the database open.
fn export_sqlite(data_dir: &Path, old: &StoreKey, new: &StoreKey) -> Result<BTreeMap<String, u64>> {
    let db_path = data_dir.join("casebook.sqlite");
    let rekeyed = suffixed(&db_path, ".rekeyed");
    if !db_path.exists() {
        return Err(Error::Config(format!(
            "no database at {}",
            db_path.display()
        )));
    }
    match casebook_core::store::open_encrypted(&db_path, old.clone()) {
        Ok(conn) => {
            refuse_if_open_elsewhere(&conn, &db_path)?;
            for stale in [
                rekeyed.clone(),
                suffixed(&rekeyed, "-wal"),
                suffixed(&rekeyed, "-shm"),
            ] {
                match std::fs::remove_file(&stale) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
                    _ => {}
                }
            }
            casebook_core::store::export_encrypted(&conn, &rekeyed, new)
                .map_err(|e| Error::Config(format!("re-encrypting {}: {e}", db_path.display())))?;
            let tables = table_counts_sqlite(&conn)?;
            drop(conn);
            let copy = casebook_core::store::open_encrypted(&rekeyed, new.clone())
                .map_err(|e| Error::Config(format!("the re-encrypted copy: {e}")))?;
            let ok: String = copy.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
            let copied = table_counts_sqlite(&copy)?;
            drop(copy);
            if ok != "ok" || copied != tables {
                return Err(Error::Config(format!(
                    "the re-encrypted copy {} does not match the database (quick_check: {ok}); \
                     the database and its key are unchanged",
                    rekeyed.display()
                )));
            }
            std::fs::rename(&rekeyed, &db_path)?;
            sync_dir(&db_path)?;
            Ok(copied)
        }
        Err(casebook_core::Error::WrongKey) => {
            // Interrupted after the new file took the old one's place: it must open under new.
            let conn =
                casebook_core::store::open_encrypted(&db_path, new.clone()).map_err(|_| {
                    Error::Config(format!(
                        "the key file does not open {} (and neither does the new key)",
                        db_path.display()
                    ))
                })?;
            table_counts_sqlite(&conn)
        }
        Err(e) => Err(Error::Config(format!("{}: {e}", db_path.display()))),
    }
}

/// Take SQLite's exclusive lock on the database for this connection: refused (`database is
/// locked`) while a server, or anything else, has it open.
fn refuse_if_open_elsewhere(conn: &rusqlite::Connection, path: &Path) -> Result<()> {
    conn.busy_timeout(std::time::Duration::from_millis(200))?;
    conn.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
    let locked = conn
        .execute_batch("BEGIN EXCLUSIVE; CREATE TEMP TABLE rotate_probe (x); ROLLBACK;")
        .and_then(|()| conn.query_row("SELECT COUNT(*) FROM sqlite_master", [], |_| Ok(())));
    if let Err(e) = locked {
        return Err(Error::Config(format!(
            "{} is in use ({e}): stop the server first",
            path.display()
        )));
    }
    Ok(())
}

/// Row counts of every table, to check a copy against its source.
fn table_counts_sqlite(conn: &rusqlite::Connection) -> Result<BTreeMap<String, u64>> {
    let names: Vec<String> = conn
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut counts = BTreeMap::new();
    for name in names {
        let n: i64 = conn.query_row(&format!("SELECT COUNT(*) FROM \"{name}\""), [], |r| {
            r.get(0)
        })?;
        counts.insert(name, u64::try_from(n).unwrap_or(0));
    }
    Ok(counts)
}

/// PostgreSQL: open every sealed value under `old` and seal it under `new`, in one write
/// transaction; refused while another session is connected to the database.
fn reseal_postgres(
    url: &str,
    data_dir: &Path,
    old: &StoreKey,
    new: &StoreKey,
    progress: &mut impl FnMut(&str, u64),
) -> Result<BTreeMap<String, u64>> {
    let db = Db::open_postgres_with(url, data_dir, new, std::slice::from_ref(old))?;
    if let Some((Some(stored), current)) = db.sealing_key_ids()?
        && stored == current
    {
        // Interrupted after the transaction committed: only the key files remain to swap.
        return Ok(BTreeMap::new());
    }
    let others: i64 = db.read_blocking(|c| {
        Ok(c.query_row(
            "SELECT COUNT(*) FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()
               AND backend_type = 'client backend'",
            [],
            |r| r.get(0),
        )?)
    })?;
    if others > 0 {
        return Err(Error::Config(format!(
            "{others} other sessions are connected to the database: stop every server instance \
             first"
        )));
    }
    let resealed = db.write_blocking(|tx| {
        let mut resealed = BTreeMap::new();
        for sealed in super::sealed_columns::SEALED_COLUMNS {
            let keys = sealed.keys.join(", ");
            let select = format!(
                "SELECT {keys}, {column} FROM {table} WHERE {column} IS NOT NULL
                 ORDER BY {keys} LIMIT ?1 OFFSET ?2",
                column = sealed.column,
                table = sealed.table,
            );
            let matches: Vec<String> = (0..sealed.keys.len())
                .map(|i| format!("{} = ?{}", sealed.keys[i], i + 2))
                .collect();
            let update = format!(
                "UPDATE {table} SET {column} = ?1 WHERE {matches}",
                table = sealed.table,
                column = sealed.column,
                matches = matches.join(" AND "),
            );
            let mut done: u64 = 0;
            loop {
                let width = sealed.keys.len() + 1;
                let rows = super::sealed_columns::read_page(**tx, &select, width, PAGE, done)?;
                if rows.is_empty() {
                    break;
                }
                for mut row in rows {
                    let Some(Value::Blob(stored)) = row.pop() else {
                        return Err(Error::Corrupt(format!(
                            "{}.{}: not a sealed value",
                            sealed.table, sealed.column
                        )));
                    };
                    let names: Vec<String> = row.iter().map(value_text).collect();
                    let row_name = (sealed.row_name)(&names);
                    let plain = tx.unseal(&row_name, stored)?;
                    let mut params = vec![Value::Blob(tx.seal(&row_name, plain))];
                    params.extend(row);
                    tx.execute(&update, params)?;
                    done += 1;
                }
                progress(sealed.table, done);
            }
            resealed.insert(sealed.table.to_owned(), done);
        }
        crate::audit::reseal_head(tx)?;
        let id = crate::sealing::Sealer::new(new, &[]).current_key_id();
        super::meta_set(tx, "sealing_key_id", &id)?;
        Ok(resealed)
    })?;
    db.close_blocking()?;
    Ok(resealed)
}

/// A key column's value as the text a row name is made of.
fn value_text(value: &Value) -> String {
    match value {
        Value::Text(t) => t.clone(),
        Value::Integer(i) => i.to_string(),
        other => format!("{other:?}"),
    }
}
