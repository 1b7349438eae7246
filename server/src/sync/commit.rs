//! The short write transaction that ends an exchange: commit each precomputed result whose
//! document (`seq`) and sync state are unchanged since they were read, offer what changed
//! since the device's cursor, and answer. Everything that decides access runs here again,
//! inside the transaction.

use std::collections::{HashMap, HashSet};

use automerge::sync::State;
use casebook_core::doc::DocId;
use casebook_core::sync::wire::{
    DocMessage, DocRejection, DocSnapshot, MAX_DOC_BYTES, MAX_SYNC_MESSAGES, MAX_SYNC_PURGED,
    PROTOCOL_VERSION, RejectReason, SyncResponse,
};
use serde_json::json;

use super::compute::{self, Input, Offered, Received};
use crate::audit::{self, Event};
use crate::auth::Caller;
use crate::db;
use crate::directory::Permissions;
use crate::error::{Error, Result};
use crate::params;
use crate::sql::{Conn, OptionalExtension, ToValue, Tx, Value};

pub(super) fn empty_response(cursor: u64) -> SyncResponse {
    SyncResponse {
        v: PROTOCOL_VERSION,
        cursor,
        messages: Vec::new(),
        snapshots: Vec::new(),
        purge: Vec::new(),
        rejected: Vec::new(),
        more: false,
        notices: Vec::new(),
        alerts: Vec::new(),
        pending_docs: 0,
        pending_bytes: 0,
        epoch: None,
    }
}

/// A document to offer the device.
#[derive(Debug, Clone, Copy)]
pub(super) struct Offer {
    pub doc: DocId,
    pub seq: u64,
    /// Stored size in bytes.
    pub len: usize,
    /// Changed after the request's cursor (as opposed to: never sent to this device).
    pub after_cursor: bool,
}

fn offer_from_row(r: &crate::sql::Row<'_>) -> crate::sql::Result<(String, i64, i64)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
}

/// What to offer: readable documents changed after `cursor`, and readable documents this
/// device has never been sent (access newly granted), ascending by sequence.
pub(super) fn offers(
    conn: Conn<'_>,
    perms: &Permissions,
    device: &str,
    cursor: u64,
) -> Result<Vec<Offer>> {
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
    let mut stmt = conn.prepare_cached(&NEVER_SENT_SQL)?;
    let cases: Vec<&str> = perms.cases().collect();
    for chunk in cases.chunks(CASES_PER_QUERY) {
        let mut values: Vec<Value> = (0..CASES_PER_QUERY)
            .map(|i| {
                chunk
                    .get(i)
                    .or(chunk.last())
                    .copied()
                    .unwrap_or_default()
                    .to_value()
            })
            .collect();
        values.push(cursor_sql.to_value());
        values.push(device.to_value());
        for row in stmt.query_map(values, offer_from_row)? {
            push(row?, false);
        }
    }
    out.sort_by_key(|o| o.seq);
    Ok(out)
}

/// Cases asked about in one statement when looking for documents never sent to a device: on
/// PostgreSQL each statement is a round trip, and a supervisor's no-op sync asked once per
/// case of their teams. A shorter last chunk repeats its last case (a repeat in `IN` matches
/// nothing more), so one prepared statement serves every user.
const CASES_PER_QUERY: usize = 64;

/// Readable documents (in the cases `?1` to `?64`) at or below the cursor (`?65`) that the
/// device (`?66`) was never sent.
static NEVER_SENT_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let cases: Vec<String> = (1..=CASES_PER_QUERY).map(|i| format!("?{i}")).collect();
    format!(
        "SELECT d.doc_id, d.seq, length(d.bytes) FROM docs d
         WHERE d.case_id IN ({}) AND d.seq <= ?{} AND NOT EXISTS
             (SELECT 1 FROM device_docs x WHERE x.device_id = ?{} AND x.doc_id = d.doc_id)",
        cases.join(", "),
        CASES_PER_QUERY + 1,
        CASES_PER_QUERY + 2
    )
});

