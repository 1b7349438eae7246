//! The sync exchange behind `POST /v1/sync`: apply a device's automerge sync messages to the
//! documents it may write, answer them, offer what changed since its cursor, and tell it what
//! to purge. Access is decided by [`crate::directory::permissions`] alone.

use std::collections::HashSet;
use std::panic::{AssertUnwindSafe, catch_unwind};

use automerge::Automerge;
use automerge::sync::{Message, State, SyncDoc};
use casebook_core::doc::DocId;
use casebook_core::sync::wire::{
    DocMessage, DocRejection, DocSnapshot, MAX_DOC_BYTES, PROTOCOL_VERSION, RejectReason,
    SyncRequest, SyncResponse,
};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde_json::json;

use crate::audit::{self, Event};
use crate::auth::{self, Caller};
use crate::db;
use crate::directory::{self, Permissions};
use crate::error::{Error, Result};
use crate::state::AppState;

/// Handle one sync request from an authenticated device.
pub async fn sync(state: &AppState, caller: Caller, req: SyncRequest) -> Result<SyncResponse> {
    validate(&req)?;
    // Bound device bytes before automerge sees them, off the runtime and outside the writer.
    let (req, refused) = crate::sync_guard::screen(req).await?;
    if crate::sync_guard::is_bomb(&req, &refused) {
        return Err(crate::sync_guard::refuse_request(state, caller, refused).await);
    }
    if req.messages.is_empty() && req.purged.is_empty() && refused.is_empty() {
        let probe_caller = caller.clone();
        let cursor = req.cursor;
        let now = state.clock.now();
        let idle = state
            .db
            .read(move |c| {
                let caller = auth::recheck(c, &probe_caller, now)?;
                idle_answer(c, &caller, cursor)
            })
            .await?;
        if let Some(answer) = idle {
            return Ok(answer);
        }
    }
    let now = state.clock.now();
    let budget = state.settings.response_budget;
    state
        .db
        .write(move |tx| {
            let caller = auth::recheck(tx, &caller, now)?;
            let mut response = exchange(tx, &caller, req, now, budget)?;
            crate::sync_guard::record(tx, &caller, now, &refused, &mut response)?;
            Ok(response)
        })
        .await
}

fn validate(req: &SyncRequest) -> Result<()> {
    if req.v != PROTOCOL_VERSION {
        return Err(Error::UnsupportedVersion(req.v));
    }
    let mut seen = HashSet::new();
    if !req.messages.iter().all(|m| seen.insert(m.doc)) {
        return Err(Error::BadRequest(
            "more than one message for a document".into(),
        ));
    }
    Ok(())
}

fn empty_response(cursor: u64) -> SyncResponse {
    SyncResponse {
        v: PROTOCOL_VERSION,
        cursor,
        messages: Vec::new(),
        snapshots: Vec::new(),
        purge: Vec::new(),
        rejected: Vec::new(),
        more: false,
    }
}

/// A document to offer the device.
#[derive(Debug, Clone, Copy)]
struct Offer {
    doc: DocId,
    seq: u64,
    /// Stored size in bytes.
    len: usize,
    /// Changed after the request's cursor (as opposed to: never sent to this device).
    after_cursor: bool,
}

fn offer_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(String, i64, i64)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
}

