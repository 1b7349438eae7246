//! A backup taken with `casebook-server backup` while devices sync continuously against a
//! real server process, restored with `casebook-server restore` into a fresh directory after
//! the server is lost: a server started on it converges with the devices (the devices that
//! are ahead push what the backup lacks, and pull what the restored server wrote since), and
//! `casebook-server audit verify` passes on the restored data.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Output};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use automerge::ChangeHash;
use casebook_core::client::ServerTrust;
use casebook_core::doc::{DocId, DocKind};
use casebook_core::model::Profile;
use casebook_tests::support::{Admin, Device};

const SERVE_ENV: &str = "CASEBOOK_E2E_OPS_SERVE_DIR";
const CLI_ENV: &str = "CASEBOOK_E2E_OPS_CLI_ARGS";

/// Not a test on its own: re-executed with [`SERVE_ENV`] this process is a real server until
/// it is killed; with [`CLI_ENV`] (arguments separated by newlines) it runs the
/// `casebook-server` command line (`cli::run`, as `main` does) and exits with its code.
#[test]
fn operations_child() -> Result<()> {
    if let Ok(dir) = std::env::var(SERVE_ENV) {
        return casebook_tests::bomb::serve_child(Path::new(&dir));
    }
    let Ok(args) = std::env::var(CLI_ENV) else {
        return Ok(());
    };
    let cli = <casebook_server::cli::Cli as clap::Parser>::try_parse_from(
        std::iter::once("casebook-server").chain(args.lines()),
    )?;
    let runtime = tokio::runtime::Runtime::new()?;
    let code = match runtime.block_on(casebook_server::cli::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("casebook-server: {e}");
            std::process::ExitCode::FAILURE
        }
    };
    std::process::exit(if code == std::process::ExitCode::SUCCESS {
        0
    } else {
        1
    })
}

