//! The directory as the console's lists show it, limited to the organisations the
//! administrator manages (all of them for a root administrator, else their own). Lists page
//! ([`Paging::SIZE`] rows) and search by name (or id, for cases).

use super::page::{Paging, time};
use crate::directory::User;
use crate::error::Result;
use crate::params;
use crate::sql::{Conn, OptionalExtension};

/// An organisation.
#[derive(Debug, Clone)]
pub struct OrgRow {
    pub id: String,
    pub name: String,
    pub is_root: bool,
}

/// A user in a list.
#[derive(Debug, Clone)]
pub struct UserRow {
    pub id: String,
    pub name: String,
    pub role: String,
    pub org: String,
    pub disabled: bool,
}

/// A team in a list.
#[derive(Debug, Clone)]
pub struct TeamRow {
    pub id: String,
    pub name: String,
    pub org: String,
    pub members: i64,
}

/// A case in a list.
#[derive(Debug, Clone)]
pub struct CaseRow {
    pub id: String,
    pub org: String,
    pub team: String,
    pub created: String,
    pub people: i64,
}

/// A device of one user.
#[derive(Debug, Clone)]
pub struct DeviceRow {
    pub id: String,
    pub name: String,
    pub enrolled: String,
    pub revoked: Option<String>,
}

/// The SQL condition "the row's `org_id` column is managed by ?1 (org) / ?2 (root)".
const MANAGED: &str = "(?2 OR org_id = ?1)";

