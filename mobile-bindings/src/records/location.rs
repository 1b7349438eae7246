//! Placements: where the child lives now and has lived (the `location` document).

use casebook_core::model as core;

use super::{mirror_enum, parse_opt_date, parse_opt_id, show_date};
use crate::error::CasebookError;

mirror_enum!(
    /// The kind of placement.
    PlacementType <=> core::PlacementType {
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
        /// Emergency accommodation.
        Emergency,
    }
);

/// A placement. Dates are `YYYY-MM-DD`.
#[derive(Debug, Clone, PartialEq, Eq, Default, uniffi::Record)]
pub struct Placement {
    /// The kind of placement.
    pub placement_type: PlacementType,
    /// The address.
    #[uniffi(default = "")]
    pub address: String,
    /// The carer or home, by name.
    #[uniffi(default = "")]
    pub carer_name: String,
    /// The carer's Casebook user id, if they have one.
    #[uniffi(default = None)]
    pub carer_user: Option<String>,
    /// When the placement started.
    #[uniffi(default = None)]
    pub started_on: Option<String>,
    /// When it ended.
    #[uniffi(default = None)]
    pub ended_on: Option<String>,
    /// Notes (out of area, safety features of the room).
    #[uniffi(default = "")]
    pub notes: String,
    /// The version of its document this was read at: reads fill it in; keep it when you
    /// save, so the save writes only what was changed since and keeps what others wrote
    /// meanwhile. Empty for a record made from scratch (the save then writes every field
    /// that differs from the document now).
    #[uniffi(default = "")]
    pub version: String,
}

/// A past placement with its entry id.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PlacementEntry {
    /// Entry id.
    pub id: String,
    /// The placement.
    pub placement: Placement,
}

impl From<core::Placement> for Placement {
    fn from(p: core::Placement) -> Self {
        Placement {
            placement_type: p.placement_type.into(),
            address: p.address,
            carer_name: p.carer_name,
            carer_user: p.carer_user.map(|u| u.to_string()),
            started_on: show_date(p.started_on),
            ended_on: show_date(p.ended_on),
            notes: p.notes,
            version: String::new(),
        }
    }
}

impl TryFrom<Placement> for core::Placement {
    type Error = CasebookError;

    fn try_from(p: Placement) -> Result<Self, CasebookError> {
        Ok(core::Placement {
            placement_type: p.placement_type.into(),
            address: p.address,
            carer_name: p.carer_name,
            carer_user: parse_opt_id("carer_user", p.carer_user)?,
            started_on: parse_opt_date("started_on", p.started_on)?,
            ended_on: parse_opt_date("ended_on", p.ended_on)?,
            notes: p.notes,
        })
    }
}
