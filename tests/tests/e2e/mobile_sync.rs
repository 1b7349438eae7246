//! Syncs through the mobile bindings' API (`casebook_mobile::Casebook`), against the real
//! server: one sync of a store at a time, and a sync whose caller gave up (its future dropped,
//! as when an app's coroutine is cancelled) stops before its next round trip, loses nothing, and
//! still tells the app's listeners what it changed; a note saved from a screen opened before
//! a sign-off arrived keeps the sign-off; a placement recorded two ways offline is a conflict
//! the phone sees with both values and resolves (a choice that does not fit is refused).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;
use casebook_core::doc::{DocId, DocKind};
use casebook_core::ids::CaseId;
use casebook_mobile::records::{
    ChangeEvent, Immigration, LegalBasis, Nrm, Profile, SyncProgress, VisitNote,
};
use casebook_mobile::{Casebook, CasebookError, ChangeListener, SyncProgressListener};
use casebook_tests::support::{Device, Harness};

use super::record_visit;

/// A guardian's phone (through the bindings) and a supervisor's device on one team, both
/// holding a case the phone opened.
struct Phones {
    _h: Harness,
    _dir: tempfile::TempDir,
    phone: Arc<Casebook>,
    supervisor: Device,
    case: String,
}

async fn phones() -> Result<Phones> {
    let h = Harness::start().await?;
    let guardian = h.admin.user("guardian", "guardian").await?;
    let code = h.admin.code(&guardian).await?;
    let (supervisor_id, supervisor) = h.person("supervisor", "supervisor").await?;
    let team = h.admin.team("team", &[&supervisor_id, &guardian]).await?;
    let dir = tempfile::tempdir()?;
    let phone = Casebook::open(
        dir.path().join("phone.db").to_string_lossy().into_owned(),
        vec![0x42; 32],
    )?;
    phone
        .enrol(
            h.server.base_url(),
            code,
            h.server.cert_fingerprint.clone(),
            "guardian phone".into(),
        )
        .await?;
    let case = phone.create_case(Profile {
        case_reference: "HUL-PHONE-1".into(),
        legal_basis: LegalBasis::CareOrder,
        nrm: Nrm::default(),
        immigration: Immigration::default(),
        ..Profile::default()
    })?;
    phone.sync_now(None, None).await?;
    h.admin.set_team(&case, &team).await?;
    supervisor.sync().await?;
    Ok(Phones {
        _h: h,
        _dir: dir,
        phone,
        supervisor,
        case,
    })
}

/// The supervisor's note reaches the server first and the phone has its own, so the phone's
/// next sync has to send and to receive: two round trips.
async fn write_apart(p: &Phones) -> Result<(String, String)> {
    let case: CaseId = p.case.parse()?;
    let from_supervisor = record_visit(&p.supervisor, case, "supervisor's note")?.to_string();
    p.supervisor.sync().await?;
    let from_phone = p.phone.add_visit_note(
        p.case.clone(),
        VisitNote {
            place: "car park".into(),
            wishes_and_feelings: "recorded with no signal".into(),
            ..VisitNote::default()
        },
    )?;
    Ok((from_supervisor, from_phone))
}

fn phone_notes(p: &Phones) -> Result<Vec<String>> {
    Ok(p.phone
        .visit_notes(p.case.clone())?
        .into_iter()
        .map(|n| n.id)
        .collect())
}

fn supervisor_notes(p: &Phones) -> Result<Vec<String>> {
    let doc = DocId::new(p.case.parse()?, DocKind::Visits);
    Ok(p.supervisor
        .lock()
        .read(doc, |d| d.visit_notes())?
        .into_iter()
        .map(|(id, _)| id.to_string())
        .collect())
}

/// Records progress reports as `label`, and can hold the sync on its first report (a slow
/// app callback) so that whatever else is going on can happen meanwhile.
struct Recorder {
    label: &'static str,
    events: Arc<Mutex<Vec<String>>>,
    hold_first: Option<Duration>,
    on_first: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
}

impl Recorder {
    fn new(label: &'static str, events: &Arc<Mutex<Vec<String>>>) -> Self {
        Recorder {
            label,
            events: Arc::clone(events),
            hold_first: None,
            on_first: Mutex::new(None),
        }
    }

    fn record(&self, event: String) {
        self.events.lock().expect("events").push(event);
    }
}

impl SyncProgressListener for Recorder {
    fn on_progress(&self, progress: SyncProgress) {
        self.record(format!("{} round {}", self.label, progress.rounds));
        if progress.rounds == 1 {
            if let Some(signal) = self.on_first.lock().expect("signal").take() {
                let _ = signal.send(());
            }
            if let Some(hold) = self.hold_first {
                std::thread::sleep(hold);
                self.record(format!("{} held", self.label));
            }
        }
    }
}

