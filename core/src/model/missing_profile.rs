//! The child's missing-person profile (the Philomena Protocol's first part), kept ready in the
//! `safety` document before anything happens, and the people of concern the guardian or social
//! worker shares into it from `associates` for the police.
//!
//! The profile is one record at the root key `missing_person_profile`; shared persons are
//! entries of the collection `shared_persons`, keyed by the `associates` person's id. Both are
//! in the skeleton of every case created since; a case created before gets them on its first
//! save (its reads give an empty profile and no shared persons until then).

use automerge::transaction::Transactable;
use automerge::{ROOT, ReadDoc};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::doc::{CaseDoc, DocKind, Edit, Record, to_fields};
use crate::error::Result;
use crate::ids::{EntryId, UserId};

use super::PersonOfConcern;

/// The root key of the profile in the `safety` document.
pub const PROFILE_KEY: &str = "missing_person_profile";

/// The collection of persons shared into the profile.
pub const SHARED_KEY: &str = "shared_persons";

/// What the police need to know at once if the child goes missing, kept current by the
/// carers and the case team. Every field may be blank: a partly filled profile still prints.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct MissingPersonProfile {
    /// The child's full name as the police should record it (carers do not hold the case
    /// profile, so the pack takes the name from here when that is all the device has).
    pub name: String,
    /// Other names and spellings the child uses or has been recorded under.
    pub known_as: Vec<String>,
    /// Date of birth, if known.
    pub date_of_birth: Option<NaiveDate>,
    /// What is known about the age when the date of birth is not ("age disputed; assessed
    /// as 15").
    pub age_note: String,
    /// Height, build, hair, complexion.
    pub physical_description: String,
    /// Scars, tattoos, birthmarks.
    pub distinguishing_marks: String,
    /// Languages the child speaks, most fluent first.
    pub languages: Vec<String>,
    /// Whether an interpreter is needed to speak with the child.
    pub interpreter_needed: bool,
    /// Medical needs (medication, conditions).
    pub medical_needs: String,
    /// Vulnerabilities (for example, known to be targeted for exploitation).
    pub vulnerabilities: String,
    /// Places the child may go, and addresses known, one per entry.
    pub places_may_go: Vec<String>,
    /// The child's phones and social-media accounts, one per entry.
    pub phones_and_accounts: Vec<String>,
    /// Earlier missing episodes (before this placement, or not recorded in Casebook).
    pub previous_missing_episodes: String,
    /// The emergency number the child has memorised.
    pub memorised_emergency_number: String,
    /// Who to call at the local authority (name and role, or team).
    pub local_authority_contact: String,
    /// Their numbers in office hours.
    pub local_authority_numbers: Vec<String>,
    /// The local authority's out-of-hours number.
    pub out_of_hours_number: String,
}

impl Record for MissingPersonProfile {
    const NAME: &'static str = "missing-person profile";
    const TEXT_FIELDS: &'static [&'static str] = &[
        "physical_description",
        "distinguishing_marks",
        "medical_needs",
        "vulnerabilities",
        "previous_missing_episodes",
    ];
}

/// A person of concern shared into the profile: only what the police need (name, aliases,
/// phone numbers, vehicles), never the relationship, places or notes kept in `associates`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SharedPerson {
    /// Name as known.
    pub name: String,
    /// Other names.
    pub aliases: Vec<String>,
    /// Phone numbers.
    pub phone_numbers: Vec<String>,
    /// Vehicles (make, colour, registration).
    pub vehicles: Vec<String>,
    /// Who shared them.
    pub shared_by: Option<UserId>,
    /// When.
    pub shared_at: Option<DateTime<Utc>>,
}

impl Record for SharedPerson {
    const NAME: &'static str = "shared person";
    const TEXT_FIELDS: &'static [&'static str] = &[];
}

impl SharedPerson {
    /// The part of `person` that may be shared, shared by `edit`'s author at its time.
    pub fn from_person(person: &PersonOfConcern, edit: &Edit) -> Self {
        SharedPerson {
            name: person.name.clone(),
            aliases: person.aliases.clone(),
            phone_numbers: person.phone_numbers.clone(),
            vehicles: person.vehicles.clone(),
            shared_by: Some(edit.author.user),
            shared_at: Some(edit.at),
        }
    }
}

