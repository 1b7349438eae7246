//! The repository's cache of loaded documents, bounded by an estimate of the memory they
//! take rather than by their number: a phone holding years of long notes keeps as many
//! documents loaded as fit [`CACHE_BYTES`], evicting the least recently used.
//!
//! Eviction happens only between calls ([`DocCache::trim`], called by the repository once
//! a read, an edit or a commit is done), never while a call holds a document, so a document
//! being edited or merged is never dropped mid-call.

use std::collections::HashMap;

use crate::doc::DocId;

use super::Loaded;

/// The memory budget for loaded documents, in estimated bytes.
pub const CACHE_BYTES: usize = 64 * 1024 * 1024;

/// How many bytes of memory a loaded document is taken to use per byte stored: automerge
/// keeps a document's operations in memory in a form larger than its compressed save. The
/// field bench measures the real ratio on documents of long notes
/// (`field.loaded_memory_per_stored_byte`, live heap bytes: 5.78); this stays above it.
pub const MEMORY_PER_STORED_BYTE: usize = 8;

/// What a document of `stored` bytes is taken to use in memory.
pub(crate) fn estimate(stored: usize) -> usize {
    stored
        .saturating_mul(MEMORY_PER_STORED_BYTE)
        .saturating_add(16 * 1024)
}

/// Loaded documents, with their estimated sizes and when each was last used.
#[derive(Debug, Default)]
pub(crate) struct DocCache {
    entries: HashMap<DocId, Loaded>,
    budget: Option<usize>,
    clock: u64,
}

impl DocCache {
    /// The budget in force.
    pub(crate) fn budget(&self) -> usize {
        self.budget.unwrap_or(CACHE_BYTES)
    }

    pub(crate) fn set_budget(&mut self, bytes: usize) {
        self.budget = Some(bytes);
    }

    /// The estimated bytes of every loaded document.
    pub(crate) fn bytes(&self) -> usize {
        self.entries.values().map(|l| l.bytes).sum()
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn contains_key(&self, doc: &DocId) -> bool {
        self.entries.contains_key(doc)
    }

    /// The entry for `doc`, marked as just used.
    pub(crate) fn get_mut(&mut self, doc: &DocId) -> Option<&mut Loaded> {
        self.clock += 1;
        let clock = self.clock;
        let entry = self.entries.get_mut(doc)?;
        entry.used = clock;
        Some(entry)
    }

    pub(crate) fn insert(&mut self, doc: DocId, mut entry: Loaded) {
        self.clock += 1;
        entry.used = self.clock;
        self.entries.insert(doc, entry);
    }

    pub(crate) fn remove(&mut self, doc: &DocId) -> Option<Loaded> {
        self.entries.remove(doc)
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
    }

    /// Evict the least recently used documents until the rest fit the budget. The most
    /// recently used one always stays, however large.
    pub(crate) fn trim(&mut self) {
        let budget = self.budget();
        let mut total = self.bytes();
        while total > budget && self.entries.len() > 1 {
            let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, entry)| entry.used)
                .map(|(doc, _)| *doc)
            else {
                break;
            };
            if let Some(evicted) = self.entries.remove(&oldest) {
                total = total.saturating_sub(evicted.bytes);
            }
        }
    }
}
