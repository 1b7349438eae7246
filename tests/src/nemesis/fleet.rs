//! The nemesis's devices: real cores on encrypted stores, each with a clock the nemesis can
//! set (the core reads no clock: the caller passes `now`), editing shared cases and syncing
//! in a loop, with a ledger of every edit a completed sync acknowledged.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;
use casebook_core::client::{self, SyncOptions};
use casebook_core::doc::{DocId, DocKind};
use casebook_core::ids::{CaseId, EntryId};
use casebook_core::model::{MissingEpisode, SafetyCheck};
use casebook_core::sync::{DeviceTime, SyncReport, is_locked};
use chrono::Utc;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::mpsc;

use super::checks::Checks;
use super::faults::{FaultKind, Tally};
use crate::support::Device;

/// How long a device may go without a check-in before its store locks (as in the apps).
pub const MAX_OFFLINE: Duration = Duration::from_secs(72 * 60 * 60);

const HOUR: i64 = 3_600_000;

/// A device's clocks, as the nemesis sets them: the wall clock runs `offset` from the real
/// one, and the boot clock counts from `boot`.
#[derive(Debug)]
pub struct DeviceClock {
    offset_ms: AtomicI64,
    boot: Mutex<Instant>,
}

impl DeviceClock {
    fn new() -> Self {
        Self {
            offset_ms: AtomicI64::new(0),
            boot: Mutex::new(Instant::now()),
        }
    }

    fn boot(&self) -> std::sync::MutexGuard<'_, Instant> {
        self.boot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The device's reading now.
    pub fn now(&self) -> DeviceTime {
        let offset = chrono::Duration::milliseconds(self.offset_ms.load(Ordering::SeqCst));
        DeviceTime {
            wall: Utc::now() + offset,
            since_boot: Some(self.boot().elapsed()),
        }
    }

    /// Set the wall clock to read `ms` milliseconds from the real time.
    fn set_offset(&self, ms: i64) {
        self.offset_ms.store(ms, Ordering::SeqCst);
    }

    /// The device restarts: its boot clock starts again from zero.
    fn reboot(&self) {
        *self.boot() = Instant::now();
    }

    /// Put the wall clock right.
    pub fn correct(&self) {
        self.set_offset(0);
    }
}

/// Who a device's user is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A guardian, social worker or supervisor: the case team, who read and write it all.
    CaseTeam,
    /// A carer linked to the placement of the first case: its safety log only.
    Carer,
}

/// A record a device added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record {
    /// A visit note.
    VisitNote,
    /// A safety check.
    SafetyCheck,
    /// A missing-from-care episode.
    MissingEpisode,
}

/// One record written on a device.
#[derive(Debug, Clone, Copy)]
pub struct Written {
    /// The device (index into the fleet).
    pub device: usize,
    /// The document.
    pub doc: DocId,
    /// What.
    pub record: Record,
    /// Its entry.
    pub entry: EntryId,
}

/// What the devices wrote and what the server acknowledged.
#[derive(Debug, Default)]
pub struct Ledger {
    /// Edits a completed sync delivered.
    pub acknowledged: Vec<Written>,
    /// Edits the server refused (reported by a completed sync): none is expected.
    pub refused: Vec<Written>,
    /// Edits made.
    pub edits: usize,
    /// Edits the device did not make because its store was locked (as the app refuses).
    pub held_back_while_locked: usize,
    /// Syncs completed.
    pub syncs_completed: usize,
    /// Syncs that failed, by cause.
    pub syncs_failed: std::collections::BTreeMap<String, usize>,
    /// Clock changes that locked the store.
    pub locks_engaged: usize,
    /// Locks a completed sync cleared.
    pub locks_cleared: usize,
}

