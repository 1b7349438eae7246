//! Which records a document's new changes touched, read from the changes' operations: each
//! operation's object is placed in the document by its parents, so an edit of one note among
//! a hundred recomputes one note's rows.

use std::collections::{BTreeSet, HashMap};

use automerge::legacy::{Key, ObjectId};
use automerge::{ActorId, Change, ObjId, Patch, PatchAction, Prop, ReadDoc};

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

/// The `(root key, record key)` pairs that `patches` (a local edit's diff, recorded by
/// automerge as the edit ran) changed, placed as [`touched`] places operations. Cheaper than
/// decoding the edit's changes: a long note's text is one patch, not one operation per
/// character. Patches show what became visible, which is all that a view row or a record
/// compared by the write rules can show; the server, which checks what a device sends, places
/// the operations themselves.
pub(crate) fn touched_by_patches(patches: &[Patch]) -> Touched {
    let mut touched = Touched::new();
    for patch in patches {
        let key = match &patch.action {
            PatchAction::PutMap { key, .. } | PatchAction::DeleteMap { key } => Some(key.clone()),
            PatchAction::Increment { prop, .. } | PatchAction::Conflict { prop } => match prop {
                Prop::Map(key) => Some(key.clone()),
                Prop::Seq(_) => None,
            },
            _ => None,
        };
        let step = |prop: &Prop| match prop {
            Prop::Map(key) => key.clone(),
            Prop::Seq(_) => String::new(),
        };
        match patch.path.as_slice() {
            [] => {
                if let Some(key) = key {
                    touched.insert((key, None));
                }
            }
            [(_, top)] => {
                touched.insert((step(top), key));
            }
            [(_, top), (_, record), ..] => {
                touched.insert((step(top), Some(step(record))));
            }
        }
    }
    touched
}
