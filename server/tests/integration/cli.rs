//! The binary: plaintext refused off loopback, audit verification and export.

use std::process::Command;

use casebook_server::{Clock, Settings, open_data_dir};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_casebook-server"))
}

#[test]
fn insecure_mode_refuses_a_public_address() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = bin()
        .args([
            "--insecure-loopback-for-tests",
            "--listen",
            "0.0.0.0:0",
            "--data-dir",
        ])
        .arg(dir.path())
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("non-loopback"), "{err}");
}

#[test]
fn audit_verify_and_export() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opened = open_data_dir(dir.path(), Clock::System, Settings::default()).expect("open");
    drop(opened);
    let out = bin()
        .args(["audit", "verify", "--data-dir"])
        .arg(dir.path())
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    let out = bin()
        .args(["admin", "admin-code", "--data-dir"])
        .arg(dir.path())
        .output()
        .expect("run");
    assert!(out.status.success());
    let admin = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .nth(4)
        .expect("admin id")
        .to_owned();
    let out = bin()
        .args(["audit", "export", "--user", &admin, "--data-dir"])
        .arg(dir.path())
        .output()
        .expect("run");
    assert!(out.status.success());
    let lines = String::from_utf8_lossy(&out.stdout).lines().count();
    assert!(lines >= 3, "{lines} lines");

    // The database is encrypted: tamper through a keyed connection, as an attacker holding
    // the key file would have to.
    let db = casebook_server::cli::existing_db(dir.path(), None).expect("open");
    db.write_blocking(|tx| {
        tx.execute("UPDATE audit SET at = at + 1 WHERE id = 2", [])?;
        Ok(())
    })
    .expect("tamper");
    drop(db);
    let out = bin()
        .args(["audit", "verify", "--data-dir"])
        .arg(dir.path())
        .output()
        .expect("run");
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("row 2"), "{text}");
}

#[cfg(unix)]
#[test]
fn sigterm_shuts_down_cleanly() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = bin()
        .args([
            "--insecure-loopback-for-tests",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let mut printed = String::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("line");
        printed.push_str(&line);
        printed.push('\n');
        if line.contains("enrolment code") {
            break;
        }
    }
    assert!(
        printed.contains("listening on http://127.0.0.1:"),
        "{printed}"
    );
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success(), "{:?}", out.status);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("shut down cleanly"), "{log}");
}

#[cfg(unix)]
#[test]
fn sighup_reloads_the_certificate() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    use std::sync::mpsc;
    use std::time::Duration;

    let dir = tempfile::tempdir().expect("tempdir");
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    casebook_server::tls::write_self_signed(&cert, &key).expect("cert");
    let mut child = bin()
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .arg("--tls-cert")
        .arg(&cert)
        .arg("--tls-key")
        .arg(&key)
        .env("CASEBOOK_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut printed = String::new();
    for line in stdout.lines() {
        let line = line.expect("line");
        printed.push_str(&line);
        printed.push('\n');
        if line.contains("enrolment code") {
            break;
        }
    }
    assert!(printed.contains("certificate SHA-256"), "{printed}");
    let (tx, rx) = mpsc::channel();
    let stderr = BufReader::new(child.stderr.take().expect("stderr"));
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // Let the certificate watcher start listening: a SIGHUP before that cannot hurt the
    // server, but it would only be noticed by the 5 s poll, not logged as a SIGHUP.
    std::thread::sleep(Duration::from_millis(700));
    casebook_server::tls::write_self_signed(&cert, &key).expect("new cert");
    let kill = |sig: &str| {
        Command::new("kill")
            .args([sig, &child.id().to_string()])
            .status()
            .expect("kill")
    };
    assert!(kill("-HUP").success());
    let mut seen_hup = false;
    let mut reloaded = false;
    while !(seen_hup && reloaded) {
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("reload logged");
        seen_hup |= line.contains("SIGHUP");
        reloaded |= line.contains("TLS certificate reloaded");
    }
    assert!(kill("-TERM").success());
    let status = child.wait().expect("wait");
    assert!(status.success(), "{status:?}");
}

#[cfg(unix)]
#[test]
fn the_first_administrators_code_goes_to_a_private_file_when_asked() {
    use std::io::{BufRead, BufReader};
    use std::os::unix::fs::PermissionsExt;
    use std::process::Stdio;
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let code_file = dir.path().join("admin-code");
    let mut child = bin()
        .args([
            "--insecure-loopback-for-tests",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(&data)
        .arg("--admin-code-file")
        .arg(&code_file)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let mut banner = String::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("line");
        banner.push_str(&line);
        banner.push('\n');
        if line.contains("enrolment code") {
            break;
        }
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    child.wait().expect("wait");
    let code = std::fs::read_to_string(&code_file).expect("code file");
    let code = code.trim();
    assert_eq!(code.len(), 23, "{code}");
    assert!(!banner.contains(code), "the code is not printed: {banner}");
    assert!(banner.contains("valid 1 hour"), "{banner}");
    let mode = std::fs::metadata(&code_file)
        .expect("meta")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    // `admin admin-code` never overwrites an existing file.
    let out = bin()
        .args(["admin", "admin-code", "--data-dir"])
        .arg(&data)
        .arg("--admin-code-file")
        .arg(&code_file)
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert_eq!(
        std::fs::read_to_string(&code_file)
            .expect("code file")
            .trim(),
        code
    );
    let fresh = dir.path().join("second-code");
    let out = bin()
        .args(["admin", "admin-code", "--data-dir"])
        .arg(&data)
        .arg("--admin-code-file")
        .arg(&fresh)
        .output()
        .expect("run");
    assert!(out.status.success());
    let second = std::fs::read_to_string(&fresh).expect("second code");
    assert!(!String::from_utf8_lossy(&out.stdout).contains(second.trim()));
}
