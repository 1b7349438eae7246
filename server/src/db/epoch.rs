//! The store's epoch: a random id (64 bits, 16 hex characters) kept in `meta`, made when the database is created and made
//! anew when it is restored from a backup. Sync answers carry it; a device that sees it change
//! knows the server's sequences restarted lower and its cursor means nothing here any more
//! (`docs/protocol.md`, "After a restore").

use rand::RngCore;

use super::{meta_get, meta_set};
use crate::error::{Error, Result};
use crate::sql::{Conn, Tx};

/// The `meta` key of the epoch.
const EPOCH_KEY: &str = "epoch";

/// The store's epoch, `None` for a database opened without [`ensure`] (never in a server).
pub fn current(conn: Conn<'_>) -> Result<Option<String>> {
    meta_get(conn, EPOCH_KEY)
}

/// The store's sequence counter ([`super::current_seq`]) and its epoch ([`current`]), in
/// one statement: every sync answer carries both.
pub fn seq_and_epoch(conn: Conn<'_>) -> Result<(u64, Option<String>)> {
    let mut stmt = conn.prepare_cached("SELECT key, value FROM meta WHERE key IN ('seq', ?1)")?;
    let rows = stmt.query_map([EPOCH_KEY], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
    })?;
    let (mut seq, mut epoch) = (None, None);
    for row in rows {
        match row? {
            (key, value) if key == EPOCH_KEY => epoch = Some(value),
            (_, value) => seq = Some(value),
        }
    }
    let seq = seq
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| Error::Corrupt("sequence counter".into()))?;
    Ok((seq, epoch))
}

/// Give the store an epoch if it has none yet (a new database, or one made before epochs).
pub fn ensure(tx: &Tx<'_>) -> Result<String> {
    match current(**tx)? {
        Some(epoch) => Ok(epoch),
        None => renew(tx),
    }
}

/// Give the store a new epoch (after a restore) and return it.
pub fn renew(tx: &Tx<'_>) -> Result<String> {
    let mut bytes = [0u8; 8];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let epoch = hex::encode(bytes);
    meta_set(tx, EPOCH_KEY, &epoch)?;
    Ok(epoch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Db;
    use casebook_core::store::StoreKey;

    #[test]
    fn a_database_gets_one_epoch_that_only_a_renewal_changes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("db.sqlite");
        let key = || StoreKey::from_bytes(&[5u8; 32]).expect("key");
        let db = Db::open(&path, key()).expect("open");
        let first = db.read_blocking(current).expect("read").expect("an epoch");
        assert_eq!(first.len(), 16);
        drop(db);
        let db = Db::open(&path, key()).expect("reopen");
        assert_eq!(
            db.read_blocking(current).expect("read"),
            Some(first.clone())
        );
        let renewed = db.write_blocking(renew).expect("renew");
        assert_ne!(renewed, first);
        assert_eq!(db.read_blocking(current).expect("read"), Some(renewed));
    }
}
