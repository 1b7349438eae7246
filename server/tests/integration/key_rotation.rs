//! `casebook-server rotate-key`, run as an operator runs it: refused while a server has the
//! database open; afterwards the database opens only under the new key, the old key is kept
//! as `<key file>.retired-<time>`, everything reads back and the audit chain verifies; a
//! rotation interrupted between the database and the key files finishes when run again. On
//! SQLite and, with a cluster (`CASEBOOK_PG_CLUSTER`), on PostgreSQL.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use casebook_core::doc::DocKind;
use casebook_server::audit::{self, Verdict};
use casebook_server::{Clock, Settings, open_data_dir};

use crate::support::{Harness, doc, new_case};

fn bin() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_casebook-server"));
    command.env("CASEBOOK_METRICS_LISTEN", "off");
    command
}

fn rotate(data: &Path, database: Option<&str>) -> Output {
    let mut command = bin();
    command.arg("rotate-key").arg("--data-dir").arg(data);
    if let Some(url) = database {
        command.arg("--database").arg(url);
    }
    command.output().expect("run rotate-key")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The data directory's retired keys.
fn retired(data: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(data)
        .expect("data dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("db.key.retired-"))
        })
        .collect();
    found.sort();
    found
}

/// Copy the key file (mode 600) and, on SQLite, the database of a closed harness into `to`.
fn keep(h: &Harness, to: &Path, with_database: bool) {
    let from = h.key_file();
    let key = std::fs::read(&from).expect("key");
    write_private(&to.join("db.key"), &key);
    if with_database {
        let dir = from.parent().expect("data dir");
        std::fs::copy(dir.join("casebook.sqlite"), to.join("casebook.sqlite")).expect("copy");
    }
}

fn write_private(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).expect("write");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
}

/// A guardian's synced case in `h`: the document id written.
async fn a_synced_case(h: &Harness) -> String {
    let mut guardian = h.person("guardian").await;
    let profile = doc(new_case(), DocKind::Profile);
    guardian.write(profile, "name", "Rotated Linh");
    h.sync_until_quiet(&mut guardian).await;
    profile.to_string()
}

