//! The sync exchange behind `POST /v1/sync`: apply a device's automerge sync messages to the
//! documents it may write, answer them, offer what changed since its cursor, and tell it what
//! to purge. Access is decided by [`crate::directory::permissions`] alone.
//!
//! The single writer is held only for short SQL work:
//! 1. checks: version, the per-request caps, the device's rate limit ([`SyncLimiter`]);
//! 2. purge confirmations and cases first created offline, in a short write (only if any);
//! 3. a read snapshot of every named document (save, `seq`, the device's sync state) and of
//!    the documents to offer;
//! 4. the automerge work (load, receive, save, generate) off the lock ([`compute`]);
//! 5. a short write that commits each result whose document `seq` and sync state did not
//!    change meanwhile ([`commit`]); the others are read and computed again, at most
//!    [`ATTEMPTS`] times, the last time under the lock.

mod commit;
mod compute;
pub mod fuzz_entry;
mod limiter;
pub mod negotiate;

use std::collections::{HashMap, HashSet};

use casebook_core::doc::DocId;
use casebook_core::ids::CaseId;
use casebook_core::sync::wire::{
    DocMessage, MAX_SYNC_MESSAGES, MAX_SYNC_PURGED, PROTOCOL_VERSION, SyncRequest, SyncResponse,
};
use serde_json::json;

pub use limiter::SyncLimiter;

use self::commit::{Attempt, Committed, Computed, Partial, Precomputed, empty_response};
use crate::audit::{self, Event};
use crate::auth::{self, Caller};
use crate::db;
use crate::directory;
use crate::error::{Error, Result};
use crate::params;
use crate::sql::{Conn, Tx};
use crate::state::AppState;

/// Commit attempts before a conflicting document is computed under the lock.
pub const ATTEMPTS: usize = 3;

