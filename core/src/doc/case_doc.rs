//! One automerge document of a case, with authored edits, entries keyed by fresh ids,
//! history, and loading that never panics on bad bytes.

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{
    ActorId, AutoCommit, AutomergeError, ChangeHash, LoadOptions, ObjId, ObjType, OnPartialLoad,
    ROOT, ReadDoc, Value, VerificationMode,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value as Json};

use super::author::{ChangeRecord, CommitNote, Edit, timestamp_to_utc};
use super::codec;
use super::kind::{DocId, DocKind};
use super::stale::StaleBase;
use super::version::Version;
use crate::error::{Error, Result};
use crate::ids::{EntryId, UserId};
use crate::view::touched::Touched;

/// A record kept in a document: a serde type with the names of its free-text fields.
pub trait Record: Serialize + DeserializeOwned {
    /// What the record is called in errors ("visit note").
    const NAME: &'static str;
    /// Fields (at any nesting depth) that are automerge `Text`.
    const TEXT_FIELDS: &'static [&'static str];
}

/// One loaded document of a case.
#[derive(Debug)]
pub struct CaseDoc {
    id: DocId,
    doc: AutoCommit,
    /// Set while saving records read at an older version ([`CaseDoc::edit_from`]).
    pub(super) stale: Option<StaleBase>,
    /// The actor of this document's commits where it is not the editing device's (a fork).
    pub(super) actor: Option<ActorId>,
    /// While a save of a record read at this version commits (recorded in its note).
    pub(super) saving_from: Option<Version>,
    /// The changes of the last checked edit ([`CaseDoc::edit_checked`]), kept for the
    /// repository's write of them.
    pub(crate) checked: Option<CheckedChanges>,
}

/// The changes a checked edit made, found while checking them against the write rules, so
/// that writing them does not rebuild them from the whole document a second time.
#[derive(Debug)]
pub(crate) struct CheckedChanges {
    /// The document's heads before the edit.
    pub(crate) from: Vec<ChangeHash>,
    /// Its heads after.
    pub(crate) to: Vec<ChangeHash>,
    /// The changes between them.
    pub(crate) changes: Vec<automerge::Change>,
    /// What they touched (see [`crate::view::touched`]).
    pub(crate) touched: Option<Touched>,
}

impl CaseDoc {
    /// A new document holding the skeleton `root`, committed by `edit`. Only the device that
    /// creates the case calls this, so no two devices create the same nested object.
    pub(crate) fn create(
        id: DocId,
        edit: &Edit,
        root: &Map<String, Json>,
        text: &[&str],
    ) -> Result<Self> {
        let mut doc = CaseDoc::wrap(id, AutoCommit::new());
        doc.edit(edit, "create", |d| {
            d.put(ROOT, "case", id.case.to_string())?;
            d.put(ROOT, "kind", id.kind.as_str())?;
            d.put_object(ROOT, "resolutions", ObjType::Map)?;
            codec::fill_map(d, &ROOT, root, text)
        })?;
        Ok(doc)
    }

    /// Load from a snapshot and incremental chunks (any of which may be missing or a full
    /// save). Corrupt bytes and documents of another case or kind are errors, never panics.
    ///
    /// automerge 0.12 panics on some malformed columns under a valid checksum (found by
    /// `scripts/fuzz.sh`): such a panic is returned as this document's error, so no caller
    /// (a device receiving a snapshot, the server reading a stored document) needs its own
    /// guard.
    pub fn load(id: DocId, snapshot: Option<&[u8]>, chunks: &[Vec<u8>]) -> Result<Self> {
        std::panic::catch_unwind(|| Self::load_unguarded(id, snapshot, chunks))
            .unwrap_or_else(|_| Err(Error::Protocol("a document failed to load".into())))
    }

