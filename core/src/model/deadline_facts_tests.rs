//! Tests of the deadline facts: read from the documents without a clock, then asked at a
//! time, they give the list `case_deadlines` gives from the records.

use chrono::{Duration, NaiveDate, NaiveTime, TimeZone};
use rand::SeedableRng;
use rand::rngs::StdRng;

use super::*;
use crate::doc::{Author, CaseDoc, Edit};
use crate::ids::{CaseId, DeviceId, UserId};
use crate::model::{
    AgeStatus, Deadline, DeadlineKind, Immigration, ImmigrationOutcome, MissingEpisode, Nrm,
    PlanDates, ReturnInterviewOutcome, case_deadlines, new_case, overdue_check,
    safety_check_deadline, sort_deadlines,
};

const CANARY: &str = "CANARY-deadline-facts";

fn at(month: u32, day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, month, day, hour, 0, 0)
        .single()
        .expect("time")
}

fn date(y: i32, m: u32, d: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(y, m, d)
}

/// The case's list at `now` from the facts alone (as the server computes it from its index).
fn from_facts(
    profile: &DeadlineFacts,
    safety: &DeadlineFacts,
    now: DateTime<Utc>,
) -> Vec<Deadline> {
    let mut out = Vec::new();
    for facts in [profile, safety] {
        match facts {
            DeadlineFacts::Profile(deadlines) => {
                out.extend(deadlines.iter().filter_map(|d| d.at(now)));
            }
            DeadlineFacts::Safety {
                deadlines,
                steps,
                checks,
            } => {
                out.extend(deadlines.iter().filter_map(|d| d.at(now)));
                for s in steps {
                    let last = checks
                        .iter()
                        .filter(|c| c.step == s.step && c.checked_at <= now)
                        .map(|c| c.checked_at)
                        .max();
                    if let Some(o) = overdue_check(s.step, s.schedule, s.checks_from, last, now) {
                        out.push(safety_check_deadline(&o));
                    }
                }
            }
        }
    }
    sort_deadlines(&mut out);
    out
}

