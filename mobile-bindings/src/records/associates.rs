//! Persons of concern (the `associates` document).

use casebook_core::model as core;

/// A person of concern.
#[derive(Debug, Clone, PartialEq, Eq, Default, uniffi::Record)]
pub struct PersonOfConcern {
    /// Name as known.
    pub name: String,
    /// Other names.
    #[uniffi(default = [])]
    pub aliases: Vec<String>,
    /// Relationship to the child as the child describes it.
    #[uniffi(default = "")]
    pub relationship: String,
    /// Phone numbers.
    #[uniffi(default = [])]
    pub phone_numbers: Vec<String>,
    /// Vehicles.
    #[uniffi(default = [])]
    pub vehicles: Vec<String>,
    /// Places associated with them.
    #[uniffi(default = [])]
    pub places: Vec<String>,
    /// Further notes.
    #[uniffi(default = "")]
    pub notes: String,
    /// An organisation linked to them (a business, an agency); an interpreter from it is
    /// warned about.
    #[uniffi(default = "")]
    pub organisation: String,
    /// The version of its document this was read at: reads fill it in; keep it when you
    /// save, so the save writes only what was changed since and keeps what others wrote
    /// meanwhile. Empty for a record made from scratch (the save then writes every field
    /// that differs from the document now).
    #[uniffi(default = "")]
    pub version: String,
}

/// A person of concern with their entry id.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PersonEntry {
    /// Entry id.
    pub id: String,
    /// The person.
    pub person: PersonOfConcern,
}

impl From<core::PersonOfConcern> for PersonOfConcern {
    fn from(p: core::PersonOfConcern) -> Self {
        PersonOfConcern {
            name: p.name,
            aliases: p.aliases,
            relationship: p.relationship,
            phone_numbers: p.phone_numbers,
            vehicles: p.vehicles,
            places: p.places,
            notes: p.notes,
            organisation: p.organisation,
            version: String::new(),
        }
    }
}

impl From<PersonOfConcern> for core::PersonOfConcern {
    fn from(p: PersonOfConcern) -> Self {
        core::PersonOfConcern {
            name: p.name,
            aliases: p.aliases,
            relationship: p.relationship,
            phone_numbers: p.phone_numbers,
            vehicles: p.vehicles,
            places: p.places,
            notes: p.notes,
            organisation: p.organisation,
        }
    }
}
