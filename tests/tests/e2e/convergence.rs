//! Three devices edit the same case offline and sync in several orders; all converge and no
//! edit is lost.

use anyhow::Result;
use casebook_core::doc::{DocId, DocKind};
use casebook_core::ids::EntryId;
use casebook_core::model::SafetyCheck;

use super::{record_visit, team};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_devices_edit_offline_and_converge() -> Result<()> {
    let t = team().await?;
    // First contact: everyone pulls what they may see.
    t.supervisor.sync().await?;
    t.carer.sync().await?;
    let safety = DocId::new(t.case, DocKind::Safety);
    let visits = DocId::new(t.case, DocKind::Visits);

    let mut expected_checks = Vec::new();
    let mut expected_notes = Vec::new();
    // Three rounds of offline edits, synced in different orders each time.
    let orders: [[usize; 3]; 3] = [[0, 1, 2], [2, 0, 1], [1, 2, 0]];
    for (round, order) in orders.iter().enumerate() {
        expected_notes.push(record_visit(
            &t.guardian,
            t.case,
            &format!("guardian round {round}"),
        )?);
        expected_notes.push(record_visit(
            &t.supervisor,
            t.case,
            &format!("supervisor round {round}"),
        )?);
        for device in [&t.guardian, &t.carer, &t.supervisor] {
            let id = EntryId::random(&mut rand::rngs::OsRng);
            let check = SafetyCheck {
                note: format!("round {round} by {}", device.identity.device_id),
                ..SafetyCheck::default()
            };
            device.change(safety, |d, e| d.log_safety_check(e, id, &check))?;
            expected_checks.push(id);
        }
        let devices = [&t.guardian, &t.carer, &t.supervisor];
        for &i in order {
            devices[i].sync().await?;
        }
    }
    // One more pass so everyone has seen everyone's last changes.
    for device in [&t.guardian, &t.carer, &t.supervisor] {
        device.sync().await?;
    }

    let checks = |d: &super::Device| -> Result<Vec<EntryId>> {
        Ok(d.lock()
            .read(safety, |doc| doc.safety_checks())?
            .into_iter()
            .map(|(id, _)| id)
            .collect())
    };
    let mut want = expected_checks.clone();
    want.sort();
    for device in [&t.guardian, &t.carer, &t.supervisor] {
        assert_eq!(checks(device)?, want, "{device:?} is missing safety checks");
    }
    let mut want_notes = expected_notes.clone();
    want_notes.sort();
    for device in [&t.guardian, &t.supervisor] {
        let notes: Vec<_> = device
            .lock()
            .read(visits, |d| d.visit_notes())?
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        assert_eq!(notes, want_notes);
    }
    let json = |d: &super::Device| d.lock().read(safety, |doc| doc.to_json());
    assert_eq!(json(&t.guardian)?, json(&t.carer)?);
    assert_eq!(json(&t.carer)?, json(&t.supervisor)?);

    // A supervisor signs off the guardian's note; the guardian sees it.
    let note = expected_notes[0];
    t.supervisor.change(visits, |d, e| {
        d.review_visit_note(
            e,
            note,
            casebook_core::model::ReviewStatus::SignedOff,
            "Good record",
        )
    })?;
    t.supervisor.sync().await?;
    t.guardian.sync().await?;
    let review = t
        .guardian
        .lock()
        .read(visits, |d| d.visit_note(note))?
        .review;
    assert_eq!(review.status, casebook_core::model::ReviewStatus::SignedOff);
    assert_eq!(
        review.reviewer.map(|u| u.to_string()),
        Some(t.supervisor_id.clone())
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_with_nothing_changed_is_one_small_round_trip() -> Result<()> {
    let t = team().await?;
    t.guardian.sync().await?;
    let quiet = t.guardian.sync().await?;
    // Two requests open the session (challenge, session), one does the sync.
    assert_eq!(quiet.requests, 3, "{quiet:?}");
    let received = t.guardian.sync_capturing().await?;
    assert_eq!(received.raw.len(), 1, "one round trip");
    assert!(
        received.raw[0].len() < 200,
        "{} bytes",
        received.raw[0].len()
    );

    // One changed document: at most two round trips.
    super::record_visit(&t.guardian, t.case, "a new note")?;
    let received = t.guardian.sync_capturing().await?;
    assert!(
        received.raw.len() <= 2,
        "{} round trips",
        received.raw.len()
    );
    t.supervisor.sync().await?;
    let notes = t
        .supervisor
        .lock()
        .read(DocId::new(t.case, DocKind::Visits), |d| d.visit_notes())?;
    assert_eq!(notes.len(), 1);
    Ok(())
}
