//! Who may enrol a device for whom: enrolment codes (issued, listed, cancelled), disabling a
//! user, and voiding the codes a revocation or a disabling leaves behind. A supervisor issues
//! codes only for the guardians, social workers and carers of their own teams; administrators
//! are never team members. Refusals are audited before they are answered.

use serde_json::json;

use super::{Caller, change, change_or_refuse, look, managed_org, manages, record, refuse};
use crate::access::Role;
use crate::audit::{self, Event};
use crate::auth;
use crate::directory::{self, User};
use crate::error::{Error, Result};
use crate::params;
use crate::sql::{Conn, OptionalExtension, Tx};
use crate::state::AppState;

use super::types::{CodeInfo, CodeIssued, IssueCode};

/// Roles a supervisor may issue codes for (never a supervisor or an administrator).
fn supervisor_may_enrol(role: Role) -> bool {
    matches!(role, Role::Guardian | Role::SocialWorker | Role::Carer)
}

/// Why `issuer` may not issue an enrolment code for `target` now; `None` if they may: an
/// administrator managing the target's organisation, or a supervisor for a guardian, social
/// worker or carer of a team they both belong to, and never for a disabled user.
pub(crate) fn issue_refusal(
    conn: Conn<'_>,
    issuer: &User,
    target: &User,
) -> Result<Option<&'static str>> {
    let refusal = match issuer.role {
        Role::Administrator if manages(issuer, &target.org_id) => None,
        Role::Administrator => Some("other_organisation"),
        Role::Supervisor if target.org_id != issuer.org_id => Some("other_organisation"),
        Role::Supervisor if !supervisor_may_enrol(target.role) => Some("role"),
        Role::Supervisor => {
            let shares_team: bool = conn.query_row(
                "SELECT EXISTS(SELECT 1 FROM team_members a JOIN team_members b
                 ON a.team_id = b.team_id WHERE a.user_id = ?1 AND b.user_id = ?2)",
                params![issuer.id, target.id],
                |r| r.get(0),
            )?;
            (!shares_team).then_some("not_in_team")
        }
        _ => Some("caller_role"),
    };
    Ok(match refusal {
        None if auth::user_disabled(conn, &target.id)? => Some("disabled"),
        other => other,
    })
}

/// Whether a code that `issuer` issued for `target` may still be redeemed: the issuer is not
/// disabled and may still issue it. A supervisor taken off the team, or disabled, loses every
/// code they issued (checked when the code is used, so no code outlives its issuer's authority).
pub(crate) fn issuer_still_allowed(conn: Conn<'_>, issuer: &str, target: &str) -> Result<bool> {
    let (Some(issuer_user), Some(target_user)) = (
        directory::user(conn, issuer)?,
        directory::user(conn, target)?,
    ) else {
        return Ok(false);
    };
    if auth::user_disabled(conn, issuer)? {
        return Ok(false);
    }
    Ok(issue_refusal(conn, &issuer_user, &target_user)?.is_none())
}

/// Issue an enrolment code for `user`: an administrator managing their organisation, or a
/// supervisor for a guardian, social worker or carer of a team the supervisor belongs to.
pub async fn issue_code(
    state: &AppState,
    caller: Caller,
    user: String,
    req: IssueCode,
) -> Result<CodeIssued> {
    let ttl = req.ttl_secs.unwrap_or(state.settings.enrolment_code_ttl);
    if !(60..=7 * 24 * 3600).contains(&ttl) {
        return Err(Error::BadRequest(
            "ttl_secs must be between 60 and 604800".into(),
        ));
    }
    change_or_refuse(state, caller, move |tx, caller, now| {
        let target = directory::user(**tx, &user)?.ok_or(Error::NotFound("user"))?;
        let refusal = issue_refusal(**tx, &caller.user, &target)?;
        if let Some(reason) = refusal {
            let detail = json!({ "reason": reason, "role": target.role.as_str() });
            return refuse(
                tx,
                caller,
                now,
                "enrolment_code_refused",
                &user,
                detail,
                Error::Forbidden("you may not issue codes for this user"),
            );
        }
        let (code, code_id) = auth::issue_code_with_id(tx, &user, Some(&caller.user.id), now, ttl)?;
        Ok(Ok(CodeIssued {
            user_id: user,
            code,
            expires_at: now + ttl,
            code_id,
        }))
    })
    .await
}

/// The outstanding (unused, uncancelled, unexpired) codes of `user`, for an administrator
/// managing them. The codes themselves are never shown again: only their ids.
pub async fn list_codes(state: &AppState, caller: Caller, user: String) -> Result<Vec<CodeInfo>> {
    let now = state.clock.now();
    look(state, caller, move |conn, caller| {
        let org = directory::user(conn, &user)?.map(|u| u.org_id);
        if !org.is_some_and(|org| manages(&caller.user, &org)) {
            return Err(Error::NotFound(
                "no such record in an organisation you manage",
            ));
        }
        let mut stmt = conn.prepare(
            "SELECT id, user_id, issued_by, issued_at, expires_at FROM enrolment_codes
             WHERE user_id = ?1 AND used_at IS NULL AND voided_at IS NULL AND expires_at > ?2
             ORDER BY expires_at, id",
        )?;
        let rows = stmt
            .query_map(params![user, now], |r| {
                Ok(CodeInfo {
                    code_id: r.get(0)?,
                    user_id: r.get(1)?,
                    issued_by: r.get(2)?,
                    issued_at: r.get(3)?,
                    expires_at: r.get(4)?,
                })
            })?
            .collect::<crate::sql::Result<Vec<_>>>()?;
        Ok(rows)
    })
    .await
}

