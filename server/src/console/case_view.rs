//! A case laid out for reading, from the documents the person may read (pure: the caller
//! loads only those). Each record (the profile card, NRM, immigration, visit notes with their
//! interpreter, actions and review, plan steps, checks, missing episodes) becomes a block of
//! labelled fields, each with the path its history page takes; conflicts carry every
//! competing value with who wrote it.

use std::collections::HashMap;

use casebook_core::doc::{Author, CaseDoc, DocKind};
use serde::Serialize;
use serde_json::Value as Json;

use super::page;

/// One field as shown.
#[derive(Debug, Clone)]
pub struct FieldLine {
    /// "Interpreter · name".
    pub label: String,
    /// The value as text ("—" when empty).
    pub value: String,
    /// The field's path in its document, `/`-joined, for its history page.
    pub path: String,
}

/// One record.
#[derive(Debug, Clone)]
pub struct Block {
    /// Its heading.
    pub title: String,
    /// Its fields.
    pub fields: Vec<FieldLine>,
    /// An open missing episode's id: the page offers its police pack.
    pub open_episode: Option<String>,
}

/// One section: a kind of record of one document.
#[derive(Debug, Clone)]
pub struct Section {
    /// The anchor and the test id ("visits").
    pub id: &'static str,
    /// The heading.
    pub title: &'static str,
    /// The document the records are in.
    pub doc: &'static str,
    /// The records.
    pub blocks: Vec<Block>,
    /// The document could not be read as its records.
    pub unreadable: bool,
    /// Which page of the records is shown (set by the page; all of them until then).
    pub paging: page::Paging,
}

/// One competing value of a conflict.
#[derive(Debug, Clone)]
pub struct ValueLine {
    /// As shown.
    pub shown: String,
    /// As JSON text, what the form sends back to choose it (`None`: a record, which cannot be
    /// chosen whole).
    pub chosen: Option<String>,
    /// Who wrote it.
    pub author: String,
    /// When.
    pub at: String,
}

/// One conflicted field.
#[derive(Debug, Clone)]
pub struct ConflictLine {
    /// The document kind.
    pub doc: &'static str,
    /// The field's path, `/`-joined.
    pub path: String,
    /// A readable label for it.
    pub label: String,
    /// The competing values.
    pub values: Vec<ValueLine>,
    /// Whether this person may resolve it (may write the document).
    pub can_resolve: bool,
}

/// The case as the page shows it.
#[derive(Debug, Clone, Default)]
pub struct CaseView {
    /// The child's name from the profile, when readable.
    pub child: String,
    /// The local authority's reference, when readable.
    pub reference: String,
    /// The sections, in reading order.
    pub sections: Vec<Section>,
    /// Every open conflict.
    pub conflicts: Vec<ConflictLine>,
    /// The documents shown.
    pub docs: Vec<&'static str>,
}

/// Who wrote what: user ids to names.
pub type Names = HashMap<String, String>;

/// A person's name for `author`, or "unknown".
pub fn author_name(names: &Names, author: Option<&Author>) -> String {
    author
        .and_then(|a| names.get(&a.user.to_string()).cloned())
        .unwrap_or_else(|| "unknown".to_owned())
}

fn humanise(key: &str) -> String {
    page::label(&key.to_owned())
}

fn looks_like_id(key: &str) -> bool {
    key.len() == 32 && key.bytes().all(|b| b.is_ascii_hexdigit())
}