/// A device of the fleet.
#[derive(Debug)]
pub struct FleetDevice {
    /// The real device.
    pub device: Device,
    /// Its name.
    pub name: String,
    /// Its user's standing.
    pub role: Role,
    /// Its clocks.
    pub clock: DeviceClock,
    /// The clock's reading at its last completed sync (its check-in).
    last_checkin: Mutex<DeviceTime>,
    /// Edits not yet acknowledged.
    pending: Mutex<Vec<Written>>,
}

fn guard<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A sync failure's cause, without content.
fn cause(error: &casebook_core::Error) -> String {
    match error {
        casebook_core::Error::Network(_) => "network (every retry failed)".into(),
        casebook_core::Error::Server { status, code, .. } => format!("server {status} {code}"),
        other => format!("other: {other}"),
    }
}

impl FleetDevice {
    /// Wrap an enrolled device.
    pub fn new(device: Device, name: &str, role: Role) -> Self {
        let clock = DeviceClock::new();
        let now = clock.now();
        Self {
            device,
            name: name.to_owned(),
            role,
            clock,
            last_checkin: Mutex::new(now),
            pending: Mutex::new(Vec::new()),
        }
    }

    /// Whether this device's user may read `doc` of `cases` (the first case is the carer's).
    pub fn may_read(&self, doc: DocId, cases: &[CaseId]) -> bool {
        match self.role {
            Role::CaseTeam => cases.contains(&doc.case),
            Role::Carer => cases.first() == Some(&doc.case) && doc.kind == DocKind::Safety,
        }
    }

    /// Whether the store is locked at the device's now.
    pub fn locked(&self) -> Result<bool> {
        Ok(self.device.lock().locked(self.clock.now(), MAX_OFFLINE)?)
    }

    /// Sync once with the device's clock; on success, the edits made before it are
    /// acknowledged (unless the server refused their document) and the check-in recorded.
    pub async fn sync(
        &self,
        cases: &[CaseId],
        ledger: &Mutex<Ledger>,
        checks: &Mutex<Checks>,
    ) -> Result<Option<SyncReport>> {
        let was_locked = self.locked()?;
        let sent: Vec<Written> = guard(&self.pending).clone();
        let clock = || self.clock.now();
        let outcome = client::sync_now_with_options(
            &self.device.repo,
            &self.device.identity,
            &clock,
            &|_| {},
            &AtomicBool::new(false),
            SyncOptions {
                jitter_seed: rand::random(),
                ..SyncOptions::default()
            },
        )
        .await;
        let report = match outcome {
            Ok(outcome) => outcome.report,
            Err(error) => {
                *guard(ledger).syncs_failed.entry(cause(&error)).or_default() += 1;
                return Ok(None);
            }
        };
        *guard(&self.last_checkin) = self.clock.now();
        let refused: Vec<DocId> = report.rejected.iter().map(|r| r.doc).collect();
        let unlocked = !self.locked()?;
        {
            let mut ledger = guard(ledger);
            ledger.syncs_completed += 1;
            for written in &sent {
                if refused.contains(&written.doc) {
                    ledger.refused.push(*written);
                } else {
                    ledger.acknowledged.push(*written);
                }
            }
            if was_locked && unlocked {
                ledger.locks_cleared += 1;
            }
        }
        guard(&self.pending).drain(..sent.len());
        let mut checks = guard(checks);
        checks.record(
            "a completed sync leaves the store unlocked",
            unlocked,
            || format!("{} is still locked after a sync", self.name),
        );
        checks.record("no edit refused by the server", refused.is_empty(), || {
            format!("{} had {} document(s) refused", self.name, refused.len())
        });
        for doc in report.changed.iter().filter(|d| !report.purged.contains(d)) {
            checks.record(
                "a sync brings only documents the user may read",
                self.may_read(*doc, cases),
                || {
                    format!(
                        "{} received {:?} of a case it may not read",
                        self.name, doc.kind
                    )
                },
            );
        }
        Ok(Some(report))
    }

