//! Enrolment and sync: async exports (Kotlin `suspend`, Swift `async`, Python `async`) run
//! on uniffi's tokio support, with progress through a foreign [`SyncProgressListener`] and
//! cancellation through a [`CancelToken`]. Dropping the future (cancelling the coroutine or
//! task) cancels the sync too: it stops at its next round trip. Syncs of one store run one at
//! a time; a second `sync_now` waits for the first to end.
//!
//! The core's futures run as tokio tasks, so a panic inside them comes back as a failed
//! join and reaches the app as `Internal`.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use casebook_core::client::{self, DeviceIdentity, ServerTrust};
use chrono::Utc;
use rand::rngs::OsRng;

use crate::casebook::Casebook;
use crate::error::{CasebookError, Result, panicked};
use crate::records::{ChangeEvent, ChangeSource, DeviceInfo, SyncProgress, SyncReport, invalid};

/// Implemented by the app to show sync progress.
#[uniffi::export(foreign)]
pub trait SyncProgressListener: Send + Sync {
    /// Called after each round trip.
    fn on_progress(&self, progress: SyncProgress);
}

/// Cancels a sync in flight between round trips; nothing received so far is lost.
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
    /// one-time `enrolment_code`, trusting only the certificate whose SHA-256 fingerprint is
    /// `certificate_pin` (hex, colons optional). The device key is created here and kept in
    /// the encrypted store.
    pub async fn enrol(
        &self,
        server_url: String,
        enrolment_code: String,
        certificate_pin: String,
        device_name: String,
    ) -> Result<DeviceInfo> {
        client::parse_fingerprint(&certificate_pin)
            .map_err(|_| invalid("certificate_pin", "expected a SHA-256 fingerprint in hex"))?;
        if self.is_enrolled()? {
            return Err(invalid("enrolment_code", "this device is already enrolled"));
        }
        let repo = self.shared()?;
        let identity = spawn_guarded(async move {
            Ok(client::enrol(
                &repo,
                &server_url,
                ServerTrust::Pin(certificate_pin),
                &enrolment_code,
                &device_name,
                &mut OsRng,
                Utc::now(),
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
    /// is already running, this one starts when it ends.
    pub async fn sync_now(
        &self,
        progress: Option<Arc<dyn SyncProgressListener>>,
        cancel: Option<Arc<CancelToken>>,
    ) -> Result<SyncReport> {
        let identity = self
            .with_repo(|repo| Ok(DeviceIdentity::load(repo.store())?))?
            .ok_or(CasebookError::NotEnrolled)?;
        let repo = self.shared()?;
        let flag = cancel.map_or_else(Arc::default, |c| Arc::clone(&c.flag));
        let mut on_drop = CancelOnDrop(Some(Arc::clone(&flag)));
        let turn = Arc::clone(&self.sync_turn);
        let result = spawn_guarded(async move {
            let _one_at_a_time = turn.lock_owned().await;
            let report = move |p: casebook_core::sync::SyncProgress| {
                if let Some(listener) = &progress {
                    let p = SyncProgress::from(p);
                    if catch_unwind(AssertUnwindSafe(|| listener.on_progress(p))).is_err() {
                        tracing::warn!("a sync progress listener failed; ignoring it");
                    }
                }
            };
            Ok(client::sync_now(&repo, &identity, &Utc::now, &report, &flag).await?)
        })
        .await;
        on_drop.0 = None;
        match result {
            Ok(outcome) => {
                let report = outcome.report;
                if report.docs_updated + report.docs_received > 0 || !report.purged.is_empty() {
                    self.notify_sync(ChangeSource::Sync);
                }
                Ok(report.into())
            }
            Err(CasebookError::DeviceRevoked) => {
                self.notify_sync(ChangeSource::Wipe);
                Err(CasebookError::DeviceRevoked)
            }
            Err(e) => Err(e),
        }
    }
}

impl Casebook {
    fn notify_sync(&self, source: ChangeSource) {
        self.observers.notify(&ChangeEvent {
            source,
            case_id: None,
            kind: None,
        });
    }
}