    fn load_unguarded(id: DocId, snapshot: Option<&[u8]>, chunks: &[Vec<u8>]) -> Result<Self> {
        let mut chunks = chunks.iter().peekable();
        let mut doc = match snapshot {
            Some(bytes) => AutoCommit::load_with_options(bytes, strict())?,
            // Without a snapshot the first chunk is often a whole document as a peer sent
            // it: loaded strictly once, not checked by a load and then loaded again.
            None => match chunks.peek() {
                Some(first) => match AutoCommit::load_with_options(first, strict()) {
                    Ok(doc) => {
                        chunks.next();
                        doc
                    }
                    // Changes waiting for others: checked and queued as any later chunk.
                    Err(AutomergeError::MissingDeps) => AutoCommit::new(),
                    Err(e) => return Err(e.into()),
                },
                None => AutoCommit::new(),
            },
        };
        for chunk in chunks {
            validate_chunk(chunk)?;
            doc.load_incremental(chunk)?;
        }
        let loaded = CaseDoc::wrap(id, doc);
        loaded.check_identity()?;
        Ok(loaded)
    }

    /// Wrap a document received whole from a peer, checking it is the document named.
    pub(crate) fn from_automerge(id: DocId, doc: AutoCommit) -> Result<Self> {
        let loaded = CaseDoc::wrap(id, doc);
        loaded.check_identity()?;
        Ok(loaded)
    }

    /// A throwaway copy to try an edit on.
    pub(crate) fn trial(&mut self) -> Self {
        CaseDoc::wrap(self.id, self.doc.fork())
    }

    pub(super) fn wrap(id: DocId, doc: AutoCommit) -> Self {
        CaseDoc {
            id,
            doc,
            stale: None,
            actor: None,
            saving_from: None,
            checked: None,
        }
    }

    fn check_identity(&self) -> Result<()> {
        if self.doc.is_empty() {
            return Ok(());
        }
        let case = self.root_str("case")?;
        let kind = self.root_str("kind")?;
        if case != self.id.case.to_string() || kind != self.id.kind.as_str() {
            return Err(self.malformed("/", "document belongs to another case or kind"));
        }
        Ok(())
    }

    fn root_str(&self, key: &str) -> Result<String> {
        match self.doc.get(ROOT, key)? {
            Some((Value::Scalar(s), _)) => match s.as_str() {
                Some(text) => Ok(text.to_owned()),
                None => Err(self.malformed(key, "expected a string")),
            },
            _ => Err(self.malformed(key, "missing")),
        }
    }

    /// Which document this is.
    pub fn id(&self) -> DocId {
        self.id
    }

    /// Which kind of document this is.
    pub fn kind(&self) -> DocKind {
        self.id.kind
    }

    /// The automerge document (read-only).
    pub fn automerge(&self) -> &AutoCommit {
        &self.doc
    }

    pub(crate) fn automerge_mut(&mut self) -> &mut AutoCommit {
        &mut self.doc
    }

    /// Current heads.
    pub fn heads(&mut self) -> Vec<ChangeHash> {
        self.doc.get_heads()
    }

    /// A full compacted save.
    pub fn save(&mut self) -> Vec<u8> {
        self.doc.save()
    }

    /// The changes made after `heads`, as bytes for `load_incremental`.
    pub fn save_after(&mut self, heads: &[ChangeHash]) -> Vec<u8> {
        self.doc.save_after(heads)
    }

    /// The changes of the last checked edit if they are exactly those made after `heads`
    /// (nothing else changed the document since), taken so they are used once.
    pub(crate) fn take_checked_changes(&mut self, heads: &[ChangeHash]) -> Option<CheckedChanges> {
        let checked = self.checked.take()?;
        (checked.from == heads && checked.to == self.doc.get_heads()).then_some(checked)
    }

    /// The changes made after `heads` (what [`CaseDoc::save_after`] encodes: automerge
    /// rebuilds them from the whole document, so a caller needing both asks once).
    pub(crate) fn changes_after(&mut self, heads: &[ChangeHash]) -> Vec<automerge::Change> {
        self.doc.get_changes(heads)
    }