impl ChangeListener for Recorder {
    fn on_change(&self, event: ChangeEvent) {
        self.record(format!("{} heard {:?}", self.label, event.source));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_syncs_of_one_phone_run_one_after_the_other() -> Result<()> {
    let p = phones().await?;
    let (from_supervisor, from_phone) = write_apart(&p).await?;
    let events = Arc::new(Mutex::new(Vec::new()));
    let first = Recorder {
        hold_first: Some(Duration::from_millis(800)),
        ..Recorder::new("first", &events)
    };
    let second = Recorder::new("second", &events);

    // The second starts while the first is held in its first progress report.
    let (a, b) = tokio::join!(p.phone.sync_now(Some(Arc::new(first)), None), async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        p.phone.sync_now(Some(Arc::new(second)), None).await
    });
    a?;
    b?;
    let events = events.lock().expect("events").clone();
    let held = events.iter().position(|e| e == "first held");
    let second_started = events.iter().position(|e| e.starts_with("second"));
    let first_last = events.iter().rposition(|e| e.starts_with("first"));
    assert!(
        held.is_some() && second_started > first_last,
        "the second sync ran inside the first: {events:?}"
    );

    p.supervisor.sync().await?;
    for notes in [phone_notes(&p)?, supervisor_notes(&p)?] {
        assert!(
            notes.contains(&from_supervisor) && notes.contains(&from_phone),
            "{notes:?}"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_whose_caller_gave_up_stops_before_its_next_round_trip_and_loses_nothing()
-> Result<()> {
    let p = phones().await?;
    let (from_supervisor, from_phone) = write_apart(&p).await?;
    let events = Arc::new(Mutex::new(Vec::new()));
    let (first_round, first_round_done) = tokio::sync::oneshot::channel();
    let abandoned = Recorder {
        hold_first: Some(Duration::from_millis(500)),
        on_first: Mutex::new(Some(first_round)),
        ..Recorder::new("abandoned", &events)
    };

    let screen = p.phone.observe(Arc::new(Recorder::new("screen", &events)));

    // The app's coroutine is cancelled after the first round trip: the future is dropped.
    tokio::select! {
        done = p.phone.sync_now(Some(Arc::new(abandoned)), None) => {
            panic!("the sync ended before its caller gave up: {done:?}")
        }
        _ = first_round_done => {}
    }
    // The next sync waits for the abandoned one to stop, then finishes the job.
    let next = Recorder::new("next", &events);
    let report = p.phone.sync_now(Some(Arc::new(next)), None).await?;
    assert!(report.rounds >= 1, "{report:?}");
    screen.stop();
    let events = events.lock().expect("events").clone();
    assert_eq!(
        events[..3],
        ["abandoned round 1", "abandoned held", "screen heard Sync"],
        "the abandoned sync went on, or did not say what it brought: {events:?}"
    );
    assert_eq!(events[3], "next round 1", "{events:?}");

    assert!(phone_notes(&p)?.contains(&from_supervisor));
    p.supervisor.sync().await?;
    assert!(supervisor_notes(&p)?.contains(&from_phone));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saving_a_note_opened_before_a_sign_off_arrived_keeps_the_sign_off() -> Result<()> {
    let p = phones().await?;
    let note_id = p.phone.add_visit_note(
        p.case.clone(),
        VisitNote {
            place: "foster home".into(),
            observations: "Quiet at first.".into(),
            ..VisitNote::default()
        },
    )?;
    p.phone.sync_now(None, None).await?;
    p.supervisor.sync().await?;

    // The guardian opens the note on the phone.
    let mut on_screen = p.phone.visit_note(p.case.clone(), note_id.clone())?;
    assert!(!on_screen.version.is_empty(), "a read carries its version");

    // Meanwhile the supervisor signs it off and adds a sentence; the phone syncs.
    let doc = DocId::new(p.case.parse()?, DocKind::Visits);
    let id = note_id.parse()?;
    p.supervisor.change(doc, |d, e| {
        d.review_visit_note(e, id, casebook_core::model::ReviewStatus::SignedOff, "Good")?;
        let mut note = d.visit_note(id)?;
        note.observations.push_str(" Supervisor: ask about school.");
        d.update_visit_note(e, id, &note)
    })?;
    p.supervisor.sync().await?;
    p.phone.sync_now(None, None).await?;

    // The guardian's Save of what is on screen.
    on_screen.observations = "Quiet at first, then talked about football.".into();
    p.phone
        .update_visit_note(p.case.clone(), note_id.clone(), on_screen.clone())?;
    let saved = p.phone.visit_note(p.case.clone(), note_id.clone())?;
    assert_eq!(
        saved.review.status,
        casebook_mobile::records::ReviewStatus::SignedOff,
        "the save undid the sign-off"
    );
    assert_eq!(
        saved.observations,
        "Quiet at first, then talked about football. Supervisor: ask about school."
    );
    assert!(p.phone.conflicts(p.case.clone())?.is_empty());

    // The supervisor gets the guardian's words and keeps the sign-off.
    p.phone.sync_now(None, None).await?;
    p.supervisor.sync().await?;
    let there = p.supervisor.lock().read(doc, |d| d.visit_note(id))?;
    assert_eq!(there.observations, saved.observations);
    assert_eq!(
        there.review.status,
        casebook_core::model::ReviewStatus::SignedOff
    );

    // A version that is not one is refused, naming the field; nothing is written.
    on_screen.version = "not-a-version".into();
    on_screen.place = "school".into();
    match p
        .phone
        .update_visit_note(p.case.clone(), note_id.clone(), on_screen)
    {
        Err(CasebookError::InvalidInput { field, .. }) => assert_eq!(field, "version"),
        other => panic!("expected InvalidInput on version, got {other:?}"),
    }
    assert_eq!(
        p.phone.visit_note(p.case.clone(), note_id)?.place,
        "foster home"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_placement_set_two_ways_offline_is_a_conflict_the_phone_resolves() -> Result<()> {
    use casebook_mobile::records::{DocKind as Kind, PlacementType};
    let p = phones().await?;
    let location = DocId::new(p.case.parse()?, DocKind::Location);

    // Offline, the phone and the supervisor record the new placement differently.
    let mut here = p.phone.current_placement(p.case.clone())?;
    here.address = "12 Elm Road".into();
    here.placement_type = PlacementType::FosterCare;
    p.phone.set_current_placement(p.case.clone(), here)?;
    p.supervisor.change(location, |d, e| {
        let mut there = d.current_placement()?;
        there.address = "7 Station Street".into();
        there.placement_type = casebook_core::model::PlacementType::Specialist;
        d.set_current_placement(e, &there)
    })?;
    p.supervisor.sync().await?;
    p.phone.sync_now(None, None).await?;

    let mut conflicts = p.phone.conflicts(p.case.clone())?;
    conflicts.sort_by(|a, b| a.path.cmp(&b.path));
    let paths: Vec<_> = conflicts.iter().map(|c| c.path.join("/")).collect();
    assert_eq!(paths, ["current/address", "current/placement_type"]);
    for conflict in &conflicts {
        assert_eq!(conflict.kind, Kind::Location);
        assert_eq!(conflict.values.len(), 2, "{conflict:?}");
        assert!(conflict.values.iter().all(|v| v.user_id.is_some()));
    }
    let address = &conflicts[0];
    let mut values: Vec<_> = address
        .values
        .iter()
        .map(|v| v.value_json.clone())
        .collect();
    values.sort();
    assert_eq!(values, ["\"12 Elm Road\"", "\"7 Station Street\""]);

    // A choice no placement type has is refused, naming it; nothing changes.
    let kind = &conflicts[1];
    match p.phone.resolve_conflict(
        p.case.clone(),
        Kind::Location,
        kind.path.clone(),
        "\"a tent\"".into(),
    ) {
        Err(CasebookError::InvalidInput { field, .. }) => assert_eq!(field, "chosen"),
        other => panic!("expected InvalidInput on chosen, got {other:?}"),
    }
    assert_eq!(p.phone.conflicts(p.case.clone())?.len(), 2);

    // The guardian picks the supervisor's values; both devices end up with them.
    for conflict in &conflicts {
        let theirs = conflict
            .values
            .iter()
            .find(|v| v.value_json.contains("Station") || v.value_json.contains("specialist"))
            .expect("the supervisor's value");
        p.phone.resolve_conflict(
            p.case.clone(),
            Kind::Location,
            conflict.path.clone(),
            theirs.value_json.clone(),
        )?;
    }
    assert!(p.phone.conflicts(p.case.clone())?.is_empty());
    let chosen = p.phone.current_placement(p.case.clone())?;
    assert_eq!(chosen.address, "7 Station Street");
    assert_eq!(chosen.placement_type, PlacementType::Specialist);
    p.phone.sync_now(None, None).await?;
    p.supervisor.sync().await?;
    assert!(p.supervisor.lock().conflicts(p.case.parse()?)?.is_empty());
    let there = p
        .supervisor
        .lock()
        .read(location, |d| d.current_placement())?;
    assert_eq!(there.address, "7 Station Street");
    Ok(())
}
