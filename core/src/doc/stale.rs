//! Saving records read at an older version of their document. A phone shows a record, a
//! sync brings a supervisor's sign-off, the guardian taps Save: only what the guardian
//! changed since the read is written, as a change made at the version read and merged, so
//! what reached the document meanwhile is kept. Text edits interleave; a field both sides
//! changed becomes a conflict that shows both values.
//!
//! A field is written when the record differs both from the version read (the person
//! changed it) and from the document now (it is not already there). Each save's commit note
//! records the version its record was read at, so a screen saved again from the same read
//! (an autosave, even after the app restarted) continues from this device's last save from
//! that read, found in the document's history, and its words are not applied twice.

use std::collections::HashSet;

use automerge::{ActorId, ChangeHash};
use rand::RngCore;
use serde_json::{Map, Value as Json};

use super::author::{CommitNote, Edit};
use super::case_doc::CaseDoc;
use super::codec;
use super::version::Version;
use crate::error::{Error, Result};
use crate::ids::DeviceId;

/// The version records were read at, while [`CaseDoc::edit_from`] runs.
#[derive(Debug)]
pub(crate) struct StaleBase {
    read: Version,
    /// Fresh actors for changes made at an older version: the device's own actor would
    /// repeat sequence numbers it has used since.
    actor_seed: [u8; 16],
    forks: u32,
}

impl CaseDoc {
    /// The document's current version, to hand out with records read from it.
    pub fn version(&mut self) -> Version {
        Version::new(self.automerge_mut().get_heads())
    }

    /// Run `f`, whose record writes (`set_profile`, `update_visit_note`, ...) save records
    /// read at `read`: each writes only the fields changed since the read and not already
    /// current, so edits that arrived after the read survive. A version this document never
    /// had is `InvalidInput` on `version`, and nothing is written.
    pub fn edit_from<R>(
        &mut self,
        read: &Version,
        rng: &mut dyn RngCore,
        f: impl FnOnce(&mut CaseDoc) -> Result<R>,
    ) -> Result<R> {
        let doc = self.automerge_mut();
        if read
            .heads()
            .iter()
            .any(|head| doc.get_change_by_hash(head).is_none())
        {
            return Err(Error::invalid("version", "not a version of this document"));
        }
        let mut actor_seed = [0; 16];
        rng.fill_bytes(&mut actor_seed);
        self.stale = Some(StaleBase {
            read: read.clone(),
            actor_seed,
            forks: 0,
        });
        let result = f(self);
        self.stale = None;
        result
    }

    /// [`CaseDoc::write_fields`] inside [`CaseDoc::edit_from`].
    pub(super) fn write_on_stale_base(
        &mut self,
        edit: &Edit,
        path: &[&str],
        fields: &Map<String, Json>,
        text_fields: &[&str],
        what: &str,
    ) -> Result<()> {
        let Some(stale) = self.stale.as_mut() else {
            return Err(Error::invalid("version", "no version to save from"));
        };
        stale.forks += 1;
        let mut actor = stale.actor_seed.to_vec();
        actor.extend(stale.forks.to_be_bytes());
        let read = stale.read.clone();
        let base = self.saved_from(&read, edit.author.device);
        let is = codec::read(self.automerge(), &self.object(path)?)?;

        // Nothing arrived since the base: write here, as any edit. Otherwise write on the
        // document as it was at the base, and merge that change in.
        let mut fork = if base == self.version() {
            None
        } else {
            let forked = self
                .automerge_mut()
                .fork_at(base.heads())
                .map_err(|_| Error::invalid("version", "not a version of this document"))?;
            let mut then = CaseDoc::wrap(self.id(), forked);
            then.actor = Some(ActorId::from(actor));
            Some(then)
        };
        let target = match fork.as_mut() {
            Some(then) => then,
            None => &mut *self,
        };
        let was = codec::read(target.automerge(), &target.object(path)?)?;
        let changed = changed_since(fields, &was, &is);
        if changed.is_empty() {
            return Ok(());
        }
        let obj = target.object(path)?;
        target.saving_from = Some(read);
        let written = target.edit(edit, what, |d| {
            codec::update_map(d, &obj, &changed, text_fields)
        });
        target.saving_from = None;
        written?;
        if let Some(mut then) = fork {
            self.automerge_mut().merge(then.automerge_mut())?;
        }
        Ok(())
    }

