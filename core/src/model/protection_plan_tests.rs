//! Tests of the protection plan template, restricting steps and their supervisor review
//! (including the write rules), safety-check input, and a document older than these fields.

use automerge::transaction::Transactable;
use automerge::{ObjType, ROOT, ReadDoc};
use chrono::{NaiveTime, TimeDelta, TimeZone};
use rand::SeedableRng;
use rand::rngs::StdRng;

use super::*;
use crate::doc::Author;
use crate::ids::{CaseId, DeviceId, UserId};
use crate::model::{
    CheckStatus, Profile, SafetyCheck, Writer, WriterRole, new_case, overdue_safety_checks,
};

fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, 0, 0)
        .single()
        .expect("time")
}

struct Team {
    rng: StdRng,
    safety: CaseDoc,
    guardian: Author,
    supervisor: Author,
    carer: Author,
}

fn author(rng: &mut StdRng) -> Author {
    Author {
        user: UserId::random(rng),
        device: DeviceId::random(rng),
    }
}

fn team(placed: Option<DateTime<Utc>>) -> Team {
    let mut rng = StdRng::seed_from_u64(41);
    let (guardian, supervisor, carer) = (author(&mut rng), author(&mut rng), author(&mut rng));
    let case = CaseId::random(&mut rng);
    let edit = Edit::new(guardian, at(2026, 11, 30, 9));
    let profile = Profile {
        case_reference: "HUL-7".into(),
        ..Profile::default()
    };
    let docs = new_case(case, &edit, &profile).expect("case");
    let mut safety = docs
        .into_iter()
        .find(|d| d.kind() == DocKind::Safety)
        .expect("safety");
    if placed.is_some() {
        safety
            .set_placement_started_at(&edit, placed)
            .expect("placement start");
    }
    Team {
        rng,
        safety,
        guardian,
        supervisor,
        carer,
    }
}

fn as_role(who: Author, role: WriterRole) -> Writer {
    Writer {
        user: who.user,
        role,
        device: who.device,
    }
}

fn invalid_field(result: Result<impl std::fmt::Debug>) -> String {
    match result {
        Err(Error::InvalidInput { field, .. }) => field,
        other => panic!("expected InvalidInput, got {other:?}"),
    }
}

#[test]
fn supervision_ends_8_and_12_weeks_after_the_placement_start_same_time_in_england() {
    let placed = at(2026, 12, 1, 10);
    let eight = protection_plan_template(placed, 8).expect("8 weeks");
    let until = |steps: &[PlanStep]| -> Vec<DateTime<Utc>> {
        steps.iter().filter_map(|s| s.supervision_until).collect()
    };
    assert_eq!(until(&eight), vec![at(2027, 1, 26, 10)]);
    let twelve = protection_plan_template(placed, 12).expect("12 weeks");
    assert_eq!(until(&twelve), vec![at(2027, 2, 23, 10)]);
    // Across the spring clock change: 10:00 in London stays 10:00 (09:00 UTC in summer).
    let winter = at(2027, 1, 10, 10);
    let across = protection_plan_template(winter, 12).expect("12 weeks");
    assert_eq!(until(&across), vec![at(2027, 4, 4, 9)]);
    assert!(
        twelve
            .iter()
            .any(|s| s.description.contains("first 12 weeks"))
    );
}

#[test]
fn supervision_weeks_out_of_range_are_refused_naming_the_field() {
    for weeks in [0, 7, 13, 52] {
        let result = protection_plan_template(at(2026, 12, 1, 10), weeks);
        assert_eq!(invalid_field(result), "supervision_weeks", "{weeks} weeks");
    }
}

#[test]
fn the_template_holds_the_guidance_steps_and_marks_those_that_restrict() {
    let steps = protection_plan_template(at(2026, 12, 1, 10), 10).expect("template");
    assert_eq!(steps.len(), 5);
    let find = |word: &str| {
        steps
            .iter()
            .find(|s| s.description.contains(word))
            .unwrap_or_else(|| panic!("a step about {word}"))
    };
    for restricting in ["phone", "Internet", "supervision", "room"] {
        let step = find(restricting);
        assert!(step.restricts && step.review_needed(), "{restricting}");
    }
    let number = find("emergency number");
    assert!(!number.restricts && !number.review_needed());
    assert!(
        steps
            .iter()
            .all(|s| s.child_agreed == ChildAgreement::NotAsked)
    );
    assert_eq!(
        find("room").schedule(),
        Some(CheckSchedule::DailyAt(
            NaiveTime::from_hms_opt(22, 0, 0).expect("time")
        ))
    );
}

