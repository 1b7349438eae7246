//! Security notices for a user's devices: when a new device enrols for a user who already has
//! an unrevoked one, each of those devices is told at its next sync (through
//! `SyncResponse::notices`), so a device enrolled behind the user's back does not go unseen.
//! Notices wait in the `notices` table until delivered, and carry no case content.

use casebook_core::sync::wire::{Notice, NoticeKind};
use serde_json::json;

use crate::audit::{self, Event};
use crate::auth::Caller;
use crate::error::{Error, Result};
use crate::params;
use crate::sql::{Conn, Tx};

const DEVICE_ENROLLED: &str = "device_enrolled";

/// Most notices one sync answer carries; the rest wait for the next.
const MAX_PER_ANSWER: i64 = 100;

/// `device` (labelled `name`) has just enrolled for `user`: queue a notice for each of the
/// user's other unrevoked devices, and audit it. Nothing is queued for a first device.
pub fn device_enrolled(tx: &Tx<'_>, user: &str, device: &str, name: &str, now: i64) -> Result<()> {
    let mut stmt = tx.prepare(
        "SELECT id FROM devices WHERE user_id = ?1 AND id <> ?2 AND revoked_at IS NULL
         ORDER BY enrolled_at, id",
    )?;
    let others = stmt
        .query_map(params![user, device], |r| r.get::<_, String>(0))?
        .collect::<crate::sql::Result<Vec<_>>>()?;
    if others.is_empty() {
        return Ok(());
    }
    for other in &others {
        tx.execute(
            "INSERT INTO notices (device_id, kind, about_device, about_name, at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![other, DEVICE_ENROLLED, device, name, now],
        )?;
    }
    audit::append(
        tx,
        now,
        Event {
            event: "device_enrolled_notice",
            actor_user: Some(user.to_owned()),
            actor_device: Some(device.to_owned()),
            subject: Some(user.to_owned()),
            detail: json!({ "new_device": device, "notified": others }),
            ..Event::default()
        },
    )?;
    Ok(())
}

/// Whether `caller`'s device has notices waiting (a sync that would otherwise be idle then
/// takes the write path, which delivers them).
pub fn pending(conn: Conn<'_>, caller: &Caller) -> Result<bool> {
    Ok(conn.query_row(
        "SELECT EXISTS(SELECT 1 FROM notices WHERE device_id = ?1 AND delivered_at IS NULL)",
        [caller.device.to_string()],
        |r| r.get(0),
    )?)
}

/// Take the notices waiting for `caller`'s device, marking them delivered in the same
/// transaction as the answer that carries them (and auditing the delivery).
pub fn deliver(tx: &Tx<'_>, caller: &Caller, now: i64) -> Result<Vec<Notice>> {
    let device = caller.device.to_string();
    let mut stmt = tx.prepare_cached(
        "SELECT id, kind, about_device, about_name, at FROM notices
         WHERE device_id = ?1 AND delivered_at IS NULL ORDER BY id LIMIT ?2",
    )?;
    let rows = stmt
        .query_map(params![device, MAX_PER_ANSWER], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, i64>(4)?,
            ))
        })?
        .collect::<crate::sql::Result<Vec<_>>>()?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let mut notices = Vec::with_capacity(rows.len());
    let mut about = Vec::with_capacity(rows.len());
    for (id, kind, about_device, name, at) in rows {
        tx.execute(
            "UPDATE notices SET delivered_at = ?1 WHERE id = ?2",
            params![now, id],
        )?;
        let kind = match kind.as_str() {
            DEVICE_ENROLLED => NoticeKind::DeviceEnrolled,
            _ => NoticeKind::Unknown,
        };
        let device_id = about_device
            .parse()
            .map_err(|_| Error::Corrupt("notice device id".into()))?;
        about.push(about_device);
        notices.push(Notice {
            kind,
            device_id,
            device_name: name,
            at,
        });
    }
    audit::append(
        tx,
        now,
        Event {
            event: "notices_delivered",
            actor_user: Some(caller.user.id.clone()),
            actor_device: Some(device),
            subject: Some(caller.user.id.clone()),
            detail: json!({ "about_devices": about }),
            ..Event::default()
        },
    )?;
    Ok(notices)
}
