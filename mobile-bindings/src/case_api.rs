//! Exported calls on cases as a whole: the case list, creating a case, the profile, the
//! placement, and conflicts.

use casebook_core::doc::Version;
use casebook_core::ids::{CaseId, EntryId};
use casebook_core::model as core;
use casebook_core::view::{DocView, RowKind};
use chrono::Utc;
use rand::rngs::OsRng;

use crate::casebook::{Casebook, author, doc_id};
use crate::error::Result;
use crate::records::{
    CaseSummary, Conflict, DocKind, Placement, PlacementEntry, Profile, ReadAt, invalid,
    parse_date, parse_id,
};

#[uniffi::export]
impl Casebook {
    /// Every case this device holds (so every case this user may see, as of the last
    /// sync), ordered by reference. Loads no document.
    pub fn list_cases(&self) -> Result<Vec<CaseSummary>> {
        self.with_unlocked(|repo| Ok(repo.cases()?.into_iter().map(Into::into).collect()))
    }

    /// Open a new case on this device with `profile` (`case_reference` is required).
    /// Returns the new case id.
    pub fn create_case(&self, profile: Profile) -> Result<String> {
        let profile = core::Profile::try_from(profile)?;
        let case = self.with_unlocked(|repo| {
            let edit = casebook_core::doc::Edit::new(author(repo)?, Utc::now());
            Ok(repo.create_case(&edit, &mut OsRng, &profile)?)
        })?;
        self.notify_local(case, DocKind::Profile);
        Ok(case.to_string())
    }

    /// Which of the case's five documents this device holds (a carer's holds `Safety`).
    pub fn held_kinds(&self, case_id: String) -> Result<Vec<DocKind>> {
        let case: CaseId = parse_id("case_id", &case_id)?;
        self.with_unlocked(|repo| Ok(repo.held_kinds(case)?.into_iter().map(Into::into).collect()))
    }

    /// The child's profile (with the `version` it was read at). Read from the view: loads
    /// no document.
    pub fn profile(&self, case_id: String) -> Result<Profile> {
        let (version, view) = self.view_rows(&case_id, DocKind::Profile, RowKind::Profile, None)?;
        let profile: core::Profile = view.single("profile")?;
        Ok(Profile::from(profile).read_at(&version))
    }

    /// Save the profile: only what was changed since it was read (its `version`) is
    /// written, so edits that arrived meanwhile are kept.
    pub fn set_profile(&self, case_id: String, profile: Profile) -> Result<()> {
        let version = profile.version.clone();
        let profile = core::Profile::try_from(profile)?;
        self.save(&case_id, DocKind::Profile, &version, |d, e| {
            d.set_profile(e, &profile)
        })
    }

    /// The current placement (with the `version` it was read at). Read from the view.
    pub fn current_placement(&self, case_id: String) -> Result<Placement> {
        let (version, view) =
            self.view_rows(&case_id, DocKind::Location, RowKind::Placement, None)?;
        let placement: core::Placement = view.single("placement")?;
        Ok(Placement::from(placement).read_at(&version))
    }

    /// Save the current placement: only what was changed since it was read is written.
    pub fn set_current_placement(&self, case_id: String, placement: Placement) -> Result<()> {
        let version = placement.version.clone();
        let placement = core::Placement::try_from(placement)?;
        self.save(&case_id, DocKind::Location, &version, |d, e| {
            d.set_current_placement(e, &placement)
        })
    }

    /// Move the child: the current placement ends on `ended_on` (`YYYY-MM-DD`) and goes to
    /// the history, and `next` becomes current. Returns the history entry's id.
    pub fn move_placement(
        &self,
        case_id: String,
        ended_on: String,
        next: Placement,
    ) -> Result<String> {
        let ended_on = parse_date("ended_on", &ended_on)?;
        let next = core::Placement::try_from(next)?;
        let id = EntryId::random(&mut OsRng);
        self.edit(&case_id, DocKind::Location, |d, e| {
            d.move_placement(e, id, ended_on, &next)
        })?;
        Ok(id.to_string())
    }

    /// Past placements. Read from the view.
    pub fn placement_history(&self, case_id: String) -> Result<Vec<PlacementEntry>> {
        let (_, view) =
            self.view_rows(&case_id, DocKind::Location, RowKind::PlacementHistory, None)?;
        Ok(view
            .records::<core::Placement>()?
            .into_iter()
            .map(|(id, p)| PlacementEntry {
                id,
                placement: p.into(),
            })
            .collect())
    }

    /// Every open conflict in the case's documents held here.
    pub fn conflicts(&self, case_id: String) -> Result<Vec<Conflict>> {
        let case: CaseId = parse_id("case_id", &case_id)?;
        self.with_unlocked(|repo| Ok(repo.conflicts(case)?.into_iter().map(Into::into).collect()))
    }

    /// Resolve the conflict at `path` in document `kind` by choosing `chosen_json` (a single
    /// JSON value, usually one of the conflict's `value_json`s). The choice and the values it
    /// replaced are recorded in the document.
    pub fn resolve_conflict(
        &self,
        case_id: String,
        kind: DocKind,
        path: Vec<String>,
        chosen_json: String,
    ) -> Result<()> {
        let chosen: serde_json::Value = serde_json::from_str(&chosen_json)
            .map_err(|_| invalid("chosen_json", "is not valid JSON"))?;
        let id = EntryId::random(&mut OsRng);
        self.edit(&case_id, kind, |d, e| {
            d.resolve_conflict(e, &path, chosen, id)
        })
    }
}

impl Casebook {
    /// The view's rows of `row` in the case's `kind` document (only `record`'s, if given),
    /// with the document version they show. Loads no document.
    pub(crate) fn view_rows(
        &self,
        case_id: &str,
        kind: DocKind,
        row: RowKind,
        record: Option<&str>,
    ) -> Result<(Version, DocView)> {
        let doc = doc_id(case_id, kind)?;
        self.with_unlocked(|repo| {
            let view = repo.view(doc, row, record)?;
            Ok((view.version()?, view))
        })
    }
}
