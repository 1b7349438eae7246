//! The completeness guarantee as a property (`docs/protocol.md`, "Completeness"): five
//! devices on one team make random edits to a case and sync in a random order, some syncs cut
//! off in the middle (a round trip's response lost after the server committed it). After every
//! sync that succeeds, the device holds every change the server holds for every document of the
//! case (nothing else runs meanwhile, so that is what the server held when it answered the last
//! round), and the server holds every change the device held when the sync started.
//!
//! The devices are enrolled with the real server over TLS; the scenarios then call the
//! server's sync service in process (the same `casebook_server::sync::sync` the HTTP handler
//! calls, with the caller its session token resolves to) from repositories on memory stores,
//! so thousands of scenarios fit in CI. Each scenario is one new case on fresh repositories;
//! afterwards the case is taken away from the team and its documents deleted on the server, so
//! later scenarios do not pay for earlier ones. `CASEBOOK_COMPLETENESS_CASES` sets how many
//! scenarios run ([`DEFAULT_CASES`] by default, over [`SHARDS`] tests) and `CASEBOOK_COMPLETENESS_SEED` the first seed; a failure names its seed.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use automerge::{AutoCommit, ChangeHash, ReadDoc};
use casebook_core::client::{Traffic, Transport};
use casebook_core::doc::{Author, DocId, DocKind, Edit};
use casebook_core::ids::{CaseId, EntryId};
use casebook_core::model::{Profile, ReviewStatus, VisitNote};
use casebook_core::repo::Repo;
use casebook_core::store::MemoryStore;
use casebook_core::sync::SyncStep;
use casebook_server::auth::Caller;
use casebook_tests::support::{Device, Harness, pin};
use chrono::Utc;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const DEVICES: usize = 5;
const STEPS: usize = 8;
/// Scenarios in a default (CI) run, split over [`SHARDS`] tests (automerge, its codecs and
/// SQLCipher are built optimised even in debug builds: see the root Cargo.toml).
/// The code before the fix failed at the 82nd scenario of the default seed.
const DEFAULT_CASES: u64 = 2_000;

/// An enrolled device: its session on the server, and the repository of the scenario.
struct Peer {
    device: Device,
    transport: Transport,
    caller: Caller,
    opened: Instant,
    repo: Repo,
}

impl Peer {
    fn author(&self) -> Author {
        self.device.identity.author()
    }

    /// The caller its session resolves to, reopening the session before it expires.
    async fn caller(&mut self, h: &Harness) -> Result<Caller> {
        if self.opened.elapsed() > Duration::from_secs(600) {
            self.caller = open(h, &self.device, &self.transport).await?;
            self.opened = Instant::now();
        }
        Ok(self.caller.clone())
    }
}

/// Open a session over TLS and resolve its token as the HTTP handler does.
async fn open(h: &Harness, device: &Device, transport: &Transport) -> Result<Caller> {
    let token = transport
        .open_session(
            device.identity.device_id,
            |c| device.identity.sign_challenge(c),
            &mut Traffic::default(),
        )
        .await?
        .token;
    let now = h.server.state.clock.now();
    Ok(h.server
        .state
        .db
        .read(move |c| casebook_server::auth::authenticate(c, &token, now))
        .await?)
}

/// How a sync ended.
enum Ended {
    Done,
    /// The response of this round trip was lost (the server had committed it).
    Cut,
}

/// One sync driven through the core's session; `cut_at` loses that round trip's response.
async fn sync(h: &Harness, peer: &mut Peer, cut_at: Option<u32>) -> Result<Ended> {
    let caller = peer.caller(h).await?;
    let server_id = peer.device.identity.server_id.clone();
    let (mut session, mut request) = peer.repo.start_sync(&server_id)?;
    let mut round = 0;
    loop {
        let response = casebook_server::sync::sync(&h.server.state, caller.clone(), request)
            .await
            .context("the server refused a sync request")?;
        if cut_at == Some(round) {
            return Ok(Ended::Cut);
        }
        round += 1;
        match peer.repo.receive_sync(&mut session, response, Utc::now())? {
            SyncStep::Send(next) => request = next,
            SyncStep::Done(_) => return Ok(Ended::Done),
        }
    }
}

/// Whether the repository holds `doc` and, in it, each of `hashes`.
fn holds_all(repo: &mut Repo, doc: DocId, hashes: &[ChangeHash]) -> Result<bool> {
    if !repo.holds(doc)? {
        return Ok(false);
    }
    Ok(repo.read(doc, |d| {
        let am = d.automerge();
        Ok(hashes.iter().all(|h| am.get_change_by_hash(h).is_some()))
    })?)
}

