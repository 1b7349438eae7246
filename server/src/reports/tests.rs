//! Tests of the facts index and the report over it: a report counts only its scope's cases,
//! CSV suppresses small numbers, a note keeps the time it was first submitted, and documents
//! stored before the index are indexed once by the backfill.

use casebook_core::doc::{Author, CaseDoc, DocId, DocKind, Edit};
use casebook_core::ids::{CaseId, DeviceId, EntryId, UserId};
use casebook_core::model::{
    DocFacts, EpisodeCategory, EpisodeFact, MissingEpisode, NoteFact, Profile, ReviewStatus,
    new_case,
};
use chrono::{DateTime, TimeZone, Utc};
use rand::SeedableRng;
use rand::rngs::StdRng;

use super::*;
use crate::sql::{Conn, TestDb};

const CANARY: &str = "CANARY-reports-module-free-text";

fn db() -> TestDb {
    let db = TestDb::migrated();
    db.conn()
        .execute_batch(
            "INSERT INTO orgs (id, name, created_at) VALUES ('org-a', 'A', 0), ('org-b', 'B', 0);
         INSERT INTO users (id, org_id, name, role, created_at)
             VALUES ('sup', 'org-a', 'S', 'supervisor', 0);
         INSERT INTO teams (id, org_id, name) VALUES ('t1', 'org-a', 'T1'), ('t2', 'org-a', 'T2');
         INSERT INTO team_members (team_id, user_id) VALUES ('t1', 'sup');",
        )
        .expect("directory");
    db
}

fn at(m: u32, d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, m, d, h, 0, 0)
        .single()
        .expect("time")
}

fn add_case(conn: Conn<'_>, case: CaseId, org: &str, team: Option<&str>) {
    conn.execute(
        "INSERT INTO cases (id, org_id, team_id, created_at) VALUES (?1, ?2, ?3, 0)",
        crate::params![case.to_string(), org, team],
    )
    .expect("case");
}

fn episode(rng: &mut StdRng, started: DateTime<Utc>) -> EpisodeFact {
    EpisodeFact {
        id: EntryId::random(rng),
        category: EpisodeCategory::Missing,
        started_at: Some(started),
        ended_at: None,
        interview_within_72_hours: false,
        repeat: false,
    }
}

fn period() -> Period {
    Period::new(at(1, 1, 0).date_naive(), at(1, 31, 0).date_naive()).expect("period")
}

#[test]
fn a_supervisor_s_report_counts_their_teams_cases_an_administrator_s_their_organisation() {
    let mut db = db();
    let mut rng = StdRng::seed_from_u64(1);
    // Six cases with one open episode each: three in team 1, two in team 2, one in org B.
    let places = [
        ("org-a", Some("t1")),
        ("org-a", Some("t1")),
        ("org-a", Some("t1")),
        ("org-a", Some("t2")),
        ("org-a", None),
        ("org-b", None),
    ];
    db.write(|tx| {
        for (org, team) in places {
            let case = CaseId::random(&mut rng);
            add_case(**tx, case, org, team);
            let facts = DocFacts::Episodes(vec![episode(&mut rng, at(1, 10, 2))]);
            facts::record(tx, &DocId::new(case, DocKind::Safety), &facts, 0).expect("record");
        }
    });
    let now = at(2, 1, 0).timestamp();
    let org = report(
        db.conn(),
        Scope::Organisation("org-a".into()),
        period(),
        now,
    )
    .expect("org");
    assert_eq!(org.get("scope", "all", "children"), Some(Value::Count(5)));
    assert_eq!(
        org.get("missing", "all", "still_missing"),
        Some(Value::Count(5))
    );
    let teams = Scope::Teams {
        org: "org-a".into(),
        supervisor: "sup".into(),
    };
    let sup = report(db.conn(), teams, period(), now).expect("teams");
    assert_eq!(sup.get("scope", "all", "children"), Some(Value::Count(3)));
    assert_eq!(sup.get("missing", "all", "episodes"), Some(Value::Count(3)));
    // The CSV suppresses the 3 and keeps the 5; JSON only when asked.
    let csv = sup.to_csv();
    assert!(csv.contains("missing,all,episodes,fewer than 5\n"), "{csv}");
    assert!(org.to_csv().contains("missing,all,still_missing,5\n"));
    assert_eq!(
        sup.to_json(false)["figures"]["missing"]["all"]["episodes"],
        3
    );
    assert_eq!(
        sup.to_json(true)["figures"]["missing"]["all"]["episodes"],
        "fewer than 5"
    );
    assert_eq!(
        sup.to_json(true)["figures"]["scope"]["all"]["children"],
        "fewer than 5"
    );
}