fn pattern(q: &str) -> String {
    let escaped = q
        .trim()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

fn limit_offset(p: &Paging) -> (i64, i64) {
    let size = i64::from(Paging::SIZE);
    (size + 1, i64::from(p.page) * size)
}

fn trim_more<T>(mut rows: Vec<T>, p: &mut Paging) -> Vec<T> {
    p.more = rows.len() > Paging::SIZE as usize;
    rows.truncate(Paging::SIZE as usize);
    rows
}

/// Organisations the administrator manages.
pub fn orgs(conn: Conn<'_>, admin: &User) -> Result<Vec<OrgRow>> {
    let sql = format!(
        "SELECT id, name, is_root FROM orgs WHERE {} ORDER BY is_root DESC, name, id",
        MANAGED.replace("org_id", "id")
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt
        .query_map(params![admin.org_id, admin.org_is_root], |r| {
            Ok(OrgRow {
                id: r.get(0)?,
                name: r.get(1)?,
                is_root: r.get(2)?,
            })
        })?
        .collect::<crate::sql::Result<Vec<_>>>()?;
    Ok(rows)
}

fn user_row(r: &crate::sql::Row<'_>) -> crate::sql::Result<UserRow> {
    Ok(UserRow {
        id: r.get(0)?,
        name: r.get(1)?,
        role: r.get(2)?,
        org: r.get(3)?,
        disabled: r.get(4)?,
    })
}

const USER_COLUMNS: &str = "SELECT u.id, u.name, u.role, o.name, u.disabled_at IS NOT NULL
     FROM users u JOIN orgs o ON o.id = u.org_id";

/// Users matching `p.q` (name), one page; `role` narrows to one role.
pub fn users(
    conn: Conn<'_>,
    admin: &User,
    p: &mut Paging,
    role: Option<&str>,
) -> Result<Vec<UserRow>> {
    let (limit, offset) = limit_offset(p);
    let sql = format!(
        "{USER_COLUMNS} WHERE (?2 OR u.org_id = ?1) AND lower(u.name) LIKE lower(?3) ESCAPE '\\'
           AND (CAST(?4 AS TEXT) IS NULL OR u.role = ?4)
         ORDER BY lower(u.name), u.id LIMIT ?5 OFFSET ?6"
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt
        .query_map(
            params![
                admin.org_id,
                admin.org_is_root,
                pattern(&p.q),
                role,
                limit,
                offset
            ],
            user_row,
        )?
        .collect::<crate::sql::Result<Vec<_>>>()?;
    Ok(trim_more(rows, p))
}

/// One user, if managed.
pub fn user(conn: Conn<'_>, admin: &User, id: &str) -> Result<Option<UserRow>> {
    let sql = format!("{USER_COLUMNS} WHERE (?2 OR u.org_id = ?1) AND u.id = ?3");
    Ok(conn
        .query_row(&sql, params![admin.org_id, admin.org_is_root, id], user_row)
        .optional()?)
}

/// The devices of one user, newest first, one page.
pub fn devices(conn: Conn<'_>, user: &str, p: &mut Paging) -> Result<Vec<DeviceRow>> {
    let (limit, offset) = limit_offset(p);
    let mut stmt = conn.prepare(
        "SELECT id, name, enrolled_at, revoked_at FROM devices WHERE user_id = ?1
         ORDER BY enrolled_at DESC, id LIMIT ?2 OFFSET ?3",
    )?;
    let rows = stmt
        .query_map(params![user, limit, offset], |r| {
            Ok(DeviceRow {
                id: r.get(0)?,
                name: r.get(1)?,
                enrolled: time(r.get(2)?),
                revoked: r.get::<_, Option<i64>>(3)?.map(time),
            })
        })?
        .collect::<crate::sql::Result<Vec<_>>>()?;
    Ok(trim_more(rows, p))
}

fn team_row(r: &crate::sql::Row<'_>) -> crate::sql::Result<TeamRow> {
    Ok(TeamRow {
        id: r.get(0)?,
        name: r.get(1)?,
        org: r.get(2)?,
        members: r.get(3)?,
    })
}

const TEAM_COLUMNS: &str = "SELECT t.id, t.name, o.name,
        (SELECT COUNT(*) FROM team_members m WHERE m.team_id = t.id)
     FROM teams t JOIN orgs o ON o.id = t.org_id";

/// Teams matching `p.q` (name), one page.
pub fn teams(conn: Conn<'_>, admin: &User, p: &mut Paging) -> Result<Vec<TeamRow>> {
    let (limit, offset) = limit_offset(p);
    let sql = format!(
        "{TEAM_COLUMNS} WHERE (?2 OR t.org_id = ?1) AND lower(t.name) LIKE lower(?3) ESCAPE '\\'
         ORDER BY lower(t.name), t.id LIMIT ?4 OFFSET ?5"
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt
        .query_map(
            params![
                admin.org_id,
                admin.org_is_root,
                pattern(&p.q),
                limit,
                offset
            ],
            team_row,
        )?
        .collect::<crate::sql::Result<Vec<_>>>()?;
    Ok(trim_more(rows, p))
}

/// One team, if managed.
pub fn team(conn: Conn<'_>, admin: &User, id: &str) -> Result<Option<TeamRow>> {
    let sql = format!("{TEAM_COLUMNS} WHERE (?2 OR t.org_id = ?1) AND t.id = ?3");
    Ok(conn
        .query_row(&sql, params![admin.org_id, admin.org_is_root, id], team_row)
        .optional()?)
}

/// The members of a team.
pub fn team_members(conn: Conn<'_>, team: &str) -> Result<Vec<UserRow>> {
    let sql = format!(
        "{USER_COLUMNS} JOIN team_members m ON m.user_id = u.id WHERE m.team_id = ?1
         ORDER BY lower(u.name), u.id"
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt
        .query_map([team], user_row)?
        .collect::<crate::sql::Result<Vec<_>>>()?;
    Ok(rows)
}

fn case_row(r: &crate::sql::Row<'_>) -> crate::sql::Result<CaseRow> {
    Ok(CaseRow {
        id: r.get(0)?,
        org: r.get(1)?,
        team: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
        created: time(r.get(3)?),
        people: r.get(4)?,
    })
}

const CASE_COLUMNS: &str = "SELECT c.id, o.name, t.name, c.created_at,
        (SELECT COUNT(*) FROM assignments a WHERE a.case_id = c.id)
      + (SELECT COUNT(*) FROM placements p WHERE p.case_id = c.id)
     FROM cases c JOIN orgs o ON o.id = c.org_id LEFT JOIN teams t ON t.id = c.team_id";

/// Cases whose id or team name matches `p.q`, newest first, one page.
pub fn cases(conn: Conn<'_>, admin: &User, p: &mut Paging) -> Result<Vec<CaseRow>> {
    let (limit, offset) = limit_offset(p);
    let sql = format!(
        "{CASE_COLUMNS} WHERE (?2 OR c.org_id = ?1)
           AND (lower(c.id) LIKE lower(?3) ESCAPE '\\' OR lower(IFNULL(t.name, '')) LIKE lower(?3) ESCAPE '\\')
         ORDER BY c.created_at DESC, c.id LIMIT ?4 OFFSET ?5"
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt
        .query_map(
            params![
                admin.org_id,
                admin.org_is_root,
                pattern(&p.q),
                limit,
                offset
            ],
            case_row,
        )?
        .collect::<crate::sql::Result<Vec<_>>>()?;
    Ok(trim_more(rows, p))
}

/// One case, if managed, with its team id.
pub fn case(
    conn: Conn<'_>,
    admin: &User,
    id: &str,
) -> Result<Option<(CaseRow, Option<String>, String)>> {
    let sql = format!("{CASE_COLUMNS} WHERE (?2 OR c.org_id = ?1) AND c.id = ?3");
    let row = conn
        .query_row(&sql, params![admin.org_id, admin.org_is_root, id], case_row)
        .optional()?;
    let Some(row) = row else { return Ok(None) };
    let (team, org): (Option<String>, String) = conn.query_row(
        "SELECT team_id, org_id FROM cases WHERE id = ?1",
        [id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok(Some((row, team, org)))
}

/// How many devices hold documents of `case` (they delete them when access ends).
pub fn devices_holding(conn: Conn<'_>, case: &str) -> Result<i64> {
    Ok(conn.query_row(
        "SELECT COUNT(DISTINCT x.device_id) FROM device_docs x
         JOIN docs d ON d.doc_id = x.doc_id WHERE d.case_id = ?1",
        [case],
        |r| r.get(0),
    )?)
}

/// The people linked to a case: (assigned guardians and social workers, linked carers).
pub fn case_people(conn: Conn<'_>, case: &str) -> Result<(Vec<UserRow>, Vec<UserRow>)> {
    let assigned_sql = format!(
        "{USER_COLUMNS} JOIN assignments a ON a.user_id = u.id WHERE a.case_id = ?1
         ORDER BY lower(u.name), u.id"
    );
    let carers_sql = format!(
        "{USER_COLUMNS} JOIN placements p ON p.carer_id = u.id WHERE p.case_id = ?1
         ORDER BY lower(u.name), u.id"
    );
    let mut out = Vec::new();
    for sql in [assigned_sql, carers_sql] {
        let mut stmt = conn.prepare(&sql)?;
        out.push(
            stmt.query_map([case], user_row)?
                .collect::<crate::sql::Result<Vec<_>>>()?,
        );
    }
    let carers = out.pop().unwrap_or_default();
    let assigned = out.pop().unwrap_or_default();
    Ok((assigned, carers))
}

/// Users of `org` with one of `roles`, for a form's choice (at most 500, by name).
pub fn choices(conn: Conn<'_>, org: &str, roles: &[&str]) -> Result<Vec<UserRow>> {
    let list = roles
        .iter()
        .map(|r| format!("'{}'", r.replace('\'', "")))
        .collect::<Vec<_>>()
        .join(",");
    let sql = format!(
        "{USER_COLUMNS} WHERE u.org_id = ?1 AND u.disabled_at IS NULL AND u.role IN ({list})
         ORDER BY lower(u.name), u.id LIMIT 500"
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt
        .query_map([org], user_row)?
        .collect::<crate::sql::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Teams of `org`, for a form's choice.
pub fn team_choices(conn: Conn<'_>, org: &str) -> Result<Vec<(String, String)>> {
    let mut stmt = conn.prepare(
        "SELECT id, name FROM teams WHERE org_id = ?1 ORDER BY lower(name), id LIMIT 500",
    )?;
    let rows = stmt
        .query_map([org], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<crate::sql::Result<Vec<_>>>()?;
    Ok(rows)
}

/// The org of a team.
pub fn team_org(conn: Conn<'_>, team: &str) -> Result<Option<String>> {
    Ok(conn
        .query_row("SELECT org_id FROM teams WHERE id = ?1", [team], |r| {
            r.get(0)
        })
        .optional()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_patterns_escape_wildcards() {
        assert_eq!(pattern("a%b_c"), "%a\\%b\\_c%");
        assert_eq!(pattern("  "), "%%");
        assert!(MANAGED.contains("org_id"));
    }
}
