//! The repository: a device's cases, loaded from and persisted to a [`Store`]. Every edit is
//! appended durably as one incremental chunk before the call returns, together with the
//! document's materialized view rows ([`crate::view`]), and documents are compacted as chunks
//! pile up, in the course of normal use.

use automerge::ChangeHash;
use chrono::{DateTime, Utc};
use rand::RngCore;

use crate::doc::{CaseDoc, Conflict, DocId, DocKind, Edit};
use crate::error::{Error, Result};
use crate::ids::CaseId;
use crate::model::{Profile, new_case};
use crate::store::{CaseSummary, Store, WriteOp};

mod alerts;
mod cache;
mod missing_profile;
mod photo;
mod view;

use cache::DocCache;
pub use cache::{CACHE_BYTES, MEMORY_PER_STORED_BYTE};
pub(crate) use view::whole_view_op;

/// Compact a document once this many chunks have been appended since its snapshot.
pub const COMPACT_AFTER_CHUNKS: usize = 64;

/// Compact a document once the chunks appended since its snapshot add up to more than this
/// share of the snapshot (one half; one quarter for changes from a sync), and at least
/// [`COMPACT_MIN_BYTES`]: loading a snapshot is much cheaper than replaying many chunks, so a
/// document of long notes stays quick to open cold.
pub const COMPACT_CHUNK_SHARE: usize = 2;

/// Chunks smaller than this in total never trigger a compaction by size.
pub const COMPACT_MIN_BYTES: usize = 64 * 1024;

#[derive(Debug)]
pub(crate) struct Loaded {
    pub(crate) doc: CaseDoc,
    /// Heads of what the store holds; new chunks are the changes after these.
    pub(crate) persisted: Vec<ChangeHash>,
    /// Last chunk sequence the store holds for this document.
    pub(crate) last_chunk: u64,
    /// Chunks appended since the last snapshot.
    pub(crate) chunks: usize,
    /// Bytes of those chunks.
    pub(crate) chunk_bytes: usize,
    /// Bytes of the snapshot.
    pub(crate) snapshot_bytes: usize,
    /// Estimated memory this document takes (see [`MEMORY_PER_STORED_BYTE`]).
    pub(crate) bytes: usize,
    /// When it was last used (the cache's clock).
    pub(crate) used: u64,
}

impl Loaded {
    fn new(doc: CaseDoc, persisted: Vec<ChangeHash>, snapshot_bytes: usize) -> Self {
        Loaded {
            doc,
            persisted,
            last_chunk: 0,
            chunks: 0,
            chunk_bytes: 0,
            snapshot_bytes,
            bytes: cache::estimate(snapshot_bytes),
            used: 0,
        }
    }

    /// Whether appending `more` bytes (from this device when `local`) should fold the
    /// document into a new snapshot.
    fn should_compact(&self, more: usize, local: bool) -> bool {
        let share = if local {
            COMPACT_CHUNK_SHARE
        } else {
            COMPACT_CHUNK_SHARE * 2
        };
        let chunk_bytes = self.chunk_bytes.saturating_add(more);
        self.chunks + 1 >= COMPACT_AFTER_CHUNKS
            || (self.chunks >= 1
                && chunk_bytes >= COMPACT_MIN_BYTES
                && chunk_bytes.saturating_mul(share) >= self.snapshot_bytes)
    }
}

/// Writes gathered to be committed in one transaction.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    pub(crate) ops: Vec<WriteOp>,
    staged: Vec<Staged>,
    summaries: std::collections::BTreeMap<CaseId, CaseSummary>,
}

#[derive(Debug)]
struct Staged {
    doc: DocId,
    heads: Vec<ChangeHash>,
    /// The new snapshot's size, if the document was compacted.
    compacted: Option<usize>,
    /// Bytes of the appended chunk.
    chunk: usize,
}

/// A device's cases over a [`Store`].
pub struct Repo {
    pub(crate) store: Box<dyn Store>,
    pub(crate) cache: DocCache,
    /// Whether the view's version has been checked (and the view rebuilt if it was old).
    view_checked: bool,
}

impl std::fmt::Debug for Repo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repo")
            .field("cached_docs", &self.cache.len())
            .finish_non_exhaustive()
    }
}

impl Repo {
    /// A repository over `store`. The view is checked (and rebuilt if old) on first read;
    /// [`Repo::open`] does it at once.
    pub fn new(store: impl Store + 'static) -> Self {
        Self {
            store: Box::new(store),
            cache: DocCache::default(),
            view_checked: false,
        }
    }

    /// Set the memory budget for loaded documents, in estimated bytes (default
    /// [`CACHE_BYTES`]). Takes effect after the current call.
    pub fn set_cache_budget(&mut self, bytes: usize) {
        self.cache.set_budget(bytes);
        self.cache.trim();
    }

