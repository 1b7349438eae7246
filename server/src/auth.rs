//! Devices and sessions: one-time enrolment codes, device keys, signed challenges, short-lived
//! session tokens, and revocation. Secrets are stored only as SHA-256 hashes.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use casebook_core::ids::{DeviceId, UserId};
use casebook_core::sync::wire::{
    ChallengeRequest, ChallengeResponse, EnrolRequest, EnrolResponse, SessionRequest,
    SessionResponse, session_signing_payload,
};
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use rand::RngCore;
use rand::rngs::OsRng;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::audit::{self, Event};
use crate::directory::{self, User};
use crate::error::{Error, Result};
use crate::params;
use crate::rate_limit::{self, Scope};
use crate::sql::{Conn, OptionalExtension, Tx};
use crate::state::{AppState, Settings};

/// Characters of an enrolment code (Crockford base32: no I, L, O, U).
const CODE_ALPHABET: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// SHA-256 of a secret, the only form in which the server keeps it.
pub fn hash_secret(secret: &[u8]) -> Vec<u8> {
    Sha256::digest(secret).to_vec()
}

fn normalise_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// A fresh code: 20 base32 characters (100 bits), shown in groups of five.
fn new_code() -> String {
    let mut bytes = [0u8; 20];
    OsRng.fill_bytes(&mut bytes);
    let chars: Vec<char> = bytes
        .iter()
        .map(|b| char::from(CODE_ALPHABET[usize::from(b % 32)]))
        .collect();
    chars
        .chunks(5)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-")
}

/// Issue a one-time enrolment code for `user`, valid for `ttl` seconds. Returns the code.
pub fn issue_enrolment_code(
    tx: &Tx<'_>,
    user: &str,
    issued_by: Option<&str>,
    now: i64,
    ttl: i64,
) -> Result<String> {
    issue_code_with_id(tx, user, issued_by, now, ttl).map(|(code, _)| code)
}

/// Issue a one-time enrolment code for `user`, valid for `ttl` seconds: (code, code id). The
/// id lists and cancels the code; the code itself is kept only as a hash. A disabled user
/// gets no code.
pub fn issue_code_with_id(
    tx: &Tx<'_>,
    user: &str,
    issued_by: Option<&str>,
    now: i64,
    ttl: i64,
) -> Result<(String, String)> {
    if user_disabled(**tx, user)? {
        return Err(Error::Forbidden("this user is disabled"));
    }
    let code = new_code();
    let id = directory::random_id();
    tx.execute(
        "INSERT INTO enrolment_codes (code_hash, user_id, issued_by, expires_at, id, issued_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            hash_secret(normalise_code(&code).as_bytes()),
            user,
            issued_by,
            now + ttl,
            id,
            now
        ],
    )?;
    audit::append(
        tx,
        now,
        Event {
            event: "enrolment_code_issued",
            actor_user: issued_by.map(str::to_owned),
            subject: Some(user.to_owned()),
            detail: json!({ "expires_at": now + ttl, "code_id": id }),
            ..Event::default()
        },
    )?;
    Ok((code, id))
}

