//! Cases without a team: a case a guardian or social worker registered by syncing joins their
//! team when they are in exactly one, and otherwise waits here until an administrator sets its
//! team. Administrators see the cases of the organisations they manage, with who is assigned;
//! supervisors who lead a team see those of their own organisation, reference and registration
//! time only (they may not read a case outside their teams, and need only know one waits).

use serde::Serialize;

use crate::access::Role;
use crate::auth::{self, Caller};
use crate::directory;
use crate::error::{Error, Result};
use crate::params;
use crate::sql::Conn;
use crate::state::AppState;

use super::manages;

/// A case that belongs to no team.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct UnteamedCase {
    /// The case.
    pub case_id: String,
    /// When the server registered it (seconds since the epoch).
    pub created_at: i64,
    /// Its organisation (administrators only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
    /// The guardians and social workers assigned to it (administrators only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assigned: Option<Vec<String>>,
}

/// The cases without a team the caller is shown, oldest first.
pub async fn list_unteamed(state: &AppState, caller: Caller) -> Result<Vec<UnteamedCase>> {
    if !matches!(caller.user.role, Role::Administrator | Role::Supervisor) {
        return Err(Error::Forbidden("administrators and supervisors only"));
    }
    let now = state.clock.now();
    state
        .db
        .read(move |conn| {
            let caller = auth::recheck(conn, &caller, now)?;
            match caller.user.role {
                Role::Administrator => for_admin(conn, &caller.user),
                Role::Supervisor => for_supervisor(conn, &caller.user),
                _ => Err(Error::Forbidden("administrators and supervisors only")),
            }
        })
        .await
}

fn for_admin(conn: Conn<'_>, admin: &directory::User) -> Result<Vec<UnteamedCase>> {
    let mut stmt = conn.prepare(
        "SELECT id, created_at, org_id FROM cases WHERE team_id IS NULL ORDER BY created_at, id",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, String>(2)?,
        ))
    })?;
    let mut assigned =
        conn.prepare_cached("SELECT user_id FROM assignments WHERE case_id = ?1 ORDER BY user_id")?;
    let mut out = Vec::new();
    for row in rows {
        let (case_id, created_at, org) = row?;
        if !manages(admin, &org) {
            continue;
        }
        let users = assigned
            .query_map([&case_id], |r| r.get::<_, String>(0))?
            .collect::<crate::sql::Result<Vec<_>>>()?;
        out.push(UnteamedCase {
            case_id,
            created_at,
            org_id: Some(org),
            assigned: Some(users),
        });
    }
    Ok(out)
}

fn for_supervisor(conn: Conn<'_>, supervisor: &directory::User) -> Result<Vec<UnteamedCase>> {
    if directory::first_team(conn, &supervisor.id)?.is_none() {
        return Err(Error::Forbidden("supervisors of a team only"));
    }
    let mut stmt = conn.prepare(
        "SELECT id, created_at FROM cases WHERE team_id IS NULL AND org_id = ?1
             ORDER BY created_at, id",
    )?;
    let rows = stmt.query_map(params![supervisor.org_id], |r| {
        Ok(UnteamedCase {
            case_id: r.get(0)?,
            created_at: r.get(1)?,
            org_id: None,
            assigned: None,
        })
    })?;
    Ok(rows.collect::<crate::sql::Result<Vec<_>>>()?)
}