/// Every document of `case` the repository holds, with its heads.
fn local_heads(repo: &mut Repo, case: CaseId) -> Result<Vec<(DocId, Vec<ChangeHash>)>> {
    let mut out = Vec::new();
    for kind in DocKind::ALL {
        let doc = DocId::new(case, kind);
        if repo.holds(doc)? {
            out.push((doc, repo.read(doc, |d| Ok(d.heads()))?));
        }
    }
    Ok(out)
}

/// The server's stored documents of one case, loaded again only when their `seq` changed.
#[derive(Default)]
struct ServerView {
    docs: HashMap<DocId, (i64, AutoCommit)>,
}

impl ServerView {
    async fn refresh(&mut self, h: &Harness, case: CaseId) -> Result<()> {
        let case_id = case.to_string();
        let seqs: Vec<(String, i64)> = h
            .server
            .state
            .db
            .read(move |c| {
                let mut stmt = c.prepare("SELECT doc_id, seq FROM docs WHERE case_id = ?1")?;
                let rows = stmt.query_map([case_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
                Ok(rows.collect::<casebook_server::sql::Result<Vec<_>>>()?)
            })
            .await?;
        for (id, seq) in seqs {
            let doc: DocId = id.parse()?;
            if self.docs.get(&doc).is_some_and(|(s, _)| *s == seq) {
                continue;
            }
            let bytes: Vec<u8> = h
                .server
                .state
                .db
                .read(move |c| {
                    casebook_server::db::docs::read_bytes(c, &id)?
                        .ok_or_else(|| casebook_server::Error::NotFound("document"))
                })
                .await?;
            self.docs.insert(doc, (seq, AutoCommit::load(&bytes)?));
        }
        Ok(())
    }
}

/// The guarantee after a successful sync of `repo` that started holding `before`: it holds
/// every change the server holds (pull), and the server every change it held (push).
async fn check(
    h: &Harness,
    view: &mut ServerView,
    repo: &mut Repo,
    case: CaseId,
    before: &[(DocId, Vec<ChangeHash>)],
) -> Result<()> {
    view.refresh(h, case).await?;
    for (doc, (_, stored)) in &mut view.docs {
        let heads = stored.get_heads();
        ensure!(
            holds_all(repo, *doc, &heads)?,
            "{doc}: the sync succeeded without a change the server held"
        );
    }
    for (doc, heads) in before {
        let (_, stored) = view
            .docs
            .get(doc)
            .with_context(|| format!("{doc}: the sync succeeded without pushing it"))?;
        ensure!(
            heads.iter().all(|h| stored.get_change_by_hash(h).is_some()),
            "{doc}: the sync succeeded without pushing a change the device held"
        );
    }
    Ok(())
}

/// A random edit by `peer` to the case, if it holds it.
fn edit(peer: &mut Peer, case: CaseId, rng: &mut StdRng) -> Result<()> {
    let doc = DocId::new(case, DocKind::Visits);
    if !peer.repo.holds(doc)? {
        // The case has not reached this device yet.
        return Ok(());
    }
    let notes: Vec<EntryId> = peer
        .repo
        .read(doc, |d| d.visit_notes())?
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let author = peer.author();
    let e = Edit::new(author, Utc::now());
    let words = format!("words {}", rng.r#gen::<u32>());
    match (notes.is_empty(), rng.gen_range(0..4)) {
        (true, _) | (_, 0) => {
            let id = EntryId::random(rng);
            let note = VisitNote {
                place: "Foster home".into(),
                wishes_and_feelings: words,
                ..VisitNote::default()
            };
            peer.repo
                .edit(doc, e.at, |d| d.add_visit_note(&e, id, &note))?;
        }
        (false, 1) => {
            let id = notes[rng.gen_range(0..notes.len())];
            peer.repo.edit(doc, e.at, |d| {
                d.review_visit_note(&e, id, ReviewStatus::SignedOff, &words)
            })?;
        }
        (false, _) => {
            // Changes in a row: the pattern that met the Bloom filter's false positives.
            for _ in 0..rng.gen_range(1..=4) {
                let id = notes[rng.gen_range(0..notes.len())];
                let more = format!(" {}", rng.r#gen::<u16>());
                peer.repo.edit(doc, e.at, |d| {
                    let mut note = d.visit_note(id)?;
                    note.observations.push_str(&more);
                    d.update_visit_note(&e, id, &note)
                })?;
            }
        }
    }
    Ok(())
}

async fn scenario(h: &Harness, peers: &mut [Peer], seed: u64) -> Result<CaseId> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut view = ServerView::default();
    for peer in peers.iter_mut() {
        peer.repo = Repo::new(MemoryStore::new());
    }
    let owner = rng.gen_range(0..peers.len());
    let at = Edit::new(peers[owner].author(), Utc::now());
    let case = peers[owner].repo.create_case(
        &at,
        &mut rng,
        &Profile {
            case_reference: format!("PROP-{seed}"),
            ..Profile::default()
        },
    )?;
    // A history long enough that a later push of a few changes goes out as changes (filtered
    // by the server's Bloom filter) rather than as the whole document, which automerge sends
    // when a third or more of the document is missing.
    for _ in 0..rng.gen_range(8..16) {
        edit(&mut peers[owner], case, &mut rng)?;
    }
    for _ in 0..STEPS {
        let who = rng.gen_range(0..peers.len());
        match rng.gen_range(0..10) {
            0..=4 => edit(&mut peers[who], case, &mut rng)?,
            roll => {
                let cut_at = (roll >= 8).then(|| rng.gen_range(0..2));
                let before = local_heads(&mut peers[who].repo, case)?;
                match sync(h, &mut peers[who], cut_at).await? {
                    Ended::Cut => {}
                    Ended::Done => check(h, &mut view, &mut peers[who].repo, case, &before).await?,
                }
            }
        }
    }
    // Everyone syncs once more, in a random order; each success is checked.
    for _ in 0..peers.len() {
        let who = rng.gen_range(0..peers.len());
        let before = local_heads(&mut peers[who].repo, case)?;
        if let Ended::Done = sync(h, &mut peers[who], None).await? {
            check(h, &mut view, &mut peers[who].repo, case, &before).await?;
        }
    }
    Ok(case)
}

/// Take `case` away from the team and delete its documents, so the next scenarios' syncs do
/// not carry it.
async fn retire(h: &Harness, case: CaseId) -> Result<()> {
    let case = case.to_string();
    h.server
        .state
        .db
        .write(move |tx| {
            let like = format!("{case}/%");
            tx.execute("DELETE FROM device_docs WHERE doc_id LIKE ?1", [&like])?;
            tx.execute("DELETE FROM docs WHERE case_id = ?1", [&case])?;
            tx.execute("DELETE FROM assignments WHERE case_id = ?1", [&case])?;
            tx.execute("UPDATE cases SET team_id = NULL WHERE id = ?1", [&case])?;
            Ok(())
        })
        .await?;
    Ok(())
}

fn env_u64(name: &str, default: u64) -> Result<u64> {
    match std::env::var(name) {
        Ok(v) => v.parse().with_context(|| format!("{name} is not a number")),
        Err(_) => Ok(default),
    }
}

/// The scenarios are split into [`SHARDS`] tests over disjoint seeds, each with its own
/// server, so the test runner spreads them over the machine's cores.
const SHARDS: u64 = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_successful_sync_is_complete_over_random_edits_and_cut_syncs() -> Result<()> {
    shard(0).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_successful_sync_is_complete_shard_2() -> Result<()> {
    shard(1).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_successful_sync_is_complete_shard_3() -> Result<()> {
    shard(2).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_successful_sync_is_complete_shard_4() -> Result<()> {
    shard(3).await
}

/// Run this shard's part of `CASEBOOK_COMPLETENESS_CASES` scenarios (shard `n` takes every
/// scenario whose index is `n` modulo [`SHARDS`]; together the shards run them all).
async fn shard(n: u64) -> Result<()> {
    let total = env_u64("CASEBOOK_COMPLETENESS_CASES", DEFAULT_CASES)?;
    let base = env_u64("CASEBOOK_COMPLETENESS_SEED", 0x5EED_0009)?;
    let seeds: Vec<u64> = (base + n..base + total)
        .step_by(usize::try_from(SHARDS)?)
        .collect();
    let cases = seeds.len();
    let settings = casebook_server::Settings {
        sync_burst: u32::MAX,
        sync_per_minute: u32::MAX,
        max_case_registrations_per_day: u32::MAX,
        ..casebook_server::Settings::default()
    };
    let h = Harness::start_with(settings).await?;
    let mut ids = Vec::new();
    let mut peers = Vec::new();
    for i in 0..DEVICES {
        let (user, device) = h.person(&format!("supervisor{i}"), "supervisor").await?;
        let transport = Transport::new(&h.server.base_url(), &pin(&h.server))?;
        let caller = open(&h, &device, &transport).await?;
        ids.push(user);
        peers.push(Peer {
            device,
            transport,
            caller,
            opened: Instant::now(),
            repo: Repo::new(MemoryStore::new()),
        });
    }
    let members: Vec<&str> = ids.iter().map(String::as_str).collect();
    h.admin.team("property team", &members).await?;
    let started = Instant::now();
    for (index, seed) in seeds.into_iter().enumerate() {
        match scenario(&h, &mut peers, seed).await {
            Ok(case) => retire(&h, case).await?,
            Err(e) => bail!("scenario with seed {seed} failed: {e:#}"),
        }
        let done = index + 1;
        if done % 250 == 0 {
            eprintln!(
                "{done} scenarios in {:.1} s",
                started.elapsed().as_secs_f64()
            );
        }
    }
    eprintln!(
        "shard {n}: {cases} scenarios of {DEVICES} devices in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
