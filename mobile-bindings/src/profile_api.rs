//! Exported calls on the child's missing-person profile: reading and saving it, sharing
//! persons of concern into it from `associates` (the case team only), and the police pack
//! PDF made from it, as bytes for the app to share or print.

use casebook_core::client::DeviceIdentity;
use casebook_core::ids::{CaseId, EntryId};
use casebook_core::model as core;
use casebook_core::view::RowKind;
use casebook_pack::{Generated, SafetyRecords, render_police_pack};
use chrono::Utc;

use crate::casebook::{Casebook, author, doc_id, writer};
use crate::error::{CasebookError, Result};
use crate::records::{DocKind, MissingPersonProfile, ReadAt, SharedPerson, parse_id};

#[uniffi::export]
impl Casebook {
    /// The child's missing-person profile (with the `version` it was read at). Read from
    /// the view. Carers, guardians and social workers hold it.
    pub fn missing_person_profile(&self, case_id: String) -> Result<MissingPersonProfile> {
        let (version, view) = self.view_rows(
            &case_id,
            DocKind::Safety,
            RowKind::MissingPersonProfile,
            None,
        )?;
        let profile: core::MissingPersonProfile = view.first()?.unwrap_or_default();
        Ok(MissingPersonProfile::from(profile).read_at(&version))
    }

    /// Save the missing-person profile: only what was changed since it was read (its
    /// `version`) is written.
    pub fn set_missing_person_profile(
        &self,
        case_id: String,
        profile: MissingPersonProfile,
    ) -> Result<()> {
        let version = profile.version.clone();
        let profile = core::MissingPersonProfile::try_from(profile)?;
        self.save(&case_id, DocKind::Safety, &version, |d, e| {
            d.set_missing_person_profile(e, &profile)
        })
    }

    /// Share a person of concern (`person_id` from `persons`) into the missing-person
    /// profile: their name, aliases, phone numbers and vehicles only. The case team only
    /// (a carer's device holds no `associates`: `Forbidden`); the server audits it.
    pub fn share_person_into_profile(&self, case_id: String, person_id: String) -> Result<()> {
        let case: CaseId = parse_id("case_id", &case_id)?;
        let person: EntryId = parse_id("person_id", &person_id)?;
        self.with_unlocked(|repo| {
            let edit = casebook_core::doc::Edit::new(author(repo)?, Utc::now());
            let rules = writer(repo)?;
            repo.share_person_into_profile(case, person, &edit, rules.as_ref())?;
            Ok(())
        })?;
        self.notify_local(case, DocKind::Safety);
        Ok(())
    }

    /// Remove a shared person from the missing-person profile (the case team only).
    pub fn unshare_person_from_profile(&self, case_id: String, person_id: String) -> Result<()> {
        let case: CaseId = parse_id("case_id", &case_id)?;
        let person: EntryId = parse_id("person_id", &person_id)?;
        self.with_unlocked(|repo| {
            let edit = casebook_core::doc::Edit::new(author(repo)?, Utc::now());
            let rules = writer(repo)?;
            Ok(repo.unshare_person_from_profile(case, person, &edit, rules.as_ref())?)
        })?;
        self.notify_local(case, DocKind::Safety);
        Ok(())
    }

    /// The persons shared into the missing-person profile. Read from the view.
    pub fn shared_persons(&self, case_id: String) -> Result<Vec<SharedPerson>> {
        let case: CaseId = parse_id("case_id", &case_id)?;
        self.with_unlocked(|repo| {
            Ok(repo
                .shared_persons(case)?
                .into_iter()
                .map(|(id, p)| SharedPerson::new(id.to_string(), p))
                .collect())
        })
    }

    /// The police pack as PDF bytes (A4), made offline from the missing-person profile,
    /// the shared persons and the episode `episode_id` (none: the latest open episode, or
    /// a pack kept ready if there is none). Nothing from visits, location or associates.
    pub fn police_pack_pdf(&self, case_id: String, episode_id: Option<String>) -> Result<Vec<u8>> {
        let case: CaseId = parse_id("case_id", &case_id)?;
        let episode_id: Option<EntryId> = episode_id
            .map(|id| parse_id("episode_id", &id))
            .transpose()?;
        let safety = doc_id(&case_id, DocKind::Safety)?;
        let (records, child, by, photo) = self.with_unlocked(|repo| {
            let profile = repo.missing_person_profile(case)?;
            let shared: Vec<core::SharedPerson> = repo
                .shared_persons(case)?
                .into_iter()
                .map(|(_, p)| p)
                .collect();
            let episodes = repo
                .view(safety, RowKind::MissingEpisode, None)?
                .records::<core::MissingEpisode>()?
                .into_iter()
                .filter_map(|(key, e)| Some((key.parse::<EntryId>().ok()?, e)))
                .collect();
            let plan_steps: Vec<core::PlanStep> = repo
                .view(safety, RowKind::PlanStep, None)?
                .records::<core::PlanStep>()?
                .into_iter()
                .map(|(_, s)| s)
                .collect();
            let placement_started_at = repo
                .view(safety, RowKind::PlacementStart, None)?
                .first::<Option<chrono::DateTime<chrono::Utc>>>()?
                .flatten();
            let photo = repo.profile_photo(case)?;
            let child = if repo.holds(doc_id(&case_id, DocKind::Profile)?)? {
                repo.view(doc_id(&case_id, DocKind::Profile)?, RowKind::Profile, None)?
                    .first::<core::Profile>()?
            } else {
                None
            };
            let by = DeviceIdentity::load(repo.store())?
                .map(|i| format!("{}'s device", i.role.replace('_', " ")))
                .unwrap_or_else(|| "a device not yet enrolled".to_owned());
            let records = SafetyRecords {
                profile,
                shared,
                episodes,
                plan_steps,
                placement_started_at,
            };
            Ok((records, child, by, photo))
        })?;
        let generated = Generated {
            at: chrono::Local::now().fixed_offset(),
            by: &by,
        };
        let pack = records
            .police_pack(episode_id, child.as_ref(), generated, photo)
            .map_err(pack_error)?;
        render_police_pack(&pack).map_err(pack_error)
    }
}

/// A pack error as the bindings' error: a rule broken names its field, anything else is
/// internal.
fn pack_error(e: casebook_pack::PackError) -> CasebookError {
    match e {
        casebook_pack::PackError::InvalidInput { field, reason } => {
            CasebookError::InvalidInput { field, reason }
        }
        other => CasebookError::Internal {
            reason: other.to_string(),
        },
    }
}
