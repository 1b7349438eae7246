//! Alerts to the team (`casebook_core::alert`): raised by the sync exchange from the `safety`
//! documents it stores, delivered in sync answers, acknowledged through
//! `POST /v1/alerts/acknowledge`.
//!
//! - Raised: when a stored `safety` document holds an open missing episode it did not hold
//!   open before (`missing`), or first shows one with `returned_at` set (`ended`). What
//!   happened is read from the document the server stored (before and after the device's
//!   changes), never from the request. At most one alert per case, episode and kind, so a
//!   replayed sync or a second device bringing the same change raises nothing more. Its
//!   recipients, from the server's own tables: the guardians and social workers assigned to
//!   the case and the supervisors of its team, never the user whose sync brought the change.
//!   Audited `alert_created`.
//! - Delivered: every alert gets a `seq` from the global sequence when raised and again when
//!   acknowledged; a sync answer carries the recipient's alerts whose `seq` is after the
//!   request's cursor and not after the answer's, while the user may still read the case's
//!   `safety` document. No extra round trip, and nothing more in an idle answer without them.
//! - Acknowledged: by a recipient who may still read the case; the first acknowledgement is
//!   kept (who and when), audited `alert_acknowledged`, and delivered to every recipient.

use std::collections::{HashMap, HashSet};
use std::panic::{AssertUnwindSafe, catch_unwind};

use automerge::Automerge;
use casebook_core::alert::{
    AcknowledgeRequest, AcknowledgeResponse, Alert, AlertKind, MAX_ACKNOWLEDGE,
};
use casebook_core::doc::{DocId, DocKind};
use casebook_core::ids::{AlertId, EntryId};
use casebook_core::model::{MissingEpisode, missing_episodes_in};
use serde_json::json;

use crate::audit::{self, Event};
use crate::auth::{self, Caller};
use crate::db;
use crate::directory::{self, Permissions};
use crate::error::{Error, Result};
use crate::params;
use crate::sql::{Conn, OptionalExtension, Row, Tx, Value as SqlValue};
use crate::state::AppState;

/// Something that happened to a missing episode between two versions of a `safety` document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpisodeEvent {
    /// The episode's entry id.
    pub episode: EntryId,
    /// Started (open, and not open before) or ended (`returned_at` newly set).
    pub kind: AlertKind,
    /// When, as recorded (`missing_since` or `returned_at`), Unix seconds.
    pub at: Option<i64>,
}

/// The episodes of a `safety` document held in memory (`None` if its episodes do not read:
/// no alert is raised from a document the server cannot read).
fn episodes(doc: &DocId, loaded: &Automerge) -> Option<HashMap<EntryId, MissingEpisode>> {
    let read = catch_unwind(AssertUnwindSafe(|| missing_episodes_in(*doc, loaded).ok()));
    read.ok().flatten().map(|list| list.into_iter().collect())
}

#[cfg(test)]
/// What happened to the missing episodes of `doc` between `before` (the stored save, if any)
/// and `after` (the save about to be stored), from the saves' bytes: loads both, then
/// [`episode_events_in`]. Bytes that do not load raise nothing.
pub fn episode_events(doc: &DocId, before: Option<&[u8]>, after: &[u8]) -> Vec<EpisodeEvent> {
    if doc.kind != DocKind::Safety {
        return Vec::new();
    }
    let load = |bytes: &[u8]| catch_unwind(|| Automerge::load(bytes).ok()).ok().flatten();
    let Some(after) = load(after) else {
        return Vec::new();
    };
    let before = before.and_then(load);
    episode_events_in(doc, before.as_ref(), &after)
}

/// What happened to the missing episodes of `doc` between `before` (the document as stored,
/// if any) and `after` (as about to be stored), both already in memory: the sync exchange
/// holds them, so nothing is loaded again. Pure; only `safety` documents have episodes.
pub fn episode_events_in(
    doc: &DocId,
    before: Option<&Automerge>,
    after: &Automerge,
) -> Vec<EpisodeEvent> {
    if doc.kind != DocKind::Safety {
        return Vec::new();
    }
    let Some(now) = episodes(doc, after) else {
        return Vec::new();
    };
    let then = before.and_then(|b| episodes(doc, b)).unwrap_or_default();
    let mut events = Vec::new();
    let mut ids: Vec<&EntryId> = now.keys().collect();
    ids.sort();
    for id in ids {
        let Some(episode) = now.get(id) else { continue };
        let earlier = then.get(id);
        if episode.is_open() && !earlier.is_some_and(MissingEpisode::is_open) {
            events.push(EpisodeEvent {
                episode: *id,
                kind: AlertKind::Missing,
                at: episode.missing_since.map(|t| t.timestamp()),
            });
        }
        if let Some(returned) = episode.returned_at
            && earlier.is_none_or(|e| e.returned_at.is_none())
        {
            events.push(EpisodeEvent {
                episode: *id,
                kind: AlertKind::Ended,
                at: Some(returned.timestamp()),
            });
        }
    }
    events
}