impl CaseDoc {
    /// Whether the document has `key` at its root (a case created before the key was in the
    /// skeleton has not, until its first save).
    fn has_root(&self, key: &str) -> Result<bool> {
        Ok(self.automerge().get(ROOT, key)?.is_some())
    }

    /// The missing-person profile (empty if it was never saved in a case created before it
    /// was part of the skeleton).
    pub fn missing_person_profile(&self) -> Result<MissingPersonProfile> {
        self.expect_kind(DocKind::Safety)?;
        if !self.has_root(PROFILE_KEY)? {
            return Ok(MissingPersonProfile::default());
        }
        self.read_at(&[PROFILE_KEY])
    }

    /// Save the missing-person profile, touching only the fields that differ (inside
    /// [`CaseDoc::edit_from`], only those changed since it was read).
    pub fn set_missing_person_profile(
        &mut self,
        edit: &Edit,
        profile: &MissingPersonProfile,
    ) -> Result<()> {
        self.expect_kind(DocKind::Safety)?;
        if self.has_root(PROFILE_KEY)? {
            return self.write_at(edit, &[PROFILE_KEY], profile);
        }
        let fields = to_fields(profile)?;
        self.edit(edit, "add missing-person profile", |d| {
            crate::doc::create_map(
                d,
                &ROOT,
                PROFILE_KEY,
                &fields,
                MissingPersonProfile::TEXT_FIELDS,
            )
            .map(drop)
        })
    }

    /// Share `person` (an `associates` person's id and record) into the profile: their name,
    /// aliases, phone numbers and vehicles, with who shared them and when. Sharing again
    /// brings the shared copy up to date.
    pub fn share_person(
        &mut self,
        edit: &Edit,
        id: EntryId,
        person: &PersonOfConcern,
    ) -> Result<SharedPerson> {
        self.expect_kind(DocKind::Safety)?;
        let shared = SharedPerson::from_person(person, edit);
        if !self.has_root(SHARED_KEY)? {
            let fields = to_fields(&shared)?;
            let key = id.to_string();
            self.edit(edit, "add shared person", |d| {
                let parent = d.put_object(ROOT, SHARED_KEY, automerge::ObjType::Map)?;
                crate::doc::create_map(d, &parent, &key, &fields, SharedPerson::TEXT_FIELDS)
                    .map(drop)
            })?;
        } else if self.is_shared(id)? {
            self.update_entry(edit, &[SHARED_KEY], id, &shared)?;
        } else {
            self.add_entry(edit, &[SHARED_KEY], id, &shared)?;
        }
        Ok(shared)
    }

    /// Remove a shared person from the profile (the `associates` record is untouched).
    /// Unsharing someone not shared is `NoSuchEntry`.
    pub fn unshare_person(&mut self, edit: &Edit, id: EntryId) -> Result<()> {
        self.expect_kind(DocKind::Safety)?;
        if !self.is_shared(id)? {
            return Err(crate::error::Error::NoSuchEntry {
                kind: SharedPerson::NAME,
                id: id.to_string(),
            });
        }
        let parent = self.object(&[SHARED_KEY])?;
        let key = id.to_string();
        self.edit(edit, "remove shared person", |d| {
            d.delete(&parent, key.as_str())?;
            Ok(())
        })
    }

    /// Whether the person `id` is shared into the profile.
    pub fn is_shared(&self, id: EntryId) -> Result<bool> {
        self.expect_kind(DocKind::Safety)?;
        if !self.has_root(SHARED_KEY)? {
            return Ok(false);
        }
        let parent = self.object(&[SHARED_KEY])?;
        Ok(self
            .automerge()
            .get(&parent, id.to_string().as_str())?
            .is_some())
    }

    /// Every person shared into the profile, by their `associates` id.
    pub fn shared_persons(&self) -> Result<Vec<(EntryId, SharedPerson)>> {
        self.expect_kind(DocKind::Safety)?;
        if !self.has_root(SHARED_KEY)? {
            return Ok(Vec::new());
        }
        self.entries(&[SHARED_KEY])
    }
}

#[cfg(test)]
#[path = "missing_profile_tests.rs"]
mod tests;
