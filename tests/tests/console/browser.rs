//! Headless Chromium driven over WebDriver: a chromedriver started for the test on a free
//! port (stopped with every browser it started when dropped), browsers that trust only the test server's key (its SPKI pin),
//! and the few helpers the console's tests need (type, choose, click, wait, screenshot).

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use base64::Engine;
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

/// How long a wait for a page may take: generous, because CI runs eight browsers and the
/// server's builds on two cores, where a sign-in (a key made, a challenge signed) has taken
/// more than 10 s.
pub const PAGE_WAIT: Duration = Duration::from_secs(45);

/// A chromedriver process of this test, in a process group of its own with the browsers it
/// starts: dropping it kills the group, so a browser whose test failed or forgot to close it
/// does not outlive the test (two left per console run had piled up on CI's machine).
pub struct Driver {
    child: Child,
    url: String,
}

impl std::fmt::Debug for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver").field("url", &self.url).finish()
    }
}

impl Driver {
    /// Start `chromedriver` (installed by `scripts/install-deps.sh`) and wait until it answers.
    pub async fn start() -> Result<Self> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context(
                "chromedriver not found: run scripts/install-deps.sh (chromium, chromium-driver)",
            )?;
        let driver = Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = std::time::Instant::now() + PAGE_WAIT;
        while std::time::Instant::now() < deadline {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Ok(driver);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("chromedriver did not start listening")
    }

    /// A new browser (its own fresh profile: no keys, no cookies) trusting only the server
    /// whose SPKI SHA-256 is `pin_hex`.
    pub async fn browser(&self, pin_hex: &str) -> Result<Browser> {
        let spki = base64::engine::general_purpose::STANDARD.encode(hex::decode(pin_hex)?);
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-dev-shm-usage",
                    "--disable-gpu",
                    "--window-size=1280,1000",
                    format!("--ignore-certificate-errors-spki-list={spki}"),
                ],
            }),
        );
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .context("a Chromium session")?;
        Ok(Browser { client })
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The group's id is chromedriver's pid (`process_group(0)`).
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One browser window.
#[derive(Debug)]
pub struct Browser {
    /// The WebDriver client.
    pub client: Client,
}

/// Where screenshots go: `$CARGO_TARGET_DIR/test-output/console/`.
pub fn output_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            // target/debug/deps/console-xxxx → target
            std::env::current_exe()
                .ok()
                .and_then(|p| Some(p.parent()?.parent()?.parent()?.to_owned()))
        })
        .unwrap_or_else(|| PathBuf::from("target"));
    target.join("test-output").join("console")
}

impl Browser {
    /// Open `url`.
    pub async fn goto(&self, url: &str) -> Result<()> {
        self.client.goto(url).await?;
        Ok(())
    }

    /// The element matching `css`, waiting up to 10 s for it.
    pub async fn find(&self, css: &str) -> Result<Element> {
        self.client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
            .with_context(|| format!("element {css}"))
    }

    /// Replace the text of the field `css` with `text`.
    pub async fn fill(&self, css: &str, text: &str) -> Result<()> {
        let e = self.find(css).await?;
        e.clear().await?;
        e.send_keys(text).await?;
        Ok(())
    }

    /// Choose the option of value `value` in the select `css`.
    pub async fn choose(&self, css: &str, value: &str) -> Result<()> {
        self.find(css).await?.select_by_value(value).await?;
        Ok(())
    }

    /// Click `css` once it is shown (a form's button submits it and waits for the next page).
    pub async fn click(&self, css: &str) -> Result<()> {
        let e = self.find(css).await?;
        let deadline = std::time::Instant::now() + PAGE_WAIT;
        while std::time::Instant::now() < deadline {
            if e.is_displayed().await? {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        e.click().await?;
        Ok(())
    }

    /// Click the submit button `css` and wait until the next page has loaded (even when it
    /// is the same address again).
    pub async fn submit(&self, css: &str) -> Result<()> {
        self.client
            .execute("window.casebookOldPage = true;", vec![])
            .await?;
        self.click(css).await?;
        let deadline = std::time::Instant::now() + PAGE_WAIT;
        while std::time::Instant::now() < deadline {
            let fresh = self
                .client
                .execute(
                    "return window.casebookOldPage === undefined && document.readyState === 'complete';",
                    vec![],
                )
                .await
                .map(|v| v.as_bool() == Some(true))
                .unwrap_or(false);
            if fresh {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("no new page after clicking {css}")
    }

    /// The text of `css`.
    pub async fn text(&self, css: &str) -> Result<String> {
        Ok(self.find(css).await?.text().await?)
    }

    /// The page's visible text.
    pub async fn page_text(&self) -> Result<String> {
        self.text("body").await
    }

    /// The current path (and query).
    pub async fn path(&self) -> Result<String> {
        let url = self.client.current_url().await?;
        Ok(match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        })
    }

    /// Wait until the path starts with `prefix` (up to [`PAGE_WAIT`]).
    pub async fn wait_path(&self, prefix: &str) -> Result<String> {
        let deadline = std::time::Instant::now() + PAGE_WAIT;
        while std::time::Instant::now() < deadline {
            let path = self.path().await?;
            if path.starts_with(prefix) {
                return Ok(path);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("still at {} instead of {prefix}", self.path().await?)
    }

    /// Wait until the page's text contains `needle` (up to [`PAGE_WAIT`]).
    pub async fn wait_text(&self, needle: &str) -> Result<()> {
        let deadline = std::time::Instant::now() + PAGE_WAIT;
        while std::time::Instant::now() < deadline {
            if self.page_text().await.unwrap_or_default().contains(needle) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!(
            "the page never said {needle:?}: {}",
            self.page_text().await?
        )
    }

    /// Save a PNG of the whole page (the window stretched to its height) as `name.png`.
    pub async fn screenshot(&self, name: &str) -> Result<PathBuf> {
        self.screenshot_at(name, 1280).await
    }

    /// At a window `width` px wide (768: a tablet held upright), whether the page fits
    /// without scrolling sideways, and a PNG of it as `name.png`.
    pub async fn fits_at(&self, name: &str, width: u32) -> Result<bool> {
        self.client.set_window_size(width, 1000).await?;
        let fits = self
            .client
            .execute(
                "return document.documentElement.scrollWidth <= window.innerWidth;",
                vec![],
            )
            .await?
            .as_bool()
            .unwrap_or(false);
        self.screenshot_at(name, width).await?;
        Ok(fits)
    }

    async fn screenshot_at(&self, name: &str, width: u32) -> Result<PathBuf> {
        let height = self
            .client
            .execute("return document.documentElement.scrollHeight;", vec![])
            .await?
            .as_u64()
            .unwrap_or(1000)
            .clamp(600, 4000);
        self.client
            .set_window_size(width, u32::try_from(height).unwrap_or(1000) + 140)
            .await?;
        let png = self.client.screenshot().await?;
        self.client.set_window_size(1280, 1000).await?;
        let dir = output_dir();
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png)?;
        Ok(path)
    }

    /// Close the browser.
    pub async fn close(self) -> Result<()> {
        self.client.close().await?;
        Ok(())
    }
}
