//! [`MemoryStore`]: a store kept in memory, with exactly the semantics of
//! [`SqliteStore`](super::SqliteStore), for tests and for tools that need no persistence.

use std::collections::BTreeMap;
use std::fmt;

use super::{Attachment, CaseSummary, DirtyDoc, Store, StoredDoc, WriteOp};
use crate::alert::StoredAlert;
use crate::doc::DocId;
use crate::error::{Error, Result};
use crate::ids::{AlertId, CaseId};
use crate::model::PhotoRef;
use crate::view::{DocView, RowKind, ViewChange};

/// A store in memory. Nothing survives the value; [`Store::apply`] is all-or-nothing.
#[derive(Default, Clone)]
pub struct MemoryStore {
    state: State,
}

impl fmt::Debug for MemoryStore {
    // Counts only: the content is case data and must not reach logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("docs", &self.state.docs.len())
            .field("cases", &self.state.summaries.len())
            .finish_non_exhaustive()
    }
}

#[derive(Default, Clone)]
struct State {
    docs: BTreeMap<DocId, Doc>,
    sync_states: BTreeMap<(String, DocId), Vec<u8>>,
    summaries: BTreeMap<CaseId, CaseSummary>,
    meta: BTreeMap<String, Vec<u8>>,
    views: BTreeMap<DocId, View>,
    attachments: BTreeMap<String, Attachment>,
    attachment_refs: BTreeMap<DocId, PhotoRef>,
    alerts: BTreeMap<AlertId, StoredAlert>,
}

#[derive(Default, Clone)]
struct View {
    version: String,
    rows: BTreeMap<(RowKind, String), String>,
}

#[derive(Default, Clone)]
struct Doc {
    snapshot: Option<Vec<u8>>,
    chunks: BTreeMap<u64, Vec<u8>>,
    /// The highest chunk number ever given out; never goes down, so numbers are not reused.
    last_chunk: u64,
    last_local_chunk: u64,
    synced_chunk: u64,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl State {
    fn last_chunk(&self, doc: &DocId) -> u64 {
        self.docs.get(doc).map_or(0, |d| d.last_chunk)
    }

    fn apply(&mut self, op: WriteOp) -> Result<()> {
        match op {
            WriteOp::AppendChunk { doc, bytes, local } => {
                let doc = self.docs.entry(doc).or_default();
                doc.last_chunk += 1;
                doc.chunks.insert(doc.last_chunk, bytes);
                if local {
                    doc.last_local_chunk = doc.last_chunk;
                }
            }
            WriteOp::Compact {
                doc,
                snapshot,
                upto,
            } => {
                if upto > self.last_chunk(&doc) {
                    return Err(Error::invalid("upto", "beyond the document's last chunk"));
                }
                let doc = self.docs.entry(doc).or_default();
                doc.snapshot = Some(snapshot);
                doc.chunks.retain(|&seq, _| seq > upto);
            }
            WriteOp::MarkSynced { doc, upto } => {
                if upto > self.last_chunk(&doc) {
                    return Err(Error::invalid("upto", "beyond the document's last chunk"));
                }
                if let Some(doc) = self.docs.get_mut(&doc) {
                    doc.synced_chunk = doc.synced_chunk.max(upto);
                }
            }
            WriteOp::RemoveDoc(doc) => {
                self.docs.remove(&doc);
                self.sync_states.retain(|(_, d), _| *d != doc);
                self.views.remove(&doc);
                self.attachments.retain(|_, a| a.doc != doc);
                self.attachment_refs.remove(&doc);
            }
            WriteOp::PutAttachment(attachment) => {
                self.attachments.insert(attachment.id.clone(), attachment);
            }
            WriteOp::MarkAttachmentUploaded(id) => {
                if let Some(attachment) = self.attachments.get_mut(&id) {
                    attachment.pending_upload = false;
                }
            }
            WriteOp::SetAttachmentRef { doc, reference } => {
                let keep = reference.as_ref().map(|r| r.attachment_id.clone());
                self.attachments
                    .retain(|id, a| a.doc != doc || keep.as_ref() == Some(id));
                match reference {
                    Some(photo) => self.attachment_refs.insert(doc, photo),
                    None => self.attachment_refs.remove(&doc),
                };
            }
            WriteOp::PutSummary(summary) => {
                self.summaries.insert(summary.case, summary);
            }
            WriteOp::RemoveSummary(case) => {
                self.summaries.remove(&case);
            }
            WriteOp::PutSyncState { peer, doc, state } => {
                self.sync_states.insert((peer, doc), state);
            }
            WriteOp::PutMeta { key, value } => {
                self.meta.insert(key, value);
            }
            WriteOp::PutView(change) => self.put_view(change),
            WriteOp::PutAlert(alert) => {
                let pending = self
                    .alerts
                    .get(&alert.id)
                    .and_then(|a| a.pending_ack_at)
                    .filter(|_| alert.acknowledged_at.is_none());
                self.alerts.insert(
                    alert.id,
                    StoredAlert {
                        alert,
                        pending_ack_at: pending,
                    },
                );
            }
            WriteOp::AcknowledgeAlert { id, at } => {
                let stored = self.alerts.get_mut(&id).ok_or(Error::NoSuchEntry {
                    kind: "alert",
                    id: id.to_string(),
                })?;
                if !stored.is_acknowledged() {
                    stored.pending_ack_at = Some(at);
                }
            }
            WriteOp::AcknowledgementSent(id) => {
                if let Some(stored) = self.alerts.get_mut(&id) {
                    stored.pending_ack_at = None;
                }
            }
            WriteOp::RemoveAlerts(case) => self.alerts.retain(|_, a| a.alert.case != case),
        }
        Ok(())
    }
}

impl State {
    fn put_view(&mut self, change: ViewChange) {
        let view = self.views.entry(change.doc).or_default();
        if change.whole {
            view.rows.clear();
        }
        view.version = change.version;
        for row in change.rows {
            view.rows.insert((row.kind, row.record), row.body);
        }
        for key in change.removed {
            view.rows.remove(&key);
        }
    }
}

impl Store for MemoryStore {
    fn load(&self, doc: &DocId) -> Result<Option<StoredDoc>> {
        Ok(self.state.docs.get(doc).map(|d| StoredDoc {
            snapshot: d.snapshot.clone(),
            chunks: d.chunks.values().cloned().collect(),
            last_chunk: d.last_chunk,
        }))
    }

