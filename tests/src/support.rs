//! A harness around the real `casebook-server` (started on `127.0.0.1:0` with real TLS) and
//! real devices (the core's repository on an encrypted SQLCipher store, its TLS client and
//! sync driver). Devices can also sync by hand, keeping the raw bytes they received.

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result, bail};
use casebook_core::client::{
    self, DeviceIdentity, ServerTrust, SyncOutcome, Transport, client_config,
};
use casebook_core::doc::{DocId, Edit};
use casebook_core::repo::Repo;
use casebook_core::store::{MemorySecurity, SqliteStore, StoreKey};
use casebook_core::sync::wire::SyncResponse;
use casebook_core::sync::{SyncProgress, SyncReport, SyncStep};
use casebook_server::TestServer;
use chrono::Utc;
use rand::RngCore;
use serde_json::{Value, json};

/// A running server, its data, and an enrolled administrator.
pub struct Harness {
    /// The server.
    pub server: TestServer,
    /// Where devices keep their stores.
    pub devices_dir: tempfile::TempDir,
    /// The server's data directory (kept alive for the test's duration).
    pub data_dir: tempfile::TempDir,
    /// The administrator.
    pub admin: Admin,
}

impl std::fmt::Debug for Harness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Harness")
            .field("addr", &self.server.addr)
            .finish_non_exhaustive()
    }
}

/// The trust a device puts in this server: its pinned certificate.
pub fn pin(server: &TestServer) -> ServerTrust {
    ServerTrust::Pin(server.cert_fingerprint.clone())
}

fn http(trust: &ServerTrust) -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .use_preconfigured_tls(client_config(trust)?)
        .build()?)
}

impl Harness {
    /// Start a server and enrol its first administrator, who creates an organisation.
    pub async fn start() -> Result<Self> {
        Self::start_with(casebook_server::Settings::default()).await
    }

    /// [`Harness::start`] with chosen server settings.
    pub async fn start_with(settings: casebook_server::Settings) -> Result<Self> {
        Self::start_with_clock(settings, casebook_server::Clock::System).await
    }

    /// [`Harness::start`] with chosen server settings and clock (a manual clock lets a test
    /// move the server's time on; the devices keep the system clock).
    pub async fn start_with_clock(
        settings: casebook_server::Settings,
        clock: casebook_server::Clock,
    ) -> Result<Self> {
        let data_dir = tempfile::tempdir()?;
        let server =
            casebook_server::start_for_tests_with(data_dir.path(), clock, settings).await?;
        let devices_dir = tempfile::tempdir()?;
        let admin_device = Device::enrol_at(
            &server,
            devices_dir.path().join("admin.db"),
            &server.admin_code.clone(),
            "admin laptop",
        )
        .await?;
        let admin = Admin::new(&server, &admin_device).await?;
        let mut harness = Harness {
            server,
            devices_dir,
            data_dir,
            admin,
        };
        let org = harness
            .admin
            .post(
                "/v1/admin/orgs",
                json!({"name": "Hull City Council", "authorities": []}),
            )
            .await?;
        harness.admin.org = id_of(&org)?;
        Ok(harness)
    }

    /// Create a user of `role` and enrol a device for them.
    pub async fn person(&self, name: &str, role: &str) -> Result<(String, Device)> {
        let user = self.admin.user(name, role).await?;
        let code = self.admin.code(&user).await?;
        let device = Device::enrol_at(
            &self.server,
            self.devices_dir.path().join(format!("{name}.db")),
            &code,
            name,
        )
        .await?;
        Ok((user, device))
    }
}

fn id_of(value: &Value) -> Result<String> {
    value["id"]
        .as_str()
        .map(str::to_owned)
        .context("answer has no id")
}

/// An administrator's HTTP client (session token from an enrolled device).
#[derive(Debug)]
pub struct Admin {
    http: reqwest::Client,
    base: String,
    token: String,
    /// The organisation the tests work in.
    pub org: String,
}

impl Admin {
    async fn new(server: &TestServer, device: &Device) -> Result<Self> {
        Self::connect(&server.base_url(), &pin(server), device).await
    }

