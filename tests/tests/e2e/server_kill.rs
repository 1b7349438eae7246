//! The server process is killed (SIGKILL) repeatedly in the middle of syncs. After each
//! restart the devices converge, and every change a device had sent and the server had
//! acknowledged is on the server: a brand-new device pulls it.

use std::path::Path;
use std::process::Child;
use std::time::Duration;

use anyhow::{Context, Result};
use casebook_core::client::ServerTrust;
use casebook_core::doc::{DocId, DocKind};
use casebook_core::ids::EntryId;
use casebook_core::model::Profile;
use casebook_tests::support::{Admin, Device};
use rand::Rng;

const CHILD_ENV: &str = "CASEBOOK_E2E_SERVER_DIR";

/// Not a test on its own: when re-executed with `CASEBOOK_E2E_SERVER_DIR`, this process is a
/// real `casebook-server` (the library's `serve`, as `main` runs it) until it is killed.
#[test]
fn server_process_for_kill_tests() -> Result<()> {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return Ok(());
    };
    casebook_tests::bomb::serve_child(Path::new(&dir))
}

struct ServerProcess {
    child: Child,
    url: String,
    trust: ServerTrust,
    admin_code: Option<String>,
}

fn start(dir: &Path) -> Result<ServerProcess> {
    let (child, ready) = casebook_tests::server_child::spawn(
        "server_kill::server_process_for_kill_tests",
        &[(CHILD_ENV, dir.as_os_str())],
    )?;
    Ok(ServerProcess {
        url: ready.url(),
        trust: ready.trust(),
        admin_code: ready.admin_code,
        child,
    })
}

async fn enrol_person(
    name: String,
    role: String,
    admin: &Admin,
    url: String,
    trust: ServerTrust,
    dir: &Path,
) -> Result<(String, Device)> {
    let path = dir.join(format!("{name}.db"));
    let user = admin.user(&name, &role).await?;
    let code = admin.code(&user).await?;
    Ok((user, Device::enrol(&url, trust, path, &code, &name).await?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_server_mid_sync_loses_nothing_acknowledged() -> Result<()> {
    let data = tempfile::tempdir()?;
    let phones = tempfile::tempdir()?;
    let mut server = start(data.path())?;
    let code = server
        .admin_code
        .clone()
        .context("first start prints the admin code")?;
    let admin_device = Device::enrol(
        &server.url,
        server.trust.clone(),
        phones.path().join("admin.db"),
        &code,
        "admin",
    )
    .await?;
    let mut admin = Admin::connect(&server.url, &server.trust, &admin_device).await?;
    admin.create_org("North Yorkshire County Council").await?;
    let (guardian_id, mut guardian) = enrol_person(
        "guardian".to_string(),
        "guardian".to_string(),
        &admin,
        server.url.clone(),
        server.trust.clone(),
        phones.path(),
    )
    .await?;
    let (supervisor_id, mut supervisor) = enrol_person(
        "supervisor".to_string(),
        "supervisor".to_string(),
        &admin,
        server.url.clone(),
        server.trust.clone(),
        phones.path(),
    )
    .await?;
    let team = admin.team("team", &[&supervisor_id, &guardian_id]).await?;
    let case = guardian.lock().create_case(
        &guardian.edit(),
        &mut rand::rngs::OsRng,
        &Profile {
            case_reference: "NYC-1".into(),
            ..Profile::default()
        },
    )?;
    guardian.sync().await?;
    admin.set_team(&case.to_string(), &team).await?;
    supervisor.sync().await?;

    let mut acknowledged: Vec<EntryId> = Vec::new();
    let mut interrupted = 0;
    let mut rng = rand::rngs::OsRng;
    for round in 0..5 {
        let mut written = Vec::new();
        for (i, device) in [&guardian, &supervisor].into_iter().enumerate() {
            for n in 0..3 {
                written.push((
                    i,
                    super::record_visit(
                        device,
                        case,
                        &format!("round {round} device {i} note {n}"),
                    )?,
                ));
            }
        }
        // Both devices sync while the server is killed at a random moment.
        let delay = Duration::from_millis(rng.gen_range(0..12));
        let (g, s, ()) = tokio::join!(guardian.sync(), supervisor.sync(), async {
            tokio::time::sleep(delay).await;
            let _ = server.child.kill();
            let _ = server.child.wait();
        });
        for (i, result) in [g, s].into_iter().enumerate() {
            match result {
                Ok(_) => {
                    acknowledged.extend(written.iter().filter(|(d, _)| *d == i).map(|(_, id)| *id))
                }
                Err(_) => interrupted += 1,
            }
        }
        server = start(data.path())?;
        guardian.moved_to(&server.url);
        supervisor.moved_to(&server.url);

        // A new device pulls from the server alone: every acknowledged note is there.
        let admin_again = Admin::connect(&server.url, &server.trust, &admin_device).await?;
        let mut admin_again = admin_again;
        admin_again.org = admin.org.clone();
        let (_, fresh) = enrol_person(
            format!("fresh-{round}"),
            "supervisor".to_string(),
            &admin_again,
            server.url.clone(),
            server.trust.clone(),
            phones.path(),
        )
        .await?;
        admin_again
            .post(
                &format!("/v1/admin/teams/{team}/members"),
                serde_json::json!({"user_id": fresh.identity.user_id.to_string()}),
            )
            .await?;
        fresh.sync().await?;
        let on_server = if fresh.lock().holds(DocId::new(case, DocKind::Visits))? {
            super::note_ids(&fresh, case)?
        } else {
            Vec::new()
        };
        for id in &acknowledged {
            assert!(
                on_server.contains(id),
                "round {round}: acknowledged note {id} lost"
            );
        }
        admin = admin_again;
    }

    assert!(
        interrupted > 0,
        "the kills never landed mid-sync; the test proved nothing"
    );

    // After the last restart everyone converges, with every note written.
    for _ in 0..2 {
        guardian.sync().await?;
        supervisor.sync().await?;
    }
    let mut g = super::note_ids(&guardian, case)?;
    let mut s = super::note_ids(&supervisor, case)?;
    g.sort();
    s.sort();
    assert_eq!(g, s);
    assert_eq!(g.len(), 5 * 6);
    let _ = server.child.kill();
    let _ = server.child.wait();
    Ok(())
}