#[tokio::test]
async fn a_sqlite_database_rotated_opens_only_under_the_new_key_and_loses_nothing() {
    let h = Harness::on_sqlite().await;
    let profile = a_synced_case(&h).await;
    let rows_before = h.audit_count().await;
    h.state.db.close_blocking().expect("checkpoint");
    let data = tempfile::tempdir().expect("tempdir");
    keep(&h, data.path(), true);
    drop(h);
    let old_key = std::fs::read(data.path().join("db.key")).expect("key");

    // Refused while a server has the database open; nothing changes.
    let running = open_data_dir(data.path(), Clock::System, Settings::default()).expect("open");
    let out = rotate(data.path(), None);
    assert!(!out.status.success(), "{}", text(&out.stdout));
    assert!(
        text(&out.stderr).contains("stop the server first"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        std::fs::read(data.path().join("db.key")).expect("key"),
        old_key
    );
    drop(running);

    let out = rotate(data.path(), None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("old key is kept"),
        "{}",
        text(&out.stdout)
    );
    let new_key = std::fs::read(data.path().join("db.key")).expect("key");
    assert_ne!(new_key, old_key);
    let kept = retired(data.path());
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(std::fs::read(&kept[0]).expect("retired"), old_key);
    assert!(!data.path().join("db.key.new").exists());

    // Everything reads back under the new key, and the chain verifies.
    let reopened = open_data_dir(data.path(), Clock::System, Settings::default()).expect("open");
    let bytes = reopened
        .state
        .db
        .read(move |c| Ok(casebook_server::db::docs::read_bytes(c, &profile)?))
        .await
        .expect("read");
    assert!(
        bytes.is_some_and(|b| !b.is_empty()),
        "the document survived"
    );
    match reopened.state.db.read(audit::verify).await.expect("verify") {
        Verdict::Intact(n) => assert!(n >= u64::try_from(rows_before).expect("n")),
        broken => panic!("{broken:?}"),
    }
    drop(reopened);
    // The old key no longer opens it.
    let old = casebook_server::db::read_key(&kept[0]).expect("old key");
    let err = casebook_server::db::Db::open(&data.path().join("casebook.sqlite"), old)
        .expect_err("the old key is refused");
    assert!(err.to_string().contains("does not open"), "{err}");

    // Interrupted after the new database took the old one's place, before the key files
    // swapped: the key file still holds the old key and the new one waits in `.new`.
    std::fs::rename(data.path().join("db.key"), data.path().join("db.key.new")).expect("mv");
    std::fs::copy(&kept[0], data.path().join("db.key")).expect("cp");
    std::fs::remove_file(&kept[0]).expect("rm");
    assert!(open_data_dir(data.path(), Clock::System, Settings::default()).is_err());
    let out = rotate(data.path(), None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        std::fs::read(data.path().join("db.key")).expect("key"),
        new_key
    );
    let out = bin()
        .args(["audit", "verify", "--data-dir"])
        .arg(data.path())
        .output()
        .expect("verify");
    assert!(out.status.success(), "{}", text(&out.stdout));
}

#[tokio::test]
async fn a_postgres_database_rotated_holds_no_value_under_the_old_key() {
    let Some(admin) = ["CASEBOOK_TEST_POSTGRES", "CASEBOOK_PG_CLUSTER"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    else {
        assert!(
            std::env::var("CASEBOOK_REQUIRE_POSTGRES").as_deref() != Ok("1"),
            "CASEBOOK_REQUIRE_POSTGRES=1 but no cluster"
        );
        eprintln!("no PostgreSQL cluster (CASEBOOK_PG_CLUSTER): PostgreSQL test skipped");
        return;
    };
    let name_dir = tempfile::tempdir().expect("tempdir");
    let url = casebook_server::create_test_database(&admin, name_dir.path())
        .await
        .expect("test database");
    let h = Harness::with_settings(Settings {
        database: Some(url.clone()),
        ..Settings::default()
    })
    .await;
    let profile = a_synced_case(&h).await;
    let rows = h.audit_count().await;
    let data = tempfile::tempdir().expect("tempdir");
    keep(&h, data.path(), false);
    let old_key = std::fs::read(data.path().join("db.key")).expect("key");

    // Refused while an instance is connected.
    let out = rotate(data.path(), Some(&url));
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("stop every server instance"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        std::fs::read(data.path().join("db.key")).expect("key"),
        old_key
    );
    drop(h);

    // Its connections close as it goes; then the rotation runs.
    let mut out = rotate(data.path(), Some(&url));
    for _ in 0..50 {
        if out.status.success() || !text(&out.stderr).contains("other sessions") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        out = rotate(data.path(), Some(&url));
    }
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report = text(&out.stdout);
    assert!(
        report.contains("docs: ") && report.contains("audit: "),
        "{report}"
    );
    let kept = retired(data.path());
    assert_eq!(kept.len(), 1, "{kept:?}");

    // An instance under the new key alone reads every document and audit detail (a value
    // still sealed under the old key would not open), and the chain with its sealed head
    // verifies.
    let instance = tempfile::tempdir().expect("tempdir");
    let opened = open_data_dir(
        instance.path(),
        Clock::System,
        Settings {
            database: Some(url.clone()),
            db_key_file: Some(data.path().join("db.key")),
            ..Settings::default()
        },
    )
    .expect("open under the new key");
    let bytes = opened
        .state
        .db
        .read(move |c| Ok(casebook_server::db::docs::read_bytes(c, &profile)?))
        .await
        .expect("the document opens under the new key");
    assert!(bytes.is_some_and(|b| !b.is_empty()));
    match opened.state.db.read(audit::verify).await.expect("verify") {
        Verdict::Intact(n) => assert!(n >= u64::try_from(rows).expect("n")),
        broken => panic!("{broken:?}"),
    }
    drop(opened);
    // The retired key is refused by the database.
    let other = tempfile::tempdir().expect("tempdir");
    let err = open_data_dir(
        other.path(),
        Clock::System,
        Settings {
            database: Some(url),
            db_key_file: Some(kept[0].clone()),
            ..Settings::default()
        },
    )
    .expect_err("the old key is refused");
    assert!(err.to_string().contains("does not match"), "{err}");
}