    /// An administrator's client for the server at `base` through an enrolled `device`.
    pub async fn connect(base: &str, trust: &ServerTrust, device: &Device) -> Result<Self> {
        let transport = Transport::new(base, trust)?;
        let mut traffic = Default::default();
        let session = transport
            .open_session(
                device.identity.device_id,
                |c| device.identity.sign_challenge(c),
                &mut traffic,
            )
            .await?;
        Ok(Self {
            http: http(trust)?,
            base: base.to_owned(),
            token: session.token,
            org: String::new(),
        })
    }

    /// The administrator's session token (for the server's library functions, which take a
    /// [`casebook_server::auth::Caller`]).
    pub fn token(&self) -> &str {
        &self.token
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status();
        let text = response.text().await?;
        if !status.is_success() {
            bail!("{path}: HTTP {status}: {text}");
        }
        Ok(if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)?
        })
    }

    /// Create an organisation and work in it from now on.
    pub async fn create_org(&mut self, name: &str) -> Result<String> {
        let org = self
            .post("/v1/admin/orgs", json!({"name": name, "authorities": []}))
            .await?;
        self.org = id_of(&org)?;
        Ok(self.org.clone())
    }

    /// POST JSON.
    pub async fn post(&self, path: &str, body: Value) -> Result<Value> {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    /// PUT JSON.
    pub async fn put(&self, path: &str, body: Value) -> Result<Value> {
        self.send(reqwest::Method::PUT, path, Some(body)).await
    }

    /// GET.
    pub async fn get(&self, path: &str) -> Result<Value> {
        self.send(reqwest::Method::GET, path, None).await
    }

    /// DELETE.
    pub async fn delete(&self, path: &str) -> Result<Value> {
        self.send(reqwest::Method::DELETE, path, None).await
    }

    /// Create a user in the test organisation.
    pub async fn user(&self, name: &str, role: &str) -> Result<String> {
        id_of(
            &self
                .post(
                    "/v1/admin/users",
                    json!({"name": name, "role": role, "org_id": self.org}),
                )
                .await?,
        )
    }

    /// Issue a one-time enrolment code.
    pub async fn code(&self, user: &str) -> Result<String> {
        let issued = self
            .post(&format!("/v1/admin/users/{user}/enrolment-code"), json!({}))
            .await?;
        issued["code"]
            .as_str()
            .map(str::to_owned)
            .context("no code")
    }

    /// Create a team with these members.
    pub async fn team(&self, name: &str, members: &[&str]) -> Result<String> {
        let team = id_of(
            &self
                .post("/v1/admin/teams", json!({"name": name, "org_id": self.org}))
                .await?,
        )?;
        for member in members {
            self.post(
                &format!("/v1/admin/teams/{team}/members"),
                json!({"user_id": member}),
            )
            .await?;
        }
        Ok(team)
    }

    /// Put a case in a team.
    pub async fn set_team(&self, case: &str, team: &str) -> Result<()> {
        self.put(
            &format!("/v1/admin/cases/{case}/team"),
            json!({"team_id": team}),
        )
        .await?;
        Ok(())
    }

    /// Assign a guardian or social worker.
    pub async fn assign(&self, case: &str, user: &str) -> Result<()> {
        self.post(
            &format!("/v1/admin/cases/{case}/assignments"),
            json!({"user_id": user}),
        )
        .await?;
        Ok(())
    }

    /// End an assignment.
    pub async fn unassign(&self, case: &str, user: &str) -> Result<()> {
        self.delete(&format!("/v1/admin/cases/{case}/assignments/{user}"))
            .await?;
        Ok(())
    }

    /// Link a carer to the child's placement.
    pub async fn link_carer(&self, case: &str, carer: &str) -> Result<()> {
        self.post(
            &format!("/v1/admin/cases/{case}/placements"),
            json!({"user_id": carer}),
        )
        .await?;
        Ok(())
    }

    /// End a carer's link.
    pub async fn unlink_carer(&self, case: &str, carer: &str) -> Result<()> {
        self.delete(&format!("/v1/admin/cases/{case}/placements/{carer}"))
            .await?;
        Ok(())
    }

    /// Revoke a device.
    pub async fn revoke(&self, device: &str) -> Result<()> {
        self.post(&format!("/v1/admin/devices/{device}/revoke"), json!({}))
            .await?;
        Ok(())
    }

    /// The audit log for a case, as rows.
    pub async fn audit_for_case(&self, case: &str) -> Result<Vec<Value>> {
        let value = self.get(&format!("/v1/admin/audit?case={case}")).await?;
        Ok(value.as_array().cloned().unwrap_or_default())
    }
}

