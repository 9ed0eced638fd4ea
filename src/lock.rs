//! One run at a time per environment: a lock file beside the state file.
//!
//! Two `apply` runs on the same stack would race each other's creates and overwrite each other's
//! state. The lock is the file `<env>.lock` in the state directory; it names its holder (process
//! ID, host, start time, command and a random token that tells two runs of the same process ID
//! apart). The scheme, and why exactly one run holds the lock at any time:
//!
//! - **Created whole, exclusively.** The holder is written to a temporary file
//!   `.<env>.lock.tmpXXXXXX` (mode 0600) in the same directory, which is then hard-linked to
//!   `<env>.lock`. Linking fails when the name exists, so of all the runs that try at once exactly
//!   one creates the lock, and nobody ever sees it empty or half-written. The temporary name is
//!   removed right after.
//! - **Changed under a guard.** Every change to the lock file (create, take over, release) is made
//!   while holding an advisory lock (`flock`) on the state directory itself. The kernel drops it
//!   when its process ends, however it ends, so the guard never goes stale. Under the guard,
//!   "read the holder, see that its process is dead, remove its file, create ours" is one step that
//!   no other run on this host can interleave with; and a run removes the lock only while it still
//!   names that run (after `force-unlock`, it may name another).
//! - **Taken over only from a dead process on this host** — the very processes the guard orders —
//!   or from an earlier process that had this one's ID (in a container every run is process 1).
//!   A holder on another host, or one that cannot be checked, keeps the lock until it ends or
//!   `deployer force-unlock` removes it. Where the file system offers no `flock`, creation stays
//!   exclusive through the link, but nothing is taken over: `force-unlock` is the way out.
//! - **Leftovers are cleaned under the guard.** A temporary lock file seen while holding the guard
//!   belongs to a run that was killed (a live one removes its own before letting the guard go), so
//!   it is removed; and once the lock is held, temporary state files of the environment left by a
//!   killed write are removed too ([`crate::state::StateFile::remove_stale_temp_files`]).
//!
//! A held lock is released when its [`Lock`] is dropped, and by [`release_all_for_exit`] when a
//! signal ends the process before changes began.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Who holds a lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub pid: u32,
    pub host: String,
    /// Seconds since the Unix epoch.
    pub started_at: u64,
    pub command: String,
    /// 16 random hexadecimal digits, unique to one acquisition (empty in locks written by older
    /// versions).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub token: String,
    /// The user who started the run (`GITHUB_ACTOR` in GitHub Actions, else `USER`); empty when
    /// unknown.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub who: String,
    /// The CI run the lock was taken by: `$GITHUB_SERVER_URL/$GITHUB_REPOSITORY/actions/runs/$GITHUB_RUN_ID`
    /// in GitHub Actions; empty elsewhere.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub run_url: String,
}

impl Holder {
    /// This process, running `command`, with a fresh token.
    pub fn me(command: &str) -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let run_url = match (
            var("GITHUB_SERVER_URL"),
            var("GITHUB_REPOSITORY"),
            var("GITHUB_RUN_ID"),
        ) {
            (Some(server), Some(repository), Some(run)) => {
                format!("{server}/{repository}/actions/runs/{run}")
            }
            _ => String::new(),
        };
        Self {
            pid: std::process::id(),
            host: hostname(),
            started_at: now(),
            command: command.to_owned(),
            token: format!("{:016x}", fastrand::u64(..)),
            who: var("GITHUB_ACTOR")
                .or_else(|| var("USER"))
                .unwrap_or_default(),
            run_url,
        }
    }

    /// Whether the holder is a process of this host that is still running.
    pub fn is_alive_here(&self) -> bool {
        self.host == hostname() && process_exists(self.pid)
    }

    /// Whether the holder is a process of this host that no longer exists.
    fn is_dead_here(&self) -> bool {
        self.host == hostname() && !process_exists(self.pid)
    }

    /// Whether the holder is a run of this host that is gone: a process that no longer exists,
    /// or one with this process's ID that this process does not hold (`held_here`: a run that
    /// had the same ID before, as every run has in a container where it is process 1).
    pub fn is_gone_here(&self, held_here: bool) -> bool {
        if self.host == hostname() && self.pid == std::process::id() {
            return !held_here;
        }
        self.is_dead_here()
    }
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let age = now().saturating_sub(self.started_at);
        write!(
            f,
            "`deployer {}` (pid {} on host {}",
            self.command, self.pid, self.host
        )?;
        if !self.who.is_empty() {
            write!(f, ", user {}", self.who)?;
        }
        write!(f, ", started {} ago", format_age(age))?;
        if !self.run_url.is_empty() {
            write!(f, ", run {}", self.run_url)?;
        }
        write!(f, ")")
    }
}