fn scalar(value: &Json) -> String {
    match value {
        Json::Null => EMPTY.to_owned(),
        Json::Bool(true) => "Yes".to_owned(),
        Json::Bool(false) => "No".to_owned(),
        Json::String(s) if s.is_empty() => EMPTY.to_owned(),
        Json::String(s) if page::value_label(s).is_some() => {
            page::value_label(s).unwrap_or_default().to_owned()
        }
        Json::String(s) => match chrono::DateTime::parse_from_rfc3339(s) {
            Ok(t) => page::time(t.timestamp()),
            Err(_) => s.clone(),
        },
        Json::Number(n) => n.to_string(),
        Json::Array(items) if items.is_empty() => EMPTY.to_owned(),
        Json::Array(items) => items
            .iter()
            .map(|i| match i {
                Json::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join("; "),
        Json::Object(_) => "(record)".to_owned(),
    }
}

/// Flatten a record's JSON into labelled fields; nested records label as "Parent · field",
/// entries keyed by id as "Parent 1 · field".
fn flatten(value: &Json, label: &str, path: &mut Vec<String>, out: &mut Vec<FieldLine>) {
    match value {
        Json::Object(map) => {
            let mut index = 0;
            for (key, inner) in map {
                let part = if looks_like_id(key) {
                    index += 1;
                    format!("{label} {index}")
                } else if label.is_empty() {
                    humanise(key)
                } else {
                    format!("{label} · {}", humanise(key).to_lowercase())
                };
                path.push(key.clone());
                flatten(inner, &part, path, out);
                path.pop();
            }
        }
        other => out.push(FieldLine {
            label: label.to_owned(),
            value: scalar(other),
            path: path.join("/"),
        }),
    }
}

/// Shown for a field with nothing in it.
const EMPTY: &str = "—";

/// A record's fields with something in them, at `prefix` in its document, leaving out `skip`
/// (a page of empty fields is hard to read; an empty field has no history worth showing).
fn fields<T: Serialize>(record: &T, prefix: &[String], skip: &[&str]) -> Vec<FieldLine> {
    let Ok(Json::Object(mut map)) = serde_json::to_value(record) else {
        return Vec::new();
    };
    map.retain(|k, _| !skip.contains(&k.as_str()));
    let mut out = Vec::new();
    let mut path = prefix.to_vec();
    flatten(&Json::Object(map), "", &mut path, &mut out);
    out.retain(|f| f.value != EMPTY);
    out
}

fn block(title: String, fields: Vec<FieldLine>) -> Block {
    Block {
        title,
        fields,
        open_episode: None,
    }
}

fn section(
    id: &'static str,
    title: &'static str,
    doc: &'static str,
    read: Option<Vec<Block>>,
) -> Section {
    let unreadable = read.is_none();
    let blocks = read.unwrap_or_default();
    Section {
        id,
        title,
        doc,
        blocks,
        unreadable,
        paging: page::Paging::default(),
    }
}

fn when(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map(|t| page::time(t.timestamp()))
        .unwrap_or_else(|| "date not recorded".to_owned())
}

fn entry_prefix(collection: &str, id: impl ToString) -> Vec<String> {
    vec![collection.to_owned(), id.to_string()]
}

/// Lay out `docs` (only those the person may read; `writable` says which they may change).
pub fn build(docs: &mut [CaseDoc], writable: impl Fn(DocKind) -> bool, names: &Names) -> CaseView {
    let mut view = CaseView::default();
    for doc in docs.iter_mut() {
        let kind = doc.kind();
        view.docs.push(kind.as_str());
        match kind {
            DocKind::Profile => profile_sections(doc, &mut view),
            DocKind::Visits => view.sections.push(section(
                "visits",
                "Visit notes",
                "visits",
                doc.visit_notes()
                    .map(|notes| {
                        let mut notes = notes;
                        notes.sort_by_key(|(_, n)| std::cmp::Reverse(n.visited_at));
                        notes
                            .iter()
                            .map(|(id, n)| {
                                let title = format!("Visit, {}", when(n.visited_at));
                                block(title, fields(n, &entry_prefix("notes", id), &[]))
                            })
                            .collect()
                    })
                    .ok(),
            )),
            DocKind::Safety => safety_sections(doc, &mut view),
            DocKind::Location | DocKind::Associates => {}
        }
        if let Ok(conflicts) = doc.conflicts() {
            for c in conflicts {
                view.conflicts.push(ConflictLine {
                    doc: kind.as_str(),
                    path: c.path.join("/"),
                    label: c
                        .path
                        .iter()
                        .filter(|k| !looks_like_id(k))
                        .map(|k| humanise(k))
                        .collect::<Vec<_>>()
                        .join(" · "),
                    values: c
                        .values
                        .iter()
                        .map(|v| ValueLine {
                            shown: scalar(&v.value),
                            chosen: (!v.value.is_object() && !v.value.is_array())
                                .then(|| v.value.to_string()),
                            author: author_name(names, v.author.as_ref()),
                            at: when(v.at),
                        })
                        .collect(),
                    can_resolve: writable(kind),
                });
            }
        }
    }
    view
}

fn profile_sections(doc: &CaseDoc, view: &mut CaseView) {
    let profile = doc.profile();
    if let Ok(p) = &profile {
        view.child = p.display_name();
        view.reference = p.case_reference.clone();
    }
    let card = profile.as_ref().map(|p| {
        vec![block(
            "Profile".to_owned(),
            fields(p, &[], &["nrm", "immigration"]),
        )]
    });
    let nrm = profile.as_ref().map(|p| {
        vec![block(
            "National Referral Mechanism".to_owned(),
            fields(&p.nrm, &["nrm".to_owned()], &[]),
        )]
    });
    let immigration = profile.as_ref().map(|p| {
        vec![block(
            "Immigration and asylum".to_owned(),
            fields(&p.immigration, &["immigration".to_owned()], &[]),
        )]
    });
    view.sections
        .push(section("profile", "Profile", "profile", card.ok()));
    view.sections
        .push(section("nrm", "NRM", "profile", nrm.ok()));
    view.sections.push(section(
        "immigration",
        "Immigration",
        "profile",
        immigration.ok(),
    ));
}

fn safety_sections(doc: &CaseDoc, view: &mut CaseView) {
    view.sections.push(section(
        "missing",
        "Missing episodes",
        "safety",
        doc.missing_episodes()
            .map(|mut list| {
                list.sort_by_key(|(_, e)| std::cmp::Reverse(e.missing_since));
                list.iter()
                    .map(|(id, e)| {
                        let open = e.is_open();
                        let title = format!(
                            "{} since {}",
                            if open { "Missing" } else { "Was missing" },
                            when(e.missing_since)
                        );
                        let mut b =
                            block(title, fields(e, &entry_prefix("missing_episodes", id), &[]));
                        b.open_episode = open.then(|| id.to_string());
                        b
                    })
                    .collect()
            })
            .ok(),
    ));
    view.sections.push(section(
        "plan",
        "Safety plan steps",
        "safety",
        doc.plan_steps()
            .map(|steps| {
                steps
                    .iter()
                    .enumerate()
                    .map(|(i, (id, s))| {
                        block(
                            format!("Step {}", i + 1),
                            fields(s, &entry_prefix("plan_steps", id), &[]),
                        )
                    })
                    .collect()
            })
            .ok(),
    ));
    view.sections.push(section(
        "checks",
        "Safety checks",
        "safety",
        doc.safety_checks()
            .map(|mut checks| {
                checks.sort_by_key(|(_, c)| std::cmp::Reverse(c.checked_at));
                checks
                    .iter()
                    .map(|(id, c)| {
                        block(
                            format!("Check, {}", when(c.checked_at)),
                            fields(c, &entry_prefix("checks", id), &[]),
                        )
                    })
                    .collect()
            })
            .ok(),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_flatten_to_labelled_fields_with_their_paths() {
        let record = serde_json::json!({
            "place": "Foster home",
            "interpreter": { "name": "Mai", "child_consented": true },
            "actions": { "0123456789abcdef0123456789abcdef": { "description": "Call school" } },
            "attendees": ["Anh", "Gita"],
            "visited_at": null,
            "checked_at": "2026-11-30T02:10:00Z",
            "comment": "",
        });
        let lines = fields(&record, &["notes".into(), "n1".into()], &[]);
        let shown: Vec<(&str, &str, &str)> = lines
            .iter()
            .map(|l| (l.label.as_str(), l.value.as_str(), l.path.as_str()))
            .collect();
        assert!(shown.contains(&("Place", "Foster home", "notes/n1/place")));
        assert!(shown.contains(&("Interpreter · name", "Mai", "notes/n1/interpreter/name")));
        assert!(shown.contains(&(
            "Interpreter · child consented",
            "Yes",
            "notes/n1/interpreter/child_consented"
        )));
        assert!(shown.contains(&(
            "Actions 1 · description",
            "Call school",
            "notes/n1/actions/0123456789abcdef0123456789abcdef/description"
        )));
        assert!(shown.contains(&("Attendees", "Anh; Gita", "notes/n1/attendees")));
        assert!(shown.contains(&("Checked at", "2026-11-30 02:10 UTC", "notes/n1/checked_at")));
        assert!(
            !shown.iter().any(|(_, v, _)| *v == EMPTY),
            "empty fields are left out: {shown:?}"
        );
        assert_eq!(lines.len(), 6);
    }

    /// A case page shows the model's codes as plain English: the NRM route, a placement
    /// status, whether the child agreed to a step, never `home_office` or `not_recorded`.
    #[test]
    fn a_case_shows_labels_not_the_model_s_codes() {
        use casebook_core::doc::Edit;
        use casebook_core::ids::{CaseId, DeviceId, EntryId, UserId};
        use casebook_core::model::{
            ChildAgreement, ImmigrationOutcome, NrmRoute, PlanStep, Profile, new_case,
        };
        use chrono::TimeZone;

        let author = Author {
            user: UserId::from_bytes([1; 16]),
            device: DeviceId::from_bytes([1; 16]),
        };
        let at = chrono::Utc
            .with_ymd_and_hms(2026, 11, 30, 9, 0, 0)
            .single()
            .expect("time");
        let edit = Edit::new(author, at);
        let mut profile = Profile {
            case_reference: "HUL-LABELS".into(),
            given_name: "Anh".into(),
            ..Profile::default()
        };
        profile.nrm.route = NrmRoute::HomeOffice;
        profile.nrm.referred_on = chrono::NaiveDate::from_ymd_opt(2026, 11, 2);
        profile.immigration.outcome = ImmigrationOutcome::UascLeave;
        let mut docs = new_case(CaseId::from_bytes([2; 16]), &edit, &profile).expect("case");
        let safety = docs
            .iter_mut()
            .find(|d| d.kind() == DocKind::Safety)
            .expect("safety");
        let step = PlanStep {
            description: "Phone kept by the carers at night".into(),
            child_agreed: ChildAgreement::Agreed,
            restricts: true,
            ..PlanStep::default()
        };
        safety
            .add_plan_step(&edit, EntryId::from_bytes([3; 16]), &step)
            .expect("step");
        let view = build(&mut docs, |_| false, &Names::new());
        let shown: Vec<(String, String)> = view
            .sections
            .iter()
            .flat_map(|s| &s.blocks)
            .flat_map(|b| &b.fields)
            .map(|f| (f.label.clone(), f.value.clone()))
            .collect();
        let value_of = |label: &str| {
            shown
                .iter()
                .find(|(l, _)| l == label)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(value_of("Route"), Some("Home Office"), "{shown:?}");
        assert_eq!(value_of("Outcome"), Some("UASC leave"));
        assert_eq!(value_of("Child agreed"), Some("Agreed"));
        for raw in [
            "home_office",
            "not_recorded",
            "uasc_leave",
            "agreed",
            "not_asked",
        ] {
            assert!(
                !shown.iter().any(|(_, v)| v == raw),
                "{raw} shown raw: {shown:?}"
            );
        }
        assert!(shown.iter().any(|(_, v)| v == "Not recorded"), "{shown:?}");
    }

    #[test]
    fn every_labelled_value_is_a_code_given_once() {
        let mut seen = std::collections::HashSet::new();
        for (code, plain) in super::page::VALUE_LABELS_FOR_TESTS {
            assert!(
                code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{code}"
            );
            assert!(seen.insert(*code), "{code} twice");
            assert!(!plain.contains('_'), "{plain}");
        }
    }
}
