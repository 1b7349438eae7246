//! An in-process harness: the real router over a temporary data directory with a manual
//! clock, devices with real P-256 keys, and automerge peers on the device side.

use automerge::AutoCommit;
use automerge::sync::{Message, State, SyncDoc};
use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use base64::Engine;
use casebook_core::doc::{Author, CaseDoc, Edit};
use casebook_core::doc::{DocId, DocKind};
use casebook_core::ids::{CaseId, DeviceId, EntryId};
use casebook_core::model::{
    PersonOfConcern, Placement, Profile, SafetyCheck, VisitNote, new_case as new_case_docs,
};
use casebook_core::sync::wire::{
    ChallengeResponse, DocMessage, EnrolResponse, ErrorBody, PROTOCOL_VERSION, SessionResponse,
    SyncRequest, SyncResponse, session_signing_payload,
};
use casebook_server::{AppState, Clock, Settings, open_data_dir, router};
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::collections::HashMap;
use tower::ServiceExt;

pub const START: i64 = 1_750_000_000;

pub struct Harness {
    pub app: Router,
    pub state: AppState,
    pub clock: Clock,
    pub admin: Device,
    pub admin_code_used: String,
    pub root_org: String,
    _dir: tempfile::TempDir,
}

pub struct Device {
    pub id: DeviceId,
    pub user_id: String,
    pub key: SigningKey,
    pub token: String,
    pub docs: HashMap<DocId, (AutoCommit, State)>,
    pub cursor: u64,
    /// The store epoch the server last told this device.
    pub epoch: Option<String>,
}

pub struct Reply {
    pub status: StatusCode,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json<T: DeserializeOwned>(&self) -> T {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {} body {:?}: {e}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn error(&self) -> String {
        self.json::<ErrorBody>().error
    }
}

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

impl Harness {
    pub async fn new() -> Self {
        Self::with_settings(Settings::default()).await
    }

    /// A harness on `settings`; on PostgreSQL when `CASEBOOK_TEST_POSTGRES` names a cluster
    /// (`scripts/pg-cluster.sh`), as `scripts/test-all.sh` runs this suite a second time.
    pub async fn with_settings(mut settings: Settings) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        if settings.database.is_none() {
            settings.database = casebook_server::test_postgres_url(dir.path())
                .await
                .expect("test database");
        }
        Self::open(dir, settings).await
    }

    async fn open(dir: tempfile::TempDir, settings: Settings) -> Self {
        let clock = Clock::manual(START);
        let opened = open_data_dir(dir.path(), clock.clone(), settings).expect("open");
        let code = opened.first_admin_code.expect("first start gives a code");
        let state = opened.state;
        let app = router(state.clone());
        let mut h = Harness {
            app,
            state,
            clock,
            admin: Device::placeholder(),
            admin_code_used: code.clone(),
            root_org: String::new(),
            _dir: dir,
        };
        h.admin = h.enrol_device(&code).await;
        h.root_org = h
            .state
            .db
            .read(|c| Ok(c.query_row("SELECT id FROM orgs WHERE is_root = 1", [], |r| r.get(0))?))
            .await
            .expect("root org");
        h
    }

    /// A second server instance on this harness's PostgreSQL database (its own data
    /// directory, pool and router; the same key file), sharing its clock; its `admin` is the
    /// same device and session.
    pub fn second_instance(&self) -> Harness {
        let database = self.state.settings.database.clone();
        self.instance_on(database.expect("a second instance needs PostgreSQL"))
    }