/// `42s`, `5m 3s`, `2h 10m`, `3d 4h`: how long a lock has been held, to the two largest units.
pub fn format_age(seconds: u64) -> String {
    let (d, h, m, s) = (
        seconds / 86_400,
        seconds / 3600 % 24,
        seconds / 60 % 60,
        seconds % 60,
    );
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "environment {environment} is locked by {holder}; wait for it to finish. If that run is \
         gone, remove the lock with `deployer force-unlock --env {environment}`"
    )]
    Held {
        environment: String,
        holder: Box<Holder>,
    },
    #[error(
        "environment {environment} is locked, but lock file {} does not say by whom ({reason}); if \
         no run is under way, remove it with `deployer force-unlock --env {environment}`",
        path.display()
    )]
    Unreadable {
        environment: String,
        path: PathBuf,
        reason: String,
    },
    #[error(
        "environment {environment} is locked by {holder}, which is still running on this host; \
         force-unlock is for a run that is gone: stop that one (or wait for it) instead"
    )]
    StillRunning {
        environment: String,
        holder: Box<Holder>,
    },
    #[error("cannot use lock file {}: {error}", path.display())]
    Io { path: PathBuf, error: io::Error },
}

/// What `force-unlock` found and removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unlocked {
    /// A lock naming this holder, now removed.
    Holder(Holder),
    /// A lock file that did not say by whom, now removed.
    Unreadable,
    /// No lock.
    NotLocked,
}

/// A held lock; released (the file removed, if it still names this run) when dropped.
#[derive(Debug)]
pub struct Lock {
    path: PathBuf,
    holder: Holder,
}

/// The locks this process holds, so that a signal can release them before the process exits.
/// Taken before the guard whenever both are needed.
static HELD: Mutex<Vec<(PathBuf, Holder)>> = Mutex::new(Vec::new());

fn held() -> MutexGuard<'static, Vec<(PathBuf, Holder)>> {
    HELD.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How many times a run tries to create the lock: once, and once more after taking over the lock
/// of a dead process (or after a lock that vanished between the two looks).
const ATTEMPTS: usize = 3;

impl Lock {
    /// The lock file of an environment: `<state_dir>/<environment>.lock`.
    pub fn path(state_dir: &Path, environment: &str) -> PathBuf {
        state_dir.join(format!("{environment}.lock"))
    }

