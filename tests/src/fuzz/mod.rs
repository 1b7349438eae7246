//! A structure-aware, coverage-free fuzzer on stable Rust for the decoders of outside bytes
//! (`scripts/fuzz.sh`, `docs/operations.md`): real inputs (sync requests, saved documents and
//! sync messages made by the core's model and automerge's sync) are mutated by
//! [`mutate`] and fed through plain entry points, bytes in and a result out. Runs are
//! deterministic (a batch's inputs follow from its seed), so any input can be made again.
//!
//! Three targets:
//! - `request_decoder`: a `POST /v1/sync` body as the server decodes and screens it;
//! - `document_loader`: a saved document as the server loads a stored one and as the device
//!   loads one received whole in a sync answer (chunk guard, then automerge);
//! - `sync_message`: a device's sync message applied by the server to the stored document
//!   (load, receive, write rules, save, reply), and a server's message received by a device
//!   through its sync session.

pub mod automerge_bytes;
pub mod mutate;
mod seeds;

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use casebook_core::doc::{DocId, DocKind};
use casebook_core::ids::CaseId;
use casebook_core::repo::Repo;
use casebook_core::store::{MemoryStore, WriteOp};
use casebook_core::sync::SyncStep;
use casebook_core::sync::wire::{DocMessage, DocSnapshot, PROTOCOL_VERSION, SyncResponse};
use casebook_server::sync::fuzz_entry;
use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub use seeds::Seeds;

/// An input that takes longer than this is kept as a regression (a hang in the making).
pub const SLOW: Duration = Duration::from_secs(2);

/// What is fuzzed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    /// The server's decoding of a sync request body.
    RequestDecoder,
    /// The server's and the device's loading of a saved document.
    DocumentLoader,
    /// The server's and the device's handling of a sync message for a document.
    SyncMessage,
}

impl Target {
    /// Every target.
    pub const ALL: [Target; 3] = [
        Target::RequestDecoder,
        Target::DocumentLoader,
        Target::SyncMessage,
    ];

    /// Its name (the directory of its regressions).
    pub fn name(self) -> &'static str {
        match self {
            Target::RequestDecoder => "request_decoder",
            Target::DocumentLoader => "document_loader",
            Target::SyncMessage => "sync_message",
        }
    }

    /// The target named `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }
}

/// What one input did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every entry point accepted it.
    Accepted,
    /// An entry point refused it with an error (as it should refuse bad bytes).
    Refused,
    /// A panic was raised inside and caught by the code under test (the server's
    /// `catch_unwind` around automerge); the entry point still answered.
    CaughtPanic,
    /// A panic escaped an entry point: the server's task or the device's sync would die.
    Crash,
}

thread_local! {
    static PANICS: Cell<u64> = const { Cell::new(0) };
    static FUZZING: Cell<bool> = const { Cell::new(false) };
    /// Where the last panic of a fuzzed input was raised (`file:line`).
    static LAST_PANIC: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// Where the last panic of a fuzzed input on this thread was raised (`file:line`), so that a
/// run keeps one input per place rather than thousands of the same panic.
pub fn last_panic_location() -> String {
    LAST_PANIC.with(|l| l.borrow().clone())
}

/// Count the panics of fuzzed inputs instead of printing them (a fuzz run raises many caught
/// ones); any other panic (a failed assertion) goes to the hook installed before.
pub fn install_quiet_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if FUZZING.with(Cell::get) {
            PANICS.with(|p| p.set(p.get() + 1));
            let place = info
                .location()
                .map(|l| format!("{}:{}", l.file(), l.line()))
                .unwrap_or_default();
            LAST_PANIC.with(|l| *l.borrow_mut() = place);
            if std::env::var_os("CASEBOOK_FUZZ_SHOW_PANICS").is_some() {
                eprintln!(
                    "panic: {info}\n{}",
                    std::backtrace::Backtrace::force_capture()
                );
            }
        } else {
            previous(info);
        }
    }));
}

fn panics() -> u64 {
    PANICS.with(Cell::get)
}

/// The fixed time the device side runs at (nothing in the targets depends on the clock).
fn now() -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(1_780_000_000, 0).unwrap_or_default()
}