#[test]
fn a_restriction_the_user_marks_needs_review_until_a_supervisor_approves() {
    let mut step = PlanStep {
        description: "No visitors without staff present".into(),
        ..PlanStep::default()
    };
    assert!(!step.review_needed());
    step.restricts = true;
    assert!(step.review_needed());
    step.review_outcome = Some(StepReviewOutcome::ChangesAsked);
    assert!(step.review_needed(), "changes asked still waits");
    step.review_outcome = Some(StepReviewOutcome::Approved);
    assert!(!step.review_needed());
    step.review_outcome = None;
    step.status = StepStatus::Retired;
    assert!(!step.review_needed(), "a retired step needs no review");
}

#[test]
fn applying_the_template_adds_every_step_in_one_change() {
    let mut t = team(Some(at(2026, 11, 2, 15)));
    let edit = Edit::new(t.guardian, at(2026, 11, 30, 10));
    let changes_before = t.safety.history().len();
    let ids = t
        .safety
        .edit_checked(&as_role(t.guardian, WriterRole::Guardian), |d| {
            d.apply_plan_template(&edit, &mut t.rng, 8)
        })
        .expect("applied");
    assert_eq!(t.safety.history().len(), changes_before + 1, "one change");
    let stored = t.safety.plan_steps().expect("steps");
    let mut stored_ids: Vec<EntryId> = stored.iter().map(|(id, _)| *id).collect();
    let mut expected = ids.clone();
    stored_ids.sort_unstable();
    expected.sort_unstable();
    assert_eq!(stored_ids, expected);
    let supervision = stored
        .iter()
        .find_map(|(_, s)| s.supervision_until)
        .expect("supervision step");
    assert_eq!(supervision, at(2026, 12, 28, 15));
    // The scheduled step's checks start at the edit.
    assert!(
        stored
            .iter()
            .filter(|(_, s)| s.schedule().is_some())
            .all(|(_, s)| s.checks_from == Some(edit.at))
    );
}

#[test]
fn the_template_without_a_placement_start_or_with_bad_weeks_writes_nothing() {
    let mut t = team(None);
    let edit = Edit::new(t.guardian, at(2026, 11, 30, 10));
    let before = t.safety.save();
    let result = t.safety.apply_plan_template(&edit, &mut t.rng, 8);
    assert_eq!(invalid_field(result), "placement_started_at");
    assert_eq!(t.safety.save(), before);

    let mut t = team(Some(at(2026, 11, 2, 15)));
    let before = t.safety.save();
    let result = t.safety.apply_plan_template(&edit, &mut t.rng, 13);
    assert_eq!(invalid_field(result), "supervision_weeks");
    assert_eq!(t.safety.save(), before);
}

#[test]
fn the_template_is_not_applied_twice_while_its_steps_are_in_force() {
    let mut t = team(Some(at(2026, 11, 2, 15)));
    let edit = Edit::new(t.guardian, at(2026, 11, 30, 10));
    t.safety
        .apply_plan_template(&edit, &mut t.rng, 8)
        .expect("template");
    let before = t.safety.save();
    let again = t.safety.apply_plan_template(&edit, &mut t.rng, 10);
    assert_eq!(invalid_field(again), "plan_steps");
    assert_eq!(t.safety.save(), before, "nothing written");
    assert_eq!(t.safety.plan_steps().expect("steps").len(), 5);
}