    /// Takes the lock of `environment` for `command` (the subcommand's name, shown to other runs),
    /// creating `state_dir` (mode 0700) if needed. Takes over a lock whose holder died on this
    /// host, and removes the temporary files killed runs left (see the module documentation).
    ///
    /// Errors: [`LockError::Held`] naming the live holder, [`LockError::Unreadable`] for a lock
    /// file that does not parse, [`LockError::Io`] when the directory or files cannot be used.
    pub fn acquire(state_dir: &Path, environment: &str, command: &str) -> Result<Lock, LockError> {
        let path = Self::path(state_dir, environment);
        let io_err = |error| LockError::Io {
            path: path.clone(),
            error,
        };
        crate::state::create_private_dir(state_dir).map_err(io_err)?;
        // Held until the lock is recorded, so that a signal in between still releases it.
        let mut held = held();
        let guard = Guard::take(state_dir).map_err(io_err)?;
        if guard.is_some() {
            remove_stale_lock_temps(state_dir, environment);
        }
        let me = Holder::me(command);
        let temp = write_temp(state_dir, environment, &me).map_err(io_err)?;
        let mut last = None;
        for _ in 0..ATTEMPTS {
            match fs::hard_link(temp.path(), &path) {
                Ok(()) => {
                    held.push((path.clone(), me.clone()));
                    drop(temp);
                    drop(guard);
                    drop(held);
                    crate::state::StateFile::new(state_dir, environment).remove_stale_temp_files();
                    return Ok(Lock { path, holder: me });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io_err(e)),
            }
            match read_holder(&path) {
                // Released between the link and the read: try again.
                Found::Missing => {}
                Found::Holder(holder) if guard.is_some() && is_stale(&holder, &path, &held) => {
                    // Under the guard, nobody else can change the file between this read and
                    // the removal.
                    tracing::warn!("taking over the lock of {holder}, which is gone");
                    remove(&path).map_err(io_err)?;
                    last = Some(holder);
                }
                Found::Holder(holder) => {
                    return Err(LockError::Held {
                        environment: environment.to_owned(),
                        holder: Box::new(holder),
                    })
                }
                Found::Unreadable(reason) => {
                    return Err(LockError::Unreadable {
                        environment: environment.to_owned(),
                        path,
                        reason,
                    })
                }
            }
        }
        Err(match last {
            Some(holder) => LockError::Held {
                environment: environment.to_owned(),
                holder: Box::new(holder),
            },
            None => io_err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "the lock kept changing hands; try again",
            )),
        })
    }

    /// Removes the lock of `environment` whoever holds it; returns the holder it removed (`None`
    /// when there was no lock, or its file named nobody readable).
    ///
    /// Errors: [`LockError::Io`] when the file exists but cannot be removed.
    pub fn force_unlock(state_dir: &Path, environment: &str) -> Result<Unlocked, LockError> {
        let path = Self::path(state_dir, environment);
        // Best effort: without the guard the removal is still what was asked for.
        let _guard = Guard::take(state_dir).ok().flatten();
        let found = match read_holder(&path) {
            Found::Holder(holder) => {
                // A run of this host that is still alive is not gone: removing its lock would
                // let a second run change the same stack beside it.
                if holder.is_alive_here() {
                    return Err(LockError::StillRunning {
                        environment: environment.to_owned(),
                        holder: Box::new(holder),
                    });
                }
                Unlocked::Holder(holder)
            }
            Found::Unreadable(_) => Unlocked::Unreadable,
            Found::Missing => Unlocked::NotLocked,
        };
        match fs::remove_file(&path) {
            Ok(()) => Ok(found),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Unlocked::NotLocked),
            Err(error) => Err(LockError::Io { path, error }),
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let mut held = held();
        held.retain(|(path, holder)| !(path == &self.path && holder == &self.holder));
        release(&self.path, &self.holder);
    }
}

/// How a lock kept elsewhere than in a file (an S3 object) is released when a signal ends the
/// process: registered by its owner while it holds the lock, with an ID to unregister it.
type ExitRelease = Box<dyn FnOnce() + Send>;

static EXIT_RELEASES: Mutex<Vec<(u64, ExitRelease)>> = Mutex::new(Vec::new());

fn exit_releases() -> MutexGuard<'static, Vec<(u64, ExitRelease)>> {
    EXIT_RELEASES.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Registers `release` to be run by [`release_all_for_exit`]; returns the ID that
/// [`forget_exit_release`] takes once the lock is released the ordinary way.
pub fn on_exit_release(release: impl FnOnce() + Send + 'static) -> u64 {
    let id = fastrand::u64(..);
    exit_releases().push((id, Box::new(release)));
    id
}

/// Unregisters the release registered under `id`.
pub fn forget_exit_release(id: u64) {
    exit_releases().retain(|(i, _)| *i != id);
}

/// Releases every lock this process holds and makes any later [`Lock::acquire`] of this process
/// wait forever: for a process about to exit without running destructors (a signal before any
/// change began).
pub(crate) fn release_all_for_exit() {
    let mut held = held();
    for (path, holder) in held.drain(..) {
        release(&path, &holder);
    }
    let releases: Vec<_> = exit_releases().drain(..).collect();
    for (_, release) in releases {
        release();
    }
    // Never unlocked: the process ends next.
    std::mem::forget(held);
}