/// Cancel one outstanding code (an administrator managing its user).
pub async fn cancel_code(state: &AppState, caller: Caller, code_id: String) -> Result<()> {
    super::require_admin(&caller)?;
    change(state, caller, move |tx, caller, now| {
        let user: Option<String> = tx
            .query_row(
                "SELECT user_id FROM enrolment_codes
                 WHERE id = ?1 AND used_at IS NULL AND voided_at IS NULL AND expires_at > ?2",
                params![code_id, now],
                |r| r.get(0),
            )
            .optional()?;
        let user = user.ok_or(Error::NotFound("no outstanding code with this id"))?;
        managed_org(tx, &caller.user, "users", &user)?;
        tx.execute(
            "UPDATE enrolment_codes SET voided_at = ?1, expires_at = MIN(expires_at, ?1)
             WHERE id = ?2",
            params![now, code_id],
        )?;
        let ev = Event {
            event: "enrolment_code_cancelled",
            subject: Some(user),
            detail: json!({ "code_id": code_id }),
            ..Event::default()
        };
        record(tx, caller, now, ev)
    })
    .await
}

/// Disable (`disabled = true`) or re-enable a user. Disabling revokes every device of the
/// user, ends their sessions and voids their outstanding codes; no code can be issued for
/// them until they are re-enabled (their old devices stay revoked).
pub async fn set_disabled(
    state: &AppState,
    caller: Caller,
    user: String,
    disabled: bool,
) -> Result<()> {
    super::require_admin(&caller)?;
    change(state, caller, move |tx, caller, now| {
        managed_org(tx, &caller.user, "users", &user)?;
        if disabled && user == caller.user.id {
            return Err(Error::Forbidden("you cannot disable yourself"));
        }
        let ev = if disabled {
            tx.execute(
                "UPDATE users SET disabled_at = COALESCE(disabled_at, ?1) WHERE id = ?2",
                params![now, user],
            )?;
            let devices_revoked = tx.execute(
                "UPDATE devices SET revoked_at = ?1 WHERE user_id = ?2 AND revoked_at IS NULL",
                params![now, user],
            )?;
            let sessions_ended = tx.execute(
                "DELETE FROM sessions WHERE device_id IN
                 (SELECT id FROM devices WHERE user_id = ?1)",
                [&user],
            )?;
            let codes_voided = void_outstanding(tx, &user, now)?;
            Event {
                event: "user_disabled",
                subject: Some(user),
                detail: json!({
                    "devices_revoked": devices_revoked,
                    "sessions_ended": sessions_ended,
                    "codes_voided": codes_voided,
                }),
                ..Event::default()
            }
        } else {
            tx.execute("UPDATE users SET disabled_at = NULL WHERE id = ?1", [&user])?;
            Event {
                event: "user_enabled",
                subject: Some(user),
                detail: json!({}),
                ..Event::default()
            }
        };
        record(tx, caller, now, ev)
    })
    .await
}

/// Void every outstanding code of `user` (all were issued before `now`). Returns how many.
pub(super) fn void_outstanding(tx: &Tx<'_>, user: &str, now: i64) -> Result<usize> {
    Ok(tx.execute(
        "UPDATE enrolment_codes SET voided_at = ?1, expires_at = MIN(expires_at, ?1)
         WHERE user_id = ?2 AND used_at IS NULL AND voided_at IS NULL AND expires_at > ?1",
        params![now, user],
    )?)
}

/// Remove administrators from teams (rows left from before they were refused), auditing
/// each removal. Returns how many were removed.
pub(super) fn remove_admin_memberships(tx: &Tx<'_>, now: i64) -> Result<usize> {
    let mut stmt = tx.prepare(
        "SELECT m.team_id, m.user_id FROM team_members m JOIN users u ON u.id = m.user_id
         WHERE u.role = 'administrator' ORDER BY m.team_id, m.user_id",
    )?;
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?
        .collect::<crate::sql::Result<Vec<_>>>()?;
    for (team, user) in &rows {
        tx.execute(
            "DELETE FROM team_members WHERE team_id = ?1 AND user_id = ?2",
            params![team, user],
        )?;
        audit::append(
            tx,
            now,
            Event {
                event: "team_member_removed",
                subject: Some(user.clone()),
                detail: json!({ "team": team, "reason": "administrator_in_team" }),
                ..Event::default()
            },
        )?;
    }
    if !rows.is_empty() {
        tracing::warn!(
            removed = rows.len(),
            "administrators were members of teams; removed (see the audit log)"
        );
    }
    Ok(rows.len())
}
