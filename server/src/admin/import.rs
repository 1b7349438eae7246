//! Bulk import of users from a CSV file (`name,role,teams`): the file is read and every row
//! checked against the directory before anything is written (a preview), and the import writes
//! every row in one audited transaction only if no row has an error. The console's import page
//! shows the preview; `docs/console.md` describes the file.

use std::collections::HashMap;

use serde_json::json;

use super::{Caller, change, insert_user, look, manages, record, require_admin};
use crate::access::Role;
use crate::audit::Event;
use crate::directory::User;
use crate::error::{Error, Result};
use crate::names;
use crate::params;
use crate::sql::{Conn, OptionalExtension, Tx};
use crate::state::AppState;

/// Largest file accepted for import (256 KiB: some 5,000 rows of a name, a role and a team).
pub const MAX_IMPORT_BYTES: usize = 256 * 1024;

/// Most users one file may create.
pub const MAX_IMPORT_ROWS: usize = 2_000;

/// Most teams one row may name.
const MAX_TEAMS_PER_ROW: usize = 20;

/// One data row of the file, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRow {
    /// The line of the file the row starts on (the header is line 1).
    pub line: usize,
    /// The `name` column, trimmed.
    pub name: String,
    /// The `role` column, trimmed.
    pub role: String,
    /// The `teams` column split on `;`, each trimmed, empty ones dropped.
    pub teams: Vec<String>,
    /// What is wrong with the row's shape (a wrong number of fields), if anything.
    pub shape_error: Option<String>,
}

/// A row checked against the directory: its errors, each naming its column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedRow {
    /// The row as read.
    pub row: ImportRow,
    /// The role it would be given, if the column names one.
    pub role: Option<Role>,
    /// The ids of the teams it would join.
    pub team_ids: Vec<String>,
    /// Everything wrong with it (`name: …`, `role: …`, `teams: …`); empty if it can be written.
    pub errors: Vec<String>,
}

/// What an import would do: every row with its errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportPreview {
    /// The organisation the users would join.
    pub org_id: String,
    /// The rows, in the file's order.
    pub rows: Vec<CheckedRow>,
}

impl ImportPreview {
    /// How many rows have at least one error.
    pub fn rows_with_errors(&self) -> usize {
        self.rows.iter().filter(|r| !r.errors.is_empty()).count()
    }

    /// No row has an error: the import may be written.
    pub fn is_clean(&self) -> bool {
        self.rows_with_errors() == 0
    }
}

/// A file-level refusal (no row is read): names the file as the field.
fn file_error(message: impl Into<String>) -> Error {
    Error::BadRequest(format!("file {}", message.into()))
}

/// Split `text` into CSV records (RFC 4180: commas, double-quoted fields with `""` for a
/// quote, CRLF or LF between records), each with the line it starts on. Blank lines are
/// skipped.
fn records(text: &str) -> Result<Vec<(usize, Vec<String>)>> {
    let mut out = Vec::new();
    let mut fields: Vec<String> = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut line = 1;
    let mut start = 1;
    let mut chars = text.chars().peekable();
    let mut touched = false;
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                '\n' => {
                    line += 1;
                    field.push(c);
                }
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.trim().is_empty() => {
                field.clear();
                quoted = true;
                touched = true;
            }
            ',' => {
                fields.push(std::mem::take(&mut field));
                touched = true;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' | '\r' => {
                if touched || !field.trim().is_empty() {
                    fields.push(std::mem::take(&mut field));
                    out.push((start, std::mem::take(&mut fields)));
                }
                field.clear();
                touched = false;
                line += 1;
                start = line;
            }
            _ => field.push(c),
        }
    }
    if quoted {
        return Err(file_error(format!(
            "has a quoted field opened on line {start} and never closed"
        )));
    }
    if touched || !field.trim().is_empty() {
        fields.push(field);
        out.push((start, fields));
    }
    Ok(out)
}

/// The columns of an import file, by their place in the header.
struct Columns {
    name: usize,
    role: usize,
    teams: Option<usize>,
    count: usize,
}