/// Whether the lock at `path` names a process of this host that is gone: one that no longer
/// exists, or one with this process's ID that this process does not hold (see
/// [`Holder::is_gone_here`]).
fn is_stale(holder: &Holder, path: &Path, held: &[(PathBuf, Holder)]) -> bool {
    holder.is_gone_here(held.iter().any(|(p, h)| p == path && h == holder))
}

/// Removes the lock file at `path` if it still names `holder`.
fn release(path: &Path, holder: &Holder) {
    let dir = path.parent().unwrap_or(Path::new("."));
    // Without the guard (none on this file system, or it stayed busy), check and remove anyway:
    // leaving our own lock behind would be worse.
    let _guard = Guard::take(dir).ok().flatten();
    match read_holder(path) {
        Found::Holder(found) if &found == holder => {
            if let Err(error) = remove(path) {
                tracing::warn!("cannot remove lock file {}: {error}", path.display());
            }
        }
        Found::Holder(found) => {
            tracing::warn!(
                "not removing lock file {}: it now names {found}",
                path.display()
            );
        }
        Found::Missing | Found::Unreadable(_) => {}
    }
}

/// How long a run waits for another to finish changing the lock file (which takes milliseconds).
const GUARD_WAIT: Duration = Duration::from_secs(10);

/// The advisory lock on the state directory under which lock files change; released on drop.
struct Guard {
    _dir: File,
}

impl Guard {
    /// Takes the guard of `dir`, waiting up to [`GUARD_WAIT`] while another run holds it.
    /// `Ok(None)` where the file system has no `flock`; an error when the wait runs out.
    #[cfg(unix)]
    fn take(dir: &Path) -> io::Result<Option<Guard>> {
        use rustix::fs::{flock, FlockOperation};
        use rustix::io::Errno;
        let file = File::open(dir)?;
        let deadline = Instant::now() + GUARD_WAIT;
        loop {
            match flock(&file, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => return Ok(Some(Guard { _dir: file })),
                Err(Errno::INTR) => {}
                Err(Errno::WOULDBLOCK) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(Errno::WOULDBLOCK) => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!(
                            "another run kept {} busy for {}s",
                            dir.display(),
                            GUARD_WAIT.as_secs()
                        ),
                    ))
                }
                Err(error) => {
                    tracing::debug!("no flock on {}: {error}", dir.display());
                    return Ok(None);
                }
            }
        }
    }

    #[cfg(not(unix))]
    fn take(_dir: &Path) -> io::Result<Option<Guard>> {
        Ok(None)
    }
}

/// The prefix of the temporary files a lock is created from.
fn temp_prefix(environment: &str) -> String {
    format!(".{environment}.lock.tmp")
}

/// Writes `holder` to a new temporary file (mode 0600 whatever the umask) beside the lock.
fn write_temp(
    dir: &Path,
    environment: &str,
    holder: &Holder,
) -> io::Result<tempfile::NamedTempFile> {
    let json = serde_json::to_vec(holder).map_err(io::Error::other)?;
    let mut temp = tempfile::Builder::new()
        .prefix(&temp_prefix(environment))
        .rand_bytes(6)
        .tempfile_in(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        temp.as_file()
            .set_permissions(fs::Permissions::from_mode(0o600))?;
    }
    temp.write_all(&json)?;
    temp.as_file().sync_all()?;
    Ok(temp)
}

/// Removes the temporary lock files a killed run left. Only called under the guard, where no live
/// run has one.
fn remove_stale_lock_temps(dir: &Path, environment: &str) {
    let prefix = temp_prefix(environment);
    for path in crate::state::temp_files(dir, &prefix) {
        tracing::debug!("removing {}, left by a killed run", path.display());
        let _ = remove(&path);
    }
}

/// What a lock file says.
#[derive(Debug)]
enum Found {
    Missing,
    Holder(Holder),
    Unreadable(String),
}

