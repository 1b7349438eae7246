//! PostgreSQL only (issue 14): what a platform team running Casebook on one database relies
//! on. A `pg_dump` and the cluster's files hold no case content; two server instances on one
//! database share devices and sessions, converge and keep one unbroken audit chain; a key file
//! that does not match the database is refused.
//!
//! These run against the cluster named by `CASEBOOK_TEST_POSTGRES` (or `CASEBOOK_PG_CLUSTER`),
//! as `scripts/test-all.sh` starts one with `scripts/pg-cluster.sh`. Without one they say so
//! and pass, unless `CASEBOOK_REQUIRE_POSTGRES=1` (set by `scripts/test-all.sh`), when they
//! fail.

use crate::support::*;
use axum::http::StatusCode;
use casebook_core::doc::DocKind;
use casebook_core::sync::wire::{PROTOCOL_VERSION, SyncRequest};
use casebook_server::audit::{self, Verdict};
use casebook_server::{Clock, Settings};

/// The cluster's `postgres` database URL, or `None` (test skipped) when there is none.
fn cluster() -> Option<String> {
    let url = ["CASEBOOK_TEST_POSTGRES", "CASEBOOK_PG_CLUSTER"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()));
    if url.is_none() {
        assert!(
            std::env::var("CASEBOOK_REQUIRE_POSTGRES").as_deref() != Ok("1"),
            "CASEBOOK_REQUIRE_POSTGRES=1 but no cluster: set CASEBOOK_PG_CLUSTER \
             (scripts/pg-cluster.sh start DIR prints it)"
        );
        eprintln!("no PostgreSQL cluster (CASEBOOK_PG_CLUSTER): PostgreSQL test skipped");
    }
    url
}

/// A harness whose server runs on a fresh database of the cluster `admin`.
async fn on_postgres(admin: &str) -> (Harness, String) {
    let name_dir = tempfile::tempdir().expect("tempdir");
    let url = casebook_server::create_test_database(admin, name_dir.path())
        .await
        .expect("test database");
    let settings = Settings {
        database: Some(url.clone()),
        ..Settings::default()
    };
    (Harness::with_settings(settings).await, url)
}

/// A PostgreSQL binary of the installed version (`pg_dump`).
fn pg_bin(name: &str) -> std::path::PathBuf {
    let mut dirs: Vec<_> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is installed")
        .filter_map(|e| e.ok().map(|e| e.path().join("bin").join(name)))
        .filter(|p| p.exists())
        .collect();
    dirs.sort();
    dirs.pop().expect("a PostgreSQL bin directory")
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Every file under `dir`, read whole (the cluster's data files and WAL).
fn files_containing(dir: &std::path::Path, needle: &[u8]) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path)
                && contains(&bytes, needle)
            {
                found.push(path);
            }
        }
    }
    found
}

