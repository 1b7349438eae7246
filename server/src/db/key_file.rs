//! The database key: 32 random bytes kept as 64 hex characters in a file readable only by the
//! server's user. On the embedded default the file is `<data-dir>/db.key`, created on first
//! start; production keeps it elsewhere (`--db-key-file`, a secrets volume).

use std::io::Write;
use std::path::{Path, PathBuf};

use casebook_core::store::StoreKey;
use rand::RngCore;
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// The key file's name inside the data directory, when no other file is configured.
pub const DEFAULT_KEY_FILE: &str = "db.key";

/// Where the key came from, for the startup message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyOrigin {
    /// Read from this existing file.
    Loaded(PathBuf),
    /// Generated now and written to this file.
    Generated(PathBuf),
}

/// The key for the database at `db_path`: read from `file` (or the data directory's default
/// file). A key is generated only when neither the key file nor the database exists yet.
pub fn load_or_create(
    data_dir: &Path,
    file: Option<&Path>,
    db_path: &Path,
) -> Result<(StoreKey, KeyOrigin)> {
    let path = file.map_or_else(|| data_dir.join(DEFAULT_KEY_FILE), Path::to_owned);
    if path.exists() {
        return Ok((read(&path)?, KeyOrigin::Loaded(path)));
    }
    if db_path.exists() {
        return Err(Error::Config(format!(
            "the database {} exists but its key file {} does not",
            db_path.display(),
            path.display()
        )));
    }
    let bytes = create_secret_file(&path)?;
    let key = StoreKey::from_bytes(bytes.as_ref()).map_err(|e| Error::Config(e.to_string()))?;
    Ok((key, KeyOrigin::Generated(path)))
}

/// Write 32 new random bytes to `path` as 64 hex characters (a new file, mode 600, synced)
/// and return them: the database key, a rotation's next key and the audit signing seed.
pub(crate) fn create_secret_file(path: &Path) -> Result<Zeroizing<[u8; 32]>> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng.fill_bytes(bytes.as_mut());
    let text = Zeroizing::new(hex::encode(bytes.as_ref()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut out = options.open(path)?;
    out.write_all(text.as_bytes())?;
    out.sync_all()?;
    Ok(bytes)
}

/// Read a key file: 64 hex characters, not readable by group or others.
pub fn read(path: &Path) -> Result<StoreKey> {
    let unreadable = |e: std::io::Error| {
        Error::Config(format!(
            "the key file {} cannot be read: {e}",
            path.display()
        ))
    };
    let meta = std::fs::metadata(path).map_err(unreadable)?;
    if !meta.is_file() {
        return Err(Error::Config(format!(
            "the key file {} is not a regular file",
            path.display()
        )));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(Error::Config(format!(
                "the key file {} is readable by other users (mode {:o}); chmod 600 it",
                path.display(),
                mode & 0o777
            )));
        }
    }
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(unreadable)?);
    let mut bytes = Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(text.trim(), bytes.as_mut()).map_err(|_| {
        Error::Config(format!(
            "the key file {} must hold 64 hex characters",
            path.display()
        ))
    })?;
    StoreKey::from_bytes(bytes.as_ref()).map_err(|e| Error::Config(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_generated_once_then_read_back() {
        let dir = tempfile::tempdir().expect("dir");
        let db = dir.path().join("casebook.sqlite");
        let (_, origin) = load_or_create(dir.path(), None, &db).expect("create");
        assert!(matches!(origin, KeyOrigin::Generated(_)));
        let (_, origin) = load_or_create(dir.path(), None, &db).expect("load");
        assert!(matches!(origin, KeyOrigin::Loaded(_)));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(DEFAULT_KEY_FILE))
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_missing_key_for_an_existing_database_is_an_error_not_a_new_key() {
        let dir = tempfile::tempdir().expect("dir");
        let db = dir.path().join("casebook.sqlite");
        std::fs::write(&db, b"x").expect("write");
        assert!(load_or_create(dir.path(), None, &db).is_err());
    }

    #[cfg(unix)]
    #[test]
    fn loose_permissions_and_bad_contents_are_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("k");
        std::fs::write(&path, "ab".repeat(32)).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        assert!(read(&path).is_err());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        assert!(read(&path).is_ok());
        std::fs::write(&path, "zz").expect("write");
        assert!(read(&path).is_err());
        let not_a_file = dir.path().join("d");
        std::fs::create_dir(&not_a_file).expect("mkdir");
        let m = read(&not_a_file).expect_err("a directory").to_string();
        assert!(m.contains("is not a regular file"), "{m}");
    }
}