/// Documents this device holds that its user may no longer read (at most
/// [`MAX_SYNC_PURGED`]; the rest are ordered once these are confirmed).
pub(super) fn to_purge(conn: Conn<'_>, perms: &Permissions, device: &str) -> Result<Vec<DocId>> {
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
        if out.len() >= MAX_SYNC_PURGED {
            break;
        }
    }
    Ok(out)
}

/// The stored save and `seq` of `doc`.
pub(super) fn stored(conn: Conn<'_>, doc: &DocId) -> Result<Option<(i64, Vec<u8>)>> {
    Ok(db::docs::read_seq_bytes(conn, &doc.to_string())?)
}

/// Documents read in one statement by [`stored_with_states`].
const DOCS_PER_QUERY: usize = 64;

/// The save, `seq` and the device's (`?65`) sync state of the documents `?1` to `?64`.
static STORED_WITH_STATES_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let docs: Vec<String> = (1..=DOCS_PER_QUERY).map(|i| format!("?{i}")).collect();
    format!(
        "SELECT d.doc_id, d.seq, d.bytes, x.sync_state FROM docs d
         LEFT JOIN device_docs x ON x.doc_id = d.doc_id AND x.device_id = ?{}
         WHERE d.doc_id IN ({})",
        DOCS_PER_QUERY + 1,
        docs.join(", ")
    )
});

/// The document, stored `seq` and save, and the device's sync state.
pub(super) type StoredWithState = (i64, Vec<u8>, Option<Vec<u8>>);

/// [`stored`] and [`sync_state`] for each of `docs`, 64 documents a statement: on PostgreSQL
/// each statement is a round trip, and a fresh device's pull of 1,000 documents read two a
/// document. A document not stored is absent.
pub(super) fn stored_with_states(
    conn: Conn<'_>,
    device: &str,
    docs: &[DocId],
) -> Result<HashMap<DocId, StoredWithState>> {
    let mut out = HashMap::with_capacity(docs.len());
    let mut stmt = conn.prepare_cached(&STORED_WITH_STATES_SQL)?;
    for values in doc_chunks(docs, device) {
        let rows = stmt.query_map(values, |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, Vec<u8>>(2)?,
                r.get::<_, Option<Vec<u8>>>(3)?,
            ))
        })?;
        for row in rows {
            let (id, seq, sealed, state) = row?;
            let Ok(doc) = id.parse::<DocId>() else {
                tracing::warn!("stored document with an invalid id skipped");
                continue;
            };
            let bytes = conn.unseal(&db::docs::row(&id), sealed)?;
            out.insert(doc, (seq, bytes, state));
        }
    }
    Ok(out)
}

/// The device's (`?65`) sync states of the documents `?1` to `?64` it has one for.
static SYNC_STATES_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let docs: Vec<String> = (1..=DOCS_PER_QUERY).map(|i| format!("?{i}")).collect();
    format!(
        "SELECT doc_id, sync_state FROM device_docs WHERE device_id = ?{} AND doc_id IN ({})",
        DOCS_PER_QUERY + 1,
        docs.join(", ")
    )
});

/// [`sync_state`] of each of `docs` (`None` where the device holds none), 64 a statement.
pub(super) fn sync_states(
    conn: Conn<'_>,
    device: &str,
    docs: &[DocId],
) -> Result<HashMap<DocId, Option<Vec<u8>>>> {
    let mut out: HashMap<DocId, Option<Vec<u8>>> = docs.iter().map(|d| (*d, None)).collect();
    let mut stmt = conn.prepare_cached(&SYNC_STATES_SQL)?;
    for values in doc_chunks(docs, device) {
        let rows = stmt.query_map(values, |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
        })?;
        for row in rows {
            let (id, state) = row?;
            if let Ok(doc) = id.parse::<DocId>() {
                out.insert(doc, Some(state));
            }
        }
    }
    Ok(out)
}

/// `docs` as the parameters of statements taking 64 documents and then `device`: a shorter
/// last chunk repeats its last document (a repeat in `IN` matches nothing more), so one
/// prepared statement serves every request.
fn doc_chunks(docs: &[DocId], device: &str) -> Vec<Vec<Value>> {
    let ids: Vec<String> = docs.iter().map(ToString::to_string).collect();
    ids.chunks(DOCS_PER_QUERY)
        .map(|chunk| {
            let mut values: Vec<Value> = (0..DOCS_PER_QUERY)
                .map(|i| {
                    chunk
                        .get(i)
                        .or(chunk.last())
                        .map(String::as_str)
                        .unwrap_or_default()
                        .to_value()
                })
                .collect();
            values.push(device.to_value());
            values
        })
        .collect()
}