    /// How many documents are loaded, and their estimated memory in bytes.
    pub fn cache_usage(&self) -> (usize, usize) {
        (self.cache.len(), self.cache.bytes())
    }

    /// The underlying store.
    pub fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    /// Apply raw writes (identity, settings) through the store.
    pub fn apply(&mut self, ops: Vec<WriteOp>) -> Result<()> {
        self.store.apply(ops)
    }

    /// Open a new case on this device: all five documents are created here, with `profile`.
    pub fn create_case(
        &mut self,
        edit: &Edit,
        rng: &mut dyn RngCore,
        profile: &Profile,
    ) -> Result<CaseId> {
        let case = CaseId::random(rng);
        let docs = new_case(case, edit, profile)?;
        let mut ops = Vec::with_capacity(docs.len() + 1);
        let mut loaded = Vec::with_capacity(docs.len());
        for mut doc in docs {
            let bytes = doc.save();
            let persisted = doc.heads();
            ops.push(view::whole_view_op(&mut doc));
            let chunk = bytes.len();
            ops.push(WriteOp::AppendChunk {
                doc: doc.id(),
                bytes,
                local: true,
            });
            let mut entry = Loaded::new(doc, persisted, 0);
            entry.last_chunk = 1;
            entry.chunks = 1;
            entry.chunk_bytes = chunk;
            entry.bytes = cache::estimate(chunk);
            loaded.push(entry);
        }
        ops.push(WriteOp::PutSummary(summary(case, Some(profile), edit.at)));
        self.store.apply(ops)?;
        for entry in loaded {
            self.cache.insert(entry.doc.id(), entry);
        }
        self.cache.trim();
        Ok(case)
    }

    /// Every case on this device, ordered by reference, without loading any document.
    pub fn cases(&self) -> Result<Vec<CaseSummary>> {
        self.store.cases()
    }

    /// Whether this device holds `doc`.
    pub fn holds(&mut self, doc: DocId) -> Result<bool> {
        Ok(self.cache.contains_key(&doc) || self.store.holds(&doc)?)
    }

    /// The kinds of document this device holds for `case`.
    pub fn held_kinds(&mut self, case: CaseId) -> Result<Vec<DocKind>> {
        let mut kinds = Vec::new();
        for kind in DocKind::ALL {
            if self.holds(DocId::new(case, kind))? {
                kinds.push(kind);
            }
        }
        Ok(kinds)
    }

    /// Read a document (loading it: screens read the view instead, [`Repo::view`]).
    pub fn read<R>(&mut self, doc: DocId, f: impl FnOnce(&mut CaseDoc) -> Result<R>) -> Result<R> {
        let loaded = self.loaded(doc)?;
        let value = f(&mut loaded.doc);
        self.cache.trim();
        value
    }

    /// Edit a document and persist the change durably before returning. If persisting fails
    /// the in-memory copy is dropped, so memory never runs ahead of disk.
    pub fn edit<R>(
        &mut self,
        doc: DocId,
        at: DateTime<Utc>,
        f: impl FnOnce(&mut CaseDoc) -> Result<R>,
    ) -> Result<R> {
        let value = {
            let loaded = self.loaded(doc)?;
            f(&mut loaded.doc)?
        };
        self.persist(doc, true, at)?;
        Ok(value)
    }

    /// Append whatever `doc` holds beyond what the store has, as one chunk, durably.
    pub(crate) fn persist(&mut self, doc: DocId, local: bool, at: DateTime<Utc>) -> Result<bool> {
        let mut batch = Batch::default();
        let changed = self.stage(doc, local, at, &mut batch)?;
        self.commit(batch)?;
        Ok(changed)
    }

