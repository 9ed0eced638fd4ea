//! Ctrl-C and SIGTERM during a run that takes the environment's lock.
//!
//! The handler is installed once, as the command starts ([`Interrupt::install`]), and covers the
//! whole run in two phases:
//!
//! - **Before any change** (reading the stack, waiting at the confirmation prompt): nothing needs
//!   finishing, so the process releases the lock it holds, says it was interrupted before any
//!   change, and exits with code 130 at once.
//! - **Once changes begin** ([`Interrupt::listen`]): killing the process mid-step would abandon a
//!   create whose result never reaches the state file. Instead the signal sets a flag: the engine
//!   starts no new step, lets the calls in flight finish (for a short grace period), and the
//!   command exits with code 130 after saying what was done and what was left; the lock is
//!   released as the command returns.
//!
//! The switch between the two is made under a mutex that the signal's handling also takes, so a
//! signal is handled by exactly one of them: never an exit after the first change has started.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::sync::{Mutex, OnceLock, PoisonError};

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
    /// A flag that nothing raises (for runs that change nothing), apart from [`Interrupt::raise`].
    pub fn never() -> Self {
        Self::default()
    }

    /// Installs the process's handler of Ctrl-C and SIGTERM, in the "before any change" phase: a
    /// signal then releases the locks this process holds and exits with code 130. Does nothing
    /// when already installed. Must be called inside the async runtime.
    pub fn install() {
        let mut phase = phase();
        if *phase == Phase::Off {
            spawn_handler();
            *phase = Phase::BeforeChanges;
        }
    }

    /// Enters the "changes" phase and returns the process's flag, which a signal raises from now
    /// on (installing the handler first if needed). Call it right before the first change; must be
    /// called inside the async runtime.
    pub fn listen() -> Self {
        let mut phase = phase();
        if *phase == Phase::Off {
            spawn_handler();
        }
        *phase = Phase::Changes;
        shared().clone()
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

/// Which phase of the run a signal finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No handler: a signal ends the process as the system does.
    Off,
    BeforeChanges,
    Changes,
}

static PHASE: Mutex<Phase> = Mutex::new(Phase::Off);

fn phase() -> std::sync::MutexGuard<'static, Phase> {
    PHASE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The flag of this process, raised by a signal in the "changes" phase.
fn shared() -> &'static Interrupt {
    static SHARED: OnceLock<Interrupt> = OnceLock::new();
    SHARED.get_or_init(Interrupt::default)
}

fn spawn_handler() {
    tokio::spawn(async {
        wait_for_signal().await;
        let phase = phase();
        if *phase == Phase::Changes {
            shared().raise();
            return;
        }
        // Nothing was changed, so nothing needs finishing. `phase` stays locked until the exit,
        // so the run cannot begin a change meanwhile.
        crate::lock::release_all_for_exit();
        eprintln!("error: interrupted before any change; nothing was changed");
        std::process::exit(i32::from(crate::exit::Exit::Interrupted.code()));
    });
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