#[tokio::test]
async fn a_pg_dump_and_the_clusters_files_hold_no_case_content() {
    let Some(admin) = cluster() else { return };
    let (h, url) = on_postgres(&admin).await;
    let mut guardian = h.person("guardian").await;
    let case = new_case();
    let canary = "CANARY-pg-5f1e9c";
    let kinds = [
        DocKind::Profile,
        DocKind::Location,
        DocKind::Visits,
        DocKind::Safety,
        DocKind::Associates,
    ];
    for kind in kinds {
        guardian.write(
            doc(case, kind),
            "field",
            &format!("{canary}-{}", kind.as_str()),
        );
    }
    h.sync_until_quiet(&mut guardian).await;

    // The server holds the content (opened through its key) ...
    for kind in kinds {
        let id = doc(case, kind).to_string();
        let plain = h
            .state
            .db
            .read(move |c| Ok(casebook_server::db::docs::read_bytes(c, &id)?))
            .await
            .expect("read")
            .expect("stored");
        assert!(
            contains(&plain, canary.as_bytes()),
            "{kind:?}: the positive control (the canary in the plain document) failed"
        );
    }
    // The audit trail's details (counts and reasons by design, sealed all the same): every
    // one the writes above left, as the server opens it.
    let details: Vec<String> = h
        .state
        .db
        .read(audit::all)
        .await
        .expect("audit rows")
        .into_iter()
        .map(|row| row.detail)
        .filter(|detail| detail.len() >= 8)
        .collect();
    assert!(
        details.iter().any(|d| d.contains("\"doc_bytes\"")),
        "the positive control (a sync's write audited with its counts) failed: {details:?}"
    );
    // ... but the database does not: not in a dump ...
    let dump = std::process::Command::new(pg_bin("pg_dump"))
        .arg("--dbname")
        .arg(&url)
        .output()
        .expect("pg_dump runs");
    assert!(
        dump.status.success(),
        "{}",
        String::from_utf8_lossy(&dump.stderr)
    );
    assert!(
        contains(
            &dump.stdout,
            doc(case, DocKind::Visits).to_string().as_bytes()
        ),
        "the dump holds the documents' rows (their ids are readable)"
    );
    // A plain dump writes bytea columns as hex: look for the canary both ways.
    assert!(
        !contains(&dump.stdout, canary.as_bytes()),
        "canary in pg_dump"
    );
    assert!(
        !contains(&dump.stdout, hex::encode(canary).as_bytes()),
        "canary (hex) in pg_dump"
    );
    let open_details: Vec<&String> = details
        .iter()
        .filter(|d| {
            contains(&dump.stdout, d.as_bytes())
                || contains(&dump.stdout, hex::encode(d.as_bytes()).as_bytes())
        })
        .collect();
    assert!(
        open_details.is_empty(),
        "audit details readable in pg_dump: {open_details:?}"
    );
    // ... nor in the cluster's files, written out by a checkpoint (scripts/pg-cluster.sh
    // keeps its data in `<socket dir>/data`).
    let socket_dir = url
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("host="))
        .expect("the cluster's socket directory");
    let data = std::path::Path::new(socket_dir).join("data");
    if data.is_dir() {
        h.state
            .db
            .write(|tx| Ok(tx.execute_batch("SELECT pg_switch_wal()")?))
            .await
            .expect("switch WAL");
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .expect("connect");
        tokio::spawn(connection);
        client
            .batch_execute("CHECKPOINT")
            .await
            .expect("checkpoint");
        let oid: String = client
            .query_one(
                "SELECT oid::text FROM pg_database WHERE datname = current_database()",
                &[],
            )
            .await
            .expect("oid")
            .get(0);
        // This database's files and the cluster's WAL (the other tests' databases are theirs).
        let mut found = files_containing(&data.join("base").join(&oid), canary.as_bytes());
        found.extend(files_containing(&data.join("pg_wal"), canary.as_bytes()));
        assert!(
            data.join("base").join(&oid).is_dir(),
            "the database's directory is where the test looks"
        );
        assert!(found.is_empty(), "canary in the cluster's files: {found:?}");
    }
}

