//! The case's `safety` records a police pack is made from, and the choice a pack makes from
//! them: which episode (one named, else the latest open one, else none: a pack kept ready),
//! how many episodes came before it, and its risk flags as the core computes them at `now`.
//! Shared by the device (records read from its view) and the server (records read from the
//! `safety` document it stores), so both make the same pack from the same records.

use casebook_core::doc::CaseDoc;
use casebook_core::ids::EntryId;
use casebook_core::model::{
    MissingEpisode, MissingPersonProfile, PlanStep, Profile, RiskFlags, SharedPerson,
    episode_statuses,
};
use chrono::{DateTime, FixedOffset, Utc};

use crate::error::{PackError, Result};
use crate::from_case::{CaseRecords, police_pack};
use crate::model::PolicePack;

/// Everything of the `safety` document a police pack reads (nothing of visits, location or
/// associates: the persons shared into the profile are their own records in `safety`).
#[derive(Debug, Clone, Default)]
pub struct SafetyRecords {
    /// The missing-person profile.
    pub profile: MissingPersonProfile,
    /// The persons shared into it.
    pub shared: Vec<SharedPerson>,
    /// Every missing episode, by id.
    pub episodes: Vec<(EntryId, MissingEpisode)>,
    /// The protection plan's steps (for the "during supervision" flag).
    pub plan_steps: Vec<PlanStep>,
    /// When the child arrived at the placement (for the "first 48 hours" flag).
    pub placement_started_at: Option<DateTime<Utc>>,
}

/// Who and when, for the pack's footer and the flags.
#[derive(Debug, Clone, Copy)]
pub struct Generated<'a> {
    /// When, in the reader's local time (the flags are computed at this instant).
    pub at: DateTime<FixedOffset>,
    /// Who, e.g. "carer's device".
    pub by: &'a str,
}

impl SafetyRecords {
    /// The records read from a loaded `safety` document.
    ///
    /// # Errors
    /// The core's error if `doc` is not a `safety` document or a record does not read.
    pub fn from_doc(doc: &CaseDoc) -> casebook_core::Result<Self> {
        Ok(SafetyRecords {
            profile: doc.missing_person_profile()?,
            shared: doc.shared_persons()?.into_iter().map(|(_, p)| p).collect(),
            episodes: doc.missing_episodes()?,
            plan_steps: doc.plan_steps()?.into_iter().map(|(_, s)| s).collect(),
            placement_started_at: doc.placement_started_at()?,
        })
    }

    /// The episode `id`, if recorded.
    pub fn episode(&self, id: EntryId) -> Option<&MissingEpisode> {
        self.episodes
            .iter()
            .find(|(key, _)| *key == id)
            .map(|(_, e)| e)
    }

    /// The pack for `episode` (none: the latest open episode, or a pack kept ready if none is
    /// open), with the child's name from `child` where held, and `photo` (JPEG or PNG bytes).
    ///
    /// # Errors
    /// [`PackError::InvalidInput`] naming `episode_id` if `episode` is not recorded.
    pub fn police_pack(
        &self,
        episode: Option<EntryId>,
        child: Option<&Profile>,
        generated: Generated<'_>,
        photo: Option<Vec<u8>>,
    ) -> Result<PolicePack> {
        let chosen: Option<(EntryId, &MissingEpisode)> = match episode {
            Some(id) => Some(
                self.episode(id)
                    .map(|e| (id, e))
                    .ok_or_else(|| PackError::invalid("episode_id", "no such episode"))?,
            ),
            None => self
                .episodes
                .iter()
                .filter(|(_, e)| e.is_open())
                .max_by_key(|(_, e)| e.missing_since)
                .map(|(id, e)| (*id, e)),
        };
        let earlier = self
            .episodes
            .iter()
            .filter(|(id, e)| match chosen {
                Some((this_id, this)) => *id != this_id && e.missing_since < this.missing_since,
                None => true,
            })
            .count();
        let now = generated.at.with_timezone(&Utc);
        let flags = match chosen {
            Some((this_id, _)) => episode_statuses(
                &self.episodes,
                &self.plan_steps,
                self.placement_started_at,
                now,
            )
            .into_iter()
            .find(|s| s.id == this_id)
            .map(|s| s.flags)
            .unwrap_or_default(),
            None => RiskFlags::default(),
        };
        let records = CaseRecords {
            profile: &self.profile,
            shared: &self.shared,
            episode: chosen.map(|(_, e)| e),
            earlier_episodes: u32::try_from(earlier).unwrap_or(u32::MAX),
            flags,
            child,
            generated_at: generated.at,
            generated_by: generated.by,
        };
        Ok(police_pack(records, photo))
    }
}

