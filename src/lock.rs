//! One run at a time per environment: a lock file beside the state file.
//!
//! Two `apply` runs on the same stack would race each other's creates and overwrite each other's
//! state. The lock is a file created with `create_new` (atomic on every local file system) that
//! names its holder: process ID, host and start time. A lock left behind by a process that died on
//! this host is taken over; for anything else, `deployer force-unlock` removes it.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Who holds a lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub pid: u32,
    pub host: String,
    /// Seconds since the Unix epoch.
    pub started_at: u64,
    pub command: String,
}

impl Holder {
    fn me(command: &str) -> Self {
        Self {
            pid: std::process::id(),
            host: hostname(),
            started_at: now(),
            command: command.to_owned(),
        }
    }

    /// Whether the holder is a process of this host that no longer exists.
    fn is_dead_here(&self) -> bool {
        self.host == hostname() && !process_exists(self.pid)
    }
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let age = now().saturating_sub(self.started_at);
        write!(
            f,
            "`deployer {}` (pid {} on host {}, started {age}s ago)",
            self.command, self.pid, self.host
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "environment {environment} is locked by {holder}; wait for it to finish. If that run is \
         gone, remove the lock with `deployer force-unlock --env {environment}`"
    )]
    Held { environment: String, holder: Holder },
    #[error("cannot use lock file {}: {error}", path.display())]
    Io { path: PathBuf, error: io::Error },
}

/// A held lock; released (the file removed) when dropped.
#[derive(Debug)]
pub struct Lock {
    path: PathBuf,
}

impl Lock {
    /// The lock file of an environment.
    pub fn path(state_dir: &Path, environment: &str) -> PathBuf {
        state_dir.join(format!("{environment}.lock"))
    }

    /// Takes the lock of `environment` for `command`, or says who holds it.
    pub fn acquire(state_dir: &Path, environment: &str, command: &str) -> Result<Lock, LockError> {
        let path = Self::path(state_dir, environment);
        let io_err = |error| LockError::Io {
            path: path.clone(),
            error,
        };
        crate::state::create_private_dir(state_dir).map_err(io_err)?;
        // Two tries: the second after removing a lock whose holder died on this host.
        for _ in 0..2 {
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut file) => {
                    let holder = serde_json::to_vec(&Holder::me(command)).expect("serializes");
                    file.write_all(&holder).map_err(io_err)?;
                    return Ok(Lock { path });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    match read_holder(&path) {
                        // Half-written by a process that died between create and write, or a
                        // holder that died here: either way, nobody holds it.
                        None => remove(&path).map_err(io_err)?,
                        Some(holder) if holder.is_dead_here() => {
                            tracing::warn!("taking over the lock of {holder}, which is gone");
                            remove(&path).map_err(io_err)?;
                        }
                        Some(holder) => {
                            return Err(LockError::Held {
                                environment: environment.to_owned(),
                                holder,
                            })
                        }
                    }
                }
                Err(e) => return Err(io_err(e)),
            }
        }
        let holder = read_holder(&path).unwrap_or_else(|| Holder::me("unknown"));
        Err(LockError::Held {
            environment: environment.to_owned(),
            holder,
        })
    }

    /// Removes the lock of `environment` whoever holds it; returns the holder it removed.
    pub fn force_unlock(state_dir: &Path, environment: &str) -> Result<Option<Holder>, LockError> {
        let path = Self::path(state_dir, environment);
        let holder = read_holder(&path);
        match fs::remove_file(&path) {
            Ok(()) => Ok(holder),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(LockError::Io { path, error }),
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

fn read_holder(path: &Path) -> Option<Holder> {
    serde_json::from_slice(&fs::read(path).ok()?).ok()
}

fn remove(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn hostname() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Whether a process exists. Where this cannot be known (no /proc), it is assumed to exist, so a
/// lock is never taken from a live run.
fn process_exists(pid: u32) -> bool {
    let proc = Path::new("/proc");
    !proc.is_dir() || proc.join(pid.to_string()).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_acquire_names_the_holder_and_drop_releases() {
        let dir = tempfile::tempdir().unwrap();
        let lock = Lock::acquire(dir.path(), "dev", "apply").unwrap();
        let err = Lock::acquire(dir.path(), "dev", "destroy").unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains(&format!("pid {}", std::process::id())),
            "{message}"
        );
        assert!(message.contains("`deployer apply`"), "{message}");
        assert!(
            message.contains("deployer force-unlock --env dev"),
            "{message}"
        );
        // Another environment is independent.
        let _other = Lock::acquire(dir.path(), "prod", "apply").unwrap();
        drop(lock);
        Lock::acquire(dir.path(), "dev", "destroy").unwrap();
    }

    #[test]
    fn lock_of_a_dead_process_on_this_host_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let dead = Holder {
            pid: u32::MAX - 1,
            host: hostname(),
            started_at: 0,
            command: "apply".into(),
        };
        fs::write(
            Lock::path(dir.path(), "dev"),
            serde_json::to_vec(&dead).unwrap(),
        )
        .unwrap();
        Lock::acquire(dir.path(), "dev", "apply").unwrap();
    }

    #[test]
    fn lock_of_another_host_is_kept_until_forced() {
        let dir = tempfile::tempdir().unwrap();
        let remote = Holder {
            pid: 1,
            host: "elsewhere".into(),
            started_at: 0,
            command: "apply".into(),
        };
        fs::write(
            Lock::path(dir.path(), "dev"),
            serde_json::to_vec(&remote).unwrap(),
        )
        .unwrap();
        let err = Lock::acquire(dir.path(), "dev", "apply").unwrap_err();
        assert!(err.to_string().contains("host elsewhere"), "{err}");
        assert_eq!(Lock::force_unlock(dir.path(), "dev").unwrap(), Some(remote));
        Lock::acquire(dir.path(), "dev", "apply").unwrap();
        assert_eq!(Lock::force_unlock(dir.path(), "prod").unwrap(), None);
    }
}
