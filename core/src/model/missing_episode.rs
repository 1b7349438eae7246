//! A missing-from-care episode (statutory guidance, paragraphs 39-44): what a carer records
//! at 2 a.m. when the child is not where they should be, who was told and when, the return,
//! and the return interview. Episodes live in the `safety` document's `missing_episodes`
//! collection. Validation refuses only what is clearly wrong (an end before the start, times
//! in the future); the computed due times and risk flags are in `missing_status.rs`.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::doc::{CaseDoc, DocId, DocKind, Edit, Record};
use crate::error::{Error, Result};
use crate::ids::EntryId;

/// How far past the writer's clock a recorded time may be before it is refused as "in the
/// future": phones' clocks drift, and a carer rounds "about now" up.
pub const CLOCK_SKEW: TimeDelta = TimeDelta::minutes(10);

/// The two categories English local authorities return to the DfE (SSDA903 "missing" and
/// "away from placement without authorisation").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EpisodeCategory {
    /// Missing: not at the placement, and whereabouts not known.
    #[default]
    Missing,
    /// Away from placement without authorisation: whereabouts known (or thought known), but
    /// not where they should be.
    AwayFromPlacement,
}

/// Where the return interview stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReturnInterviewOutcome {
    /// Not yet held (and not declined).
    #[default]
    NotYet,
    /// Held.
    Done,
    /// Offered and declined by the child.
    Declined,
}

/// A missing-from-care episode, from noticing the child is missing to the return interview.
/// Every field has a default, so episodes recorded before a field existed still read.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct MissingEpisode {
    /// Missing, or away from placement without authorisation.
    pub category: EpisodeCategory,
    /// When the child was noticed missing (required: the episode starts here).
    pub missing_since: Option<DateTime<Utc>>,
    /// When the child was last seen.
    pub last_seen_at: Option<DateTime<Utc>>,
    /// Where the child was last seen (free text; records older than `last_seen_at` also
    /// hold when and with whom here).
    pub last_seen: String,
    /// Who the child was last seen with.
    pub last_seen_with: String,
    /// What the child was wearing.
    pub clothing: String,
    /// Circumstances and actions taken.
    pub circumstances: String,
    /// When reported to the police.
    pub reported_to_police_at: Option<DateTime<Utc>>,
    /// The police reference.
    pub police_reference: String,
    /// When the social worker or the out-of-hours team was told.
    pub social_worker_told_at: Option<DateTime<Utc>>,
    /// Who at the local authority was told (the social worker, or the out-of-hours team
    /// and the worker's name).
    pub social_worker_told: String,
    /// When the guardian was told.
    pub guardian_told_at: Option<DateTime<Utc>>,
    /// When the child returned or was found (the episode ends here).
    pub returned_at: Option<DateTime<Utc>>,
    /// Where the child was found or returned to.
    pub found_where: String,
    /// Who found or brought back the child.
    pub found_by: String,
    /// When a return interview was offered.
    pub return_interview_offered_at: Option<DateTime<Utc>>,
    /// Who offered it (an independent person, usually commissioned by the local authority).
    pub return_interview_offered_by: String,
    /// Whether the interview was held or declined.
    pub return_interview_outcome: ReturnInterviewOutcome,
    /// When it was held.
    pub return_interview_done_at: Option<DateTime<Utc>>,
    /// What the child said at the return interview.
    pub return_interview: String,
}

impl Record for MissingEpisode {
    const NAME: &'static str = "missing episode";
    const TEXT_FIELDS: &'static [&'static str] = &[
        "circumstances",
        "return_interview",
        "last_seen",
        "clothing",
        "found_where",
    ];
}

impl MissingEpisode {
    /// Whether the child is still missing.
    pub fn is_open(&self) -> bool {
        self.returned_at.is_none()
    }

