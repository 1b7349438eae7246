//! A short nemesis run (`casebook_tests::nemesis`; the long one is `scripts/nemesis.sh`):
//! 60 faults in about 20 seconds against the real server as a child process, then every
//! device converges with the server, nothing acknowledged is lost and the carer holds only
//! what it may read.

use std::process::Command;
use std::time::Duration;

use anyhow::Result;
use casebook_core::doc::{DocId, DocKind};
use casebook_tests::nemesis::faults::{FaultDurations, FaultKind};
use casebook_tests::nemesis::server;
use casebook_tests::nemesis::{self, Config};

/// Not a test on its own: when re-executed with `CASEBOOK_NEMESIS_SERVER_DIR`, this process is a
/// real server until the nemesis kills it.
#[test]
fn server_process_for_nemesis() -> Result<()> {
    match std::env::var(server::CHILD_ENV) {
        Ok(dir) => server::serve_child(std::path::Path::new(&dir)),
        Err(_) => Ok(()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_faults_lose_nothing_acknowledged_and_leak_nothing() -> Result<()> {
    let exe = std::env::current_exe()?;
    let command = Box::new(move || {
        let mut command = Command::new(&exe);
        command.args([
            "--exact",
            "nemesis::server_process_for_nemesis",
            "--nocapture",
            "--test-threads=1",
        ]);
        command
    });
    let config = Config {
        // A fixed seed (the draws are then the same but for a stop still running when its
        // turn comes), or `CASEBOOK_NEMESIS_SEED` to try another.
        seed: std::env::var("CASEBOOK_NEMESIS_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(20_261_201),
        faults: 60,
        duration: Duration::from_secs(20),
        durations: FaultDurations {
            stop: (Duration::from_millis(500), Duration::from_millis(1500)),
            delay: (Duration::from_millis(50), Duration::from_millis(1000)),
        },
        device_pause: Duration::from_millis(150),
        sabotage: false,
    };
    let report = nemesis::run(&config, command).await?;
    eprint!("{report}");
    assert!(report.passed(), "the nemesis failed (seed {})", report.seed);
    assert!(report.faults.total() >= 60);
    assert!(
        report.faults.of(FaultKind::ServerKill) > 0,
        "no kill was drawn (seed {})",
        report.seed
    );
    assert!(
        report.ledger.acknowledged.len() > 20,
        "too few edits acknowledged to prove anything: {}",
        report.ledger.acknowledged.len()
    );
    Ok(())
}

/// The checks themselves can fail: a short run whose final checks see the server without the
/// first case's visit notes reports the loss and FAIL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_lost_on_the_server_fails_the_run() -> Result<()> {
    let exe = std::env::current_exe()?;
    let command = Box::new(move || {
        let mut command = Command::new(&exe);
        command.args([
            "--exact",
            "nemesis::server_process_for_nemesis",
            "--nocapture",
            "--test-threads=1",
        ]);
        command
    });
    let mut config = Config::long(7, 4, Duration::from_secs(2));
    config.durations.stop = (Duration::from_millis(200), Duration::from_millis(400));
    config.sabotage = true;
    let report = nemesis::run(&config, command).await?;
    let text = report.to_string();
    assert!(!report.passed(), "{text}");
    assert!(text.ends_with("FAIL\n"), "{text}");
    let failed = |name: &str| {
        report
            .checks
            .counts()
            .get(name)
            .is_some_and(|(_, failed)| *failed > 0)
    };
    assert!(
        failed("device converged with the server (same heads)"),
        "{text}"
    );
    if report
        .ledger
        .acknowledged
        .iter()
        .any(|w| w.doc == DocId::new(report.cases[0], DocKind::Visits))
    {
        assert!(failed("acknowledged edit present on the server"), "{text}");
    }
    Ok(())
}
