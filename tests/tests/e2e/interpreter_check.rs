//! The interpreter link check across an organisation (issue 11, statutory guidance §26):
//! case A's persons of concern hold "Nguyễn Văn Hùng", +44 7700 900123; a guardian of another
//! team records a visit on case B with the interpreter "Hung Nguyen", 07700 900123, and
//! syncs. Case A's supervisor gets one `interpreter_link` alert naming case B's reference and
//! nothing else of case B; the guardian and the supervisor of case B get none. "Mai Tran" with
//! an unrelated number raises nothing.

use anyhow::Result;
use casebook_core::alert::AlertKind;
use casebook_core::doc::{DocId, DocKind};
use casebook_core::ids::{CaseId, EntryId};
use casebook_core::model::{Interpreter, InterpreterMode, PersonOfConcern, Profile, VisitNote};
use casebook_tests::support::Device;

use super::team;

const CASE_B: &str = "HUL-2026-0200";
const NOTE_CANARY: &str = "CANARY-case-B-wishes";

async fn links_on_server(t: &super::Team) -> Result<i64> {
    Ok(t.h
        .server
        .state
        .db
        .read(|c| {
            Ok(c.query_row(
                "SELECT COUNT(*) FROM alerts WHERE kind = 'interpreter_link'",
                [],
                |r| r.get(0),
            )?)
        })
        .await?)
}

fn visit(device: &Device, case: CaseId, name: &str, phone: &str) -> Result<()> {
    let note = VisitNote {
        place: "Supported lodgings".into(),
        wishes_and_feelings: NOTE_CANARY.into(),
        interpreter: Interpreter {
            mode: InterpreterMode::InPerson,
            name: name.into(),
            phone: phone.into(),
            agency: "Northern Languages".into(),
            language: "Vietnamese".into(),
            ..Interpreter::default()
        },
        ..VisitNote::default()
    };
    let id = EntryId::random(&mut rand::rngs::OsRng);
    device.change(DocId::new(case, DocKind::Visits), |d, e| {
        d.add_visit_note(e, id, &note)
    })?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interpreter_linked_to_another_cases_associate_alerts_that_cases_supervisor()
-> Result<()> {
    let t = team().await?;
    // Case A (the team's case): a person of concern.
    let person = EntryId::random(&mut rand::rngs::OsRng);
    t.guardian
        .change(DocId::new(t.case, DocKind::Associates), |d, e| {
            d.add_person(
                e,
                person,
                &PersonOfConcern {
                    name: "Nguyễn Văn Hùng".into(),
                    phone_numbers: vec!["+44 7700 900123".into()],
                    relationship: "CANARY-case-A-boss".into(),
                    ..PersonOfConcern::default()
                },
            )
        })?;
    t.guardian.sync().await?;

    // Case B: another team of the same organisation.
    let (guardian_b_id, guardian_b) = t.h.person("guardian b", "guardian").await?;
    let (supervisor_b_id, supervisor_b) = t.h.person("supervisor b", "supervisor").await?;
    let team_b =
        t.h.admin
            .team("Leeds team", &[&supervisor_b_id, &guardian_b_id])
            .await?;
    let case_b = guardian_b.lock().create_case(
        &guardian_b.edit(),
        &mut rand::rngs::OsRng,
        &Profile {
            case_reference: CASE_B.into(),
            ..Profile::default()
        },
    )?;
    guardian_b.sync().await?;
    t.h.admin.set_team(&case_b.to_string(), &team_b).await?;
    for device in [&t.supervisor, &guardian_b, &supervisor_b] {
        device.sync().await?;
    }

    // The guardian of case B records a visit with "Hung Nguyen", 07700 900123, and syncs.
    visit(&guardian_b, case_b, "Hung Nguyen", "07700 900123")?;
    let synced = guardian_b.sync().await?;
    assert!(synced.report.rejected.is_empty(), "{:?}", synced.report);
    assert!(synced.report.alerts.is_empty());
    assert_eq!(links_on_server(&t).await?, 1);

    // Case A's supervisor hears of it: case A, case B's reference, nothing else of case B.
    let heard = t.supervisor.sync().await?;
    let links: Vec<_> = heard
        .report
        .alerts
        .iter()
        .filter(|a| a.kind == AlertKind::InterpreterLink)
        .collect();
    assert_eq!(links.len(), 1, "{:?}", heard.report.alerts);
    let alert = links[0];
    assert_eq!(alert.case, t.case);
    assert_eq!(alert.linked_case_reference.as_deref(), Some(CASE_B));
    let shown = serde_json::to_string(&heard.report.alerts)?;
    // The number's subscriber digits, in whatever form it was written: "7700" alone also
    // turns up by chance in the alert's random hexadecimal ids.
    for secret in [
        "Hung",
        "Nguyen",
        "900123",
        "Northern",
        NOTE_CANARY,
        &case_b.to_string(),
    ] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
    // Stored on the supervisor's phone with the reference.
    let stored = t.supervisor.lock().alerts()?;
    assert!(
        stored
            .iter()
            .any(|s| s.alert.linked_case_reference.as_deref() == Some(CASE_B))
    );

    // Nobody on case B (nor case A's guardian) is told about case A.
    for device in [&guardian_b, &supervisor_b, &t.guardian] {
        let report = device.sync().await?.report;
        assert!(
            report
                .alerts
                .iter()
                .all(|a| a.kind != AlertKind::InterpreterLink),
            "{:?}",
            report.alerts
        );
    }

    // "Mai Tran" with an unrelated number: nothing more.
    visit(&guardian_b, case_b, "Mai Tran", "07700 900456")?;
    guardian_b.sync().await?;
    assert_eq!(links_on_server(&t).await?, 1);
    let again = t.supervisor.sync().await?;
    assert!(
        again
            .report
            .alerts
            .iter()
            .all(|a| a.kind != AlertKind::InterpreterLink)
    );
    Ok(())
}
