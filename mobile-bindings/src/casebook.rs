//! [`Casebook`]: the object the app holds. It owns the encrypted store and the listeners, and
//! puts the edge concerns around every call into the core: the panic guard, the system
//! clock and randomness, the edit author, and the 72-hour check-in lock.
//!
//! **Author of edits.** An enrolled device signs its edits with its enrolled user and device
//! ids. Before enrolment, local use is allowed: a placeholder author (random user and device
//! ids) is drawn once, kept in the encrypted store under `mobile.local_author`, and used for
//! every edit until the device enrols. History shows those edits under the placeholder ids.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::SystemTime;

use casebook_core::client::DeviceIdentity;
use casebook_core::doc::{Author, CaseDoc, DocId, Edit};
use casebook_core::ids::{CaseId, DeviceId, UserId};
use casebook_core::model::Writer;
use casebook_core::repo::Repo;
use casebook_core::store::{SqliteStore, StoreKey, WriteOp};
use chrono::Utc;
use rand::rngs::OsRng;

use crate::clock::device_now;
use crate::error::{CasebookError, Result, guard};
use crate::observe::{ChangeListener, ObservationHandle, Observers};
use crate::records::{
    ChangeEvent, ChangeSource, DeviceInfo, DocKind, invalid, parse_id, parse_version,
};
use crate::signer::DeviceSigner;

/// How long a device may go without checking in before its local data locks.
pub const MAX_OFFLINE_HOURS: u64 = 72;

/// Where the placeholder author of pre-enrolment edits is kept.
const LOCAL_AUTHOR_KEY: &str = "mobile.local_author";

/// The repository, shared with a sync in flight.
pub(crate) type SharedRepo = Arc<Mutex<Repo>>;

/// Stores open in this process, by canonical path. A second `Casebook` on one file would
/// keep its own copy of the documents in memory and could write over the first's changes.
static OPEN_STORES: Mutex<Vec<(PathBuf, Weak<Mutex<Repo>>)>> = Mutex::new(Vec::new());

/// `path` with its directory resolved, so two spellings of one file compare equal.
fn canonical(path: &Path) -> PathBuf {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return path.to_path_buf();
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    std::fs::canonicalize(dir).map_or_else(|_| path.to_path_buf(), |dir| dir.join(name))
}

/// An open, encrypted case store on this device.
#[derive(uniffi::Object)]
pub struct Casebook {
    path: PathBuf,
    /// Kept (zeroized on drop) to reopen the store after a panic poisoned it.
    key: StoreKey,
    repo: Mutex<Option<SharedRepo>>,
    pub(crate) observers: Arc<Observers>,
    /// One sync at a time: a sync holds this until it ends, so a second `sync_now` waits for
    /// the one in flight, including one whose caller gave up and which is still stopping.
    pub(crate) sync_turn: Arc<tokio::sync::Mutex<()>>,
    /// The app's hardware-backed device key, if it supplied one (see [`crate::signer`]).
    pub(crate) signer: Option<Arc<dyn DeviceSigner>>,
}

impl std::fmt::Debug for Casebook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Casebook")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

#[uniffi::export]
impl Casebook {
    /// Open (or create) the encrypted store at `path` with the 32 key bytes the app keeps in
    /// the platform keystore. A wrong key fails with `WrongKey` and leaves the file as it was.
    /// A store is open once per process: opening it again while a `Casebook` has it open is
    /// `InvalidInput` on `path` (share the one `Casebook` between screens and workers).
    #[uniffi::constructor]
    pub fn open(path: String, key: Vec<u8>) -> Result<Arc<Self>> {
        Self::open_store(path, key, None)
    }

    /// Like `open`, with the app's `signer` holding the device key in the platform's
    /// hardware (Android Keystore, Secure Enclave). A device enrolled through this
    /// `Casebook` keeps only the key's public half and alias in its store, so a copy of the
    /// store cannot open a session; every later `open` of the store must supply the signer to
    /// sync (without it, `sync_now` fails with `SignerFailed`). A device enrolled earlier with
    /// a software key keeps using it.
    #[uniffi::constructor]
    pub fn open_with_signer(
        path: String,
        key: Vec<u8>,
        signer: Arc<dyn DeviceSigner>,
    ) -> Result<Arc<Self>> {
        Self::open_store(path, key, Some(signer))
    }

    /// Close the store. Later calls fail with `Closed`; a sync in flight finishes first.
    /// (Named so as not to clash with Kotlin's `AutoCloseable.close()`, which frees the
    /// object and so closes the store too.)
    pub fn close_store(&self) {
        self.slot().take();
    }

    /// Whether this device is enrolled with a server.
    pub fn is_enrolled(&self) -> Result<bool> {
        self.with_repo(|repo| Ok(DeviceIdentity::load(repo.store())?.is_some()))
    }

