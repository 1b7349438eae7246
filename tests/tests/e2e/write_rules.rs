//! Write rules per record, enforced by the server over real TLS: a carer's modified app that
//! deletes or edits the guardian's plan steps, edits another carer's check, or damages the
//! document's skeleton is refused and audited, and the guardian's records survive on the
//! server and on the guardian's phone. The attacks are crafted with raw automerge, as a
//! modified app would, and merged into the attacker's store so the real sync driver sends them.

use anyhow::{Context, Result};
use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, AutoCommit, ObjType, ROOT, ReadDoc};
use casebook_core::doc::{DocId, DocKind, Edit};
use casebook_core::ids::EntryId;
use casebook_core::model::{
    CheckOutcome, MissingEpisode, PlanStep, SafetyCheck, StepReviewOutcome, StepStatus,
};
use casebook_core::sync::wire::RejectReason;
use casebook_tests::support::Device;
use chrono::Utc;
use serde_json::{Value, json};

use super::team;

const STEP_CANARY: &str = "CANARY-24-hour-supervision-first-8-weeks";

/// Make a raw change to `device`'s copy of `doc` with `f` (under a commit note naming the
/// device's user, as the app's own edits carry), and store it on the device.
fn raw_change(
    device: &Device,
    doc: DocId,
    f: impl FnOnce(&mut AutoCommit) -> Result<(), automerge::AutomergeError>,
) -> Result<()> {
    let bytes = device.lock().read(doc, |d| Ok(d.save()))?;
    let mut raw = AutoCommit::load(&bytes)?;
    let heads = raw.get_heads();
    raw.set_actor(ActorId::from(device.identity.device_id.as_bytes()));
    f(&mut raw)?;
    let note = json!({
        "user": device.identity.user_id,
        "device": device.identity.device_id,
        "what": "raw",
    });
    raw.commit_with(
        CommitOptions::default()
            .with_message(note.to_string())
            .with_time(Utc::now().timestamp_millis()),
    );
    let change = raw.save_after(&heads);
    device.change(doc, |d, _| d.merge_bytes(&change))?;
    Ok(())
}

/// The object at the top-level `key` of a raw document.
fn top(raw: &AutoCommit, key: &str) -> Result<automerge::ObjId, automerge::AutomergeError> {
    match raw.get(ROOT, key)? {
        Some((_, id)) => Ok(id),
        None => Err(automerge::AutomergeError::InvalidObjId(key.into())),
    }
}

/// The `denied` audit rows with reason `write_rule` for `doc`.
async fn write_rule_denials(t: &super::Team, doc: DocId) -> Result<Vec<Value>> {
    let audit = t.h.admin.audit_for_case(&t.case.to_string()).await?;
    Ok(audit
        .into_iter()
        .filter(|row| {
            let text = row.to_string();
            text.contains("\"denied\"")
                && text.contains("write_rule")
                && text.contains(&doc.to_string())
        })
        .collect())
}

fn assert_refused(outcome: &casebook_core::client::SyncOutcome, doc: DocId) {
    assert!(
        outcome
            .report
            .rejected
            .iter()
            .any(|r| r.doc == doc && r.reason == RejectReason::ReadOnly),
        "{:?}",
        outcome.report
    );
}

