//! Where an environment's state and lock are kept: one abstraction, two backends.
//!
//! - **local**: the state file `<state-dir>/<env>.json` and the lock file `<env>.lock` beside it
//!   ([`crate::state::StateFile`], [`crate::lock::Lock`]); one machine sees them.
//! - **s3**: the objects `<prefix><project>/<env>.json` and `<prefix><project>/<env>.lock` in a
//!   bucket that every machine of a team reaches. The lock is created with `If-None-Match: *`, so
//!   of all runs that try at once exactly one gets it; it is deleted with `If-Match` on its ETag,
//!   so a run removes only its own lock. The state is written with `If-Match` on the ETag read at
//!   the start of the run (`If-None-Match: *` for the first write), so a state that another run
//!   wrote in between is never overwritten: the write is refused and the run stops, saying so.
//!   A lock on S3 is never taken over by itself: a run that died leaves it, reported with its age
//!   until `deployer force-unlock` removes it.
//!
//! Everything else (the workflows, [`super::StateStore`]) goes through [`Backend`] and does not
//! know which one it has.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};

use crate::aws::s3::{self, Condition, Written};
use crate::aws::AwsClients;
use crate::config::{S3StateConfig, StateConfig};
use crate::exit::{Exit, ExitError};
use crate::lock::{self, Holder, Lock, LockError, Unlocked};
use crate::printer::Printer;
use crate::state::{State, StateError, StateFile};

/// The place of one environment's state and lock.
#[derive(Debug, Clone)]
pub enum Backend {
    Local {
        dir: PathBuf,
        file: StateFile,
        environment: String,
    },
    S3(S3Backend),
}

/// The objects of one environment in a bucket.
#[derive(Debug, Clone)]
pub struct S3Backend {
    client: aws_sdk_s3::Client,
    bucket: String,
    state_key: String,
    lock_key: String,
    kms_key_id: Option<String>,
    environment: String,
}

impl S3Backend {
    fn state_url(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.state_key)
    }

    fn lock_url(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.lock_key)
    }
}

/// Which version of the state a run read, so that its writes replace only that one: the ETag of
/// the S3 object (`None`: there was none). Unused by the local backend, where the lock is the
/// only guard.
pub type Revision = Option<String>;

impl Backend {
    /// The backend `state` names for `project`'s `environment`. `aws` builds the S3 client (in
    /// `[state].region`, else the stack's); building it makes no call.
    pub fn new(
        state: &StateConfig,
        state_dir: &Path,
        project: &str,
        environment: &str,
        aws: &AwsClients,
    ) -> Backend {
        match state {
            StateConfig::Local => Backend::local(state_dir, environment),
            StateConfig::S3(s3) => Backend::s3(s3, project, environment, aws),
        }
    }

    /// The local backend: files in `state_dir`.
    pub fn local(state_dir: &Path, environment: &str) -> Backend {
        Backend::Local {
            dir: state_dir.to_owned(),
            file: StateFile::new(state_dir, environment),
            environment: environment.to_owned(),
        }
    }

    /// The S3 backend of `config`.
    pub fn s3(
        config: &S3StateConfig,
        project: &str,
        environment: &str,
        aws: &AwsClients,
    ) -> Backend {
        Backend::S3(S3Backend {
            client: aws.s3_in(config.region.as_deref()),
            bucket: config.bucket.clone(),
            state_key: config.state_key(project, environment),
            lock_key: config.lock_key(project, environment),
            kms_key_id: config.kms_key_id.clone(),
            environment: environment.to_owned(),
        })
    }

    /// Where the state is, for messages: a file path or an `s3://` URL.
    pub fn location(&self) -> String {
        match self {
            Backend::Local { file, .. } => file.path().display().to_string(),
            Backend::S3(s3) => s3.state_url(),
        }
    }

    fn environment(&self) -> &str {
        match self {
            Backend::Local { environment, .. } => environment,
            Backend::S3(s3) => &s3.environment,
        }
    }

    /// Reads the state and checks that it belongs to `project`'s `environment`; `None` when
    /// there is none yet. One `GetObject` on S3.
    ///
    /// Errors: [`StateError`] for a state that cannot be read or is not valid (invalid input),
    /// an AWS error otherwise.
    pub async fn load(
        &self,
        project: &str,
        environment: &str,
    ) -> Result<(Option<State>, Revision)> {
        match self {
            Backend::Local { file, .. } => {
                let state = file
                    .load_for(project, environment)
                    .map_err(|e| ExitError::new(Exit::InvalidInput, e))?;
                Ok((state, None))
            }
            Backend::S3(s3) => {
                let Some(object) = s3::get(&s3.client, &s3.bucket, &s3.state_key).await? else {
                    return Ok((None, None));
                };
                let origin = PathBuf::from(s3.state_url());
                let text = String::from_utf8(object.body).map_err(|e| {
                    ExitError::new(
                        Exit::InvalidInput,
                        StateError::Corrupt {
                            path: origin.clone(),
                            message: e.to_string(),
                        },
                    )
                })?;
                let state = crate::state::parse_for(&text, &origin, project, environment)
                    .map_err(|e| ExitError::new(Exit::InvalidInput, e))?;
                Ok((Some(state), Some(object.etag)))
            }
        }
    }

