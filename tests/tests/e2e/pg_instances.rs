//! Two server processes on one PostgreSQL database (issue 14): devices sync through either at
//! random; in each round one is killed (SIGKILL) while devices sync through it, they carry on
//! through the other, and a fresh device pulling from the survivor finds every change that was
//! acknowledged. Runs on the cluster `scripts/test-all.sh` starts (`CASEBOOK_PG_CLUSTER` or
//! `CASEBOOK_TEST_POSTGRES`); without one it says so and passes unless
//! `CASEBOOK_REQUIRE_POSTGRES=1`.

use std::path::Path;
use std::process::Child;
use std::time::Duration;

use anyhow::{Context, Result};
use casebook_core::client::ServerTrust;
use casebook_core::ids::EntryId;
use casebook_core::model::Profile;
use casebook_tests::support::{Admin, Device};
use rand::Rng;

const CHILD_DIR_ENV: &str = "CASEBOOK_E2E_PG_SERVER_DIR";
const CHILD_DATABASE_ENV: &str = "CASEBOOK_E2E_PG_DATABASE";

/// Not a test on its own: re-executed with the two variables above, this process is a real
/// server (the library's `serve`, as `main` runs it) on that database until it is killed.
#[test]
fn pg_server_process_for_instance_tests() -> Result<()> {
    let (Ok(dir), Ok(database)) = (
        std::env::var(CHILD_DIR_ENV),
        std::env::var(CHILD_DATABASE_ENV),
    ) else {
        return Ok(());
    };
    let settings = casebook_server::Settings {
        database: Some(database),
        ..casebook_server::Settings::default()
    };
    casebook_tests::server_child::serve(Path::new(&dir), settings)
}

struct Instance {
    child: Child,
    url: String,
    trust: ServerTrust,
    admin_code: Option<String>,
}