/// A real server process, killed when dropped.
pub struct ServerProcess {
    child: Child,
    pub url: String,
    pub trust: ServerTrust,
    pub admin_code: Option<String>,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ServerProcess {
    /// Start a server on `dir` and wait until it listens.
    pub fn start(dir: &Path) -> Result<Self> {
        let (child, ready) = casebook_tests::server_child::spawn(
            "backup_restore::operations_child",
            &[(SERVE_ENV, dir.as_os_str())],
        )?;
        Ok(Self {
            url: ready.url(),
            trust: ready.trust(),
            admin_code: ready.admin_code,
            child,
        })
    }

    /// Kill it (SIGKILL: the machine is lost).
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Run `casebook-server ARGS` in a child process; its output.
pub fn cli(args: &[&str]) -> Result<Output> {
    Ok(Command::new(std::env::current_exe()?)
        .args([
            "--exact",
            "backup_restore::operations_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CLI_ENV, args.join("\n"))
        .output()?)
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The heads of every document held in `device`'s store.
fn held_heads(device: &Device) -> Result<BTreeMap<DocId, Vec<ChangeHash>>> {
    let mut repo = device.lock();
    let docs = repo.store().docs()?;
    let mut out = BTreeMap::new();
    for doc in docs {
        let mut heads = repo.read(doc, |d| Ok(d.heads()))?;
        heads.sort();
        out.insert(doc, heads);
    }
    Ok(out)
}

/// The heads of every document the server at `data_dir` stores (read with its key).
fn server_heads(data_dir: &Path) -> Result<BTreeMap<DocId, Vec<ChangeHash>>> {
    let db = casebook_server::cli::existing_db(data_dir, None)?;
    let rows: Vec<(String, Vec<u8>)> = db.read_blocking(|c| {
        let mut stmt = c.prepare("SELECT doc_id, bytes FROM docs")?;
        let rows = stmt.query_map([], |r| {
            let id: String = r.get(0)?;
            let bytes = c.unseal(&casebook_server::db::docs::row(&id), r.get(1)?)?;
            Ok((id, bytes))
        })?;
        Ok(rows.collect::<casebook_server::sql::Result<_>>()?)
    })?;
    let mut out = BTreeMap::new();
    for (id, bytes) in rows {
        let mut heads = automerge::Automerge::load(&bytes)?.get_heads();
        heads.sort();
        out.insert(id.parse::<DocId>()?, heads);
    }
    Ok(out)
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

async fn person(
    admin: &Admin,
    server: &ServerProcess,
    phones: &Path,
    name: &str,
    role: &str,
) -> Result<(String, Device)> {
    let user = admin.user(name, role).await?;
    let code = admin.code(&user).await?;
    let path = phones.join(format!("{name}.db"));
    let device = Device::enrol(&server.url, server.trust.clone(), path, &code, name).await?;
    Ok((user, device))
}

/// Keep `device` writing notes and syncing until `stop`; count the acknowledged syncs.
async fn keep_syncing(
    device: &Device,
    case: casebook_core::ids::CaseId,
    stop: &AtomicBool,
    synced: &AtomicUsize,
) -> Result<()> {
    let mut n = 0;
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        super::record_visit(device, case, &format!("note {n} written under load"))?;
        device.sync().await?;
        synced.fetch_add(1, Ordering::SeqCst);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_under_load_restores_and_the_devices_converge_with_it() -> Result<()> {
    let root = tempfile::tempdir()?;
    let data = root.path().join("data");
    let phones = root.path().join("phones");
    std::fs::create_dir_all(&phones)?;
    let server = ServerProcess::start(&data)?;
    let code = server
        .admin_code
        .clone()
        .context("first start prints a code")?;
    let admin_device = Device::enrol(
        &server.url,
        server.trust.clone(),
        phones.join("admin.db"),
        &code,
        "admin",
    )
    .await?;
    let mut admin = Admin::connect(&server.url, &server.trust, &admin_device).await?;
    admin.create_org("Kent County Council").await?;
    let (guardian_id, guardian) = person(&admin, &server, &phones, "guardian", "guardian").await?;
    let (supervisor_id, supervisor) =
        person(&admin, &server, &phones, "supervisor", "supervisor").await?;
    let team = admin.team("team", &[&supervisor_id, &guardian_id]).await?;
    let case = guardian.lock().create_case(
        &guardian.edit(),
        &mut rand::rngs::OsRng,
        &Profile {
            case_reference: "KEN-1".into(),
            ..Profile::default()
        },
    )?;
    guardian.sync().await?;
    admin.set_team(&case.to_string(), &team).await?;
    // The supervisor's own case: each device writes its own case under load, and holds the
    // other's (the write rules let a device push only changes made under its own actor, so
    // what a device wrote after the backup comes back from that device; see
    // docs/operations.md).
    let own_case = supervisor.lock().create_case(
        &supervisor.edit(),
        &mut rand::rngs::OsRng,
        &Profile {
            case_reference: "KEN-S".into(),
            ..Profile::default()
        },
    )?;
    supervisor.sync().await?;
    admin.set_team(&own_case.to_string(), &team).await?;
    supervisor.sync().await?;
    guardian.sync().await?;

    // Both devices write and sync continuously while the backup is taken.
    let stop = AtomicBool::new(false);
    let synced = AtomicUsize::new(0);
    let backup_file = root.path().join("casebook.backup");
    let wait_for = |n: usize| {
        let synced = &synced;
        async move {
            while synced.load(Ordering::SeqCst) < n {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    let take_backup = async {
        wait_for(4).await;
        let (data_arg, to_arg) = (
            data.display().to_string(),
            backup_file.display().to_string(),
        );
        let out = tokio::task::spawn_blocking(move || {
            cli(&["backup", "--to", &to_arg, "--data-dir", &data_arg])
        })
        .await?;
        // The devices run on after the backup: they are ahead of it.
        wait_for(synced.load(Ordering::SeqCst) + 4).await;
        stop.store(true, Ordering::SeqCst);
        out
    };
    let (g, s, out) = tokio::join!(
        keep_syncing(&guardian, case, &stop, &synced),
        keep_syncing(&supervisor, own_case, &stop, &synced),
        take_backup
    );
    let out = out?;
    ensure!(out.status.success(), "backup failed: {}", text(&out));
    ensure!(text(&out).contains("backup written to"), "{}", text(&out));
    g?;
    s?;
    // A case only the guardian holds, created after the backup: the backup lacks it whole.
    let later_case = guardian.lock().create_case(
        &guardian.edit(),
        &mut rand::rngs::OsRng,
        &Profile {
            case_reference: "KEN-2".into(),
            ..Profile::default()
        },
    )?;
    guardian.sync().await?;
    supervisor.sync().await?;
    let cursor_before = guardian.lock().sync_cursor()?;
    let notes_before = [case, own_case].map(|c| {
        supervisor
            .lock()
            .read(DocId::new(c, DocKind::Visits), |d| d.visit_notes())
            .map(|n| n.len())
    });
    server.kill();

    // Restore into a fresh directory, then give it what the restore says it needs.
    let restored = root.path().join("restored");
    let key_file = data.join("db.key");
    let args = [
        "restore".to_owned(),
        "--from".to_owned(),
        backup_file.display().to_string(),
        "--data-dir".to_owned(),
        restored.display().to_string(),
        "--db-key-file".to_owned(),
        key_file.display().to_string(),
    ];
    let out = tokio::task::spawn_blocking(move || {
        cli(&args.iter().map(String::as_str).collect::<Vec<_>>())
    })
    .await??;
    ensure!(out.status.success(), "restore failed: {}", text(&out));
    let said = text(&out);
    ensure!(said.contains("before starting the server"), "{said}");
    ensure!(said.contains("TLS certificate"), "{said}");
    let restored_seq: u64 = said
        .split("server sequence ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .context("the restore names its sequence")?
        .parse()?;
    ensure!(
        restored_seq < cursor_before,
        "the devices ({cursor_before}) are ahead of the backup ({restored_seq})"
    );
    std::fs::copy(&key_file, restored.join("db.key"))?;
    copy_dir(&data.join("tls"), &restored.join("tls"))?;

    let server = ServerProcess::start(&restored)?;
    let (mut guardian, mut supervisor) = (guardian, supervisor);
    guardian.moved_to(&server.url);
    supervisor.moved_to(&server.url);
    let g = guardian.sync().await?;
    let s = supervisor.sync().await?;
    ensure!(g.report.server_restored && s.report.server_restored);
    ensure!(
        g.report.docs_pushed > 0,
        "the guardian pushed what the backup lacked"
    );
    for _ in 0..2 {
        guardian.sync().await?;
        supervisor.sync().await?;
    }
    let again = guardian.sync().await?;
    ensure!(!again.report.server_restored && again.report.rounds == 1);

    // Every device holds what the others hold of their shared case, every note written
    // before the loss is there, and the server holds every document as the devices do.
    let (g_heads, s_heads) = (held_heads(&guardian)?, held_heads(&supervisor)?);
    ensure!(g_heads.contains_key(&DocId::new(later_case, DocKind::Profile)));
    // (The guardian sees only its own cases; the supervisor sees the team's, both.)
    ensure!(s_heads.contains_key(&DocId::new(case, DocKind::Visits)));
    for (doc, heads) in &s_heads {
        if doc.case == case {
            ensure!(
                g_heads.get(doc) == Some(heads),
                "{doc} differs between devices"
            );
        }
    }
    let notes_after = [case, own_case].map(|c| {
        supervisor
            .lock()
            .read(DocId::new(c, DocKind::Visits), |d| d.visit_notes())
            .map(|n| n.len())
    });
    ensure!(
        format!("{notes_after:?}") == format!("{notes_before:?}"),
        "{notes_after:?} of {notes_before:?} notes"
    );
    server.kill();
    let on_server = server_heads(&restored)?;
    for (doc, heads) in g_heads.iter().chain(&s_heads) {
        let theirs = on_server.get(doc);
        if theirs != Some(heads) {
            let mut g = guardian.lock();
            let ours_has_theirs = theirs.map(|t| {
                g.read(*doc, |d| {
                    let mut am = d.automerge().clone();
                    Ok(t.iter().all(|h| am.get_change_by_hash(h).is_some()))
                })
            });
            bail!(
                "{doc} differs on the server: device {heads:?}, server {theirs:?}, device holds \
                 the server's heads: {ours_has_theirs:?}"
            );
        }
    }

    let restored_arg = restored.display().to_string();
    let out =
        tokio::task::spawn_blocking(move || cli(&["audit", "verify", "--data-dir", &restored_arg]))
            .await??;
    ensure!(out.status.success(), "audit verify: {}", text(&out));
    ensure!(text(&out).contains("audit chain intact"), "{}", text(&out));
    Ok(())
}