/// The people an alert about `case` goes to: the guardians and social workers assigned to it
/// and the supervisors of its team (in the case's organisation), except `author`.
fn recipients(tx: &Tx<'_>, case: &str, author: &str) -> Result<Vec<String>> {
    let mut stmt = tx.prepare_cached(
        "SELECT a.user_id FROM assignments a JOIN cases c ON c.id = a.case_id
             JOIN users u ON u.id = a.user_id
         WHERE a.case_id = ?1 AND u.org_id = c.org_id
             AND u.role IN ('guardian', 'social_worker') AND u.id <> ?2
         UNION
         SELECT m.user_id FROM cases c JOIN team_members m ON m.team_id = c.team_id
             JOIN users u ON u.id = m.user_id
         WHERE c.id = ?1 AND u.org_id = c.org_id AND u.role = 'supervisor' AND u.id <> ?2
         ORDER BY 1",
    )?;
    let users = stmt
        .query_map(params![case, author], |r| r.get::<_, String>(0))?
        .collect::<crate::sql::Result<Vec<_>>>()?;
    Ok(users)
}

/// Raise the alerts for `events` on `doc`, just stored by `caller`'s sync, each once.
pub fn raise(
    tx: &Tx<'_>,
    caller: &Caller,
    doc: &DocId,
    events: &[EpisodeEvent],
    now: i64,
) -> Result<()> {
    let case = doc.case.to_string();
    for event in events {
        let exists = tx
            .prepare_cached(
                "SELECT 1 FROM alerts WHERE case_id = ?1 AND episode_id = ?2 AND kind = ?3",
            )?
            .exists(params![
                case,
                event.episode.to_string(),
                event.kind.as_str()
            ])?;
        if exists {
            continue;
        }
        let id = directory::random_id();
        let seq =
            i64::try_from(db::next_seq(tx)?).map_err(|_| Error::Corrupt("sequence".into()))?;
        tx.execute(
            "INSERT INTO alerts (id, case_id, episode_id, kind, at, raised_at, raised_by, seq)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                id,
                case,
                event.episode.to_string(),
                event.kind.as_str(),
                event.at,
                now,
                caller.user.id,
                seq
            ],
        )?;
        let to = recipients(tx, &case, &caller.user.id)?;
        let mut insert = tx.prepare_cached(
            "INSERT OR IGNORE INTO alert_recipients (alert_id, user_id) VALUES (?1, ?2)",
        )?;
        for user in &to {
            insert.execute(params![id, user])?;
        }
        audit::append(
            tx,
            now,
            Event {
                event: "alert_created",
                actor_user: Some(caller.user.id.clone()),
                actor_device: Some(caller.device.to_string()),
                case_id: Some(case.clone()),
                doc_id: Some(doc.to_string()),
                subject: Some(id),
                detail: json!({
                    "kind": event.kind.as_str(),
                    "episode": event.episode.to_string(),
                    "recipients": to,
                }),
            },
        )?;
    }
    Ok(())
}

/// The row name an interpreter alert's linked case reference is sealed under on PostgreSQL
/// ([`Conn::seal_text`]): the other child's reference.
pub(crate) fn linked_reference_row(alert: &str) -> String {
    format!("alerts/{alert}/linked_reference")
}

const ALERT_COLUMNS: &str = "a.id, a.case_id, a.episode_id, a.kind, a.at, a.raised_at, \
                             a.acknowledged_by, a.acknowledged_at, a.linked_reference";

