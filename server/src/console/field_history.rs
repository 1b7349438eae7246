//! The history of one field of a case document: every change that set it, with its author and
//! time (`CaseDoc::history`) and the value(s) it left. A change sets the field when the
//! field's values as of that change differ from its values as of the change's parents, so
//! concurrent edits from two phones each show up, attributed to their own author.

use std::collections::HashMap;

use automerge::{ChangeHash, ObjId, ObjType, ROOT, ReadDoc, Value};
use casebook_core::doc::{Author, CaseDoc};
use chrono::{DateTime, Utc};

/// Changes looked at, newest last; older ones are left out of a very long history.
const MAX_CHANGES: usize = 2_000;

/// One change that set the field.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldChange {
    /// Who, if the change says.
    pub author: Option<Author>,
    /// When, by the author's clock.
    pub at: Option<DateTime<Utc>>,
    /// The field's values after the change (more than one while in conflict; none once
    /// deleted).
    pub values: Vec<String>,
}

/// Every change of `doc` that set the field at `path` (map keys from the root), oldest first.
pub fn field_history(doc: &mut CaseDoc, path: &[String]) -> Vec<FieldChange> {
    let authors: HashMap<String, (Option<Author>, Option<DateTime<Utc>>)> = doc
        .history()
        .into_iter()
        .map(|r| (r.hash, (r.author, r.at)))
        .collect();
    let mut am = doc.automerge().clone();
    let changes: Vec<(ChangeHash, Vec<ChangeHash>)> = am
        .get_changes_meta(&[])
        .into_iter()
        .map(|m| (m.hash, m.deps))
        .collect();
    let skip = changes.len().saturating_sub(MAX_CHANGES);
    let mut out = Vec::new();
    for (hash, parents) in changes.into_iter().skip(skip) {
        let after = values_at(&am, path, &[hash]);
        let before = values_at(&am, path, &parents);
        if after != before {
            let (author, at) = authors.get(&hash.to_string()).copied().unwrap_or_default();
            out.push(FieldChange {
                author,
                at,
                values: after,
            });
        }
    }
    out
}

/// The field's values as of `heads`, shown as text.
fn values_at<R: ReadDoc>(doc: &R, path: &[String], heads: &[ChangeHash]) -> Vec<String> {
    let Some((field, parents)) = path.split_last() else {
        return Vec::new();
    };
    let mut obj = ROOT;
    for key in parents {
        match doc.get_at(&obj, key.as_str(), heads) {
            Ok(Some((Value::Object(ObjType::Map), id))) => obj = id,
            _ => return Vec::new(),
        }
    }
    let Ok(all) = doc.get_all_at(&obj, field.as_str(), heads) else {
        return Vec::new();
    };
    all.into_iter()
        .map(|(value, id)| show(doc, value, &id, heads))
        .collect()
}

fn show<R: ReadDoc>(doc: &R, value: Value<'_>, id: &ObjId, heads: &[ChangeHash]) -> String {
    match value {
        Value::Scalar(s) => match s.as_ref() {
            automerge::ScalarValue::Str(t) if t.is_empty() => "(empty)".to_owned(),
            automerge::ScalarValue::Str(t) => super::page::value_label(t)
                .map(str::to_owned)
                .unwrap_or_else(|| t.to_string()),
            automerge::ScalarValue::Null => "(empty)".to_owned(),
            other => other.to_string(),
        },
        Value::Object(ObjType::Text) => doc.text_at(id, heads).unwrap_or_default(),
        Value::Object(ObjType::List) => {
            let n = doc.length_at(id, heads);
            format!("({n} items)")
        }
        Value::Object(_) => "(record)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use casebook_core::doc::{DocKind, Edit};
    use casebook_core::ids::{CaseId, DeviceId, UserId};
    use casebook_core::model::{Profile, new_case};
    use chrono::TimeZone;

    use super::*;

    fn edit(who: u8, minute: u32) -> Edit {
        Edit::new(
            Author {
                user: UserId::from_bytes([who; 16]),
                device: DeviceId::from_bytes([who; 16]),
            },
            Utc.with_ymd_and_hms(2026, 11, 30, 2, minute, 0)
                .single()
                .expect("time"),
        )
    }

    #[test]
    fn lists_who_set_a_field_and_what_it_became() {
        let profile = Profile {
            case_reference: "HUL-1".into(),
            given_name: "Anh".into(),
            ..Profile::default()
        };
        let mut doc = new_case(CaseId::from_bytes([3; 16]), &edit(1, 0), &profile)
            .expect("case")
            .into_iter()
            .find(|d| d.kind() == DocKind::Profile)
            .expect("profile");
        let mut p = doc.profile().expect("profile");
        p.nationality = "Vietnamese".into();
        doc.set_profile(&edit(2, 5), &p).expect("set");
        p.given_name = "Linh".into();
        doc.set_profile(&edit(3, 9), &p).expect("set");

        let name = field_history(&mut doc, &["given_name".to_owned()]);
        let who: Vec<_> = name
            .iter()
            .map(|c| (c.author.map(|a| a.user), c.values.clone()))
            .collect();
        assert_eq!(
            who,
            [
                (Some(UserId::from_bytes([1; 16])), vec!["Anh".to_owned()]),
                (Some(UserId::from_bytes([3; 16])), vec!["Linh".to_owned()]),
            ]
        );
        let nationality = field_history(&mut doc, &["nationality".to_owned()]);
        // Created empty with the case, then set by the second person.
        let set: Vec<_> = nationality
            .iter()
            .map(|c| (c.author.map(|a| a.user), c.values.clone()))
            .collect();
        assert_eq!(
            set,
            [
                (
                    Some(UserId::from_bytes([1; 16])),
                    vec!["(empty)".to_owned()]
                ),
                (
                    Some(UserId::from_bytes([2; 16])),
                    vec!["Vietnamese".to_owned()]
                ),
            ]
        );
        assert!(field_history(&mut doc, &["no_such_field".to_owned()]).is_empty());
    }
}
