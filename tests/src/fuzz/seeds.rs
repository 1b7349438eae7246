//! The fuzzer's seeds: real bytes made the way devices and the server make them. One case's
//! five documents (a fixed case id, author and time, so every run starts from the same
//! bytes), their saves before and after three visit notes, the sync messages of real
//! exchanges between a device and the server in both directions, and sync request bodies
//! carrying those messages.

use automerge::AutoCommit;
use automerge::sync::{State, SyncDoc};
use casebook_core::doc::{Author, CaseDoc, DocId, DocKind, Edit};
use casebook_core::ids::{CaseId, DeviceId, EntryId, UserId};
use casebook_core::model::{Profile, VisitNote, new_case};
use casebook_core::sync::wire::{DocMessage, PROTOCOL_VERSION, SyncRequest};
use rand::SeedableRng;
use rand::rngs::StdRng;

use super::Target;

/// The seeds of every target, and the stored documents a `sync_message` input selects.
#[derive(Debug, Clone)]
pub struct Seeds {
    stored: Vec<(DocId, Vec<u8>)>,
    requests: Vec<Vec<u8>>,
    documents: Vec<Vec<u8>>,
    messages: Vec<Vec<u8>>,
}

/// Encoded sync messages.
type Messages = Vec<Vec<u8>>;

/// Sync `a` with `b` until neither has more to say; the messages `a` sent, then those `b` sent.
fn exchange(a: &mut AutoCommit, b: &mut AutoCommit) -> anyhow::Result<(Messages, Messages)> {
    let (mut a_state, mut b_state) = (State::new(), State::new());
    let (mut from_a, mut from_b) = (Vec::new(), Vec::new());
    for _ in 0..8 {
        let mut quiet = true;
        if let Some(m) = a.sync().generate_sync_message(&mut a_state) {
            from_a.push(m.clone().encode());
            b.sync().receive_sync_message(&mut b_state, m)?;
            quiet = false;
        }
        if let Some(m) = b.sync().generate_sync_message(&mut b_state) {
            from_b.push(m.clone().encode());
            a.sync().receive_sync_message(&mut a_state, m)?;
            quiet = false;
        }
        if quiet {
            break;
        }
    }
    Ok((from_a, from_b))
}

impl Seeds {
    /// Make the seeds (deterministic).
    pub fn new() -> anyhow::Result<Self> {
        let mut rng = StdRng::seed_from_u64(13);
        let author = Author {
            user: UserId::from_bytes([1; 16]),
            device: DeviceId::from_bytes([2; 16]),
        };
        let edit = Edit::new(author, super::now());
        let profile = Profile {
            case_reference: "FUZZ-0001".into(),
            given_name: "Child".into(),
            ..Profile::default()
        };
        let mut docs = new_case(CaseId::from_bytes([0x5e; 16]), &edit, &profile)?;
        let mut stored = Vec::new();
        let mut documents = Vec::new();
        let mut messages = Vec::new();
        let mut requests = Vec::new();
        let mut first_messages = Vec::new();
        for doc in &mut docs {
            let kind = DocKind::ALL
                .iter()
                .position(|k| *k == doc.kind())
                .unwrap_or(0);
            let saved = doc.save();
            stored.push((doc.id(), saved.clone()));
            let selector = u8::try_from(stored.len()).unwrap_or(0);
            documents.push(prefixed(u8::try_from(kind).unwrap_or(0), &saved));
            let mut grown = CaseDoc::load(doc.id(), Some(&saved), &[])?;
            if doc.kind() == DocKind::Visits {
                for words in [
                    "she said she felt safe",
                    "the interpreter explained",
                    "football",
                ] {
                    let note = VisitNote {
                        wishes_and_feelings: words.repeat(20),
                        observations: words.into(),
                        ..VisitNote::default()
                    };
                    grown.add_visit_note(&edit, EntryId::random(&mut rng), &note)?;
                }
                documents.push(prefixed(u8::try_from(kind).unwrap_or(0), &grown.save()));
            }
            // The device ahead of the server, then the server ahead of the device.
            let mut device = grown.automerge().clone();
            let mut server = AutoCommit::load(&saved)?;
            let (up, down) = exchange(&mut device, &mut server)?;
            first_messages.extend(up.first().map(|m| DocMessage {
                doc: doc.id(),
                data: m.clone(),
            }));
            let mut server = grown.automerge().clone();
            let mut device = AutoCommit::load(&saved)?;
            let (down_ahead, up_behind) = exchange(&mut server, &mut device)?;
            for m in up.iter().chain(&down).chain(&down_ahead).chain(&up_behind) {
                messages.push(prefixed(selector, m));
                requests.push(request(&[DocMessage {
                    doc: doc.id(),
                    data: m.clone(),
                }])?);
            }
            // A case created offline: everything to a server that holds nothing.
            let mut device = grown.automerge().clone();
            let mut empty = AutoCommit::new();
            let (up, _) = exchange(&mut device, &mut empty)?;
            messages.extend(up.iter().map(|m| prefixed(0, m)));
        }
        requests.push(request(&first_messages)?);
        requests.push(serde_json::to_vec(&SyncRequest {
            v: PROTOCOL_VERSION,
            cursor: 41,
            messages: Vec::new(),
            purged: stored.iter().map(|(doc, _)| *doc).collect(),
            epoch: Some("5a1c9e0b7d3f2468".into()),
        })?);
        requests.push(br#"{"v":1,"cursor":0}"#.to_vec());
        // The same requests in wire format 2 (binary frame, raw payloads), as today's devices
        // send them.
        let frames: Vec<Vec<u8>> = requests
            .iter()
            .filter_map(|json| serde_json::from_slice::<SyncRequest>(json).ok())
            .map(|request| casebook_core::sync::frame::encode_request(&request))
            .collect();
        requests.extend(frames);
        Ok(Self {
            stored,
            requests,
            documents,
            messages,
        })
    }

    /// The stored document a `sync_message` input's first byte selects: none for 0.
    pub fn stored(&self, selector: u8) -> Option<(DocId, &[u8])> {
        let i = usize::from(selector.checked_sub(1)?) % self.stored.len().max(1);
        self.stored
            .get(i)
            .map(|(doc, bytes)| (*doc, bytes.as_slice()))
    }

    /// The starting corpus of `target`.
    pub fn corpus(&self, target: Target) -> Vec<Vec<u8>> {
        match target {
            Target::RequestDecoder => self.requests.clone(),
            Target::DocumentLoader => self.documents.clone(),
            Target::SyncMessage => self.messages.clone(),
        }
    }
}

fn prefixed(first: u8, bytes: &[u8]) -> Vec<u8> {
    std::iter::once(first)
        .chain(bytes.iter().copied())
        .collect()
}

fn request(messages: &[DocMessage]) -> anyhow::Result<Vec<u8>> {
    Ok(serde_json::to_vec(&SyncRequest {
        v: PROTOCOL_VERSION,
        cursor: 7,
        messages: messages.to_vec(),
        purged: Vec::new(),
        epoch: None,
    })?)
}
