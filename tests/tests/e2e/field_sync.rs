//! Field scale: a backlog larger than one sync request is pushed in steps, each under the
//! server's limit; a sync request sent twice changes nothing the first did not; a round trip
//! lost on the way, or sent on a connection the server closed while the phone paused, is
//! retried on a fresh connection.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use casebook_core::client::{RetryPolicy, SyncOptions, SyncOutcome, Transport};
use casebook_core::doc::{DocId, DocKind};
use casebook_core::ids::{CaseId, EntryId};
use casebook_core::model::{Profile, VisitNote};
use casebook_core::sync::wire::{MAX_SYNC_REQUEST_BYTES, REQUEST_FRAMING_BYTES};
use casebook_core::sync::{SyncProgress, SyncReport, SyncStep};
use casebook_tests::proxy::Relay;
use casebook_tests::support::{Device, Harness};
use chrono::Utc;
use rand::Rng;

/// A note of a one-hour visit with an interpreter: `chars` characters.
pub fn long_note(random: &mut impl Rng, chars: usize) -> String {
    // Written in Chinese (one of the languages interpreters most often work in for these
    // children): ideographs barely compress, so 900 such notes are more than one request
    // may carry even after automerge deflates them (about 16 KiB a note).
    let mut text = String::with_capacity(chars * 3);
    for i in 0..chars {
        text.push(if i % 40 == 39 {
            '。'
        } else {
            char::from_u32(random.gen_range(0x4E00..0x9FA5)).unwrap_or('人')
        });
    }
    text
}

/// `cases` cases created offline on `device`, with `notes` notes of `chars` characters
/// spread over them.
pub fn offline_backlog(
    device: &Device,
    cases: usize,
    notes: usize,
    chars: usize,
) -> Result<Vec<CaseId>> {
    let mut random = rand::rngs::OsRng;
    let mut ids = Vec::new();
    for c in 0..cases {
        let edit = device.edit();
        ids.push(device.lock().create_case(
            &edit,
            &mut random,
            &Profile {
                case_reference: format!("HUL-2026-{c:04}"),
                ..Profile::default()
            },
        )?);
    }
    for n in 0..notes {
        let case = ids[n % cases];
        let note = VisitNote {
            place: "Foster home".into(),
            wishes_and_feelings: long_note(&mut random, chars),
            ..VisitNote::default()
        };
        let id = EntryId::random(&mut random);
        device.change(DocId::new(case, DocKind::Visits), |d, e| {
            d.add_visit_note(e, id, &note)
        })?;
    }
    Ok(ids)
}

/// Visit notes `device` holds across `cases`.
pub fn notes_held(device: &Device, cases: &[CaseId]) -> Result<usize> {
    let mut repo = device.lock();
    let mut total = 0;
    for case in cases {
        total += repo
            .read(DocId::new(*case, DocKind::Visits), |d| d.visit_notes())?
            .len();
    }
    Ok(total)
}

/// Sync `device` by hand through the core's session, its requests' messages limited to
/// `budget` bytes, recording the JSON size of every request.
async fn sync_measuring(device: &Device, budget: usize) -> Result<(SyncReport, Vec<usize>)> {
    let transport = Transport::new(&device.identity.server_url, &device.identity.trust)?;
    let mut traffic = Default::default();
    let token = transport
        .open_session(
            device.identity.device_id,
            |c| device.identity.sign_challenge(c),
            &mut traffic,
        )
        .await?
        .token;
    let (mut session, mut request) = device.lock().start_sync(&device.identity.server_id)?;
    session.set_budget(budget);
    let mut sizes = Vec::new();
    loop {
        sizes.push(serde_json::to_vec(&request)?.len());
        let answer = transport.sync(&token, &request, &mut traffic).await?;
        match device
            .lock()
            .receive_sync(&mut session, answer, Utc::now())?
        {
            SyncStep::Send(next) => request = next,
            SyncStep::Done(report) => return Ok((report, sizes)),
        }
    }
}

fn settings() -> casebook_server::Settings {
    casebook_server::Settings {
        max_case_registrations_per_day: 1_000,
        ..casebook_server::Settings::default()
    }
}

