//! Audit of persons shared into (and unshared from) a child's missing-person profile: derived
//! from the `safety` document the server stores, never from a claim in the request. A new key
//! in the document's `shared_persons` collection is a share, a key gone is an unshare; the
//! sync exchange audits each (`person_shared_into_profile`, `person_unshared_from_profile`)
//! with the person's id only, never their name.

use std::collections::BTreeSet;
use std::panic::{AssertUnwindSafe, catch_unwind};

use automerge::{Automerge, ROOT, ReadDoc, Value};
use casebook_core::doc::{DocId, DocKind};
use casebook_core::model::SHARED_KEY;

/// The audit event of a share.
pub const SHARED: &str = "person_shared_into_profile";
/// The audit event of an unshare.
pub const UNSHARED: &str = "person_unshared_from_profile";

/// One share or unshare found between two saves of a `safety` document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareChange {
    /// [`SHARED`] or [`UNSHARED`].
    pub event: &'static str,
    /// The `associates` person's id (the entry's key).
    pub person: String,
}

#[cfg(test)]
/// The shares and unshares that turn `stored` into `saved` (both whole saves of `doc`); none
/// for another kind of document, or bytes that do not load (the write was screened already).
pub fn changes(doc: &DocId, stored: Option<&[u8]>, saved: &[u8]) -> Vec<ShareChange> {
    if doc.kind != DocKind::Safety {
        return Vec::new();
    }
    let loaded = catch_unwind(AssertUnwindSafe(|| {
        let before = match stored {
            Some(bytes) => Some(Automerge::load(bytes).ok()?),
            None => None,
        };
        Some((before, Automerge::load(saved).ok()?))
    }));
    match loaded.ok().flatten() {
        Some((before, after)) => changes_in(doc, before.as_ref(), &after),
        None => Vec::new(),
    }
}

/// The shares and unshares that turn `stored` into `saved`, both documents already in memory
/// (the sync exchange holds them, so nothing is loaded again); none for another kind.
pub fn changes_in(doc: &DocId, stored: Option<&Automerge>, saved: &Automerge) -> Vec<ShareChange> {
    if doc.kind != DocKind::Safety {
        return Vec::new();
    }
    let found = catch_unwind(AssertUnwindSafe(|| {
        let before = stored.map(keys).unwrap_or_default();
        let after = keys(saved);
        let shared = after.difference(&before).map(|p| ShareChange {
            event: SHARED,
            person: p.clone(),
        });
        let unshared = before.difference(&after).map(|p| ShareChange {
            event: UNSHARED,
            person: p.clone(),
        });
        shared.chain(unshared).collect::<Vec<_>>()
    }));
    found.unwrap_or_default()
}

/// The keys of the `shared_persons` collection (of every competing collection, if two
/// devices created it at once).
fn keys(doc: &Automerge) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (value, obj) in doc.get_all(ROOT, SHARED_KEY).unwrap_or_default() {
        if let Value::Object(_) = value {
            out.extend(doc.keys(&obj));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use casebook_core::doc::{Author, Edit};
    use casebook_core::ids::{CaseId, DeviceId, EntryId, UserId};
    use casebook_core::model::{PersonOfConcern, Profile, new_case};
    use chrono::Utc;

    use super::*;

    #[test]
    fn a_share_and_an_unshare_are_found_by_person_id() {
        let edit = Edit::new(
            Author {
                user: UserId::from_bytes([1; 16]),
                device: DeviceId::from_bytes([2; 16]),
            },
            Utc::now(),
        );
        let profile = Profile {
            case_reference: "R".into(),
            ..Profile::default()
        };
        let mut safety = new_case(CaseId::from_bytes([3; 16]), &edit, &profile)
            .expect("case")
            .into_iter()
            .find(|d| d.kind() == DocKind::Safety)
            .expect("safety");
        let id = safety.id();
        let empty = safety.save();
        let person = EntryId::from_bytes([4; 16]);
        safety
            .share_person(&edit, person, &PersonOfConcern::default())
            .expect("share");
        let shared = safety.save();
        safety.unshare_person(&edit, person).expect("unshare");
        let unshared = safety.save();
        let expect = |event| {
            vec![ShareChange {
                event,
                person: person.to_string(),
            }]
        };
        assert_eq!(changes(&id, Some(&empty), &shared), expect(SHARED));
        assert_eq!(changes(&id, Some(&shared), &unshared), expect(UNSHARED));
        assert!(changes(&id, Some(&shared), &shared).is_empty());
        assert_eq!(changes(&id, None, &shared), expect(SHARED));
        // The same from the documents in memory, as the sync exchange hands them.
        let load = |b: &[u8]| Automerge::load(b).expect("load");
        let (empty, shared, unshared) = (load(&empty), load(&shared), load(&unshared));
        assert_eq!(changes_in(&id, Some(&empty), &shared), expect(SHARED));
        assert_eq!(changes_in(&id, Some(&shared), &unshared), expect(UNSHARED));
        assert_eq!(changes_in(&id, None, &shared), expect(SHARED));
        assert!(changes_in(&id, Some(&shared), &shared).is_empty());
    }
}
