//! Conflicting field values: when two devices set the same field differently offline, both
//! values stay visible, with their authors, until a person resolves the conflict; the
//! resolution is recorded with who made it.

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjId, ObjType, ROOT, ReadDoc, Value};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use super::author::{Author, CommitNote, Edit, timestamp_to_utc};
use super::case_doc::CaseDoc;
use super::codec::{read, scalar_to_json};
use super::kind::DocId;
use crate::error::{Error, Result};
use crate::ids::EntryId;

/// One of the competing values of a conflicted field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConflictValue {
    /// The value, as JSON (objects are shown whole).
    pub value: Json,
    /// Who wrote it, if the change says.
    pub author: Option<Author>,
    /// When, by the author's clock.
    pub at: Option<DateTime<Utc>>,
}

/// A field with more than one current value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conflict {
    /// The document.
    pub doc: DocId,
    /// Map keys from the document root to the field, e.g. `["current", "address"]`.
    pub path: Vec<String>,
    /// Every competing value, at least two.
    pub values: Vec<ConflictValue>,
}

/// A recorded resolution, kept in the document's `resolutions` map.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resolution {
    /// The field's path, `/`-joined.
    pub path: String,
    /// The value chosen, as JSON text.
    pub chosen: String,
    /// The values it replaced, as JSON text.
    pub replaced: Vec<String>,
    /// Who resolved it.
    pub by: Author,
    /// When.
    pub at: DateTime<Utc>,
}

impl super::case_doc::Record for Resolution {
    const NAME: &'static str = "resolution";
    const TEXT_FIELDS: &'static [&'static str] = &[];
}

impl CaseDoc {
    /// Every open conflict in the document.
    pub fn conflicts(&mut self) -> Result<Vec<Conflict>> {
        let mut found = Vec::new();
        let mut path = Vec::new();
        let id = self.id();
        walk(id, self.automerge_mut(), &ROOT, &mut path, &mut found)?;
        Ok(found)
    }

    /// Resolve the conflict at `path` by writing `chosen` (usually one of the competing values)
    /// over all of them, and record who resolved it, when, and what was replaced. The model's
    /// `resolve_conflict` calls this after checking that `chosen` fits the field.
    pub(crate) fn resolve_conflict_unchecked(
        &mut self,
        edit: &Edit,
        path: &[String],
        chosen: Json,
        resolution_id: EntryId,
    ) -> Result<()> {
        let conflict = self
            .conflicts()?
            .into_iter()
            .find(|c| c.path == path)
            .ok_or_else(|| Error::NoSuchConflict(path.join("/")))?;
        if chosen.is_object() || chosen.is_array() {
            return Err(Error::invalid(
                "chosen",
                "a resolution must be a single value",
            ));
        }
        let (field, parents) = path
            .split_last()
            .ok_or_else(|| Error::NoSuchConflict(String::new()))?;
        let parent_path: Vec<&str> = parents.iter().map(String::as_str).collect();
        let parent = self.object(&parent_path)?;
        let resolutions = self.object(&["resolutions"])?;
        let record = Resolution {
            path: path.join("/"),
            chosen: chosen.to_string(),
            replaced: conflict
                .values
                .iter()
                .map(|v| v.value.to_string())
                .collect(),
            by: edit.author,
            at: edit.at,
        };
        let fields = super::case_doc::to_fields(&record)?;
        let key = resolution_id.to_string();
        let value = match &chosen {
            Json::Null => automerge::ScalarValue::Null,
            Json::Bool(b) => automerge::ScalarValue::Boolean(*b),
            Json::Number(n) => match n.as_i64() {
                Some(i) => automerge::ScalarValue::Int(i),
                None => automerge::ScalarValue::F64(n.as_f64().unwrap_or_default()),
            },
            Json::String(s) => automerge::ScalarValue::Str(s.as_str().into()),
            Json::Array(_) | Json::Object(_) => automerge::ScalarValue::Null,
        };
        self.edit(edit, "resolve conflict", |d| {
            d.put(&parent, field.as_str(), value)?;
            super::codec::create_map(d, &resolutions, &key, &fields, &[])?;
            Ok(())
        })
    }

    /// Every recorded resolution.
    pub fn resolutions(&self) -> Result<Vec<(EntryId, Resolution)>> {
        self.entries(&["resolutions"])
    }
}

fn walk(
    doc_id: DocId,
    doc: &mut AutoCommit,
    obj: &ObjId,
    path: &mut Vec<String>,
    found: &mut Vec<Conflict>,
) -> Result<()> {
    let keys: Vec<String> = doc.keys(obj).collect();
    for key in keys {
        let all: Vec<(Value<'static>, ObjId)> = doc
            .get_all(obj, key.as_str())?
            .into_iter()
            .map(|(v, id)| (v.into_owned(), id))
            .collect();
        path.push(key.clone());
        if all.len() > 1 && distinct_values(&all) {
            let mut values = Vec::with_capacity(all.len());
            for (value, id) in &all {
                let json = match value {
                    Value::Scalar(s) => scalar_to_json(s),
                    Value::Object(_) => read(doc, id)?,
                };
                let (author, at) = authorship(doc, id);
                values.push(ConflictValue {
                    value: json,
                    author,
                    at,
                });
            }
            found.push(Conflict {
                doc: doc_id,
                path: path.clone(),
                values,
            });
        } else if let Some((Value::Object(ObjType::Map), child)) = all.into_iter().next() {
            walk(doc_id, doc, &child, path, found)?;
        }
        path.pop();
    }
    Ok(())
}

/// Two devices setting the same value is agreement, not a conflict.
fn distinct_values(all: &[(Value<'static>, ObjId)]) -> bool {
    let mut first: Option<Json> = None;
    for (value, _) in all {
        let json = match value {
            Value::Scalar(s) => scalar_to_json(s),
            Value::Object(_) => return true,
        };
        match &first {
            None => first = Some(json),
            Some(seen) if *seen != json => return true,
            Some(_) => {}
        }
    }
    false
}

fn authorship(doc: &mut AutoCommit, op: &ObjId) -> (Option<Author>, Option<DateTime<Utc>>) {
    let Some(hash) = doc.hash_for_opid(op) else {
        return (None, None);
    };
    match doc.document().get_change_meta_by_hash(&hash) {
        Some(meta) => {
            let note = CommitNote::parse(meta.message.as_deref());
            (
                note.map(|n| Author {
                    user: n.user,
                    device: n.device,
                }),
                timestamp_to_utc(meta.timestamp),
            )
        }
        None => (None, None),
    }
}
