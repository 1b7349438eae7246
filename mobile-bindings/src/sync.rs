//! Enrolment and sync: async exports (Kotlin `suspend`, Swift `async`, Python `async`) run
//! on uniffi's tokio support, with progress through a foreign [`SyncProgressListener`] and
//! cancellation through a [`CancelToken`]. Dropping the future (cancelling the coroutine or
//! task) cancels the sync too. A cancelled sync stops within 50 ms while it waits on the
//! network or for another sync's turn, abandoning a round trip in flight; a response it is
//! already applying is applied first. Syncs of one store run one at a time; a second
//! `sync_now` waits for the first to end.
//!
//! The core's futures run as tokio tasks, so a panic inside them comes back as a failed
//! join and reaches the app as `Internal`.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use casebook_core::client::{self, DeviceIdentity, ServerTrust};
use rand::rngs::OsRng;

use crate::casebook::{Casebook, SharedRepo};
use crate::clock::device_now;
use crate::error::{CasebookError, Result, panicked};
use crate::observe::Observers;
use crate::records::{ChangeEvent, ChangeSource, DeviceInfo, SyncProgress, SyncReport, invalid};
use crate::signer::AppSigner;

/// Implemented by the app to show sync progress.
#[uniffi::export(foreign)]
pub trait SyncProgressListener: Send + Sync {
    /// Called after each round trip.
    fn on_progress(&self, progress: SyncProgress);
}

/// Cancels a sync: it stops within 50 ms while waiting on the network or for another sync's
/// turn (abandoning a round trip in flight); nothing stored is lost.
#[derive(Debug, Default, uniffi::Object)]
pub struct CancelToken {
    flag: Arc<AtomicBool>,
}

#[uniffi::export]
impl CancelToken {
    /// A fresh token.
    #[uniffi::constructor]
    pub fn new() -> Arc<Self> {
        Arc::default()
    }

    /// Ask the sync to stop; it fails with `Cancelled`.
    pub fn cancel(&self) {
        self.flag.store(true, Ordering::Relaxed);
    }

    /// Whether `cancel` was called.
    pub fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::Relaxed)
    }
}

/// Sets the flag when dropped unless disarmed: a dropped future stops its task.
struct CancelOnDrop(Option<Arc<AtomicBool>>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(flag) = self.0.take() {
            flag.store(true, Ordering::Relaxed);
        }
    }
}

