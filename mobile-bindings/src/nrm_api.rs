//! Exported calls on the NRM record (referral, route, panel decisions) and a case's
//! deadline list.

use std::time::SystemTime;

use casebook_core::ids::EntryId;
use casebook_core::model as core;
use casebook_core::view::{EpisodeRow, RowKind};

use crate::casebook::{Casebook, doc_id};
use crate::error::Result;
use crate::records::{Deadline, DocKind, Nrm, ReadAt, instant, parse_id};

#[uniffi::export]
impl Casebook {
    /// The NRM record (with the `version` of the profile document it was read at). Read
    /// from the view.
    pub fn nrm(&self, case_id: String) -> Result<Nrm> {
        let (version, view) = self.view_rows(&case_id, DocKind::Profile, RowKind::Profile, None)?;
        let profile: core::Profile = view.single("profile")?;
        Ok(Nrm::from(profile.nrm).read_at(&version))
    }

    /// Save the NRM record: only what was changed since it was read (its `version`) is
    /// written. Checked first (`InvalidInput` naming the field, nothing written): a decision
    /// dated before the referral or in the future, a conclusive decision before reasonable
    /// grounds, a panel decision without social care, police and health, an unknown agency.
    pub fn set_nrm(&self, case_id: String, nrm: Nrm) -> Result<()> {
        let version = nrm.version.clone();
        let nrm = core::Nrm::try_from(nrm)?;
        self.save(&case_id, DocKind::Profile, &version, |d, e| {
            d.set_nrm(e, &nrm)
        })
    }

    /// The case's deadlines at `now`, soonest first, with overdue flags: NRM decisions,
    /// return interviews, plan reviews, asylum and leave, the pathway plan from 16, a
    /// personal adviser, the 18th birthday, and overdue safety checks (kind `SAFETY_CHECK`,
    /// record `plan_steps/<id>`). Computed offline from the view (a device without the
    /// profile, a carer's, lists the return interviews and safety checks only).
    pub fn deadlines(&self, case_id: String, now: SystemTime) -> Result<Vec<Deadline>> {
        let now = instant("now", now)?;
        let profile_doc = doc_id(&case_id, DocKind::Profile)?;
        let safety_doc = doc_id(&case_id, DocKind::Safety)?;
        let (profile, episodes, steps, checks) = self.with_unlocked(|repo| {
            let profile = if repo.holds(profile_doc)? {
                repo.view(profile_doc, RowKind::Profile, None)?
                    .first::<core::Profile>()?
            } else {
                None
            };
            if !repo.holds(safety_doc)? {
                return Ok((profile, Vec::new(), Vec::new(), Vec::new()));
            }
            let episodes = repo
                .view(safety_doc, RowKind::MissingEpisode, None)?
                .records::<EpisodeRow>()?;
            let steps = repo
                .view(safety_doc, RowKind::PlanStep, None)?
                .records::<core::PlanStep>()?;
            let checks = repo
                .view(safety_doc, RowKind::SafetyCheck, None)?
                .records::<core::SafetyCheck>()?;
            Ok((profile, episodes, steps, checks))
        })?;
        let episodes = episodes
            .into_iter()
            .map(|(id, row)| Ok((parse_id::<EntryId>("episode_id", &id)?, row.episode)))
            .collect::<Result<Vec<_>>>()?;
        let steps = steps
            .into_iter()
            .map(|(id, step)| Ok((parse_id::<EntryId>("step_id", &id)?, step)))
            .collect::<Result<Vec<_>>>()?;
        let checks = checks
            .into_iter()
            .map(|(id, check)| Ok((parse_id::<EntryId>("check_id", &id)?, check)))
            .collect::<Result<Vec<_>>>()?;
        Ok(
            core::case_deadlines(profile.as_ref(), &episodes, &steps, &checks, now)?
                .into_iter()
                .map(Deadline::from)
                .collect(),
        )
    }
}