fn columns(header: &[String]) -> Result<Columns> {
    let mut seen: HashMap<&'static str, usize> = HashMap::new();
    for (i, h) in header.iter().enumerate() {
        let key = match h.trim().to_lowercase().as_str() {
            "name" => "name",
            "role" => "role",
            "team" | "teams" => "teams",
            other => {
                let shown: String = other.chars().take(40).collect();
                return Err(file_error(format!(
                    "has an unknown column {shown:?} in its first line; the columns are name, role and teams"
                )));
            }
        };
        if seen.insert(key, i).is_some() {
            return Err(file_error(format!(
                "names the column {key} twice in its first line"
            )));
        }
    }
    match (seen.get("name"), seen.get("role")) {
        (Some(&name), Some(&role)) => Ok(Columns {
            name,
            role,
            teams: seen.get("teams").copied(),
            count: header.len(),
        }),
        _ => Err(file_error(
            "must start with a header line naming its columns: name,role,teams",
        )),
    }
}

/// Read an import file: UTF-8 (a byte-order mark is allowed), a header line naming the
/// columns `name`, `role` and optionally `teams` (several separated by `;`), then one user a
/// line. A file that cannot be read as a whole is refused (`bad_request` naming the file);
/// a row of the wrong shape is kept with its error, for the preview.
pub fn parse_csv(bytes: &[u8]) -> Result<Vec<ImportRow>> {
    if bytes.len() > MAX_IMPORT_BYTES {
        return Err(file_error(format!(
            "is larger than {} KiB; split it into smaller files",
            MAX_IMPORT_BYTES / 1024
        )));
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|_| file_error("is not UTF-8 text; save it as CSV UTF-8"))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut records = records(text)?.into_iter();
    let Some((_, header)) = records.next() else {
        return Err(file_error("is empty"));
    };
    let cols = columns(&header)?;
    let mut rows = Vec::new();
    for (line, fields) in records {
        if rows.len() == MAX_IMPORT_ROWS {
            return Err(file_error(format!(
                "has more than {MAX_IMPORT_ROWS} users; split it into smaller files"
            )));
        }
        let get = |i: usize| {
            fields
                .get(i)
                .map(|f| f.trim().to_owned())
                .unwrap_or_default()
        };
        let shape_error = (fields.len() != cols.count).then(|| {
            format!(
                "row: has {} fields where the first line has {}",
                fields.len(),
                cols.count
            )
        });
        let teams = cols
            .teams
            .map(|i| {
                get(i)
                    .split(';')
                    .map(|t| t.trim().to_owned())
                    .filter(|t| !t.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        rows.push(ImportRow {
            line,
            name: get(cols.name),
            role: get(cols.role),
            teams,
            shape_error,
        });
    }
    if rows.is_empty() {
        return Err(file_error("has a header but no users"));
    }
    Ok(rows)
}

/// A role as a person writes it: `guardian`, `Social worker`, `social-worker`.
fn role_of(text: &str) -> Option<Role> {
    let key: String = text
        .trim()
        .to_lowercase()
        .chars()
        .map(|c| if c == ' ' || c == '-' { '_' } else { c })
        .collect();
    key.parse().ok()
}

/// The id of the team of `org` named `name` (case-insensitive), or why there is none.
fn team_named(
    conn: Conn<'_>,
    org: &str,
    name: &str,
) -> Result<std::result::Result<String, String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id FROM teams WHERE org_id = ?1 AND lower(name) = lower(?2) ORDER BY id LIMIT 2",
    )?;
    let ids = stmt
        .query_map(params![org, name], |r| r.get::<_, String>(0))?
        .collect::<crate::sql::Result<Vec<_>>>()?;
    Ok(match ids.as_slice() {
        [id] => Ok(id.clone()),
        [] => Err(format!("teams: no team {name:?} in this organisation")),
        _ => Err(format!(
            "teams: two teams are named {name:?}; rename one first"
        )),
    })
}

/// Check every row against the directory of `org` (which `admin` must manage): a name that
/// is not empty, has no control, bidirectional or invisible characters and is not another
/// user's of the organisation or another row's; a known role; teams of the organisation
/// (never for an administrator).
pub fn check_rows(
    conn: Conn<'_>,
    admin: &User,
    org: &str,
    rows: Vec<ImportRow>,
) -> Result<ImportPreview> {
    let exists: bool = conn.query_row(
        "SELECT EXISTS(SELECT 1 FROM orgs WHERE id = ?1)",
        [org],
        |r| r.get(0),
    )?;
    if !exists || !manages(admin, org) {
        return Err(Error::NotFound("organisation"));
    }
    let mut first_line_of: HashMap<String, usize> = HashMap::new();
    let mut existing = conn.prepare_cached(
        "SELECT 1 FROM users WHERE org_id = ?1 AND lower(name) = lower(?2) LIMIT 1",
    )?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let mut errors: Vec<String> = row.shape_error.iter().cloned().collect();
        if row.name.is_empty() {
            errors.push("name: empty".into());
        } else if let Err(e) = names::check("name:", &row.name) {
            match e {
                Error::BadRequest(message) => errors.push(message),
                other => return Err(other),
            }
        } else {
            let key = row.name.to_lowercase();
            if let Some(first) = first_line_of.get(&key) {
                errors.push(format!("name: the same as line {first}"));
            } else {
                first_line_of.insert(key, row.line);
                let taken = existing
                    .query_row(params![org, row.name], |_| Ok(()))
                    .optional()?
                    .is_some();
                if taken {
                    errors.push("name: a user of this name is already in the organisation".into());
                }
            }
        }
        let role = role_of(&row.role);
        match role {
            None if row.role.is_empty() => errors.push("role: empty".into()),
            None => {
                let shown: String = row.role.chars().take(40).collect();
                errors.push(format!(
                    "role: unknown role {shown:?}; use guardian, social_worker, carer, supervisor or administrator"
                ));
            }
            Some(Role::Administrator) if !row.teams.is_empty() => {
                errors.push("teams: administrators cannot be team members".into());
            }
            Some(_) => {}
        }
        let mut team_ids = Vec::new();
        if row.teams.len() > MAX_TEAMS_PER_ROW {
            errors.push(format!("teams: more than {MAX_TEAMS_PER_ROW} teams"));
        } else {
            for team in &row.teams {
                match team_named(conn, org, team)? {
                    Ok(id) if !team_ids.contains(&id) => team_ids.push(id),
                    Ok(_) => {}
                    Err(message) => errors.push(message),
                }
            }
        }
        out.push(CheckedRow {
            row,
            role,
            team_ids,
            errors,
        });
    }
    Ok(ImportPreview {
        org_id: org.to_owned(),
        rows: out,
    })
}