    /// A harness on the embedded SQLite database, whatever `CASEBOOK_TEST_POSTGRES` says.
    pub async fn on_sqlite() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        Self::open(dir, Settings::default()).await
    }

    /// The key file of this harness's data directory.
    pub fn key_file(&self) -> std::path::PathBuf {
        self._dir.path().join("db.key")
    }

    /// An instance on the PostgreSQL `database` that already holds this deployment's data
    /// (a second instance, or the target of a migration), with this harness's key file.
    pub fn instance_on(&self, database: String) -> Harness {
        self.instance_with(Settings {
            database: Some(database),
            ..Settings::default()
        })
    }

    /// An instance on `settings.database` (as [`Harness::instance_on`]), with `settings`
    /// otherwise and this harness's key file.
    pub fn instance_with(&self, settings: Settings) -> Harness {
        let dir = tempfile::tempdir().expect("tempdir");
        let settings = Settings {
            db_key_file: Some(self.key_file()),
            ..settings
        };
        let opened = open_data_dir(dir.path(), self.clock.clone(), settings).expect("open");
        assert!(
            opened.first_admin_code.is_none(),
            "the database is already set up"
        );
        let state = opened.state;
        let mut admin = Device::placeholder();
        admin.id = self.admin.id;
        admin.user_id = self.admin.user_id.clone();
        admin.token = self.admin.token.clone();
        Harness {
            app: router(state.clone()),
            state,
            clock: self.clock.clone(),
            admin,
            admin_code_used: self.admin_code_used.clone(),
            root_org: self.root_org.clone(),
            _dir: dir,
        }
    }

    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Vec<u8>,
    ) -> Reply {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", "application/json");
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let req = req.body(Body::from(body)).expect("request");
        let resp = self.app.clone().oneshot(req).await.expect("infallible");
        let status = resp.status();
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .expect("body")
            .to_vec();
        Reply { status, body }
    }

    pub async fn post<T: Serialize>(&self, path: &str, token: Option<&str>, body: &T) -> Reply {
        let bytes = serde_json::to_vec(body).expect("encode");
        self.raw(Method::POST, path, token, bytes).await
    }

    pub async fn admin_post(&self, path: &str, body: Value) -> Reply {
        self.post(path, Some(&self.admin.token), &body).await
    }

    pub async fn enrol(&self, code: &str, key: &SigningKey) -> Reply {
        let public = key.verifying_key().to_encoded_point(false);
        let body = json!({
            "code": code,
            "public_key": b64(public.as_bytes()),
            "device_name": "test phone",
        });
        self.post("/v1/enrol", None, &body).await
    }

    pub async fn challenge(&self, device: &DeviceId) -> Reply {
        self.post("/v1/challenge", None, &json!({ "device_id": device }))
            .await
    }

    pub async fn open_session(&self, device: &DeviceId, key: &SigningKey) -> Reply {
        let ch: ChallengeResponse = self.challenge(device).await.json();
        let sig: Signature = key.sign(&session_signing_payload(device, &ch.challenge));
        let body = json!({
            "device_id": device,
            "challenge": b64(&ch.challenge),
            "signature": b64(sig.to_der().as_bytes()),
        });
        self.post("/v1/session", None, &body).await
    }

    /// Enrol a new device with `code` and open a session.
    pub async fn enrol_device(&self, code: &str) -> Device {
        let key = SigningKey::random(&mut rand::rngs::OsRng);
        let reply = self.enrol(code, &key).await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "{:?}",
            String::from_utf8_lossy(&reply.body)
        );
        let enrolled: EnrolResponse = reply.json();
        let session: SessionResponse = self.open_session(&enrolled.device_id, &key).await.json();
        Device {
            id: enrolled.device_id,
            user_id: enrolled.user_id.to_string(),
            key,
            token: session.token,
            docs: HashMap::new(),
            cursor: 0,
            epoch: None,
        }
    }

    pub async fn create_user(&self, role: &str, org: &str) -> String {
        let reply = self
            .admin_post(
                "/v1/admin/users",
                json!({ "name": format!("a {role}"), "role": role, "org_id": org }),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK);
        reply.json::<Value>()["id"].as_str().expect("id").to_owned()
    }

    pub async fn code_for(&self, user: &str) -> String {
        let reply = self
            .admin_post(&format!("/v1/admin/users/{user}/enrolment-code"), json!({}))
            .await;
        assert_eq!(reply.status, StatusCode::OK);
        reply.json::<Value>()["code"]
            .as_str()
            .expect("code")
            .to_owned()
    }

    /// A new team called `name` in `org`; its id.
    pub async fn new_team(&self, name: &str, org: &str) -> String {
        let reply = self
            .admin_post("/v1/admin/teams", json!({ "name": name, "org_id": org }))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.error());
        reply.json::<Value>()["id"].as_str().expect("id").to_owned()
    }

    /// Add `user` to `team`.
    pub async fn join(&self, team: &str, user: &str) {
        let reply = self
            .admin_post(
                &format!("/v1/admin/teams/{team}/members"),
                json!({ "user_id": user }),
            )
            .await;
        assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.error());
    }

    /// A new user of `role` in the root organisation, with one enrolled device.
    pub async fn person(&self, role: &str) -> Device {
        let user = self.create_user(role, &self.root_org.clone()).await;
        let code = self.code_for(&user).await;
        self.enrol_device(&code).await
    }

    pub async fn audit_count(&self) -> i64 {
        self.state
            .db
            .read(|c| Ok(c.query_row("SELECT COUNT(*) FROM audit", [], |r| r.get(0))?))
            .await
            .expect("count")
    }

    pub async fn audit_events(&self, doc: &DocId) -> Vec<String> {
        let doc = doc.to_string();
        self.state
            .db
            .read(move |c| {
                let mut stmt =
                    c.prepare("SELECT event FROM audit WHERE doc_id = ?1 ORDER BY id")?;
                let rows = stmt.query_map([doc], |r| r.get(0))?;
                Ok(rows.collect::<casebook_server::sql::Result<Vec<String>>>()?)
            })
            .await
            .expect("events")
    }

    pub async fn sync_raw(&self, device: &Device, req: &SyncRequest) -> Reply {
        self.post("/v1/sync", Some(&device.token), req).await
    }

    /// One request: messages for every local doc that has something to say.
    pub async fn sync_once(&self, device: &mut Device) -> SyncResponse {
        let mut messages = Vec::new();
        for (doc, (am, state)) in device.docs.iter_mut() {
            if let Some(m) = am.sync().generate_sync_message(state) {
                messages.push(DocMessage {
                    doc: *doc,
                    data: m.encode(),
                });
            }
        }
        let req = SyncRequest {
            v: PROTOCOL_VERSION,
            cursor: device.cursor,
            messages,
            purged: vec![],
            epoch: device.epoch.clone(),
        };
        let reply = self.sync_raw(device, &req).await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
        let resp: SyncResponse = reply.json();
        for snap in &resp.snapshots {
            let am = AutoCommit::load(&snap.data).expect("snapshot loads");
            device.docs.insert(snap.doc, (am, State::new()));
        }
        for m in &resp.messages {
            let (am, state) = device
                .docs
                .entry(m.doc)
                .or_insert_with(|| (AutoCommit::new(), State::new()));
            let msg = Message::decode(&m.data).expect("server message decodes");
            am.sync().receive_sync_message(state, msg).expect("apply");
        }
        device.cursor = resp.cursor;
        if let Some(epoch) = &resp.epoch {
            device.epoch = Some(epoch.clone());
        }
        resp
    }

    /// Sync until neither side has anything to say; returns every response.
    pub async fn sync_until_quiet(&self, device: &mut Device) -> Vec<SyncResponse> {
        let mut all = Vec::new();
        for _ in 0..20 {
            let resp = self.sync_once(device).await;
            let quiet = resp.messages.is_empty() && resp.snapshots.is_empty() && !resp.more;
            all.push(resp);
            let pending = device.docs.iter_mut().any(|(_, (am, state))| {
                am.sync()
                    .generate_sync_message(&mut state.clone())
                    .is_some()
            });
            if quiet && !pending {
                return all;
            }
        }
        panic!("sync did not settle");
    }
}