/// The `seq` of `doc`, if stored.
fn stored_seq(conn: Conn<'_>, doc: &DocId) -> Result<Option<i64>> {
    Ok(conn
        .query_row(
            "SELECT seq FROM docs WHERE doc_id = ?1",
            [doc.to_string()],
            |r| r.get(0),
        )
        .optional()?)
}

/// The sync state `device` holds for `doc`.
pub(super) fn sync_state(conn: Conn<'_>, device: &str, doc: &DocId) -> Result<Option<Vec<u8>>> {
    Ok(conn
        .query_row(
            "SELECT sync_state FROM device_docs WHERE device_id = ?1 AND doc_id = ?2",
            params![device, doc.to_string()],
            |r| r.get(0),
        )
        .optional()?)
}

/// Everything the receive step needs to know about `doc`, read now.
pub(super) fn read_input(
    conn: Conn<'_>,
    perms: &Permissions,
    device: &str,
    doc: &DocId,
) -> Result<Input> {
    let access = perms.access(doc);
    if !access.can_read() {
        return Ok(Input {
            access,
            seq: None,
            stored: None,
            state: None,
        });
    }
    let (seq, stored) = match stored(conn, doc)? {
        Some((seq, bytes)) => (Some(seq), Some(bytes)),
        None => (None, None),
    };
    Ok(Input {
        access,
        seq,
        stored,
        state: sync_state(conn, device, doc)?,
    })
}

/// A message from the device with what was read for it and what receiving it gave.
#[derive(Debug)]
pub(super) struct Computed {
    pub message: DocMessage,
    pub input: Input,
    pub received: Received,
}

/// A document to offer, as read, and what offering it gave.
#[derive(Debug)]
pub(super) struct Precomputed {
    pub seq: i64,
    pub stored: Vec<u8>,
    pub state: Option<Vec<u8>>,
    pub offered: Offered,
}

/// The part of the answer built so far (earlier attempts committed theirs).
#[derive(Debug)]
pub(super) struct Partial {
    pub response: SyncResponse,
    /// Bytes of document payload in the response so far.
    pub size: usize,
}

/// What one commit attempt did.
#[derive(Debug)]
pub(super) enum Committed {
    /// These messages met a document changed since it was read: read and compute again.
    Retry(Partial, Vec<DocMessage>),
    /// The answer.
    Done(SyncResponse),
}

