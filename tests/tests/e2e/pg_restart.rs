//! PostgreSQL restarting or failing over under a running server (issue 14): the pool drops
//! the connections PostgreSQL closed (deadpool's `Fast` recycling checks each is still open),
//! so the first sync after a restart succeeds without restarting the server; while
//! PostgreSQL is down the server answers `503 database_unavailable`, which the device client
//! retries, so a sync begun during an outage completes when PostgreSQL returns; and nothing a
//! device wrote meanwhile is lost. Runs on a cluster of its own (the shared one must not be
//! restarted under other tests), when `scripts/test-all.sh` has provided PostgreSQL.

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use casebook_tests::support::Harness;

use super::{note_ids, record_visit, sync_once, team_on};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgresql_restart_loses_nothing_and_needs_no_server_restart() -> Result<()> {
    if casebook_tests::pg::from_env().is_none() {
        return Ok(());
    }
    let cluster = casebook_tests::pg::Cluster::throwaway()?;
    let super::Team {
        h,
        guardian,
        supervisor,
        case,
        ..
    } = team_on(
        Harness::start_with(casebook_server::Settings {
            database: Some(cluster.url().to_owned()),
            ..casebook_server::Settings::default()
        })
        .await?,
    )
    .await?;
    let before = record_visit(&guardian, case, "before the restart")?;
    guardian.sync().await?;
    supervisor.sync().await?;

    // 1. PostgreSQL restarts between two syncs (a planned restart, a failover): every pooled
    //    connection is dead, and the next sync must not be handed one.
    cluster.stop()?;
    cluster.start()?;
    let after_restart = record_visit(&guardian, case, "after the restart")?;
    sync_once(&guardian)
        .await
        .context("the first sync after PostgreSQL restarted, with no retry")?;

    // 2. PostgreSQL is down when a device syncs: a 503 the device may retry, nothing kept.
    cluster.stop()?;
    let during_outage = record_visit(&guardian, case, "written during the outage")?;
    let refused = sync_once(&guardian)
        .await
        .err()
        .context("a sync with PostgreSQL down must fail")?;
    match &refused {
        casebook_core::Error::Server { status, code, .. } => {
            ensure!(
                *status == 503 && code == "database_unavailable",
                "PostgreSQL down should answer 503 database_unavailable, not {status} {code}"
            );
        }
        other => anyhow::bail!("PostgreSQL down should answer 503, not {other:?}"),
    }
    let http = reqwest::Client::builder()
        .use_preconfigured_tls(casebook_core::client::client_config(
            &casebook_tests::support::pin(&h.server),
        )?)
        .build()?;
    let ready = http
        .get(format!("{}/readyz", h.server.base_url()))
        .send()
        .await?
        .status();
    ensure!(
        ready == 503,
        "/readyz with PostgreSQL down answered {ready}"
    );

    // 3. A sync begun during the outage, with the client's usual retries (five attempts over
    //    about 7 s), completes once PostgreSQL is back a second later.
    let back = async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        tokio::task::block_in_place(|| cluster.start())
    };
    let (synced, started) = tokio::join!(guardian.sync(), back);
    started?;
    let outcome =
        synced.context("the sync begun during the outage, retried after PostgreSQL returned")?;
    ensure!(
        outcome.retries > 0,
        "the sync should have been retried while PostgreSQL was down"
    );

    // Nothing was lost: the supervisor's device holds every note.
    supervisor.sync().await?;
    let held = note_ids(&supervisor, case)?;
    for (what, id) in [
        ("before the restart", before),
        ("after the restart", after_restart),
        ("during the outage", during_outage),
    ] {
        ensure!(held.contains(&id), "the note written {what} was lost");
    }
    Ok(())
}