/// Issue 9: 900 offline notes of 10,000 characters across 100 cases (more than one request
/// may carry) are pushed in steps, each under the server's limit; a second device of the
/// same guardian then pulls every note. The steps here are of 2 MiB (the protocol's are
/// 12 MiB, see `SYNC_REQUEST_BUDGET_BYTES` and `cargo bench --bench field`), so that no
/// round trip of an unoptimised server takes longer than the device's 120 s timeout; even
/// so the test takes about 9 minutes in a debug build (automerge optimised), so it runs in release builds only
/// (`cargo test --release -p casebook-tests --test e2e nine_hundred`).
#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(
    debug_assertions,
    ignore = "about 9 minutes in a debug build: run with --release (or --ignored)"
)]
async fn nine_hundred_long_offline_notes_are_pushed_in_steps() -> Result<()> {
    let h = Harness::start_with(settings()).await?;
    let (guardian_id, guardian) = h.person("guardian", "guardian").await?;
    let cases = offline_backlog(&guardian, 100, 900, 10_000)?;

    let (report, sizes) = sync_measuring(&guardian, MAX_SYNC_REQUEST_BYTES / 8).await?;
    let total: usize = sizes.iter().sum();
    assert!(
        total > MAX_SYNC_REQUEST_BYTES,
        "the backlog ({total} bytes) is more than one request may carry"
    );
    assert!(sizes.len() > 8, "pushed in steps: {sizes:?}");
    for size in &sizes {
        assert!(
            *size <= MAX_SYNC_REQUEST_BYTES / 8 + REQUEST_FRAMING_BYTES,
            "{size} bytes: {sizes:?}"
        );
    }
    eprintln!("pushed {total} bytes in {} requests", sizes.len());
    assert!(report.rejected.is_empty(), "{report:?}");
    assert!(report.too_large.is_empty(), "{report:?}");
    assert!(guardian.lock().store().dirty()?.is_empty(), "all pushed");

    let code = h.admin.code(&guardian_id).await?;
    let tablet = Device::enrol_at(
        &h.server,
        h.devices_dir.path().join("tablet.db"),
        &code,
        "guardian tablet",
    )
    .await?;
    let pulled = tablet.sync().await?;
    assert!(pulled.report.docs_received + pulled.report.docs_updated >= 100);
    assert_eq!(notes_held(&tablet, &cases)?, 900);
    Ok(())
}

/// Every request of a session sent twice: the second answer is the same, the case is
/// registered once, and the notes arrive once.
#[tokio::test(flavor = "multi_thread")]
async fn a_sync_request_sent_twice_changes_nothing_more() -> Result<()> {
    let h = Harness::start_with(settings()).await?;
    let (guardian_id, guardian) = h.person("guardian", "guardian").await?;
    let cases = offline_backlog(&guardian, 2, 6, 2_000)?;

    let transport = Transport::new(&guardian.identity.server_url, &guardian.identity.trust)?;
    let mut traffic = Default::default();
    let token = transport
        .open_session(
            guardian.identity.device_id,
            |c| guardian.identity.sign_challenge(c),
            &mut traffic,
        )
        .await?
        .token;
    let (mut session, mut request) = guardian.lock().start_sync(&guardian.identity.server_id)?;
    let mut replayed = 0;
    loop {
        let first = transport.sync(&token, &request, &mut traffic).await?;
        let again = transport.sync(&token, &request, &mut traffic).await?;
        replayed += 1;
        assert_eq!(first.cursor, again.cursor);
        assert_eq!(first.rejected, again.rejected);
        assert_eq!(first.more, again.more);
        let docs = |r: &casebook_core::sync::wire::SyncResponse| {
            let mut d: Vec<DocId> = r.messages.iter().map(|m| m.doc).collect();
            d.extend(r.snapshots.iter().map(|s| s.doc));
            d.sort();
            d
        };
        assert_eq!(docs(&first), docs(&again), "the same documents answered");
        match guardian
            .lock()
            .receive_sync(&mut session, again, Utc::now())?
        {
            SyncStep::Send(next) => request = next,
            SyncStep::Done(report) => {
                assert!(report.rejected.is_empty(), "{report:?}");
                break;
            }
        }
    }
    assert!(replayed >= 2, "the pushing request was replayed too");
    for case in &cases {
        let audit = h.admin.audit_for_case(&case.to_string()).await?;
        let created = audit
            .iter()
            .filter(|row| row["event"] == "case_created")
            .count();
        assert_eq!(created, 1, "registered once: {audit:?}");
    }
    let code = h.admin.code(&guardian_id).await?;
    let tablet = Device::enrol_at(
        &h.server,
        h.devices_dir.path().join("tablet.db"),
        &code,
        "guardian tablet",
    )
    .await?;
    tablet.sync().await?;
    assert_eq!(tablet.lock().cases()?.len(), 2);
    assert_eq!(notes_held(&tablet, &cases)?, 6, "no note twice");
    Ok(())
}