    /// `read` plus this device's saves of records read at `read`, from the history: each
    /// such save was made on top of the ones before it.
    ///
    /// A save continues the chain when each of its dependencies is either part of the read
    /// version's history or an earlier save of the chain. (automerge lists the writing actor's
    /// previous change among a change's dependencies even when another dependency already
    /// descends from it, so "every dependency is a head" would miss such a save and apply its
    /// words a second time.)
    fn saved_from(&mut self, read: &Version, device: DeviceId) -> Version {
        let read_text = read.to_string();
        let mut heads: Vec<ChangeHash> = read.heads().to_vec();
        let since_read = self.automerge_mut().get_changes(read.heads());
        let later: HashSet<ChangeHash> = since_read.iter().map(|c| c.hash()).collect();
        let mut chained: HashSet<ChangeHash> = HashSet::new();
        for change in since_read {
            let ours = CommitNote::parse(change.message()).is_some_and(|note| {
                note.device == device && note.read_at.as_deref() == Some(read_text.as_str())
            });
            let continues = change
                .deps()
                .iter()
                .all(|dep| !later.contains(dep) || chained.contains(dep));
            if ours && continues {
                heads.retain(|head| !change.deps().contains(head));
                heads.push(change.hash());
                chained.insert(change.hash());
            }
        }
        Version::new(heads)
    }
}