    /// Who this device is enrolled as, if it is.
    pub fn device_info(&self) -> Result<Option<DeviceInfo>> {
        self.with_repo(|repo| {
            Ok(DeviceIdentity::load(repo.store())?.map(|id| DeviceInfo {
                user_id: id.user_id.to_string(),
                device_id: id.device_id.to_string(),
                role: id.role,
                server_url: id.server_url,
            }))
        })
    }

    /// The alias of the app signer's key this device enrolled with, or `None` when it is
    /// not enrolled or its key is the software key kept in the store.
    pub fn device_key_alias(&self) -> Result<Option<String>> {
        self.with_repo(|repo| {
            Ok(DeviceIdentity::load(repo.store())?
                .and_then(|id| id.external_key().map(|k| k.alias.clone())))
        })
    }

    /// Whether local data is locked until the next successful sync (no check-in with the
    /// server for more than 72 hours).
    pub fn is_locked(&self) -> Result<bool> {
        self.with_repo(|repo| Ok(repo.locked(device_now(), max_offline())?))
    }

    /// When this device last finished a sync.
    pub fn last_checkin(&self) -> Result<Option<SystemTime>> {
        self.with_repo(|repo| Ok(repo.last_checkin()?.map(SystemTime::from)))
    }

    /// Hear about changes until the returned handle is closed.
    pub fn observe(&self, listener: Arc<dyn ChangeListener>) -> Arc<ObservationHandle> {
        Arc::new(self.observers.add(listener))
    }

    /// For tests of the bindings: panics inside the store lock on purpose. The app sees
    /// `Internal`, and the `Casebook` stays usable (the store is reopened from disk).
    pub fn debug_panic(&self) -> Result<()> {
        self.with_repo(|_repo| -> Result<()> {
            panic!("deliberate panic requested through debug_panic");
        })
    }
}

/// The check-in lock's limit.
fn max_offline() -> std::time::Duration {
    std::time::Duration::from_secs(MAX_OFFLINE_HOURS * 60 * 60)
}

impl Casebook {
    fn open_store(
        path: String,
        key: Vec<u8>,
        signer: Option<Arc<dyn DeviceSigner>>,
    ) -> Result<Arc<Self>> {
        guard(|| {
            let key = StoreKey::from_vec(key)?;
            let path = PathBuf::from(path);
            let canonical = canonical(&path);
            let mut open_stores = OPEN_STORES.lock().unwrap_or_else(PoisonError::into_inner);
            open_stores.retain(|(_, repo)| repo.strong_count() > 0);
            if open_stores.iter().any(|(open, _)| *open == canonical) {
                return Err(invalid(
                    "path",
                    "this store is already open in this app: share that Casebook (one closed \
                     with close_store stays open until its sync in flight ends)",
                ));
            }
            let store = SqliteStore::open(&path, key.clone())?;
            let repo = Arc::new(Mutex::new(Repo::open(store)?));
            open_stores.push((canonical, Arc::downgrade(&repo)));
            Ok(Arc::new(Casebook {
                path,
                key,
                repo: Mutex::new(Some(repo)),
                observers: Arc::default(),
                sync_turn: Arc::default(),
                signer,
            }))
        })
    }

    fn slot(&self) -> MutexGuard<'_, Option<SharedRepo>> {
        // Only an `Option` swap happens under this lock, which cannot leave it inconsistent.
        self.repo.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The shared repository, or `Closed`.
    pub(crate) fn shared(&self) -> Result<SharedRepo> {
        self.slot().clone().ok_or(CasebookError::Closed)
    }

