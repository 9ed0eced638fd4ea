//! Ctrl-C and SIGTERM during a run that changes AWS.
//!
//! Killing the process mid-step would abandon a create whose result never reaches the state file.
//! Instead the signal sets a flag: the engine starts no new step, lets the calls in flight finish
//! (for a short grace period), and the command exits with code 130 after saying what was done and
//! what was left. The handler is installed only once changes begin; before that (reading, or
//! waiting at the confirmation prompt) a signal ends the process as usual, which is harmless.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::Notify;

/// A flag raised by the first Ctrl-C or SIGTERM.
#[derive(Debug, Clone, Default)]
pub struct Interrupt {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    raised: AtomicBool,
    notify: Notify,
}

impl Interrupt {
    /// A flag that nothing raises (for runs that change nothing).
    pub fn never() -> Self {
        Self::default()
    }

    /// Starts listening for Ctrl-C and SIGTERM; must be called inside the async runtime.
    pub fn listen() -> Self {
        let interrupt = Self::default();
        let raise = interrupt.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            raise.raise();
        });
        interrupt
    }

    /// Raises the flag (what a signal does).
    pub fn raise(&self) {
        self.inner.raised.store(true, Ordering::SeqCst);
        self.inner.notify.notify_waiters();
    }

    pub fn is_raised(&self) -> bool {
        self.inner.raised.load(Ordering::SeqCst)
    }

    /// Resolves once the flag is raised.
    pub async fn raised(&self) {
        loop {
            let notified = self.inner.notify.notified();
            if self.is_raised() {
                return;
            }
            notified.await;
        }
    }
}

#[cfg(unix)]
async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() {
    let _ = tokio::signal::ctrl_c().await;
}
