//! A decompression bomb from an enrolled device (issue 8): one 16 MiB sync request whose
//! message holds a compressed change chunk claiming gigabytes. The server, a real process over
//! real TLS, refuses it with a 4xx and an audit row, and its peak memory stays under 512 MB.

use anyhow::Result;
use casebook_core::sync::wire::MAX_SYNC_REQUEST_BYTES;
use casebook_tests::bomb;

/// Not a test on its own: when re-executed with `CASEBOOK_BOMB_SERVER_DIR`, this process is a
/// real server until it is killed.
#[test]
fn server_process_for_bomb_tests() -> Result<()> {
    match std::env::var(bomb::CHILD_ENV) {
        Ok(dir) => bomb::serve_child(std::path::Path::new(&dir)),
        Err(_) => Ok(()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_16_mib_bomb_is_refused_with_memory_bounded() -> Result<()> {
    let mut server = std::process::Command::new(std::env::current_exe()?);
    server.args([
        "--exact",
        "bomb::server_process_for_bomb_tests",
        "--nocapture",
        "--test-threads=1",
    ]);
    let out = bomb::run(server, MAX_SYNC_REQUEST_BYTES).await?;
    eprintln!(
        "bomb: {} body bytes claiming {} inflated; server peak RSS {:.0} MiB before, {:.0} MiB after",
        out.body_bytes, out.claimed_inflated_bytes, out.peak_rss_before_mb, out.peak_rss_mb
    );
    assert!(out.body_bytes > 15 << 20, "{} bytes", out.body_bytes);
    assert!(out.claimed_inflated_bytes > 10 << 30, "claims over 10 GiB");
    assert!(
        (400..500).contains(&out.status),
        "refused with a 4xx, got {}",
        out.status
    );
    assert!(
        out.peak_rss_mb < 512.0,
        "server peak RSS {:.0} MiB",
        out.peak_rss_mb
    );
    let refused = out
        .audit
        .iter()
        .filter(|row| {
            row["event"] == "quarantined"
                && row["doc_id"]
                    .as_str()
                    .is_some_and(|d| d.ends_with("/visits"))
                && row["detail"]
                    .as_str()
                    .is_some_and(|d| d.contains("\"inflate_limit\""))
        })
        .count();
    assert_eq!(refused, 1, "one audit row for the bomb: {:#?}", out.audit);
    Ok(())
}
