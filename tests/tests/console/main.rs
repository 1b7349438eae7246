//! The console in a real browser: headless Chromium (Debian's `chromium` and
//! `chromium-driver`) driven over WebDriver against the real server over TLS. An administrator
//! signs in with the printed code and sets up a team, a case and phones; attacks (a guardian's
//! session on the administrator pages, a form without its CSRF token, a replayed challenge, a
//! revoked browser) are refused; a CSV import, a case transfer, a disabled person and the
//! lists' paging are checked. Screenshots of the main pages are saved to
//! `$CARGO_TARGET_DIR/test-output/console/`.

mod admin;
mod attacks;
mod browser;
mod lists;
mod reports;
mod story;
mod supervision;

use anyhow::{Result, bail};
use browser::Browser;
use casebook_server::TestServer;

/// Enrol this browser with `code` on the sign-in page and wait for the console's home.
pub async fn enrol_browser(b: &Browser, server: &TestServer, code: &str, name: &str) -> Result<()> {
    b.goto(&format!("{}/console/", server.base_url())).await?;
    b.wait_path("/console/signin").await?;
    b.fill("#code", code).await?;
    b.fill("#device-name", name).await?;
    b.click("#enrol").await?;
    let deadline = std::time::Instant::now() + browser::PAGE_WAIT;
    while std::time::Instant::now() < deadline {
        if b.path().await? == "/console/" {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    bail!("not signed in: {}", b.page_text().await?)
}

/// The last path segment of the current URL (the id of what a form just created).
pub async fn created_id(b: &Browser, prefix: &str) -> Result<String> {
    let path = b.wait_path(prefix).await?;
    let id = path
        .trim_start_matches(prefix)
        .split(['?', '/'])
        .next()
        .unwrap_or_default()
        .to_owned();
    if id.is_empty() {
        bail!("no id in {path}");
    }
    Ok(id)
}

/// How many rows `sql` counts in the server's database.
pub async fn count(server: &TestServer, sql: &'static str) -> Result<i64> {
    Ok(server
        .state
        .db
        .read(move |c| Ok(c.query_row(sql, [], |r| r.get::<_, i64>(0))?))
        .await?)
}