    /// Add one record the user may write, at the device's clock.
    pub fn edit(&self, index: usize, cases: &[CaseId], rng: &mut StdRng) -> Result<Written> {
        let case = match self.role {
            Role::Carer => cases[0],
            Role::CaseTeam => cases[rng.gen_range(0..cases.len())],
        };
        let record = match (self.role, rng.gen_range(0..3)) {
            (Role::CaseTeam, 0) => Record::VisitNote,
            (_, 1) => Record::MissingEpisode,
            _ => Record::SafetyCheck,
        };
        let entry = EntryId::random(rng);
        let at = self.clock.now().wall;
        let edit = casebook_core::doc::Edit::new(self.device.identity.author(), at);
        let doc = match record {
            Record::VisitNote => {
                let doc = DocId::new(case, DocKind::Visits);
                let note = casebook_core::model::VisitNote {
                    place: "Foster home".into(),
                    wishes_and_feelings: format!("nemesis note {entry}"),
                    ..Default::default()
                };
                self.device
                    .lock()
                    .edit(doc, at, |d| d.add_visit_note(&edit, entry, &note))?;
                doc
            }
            Record::SafetyCheck => {
                let doc = DocId::new(case, DocKind::Safety);
                let check = SafetyCheck {
                    note: format!("nemesis check {entry}"),
                    ..SafetyCheck::default()
                };
                self.device
                    .lock()
                    .edit(doc, at, |d| d.log_safety_check(&edit, entry, &check))?;
                doc
            }
            Record::MissingEpisode => {
                let doc = DocId::new(case, DocKind::Safety);
                let episode = MissingEpisode {
                    missing_since: Some(at - chrono::Duration::minutes(30)),
                    circumstances: format!("nemesis episode {entry}"),
                    ..MissingEpisode::default()
                };
                self.device
                    .lock()
                    .edit(doc, at, |d| d.start_missing_episode(&edit, entry, &episode))?;
                doc
            }
        };
        let written = Written {
            device: index,
            doc,
            record,
            entry,
        };
        guard(&self.pending).push(written);
        Ok(written)
    }

    /// Edits not yet acknowledged.
    pub fn pending(&self) -> usize {
        guard(&self.pending).len()
    }

    /// Set the clock as `kind` says, relative to the last check-in, and check the lock
    /// against it. Returns whether the store is now locked.
    pub fn set_clock(
        &self,
        kind: FaultKind,
        rng: &mut StdRng,
        checks: &Mutex<Checks>,
    ) -> Result<bool> {
        let last = *guard(&self.last_checkin);
        let shift_ms = match kind {
            FaultKind::ClockForward => rng.gen_range(HOUR..60 * HOUR),
            FaultKind::ClockBack => -rng.gen_range(2 * HOUR..240 * HOUR),
            FaultKind::ClockPastLock => rng.gen_range(73 * HOUR..240 * HOUR),
            FaultKind::ClockBackAfterRestart => {
                self.clock.reboot();
                -rng.gen_range(2 * HOUR..120 * HOUR)
            }
            _ => return self.locked(),
        };
        let target = last.wall + chrono::Duration::milliseconds(shift_ms);
        self.clock
            .set_offset((target - Utc::now()).num_milliseconds());
        let now = self.clock.now();
        let expected = is_locked(last, now, MAX_OFFLINE);
        let actual = self.locked()?;
        let mut checks = guard(checks);
        checks.record(
            "the lock follows the clock after a clock change",
            expected == actual,
            || {
                format!(
                    "{}: {:?} left the store {} (expected {})",
                    self.name,
                    kind,
                    if actual { "locked" } else { "open" },
                    if expected { "locked" } else { "open" }
                )
            },
        );
        Ok(actual)
    }
}

/// The clock faults sent to one device, applied by its loop between syncs; at most one
/// waits at a time.
#[derive(Debug)]
pub struct ClockQueue {
    send: mpsc::UnboundedSender<FaultKind>,
    waiting: Arc<AtomicBool>,
}

