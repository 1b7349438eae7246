//! Write rules per record: what each role may change in each document kind, decided by
//! comparing a document before and after a set of changes. Pure (no I/O): the server runs it
//! on a trial copy of the stored document before storing a device's changes, and the device
//! runs it before committing a local edit, so the user sees why an edit is refused.
//!
//! Every document holds a skeleton (`case`, `kind`, `resolutions` and the kind's collections,
//! created once by [`super::new_case`]) and records: entries of a collection keyed by fresh
//! ids, or a single record at a fixed place. The decision table:
//!
//! | record (kind)                                   | guardian, social worker, supervisor | carer                     | administrator |
//! | ----------------------------------------------- | ----------------------------------- | ------------------------- | ------------- |
//! | skeleton: `case`, `kind`, the collections (all) | nothing                             | nothing                   | nothing       |
//! | profile (profile)                               | change                              | -                         | nothing       |
//! | current placement, history (location)           | add, change                         | -                         | nothing       |
//! | visit notes (visits)                            | add, change                         | -                         | nothing       |
//! | a note's sign-off or return (visits)            | supervisor only, in their own name  | -                         | nothing       |
//! | persons of concern (associates)                 | add, change                         | -                         | nothing       |
//! | plan steps, `feel_safe`, `placement_started_at` | add, change                         | nothing                   | nothing       |
//! | a plan step's review (safety)                   | supervisor: add, change (own name)  | nothing                   | nothing       |
//! | safety checks, missing episodes (safety)        | add, change                         | add; change their own     | nothing       |
//! | missing-person photo reference (safety)         | add, change                         | add, change               | nothing       |
//! | missing-person profile (safety)                 | add, change                         | add, change               | nothing       |
//! | shared persons (safety)                         | add, change, remove                 | nothing                   | nothing       |
//! | resolutions (all)                               | add                                 | add                       | nothing       |
//!
//! "-": the role never receives the document (the server's access matrix). Nobody removes or
//! replaces an entry (records are retired, never deleted: a plan step has a status) except a
//! shared person, whom the case team unshares from the missing-person profile; nobody
//! adds a top-level field (except the missing-person profile and the shared persons in a
//! `safety` document created before they were in its skeleton) or creates a collection
//! again, and every added or changed record
//! must still read as its type. A carer creates no document. Every new change must carry a
//! commit note naming the writing user, so "their own" (the user whose change created the
//! entry) is trustworthy for everything the server stored under these rules.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use automerge::{Automerge, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value as Json};

use super::{
    MissingEpisode, MissingPersonProfile, PROFILE_KEY, PersonOfConcern, PhotoRef, Placement,
    PlanStep, Profile, Review, SHARED_KEY, SafetyCheck, SharedPerson, VisitNote,
};
use crate::doc::{CaseDoc, CheckedChanges, DocKind, Resolution};
use crate::error::{Error, Result};
use crate::ids::{DeviceId, EntryId, UserId};
use crate::view::touched::{Touched, touched, touched_by_patches};

/// The role a writer acts in (the server's roles, by their wire names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WriterRole {
    /// Independent child trafficking guardian.
    Guardian,
    /// Local authority social worker.
    SocialWorker,
    /// Foster or residential carer.
    Carer,
    /// Supervisor of a team.
    Supervisor,
    /// Administrator: changes no case document.
    Administrator,
}

impl WriterRole {
    /// Every role.
    pub const ALL: [WriterRole; 5] = [
        WriterRole::Guardian,
        WriterRole::SocialWorker,
        WriterRole::Carer,
        WriterRole::Supervisor,
        WriterRole::Administrator,
    ];

    /// The stable wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            WriterRole::Guardian => "guardian",
            WriterRole::SocialWorker => "social_worker",
            WriterRole::Carer => "carer",
            WriterRole::Supervisor => "supervisor",
            WriterRole::Administrator => "administrator",
        }
    }

    const fn is_case_team(self) -> bool {
        matches!(
            self,
            WriterRole::Guardian | WriterRole::SocialWorker | WriterRole::Supervisor
        )
    }
}