/// Run `task` on the tokio runtime, turning a panic into `Internal`.
async fn spawn_guarded<T: Send + 'static>(
    task: impl Future<Output = Result<T>> + Send + 'static,
) -> Result<T> {
    match tokio::spawn(task).await {
        Ok(result) => result,
        Err(e) if e.is_panic() => Err(panicked()),
        Err(_) => Err(CasebookError::Cancelled),
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl Casebook {
    /// Enrol this device with the server at `server_url` (`https://host:port`) using the
    /// one-time `enrolment_code`, trusting only a certificate whose public key has the SPKI
    /// pin `certificate_pin` (SHA-256 of its SubjectPublicKeyInfo, hex, colons optional, as
    /// the server prints). The device key is the app's signer's when this `Casebook` was
    /// opened with one (it must sign a test payload first; the store keeps only its public key
    /// and alias), else a software key created here and kept in the encrypted store.
    pub async fn enrol(
        &self,
        server_url: String,
        enrolment_code: String,
        certificate_pin: String,
        device_name: String,
    ) -> Result<DeviceInfo> {
        client::parse_fingerprint(&certificate_pin)
            .map_err(|_| invalid("certificate_pin", "expected a SHA-256 fingerprint in hex"))?;
        let repo = self.shared()?;
        let signer = self.signer.clone().map(AppSigner);
        // Everything that touches the store runs on the runtime, never on the caller's thread.
        let identity = spawn_guarded(async move {
            if load_identity(&repo)?.is_some() {
                return Err(invalid("enrolment_code", "this device is already enrolled"));
            }
            let trust = ServerTrust::Pin(certificate_pin);
            if let Some(signer) = &signer {
                return Ok(client::enrol_with_signer(
                    &repo,
                    &server_url,
                    trust,
                    &enrolment_code,
                    &device_name,
                    signer,
                    device_now(),
                )
                .await?);
            }
            Ok(client::enrol(
                &repo,
                &server_url,
                trust,
                &enrolment_code,
                &device_name,
                &mut OsRng,
                device_now(),
            )
            .await?)
        })
        .await?;
        Ok(DeviceInfo {
            user_id: identity.user_id.to_string(),
            device_id: identity.device_id.to_string(),
            role: identity.role,
            server_url: identity.server_url,
        })
    }

    /// Sync with the server now: push local edits, receive what changed, purge what this
    /// user may no longer see. A successful sync also lifts the check-in lock. A revoked
    /// device's store is wiped and this fails with `DeviceRevoked`. If a sync of this store
    /// is already running, this one starts when it ends. Listeners hear of what a sync
    /// changed: a `Sync` event naming the case and kind of each document it updated,
    /// received or purged (a purged one is no longer held), or, when the sync fails or is
    /// cancelled part-way after applying something, one `Sync` event naming no case.
    /// Security notices the sync delivers (another device enrolled for this user) are in the
    /// report's `notices` and reach every change listener as a `Notice` event.
    pub async fn sync_now(
        &self,
        progress: Option<Arc<dyn SyncProgressListener>>,
        cancel: Option<Arc<CancelToken>>,
    ) -> Result<SyncReport> {
        let repo = self.shared()?;
        let observers = Arc::clone(&self.observers);
        let flag = cancel.map_or_else(Arc::default, |c| Arc::clone(&c.flag));
        let mut on_drop = CancelOnDrop(Some(Arc::clone(&flag)));
        let turn = Arc::clone(&self.sync_turn);
        let signer = self.signer.clone().map(AppSigner);
        // Everything that touches the store runs on the runtime, never on the caller's thread;
        // if the caller gives up, the task stops at its next wait (see `CancelOnDrop`).
        let result = spawn_guarded(async move {
            let _one_at_a_time = client::or_cancelled(&flag, turn.lock_owned()).await?;
            let identity = load_identity(&repo)?.ok_or(CasebookError::NotEnrolled)?;
            let rounds_applied = AtomicU32::new(0);
            let report = |p: casebook_core::sync::SyncProgress| {
                rounds_applied.store(p.rounds, Ordering::Relaxed);
                if let Some(listener) = &progress {
                    let p = SyncProgress::from(p);
                    if catch_unwind(AssertUnwindSafe(|| listener.on_progress(p))).is_err() {
                        tracing::warn!("a sync progress listener failed; ignoring it");
                    }
                }
            };
            let signer = signer.as_ref().map(|s| s as &dyn client::ChallengeSigner);
            let result =
                client::sync_now_with_signer(&repo, &identity, signer, &device_now, &report, &flag)
                    .await;
            match &result {
                Ok(outcome) => {
                    let r = &outcome.report;
                    notify_changed(&observers, &r.changed);
                    if !r.alerts.is_empty() {
                        let delivered: std::collections::HashSet<_> =
                            r.alerts.iter().map(|a| a.id.to_string()).collect();
                        let alerts = repo
                            .lock()
                            .map_err(|_| CasebookError::Internal {
                                reason: "the store lock was poisoned; retry".into(),
                            })
                            .and_then(|repo| crate::alerts_api::listed(&repo));
                        match alerts {
                            Ok(alerts) => crate::alerts_api::notify_alerts(
                                &observers,
                                alerts
                                    .into_iter()
                                    .filter(|a| delivered.contains(&a.id))
                                    .collect(),
                            ),
                            Err(e) => tracing::warn!(%e, "could not list the alerts delivered"),
                        }
                    }
                    for notice in &r.notices {
                        observers.notify(&ChangeEvent {
                            source: ChangeSource::Notice,
                            case_id: None,
                            kind: None,
                            notice: Some(notice.clone().into()),
                            alert: None,
                        });
                    }
                }
                Err(casebook_core::Error::DeviceRevoked) => {
                    notify_sync(&observers, ChangeSource::Wipe);
                }
                // Rounds applied before the failure or the cancel are kept: reload.
                Err(_) if rounds_applied.load(Ordering::Relaxed) > 0 => {
                    notify_sync(&observers, ChangeSource::Sync);
                }
                Err(_) => {}
            }
            Ok(result?.report)
        })
        .await;
        on_drop.0 = None;
        result.map(Into::into)
    }
}

/// This device's enrolled identity (called inside the runtime's tasks).
fn load_identity(repo: &SharedRepo) -> Result<Option<DeviceIdentity>> {
    let repo = repo.lock().map_err(|_| CasebookError::Internal {
        reason: "the store lock was poisoned; retry".into(),
    })?;
    Ok(DeviceIdentity::load(repo.store())?)
}

/// One `Sync` event per document the sync changed (updated, received or purged), naming its
/// case and kind.
fn notify_changed(observers: &Observers, changed: &[casebook_core::doc::DocId]) {
    for doc in changed {
        observers.notify(&ChangeEvent {
            source: ChangeSource::Sync,
            case_id: Some(doc.case.to_string()),
            kind: Some(doc.kind.into()),
            notice: None,
            alert: None,
        });
    }
}

/// One event with no case: reload everything (a wipe, or a sync that failed part-way).
fn notify_sync(observers: &Observers, source: ChangeSource) {
    observers.notify(&ChangeEvent {
        source,
        case_id: None,
        kind: None,
        notice: None,
        alert: None,
    });
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::sync::mpsc;
    use std::task::{Context, Waker};
    use std::time::Duration;

    use super::*;

    /// A store never enrolled, in a temporary directory (kept while the tuple lives), and a
    /// runtime to sync on.
    fn fresh_book() -> (tempfile::TempDir, Arc<Casebook>, tokio::runtime::Runtime) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("store.db").to_string_lossy().into_owned();
        let book = Casebook::open(path, vec![7; 32]).expect("open");
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        (dir, book, runtime)
    }

    /// An app may call `syncNow` from its main thread: the first poll must not wait for the
    /// store, which a running sync can hold for a second or more while it applies a response.
    #[test]
    fn the_first_poll_of_a_sync_never_waits_for_the_store() {
        let (_dir, book, runtime) = fresh_book();
        let shared = book.shared().expect("open store");
        let busy = shared.lock().expect("store lock");

        let (polled, first_poll) = mpsc::channel();
        let caller = Arc::clone(&book);
        let handle = runtime.handle().clone();
        std::thread::spawn(move || {
            let _runtime = handle.enter();
            let mut sync = Box::pin(caller.sync_now(None, None));
            let first = sync.as_mut().poll(&mut Context::from_waker(Waker::noop()));
            let _ = polled.send(first.is_pending());
            let _ = polled.send(matches!(
                handle.block_on(sync),
                Err(CasebookError::NotEnrolled)
            ));
        });
        let pending = first_poll
            .recv_timeout(Duration::from_secs(5))
            .expect("the first poll blocked on the store");
        assert!(pending, "the sync finished without its store");
        drop(busy);
        assert!(
            first_poll
                .recv_timeout(Duration::from_secs(5))
                .expect("the sync went on once the store was free"),
            "a store never enrolled should fail with NotEnrolled"
        );
    }

    /// A sync queued behind another one (which may run for minutes on a poor signal) stops
    /// when cancelled instead of waiting for its turn.
    #[test]
    fn a_sync_waiting_for_its_turn_can_be_cancelled() {
        let (_dir, book, runtime) = fresh_book();
        let running = runtime.block_on(Arc::clone(&book.sync_turn).lock_owned());

        let token = CancelToken::new();
        let (done, finished) = mpsc::channel();
        let (caller, queued_token) = (Arc::clone(&book), Arc::clone(&token));
        let handle = runtime.handle().clone();
        std::thread::spawn(move || {
            let result = handle.block_on(caller.sync_now(None, Some(queued_token)));
            let _ = done.send(result);
        });
        std::thread::sleep(Duration::from_millis(200));
        token.cancel();
        let result = finished
            .recv_timeout(Duration::from_secs(10))
            .expect("the cancelled sync kept waiting for the running one");
        assert_eq!(result, Err(CasebookError::Cancelled));
        drop(running);
    }
}