#[cfg(test)]
mod tests {
    use casebook_core::doc::{Author, DocKind, Edit};
    use casebook_core::ids::{CaseId, DeviceId, UserId};
    use casebook_core::model::new_case;
    use chrono::{TimeDelta, TimeZone};

    use super::*;

    /// A case's `safety` document with the child placed at `placed`, two earlier episodes
    /// (returned) and one open: read back from the document, the open one is chosen, two
    /// came before it, and it is flagged a repeat and in the first 48 hours.
    #[test]
    fn the_records_of_a_safety_document_choose_the_open_episode_and_its_flags() {
        let placed = Utc
            .with_ymd_and_hms(2026, 11, 28, 18, 0, 0)
            .single()
            .expect("time");
        let now = placed + TimeDelta::hours(40);
        let edit = Edit::new(
            Author {
                user: UserId::from_bytes([1; 16]),
                device: DeviceId::from_bytes([2; 16]),
            },
            now,
        );
        let profile = Profile {
            case_reference: "HUL-1".into(),
            ..Profile::default()
        };
        let mut doc = new_case(CaseId::from_bytes([3; 16]), &edit, &profile)
            .expect("case")
            .into_iter()
            .find(|d| d.kind() == DocKind::Safety)
            .expect("safety");
        doc.set_placement_started_at(&edit, Some(placed))
            .expect("placed");
        doc.set_missing_person_profile(
            &edit,
            &MissingPersonProfile {
                name: "Nguyễn Thị Hương".into(),
                ..MissingPersonProfile::default()
            },
        )
        .expect("profile");
        let mut ids = Vec::new();
        for (n, hours) in [(4u8, 2), (5, 12), (6, 30)] {
            let id = EntryId::from_bytes([n; 16]);
            let since = placed + TimeDelta::hours(hours);
            let episode = MissingEpisode {
                missing_since: Some(since),
                returned_at: (hours < 30).then_some(since + TimeDelta::hours(3)),
                clothing: format!("clothing {n}"),
                ..MissingEpisode::default()
            };
            doc.start_missing_episode(&edit, id, &episode)
                .expect("episode");
            ids.push(id);
        }
        let records = SafetyRecords::from_doc(&doc).expect("records");
        assert_eq!(records.episodes.len(), 3);
        assert_eq!(records.placement_started_at, Some(placed));
        let generated = Generated {
            at: now.fixed_offset(),
            by: "server",
        };

        let pack = records
            .police_pack(None, None, generated, None)
            .expect("pack");
        assert_eq!(pack.name, "Nguyễn Thị Hương");
        assert_eq!(pack.clothing, "clothing 6");
        assert_eq!(pack.previous_episodes, 2);
        assert!(
            pack.risks.iter().any(|r| r.contains("48 hours")),
            "{:?}",
            pack.risks
        );
        assert!(
            pack.risks.iter().any(|r| r.contains("third or more")),
            "{:?}",
            pack.risks
        );

        // A named (ended) episode: the one before it counts, its own flags.
        let pack = records
            .police_pack(Some(ids[1]), None, generated, None)
            .expect("pack");
        assert_eq!(pack.clothing, "clothing 5");
        assert_eq!(pack.previous_episodes, 1);
        assert!(!pack.risks.iter().any(|r| r.contains("third or more")));

        let unknown =
            records.police_pack(Some(EntryId::from_bytes([7; 16])), None, generated, None);
        assert!(
            matches!(&unknown, Err(PackError::InvalidInput { field, .. }) if field == "episode_id"),
            "{unknown:?}"
        );
    }
}