    /// Merge changes from a peer (incremental chunks, changes or a whole save). Changes whose
    /// dependencies have not arrived yet wait inside automerge until they do. Bytes that do not
    /// decode, or that would make this another case's document, leave it untouched.
    pub fn merge_bytes(&mut self, bytes: &[u8]) -> Result<()> {
        validate_chunk(bytes)?;
        let mut candidate = self.doc.clone();
        candidate.load_incremental(bytes)?;
        let candidate = CaseDoc::from_automerge(self.id, candidate)?;
        self.doc = candidate.doc;
        Ok(())
    }

    /// Merge a whole document from a peer, already loaded (strictly, by [`CaseDoc::load`]):
    /// what [`CaseDoc::merge_bytes`] does with its save, without parsing the save again.
    /// A merge that would make this another case's document leaves it untouched.
    pub(crate) fn merge_doc(&mut self, other: &mut CaseDoc) -> Result<()> {
        if other.id != self.id {
            return Err(other.malformed("/", "document belongs to another case or kind"));
        }
        let mut candidate = self.doc.clone();
        candidate.merge(&mut other.doc)?;
        let candidate = CaseDoc::from_automerge(self.id, candidate)?;
        self.doc = candidate.doc;
        Ok(())
    }

    /// The whole document as JSON (text as strings), for display, export and comparison.
    pub fn to_json(&self) -> Result<Json> {
        codec::read(&self.doc, &ROOT)
    }

    /// Run `f` on the document and commit it as one change authored by `edit`. `what` names
    /// the field or entry (never content). If `f` fails, nothing it did is kept.
    pub(crate) fn edit<R>(
        &mut self,
        edit: &Edit,
        what: &str,
        f: impl FnOnce(&mut AutoCommit) -> Result<R>,
    ) -> Result<R> {
        let actor = self
            .actor
            .clone()
            .unwrap_or_else(|| ActorId::from(edit.author.device.as_bytes()));
        self.doc.set_actor(actor);
        match f(&mut self.doc) {
            Ok(value) => {
                let note = CommitNote {
                    user: edit.author.user,
                    device: edit.author.device,
                    what: what.to_owned(),
                    read_at: self.saving_from.as_ref().map(ToString::to_string),
                };
                let message = serde_json::to_string(&note)
                    .map_err(|e| Error::invalid("commit", e.to_string()))?;
                self.doc.commit_with(
                    CommitOptions::default()
                        .with_message(message)
                        .with_time(edit.at.timestamp_millis()),
                );
                Ok(value)
            }
            Err(e) => {
                self.doc.rollback();
                Err(e)
            }
        }
    }

    /// The object at `path` (map keys from the root).
    pub(crate) fn object(&self, path: &[&str]) -> Result<ObjId> {
        let mut obj = ROOT;
        for (depth, key) in path.iter().enumerate() {
            match self.doc.get(&obj, *key)? {
                Some((Value::Object(_), child)) => obj = child,
                _ => {
                    return Err(self.malformed(&path[..=depth].join("/"), "expected an object"));
                }
            }
        }
        Ok(obj)
    }

    /// Read the record in the map `obj`, found at `path` (named in an error).
    pub(crate) fn read_obj<T: Record>(&self, obj: &ObjId, path: &[&str]) -> Result<T> {
        let json = codec::read(&self.doc, obj)?;
        serde_json::from_value(json)
            .map_err(|e| self.malformed(&path.join("/"), &decode_failure(&e)))
    }

    /// Read the record stored at `path`.
    pub(crate) fn read_at<T: Record>(&self, path: &[&str]) -> Result<T> {
        self.read_obj(&self.object(path)?, path)
    }

    /// Write `record` over the map at `path`, touching only fields that differ (inside
    /// [`CaseDoc::edit_from`], only fields changed since the record was read).
    pub(crate) fn write_at<T: Record>(
        &mut self,
        edit: &Edit,
        path: &[&str],
        record: &T,
    ) -> Result<()> {
        let fields = to_fields(record)?;
        let what = format!("update {}", T::NAME);
        self.write_fields(edit, path, &fields, T::TEXT_FIELDS, &what)
    }

