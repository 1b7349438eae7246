//! Device bytes bounded before automerge sees them. Every message of a sync request is walked by
//! [`casebook_core::doc::chunk_guard`] off the async runtime and outside the writer: a
//! decompression bomb, an unknown chunk type or a lying length is taken out of the request,
//! audited as `quarantined` and reported to the device; a request that is a decompression
//! bomb and nothing else is answered 413.

use casebook_core::doc::DocId;
use casebook_core::doc::chunk_guard::ChunkGuard;
use casebook_core::sync::wire::SyncRequest;
use serde_json::json;

use crate::audit::{self, Event};
use crate::auth::{self, Caller};
use crate::error::{Error, Result};
use crate::sql::Tx;
use crate::state::AppState;

/// A message the walk refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    /// Its document.
    pub doc: DocId,
    /// The walk's reason (`inflate_limit`, `chunk_unknown_type`, ...).
    pub reason: &'static str,
}

/// Walk every message of `req` under one request-wide inflation budget; return the request
/// without the refused messages, and the refusals.
pub async fn screen(req: SyncRequest) -> Result<(SyncRequest, Vec<Refused>)> {
    if req.messages.is_empty() {
        return Ok((req, Vec::new()));
    }
    Ok(tokio::task::spawn_blocking(move || screen_blocking(req)).await?)
}

pub(crate) fn screen_blocking(mut req: SyncRequest) -> (SyncRequest, Vec<Refused>) {
    let mut guard = ChunkGuard::default();
    let mut refused = Vec::new();
    req.messages
        .retain(|m| match guard.check_sync_message(&m.data) {
            Ok(_) => true,
            Err(e) => {
                refused.push(Refused {
                    doc: m.doc,
                    reason: e.reason(),
                });
                false
            }
        });
    (req, refused)
}

/// Whether the request is a bomb and nothing else: everything it brought was refused, a
/// decompression bomb among it. (Other refusals are answered as quarantined documents.)
pub fn is_bomb(req: &SyncRequest, refused: &[Refused]) -> bool {
    req.messages.is_empty()
        && req.purged.is_empty()
        && refused.iter().any(|r| r.reason == INFLATE_LIMIT)
}

const INFLATE_LIMIT: &str = "inflate_limit";

/// A request that is a bomb and nothing else: audit the refusals (the session checked again
/// first); the error to answer with (413).
pub async fn refuse_request(state: &AppState, caller: Caller, refused: Vec<Refused>) -> Error {
    let now = state.clock.now();
    let audited = state
        .db
        .write(move |tx| {
            let caller = auth::recheck(**tx, &caller, now)?;
            for r in &refused {
                audit_refusal(tx, &caller, now, r)?;
            }
            Ok(())
        })
        .await;
    match audited {
        Err(e) => e,
        Ok(()) => Error::PayloadTooLarge,
    }
}

fn audit_refusal(tx: &Tx<'_>, caller: &Caller, now: i64, r: &Refused) -> Result<()> {
    audit::append(
        tx,
        now,
        Event {
            event: "quarantined",
            actor_user: Some(caller.user.id.clone()),
            actor_device: Some(caller.device.to_string()),
            case_id: Some(r.doc.case.to_string()),
            doc_id: Some(r.doc.to_string()),
            detail: json!({ "reason": r.reason }),
            ..Event::default()
        },
    )?;
    Ok(())
}
