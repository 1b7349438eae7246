//! Administration: organisations, users, teams, cases, assignments, placements, transfers,
//! enrolment codes, devices and audit export. Administrators manage their own organisation
//! (those of the root organisation manage all); supervisors may issue codes for the guardians,
//! social workers and carers of their own teams. Every change, and every refusal of an
//! enrolment code or a team membership, is audited.

mod bootstrap;
mod enrolment;
mod import;
pub(crate) mod notices;
mod types;
mod unteamed;

pub use bootstrap::{bootstrap, first_admin_code, write_code_file};
pub(crate) use enrolment::issuer_still_allowed;
pub use enrolment::{cancel_code, issue_code, list_codes, set_disabled};
pub use import::{
    CheckedRow, ImportPreview, ImportRow, MAX_IMPORT_BYTES, MAX_IMPORT_ROWS, import_users,
    parse_csv, preview_import,
};
pub use types::*;
pub use unteamed::{UnteamedCase, list_unteamed};

use casebook_core::ids::CaseId;
use rand::rngs::OsRng;
use serde_json::json;

use crate::access::Role;
use crate::audit::{self, Event};
use crate::auth::{self, Caller};
use crate::directory::{self, User, random_id};
use crate::error::{Error, Result};
use crate::names;
use crate::params;
use crate::sql::{OptionalExtension, Tx};
use crate::state::AppState;

fn manages(admin: &User, org: &str) -> bool {
    admin.role == Role::Administrator && (admin.org_is_root || admin.org_id == org)
}

fn require_admin(caller: &Caller) -> Result<()> {
    if caller.user.role == Role::Administrator {
        Ok(())
    } else {
        Err(Error::Forbidden("administrators only"))
    }
}

/// The organisation owning row `id` of `table` (users, teams, cases), if the admin manages it.
fn managed_org(tx: &Tx<'_>, admin: &User, table: &str, id: &str) -> Result<String> {
    let sql = format!("SELECT org_id FROM {table} WHERE id = ?1");
    let org: Option<String> = tx.query_row(&sql, [id], |r| r.get(0)).optional()?;
    match org {
        Some(org) if manages(admin, &org) => Ok(org),
        _ => Err(Error::NotFound(
            "no such record in an organisation you manage",
        )),
    }
}

fn user_role(tx: &Tx<'_>, user: &str) -> Result<Role> {
    directory::user(**tx, user)?
        .map(|u| u.role)
        .ok_or(Error::NotFound("user"))
}

fn record(tx: &Tx<'_>, caller: &Caller, now: i64, event: Event<'_>) -> Result<()> {
    audit::append(
        tx,
        now,
        Event {
            actor_user: Some(caller.user.id.clone()),
            actor_device: Some(caller.device.to_string()),
            ..event
        },
    )?;
    Ok(())
}

