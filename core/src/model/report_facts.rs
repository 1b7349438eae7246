//! The facts a casework report counts, read from a document the server already holds in
//! memory: per missing episode its category, start, end, whether the return interview was
//! held within 72 hours and whether it was a repeat; the NRM referral's dates and decisions;
//! per visit note its date and review status. Dates, categories and statuses only: never a
//! name, a reference or free text. Pure: the server indexes these when it stores a document,
//! so a report never parses one.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::missing_episode::{EpisodeCategory, ReturnInterviewOutcome, missing_episodes_in};
use super::missing_status::{RETURN_INTERVIEW_WITHIN, episode_statuses};
use super::profile::{Nrm, NrmDecision};
use super::visits::{Review, ReviewStatus};
use super::working_days::add_working_days;
use crate::doc::{DocId, DocKind};
use crate::error::{Error, Result};
use crate::ids::EntryId;

/// Reasonable grounds are due this many working days after the referral.
pub const REASONABLE_GROUNDS_WORKING_DAYS: u32 = 5;

/// One missing episode, as a report counts it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpisodeFact {
    /// The episode.
    pub id: EntryId,
    /// Missing, or away from placement without authorisation.
    pub category: EpisodeCategory,
    /// When the child was noticed missing (`None`: the episode has no start and is not
    /// counted).
    pub started_at: Option<DateTime<Utc>>,
    /// When the child returned (`None`: still missing).
    pub ended_at: Option<DateTime<Utc>>,
    /// The return interview was held no later than 72 hours after the return.
    pub interview_within_72_hours: bool,
    /// The episode's absence is the third or more within 90 days (the core's repeat rule,
    /// `missing_status.rs`).
    pub repeat: bool,
}

/// A case's NRM referral, as a report counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct NrmFact {
    /// When the referral was made.
    pub referred_on: Option<NaiveDate>,
    /// When reasonable grounds are due (5 working days after the referral; `None` without a
    /// referral or past the shipped bank holiday list).
    pub reasonable_grounds_due_on: Option<NaiveDate>,
    /// The reasonable grounds decision.
    pub reasonable_grounds: NrmDecision,
    /// Its date.
    pub reasonable_grounds_on: Option<NaiveDate>,
    /// The conclusive grounds decision.
    pub conclusive_grounds: NrmDecision,
    /// Its date.
    pub conclusive_grounds_on: Option<NaiveDate>,
}

impl NrmFact {
    /// The facts of `nrm`.
    pub fn of(nrm: &Nrm) -> Self {
        Self {
            referred_on: nrm.referred_on,
            reasonable_grounds_due_on: nrm
                .referred_on
                .and_then(|d| add_working_days(d, REASONABLE_GROUNDS_WORKING_DAYS).ok()),
            reasonable_grounds: nrm.reasonable_grounds,
            reasonable_grounds_on: nrm.reasonable_grounds_on,
            conclusive_grounds: nrm.conclusive_grounds,
            conclusive_grounds_on: nrm.conclusive_grounds_on,
        }
    }
}

/// One visit note, as a report counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoteFact {
    /// The note.
    pub id: EntryId,
    /// When the visit happened.
    pub visited_at: Option<DateTime<Utc>>,
    /// Where the note stands in review.
    pub review: ReviewStatus,
}

/// The report facts of one stored document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DocFacts {
    /// The missing episodes of a `safety` document.
    Episodes(Vec<EpisodeFact>),
    /// The NRM record of a `profile` document.
    Nrm(NrmFact),
    /// The visit notes of a `visits` document.
    Notes(Vec<NoteFact>),
}

/// Whether a return interview was held within 72 hours of the return.
fn held_within_72_hours(
    returned: Option<DateTime<Utc>>,
    outcome: ReturnInterviewOutcome,
    held: Option<DateTime<Utc>>,
) -> bool {
    match (returned, held) {
        (Some(returned), Some(held)) => {
            outcome == ReturnInterviewOutcome::Done && held <= returned + RETURN_INTERVIEW_WITHIN
        }
        _ => false,
    }
}

fn malformed(id: DocId, path: &str, reason: &str) -> Error {
    Error::Malformed {
        doc: id.to_string(),
        path: path.to_owned(),
        reason: reason.to_owned(),
    }
}

/// The document's own `case` and `kind` must be `id`'s.
fn check_root(id: DocId, doc: &impl automerge::ReadDoc, kind: DocKind) -> Result<()> {
    use automerge::{ROOT, Value};
    let root_str = |key: &str| match doc.get(ROOT, key) {
        Ok(Some((Value::Scalar(s), _))) => s.as_str().map(str::to_owned),
        _ => None,
    };
    if id.kind != kind
        || root_str("case") != Some(id.case.to_string())
        || root_str("kind").as_deref() != Some(kind.as_str())
    {
        return Err(malformed(
            id,
            "/",
            "document belongs to another case or kind",
        ));
    }
    Ok(())
}

