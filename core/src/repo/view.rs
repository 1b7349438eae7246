//! The repository's side of the materialized view ([`crate::view`]): the write that goes
//! with every change to a document, reading rows, and rebuilding the view when it is missing
//! or was written by an older build.

use automerge::ChangeHash;

use super::Repo;
use crate::doc::{CaseDoc, DocId, Version};
use crate::error::Result;
use crate::store::{Store, WriteOp};
use crate::view::touched::Touched;
use crate::view::{self, DocView, RowKind, VIEW_VERSION, VIEW_VERSION_KEY, ViewChange};

/// How many documents a rebuild writes per transaction.
const REBUILD_BATCH: usize = 32;

/// The write that brings `doc`'s rows up to date, given `persisted`, the heads the store
/// holds for it (and its rows show, unless they were never written or did not read).
/// `touched` is what the document's changes after `persisted` touched.
pub(super) fn view_op(
    store: &dyn Store,
    doc: &mut CaseDoc,
    persisted: &[ChangeHash],
    touched: Option<Touched>,
) -> Result<WriteOp> {
    let current = store.view_version(&doc.id())?;
    let base: &[ChangeHash] = match current {
        Some(version)
            if !persisted.is_empty()
                && !version.is_empty()
                && version == Version::new(persisted.to_vec()).to_string() =>
        {
            persisted
        }
        _ => &[],
    };
    let change = if base.is_empty() {
        view::update(doc, base)
    } else {
        view::update_with(doc, base, touched)
    };
    Ok(WriteOp::PutView(change_or_unread(doc, change)))
}

/// The write that sets all of `doc`'s rows.
pub(crate) fn whole_view_op(doc: &mut CaseDoc) -> WriteOp {
    let change = view::update(doc, &[]);
    WriteOp::PutView(change_or_unread(doc, change))
}

/// The view change, or, if the document's records do not read (a malformed record from a
/// peer), an empty view with no version, so screens read the document and meet the error
/// there; a change is never refused because its view could not be computed.
fn change_or_unread(doc: &CaseDoc, change: Result<ViewChange>) -> ViewChange {
    match change {
        Ok(change) => change,
        Err(error) => {
            tracing::warn!(doc = %doc.id(), %error, "a document's view rows could not be computed");
            ViewChange {
                doc: doc.id(),
                version: String::new(),
                rows: Vec::new(),
                removed: Vec::new(),
                whole: true,
            }
        }
    }
}

impl Repo {
    /// A repository over `store`, with the view checked (and rebuilt from the documents if
    /// it is missing or its version is not this build's) before it returns.
    pub fn open(store: impl Store + 'static) -> Result<Self> {
        let mut repo = Repo::new(store);
        repo.ensure_view()?;
        Ok(repo)
    }

    /// Rebuild the view if the store's view version is not [`VIEW_VERSION`]. Returns whether
    /// it rebuilt.
    pub fn ensure_view(&mut self) -> Result<bool> {
        if self.view_checked {
            return Ok(false);
        }
        let current = self.store.meta(VIEW_VERSION_KEY)?;
        let rebuilt = current.as_deref() != Some(&VIEW_VERSION.to_be_bytes()[..]);
        if rebuilt {
            self.rebuild_view()?;
        }
        self.view_checked = true;
        Ok(rebuilt)
    }

    /// Recompute every document's rows from the document, then record [`VIEW_VERSION`]
    /// (last, so a rebuild cut short is done again at the next open). Documents are loaded
    /// one at a time and not kept.
    pub fn rebuild_view(&mut self) -> Result<()> {
        let docs = self.store.docs()?;
        tracing::info!(docs = docs.len(), "rebuilding the view");
        for group in docs.chunks(REBUILD_BATCH) {
            let mut ops = Vec::with_capacity(group.len());
            for &id in group {
                let op = match self.cache.get_mut(&id) {
                    Some(loaded) => whole_view_op(&mut loaded.doc),
                    None => {
                        let Some(stored) = self.store.load(&id)? else {
                            continue;
                        };
                        let mut doc =
                            CaseDoc::load(id, stored.snapshot.as_deref(), &stored.chunks)?;
                        whole_view_op(&mut doc)
                    }
                };
                ops.push(op);
            }
            self.store.apply(ops)?;
        }
        self.store.apply(vec![WriteOp::PutMeta {
            key: VIEW_VERSION_KEY.into(),
            value: VIEW_VERSION.to_be_bytes().to_vec(),
        }])
    }

    /// The rows of `kind` of `doc` (only `record`'s, if given), with the document version
    /// they show, read from the store without loading the document. Where no rows are kept
    /// (a document whose records do not read), they are computed from the document, so
    /// this fails as reading the document would; [`Error::NotHeld`](crate::Error::NotHeld)
    /// if this device does not hold `doc`.
    pub fn view(&mut self, doc: DocId, kind: RowKind, record: Option<&str>) -> Result<DocView> {
        self.ensure_view()?;
        if let Some(view) = self.store.view(&doc, kind, record)?
            && !view.version.is_empty()
        {
            return Ok(view);
        }
        self.read(doc, |d| {
            let version = Version::new(d.heads()).to_string();
            let rows = view::rows(d)?
                .into_iter()
                .filter(|row| row.kind == kind && record.is_none_or(|r| r == row.record))
                .collect();
            Ok(DocView { version, rows })
        })
    }
}