/// One alert row ([`ALERT_COLUMNS`]) as sent.
fn alert_from_row(conn: Conn<'_>, r: &Row<'_>) -> crate::sql::Result<Result<Alert>> {
    let (id, case, episode, kind): (String, String, String, String) =
        (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
    let by: Option<String> = r.get(6)?;
    let (at, raised_at, acknowledged_at) = (r.get(4)?, r.get(5)?, r.get(7)?);
    let linked_case_reference = match r.get::<_, SqlValue>(8)? {
        SqlValue::Null => None,
        sealed => Some(conn.unseal_text(&linked_reference_row(&id), sealed)?),
    };
    let corrupt = |_| Error::Corrupt("alert row".into());
    Ok((|| {
        Ok(Alert {
            id: id.parse().map_err(corrupt)?,
            case: case.parse().map_err(corrupt)?,
            episode: episode.parse().map_err(corrupt)?,
            kind: AlertKind::from_name(&kind),
            at,
            raised_at,
            acknowledged_by: by.map(|b| b.parse()).transpose().map_err(corrupt)?,
            acknowledged_at,
            linked_case_reference,
        })
    })())
}

/// Whether `perms` may still read the `safety` document of the alert's case.
fn may_see(perms: &Permissions, alert: &Alert) -> bool {
    perms
        .access(&DocId::new(alert.case, DocKind::Safety))
        .can_read()
}

/// The alerts for `user` raised or changed after `after` and not after `upto` (global
/// sequence), that `perms` (the user's) may still see, oldest first.
pub fn deliver(
    conn: Conn<'_>,
    perms: &Permissions,
    user: &str,
    after: u64,
    upto: u64,
) -> Result<Vec<Alert>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {ALERT_COLUMNS} FROM alert_recipients r JOIN alerts a ON a.id = r.alert_id
         WHERE r.user_id = ?1 AND a.seq > ?2 AND a.seq <= ?3 ORDER BY a.seq"
    ))?;
    let (after, upto) = (
        i64::try_from(after).unwrap_or(i64::MAX),
        i64::try_from(upto).unwrap_or(i64::MAX),
    );
    let mut out = Vec::new();
    for row in stmt.query_map(params![user, after, upto], |r| alert_from_row(conn, r))? {
        let alert = row??;
        if may_see(perms, &alert) {
            out.push(alert);
        }
    }
    Ok(out)
}

/// `POST /v1/alerts/acknowledge`: `caller`'s user acknowledges alerts.
pub async fn acknowledge(
    state: &AppState,
    caller: Caller,
    req: AcknowledgeRequest,
) -> Result<AcknowledgeResponse> {
    if req.alerts.len() > MAX_ACKNOWLEDGE {
        return Err(Error::BadRequest(format!(
            "at most {MAX_ACKNOWLEDGE} alerts per request"
        )));
    }
    let now = state.clock.now();
    state
        .db
        .write(move |tx| {
            let caller = auth::recheck(**tx, &caller, now)?;
            acknowledge_in(tx, &caller, &req.alerts, now)
        })
        .await
}

/// Acknowledge each alert `caller` may see and has not been acknowledged yet; answer every
/// named alert the caller may see as it now stands.
fn acknowledge_in(
    tx: &Tx<'_>,
    caller: &Caller,
    ids: &[AlertId],
    now: i64,
) -> Result<AcknowledgeResponse> {
    let perms = directory::permissions(**tx, &caller.user)?;
    let device = caller.device.to_string();
    let mut seen = HashSet::new();
    let mut alerts = Vec::new();
    for id in ids.iter().filter(|id| seen.insert(**id)) {
        let alert = tx
            .prepare_cached(&format!(
                "SELECT {ALERT_COLUMNS} FROM alert_recipients r JOIN alerts a ON a.id = r.alert_id
                 WHERE r.user_id = ?1 AND a.id = ?2"
            ))?
            .query_row(params![caller.user.id, id.to_string()], |r| {
                alert_from_row(**tx, r)
            })
            .optional()?
            .transpose()?;
        let Some(mut alert) = alert.filter(|a| may_see(&perms, a)) else {
            audit::append(
                tx,
                now,
                Event {
                    event: "denied",
                    actor_user: Some(caller.user.id.clone()),
                    actor_device: Some(device.clone()),
                    subject: Some(id.to_string()),
                    detail: json!({ "reason": "alert_acknowledge" }),
                    ..Event::default()
                },
            )?;
            continue;
        };
        if alert.acknowledged_at.is_none() {
            let seq =
                i64::try_from(db::next_seq(tx)?).map_err(|_| Error::Corrupt("sequence".into()))?;
            tx.execute(
                "UPDATE alerts SET acknowledged_by = ?1, acknowledged_at = ?2, seq = ?3
                 WHERE id = ?4 AND acknowledged_at IS NULL",
                params![caller.user.id, now, seq, id.to_string()],
            )?;
            alert.acknowledged_by = Some(
                caller
                    .user
                    .id
                    .parse()
                    .map_err(|_| Error::Corrupt("user id".into()))?,
            );
            alert.acknowledged_at = Some(now);
            audit::append(
                tx,
                now,
                Event {
                    event: "alert_acknowledged",
                    actor_user: Some(caller.user.id.clone()),
                    actor_device: Some(device.clone()),
                    case_id: Some(alert.case.to_string()),
                    subject: Some(id.to_string()),
                    detail: json!({ "kind": alert.kind.as_str() }),
                    ..Event::default()
                },
            )?;
        }
        alerts.push(alert);
    }
    Ok(AcknowledgeResponse { alerts })
}