    /// Write `fields` over the map at `path` (see [`CaseDoc::write_at`]).
    pub(crate) fn write_fields(
        &mut self,
        edit: &Edit,
        path: &[&str],
        fields: &Map<String, Json>,
        text_fields: &[&str],
        what: &str,
    ) -> Result<()> {
        if self.stale.is_some() {
            return self.write_on_stale_base(edit, path, fields, text_fields, what);
        }
        let obj = self.object(path)?;
        self.edit(edit, what, |d| {
            codec::update_map(d, &obj, fields, text_fields)
        })
    }

    /// Add `record` as a new entry under the map at `collection`, keyed by the fresh `id`.
    pub(crate) fn add_entry<T: Record>(
        &mut self,
        edit: &Edit,
        collection: &[&str],
        id: EntryId,
        record: &T,
    ) -> Result<()> {
        let fields = to_fields(record)?;
        let parent = self.object(collection)?;
        let key = id.to_string();
        if self.doc.get(&parent, key.as_str())?.is_some() {
            return Err(Error::invalid("id", "an entry with this id already exists"));
        }
        let what = format!("add {}", T::NAME);
        self.edit(edit, &what, |d| {
            codec::create_map(d, &parent, &key, &fields, T::TEXT_FIELDS).map(|_| ())
        })
    }

    /// Add every record of `entries` under the map at `collection`, keyed by their fresh ids,
    /// as one change (`what` names it, never content).
    pub(crate) fn add_entries<T: Record>(
        &mut self,
        edit: &Edit,
        collection: &[&str],
        entries: &[(EntryId, T)],
        what: &str,
    ) -> Result<()> {
        let parent = self.object(collection)?;
        let mut records = Vec::with_capacity(entries.len());
        for (id, record) in entries {
            let key = id.to_string();
            if self.doc.get(&parent, key.as_str())?.is_some()
                || records.iter().any(|(k, _)| *k == key)
            {
                return Err(Error::invalid("id", "an entry with this id already exists"));
            }
            records.push((key, to_fields(record)?));
        }
        self.edit(edit, what, |d| {
            for (key, fields) in &records {
                codec::create_map(d, &parent, key, fields, T::TEXT_FIELDS)?;
            }
            Ok(())
        })
    }

    /// Read one entry.
    pub(crate) fn entry<T: Record>(&self, collection: &[&str], id: EntryId) -> Result<T> {
        let key = id.to_string();
        let parent = self.object(collection)?;
        if self.doc.get(&parent, key.as_str())?.is_none() {
            return Err(Error::NoSuchEntry {
                kind: T::NAME,
                id: key,
            });
        }
        let mut path = collection.to_vec();
        path.push(&key);
        self.read_at(&path)
    }

    /// Update one entry, touching only fields that differ.
    pub(crate) fn update_entry<T: Record>(
        &mut self,
        edit: &Edit,
        collection: &[&str],
        id: EntryId,
        record: &T,
    ) -> Result<()> {
        self.entry::<T>(collection, id)?;
        let key = id.to_string();
        let mut path = collection.to_vec();
        path.push(&key);
        self.write_at(edit, &path, record)
    }

    /// [`CaseDoc::update_entry`], except that a field the stored entry lacks (one added to
    /// the record type after the entry was written) is written only when `record` gives it a
    /// value other than its default: two devices saving one older entry offline then do not
    /// both create the field, which would show as a conflict of two equal values.
    pub(crate) fn update_entry_sparse<T: Record + Default>(
        &mut self,
        edit: &Edit,
        collection: &[&str],
        id: EntryId,
        record: &T,
    ) -> Result<()> {
        self.entry::<T>(collection, id)?;
        let key = id.to_string();
        let mut path = collection.to_vec();
        path.push(&key);
        let obj = self.object(&path)?;
        let stored: Vec<String> = self.doc.keys(&obj).collect();
        let defaults = to_fields(&T::default())?;
        let mut fields = to_fields(record)?;
        fields.retain(|k, v| stored.contains(k) || defaults.get(k) != Some(v));
        let what = format!("update {}", T::NAME);
        self.write_fields(edit, &path, &fields, T::TEXT_FIELDS, &what)
    }

