//! A server restored from a backup has lower sequences than the cursor a device holds, and
//! lacks documents and changes the device believes it has. Its answers carry a new store
//! epoch; the device that sees it starts over once (cursor 0, fresh sync states, every
//! document offered), so it pushes what the backup lacks and pulls what the restored server
//! wrote since. Without the epoch's change, the same device would miss both.

mod common;

use std::collections::HashMap;

use automerge::sync::{Message, State, SyncDoc};
use automerge::{AutoCommit, ChangeHash};
use casebook_core::doc::{DocId, DocKind};
use casebook_core::ids::{CaseId, EntryId};
use casebook_core::model::{Profile, VisitNote};
use casebook_core::repo::Repo;
use casebook_core::store::MemoryStore;
use casebook_core::sync::wire::{DocMessage, PROTOCOL_VERSION, SyncRequest, SyncResponse};
use casebook_core::sync::{SyncReport, SyncStep};
use common::{at, edit, rng};

/// A server in memory for one device: each document with the sequence of its last change and
/// the device's sync state, offering what changed after the request's cursor.
#[derive(Clone)]
struct FakeServer {
    docs: HashMap<DocId, (AutoCommit, u64)>,
    states: HashMap<DocId, State>,
    seq: u64,
    epoch: String,
}

impl FakeServer {
    fn new(epoch: &str) -> Self {
        Self {
            docs: HashMap::new(),
            states: HashMap::new(),
            seq: 0,
            epoch: epoch.into(),
        }
    }

    fn answer(&mut self, request: &SyncRequest) -> SyncResponse {
        let mut messages = Vec::new();
        for m in &request.messages {
            let (doc, seq) = self.docs.entry(m.doc).or_insert((AutoCommit::new(), 0));
            let state = self.states.entry(m.doc).or_default();
            let before = doc.get_heads();
            let message = Message::decode(&m.data).expect("decodes");
            doc.sync()
                .receive_sync_message(state, message)
                .expect("applies");
            if doc.get_heads() != before {
                self.seq += 1;
                *seq = self.seq;
            }
            if let Some(reply) = doc.sync().generate_sync_message(state) {
                messages.push(DocMessage {
                    doc: m.doc,
                    data: reply.encode(),
                });
            }
        }
        let named: Vec<DocId> = request.messages.iter().map(|m| m.doc).collect();
        for (id, (doc, seq)) in &mut self.docs {
            if *seq <= request.cursor || named.contains(id) {
                continue;
            }
            let state = self.states.entry(*id).or_default();
            if let Some(message) = doc.sync().generate_sync_message(state) {
                messages.push(DocMessage {
                    doc: *id,
                    data: message.encode(),
                });
            }
        }
        SyncResponse {
            v: PROTOCOL_VERSION,
            cursor: self.seq,
            messages,
            snapshots: vec![],
            purge: vec![],
            rejected: vec![],
            more: false,
            notices: vec![],
            alerts: vec![],
            pending_docs: 0,
            pending_bytes: 0,
            epoch: Some(self.epoch.clone()),
        }
    }

    /// A change made on the server side (another device's), to a document it holds.
    fn change_elsewhere(&mut self, doc: DocId) {
        use automerge::transaction::Transactable;
        let (held, seq) = self.docs.get_mut(&doc).expect("held");
        held.put(automerge::ROOT, "written_after_restore", true)
            .expect("put");
        held.commit();
        self.seq += 1;
        *seq = self.seq;
    }

    fn heads(&mut self, doc: DocId) -> Option<Vec<ChangeHash>> {
        self.docs.get_mut(&doc).map(|(d, _)| {
            let mut heads = d.get_heads();
            heads.sort();
            heads
        })
    }
}

fn sync(repo: &mut Repo, server: &mut FakeServer) -> SyncReport {
    let (mut session, mut request) = repo.start_sync("server").expect("start");
    loop {
        let answer = server.answer(&request);
        match repo
            .receive_sync(&mut session, answer, at(2))
            .expect("receive")
        {
            SyncStep::Send(next) => request = next,
            SyncStep::Done(report) => return report,
        }
    }
}