impl fmt::Display for WriterRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for WriterRole {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        WriterRole::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| Error::invalid("role", "unknown role"))
    }
}

/// Who is writing: the user and the role they act in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Writer {
    /// The user.
    pub user: UserId,
    /// Their role.
    pub role: WriterRole,
    /// The device sending the changes: every new change must name it in its commit note and
    /// carry its automerge actor (or a fork actor no other device has used), so nobody can
    /// write under another device's actor (which would also make automerge refuse that
    /// device's own next change as a duplicate sequence number).
    pub device: DeviceId,
}

/// Who a record belongs to, for the table above.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordClass {
    /// `case`, `kind` and the collections themselves.
    Skeleton,
    /// Profile, placements, visit notes, persons of concern: the case team's records.
    CaseRecord,
    /// Plan steps and `feel_safe`: the protection plan.
    Plan,
    /// A plan step's review fields (`review_outcome`, `reviewed_by`, `reviewed_at`,
    /// `reviewed_wording`): only a supervisor records (or withdraws) a review of a step that
    /// restricts the child (§41).
    PlanReview,
    /// Safety checks and missing episodes: the carers' log.
    CarerLog,
    /// Conflict resolutions: append-only.
    Resolution,
    /// The missing-person photo's reference: kept current by the carers and the case team.
    MissingPerson,
    /// The missing-person profile: kept by the carers and the case team.
    MissingProfile,
    /// Persons of concern shared into the missing-person profile: the case team's choice
    /// (they read `associates`), shared and unshared.
    SharedPerson,
}

/// What a change does to a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteAction {
    /// A new entry (or a document created).
    Add,
    /// A field of an existing record changed.
    Change,
    /// An entry or object deleted, or replaced by a new one.
    Remove,
}

/// The decision table: may `role` do `action` to a record of `class`? `own` says whether the
/// writer's user created the entry.
pub fn allowed(role: WriterRole, class: RecordClass, action: WriteAction, own: bool) -> bool {
    use RecordClass as C;
    use WriteAction as A;
    match (class, action) {
        (C::SharedPerson, _) => role.is_case_team(),
        (C::MissingProfile, A::Add | A::Change) => role.is_case_team() || role == WriterRole::Carer,
        (_, A::Remove) | (C::Skeleton, _) | (C::Resolution, A::Change) => false,
        (C::CaseRecord | C::Plan, A::Add | A::Change) => role.is_case_team(),
        (C::PlanReview, A::Add | A::Change) => role == WriterRole::Supervisor,
        (C::CarerLog, A::Add) => role.is_case_team() || role == WriterRole::Carer,
        (C::CarerLog, A::Change) => role.is_case_team() || (role == WriterRole::Carer && own),
        (C::MissingPerson, A::Add | A::Change) => role.is_case_team() || role == WriterRole::Carer,
        (C::Resolution, A::Add) => role != WriterRole::Administrator,
    }
}

/// One refused change: which record, and why (identifiers only, never content).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The record ("plan step 3f2a...", "skeleton plan_steps", "change 9b1c...").
    pub record: String,
    /// Why it is refused.
    pub reason: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.record, self.reason)
    }
}

/// A place in the document holding records of one class.
struct Part {
    key: &'static str,
    name: &'static str,
    entries: bool,
    class: RecordClass,
    reads: fn(Json) -> bool,
}

fn reads_as<T: DeserializeOwned>(json: Json) -> bool {
    serde_json::from_value::<T>(json).is_ok()
}

/// A photo reference that is well formed, or cleared (no attachment).
fn reads_as_photo(json: Json) -> bool {
    serde_json::from_value::<PhotoRef>(json)
        .is_ok_and(|p| p.attachment_id.is_empty() || p.is_well_formed())
}

fn is_text(json: Json) -> bool {
    json.is_string()
}

const RESERVED: [&str; 3] = ["case", "kind", "resolutions"];

/// A plan step's review fields ([`RecordClass::PlanReview`]); `reviewed_by` second.
const STEP_REVIEW_FIELDS: [&str; 4] = [
    "review_outcome",
    "reviewed_by",
    "reviewed_at",
    "reviewed_wording",
];

