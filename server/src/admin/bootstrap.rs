//! First start: the root organisation, its first administrator and their enrolment code.

use rusqlite::{OptionalExtension, Transaction, params};
use serde_json::json;

use crate::audit::{self, Event};
use crate::auth;
use crate::directory::random_id;
use crate::error::{Error, Result};

/// First start: the root organisation and its first administrator, with a one-time code.
/// Returns `None` if the server was already set up.
pub fn bootstrap(tx: &Transaction<'_>, now: i64, ttl: i64) -> Result<Option<(String, String)>> {
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
pub fn first_admin_code(tx: &Transaction<'_>, now: i64, ttl: i64) -> Result<(String, String)> {
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
