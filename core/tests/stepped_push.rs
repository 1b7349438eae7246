//! A backlog larger than one request is pushed in steps: every request stays under the
//! session's byte budget, each document is marked synced as soon as the server has it whole
//! (so a session cut off later does not lose the steps already taken), and a document whose
//! changes alone exceed the budget is the only one left behind, named in the report.

mod common;

use std::collections::HashMap;

use automerge::AutoCommit;
use automerge::sync::{Message, State, SyncDoc};
use casebook_core::doc::{DocId, DocKind};
use casebook_core::ids::{CaseId, EntryId};
use casebook_core::model::{Profile, VisitNote};
use casebook_core::repo::Repo;
use casebook_core::store::MemoryStore;
use casebook_core::sync::wire::{
    DocMessage, PROTOCOL_VERSION, REQUEST_FRAMING_BYTES, SyncRequest, SyncResponse,
};
use casebook_core::sync::{SyncReport, SyncStep};
use common::{at, edit, rng};

/// The server's side of the automerge exchange, in memory: one document and sync state each.
#[derive(Default)]
struct FakeServer {
    docs: HashMap<DocId, (AutoCommit, State)>,
}

impl FakeServer {
    fn answer(&mut self, request: &SyncRequest) -> SyncResponse {
        let mut messages = Vec::new();
        for m in &request.messages {
            let (doc, state) = self.docs.entry(m.doc).or_default();
            let message = Message::decode(&m.data).expect("decodes");
            doc.sync()
                .receive_sync_message(state, message)
                .expect("applies");
            if let Some(reply) = doc.sync().generate_sync_message(state) {
                messages.push(DocMessage {
                    doc: m.doc,
                    data: reply.encode(),
                });
            }
        }
        SyncResponse {
            v: PROTOCOL_VERSION,
            cursor: request.cursor,
            messages,
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
}

fn note(words: String) -> VisitNote {
    VisitNote {
        place: "Foster home".into(),
        wishes_and_feelings: words,
        ..VisitNote::default()
    }
}

/// `chars` characters of words that do not compress (as real notes barely do in automerge).
fn text(random: &mut impl rand::Rng, chars: usize) -> String {
    (0..chars)
        .map(|i| {
            if i % 7 == 6 {
                ' '
            } else {
                char::from(b'a' + random.gen_range(0..26u8))
            }
        })
        .collect()
}

/// `cases` cases created offline, each with `notes` notes of `chars` characters.
fn backlog(cases: usize, notes: usize, chars: usize) -> (Repo, Vec<CaseId>) {
    let mut repo = Repo::new(MemoryStore::new());
    let mut random = rng(5);
    let mut ids = Vec::new();
    for c in 0..cases {
        let case = repo
            .create_case(
                &edit(1, 0),
                &mut random,
                &Profile {
                    case_reference: format!("REF-{c}"),
                    ..Profile::default()
                },
            )
            .expect("case");
        for _ in 0..notes {
            let words = text(&mut random, chars);
            let id = EntryId::random(&mut random);
            repo.edit(DocId::new(case, DocKind::Visits), at(1), |d| {
                d.add_visit_note(&edit(1, 1), id, &note(words))
            })
            .expect("note");
        }
        ids.push(case);
    }
    (repo, ids)
}

/// Run a session against `server` with `budget`; return the report and the JSON size of
/// every request, calling `between` after each answer.
fn push(
    repo: &mut Repo,
    server: &mut FakeServer,
    budget: usize,
    mut between: impl FnMut(&mut Repo),
) -> (SyncReport, Vec<usize>) {
    let (mut session, mut request) = repo.start_sync("server").expect("start");
    session.set_budget(budget);
    let mut sizes = Vec::new();
    loop {
        sizes.push(serde_json::to_vec(&request).expect("json").len());
        let answer = server.answer(&request);
        let step = repo
            .receive_sync(&mut session, answer, at(2))
            .expect("receive");
        between(repo);
        match step {
            SyncStep::Send(next) => request = next,
            SyncStep::Done(report) => return (report, sizes),
        }
    }
}

#[test]
fn a_backlog_over_the_budget_is_pushed_in_steps_each_marked_synced_when_acknowledged() {
    let (mut repo, cases) = backlog(12, 4, 3_000);
    let budget = 40 * 1024;
    let mut server = FakeServer::default();
    let mut dirty_after_each = Vec::new();
    let (report, sizes) = push(&mut repo, &mut server, budget, |repo| {
        dirty_after_each.push(repo.store().dirty().expect("dirty").len());
    });
    assert!(sizes.len() > 3, "pushed in steps: {sizes:?}");
    for size in &sizes {
        assert!(*size <= budget + REQUEST_FRAMING_BYTES, "{size} bytes");
    }
    assert!(report.too_large.is_empty());
    // Documents leave the dirty list step by step, not all at the session's end.
    let mid_session = &dirty_after_each[..dirty_after_each.len() - 1];
    assert!(
        mid_session.windows(2).any(|w| w[1] < w[0]),
        "marked synced during the session: {dirty_after_each:?}"
    );
    assert!(repo.store().dirty().expect("dirty").is_empty());
    for case in cases {
        let doc = DocId::new(case, DocKind::Visits);
        let (held, _) = server.docs.get_mut(&doc).expect("on the server");
        let ours = repo.store().load(&doc).expect("load").expect("held");
        let mut local = AutoCommit::new();
        for chunk in &ours.chunks {
            local.load_incremental(chunk).expect("chunk");
        }
        assert_eq!(held.get_heads(), local.get_heads(), "{doc} pushed whole");
    }
}

#[test]
fn a_document_larger_than_the_budget_is_named_and_the_others_still_sync() {
    let (mut repo, cases) = backlog(4, 1, 1_000);
    let big = cases[0];
    let huge = text(&mut rng(8), 60_000);
    repo.edit(DocId::new(big, DocKind::Visits), at(3), |d| {
        d.add_visit_note(&edit(1, 3), EntryId::random(&mut rng(9)), &note(huge))
    })
    .expect("big note");
    let mut server = FakeServer::default();
    let (report, sizes) = push(&mut repo, &mut server, 32 * 1024, |_| {});
    assert_eq!(report.too_large, vec![DocId::new(big, DocKind::Visits)]);
    for size in &sizes {
        assert!(*size <= 32 * 1024 + REQUEST_FRAMING_BYTES, "{size} bytes");
    }
    let dirty: Vec<DocId> = repo
        .store()
        .dirty()
        .expect("dirty")
        .into_iter()
        .map(|d| d.doc)
        .collect();
    assert_eq!(
        dirty,
        vec![DocId::new(big, DocKind::Visits)],
        "kept for later"
    );
    for case in &cases[1..] {
        let doc = DocId::new(*case, DocKind::Visits);
        assert!(server.docs.contains_key(&doc), "{doc} synced");
    }
}