fn parts(kind: DocKind) -> Vec<Part> {
    let part = |key, name, entries, class, reads| Part {
        key,
        name,
        entries,
        class,
        reads,
    };
    let mut out = vec![part(
        "resolutions",
        "resolution",
        true,
        RecordClass::Resolution,
        reads_as::<Resolution> as fn(Json) -> bool,
    )];
    out.extend(match kind {
        // The profile's fields live at the root; they are compared as one record below.
        DocKind::Profile => vec![],
        DocKind::Location => vec![
            part(
                "current",
                "current placement",
                false,
                RecordClass::CaseRecord,
                reads_as::<Placement>,
            ),
            part(
                "history",
                "past placement",
                true,
                RecordClass::CaseRecord,
                reads_as::<Placement>,
            ),
        ],
        DocKind::Visits => vec![part(
            "notes",
            "visit note",
            true,
            RecordClass::CaseRecord,
            reads_as::<VisitNote>,
        )],
        DocKind::Safety => vec![
            part(
                "plan_steps",
                "plan step",
                true,
                RecordClass::Plan,
                reads_as::<PlanStep>,
            ),
            part("feel_safe", "feel_safe", false, RecordClass::Plan, is_text),
            part(
                super::PLACEMENT_STARTED_AT,
                "placement start",
                false,
                RecordClass::Plan,
                reads_as::<Option<chrono::DateTime<chrono::Utc>>>,
            ),
            part(
                "checks",
                "safety check",
                true,
                RecordClass::CarerLog,
                reads_as::<SafetyCheck>,
            ),
            part(
                "missing_episodes",
                "missing episode",
                true,
                RecordClass::CarerLog,
                reads_as::<MissingEpisode>,
            ),
            part(
                super::PHOTO_KEY,
                "missing-person photo",
                false,
                RecordClass::MissingPerson,
                reads_as_photo,
            ),
            part(
                PROFILE_KEY,
                "missing-person profile",
                false,
                RecordClass::MissingProfile,
                reads_as::<MissingPersonProfile>,
            ),
            part(
                SHARED_KEY,
                "shared person",
                true,
                RecordClass::SharedPerson,
                reads_as::<SharedPerson>,
            ),
        ],
        DocKind::Associates => vec![part(
            "persons",
            "person of concern",
            true,
            RecordClass::CaseRecord,
            reads_as::<PersonOfConcern>,
        )],
    });
    out
}

/// Check the changes that turn `before` into `after` (a document of `kind`) against the write
/// rules for `writer`. `Ok` if every change is allowed, else every violation found.
pub fn check_write(
    kind: DocKind,
    before: &Automerge,
    after: &Automerge,
    writer: &Writer,
) -> std::result::Result<(), Vec<Violation>> {
    run_check(kind, before, after, writer, None).verdict
}

/// What a check found: the verdict, and the new changes with what they touched (found on the
/// way, and reused by the repository's write).
struct Checked {
    verdict: std::result::Result<(), Vec<Violation>>,
    changes: Vec<automerge::Change>,
    touched: Option<Touched>,
}

/// `known_touched`: what the new changes touched when the caller already knows it (a local
/// edit's recorded diff); otherwise it is placed from the changes' operations.
fn run_check(
    kind: DocKind,
    before: &Automerge,
    after: &Automerge,
    writer: &Writer,
    known_touched: Option<Touched>,
) -> Checked {
    let mut check = Check {
        before,
        after,
        writer,
        violations: Vec::new(),
        creators: None,
        known_touched,
        touched: None,
        changes: Vec::new(),
    };
    check.run(kind);
    let verdict = if check.violations.is_empty() {
        Ok(())
    } else {
        Err(check.violations)
    };
    Checked {
        verdict,
        changes: check.changes,
        touched: check.touched,
    }
}