impl Device {
    fn placeholder() -> Self {
        Device {
            id: DeviceId::from_bytes([0; 16]),
            user_id: String::new(),
            key: SigningKey::random(&mut rand::rngs::OsRng),
            token: String::new(),
            docs: HashMap::new(),
            cursor: 0,
            epoch: None,
        }
    }

    /// Write `text` under `key` in the device's copy of `doc`, as the app would: the document
    /// is created with Casebook's skeleton if the device has none, and the text goes into a
    /// record this device's user adds (or the profile), under a commit note naming the user,
    /// so the server's write rules accept it where the role may write.
    pub fn write(&mut self, doc: DocId, key: &str, text: &str) {
        let author = Author {
            user: self.user_id.parse().expect("user id"),
            device: self.id,
        };
        let edit = Edit::new(author, chrono::Utc::now());
        let (am, _) = self
            .docs
            .entry(doc)
            .or_insert_with(|| (AutoCommit::new(), State::new()));
        if am.is_empty() {
            let profile = Profile {
                case_reference: "TEST".into(),
                ..Profile::default()
            };
            let mut created = new_case_docs(doc.case, &edit, &profile)
                .expect("skeleton")
                .into_iter()
                .find(|d| d.kind() == doc.kind)
                .expect("kind");
            *am = AutoCommit::load(&created.save()).expect("load");
        }
        let mut cd = CaseDoc::load(doc, Some(&am.save()), &[]).expect("case doc");
        let heads = cd.heads();
        let tagged = format!("{key}={text}");
        let id = EntryId::random(&mut rand::rngs::OsRng);
        match doc.kind {
            DocKind::Profile => {
                let mut p = cd.profile().expect("profile");
                p.aliases.retain(|a| !a.starts_with(&format!("{key}=")));
                p.aliases.push(tagged);
                cd.set_profile(&edit, &p)
            }
            DocKind::Location => {
                let day = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).expect("day");
                let next = Placement {
                    notes: tagged,
                    ..Placement::default()
                };
                cd.move_placement(&edit, id, day, &next)
            }
            DocKind::Visits => {
                let note = VisitNote {
                    observations: tagged,
                    ..VisitNote::default()
                };
                cd.add_visit_note(&edit, id, &note)
            }
            DocKind::Safety => {
                let check = SafetyCheck {
                    note: tagged,
                    ..SafetyCheck::default()
                };
                cd.log_safety_check(&edit, id, &check)
            }
            DocKind::Associates => {
                let person = PersonOfConcern {
                    notes: tagged,
                    ..PersonOfConcern::default()
                };
                cd.add_person(&edit, id, &person)
            }
        }
        .expect("write");
        am.load_incremental(&cd.save_after(&heads))
            .expect("merge the write");
    }

    /// The text last written under `key` in the device's copy of `doc`.
    pub fn read(&self, doc: &DocId, key: &str) -> Option<String> {
        let (am, _) = self.docs.get(doc)?;
        let cd = CaseDoc::load(*doc, Some(&am.clone().save()), &[]).ok()?;
        let texts: Vec<String> = match doc.kind {
            DocKind::Profile => cd.profile().ok()?.aliases,
            DocKind::Location => std::iter::once(cd.current_placement().ok()?.notes)
                .chain(
                    cd.placement_history()
                        .ok()?
                        .into_iter()
                        .map(|(_, p)| p.notes),
                )
                .collect(),
            DocKind::Visits => cd
                .visit_notes()
                .ok()?
                .into_iter()
                .map(|(_, n)| n.observations)
                .collect(),
            DocKind::Safety => cd
                .safety_checks()
                .ok()?
                .into_iter()
                .map(|(_, c)| c.note)
                .collect(),
            DocKind::Associates => cd
                .persons()
                .ok()?
                .into_iter()
                .map(|(_, p)| p.notes)
                .collect(),
        };
        let prefix = format!("{key}=");
        texts
            .into_iter()
            .find_map(|t| t.strip_prefix(&prefix).map(str::to_owned))
    }
}

pub fn doc(case: CaseId, kind: DocKind) -> DocId {
    DocId::new(case, kind)
}

pub fn new_case() -> CaseId {
    CaseId::random(&mut rand::rngs::OsRng)
}
