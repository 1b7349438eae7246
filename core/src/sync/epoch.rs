//! The server store's epoch, as the device watches it. A server restored from a backup has a
//! new epoch and sequences that restart lower, so a cursor from before the restore would skip
//! the changes numbered below it, and the sync states would claim the server holds documents
//! and changes the backup lacks. A device that sees the epoch change starts over once, in the
//! same session: cursor 0, fresh sync states, and every document it holds offered (a full
//! automerge sync), so the server gets back what the backup lacks and the device gets what
//! the restored server holds (`docs/protocol.md`, "After a restore").

use std::collections::HashSet;

use automerge::sync::State;

use super::session::SyncSession;
use super::wire::MAX_SYNC_MESSAGES;
use crate::error::Result;
use crate::repo::Repo;
use crate::store::{Store, WriteOp};

/// The `meta` key of the epoch the device last finished a session in.
const EPOCH_KEY: &str = "sync.epoch";

/// What a session knows of the server's epoch.
#[derive(Debug, Default)]
pub(super) struct EpochWatch {
    /// The epoch of the last finished session (or of this session's answers so far).
    known: Option<String>,
    /// The device had synced with the server before this session (its cursor was not 0).
    synced_before: bool,
    /// The epoch changed in the last answer: the next request starts over from cursor 0.
    restart: bool,
}

impl EpochWatch {
    /// What the store remembers, for a session starting at `cursor`.
    pub(super) fn load(store: &dyn Store, cursor: u64) -> Result<Self> {
        let known = store
            .meta(EPOCH_KEY)?
            .and_then(|bytes| String::from_utf8(bytes).ok());
        Ok(Self {
            known,
            synced_before: cursor > 0,
            restart: false,
        })
    }

    /// Take the epoch of an answer; true if it shows the server's store was restored since
    /// this device last synced (or, for a device that synced before epochs were recorded,
    /// may have been: starting over is always safe). An answer without an epoch (an older
    /// server) changes nothing.
    pub(super) fn observe(&mut self, theirs: Option<&str>) -> bool {
        let Some(theirs) = theirs else {
            return false;
        };
        let changed = match &self.known {
            Some(known) => known != theirs,
            None => self.synced_before,
        };
        self.known = Some(theirs.to_owned());
        self.synced_before = true;
        self.restart |= changed;
        changed
    }

    /// The epoch to tell the server in a request: it leaves its own out of the answer when
    /// they are the same, which keeps a no-op answer as small as it was.
    pub(super) fn known(&self) -> Option<String> {
        self.known.clone()
    }

    /// Whether the next request must start over from cursor 0 (cleared by asking).
    pub(super) fn take_restart(&mut self) -> bool {
        std::mem::take(&mut self.restart)
    }

    /// The write that records the epoch, with the cursor, when the session finishes.
    pub(super) fn persist(&self) -> Option<WriteOp> {
        self.known.as_ref().map(|epoch| WriteOp::PutMeta {
            key: EPOCH_KEY.into(),
            value: epoch.as_bytes().to_vec(),
        })
    }
}

impl Repo {
    /// The server's store was restored: forget what the sync states say it holds and queue
    /// every document held here to be offered. The fresh states are persisted with the
    /// session's others, and the epoch only when the session finishes, so a session cut
    /// short starts over again next time.
    pub(super) fn start_over_after_restore(&mut self, session: &mut SyncSession) -> Result<()> {
        tracing::warn!("the server's store was restored from a backup; offering every document");
        session.report.server_restored = true;
        session.states.clear();
        let queued: HashSet<_> = session.deferred.iter().copied().collect();
        let mut added = 0usize;
        for doc in self.store.docs()? {
            if session.skip.contains(&doc) {
                continue;
            }
            session.states.insert(doc, State::new());
            if !queued.contains(&doc) {
                session.deferred.push_back(doc);
                added += 1;
            }
        }
        // The offered documents take their own requests, and the restart one more.
        let rounds = added.div_ceil(MAX_SYNC_MESSAGES).saturating_add(1);
        session.extra_rounds = session
            .extra_rounds
            .saturating_add(u32::try_from(rounds).unwrap_or(u32::MAX));
        Ok(())
    }
}