/// What to offer: readable documents changed after `cursor`, and readable documents this
/// device has never been sent (access newly granted), ascending by sequence.
fn offers(conn: &Connection, perms: &Permissions, device: &str, cursor: u64) -> Result<Vec<Offer>> {
    let mut out: Vec<Offer> = Vec::new();
    let mut push = |row: (String, i64, i64), after_cursor: bool| {
        let (doc, seq, len) = row;
        let Ok(doc) = doc.parse::<DocId>() else {
            tracing::warn!("stored document with an invalid id skipped");
            return;
        };
        if perms.access(&doc).can_read() {
            out.push(Offer {
                doc,
                seq: u64::try_from(seq).unwrap_or(0),
                len: usize::try_from(len).unwrap_or(0),
                after_cursor,
            });
        }
    };
    let mut stmt = conn.prepare_cached(
        "SELECT doc_id, seq, length(bytes) FROM docs WHERE seq > ?1 ORDER BY seq",
    )?;
    let cursor_sql = i64::try_from(cursor).unwrap_or(i64::MAX);
    for row in stmt.query_map([cursor_sql], offer_from_row)? {
        push(row?, true);
    }
    let mut stmt = conn.prepare_cached(
        "SELECT d.doc_id, d.seq, length(d.bytes) FROM docs d
         WHERE d.case_id = ?1 AND d.seq <= ?2 AND NOT EXISTS
             (SELECT 1 FROM device_docs x WHERE x.device_id = ?3 AND x.doc_id = d.doc_id)",
    )?;
    for case in perms.cases() {
        for row in stmt.query_map(params![case, cursor_sql, device], offer_from_row)? {
            push(row?, false);
        }
    }
    out.sort_by_key(|o| o.seq);
    Ok(out)
}

/// Documents this device holds that its user may no longer read.
fn to_purge(conn: &Connection, perms: &Permissions, device: &str) -> Result<Vec<DocId>> {
    let mut stmt = conn.prepare_cached("SELECT doc_id FROM device_docs WHERE device_id = ?1")?;
    let rows = stmt.query_map([device], |r| r.get::<_, String>(0))?;
    let mut out = Vec::new();
    for row in rows {
        let row = row?;
        match row.parse::<DocId>() {
            Ok(doc) if perms.access(&doc).can_read() => {}
            Ok(doc) => out.push(doc),
            Err(_) => tracing::warn!("device_docs row with an invalid id skipped"),
        }
    }
    Ok(out)
}

/// The answer to a request that brings nothing and is owed nothing, from a read connection
/// alone; `None` if there is work to do.
fn idle_answer(conn: &Connection, caller: &Caller, cursor: u64) -> Result<Option<SyncResponse>> {
    let perms = directory::permissions(conn, &caller.user)?;
    let device = caller.device.to_string();
    if !offers(conn, &perms, &device, cursor)?.is_empty()
        || !to_purge(conn, &perms, &device)?.is_empty()
    {
        return Ok(None);
    }
    Ok(Some(empty_response(db::current_seq(conn)?)))
}

/// Everything one request changes, in the caller's single write transaction.
struct Exchange<'a, 'tx> {
    tx: &'a Transaction<'tx>,
    caller: &'a Caller,
    device: String,
    now: i64,
    response: SyncResponse,
    /// Bytes of document payload in the response so far.
    size: usize,
}

impl Exchange<'_, '_> {
    fn audit(&self, event: &str, doc: &DocId, detail: serde_json::Value) -> Result<()> {
        audit::append(
            self.tx,
            self.now,
            Event {
                event,
                actor_user: Some(self.caller.user.id.clone()),
                actor_device: Some(self.device.clone()),
                case_id: Some(doc.case.to_string()),
                doc_id: Some(doc.to_string()),
                detail,
                ..Event::default()
            },
        )?;
        Ok(())
    }

    fn reject(&mut self, doc: DocId, reason: RejectReason, why: &str) -> Result<()> {
        let event = if reason == RejectReason::Quarantined {
            "quarantined"
        } else {
            "denied"
        };
        self.audit(event, &doc, json!({ "reason": why }))?;
        self.response.rejected.push(DocRejection { doc, reason });
        Ok(())
    }

