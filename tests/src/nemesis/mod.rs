//! A nemesis run in the manner of Jepsen: the real server as a child process on loopback,
//! several devices (guardians, a supervisor, a carer) editing shared cases and syncing through
//! a TCP proxy, and faults injected at random from a printed seed: the server SIGKILLed and
//! restarted or SIGSTOPped for a while, requests and responses cut or held mid-way, device
//! clocks set back and forward (within the check-in lock and beyond it). At the end, with the
//! faults stopped and every device synced until quiet, it checks that every device converged
//! with the server, that nothing a completed sync acknowledged is lost, and that no device
//! holds a document its user may not read. `scripts/nemesis.sh` runs the long version, the
//! e2e test `nemesis` a short one.

pub mod checks;
pub mod faults;
pub mod fleet;
pub mod proxy;
pub mod server;

use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use casebook_core::doc::{DocId, DocKind};
use casebook_core::ids::CaseId;
use casebook_core::model::Profile;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use self::checks::{Checks, ServerDocs, final_checks};
use self::faults::{FaultDurations, FaultKind, Tally};
use self::fleet::{ClockQueue, FleetDevice, Ledger, LoopContext, Role, check_access};
use self::proxy::{FaultProxy, Landed};
use self::server::{ServerCommand, ServerProcess};
use crate::support::{Admin, Device};

/// How a run goes.
#[derive(Debug, Clone)]
pub struct Config {
    /// Seeds every random choice of the nemesis (timing still varies from run to run).
    pub seed: u64,
    /// Faults to inject.
    pub faults: usize,
    /// Over how long the faults are spread.
    pub duration: Duration,
    /// How long stops and held responses last.
    pub durations: FaultDurations,
    /// Longest pause of a device between syncs.
    pub device_pause: Duration,
    /// To show the checks can fail: the final checks run as if the server had lost the
    /// first case's visit notes document.
    pub sabotage: bool,
}

impl Config {
    /// The long run of `scripts/nemesis.sh`: `faults` over `duration`, stops of 1 to 4 s,
    /// responses held up to 3 s.
    pub fn long(seed: u64, faults: usize, duration: Duration) -> Self {
        Self {
            seed,
            faults,
            duration,
            durations: FaultDurations {
                stop: (Duration::from_secs(1), Duration::from_secs(4)),
                delay: (Duration::from_millis(100), Duration::from_secs(3)),
            },
            device_pause: Duration::from_millis(300),
            sabotage: false,
        }
    }
}

/// What a run did and found.
#[derive(Debug)]
pub struct Report {
    /// The seed.
    pub seed: u64,
    /// The shared cases (the carer is linked to the first).
    pub cases: Vec<CaseId>,
    /// How long the faults ran, and the whole run.
    pub fault_time: Duration,
    /// The whole run's time.
    pub total_time: Duration,
    /// Faults injected, by kind.
    pub faults: Tally,
    /// What the proxy's armed faults did.
    pub landed: Landed,
    /// What the devices did.
    pub ledger: Ledger,
    /// Rounds of syncing it took to go quiet at the end.
    pub quiet_after_rounds: usize,
    /// The checks.
    pub checks: Checks,
}

impl Report {
    /// Whether every check passed.
    pub fn passed(&self) -> bool {
        self.checks.passed()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "nemesis: seed {}", self.seed)?;
        writeln!(
            f,
            "time: faults {:.1} s, whole run {:.1} s",
            self.fault_time.as_secs_f64(),
            self.total_time.as_secs_f64()
        )?;
        writeln!(f, "faults injected: {}", self.faults.total())?;
        for (kind, _) in FaultKind::WEIGHTED {
            let extra = match kind {
                FaultKind::RequestCut => format!(" (landed {})", self.landed.requests_cut),
                FaultKind::ResponseCut => format!(" (landed {})", self.landed.responses_cut),
                FaultKind::ResponseDelay => {
                    format!(" (landed {})", self.landed.responses_delayed)
                }
                _ => String::new(),
            };
            writeln!(
                f,
                "  {:>5}  {}{extra}",
                self.faults.of(kind),
                kind.describe()
            )?;
        }
        let l = &self.ledger;
        writeln!(
            f,
            "devices: {} edits, {} acknowledged, {} held back while locked; {} syncs completed, \
             {} locks engaged by a clock change, {} cleared by a sync",
            l.edits,
            l.acknowledged.len(),
            l.held_back_while_locked,
            l.syncs_completed,
            l.locks_engaged,
            l.locks_cleared
        )?;
        writeln!(f, "syncs failed (retries exhausted), by cause:")?;
        for (cause, n) in &l.syncs_failed {
            writeln!(f, "  {n:>5}  {cause}")?;
        }
        writeln!(
            f,
            "quiet after {} round(s) of syncs",
            self.quiet_after_rounds
        )?;
        writeln!(f, "checks (passed / failed):")?;
        for (name, (passed, failed)) in self.checks.counts() {
            writeln!(f, "  {passed:>6} / {failed:<4} {name}")?;
        }
        for failure in self.checks.failures() {
            writeln!(f, "FAILED: {failure}")?;
        }
        writeln!(f, "{}", if self.passed() { "PASS" } else { "FAIL" })
    }
}