/// The report facts of `doc`, the automerge form of document `id` (`None` for the kinds a
/// report does not count: `location`, `associates`). An error if the records do not read.
pub fn report_facts_in(id: DocId, doc: &impl automerge::ReadDoc) -> Result<Option<DocFacts>> {
    match id.kind {
        DocKind::Safety => episode_facts_in(id, doc).map(|e| Some(DocFacts::Episodes(e))),
        DocKind::Profile => nrm_fact_in(id, doc).map(|n| Some(DocFacts::Nrm(n))),
        DocKind::Visits => note_facts_in(id, doc).map(|n| Some(DocFacts::Notes(n))),
        DocKind::Location | DocKind::Associates => Ok(None),
    }
}

/// The missing episodes of a `safety` document, as facts.
pub fn episode_facts_in(id: DocId, doc: &impl automerge::ReadDoc) -> Result<Vec<EpisodeFact>> {
    let episodes = missing_episodes_in(id, doc)?;
    // Only the repeat flag is used: it needs neither the plan nor the placement, nor a clock.
    let statuses = episode_statuses(&episodes, &[], None, DateTime::<Utc>::MIN_UTC);
    Ok(episodes
        .iter()
        .zip(statuses)
        .map(|((entry, e), status)| EpisodeFact {
            id: *entry,
            category: e.category,
            started_at: e.missing_since,
            ended_at: e.returned_at,
            interview_within_72_hours: held_within_72_hours(
                e.returned_at,
                e.return_interview_outcome,
                e.return_interview_done_at,
            ),
            repeat: status.flags.repeat,
        })
        .collect())
}

/// The NRM record of a `profile` document, as facts (read from its `nrm` object alone).
pub fn nrm_fact_in(id: DocId, doc: &impl automerge::ReadDoc) -> Result<NrmFact> {
    use automerge::{ROOT, Value};
    check_root(id, doc, DocKind::Profile)?;
    let nrm: Nrm = match doc.get(ROOT, "nrm")? {
        Some((Value::Object(_), obj)) => {
            serde_json::from_value(crate::doc::read_object(doc, &obj)?)
                .map_err(|_| malformed(id, "nrm", "the NRM record does not read"))?
        }
        _ => Nrm::default(),
    };
    Ok(NrmFact::of(&nrm))
}