/// Run one input through `target`'s entry points. The panic hook should be
/// [`install_quiet_panic_hook`]'s for caught panics to be told apart.
pub fn run(target: Target, seeds: &Seeds, input: &[u8]) -> Outcome {
    let before = panics();
    FUZZING.with(|f| f.set(true));
    let result = catch_unwind(AssertUnwindSafe(|| match target {
        Target::RequestDecoder => fuzz_entry::decode_sync_request(input).is_ok(),
        Target::DocumentLoader => load_document(input),
        Target::SyncMessage => sync_message(seeds, input),
    }));
    FUZZING.with(|f| f.set(false));
    match result {
        Err(_) => Outcome::Crash,
        Ok(_) if panics() != before => Outcome::CaughtPanic,
        Ok(true) => Outcome::Accepted,
        Ok(false) => Outcome::Refused,
    }
}

/// The document id an input's first byte selects (its kind; one fixed case).
fn selected_doc(selector: u8) -> DocId {
    let kind = DocKind::ALL[usize::from(selector) % DocKind::ALL.len()];
    DocId::new(CaseId::from_bytes([0x5e; 16]), kind)
}

/// `[kind selector, saved document...]`: the server's load of a stored document, then a
/// device receiving it whole in a sync answer (the chunk guard, then a strict load).
fn load_document(input: &[u8]) -> bool {
    let Some((&selector, bytes)) = input.split_first() else {
        return false;
    };
    let server = fuzz_entry::load_stored_document(bytes).is_ok();
    let device = device_receives(selected_doc(selector), None, Incoming::Snapshot(bytes)).is_ok();
    server && device
}

