//! The input of the police pack: exactly what a police call handler needs, and nothing else.
//!
//! [`PolicePack`] is a plain struct filled from the child's missing-person profile and the open
//! missing episode (the mapping from the case documents lives with those documents, not here).
//! It deliberately has **no field for visit notes, the `location` document or the placement
//! address**: what is not in the type cannot leak into the PDF. The placement address appears
//! only if the carer wrote it as where the child was last seen ([`LastSeen::place`]).

use chrono::{DateTime, FixedOffset, NaiveDate};

/// Everything the police pack shows. Empty strings and empty lists are shown as "Not recorded"
/// (or left out where a blank is clearer), so a partly filled profile still prints.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicePack {
    /// The child's full name, as the police should record it.
    pub name: String,
    /// Other names and spellings the child uses or has been recorded under.
    pub known_as: Vec<String>,
    /// Date of birth, if known.
    pub date_of_birth: Option<NaiveDate>,
    /// What is known about the child's age when the date of birth is not (or is disputed),
    /// e.g. "Age disputed; assessed as 15".
    pub age_note: String,
    /// A recent photograph: JPEG or PNG bytes, at most [`MAX_PHOTO_BYTES`](crate::MAX_PHOTO_BYTES).
    pub photo: Option<Vec<u8>>,
    /// Height, build, hair, complexion: free text.
    pub physical_description: String,
    /// Scars, tattoos, birthmarks.
    pub distinguishing_marks: String,
    /// Languages the child speaks, most fluent first.
    pub languages: Vec<String>,
    /// Whether an interpreter is needed to speak with the child.
    pub interpreter_needed: bool,
    /// Medical needs (medication, conditions).
    pub medical_needs: String,
    /// Vulnerabilities (e.g. known to be targeted for exploitation).
    pub vulnerabilities: String,
    /// Risk flags and risks, one per entry (shown as a list).
    pub risks: Vec<String>,
    /// What the child was wearing when last seen.
    pub clothing: String,
    /// When, where and with whom the child was last seen.
    pub last_seen: LastSeen,
    /// The circumstances of the disappearance.
    pub circumstances: String,
    /// Missing, or away from placement without authorisation; `None` before an episode.
    pub category: Option<MissingCategory>,
    /// The police reference for this episode, once the police have given one.
    pub police_reference: String,
    /// Places the child may go (addresses known), one per entry.
    pub places_may_go: Vec<String>,
    /// The child's phones and social-media accounts, one per entry.
    pub phones_and_accounts: Vec<String>,
    /// How many earlier missing episodes are recorded.
    pub previous_episodes: u32,
    /// The emergency number the child has memorised.
    pub memorised_emergency_number: String,
    /// People of concern shared into the profile by the guardian or social worker.
    pub people_of_concern: Vec<PersonOfConcern>,
    /// Who to call at the local authority.
    pub local_authority_contacts: Vec<LaContact>,
    /// When the pack was generated (passed in: the renderer reads no clock), with the offset
    /// of the local time the reader expects.
    pub generated_at: DateTime<FixedOffset>,
    /// Who generated the pack and on which device, e.g. "A. Carer (carer's phone)".
    pub generated_by: String,
}

/// When, where and with whom the child was last seen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LastSeen {
    /// When, if recorded.
    pub when: Option<DateTime<FixedOffset>>,
    /// Where, as the carer wrote it.
    pub place: String,
    /// With whom.
    pub with_whom: String,
}

/// The two categories English local authorities return to the DfE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MissingCategory {
    /// The child is missing: whereabouts unknown.
    Missing,
    /// The child is away from placement without authorisation (whereabouts known or thought known).
    AwayFromPlacementWithoutAuthorisation,
}

impl MissingCategory {
    /// The words printed on the pack.
    pub fn label(self) -> &'static str {
        match self {
            MissingCategory::Missing => "MISSING",
            MissingCategory::AwayFromPlacementWithoutAuthorisation => {
                "AWAY FROM PLACEMENT WITHOUT AUTHORISATION"
            }
        }
    }
}

/// A person of concern, shared into the profile from `associates`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PersonOfConcern {
    /// Name.
    pub name: String,
    /// Aliases and other spellings.
    pub aliases: Vec<String>,
    /// Phone numbers.
    pub phones: Vec<String>,
    /// Vehicles (make, colour, registration).
    pub vehicles: Vec<String>,
}

/// Someone to call at the local authority.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LaContact {
    /// Who (name and role, or team).
    pub who: String,
    /// Numbers to call in office hours.
    pub numbers: Vec<String>,
    /// The out-of-hours number.
    pub out_of_hours: String,
}
