//! Who is who: users, organisations, teams and cases as recorded in the server's tables, and
//! the permissions they give a user over documents (through [`crate::access`]).

use std::collections::HashMap;

use casebook_core::doc::DocId;
use casebook_core::ids::CaseId;
use rand::RngCore;

use crate::access::{Access, Relation, Role, doc_access};
use crate::audit;
use crate::error::{Error, Result};
use crate::params;
use crate::sql::{Conn, OptionalExtension, Tx};

/// A fresh random identifier: 16 bytes as 32 lowercase hex characters.
pub fn random_id() -> String {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// A user as the server knows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The user's id.
    pub id: String,
    /// Their organisation.
    pub org_id: String,
    /// Their role.
    pub role: Role,
    /// Whether their organisation is the root organisation (its administrators manage all).
    pub org_is_root: bool,
}

/// The user `id`, if it exists.
pub fn user(conn: Conn<'_>, id: &str) -> Result<Option<User>> {
    let row: Option<(String, String, String, bool)> = conn
        .query_row(
            "SELECT u.id, u.org_id, u.role, o.is_root FROM users u JOIN orgs o ON o.id = u.org_id
             WHERE u.id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    row.map(|(id, org_id, role, org_is_root)| User::from_row(id, org_id, &role, org_is_root))
        .transpose()
}

impl User {
    /// A user from its stored columns; a role the server does not know is corrupt.
    pub fn from_row(id: String, org_id: String, role: &str, org_is_root: bool) -> Result<Self> {
        Ok(Self {
            id,
            org_id,
            role: role
                .parse()
                .map_err(|_| Error::Corrupt("user role".into()))?,
            org_is_root,
        })
    }
}

/// The organisation a case belongs to, if the case is registered.
pub fn case_org(conn: Conn<'_>, case: &str) -> Result<Option<String>> {
    Ok(conn
        .query_row("SELECT org_id FROM cases WHERE id = ?1", [case], |r| {
            r.get(0)
        })
        .optional()?)
}

/// What one user may do with every document, computed once per request from the tables.
#[derive(Debug, Clone)]
pub struct Permissions {
    role: Role,
    cases: HashMap<String, Relation>,
}

impl Permissions {
    /// The cases the user has any relation to.
    pub fn cases(&self) -> impl Iterator<Item = &str> {
        self.cases.keys().map(String::as_str)
    }

    /// Whether the user is a supervisor of the team `doc`'s case belongs to.
    pub fn supervises(&self, doc: &DocId) -> bool {
        self.role == Role::Supervisor
            && self
                .cases
                .get(&doc.case.to_string())
                .is_some_and(|r| r.same_org && r.supervises_team)
    }

    /// The user's access to `doc`.
    pub fn access(&self, doc: &DocId) -> Access {
        match self.cases.get(&doc.case.to_string()) {
            Some(rel) => doc_access(self.role, *rel, doc.kind),
            None => Access::None,
        }
    }
}

/// The cases of a user's organisation they relate to, each with how (0 assigned, 1 a
/// supervisor of its team, 2 its placement's carer), in one statement: it runs in every sync.
/// `?3` is 1 for a supervisor: team membership makes only a supervisor the supervisor of the
/// team's cases.
const PERMISSIONS_SQL: &str = "SELECT a.case_id, 0 FROM assignments a
         JOIN cases c ON c.id = a.case_id
     WHERE a.user_id = ?1 AND c.org_id = ?2
     UNION ALL
     SELECT DISTINCT c.id, 1 FROM team_members m JOIN cases c ON c.team_id = m.team_id
     WHERE m.user_id = ?1 AND c.org_id = ?2 AND ?3 = 1
     UNION ALL
     SELECT p.case_id, 2 FROM placements p JOIN cases c ON c.id = p.case_id
     WHERE p.carer_id = ?1 AND c.org_id = ?2";

/// The relations of `user` to every case they are connected with, in their organisation.
pub fn permissions(conn: Conn<'_>, user: &User) -> Result<Permissions> {
    let mut cases: HashMap<String, Relation> = HashMap::new();
    // Team membership makes only a supervisor the supervisor of the team's cases.
    let supervisor = i64::from(user.role == Role::Supervisor);
    let mut stmt = conn.prepare_cached(PERMISSIONS_SQL)?;
    let rows = stmt.query_map(params![user.id, user.org_id, supervisor], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
    })?;
    for row in rows {
        let (id, source) = row?;
        let rel = cases.entry(id).or_insert(Relation {
            same_org: true,
            ..Relation::default()
        });
        match source {
            0 => rel.assigned = true,
            1 => rel.supervises_team = true,
            2 => rel.placement_carer = true,
            _ => return Err(Error::Corrupt("permission source".into())),
        }
    }
    Ok(Permissions {
        role: user.role,
        cases,
    })
}

