//! The process signals the server answers: SIGTERM and SIGINT (Ctrl-C elsewhere) stop it,
//! SIGHUP reloads its certificate.

use tokio_util::sync::CancellationToken;

/// A signal to listen for.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    Terminate,
    Interrupt,
    Hangup,
}

/// A registered listener for one signal; `None` where it could not be registered (or the
/// platform has no such signal), in which case it never fires.
#[cfg(unix)]
pub(crate) type Listener = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
pub(crate) type Listener = Option<std::convert::Infallible>;

/// Listen for `kind` from now on. Tokio keeps a signal's handler for the life of the
/// process once registered, so the signal no longer has its default action (ending the
/// process) even after this listener is dropped.
#[cfg(unix)]
pub(crate) fn listen(kind: Kind) -> Listener {
    use tokio::signal::unix::{SignalKind, signal};
    let (os_kind, name) = match kind {
        Kind::Terminate => (SignalKind::terminate(), "SIGTERM"),
        Kind::Interrupt => (SignalKind::interrupt(), "SIGINT"),
        Kind::Hangup => (SignalKind::hangup(), "SIGHUP"),
    };
    match signal(os_kind) {
        Ok(listener) => Some(listener),
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for {name}");
            None
        }
    }
}

#[cfg(not(unix))]
pub(crate) fn listen(_kind: Kind) -> Listener {
    None
}

/// Wait for the next delivery to `listener` (forever if it is `None`).
#[cfg(unix)]
pub(crate) async fn next(listener: &mut Listener) {
    match listener {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending().await,
    }
}

#[cfg(not(unix))]
pub(crate) async fn next(_listener: &mut Listener) {
    std::future::pending().await
}

/// SIGTERM and SIGINT, listened for from when the server starts, so one sent as soon as the
/// banner is printed stops it cleanly instead of killing it with the database open. SIGHUP
/// is taken over at the same moment, so an early one never kills the server either; the
/// certificate watcher reacts to later ones and polls the files every 5 s anyway.
#[derive(Debug)]
pub(crate) struct StopSignals {
    term: Listener,
    interrupt: Listener,
}

impl StopSignals {
    /// Register the listeners; call before announcing that the server is ready.
    pub(crate) fn register() -> Self {
        drop(listen(Kind::Hangup));
        Self {
            term: listen(Kind::Terminate),
            interrupt: listen(Kind::Interrupt),
        }
    }

    /// Cancel `shutdown` on the first of these signals.
    pub(crate) async fn cancel_on_signal(mut self, shutdown: CancellationToken) {
        #[cfg(unix)]
        tokio::select! {
            () = next(&mut self.term) => {}
            () = next(&mut self.interrupt) => {}
        }
        #[cfg(not(unix))]
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
        tracing::info!("signal received: shutting down");
        shutdown.cancel();
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::time::Duration;

    use super::*;

    /// A SIGTERM that arrives between `register` and anyone waiting for it (the moment a
    /// supervisor reads the banner) is neither lost nor fatal: it still stops the server.
    #[tokio::test]
    async fn a_stop_signal_sent_before_anyone_waits_still_stops_the_server() {
        let signals = StopSignals::register();
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &std::process::id().to_string()])
            .status()
            .expect("kill");
        assert!(sent.success());
        let shutdown = CancellationToken::new();
        tokio::time::timeout(
            Duration::from_secs(10),
            signals.cancel_on_signal(shutdown.clone()),
        )
        .await
        .expect("the early SIGTERM was lost");
        assert!(shutdown.is_cancelled());
    }
}