    fn stored(&self, doc: &DocId) -> Result<Option<Vec<u8>>> {
        Ok(self
            .tx
            .query_row(
                "SELECT bytes FROM docs WHERE doc_id = ?1",
                [doc.to_string()],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn sync_state(&self, doc: &DocId) -> Result<Option<Vec<u8>>> {
        Ok(self
            .tx
            .query_row(
                "SELECT sync_state FROM device_docs WHERE device_id = ?1 AND doc_id = ?2",
                params![self.device, doc.to_string()],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn save_state(&self, doc: &DocId, state: &State) -> Result<()> {
        self.tx.execute(
            "INSERT INTO device_docs (device_id, doc_id, sync_state) VALUES (?1, ?2, ?3)
             ON CONFLICT(device_id, doc_id) DO UPDATE SET sync_state = excluded.sync_state",
            params![self.device, doc.to_string(), state.encode()],
        )?;
        Ok(())
    }

    fn push_message(&mut self, doc: DocId, message: Message) -> Result<()> {
        let carries_changes = !message.changes.is_empty();
        self.push_encoded(doc, message.encode(), carries_changes)
    }

    fn push_encoded(&mut self, doc: DocId, data: Vec<u8>, carries_changes: bool) -> Result<()> {
        self.size += data.len();
        if carries_changes {
            self.audit("read", &doc, json!({ "message_bytes": data.len() }))?;
        }
        self.response.messages.push(DocMessage { doc, data });
        Ok(())
    }

    /// Step 3: one message from the device.
    fn receive(&mut self, perms: &Permissions, incoming: DocMessage) -> Result<()> {
        let doc = incoming.doc;
        let access = perms.access(&doc);
        if !access.can_read() {
            return self.reject(doc, RejectReason::Forbidden, "forbidden");
        }
        let Ok(message) = Message::decode(&incoming.data) else {
            return self.reject(doc, RejectReason::Quarantined, "message_decode");
        };
        let read_only = !message.changes.is_empty() && !access.can_write();
        if read_only {
            self.reject(doc, RejectReason::ReadOnly, "read_only")?;
        }
        let stored = self.stored(&doc)?;
        let mut state = match self.sync_state(&doc)?.map(|s| State::decode(&s)) {
            Some(Ok(state)) => state,
            _ => State::new(),
        };
        state.read_only = read_only;
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            apply(stored.as_deref(), &mut state, message)
        }));
        let applied = match outcome {
            Ok(Ok(applied)) => applied,
            // A reply to a read-only peer is a courtesy; its refusal is already recorded.
            _ if read_only => return Ok(()),
            Ok(Err(why)) => return self.reject(doc, RejectReason::Quarantined, why),
            Err(_) => return self.reject(doc, RejectReason::Quarantined, "panic"),
        };
        if let Some(saved) = applied.saved.filter(|_| !read_only) {
            if saved.len() > MAX_DOC_BYTES {
                return self.reject(doc, RejectReason::Quarantined, "too_large");
            }
            let seq = db::next_seq(self.tx)?;
            self.tx.execute(
                "INSERT INTO docs (doc_id, case_id, kind, seq, bytes) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(doc_id) DO UPDATE SET seq = excluded.seq, bytes = excluded.bytes",
                params![
                    doc.to_string(),
                    doc.case.to_string(),
                    doc.kind.as_str(),
                    i64::try_from(seq).map_err(|_| Error::Corrupt("sequence".into()))?,
                    saved
                ],
            )?;
            self.audit(
                "write",
                &doc,
                json!({
                    "chunks": applied.chunks,
                    "message_bytes": incoming.data.len(),
                    "doc_bytes": saved.len(),
                }),
            )?;
        }
        state.read_only = false;
        if let Some(reply) = applied.reply {
            self.push_message(doc, reply)?;
        }
        self.save_state(&doc, &state)
    }

    /// Step 4: offer one changed document the device did not write in this request.
    /// Returns false (and changes nothing) if it would not fit in the budget.
    fn offer(&mut self, doc: DocId, stored_len: usize, budget: usize) -> Result<bool> {
        let first = self.response.messages.is_empty() && self.response.snapshots.is_empty();
        let Some(state_bytes) = self.sync_state(&doc)? else {
            if !first && self.size + stored_len > budget {
                return Ok(false);
            }
            let Some(data) = self.stored(&doc)? else {
                return Ok(true);
            };
            self.size += data.len();
            self.audit("read", &doc, json!({ "snapshot_bytes": data.len() }))?;
            self.response.snapshots.push(DocSnapshot { doc, data });
            self.save_state(&doc, &State::new())?;
            return Ok(true);
        };
        let Some(stored) = self.stored(&doc)? else {
            return Ok(true);
        };
        let mut state = State::decode(&state_bytes).unwrap_or_default();
        let generated = catch_unwind(AssertUnwindSafe(|| {
            Automerge::load(&stored)
                .ok()
                .and_then(|d| d.generate_sync_message(&mut state))
        }));
        let Ok(message) = generated else {
            tracing::warn!("stored document failed to load; not offered");
            return Ok(true);
        };
        let Some(message) = message else {
            return Ok(true);
        };
        let carries_changes = !message.changes.is_empty();
        let data = message.encode();
        if !first && self.size + data.len() > budget {
            return Ok(false);
        }
        self.push_encoded(doc, data, carries_changes)?;
        self.save_state(&doc, &state)?;
        Ok(true)
    }
}

/// What receiving one message did.
struct Applied {
    /// The new save, if the document's heads changed.
    saved: Option<Vec<u8>>,
    /// Change chunks the message carried.
    chunks: usize,
    /// The reply to send, if any.
    reply: Option<Message>,
}

/// Load (or start) the document, receive the message, save if changed, and answer.
fn apply(
    stored: Option<&[u8]>,
    state: &mut State,
    message: Message,
) -> std::result::Result<Applied, &'static str> {
    let mut doc = match stored {
        Some(bytes) => Automerge::load(bytes).map_err(|_| "stored_doc_load")?,
        None => Automerge::new(),
    };
    let before = doc.get_heads();
    let chunks = message.changes.len();
    doc.receive_sync_message(state, message)
        .map_err(|_| "apply")?;
    let saved = (doc.get_heads() != before).then(|| doc.save());
    let reply = doc.generate_sync_message(state);
    Ok(Applied {
        saved,
        chunks,
        reply,
    })
}

/// Steps 1 to 6 of the exchange (see `docs/protocol.md`).
fn exchange(
    tx: &Transaction<'_>,
    caller: &Caller,
    req: SyncRequest,
    now: i64,
    budget: usize,
) -> Result<SyncResponse> {
    let mut ex = Exchange {
        tx,
        caller,
        device: caller.device.to_string(),
        now,
        response: empty_response(0),
        size: 0,
    };
    for doc in &req.purged {
        tx.execute(
            "DELETE FROM device_docs WHERE device_id = ?1 AND doc_id = ?2",
            params![ex.device, doc.to_string()],
        )?;
        ex.audit("purge_confirmed", doc, json!({}))?;
    }
    // Cases first created offline on a phone are registered before access is decided.
    let mut new_cases = HashSet::new();
    for m in &req.messages {
        let case = m.doc.case;
        if !new_cases.contains(&case) && directory::case_org(tx, &case.to_string())?.is_none() {
            directory::register_offline_case(tx, &case, &caller.user, &ex.device, now)?;
            new_cases.insert(case);
        }
    }
    let perms = directory::permissions(tx, &caller.user)?;
    let named: HashSet<DocId> = req.messages.iter().map(|m| m.doc).collect();
    for m in req.messages {
        ex.receive(&perms, m)?;
    }
    let mut cursor = None;
    for offer in offers(tx, &perms, &ex.device, req.cursor)? {
        if named.contains(&offer.doc) {
            continue;
        }
        if !ex.offer(offer.doc, offer.len, budget)? {
            ex.response.more = true;
            break;
        }
        if offer.after_cursor {
            cursor = Some(offer.seq);
        }
    }
    ex.response.purge = to_purge(tx, &perms, &ex.device)?;
    ex.response.cursor = if ex.response.more {
        cursor.unwrap_or(req.cursor)
    } else {
        db::current_seq(tx)?
    };
    Ok(ex.response)
}
