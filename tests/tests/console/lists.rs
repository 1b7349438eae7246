//! Every administrator list pages (50 rows a page) and searches: users, teams, cases, a
//! person's devices and a case's audit trail, each with more than one page of rows. The rows
//! are written straight into the server's tables (their number is what is tested, not how
//! they were made); the pages are read through the console as a signed-in browser reads them.
//! A non-root administrator's transfer is refused and audited.

use anyhow::{Context, Result};
use casebook_core::ids::CaseId;
use casebook_server::TestServer;
use casebook_server::audit::{self, Event};
use casebook_tests::console::Console;
use reqwest::StatusCode;

use super::count;

/// The HTML of `path`, which must answer 200.
async fn page(console: &Console, path: &str) -> Result<String> {
    let resp = console.get(path).await?;
    assert_eq!(resp.status(), StatusCode::OK, "{path}");
    Ok(resp.text().await?)
}

/// (rows shown, a previous page linked, a next page linked), rows counted by `row_marker`.
fn shown(html: &str, row_marker: &str, prev: &str, next: &str) -> (usize, bool, bool) {
    let body = html.split("<tbody>").nth(1).unwrap_or_default();
    let body = body.split("</tbody>").next().unwrap_or_default();
    (
        body.matches(row_marker).count(),
        html.contains(&format!(">{prev}</a>")),
        html.contains(&format!(">{next}</a>")),
    )
}

fn hex_id(prefix: u32, i: u32) -> String {
    format!("{prefix:08x}{i:024x}")
}

