//! The `location` document: where the child lives now and has lived. The most sensitive
//! document: the child's location is never divulged to enquirers, and only the assigned
//! guardian, social worker and supervisor ever receive it.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::doc::{CaseDoc, DocKind, Edit, Record};
use crate::error::Result;
use crate::ids::{EntryId, UserId};

/// The kind of placement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlacementType {
    /// Not yet recorded.
    #[default]
    NotRecorded,
    /// Foster care.
    FosterCare,
    /// A residential children's home.
    ResidentialHome,
    /// Specialist accommodation for victims of trafficking.
    Specialist,
    /// Supported accommodation (16-17 year olds).
    SupportedAccommodation,
    /// Emergency accommodation (never bed and breakfast).
    Emergency,
}

/// A placement.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Placement {
    /// The kind of placement.
    pub placement_type: PlacementType,
    /// The address. Two devices recording different addresses offline is a conflict a
    /// person must resolve.
    pub address: String,
    /// The carer or home, by name.
    pub carer_name: String,
    /// The carer's Casebook user, if they have one (the server links carers by its own tables).
    pub carer_user: Option<UserId>,
    /// When the placement started.
    pub started_on: Option<NaiveDate>,
    /// When it ended.
    pub ended_on: Option<NaiveDate>,
    /// Why it is out of area, safety features of the room, and similar.
    pub notes: String,
}

impl Record for Placement {
    const NAME: &'static str = "placement";
    const TEXT_FIELDS: &'static [&'static str] = &["notes"];
}

impl CaseDoc {
    /// The current placement (location document).
    pub fn current_placement(&self) -> Result<Placement> {
        self.expect_kind(DocKind::Location)?;
        self.read_at(&["current"])
    }

    /// Update the current placement, touching only the fields that differ.
    pub fn set_current_placement(&mut self, edit: &Edit, placement: &Placement) -> Result<()> {
        self.expect_kind(DocKind::Location)?;
        self.write_at(edit, &["current"], placement)
    }

    /// Move the child: the current placement goes to the history (ended on `ended_on`) under
    /// the fresh `history_id`, and `next` becomes current.
    pub fn move_placement(
        &mut self,
        edit: &Edit,
        history_id: EntryId,
        ended_on: NaiveDate,
        next: &Placement,
    ) -> Result<()> {
        let mut previous = self.current_placement()?;
        previous.ended_on = Some(ended_on);
        self.add_entry(edit, &["history"], history_id, &previous)?;
        self.set_current_placement(edit, next)
    }

    /// Past placements, by entry id.
    pub fn placement_history(&self) -> Result<Vec<(EntryId, Placement)>> {
        self.expect_kind(DocKind::Location)?;
        self.entries(&["history"])
    }
}