    /// Add to `batch` whatever the loaded `doc` holds beyond what the store has.
    pub(crate) fn stage(
        &mut self,
        doc: DocId,
        local: bool,
        at: DateTime<Utc>,
        batch: &mut Batch,
    ) -> Result<bool> {
        let Some(loaded) = self.cache.get_mut(&doc) else {
            return Ok(false);
        };
        // The new changes, once: their bytes are the chunk, their operations say which
        // view rows to recompute.
        // A checked edit has them already (`CaseDoc::edit_checked`); otherwise automerge
        // rebuilds them from the document.
        let (changes, touched) = match loaded.doc.take_checked_changes(&loaded.persisted) {
            Some(checked) => (checked.changes, checked.touched),
            None => {
                let changes = loaded.doc.changes_after(&loaded.persisted);
                let touched = crate::view::touched::touched(loaded.doc.automerge(), &changes);
                (changes, touched)
            }
        };
        if changes.is_empty() {
            return Ok(false);
        }
        let bytes: Vec<u8> = changes
            .iter()
            .flat_map(|c| c.raw_bytes().iter().copied())
            .collect();
        let chunk = bytes.len();
        let compact = loaded.should_compact(chunk, local);
        batch.ops.push(WriteOp::AppendChunk { doc, bytes, local });
        let mut compacted = None;
        if compact {
            let snapshot = loaded.doc.save();
            compacted = Some(snapshot.len());
            batch.ops.push(WriteOp::Compact {
                doc,
                snapshot,
                upto: loaded.last_chunk,
            });
        }
        batch.ops.push(view::view_op(
            self.store.as_ref(),
            &mut loaded.doc,
            &loaded.persisted,
            touched,
        )?);
        photo::stage_ref(self.store.as_ref(), &loaded.doc, batch)?;
        let heads = loaded.doc.heads();
        let profile = (doc.kind == DocKind::Profile)
            .then(|| loaded.doc.profile().ok())
            .flatten();
        batch.staged.push(Staged {
            doc,
            heads,
            compacted,
            chunk,
        });
        self.stage_summary(doc, profile.as_ref(), at, batch)?;
        Ok(true)
    }

    /// Add a whole document received from a peer that this device does not hold yet, storing
    /// its bytes as they came (no re-encoding) and leaving it unloaded. `view` is its view
    /// write ([`whole_view_op`]) if the caller computed it already (a sync computes it where
    /// it loaded the document, on another core).
    pub(crate) fn stage_new_doc(
        &mut self,
        doc: &mut CaseDoc,
        bytes: Vec<u8>,
        view: Option<WriteOp>,
        at: DateTime<Utc>,
        batch: &mut Batch,
    ) -> Result<()> {
        let id = doc.id();
        let profile = (id.kind == DocKind::Profile)
            .then(|| doc.profile().ok())
            .flatten();
        batch
            .ops
            .push(view.unwrap_or_else(|| view::whole_view_op(doc)));
        batch.ops.push(WriteOp::AppendChunk {
            doc: id,
            bytes,
            local: false,
        });
        photo::stage_ref(self.store.as_ref(), doc, batch)?;
        self.stage_summary(id, profile.as_ref(), at, batch)
    }

    fn stage_summary(
        &mut self,
        doc: DocId,
        profile: Option<&Profile>,
        at: DateTime<Utc>,
        batch: &mut Batch,
    ) -> Result<()> {
        let line = match (profile, batch.summaries.remove(&doc.case)) {
            (Some(p), _) => summary(doc.case, Some(p), at),
            (None, Some(mut line)) => {
                line.updated_at = line.updated_at.max(at);
                line
            }
            (None, None) => match self.store.case(&doc.case)? {
                Some(mut line) => {
                    line.updated_at = line.updated_at.max(at);
                    line
                }
                None => summary(doc.case, None, at),
            },
        };
        batch.summaries.insert(doc.case, line);
        Ok(())
    }

    /// Commit a batch in one durable transaction; only then does the cache learn that the
    /// store holds the staged changes. If the commit fails, the staged documents are dropped
    /// from memory, so memory never runs ahead of disk.
    pub(crate) fn commit(&mut self, mut batch: Batch) -> Result<()> {
        batch
            .ops
            .extend(batch.summaries.into_values().map(WriteOp::PutSummary));
        if let Err(e) = self.store.apply(batch.ops) {
            for staged in &batch.staged {
                self.cache.remove(&staged.doc);
            }
            return Err(e);
        }
        for staged in batch.staged {
            if let Some(loaded) = self.cache.get_mut(&staged.doc) {
                loaded.persisted = staged.heads;
                loaded.last_chunk += 1;
                match staged.compacted {
                    // The snapshot folds in every chunk up to the one before this one.
                    Some(snapshot) => {
                        loaded.snapshot_bytes = snapshot;
                        loaded.chunks = 1;
                        loaded.chunk_bytes = staged.chunk;
                    }
                    None => {
                        loaded.chunks += 1;
                        loaded.chunk_bytes += staged.chunk;
                    }
                }
                loaded.bytes = cache::estimate(loaded.snapshot_bytes + loaded.chunk_bytes);
            }
        }
        self.cache.trim();
        Ok(())
    }

