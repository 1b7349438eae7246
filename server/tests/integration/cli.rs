//! The binary: plaintext refused off loopback, audit verification and export.

use std::process::Command;

use casebook_server::{Clock, Settings, open_data_dir};

/// The server binary. Its metrics listener is off: tests run in parallel, and each would
/// otherwise bind the default loopback port 9464.
fn bin() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_casebook-server"));
    command.env("CASEBOOK_METRICS_LISTEN", "off");
    command
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
    // A data directory inside the temporary one: the audit anchors go beside it.
    let mut child = bin()
        .args([
            "--insecure-loopback-for-tests",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(dir.path().join("data"))
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

/// A JSON POST over plain HTTP/1.1 to the server's loopback port; the status and the body.
fn http_post(
    addr: &str,
    path: &str,
    token: Option<&str>,
    body: &serde_json::Value,
) -> (u16, serde_json::Value) {
    use std::io::{Read, Write};
    let body = body.to_string();
    let auth = token.map_or_else(String::new, |t| format!("authorization: Bearer {t}\r\n"));
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n{auth}\r\n{body}",
        body.len()
    )
    .expect("send");
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).expect("read");
    let text = String::from_utf8_lossy(&reply);
    let (head, body) = text.split_once("\r\n\r\n").expect("http reply");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    (
        status,
        serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
    )
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// `audit verify`, with the anchors file and public key when given: exit code and output.
fn verify(data: &std::path::Path, anchors: Option<(&std::path::Path, &str)>) -> (i32, String) {
    let mut cmd = bin();
    cmd.args(["audit", "verify", "--data-dir"]).arg(data);
    if let Some((file, key)) = anchors {
        cmd.arg("--anchors").arg(file).args(["--public-key", key]);
    }
    let out = cmd.output().expect("run");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The server writes ~600 audit rows for real (an administrator creating users over HTTP),
/// anchoring every 100 rows and at shutdown. Someone holding the database key then hides
/// what happened, in the two ways plain `audit verify` cannot see; the anchors catch both.
#[cfg(unix)]
#[test]
fn signed_anchors_catch_a_truncated_or_rewritten_audit_chain() {
    use base64::Engine;
    use casebook_core::sync::wire::session_signing_payload;
    use p256::ecdsa::signature::Signer;
    use p256::ecdsa::{Signature, SigningKey};
    use serde_json::json;
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let mut child = bin()
        .args([
            "--insecure-loopback-for-tests",
            "--listen",
            "127.0.0.1:0",
            "--audit-anchor-rows",
            "100",
            "--data-dir",
        ])
        .arg(&data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let (mut addr, mut public_key, mut code) = (String::new(), String::new(), String::new());
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("line");
        if let Some(rest) = line.split("listening on http://").nth(1) {
            addr = rest.split_whitespace().next().expect("addr").to_owned();
        }
        if line.contains("audit anchor public key") {
            public_key = line.rsplit(' ').next().expect("key").to_owned();
        }
        if line.contains("enrolment code") {
            code = line.rsplit(' ').next().expect("code").to_owned();
            break;
        }
    }
    assert!(!addr.is_empty() && public_key.len() == 64 && !code.is_empty());

    // The administrator enrols, opens a session and creates 600 users: one row each.
    let key = SigningKey::random(&mut rand::rngs::OsRng);
    let public = key.verifying_key().to_encoded_point(false);
    let (status, enrolled) = http_post(
        &addr,
        "/v1/enrol",
        None,
        &json!({ "code": code, "public_key": b64(public.as_bytes()), "device_name": "admin" }),
    );
    assert_eq!(status, 200, "{enrolled}");
    let device = enrolled["device_id"]
        .as_str()
        .expect("device id")
        .to_owned();
    let (_, challenge) = http_post(
        &addr,
        "/v1/challenge",
        None,
        &json!({ "device_id": device }),
    );
    let challenge = base64::engine::general_purpose::STANDARD
        .decode(challenge["challenge"].as_str().expect("challenge"))
        .expect("base64");
    let sig: Signature = key.sign(&session_signing_payload(
        &device.parse().expect("device id"),
        &challenge,
    ));
    let (status, session) = http_post(
        &addr,
        "/v1/session",
        None,
        &json!({ "device_id": device, "challenge": b64(&challenge),
                 "signature": b64(sig.to_der().as_bytes()) }),
    );
    assert_eq!(status, 200, "{session}");
    let token = session["token"].as_str().expect("token").to_owned();
    let root_org: String = {
        let db = casebook_server::cli::existing_db(&data, None).expect("open");
        db.read_blocking(|c| {
            Ok(c.query_row("SELECT id FROM orgs WHERE is_root = 1", [], |r| r.get(0))?)
        })
        .expect("root org")
    };
    for i in 0..600 {
        let (status, reply) = http_post(
            &addr,
            "/v1/admin/users",
            Some(&token),
            &json!({ "name": format!("carer {i}"), "role": "carer", "org_id": root_org }),
        );
        assert_eq!(status, 200, "{reply}");
    }
    assert!(
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill")
            .success()
    );
    assert!(child.wait().expect("wait").success());

    // Anchors went beside the data directory, not into it; the signing key into it by
    // default (mode 600), and the chain verifies against them.
    let anchors = dir.path().join("data.audit-anchors.jsonl");
    let lines = std::fs::read_to_string(&anchors).expect("anchors file");
    // At least the anchor at start and the one at shutdown (how many fall between depends
    // on how the 600 rows spread over the once-a-second checks).
    assert!(lines.lines().count() >= 2, "{lines}");
    assert!(data.join("audit-signing.key").exists());
    let (code, text) = verify(&data, Some((&anchors, &public_key)));
    assert_eq!(code, 0, "{text}");
    let db = casebook_server::cli::existing_db(&data, None).expect("open");
    let last: i64 = db
        .read_blocking(|c| Ok(c.query_row("SELECT max(id) FROM audit", [], |r| r.get(0))?))
        .expect("count");
    drop(db);
    assert!(last > 600, "{last} rows");
    assert!(
        lines.contains(&format!("\"row_id\":{last},")),
        "the shutdown anchor covers the last row: {lines}"
    );

    // Attack 1: delete the newest 500 rows and point the head in `meta` at the new end.
    let truncated = dir.path().join("truncated");
    copy_dir(&data, &truncated);
    let db = casebook_server::cli::existing_db(&truncated, None).expect("open");
    db.write_blocking(|tx| {
        tx.execute("DELETE FROM audit WHERE id > ?1", [last - 500])?;
        let hash: Vec<u8> =
            tx.query_row("SELECT hash FROM audit WHERE id = ?1", [last - 500], |r| {
                r.get(0)
            })?;
        casebook_server::db::meta_set(
            tx,
            "audit_head",
            &format!("{}:{}", last - 500, hex::encode(hash)),
        )?;
        Ok(())
    })
    .expect("truncate");
    drop(db);
    let (code, text) = verify(&truncated, None);
    assert_eq!(code, 0, "plain verify cannot see a truncation: {text}");
    let (code, text) = verify(&truncated, Some((&anchors, &public_key)));
    assert_ne!(code, 0, "{text}");
    assert!(text.contains("truncated"), "{text}");

    // Attack 2: rewrite a row in the middle (hide who acted) and recompute every later hash.
    let rewritten = dir.path().join("rewritten");
    copy_dir(&data, &rewritten);
    let db = casebook_server::cli::existing_db(&rewritten, None).expect("open");
    db.write_blocking(|tx| {
        tx.execute(
            "UPDATE audit SET actor_user = 'someone-else' WHERE id = 300",
            [],
        )?;
        let mut prev: Vec<u8> =
            tx.query_row("SELECT hash FROM audit WHERE id = 299", [], |r| r.get(0))?;
        let rows: Vec<casebook_server::audit::Row> = {
            let mut stmt = tx.prepare(
                "SELECT id, at, event, actor_user, actor_device, case_id, doc_id, subject, \
                 detail FROM audit WHERE id >= 300 ORDER BY id",
            )?;
            stmt.query_map([], |r| {
                Ok(casebook_server::audit::Row {
                    id: r.get(0)?,
                    at: r.get(1)?,
                    event: r.get(2)?,
                    actor_user: r.get(3)?,
                    actor_device: r.get(4)?,
                    case_id: r.get(5)?,
                    doc_id: r.get(6)?,
                    subject: r.get(7)?,
                    detail: r.get(8)?,
                    hash: String::new(),
                })
            })?
            .collect::<casebook_server::sql::Result<_>>()?
        };
        for row in rows {
            let hash = casebook_server::audit::chain_hash(&prev, &row);
            tx.execute(
                "UPDATE audit SET prev_hash = ?1, hash = ?2 WHERE id = ?3",
                casebook_server::params![prev, hash.to_vec(), row.id],
            )?;
            prev = hash.to_vec();
        }
        casebook_server::db::meta_set(tx, "audit_head", &format!("{last}:{}", hex::encode(&prev)))?;
        Ok(())
    })
    .expect("rewrite");
    drop(db);
    let (code, text) = verify(&rewritten, None);
    assert_eq!(code, 0, "plain verify cannot see a rewrite: {text}");
    let (code, text) = verify(&rewritten, Some((&anchors, &public_key)));
    assert_ne!(code, 0, "{text}");
    assert!(text.contains("rewritten"), "{text}");
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