/// What the server's answer brings the device for one document.
enum Incoming<'a> {
    /// A whole document (`snapshots`).
    Snapshot(&'a [u8]),
    /// A sync message (`messages`).
    Message(&'a [u8]),
}

/// `[stored selector, encoded sync message...]`: the stored document is none (selector 0) or
/// one of the seeds' saves; the server applies the message to it, and a device holding the
/// same document receives it in a sync response.
fn sync_message(seeds: &Seeds, input: &[u8]) -> bool {
    let Some((&selector, message)) = input.split_first() else {
        return false;
    };
    let stored = seeds.stored(selector);
    let doc = stored.map_or(selected_doc(selector), |(doc, _)| doc);
    let stored_bytes = stored.map(|(_, bytes)| bytes);
    let server = fuzz_entry::apply_sync_message(doc, stored_bytes, None, message).is_ok();
    let device = device_receives(doc, stored_bytes, Incoming::Message(message)).is_ok();
    server && device
}

/// A device holding `stored` (if any) starts a sync and receives `incoming` for `doc` in the
/// server's answer, through `Repo::receive_sync` as with a real response; an error if it
/// fails or quarantines the document.
fn device_receives(
    doc: DocId,
    stored: Option<&[u8]>,
    incoming: Incoming<'_>,
) -> casebook_core::Result<()> {
    let mut repo = Repo::new(MemoryStore::new());
    if let Some(bytes) = stored {
        repo.apply(vec![WriteOp::AppendChunk {
            doc,
            bytes: bytes.to_vec(),
            local: false,
        }])?;
    }
    let (mut session, _) = repo.start_sync("fuzz-server")?;
    let (messages, snapshots) = match incoming {
        Incoming::Message(data) => (
            vec![DocMessage {
                doc,
                data: data.to_vec(),
            }],
            Vec::new(),
        ),
        Incoming::Snapshot(data) => (
            Vec::new(),
            vec![DocSnapshot {
                doc,
                data: data.to_vec(),
            }],
        ),
    };
    let response = SyncResponse {
        v: PROTOCOL_VERSION,
        cursor: 1,
        messages,
        snapshots,
        purge: Vec::new(),
        rejected: Vec::new(),
        more: false,
        notices: Vec::new(),
        alerts: Vec::new(),
        pending_docs: 0,
        pending_bytes: 0,
        epoch: None,
    };
    match repo.receive_sync(&mut session, response, now())? {
        SyncStep::Done(report) if !report.quarantined.is_empty() => {
            Err(casebook_core::Error::Protocol("quarantined".into()))
        }
        _ => Ok(()),
    }
}

/// One mutant of a seed (or of an input found earlier) for `target`.
pub fn mutant(target: Target, rng: &mut StdRng, corpus: &[Vec<u8>]) -> Vec<u8> {
    let pick = |rng: &mut StdRng| corpus[rng.gen_range(0..corpus.len())].clone();
    let mut input = pick(rng);
    let other = pick(rng);
    let rounds = if rng.gen_bool(0.8) {
        1
    } else {
        rng.gen_range(2..=6)
    };
    for _ in 0..rounds {
        match target {
            Target::RequestDecoder => mutate::request(rng, &mut input, &other),
            Target::DocumentLoader => {
                let split = 1.min(input.len());
                let (head, body) = input.split_at(split);
                let mut body = body.to_vec();
                let other_body = other.get(1..).unwrap_or_default();
                if rng.gen_bool(0.85) {
                    mutate::chunks(rng, &mut body, other_body);
                } else {
                    mutate::bytes(rng, &mut body, other_body);
                }
                input = head.iter().copied().chain(body).collect();
            }
            Target::SyncMessage => {
                let selector = if rng.gen_bool(0.1) {
                    rng.r#gen()
                } else {
                    input.first().copied().unwrap_or(0)
                };
                let mut body = input.get(1..).unwrap_or_default().to_vec();
                let other_body = other.get(1..).unwrap_or_default();
                if rng.gen_bool(0.85) {
                    mutate::message(rng, &mut body, other_body);
                } else {
                    mutate::bytes(rng, &mut body, other_body);
                }
                input = std::iter::once(selector).chain(body).collect();
            }
        }
    }
    input
}

/// What a batch found.
#[derive(Debug, Clone, Default)]
pub struct BatchReport {
    /// Inputs run.
    pub inputs: u64,
    /// Accepted by every entry point.
    pub accepted: u64,
    /// Refused with an error.
    pub refused: u64,
    /// Panics caught inside (the code under test survived them).
    pub caught_panics: u64,
    /// Panics that escaped.
    pub crashes: u64,
    /// Inputs slower than [`SLOW`].
    pub slow: u64,
    /// Wall time.
    pub elapsed: Duration,
    /// The inputs to keep, with why: every crash and slow input, and the first caught panic
    /// of each place in the code (`caught-panic` with the place's `file:line`).
    pub kept: Vec<(String, Vec<u8>)>,
}

/// Run `inputs` mutants for `target` from the batch seed `seed`. Accepted mutants join the
/// corpus (up to a cap), so mutations stack on inputs that got deep. `before_each` sees every
/// input before it runs (to record it when a batch is replayed to find what killed it).
pub fn run_batch(
    target: Target,
    seeds: &Seeds,
    seed: u64,
    inputs: u64,
    mut before_each: impl FnMut(&[u8]),
) -> BatchReport {
    const CORPUS_CAP: usize = 4096;
    let mut rng = StdRng::seed_from_u64(seed ^ (target as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let mut corpus = seeds.corpus(target);
    let mut report = BatchReport::default();
    let mut places = std::collections::HashSet::new();
    let started = Instant::now();
    for _ in 0..inputs {
        let input = mutant(target, &mut rng, &corpus);
        before_each(&input);
        let began = Instant::now();
        let outcome = run(target, seeds, &input);
        let took = began.elapsed();
        report.inputs += 1;
        match outcome {
            Outcome::Accepted => {
                report.accepted += 1;
                if corpus.len() < CORPUS_CAP {
                    corpus.push(input.clone());
                } else {
                    let i = rng.gen_range(0..corpus.len());
                    corpus[i] = input.clone();
                }
            }
            Outcome::Refused => report.refused += 1,
            Outcome::CaughtPanic => {
                report.caught_panics += 1;
                let place = last_panic_location();
                if places.insert(place.clone()) {
                    report
                        .kept
                        .push((format!("caught-panic {place}"), input.clone()));
                }
            }
            Outcome::Crash => {
                report.crashes += 1;
                report.kept.push(("crash".into(), input.clone()));
            }
        }
        if took > SLOW {
            report.slow += 1;
            report.kept.push(("slow".into(), input));
        }
    }
    report.elapsed = started.elapsed();
    report
}