#[tokio::test]
async fn two_instances_on_one_database_share_devices_converge_and_keep_one_audit_chain() {
    let Some(admin) = cluster() else { return };
    let (a, _) = on_postgres(&admin).await;
    let b = a.second_instance();
    let instances = [&a, &b];

    // Three people, enrolled through either instance; a session opened through one is good
    // on the other (sessions live in the database).
    let mut devices = [
        a.person("guardian").await,
        b.person("guardian").await,
        a.person("guardian").await,
    ];
    let case = new_case();
    let visits = doc(case, DocKind::Visits);
    devices[0].write(doc(case, DocKind::Profile), "name", "A.");
    devices[0].write(visits, "by-0", "first");
    b.sync_until_quiet(&mut devices[0]).await;
    for d in &devices[1..] {
        let r = a
            .admin_post(
                &format!("/v1/admin/cases/{case}/assignments"),
                serde_json::json!({ "user_id": d.user_id }),
            )
            .await;
        assert_eq!(r.status, axum::http::StatusCode::NO_CONTENT);
    }
    for (i, d) in devices.iter_mut().enumerate() {
        instances[i % 2].sync_until_quiet(d).await;
        assert_eq!(d.read(&visits, "by-0").as_deref(), Some("first"));
    }

    // Rounds of edits, each device syncing through an instance chosen at random, two devices
    // at once through different instances.
    use rand::Rng;
    let mut rng = rand::thread_rng();
    for round in 0..6 {
        for (i, d) in devices.iter_mut().enumerate() {
            d.write(visits, &format!("by-{i}-{round}"), "x");
        }
        let (first, rest) = devices.split_at_mut(1);
        let (second, third) = rest.split_at_mut(1);
        let pick = rng.gen_range(0..2);
        tokio::join!(
            instances[pick].sync_once(&mut first[0]),
            instances[1 - pick].sync_once(&mut second[0]),
        );
        instances[rng.gen_range(0..2)]
            .sync_once(&mut third[0])
            .await;
    }
    for _ in 0..2 {
        for d in devices.iter_mut() {
            let via = instances[rng.gen_range(0..2)];
            via.sync_until_quiet(d).await;
        }
    }
    // Nothing lost: every device holds every edit of every device.
    for (holder, d) in devices.iter().enumerate() {
        assert_eq!(
            d.read(&visits, "by-0").as_deref(),
            Some("first"),
            "{holder}"
        );
        for writer in 0..3 {
            for round in 0..6 {
                assert_eq!(
                    d.read(&visits, &format!("by-{writer}-{round}")).as_deref(),
                    Some("x"),
                    "device {holder} misses writer {writer}'s round {round}"
                );
            }
        }
    }

    // One chain, written by both instances, intact as either reads it.
    let verdict_a = a.state.db.read(audit::verify).await.expect("verify");
    let verdict_b = b.state.db.read(audit::verify).await.expect("verify");
    let Verdict::Intact(rows) = verdict_a else {
        panic!("the chain broke: {verdict_a:?}")
    };
    assert!(rows > 20, "{rows} audit rows");
    assert_eq!(verdict_b, Verdict::Intact(rows));

    // Editing one row breaks the chain at that row.
    a.state
        .db
        .write(|tx| Ok(tx.execute("UPDATE audit SET event = 'read' WHERE id = 5", [])?))
        .await
        .expect("tamper");
    match b.state.db.read(audit::verify).await.expect("verify") {
        Verdict::Broken(link) => assert_eq!(link.row_id, 5, "{link:?}"),
        other => panic!("an edited row went unnoticed: {other:?}"),
    }
}

#[tokio::test]
async fn a_key_file_that_does_not_match_the_database_is_refused() {
    let Some(admin) = cluster() else { return };
    let (h, url) = on_postgres(&admin).await;
    let other = tempfile::tempdir().expect("tempdir");
    let settings = Settings {
        database: Some(url),
        ..Settings::default()
    };
    // A fresh data directory generates a new key: not the one the rows are sealed under.
    let err = casebook_server::open_data_dir(other.path(), Clock::System, settings)
        .expect_err("a wrong key is refused");
    assert!(err.to_string().contains("does not match"), "{err}");
    // The database is untouched: the first instance still reads its chain.
    let verdict = h.state.db.read(audit::verify).await.expect("verify");
    assert!(matches!(verdict, Verdict::Intact(_)), "{verdict:?}");
}