fn read_holder(path: &Path) -> Found {
    match fs::read(path) {
        Ok(bytes) => match parse_holder(&bytes) {
            Ok(holder) => Found::Holder(holder),
            Err(reason) => Found::Unreadable(reason),
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => Found::Missing,
        Err(e) => Found::Unreadable(e.to_string()),
    }
}

/// The holder a lock's contents name (a lock file's, or an S3 lock object's). Errors: why they
/// name none, for [`LockError::Unreadable`].
pub fn parse_holder(bytes: &[u8]) -> Result<Holder, String> {
    serde_json::from_slice(bytes).map_err(|e| {
        if bytes.is_empty() {
            "it is empty".to_owned()
        } else {
            format!("not a lock: {e}")
        }
    })
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

    fn dead_holder() -> Holder {
        Holder {
            pid: u32::MAX - 1,
            host: hostname(),
            started_at: 0,
            command: "apply".into(),
            token: String::new(),
            who: String::new(),
            run_url: String::new(),
        }
    }

    #[test]
    fn ages_are_told_in_their_two_largest_units() {
        assert_eq!(format_age(0), "0s");
        assert_eq!(format_age(59), "59s");
        assert_eq!(format_age(303), "5m 3s");
        assert_eq!(format_age(2 * 3600 + 10 * 60 + 5), "2h 10m");
        assert_eq!(format_age(3 * 86_400 + 4 * 3600 + 59), "3d 4h");
    }

    #[test]
    fn the_holder_names_the_user_and_the_ci_run_when_known() {
        let holder = Holder {
            who: "alice".into(),
            run_url: "https://github.com/acme/app/actions/runs/42".into(),
            ..dead_holder()
        };
        let shown = holder.to_string();
        assert!(shown.starts_with("`deployer apply` (pid "), "{shown}");
        assert!(shown.contains(", user alice, started "), "{shown}");
        assert!(
            shown.ends_with(" ago, run https://github.com/acme/app/actions/runs/42)"),
            "{shown}"
        );
    }

    #[test]
    fn lock_of_a_dead_process_on_this_host_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = Lock::path(dir.path(), "dev");
        fs::write(&path, serde_json::to_vec(&dead_holder()).unwrap()).unwrap();
        let lock = Lock::acquire(dir.path(), "dev", "apply").unwrap();
        let Found::Holder(holder) = read_holder(&path) else {
            panic!("no holder in {}", path.display());
        };
        assert_eq!(holder, lock.holder);
        assert_eq!(holder.pid, std::process::id());
        drop(lock);
        assert!(!path.exists());
    }

    #[test]
    fn lock_of_an_earlier_process_with_this_pid_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = Lock::path(dir.path(), "dev");
        let earlier = Holder {
            pid: std::process::id(),
            ..dead_holder()
        };
        fs::write(&path, serde_json::to_vec(&earlier).unwrap()).unwrap();
        let lock = Lock::acquire(dir.path(), "dev", "apply").unwrap();
        let Found::Holder(holder) = read_holder(&path) else {
            panic!("no holder in {}", path.display());
        };
        assert_eq!(holder, lock.holder);
        assert_ne!(holder, earlier);
    }

    #[test]
    fn lock_of_another_host_is_kept_until_forced() {
        let dir = tempfile::tempdir().unwrap();
        let remote = Holder {
            pid: 1,
            host: "elsewhere".into(),
            started_at: 0,
            command: "apply".into(),
            token: String::new(),
            who: String::new(),
            run_url: String::new(),
        };
        fs::write(
            Lock::path(dir.path(), "dev"),
            serde_json::to_vec(&remote).unwrap(),
        )
        .unwrap();
        let err = Lock::acquire(dir.path(), "dev", "apply").unwrap_err();
        assert!(err.to_string().contains("host elsewhere"), "{err}");
        assert_eq!(
            Lock::force_unlock(dir.path(), "dev").unwrap(),
            Unlocked::Holder(remote)
        );
        Lock::acquire(dir.path(), "dev", "apply").unwrap();
        assert_eq!(
            Lock::force_unlock(dir.path(), "prod").unwrap(),
            Unlocked::NotLocked
        );
    }

    #[test]
    fn a_lock_names_its_holder_or_says_why_it_names_none() {
        let holder = Holder::me("apply");
        let bytes = serde_json::to_vec(&holder).unwrap();
        assert_eq!(parse_holder(&bytes), Ok(holder));
        assert_eq!(parse_holder(b""), Err("it is empty".to_owned()));
        let garbage = parse_holder(b"{\"pid\": \"x\"}").unwrap_err();
        assert!(garbage.starts_with("not a lock: "), "{garbage}");
    }

    #[test]
    fn an_empty_lock_file_is_not_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = Lock::path(dir.path(), "dev");
        fs::write(&path, "").unwrap();
        let err = Lock::acquire(dir.path(), "dev", "apply").unwrap_err();
        assert!(matches!(err, LockError::Unreadable { .. }), "{err}");
        assert!(err.to_string().contains("force-unlock --env dev"), "{err}");
        assert_eq!(fs::read(&path).unwrap(), b"");
        assert_eq!(
            Lock::force_unlock(dir.path(), "dev").unwrap(),
            Unlocked::Unreadable
        );
        assert!(!path.exists());
        Lock::acquire(dir.path(), "dev", "apply").unwrap();
    }

    #[test]
    fn a_lock_that_is_no_longer_ours_is_not_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = Lock::path(dir.path(), "dev");
        let lock = Lock::acquire(dir.path(), "dev", "apply").unwrap();
        // A run that is still alive here cannot be forced away...
        let refused = Lock::force_unlock(dir.path(), "dev").unwrap_err();
        assert!(
            matches!(refused, LockError::StillRunning { .. }),
            "{refused}"
        );
        assert!(path.exists());
        // ...but its lock can still vanish (removed by hand, or from another machine sharing
        // the directory) and be taken by another run.
        fs::remove_file(&path).unwrap();
        let other = Holder {
            pid: 1,
            host: "elsewhere".into(),
            started_at: 0,
            command: "destroy".into(),
            token: "0123456789abcdef".into(),
            who: String::new(),
            run_url: String::new(),
        };
        fs::write(&path, serde_json::to_vec(&other).unwrap()).unwrap();
        drop(lock);
        let Found::Holder(holder) = read_holder(&path) else {
            panic!("the other run's lock was removed");
        };
        assert_eq!(holder, other);
    }

    #[test]
    fn exactly_one_of_many_threads_takes_over_a_dead_lock() {
        for _ in 0..20 {
            let dir = tempfile::tempdir().unwrap();
            let path = Lock::path(dir.path(), "dev");
            fs::write(&path, serde_json::to_vec(&dead_holder()).unwrap()).unwrap();
            let barrier = std::sync::Barrier::new(8);
            let locks: Vec<Option<Lock>> = std::thread::scope(|scope| {
                let threads: Vec<_> = (0..8)
                    .map(|_| {
                        scope.spawn(|| {
                            barrier.wait();
                            Lock::acquire(dir.path(), "dev", "apply").ok()
                        })
                    })
                    .collect();
                threads.into_iter().map(|t| t.join().unwrap()).collect()
            });
            let winners: Vec<&Lock> = locks.iter().flatten().collect();
            assert_eq!(winners.len(), 1, "{winners:?}");
            let Found::Holder(holder) = read_holder(&path) else {
                panic!("no holder in {}", path.display());
            };
            assert_eq!(holder, winners[0].holder);
        }
    }

    #[cfg(unix)]
    #[test]
    fn leftover_temporary_lock_files_are_removed_and_the_lock_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let left = dir.path().join(".dev.lock.tmpAbC123");
        let other = dir.path().join(".prod.lock.tmpAbC123");
        fs::write(&left, "{}").unwrap();
        fs::write(&other, "{}").unwrap();
        let lock = Lock::acquire(dir.path(), "dev", "apply").unwrap();
        assert!(!left.exists());
        assert!(other.exists(), "another environment's file was removed");
        let mode = fs::metadata(&lock.path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