    /// Every entry of a collection, ordered by id. An entry that does not read as `T` is an
    /// error naming it, so a bad entry is visible rather than silently skipped.
    pub(crate) fn entries<T: Record>(&self, collection: &[&str]) -> Result<Vec<(EntryId, T)>> {
        let parent = self.object(collection)?;
        let mut out = Vec::new();
        for key in self.doc.keys(&parent) {
            let id: EntryId = key
                .parse()
                .map_err(|_| self.malformed(&collection.join("/"), "entry key is not an id"))?;
            let mut path = collection.to_vec();
            path.push(&key);
            out.push((id, self.read_at(&path)?));
        }
        Ok(out)
    }

    /// Every change, oldest first, with its author and time.
    pub fn history(&mut self) -> Vec<ChangeRecord> {
        self.doc
            .get_changes_meta(&[])
            .into_iter()
            .map(|meta| {
                let note = CommitNote::parse(meta.message.as_deref());
                ChangeRecord {
                    author: note.as_ref().map(|n| super::Author {
                        user: n.user,
                        device: n.device,
                    }),
                    at: timestamp_to_utc(meta.timestamp),
                    what: note.map(|n| n.what).unwrap_or_default(),
                    hash: meta.hash.to_string(),
                }
            })
            .collect()
    }

    /// The user whose change created each of `objs` (from that change's commit note), or
    /// `None` where it is not known (the root, a change from outside Casebook). One pass
    /// over the changes' metadata, whatever the number of objects.
    pub(crate) fn object_authors(&mut self, objs: &[ObjId]) -> Vec<Option<UserId>> {
        let mut found = vec![None; objs.len()];
        if objs.is_empty() {
            return found;
        }
        for meta in self.doc.get_changes_meta(&[]) {
            for (index, obj) in objs.iter().enumerate() {
                if let ObjId::Id(counter, actor, _) = obj
                    && found[index].is_none()
                    && *actor == *meta.actor
                    && (meta.start_op..=meta.max_op).contains(counter)
                {
                    found[index] = CommitNote::parse(meta.message.as_deref()).map(|n| n.user);
                }
            }
        }
        found
    }

    pub(crate) fn malformed(&self, path: &str, reason: &str) -> Error {
        Error::Malformed {
            doc: self.id.to_string(),
            path: path.to_owned(),
            reason: reason.to_owned(),
        }
    }
}

fn strict() -> LoadOptions<'static> {
    LoadOptions::new()
        .on_partial_load(OnPartialLoad::Error)
        .verification_mode(VerificationMode::Check)
}

/// Check that `bytes` parse completely as automerge chunks (a save, changes or a bundle).
/// Automerge's incremental loading skips what it cannot parse; Casebook refuses instead, so
/// corrupt bytes from storage or a peer are an error rather than a silent partial load.
pub(crate) fn validate_chunk(bytes: &[u8]) -> Result<()> {
    // automerge 0.12 panics on some malformed columns under a valid checksum (found by
    // `scripts/fuzz.sh`): that is a chunk that does not load, not a crash.
    let loaded =
        std::panic::catch_unwind(|| automerge::Automerge::load_with_options(bytes, strict()));
    match loaded {
        Ok(Ok(_) | Err(AutomergeError::MissingDeps)) => Ok(()),
        Ok(Err(e)) => Err(e.into()),
        Err(_) => Err(Error::Protocol("a change failed to load".into())),
    }
}

/// Why a stored record did not decode, without the stored value: serde's messages quote it
/// ("invalid type: string \"...\""), and error messages end up in crash reports.
fn decode_failure(e: &serde_json::Error) -> String {
    let message = e.to_string();
    if message.starts_with("missing field") || message.starts_with("unknown field") {
        message
    } else {
        "a stored value has the wrong type or an unknown value".to_owned()
    }
}

pub(crate) fn to_fields<T: Serialize>(record: &T) -> Result<Map<String, Json>> {
    match serde_json::to_value(record) {
        Ok(Json::Object(fields)) => Ok(fields),
        Ok(_) => Err(Error::invalid("record", "must serialise as an object")),
        Err(e) => Err(Error::invalid("record", e.to_string())),
    }
}