    fn holds(&self, doc: &DocId) -> Result<bool> {
        Ok(self.state.docs.contains_key(doc))
    }

    fn docs(&self) -> Result<Vec<DocId>> {
        Ok(self.state.docs.keys().copied().collect())
    }

    fn dirty(&self) -> Result<Vec<DirtyDoc>> {
        Ok(self
            .state
            .docs
            .iter()
            .filter(|(_, d)| d.last_local_chunk > d.synced_chunk)
            .map(|(&doc, d)| DirtyDoc {
                doc,
                last_local_chunk: d.last_local_chunk,
            })
            .collect())
    }

    fn cases(&self) -> Result<Vec<CaseSummary>> {
        let mut cases: Vec<_> = self.state.summaries.values().cloned().collect();
        cases.sort_by(|a, b| (&a.reference, a.case).cmp(&(&b.reference, b.case)));
        Ok(cases)
    }

    fn sync_state(&self, peer: &str, doc: &DocId) -> Result<Option<Vec<u8>>> {
        Ok(self
            .state
            .sync_states
            .get(&(peer.to_owned(), *doc))
            .cloned())
    }

    fn view(&self, doc: &DocId, kind: RowKind, record: Option<&str>) -> Result<Option<DocView>> {
        Ok(self.state.views.get(doc).map(|view| DocView {
            version: view.version.clone(),
            rows: view
                .rows
                .iter()
                .filter(|((k, r), _)| *k == kind && record.is_none_or(|want| want == r))
                .map(|((kind, record), body)| crate::view::ViewRow {
                    kind: *kind,
                    record: record.clone(),
                    body: body.clone(),
                })
                .collect(),
        }))
    }

    fn view_version(&self, doc: &DocId) -> Result<Option<String>> {
        Ok(self.state.views.get(doc).map(|v| v.version.clone()))
    }

    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.state.meta.get(key).cloned())
    }

    fn attachment(&self, id: &str) -> Result<Option<Attachment>> {
        Ok(self.state.attachments.get(id).cloned())
    }

    fn attachment_ref(&self, doc: &DocId) -> Result<Option<PhotoRef>> {
        Ok(self.state.attachment_refs.get(doc).cloned())
    }

    fn pending_uploads(&self) -> Result<Vec<(DocId, String)>> {
        Ok(self
            .state
            .attachments
            .values()
            .filter(|a| a.pending_upload)
            .map(|a| (a.doc, a.id.clone()))
            .collect())
    }

    fn missing_attachments(&self) -> Result<Vec<(DocId, PhotoRef)>> {
        Ok(self
            .state
            .attachment_refs
            .iter()
            .filter(|(_, r)| !self.state.attachments.contains_key(&r.attachment_id))
            .map(|(doc, r)| (*doc, r.clone()))
            .collect())
    }

    fn alerts(&self) -> Result<Vec<StoredAlert>> {
        Ok(self.state.alerts.values().cloned().collect())
    }

    fn apply(&mut self, ops: Vec<WriteOp>) -> Result<()> {
        // Work on a copy and keep it only if every operation succeeds.
        let mut next = self.state.clone();
        for op in ops {
            next.apply(op)?;
        }
        self.state = next;
        Ok(())
    }

    fn wipe(&mut self) -> Result<()> {
        self.state = State::default();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::store::suite::store_suite!(suite, (MemoryStore::new(), ()));

    #[test]
    fn debug_shows_counts_not_content() -> Result<()> {
        let mut store = MemoryStore::new();
        store.apply(vec![WriteOp::PutMeta {
            key: "secret-name".into(),
            value: b"secret-value".to_vec(),
        }])?;
        let shown = format!("{store:?}");
        assert!(!shown.contains("secret"), "{shown}");
        Ok(())
    }
}