/// Handle one sync request from an authenticated device.
pub async fn sync(state: &AppState, caller: Caller, req: SyncRequest) -> Result<SyncResponse> {
    validate(&req)?;
    limiter::take(state, &caller.device, state.clock.now()).await?;
    // Bound device bytes before automerge sees them, off the runtime and outside the writer.
    let (req, guard_refused) = crate::sync_guard::screen(req).await?;
    if crate::sync_guard::is_bomb(&req, &guard_refused) {
        return Err(crate::sync_guard::refuse_request(state, caller, guard_refused).await);
    }
    let SyncRequest {
        cursor,
        messages,
        purged,
        epoch: known_epoch,
        ..
    } = req;
    let purged = dedupe(purged);
    if messages.is_empty() && purged.is_empty() && guard_refused.is_empty() {
        let probe_caller = caller.clone();
        let now = state.clock.now();
        let idle = state
            .db
            .read(move |c| {
                let caller = auth::recheck(c, &probe_caller, now)?;
                if crate::admin::notices::pending(c, &caller)? {
                    return Ok(None);
                }
                idle_answer(c, &caller, cursor)
            })
            .await?;
        if let Some(answer) = idle {
            return Ok(epoch_if_news(answer, known_epoch.as_deref()));
        }
    }
    let budget = state.settings.response_budget;
    let named: HashSet<DocId> = messages.iter().map(|m| m.doc).collect();
    let mut refused: Vec<(DocId, Option<&'static str>)> = guard_refused
        .iter()
        .map(|r| (r.doc, Some(r.reason)))
        .collect();
    let mut pending = messages;
    // Cases first created offline are registered (and purges confirmed) before access is
    // decided; a case over the user's daily limit is not, and its messages are refused.
    // Only a message that decodes, changes and all, can register a case; one that does not,
    // for a case the server does not know, is quarantined without registering it.
    let named_cases = distinct_cases(&pending);
    let unregistered = state
        .db
        .read(move |c| unregistered_cases(c, &named_cases))
        .await?;
    let (returned, decodable) = if unregistered.is_empty() {
        (pending, HashSet::new())
    } else {
        let unknown: HashSet<CaseId> = unregistered.iter().copied().collect();
        tokio::task::spawn_blocking(move || {
            let decodable = decodable_cases(&pending, &unknown);
            (pending, decodable)
        })
        .await?
    };
    pending = returned;
    pending.retain(|m| {
        if unregistered.contains(&m.doc.case) && !decodable.contains(&m.doc.case) {
            refused.push((m.doc, Some("message_decode")));
            false
        } else {
            true
        }
    });
    let to_register: Vec<CaseId> = unregistered
        .into_iter()
        .filter(|c| decodable.contains(c))
        .collect();
    if !purged.is_empty() || !to_register.is_empty() {
        let caller = caller.clone();
        let now = state.clock.now();
        let limit = state.settings.max_case_registrations_per_day;
        let over_limit = state
            .db
            .write(move |tx| {
                let caller = auth::recheck(**tx, &caller, now)?;
                confirm_purges(tx, &caller, &purged, now)?;
                register_cases(tx, &caller, &to_register, limit, now)
            })
            .await?;
        pending.retain(|m| {
            if over_limit.contains(&m.doc.case) {
                refused.push((m.doc, None));
                false
            } else {
                true
            }
        });
    }
    let mut partial = Partial {
        response: empty_response(0),
        size: 0,
    };
    for attempt in 0..ATTEMPTS {
        let last = attempt + 1 == ATTEMPTS;
        let read_caller = caller.clone();
        let now = state.clock.now();
        let named_read = named.clone();
        let (inputs, offer_inputs) = state
            .db
            .read(move |c| {
                let caller = auth::recheck(c, &read_caller, now)?;
                snapshot(c, &caller, pending, &named_read, cursor, budget)
            })
            .await?;
        let compute_caller = caller.clone();
        let (computed, offers) =
            tokio::task::spawn_blocking(move || compute_all(&compute_caller, inputs, offer_inputs))
                .await?;
        let commit_caller = caller.clone();
        let named_commit = named.clone();
        let work = Attempt {
            computed,
            offers,
            refused: std::mem::take(&mut refused),
            last,
        };
        let now = state.clock.now();
        let committed = state
            .db
            .write(move |tx| {
                let caller = auth::recheck(**tx, &commit_caller, now)?;
                commit::commit(
                    tx,
                    &caller,
                    now,
                    budget,
                    cursor,
                    &named_commit,
                    partial,
                    work,
                )
            })
            .await?;
        match committed {
            Committed::Done(response) => {
                // A replaced photo's image goes once the stored document no longer names it.
                crate::attachments::collect_after_sync(state, named.into_iter().collect()).await?;
                return Ok(epoch_if_news(response, known_epoch.as_deref()));
            }
            Committed::Retry(kept, conflicts) => {
                tracing::debug!(
                    docs = conflicts.len(),
                    attempt,
                    "documents changed meanwhile"
                );
                partial = kept;
                pending = conflicts;
            }
        }
    }
    Err(Error::Task("sync commit did not settle".into()))
}

/// The answer carries the store's epoch only when the device does not know it already (a
/// restore changed it, or the device never saw it), so a no-op answer stays as small.
fn epoch_if_news(mut answer: SyncResponse, known: Option<&str>) -> SyncResponse {
    if answer.epoch.as_deref() == known {
        answer.epoch = None;
    }
    answer
}

fn validate(req: &SyncRequest) -> Result<()> {
    if req.v != PROTOCOL_VERSION {
        return Err(Error::UnsupportedVersion(req.v));
    }
    if req.messages.len() > MAX_SYNC_MESSAGES {
        return Err(Error::BadRequest(format!(
            "at most {MAX_SYNC_MESSAGES} messages per request"
        )));
    }
    if req.purged.len() > MAX_SYNC_PURGED {
        return Err(Error::BadRequest(format!(
            "at most {MAX_SYNC_PURGED} purge confirmations per request"
        )));
    }
    let mut seen = HashSet::new();
    if !req.messages.iter().all(|m| seen.insert(m.doc)) {
        return Err(Error::BadRequest(
            "more than one message for a document".into(),
        ));
    }
    Ok(())
}

/// The purge confirmations, each document once, in the order first named.
fn dedupe(purged: Vec<DocId>) -> Vec<DocId> {
    let mut seen = HashSet::new();
    purged.into_iter().filter(|d| seen.insert(*d)).collect()
}

/// The distinct cases named in `messages`.
fn distinct_cases(messages: &[DocMessage]) -> Vec<CaseId> {
    let mut seen = HashSet::new();
    messages
        .iter()
        .map(|m| m.doc.case)
        .filter(|c| seen.insert(*c))
        .collect()
}

/// The cases of `among` named by at least one message that decodes, changes and all.
fn decodable_cases(messages: &[DocMessage], among: &HashSet<CaseId>) -> HashSet<CaseId> {
    let mut out = HashSet::new();
    for m in messages {
        let case = m.doc.case;
        if among.contains(&case) && !out.contains(&case) && decodes_whole(&m.data) {
            out.insert(case);
        }
    }
    out
}

/// Whether a message for a document the server does not hold decodes, and its changes load
/// into an empty document as the exchange would load them (automerge's frame decoder does not
/// look inside the changes). Panics in automerge count as not decoding.
fn decodes_whole(data: &[u8]) -> bool {
    let Ok(message) = compute::decode_message(data) else {
        return false;
    };
    if message.changes.is_empty() {
        return true;
    }
    let joined: Vec<u8> = message.changes.iter().flatten().copied().collect();
    std::panic::catch_unwind(|| {
        automerge::Automerge::new()
            .load_incremental(&joined)
            .is_ok()
    })
    .unwrap_or(false)
}

fn unregistered_cases(conn: Conn<'_>, cases: &[CaseId]) -> Result<Vec<CaseId>> {
    let mut out = Vec::new();
    for case in cases {
        if directory::case_org(conn, &case.to_string())?.is_none() {
            out.push(*case);
        }
    }
    Ok(out)
}

/// Forget the documents the device confirms it purged; audit only those it really held.
fn confirm_purges(tx: &Tx<'_>, caller: &Caller, purged: &[DocId], now: i64) -> Result<()> {
    let device = caller.device.to_string();
    let mut stmt =
        tx.prepare_cached("DELETE FROM device_docs WHERE device_id = ?1 AND doc_id = ?2")?;
    for doc in purged {
        if stmt.execute(params![device, doc.to_string()])? == 0 {
            continue;
        }
        audit::append(
            tx,
            now,
            Event {
                event: "purge_confirmed",
                actor_user: Some(caller.user.id.clone()),
                actor_device: Some(device.clone()),
                case_id: Some(doc.case.to_string()),
                doc_id: Some(doc.to_string()),
                detail: json!({}),
                ..Event::default()
            },
        )?;
    }
    Ok(())
}

/// Register the cases still unregistered; returns those refused for the daily limit, after
/// one `case_registration_refused` audit row for them all.
fn register_cases(
    tx: &Tx<'_>,
    caller: &Caller,
    cases: &[CaseId],
    limit: u32,
    now: i64,
) -> Result<HashSet<CaseId>> {
    let device = caller.device.to_string();
    let mut over_limit = HashSet::new();
    for case in cases {
        if directory::case_org(**tx, &case.to_string())?.is_some() {
            continue;
        }
        let registered =
            directory::register_offline_case(tx, case, &caller.user, &device, now, limit)?;
        if registered == directory::Registration::OverLimit {
            over_limit.insert(*case);
        }
    }
    if let Some(first) = cases.iter().find(|c| over_limit.contains(c)) {
        audit::append(
            tx,
            now,
            Event {
                event: "case_registration_refused",
                actor_user: Some(caller.user.id.clone()),
                actor_device: Some(device),
                case_id: Some(first.to_string()),
                subject: Some(caller.user.org_id.clone()),
                detail: json!({
                    "reason": "daily_limit",
                    "limit": limit,
                    "cases_refused": over_limit.len(),
                }),
                ..Event::default()
            },
        )?;
    }
    Ok(over_limit)
}

/// The answer to a request that brings nothing and is owed nothing, from a read connection
/// alone; `None` if there is work to do.
fn idle_answer(conn: Conn<'_>, caller: &Caller, cursor: u64) -> Result<Option<SyncResponse>> {
    let perms = directory::permissions(conn, &caller.user)?;
    let device = caller.device.to_string();
    if !commit::offers(conn, &perms, &device, cursor)?.is_empty()
        || !commit::to_purge(conn, &perms, &device)?.is_empty()
    {
        return Ok(None);
    }
    let (seq, epoch) = db::epoch::seq_and_epoch(conn)?;
    let mut answer = empty_response(seq);
    answer.epoch = epoch;
    answer.alerts = crate::alerts::deliver(conn, &perms, &caller.user.id, cursor, answer.cursor)?;
    Ok(Some(answer))
}

/// A document to offer as read: its `seq`, save and the device's sync state.
type OfferInput = (DocId, i64, Vec<u8>, Option<Vec<u8>>);

/// What one attempt read: each pending message with its document, and the offers.
type Snapshot = (Vec<(DocMessage, compute::Input)>, Vec<OfferInput>);

/// Read what the automerge work needs: each pending message's document, and the documents
/// to offer (as many as the budget may take).
fn snapshot(
    conn: Conn<'_>,
    caller: &Caller,
    pending: Vec<DocMessage>,
    named: &HashSet<DocId>,
    cursor: u64,
    budget: usize,
) -> Result<Snapshot> {
    let perms = directory::permissions(conn, &caller.user)?;
    let device = caller.device.to_string();
    let mut inputs = Vec::with_capacity(pending.len());
    for message in pending {
        let input = commit::read_input(conn, &perms, &device, &message.doc)?;
        inputs.push((message, input));
    }
    // The documents the budget may take (by their stored length), then read together.
    let mut picked = Vec::new();
    let mut size = 0usize;
    for offer in commit::offers(conn, &perms, &device, cursor)? {
        if named.contains(&offer.doc) {
            continue;
        }
        if !picked.is_empty() && size + offer.len > budget {
            break;
        }
        size += offer.len;
        picked.push(offer.doc);
    }
    let mut read = commit::stored_with_states(conn, &device, &picked)?;
    let offer_inputs = picked
        .into_iter()
        .filter_map(|doc| {
            read.remove(&doc)
                .map(|(seq, stored, state)| (doc, seq, stored, state))
        })
        .collect();
    Ok((inputs, offer_inputs))
}

/// The automerge work of one attempt, on the blocking pool.
fn compute_all(
    caller: &Caller,
    inputs: Vec<(DocMessage, compute::Input)>,
    offer_inputs: Vec<OfferInput>,
) -> (Vec<Computed>, HashMap<DocId, Precomputed>) {
    let computed = inputs
        .into_iter()
        .map(|(message, input)| {
            let received = compute::receive(&input, &message.data, &message.doc, caller);
            Computed {
                message,
                input,
                received,
            }
        })
        .collect();
    let offers = offer_inputs
        .into_iter()
        .map(|(doc, seq, stored, state)| {
            let offered = compute::offer(&stored, state.as_deref());
            (
                doc,
                Precomputed {
                    seq,
                    stored,
                    state,
                    offered,
                },
            )
        })
        .collect();
    (computed, offers)
}
