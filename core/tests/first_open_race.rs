//! SQLCipher finishes its own set-up after SQLite reports itself initialised, so a
//! connection opened on another thread in that window could not be keyed. Several threads
//! opening stores as the very first SQLite use of a process must all succeed.

use std::process::Command;
use std::sync::Barrier;

use casebook_core::store::{StoreKey, open_encrypted};

const CHILD_ENV: &str = "CASEBOOK_FIRST_OPEN_RACE_CHILD";
/// What a child prints once its threads opened their stores, so a child that ran no test
/// (a renamed test, say) cannot pass for one that raced.
const CHILD_RAN: &str = "first-open race: every thread opened its store";
const THREADS: usize = 8;
const PROCESSES: usize = 40;

/// In a child process: open stores on several threads released at the same instant.
fn race_in_this_process() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let barrier = Barrier::new(THREADS);
    let failures: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|i| {
                let (barrier, dir) = (&barrier, dir.path());
                scope.spawn(move || {
                    let key = StoreKey::from_bytes(&[7u8; 32]).map_err(|e| e.to_string())?;
                    barrier.wait();
                    let conn = open_encrypted(&dir.join(format!("store-{i}.db")), key)
                        .map_err(|e| format!("thread {i}: {e}"))?;
                    conn.execute_batch("CREATE TABLE t (v TEXT);")
                        .map_err(|e| format!("thread {i}: {e}"))
                })
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|h| match h.join() {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(e),
                Err(_) => Some("a thread panicked".to_owned()),
            })
            .collect()
    });
    anyhow::ensure!(failures.is_empty(), "first opens failed: {failures:?}");
    println!("{CHILD_RAN}");
    Ok(())
}

#[test]
fn concurrent_first_opens_in_a_fresh_process_all_succeed() -> anyhow::Result<()> {
    if std::env::var_os(CHILD_ENV).is_some() {
        return race_in_this_process();
    }
    let exe = std::env::current_exe()?;
    let mut failed = Vec::new();
    for run in 0..PROCESSES {
        let out = Command::new(&exe)
            .args([
                "--exact",
                "concurrent_first_opens_in_a_fresh_process_all_succeed",
                "--nocapture",
            ])
            .env(CHILD_ENV, "1")
            .output()?;
        let ran = String::from_utf8_lossy(&out.stdout).contains(CHILD_RAN);
        if !out.status.success() || !ran {
            failed.push(format!(
                "process {run} (exit {}, raced: {ran}): {}",
                out.status,
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .chain(String::from_utf8_lossy(&out.stderr).lines())
                    .filter(|l| l.contains("first opens failed"))
                    .collect::<Vec<_>>()
                    .join(" ")
            ));
        }
    }
    anyhow::ensure!(
        failed.is_empty(),
        "{} of {PROCESSES} processes failed: {failed:?}",
        failed.len()
    );
    Ok(())
}
