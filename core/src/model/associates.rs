//! The `associates` document: persons of concern (suspected traffickers and their contacts),
//! shared only with the assigned guardian, social worker and supervisor.

use serde::{Deserialize, Serialize};

use crate::doc::{CaseDoc, DocKind, Edit, Record};
use crate::error::Result;
use crate::ids::EntryId;

/// A person of concern.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PersonOfConcern {
    /// Name as known.
    pub name: String,
    /// Other names.
    pub aliases: Vec<String>,
    /// Relationship to the child as the child describes it ("uncle", "boss").
    pub relationship: String,
    /// Phone numbers.
    pub phone_numbers: Vec<String>,
    /// Vehicles (make, colour, registration).
    pub vehicles: Vec<String>,
    /// Places associated with them.
    pub places: Vec<String>,
    /// Further notes.
    pub notes: String,
    /// An organisation linked to them (a business, an agency), compared with an
    /// interpreter's agency by the link check.
    #[serde(default)]
    pub organisation: String,
}

impl Record for PersonOfConcern {
    const NAME: &'static str = "person of concern";
    const TEXT_FIELDS: &'static [&'static str] = &["notes"];
}

impl CaseDoc {
    /// Record a person of concern under the fresh `id`.
    pub fn add_person(&mut self, edit: &Edit, id: EntryId, person: &PersonOfConcern) -> Result<()> {
        self.expect_kind(DocKind::Associates)?;
        self.add_entry(edit, &["persons"], id, person)
    }

    /// Update a person of concern.
    pub fn update_person(
        &mut self,
        edit: &Edit,
        id: EntryId,
        person: &PersonOfConcern,
    ) -> Result<()> {
        self.expect_kind(DocKind::Associates)?;
        self.update_entry(edit, &["persons"], id, person)
    }

    /// Every person of concern.
    pub fn persons(&self) -> Result<Vec<(EntryId, PersonOfConcern)>> {
        self.expect_kind(DocKind::Associates)?;
        self.entries(&["persons"])
    }
}
