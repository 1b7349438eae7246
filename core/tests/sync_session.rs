//! The device's sync state machine without a network: what it sends first, how it takes a
//! server's answer, and that one corrupt document never blocks the others.

mod common;

use casebook_core::doc::{DocId, DocKind};
use casebook_core::model::Profile;
use casebook_core::repo::Repo;
use casebook_core::store::MemoryStore;
use casebook_core::sync::wire::{DocMessage, DocSnapshot, PROTOCOL_VERSION, SyncResponse};
use casebook_core::sync::{DeviceTime, SyncStep};
use common::{edit, rng};

fn response(cursor: u64) -> SyncResponse {
    SyncResponse {
        v: PROTOCOL_VERSION,
        cursor,
        messages: vec![],
        snapshots: vec![],
        purge: vec![],
        rejected: vec![],
        more: false,
        notices: vec![],
        alerts: vec![],
        pending_docs: 0,
        pending_bytes: 0,
        epoch: None,
    }
}

#[test]
fn a_quiet_device_sends_only_its_cursor_and_loads_nothing() {
    let mut repo = Repo::new(MemoryStore::new());
    let (mut session, request) = repo.start_sync("server").expect("start");
    assert_eq!(request.cursor, 0);
    assert!(request.messages.is_empty());
    match repo
        .receive_sync(&mut session, response(42), common::at(1))
        .expect("receive")
    {
        SyncStep::Done(report) => assert_eq!(report.rounds, 1),
        SyncStep::Send(next) => panic!("nothing to send, got {next:?}"),
    }
    assert_eq!(repo.sync_cursor().expect("cursor"), 42);
    let (_, request) = repo.start_sync("server").expect("start");
    assert_eq!(request.cursor, 42);
}

/// A security notice the server delivers (another device enrolled for this user) reaches the
/// session's report, for the app to show.
#[test]
fn notices_from_the_server_reach_the_report() {
    use casebook_core::ids::DeviceId;
    use casebook_core::sync::wire::{Notice, NoticeKind};
    let mut repo = Repo::new(MemoryStore::new());
    let (mut session, _) = repo.start_sync("server").expect("start");
    let notice = Notice {
        kind: NoticeKind::DeviceEnrolled,
        device_id: DeviceId::from_bytes([7; 16]),
        device_name: "another phone".into(),
        at: 1_750_000_000,
    };
    let mut answer = response(3);
    answer.notices.push(notice.clone());
    match repo
        .receive_sync(&mut session, answer, common::at(1))
        .expect("receive")
    {
        SyncStep::Done(report) => assert_eq!(report.notices, vec![notice]),
        SyncStep::Send(next) => panic!("nothing to send, got {next:?}"),
    }
}

#[test]
fn a_finished_session_is_a_check_in_on_both_clocks() {
    let mut repo = Repo::new(MemoryStore::new());
    let hours = |h: u64| std::time::Duration::from_secs(h * 60 * 60);
    let at = |wall_minutes, boot_hours| DeviceTime {
        wall: common::at(wall_minutes),
        since_boot: Some(hours(boot_hours)),
    };
    let (mut session, _) = repo.start_sync("server").expect("start");
    let step = repo
        .receive_sync(&mut session, response(1), at(0, 5))
        .expect("receive");
    assert!(matches!(step, SyncStep::Done(_)), "{step:?}");
    assert_eq!(repo.last_checkin().expect("check-in"), Some(common::at(0)));
    // The wall clock set back to an hour after the sync, three days on by the boot clock.
    assert!(repo.locked(at(60, 5 + 73), hours(72)).expect("locked?"));
    assert!(!repo.locked(at(60, 5 + 1), hours(72)).expect("locked?"));
}