/// A server process on `dir` (both instances share it: the key file and the development
/// certificate, so devices pin one key) and `database`.
fn start(dir: &Path, database: &str) -> Result<Instance> {
    let (child, ready) = casebook_tests::server_child::spawn(
        "pg_instances::pg_server_process_for_instance_tests",
        &[
            (CHILD_DIR_ENV, dir.as_os_str()),
            (CHILD_DATABASE_ENV, std::ffi::OsStr::new(database)),
        ],
    )?;
    Ok(Instance {
        url: ready.url(),
        trust: ready.trust(),
        admin_code: ready.admin_code,
        child,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_server_processes_on_one_database_lose_nothing_when_one_is_killed() -> Result<()> {
    let Some(cluster) = casebook_tests::pg::from_env() else {
        return Ok(());
    };
    let data = tempfile::tempdir()?;
    let phones = tempfile::tempdir()?;
    let database = casebook_server::create_test_database(&cluster, data.path()).await?;
    let first = start(data.path(), &database)?;
    let code = first
        .admin_code
        .clone()
        .context("the first start prints the admin code")?;
    let second = start(data.path(), &database)?;
    assert!(second.admin_code.is_none(), "one database, one first start");
    let trust = first.trust.clone();
    let mut instances = [first, second];

    let admin_device = Device::enrol(
        &instances[0].url,
        trust.clone(),
        phones.path().join("admin.db"),
        &code,
        "admin",
    )
    .await?;
    let mut admin = Admin::connect(&instances[1].url, &trust, &admin_device).await?;
    admin.create_org("East Riding of Yorkshire Council").await?;
    let mut people = Vec::new();
    for (name, role, via) in [
        ("guardian", "guardian", 0),
        ("supervisor", "supervisor", 1),
        ("second supervisor", "supervisor", 0),
    ] {
        let user = admin.user(name, role).await?;
        let code = admin.code(&user).await?;
        let device = Device::enrol(
            &instances[via].url,
            trust.clone(),
            phones.path().join(format!("{name}.db")),
            &code,
            name,
        )
        .await?;
        people.push((user, device));
    }
    let ids: Vec<&str> = people.iter().map(|(id, _)| id.as_str()).collect();
    let team = admin.team("East team", &ids).await?;
    let case = people[0].1.lock().create_case(
        &people[0].1.edit(),
        &mut rand::rngs::OsRng,
        &Profile {
            case_reference: "ERY-1".into(),
            ..Profile::default()
        },
    )?;
    people[0].1.sync().await?;
    admin.set_team(&case.to_string(), &team).await?;
    for (_, device) in &people {
        device.sync().await?;
    }

    let mut rng = rand::rngs::OsRng;
    let mut acknowledged: Vec<EntryId> = Vec::new();
    let mut interrupted = 0;
    let rounds = 4;
    for round in 0..rounds {
        // Each device writes, then syncs through an instance chosen at random while one
        // instance is killed at a random moment.
        let victim = rng.gen_range(0..2);
        let survivor = 1 - victim;
        let mut written = Vec::new();
        for (i, (_, device)) in people.iter_mut().enumerate() {
            for n in 0..2 {
                let words = format!("round {round} device {i} note {n}");
                written.push((i, super::record_visit(device, case, &words)?));
            }
            device.moved_to(&instances[rng.gen_range(0..2)].url);
        }
        let delay = Duration::from_millis(rng.gen_range(0..15));
        let [a, b, c] = &people[..] else {
            unreachable!("three people")
        };
        let (ra, rb, rc, ()) = tokio::join!(a.1.sync(), b.1.sync(), c.1.sync(), async {
            tokio::time::sleep(delay).await;
            let _ = instances[victim].child.kill();
            let _ = instances[victim].child.wait();
        });
        for (i, result) in [ra, rb, rc].into_iter().enumerate() {
            match result {
                Ok(_) => {
                    acknowledged.extend(written.iter().filter(|(d, _)| *d == i).map(|(_, id)| *id))
                }
                Err(_) => interrupted += 1,
            }
        }
        // The devices carry on through the survivor: every sync there succeeds.
        for (i, (_, device)) in people.iter_mut().enumerate() {
            device.moved_to(&instances[survivor].url);
            device
                .sync()
                .await
                .with_context(|| format!("round {round}: device {i} through the survivor"))?;
            acknowledged.extend(written.iter().filter(|(d, _)| *d == i).map(|(_, id)| *id));
        }
        // A fresh device pulling from the survivor holds every acknowledged note.
        let mut admin_there =
            Admin::connect(&instances[survivor].url, &trust, &admin_device).await?;
        admin_there.org = admin.org.clone();
        let user = admin_there
            .user(&format!("fresh {round}"), "supervisor")
            .await?;
        admin_there
            .post(
                &format!("/v1/admin/teams/{team}/members"),
                serde_json::json!({ "user_id": user }),
            )
            .await?;
        let fresh_code = admin_there.code(&user).await?;
        let fresh = Device::enrol(
            &instances[survivor].url,
            trust.clone(),
            phones.path().join(format!("fresh-{round}.db")),
            &fresh_code,
            "fresh",
        )
        .await?;
        fresh.sync().await?;
        let on_server = super::note_ids(&fresh, case)?;
        for id in &acknowledged {
            assert!(
                on_server.contains(id),
                "round {round}: acknowledged note {id} lost"
            );
        }
        admin = admin_there;
        // The killed instance comes back on the same database.
        instances[victim] = start(data.path(), &database)?;
        assert_eq!(instances[victim].trust, trust, "same key, same pin");
    }
    eprintln!("{interrupted} syncs cut by a kill in {rounds} rounds");
    assert!(
        interrupted > 0,
        "no kill landed mid-sync; the test proved nothing"
    );

    // Everyone converges, through either instance, with every note written.
    for (i, (_, device)) in people.iter_mut().enumerate() {
        device.moved_to(&instances[i % 2].url);
        device.sync().await?;
    }
    let expected = rounds * 3 * 2;
    for (i, (_, device)) in people.iter().enumerate() {
        device.sync().await?;
        let mut notes = super::note_ids(device, case)?;
        notes.sort();
        notes.dedup();
        assert_eq!(notes.len(), expected, "device {i}");
    }
    for instance in &mut instances {
        let _ = instance.child.kill();
        let _ = instance.child.wait();
    }
    Ok(())
}