/// One attempt's work, for [`commit`].
#[derive(Debug)]
pub(super) struct Attempt {
    pub computed: Vec<Computed>,
    pub offers: HashMap<DocId, Precomputed>,
    /// Messages quarantined before any work (their case could not be registered), with the
    /// reason to audit (`None`: already audited for the whole request).
    pub refused: Vec<(DocId, Option<&'static str>)>,
    /// The last attempt computes conflicting documents here, under the lock.
    pub last: bool,
}

/// Everything one request changes, in one write transaction.
struct Exchange<'a, 'tx> {
    tx: &'a Tx<'tx>,
    caller: &'a Caller,
    device: String,
    now: i64,
    response: SyncResponse,
    size: usize,
    /// The `read` rows of the documents offered so far, appended together once the offers
    /// are made ([`Exchange::append_offered_reads`]), before anything else is audited.
    offered_reads: Vec<Event<'static>>,
    /// The device's sync state of the documents about to be offered, read together.
    offer_states: HashMap<DocId, Option<Vec<u8>>>,
}

impl Exchange<'_, '_> {
    fn event<'e>(&self, event: &'e str, doc: &DocId, detail: serde_json::Value) -> Event<'e> {
        Event {
            event,
            actor_user: Some(self.caller.user.id.clone()),
            actor_device: Some(self.device.clone()),
            case_id: Some(doc.case.to_string()),
            doc_id: Some(doc.to_string()),
            detail,
            ..Event::default()
        }
    }

    fn audit(&self, event: &str, doc: &DocId, detail: serde_json::Value) -> Result<()> {
        audit::append(self.tx, self.now, self.event(event, doc, detail))?;
        Ok(())
    }

    /// Audit the offered documents' reads, in the order they were offered.
    fn append_offered_reads(&mut self) -> Result<()> {
        let reads = std::mem::take(&mut self.offered_reads);
        audit::append_all(self.tx, self.now, reads)?;
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

    fn save_state(&self, doc: &DocId, state: &[u8]) -> Result<()> {
        self.tx.execute(
            "INSERT INTO device_docs (device_id, doc_id, sync_state) VALUES (?1, ?2, ?3)
             ON CONFLICT(device_id, doc_id) DO UPDATE SET sync_state = excluded.sync_state",
            params![self.device, doc.to_string(), state],
        )?;
        Ok(())
    }

    fn push_encoded(&mut self, doc: DocId, data: Vec<u8>, carries_changes: bool) -> Result<()> {
        self.size += data.len();
        if carries_changes {
            self.audit("read", &doc, json!({ "message_bytes": data.len() }))?;
        }
        self.response.messages.push(DocMessage { doc, data });
        Ok(())
    }

    /// Whether what was read for `doc` still holds in this transaction.
    fn unchanged(&self, perms: &Permissions, doc: &DocId, input: &Input) -> Result<bool> {
        let access = perms.access(doc);
        if access != input.access {
            return Ok(false);
        }
        if !access.can_read() {
            return Ok(true);
        }
        Ok(stored_seq(**self.tx, doc)? == input.seq
            && sync_state(**self.tx, &self.device, doc)? == input.state)
    }

    /// Step 3: commit what receiving one message gave.
    fn apply(
        &mut self,
        perms: &Permissions,
        doc: DocId,
        message_bytes: usize,
        received: Received,
    ) -> Result<()> {
        let (read_only, result, state) = match received {
            Received::Forbidden => return self.reject(doc, RejectReason::Forbidden, "forbidden"),
            Received::Refused(why) => return self.reject(doc, RejectReason::Quarantined, why),
            Received::Done {
                read_only,
                result,
                state,
            } => (read_only, result, state),
        };
        if read_only {
            self.reject(doc, RejectReason::ReadOnly, "read_only")?;
        }
        let applied = match result {
            Ok(applied) => applied,
            // A reply to a read-only peer is a courtesy; its refusal is already recorded.
            Err(_) if read_only => return Ok(()),
            Err(why) => return self.reject(doc, RejectReason::Quarantined, why),
        };
        if let Some(saved) = applied.saved.filter(|_| !read_only) {
            if saved.len() > MAX_DOC_BYTES {
                return self.reject(doc, RejectReason::Quarantined, "too_large");
            }
            let refusal = applied
                .write_refusal
                .or_else(|| crate::review::refusal(perms, &doc, &applied.review));
            if let Some(detail) = refusal {
                self.audit("denied", &doc, detail)?;
                self.response.rejected.push(DocRejection {
                    doc,
                    reason: RejectReason::ReadOnly,
                });
                return Ok(());
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
                    db::docs::sealed(**self.tx, &doc.to_string(), &saved)
                ],
            )?;
            crate::attachments::record_ref(self.tx, &doc, applied.photo.as_ref())?;
            if let Some(fields) = applied.conflicts {
                crate::conflict_index::record(self.tx, &doc, fields, self.now)?;
            }
            self.audit(
                "write",
                &doc,
                json!({
                    "chunks": applied.chunks,
                    "message_bytes": message_bytes,
                    "doc_bytes": saved.len(),
                }),
            )?;
            crate::alerts::raise(
                self.tx,
                self.caller,
                &doc,
                &applied.episode_events,
                self.now,
            )?;
            crate::interpreter_links::record(self.tx, self.caller, &doc, &applied.links, self.now)?;
            crate::review::record(self.tx, self.caller, &doc, &applied.review, self.now)?;
            if let Some(facts) = &applied.report_facts {
                crate::reports::facts::record(self.tx, &doc, facts, self.now)?;
            }
            if let Some(facts) = &applied.deadline_facts {
                crate::deadline_index::record(self.tx, &doc, facts)?;
            }
            for share in &applied.shares {
                self.audit(share.event, &doc, json!({ "person": share.person }))?;
            }
        }
        if let Some((reply, carries_changes)) = applied.reply {
            self.push_encoded(doc, reply, carries_changes)?;
        }
        self.save_state(&doc, &state.encode())
    }

    /// Step 4: offer one changed document the device did not write in this request, from
    /// the precomputed result if it still holds. Returns false (and changes nothing) if it
    /// would not fit in the budget or the message count.
    fn offer(&mut self, offer: &Offer, pre: Option<Precomputed>, budget: usize) -> Result<bool> {
        let doc = offer.doc;
        let first = self.response.messages.is_empty() && self.response.snapshots.is_empty();
        let state = match self.offer_states.remove(&doc) {
            Some(state) => state,
            None => sync_state(**self.tx, &self.device, &doc)?,
        };
        let seq = i64::try_from(offer.seq).unwrap_or(i64::MAX);
        let (stored, offered) = match pre.filter(|p| p.seq == seq && p.state == state) {
            Some(p) => (p.stored, p.offered),
            None => {
                let Some((_, stored)) = stored(**self.tx, &doc)? else {
                    return Ok(true);
                };
                let offered = compute::offer(&stored, state.as_deref());
                (stored, offered)
            }
        };
        match offered {
            Offered::Snapshot => {
                if !first && self.size + stored.len() > budget {
                    return Ok(false);
                }
                self.size += stored.len();
                let read = self.event("read", &doc, json!({ "snapshot_bytes": stored.len() }));
                self.offered_reads.push(read);
                self.response
                    .snapshots
                    .push(DocSnapshot { doc, data: stored });
                self.save_state(&doc, &State::new().encode())?;
            }
            Offered::Message(data, carries_changes, state) => {
                if !first && self.size + data.len() > budget {
                    return Ok(false);
                }
                if self.response.messages.len() >= MAX_SYNC_MESSAGES {
                    return Ok(false);
                }
                self.size += data.len();
                if carries_changes {
                    let read = self.event("read", &doc, json!({ "message_bytes": data.len() }));
                    self.offered_reads.push(read);
                }
                self.response.messages.push(DocMessage { doc, data });
                self.save_state(&doc, &state)?;
            }
            Offered::Nothing => {}
        }
        Ok(true)
    }
}

