//! Which records a document's new changes touched, read from the changes' operations: each
//! operation's object is placed in the document by its parents, so an edit of one note among
//! a hundred recomputes one note's rows.

use std::collections::{BTreeSet, HashMap};

use automerge::legacy::{Key, ObjectId};
use automerge::{ActorId, Change, ObjId, Prop, ReadDoc};

/// The `(root key, record key)` pairs a set of changes touched (see [`touched`]).
pub(crate) type Touched = BTreeSet<(String, Option<String>)>;

/// The `(root key, record key)` pairs `changes` (made to `doc`) touched (`None` as the
/// record when the root key itself, or a field of its single record, changed). `None` when
/// an operation's object cannot be placed (it is no longer in the document). The write rules
/// use it too: a record no operation touched cannot have changed.
pub(crate) fn touched(doc: &impl ReadDoc, changes: &[Change]) -> Option<Touched> {
    let mut root_keys = BTreeSet::new();
    let mut objects: HashMap<(u64, ActorId), BTreeSet<String>> = HashMap::new();
    for change in changes {
        for op in change.decode().operations {
            let key = match op.key {
                Key::Map(key) => Some(key.to_string()),
                Key::Seq(_) => None,
            };
            match op.obj {
                ObjectId::Root => {
                    root_keys.insert(key?);
                }
                ObjectId::Id(id) => {
                    let keys = objects.entry((id.0, id.1)).or_default();
                    keys.extend(key);
                }
            }
        }
    }
    let mut touched: Touched = root_keys.into_iter().map(|key| (key, None)).collect();
    for ((counter, actor), keys) in objects {
        let obj = ObjId::Id(counter, actor, usize::MAX);
        let mut path: Vec<String> = Vec::new();
        for parent in doc.parents(&obj).ok()? {
            match parent.prop {
                Prop::Map(key) => path.push(key),
                Prop::Seq(_) => path.push(String::new()),
            }
        }
        path.reverse();
        match path.as_slice() {
            [] => return None,
            [top] => {
                // An operation on an object at the root: a collection (the keys are its
                // entries) or a single record (the keys are its fields).
                if keys.is_empty() {
                    touched.insert((top.clone(), None));
                }
                touched.extend(keys.into_iter().map(|k| (top.clone(), Some(k))));
            }
            [top, record, ..] => {
                touched.insert((top.clone(), Some(record.clone())));
            }
        }
    }
    Some(touched)
}