/// A team with the template applied by the guardian; the id of its phone step.
fn planned() -> (Team, EntryId) {
    let mut t = team(Some(at(2026, 11, 2, 15)));
    let edit = Edit::new(t.guardian, at(2026, 11, 30, 10));
    t.safety
        .apply_plan_template(&edit, &mut t.rng, 8)
        .expect("template");
    let phone = t
        .safety
        .plan_steps()
        .expect("steps")
        .into_iter()
        .find(|(_, s)| s.description.contains("phone"))
        .expect("phone step")
        .0;
    (t, phone)
}

#[test]
fn only_a_supervisor_records_a_review_and_under_their_own_name() {
    let (mut t, phone) = planned();
    let review_at = at(2026, 11, 30, 11);
    for (who, role) in [
        (t.guardian, WriterRole::Guardian),
        (t.guardian, WriterRole::SocialWorker),
        (t.carer, WriterRole::Carer),
        (t.guardian, WriterRole::Administrator),
    ] {
        let before = t.safety.save();
        let edit = Edit::new(who, review_at);
        let result = t.safety.edit_checked(&as_role(who, role), |d| {
            d.review_plan_step(&edit, phone, StepReviewOutcome::Approved)
        });
        assert!(
            matches!(result, Err(Error::NotPermitted { .. })),
            "{role}: {result:?}"
        );
        assert_eq!(t.safety.save(), before, "{role}: nothing written");
    }

    // A guardian who writes the review fields through an ordinary step update is refused.
    let mut forged = t.safety.plan_steps().expect("steps")[0].1.clone();
    let first = t.safety.plan_steps().expect("steps")[0].0;
    forged.restricts = true;
    forged.review_outcome = Some(StepReviewOutcome::Approved);
    forged.reviewed_by = Some(t.supervisor.user);
    forged.reviewed_at = Some(review_at);
    let edit = Edit::new(t.guardian, review_at);
    let result = t
        .safety
        .edit_checked(&as_role(t.guardian, WriterRole::Guardian), |d| {
            d.update_plan_step(&edit, first, &forged)
        });
    match result {
        Err(Error::NotPermitted { record, reason }) => {
            assert!(record.ends_with("review"), "{record}");
            assert!(reason.contains("only a supervisor"), "{reason}");
        }
        other => panic!("expected NotPermitted, got {other:?}"),
    }

    // A supervisor who names another supervisor is refused too.
    let someone_else = author(&mut t.rng);
    forged.reviewed_by = Some(someone_else.user);
    let edit = Edit::new(t.supervisor, review_at);
    let result = t
        .safety
        .edit_checked(&as_role(t.supervisor, WriterRole::Supervisor), |d| {
            d.update_plan_step(&edit, first, &forged)
        });
    assert!(
        matches!(result, Err(Error::NotPermitted { .. })),
        "{result:?}"
    );

    // The supervisor's own review is kept, with who and when.
    t.safety
        .edit_checked(&as_role(t.supervisor, WriterRole::Supervisor), |d| {
            d.review_plan_step(&edit, phone, StepReviewOutcome::ChangesAsked)
        })
        .expect("the supervisor reviews");
    let step = t
        .safety
        .entry::<PlanStep>(&["plan_steps"], phone)
        .expect("step");
    assert_eq!(step.review_outcome, Some(StepReviewOutcome::ChangesAsked));
    assert_eq!(step.reviewed_by, Some(t.supervisor.user));
    assert_eq!(step.reviewed_at, Some(review_at));
    assert!(step.review_needed());

    // The guardian changes the step afterwards (allowed: the review fields are untouched);
    // the supervisor then approves it.
    let mut changed = step.clone();
    changed.description = "Phone kept by carers at night only".into();
    changed.child_agreed = ChildAgreement::Agreed;
    let edit = Edit::new(t.guardian, at(2026, 11, 30, 12));
    t.safety
        .edit_checked(&as_role(t.guardian, WriterRole::Guardian), |d| {
            d.update_plan_step(&edit, phone, &changed)
        })
        .expect("the guardian changes the step");
    let edit = Edit::new(t.supervisor, at(2026, 11, 30, 13));
    t.safety
        .edit_checked(&as_role(t.supervisor, WriterRole::Supervisor), |d| {
            d.review_plan_step(&edit, phone, StepReviewOutcome::Approved)
        })
        .expect("approved");
    let step = t
        .safety
        .entry::<PlanStep>(&["plan_steps"], phone)
        .expect("step");
    assert!(!step.review_needed());
    assert_eq!(step.child_agreed, ChildAgreement::Agreed);
}