    /// Lock the repository. If a panic poisoned the lock, whatever the repository held in
    /// memory may be half-done, so it is dropped and the store reopened from disk (where
    /// every edit is complete or absent).
    fn lock<'a>(&self, shared: &'a SharedRepo) -> Result<MutexGuard<'a, Repo>> {
        match shared.lock() {
            Ok(repo) => Ok(repo),
            Err(poisoned) => {
                let mut repo = poisoned.into_inner();
                *repo = Repo::new(SqliteStore::open(&self.path, self.key.clone())?);
                shared.clear_poison();
                tracing::warn!("reopened the store after a panic");
                Ok(repo)
            }
        }
    }

    /// Run `f` on the repository inside the panic guard.
    pub(crate) fn with_repo<R>(&self, f: impl FnOnce(&mut Repo) -> Result<R>) -> Result<R> {
        guard(|| {
            let shared = self.shared()?;
            let mut repo = self.lock(&shared)?;
            f(&mut repo)
        })
    }

    /// Like [`Casebook::with_repo`], for reads and edits of case data: fails with `Locked`
    /// while the check-in lock is on.
    pub(crate) fn with_unlocked<R>(&self, f: impl FnOnce(&mut Repo) -> Result<R>) -> Result<R> {
        self.with_repo(|repo| {
            if repo.locked(device_now(), max_offline())? {
                return Err(CasebookError::Locked);
            }
            f(repo)
        })
    }

    /// Edit one document of a case as this device's author at the system time, persist it,
    /// and notify the listeners (after the lock is released).
    pub(crate) fn edit<R>(
        &self,
        case_id: &str,
        kind: DocKind,
        f: impl FnOnce(&mut CaseDoc, &Edit) -> casebook_core::Result<R>,
    ) -> Result<R> {
        let doc = doc_id(case_id, kind)?;
        let value = self.with_unlocked(|repo| {
            let edit = Edit::new(author(repo)?, Utc::now());
            // The write rules for this device's role: a refused edit writes nothing.
            let rules = writer(repo)?;
            Ok(repo.edit(doc, edit.at, |d| match &rules {
                Some(writer) => d.edit_checked(writer, |d| f(d, &edit)),
                None => f(d, &edit),
            })?)
        })?;
        self.notify_local(doc.case, kind);
        Ok(value)
    }

    /// Save a record read at `version` (empty: made from scratch): inside `f`, record
    /// writes change only what was changed since that version, keeping what others wrote
    /// meanwhile (see `casebook_core::doc::CaseDoc::edit_from`).
    pub(crate) fn save<R>(
        &self,
        case_id: &str,
        kind: DocKind,
        version: &str,
        f: impl FnOnce(&mut CaseDoc, &Edit) -> casebook_core::Result<R>,
    ) -> Result<R> {
        let read_at = parse_version(version)?;
        self.edit(case_id, kind, |d, e| match &read_at {
            Some(version) => d.edit_from(version, &mut OsRng, |d| f(d, e)),
            None => f(d, e),
        })
    }

    /// Tell the listeners that `kind` of `case` changed here.
    pub(crate) fn notify_local(&self, case: CaseId, kind: DocKind) {
        self.observers.notify(&ChangeEvent {
            source: ChangeSource::Local,
            case_id: Some(case.to_string()),
            kind: Some(kind),
            notice: None,
            alert: None,
        });
    }
}

/// The document `kind` of the case `case_id`.
pub(crate) fn doc_id(case_id: &str, kind: DocKind) -> Result<DocId> {
    Ok(DocId::new(parse_id("case_id", case_id)?, kind.into()))
}

/// Whom the write rules check this device's edits as: its enrolled user and role (`None`
/// before enrolment, when the device only opens cases of its own).
pub(crate) fn writer(repo: &mut Repo) -> Result<Option<Writer>> {
    Ok(DeviceIdentity::load(repo.store())?.and_then(|identity| {
        let role = identity.role.parse().ok()?;
        Some(Writer {
            user: identity.user_id,
            role,
            device: identity.device_id,
        })
    }))
}