/// One commit attempt: steps 3 to 6 of the exchange (see `docs/protocol.md`).
#[allow(clippy::too_many_arguments)]
pub(super) fn commit(
    tx: &Tx<'_>,
    caller: &Caller,
    now: i64,
    budget: usize,
    cursor: u64,
    named: &HashSet<DocId>,
    partial: Partial,
    attempt: Attempt,
) -> Result<Committed> {
    let mut ex = Exchange {
        tx,
        caller,
        device: caller.device.to_string(),
        now,
        response: partial.response,
        size: partial.size,
        offered_reads: Vec::new(),
        offer_states: HashMap::new(),
    };
    let perms = crate::directory::permissions(**tx, &caller.user)?;
    for (doc, why) in attempt.refused {
        match why {
            Some(why) => ex.reject(doc, RejectReason::Quarantined, why)?,
            // Audited once for the request when it was decided.
            None => ex.response.rejected.push(DocRejection {
                doc,
                reason: RejectReason::Quarantined,
            }),
        }
    }
    let mut conflicts = Vec::new();
    for c in attempt.computed {
        let doc = c.message.doc;
        if ex.unchanged(&perms, &doc, &c.input)? {
            ex.apply(&perms, doc, c.message.data.len(), c.received)?;
        } else if attempt.last {
            let input = read_input(**tx, &perms, &ex.device, &doc)?;
            let received = compute::receive(&input, &c.message.data, &doc, caller);
            ex.apply(&perms, doc, c.message.data.len(), received)?;
        } else {
            conflicts.push(c.message);
        }
    }
    if !conflicts.is_empty() {
        let partial = Partial {
            response: ex.response,
            size: ex.size,
        };
        return Ok(Committed::Retry(partial, conflicts));
    }
    let mut pre = attempt.offers;
    let mut last_cursor = None;
    let offered = offers(**tx, &perms, &ex.device, cursor)?;
    // The states of the documents read ahead (those the budget is expected to take), read
    // together; any other document offered reads its own.
    let ahead: Vec<DocId> = pre.keys().copied().collect();
    ex.offer_states = sync_states(**tx, &ex.device, &ahead)?;
    for (i, offer) in offered.iter().enumerate() {
        if named.contains(&offer.doc) {
            continue;
        }
        if !ex.offer(offer, pre.remove(&offer.doc), budget)? {
            ex.response.more = true;
            // What is left, for the device's progress display.
            for left in offered[i..].iter().filter(|o| !named.contains(&o.doc)) {
                ex.response.pending_docs += 1;
                let len = u64::try_from(left.len).unwrap_or(u64::MAX);
                ex.response.pending_bytes = ex.response.pending_bytes.saturating_add(len);
            }
            break;
        }
        if offer.after_cursor {
            last_cursor = Some(offer.seq);
        }
    }
    ex.append_offered_reads()?;
    ex.response.purge = to_purge(**tx, &perms, &ex.device)?;
    let (seq, epoch) = db::epoch::seq_and_epoch(**tx)?;
    ex.response.cursor = if ex.response.more {
        last_cursor.unwrap_or(cursor)
    } else {
        seq
    };
    ex.response.epoch = epoch;
    ex.response.notices = crate::admin::notices::deliver(tx, caller, now)?;
    ex.response.alerts =
        crate::alerts::deliver(**tx, &perms, &caller.user.id, cursor, ex.response.cursor)?;
    Ok(Committed::Done(ex.response))
}