/// An approval is of the wording approved: a guardian who rewords the step (offline, or
/// after the approval) makes it need review again, without touching the review; the
/// supervisor's new approval covers the new wording.
#[test]
fn a_reworded_restricting_step_needs_review_again() {
    let (mut t, phone) = planned();
    let supervisor = as_role(t.supervisor, WriterRole::Supervisor);
    let edit = Edit::new(t.supervisor, at(2026, 11, 30, 11));
    t.safety
        .edit_checked(&supervisor, |d| {
            d.review_plan_step(&edit, phone, StepReviewOutcome::Approved)
        })
        .expect("approved");
    let step = |t: &Team| {
        t.safety
            .entry::<PlanStep>(&["plan_steps"], phone)
            .expect("step")
    };
    assert!(!step(&t).review_needed());
    // Agreeing with the child, or spaces at the ends, is not a rewording.
    let mut agreed = step(&t);
    agreed.child_agreed = ChildAgreement::Agreed;
    agreed.description = format!("{}  ", agreed.description);
    let edit = Edit::new(t.guardian, at(2026, 11, 30, 12));
    t.safety
        .edit_checked(&as_role(t.guardian, WriterRole::Guardian), |d| {
            d.update_plan_step(&edit, phone, &agreed)
        })
        .expect("agreed");
    assert!(!step(&t).review_needed());
    let mut reworded = step(&t);
    reworded.description = "Phone kept by the carers day and night".into();
    let edit = Edit::new(t.guardian, at(2026, 11, 30, 13));
    t.safety
        .edit_checked(&as_role(t.guardian, WriterRole::Guardian), |d| {
            d.update_plan_step(&edit, phone, &reworded)
        })
        .expect("the guardian rewords the step (the review is untouched)");
    let now = step(&t);
    assert_eq!(now.review_outcome, Some(StepReviewOutcome::Approved));
    assert!(now.review_needed(), "an approval of the old wording");
    let edit = Edit::new(t.supervisor, at(2026, 11, 30, 14));
    t.safety
        .edit_checked(&supervisor, |d| {
            d.review_plan_step(&edit, phone, StepReviewOutcome::Approved)
        })
        .expect("approved again");
    assert!(!step(&t).review_needed());
    // A review recorded before wordings were kept still stands.
    let legacy = PlanStep {
        reviewed_wording: None,
        ..step(&t)
    };
    assert!(!legacy.review_needed());
}

/// A supervisor may withdraw a review (an approval given too soon): the step needs review
/// again, the withdrawal is on record under their name; nobody else may, and a step with no
/// review has nothing to withdraw.
#[test]
fn a_supervisor_withdraws_an_approval_and_nobody_else_may() {
    let (mut t, phone) = planned();
    let supervisor = as_role(t.supervisor, WriterRole::Supervisor);
    let edit = Edit::new(t.supervisor, at(2026, 11, 30, 11));
    assert_eq!(
        invalid_field(t.safety.edit_checked(&supervisor, |d| {
            d.withdraw_plan_step_review(&edit, phone)
        })),
        "step"
    );
    t.safety
        .edit_checked(&supervisor, |d| {
            d.review_plan_step(&edit, phone, StepReviewOutcome::Approved)
        })
        .expect("approved");
    let before = t.safety.save();
    let edit = Edit::new(t.guardian, at(2026, 11, 30, 12));
    let refused = t
        .safety
        .edit_checked(&as_role(t.guardian, WriterRole::Guardian), |d| {
            d.withdraw_plan_step_review(&edit, phone)
        });
    assert!(
        matches!(refused, Err(Error::NotPermitted { .. })),
        "{refused:?}"
    );
    assert_eq!(t.safety.save(), before, "nothing written");
    let withdrawn_at = at(2026, 11, 30, 13);
    let edit = Edit::new(t.supervisor, withdrawn_at);
    t.safety
        .edit_checked(&supervisor, |d| d.withdraw_plan_step_review(&edit, phone))
        .expect("withdrawn");
    let step = t
        .safety
        .entry::<PlanStep>(&["plan_steps"], phone)
        .expect("step");
    assert!(step.review_needed());
    assert_eq!(step.review_outcome, None);
    assert_eq!(step.reviewed_by, Some(t.supervisor.user));
    assert_eq!(step.reviewed_at, Some(withdrawn_at));
}