#[cfg(test)]
mod tests {
    use casebook_core::doc::{Author, CaseDoc, Edit};
    use casebook_core::ids::{CaseId, DeviceId, UserId};
    use casebook_core::model::{Profile, new_case};
    use chrono::{TimeZone, Utc};

    use super::*;

    fn safety_doc() -> (CaseDoc, Edit) {
        let author = Author {
            user: UserId::from_bytes([1; 16]),
            device: DeviceId::from_bytes([2; 16]),
        };
        let at = Utc
            .with_ymd_and_hms(2026, 11, 30, 2, 10, 0)
            .single()
            .expect("time");
        let edit = Edit::new(author, at);
        let profile = Profile {
            case_reference: "HUL-1".into(),
            ..Profile::default()
        };
        let docs = new_case(CaseId::from_bytes([3; 16]), &edit, &profile).expect("case");
        let safety = docs
            .into_iter()
            .find(|d| d.kind() == DocKind::Safety)
            .expect("safety");
        (safety, edit)
    }

    #[test]
    fn an_episode_is_alerted_once_when_it_opens_and_once_when_it_ends() {
        let (mut doc, edit) = safety_doc();
        let id = doc.id();
        let empty = doc.save();
        let episode = EntryId::from_bytes([9; 16]);
        let started = MissingEpisode {
            missing_since: Some(edit.at),
            circumstances: "CANARY not in any alert".into(),
            ..MissingEpisode::default()
        };
        doc.start_missing_episode(&edit, episode, &started)
            .expect("start");
        let open = doc.save();
        let events = episode_events(&id, Some(&empty), &open);
        assert_eq!(
            events,
            [EpisodeEvent {
                episode,
                kind: AlertKind::Missing,
                at: Some(edit.at.timestamp()),
            }]
        );
        // A new case's document (nothing stored before) alerts too.
        assert_eq!(episode_events(&id, None, &open), events);
        // Nothing new: the same document again, or another change to an open episode.
        assert!(episode_events(&id, Some(&open), &open).is_empty());
        let returned = edit.at + chrono::Duration::hours(5);
        // Ended when the child came back (a return may not be in the writer's future).
        doc.end_missing_episode(&Edit::new(edit.author, returned), episode, returned)
            .expect("end");
        let ended = doc.save();
        assert_eq!(
            episode_events(&id, Some(&open), &ended),
            [EpisodeEvent {
                episode,
                kind: AlertKind::Ended,
                at: Some(returned.timestamp()),
            }]
        );
        assert!(episode_events(&id, Some(&ended), &ended).is_empty());
        // Another kind of document, or bytes that do not load, raise nothing.
        let visits = DocId::new(id.case, DocKind::Visits);
        assert!(episode_events(&visits, None, &open).is_empty());
        assert!(episode_events(&id, None, b"not automerge").is_empty());
    }
    /// The sync exchange hands the documents it holds: the same events as from the saves.
    #[test]
    fn the_documents_in_memory_give_the_same_events_as_their_saves() {
        let (mut doc, edit) = safety_doc();
        let id = doc.id();
        let empty = doc.save();
        let episode = EntryId::from_bytes([9; 16]);
        doc.start_missing_episode(
            &edit,
            episode,
            &MissingEpisode {
                missing_since: Some(edit.at),
                ..MissingEpisode::default()
            },
        )
        .expect("start");
        let open = doc.save();
        let load = |b: &[u8]| automerge::Automerge::load(b).expect("load");
        let (before, after) = (load(&empty), load(&open));
        let events = episode_events_in(&id, Some(&before), &after);
        assert_eq!(events.len(), 1);
        assert_eq!(events, episode_events(&id, Some(&empty), &open));
        assert_eq!(episode_events_in(&id, None, &after), events);
        assert!(episode_events_in(&id, Some(&after), &after).is_empty());
        let visits = DocId::new(id.case, DocKind::Visits);
        assert!(episode_events_in(&visits, None, &after).is_empty());
    }
}