#[test]
fn facts_asked_at_a_time_give_the_case_deadlines_of_the_records() {
    let mut rng = StdRng::seed_from_u64(12);
    let author = Author {
        user: UserId::random(&mut rng),
        device: DeviceId::random(&mut rng),
    };
    let start = Edit::new(author, at(1, 5, 9));
    let profile = Profile {
        case_reference: CANARY.into(),
        given_name: CANARY.into(),
        date_of_birth: date(2008, 7, 2),
        age_status: AgeStatus::Documented,
        ..Profile::default()
    };
    let mut docs = new_case(CaseId::random(&mut rng), &start, &profile).expect("case");
    let edit = Edit::new(author, at(3, 20, 12));
    let find = |docs: &mut Vec<CaseDoc>, kind: DocKind| {
        docs.iter()
            .position(|d| d.kind() == kind)
            .expect("document")
    };
    let p = find(&mut docs, DocKind::Profile);
    let mut record = docs[p].profile().expect("profile");
    record.nrm = Nrm {
        referred_on: date(2026, 3, 2),
        ..Nrm::default()
    };
    record.plans = PlanDates {
        care_plan: date(2026, 4, 1),
        ..PlanDates::default()
    };
    record.immigration = Immigration {
        outcome: ImmigrationOutcome::UascLeave,
        leave_expires_on: date(2026, 9, 1),
        ..Immigration::default()
    };
    docs[p].set_profile(&edit, &record).expect("profile saved");

    let s = find(&mut docs, DocKind::Safety);
    let safety = &mut docs[s];
    let returned = MissingEpisode {
        missing_since: Some(at(3, 10, 22)),
        returned_at: Some(at(3, 11, 8)),
        return_interview_outcome: ReturnInterviewOutcome::NotYet,
        circumstances: CANARY.into(),
        ..MissingEpisode::default()
    };
    safety
        .start_missing_episode(&edit, EntryId::random(&mut rng), &returned)
        .expect("episode");
    let hourly = EntryId::random(&mut rng);
    let daily = EntryId::random(&mut rng);
    let retired = EntryId::random(&mut rng);
    for (id, step) in [
        (
            hourly,
            PlanStep {
                description: CANARY.into(),
                check_every_hours: Some(4),
                checks_from: Some(at(3, 15, 8)),
                ..PlanStep::default()
            },
        ),
        (
            daily,
            PlanStep {
                description: CANARY.into(),
                check_daily_at: NaiveTime::from_hms_opt(21, 0, 0),
                checks_from: Some(at(3, 15, 8)),
                ..PlanStep::default()
            },
        ),
        (
            retired,
            PlanStep {
                description: CANARY.into(),
                check_every_hours: Some(1),
                checks_from: Some(at(3, 15, 8)),
                status: StepStatus::Retired,
                ..PlanStep::default()
            },
        ),
    ] {
        safety.add_plan_step(&edit, id, &step).expect("step");
    }
    for (step, when) in [
        (hourly, at(3, 18, 9)),
        (daily, at(3, 17, 21)),
        (hourly, at(3, 20, 11)),
    ] {
        let check = SafetyCheck {
            checked_at: Some(when),
            step: Some(step),
            note: CANARY.into(),
            ..SafetyCheck::default()
        };
        safety
            .log_safety_check(&edit, EntryId::random(&mut rng), &check)
            .expect("check");
    }

    let profile_facts = deadline_facts_in(docs[p].id(), docs[p].automerge())
        .expect("profile facts")
        .expect("some");
    let safety_facts = deadline_facts_in(docs[s].id(), docs[s].automerge())
        .expect("safety facts")
        .expect("some");
    let DeadlineFacts::Safety { steps, checks, .. } = &safety_facts else {
        panic!("safety facts");
    };
    assert_eq!(steps.len(), 2, "the retired step is left out");
    assert_eq!(checks.len(), 3);
    assert!(!format!("{profile_facts:?}{safety_facts:?}").contains(CANARY));

    let record = docs[p].profile().expect("profile");
    let episodes = docs[s].missing_episodes().expect("episodes");
    let plan = docs[s].plan_steps().expect("steps");
    let logged = docs[s].safety_checks().expect("checks");
    // Before and after the check at 11:00 on 20 March, over the return interview's time,
    // the care plan review, the 18th birthday (2 July 2026) and the review at 17½ passing.
    let mut times = vec![at(3, 18, 10), at(3, 20, 10), at(3, 20, 12), at(3, 25, 9)];
    times.extend([at(4, 2, 0), at(7, 3, 12), at(12, 1, 0)]);
    let mut seen_overdue_check = false;
    for now in times {
        let expected = case_deadlines(Some(&record), &episodes, &plan, &logged, now).expect("list");
        assert_eq!(
            from_facts(&profile_facts, &safety_facts, now),
            expected,
            "at {now}"
        );
        seen_overdue_check |= expected.iter().any(|d| d.kind == DeadlineKind::SafetyCheck);
    }
    assert!(seen_overdue_check, "the times cover an overdue check");
    // A check logged after the time asked is not counted (as the device's rule).
    let later = at(3, 20, 10) - Duration::minutes(1);
    let DeadlineFacts::Safety { steps, checks, .. } = &safety_facts else {
        panic!("safety facts");
    };
    let hourly_step = steps.iter().find(|s| s.step == hourly).expect("hourly");
    let last = checks
        .iter()
        .filter(|c| c.step == hourly)
        .map(|c| c.checked_at)
        .max();
    assert!(
        overdue_check(
            hourly,
            hourly_step.schedule,
            hourly_step.checks_from,
            last,
            later
        )
        .is_some()
    );
}

#[test]
fn other_kinds_fix_no_deadline_and_a_document_of_another_case_is_refused() {
    let mut rng = StdRng::seed_from_u64(13);
    let author = Author {
        user: UserId::random(&mut rng),
        device: DeviceId::random(&mut rng),
    };
    let docs = new_case(
        CaseId::random(&mut rng),
        &Edit::new(author, at(1, 5, 9)),
        &Profile {
            case_reference: "HUL-13".into(),
            ..Profile::default()
        },
    )
    .expect("case");
    for d in &docs {
        let facts = deadline_facts_in(d.id(), d.automerge()).expect("facts");
        assert_eq!(
            facts.is_some(),
            matches!(d.kind(), DocKind::Profile | DocKind::Safety),
            "{:?}",
            d.kind()
        );
        let elsewhere = DocId::new(CaseId::random(&mut rng), d.kind());
        if facts.is_some() {
            assert!(deadline_facts_in(elsewhere, d.automerge()).is_err());
        }
    }
}