#[test]
fn a_note_keeps_the_time_it_was_first_stored_as_submitted_until_its_review_changes() {
    let mut db = db();
    let mut rng = StdRng::seed_from_u64(2);
    let case = CaseId::random(&mut rng);
    add_case(db.conn(), case, "org-a", Some("t1"));
    let doc = DocId::new(case, DocKind::Visits);
    let id = EntryId::random(&mut rng);
    let note = |review| {
        DocFacts::Notes(vec![NoteFact {
            id,
            visited_at: Some(at(1, 5, 10)),
            review,
        }])
    };
    let submitted_at = |conn: Conn<'_>| -> Option<i64> {
        conn.query_row("SELECT submitted_at FROM report_notes", [], |r| r.get(0))
            .expect("row")
    };
    let store = |db: &mut TestDb, facts: &DocFacts, now: i64| {
        db.write(|tx| {
            facts::record(tx, &doc, facts, now).expect("record");
        });
    };
    store(&mut db, &note(ReviewStatus::Draft), 100);
    assert_eq!(submitted_at(db.conn()), None);
    store(&mut db, &note(ReviewStatus::Submitted), 200);
    store(&mut db, &note(ReviewStatus::Submitted), 300);
    assert_eq!(
        submitted_at(db.conn()),
        Some(200),
        "another save keeps the time"
    );
    store(&mut db, &note(ReviewStatus::Returned), 400);
    assert_eq!(submitted_at(db.conn()), None);
    store(&mut db, &note(ReviewStatus::Submitted), 500);
    assert_eq!(
        submitted_at(db.conn()),
        Some(500),
        "submitted again: a new wait"
    );
}

#[test]
fn documents_stored_before_the_index_are_indexed_once_by_the_backfill() {
    let mut db = db();
    let mut rng = StdRng::seed_from_u64(3);
    let author = Author {
        user: UserId::random(&mut rng),
        device: DeviceId::random(&mut rng),
    };
    let case = CaseId::random(&mut rng);
    add_case(db.conn(), case, "org-a", Some("t1"));
    let edit = Edit::new(author, at(1, 20, 12));
    let profile = Profile {
        case_reference: "HUL-BACKFILL".into(),
        given_name: CANARY.into(),
        ..Profile::default()
    };
    let mut docs: Vec<CaseDoc> = new_case(case, &edit, &profile).expect("case");
    let safety = docs
        .iter_mut()
        .find(|d| d.kind() == DocKind::Safety)
        .expect("safety");
    let episode = MissingEpisode {
        missing_since: Some(at(1, 10, 2)),
        circumstances: CANARY.into(),
        ..MissingEpisode::default()
    };
    safety
        .start_missing_episode(&edit, EntryId::random(&mut rng), &episode)
        .expect("episode");
    let step = casebook_core::model::PlanStep {
        description: CANARY.into(),
        check_every_hours: Some(12),
        ..casebook_core::model::PlanStep::default()
    };
    safety
        .add_plan_step(&edit, EntryId::random(&mut rng), &step)
        .expect("step");
    // Stored as an older server stored them: no facts.
    for (seq, doc) in docs.iter_mut().enumerate() {
        let id = doc.id();
        db.conn()
            .execute(
                "INSERT INTO docs (doc_id, case_id, kind, seq, bytes) VALUES (?1, ?2, ?3, ?4, ?5)",
                crate::params![
                    id.to_string(),
                    case.to_string(),
                    id.kind.as_str(),
                    i64::try_from(seq).expect("seq"),
                    doc.save()
                ],
            )
            .expect("doc");
    }
    // A fresh database has the backfill pending (migration 009 asks for it).
    assert!(facts::backfill_pending(db.conn()).expect("pending"));
    db.write(|tx| {
        assert_eq!(facts::backfill(tx, 0).expect("backfill"), 3);
    });
    assert!(!facts::backfill_pending(db.conn()).expect("done"));
    // The deadline index too (migration 011): both documents read, the step's schedule kept.
    let count = |sql: &str| -> i64 { db.conn().query_row(sql, [], |r| r.get(0)).expect("count") };
    assert_eq!(
        count("SELECT COUNT(*) FROM deadline_docs WHERE readable = 1"),
        2
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM plan_check_steps WHERE every_hours = 12"),
        1
    );
    let now = at(2, 1, 0).timestamp();
    let made = report(
        db.conn(),
        Scope::Organisation("org-a".into()),
        period(),
        now,
    )
    .expect("r");
    assert_eq!(
        made.get("missing", "all", "episodes"),
        Some(Value::Count(1))
    );
    // Run again: nothing more (the marker is gone).
    db.write(|tx| {
        assert_eq!(facts::backfill(tx, 0).expect("again"), 0);
    });
    let stored: String = db
        .conn()
        .query_row(
            "SELECT group_concat(category || started_at) FROM report_episodes",
            [],
            |r| r.get(0),
        )
        .expect("facts");
    assert!(!stored.contains("CANARY"));
    assert!(!made.to_csv().contains(CANARY));
    assert!(!made.to_json(false).to_string().contains(CANARY));
}