/// Fill the directory of `org` with 120 users ("Person 000"…), 55 teams, 60 cases, 55 devices
/// of the first user and 60 audit rows about the first case; returns (first user, first case).
async fn fill(server: &TestServer, org: String) -> Result<(String, String)> {
    let cases: Vec<String> = (0..60)
        .map(|_| CaseId::random(&mut rand::rngs::OsRng).to_string())
        .collect();
    let first_case = cases[0].clone();
    server
        .state
        .db
        .write(move |tx| {
            for i in 0..120 {
                tx.execute(
                    "INSERT INTO users (id, org_id, name, role, created_at)
                     VALUES (?1, ?2, ?3, 'guardian', 0)",
                    casebook_server::params![hex_id(1, i), org, format!("Person {i:03}")],
                )?;
            }
            for i in 0..55 {
                tx.execute(
                    "INSERT INTO teams (id, org_id, name) VALUES (?1, ?2, ?3)",
                    casebook_server::params![hex_id(2, i), org, format!("Team {i:03}")],
                )?;
                tx.execute(
                    "INSERT INTO devices (id, user_id, name, public_key, enrolled_at)
                     VALUES (?1, ?2, ?3, ?5, ?4)",
                    casebook_server::params![
                        hex_id(3, i),
                        hex_id(1, 0),
                        format!("Phone {i}"),
                        i,
                        vec![0u8]
                    ],
                )?;
            }
            for (i, case) in cases.iter().enumerate() {
                tx.execute(
                    "INSERT INTO cases (id, org_id, created_at) VALUES (?1, ?2, ?3)",
                    casebook_server::params![case, org, i64::try_from(i).unwrap_or(0)],
                )?;
            }
            for i in 0..60 {
                let ev = Event {
                    event: "read",
                    case_id: Some(cases[0].clone()),
                    detail: serde_json::json!({ "n": i }),
                    ..Event::default()
                };
                audit::append(tx, i, ev)?;
            }
            Ok(())
        })
        .await?;
    Ok((hex_id(1, 0), first_case))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_administrator_list_pages_and_searches_beyond_one_page() -> Result<()> {
    let data = tempfile::tempdir()?;
    let server = casebook_server::start_for_tests(data.path()).await?;
    let admin = Console::enrol(&server, &server.admin_code, "Admin browser").await?;
    let root: String = server
        .state
        .db
        .read(|c| Ok(c.query_row("SELECT id FROM orgs WHERE is_root = 1", [], |r| r.get(0))?))
        .await?;
    let (person, case) = fill(&server, root.clone()).await?;
    let users = count(&server, "SELECT COUNT(*) FROM users").await?;
    assert_eq!(users, 121, "120 people and the administrator");

    // Users: 50, 50, 21; a search narrows to its matches.
    let user_row = "<tr><td><a href=\"/console/users/";
    let pages = [
        (0, (50, false, true)),
        (1, (50, true, true)),
        (2, (21, true, false)),
    ];
    for (n, expected) in pages {
        let html = page(&admin, &format!("/console/users?page={n}")).await?;
        assert_eq!(
            shown(&html, user_row, "Previous page", "Next page"),
            expected,
            "users page {n}"
        );
    }
    let html = page(&admin, "/console/users?q=Person+11").await?;
    assert_eq!(
        shown(&html, user_row, "Previous page", "Next page"),
        (10, false, false)
    );
    assert!(html.contains("Person 119") && !html.contains("Person 120"));
    let html = page(&admin, "/console/users?q=Person+0&page=1").await?;
    assert_eq!(
        shown(&html, user_row, "Previous page", "Next page"),
        (50, true, false),
        "100 people match Person 0: two full pages"
    );

    // Teams: 50, 5.
    let team_row = "<tr><td><a href=\"/console/teams/";
    let html = page(&admin, "/console/teams").await?;
    assert_eq!(
        shown(&html, team_row, "Previous page", "Next page"),
        (50, false, true)
    );
    let html = page(&admin, "/console/teams?page=1").await?;
    assert_eq!(
        shown(&html, team_row, "Previous page", "Next page"),
        (5, true, false)
    );
    let html = page(&admin, "/console/teams?q=Team+05").await?;
    assert_eq!(
        shown(&html, team_row, "Previous page", "Next page"),
        (5, false, false)
    );

    // Cases: 50, 10, newest first; searched by id.
    let case_row = "<tr><td><a href=\"/console/cases/";
    let html = page(&admin, "/console/cases").await?;
    assert_eq!(
        shown(&html, case_row, "Previous page", "Next page"),
        (50, false, true)
    );
    assert!(
        !html.contains(&case),
        "the oldest case is not on the first page"
    );
    let html = page(&admin, "/console/cases?page=1").await?;
    assert_eq!(
        shown(&html, case_row, "Previous page", "Next page"),
        (10, true, false)
    );
    assert!(html.contains(&case));
    let html = page(&admin, &format!("/console/cases?q={case}")).await?;
    assert_eq!(
        shown(&html, case_row, "Previous page", "Next page"),
        (1, false, false)
    );

    // A person's devices: 50, 5.
    let device_row = "action=\"/console/devices/";
    let html = page(&admin, &format!("/console/users/{person}")).await?;
    assert_eq!(
        shown(&html, device_row, "Previous page", "Next page"),
        (50, false, true)
    );
    assert!(html.contains("Phone 54") && !html.contains("Phone 4<"));
    let html = page(&admin, &format!("/console/users/{person}?page=1")).await?;
    assert_eq!(
        shown(&html, device_row, "Previous page", "Next page"),
        (5, true, false)
    );
    assert!(html.contains("Phone 0<"));

    // A case's audit trail: 50, 10, newest first.
    let audit_row = "</code></td></tr>";
    let html = page(&admin, &format!("/console/audit?case={case}")).await?;
    assert_eq!(shown(&html, audit_row, "Newer", "Older"), (50, false, true));
    assert!(
        html.contains(":59}") && !html.contains(":9}"),
        "newest first"
    );
    let html = page(&admin, &format!("/console/audit?case={case}&page=1")).await?;
    assert_eq!(shown(&html, audit_row, "Newer", "Older"), (10, true, false));

    // An administrator of another organisation may not transfer cases: 403, audited.
    let csrf = admin.csrf().await?;
    let resp = admin
        .post(
            "/console/orgs",
            &[("csrf", &csrf), ("name", "Leeds City Council")],
        )
        .await?;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let leeds: String = server
        .state
        .db
        .read(|c| {
            Ok(c.query_row(
                "SELECT id FROM orgs WHERE name = 'Leeds City Council'",
                [],
                |r| r.get(0),
            )?)
        })
        .await?;
    let local_admin = admin.new_user("Lee Admin", "administrator", &leeds).await?;
    let code = admin.code(&local_admin).await?;
    let local = Console::enrol(&server, &code, "Leeds browser").await?;
    let registered = local
        .post(
            "/console/cases",
            &[("csrf", &local.csrf().await?), ("org_id", &leeds)],
        )
        .await?;
    let leeds_case = registered
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .context("the new case")?
        .trim_start_matches("/console/cases/")
        .to_owned();
    let denied_before = count(
        &server,
        "SELECT COUNT(*) FROM audit WHERE event = 'console_denied'",
    )
    .await?;
    let resp = local
        .get(&format!("/console/cases/{leeds_case}/transfer"))
        .await?;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let resp = local
        .post(
            &format!("/console/cases/{leeds_case}/transfer"),
            &[
                ("csrf", &local.csrf().await?),
                ("org_id", &root),
                ("confirm", "yes"),
            ],
        )
        .await?;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        count(
            &server,
            "SELECT COUNT(*) FROM audit WHERE event = 'console_denied'"
        )
        .await?,
        denied_before + 2
    );
    assert_eq!(
        count(
            &server,
            "SELECT COUNT(*) FROM cases c JOIN orgs o ON o.id = c.org_id
             WHERE o.name = 'Leeds City Council'"
        )
        .await?,
        1,
        "the case stayed in Leeds"
    );

    server.shutdown().await?;
    Ok(())
}