/// The fields of `mine` that differ from both `was` (the version read) and `is` (now),
/// looking inside maps present in all three.
fn changed_since(mine: &Map<String, Json>, was: &Json, is: &Json) -> Map<String, Json> {
    let mut changed = Map::new();
    for (key, value) in mine {
        let (then, now) = (was.get(key), is.get(key));
        if then == Some(value) || now == Some(value) {
            continue;
        }
        match (value, then, now) {
            (Json::Object(inner), Some(then @ Json::Object(_)), Some(now @ Json::Object(_))) => {
                let inner = changed_since(inner, then, now);
                if !inner.is_empty() {
                    changed.insert(key.clone(), Json::Object(inner));
                }
            }
            _ => {
                changed.insert(key.clone(), value.clone());
            }
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;
    use crate::doc::{Author, DocKind};
    use crate::ids::{CaseId, DeviceId, EntryId, UserId};
    use crate::model::{self, ReviewStatus, VisitNote};

    fn edit(rng: &mut StdRng, minute: u32) -> Edit {
        Edit::new(
            Author {
                user: UserId::random(rng),
                device: DeviceId::random(rng),
            },
            Utc.with_ymd_and_hms(2026, 11, 25, 9, minute, 0)
                .single()
                .expect("time"),
        )
    }

    /// A visits document with one note, on a guardian's phone and a supervisor's.
    fn two_copies(rng: &mut StdRng) -> (CaseDoc, CaseDoc, EntryId) {
        let profile = model::Profile {
            case_reference: "HUL-1".into(),
            ..model::Profile::default()
        };
        let mut phone = model::new_case(CaseId::random(rng), &edit(rng, 0), &profile)
            .expect("new case")
            .into_iter()
            .find(|d| d.kind() == DocKind::Visits)
            .expect("visits document");
        let id = phone.id();
        let note = EntryId::random(rng);
        let first = VisitNote {
            place: "foster home".into(),
            observations: "Quiet at first.".into(),
            ..VisitNote::default()
        };
        phone
            .add_visit_note(&edit(rng, 1), note, &first)
            .expect("add note");
        let bytes = phone.save();
        let office = CaseDoc::load(id, Some(&bytes), &[]).expect("load");
        (phone, office, note)
    }

    /// A note open on a screen: what was read, and the version it was read at.
    struct Screen {
        read_at: Version,
        note: EntryId,
        shown: VisitNote,
    }

    impl Screen {
        fn open(doc: &mut CaseDoc, note: EntryId) -> Self {
            Self {
                read_at: doc.version(),
                note,
                shown: doc.visit_note(note).expect("read"),
            }
        }

        /// Save what the screen shows, as a save from the version it was read at.
        fn save(&self, doc: &mut CaseDoc, rng: &mut StdRng, by: &Edit) -> Result<()> {
            doc.edit_from(&self.read_at, rng, |d| {
                d.update_visit_note(by, self.note, &self.shown)
            })
        }
    }

    fn sync(from: &mut CaseDoc, to: &mut CaseDoc) {
        let bytes = from.save();
        to.merge_bytes(&bytes).expect("merge");
    }

    /// The guardian's own note, then a supervisor's change made on top of it arrives; the
    /// guardian opens the note and saves the screen twice. The second save must continue from
    /// the first (automerge lists the guardian's earlier note among the first save's
    /// dependencies beside the supervisor's change, which descends from it).
    #[test]
    fn a_screen_opened_after_another_persons_change_saved_twice_applies_each_word_once() {
        let mut rng = StdRng::seed_from_u64(7);
        let guardian = edit(&mut rng, 1);
        let profile = model::Profile {
            case_reference: "HUL-2".into(),
            ..model::Profile::default()
        };
        let mut phone = model::new_case(CaseId::random(&mut rng), &guardian, &profile)
            .expect("new case")
            .into_iter()
            .find(|d| d.kind() == DocKind::Visits)
            .expect("visits document");
        let note = EntryId::random(&mut rng);
        phone
            .add_visit_note(&guardian, note, &VisitNote::default())
            .expect("add note");
        let mut office = CaseDoc::load(phone.id(), Some(&phone.save()), &[]).expect("load");
        office
            .add_visit_note(
                &edit(&mut rng, 2),
                EntryId::random(&mut rng),
                &VisitNote::default(),
            )
            .expect("supervisor's note");
        sync(&mut office, &mut phone);

        let mut screen = Screen::open(&mut phone, note);
        screen.shown.observations = " first".into();
        screen.save(&mut phone, &mut rng, &guardian).expect("save");
        screen.shown.observations = " first second".into();
        screen
            .save(&mut phone, &mut rng, &guardian)
            .expect("save again");
        assert_eq!(
            phone.visit_note(note).expect("read").observations,
            " first second"
        );
    }

    #[test]
    fn a_stale_save_keeps_a_sign_off_and_text_that_arrived_after_the_read() {
        let mut rng = StdRng::seed_from_u64(1);
        let (mut phone, mut office, note) = two_copies(&mut rng);
        // The guardian opens the note; then a sync brings the supervisor's sign-off and a
        // sentence the supervisor added.
        let mut screen = Screen::open(&mut phone, note);
        let supervisor = edit(&mut rng, 2);
        office
            .review_visit_note(&supervisor, note, ReviewStatus::SignedOff, "Good record")
            .expect("sign off");
        let mut corrected = office.visit_note(note).expect("read");
        corrected.observations = "Quiet at first. Supervisor: follow up school.".into();
        office
            .update_visit_note(&supervisor, note, &corrected)
            .expect("correct");
        sync(&mut office, &mut phone);

        // The guardian's Save of the record on screen, which knew none of that.
        screen.shown.observations = "Child said: quiet at first.".into();
        screen.shown.place = "school".into();
        let guardian = edit(&mut rng, 3);
        screen
            .save(&mut phone, &mut rng, &guardian)
            .expect("stale save");

        let saved = phone.visit_note(note).expect("read");
        assert_eq!(
            saved.review.status,
            ReviewStatus::SignedOff,
            "sign-off lost"
        );
        assert_eq!(saved.review.comment, "Good record");
        assert_eq!(saved.place, "school");
        assert_eq!(
            saved.observations, "Child said: quiet at first. Supervisor: follow up school.",
            "both text edits kept"
        );
        assert!(phone.conflicts().expect("conflicts").is_empty());

        // The same save again (an autosave of the same screen) changes nothing more.
        let before = phone.version();
        screen
            .save(&mut phone, &mut rng, &guardian)
            .expect("repeated save");
        assert_eq!(phone.version(), before, "a repeated save wrote again");

        // More typing on the same screen, saved again: only the new words are added.
        screen.shown.observations = "Child said: quiet at first, then laughed.".into();
        screen
            .save(&mut phone, &mut rng, &guardian)
            .expect("autosave");
        let saved = phone.visit_note(note).expect("read");
        assert_eq!(
            saved.observations,
            "Child said: quiet at first, then laughed. Supervisor: follow up school."
        );
        assert_eq!(saved.review.status, ReviewStatus::SignedOff);

        // The office gets the save and ends up with the same note.
        sync(&mut phone, &mut office);
        assert_eq!(office.visit_note(note).expect("read"), saved);
    }

    #[test]
    fn a_field_both_sides_changed_becomes_a_visible_conflict() {
        let mut rng = StdRng::seed_from_u64(2);
        let (mut phone, mut office, note) = two_copies(&mut rng);
        let mut screen = Screen::open(&mut phone, note);
        let mut theirs = office.visit_note(note).expect("read");
        theirs.place = "police station".into();
        office
            .update_visit_note(&edit(&mut rng, 2), note, &theirs)
            .expect("their edit");
        sync(&mut office, &mut phone);

        screen.shown.place = "school".into();
        let guardian = edit(&mut rng, 3);
        screen
            .save(&mut phone, &mut rng, &guardian)
            .expect("stale save");
        let conflicts = phone.conflicts().expect("conflicts");
        assert_eq!(conflicts.len(), 1, "{conflicts:?}");
        let mut values: Vec<_> = conflicts[0]
            .values
            .iter()
            .map(|v| v.value.clone())
            .collect();
        values.sort_by_key(ToString::to_string);
        assert_eq!(values, ["police station", "school"]);
    }

    #[test]
    fn a_save_at_the_current_version_is_a_plain_edit_and_an_unknown_version_is_refused() {
        let mut rng = StdRng::seed_from_u64(3);
        let (mut phone, _, note) = two_copies(&mut rng);
        let mut current = phone.visit_note(note).expect("read");
        current.place = "school".into();
        let now = phone.version();
        let guardian = edit(&mut rng, 2);
        phone
            .edit_from(&now, &mut rng, |d| {
                d.update_visit_note(&guardian, note, &current)
            })
            .expect("save");
        assert_eq!(phone.visit_note(note).expect("read").place, "school");

        let unknown = Version::new(vec![automerge::ChangeHash([9; 32])]);
        let before = phone.version();
        current.place = "elsewhere".into();
        let refused = phone.edit_from(&unknown, &mut rng, |d| {
            d.update_visit_note(&guardian, note, &current)
        });
        assert!(
            matches!(&refused, Err(Error::InvalidInput { field, .. }) if field == "version"),
            "{refused:?}"
        );
        assert_eq!(phone.version(), before);
    }

    #[test]
    fn saves_from_one_read_continue_after_a_reload_and_spare_this_devices_other_edits() {
        let mut rng = StdRng::seed_from_u64(4);
        let (mut phone, mut office, note) = two_copies(&mut rng);
        let guardian = edit(&mut rng, 2);
        let mut screen = Screen::open(&mut phone, note);

        // An autosave; then, on the same phone, a direct edit of the same note that is not
        // a save of this screen; then words from the office.
        screen.shown.observations = "Quiet at first. Drew a house.".into();
        screen
            .save(&mut phone, &mut rng, &guardian)
            .expect("autosave");
        phone
            .review_visit_note(&guardian, note, ReviewStatus::Submitted, "For review")
            .expect("submit");
        let mut theirs = office.visit_note(note).expect("read");
        theirs.observations.push_str(" Office: fine.");
        office
            .update_visit_note(&edit(&mut rng, 3), note, &theirs)
            .expect("office words");
        sync(&mut office, &mut phone);

        // The app restarts (or the document leaves memory): only bytes survive.
        let bytes = phone.save();
        let mut phone = CaseDoc::load(phone.id(), Some(&bytes), &[]).expect("reload");

        screen.shown.observations = "Quiet at first. Drew a house and a dog.".into();
        screen
            .save(&mut phone, &mut rng, &guardian)
            .expect("autosave after reload");
        let saved = phone.visit_note(note).expect("read");
        assert_eq!(
            saved.observations,
            "Quiet at first. Drew a house and a dog. Office: fine."
        );
        assert_eq!(
            saved.review.status,
            ReviewStatus::Submitted,
            "own edit undone"
        );
        assert_eq!(saved.review.comment, "For review");
    }
}