struct Check<'a> {
    before: &'a Automerge,
    after: &'a Automerge,
    writer: &'a Writer,
    violations: Vec<Violation>,
    /// (actor, first op, last op, author) of every change of `before`, read when needed.
    creators: Option<Vec<ChangeSpan>>,
    /// The `(root key, entry key)` pairs the new changes' operations touched (see
    /// [`crate::view::touched`]); `None` when they could not all be placed, and then every
    /// entry is compared.
    touched: Option<Touched>,
    /// What the new changes touched, when the caller already knew it (see [`run_check`]).
    known_touched: Option<Touched>,
    /// The changes `after` holds beyond `before`.
    changes: Vec<automerge::Change>,
}

/// A change's actor, its first and last op counters, and the user its commit note names.
type ChangeSpan = (automerge::ActorId, u64, u64, Option<UserId>);

/// The user (and device) a commit note names.
#[derive(Deserialize)]
struct NoteAuthor {
    user: UserId,
    #[serde(default)]
    device: Option<DeviceId>,
}

fn note_user(message: Option<&str>) -> Option<UserId> {
    serde_json::from_str::<NoteAuthor>(message?)
        .ok()
        .map(|n| n.user)
}

fn note_device(message: Option<&str>) -> Option<DeviceId> {
    serde_json::from_str::<NoteAuthor>(message?)
        .ok()
        .and_then(|n| n.device)
}