#[tokio::test]
async fn a_sqlite_deployment_migrates_with_devices_cursors_and_the_audit_chain_intact() {
    let Some(admin) = cluster() else { return };
    // A SQLite deployment in use: a guardian and a social worker on one case.
    let old = Harness::on_sqlite().await;
    let mut guardian = old.person("guardian").await;
    let mut worker = old.person("social_worker").await;
    let case = new_case();
    let profile = doc(case, DocKind::Profile);
    let visits = doc(case, DocKind::Visits);
    guardian.write(profile, "name", "A.");
    guardian.write(visits, "note", "before the move");
    old.sync_until_quiet(&mut guardian).await;
    let r = old
        .admin_post(
            &format!("/v1/admin/cases/{case}/assignments"),
            serde_json::json!({ "user_id": worker.user_id }),
        )
        .await;
    assert_eq!(r.status, axum::http::StatusCode::NO_CONTENT);
    old.sync_until_quiet(&mut worker).await;
    let Verdict::Intact(rows_before) = old.state.db.read(audit::verify).await.expect("verify")
    else {
        panic!("the SQLite chain is broken")
    };

    // Migrate into a new database of the cluster.
    let name_dir = tempfile::tempdir().expect("tempdir");
    let url = casebook_server::create_test_database(&admin, name_dir.path())
        .await
        .expect("database");
    let key = casebook_server::db::read_key(&old.key_file()).expect("key");
    let (target, sqlite_db) = (url.clone(), old.state.db.clone());
    let copied = tokio::task::spawn_blocking(move || {
        let pg = casebook_server::db::Db::open_postgres(&target, name_dir.path(), &key)?;
        let copied = casebook_server::db::to_postgres::copy(&sqlite_db, &pg, |_, _| {})?;
        // A second run finds the database filled and refuses, copying nothing.
        let again = casebook_server::db::to_postgres::copy(&sqlite_db, &pg, |_, _| {});
        assert!(
            again.is_err_and(|e| e.to_string().contains("not empty")),
            "a second migration into the same database is refused"
        );
        Ok::<_, casebook_server::Error>(copied)
    })
    .await
    .expect("join")
    .expect("migrate");
    let docs_in_sqlite: i64 = old
        .state
        .db
        .read(|c| Ok(c.query_row("SELECT COUNT(*) FROM docs", [], |r| r.get(0))?))
        .await
        .expect("count");
    assert!(docs_in_sqlite >= 2);
    assert_eq!(
        copied.get("docs").copied(),
        u64::try_from(docs_in_sqlite).ok(),
        "{copied:?}"
    );
    assert!(copied.get("devices").is_some_and(|n| *n >= 3), "{copied:?}");

    // The server on PostgreSQL: the same devices, sessions and cursors.
    let new = old.instance_on(url);
    let Verdict::Intact(rows_after) = new.state.db.read(audit::verify).await.expect("verify")
    else {
        panic!("the migrated chain is broken")
    };
    assert!(rows_after >= rows_before, "{rows_after} < {rows_before}");
    // Up to date at its cursor: nothing is sent twice.
    let first = new.sync_once(&mut worker).await;
    assert!(
        first.snapshots.is_empty() && first.messages.is_empty(),
        "a migrated cursor re-sent documents"
    );
    // Writes carry on through PostgreSQL and reach the other device.
    guardian.write(visits, "note2", "after the move");
    new.sync_until_quiet(&mut guardian).await;
    new.sync_until_quiet(&mut worker).await;
    assert_eq!(
        worker.read(&visits, "note").as_deref(),
        Some("before the move")
    );
    assert_eq!(
        worker.read(&visits, "note2").as_deref(),
        Some("after the move")
    );
    // New rows get fresh ids after the copied ones (the identity sequences moved on).
    let mut carer = new.person("carer").await;
    new.sync_until_quiet(&mut carer).await;
    let verdict = new.state.db.read(audit::verify).await.expect("verify");
    assert!(
        matches!(verdict, Verdict::Intact(n) if n > rows_after),
        "{verdict:?}"
    );
}

#[tokio::test]
async fn both_engines_have_the_same_tables_and_columns() {
    let Some(admin) = cluster() else { return };
    let (pg, _) = on_postgres(&admin).await;
    let sqlite = Harness::on_sqlite().await;
    type Columns = std::collections::BTreeSet<(String, String)>;
    let in_sqlite: Columns = sqlite
        .state
        .db
        .read(|c| {
            let mut stmt = c.prepare(
                "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p
                 WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'",
            )?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<casebook_server::sql::Result<_>>()?)
        })
        .await
        .expect("SQLite columns");
    let in_postgres: Columns = pg
        .state
        .db
        .read(|c| {
            let mut stmt = c.prepare(
                "SELECT table_name::text, column_name::text FROM information_schema.columns
                 WHERE table_schema = 'public' AND table_name <> 'casebook_schema'
                   AND NOT (column_name = 'rowid'
                            AND table_name IN ('users', 'cases', 'challenges'))
                   -- The sync rate limit's buckets: SQLite's one process keeps them in memory.
                   AND table_name <> 'sync_buckets'",
            )?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<casebook_server::sql::Result<_>>()?)
        })
        .await
        .expect("PostgreSQL columns");
    assert!(in_sqlite.len() > 100, "{} columns", in_sqlite.len());
    let only_sqlite: Vec<_> = in_sqlite.difference(&in_postgres).collect();
    let only_postgres: Vec<_> = in_postgres.difference(&in_sqlite).collect();
    assert!(
        only_sqlite.is_empty() && only_postgres.is_empty(),
        "a migration of one engine has no twin in the other: only in SQLite {only_sqlite:?}, \
         only in PostgreSQL {only_postgres:?}"
    );
}