#[test]
fn a_corrupt_document_is_quarantined_and_the_others_are_kept() {
    let mut source = Repo::new(MemoryStore::new());
    let case = source
        .create_case(
            &edit(1, 0),
            &mut rng(3),
            &Profile {
                case_reference: "REF-7".into(),
                ..Profile::default()
            },
        )
        .expect("case");
    let whole = |repo: &mut Repo, kind| {
        let stored = repo
            .store()
            .load(&DocId::new(case, kind))
            .expect("load")
            .expect("stored");
        stored.chunks[0].clone()
    };
    let safety = whole(&mut source, DocKind::Safety);
    let profile = whole(&mut source, DocKind::Profile);

    let mut device = Repo::new(MemoryStore::new());
    let (mut session, _) = device.start_sync("server").expect("start");
    let mut answer = response(7);
    answer.snapshots = vec![
        DocSnapshot {
            doc: DocId::new(case, DocKind::Profile),
            data: profile[..profile.len() / 2].to_vec(),
        },
        DocSnapshot {
            doc: DocId::new(case, DocKind::Safety),
            data: safety,
        },
        // A valid document sent under the wrong name is refused too.
        DocSnapshot {
            doc: DocId::new(case, DocKind::Location),
            data: profile.clone(),
        },
    ];
    answer.messages = vec![DocMessage {
        doc: DocId::new(case, DocKind::Visits),
        data: b"\x42junk".to_vec(),
    }];
    let SyncStep::Done(report) = device
        .receive_sync(&mut session, answer, common::at(2))
        .expect("receive")
    else {
        panic!("expected the session to end");
    };
    assert_eq!(report.docs_received, 1);
    let mut quarantined = report.quarantined.clone();
    quarantined.sort();
    assert_eq!(
        quarantined,
        vec![
            DocId::new(case, DocKind::Profile),
            DocId::new(case, DocKind::Location),
            DocId::new(case, DocKind::Visits),
        ]
    );
    assert_eq!(
        device.held_kinds(case).expect("kinds"),
        vec![DocKind::Safety]
    );
    assert_eq!(device.sync_cursor().expect("cursor"), 7);
    assert_eq!(device.cases().expect("cases").len(), 1);
}

#[test]
fn a_server_speaking_another_version_is_refused() {
    let mut repo = Repo::new(MemoryStore::new());
    let (mut session, _) = repo.start_sync("server").expect("start");
    let mut answer = response(1);
    answer.v = 2;
    assert!(
        repo.receive_sync(&mut session, answer, common::at(1))
            .is_err()
    );
    assert_eq!(
        repo.sync_cursor().expect("cursor"),
        0,
        "cursor not advanced"
    );
}

#[test]
fn more_changed_documents_than_a_request_holds_go_in_later_requests() {
    use casebook_core::sync::wire::MAX_SYNC_MESSAGES;
    let mut repo = Repo::new(MemoryStore::new());
    let mut random = rng(11);
    for i in 0..60 {
        repo.create_case(
            &edit(1, i),
            &mut random,
            &Profile {
                case_reference: format!("REF-{i}"),
                ..Profile::default()
            },
        )
        .expect("case");
    }
    let (mut session, first) = repo.start_sync("server").expect("start");
    assert_eq!(first.messages.len(), MAX_SYNC_MESSAGES);
    let mut sent: std::collections::HashSet<DocId> = first.messages.iter().map(|m| m.doc).collect();
    let mut requests = 1;
    loop {
        match repo
            .receive_sync(&mut session, response(1), common::at(1))
            .expect("receive")
        {
            SyncStep::Send(next) => {
                assert!(next.messages.len() <= MAX_SYNC_MESSAGES);
                assert!(!next.messages.is_empty());
                for m in &next.messages {
                    assert!(sent.insert(m.doc), "{} sent twice", m.doc);
                }
                requests += 1;
            }
            SyncStep::Done(report) => {
                assert_eq!(report.docs_pushed, sent.len());
                break;
            }
        }
    }
    assert!(requests >= 2);
    assert!(sent.len() > MAX_SYNC_MESSAGES, "{} documents", sent.len());
}