#[test]
fn a_supervisor_adding_a_step_with_their_review_is_allowed_a_guardian_is_not() {
    let mut t = team(None);
    let mut step = PlanStep {
        description: "Internet only in the lounge".into(),
        restricts: true,
        review_outcome: Some(StepReviewOutcome::Approved),
        reviewed_by: Some(t.supervisor.user),
        reviewed_at: Some(at(2026, 11, 30, 9)),
        ..PlanStep::default()
    };
    let id = EntryId::random(&mut t.rng);
    let edit = Edit::new(t.guardian, at(2026, 11, 30, 10));
    let result = t
        .safety
        .edit_checked(&as_role(t.guardian, WriterRole::Guardian), |d| {
            d.add_plan_step(&edit, id, &step)
        });
    assert!(
        matches!(result, Err(Error::NotPermitted { .. })),
        "{result:?}"
    );
    let edit = Edit::new(t.supervisor, at(2026, 11, 30, 10));
    step.reviewed_at = Some(edit.at);
    t.safety
        .edit_checked(&as_role(t.supervisor, WriterRole::Supervisor), |d| {
            d.add_plan_step(&edit, id, &step)
        })
        .expect("the supervisor's own step and review");
}

#[test]
fn a_step_that_does_not_restrict_needs_no_review() {
    let (mut t, _) = planned();
    let number = t
        .safety
        .plan_steps()
        .expect("steps")
        .into_iter()
        .find(|(_, s)| !s.restricts)
        .expect("the emergency number step")
        .0;
    let edit = Edit::new(t.supervisor, at(2026, 11, 30, 11));
    let result = t
        .safety
        .review_plan_step(&edit, number, StepReviewOutcome::Approved);
    assert_eq!(invalid_field(result), "step");
}

#[test]
fn a_schedule_out_of_range_or_given_twice_is_refused_naming_the_field() {
    let mut t = team(None);
    let edit = Edit::new(t.guardian, at(2026, 11, 30, 10));
    for (step, field) in [
        (
            PlanStep {
                check_every_hours: Some(0),
                ..PlanStep::default()
            },
            "check_every_hours",
        ),
        (
            PlanStep {
                check_every_hours: Some(MAX_CHECK_EVERY_HOURS + 1),
                ..PlanStep::default()
            },
            "check_every_hours",
        ),
        (
            PlanStep {
                check_every_hours: Some(4),
                check_daily_at: NaiveTime::from_hms_opt(8, 0, 0),
                ..PlanStep::default()
            },
            "check_daily_at",
        ),
    ] {
        let before = t.safety.save();
        let id = EntryId::random(&mut t.rng);
        assert_eq!(
            invalid_field(t.safety.add_plan_step(&edit, id, &step)),
            field
        );
        assert_eq!(t.safety.save(), before);
    }
}

