//! `cargo bench` figures for the console (issue 12), against the real server over TLS, one
//! JSON object per line: `{"bench": "<name>", "value": <number>, "unit": "<unit>"}`.
//!
//! `console.first_page_bytes`: what a signed-in administrator's browser downloads for the
//! home page, HTML + stylesheet + script, uncompressed (target under 100 KB).

use anyhow::{Result, bail};
use casebook_tests::console::Console;

fn emit(name: &str, value: f64, unit: &str) {
    println!(
        "{}",
        serde_json::json!({"bench": name, "value": value, "unit": unit})
    );
}

async fn run() -> Result<()> {
    let data = tempfile::tempdir()?;
    let server = casebook_server::start_for_tests(data.path()).await?;
    let admin = Console::enrol(&server, &server.admin_code, "bench browser").await?;
    let mut total = 0usize;
    for path in [
        "/console/",
        "/console/assets/console.css",
        "/console/assets/signin.js",
    ] {
        let resp = admin.get(path).await?;
        if !resp.status().is_success() {
            bail!("{path}: {}", resp.status());
        }
        total += resp.bytes().await?.len();
    }
    emit("console.first_page_bytes", total as f64, "bytes");
    server.shutdown().await?;
    Ok(())
}

fn main() -> Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(run())
}
