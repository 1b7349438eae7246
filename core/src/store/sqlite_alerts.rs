//! [`SqliteStore`](super::SqliteStore)'s alerts table (migration `005_alerts.sql`): the
//! alerts the server sent, with an acknowledgement made here and not yet sent.

use rusqlite::{Connection, Row, Transaction};

use super::WriteOp;
use crate::alert::{Alert, AlertKind, StoredAlert};
use crate::error::{Error, Result};

/// Every alert stored.
pub(super) fn alerts(conn: &Connection) -> Result<Vec<StoredAlert>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, case_id, episode_id, kind, at, raised_at, acknowledged_by, acknowledged_at, \
         pending_ack_at, linked_reference FROM alerts ORDER BY id",
    )?;
    let rows = stmt.query_map([], read_row)?;
    let mut out = Vec::new();
    for row in rows {
        out.push(decode(row?)?);
    }
    Ok(out)
}

/// One alerts row, as stored.
type RawRow = (
    String,
    String,
    String,
    String,
    Option<i64>,
    i64,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<String>,
);

fn read_row(r: &Row<'_>) -> rusqlite::Result<RawRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
    ))
}

fn decode(row: RawRow) -> Result<StoredAlert> {
    let (id, case, episode, kind, at, raised_at, by, acknowledged_at, pending, linked) = row;
    let bad = |column: &str| Error::Malformed {
        doc: "store".into(),
        path: format!("alerts.{column}"),
        reason: "not an id".into(),
    };
    Ok(StoredAlert {
        alert: Alert {
            id: id.parse().map_err(|_| bad("id"))?,
            case: case.parse().map_err(|_| bad("case_id"))?,
            episode: episode.parse().map_err(|_| bad("episode_id"))?,
            kind: AlertKind::from_name(&kind),
            at,
            raised_at,
            acknowledged_by: by
                .map(|b| b.parse())
                .transpose()
                .map_err(|_| bad("acknowledged_by"))?,
            acknowledged_at,
            linked_case_reference: linked,
        },
        pending_ack_at: pending,
    })
}

/// Apply one of the alert operations.
pub(super) fn apply(tx: &Transaction<'_>, op: WriteOp) -> Result<()> {
    match op {
        WriteOp::PutAlert(a) => {
            tx.prepare_cached(
                "INSERT INTO alerts (id, case_id, episode_id, kind, at, raised_at, \
                 acknowledged_by, acknowledged_at, linked_reference) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
                 ON CONFLICT (id) DO UPDATE SET case_id = excluded.case_id, \
                 episode_id = excluded.episode_id, kind = excluded.kind, at = excluded.at, \
                 raised_at = excluded.raised_at, acknowledged_by = excluded.acknowledged_by, \
                 acknowledged_at = excluded.acknowledged_at, \
                 linked_reference = excluded.linked_reference, pending_ack_at = CASE \
                 WHEN excluded.acknowledged_at IS NULL THEN pending_ack_at ELSE NULL END",
            )?
            .execute((
                a.id.to_string(),
                a.case.to_string(),
                a.episode.to_string(),
                a.kind.as_str(),
                a.at,
                a.raised_at,
                a.acknowledged_by.map(|u| u.to_string()),
                a.acknowledged_at,
                a.linked_case_reference,
            ))?;
        }
        WriteOp::AcknowledgeAlert { id, at } => {
            let key = id.to_string();
            let found = tx
                .prepare_cached("SELECT 1 FROM alerts WHERE id = ?1")?
                .exists([&key])?;
            if !found {
                return Err(Error::NoSuchEntry {
                    kind: "alert",
                    id: key,
                });
            }
            tx.prepare_cached(
                "UPDATE alerts SET pending_ack_at = ?2 WHERE id = ?1 \
                 AND acknowledged_at IS NULL AND pending_ack_at IS NULL",
            )?
            .execute((&key, at))?;
        }
        WriteOp::AcknowledgementSent(id) => {
            tx.prepare_cached("UPDATE alerts SET pending_ack_at = NULL WHERE id = ?1")?
                .execute([id.to_string()])?;
        }
        WriteOp::RemoveAlerts(case) => {
            tx.prepare_cached("DELETE FROM alerts WHERE case_id = ?1")?
                .execute([case.to_string()])?;
        }
        _ => return Err(Error::invalid("write", "not an alert operation")),
    }
    Ok(())
}