fn add_step(device: &Device, doc: DocId) -> Result<EntryId> {
    let step = EntryId::random(&mut rand::rngs::OsRng);
    device.change(doc, |d, e| {
        d.add_plan_step(
            e,
            step,
            &PlanStep {
                description: STEP_CANARY.into(),
                if_missing: true,
                ..PlanStep::default()
            },
        )
    })?;
    Ok(step)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_carer_deleting_a_plan_step_is_refused_audited_and_the_step_survives() -> Result<()> {
    let t = team().await?;
    let safety = DocId::new(t.case, DocKind::Safety);
    let step = add_step(&t.guardian, safety)?;
    t.guardian.sync().await?;
    t.carer.sync().await?;
    assert_eq!(t.carer.lock().read(safety, |d| d.plan_steps())?.len(), 1);

    // The carer's modified app deletes the guardian's step and sends it.
    raw_change(&t.carer, safety, |raw| {
        let steps = top(raw, "plan_steps")?;
        raw.delete(&steps, step.to_string().as_str())
    })?;
    let outcome = t.carer.sync().await?;
    assert_refused(&outcome, safety);
    let denials = write_rule_denials(&t, safety).await?;
    let denial = denials.first().context("the refusal is audited")?;
    let text = denial.to_string();
    assert!(text.contains(&format!("plan step {step}")), "{text}");
    assert!(
        text.contains(&t.carer.identity.device_id.to_string()),
        "{text}"
    );
    assert!(
        !text.contains("CANARY"),
        "audit rows carry no content: {text}"
    );

    // The guardian edits the step (accepted); the step survives on the server (a fresh sync
    // of the supervisor's phone) and on the guardian's phone.
    t.guardian.change(safety, |d, e| {
        d.update_plan_step(
            e,
            step,
            &PlanStep {
                description: format!("{STEP_CANARY} (reviewed)"),
                if_missing: true,
                status: StepStatus::Active,
                ..PlanStep::default()
            },
        )
    })?;
    let outcome = t.guardian.sync().await?;
    assert!(outcome.report.rejected.is_empty(), "{:?}", outcome.report);
    t.supervisor.sync().await?;
    for device in [&t.guardian, &t.supervisor] {
        let steps = device.lock().read(safety, |d| d.plan_steps())?;
        assert_eq!(steps.len(), 1, "{steps:?}");
        assert_eq!(steps[0].0, step);
        assert!(steps[0].1.description.ends_with("(reviewed)"));
    }

    // Skeleton damage from the case team is refused too: the supervisor's modified app
    // replaces the plan's collection with an empty one.
    raw_change(&t.supervisor, safety, |raw| {
        raw.put_object(ROOT, "plan_steps", ObjType::Map).map(drop)
    })?;
    let outcome = t.supervisor.sync().await?;
    assert_refused(&outcome, safety);
    let denials = write_rule_denials(&t, safety).await?;
    assert!(
        denials
            .iter()
            .any(|row| row.to_string().contains("skeleton plan_steps")
                && row
                    .to_string()
                    .contains(&t.supervisor.identity.device_id.to_string())),
        "{denials:?}"
    );
    t.guardian.sync().await?;
    assert_eq!(t.guardian.lock().read(safety, |d| d.plan_steps())?.len(), 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn carers_add_checks_and_episodes_and_edit_only_their_own() -> Result<()> {
    let t = team().await?;
    let safety = DocId::new(t.case, DocKind::Safety);
    let (carer_b_id, carer_b) = t.h.person("carer-b", "carer").await?;
    t.h.admin
        .link_carer(&t.case.to_string(), &carer_b_id)
        .await?;
    let step = add_step(&t.guardian, safety)?;
    t.guardian.sync().await?;
    t.carer.sync().await?;

    // Carer A logs a check and reports a missing episode: accepted.
    let (check, episode) = (
        EntryId::random(&mut rand::rngs::OsRng),
        EntryId::random(&mut rand::rngs::OsRng),
    );
    t.carer.change(safety, |d, e| {
        d.log_safety_check(
            e,
            check,
            &SafetyCheck {
                checked_at: Some(e.at),
                step: Some(step),
                note: "Home by 9pm".into(),
                ..SafetyCheck::default()
            },
        )?;
        d.start_missing_episode(
            e,
            episode,
            &MissingEpisode {
                missing_since: Some(e.at),
                ..MissingEpisode::default()
            },
        )
    })?;
    let outcome = t.carer.sync().await?;
    assert!(outcome.report.rejected.is_empty(), "{:?}", outcome.report);

    // Carer A edits their own check (raw, as no app screen does) and ends their episode.
    raw_change(&t.carer, safety, |raw| {
        let checks = top(raw, "checks")?;
        let entry = match raw.get(&checks, check.to_string().as_str())? {
            Some((_, id)) => id,
            None => return Err(automerge::AutomergeError::InvalidObjId("check".into())),
        };
        raw.put(&entry, "outcome", "concern")
    })?;
    t.carer
        .change(safety, |d, e| d.end_missing_episode(e, episode, Utc::now()))?;
    let outcome = t.carer.sync().await?;
    assert!(outcome.report.rejected.is_empty(), "{:?}", outcome.report);
    t.supervisor.sync().await?;
    let on_server = |d: &Device| -> Result<(CheckOutcome, bool)> {
        let checks = d.lock().read(safety, |doc| doc.safety_checks())?;
        let episodes = d.lock().read(safety, |doc| doc.missing_episodes())?;
        Ok((
            checks.first().context("the check")?.1.outcome,
            episodes.first().context("the episode")?.1.is_open(),
        ))
    };
    assert_eq!(on_server(&t.supervisor)?, (CheckOutcome::Concern, false));

    // Carer B edits carer A's check: refused and audited, and A's check is unchanged.
    carer_b.sync().await?;
    raw_change(&carer_b, safety, |raw| {
        let checks = top(raw, "checks")?;
        let entry = match raw.get(&checks, check.to_string().as_str())? {
            Some((_, id)) => id,
            None => return Err(automerge::AutomergeError::InvalidObjId("check".into())),
        };
        raw.put(&entry, "outcome", "ok")
    })?;
    let outcome = carer_b.sync().await?;
    assert_refused(&outcome, safety);
    let denials = write_rule_denials(&t, safety).await?;
    assert!(
        denials
            .iter()
            .any(|row| row.to_string().contains(&format!("safety check {check}"))),
        "{denials:?}"
    );
    t.supervisor.sync().await?;
    assert_eq!(on_server(&t.supervisor)?, (CheckOutcome::Concern, false));

    // Carer A edits the guardian's plan step through the core's own API: refused.
    let edit = Edit::new(t.carer.identity.author(), Utc::now());
    t.carer.lock().edit(safety, edit.at, |d| {
        d.update_plan_step(&edit, step, &PlanStep::default())
    })?;
    let outcome = t.carer.sync().await?;
    assert_refused(&outcome, safety);
    let denials = write_rule_denials(&t, safety).await?;
    assert!(
        denials
            .iter()
            .any(|row| row.to_string().contains(&format!("plan step {step}"))),
        "{denials:?}"
    );
    t.guardian.sync().await?;
    let steps = t.guardian.lock().read(safety, |d| d.plan_steps())?;
    assert_eq!(steps[0].1.description, STEP_CANARY);
    Ok(())
}

/// Set an approval of `step` naming `reviewer` with raw automerge (a modified app).
fn forge_approval(device: &Device, doc: DocId, step: EntryId, reviewer: &str) -> Result<()> {
    raw_change(device, doc, |raw| {
        let steps = top(raw, "plan_steps")?;
        let entry = match raw.get(&steps, step.to_string().as_str())? {
            Some((_, id)) => id,
            None => return Err(automerge::AutomergeError::InvalidObjId("step".into())),
        };
        raw.put(&entry, "review_outcome", "approved")?;
        raw.put(&entry, "reviewed_by", reviewer)?;
        raw.put(&entry, "reviewed_at", Utc::now().to_rfc3339())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_supervisor_reviews_a_restricting_step_a_carers_or_guardians_review_is_refused()
-> Result<()> {
    let t = team().await?;
    let safety = DocId::new(t.case, DocKind::Safety);
    let step = EntryId::random(&mut rand::rngs::OsRng);
    t.guardian.change(safety, |d, e| {
        d.add_plan_step(
            e,
            step,
            &PlanStep {
                description: STEP_CANARY.into(),
                restricts: true,
                ..PlanStep::default()
            },
        )
    })?;
    t.guardian.sync().await?;
    t.supervisor.sync().await?;

    // The supervisor asks for changes (the core's own call): accepted, and the guardian
    // sees who asked and that the step still waits for review.
    t.supervisor.change(safety, |d, e| {
        d.review_plan_step(e, step, StepReviewOutcome::ChangesAsked)
    })?;
    let outcome = t.supervisor.sync().await?;
    assert!(outcome.report.rejected.is_empty(), "{:?}", outcome.report);
    t.guardian.sync().await?;
    let reviewed = |d: &Device| -> Result<PlanStep> {
        let steps = d.lock().read(safety, |doc| doc.plan_steps())?;
        Ok(steps.first().context("the step")?.1.clone())
    };
    let seen = reviewed(&t.guardian)?;
    assert_eq!(seen.review_outcome, Some(StepReviewOutcome::ChangesAsked));
    assert_eq!(
        seen.reviewed_by.map(|u| u.to_string()),
        Some(t.supervisor_id.clone())
    );
    assert!(seen.review_needed());

    // A carer's and then the guardian's modified app approve it in the supervisor's name:
    // each refused by the server and audited without content.
    t.carer.sync().await?;
    for device in [&t.carer, &t.guardian] {
        forge_approval(device, safety, step, &t.supervisor_id)?;
        let outcome = device.sync().await?;
        assert_refused(&outcome, safety);
        let denials = write_rule_denials(&t, safety).await?;
        let denial = denials
            .iter()
            .find(|row| {
                row.to_string()
                    .contains(&device.identity.device_id.to_string())
            })
            .context("the refusal is audited")?
            .to_string();
        assert!(denial.contains(&format!("plan step {step}")), "{denial}");
        assert!(!denial.contains("CANARY"), "{denial}");
    }

    // The server kept the supervisor's review only.
    t.supervisor.sync().await?;
    let kept = reviewed(&t.supervisor)?;
    assert_eq!(kept.review_outcome, Some(StepReviewOutcome::ChangesAsked));
    Ok(())
}
