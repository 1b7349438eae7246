//! The child's missing-person profile and the persons shared into it (the `safety`
//! document), as the app reads and writes them.

use std::time::SystemTime;

use casebook_core::doc::Version;
use casebook_core::model as core;

use super::{ReadAt, parse_opt_date, show_date, system};
use crate::error::CasebookError;

/// What the police need at once if the child goes missing (the Philomena Protocol's first
/// part), kept current by the carers and the case team. Every field may be blank.
#[derive(Debug, Clone, PartialEq, Eq, Default, uniffi::Record)]
pub struct MissingPersonProfile {
    /// The child's full name as the police should record it.
    #[uniffi(default = "")]
    pub name: String,
    /// Other names and spellings.
    #[uniffi(default = [])]
    pub known_as: Vec<String>,
    /// Date of birth, `YYYY-MM-DD`.
    #[uniffi(default = None)]
    pub date_of_birth: Option<String>,
    /// What is known about the age when the date of birth is not.
    #[uniffi(default = "")]
    pub age_note: String,
    /// Height, build, hair, complexion.
    #[uniffi(default = "")]
    pub physical_description: String,
    /// Scars, tattoos, birthmarks.
    #[uniffi(default = "")]
    pub distinguishing_marks: String,
    /// Languages, most fluent first.
    #[uniffi(default = [])]
    pub languages: Vec<String>,
    /// Whether an interpreter is needed.
    #[uniffi(default = false)]
    pub interpreter_needed: bool,
    /// Medical needs.
    #[uniffi(default = "")]
    pub medical_needs: String,
    /// Vulnerabilities.
    #[uniffi(default = "")]
    pub vulnerabilities: String,
    /// Places the child may go and addresses known, one per entry.
    #[uniffi(default = [])]
    pub places_may_go: Vec<String>,
    /// Phones and social-media accounts, one per entry.
    #[uniffi(default = [])]
    pub phones_and_accounts: Vec<String>,
    /// Earlier missing episodes (a note).
    #[uniffi(default = "")]
    pub previous_missing_episodes: String,
    /// The emergency number the child has memorised.
    #[uniffi(default = "")]
    pub memorised_emergency_number: String,
    /// Who to call at the local authority.
    #[uniffi(default = "")]
    pub local_authority_contact: String,
    /// Their numbers in office hours.
    #[uniffi(default = [])]
    pub local_authority_numbers: Vec<String>,
    /// The out-of-hours number.
    #[uniffi(default = "")]
    pub out_of_hours_number: String,
    /// The version of its document this was read at: keep it when you save, so the save
    /// writes only what was changed since. Empty for a profile made from scratch.
    #[uniffi(default = "")]
    pub version: String,
}

impl ReadAt for MissingPersonProfile {
    fn read_at(mut self, version: &Version) -> Self {
        self.version = version.to_string();
        self
    }
}

impl From<core::MissingPersonProfile> for MissingPersonProfile {
    fn from(p: core::MissingPersonProfile) -> Self {
        MissingPersonProfile {
            name: p.name,
            known_as: p.known_as,
            date_of_birth: show_date(p.date_of_birth),
            age_note: p.age_note,
            physical_description: p.physical_description,
            distinguishing_marks: p.distinguishing_marks,
            languages: p.languages,
            interpreter_needed: p.interpreter_needed,
            medical_needs: p.medical_needs,
            vulnerabilities: p.vulnerabilities,
            places_may_go: p.places_may_go,
            phones_and_accounts: p.phones_and_accounts,
            previous_missing_episodes: p.previous_missing_episodes,
            memorised_emergency_number: p.memorised_emergency_number,
            local_authority_contact: p.local_authority_contact,
            local_authority_numbers: p.local_authority_numbers,
            out_of_hours_number: p.out_of_hours_number,
            version: String::new(),
        }
    }
}

impl TryFrom<MissingPersonProfile> for core::MissingPersonProfile {
    type Error = CasebookError;
    fn try_from(p: MissingPersonProfile) -> Result<Self, CasebookError> {
        Ok(core::MissingPersonProfile {
            name: p.name,
            known_as: p.known_as,
            date_of_birth: parse_opt_date("date_of_birth", p.date_of_birth)?,
            age_note: p.age_note,
            physical_description: p.physical_description,
            distinguishing_marks: p.distinguishing_marks,
            languages: p.languages,
            interpreter_needed: p.interpreter_needed,
            medical_needs: p.medical_needs,
            vulnerabilities: p.vulnerabilities,
            places_may_go: p.places_may_go,
            phones_and_accounts: p.phones_and_accounts,
            previous_missing_episodes: p.previous_missing_episodes,
            memorised_emergency_number: p.memorised_emergency_number,
            local_authority_contact: p.local_authority_contact,
            local_authority_numbers: p.local_authority_numbers,
            out_of_hours_number: p.out_of_hours_number,
        })
    }
}

/// A person of concern shared into the profile: only their name, aliases, phone numbers and
/// vehicles, with who shared them and when.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SharedPerson {
    /// The person's id in `associates` (the same id unshares them).
    pub person_id: String,
    /// Name as known.
    pub name: String,
    /// Other names.
    pub aliases: Vec<String>,
    /// Phone numbers.
    pub phone_numbers: Vec<String>,
    /// Vehicles.
    pub vehicles: Vec<String>,
    /// Who shared them (user id).
    pub shared_by: Option<String>,
    /// When.
    pub shared_at: Option<SystemTime>,
}

impl SharedPerson {
    pub(crate) fn new(person_id: String, p: core::SharedPerson) -> Self {
        SharedPerson {
            person_id,
            name: p.name,
            aliases: p.aliases,
            phone_numbers: p.phone_numbers,
            vehicles: p.vehicles,
            shared_by: p.shared_by.map(|u| u.to_string()),
            shared_at: system(p.shared_at),
        }
    }
}