    /// Writes `state` over the version `revision` names, and moves `revision` to the new one.
    ///
    /// Errors: on S3, a clear error when another run wrote the state since `revision` (nothing is
    /// overwritten); the file system's or AWS's errors otherwise.
    pub fn save(&self, state: &State, revision: &mut Revision) -> Result<()> {
        match self {
            Backend::Local { file, .. } => Ok(file.save(state)?),
            Backend::S3(s3) => {
                let body = crate::state::to_json(state)?;
                let condition = match revision {
                    Some(etag) => Condition::Unchanged(etag.clone()),
                    None => Condition::Absent,
                };
                let written = run_blocking(s3::put(
                    &s3.client,
                    &s3.bucket,
                    &s3.state_key,
                    body,
                    &condition,
                    s3.kms_key_id.as_deref(),
                ))?;
                match written {
                    Written::Done(etag) => {
                        *revision = Some(etag);
                        Ok(())
                    }
                    Written::Refused => Err(changed_meanwhile(s3)),
                }
            }
        }
    }

    /// Removes the state (after a destroy removed everything it listed), if it is still the
    /// version `revision` names.
    pub fn remove(&self, revision: &mut Revision) -> Result<()> {
        match self {
            Backend::Local { file, .. } => Ok(file.remove()?),
            Backend::S3(s3) => {
                let Some(etag) = revision.clone() else {
                    return Ok(());
                };
                match run_blocking(s3::delete(&s3.client, &s3.bucket, &s3.state_key, &etag))? {
                    Written::Done(_) => {
                        *revision = None;
                        Ok(())
                    }
                    Written::Refused => Err(changed_meanwhile(s3)),
                }
            }
        }
    }

    /// Takes the environment's lock for `command`, waiting up to `timeout` while another run
    /// holds it (telling so once on stderr).
    ///
    /// Errors: [`LockError::Held`] naming the holder when the wait runs out (at once for a zero
    /// `timeout`), [`LockError::Unreadable`] for a lock that does not say whose it is, the file
    /// system's or AWS's errors.
    pub async fn lock(
        &self,
        command: &str,
        timeout: Duration,
        printer: &Printer,
    ) -> Result<EnvLock> {
        let deadline = Instant::now() + timeout;
        let mut told = false;
        loop {
            let error = match self.try_lock(command).await {
                Ok(lock) => return Ok(lock),
                Err(error) => error,
            };
            let waiting = match error.downcast_ref::<LockError>() {
                Some(LockError::Held { holder, .. }) => {
                    Instant::now() < deadline && {
                        if !told {
                            printer.info(&format!(
                            "{} is locked by {holder}; waiting up to {}s for it (--lock-timeout)",
                            self.environment(),
                            timeout.as_secs()
                        ));
                            told = true;
                        }
                        true
                    }
                }
                _ => false,
            };
            if !waiting {
                return Err(error);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            tokio::time::sleep(left.min(LOCK_POLL)).await;
        }
    }

    async fn try_lock(&self, command: &str) -> Result<EnvLock> {
        match self {
            Backend::Local {
                dir, environment, ..
            } => Ok(EnvLock::Local(Lock::acquire(dir, environment, command)?)),
            Backend::S3(s3) => Ok(EnvLock::S3(S3Lock::acquire(s3, command).await?)),
        }
    }

    /// Removes the environment's lock whoever holds it (one left by a run that is gone).
    ///
    /// Errors: [`LockError::StillRunning`] for a holder still running on this host, the file
    /// system's or AWS's errors.
    pub async fn force_unlock(&self) -> Result<Unlocked> {
        match self {
            Backend::Local {
                dir, environment, ..
            } => Ok(Lock::force_unlock(dir, environment)?),
            Backend::S3(s3) => {
                for _ in 0..ATTEMPTS {
                    let Some(object) = s3::get(&s3.client, &s3.bucket, &s3.lock_key).await? else {
                        return Ok(Unlocked::NotLocked);
                    };
                    let found = match lock::parse_holder(&object.body) {
                        Ok(holder) if holder.is_alive_here() => {
                            return Err(LockError::StillRunning {
                                environment: s3.environment.clone(),
                                holder: Box::new(holder),
                            }
                            .into())
                        }
                        Ok(holder) => Unlocked::Holder(holder),
                        Err(_) => Unlocked::Unreadable,
                    };
                    // Only the lock that was read: one taken meanwhile by a new run stays.
                    match s3::delete(&s3.client, &s3.bucket, &s3.lock_key, &object.etag).await? {
                        Written::Done(_) => return Ok(found),
                        Written::Refused => continue,
                    }
                }
                Err(anyhow!(
                    "the lock {} kept changing hands; try again",
                    s3.lock_url()
                ))
            }
        }
    }
}

/// How often a run waiting for the lock looks again.
const LOCK_POLL: Duration = Duration::from_secs(2);

/// How many times a run tries to create the S3 lock when it vanishes between the refused write
/// and the read of its holder.
const ATTEMPTS: usize = 3;

fn changed_meanwhile(s3: &S3Backend) -> anyhow::Error {
    ChangedMeanwhile {
        url: s3.state_url(),
        environment: s3.environment.clone(),
    }
    .into()
}

/// S3 refused a write or delete of the state because another run changed it after this run read
/// it.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "the state {url} was changed by another run after this run read it (S3 refused the write: \
     412 PreconditionFailed); it was not overwritten. That run held the lock of {environment} (or \
     its lock was removed with force-unlock): check that no other run is under way, then run \
     again, which reads the state afresh (what this run made is found again by name)"
)]
pub struct ChangedMeanwhile {
    url: String,
    environment: String,
}