/// The device loop's end of a [`ClockQueue`].
#[derive(Debug)]
pub struct ClockFaults {
    receive: mpsc::UnboundedReceiver<FaultKind>,
    waiting: Arc<AtomicBool>,
}

impl ClockQueue {
    /// A queue and the device loop's end of it.
    pub fn new() -> (Self, ClockFaults) {
        let (send, receive) = mpsc::unbounded_channel();
        let waiting = Arc::new(AtomicBool::new(false));
        let faults = ClockFaults {
            receive,
            waiting: Arc::clone(&waiting),
        };
        (Self { send, waiting }, faults)
    }

    /// Whether no fault waits.
    pub fn is_idle(&self) -> bool {
        !self.waiting.load(Ordering::SeqCst)
    }

    /// Send `kind`; false (nothing sent) if one waits already.
    pub fn send(&self, kind: FaultKind) -> Result<bool> {
        if self.waiting.swap(true, Ordering::SeqCst) {
            return Ok(false);
        }
        self.send.send(kind)?;
        Ok(true)
    }
}

impl ClockFaults {
    fn next(&mut self) -> Option<FaultKind> {
        let kind = self.receive.try_recv().ok()?;
        self.waiting.store(false, Ordering::SeqCst);
        Some(kind)
    }
}

/// What one device's loop needs.
#[derive(Debug, Clone)]
pub struct LoopContext {
    /// The shared cases.
    pub cases: Vec<CaseId>,
    /// The ledger.
    pub ledger: Arc<Mutex<Ledger>>,
    /// The checks.
    pub checks: Arc<Mutex<Checks>>,
    /// Faults applied, by kind.
    pub tally: Arc<Mutex<Tally>>,
    /// Set to end the loop.
    pub stop: Arc<AtomicBool>,
    /// Longest pause between iterations.
    pub max_pause: Duration,
}

/// Edit and sync until told to stop, applying the clock faults sent to this device between
/// syncs (so each is judged against a known check-in).
pub async fn run_device(
    fleet: Arc<Vec<FleetDevice>>,
    index: usize,
    mut clock_faults: ClockFaults,
    ctx: LoopContext,
    seed: u64,
) -> Result<()> {
    let me = &fleet[index];
    let mut rng = StdRng::seed_from_u64(seed);
    while !ctx.stop.load(Ordering::SeqCst) {
        while let Some(kind) = clock_faults.next() {
            let locked = me.set_clock(kind, &mut rng, &ctx.checks)?;
            guard(&ctx.tally).add(kind);
            if locked {
                guard(&ctx.ledger).locks_engaged += 1;
            }
        }
        for _ in 0..rng.gen_range(0..3) {
            if me.locked()? {
                guard(&ctx.ledger).held_back_while_locked += 1;
            } else {
                me.edit(index, &ctx.cases, &mut rng)?;
                guard(&ctx.ledger).edits += 1;
            }
        }
        if me
            .sync(&ctx.cases, &ctx.ledger, &ctx.checks)
            .await?
            .is_some()
        {
            check_access(&fleet, index, &ctx.cases, &ctx.checks)?;
        }
        let pause = rng.gen_range(Duration::ZERO..=ctx.max_pause);
        tokio::time::sleep(pause).await;
    }
    Ok(())
}

/// The device holds no document its user may not read.
pub fn check_access(
    fleet: &[FleetDevice],
    index: usize,
    cases: &[CaseId],
    checks: &Mutex<Checks>,
) -> Result<()> {
    let me = &fleet[index];
    for &case in cases {
        for kind in DocKind::ALL {
            let doc = DocId::new(case, kind);
            if me.may_read(doc, cases) {
                continue;
            }
            let held = me.device.lock().holds(doc)?;
            guard(checks).record(
                "a device never holds a document its user may not read",
                !held,
                || format!("{} holds {kind:?} of a case it may not read", me.name),
            );
        }
    }
    Ok(())
}