#[cfg(test)]
mod tests {
    use casebook_core::doc::DocKind;
    use casebook_core::ids::CaseId;

    use super::*;
    use crate::sql::TestDb;

    /// Every document asked for comes back, across chunks (130 documents: two full chunks and
    /// a short one), with its own `seq`, save and this device's sync state; another device's
    /// state and a document not stored do not.
    #[test]
    fn stored_with_states_reads_every_document_asked_for_in_chunks() {
        let mut db = TestDb::migrated();
        let docs: Vec<DocId> = (0..130u8)
            .map(|i| DocId::new(CaseId::from_bytes([i; 16]), DocKind::Visits))
            .collect();
        db.write(|tx| {
            for (i, doc) in docs.iter().enumerate() {
                let seq = i64::try_from(i).expect("small") + 1;
                tx.execute(
                    "INSERT INTO docs (doc_id, case_id, kind, seq, bytes) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![doc.to_string(), doc.case.to_string(), "visits", seq, vec![i as u8; 3]],
                )
                .expect("doc");
                if i % 2 == 0 {
                    tx.execute(
                        "INSERT INTO device_docs (device_id, doc_id, sync_state) VALUES (?1, ?2, ?3)",
                        params!["device-a", doc.to_string(), vec![7u8, i as u8]],
                    )
                    .expect("state");
                }
                tx.execute(
                    "INSERT INTO device_docs (device_id, doc_id, sync_state) VALUES (?1, ?2, ?3)",
                    params!["device-b", doc.to_string(), vec![9u8]],
                )
                .expect("other device's state");
            }
        });
        let absent = DocId::new(CaseId::from_bytes([200; 16]), DocKind::Visits);
        let mut asked = docs.clone();
        asked.push(absent);
        let read = stored_with_states(db.conn(), "device-a", &asked).expect("read");
        assert_eq!(read.len(), docs.len());
        assert!(!read.contains_key(&absent));
        for (i, doc) in docs.iter().enumerate() {
            let (seq, bytes, state) = read.get(doc).expect("read back");
            assert_eq!(*seq, i64::try_from(i).expect("small") + 1);
            assert_eq!(bytes, &vec![i as u8; 3]);
            let expected = (i % 2 == 0).then(|| vec![7u8, i as u8]);
            assert_eq!(state, &expected, "document {i}");
        }
        assert!(
            stored_with_states(db.conn(), "device-a", &[])
                .expect("none")
                .is_empty()
        );
    }
}
