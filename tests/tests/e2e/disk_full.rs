//! The disk under the server's data directory fills during a sync (a small tmpfs mounted by
//! the test, as root; skipped with the reason printed otherwise). The server answers 503
//! `storage_full` and keeps nothing of that request; it keeps serving another device's pull
//! and no-op sync; when space returns, the device, which lost nothing and still holds its
//! changes as unsent, completes its next sync and the other device receives them.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, ensure};
use casebook_core::doc::{DocId, DocKind};
use casebook_core::ids::EntryId;
use casebook_core::model::Profile;
use casebook_tests::support::{Admin, Device};
use rand::Rng;

use super::backup_restore::ServerProcess;

/// Size of the filesystem the data directory lives on.
const DISK: &str = "size=24m";
/// Space left free once the disk is filled: enough for small writes, not for the big push.
const SLACK_BYTES: u64 = 384 * 1024;

/// A tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().nth(1))
            == Some("0")
    })
}

/// Mount a small tmpfs at `at`, or say why not.
fn mount(at: &Path) -> Result<Tmpfs, String> {
    if !is_root() {
        return Err("not running as root (mounting a small filesystem needs root)".into());
    }
    std::fs::create_dir_all(at).map_err(|e| e.to_string())?;
    let out = Command::new("mount")
        .args(["-t", "tmpfs", "-o", DISK, "tmpfs"])
        .arg(at)
        .output()
        .map_err(|e| format!("mount: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "mount -t tmpfs failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(Tmpfs(at.to_owned()))
}

/// Fill the filesystem of `dir` with `filler`, then give back [`SLACK_BYTES`].
fn fill(filler: &Path) -> Result<()> {
    let mut file = std::fs::File::create(filler)?;
    let chunk = vec![0x55u8; 64 * 1024];
    loop {
        match file.write_all(&chunk) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::StorageFull => break,
            Err(e) => return Err(e.into()),
        }
    }
    let _ = file.flush();
    let len = file.metadata()?.len();
    file.set_len(len.saturating_sub(SLACK_BYTES))?;
    Ok(())
}

/// Notes too large for what the full disk has left: `count` of `chars` random letters.
fn write_big_notes(device: &Device, case: casebook_core::ids::CaseId) -> Result<Vec<EntryId>> {
    let mut rng = rand::rngs::OsRng;
    let mut ids = Vec::new();
    // 20 notes of 150,000 letters: about 1.8 MB to send, nearly five times the slack, and
    // 3 million operations, within what one sync message may carry (`MAX_DOC_OPS`, 2^22).
    for _ in 0..20 {
        let words: String = (0..150_000)
            .map(|i| {
                if i % 8 == 7 {
                    ' '
                } else {
                    char::from(b'a' + rng.gen_range(0..26u8))
                }
            })
            .collect();
        ids.push(super::record_visit(device, case, &words)?);
    }
    Ok(ids)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_mid_sync_is_a_503_that_loses_nothing_and_recovers() -> Result<()> {
    let root = tempfile::tempdir()?;
    let _disk = match mount(&root.path().join("disk")) {
        Ok(disk) => disk,
        Err(why) => {
            println!("skipped: the disk-full test needs a small filesystem: {why}");
            return Ok(());
        }
    };
    let data = root.path().join("disk").join("data");
    let server = ServerProcess::start(&data)?;
    let code = server
        .admin_code
        .clone()
        .context("first start prints a code")?;
    let phones = root.path().join("phones");
    std::fs::create_dir_all(&phones)?;
    let admin_device = Device::enrol(
        &server.url,
        server.trust.clone(),
        phones.join("admin.db"),
        &code,
        "admin",
    )
    .await?;
    let mut admin = Admin::connect(&server.url, &server.trust, &admin_device).await?;
    admin.create_org("Essex County Council").await?;
    let mut people = Vec::new();
    for (name, role) in [("guardian", "guardian"), ("supervisor", "supervisor")] {
        let user = admin.user(name, role).await?;
        let code = admin.code(&user).await?;
        let path = phones.join(format!("{name}.db"));
        let device = Device::enrol(&server.url, server.trust.clone(), path, &code, name).await?;
        people.push((user, device));
    }
    let (supervisor_id, supervisor) = people.pop().context("supervisor")?;
    let (guardian_id, guardian) = people.pop().context("guardian")?;
    let team = admin.team("team", &[&supervisor_id, &guardian_id]).await?;
    let case = guardian.lock().create_case(
        &guardian.edit(),
        &mut rand::rngs::OsRng,
        &Profile {
            case_reference: "ESX-1".into(),
            ..Profile::default()
        },
    )?;
    guardian.sync().await?;
    admin.set_team(&case.to_string(), &team).await?;
    supervisor.sync().await?;
    // A small note the supervisor has yet to pull when the disk is full.
    let small = super::record_visit(&guardian, case, "a short note before the disk filled")?;
    guardian.sync().await?;

    let filler = root.path().join("disk").join("filler");
    fill(&filler)?;
    let big = write_big_notes(&guardian, case)?;
    let visits = DocId::new(case, DocKind::Visits);
    let refused = super::sync_once(&guardian).await;
    match refused {
        Err(casebook_core::Error::Server { status, code, .. }) => {
            ensure!(status == 503 && code == "storage_full", "{status} {code}");
        }
        other => anyhow::bail!("expected a 503 storage_full, got {other:?}"),
    }
    // Nothing acknowledged that was not written: the device still holds its notes as unsent.
    let dirty = guardian.lock().store().dirty()?;
    ensure!(
        dirty.iter().any(|d| d.doc == visits),
        "the notes are still to send"
    );

    // Reads go on: the other device pulls the small note, then syncs with nothing to do.
    supervisor.sync().await?;
    let pulled = super::note_ids(&supervisor, case)?;
    ensure!(pulled.contains(&small), "the pull under a full disk worked");
    ensure!(
        !big.iter().any(|id| pulled.contains(id)),
        "the server kept nothing of the refused request"
    );
    let idle = supervisor.sync().await?;
    ensure!(idle.report.rounds == 1 && idle.report.changed.is_empty());

    // Space returns: the device's next sync completes and the notes reach the other device.
    std::fs::remove_file(&filler)?;
    let done = guardian.sync().await?;
    ensure!(done.report.docs_pushed >= 1);
    ensure!(guardian.lock().store().dirty()?.is_empty());
    supervisor.sync().await?;
    let pulled = super::note_ids(&supervisor, case)?;
    for id in big.iter().chain([&small]) {
        ensure!(pulled.contains(id), "note {id} reached the other device");
    }
    drop(server);
    Ok(())
}