/// A round trip lost on the way (the relay swallows it and closes the connection) is sent
/// again on a fresh connection; the sync succeeds.
#[tokio::test(flavor = "multi_thread")]
async fn a_round_trip_lost_on_the_way_is_retried_on_a_fresh_connection() -> Result<()> {
    let h = Harness::start_with(settings()).await?;
    let (_, mut guardian) = h.person("guardian", "guardian").await?;
    let cases = offline_backlog(&guardian, 3, 6, 1_000)?;
    let relay = Relay::start(h.server.addr).await?;
    guardian.moved_to(&relay.url());

    let armed = AtomicBool::new(false);
    let progress = |_: SyncProgress| {
        // After the first round, lose the next request.
        if !armed.swap(true, Ordering::SeqCst) {
            relay.drop_next();
        }
    };
    let outcome = guardian
        .sync_with(&progress, &AtomicBool::new(false))
        .await?;
    assert_eq!(relay.dropped(), 1, "a request was lost");
    assert!(outcome.retries >= 1, "{outcome:?}");
    assert!(relay.connections() >= 2, "retried on a fresh connection");
    assert!(guardian.lock().store().dirty()?.is_empty(), "all pushed");
    guardian.moved_to(&h.server.base_url());
    let _ = cases;
    Ok(())
}

/// Without retries, the same lost round trip fails the sync as `Network` (the device is
/// offline for the app): what the retry fixes.
#[tokio::test(flavor = "multi_thread")]
async fn without_retries_a_lost_round_trip_fails_the_sync() -> Result<()> {
    let h = Harness::start_with(settings()).await?;
    let (_, mut guardian) = h.person("guardian", "guardian").await?;
    offline_backlog(&guardian, 1, 2, 1_000)?;
    let relay = Relay::start(h.server.addr).await?;
    guardian.moved_to(&relay.url());
    let armed = AtomicBool::new(false);
    let progress = |_: SyncProgress| {
        if !armed.swap(true, Ordering::SeqCst) {
            relay.drop_next();
        }
    };
    let options = SyncOptions {
        retry: RetryPolicy {
            attempts: 1,
            ..RetryPolicy::default()
        },
        jitter_seed: 1,
        ..SyncOptions::default()
    };
    let result = casebook_core::client::sync_now_with_options(
        &guardian.repo,
        &guardian.identity,
        &|| Utc::now().into(),
        &progress,
        &AtomicBool::new(false),
        options,
    )
    .await;
    match result {
        Err(casebook_core::Error::Network(_)) => Ok(()),
        other => bail!("expected a network error, got {other:?}"),
    }
}

/// Issue 9: a pull where the phone pauses between rounds longer than the server keeps an
/// idle connection (here 2 s against a pause of 4 s; in the field 30 s against 40 s)
/// succeeds: the next round goes on a fresh connection. The phone's network hides the
/// server's close (as a mobile network's middlebox does), so the phone sends on the dead
/// connection and gets a reset.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pull_with_long_pauses_between_rounds_succeeds() -> Result<()> {
    let (outcome, relay) = pull_with_pauses(RetryPolicy::default()).await?;
    assert!(outcome.report.rounds >= 3, "{outcome:?}");
    assert!(
        relay.dropped() >= 1,
        "a request went on a connection the server had closed"
    );
    Ok(())
}