    /// Load `doc` into the cache (or find it there).
    pub(crate) fn loaded(&mut self, doc: DocId) -> Result<&mut Loaded> {
        if !self.cache.contains_key(&doc) {
            let stored = self
                .store
                .load(&doc)?
                .ok_or_else(|| Error::NotHeld(doc.to_string()))?;
            let mut loaded = CaseDoc::load(doc, stored.snapshot.as_deref(), &stored.chunks)?;
            let persisted = loaded.heads();
            let snapshot_bytes = stored.snapshot.as_ref().map_or(0, Vec::len);
            let mut entry = Loaded::new(loaded, persisted, snapshot_bytes);
            entry.last_chunk = stored.last_chunk;
            entry.chunks = stored.chunks.len();
            entry.chunk_bytes = stored.chunks.iter().map(Vec::len).sum();
            entry.bytes = cache::estimate(snapshot_bytes + entry.chunk_bytes);
            // Nothing is evicted here: the caller may be in the middle of a batch that
            // holds other documents. The cache is trimmed once the call is done.
            self.cache.insert(doc, entry);
        }
        self.cache
            .get_mut(&doc)
            .ok_or_else(|| Error::NotHeld(doc.to_string()))
    }

    /// Put a document received whole into the cache, to be persisted by the caller.
    pub(crate) fn adopt(&mut self, doc: CaseDoc) {
        let id = doc.id();
        self.cache.insert(id, Loaded::new(doc, Vec::new(), 0));
    }

    /// Every open conflict in the documents this device holds for `case`.
    pub fn conflicts(&mut self, case: CaseId) -> Result<Vec<Conflict>> {
        let mut all = Vec::new();
        for kind in self.held_kinds(case)? {
            all.extend(self.read(DocId::new(case, kind), |d| d.conflicts())?);
        }
        Ok(all)
    }

    /// Drop a document from memory and storage (access ended).
    pub(crate) fn purge_ops(&mut self, doc: DocId) -> Result<Vec<WriteOp>> {
        self.cache.remove(&doc);
        let mut ops = vec![WriteOp::RemoveDoc(doc)];
        if doc.kind == DocKind::Safety {
            // Alerts about the case came with access to its `safety` document.
            ops.push(WriteOp::RemoveAlerts(doc.case));
        }
        let others_held = DocKind::ALL
            .into_iter()
            .filter(|k| *k != doc.kind)
            .map(|k| self.store.holds(&DocId::new(doc.case, k)))
            .collect::<Result<Vec<_>>>()?;
        if !others_held.into_iter().any(|held| held) {
            ops.push(WriteOp::RemoveSummary(doc.case));
        }
        Ok(ops)
    }

    /// Erase everything on this device (remote wipe).
    pub fn wipe(&mut self) -> Result<()> {
        self.cache.clear();
        // The view version went with everything else: record it again on the next read.
        self.view_checked = false;
        self.store.wipe()
    }
}

pub(crate) fn summary(case: CaseId, profile: Option<&Profile>, at: DateTime<Utc>) -> CaseSummary {
    match profile {
        Some(p) => CaseSummary {
            case,
            reference: p.case_reference.clone(),
            display_name: p.display_name(),
            updated_at: at,
        },
        None => CaseSummary {
            case,
            reference: format!("case {}", &case.to_string()[..8]),
            display_name: String::new(),
            updated_at: at,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doc::{Author, DocId, DocKind, Edit};
    use crate::ids::{CaseId, DeviceId, UserId};
    use crate::model::new_case;

    fn loaded(snapshot_bytes: usize, chunks: usize, chunk_bytes: usize) -> Loaded {
        let edit = Edit::new(
            Author {
                user: UserId::from_bytes([1; 16]),
                device: DeviceId::from_bytes([2; 16]),
            },
            DateTime::<Utc>::UNIX_EPOCH,
        );
        let profile = Profile {
            case_reference: "R".into(),
            ..Profile::default()
        };
        let case = CaseId::from_bytes([3; 16]);
        let doc = new_case(case, &edit, &profile)
            .expect("case")
            .into_iter()
            .find(|d| d.id() == DocId::new(case, DocKind::Visits))
            .expect("visits");
        let mut entry = Loaded::new(doc, Vec::new(), snapshot_bytes);
        entry.chunks = chunks;
        entry.chunk_bytes = chunk_bytes;
        entry
    }

    #[test]
    fn compaction_follows_chunk_bytes_and_sooner_after_a_sync() {
        let mib = 1024 * 1024;
        // Small chunks never compact by size, however small the snapshot.
        assert!(!loaded(1000, 3, 1000).should_compact(1000, true));
        // Chunks of half the snapshot compact a local edit; a quarter is enough for a sync.
        assert!(!loaded(mib, 10, mib / 4).should_compact(1, true));
        assert!(loaded(mib, 10, mib / 2).should_compact(1, true));
        assert!(loaded(mib, 10, mib / 4).should_compact(1, false));
        assert!(!loaded(mib, 10, mib / 8).should_compact(1, false));
        // A first chunk is never folded alone; the 64-chunk rule still holds.
        assert!(!loaded(0, 0, 0).should_compact(mib, true));
        assert!(loaded(mib, COMPACT_AFTER_CHUNKS - 1, 10).should_compact(10, true));
    }
}