/// Whether an administrator has disabled `user` (an unknown user is not disabled).
pub fn user_disabled(conn: Conn<'_>, user: &str) -> Result<bool> {
    Ok(conn
        .query_row(
            "SELECT disabled_at IS NOT NULL FROM users WHERE id = ?1",
            [user],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(false))
}

enum EnrolOutcome {
    Enrolled(EnrolResponse),
    Refused,
}

/// What the stored code says about a presented one.
enum CodeState {
    /// Valid and unused: the user it enrols.
    Valid(String),
    /// Never issued.
    Unknown,
    /// Issued for this user, but used, expired, or its issuer no longer allowed to issue it.
    Spent { user: String, reason: &'static str },
}

fn code_state(conn: Conn<'_>, hash: &[u8], now: i64) -> Result<CodeState> {
    let found: Option<(String, i64, Option<i64>, Option<String>)> = conn
        .query_row(
            "SELECT user_id, expires_at, used_at, issued_by FROM enrolment_codes
             WHERE code_hash = ?1",
            [hash],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    let Some((user, expires, used, issuer)) = found else {
        return Ok(CodeState::Unknown);
    };
    let reason = if used.is_some() {
        "used"
    } else if expires <= now {
        "expired"
    } else if let Some(issuer) = issuer
        && !crate::admin::issuer_still_allowed(conn, &issuer, &user)?
    {
        // The issuer lost the authority to enrol this user (disabled, or a supervisor taken
        // off the team): the codes they issued go with it.
        "issuer_not_allowed"
    } else {
        return Ok(CodeState::Valid(user));
    };
    Ok(CodeState::Spent { user, reason })
}

/// `POST /v1/enrol`: exchange a one-time code and a public key for a device identity.
///
/// A valid, unused code is always accepted, whatever failed before it and from wherever.
/// Wrong codes are counted per address (IPv4 address, IPv6 /64) and used or expired ones per
/// code as well; past the limit the next failures get `429` without a write.
pub async fn enrol(state: &AppState, source: String, req: EnrolRequest) -> Result<EnrolResponse> {
    let now = state.clock.now();
    crate::names::check("device_name", &req.device_name)?;
    if VerifyingKey::from_sec1_bytes(&req.public_key).is_err() {
        return Err(Error::BadRequest(
            "public key is not a P-256 SEC1 key".into(),
        ));
    }
    let hash = hash_secret(normalise_code(&req.code).as_bytes());
    let address = rate_limit::address_key(&source);
    let settings = Arc::clone(&state.settings);
    let (check_hash, check_address) = (hash.clone(), address.clone());
    let blocked = state
        .db
        .read(move |c| {
            let window = settings.rate_window;
            let per_address = u32::try_from(settings.max_failures_per_source).unwrap_or(u32::MAX);
            Ok(match code_state(c, &check_hash, now)? {
                CodeState::Valid(_) => false,
                CodeState::Unknown => rate_limit::exceeded(
                    c,
                    Scope::EnrolAddress,
                    &check_address,
                    now,
                    window,
                    per_address,
                )?,
                CodeState::Spent { .. } => {
                    rate_limit::exceeded(
                        c,
                        Scope::EnrolAddress,
                        &check_address,
                        now,
                        window,
                        per_address,
                    )? || rate_limit::exceeded(
                        c,
                        Scope::EnrolCode,
                        &hex::encode(&check_hash),
                        now,
                        window,
                        settings.max_failures_per_code,
                    )?
                }
            })
        })
        .await?;
    if blocked {
        return Err(Error::RateLimited);
    }
    let server_id = state.server_id.to_string();
    let settings = Arc::clone(&state.settings);
    let outcome = state
        .db
        .write(move |tx| match code_state(**tx, &hash, now)? {
            CodeState::Valid(user) => {
                tx.execute(
                    "UPDATE enrolment_codes SET used_at = ?1 WHERE code_hash = ?2",
                    params![now, hash],
                )?;
                register_device(tx, &user, &req, now, server_id).map(EnrolOutcome::Enrolled)
            }
            refused => {
                enrol_failed(tx, &settings, refused, &hash, &address, now)?;
                Ok(EnrolOutcome::Refused)
            }
        })
        .await?;
    match outcome {
        EnrolOutcome::Enrolled(resp) => Ok(resp),
        EnrolOutcome::Refused => Err(Error::EnrolmentCodeInvalid),
    }
}

/// A redeemed code's user gets a new device: the row, the audit, the answer.
fn register_device(
    tx: &Tx<'_>,
    user: &str,
    req: &EnrolRequest,
    now: i64,
    server_id: String,
) -> Result<EnrolResponse> {
    let info = directory::user(**tx, user)?.ok_or(Error::NotFound("user"))?;
    let device = DeviceId::random(&mut OsRng);
    tx.execute(
        "INSERT INTO devices (id, user_id, name, public_key, enrolled_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            device.to_string(),
            user,
            req.device_name,
            req.public_key,
            now
        ],
    )?;
    audit::append(
        tx,
        now,
        Event {
            event: "device_enrolled",
            actor_user: Some(user.to_owned()),
            actor_device: Some(device.to_string()),
            subject: Some(user.to_owned()),
            ..Event::default()
        },
    )?;
    let device_id = device.to_string();
    crate::admin::notices::device_enrolled(tx, user, &device_id, &req.device_name, now)?;
    let user_id: UserId = user.parse().map_err(|_| Error::Corrupt("user id".into()))?;
    Ok(EnrolResponse {
        device_id: device,
        user_id,
        role: info.role.to_string(),
        server_id,
    })
}

/// Count a refused code against its address (and the code, if it was ever issued); audit
/// every refusal of an issued code and, for unknown codes, only the address's first failure
/// in the window, the one reaching the limit and every power of ten (with the count).
fn enrol_failed(
    tx: &Tx<'_>,
    settings: &Settings,
    state: CodeState,
    hash: &[u8],
    address: &str,
    now: i64,
) -> Result<()> {
    let window = settings.rate_window;
    let per_address = u32::try_from(settings.max_failures_per_source).unwrap_or(u32::MAX);
    let failures = rate_limit::bump(tx, Scope::EnrolAddress, address, now, window)?;
    let (subject, reason) = match state {
        CodeState::Spent { user, reason } => {
            rate_limit::bump(tx, Scope::EnrolCode, &hex::encode(hash), now, window)?;
            (Some(user), reason)
        }
        CodeState::Unknown | CodeState::Valid(_) => (None, "unknown"),
    };
    if subject.is_some() || rate_limit::audit_due(failures, per_address) {
        audit::append(
            tx,
            now,
            Event {
                event: "enrol_denied",
                subject,
                detail: json!({
                    "reason": reason,
                    "address": address,
                    "failures_from_address": failures,
                }),
                ..Event::default()
            },
        )?;
    }
    Ok(())
}

/// A device's key and whether it is revoked; `None` for a device never enrolled.
fn device_key(conn: Conn<'_>, device: &DeviceId) -> Result<Option<(Vec<u8>, bool)>> {
    Ok(conn
        .query_row(
            "SELECT public_key, revoked_at IS NOT NULL FROM devices WHERE id = ?1",
            [device.to_string()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
}

/// `POST /v1/challenge`: a fresh single-use challenge for any well-formed device id.
///
/// Unknown, revoked and live devices get the same answer (a challenge never valid for an
/// unknown device; a revoked device learns that it is revoked only after proving its key at
/// `/v1/session`). Challenges are counted per address and per device id *from that address*,
/// and a device keeps at most [`Settings::live_challenges_per_device`] live ones per address
/// (the oldest are dropped): the device id is known to every reader of its changes, so nothing
/// asked from one address may use up or evict the challenges asked from another.
pub async fn challenge(
    state: &AppState,
    source: String,
    req: ChallengeRequest,
) -> Result<ChallengeResponse> {
    let now = state.clock.now();
    let settings = Arc::clone(&state.settings);
    let ttl = settings.challenge_ttl;
    let device = req.device_id.to_string();
    let address = rate_limit::address_key(&source);
    let keys = rate_limit::challenge_keys(&device, &address);
    let check_keys = keys.clone();
    let check = Arc::clone(&settings);
    let blocked = state
        .db
        .read(move |c| {
            for (scope, key) in &check_keys {
                let limit = match scope {
                    Scope::ChallengeDevice => check.max_challenges_per_device,
                    _ => check.max_challenges_per_address,
                };
                if rate_limit::exceeded(c, *scope, key, now, check.rate_window, limit)? {
                    return Ok(true);
                }
            }
            Ok(false)
        })
        .await?;
    if blocked {
        return Err(Error::RateLimited);
    }
    let mut challenge = vec![0u8; 32];
    OsRng.fill_bytes(&mut challenge);
    let stored = challenge.clone();
    state
        .db
        .write(move |tx| {
            for (scope, key) in &keys {
                rate_limit::bump(tx, *scope, key, now, settings.rate_window)?;
            }
            tx.execute("DELETE FROM challenges WHERE expires_at <= ?1", [now])?;
            tx.execute(
                "INSERT INTO challenges (challenge, device_id, expires_at, address)
                 VALUES (?1, ?2, ?3, ?4)",
                params![stored, device, now + ttl, address],
            )?;
            tx.execute(
                "DELETE FROM challenges WHERE device_id = ?1 AND address = ?3 AND rowid NOT IN (
                     SELECT rowid FROM challenges WHERE device_id = ?1 AND address = ?3
                     ORDER BY expires_at DESC, rowid DESC LIMIT ?2)",
                params![device, settings.live_challenges_per_device, address],
            )?;
            Ok(())
        })
        .await?;
    Ok(ChallengeResponse {
        challenge,
        expires_in: u64::try_from(ttl).unwrap_or(0),
    })
}

enum SessionOutcome {
    Opened(String),
    Revoked,
    Refused,
}

/// The one answer to every refused session, whatever the reason (kept in the audit row): an
/// unknown device, a revoked one without proof and a live one with a bad signature look alike.
const SESSION_REFUSED: &str = "challenge or signature not valid";

/// Whether `req` carries the device's signature over one of its live challenges.
fn proven(conn: Conn<'_>, req: &SessionRequest, now: i64) -> Result<bool> {
    let Some((key, _)) = device_key(conn, &req.device_id)? else {
        return Ok(false);
    };
    let live: bool = conn.query_row(
        "SELECT EXISTS(SELECT 1 FROM challenges
                       WHERE challenge = ?1 AND device_id = ?2 AND expires_at > ?3)",
        params![req.challenge, req.device_id.to_string(), now],
        |r| r.get(0),
    )?;
    Ok(live && signature_valid(&key, &req.device_id, &req.challenge, &req.signature))
}

/// `POST /v1/session`: check the signature over a live challenge and open a session.
///
/// The signature is checked before anything else is said: only a device that proves its key
/// learns that it is revoked. Failures are counted per claimed device and per address and
/// aggregated in the audit (the claimed device is the row's subject, never its actor); past a
/// limit the next failures get `429` without a write, while a valid signature still opens a
/// session.
pub async fn open_session(
    state: &AppState,
    source: String,
    req: SessionRequest,
) -> Result<SessionResponse> {
    let now = state.clock.now();
    let settings = Arc::clone(&state.settings);
    let ttl = settings.session_ttl;
    let address = rate_limit::address_key(&source);
    let req = Arc::new(req);
    let (check, check_req, check_address) =
        (Arc::clone(&settings), Arc::clone(&req), address.clone());
    let blocked = state
        .db
        .read(move |c| {
            if proven(c, &check_req, now)? {
                return Ok(false);
            }
            let window = check.rate_window;
            Ok(rate_limit::exceeded(
                c,
                Scope::SessionDevice,
                &check_req.device_id.to_string(),
                now,
                window,
                check.max_session_failures_per_device,
            )? || rate_limit::exceeded(
                c,
                Scope::SessionAddress,
                &check_address,
                now,
                window,
                check.max_session_failures_per_address,
            )?)
        })
        .await?;
    if blocked {
        return Err(Error::RateLimited);
    }
    let outcome = state
        .db
        .write(move |tx| {
            let device = req.device_id;
            let known = device_key(**tx, &device)?;
            // Single use: the challenge is consumed whatever happens next.
            let issued: Option<(i64, String)> = tx
                .query_row(
                    "DELETE FROM challenges WHERE challenge = ?1 AND device_id = ?2
                     RETURNING expires_at, address",
                    params![req.challenge, device.to_string()],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let expires = issued.as_ref().map(|(t, _)| *t);
            let refusal = match (&known, expires) {
                (None, _) => Some("unknown device"),
                (_, None) => Some("unknown or already used challenge"),
                (_, Some(t)) if t <= now => Some("challenge expired"),
                (Some((key, _)), Some(_))
                    if !signature_valid(key, &device, &req.challenge, &req.signature) =>
                {
                    Some("bad signature")
                }
                _ => None,
            };
            if let Some(reason) = refusal {
                session_failed(tx, &settings, &device, &address, reason, now)?;
                return Ok(SessionOutcome::Refused);
            }
            // Proven: the challenge no longer counts against its device or its address.
            if let Some((_, asked_from)) = &issued {
                for (scope, key) in rate_limit::challenge_keys(&device.to_string(), asked_from) {
                    rate_limit::redeem(tx, scope, &key, now, settings.rate_window)?;
                }
            }
            let user: Option<String> = tx
                .query_row(
                    "SELECT user_id FROM devices WHERE id = ?1",
                    [device.to_string()],
                    |r| r.get(0),
                )
                .optional()?;
            if known.as_ref().is_some_and(|(_, revoked)| *revoked) {
                audit::append(
                    tx,
                    now,
                    Event {
                        event: "auth_failed",
                        actor_user: user,
                        actor_device: Some(device.to_string()),
                        detail: json!({ "reason": "device revoked", "address": address }),
                        ..Event::default()
                    },
                )?;
                return Ok(SessionOutcome::Revoked);
            }
            let mut raw = [0u8; 32];
            OsRng.fill_bytes(&mut raw);
            let token = URL_SAFE_NO_PAD.encode(raw);
            tx.execute("DELETE FROM sessions WHERE expires_at <= ?1", [now])?;
            tx.execute(
                "INSERT INTO sessions (token_hash, device_id, expires_at) VALUES (?1, ?2, ?3)",
                params![hash_secret(token.as_bytes()), device.to_string(), now + ttl],
            )?;
            audit::append(
                tx,
                now,
                Event {
                    event: "session_opened",
                    actor_user: user,
                    actor_device: Some(device.to_string()),
                    ..Event::default()
                },
            )?;
            Ok(SessionOutcome::Opened(token))
        })
        .await?;
    match outcome {
        SessionOutcome::Opened(token) => Ok(SessionResponse {
            token,
            expires_in: u64::try_from(ttl).unwrap_or(0),
        }),
        SessionOutcome::Revoked => Err(Error::DeviceRevoked),
        SessionOutcome::Refused => Err(Error::Unauthenticated(SESSION_REFUSED)),
    }
}

/// Count a refused session against the claimed device and the address; one audit row per
/// device per window (with the count so far) at the first failure, at the limit and at every
/// power of ten. The claimed device is the subject: whoever failed did not prove to be it.
fn session_failed(
    tx: &Tx<'_>,
    settings: &Settings,
    device: &DeviceId,
    address: &str,
    reason: &str,
    now: i64,
) -> Result<()> {
    let window = settings.rate_window;
    let device = device.to_string();
    let failures = rate_limit::bump(tx, Scope::SessionDevice, &device, now, window)?;
    rate_limit::bump(tx, Scope::SessionAddress, address, now, window)?;
    if rate_limit::audit_due(failures, settings.max_session_failures_per_device) {
        audit::append(
            tx,
            now,
            Event {
                event: "auth_failed",
                subject: Some(device),
                detail: json!({
                    "reason": reason,
                    "address": address,
                    "failures_in_window": failures,
                }),
                ..Event::default()
            },
        )?;
    }
    Ok(())
}

fn signature_valid(key: &[u8], device: &DeviceId, challenge: &[u8], signature: &[u8]) -> bool {
    let Ok(key) = VerifyingKey::from_sec1_bytes(key) else {
        return false;
    };
    let Ok(sig) = Signature::from_der(signature) else {
        return false;
    };
    key.verify(&session_signing_payload(device, challenge), &sig)
        .is_ok()
}

/// The device and user behind a valid session token.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The device the session is bound to.
    pub device: DeviceId,
    /// Its user.
    pub user: User,
    /// SHA-256 of the session token, to check the session again inside a transaction.
    pub session: Vec<u8>,
}

/// Resolve a bearer token: unknown or expired is `unauthenticated`, a revoked device (or a
/// disabled user) is `device_revoked`. One statement, so it can run outside a transaction
/// ([`crate::db::Db::read_single`]).
pub fn authenticate(conn: Conn<'_>, token: &str, now: i64) -> Result<Caller> {
    live_caller(conn, hash_secret(token.as_bytes()), None, now)
}

/// Check the caller's session again inside the transaction that is about to read or write
/// documents or the directory: the device may have been revoked, or the session may have
/// expired, while the request was held open. Returns the caller with its user read afresh.
///
/// Every service that acts for a [`Caller`] calls this first, in its own transaction: the
/// check made when the request's headers arrived is not enough.
pub fn recheck(conn: Conn<'_>, caller: &Caller, now: i64) -> Result<Caller> {
    live_caller(conn, caller.session.clone(), Some(caller.device), now)
}

/// What one row of [`live_caller_sql`] says about a session.
struct SessionRow {
    device: String,
    expires_at: i64,
    revoked: bool,
    user: Option<(String, String, String, bool)>,
    user_disabled: bool,
}

/// A session with its device, the device's user and the user's organisation, in one
/// statement (one round trip on PostgreSQL, where every sync checks a session twice). The
/// user and organisation are outer joins so that a missing one is told apart from an
/// unknown session.
macro_rules! live_caller_sql {
    ($where:literal) => {
        concat!(
            "SELECT s.device_id, s.expires_at, d.revoked_at IS NOT NULL,
                u.id, u.org_id, u.role, o.is_root, u.disabled_at IS NOT NULL
             FROM sessions s JOIN devices d ON d.id = s.device_id
             LEFT JOIN users u ON u.id = d.user_id
             LEFT JOIN orgs o ON o.id = u.org_id
             WHERE ",
            $where
        )
    };
}

/// [`live_caller_sql`] for a session token alone (a request's header).
const LIVE_CALLER_BY_TOKEN_SQL: &str = live_caller_sql!("s.token_hash = ?1");

/// [`live_caller_sql`] for a session token bound to a known device (a recheck).
const LIVE_CALLER_BY_TOKEN_AND_DEVICE_SQL: &str =
    live_caller_sql!("s.token_hash = ?1 AND s.device_id = ?2");

/// The caller behind `session` (on `device`, when it is known already), if the session is
/// live: not expired, the device not revoked, its user not disabled.
fn live_caller(
    conn: Conn<'_>,
    session: Vec<u8>,
    device: Option<DeviceId>,
    now: i64,
) -> Result<Caller> {
    let read = |r: &crate::sql::Row<'_>| {
        let user_id: Option<String> = r.get(3)?;
        let org_id: Option<String> = r.get(4)?;
        let role: Option<String> = r.get(5)?;
        let org_is_root: Option<bool> = r.get(6)?;
        Ok(SessionRow {
            device: r.get(0)?,
            expires_at: r.get(1)?,
            revoked: r.get(2)?,
            user: match (user_id, org_id, role, org_is_root) {
                (Some(id), Some(org), Some(role), Some(root)) => Some((id, org, role, root)),
                _ => None,
            },
            user_disabled: r.get::<_, Option<bool>>(7)?.unwrap_or(false),
        })
    };
    let row: Option<SessionRow> = match device {
        None => conn.query_row(LIVE_CALLER_BY_TOKEN_SQL, [&session], read),
        Some(device) => conn.query_row(
            LIVE_CALLER_BY_TOKEN_AND_DEVICE_SQL,
            params![session, device.to_string()],
            read,
        ),
    }
    .optional()?;
    let Some(row) = row else {
        return Err(Error::Unauthenticated("unknown session"));
    };
    let device = row
        .device
        .parse()
        .map_err(|_| Error::Corrupt("device id".into()))?;
    if row.revoked {
        return Err(Error::DeviceRevoked);
    }
    if row.expires_at <= now {
        return Err(Error::Unauthenticated("session expired"));
    }
    if row.user_disabled {
        return Err(Error::DeviceRevoked);
    }
    let (id, org_id, role, org_is_root) = row.user.ok_or(Error::Unauthenticated("unknown user"))?;
    let user = User::from_row(id, org_id, &role, org_is_root)?;
    Ok(Caller {
        device,
        user,
        session,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_grouped_and_normalise() {
        let code = new_code();
        assert_eq!(code.len(), 23);
        assert_eq!(code.split('-').count(), 4);
        assert_eq!(normalise_code(&code.to_lowercase()), code.replace('-', ""));
    }
}
