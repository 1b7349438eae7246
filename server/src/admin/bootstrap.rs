//! First start: the root organisation, its first administrator and their enrolment code
//! (valid [`crate::Settings::admin_code_ttl`], one hour by default; written to a private file
//! with `--admin-code-file` instead of being printed).

use std::io::Write;
use std::path::Path;

use serde_json::json;

use crate::audit::{self, Event};
use crate::auth;
use crate::directory::random_id;
use crate::error::{Error, Result};
use crate::params;
use crate::sql::{OptionalExtension, Tx};

/// First start: the root organisation and its first administrator, with a one-time code.
/// Returns `None` if the server was already set up.
pub fn bootstrap(tx: &Tx<'_>, now: i64, ttl: i64) -> Result<Option<(String, String)>> {
    super::enrolment::remove_admin_memberships(tx, now)?;
    let any: bool = tx.query_row("SELECT EXISTS(SELECT 1 FROM orgs)", [], |r| r.get(0))?;
    if any {
        return Ok(None);
    }
    let org = random_id();
    tx.execute(
        "INSERT INTO orgs (id, name, is_root, created_at) VALUES (?1, 'Default organisation', 1, ?2)",
        params![org, now],
    )?;
    let admin = random_id();
    tx.execute(
        "INSERT INTO users (id, org_id, name, role, created_at)
         VALUES (?1, ?2, 'Administrator', 'administrator', ?3)",
        params![admin, org, now],
    )?;
    let detail = json!({ "org": org });
    audit::append(
        tx,
        now,
        Event {
            event: "bootstrap",
            subject: Some(admin.clone()),
            detail,
            ..Event::default()
        },
    )?;
    let code = auth::issue_enrolment_code(tx, &admin, None, now, ttl)?;
    Ok(Some((admin, code)))
}

/// A new code for the first administrator of the root organisation (CLI `admin admin-code`).
pub fn first_admin_code(tx: &Tx<'_>, now: i64, ttl: i64) -> Result<(String, String)> {
    let admin: String = tx
        .query_row(
            "SELECT u.id FROM users u JOIN orgs o ON o.id = u.org_id
             WHERE o.is_root = 1 AND u.role = 'administrator' ORDER BY u.created_at, u.rowid LIMIT 1",
            [],
            |r| r.get(0),
        )
        .optional()?
        .ok_or(Error::NotFound("administrator"))?;
    let code = auth::issue_enrolment_code(tx, &admin, None, now, ttl)?;
    Ok((admin, code))
}

/// Write the first administrator's code to `path`: created exclusively (an existing file is
/// never overwritten or followed) and readable only by the server's user.
pub fn write_code_file(path: &Path, code: &str) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|e| {
        Error::Config(format!(
            "cannot create the administrator code file {}: {e}",
            path.display()
        ))
    })?;
    writeln!(file, "{code}")?;
    file.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_code_file_is_private_and_never_overwritten() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("admin-code");
        write_code_file(&path, "ABCDE-FGHJK").expect("write");
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            "ABCDE-FGHJK\n"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(write_code_file(&path, "OTHER").is_err());
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            "ABCDE-FGHJK\n"
        );
    }
}