/// Run an administrative change in one audited transaction.
async fn change<T, F>(state: &AppState, caller: Caller, f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce(&Tx<'_>, &Caller, i64) -> Result<T> + Send + 'static,
{
    let now = state.clock.now();
    state
        .db
        .write(move |tx| {
            let caller = auth::recheck(**tx, &caller, now)?;
            f(tx, &caller, now)
        })
        .await
}

/// Run an administrative change that may be refused: the closure answers `Ok(Err(refusal))`
/// after auditing the refusal, so the audit row is committed before the refusal is returned.
async fn change_or_refuse<T, F>(state: &AppState, caller: Caller, f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce(&Tx<'_>, &Caller, i64) -> Result<Result<T>> + Send + 'static,
{
    change(state, caller, f).await?
}

/// Audit a refused request about `subject` and answer with `error` (see [`change_or_refuse`]).
fn refuse<T>(
    tx: &Tx<'_>,
    caller: &Caller,
    now: i64,
    event: &'static str,
    subject: &str,
    detail: serde_json::Value,
    error: Error,
) -> Result<Result<T>> {
    let ev = Event {
        event,
        subject: Some(subject.to_owned()),
        detail,
        ..Event::default()
    };
    record(tx, caller, now, ev)?;
    Ok(Err(error))
}

/// Read the directory for an administrator, checking the session in the same transaction.
async fn look<T, F>(state: &AppState, caller: Caller, f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce(crate::sql::Conn<'_>, &Caller) -> Result<T> + Send + 'static,
{
    let now = state.clock.now();
    state
        .db
        .read(move |conn| {
            let caller = auth::recheck(conn, &caller, now)?;
            require_admin(&caller)?;
            f(conn, &caller)
        })
        .await
}

/// Create an organisation (root administrators only).
pub async fn create_org(state: &AppState, caller: Caller, req: NewOrg) -> Result<Created> {
    require_admin(&caller)?;
    if !caller.user.org_is_root {
        return Err(Error::Forbidden(
            "only root administrators create organisations",
        ));
    }
    names::check("name", &req.name)?;
    for a in &req.authorities {
        names::check("authority", a)?;
    }
    change(state, caller, move |tx, caller, now| {
        let id = random_id();
        tx.execute(
            "INSERT INTO orgs (id, name, created_at) VALUES (?1, ?2, ?3)",
            params![id, req.name, now],
        )?;
        for a in &req.authorities {
            tx.execute(
                "INSERT OR IGNORE INTO org_authorities (org_id, authority) VALUES (?1, ?2)",
                params![id, a],
            )?;
        }
        let detail = json!({ "authorities": req.authorities.len() });
        let subject = Some(id.clone());
        record(
            tx,
            caller,
            now,
            Event {
                event: "org_created",
                subject,
                detail,
                ..Event::default()
            },
        )?;
        Ok(Created { id })
    })
    .await
}

/// Create a user in an organisation the caller manages.
pub async fn create_user(state: &AppState, caller: Caller, req: NewUser) -> Result<Created> {
    require_admin(&caller)?;
    names::check("name", &req.name)?;
    let role: Role = req
        .role
        .parse()
        .map_err(|_| Error::BadRequest("unknown role".into()))?;
    change(state, caller, move |tx, caller, now| {
        if !manages(&caller.user, &req.org_id) {
            return Err(Error::NotFound("organisation"));
        }
        let org_exists: bool = tx.query_row(
            "SELECT EXISTS(SELECT 1 FROM orgs WHERE id = ?1)",
            [&req.org_id],
            |r| r.get(0),
        )?;
        if !org_exists {
            return Err(Error::NotFound("organisation"));
        }
        let id = insert_user(tx, caller, now, &req.org_id, &req.name, role)?;
        Ok(Created { id })
    })
    .await
}

/// Write one user of `org` (already checked) and its audit row; returns the new id.
fn insert_user(
    tx: &Tx<'_>,
    caller: &Caller,
    now: i64,
    org: &str,
    name: &str,
    role: Role,
) -> Result<String> {
    let id = random_id();
    tx.execute(
        "INSERT INTO users (id, org_id, name, role, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![id, org, name, role.as_str(), now],
    )?;
    let ev = Event {
        event: "user_created",
        subject: Some(id.clone()),
        detail: json!({ "role": role.as_str(), "org": org }),
        ..Event::default()
    };
    record(tx, caller, now, ev)?;
    Ok(id)
}

/// Create a team.
pub async fn create_team(state: &AppState, caller: Caller, req: NewTeam) -> Result<Created> {
    require_admin(&caller)?;
    names::check("name", &req.name)?;
    change(state, caller, move |tx, caller, now| {
        if !manages(&caller.user, &req.org_id) {
            return Err(Error::NotFound("organisation"));
        }
        let id = random_id();
        tx.execute(
            "INSERT INTO teams (id, org_id, name) VALUES (?1, ?2, ?3)",
            params![id, req.org_id, req.name],
        )
        .map_err(|_| Error::NotFound("organisation"))?;
        let detail = json!({ "org": req.org_id });
        let subject = Some(id.clone());
        record(
            tx,
            caller,
            now,
            Event {
                event: "team_created",
                subject,
                detail,
                ..Event::default()
            },
        )?;
        Ok(Created { id })
    })
    .await
}

/// Add (`add = true`) or remove a team member; a supervisor member supervises its cases.
pub async fn team_member(
    state: &AppState,
    caller: Caller,
    team: String,
    user: String,
    add: bool,
) -> Result<()> {
    require_admin(&caller)?;
    change_or_refuse(state, caller, move |tx, caller, now| {
        let org = managed_org(tx, &caller.user, "teams", &team)?;
        if managed_org(tx, &caller.user, "users", &user)? != org {
            return Err(Error::Forbidden(
                "team and user are in different organisations",
            ));
        }
        if add && user_role(tx, &user)? == Role::Administrator {
            let detail = json!({ "team": team, "reason": "administrator" });
            return refuse(
                tx,
                caller,
                now,
                "team_member_refused",
                &user,
                detail,
                Error::Forbidden("administrators cannot be team members"),
            );
        }
        let event = if add {
            tx.execute(
                "INSERT OR IGNORE INTO team_members (team_id, user_id) VALUES (?1, ?2)",
                params![team, user],
            )?;
            "team_member_added"
        } else {
            tx.execute(
                "DELETE FROM team_members WHERE team_id = ?1 AND user_id = ?2",
                params![team, user],
            )?;
            "team_member_removed"
        };
        let detail = json!({ "team": team });
        record(
            tx,
            caller,
            now,
            Event {
                event,
                subject: Some(user),
                detail,
                ..Event::default()
            },
        )
        .map(Ok)
    })
    .await
}

/// Register a case (normally cases arrive by sync from the phone that created them).
pub async fn create_case(state: &AppState, caller: Caller, req: NewCase) -> Result<Created> {
    require_admin(&caller)?;
    change(state, caller, move |tx, caller, now| {
        if !manages(&caller.user, &req.org_id) {
            return Err(Error::NotFound("organisation"));
        }
        if let Some(team) = &req.team_id
            && managed_org(tx, &caller.user, "teams", team)? != req.org_id
        {
            return Err(Error::Forbidden("team is in another organisation"));
        }
        let case = req.case_id.unwrap_or_else(|| CaseId::random(&mut OsRng));
        let id = case.to_string();
        // An id already registered, in this organisation or any other, changes nothing and
        // gets the same answer as a new one: otherwise any administrator could learn whether
        // another organisation holds a case. The attempt is audited under the case's id, so
        // its own organisation sees it.
        if let Some(owner) = directory::case_org(**tx, &id)? {
            let ev = Event {
                event: "case_register_ignored",
                case_id: Some(id.clone()),
                subject: Some(req.org_id),
                detail: json!({ "reason": "already registered", "same_org": manages(&caller.user, &owner) }),
                ..Event::default()
            };
            record(tx, caller, now, ev)?;
            return Ok(Created { id });
        }
        tx.execute(
            "INSERT INTO cases (id, org_id, team_id, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![id, req.org_id, req.team_id, now],
        )?;
        let detail = json!({ "team": req.team_id, "via": "admin" });
        let ev = Event {
            event: "case_created",
            case_id: Some(id.clone()),
            subject: Some(req.org_id),
            detail,
            ..Event::default()
        };
        record(tx, caller, now, ev)?;
        Ok(Created { id })
    })
    .await
}

/// What link between a user and a case to change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseLink {
    /// A guardian or social worker assigned to the case.
    Assignment,
    /// A carer linked to the child's placement.
    Placement,
}

/// Add or remove an assignment or a placement link.
pub async fn case_link(
    state: &AppState,
    caller: Caller,
    case: String,
    user: String,
    link: CaseLink,
    add: bool,
) -> Result<()> {
    require_admin(&caller)?;
    change(state, caller, move |tx, caller, now| {
        let org = managed_org(tx, &caller.user, "cases", &case)?;
        if managed_org(tx, &caller.user, "users", &user)? != org {
            return Err(Error::Forbidden(
                "case and user are in different organisations",
            ));
        }
        let role = user_role(tx, &user)?;
        let (table, column, ok, added, removed) = match link {
            CaseLink::Assignment => (
                "assignments",
                "user_id",
                role.is_assignable(),
                "case_assigned",
                "case_unassigned",
            ),
            CaseLink::Placement => (
                "placements",
                "carer_id",
                role == Role::Carer,
                "placement_linked",
                "placement_unlinked",
            ),
        };
        let event = if add {
            if !ok {
                return Err(Error::BadRequest(
                    "this role cannot be linked this way".into(),
                ));
            }
            let sql = format!("INSERT OR IGNORE INTO {table} (case_id, {column}) VALUES (?1, ?2)");
            tx.execute(&sql, params![case, user])?;
            added
        } else {
            let sql = format!("DELETE FROM {table} WHERE case_id = ?1 AND {column} = ?2");
            tx.execute(&sql, params![case, user])?;
            removed
        };
        let ev = Event {
            event,
            case_id: Some(case),
            subject: Some(user),
            detail: json!({}),
            ..Event::default()
        };
        record(tx, caller, now, ev)
    })
    .await
}

/// Put a case in a team (whose supervisors then see it), or in none.
pub async fn set_case_team(
    state: &AppState,
    caller: Caller,
    case: String,
    req: SetTeam,
) -> Result<()> {
    require_admin(&caller)?;
    change(state, caller, move |tx, caller, now| {
        let org = managed_org(tx, &caller.user, "cases", &case)?;
        if let Some(team) = &req.team_id
            && managed_org(tx, &caller.user, "teams", team)? != org
        {
            return Err(Error::Forbidden("team is in another organisation"));
        }
        tx.execute(
            "UPDATE cases SET team_id = ?1 WHERE id = ?2",
            params![req.team_id, case],
        )?;
        let ev = Event {
            event: "case_team_set",
            case_id: Some(case),
            subject: req.team_id,
            detail: json!({}),
            ..Event::default()
        };
        record(tx, caller, now, ev)
    })
    .await
}

/// Move a case to another organisation (root administrators only): its team, assignments
/// and placement links end, so the old organisation's guardians, social workers, carers and
/// supervisors lose it, and every device holding its documents deletes them at its next sync.
pub async fn transfer_case(
    state: &AppState,
    caller: Caller,
    case: String,
    req: Transfer,
) -> Result<()> {
    require_admin(&caller)?;
    if !caller.user.org_is_root {
        return Err(Error::Forbidden("only root administrators transfer cases"));
    }
    change(state, caller, move |tx, caller, now| {
        let from = managed_org(tx, &caller.user, "cases", &case)?;
        let target: bool = tx.query_row(
            "SELECT EXISTS(SELECT 1 FROM orgs WHERE id = ?1)",
            [&req.org_id],
            |r| r.get(0),
        )?;
        if !target {
            return Err(Error::NotFound("organisation"));
        }
        if from == req.org_id {
            return Err(Error::Conflict("case already belongs to that organisation"));
        }
        let ended_assignments =
            tx.execute("DELETE FROM assignments WHERE case_id = ?1", [&case])?;
        let ended_placements = tx.execute("DELETE FROM placements WHERE case_id = ?1", [&case])?;
        tx.execute(
            "UPDATE cases SET org_id = ?1, team_id = NULL WHERE id = ?2",
            params![req.org_id, case],
        )?;
        let detail = json!({
            "from": from,
            "to": req.org_id,
            "ended_assignments": ended_assignments,
            "ended_placements": ended_placements,
        });
        let ev = Event {
            event: "case_transferred",
            case_id: Some(case),
            subject: Some(req.org_id),
            detail,
            ..Event::default()
        };
        record(tx, caller, now, ev)
    })
    .await
}

/// Devices of the organisations the caller manages, optionally of one user.
pub async fn list_devices(
    state: &AppState,
    caller: Caller,
    lookup: Lookup,
) -> Result<Vec<DeviceInfo>> {
    require_admin(&caller)?;
    look(state, caller, move |conn, caller| {
        let mut stmt = conn.prepare(
            "SELECT d.id, d.user_id, d.name, d.enrolled_at, d.revoked_at, u.org_id
                 FROM devices d JOIN users u ON u.id = d.user_id
                 WHERE CAST(?1 AS TEXT) IS NULL OR d.user_id = ?1 ORDER BY d.enrolled_at, d.id",
        )?;
        let rows = stmt.query_map([&lookup.user], |r| {
            Ok((
                DeviceInfo {
                    device_id: r.get(0)?,
                    user_id: r.get(1)?,
                    name: r.get(2)?,
                    enrolled_at: r.get(3)?,
                    revoked_at: r.get(4)?,
                },
                r.get::<_, String>(5)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (info, org) = row?;
            if manages(&caller.user, &org) {
                out.push(info);
            }
        }
        Ok(out)
    })
    .await
}

/// Revoke a device: its next contact is answered `device_revoked`.
pub async fn revoke_device(state: &AppState, caller: Caller, device: String) -> Result<()> {
    require_admin(&caller)?;
    change(state, caller, move |tx, caller, now| {
        let user: Option<String> = tx
            .query_row(
                "SELECT user_id FROM devices WHERE id = ?1",
                [&device],
                |r| r.get(0),
            )
            .optional()?;
        let user = user.ok_or(Error::NotFound("device"))?;
        managed_org(tx, &caller.user, "users", &user)?;
        tx.execute(
            "UPDATE devices SET revoked_at = COALESCE(revoked_at, ?1) WHERE id = ?2",
            params![now, device],
        )?;
        // A code issued before the revocation (perhaps to whoever took the device) is void.
        let codes_voided = enrolment::void_outstanding(tx, &user, now)?;
        let ev = Event {
            event: "device_revoked",
            subject: Some(device),
            detail: json!({ "user": user, "codes_voided": codes_voided }),
            ..Event::default()
        };
        record(tx, caller, now, ev)
    })
    .await
}

/// The audit rows of one case or one user, for an administrator managing it.
pub async fn export_audit(
    state: &AppState,
    caller: Caller,
    lookup: Lookup,
) -> Result<Vec<audit::Row>> {
    require_admin(&caller)?;
    let filter = audit_filter(lookup)?;
    look(state, caller, move |conn, caller| {
        check_audit_filter(conn, caller, &filter)?;
        audit::export(conn, &filter)
    })
    .await
}

/// One page of the audit rows of one case or one user, newest first, and how many there are
/// in all, for an administrator managing it (the console's audit pages).
pub async fn audit_page(
    state: &AppState,
    caller: Caller,
    lookup: Lookup,
    offset: u64,
    limit: u64,
) -> Result<(Vec<audit::Row>, u64)> {
    require_admin(&caller)?;
    let filter = audit_filter(lookup)?;
    look(state, caller, move |conn, caller| {
        check_audit_filter(conn, caller, &filter)?;
        audit::export_newest(conn, &filter, offset, limit)
    })
    .await
}

fn audit_filter(lookup: Lookup) -> Result<audit::Filter> {
    match (lookup.case, lookup.user) {
        (Some(case), None) => Ok(audit::Filter::Case(case)),
        (None, Some(user)) => Ok(audit::Filter::User(user)),
        _ => Err(Error::BadRequest("give exactly one of case or user".into())),
    }
}

/// The case or user of `filter` is in an organisation the caller manages.
fn check_audit_filter(
    conn: crate::sql::Conn<'_>,
    caller: &Caller,
    filter: &audit::Filter,
) -> Result<()> {
    let org = match filter {
        audit::Filter::Case(c) => directory::case_org(conn, c)?,
        audit::Filter::User(u) => directory::user(conn, u)?.map(|u| u.org_id),
    };
    match org {
        Some(org) if manages(&caller.user, &org) => Ok(()),
        _ => Err(Error::NotFound(
            "no such record in an organisation you manage",
        )),
    }
}