/// A phone: the real core on an encrypted store, enrolled with the server.
pub struct Device {
    /// The repository (as the bindings hold it).
    pub repo: Mutex<Repo>,
    /// Its enrolled identity.
    pub identity: DeviceIdentity,
    /// Where its store lives.
    pub path: PathBuf,
    key: [u8; 32],
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device")
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

/// What a hand-driven sync received, byte for byte.
#[derive(Debug, Default)]
pub struct Received {
    /// Raw response bodies.
    pub raw: Vec<Vec<u8>>,
    /// Parsed responses.
    pub responses: Vec<SyncResponse>,
    /// The session's report.
    pub report: SyncReport,
}

/// Whether the devices of this process open their stores as a phone does, with SQLCipher's
/// memory security on (the default), or leave it off ([`devices_leave_memory_security_off`]).
static DEVICE_MEMORY_SECURITY: std::sync::OnceLock<MemorySecurity> = std::sync::OnceLock::new();

fn device_memory_security() -> MemorySecurity {
    *DEVICE_MEMORY_SECURITY.get_or_init(|| MemorySecurity::On)
}

/// Open every device store of this process without turning on SQLCipher's memory security:
/// for a bench that measures the server, whose own process never has it on (it is
/// process-wide, and a device here would turn it on under the server's connections too).
/// Call before any device is enrolled; `false` if a store was already opened the other way.
pub fn devices_leave_memory_security_off() -> bool {
    *DEVICE_MEMORY_SECURITY.get_or_init(|| MemorySecurity::Unchanged) == MemorySecurity::Unchanged
}

impl Device {
    /// Enrol a new device with `code`, its store at `path` under a random key.
    pub async fn enrol_at(
        server: &TestServer,
        path: PathBuf,
        code: &str,
        name: &str,
    ) -> Result<Self> {
        Self::enrol(&server.base_url(), pin(server), path, code, name).await
    }

    /// Enrol a new device with the server at `base_url`.
    pub async fn enrol(
        base_url: &str,
        trust: ServerTrust,
        path: PathBuf,
        code: &str,
        name: &str,
    ) -> Result<Self> {
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        let repo = Mutex::new(Repo::new(SqliteStore::open_with(
            &path,
            StoreKey::from_bytes(&key)?,
            device_memory_security(),
        )?));
        let identity = client::enrol(
            &repo,
            base_url,
            trust,
            code,
            name,
            &mut rand::rngs::OsRng,
            Utc::now().into(),
        )
        .await?;
        Ok(Self {
            repo,
            identity,
            path,
            key,
        })
    }

    /// Run the core's sync driver.
    pub async fn sync(&self) -> casebook_core::Result<SyncOutcome> {
        self.sync_with(&|_| {}, &AtomicBool::new(false)).await
    }

    /// Run the core's sync driver with a progress callback and a cancel flag.
    pub async fn sync_with(
        &self,
        progress: &(dyn Fn(SyncProgress) + Sync),
        cancel: &AtomicBool,
    ) -> casebook_core::Result<SyncOutcome> {
        client::sync_now(
            &self.repo,
            &self.identity,
            &|| Utc::now().into(),
            progress,
            cancel,
        )
        .await
    }

    /// A fresh session of this device: an HTTP client over the pinned TLS and the session's
    /// bearer token, for tests that send requests by hand.
    pub async fn session(&self) -> Result<(reqwest::Client, String)> {
        let trust = &self.identity.trust;
        let token = Transport::new(&self.identity.server_url, trust)?
            .open_session(
                self.identity.device_id,
                |c| self.identity.sign_challenge(c),
                &mut Default::default(),
            )
            .await?
            .token;
        Ok((http(trust)?, token))
    }