/// The fleet and its world, after setup.
struct World {
    server: ServerProcess,
    proxy: FaultProxy,
    fleet: Arc<Vec<FleetDevice>>,
    cases: Vec<CaseId>,
    // The administrator's device is kept for the run's length.
    _admin: Device,
}

/// Start the server, enrol an administrator and four devices (two guardians and a supervisor
/// in one team on two cases, a carer linked to the first case's placement), all through the
/// proxy, and sync each once.
async fn set_up(command: ServerCommand, data_dir: &Path, phones: &Path) -> Result<World> {
    let server = ServerProcess::start(command, data_dir)?;
    let proxy = FaultProxy::start(server.addr).await?;
    let url = proxy.url();
    let trust = server.trust.clone();
    let code = server
        .admin_code
        .clone()
        .context("the first start prints the administrator's code")?;
    let admin_device =
        Device::enrol(&url, trust.clone(), phones.join("admin.db"), &code, "admin").await?;
    let mut admin = Admin::connect(&url, &trust, &admin_device).await?;
    admin.create_org("East Riding of Yorkshire Council").await?;
    let mut users = Vec::new();
    let mut devices = Vec::new();
    for (name, role) in [
        ("guardian", "guardian"),
        ("guardian2", "guardian"),
        ("supervisor", "supervisor"),
        ("carer", "carer"),
    ] {
        let user = admin.user(name, role).await?;
        let code = admin.code(&user).await?;
        let device = Device::enrol(
            &url,
            trust.clone(),
            phones.join(format!("{name}.db")),
            &code,
            name,
        )
        .await?;
        let fleet_role = if role == "carer" {
            Role::Carer
        } else {
            Role::CaseTeam
        };
        users.push(user);
        devices.push(FleetDevice::new(device, name, fleet_role));
    }
    let team = admin.team("team", &[&users[0], &users[2]]).await?;
    let mut cases = Vec::new();
    for reference in ["ERY-1", "ERY-2"] {
        let guardian = &devices[0].device;
        let case = guardian.lock().create_case(
            &guardian.edit(),
            &mut rand::rngs::OsRng,
            &Profile {
                case_reference: reference.into(),
                ..Profile::default()
            },
        )?;
        cases.push(case);
    }
    let ledger = Mutex::new(Ledger::default());
    let checks = Mutex::new(Checks::default());
    if devices[0].sync(&cases, &ledger, &checks).await?.is_none() {
        bail!("the guardian's first sync failed");
    }
    for case in &cases {
        let case = case.to_string();
        admin.set_team(&case, &team).await?;
        admin.assign(&case, &users[1]).await?;
    }
    admin.link_carer(&cases[0].to_string(), &users[3]).await?;
    for device in &devices {
        if device.sync(&cases, &ledger, &checks).await?.is_none() {
            bail!("{}'s first sync failed", device.name);
        }
    }
    Ok(World {
        server,
        proxy,
        fleet: Arc::new(devices),
        cases,
        _admin: admin_device,
    })
}

