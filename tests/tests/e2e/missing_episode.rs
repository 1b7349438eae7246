//! A missing episode across devices over real TLS: the guardian records when the child
//! arrived and the supervision step, the carer's phone (offline) records the episode with
//! every new field, and the server's write rules accept it; the carer may not move the
//! placement start. The guardian's device then computes the flags and the due time from
//! what it received.

use anyhow::{Context, Result};
use casebook_core::doc::{DocId, DocKind};
use casebook_core::ids::EntryId;
use casebook_core::model::{
    EpisodeCategory, MissingEpisode, PlanStep, ReturnInterviewOutcome, episode_statuses,
};
use chrono::{TimeDelta, Utc};

use super::team;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_episode_reaches_the_team_with_its_fields_and_flags() -> Result<()> {
    let t = team().await?;
    let safety = DocId::new(t.case, DocKind::Safety);
    let placed = Utc::now() - TimeDelta::hours(30);
    t.guardian.change(safety, |d, e| {
        d.set_placement_started_at(e, Some(placed))?;
        d.add_plan_step(
            e,
            EntryId::random(&mut rand::rngs::OsRng),
            &PlanStep {
                description: "24-hour supervision outside the home, first 8 weeks".into(),
                supervision_until: Some(placed + TimeDelta::weeks(8)),
                ..PlanStep::default()
            },
        )
    })?;
    t.guardian.sync().await?;
    t.carer.sync().await?;

    // 02:10 on the carer's phone, offline: the episode with what the police will ask.
    let episode = EntryId::random(&mut rand::rngs::OsRng);
    let noticed = Utc::now() - TimeDelta::hours(3);
    let recorded = MissingEpisode {
        category: EpisodeCategory::Missing,
        missing_since: Some(noticed),
        last_seen_at: Some(noticed - TimeDelta::minutes(40)),
        last_seen: "Her bedroom".into(),
        last_seen_with: "Nobody".into(),
        clothing: "Black puffer jacket, white trainers".into(),
        circumstances: "Window open".into(),
        reported_to_police_at: Some(noticed + TimeDelta::minutes(15)),
        police_reference: "CAD 0225".into(),
        social_worker_told_at: Some(noticed + TimeDelta::minutes(30)),
        social_worker_told: "Out-of-hours team".into(),
        ..MissingEpisode::default()
    };
    t.carer.change(safety, |d, e| {
        d.start_missing_episode(e, episode, &recorded)
    })?;
    let outcome = t.carer.sync().await?;
    assert!(outcome.report.rejected.is_empty(), "{:?}", outcome.report);

    // The child is back; the return interview is offered.
    let back = Utc::now() - TimeDelta::hours(1);
    t.carer.change(safety, |d, e| {
        d.end_missing_episode(e, episode, back)?;
        let mut ended = d.missing_episodes()?.remove(0).1;
        ended.found_where = "Bus station".into();
        ended.found_by = "Police".into();
        ended.return_interview_offered_at = Some(back + TimeDelta::minutes(20));
        ended.return_interview_offered_by = "Return interview service".into();
        d.update_missing_episode(e, episode, &ended)
    })?;
    let outcome = t.carer.sync().await?;
    assert!(outcome.report.rejected.is_empty(), "{:?}", outcome.report);

    // The carer may not move the placement start: refused by the server.
    t.carer
        .change(safety, |d, e| d.set_placement_started_at(e, None))?;
    let outcome = t.carer.sync().await?;
    assert!(
        outcome.report.rejected.iter().any(|r| r.doc == safety),
        "{:?}",
        outcome.report
    );

    t.guardian.sync().await?;
    let (episodes, steps, started) = t.guardian.lock().read(safety, |d| {
        Ok((
            d.missing_episodes()?,
            d.plan_steps()?,
            d.placement_started_at()?,
        ))
    })?;
    assert_eq!(
        started,
        Some(placed),
        "the guardian's placement start stands"
    );
    let (_, got) = episodes.first().context("the episode")?;
    assert_eq!(got.clothing, recorded.clothing);
    assert_eq!(got.police_reference, "CAD 0225");
    assert_eq!(got.found_where, "Bus station");
    assert_eq!(got.returned_at, Some(back));
    assert_eq!(got.return_interview_outcome, ReturnInterviewOutcome::NotYet);
    let steps: Vec<PlanStep> = steps.into_iter().map(|(_, s)| s).collect();
    let status = episode_statuses(&episodes, &steps, started, Utc::now());
    let status = status.first().context("a status")?;
    assert!(status.flags.first_48_hours && status.flags.during_supervision);
    assert!(!status.flags.repeat);
    assert_eq!(
        status.return_interview_due,
        Some(back + TimeDelta::hours(72))
    );
    assert!(!status.return_interview_overdue);
    Ok(())
}