/// The per-device sync budget is one, whichever instance a device reaches: behind two
/// instances a device gets its burst once, not twice, even when its requests arrive at both
/// at once; the refusal says when to retry, and the budget refills at its rate on either.
#[tokio::test]
async fn two_instances_share_one_sync_budget_per_device() {
    let Some(admin) = cluster() else { return };
    let name_dir = tempfile::tempdir().expect("tempdir");
    let url = casebook_server::create_test_database(&admin, name_dir.path())
        .await
        .expect("test database");
    let limited = Settings {
        database: Some(url),
        sync_burst: 4,
        sync_per_minute: 6,
        ..Settings::default()
    };
    let a = Harness::with_settings(limited.clone()).await;
    let b = a.instance_with(limited);
    let guardian = a.person("guardian").await;
    let carer = a.person("carer").await;
    let noop = SyncRequest {
        v: PROTOCOL_VERSION,
        cursor: 0,
        messages: vec![],
        purged: vec![],
        epoch: None,
    };
    // Ten requests at once, five through each instance: exactly the burst of four succeeds.
    let statuses: Vec<StatusCode> = {
        let (g, n) = (&guardian, &noop);
        let replies = tokio::join!(
            a.sync_raw(g, n),
            b.sync_raw(g, n),
            a.sync_raw(g, n),
            b.sync_raw(g, n),
            a.sync_raw(g, n),
            b.sync_raw(g, n),
            a.sync_raw(g, n),
            b.sync_raw(g, n),
            a.sync_raw(g, n),
            b.sync_raw(g, n),
        );
        [
            replies.0, replies.1, replies.2, replies.3, replies.4, replies.5, replies.6, replies.7,
            replies.8, replies.9,
        ]
        .into_iter()
        .map(|r| r.status)
        .collect()
    };
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let limited = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((ok, limited), (4, 6), "{statuses:?}");
    // Either instance refuses now, and says one token comes in ten seconds.
    for via in [&a, &b] {
        let refused = via.sync_raw(&guardian, &noop).await;
        assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(refused.error(), "rate_limited");
    }
    // Another device's budget is its own.
    assert_eq!(b.sync_raw(&carer, &noop).await.status, StatusCode::OK);
    // Ten seconds refill one request, taken through either instance, once.
    a.clock.advance(10);
    assert_eq!(b.sync_raw(&guardian, &noop).await.status, StatusCode::OK);
    assert_eq!(
        a.sync_raw(&guardian, &noop).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
}

/// Someone who can write to the database but holds no key file (a database administrator, a
/// stolen dump restored and edited) cannot make a tampered chain verify: the head is sealed
/// under the key file's key. Deleting the newest rows and fixing the head, or rewriting a row
/// and recomputing every hash after it (the details guessed), both fail at the head.
#[tokio::test]
async fn a_rewritten_chain_with_its_hashes_recomputed_fails_at_the_sealed_head() {
    let Some(admin) = cluster() else { return };
    let (h, _) = on_postgres(&admin).await;
    let guardian = h.person("guardian").await;
    let mut guardian = guardian;
    let case = new_case();
    guardian.write(doc(case, DocKind::Profile), "name", "Linh");
    h.sync_until_quiet(&mut guardian).await;
    let Verdict::Intact(rows) = h.state.db.read(audit::verify).await.expect("verify") else {
        panic!("the chain is intact before the attack")
    };
    assert!(rows >= 8, "{rows} rows");
    let rows = i64::try_from(rows).expect("rows");

    // Truncation: the newest three rows deleted and the head moved back to the row before.
    let truncated = h.state.db.read(audit::all).await.expect("rows");
    h.state
        .db
        .write(move |tx| {
            let last = &truncated[truncated.len() - 4];
            tx.execute("DELETE FROM audit WHERE id > ?1", [last.id])?;
            tx.execute(
                "UPDATE meta SET value = ?1 WHERE key = 'audit_head'",
                [format!("{}:{}", last.id, last.hash)],
            )?;
            Ok(())
        })
        .await
        .expect("truncate");
    match h.state.db.read(audit::verify).await.expect("verify") {
        Verdict::Broken(link) => {
            assert_eq!(link.row_id, rows - 3, "{link:?}");
            assert_eq!(link.reason, "chain head does not match its seal");
        }
        other => panic!("a truncated chain went unnoticed: {other:?}"),
    }

    // A rewrite: row 3 given to another device, every hash after it recomputed, head fixed.
    let mut chain = h.state.db.read(audit::all).await.expect("rows");
    chain[2].actor_device = Some("00000000000000000000000000000000".into());
    h.state
        .db
        .write(move |tx| {
            let mut prev = hex::decode(&chain[1].hash).expect("hex");
            for row in &chain[2..] {
                let hash = audit::chain_hash(&prev, row);
                tx.execute(
                    "UPDATE audit SET actor_device = ?1, prev_hash = ?2, hash = ?3 WHERE id = ?4",
                    casebook_server::params![row.actor_device, prev.clone(), hash.to_vec(), row.id],
                )?;
                prev = hash.to_vec();
            }
            let last = chain.last().expect("rows").id;
            tx.execute(
                "UPDATE meta SET value = ?1 WHERE key = 'audit_head'",
                [format!("{last}:{}", hex::encode(&prev))],
            )?;
            Ok(())
        })
        .await
        .expect("rewrite");
    match h.state.db.read(audit::verify).await.expect("verify") {
        Verdict::Broken(link) => {
            assert_eq!(
                link.reason, "chain head does not match its seal",
                "{link:?}"
            );
        }
        other => panic!("a rewritten chain went unnoticed: {other:?}"),
    }
}

/// The statements a no-op sync sends to PostgreSQL, each a round trip (but a `BEGIN`, which
/// goes out with its transaction's first statement). A carer's phone waking up syncs nothing
/// new; with 200 phones a second on one database, every statement is latency on a busy host.
/// The session is checked in one statement outside any transaction, the sync budget in one,
/// and the idle answer's read (the session again, notices, access, offers, purges, cursor and
/// epoch, alerts) in one read-only transaction: 11 statements for a carer, 12 for a guardian
/// (whose cases are also looked up for documents never sent); 20 before they were folded.
const NO_OP_SYNC_STATEMENTS: u64 = 12;

#[tokio::test]
async fn a_no_op_sync_sends_at_most_twelve_statements_to_postgres() {
    let Some(admin) = cluster() else { return };
    let (h, _) = on_postgres(&admin).await;
    let mut guardian = h.person("guardian").await;
    let mut carer = h.person("carer").await;
    let team = h.new_team("West", &h.root_org).await;
    h.join(&team, &guardian.user_id).await;
    h.join(&team, &carer.user_id).await;
    for i in 0..3 {
        let case = new_case();
        guardian.write(doc(case, DocKind::Visits), "v", &format!("visit {i}"));
        guardian.write(doc(case, DocKind::Safety), "s", &format!("step {i}"));
    }
    h.sync_until_quiet(&mut guardian).await;
    h.sync_until_quiet(&mut carer).await;
    for device in [&mut carer, &mut guardian] {
        let before = h.state.db.postgres_statements().expect("on PostgreSQL");
        let cursor = device.cursor;
        let answer = h.sync_once(device).await;
        let spent = h.state.db.postgres_statements().expect("on PostgreSQL") - before;
        assert!(
            answer.snapshots.is_empty() && answer.messages.is_empty() && !answer.more,
            "a no-op sync"
        );
        assert_eq!(device.cursor, cursor);
        eprintln!("a no-op sync sent {spent} statements to PostgreSQL");
        assert!(
            spent <= NO_OP_SYNC_STATEMENTS,
            "a no-op sync sent {spent} statements (at most {NO_OP_SYNC_STATEMENTS})"
        );
    }
}

/// A `BEGIN` sent in one flight with its transaction's first statement still opens the
/// transaction before that statement runs: a read sees one snapshot from its first statement
/// on (a write committed between two of its statements is not seen), and a write that fails
/// leaves nothing behind.
#[tokio::test]
async fn a_pipelined_begin_still_gives_one_snapshot_and_rolls_back_a_failed_write() {
    use casebook_server::db::{meta_get, meta_set};
    let Some(admin) = cluster() else { return };
    let (h, _) = on_postgres(&admin).await;
    let db = h.state.db.clone();
    tokio::task::spawn_blocking(move || {
        casebook_server::sql::postgres::on_blocking_thread(|| {
            db.write_blocking(|tx| meta_set(tx, "pipelined_begin_probe", "1"))
                .expect("first write");
            let seen = db
                .read_blocking(|c| {
                    let first = meta_get(c, "pipelined_begin_probe")?;
                    db.write_blocking(|tx| meta_set(tx, "pipelined_begin_probe", "2"))?;
                    let second = meta_get(c, "pipelined_begin_probe")?;
                    Ok((first, second))
                })
                .expect("read");
            assert_eq!(
                seen,
                (Some("1".to_owned()), Some("1".to_owned())),
                "one snapshot for the whole read"
            );
            let failed = db.write_blocking(|tx| {
                meta_set(tx, "pipelined_begin_probe", "3")?;
                Err::<(), _>(casebook_server::error::Error::Conflict("made to fail"))
            });
            assert!(failed.is_err());
            let now = db
                .read_blocking(|c| meta_get(c, "pipelined_begin_probe"))
                .expect("read");
            assert_eq!(
                now.as_deref(),
                Some("2"),
                "the failed write was rolled back"
            );
        });
    })
    .await
    .expect("blocking task");
}

/// A device's first pull reads the documents it is offered 64 a statement (their saves and
/// its sync states, once to compute and once to commit) and audits their reads with the
/// chain's head read and written once: what is left a document is its audit row and its sync
/// state's write. 130 documents took 685 statements with only the reader batched (which had
/// saved two a document), 300 now.
#[tokio::test]
async fn a_first_pull_reads_its_documents_in_few_statements() {
    const DOCS: usize = 130;
    let Some(admin) = cluster() else { return };
    let name_dir = tempfile::tempdir().expect("tempdir");
    let url = casebook_server::create_test_database(&admin, name_dir.path())
        .await
        .expect("test database");
    let h = Harness::with_settings(Settings {
        database: Some(url),
        max_case_registrations_per_day: 1_000,
        ..Settings::default()
    })
    .await;
    let mut founder = h.person("supervisor").await;
    let team = h.new_team("North", &h.root_org).await;
    h.join(&team, &founder.user_id).await;
    for i in 0..DOCS {
        founder.write(doc(new_case(), DocKind::Visits), "v", &format!("visit {i}"));
    }
    h.sync_until_quiet(&mut founder).await;
    let mut fresh = h.person("supervisor").await;
    h.join(&team, &fresh.user_id).await;
    let before = h.state.db.postgres_statements().expect("on PostgreSQL");
    let first = h.sync_once(&mut fresh).await;
    let spent = h.state.db.postgres_statements().expect("on PostgreSQL") - before;
    assert_eq!(first.snapshots.len(), DOCS);
    eprintln!("a first pull of {DOCS} documents sent {spent} statements");
    let bound = 3 * u64::try_from(DOCS).expect("small");
    assert!(spent <= bound, "{spent} statements (at most {bound})");
}