/// The visit notes of a `visits` document, as facts (their date and review only: the notes'
/// text is not read).
pub fn note_facts_in(id: DocId, doc: &impl automerge::ReadDoc) -> Result<Vec<NoteFact>> {
    use automerge::{ROOT, Value};
    check_root(id, doc, DocKind::Visits)?;
    let Some((Value::Object(_), notes)) = doc.get(ROOT, "notes")? else {
        return Err(malformed(id, "notes", "expected an object"));
    };
    let mut out = Vec::new();
    for key in doc.keys(&notes) {
        let entry: EntryId = key
            .parse()
            .map_err(|_| malformed(id, "notes", "entry key is not an id"))?;
        let Some((Value::Object(_), note)) = doc.get(&notes, key.as_str())? else {
            return Err(malformed(id, "notes", "expected an object"));
        };
        let visited_at = match doc.get(&note, "visited_at")? {
            Some((Value::Scalar(s), _)) => match s.as_str() {
                Some(text) => Some(
                    text.parse::<DateTime<Utc>>()
                        .map_err(|_| malformed(id, "notes", "a visit date does not read"))?,
                ),
                None => None,
            },
            _ => None,
        };
        let review = match doc.get(&note, "review")? {
            Some((Value::Object(_), obj)) => {
                let review: Review = serde_json::from_value(crate::doc::read_object(doc, &obj)?)
                    .map_err(|_| malformed(id, "notes", "a review does not read"))?;
                review.status
            }
            _ => ReviewStatus::Draft,
        };
        out.push(NoteFact {
            id: entry,
            visited_at,
            review,
        });
    }
    out.sort_by_key(|n| n.id);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;
    use crate::doc::{Author, CaseDoc, Edit};
    use crate::ids::{CaseId, DeviceId, UserId};
    use crate::model::{MissingEpisode, Profile, VisitNote, new_case};

    const CANARY: &str = "CANARY-report-facts-free-text";

    fn at(day: u32, hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, day, hour, 0, 0)
            .single()
            .expect("time")
    }

    fn case() -> (StdRng, Author, Vec<CaseDoc>) {
        let mut rng = StdRng::seed_from_u64(11);
        let author = Author {
            user: UserId::random(&mut rng),
            device: DeviceId::random(&mut rng),
        };
        let profile = Profile {
            case_reference: "HUL-REPORT-1".into(),
            given_name: CANARY.into(),
            ..Profile::default()
        };
        let docs = new_case(
            CaseId::random(&mut rng),
            &Edit::new(author, at(1, 9)),
            &profile,
        )
        .expect("case");
        (rng, author, docs)
    }

    fn doc(docs: &mut [CaseDoc], kind: DocKind) -> &mut CaseDoc {
        docs.iter_mut()
            .find(|d| d.kind() == kind)
            .expect("document")
    }

    #[test]
    fn episodes_give_category_times_the_72_hour_interview_and_repeats() {
        let (mut rng, author, mut docs) = case();
        let safety = doc(&mut docs, DocKind::Safety);
        let edit = Edit::new(author, at(20, 12));
        let mut ids = Vec::new();
        for (day, interview_after) in [(2, Some(71)), (5, Some(73)), (8, None)] {
            let id = EntryId::random(&mut rng);
            let returned = at(day, 10);
            let episode = MissingEpisode {
                category: if day == 5 {
                    EpisodeCategory::AwayFromPlacement
                } else {
                    EpisodeCategory::Missing
                },
                missing_since: Some(at(day, 2)),
                returned_at: Some(returned),
                return_interview_outcome: if interview_after.is_some() {
                    ReturnInterviewOutcome::Done
                } else {
                    ReturnInterviewOutcome::NotYet
                },
                return_interview_done_at: interview_after.map(|h| returned + Duration::hours(h)),
                circumstances: CANARY.into(),
                ..MissingEpisode::default()
            };
            safety
                .start_missing_episode(&edit, id, &episode)
                .expect("episode");
            ids.push(id);
        }
        let id = safety.id();
        let facts = episode_facts_in(id, safety.automerge()).expect("facts");
        let by = |i: usize| facts.iter().find(|f| f.id == ids[i]).expect("fact");
        assert!(by(0).interview_within_72_hours);
        assert!(!by(1).interview_within_72_hours, "73 hours is late");
        assert!(!by(2).interview_within_72_hours);
        assert_eq!(by(1).category, EpisodeCategory::AwayFromPlacement);
        assert_eq!(by(0).started_at, Some(at(2, 2)));
        assert_eq!(by(0).ended_at, Some(at(2, 10)));
        assert_eq!(
            [by(0).repeat, by(1).repeat, by(2).repeat],
            [false, false, true],
            "the third absence in 90 days is a repeat"
        );
        assert!(!format!("{facts:?}").contains(CANARY));
    }

    #[test]
    fn the_nrm_record_gives_its_dates_and_the_working_day_due_date() {
        let (_, author, mut docs) = case();
        let profile = doc(&mut docs, DocKind::Profile);
        let mut record = profile.profile().expect("profile");
        // Friday 3 April 2026 is Good Friday, Monday 6 April Easter Monday.
        record.nrm.referred_on = NaiveDate::from_ymd_opt(2026, 4, 2);
        record.nrm.reasonable_grounds = NrmDecision::Positive;
        record.nrm.reasonable_grounds_on = NaiveDate::from_ymd_opt(2026, 4, 10);
        let edit = Edit::new(author, at(1, 9) + Duration::days(60));
        profile.set_profile(&edit, &record).expect("saved");
        let fact = nrm_fact_in(profile.id(), profile.automerge()).expect("fact");
        assert_eq!(fact.referred_on, NaiveDate::from_ymd_opt(2026, 4, 2));
        assert_eq!(
            fact.reasonable_grounds_due_on,
            NaiveDate::from_ymd_opt(2026, 4, 13)
        );
        assert_eq!(fact.reasonable_grounds, NrmDecision::Positive);
        assert_eq!(
            fact.reasonable_grounds_on,
            NaiveDate::from_ymd_opt(2026, 4, 10)
        );
    }

    #[test]
    fn notes_give_their_date_and_review_status_without_their_text() {
        let (mut rng, author, mut docs) = case();
        let visits = doc(&mut docs, DocKind::Visits);
        let edit = Edit::new(author, at(20, 12));
        let note = VisitNote {
            visited_at: Some(at(19, 15)),
            wishes_and_feelings: CANARY.into(),
            ..VisitNote::default()
        };
        let id = EntryId::random(&mut rng);
        visits.add_visit_note(&edit, id, &note).expect("note");
        visits
            .review_visit_note(&edit, id, ReviewStatus::Submitted, CANARY)
            .expect("submitted");
        let facts = note_facts_in(visits.id(), visits.automerge()).expect("facts");
        assert_eq!(
            facts,
            vec![NoteFact {
                id,
                visited_at: Some(at(19, 15)),
                review: ReviewStatus::Submitted,
            }]
        );
        let other = DocId::new(visits.id().case, DocKind::Profile);
        assert!(note_facts_in(other, visits.automerge()).is_err());
        assert!(
            report_facts_in(visits.id(), visits.automerge())
                .expect("facts")
                .is_some()
        );
    }
}
