//! Issue 9: a phone killed (SIGKILL) in the middle of a stepped push loses nothing: the
//! steps the server acknowledged stay marked synced, and the next sync pushes the rest.
//! The device runs in a child process (this test binary re-executed), the server here.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result, bail};
use casebook_core::client::SyncOptions;
use casebook_core::sync::SyncProgress;
use casebook_tests::support::{Device, Harness};
use chrono::Utc;

use crate::field_sync::{notes_held, offline_backlog};

const CHILD_ENV: &str = "CASEBOOK_E2E_DEVICE_STORE";
const KEY_ENV: &str = "CASEBOOK_E2E_DEVICE_KEY";
/// A small budget, so the backlog takes many steps.
const BUDGET: usize = 48 * 1024;

/// Not a test on its own: when re-executed with `CASEBOOK_E2E_DEVICE_STORE`, this process is
/// the phone: it opens the store and syncs, printing `ROUND <n> <docs sent>` after each
/// round, until it is killed.
#[test]
fn device_process_for_kill_tests() -> Result<()> {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return Ok(());
    };
    let key: [u8; 32] = hex::decode(std::env::var(KEY_ENV)?)?
        .try_into()
        .map_err(|_| anyhow::anyhow!("key is not 32 bytes"))?;
    let device = Device::open_at(PathBuf::from(path), key)?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let progress = |p: SyncProgress| {
            use std::io::Write;
            println!("ROUND {} {}", p.rounds, p.docs_sent);
            let _ = std::io::stdout().flush();
        };
        let options = SyncOptions {
            request_budget: BUDGET,
            jitter_seed: 5,
            ..SyncOptions::default()
        };
        casebook_core::client::sync_now_with_options(
            &device.repo,
            &device.identity,
            &|| Utc::now().into(),
            &progress,
            &AtomicBool::new(false),
            options,
        )
        .await?;
        println!("DONE");
        anyhow::Ok(())
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_phone_killed_in_the_middle_of_a_stepped_push_loses_nothing() -> Result<()> {
    let h = Harness::start_with(casebook_server::Settings {
        max_case_registrations_per_day: 1_000,
        ..casebook_server::Settings::default()
    })
    .await?;
    let (guardian_id, guardian) = h.person("guardian", "guardian").await?;
    let cases = offline_backlog(&guardian, 30, 90, 4_000)?;
    let dirty_before = guardian.lock().store().dirty()?.len();
    let (path, key) = (guardian.path.clone(), guardian.store_key());
    drop(guardian);

    let mut child = Command::new(std::env::current_exe()?)
        .args([
            "--exact",
            "device_kill::device_process_for_kill_tests",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &path)
        .env(KEY_ENV, hex::encode(key))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let stdout = child.stdout.take().context("stdout")?;
    // Kill the phone once the server has acknowledged a first step of the push.
    let killed_after = tokio::task::spawn_blocking(move || -> Result<String> {
        for line in BufReader::new(stdout).lines() {
            let line = line?;
            if line == "DONE" {
                bail!("the push finished before the kill");
            }
            let sent = line
                .strip_prefix("ROUND ")
                .and_then(|rest| rest.split_whitespace().nth(1))
                .and_then(|n| n.parse::<usize>().ok());
            if sent.is_some_and(|n| n > 0) {
                child.kill()?;
                child.wait()?;
                return Ok(line);
            }
        }
        bail!("the phone ended before a step was acknowledged")
    })
    .await??;

    let phone = Device::open_at(path, key)?;
    let dirty_after_kill = phone.lock().store().dirty()?.len();
    assert!(
        dirty_after_kill < dirty_before,
        "acknowledged steps survive the kill ({killed_after}): {dirty_after_kill} of {dirty_before}"
    );
    assert!(
        dirty_after_kill > 0,
        "killed in the middle ({killed_after}): nothing left to push"
    );
    let outcome = phone.sync().await?;
    assert!(outcome.report.rejected.is_empty(), "{outcome:?}");
    assert!(
        phone.lock().store().dirty()?.is_empty(),
        "the push finished"
    );
    assert!(
        outcome.report.docs_pushed <= dirty_after_kill,
        "only what was left is pushed again: {} of {dirty_after_kill}",
        outcome.report.docs_pushed
    );

    let code = h.admin.code(&guardian_id).await?;
    let tablet = Device::enrol_at(
        &h.server,
        h.devices_dir.path().join("tablet.db"),
        &code,
        "guardian tablet",
    )
    .await?;
    tablet.sync().await?;
    assert_eq!(notes_held(&tablet, &cases)?, 90, "nothing lost");
    Ok(())
}
