//! Cross-crate tests: the real server on 127.0.0.1:0 over real TLS, driven by devices running
//! the real core on encrypted stores.

mod access;
mod alerts;
mod at_rest;
mod auth;
mod backup_restore;
mod bomb;
mod cancel;
mod change_events;
mod completeness;
mod completeness_prop;
mod connections;
mod convergence;
mod device_kill;
mod disk_full;
mod enrolment;
mod field_sync;
mod held_request;
mod interpreter_check;
mod malformed;
mod missing_episode;
mod mobile_sync;
mod names;
mod nemesis;
mod observe;
mod pg_canary;
mod pg_instances;
mod pg_restart;
mod photo;
mod police_pack_server;
mod reports;
mod review;
mod server_kill;
mod shared_persons;
mod signer;
mod wire_format;
mod write_rules;
mod writer;

use std::sync::atomic::AtomicBool;

use anyhow::Result;
use casebook_core::client::{RetryPolicy, SyncOptions, sync_now_with_options};
use casebook_core::doc::DocId;
use casebook_core::ids::{CaseId, EntryId};
use casebook_core::model::{Interpreter, InterpreterMode, Profile, VettingStatus, VisitNote};
use casebook_tests::support::{Device, Harness};

/// The care team of one child: a guardian, a carer and a supervisor, with the case created
/// offline on the guardian's phone and synced.
#[allow(missing_debug_implementations)]
pub struct Team {
    pub h: Harness,
    pub guardian: Device,
    pub guardian_id: String,
    pub carer: Device,
    pub carer_id: String,
    pub supervisor: Device,
    pub supervisor_id: String,
    pub case: CaseId,
}

pub const PROFILE_CANARY: &str = "CANARY-given-name-Linh";
pub const NOTE_CANARY: &str = "CANARY-wishes-I-want-to-see-my-sister";

pub async fn team() -> Result<Team> {
    team_on(Harness::start().await?).await
}

/// [`team`] on a server already started (on PostgreSQL, or with settings of the test's own).
pub async fn team_on(h: Harness) -> Result<Team> {
    let (guardian_id, guardian) = h.person("guardian", "guardian").await?;
    let (carer_id, carer) = h.person("carer", "carer").await?;
    let (supervisor_id, supervisor) = h.person("supervisor", "supervisor").await?;
    let team = h
        .admin
        .team("Hull ICTG team", &[&supervisor_id, &guardian_id])
        .await?;

    // A referral at a police station at night: the guardian opens the case offline.
    let profile = Profile {
        case_reference: "HUL-2026-0099".into(),
        given_name: PROFILE_CANARY.into(),
        family_name: "Pham".into(),
        ..Profile::default()
    };
    let edit = guardian.edit();
    let case = guardian
        .lock()
        .create_case(&edit, &mut rand::rngs::OsRng, &profile)?;
    guardian.sync().await?;
    h.admin.set_team(&case.to_string(), &team).await?;
    h.admin.link_carer(&case.to_string(), &carer_id).await?;
    Ok(Team {
        h,
        guardian,
        guardian_id,
        carer,
        carer_id,
        supervisor,
        supervisor_id,
        case,
    })
}

/// One sync of `device` without the client's retries.
pub async fn sync_once(device: &Device) -> casebook_core::Result<()> {
    let once = SyncOptions {
        retry: RetryPolicy {
            attempts: 1,
            ..RetryPolicy::default()
        },
        ..SyncOptions::default()
    };
    sync_now_with_options(
        &device.repo,
        &device.identity,
        &|| chrono::Utc::now().into(),
        &|_| {},
        &AtomicBool::new(false),
        once,
    )
    .await
    .map(drop)
}

/// The ids of the visit notes `device` holds for `case`.
pub fn note_ids(device: &Device, case: CaseId) -> Result<Vec<EntryId>> {
    Ok(device
        .lock()
        .read(DocId::new(case, casebook_core::doc::DocKind::Visits), |d| {
            d.visit_notes()
        })?
        .into_iter()
        .map(|(id, _)| id)
        .collect())
}

/// An interpreter-assisted visit note, recorded on `device`.
pub fn record_visit(device: &Device, case: CaseId, words: &str) -> Result<EntryId> {
    let id = EntryId::random(&mut rand::rngs::OsRng);
    let note = VisitNote {
        place: "Foster home".into(),
        wishes_and_feelings: words.into(),
        interpreter: Interpreter {
            mode: InterpreterMode::Telephone,
            name: "Interpreter A".into(),
            agency: "Agency B".into(),
            language: "Vietnamese (northern)".into(),
            vetting: VettingStatus::Vetted,
            child_consented: Some(true),
            ..Interpreter::default()
        },
        ..VisitNote::default()
    };
    device.change(
        DocId::new(case, casebook_core::doc::DocKind::Visits),
        |d, e| d.add_visit_note(e, id, &note),
    )?;
    Ok(id)
}