/// Read `csv` and check every row for `org`, writing nothing.
pub async fn preview_import(
    state: &AppState,
    caller: Caller,
    org: String,
    csv: Vec<u8>,
) -> Result<ImportPreview> {
    require_admin(&caller)?;
    let rows = parse_csv(&csv)?;
    look(state, caller, move |conn, caller| {
        check_rows(conn, &caller.user, &org, rows)
    })
    .await
}

/// Import the users of `csv` into `org`: checked again in the writing transaction, and
/// written (each user, each team membership, audited as the single forms are, and one
/// `users_imported` row) only if no row has an error; otherwise nothing is written. Returns
/// how many users were created.
pub async fn import_users(
    state: &AppState,
    caller: Caller,
    org: String,
    csv: Vec<u8>,
) -> Result<usize> {
    require_admin(&caller)?;
    let rows = parse_csv(&csv)?;
    change(state, caller, move |tx, caller, now| {
        let preview = check_rows(**tx, &caller.user, &org, rows)?;
        let bad = preview.rows_with_errors();
        if bad > 0 {
            return Err(Error::BadRequest(format!(
                "file has {bad} rows with errors; nothing was imported"
            )));
        }
        write_rows(tx, caller, now, &org, preview.rows)
    })
    .await
}

fn write_rows(
    tx: &Tx<'_>,
    caller: &Caller,
    now: i64,
    org: &str,
    rows: Vec<CheckedRow>,
) -> Result<usize> {
    let count = rows.len();
    let mut memberships = 0;
    for row in rows {
        let role = row.role.ok_or(Error::BadRequest("role: unknown".into()))?;
        let user = insert_user(tx, caller, now, org, &row.row.name, role)?;
        for team in row.team_ids {
            tx.execute(
                "INSERT OR IGNORE INTO team_members (team_id, user_id) VALUES (?1, ?2)",
                params![team, user],
            )?;
            memberships += 1;
            let ev = Event {
                event: "team_member_added",
                subject: Some(user.clone()),
                detail: json!({ "team": team, "via": "import" }),
                ..Event::default()
            };
            record(tx, caller, now, ev)?;
        }
    }
    let ev = Event {
        event: "users_imported",
        subject: Some(org.to_owned()),
        detail: json!({ "users": count, "memberships": memberships }),
        ..Event::default()
    };
    record(tx, caller, now, ev)?;
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_quoted_fields_crlf_a_bom_and_skips_blank_lines() -> Result<()> {
        let text = "\u{feff}Name,Role,Teams\r\n\"Okafor, Sam\",Supervisor,\"Hull; Leeds\"\r\n\r\n\"Say \"\"Hi\"\"\",guardian,\n";
        let rows = parse_csv(text.as_bytes())?;
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].name, "Okafor, Sam");
        assert_eq!(rows[0].teams, vec!["Hull", "Leeds"]);
        assert_eq!(rows[0].line, 2);
        assert_eq!(rows[1].name, "Say \"Hi\"");
        assert_eq!(rows[1].line, 4);
        assert!(rows[1].teams.is_empty());
        assert!(rows.iter().all(|r| r.shape_error.is_none()));
        Ok(())
    }

    #[test]
    fn columns_may_come_in_any_order_and_teams_is_optional() -> Result<()> {
        let rows = parse_csv(b"role,name\ncarer,Carla Jones\n")?;
        assert_eq!(rows[0].name, "Carla Jones");
        assert_eq!(rows[0].role, "carer");
        Ok(())
    }

    #[test]
    fn a_row_of_the_wrong_shape_is_kept_with_its_error() -> Result<()> {
        let rows = parse_csv(b"name,role,teams\nA,guardian,T,extra\n")?;
        assert_eq!(
            rows[0].shape_error.as_deref(),
            Some("row: has 4 fields where the first line has 3")
        );
        Ok(())
    }

    #[test]
    fn files_that_cannot_be_read_are_refused_naming_the_file() {
        let too_big = vec![b'a'; MAX_IMPORT_BYTES + 1];
        let mut many = String::from("name,role\n");
        for i in 0..=MAX_IMPORT_ROWS {
            many.push_str(&format!("P{i},carer\n"));
        }
        let cases: [(&[u8], &str); 9] = [
            (b"", "file is empty"),
            (b"\xff\xfe", "file is not UTF-8"),
            (
                b"name,role,age\nA,carer,3\n",
                "file has an unknown column \"age\"",
            ),
            (b"name,name,role\n", "file names the column name twice"),
            (b"name,teams\nA,T\n", "file must start with a header"),
            (b"name,role\n", "file has a header but no users"),
            (
                b"name,role\n\"A,carer\n",
                "file has a quoted field opened on line 2",
            ),
            (&too_big, "file is larger than 256 KiB"),
            (many.as_bytes(), "file has more than 2000 users"),
        ];
        for (bytes, expected) in cases {
            match parse_csv(bytes) {
                Err(Error::BadRequest(m)) => assert!(m.starts_with(expected), "{m}"),
                other => panic!("{expected}: {other:?}"),
            }
        }
    }

    #[test]
    fn roles_are_read_as_people_write_them() {
        assert_eq!(role_of("Social worker"), Some(Role::SocialWorker));
        assert_eq!(role_of("social-worker"), Some(Role::SocialWorker));
        assert_eq!(role_of(" GUARDIAN "), Some(Role::Guardian));
        assert_eq!(role_of("wizard"), None);
        assert_eq!(role_of(""), None);
    }
}
