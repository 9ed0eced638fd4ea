//! Exit codes, so that scripts and CI jobs can tell apart what went wrong without parsing text.
//!
//! The numbers are part of the command-line interface and are documented in the README; they only
//! ever get new members, never new meanings.

use std::fmt;

/// What a finished command tells its caller through the process exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Everything asked for was done (or there was nothing to do).
    Success,
    /// A failure talking to AWS or the local file system.
    Error,
    /// `plan --detailed-exitcode` found changes to make (Terraform uses 2 for this too).
    ChangesPending,
    /// The configuration, the command line or the state file is not valid; nothing was called.
    InvalidInput,
    /// ECS marked the deployment failed or rolled it back.
    DeploymentFailed,
    /// Waiting for AWS took longer than the configured budget.
    TimedOut,
    /// `apply`'s release command (`[release] command`) failed: the service was left on the
    /// revision it ran.
    ReleaseFailed,
    /// A one-off task (`deployer run`) could not start, or stopped without its container having
    /// run to an exit code; like `docker run`'s 125, outside the codes a command usually uses.
    TaskNotStarted,
    /// A one-off task's container exited with this code, passed through by `deployer run`.
    Task(u8),
    /// The run was interrupted by Ctrl-C or SIGTERM after saving the state.
    Interrupted,
}

impl Exit {
    /// The process exit status for this outcome.
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Error => 1,
            Exit::ChangesPending => 2,
            Exit::InvalidInput => 3,
            Exit::DeploymentFailed => 4,
            Exit::TimedOut => 5,
            Exit::ReleaseFailed => 6,
            Exit::TaskNotStarted => 125,
            Exit::Task(code) => code,
            Exit::Interrupted => 130,
        }
    }
}

/// An error that carries the exit status it should end the process with.
///
/// Lower layers return typed errors; the command layer wraps the ones whose exit status is not the
/// generic [`Exit::Error`] in this, so `main` does not need to know every error type.
#[derive(Debug)]
pub struct ExitError {
    pub exit: Exit,
    pub source: anyhow::Error,
}

impl ExitError {
    pub fn new(exit: Exit, source: impl Into<anyhow::Error>) -> Self {
        Self {
            exit,
            source: source.into(),
        }
    }
}

impl fmt::Display for ExitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.source, f)
    }
}

impl std::error::Error for ExitError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.source()
    }
}

/// The exit status for an error chain: the first [`ExitError`] in it decides, otherwise it is a
/// plain [`Exit::Error`].
pub fn exit_for(error: &anyhow::Error) -> Exit {
    error
        .chain()
        .find_map(|cause| cause.downcast_ref::<ExitError>())
        .map_or(Exit::Error, |e| e.exit)
}