#[test]
fn a_check_not_possible_needs_a_reason_and_a_scheduled_step_needs_a_time() {
    let mut t = team(None);
    let edit = Edit::new(t.carer, at(2026, 11, 30, 10));
    let step = EntryId::random(&mut t.rng);
    t.safety
        .add_plan_step(
            &edit,
            step,
            &PlanStep {
                description: "Window locks".into(),
                check_every_hours: Some(12),
                ..PlanStep::default()
            },
        )
        .expect("step");
    let before = t.safety.save();
    let not_possible = SafetyCheck {
        checked_at: Some(edit.at),
        step: Some(step),
        status: CheckStatus::NotPossible,
        not_possible_reason: "  ".into(),
        ..SafetyCheck::default()
    };
    let id = EntryId::random(&mut t.rng);
    let result = t.safety.log_safety_check(&edit, id, &not_possible);
    assert_eq!(invalid_field(result), "not_possible_reason");
    let untimed = SafetyCheck {
        step: Some(step),
        ..SafetyCheck::default()
    };
    assert_eq!(
        invalid_field(t.safety.log_safety_check(&edit, id, &untimed)),
        "checked_at"
    );
    let future = SafetyCheck {
        checked_at: Some(edit.at + TimeDelta::hours(3)),
        step: Some(step),
        ..SafetyCheck::default()
    };
    assert_eq!(
        invalid_field(t.safety.log_safety_check(&edit, id, &future)),
        "checked_at"
    );
    assert_eq!(t.safety.save(), before, "nothing written");
    let with_reason = SafetyCheck {
        not_possible_reason: "The child was asleep; checked at 7am instead".into(),
        ..not_possible
    };
    t.safety
        .log_safety_check(&edit, id, &with_reason)
        .expect("logged");
    let checks = t.safety.safety_checks().expect("checks");
    assert_eq!(checks[0].1, with_reason);
}

#[test]
fn an_older_document_without_the_new_fields_reads_as_before_and_is_never_overdue() {
    let mut t = team(None);
    let (step, check) = (EntryId::random(&mut t.rng), EntryId::random(&mut t.rng));
    // A step and a check as written before the plan's new fields existed.
    let mut raw = automerge::AutoCommit::load(&t.safety.save()).expect("load");
    let steps = match raw.get(ROOT, "plan_steps").expect("get") {
        Some((_, id)) => id,
        None => panic!("plan_steps"),
    };
    let entry = raw
        .put_object(&steps, step.to_string().as_str(), ObjType::Map)
        .expect("step");
    let text = raw
        .put_object(&entry, "description", ObjType::Text)
        .expect("text");
    raw.splice_text(&text, 0, 0, "Curfew 9pm").expect("splice");
    raw.put(&entry, "responsible", "carers").expect("put");
    raw.put(&entry, "if_missing", false).expect("put");
    raw.put(&entry, "status", "active").expect("put");
    raw.put(&entry, "supervision_until", ()).expect("put");
    let checks = match raw.get(ROOT, "checks").expect("get") {
        Some((_, id)) => id,
        None => panic!("checks"),
    };
    let entry = raw
        .put_object(&checks, check.to_string().as_str(), ObjType::Map)
        .expect("check");
    raw.put(&entry, "checked_at", "2026-11-01T21:00:00Z")
        .expect("put");
    raw.put(&entry, "step", step.to_string()).expect("put");
    raw.put(&entry, "outcome", "ok").expect("put");
    let note = raw.put_object(&entry, "note", ObjType::Text).expect("text");
    raw.splice_text(&note, 0, 0, "Home on time")
        .expect("splice");
    let old = CaseDoc::load(t.safety.id(), Some(&raw.save()), &[]).expect("old document");

    let steps = old.plan_steps().expect("an old step reads");
    assert_eq!(
        steps,
        vec![(
            step,
            PlanStep {
                description: "Curfew 9pm".into(),
                ..PlanStep::default()
            }
        )]
    );
    assert!(!steps[0].1.review_needed());
    let checks = old.safety_checks().expect("an old check reads");
    assert_eq!(checks[0].1.status, CheckStatus::Done);
    assert_eq!(checks[0].1.not_possible_reason, "");
    assert!(overdue_safety_checks(&steps, &checks, at(2027, 6, 1, 9)).is_empty());

    // Updating the old step writes no default of a field it lacks.
    let mut old = old;
    let edit = Edit::new(t.guardian, at(2026, 11, 30, 10));
    let mut changed = steps[0].1.clone();
    changed.description = "Curfew 9.30pm".into();
    old.update_plan_step(&edit, step, &changed).expect("update");
    let key = step.to_string();
    let obj = old.object(&["plan_steps", key.as_str()]).expect("entry");
    assert!(
        old.automerge()
            .get(&obj, "review_outcome")
            .expect("get")
            .is_none()
    );
    assert!(
        old.automerge()
            .get(&obj, "child_agreed")
            .expect("get")
            .is_none()
    );
}