impl Check<'_> {
    fn refuse(&mut self, record: impl Into<String>, reason: impl Into<String>) {
        self.violations.push(Violation {
            record: record.into(),
            reason: reason.into(),
        });
    }

    fn decide(&mut self, record: String, class: RecordClass, action: WriteAction, own: bool) {
        if !allowed(self.writer.role, class, action, own) {
            let what = match action {
                WriteAction::Add => "add",
                WriteAction::Change => "change",
                WriteAction::Remove => "remove or replace",
            };
            let whose = if class == RecordClass::CarerLog && action == WriteAction::Change {
                " entries of others"
            } else {
                ""
            };
            let reason = format!("a {} may not {what}{whose} here", self.writer.role);
            self.refuse(record, reason);
        }
    }

    fn run(&mut self, kind: DocKind) {
        if self.writer.role == WriterRole::Administrator {
            self.refuse("document", "administrators change no case document");
            return;
        }
        self.check_authors();
        if self.before.keys(ROOT).next().is_none() {
            if !self.writer.role.is_case_team() {
                self.refuse("document", "only the case team creates a document");
            }
            if scalar_text(self.after, "kind").as_deref() != Some(kind.as_str()) {
                self.refuse("skeleton kind", "the document names another kind");
            }
            return;
        }
        let parts = parts(kind);
        self.check_skeleton(kind, &parts);
        if kind == DocKind::Profile {
            self.check_profile();
        }
        for part in &parts {
            if part.entries {
                self.check_entries(part);
            } else {
                self.check_single(part);
            }
        }
    }

    /// Every new change names the writing user in its commit note.
    fn check_authors(&mut self) {
        let heads = self.before.get_heads();
        let own_actor = automerge::ActorId::from(self.writer.device.as_bytes());
        let mut other_actors = Vec::new();
        let changes = self.after.get_changes(&heads);
        self.touched = match self.known_touched.take() {
            Some(known) => Some(known),
            None => touched(self.after, &changes),
        };
        for change in &changes {
            let hash = change.hash().to_string();
            let record = format!("change {}", &hash[..hash.len().min(12)]);
            if note_user(change.message()) != Some(self.writer.user) {
                self.refuse(record, "its recorded author is not the user writing");
                continue;
            }
            if note_device(change.message()) != Some(self.writer.device) {
                self.refuse(record, "its recorded device is not the device writing");
                continue;
            }
            let actor = change.actor_id();
            if *actor == own_actor {
                continue;
            }
            // A device id is 16 bytes and is its device's actor; a fork actor (a save of an
            // older read, `doc/stale.rs`) is longer. Another device's actor is never allowed.
            if actor.to_bytes().len() == own_actor.to_bytes().len() {
                self.refuse(record, "it is written under another device's actor");
                continue;
            }
            other_actors.push((actor.clone(), record));
        }
        self.changes = changes;
        if other_actors.is_empty() {
            return;
        }
        // A fork actor must not be one another device has already used in this document.
        let mut used_by_others = BTreeSet::new();
        for change in self.before.get_changes(&[]) {
            if note_device(change.message()) != Some(self.writer.device) {
                used_by_others.insert(change.actor_id().clone());
            }
        }
        for (actor, record) in other_actors {
            if used_by_others.contains(&actor) {
                self.refuse(record, "it is written under another device's actor");
            }
        }
    }

    /// No top-level value of `before` that is an object (or `case`/`kind`) is deleted or
    /// replaced, and no top-level field is added (except the profile's own fields).
    fn check_skeleton(&mut self, kind: DocKind, parts: &[Part]) {
        for key in self.before.keys(ROOT) {
            let old = values(self.before, &ROOT, &key);
            let new = values(self.after, &ROOT, &key);
            let old_objects: Vec<&ObjId> = old.iter().filter_map(object_id).collect();
            let fixed = key == "case" || key == "kind";
            let scalar_record = parts.iter().any(|p| !p.entries && p.key == key);
            // Two devices that each added the missing-person profile to a document created
            // before it was in the skeleton leave both objects, a conflict at its key (shown
            // as such); only that late record may gain a competing object.
            let late = kind == DocKind::Safety && key == PROFILE_KEY;
            let intact = if !old_objects.is_empty() {
                (new.len() == old.len() || (late && new.len() > old.len()))
                    && old_objects
                        .iter()
                        .all(|id| new.iter().filter_map(object_id).any(|n| n == *id))
            } else if fixed || (kind != DocKind::Profile && !scalar_record) {
                snapshot_key(self.before, &ROOT, &key) == snapshot_key(self.after, &ROOT, &key)
            } else {
                true
            };
            if !intact {
                self.decide(
                    format!("skeleton {key}"),
                    RecordClass::Skeleton,
                    WriteAction::Remove,
                    false,
                );
            }
        }
        if kind != DocKind::Profile {
            let known: BTreeSet<&str> = parts.iter().map(|p| p.key).chain(RESERVED).collect();
            for key in self.after.keys(ROOT) {
                if !known.contains(key.as_str())
                    && self.before.get(ROOT, key.as_str()).ok().flatten().is_none()
                {
                    self.decide(
                        format!("skeleton {key}"),
                        RecordClass::Skeleton,
                        WriteAction::Add,
                        false,
                    );
                }
            }
        }
    }

    /// The profile: every root field except the reserved ones, as one record.
    fn check_profile(&mut self) {
        let fields = |doc: &Automerge| -> Map<String, Json> {
            doc.keys(ROOT)
                .filter(|k| !RESERVED.contains(&k.as_str()))
                .map(|k| {
                    let value = snapshot_key(doc, &ROOT, &k);
                    (k, value)
                })
                .collect()
        };
        if fields(self.before) != fields(self.after) {
            self.decide(
                "profile".into(),
                RecordClass::CaseRecord,
                WriteAction::Change,
                false,
            );
            if !reads_as::<Profile>(plain(self.after, &ROOT)) {
                self.refuse("profile", "no longer reads as a profile");
            }
        }
    }

    fn check_single(&mut self, part: &Part) {
        let old = snapshot_key(self.before, &ROOT, part.key);
        let new = snapshot_key(self.after, &ROOT, part.key);
        if old == new {
            return;
        }
        self.decide(part.name.to_owned(), part.class, WriteAction::Change, false);
        // A single record is an object, or (the placement start) a scalar that must be
        // written anew rather than replace an object.
        let was_object = matches!(
            self.before.get(ROOT, part.key),
            Ok(Some((Value::Object(_), _)))
        );
        let readable = match self.after.get(ROOT, part.key) {
            Ok(Some((Value::Object(_), id))) => (part.reads)(plain(self.after, &id)),
            Ok(Some((Value::Scalar(s), _))) => !was_object && (part.reads)(scalar_json(&s)),
            _ => false,
        };
        if !readable {
            self.refuse(part.name, format!("no longer reads as a {}", part.name));
        }
    }

    fn check_entries(&mut self, part: &Part) {
        let old = single_object(self.before, &ROOT, part.key);
        let new = single_object(self.after, &ROOT, part.key);
        if let (None, Some(new_parent)) = (&old, &new)
            && values(self.before, &ROOT, part.key).is_empty()
        {
            // A collection added to a document created before it was in the skeleton (the
            // skeleton check allows only the known ones): every entry in it is new.
            for key in self.after.keys(new_parent) {
                let record = format!("{} {key}", part.name);
                if key.parse::<EntryId>().is_err() {
                    self.refuse(record.clone(), "an entry key must be a fresh id");
                }
                self.decide(record.clone(), part.class, WriteAction::Add, false);
                self.check_reads(part, new_parent, &key, record);
            }
            return;
        }
        let (Some(old_parent), Some(new_parent)) = (old, new) else {
            return; // A missing or replaced collection is a skeleton violation already.
        };
        if old_parent != new_parent {
            return;
        }
        let parent = old_parent;
        for key in self.before.keys(&parent) {
            if !self.may_have_changed(part.key, &key) {
                continue;
            }
            let record = format!("{} {key}", part.name);
            let old = values(self.before, &parent, &key);
            let new = values(self.after, &parent, &key);
            let kept = old
                .iter()
                .filter_map(object_id)
                .all(|id| new.iter().filter_map(object_id).any(|n| n == id))
                && new.len() >= old.len();
            if !kept {
                self.decide(record, part.class, WriteAction::Remove, false);
                continue;
            }
            if snapshot_key(self.before, &parent, &key) == snapshot_key(self.after, &parent, &key) {
                continue;
            }
            let own = part.class == RecordClass::CarerLog
                && self.writer.role == WriterRole::Carer
                && old
                    .iter()
                    .filter_map(object_id)
                    .all(|id| self.creator(id) == Some(self.writer.user));
            self.decide(record.clone(), part.class, WriteAction::Change, own);
            self.check_step_review(part, &parent, &key, &record);
            self.check_reads(part, &parent, &key, record.clone());
            self.check_review(part, &parent, &key, record);
        }
        for key in self.after.keys(&parent) {
            if self
                .before
                .get(&parent, key.as_str())
                .ok()
                .flatten()
                .is_some()
            {
                continue;
            }
            let record = format!("{} {key}", part.name);
            if key.parse::<EntryId>().is_err() {
                self.refuse(record.clone(), "an entry key must be a fresh id");
            }
            self.decide(record.clone(), part.class, WriteAction::Add, false);
            self.check_step_review(part, &parent, &key, &record);
            self.check_reads(part, &parent, &key, record.clone());
            self.check_review(part, &parent, &key, record);
        }
    }

    /// A plan step's review fields, changed (or set on a new step), are the supervisor's
    /// alone, and name the supervisor writing them.
    fn check_step_review(&mut self, part: &Part, parent: &ObjId, key: &str, record: &str) {
        if part.key != "plan_steps" {
            return;
        }
        let review = |doc: &Automerge| -> Vec<Json> {
            match doc.get(parent, key) {
                Ok(Some((Value::Object(_), entry))) => STEP_REVIEW_FIELDS
                    .iter()
                    .map(|field| snapshot_key(doc, &entry, field))
                    .collect(),
                _ => vec![Json::Null; STEP_REVIEW_FIELDS.len()],
            }
        };
        let (old, new) = (review(self.before), review(self.after));
        if old == new {
            return;
        }
        let action = if old.iter().all(Json::is_null) {
            WriteAction::Add
        } else {
            WriteAction::Change
        };
        let record = format!("{record} review");
        if !allowed(self.writer.role, RecordClass::PlanReview, action, false) {
            self.refuse(record, "only a supervisor records a review of a plan step");
            return;
        }
        let named = new.get(1).and_then(Json::as_str);
        if named != Some(self.writer.user.to_string().as_str()) {
            self.refuse(record, "a review must name the supervisor recording it");
        }
    }

    /// Whether entry `key` of the collection `collection` may differ between `before` and
    /// `after`: an entry no new operation touched is as it was, and comparing it (a long
    /// note's whole text, twice) is skipped.
    fn may_have_changed(&self, collection: &str, key: &str) -> bool {
        match &self.touched {
            None => true,
            Some(touched) => {
                touched.contains(&(collection.to_owned(), Some(key.to_owned())))
                    || touched.contains(&(collection.to_owned(), None))
            }
        }
    }

    fn check_reads(&mut self, part: &Part, parent: &ObjId, key: &str, record: String) {
        let readable = match self.after.get(parent, key) {
            Ok(Some((Value::Object(ObjType::Map), id))) => (part.reads)(plain(self.after, &id)),
            _ => false,
        };
        if !readable {
            self.refuse(record, format!("does not read as a {}", part.name));
        }
    }

    /// A visit note's review: a sign-off or return is a supervisor's, in their own name
    /// ([`super::visits::review_refusal`]).
    fn check_review(&mut self, part: &Part, parent: &ObjId, key: &str, record: String) {
        if part.class != RecordClass::CaseRecord || part.key != "notes" {
            return;
        }
        let review_of = |doc: &Automerge| -> Option<Review> {
            let (_, note) = doc.get(parent, key).ok().flatten()?;
            match doc.get(&note, "review").ok().flatten()? {
                (Value::Object(ObjType::Map), id) => serde_json::from_value(plain(doc, &id)).ok(),
                _ => None,
            }
        };
        let before = review_of(self.before).unwrap_or_default();
        // A review that does not read is refused by the note's own read check.
        let Some(after) = review_of(self.after) else {
            return;
        };
        if let Some(reason) = super::visits::review_refusal(&before, &after, self.writer) {
            self.refuse(record, reason);
        }
    }

    /// The user whose change created the object `id` in `before`.
    fn creator(&mut self, id: &ObjId) -> Option<UserId> {
        let ObjId::Id(counter, actor, _) = id else {
            return None;
        };
        let before = self.before;
        let creators = self.creators.get_or_insert_with(|| {
            before
                .get_changes(&[])
                .iter()
                .map(|c| {
                    (
                        c.actor_id().clone(),
                        c.start_op().get(),
                        c.max_op(),
                        note_user(c.message()),
                    )
                })
                .collect()
        });
        creators
            .iter()
            .find(|(a, first, last, _)| a == actor && first <= counter && counter <= last)
            .and_then(|(_, _, _, user)| *user)
    }
}

