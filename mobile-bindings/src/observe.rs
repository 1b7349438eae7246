//! Change notifications: the app implements [`ChangeListener`] (a foreign trait) and gets an
//! [`ObservationHandle`] back; stopping the handle (or freeing it) stops the notifications.
//!
//! Listeners are called on the thread that made the change, after the store lock is
//! released, so a listener may call back into the `Casebook`. A listener that throws is
//! ignored and stays registered.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use crate::records::ChangeEvent;

/// Implemented by the app to hear about changes to the store.
#[uniffi::export(foreign)]
pub trait ChangeListener: Send + Sync {
    /// Something changed; see [`ChangeEvent`] for what.
    fn on_change(&self, event: ChangeEvent);
}

type Listeners = Vec<(u64, Arc<dyn ChangeListener>)>;

/// The listeners of one `Casebook`.
#[derive(Default)]
pub(crate) struct Observers {
    next: AtomicU64,
    listeners: Mutex<Listeners>,
}

impl std::fmt::Debug for Observers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Observers")
            .field("count", &self.list().len())
            .finish()
    }
}

impl Observers {
    fn list(&self) -> std::sync::MutexGuard<'_, Listeners> {
        // A panic cannot happen while this lock is held (only Vec operations), but recover
        // anyway rather than ever panic on a poisoned lock.
        self.listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Register `listener`; the handle unregisters it.
    pub(crate) fn add(self: &Arc<Self>, listener: Arc<dyn ChangeListener>) -> ObservationHandle {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.list().push((id, listener));
        ObservationHandle {
            observers: Arc::downgrade(self),
            id,
        }
    }

    fn remove(&self, id: u64) {
        self.list().retain(|(i, _)| *i != id);
    }

    /// Tell every listener about `event`.
    pub(crate) fn notify(&self, event: &ChangeEvent) {
        let listeners: Vec<_> = self.list().iter().map(|(_, l)| Arc::clone(l)).collect();
        for listener in listeners {
            let event = event.clone();
            if catch_unwind(AssertUnwindSafe(|| listener.on_change(event))).is_err() {
                tracing::warn!("a change listener failed; ignoring it");
            }
        }
    }
}

/// Keeps a listener registered until closed.
#[derive(Debug, uniffi::Object)]
pub struct ObservationHandle {
    observers: Weak<Observers>,
    id: u64,
}

#[uniffi::export]
impl ObservationHandle {
    /// Stop the notifications. Stopping twice is harmless. Freeing the handle (Kotlin's
    /// `close()`, Swift's `deinit`, Python's garbage collection) stops them too.
    pub fn stop(&self) {
        if let Some(observers) = self.observers.upgrade() {
            observers.remove(self.id);
        }
    }
}

impl Drop for ObservationHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::ChangeSource;

    #[derive(Default)]
    struct Count(AtomicU64);

    impl ChangeListener for Count {
        fn on_change(&self, _event: ChangeEvent) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    struct Throws;

    impl ChangeListener for Throws {
        fn on_change(&self, _event: ChangeEvent) {
            panic!("listener bug");
        }
    }

    #[test]
    fn closing_the_handle_stops_notifications_and_failures_are_contained() {
        let observers = Arc::new(Observers::default());
        let count = Arc::new(Count::default());
        let handle = observers.add(count.clone());
        let _throws = observers.add(Arc::new(Throws));
        let event = ChangeEvent {
            source: ChangeSource::Sync,
            case_id: None,
            kind: None,
            notice: None,
            alert: None,
        };
        observers.notify(&event);
        handle.stop();
        handle.stop();
        observers.notify(&event);
        assert_eq!(count.0.load(Ordering::Relaxed), 1);
    }
}