/// Run the nemesis: `command` makes the server child's command.
pub async fn run(config: &Config, command: ServerCommand) -> Result<Report> {
    let started = Instant::now();
    let data = tempfile::tempdir()?;
    let phones = tempfile::tempdir()?;
    let mut world = set_up(command, data.path(), phones.path()).await?;
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let checks = Arc::new(Mutex::new(Checks::default()));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let ctx = LoopContext {
        cases: world.cases.clone(),
        ledger: Arc::clone(&ledger),
        checks: Arc::clone(&checks),
        tally: Arc::clone(&tally),
        stop: Arc::clone(&stop),
        max_pause: config.device_pause,
    };
    let mut clocks = Vec::new();
    let mut loops = Vec::new();
    for index in 0..world.fleet.len() {
        let (queue, receive) = ClockQueue::new();
        clocks.push(queue);
        loops.push(tokio::spawn(fleet::run_device(
            Arc::clone(&world.fleet),
            index,
            receive,
            ctx.clone(),
            config.seed.wrapping_add(1 + index as u64),
        )));
    }

    let faults_started = Instant::now();
    inject(config, &mut world, &clocks, &tally).await?;
    // Let the clock faults already sent be applied, then stop the devices.
    let waited = Instant::now();
    while lock(&tally).total() < config.faults && waited.elapsed() < Duration::from_secs(120) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let fault_time = faults_started.elapsed();
    stop.store(true, Ordering::SeqCst);
    for handle in loops {
        handle.await??;
    }

    // Faults over: the server runs, the proxy passes everything, the clocks are right.
    world.proxy.disarm();
    world.server.resume()?;
    for device in world.fleet.iter() {
        device.clock.correct();
    }
    let quiet_after_rounds = sync_until_quiet(&world, &ledger, &checks).await?;
    let injected = lock(&tally).total();
    {
        let mut checks = lock(&checks);
        checks.record(
            "every device went quiet after the faults stopped",
            quiet_after_rounds > 0,
            || "still exchanging after 10 rounds".into(),
        );
        checks.record(
            "at least the faults asked for were injected",
            injected >= config.faults,
            || format!("{injected} of {}", config.faults),
        );
    }

    // SIGKILL the server once more and read what its database holds.
    world.server.kill()?;
    let mut server_docs = ServerDocs::read(world.server.data_dir(), &world.cases).await?;
    if config.sabotage {
        server_docs.forget(DocId::new(world.cases[0], DocKind::Visits));
    }
    let ledger = std::mem::take(&mut *lock(&ledger));
    let mut checks = std::mem::take(&mut *lock(&checks));
    final_checks(
        &mut server_docs,
        &world.fleet,
        &world.cases,
        &ledger,
        &mut checks,
    )?;
    let faults = lock(&tally).clone();
    Ok(Report {
        seed: config.seed,
        cases: world.cases.clone(),
        fault_time,
        total_time: started.elapsed(),
        faults,
        landed: world.proxy.landed(),
        ledger,
        quiet_after_rounds,
        checks,
    })
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Inject `config.faults` faults spread over `config.duration`. A draw that cannot act now
/// (a proxy fault of a kind still armed, a clock fault while every device has one waiting)
/// is drawn again a moment later.
async fn inject(
    config: &Config,
    world: &mut World,
    clocks: &[ClockQueue],
    tally: &Mutex<Tally>,
) -> Result<()> {
    let mut rng = StdRng::seed_from_u64(config.seed);
    let gap = config.duration.as_secs_f64() / config.faults.max(1) as f64;
    let mut resume_at: Option<Instant> = None;
    for _ in 0..config.faults {
        tokio::time::sleep(Duration::from_secs_f64(gap * rng.gen_range(0.5..1.5))).await;
        loop {
            if resume_at.is_some_and(|at| Instant::now() >= at) {
                world.server.resume()?;
                resume_at = None;
            }
            let kind = FaultKind::draw(&mut rng, resume_at.is_none());
            let injected = match kind {
                FaultKind::ServerKill => {
                    let server = &mut world.server;
                    tokio::task::block_in_place(|| server.kill_and_restart())?;
                    world.proxy.retarget(world.server.addr);
                    true
                }
                FaultKind::ServerStop => {
                    world.server.stop()?;
                    let pause = FaultDurations::draw(&mut rng, config.durations.stop);
                    resume_at = Some(Instant::now() + pause);
                    true
                }
                FaultKind::RequestCut => world.proxy.cut_next_request(),
                FaultKind::ResponseCut => world.proxy.cut_next_response(),
                FaultKind::ResponseDelay => world
                    .proxy
                    .delay_next_response(FaultDurations::draw(&mut rng, config.durations.delay)),
                FaultKind::ClockForward
                | FaultKind::ClockBack
                | FaultKind::ClockPastLock
                | FaultKind::ClockBackAfterRestart => {
                    let idle: Vec<&ClockQueue> = clocks.iter().filter(|q| q.is_idle()).collect();
                    match idle.get(rng.gen_range(0..idle.len().max(1))) {
                        Some(queue) => queue.send(kind)?,
                        None => false,
                    }
                }
            };
            if injected {
                // A clock fault is counted when its device applies it.
                if !kind.is_clock() {
                    lock(tally).add(kind);
                }
                break;
            }
            // Nothing could act now: let the armed faults land first.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    if let Some(at) = resume_at {
        tokio::time::sleep_until(at.into()).await;
        world.server.resume()?;
    }
    Ok(())
}

/// Every device syncs, in turn, until a whole round moves nothing; the number of rounds, or
/// 0 if ten rounds never went quiet.
async fn sync_until_quiet(
    world: &World,
    ledger: &Mutex<Ledger>,
    checks: &Mutex<Checks>,
) -> Result<usize> {
    for round in 1..=10 {
        let mut quiet = true;
        for (index, device) in world.fleet.iter().enumerate() {
            match device.sync(&world.cases, ledger, checks).await? {
                Some(report) => {
                    check_access(&world.fleet, index, &world.cases, checks)?;
                    if report.docs_pushed + report.docs_updated + report.docs_received > 0 {
                        quiet = false;
                    }
                }
                None => quiet = false,
            }
        }
        if quiet {
            return Ok(round);
        }
    }
    Ok(0)
}
