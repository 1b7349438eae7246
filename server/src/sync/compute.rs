//! The automerge work of an exchange, done off the writer lock on the blocking pool: pure
//! functions of stored bytes, a device's sync state and its message. Nothing here touches
//! the database; [`super::commit`] decides whether a result may still be committed.

use std::panic::{AssertUnwindSafe, catch_unwind};

use automerge::Automerge;
use automerge::sync::{Message, State, SyncDoc};

use casebook_core::doc::DocId;

use crate::access::Access;
use crate::auth::Caller;

/// Decode a device's sync message. This is the single place where bytes from a device are
/// first decoded; checks on the raw bytes (a bounded chunk walker) belong here, before
/// automerge sees them.
pub(super) fn decode_message(data: &[u8]) -> Result<Message, &'static str> {
    Message::decode(data).map_err(|_| "message_decode")
}

/// What the device sent for one document, with what the server held when it was read.
#[derive(Debug, Clone)]
pub(super) struct Input {
    /// The user's access when read.
    pub access: Access,
    /// The document's `seq`, `None` if it was not stored.
    pub seq: Option<i64>,
    /// The stored save.
    pub stored: Option<Vec<u8>>,
    /// The device's sync state for the document.
    pub state: Option<Vec<u8>>,
}

/// What receiving one message would do.
#[derive(Debug)]
pub(super) enum Received {
    /// The user may not read the document.
    Forbidden,
    /// Quarantined without touching the document, for this reason.
    Refused(&'static str),
    /// The message was received (or failed to be, see `result`).
    Done {
        /// The message carried changes the user may not write.
        read_only: bool,
        /// What applying it gave, or why it failed (`panic` for a caught panic).
        result: Result<Box<Applied>, &'static str>,
        /// The device's sync state afterwards (with `read_only` cleared).
        state: Box<State>,
    },
}

/// What receiving one message did.
#[derive(Debug)]
pub(super) struct Applied {
    /// The new save, if the document's heads changed.
    pub saved: Option<Vec<u8>>,
    /// Change chunks the message carried.
    pub chunks: usize,
    /// The encoded reply and whether it carries changes.
    pub reply: Option<(Vec<u8>, bool)>,
    /// The audit detail if the new save holds changes the caller's role may not make
    /// ([`crate::write_rules`]); such a save is not stored.
    pub write_refusal: Option<serde_json::Value>,
    /// The photo reference the new save holds (read only when the document changed).
    pub photo: Option<casebook_core::model::PhotoRef>,
    /// What happened to missing episodes if the new save is stored (`safety` only), read
    /// from the stored document before and the new save ([`crate::alerts`]).
    pub episode_events: Vec<crate::alerts::EpisodeEvent>,
    /// Persons shared into or unshared from the missing-person profile by the new save
    /// ([`crate::shared_persons`]), audited when it is stored.
    pub shares: Vec<crate::shared_persons::ShareChange>,
    /// The interpreter link check's index update (`associates`) or interpreters to check
    /// (`visits`) if the new save is stored ([`crate::interpreter_links`]).
    pub links: crate::interpreter_links::LinkInput,
    /// What the new save changes in the review index, and the notes it signs off or
    /// returns ([`crate::review`]).
    pub review: crate::review::ReviewInput,
    /// The report facts of the new save if it is stored (`safety`, `profile`, `visits`;
    /// [`crate::reports::facts`]).
    pub report_facts: Option<casebook_core::model::DocFacts>,
    /// The document's deadline facts, if its kind fixes deadlines (`deadline_index`).
    pub deadline_facts: Option<crate::deadline_index::Indexed>,
    /// How many fields of the new save are in conflict ([`crate::conflict_index`]), counted
    /// when the document changed.
    pub conflicts: Option<usize>,
}

/// Receive `data` for `doc` as read in `input`, checking the write rules for `caller`.
pub(super) fn receive(input: &Input, data: &[u8], doc: &DocId, caller: &Caller) -> Received {
    if !input.access.can_read() {
        return Received::Forbidden;
    }
    let message = match decode_message(data) {
        Ok(message) => message,
        Err(why) => return Received::Refused(why),
    };
    let read_only = !message.changes.is_empty() && !input.access.can_write();
    let mut state = match input.state.as_deref().map(State::decode) {
        Some(Ok(state)) => state,
        _ => State::new(),
    };
    state.read_only = read_only;
    let check = |before: &Automerge, after: &Automerge| {
        crate::write_rules::refusal(doc, before, after, caller)
    };
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        apply(
            doc,
            input.stored.as_deref(),
            &mut state,
            message,
            (!read_only).then_some(&check),
        )
    }));
    let result = match outcome {
        Ok(result) => result,
        Err(_) => Err("panic"),
    };
    state.read_only = false;
    Received::Done {
        read_only,
        result: result.map(Box::new),
        state: Box::new(state),
    }
}