/// A held lock of either backend; released when dropped.
#[derive(Debug)]
pub enum EnvLock {
    Local(Lock),
    S3(S3Lock),
}

/// A held lock object on S3; deleted (if still ours) when dropped.
#[derive(Debug)]
pub struct S3Lock {
    client: aws_sdk_s3::Client,
    bucket: String,
    key: String,
    etag: String,
    /// The registration of the release for a signal ([`lock::on_exit_release`]).
    exit_release: u64,
}

impl S3Lock {
    /// Creates the lock object, naming this run, if no lock exists.
    ///
    /// A lock named by a process of this host that no longer exists (a run killed with `kill -9`)
    /// is taken over, as the local lock is: replaced only if it is still the object read
    /// (`If-Match`), so two runs cannot both take it.
    async fn acquire(s3: &S3Backend, command: &str) -> Result<S3Lock> {
        let me = Holder::me(command);
        let body = serde_json::to_vec_pretty(&me)?;
        let mut condition = Condition::Absent;
        for _ in 0..ATTEMPTS {
            let written = s3::put(
                &s3.client,
                &s3.bucket,
                &s3.lock_key,
                body.clone(),
                &condition,
                s3.kms_key_id.as_deref(),
            )
            .await?;
            condition = Condition::Absent;
            if let Written::Done(etag) = written {
                let (client, bucket, key) =
                    (s3.client.clone(), s3.bucket.clone(), s3.lock_key.clone());
                let tag = etag.clone();
                let exit_release = lock::on_exit_release(move || {
                    release_s3(&client, &bucket, &key, &tag);
                });
                return Ok(S3Lock {
                    client: s3.client.clone(),
                    bucket: s3.bucket.clone(),
                    key: s3.lock_key.clone(),
                    etag,
                    exit_release,
                });
            }
            match s3::get(&s3.client, &s3.bucket, &s3.lock_key).await? {
                // Released between the write and the read: try again.
                None => continue,
                Some(object) => {
                    let holder = lock::parse_holder(&object.body);
                    // This run has not taken the lock yet: a holder with its own ID on this
                    // host is an earlier run's.
                    if let Some(gone) = holder.as_ref().ok().filter(|h| h.is_gone_here(false)) {
                        tracing::warn!("taking over the lock of {gone}, which is gone");
                        condition = Condition::Unchanged(object.etag);
                        continue;
                    }
                    return Err(match holder {
                        Ok(holder) => LockError::Held {
                            environment: s3.environment.clone(),
                            holder: Box::new(holder),
                        },
                        Err(reason) => LockError::Unreadable {
                            environment: s3.environment.clone(),
                            path: PathBuf::from(s3.lock_url()),
                            reason,
                        },
                    }
                    .into());
                }
            }
        }
        Err(anyhow!(
            "the lock {} kept changing hands; try again",
            s3.lock_url()
        ))
    }
}

impl Drop for S3Lock {
    fn drop(&mut self) {
        lock::forget_exit_release(self.exit_release);
        release_s3(&self.client, &self.bucket, &self.key, &self.etag);
    }
}

/// Deletes the lock object if it is still the one this run wrote.
fn release_s3(client: &aws_sdk_s3::Client, bucket: &str, key: &str, etag: &str) {
    match run_blocking(s3::delete(client, bucket, key, etag)) {
        Ok(Written::Done(_)) => {}
        Ok(Written::Refused) => tracing::warn!(
            "not removing the lock s3://{bucket}/{key}: it is no longer this run's (removed \
             with force-unlock, and maybe taken by another run)"
        ),
        Err(error) => tracing::warn!("cannot remove the lock s3://{bucket}/{key}: {error:#}"),
    }
}

/// Runs `future` to completion from code that is not async (the engine's journal, a `Drop`):
/// on the run's multi-threaded runtime when there is one, else on a small runtime of its own in
/// a thread of its own.
pub fn run_blocking<T: Send>(future: impl Future<Output = Result<T>> + Send) -> Result<T> {
    use tokio::runtime::{Builder, Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(|| handle.block_on(future))
        }
        _ => std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    Builder::new_current_thread()
                        .enable_all()
                        .build()?
                        .block_on(future)
                })
                .join()
                .unwrap_or_else(|_| Err(anyhow!("the call to S3 panicked")))
        }),
    }
}
