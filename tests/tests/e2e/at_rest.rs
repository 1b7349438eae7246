//! The server's data at rest: its database is SQLCipher-encrypted (no plaintext case content
//! in its files), and tampering with one audit row makes `audit verify` fail at that row.

use anyhow::Result;
use casebook_server::audit::{Verdict, verify};

use super::{NOTE_CANARY, PROFILE_CANARY, record_visit, team};

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_database_is_encrypted_and_its_audit_chain_detects_tampering() -> Result<()> {
    let t = team().await?;
    if !casebook_tests::support::on_sqlite(&t.h.server, "the server's SQLite file encrypted") {
        return Ok(());
    }
    record_visit(&t.guardian, t.case, NOTE_CANARY)?;
    t.guardian.sync().await?;
    t.supervisor.sync().await?;
    let data_dir = t.h.server.data_dir.clone();

    let scan = |when: &str| -> Result<()> {
        let mut files = 0;
        for entry in std::fs::read_dir(&data_dir)? {
            let path = entry?.path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_owned();
            if !name.starts_with("casebook.sqlite") {
                continue;
            }
            files += 1;
            let bytes = std::fs::read(&path)?;
            assert!(
                !bytes.starts_with(b"SQLite format 3"),
                "{when}: {name} is a plaintext SQLite file"
            );
            for canary in [NOTE_CANARY, PROFILE_CANARY, "HUL-2026-0099"] {
                assert!(
                    !contains(&bytes, canary.as_bytes()),
                    "{when}: {canary} in {name}"
                );
            }
        }
        anyhow::ensure!(files > 0, "no database files found");
        Ok(())
    };
    scan("while running")?;
    let case = t.case.to_string();
    t.h.server.shutdown().await?;
    scan("after shutdown")?;

    let db = casebook_server::cli::existing_db(&data_dir, None)?;
    let Verdict::Intact(rows) = db.read_blocking(verify)? else {
        anyhow::bail!("a fresh chain should verify");
    };
    assert!(rows > 10, "{rows} audit rows");
    let target: i64 = db.read_blocking(|c| {
        Ok(c.query_row(
            "SELECT id FROM audit WHERE case_id = ?1 ORDER BY id LIMIT 1 OFFSET 1",
            [&case],
            |r| r.get(0),
        )?)
    })?;
    db.write_blocking(|tx| {
        tx.execute("UPDATE audit SET at = at + 1 WHERE id = ?1", [target])?;
        Ok(())
    })?;
    match db.read_blocking(verify)? {
        Verdict::Broken(link) => assert_eq!(link.row_id, target),
        Verdict::Intact(_) => anyhow::bail!("tampering went unnoticed"),
    }
    Ok(())
}