/// The first team `user` is a member of (a supervisor's new cases go there).
pub fn first_team(conn: Conn<'_>, user: &str) -> Result<Option<String>> {
    Ok(conn
        .query_row(
            "SELECT team_id FROM team_members WHERE user_id = ?1 ORDER BY team_id LIMIT 1",
            [user],
            |r| r.get(0),
        )
        .optional()?)
}

/// What became of a case a device created offline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    /// Registered in the creator's organisation.
    Registered,
    /// The user's role may not create cases (or a supervisor has no team).
    NotAllowed,
    /// The user already registered their limit of cases in the last day; refused (the caller
    /// audits the refusal).
    OverLimit,
}

/// Cases `user` registered in the day before `now`.
pub fn cases_registered_since(conn: Conn<'_>, user: &str, since: i64) -> Result<u32> {
    Ok(conn.query_row(
        "SELECT COUNT(*) FROM audit WHERE actor_user = ?1 AND event = 'case_created' AND at > ?2",
        params![user, since],
        |r| r.get(0),
    )?)
}

/// Register a case a device created offline: in the creator's organisation, with the creator
/// assigned and in the creator's team when they are in exactly one (a supervisor's: their
/// first team; a case left without a team is audited `case_without_team`), unless the user
/// already registered `per_day` cases in the last 24 hours.
pub fn register_offline_case(
    tx: &Tx<'_>,
    case: &CaseId,
    user: &User,
    device: &str,
    now: i64,
    per_day: u32,
) -> Result<Registration> {
    if !user.role.may_create_cases() {
        return Ok(Registration::NotAllowed);
    }
    let case_id = case.to_string();
    if cases_registered_since(**tx, &user.id, now - 24 * 3600)? >= per_day {
        return Ok(Registration::OverLimit);
    }
    let team = if user.role == Role::Supervisor {
        match first_team(**tx, &user.id)? {
            Some(team) => Some(team),
            None => return Ok(Registration::NotAllowed),
        }
    } else {
        only_team(**tx, &user.id)?
    };
    tx.execute(
        "INSERT INTO cases (id, org_id, team_id, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![case_id, user.org_id, team, now],
    )?;
    if user.role.is_assignable() {
        tx.execute(
            "INSERT INTO assignments (case_id, user_id) VALUES (?1, ?2)",
            params![case_id, user.id],
        )?;
    }
    audit::append(
        tx,
        now,
        audit::Event {
            event: "case_created",
            actor_user: Some(user.id.clone()),
            actor_device: Some(device.to_owned()),
            case_id: Some(case_id),
            subject: Some(user.org_id.clone()),
            detail: serde_json::json!({ "team": team, "via": "sync" }),
            ..audit::Event::default()
        },
    )?;
    if team.is_none() {
        // Administrators and supervisors find it in `GET /v1/admin/cases/unteamed`.
        audit::append(
            tx,
            now,
            audit::Event {
                event: "case_without_team",
                actor_user: Some(user.id.clone()),
                actor_device: Some(device.to_owned()),
                case_id: Some(case.to_string()),
                subject: Some(user.org_id.clone()),
                detail: serde_json::json!({ "creator_teams": team_count(**tx, &user.id)? }),
                ..audit::Event::default()
            },
        )?;
    }
    Ok(Registration::Registered)
}

/// The user's team if they are in exactly one.
pub fn only_team(conn: Conn<'_>, user: &str) -> Result<Option<String>> {
    if team_count(conn, user)? != 1 {
        return Ok(None);
    }
    first_team(conn, user)
}

fn team_count(conn: Conn<'_>, user: &str) -> Result<u32> {
    Ok(conn.query_row(
        "SELECT COUNT(*) FROM team_members WHERE user_id = ?1",
        [user],
        |r| r.get(0),
    )?)
}