/// The write rules' verdict on a document as stored and after a device's changes: the audit
/// detail of a refusal, `None` if allowed.
type WriteCheck<'a> = dyn Fn(&Automerge, &Automerge) -> Option<serde_json::Value> + 'a;

/// Load (or start) the document, receive the message, save if changed (checking the new
/// changes with `check`, when given), and answer. A new save that may be stored (checked and
/// allowed) also gives what it did to missing episodes and shared persons, read from the
/// document as stored and as changed, both already in memory.
fn apply(
    id: &DocId,
    stored: Option<&[u8]>,
    state: &mut State,
    message: Message,
    check: Option<&WriteCheck<'_>>,
) -> Result<Applied, &'static str> {
    let mut doc = match stored {
        Some(bytes) => Automerge::load(bytes).map_err(|_| "stored_doc_load")?,
        None => Automerge::new(),
    };
    let before = doc.get_heads();
    let chunks = message.changes.len();
    // The document as stored, for the write rules to compare with (a clone shares nothing
    // with `doc` and costs far less than loading the save again).
    let stored_doc = (check.is_some() && !message.changes.is_empty()).then(|| doc.clone());
    doc.receive_sync_message(state, message)
        .map_err(|_| "apply")?;
    let saved = (doc.get_heads() != before).then(|| doc.save());
    let write_refusal = match (&saved, &stored_doc, check) {
        (Some(_), Some(stored_doc), Some(check)) => check(stored_doc, &doc),
        _ => None,
    };
    let photo = saved
        .as_ref()
        .and_then(|_| casebook_core::model::referenced_photo(&doc));
    let (episode_events, shares, links, review, report_facts) = match (&saved, &stored_doc) {
        (Some(saved), Some(before)) if write_refusal.is_none() => {
            let before = stored.is_some().then_some(before);
            (
                crate::alerts::episode_events_in(id, before, &doc),
                crate::shared_persons::changes_in(id, before, &doc),
                crate::interpreter_links::input_in(id, before, &doc, saved),
                crate::review::input_in(id, before, &doc),
                crate::reports::facts::facts_in(id, &doc),
            )
        }
        _ => (
            Vec::new(),
            Vec::new(),
            crate::interpreter_links::LinkInput::default(),
            crate::review::ReviewInput::default(),
            None,
        ),
    };
    let deadline_facts = match (&saved, &stored_doc) {
        (Some(_), Some(_)) if write_refusal.is_none() => crate::deadline_index::facts_in(id, &doc),
        _ => None,
    };
    let conflicts = saved
        .as_ref()
        .map(|_| crate::conflict_index::count_in(&doc));
    let reply = doc.generate_sync_message(state).map(|m| {
        let carries_changes = !m.changes.is_empty();
        (m.encode(), carries_changes)
    });
    Ok(Applied {
        saved,
        chunks,
        reply,
        write_refusal,
        photo,
        episode_events,
        shares,
        links,
        review,
        report_facts,
        deadline_facts,
        conflicts,
    })
}

/// What offering a changed document to the device would send.
#[derive(Debug)]
pub(super) enum Offered {
    /// The device never synced it: the whole save (and a fresh sync state).
    Snapshot,
    /// A sync message, whether it carries changes, and the sync state afterwards.
    Message(Vec<u8>, bool, Vec<u8>),
    /// Nothing to send (or the stored document did not load).
    Nothing,
}

/// The offer of `stored` to a device whose sync state is `state`.
pub(super) fn offer(stored: &[u8], state: Option<&[u8]>) -> Offered {
    let Some(state_bytes) = state else {
        return Offered::Snapshot;
    };
    let mut state = State::decode(state_bytes).unwrap_or_default();
    let generated = catch_unwind(AssertUnwindSafe(|| {
        Automerge::load(stored)
            .ok()
            .and_then(|d| d.generate_sync_message(&mut state))
    }));
    match generated {
        Ok(Some(message)) => {
            let carries_changes = !message.changes.is_empty();
            Offered::Message(message.encode(), carries_changes, state.encode())
        }
        Ok(None) => Offered::Nothing,
        Err(_) => {
            tracing::warn!("stored document failed to load; not offered");
            Offered::Nothing
        }
    }
}