    /// Every recorded instant, with its field name.
    fn times(&self) -> [(&'static str, Option<DateTime<Utc>>); 8] {
        [
            ("missing_since", self.missing_since),
            ("last_seen_at", self.last_seen_at),
            ("reported_to_police_at", self.reported_to_police_at),
            ("social_worker_told_at", self.social_worker_told_at),
            ("guardian_told_at", self.guardian_told_at),
            ("returned_at", self.returned_at),
            (
                "return_interview_offered_at",
                self.return_interview_offered_at,
            ),
            ("return_interview_done_at", self.return_interview_done_at),
        ]
    }

    /// Refuse what is clearly wrong, naming the field: no `missing_since`; a time more than
    /// [`CLOCK_SKEW`] after `now` (the writer's clock); last seen after the child was noticed
    /// missing; the police, the local authority or the guardian told before the child was
    /// noticed missing; a return before the child went missing or before the last sighting;
    /// a return interview offered, held or declined before the return (or with no return).
    pub fn validate(&self, now: DateTime<Utc>) -> Result<()> {
        self.validate_update(now, None)
    }

    /// [`MissingEpisode::validate`] for a save over `stored`: a time left as stored is not
    /// checked against `now` again (another device, its clock ahead of this one's, may have
    /// written it), only the times this save changes are.
    pub fn validate_update(
        &self,
        now: DateTime<Utc>,
        stored: Option<&MissingEpisode>,
    ) -> Result<()> {
        let Some(since) = self.missing_since else {
            return Err(Error::invalid(
                "missing_since",
                "when the child was noticed missing is required",
            ));
        };
        let latest = now + CLOCK_SKEW;
        // A return before the last sighting is named as such, before the sighting itself is
        // compared with the time noticed missing.
        if let (Some(returned), Some(seen)) = (self.returned_at, self.last_seen_at)
            && returned < seen
        {
            return Err(Error::invalid(
                "returned_at",
                "is before the child was last seen",
            ));
        }
        let before = stored.map(MissingEpisode::times);
        for (index, (field, time)) in self.times().into_iter().enumerate() {
            let unchanged = before.as_ref().is_some_and(|b| b[index].1 == time);
            if !unchanged && time.is_some_and(|t| t > latest) {
                return Err(Error::invalid(field, "is in the future"));
            }
        }
        if self.last_seen_at.is_some_and(|seen| seen > since) {
            return Err(Error::invalid(
                "last_seen_at",
                "is after the child was noticed missing",
            ));
        }
        for (field, told) in [
            ("reported_to_police_at", self.reported_to_police_at),
            ("social_worker_told_at", self.social_worker_told_at),
            ("guardian_told_at", self.guardian_told_at),
        ] {
            if told.is_some_and(|t| t < since) {
                return Err(Error::invalid(
                    field,
                    "is before the child was noticed missing",
                ));
            }
        }
        let interview = [
            (
                "return_interview_offered_at",
                self.return_interview_offered_at,
            ),
            ("return_interview_done_at", self.return_interview_done_at),
        ];
        match self.returned_at {
            Some(returned) => {
                if returned < since {
                    return Err(Error::invalid(
                        "returned_at",
                        "is before the child went missing",
                    ));
                }
                for (field, time) in interview {
                    if time.is_some_and(|t| t < returned) {
                        return Err(Error::invalid(field, "is before the child returned"));
                    }
                }
            }
            None => {
                for (field, time) in interview {
                    if time.is_some() {
                        return Err(Error::invalid(field, "the child has not returned"));
                    }
                }
                if self.return_interview_outcome != ReturnInterviewOutcome::NotYet {
                    return Err(Error::invalid(
                        "return_interview_outcome",
                        "the child has not returned",
                    ));
                }
            }
        }
        Ok(())
    }
}

const EPISODES: &[&str] = &["missing_episodes"];

/// Every missing episode of `doc`, the automerge form of the `safety` document `id`, read
/// without loading it into a [`CaseDoc`] (the server's sync exchange reads the document it
/// already holds in memory). As [`CaseDoc::missing_episodes`]: an error for a document of
/// another case or kind, or an episode that does not read.
pub fn missing_episodes_in(
    id: DocId,
    doc: &impl automerge::ReadDoc,
) -> Result<Vec<(EntryId, MissingEpisode)>> {
    use automerge::{ROOT, Value};
    let malformed = |path: &str, reason: &str| Error::Malformed {
        doc: id.to_string(),
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    if id.kind != DocKind::Safety {
        return Err(malformed("/", "not a safety document"));
    }
    let root_str = |key: &str| match doc.get(ROOT, key) {
        Ok(Some((Value::Scalar(s), _))) => s.as_str().map(str::to_owned),
        _ => None,
    };
    if root_str("case") != Some(id.case.to_string())
        || root_str("kind").as_deref() != Some(DocKind::Safety.as_str())
    {
        return Err(malformed("/", "document belongs to another case or kind"));
    }
    let collection = EPISODES[0];
    let Some((Value::Object(_), parent)) = doc.get(ROOT, collection)? else {
        return Err(malformed(collection, "expected an object"));
    };
    let mut out = Vec::new();
    for key in doc.keys(&parent) {
        let entry: EntryId = key
            .parse()
            .map_err(|_| malformed(collection, "entry key is not an id"))?;
        let Some((Value::Object(_), obj)) = doc.get(&parent, key.as_str())? else {
            return Err(malformed(collection, "expected an object"));
        };
        let episode = serde_json::from_value(crate::doc::read_object(doc, &obj)?)
            .map_err(|_| malformed(collection, "an episode does not read"))?;
        out.push((entry, episode));
    }
    Ok(out)
}

impl CaseDoc {
    /// Start a missing episode under the fresh `id`. Starting one while another is open is
    /// allowed (two carers may report the same absence offline); both stay visible. The
    /// episode is checked first ([`MissingEpisode::validate`], with the edit's time as now):
    /// a refused episode writes nothing.
    pub fn start_missing_episode(
        &mut self,
        edit: &Edit,
        id: EntryId,
        episode: &MissingEpisode,
    ) -> Result<()> {
        self.expect_kind(DocKind::Safety)?;
        episode.validate(edit.at)?;
        self.add_entry(edit, EPISODES, id, episode)
    }

    /// Update a missing episode (who was told, the return, the return interview), checked
    /// as when started. Fields an older episode never had are written only when given a
    /// value, so two devices saving one old episode do not both create them.
    pub fn update_missing_episode(
        &mut self,
        edit: &Edit,
        id: EntryId,
        episode: &MissingEpisode,
    ) -> Result<()> {
        self.expect_kind(DocKind::Safety)?;
        let stored: MissingEpisode = self.entry(EPISODES, id)?;
        episode.validate_update(edit.at, Some(&stored))?;
        self.update_entry_sparse(edit, EPISODES, id, episode)
    }

    /// End a missing episode: the child returned or was found at `returned_at`.
    pub fn end_missing_episode(
        &mut self,
        edit: &Edit,
        id: EntryId,
        returned_at: DateTime<Utc>,
    ) -> Result<()> {
        self.expect_kind(DocKind::Safety)?;
        let mut episode: MissingEpisode = self.entry(EPISODES, id)?;
        episode.returned_at = Some(returned_at);
        self.update_missing_episode(edit, id, &episode)
    }

    /// Every missing episode.
    pub fn missing_episodes(&self) -> Result<Vec<(EntryId, MissingEpisode)>> {
        self.expect_kind(DocKind::Safety)?;
        self.entries(EPISODES)
    }
}

#[cfg(test)]
#[path = "missing_episode_tests.rs"]
mod tests;