    /// Sync by hand through the core's session state machine, keeping every byte received.
    pub async fn sync_capturing(&self) -> Result<Received> {
        let trust = self.identity.trust.clone();
        let transport = Transport::new(&self.identity.server_url, &trust)?;
        let mut traffic = Default::default();
        let token = transport
            .open_session(
                self.identity.device_id,
                |c| self.identity.sign_challenge(c),
                &mut traffic,
            )
            .await?
            .token;
        let http = http(&trust)?;
        let (mut session, mut request) = self.lock().start_sync(&self.identity.server_id)?;
        let mut received = Received::default();
        loop {
            let response = http
                .post(format!("{}/v1/sync", self.identity.server_url))
                .bearer_auth(&token)
                .json(&request)
                .send()
                .await?;
            let status = response.status();
            let bytes = response.bytes().await?.to_vec();
            if !status.is_success() {
                bail!("sync: HTTP {status}: {}", String::from_utf8_lossy(&bytes));
            }
            let parsed: SyncResponse = serde_json::from_slice(&bytes)?;
            received.raw.push(bytes);
            received.responses.push(parsed.clone());
            match self.lock().receive_sync(&mut session, parsed, Utc::now())? {
                SyncStep::Send(next) => request = next,
                SyncStep::Done(report) => {
                    received.report = report;
                    return Ok(received);
                }
            }
        }
    }

    /// The repository, locked.
    pub fn lock(&self) -> std::sync::MutexGuard<'_, Repo> {
        self.repo
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// An edit by this device's user, now.
    pub fn edit(&self) -> Edit {
        Edit::new(self.identity.author(), Utc::now())
    }

    /// Point this device at the server's new address (after a restart on another port).
    pub fn moved_to(&mut self, base_url: &str) {
        self.identity.server_url = base_url.to_owned();
    }

    /// Edit a document and persist it.
    pub fn change<R>(
        &self,
        doc: DocId,
        f: impl FnOnce(&mut casebook_core::doc::CaseDoc, &Edit) -> casebook_core::Result<R>,
    ) -> casebook_core::Result<R> {
        let edit = self.edit();
        self.lock().edit(doc, edit.at, |d| f(d, &edit))
    }

    /// The key of this device's store (to open it from another process).
    pub fn store_key(&self) -> [u8; 32] {
        self.key
    }

    /// Open an enrolled device's store at `path` with `key` (as after an app restart, or in
    /// another process), its identity read from the store.
    pub fn open_at(path: PathBuf, key: [u8; 32]) -> Result<Self> {
        let repo = Repo::new(SqliteStore::open_with(
            &path,
            StoreKey::from_bytes(&key)?,
            device_memory_security(),
        )?);
        let identity = DeviceIdentity::load(repo.store())?.context("the store is not enrolled")?;
        Ok(Self {
            repo: Mutex::new(repo),
            identity,
            path,
            key,
        })
    }

    /// Reopen this device's store from disk (as after an app restart).
    pub fn reopen(&self) -> Result<Repo> {
        Ok(Repo::new(SqliteStore::open_with(
            &self.path,
            StoreKey::from_bytes(&self.key)?,
            device_memory_security(),
        )?))
    }
}

/// Every audit row of `server`, oldest first, with its detail opened (sealed on PostgreSQL:
/// read through the server, never with raw SQL).
pub async fn audit_rows(server: &TestServer) -> Result<Vec<casebook_server::audit::Row>> {
    Ok(server.state.db.read(casebook_server::audit::all).await?)
}

/// Whether `server` runs on SQLite. A test that reads the SQLite file itself (its encryption,
/// its locks) calls this and stops, saying so, on PostgreSQL, where the server's own suite
/// checks the same property its way (`server/tests/integration/postgres.rs`: no case content
/// in `pg_dump` or the cluster's files).
pub fn on_sqlite(server: &TestServer, test: &str) -> bool {
    let sqlite = server.state.db.sqlite_path().is_some();
    if !sqlite {
        eprintln!("{test}: reads the SQLite file itself; not run on PostgreSQL");
    }
    sqlite
}
