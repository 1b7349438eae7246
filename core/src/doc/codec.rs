//! Generic mapping between serde records (through `serde_json::Value`) and automerge maps.
//!
//! Writing compares with what is there and touches only the fields that differ, so an edit of
//! one field never creates a conflict on another. Fields named in a record's text list are
//! automerge `Text`, edited by diff so concurrent edits to the same note both survive.
//! Nested maps are only ever created inside a freshly created entry, never by an update.

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjId, ObjType, ReadDoc, ScalarValue, Value};
use serde_json::{Map, Value as Json};

use crate::error::{Error, Result};

/// Write `record` (a JSON object) as a new map under `parent[key]`; `key` must be fresh.
pub(crate) fn create_map(
    doc: &mut AutoCommit,
    parent: &ObjId,
    key: &str,
    record: &Map<String, Json>,
    text_fields: &[&str],
) -> Result<ObjId> {
    let obj = doc.put_object(parent, key, ObjType::Map)?;
    fill_map(doc, &obj, record, text_fields)?;
    Ok(obj)
}

/// Fill an empty, freshly created map.
pub(crate) fn fill_map(
    doc: &mut AutoCommit,
    obj: &ObjId,
    record: &Map<String, Json>,
    text_fields: &[&str],
) -> Result<()> {
    for (key, value) in record {
        put_new(doc, obj, key, value, text_fields)?;
    }
    Ok(())
}

fn put_new(
    doc: &mut AutoCommit,
    obj: &ObjId,
    key: &str,
    value: &Json,
    text_fields: &[&str],
) -> Result<()> {
    match value {
        Json::String(s) if text_fields.contains(&key) => {
            let text = doc.put_object(obj, key, ObjType::Text)?;
            doc.splice_text(&text, 0, 0, s)?;
        }
        Json::Object(fields) => {
            create_map(doc, obj, key, fields, text_fields)?;
        }
        Json::Array(items) => {
            let list = doc.put_object(obj, key, ObjType::List)?;
            for (index, item) in items.iter().enumerate() {
                doc.insert(&list, index, scalar(item, key)?)?;
            }
        }
        other => doc.put(obj, key, scalar(other, key)?)?,
    }
    Ok(())
}

/// Bring an existing map in line with `record`, writing only what differs. Keys missing from
/// `record` are left alone: entries are removed only through explicit operations.
pub(crate) fn update_map(
    doc: &mut AutoCommit,
    obj: &ObjId,
    record: &Map<String, Json>,
    text_fields: &[&str],
) -> Result<()> {
    for (key, new) in record {
        let existing = doc
            .get(obj, key.as_str())?
            .map(|(v, id)| (v.to_owned(), id));
        match (existing, new) {
            (None, _) => put_new(doc, obj, key, new, text_fields)?,
            (Some((Value::Object(ObjType::Text), text)), Json::String(s)) => {
                if doc.text(&text)? != *s {
                    doc.update_text(&text, s)?;
                }
            }
            (Some((Value::Object(ObjType::Map), child)), Json::Object(fields)) => {
                update_map(doc, &child, fields, text_fields)?;
            }
            (Some((Value::Object(ObjType::List), list)), Json::Array(items)) => {
                update_list(doc, &list, items, key)?;
            }
            (Some((Value::Scalar(current), _)), _) if !new.is_object() && !new.is_array() => {
                if scalar_to_json(&current) != *new {
                    doc.put(obj, key.as_str(), scalar(new, key)?)?;
                }
            }
            (Some(_), _) => {
                return Err(Error::Malformed {
                    doc: String::new(),
                    path: key.clone(),
                    reason: "stored value has a different shape from the record".into(),
                });
            }
        }
    }
    Ok(())
}

/// Minimal edit of a list of scalars: keep the common prefix and suffix, replace the middle.
fn update_list(doc: &mut AutoCommit, list: &ObjId, items: &[Json], key: &str) -> Result<()> {
    let current: Vec<Json> = (0..doc.length(list))
        .map(|i| match doc.get(list, i) {
            Ok(Some((Value::Scalar(s), _))) => Ok(scalar_to_json(&s)),
            Ok(_) => Ok(Json::Null),
            Err(e) => Err(Error::from(e)),
        })
        .collect::<Result<_>>()?;
    let prefix = current
        .iter()
        .zip(items)
        .take_while(|(a, b)| a == b)
        .count();
    let suffix = current[prefix..]
        .iter()
        .rev()
        .zip(items[prefix..].iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let removed = current.len() - prefix - suffix;
    for _ in 0..removed {
        doc.delete(list, prefix)?;
    }
    for (offset, item) in items[prefix..items.len() - suffix].iter().enumerate() {
        doc.insert(list, prefix + offset, scalar(item, key)?)?;
    }
    Ok(())
}

fn scalar(value: &Json, key: &str) -> Result<ScalarValue> {
    Ok(match value {
        Json::Null => ScalarValue::Null,
        Json::Bool(b) => ScalarValue::Boolean(*b),
        Json::Number(n) => {
            if let Some(i) = n.as_i64() {
                ScalarValue::Int(i)
            } else if let Some(u) = n.as_u64() {
                ScalarValue::Uint(u)
            } else {
                ScalarValue::F64(n.as_f64().unwrap_or_default())
            }
        }
        Json::String(s) => ScalarValue::Str(s.as_str().into()),
        Json::Array(_) | Json::Object(_) => {
            return Err(Error::invalid(key, "nested values are not allowed here"));
        }
    })
}

/// A stored scalar as JSON.
pub(crate) fn scalar_to_json(value: &ScalarValue) -> Json {
    match value {
        ScalarValue::Str(s) => Json::String(s.to_string()),
        ScalarValue::Int(i) | ScalarValue::Timestamp(i) => Json::from(*i),
        ScalarValue::Uint(u) => Json::from(*u),
        ScalarValue::F64(f) => Json::from(*f),
        ScalarValue::Counter(c) => Json::from(i64::from(c)),
        ScalarValue::Boolean(b) => Json::Bool(*b),
        ScalarValue::Null => Json::Null,
        ScalarValue::Bytes(b) => Json::String(hex::encode(b)),
        _ => Json::Null,
    }
}

/// Read any object as JSON (maps as objects, lists as arrays, text as strings). Where a key
/// holds conflicting values this reads automerge's deterministic winner; the conflicts module
/// reports all of them.
pub(crate) fn read(doc: &impl ReadDoc, obj: &ObjId) -> Result<Json> {
    match doc.object_type(obj)? {
        ObjType::Text => Ok(Json::String(doc.text(obj)?)),
        // One pass over the object's ops (automerge's ranges), not a seek per key or index:
        // a fresh device reads every entry of every document it receives.
        ObjType::List => {
            let mut items = Vec::with_capacity(doc.length(obj));
            for item in doc.list_range(obj, ..) {
                let id = item.id();
                items.push(read_value(doc, Some((item.value.into_value(), id)))?);
            }
            Ok(Json::Array(items))
        }
        ObjType::Map | ObjType::Table => {
            let mut fields = Map::new();
            for item in doc.map_range(obj, ..) {
                let id = item.id();
                let value = read_value(doc, Some((item.value.into_value(), id)))?;
                fields.insert(item.key.into_owned(), value);
            }
            Ok(Json::Object(fields))
        }
    }
}

fn read_value(doc: &impl ReadDoc, value: Option<(Value<'_>, ObjId)>) -> Result<Json> {
    match value {
        None => Ok(Json::Null),
        Some((Value::Scalar(s), _)) => Ok(scalar_to_json(&s)),
        Some((Value::Object(_), id)) => read(doc, &id),
    }
}