async fn pull_with_pauses(retry: RetryPolicy) -> Result<(SyncOutcome, Relay)> {
    let h = Harness::start_with(casebook_server::Settings {
        idle_timeout: Duration::from_secs(2),
        response_budget: 16 * 1024,
        ..settings()
    })
    .await?;
    let (guardian_id, guardian) = h.person("guardian", "guardian").await?;
    let cases = offline_backlog(&guardian, 12, 24, 4_000)?;
    guardian.sync().await?;

    let code = h.admin.code(&guardian_id).await?;
    let tablet = Device::enrol_at(
        &h.server,
        h.devices_dir.path().join("tablet.db"),
        &code,
        "guardian tablet",
    )
    .await?;
    let relay = Relay::start(h.server.addr).await?;
    relay.hide_server_closes();
    let mut tablet = tablet;
    tablet.moved_to(&relay.url());
    let pauses = AtomicU32::new(0);
    let last = std::sync::Mutex::new(SyncProgress::default());
    let progress = |p: SyncProgress| {
        // A slow phone: the first rounds are followed by a pause longer than the server's
        // idle timeout.
        if pauses.fetch_add(1, Ordering::SeqCst) < 2 {
            std::thread::sleep(Duration::from_secs(4));
        }
        *last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = p;
    };
    let options = SyncOptions {
        retry,
        jitter_seed: 3,
        ..SyncOptions::default()
    };
    let outcome = casebook_core::client::sync_now_with_options(
        &tablet.repo,
        &tablet.identity,
        &|| Utc::now().into(),
        &progress,
        &AtomicBool::new(false),
        options,
    )
    .await?;
    assert!(outcome.report.rounds >= 3, "{outcome:?}");
    assert!(pauses.load(Ordering::SeqCst) >= 3);
    assert_eq!(notes_held(&tablet, &cases)?, 24);
    let last = *last
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    assert!(
        last.docs_done >= 12,
        "the last progress counts what arrived: {last:?}"
    );
    assert!(last.bytes_received > 0, "{last:?}");
    Ok((outcome, relay))
}

/// Progress counts the documents sent, the total to send, and the bytes.
#[tokio::test(flavor = "multi_thread")]
async fn progress_reports_documents_and_bytes_sent() -> Result<()> {
    let h = Harness::start_with(settings()).await?;
    let (_, guardian) = h.person("guardian", "guardian").await?;
    offline_backlog(&guardian, 3, 3, 500)?;
    let dirty = guardian.lock().store().dirty()?.len();
    let seen = std::sync::Mutex::new(Vec::new());
    let progress = |p: SyncProgress| {
        seen.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(p);
    };
    guardian
        .sync_with(&progress, &AtomicBool::new(false))
        .await?;
    let seen = seen
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let last = seen.last().context("progress reported")?;
    assert_eq!(last.docs_to_send, dirty);
    assert_eq!(last.docs_sent, dirty, "{seen:?}");
    assert!(last.bytes_sent > 0 && last.bytes_received > 0, "{last:?}");
    assert!(seen.windows(2).all(|w| w[0].bytes_sent <= w[1].bytes_sent));
    Ok(())
}

/// A pull in several answers reports, from the first answer on, how many documents it will
/// bring in all (those received and those the server said it has still to send) and the
/// stored bytes still to come; at the end the total is what arrived and nothing is pending.
#[tokio::test(flavor = "multi_thread")]
async fn progress_reports_the_documents_and_bytes_still_to_receive() -> Result<()> {
    let h = Harness::start_with(casebook_server::Settings {
        response_budget: 16 * 1024,
        ..settings()
    })
    .await?;
    let (guardian_id, guardian) = h.person("guardian", "guardian").await?;
    offline_backlog(&guardian, 6, 12, 4_000)?;
    guardian.sync().await?;
    let held = guardian.lock().store().docs()?.len();

    let code = h.admin.code(&guardian_id).await?;
    let tablet = Device::enrol_at(
        &h.server,
        h.devices_dir.path().join("tablet.db"),
        &code,
        "guardian tablet",
    )
    .await?;
    let seen = std::sync::Mutex::new(Vec::new());
    let progress = |p: SyncProgress| {
        seen.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(p);
    };
    let outcome = tablet.sync_with(&progress, &AtomicBool::new(false)).await?;
    let seen = seen
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    assert!(seen.len() >= 3, "a pull in several answers: {seen:?}");
    let first = seen.first().context("progress reported")?;
    assert!(first.docs_done < held, "{first:?}");
    assert_eq!(
        first.docs_to_receive, held,
        "the whole pull known at once: {first:?}"
    );
    assert!(first.bytes_pending > 0, "{first:?}");
    for p in &seen[..seen.len() - 1] {
        assert!(p.docs_to_receive >= p.docs_done, "{p:?}");
    }
    let last = seen.last().context("progress reported")?;
    let arrived = outcome.report.docs_received + outcome.report.docs_updated;
    assert_eq!((last.docs_done, last.docs_to_receive), (arrived, arrived));
    assert_eq!(arrived, held);
    assert_eq!(last.bytes_pending, 0);
    Ok(())
}