/// The author of this device's edits: the enrolled identity, or before enrolment the local
/// placeholder (created and stored on first use).
pub(crate) fn author(repo: &mut Repo) -> Result<Author> {
    if let Some(identity) = DeviceIdentity::load(repo.store())? {
        return Ok(identity.author());
    }
    if let Some(bytes) = repo.store().meta(LOCAL_AUTHOR_KEY)? {
        return serde_json::from_slice(&bytes).map_err(|_| CasebookError::Internal {
            reason: "the stored local author does not decode".into(),
        });
    }
    let placeholder = Author {
        user: UserId::random(&mut OsRng),
        device: DeviceId::random(&mut OsRng),
    };
    let value = serde_json::to_vec(&placeholder).map_err(|_| CasebookError::Internal {
        reason: "the local author does not encode".into(),
    })?;
    repo.apply(vec![WriteOp::PutMeta {
        key: LOCAL_AUTHOR_KEY.into(),
        value,
    }])?;
    Ok(placeholder)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{FeelSafe, Immigration, LegalBasis, Nrm, Profile};

    fn open(dir: &tempfile::TempDir) -> Arc<Casebook> {
        let path = dir.path().join("store.db");
        Casebook::open(path.to_string_lossy().into_owned(), vec![7; 32]).expect("open")
    }

    fn profile() -> Profile {
        Profile {
            case_reference: "HUL-1".into(),
            legal_basis: LegalBasis::CareOrder,
            nrm: Nrm::default(),
            immigration: Immigration::default(),
            ..Profile::default()
        }
    }

    #[test]
    fn data_locks_after_72_hours_without_a_checkin() {
        let dir = tempfile::tempdir().expect("tempdir");
        let book = open(&dir);
        let case = book.create_case(profile()).expect("create");
        let stale = Utc::now() - chrono::Duration::hours(73);
        book.with_repo(|repo| Ok(repo.apply(vec![repo.checkin_op(stale)])?))
            .expect("old check-in");
        assert!(book.is_locked().expect("locked?"));
        assert_eq!(book.list_cases(), Err(CasebookError::Locked));
        assert_eq!(book.profile(case.clone()), Err(CasebookError::Locked));
        assert_eq!(
            book.set_feel_safe(case, FeelSafe::default()),
            Err(CasebookError::Locked)
        );
        book.with_repo(|repo| Ok(repo.apply(vec![repo.checkin_op(Utc::now())])?))
            .expect("fresh check-in");
        assert_eq!(book.list_cases().expect("unlocked").len(), 1);
    }

    #[test]
    fn the_boot_clock_keeps_the_lock_on_when_the_wall_clock_is_set_back() {
        use casebook_core::sync::DeviceTime;
        use std::time::Duration;

        let dir = tempfile::tempdir().expect("tempdir");
        let book = open(&dir);
        book.create_case(profile()).expect("create");
        let hours = |h: u64| Duration::from_secs(h * 60 * 60);
        let checked_in = DeviceTime {
            wall: Utc::now(),
            since_boot: Some(hours(10)),
        };
        book.with_repo(|repo| Ok(repo.apply(vec![repo.checkin_op(checked_in)])?))
            .expect("check-in");
        // Four days later by the boot clock, with the wall clock set back to an hour after
        // the check-in: locked.
        let four_days_on = |since_boot| DeviceTime {
            wall: checked_in.wall + chrono::Duration::hours(1),
            since_boot: Some(since_boot),
        };
        crate::clock::set_fake_now(Some(four_days_on(hours(10 + 96))));
        let locked = (book.is_locked(), book.list_cases());
        // The same wall clock an hour after the check-in by the boot clock too: open.
        crate::clock::set_fake_now(Some(four_days_on(hours(10 + 1))));
        let open = book.list_cases().map(|cases| cases.len());
        crate::clock::set_fake_now(None);
        assert_eq!(locked, (Ok(true), Err(CasebookError::Locked)));
        assert_eq!(open, Ok(1));
    }

    #[test]
    fn the_placeholder_author_is_drawn_once_and_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let book = open(&dir);
        let first = book.with_repo(author).expect("author");
        book.close_store();
        assert_eq!(book.list_cases(), Err(CasebookError::Closed));
        let again = open(&dir).with_repo(author).expect("author");
        assert_eq!(first, again);
    }

    #[test]
    fn a_store_is_open_once_per_process() {
        let dir = tempfile::tempdir().expect("tempdir");
        let book = open(&dir);
        book.create_case(profile()).expect("create");
        let same_file = dir.path().join(".").join("store.db");
        match Casebook::open(same_file.to_string_lossy().into_owned(), vec![7; 32]) {
            Err(CasebookError::InvalidInput { field, .. }) => assert_eq!(field, "path"),
            other => panic!("a second handle on one store: {other:?}"),
        }
        assert_eq!(book.list_cases().expect("first still works").len(), 1);
        book.close_store();
        let again = open(&dir);
        assert_eq!(again.list_cases().expect("reopened").len(), 1);
    }

    /// A screen's listener typically reloads what it shows, from inside the callback.
    #[test]
    fn a_listener_may_call_back_into_the_casebook() {
        use std::sync::mpsc;
        use std::time::Duration;

        use crate::observe::ChangeListener;

        struct Reload {
            book: Arc<Casebook>,
            listed: mpsc::Sender<usize>,
        }
        impl ChangeListener for Reload {
            fn on_change(&self, _event: ChangeEvent) {
                let cases = self.book.list_cases().map_or(0, |c| c.len());
                let _ = self.listed.send(cases);
            }
        }

        let dir = tempfile::tempdir().expect("tempdir");
        let book = open(&dir);
        let (listed, heard) = mpsc::channel();
        let handle = book.observe(Arc::new(Reload {
            book: Arc::clone(&book),
            listed,
        }));
        let writer = Arc::clone(&book);
        std::thread::spawn(move || writer.create_case(profile()));
        let cases = heard
            .recv_timeout(Duration::from_secs(10))
            .expect("the listener's call back into the Casebook blocked");
        assert_eq!(cases, 1);
        handle.stop();
    }

    #[test]
    fn a_panic_inside_the_lock_reopens_the_store() {
        let dir = tempfile::tempdir().expect("tempdir");
        let book = open(&dir);
        let case = book.create_case(profile()).expect("create");
        assert!(matches!(
            book.debug_panic(),
            Err(CasebookError::Internal { .. })
        ));
        assert_eq!(book.profile(case).expect("profile").case_reference, "HUL-1");
    }
}