fn values<'a>(doc: &'a Automerge, obj: &ObjId, key: &str) -> Vec<(Value<'a>, ObjId)> {
    doc.get_all(obj, key).unwrap_or_default()
}

fn object_id<'a>(value: &'a (Value<'_>, ObjId)) -> Option<&'a ObjId> {
    match value {
        (Value::Object(_), id) => Some(id),
        _ => None,
    }
}

fn single_object(doc: &Automerge, obj: &ObjId, key: &str) -> Option<ObjId> {
    match values(doc, obj, key).as_slice() {
        [(Value::Object(_), id)] => Some(id.clone()),
        _ => None,
    }
}

fn scalar_text(doc: &Automerge, key: &str) -> Option<String> {
    match doc.get(ROOT, key) {
        Ok(Some((Value::Scalar(s), _))) => s.as_str().map(str::to_owned),
        _ => None,
    }
}

fn scalar_json(value: &ScalarValue) -> Json {
    match value {
        ScalarValue::Str(s) => Json::String(s.to_string()),
        ScalarValue::Int(i) | ScalarValue::Timestamp(i) => Json::from(*i),
        ScalarValue::Uint(u) => Json::from(*u),
        ScalarValue::F64(f) => Json::from(*f),
        ScalarValue::Counter(c) => Json::from(i64::from(c)),
        ScalarValue::Boolean(b) => Json::Bool(*b),
        ScalarValue::Bytes(b) => Json::String(hex::encode(b)),
        _ => Json::Null,
    }
}

/// The value at `obj[key]` with every competing value of a conflict (so a change that loses
/// a conflict is still seen), nested objects included.
fn snapshot_key(doc: &Automerge, obj: &ObjId, key: &str) -> Json {
    let mut all: Vec<Json> = values(doc, obj, key)
        .iter()
        .map(|v| snapshot_value(doc, v))
        .collect();
    match all.len() {
        0 => Json::Null,
        1 => all.remove(0),
        _ => Json::Object(Map::from_iter([("$conflict".to_owned(), Json::Array(all))])),
    }
}

fn snapshot_value(doc: &Automerge, value: &(Value<'_>, ObjId)) -> Json {
    match value {
        (Value::Scalar(s), _) => scalar_json(s),
        (Value::Object(ObjType::Text), id) => Json::String(doc.text(id).unwrap_or_default()),
        (Value::Object(ObjType::List), id) => Json::Array(
            (0..doc.length(id))
                .map(|i| {
                    let all = doc.get_all(id, i).unwrap_or_default();
                    Json::Array(all.iter().map(|v| snapshot_value(doc, v)).collect())
                })
                .collect(),
        ),
        (Value::Object(_), id) => Json::Object(
            doc.keys(id)
                .map(|k| {
                    let v = snapshot_key(doc, id, &k);
                    (k, v)
                })
                .collect(),
        ),
    }
}

/// The object `obj` as the typed reads see it (the winner of each conflict).
fn plain(doc: &Automerge, obj: &ObjId) -> Json {
    match doc.object_type(obj) {
        Ok(ObjType::Text) => Json::String(doc.text(obj).unwrap_or_default()),
        Ok(ObjType::List) => Json::Array(
            (0..doc.length(obj))
                .map(|i| plain_value(doc, doc.get(obj, i).ok().flatten()))
                .collect(),
        ),
        Ok(ObjType::Map | ObjType::Table) => Json::Object(
            doc.keys(obj)
                .map(|k| {
                    let v = plain_value(doc, doc.get(obj, k.as_str()).ok().flatten());
                    (k, v)
                })
                .collect(),
        ),
        Err(_) => Json::Null,
    }
}

fn plain_value(doc: &Automerge, value: Option<(Value<'_>, ObjId)>) -> Json {
    match value {
        None => Json::Null,
        Some((Value::Scalar(s), _)) => scalar_json(&s),
        Some((Value::Object(_), id)) => plain(doc, &id),
    }
}

impl CaseDoc {
    /// Run `f` on a trial copy and keep what it did only if the write rules allow it for
    /// `writer`; otherwise refuse with [`Error::NotPermitted`] naming the record, and nothing
    /// is written.
    pub fn edit_checked<R>(
        &mut self,
        writer: &Writer,
        f: impl FnOnce(&mut CaseDoc) -> Result<R>,
    ) -> Result<R> {
        let mut trial = self.trial();
        // automerge records what the edit makes visible as it runs: placing that is cheaper
        // than decoding every operation of the new changes (one per character of a note).
        trial.automerge_mut().update_diff_cursor();
        let value = f(&mut trial)?;
        let patches = trial.automerge_mut().diff_incremental();
        trial.automerge_mut().reset_diff_cursor();
        let kind = self.kind();
        let from = self.heads();
        let checked = run_check(
            kind,
            self.automerge_mut().document(),
            trial.automerge_mut().document(),
            writer,
            Some(touched_by_patches(&patches)),
        );
        if let Err(violations) = checked.verdict {
            return Err(Error::not_permitted(&violations));
        }
        self.checked = Some(CheckedChanges {
            from,
            to: trial.heads(),
            changes: checked.changes,
            touched: checked.touched,
        });
        // The trial is this document plus the allowed changes: it becomes the document
        // (merging its changes back would apply every operation a second time).
        std::mem::swap(self.automerge_mut(), trial.automerge_mut());
        Ok(value)
    }
}

impl Error {
    /// The error for refused changes: the first violation, and how many there were.
    pub fn not_permitted(violations: &[Violation]) -> Self {
        let (record, reason) = match violations.first() {
            Some(v) => (v.record.clone(), v.reason.clone()),
            None => ("document".to_owned(), "refused".to_owned()),
        };
        let reason = match violations.len() {
            0 | 1 => reason,
            n => format!("{reason} (and {} more)", n - 1),
        };
        Error::NotPermitted { record, reason }
    }
}

#[cfg(test)]
#[path = "write_rules_tests.rs"]
mod tests;
