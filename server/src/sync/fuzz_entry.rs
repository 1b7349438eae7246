//! Plain entry points (bytes in, `Result` out) into the server's decoding of device bytes, for
//! the fuzzer (`scripts/fuzz.sh`) and its regression tests: the sync request's body as the
//! handler decodes and screens it, a stored document as the exchange loads it, and a device's
//! sync message applied to a stored document. Each runs the same code as `POST /v1/sync`,
//! without the database: a panic escaping one of them is a panic the server would meet.

use automerge::Automerge;
use casebook_core::doc::DocId;
use casebook_core::doc::chunk_guard;
use casebook_core::ids::DeviceId;
use casebook_core::sync::frame;
use casebook_core::sync::wire::SyncRequest;

use super::compute::{self, Input, Received};
use crate::access::{Access, Role};
use crate::auth::Caller;
use crate::directory::User;
use crate::error::{Error, Result};

/// Decode a `POST /v1/sync` body as the handler does (a wire format 2 frame when it starts
/// with the frame's magic, else version 1's JSON; then the request's caps), then walk its
/// messages with the chunk guard as [`crate::sync_guard::screen`] does. Returns the messages
/// kept and those refused.
pub fn decode_sync_request(body: &[u8]) -> Result<(usize, usize)> {
    let req: SyncRequest = if body.starts_with(&frame::MAGIC) {
        frame::decode_request(body).map_err(|e| Error::BadRequest(e.to_string()))?
    } else {
        serde_json::from_slice(body).map_err(|_| Error::BadRequest("the JSON body".into()))?
    };
    super::validate(&req)?;
    let (kept, refused) = crate::sync_guard::screen_blocking(req);
    Ok((kept.messages.len(), refused.len()))
}

/// Load a stored document as the exchange does ([`compute::offer`]): its chunks bounded, then
/// automerge's load, a panic inside it caught (the document is then not offered).
pub fn load_stored_document(bytes: &[u8]) -> Result<usize> {
    chunk_guard::check_document(bytes).map_err(|e| Error::BadRequest(e.reason().into()))?;
    let loaded = std::panic::catch_unwind(|| Automerge::load(bytes).map(|d| d.get_heads().len()));
    match loaded {
        Ok(Ok(heads)) => Ok(heads),
        Ok(Err(_)) => Err(Error::BadRequest("stored_doc_load".into())),
        Err(_) => Err(Error::BadRequest("stored_doc_panic".into())),
    }
}

/// Apply a device's sync message `data` for `doc` to the stored save `stored` (none: a
/// document the server does not hold) with the device's sync state `state`, as the exchange
/// does for a guardian who may write it: the chunk guard's walk, then the load, receive, write
/// rules, save and reply ([`compute::receive`]). Returns the new save's length, if any.
pub fn apply_sync_message(
    doc: DocId,
    stored: Option<&[u8]>,
    state: Option<&[u8]>,
    data: &[u8],
) -> Result<Option<usize>, &'static str> {
    chunk_guard::check_sync_message(data).map_err(|e| e.reason())?;
    let input = Input {
        access: Access::ReadWrite,
        seq: stored.map(|_| 1),
        stored: stored.map(<[u8]>::to_vec),
        state: state.map(<[u8]>::to_vec),
    };
    let caller = Caller {
        device: DeviceId::from_bytes([7; 16]),
        user: User {
            id: "fuzz-guardian".into(),
            org_id: "fuzz-org".into(),
            role: Role::Guardian,
            org_is_root: false,
        },
        session: Vec::new(),
    };
    match compute::receive(&input, data, &doc, &caller) {
        Received::Forbidden => Err("forbidden"),
        Received::Refused(why) => Err(why),
        Received::Done { result, .. } => result.map(|applied| applied.saved.map(|s| s.len())),
    }
}