fn add_case(repo: &mut Repo, n: u64) -> CaseId {
    let mut random = rng(n);
    let case = repo
        .create_case(
            &edit(1, 0),
            &mut random,
            &Profile {
                case_reference: format!("REF-{n}"),
                ..Profile::default()
            },
        )
        .expect("case");
    add_note(repo, case, n);
    case
}

fn add_note(repo: &mut Repo, case: CaseId, n: u64) {
    let id = EntryId::random(&mut rng(n + 1000));
    let note = VisitNote {
        place: format!("Visit {n}"),
        ..VisitNote::default()
    };
    repo.edit(DocId::new(case, DocKind::Visits), at(1), |d| {
        d.add_visit_note(&edit(1, 1), id, &note)
    })
    .expect("note");
}

fn device_heads(repo: &mut Repo, doc: DocId) -> Vec<ChangeHash> {
    let mut heads = repo.read(doc, |d| Ok(d.heads())).expect("read");
    heads.sort();
    heads
}

/// The device's documents the server does not hold as the device does.
fn differing(repo: &mut Repo, server: &mut FakeServer) -> Vec<DocId> {
    let docs = repo.store().docs().expect("docs");
    docs.into_iter()
        .filter(|doc| server.heads(*doc) != Some(device_heads(repo, *doc)))
        .collect()
}

/// The device syncs, the server is backed up, the device writes more and syncs again, the
/// server is restored from the backup (with `epoch`) and takes a change from elsewhere.
fn scenario(epoch_after_restore: &str) -> (Repo, FakeServer, DocId) {
    let mut repo = Repo::new(MemoryStore::new());
    let mut server = FakeServer::new("epoch-1");
    let first = add_case(&mut repo, 1);
    add_case(&mut repo, 2);
    sync(&mut repo, &mut server);
    let mut restored = server.clone();
    restored.epoch = epoch_after_restore.into();

    add_case(&mut repo, 3);
    add_note(&mut repo, first, 4);
    for _ in 0..3 {
        // More changes, so the device's cursor runs ahead of what the restored server
        // will number its next change.
        let case = add_case(&mut repo, 10);
        add_note(&mut repo, case, 11);
    }
    sync(&mut repo, &mut server);
    assert!(differing(&mut repo, &mut server).is_empty());
    assert!(repo.sync_cursor().expect("cursor") > restored.seq + 1);

    let profile = DocId::new(first, DocKind::Profile);
    restored.change_elsewhere(profile);
    (repo, restored, profile)
}

#[test]
fn a_device_ahead_of_a_restored_server_pushes_what_the_backup_lacks_and_pulls_its_news() {
    let (mut repo, mut server, changed_elsewhere) = scenario("epoch-2");
    assert!(
        !differing(&mut repo, &mut server).is_empty(),
        "the backup lacks some of the device's documents"
    );
    let report = sync(&mut repo, &mut server);
    assert!(report.server_restored);
    assert!(
        differing(&mut repo, &mut server).is_empty(),
        "the server holds every document as the device does"
    );
    let heads = server.heads(changed_elsewhere).expect("held");
    assert_eq!(device_heads(&mut repo, changed_elsewhere), heads);
    assert_eq!(repo.sync_cursor().expect("cursor"), server.seq);

    // Once over: the next session is a single no-op round trip.
    let again = sync(&mut repo, &mut server);
    assert!(!again.server_restored);
    assert_eq!(again.rounds, 1);
    assert_eq!(again.docs_pushed, 0);
}

#[test]
fn without_a_new_epoch_the_same_device_would_miss_both_ways() {
    // The cause the epoch exists for: a restored server that kept its epoch.
    let (mut repo, mut server, changed_elsewhere) = scenario("epoch-1");
    let report = sync(&mut repo, &mut server);
    assert!(!report.server_restored);
    assert!(!differing(&mut repo, &mut server).is_empty());
    assert_ne!(
        Some(device_heads(&mut repo, changed_elsewhere)),
        server.heads(changed_elsewhere)
    );
}