#[test]
fn bad_dates_formats_and_periods_are_refused_naming_the_field() {
    let q = |from: &str, to: &str, format: &str| ReportQuery {
        from: Some(from.into()),
        to: Some(to.into()),
        format: Some(format.into()),
        suppress: None,
    };
    let message = |query: ReportQuery| match query.parse() {
        Err(Error::BadRequest(m)) => m,
        other => panic!("expected a refusal, got {other:?}"),
    };
    assert!(message(q("2026-02-01", "2026-01-31", "json")).starts_with("to: is before from"));
    assert!(message(q("2026-13-01", "2026-01-31", "json")).starts_with("from:"));
    assert!(message(q("2026-01-01", "yesterday", "json")).starts_with("to:"));
    assert!(message(q("2026-01-01", "2026-01-31", "xml")).starts_with("format:"));
    assert!(message(ReportQuery::default()).starts_with("from:"));
    let (_, format, suppress) = q("2026-01-01", "2026-01-31", "csv").parse().expect("ok");
    assert_eq!(
        (format, suppress),
        (Format::Csv, true),
        "CSV is always suppressed"
    );
    let (_, format, suppress) = q("2026-01-01", "2026-01-31", "").parse().expect("ok");
    assert_eq!((format, suppress), (Format::Json, false));
}

/// Overdue carers' checks are counted from the deadline index at the period's end (or now, if
/// earlier): a check logged after the period does not end an overdue within it.
#[test]
fn overdue_checks_are_counted_at_the_period_s_end_from_the_deadline_index() {
    use casebook_core::model::{CheckFact, CheckSchedule, DeadlineFacts, StepCheckFact};
    use chrono::NaiveTime;

    use crate::deadline_index::{self, Indexed};

    let mut db = db();
    let mut rng = StdRng::seed_from_u64(4);
    let step = |rng: &mut StdRng, schedule| StepCheckFact {
        step: EntryId::random(rng),
        schedule,
        checks_from: at(1, 1, 0),
    };
    let check = |rng: &mut StdRng, step: &StepCheckFact, at| CheckFact {
        check: EntryId::random(rng),
        step: step.step,
        checked_at: at,
    };
    // A (team 1): daily-ish every 24 hours, last checked 10 January at noon within the
    // period (and on 20 February, after it). B (team 1): daily at 21:00, checked on 31
    // January at 21:00. C (team 2): two steps every 4 hours, never checked.
    let a = step(&mut rng, CheckSchedule::EveryHours(24));
    let b = step(
        &mut rng,
        CheckSchedule::DailyAt(NaiveTime::MIN + chrono::TimeDelta::hours(21)),
    );
    let c1 = step(&mut rng, CheckSchedule::EveryHours(4));
    let c2 = step(&mut rng, CheckSchedule::EveryHours(4));
    let a_checks = vec![
        check(&mut rng, &a, at(1, 10, 12)),
        check(&mut rng, &a, at(2, 20, 12)),
    ];
    let b_checks = vec![check(&mut rng, &b, at(1, 31, 21))];
    db.write(|tx| {
        for (team, steps, checks) in [
            ("t1", vec![a], a_checks),
            ("t1", vec![b], b_checks),
            ("t2", vec![c1, c2], Vec::new()),
        ] {
            let case = CaseId::random(&mut rng);
            add_case(**tx, case, "org-a", Some(team));
            let facts = Indexed::Facts(DeadlineFacts::Safety {
                deadlines: Vec::new(),
                steps,
                checks,
            });
            deadline_index::record(tx, &DocId::new(case, DocKind::Safety), &facts).expect("record");
        }
    });
    let figure = |r: &Report, measure| r.get("safety_checks", "all", measure);
    let later = at(3, 1, 0).timestamp();
    let org = report(
        db.conn(),
        Scope::Organisation("org-a".into()),
        period(),
        later,
    )
    .expect("org");
    assert_eq!(
        figure(&org, "children_with_overdue_checks"),
        Some(Value::Count(2))
    );
    assert_eq!(figure(&org, "overdue_checks"), Some(Value::Count(3)));
    let teams_scope = || Scope::Teams {
        org: "org-a".into(),
        supervisor: "sup".into(),
    };
    let sup = report(db.conn(), teams_scope(), period(), later).expect("teams");
    assert_eq!(
        figure(&sup, "children_with_overdue_checks"),
        Some(Value::Count(1))
    );
    assert_eq!(figure(&sup, "overdue_checks"), Some(Value::Count(1)));
    // Asked on 11 January at 06:00: A's check is not due until noon; B's check of 31 January
    // is not logged yet, so B is overdue since 1 January at 21:00; and C's two.
    let early = at(1, 11, 6).timestamp();
    let org = report(
        db.conn(),
        Scope::Organisation("org-a".into()),
        period(),
        early,
    )
    .expect("org");
    assert_eq!(figure(&org, "overdue_checks"), Some(Value::Count(3)));
    let sup = report(db.conn(), teams_scope(), period(), early).expect("teams");
    assert_eq!(figure(&sup, "overdue_checks"), Some(Value::Count(1)));
    assert!(
        org.to_csv()
            .contains("safety_checks,all,overdue_checks,fewer than 5\n")
    );
}
