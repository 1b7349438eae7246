//! The database key file missing, unreadable (a directory in its place: permissions mean
//! nothing to root), not a key, or the wrong key at start: the real binary refuses to start
//! with a one-line reason on stderr and a non-zero exit, and writes nothing (the data
//! directory and what lies beside it are byte-identical before and after).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use casebook_server::{Clock, Settings, open_data_dir};

/// Every file and directory under `root`, with the bytes of each file.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                out.insert(path.clone(), None);
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).expect("read file");
                out.insert(path, Some(bytes));
            }
        }
    }
    out
}

/// Start the server on `data` (with `extra` arguments); it must exit on its own.
fn start(data: &Path, extra: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_casebook-server"))
        .args(["--insecure-loopback-for-tests", "--listen", "127.0.0.1:0"])
        // Tests run in parallel: not the default metrics port every server would bind.
        .env("CASEBOOK_METRICS_LISTEN", "off")
        .args(extra)
        .arg("--data-dir")
        .arg(data)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the server started despite the key fault");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().expect("output")
}

fn write_private(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
}

/// Run the server under a fault and check the refusal: non-zero exit, one line on stderr
/// holding every `expected` fragment, nothing written under `root`.
fn refused(root: &Path, data: &Path, extra: &[&str], expected: &[&str]) {
    let before = snapshot(root);
    let out = start(data, extra);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "started: {stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line on stderr: {stderr}");
    assert!(lines[0].starts_with("casebook-server: "), "{stderr}");
    for fragment in expected {
        assert!(lines[0].contains(fragment), "{fragment:?} in {stderr}");
    }
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("listening"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(snapshot(root), before, "the refused start wrote nothing");
}

#[test]
fn a_missing_unreadable_invalid_or_wrong_key_is_refused_and_nothing_is_written() {
    let root = tempfile::tempdir().expect("tempdir");
    let data = root.path().join("data");
    let opened = open_data_dir(&data, Clock::System, Settings::default()).expect("first start");
    // A crash leaves the WAL behind: the refusals must not fold it in either.
    let _ = opened.state.db.write_blocking(|tx| {
        casebook_server::db::meta_set(tx, "key_fault_test", "written before the fault")
    });
    std::mem::forget(opened);
    let key_file = data.join("db.key");
    let good_key = std::fs::read_to_string(&key_file).expect("key");
    let key_name = key_file.display().to_string();

    // Missing.
    std::fs::remove_file(&key_file).expect("remove");
    refused(
        root.path(),
        &data,
        &[],
        &[key_name.as_str(), "exists but its key file"],
    );
    // Unreadable: a directory where the file should be.
    std::fs::create_dir(&key_file).expect("mkdir");
    refused(
        root.path(),
        &data,
        &[],
        &[key_name.as_str(), "not a regular file"],
    );
    std::fs::remove_dir(&key_file).expect("rmdir");
    // Not a key.
    write_private(&key_file, "this is not a key\n");
    refused(
        root.path(),
        &data,
        &[],
        &[key_name.as_str(), "64 hex characters"],
    );
    // The wrong key.
    write_private(&key_file, &"5a".repeat(32));
    refused(
        root.path(),
        &data,
        &[],
        &["does not open", "wrong key file"],
    );
    // A configured key file that is not there.
    let elsewhere = root.path().join("secrets").join("db.key");
    let elsewhere_name = elsewhere.display().to_string();
    refused(
        root.path(),
        &data,
        &["--db-key-file", elsewhere_name.as_str()],
        &[elsewhere_name.as_str()],
    );

    // With the right key back, the same directory starts (and still holds what was written).
    write_private(&key_file, &good_key);
    let db = casebook_server::cli::existing_db(&data, None).expect("opens with the right key");
    let kept = db
        .read_blocking(|c| casebook_server::db::meta_get(c, "key_fault_test"))
        .expect("read");
    assert_eq!(kept.as_deref(), Some("written before the fault"));
}
