//! Which stack a command works on, and opening it: the configuration file (validated before
//! anything else), the environment's lock, its state, and the AWS clients.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, Result};

use super::backend::{Backend, EnvLock, Revision};
use super::StateStore;
use crate::aws::{AwsClients, ConnectOptions};
use crate::config::{parse_state_url, region_error, Config, StateConfig};
use crate::contract::Ctx;
use crate::exit::{Exit, ExitError};
use crate::printer::Printer;
use crate::state::State;

/// Where a command's stack is described and recorded, and how to reach AWS.
#[derive(Debug, Clone)]
pub struct Target {
    /// The environment named on the command line (or the default): reads `envs/<env>.toml`.
    pub env: String,
    /// Whether `--env` (or `DEPLOYER_ENV`) named it, rather than the default.
    pub env_given: bool,
    /// A configuration file given instead of `envs/<env>.toml`.
    pub config: Option<PathBuf>,
    /// Where state files and locks are kept.
    pub state_dir: PathBuf,
    pub profile: Option<String>,
    /// A region that overrides the configuration's.
    pub region: Option<String>,
    /// `--state`: `s3://BUCKET/PREFIX/` or `local`, overriding the configuration's `[state]`.
    pub state: Option<String>,
    /// How long to wait for another run's lock before giving up (zero: not at all).
    pub lock_timeout: Duration,
}

/// Why `dir` cannot hold state files: it, or the closest of its parents that exists, is not a
/// directory. Checked up front because the lock and the state file would otherwise fail on it
/// with the operating system's words ("File exists", "Not a directory") and no hint of which
/// option to change. Anything else (permissions) is left to the file operations, whose messages
/// name the file.
fn state_dir_problem(dir: &Path) -> Option<String> {
    let hint = "name a directory for the state files (created if missing), or leave the option \
                out to use \".deployer\" (DEPLOYER_STATE_DIR sets it too)";
    for existing in dir.ancestors().filter(|a| !a.as_os_str().is_empty()) {
        match std::fs::metadata(existing) {
            Ok(meta) if meta.is_dir() => return None,
            Ok(_) if existing == dir => {
                return Some(format!(
                    "{:?} is a file, not a directory; {hint}",
                    dir.display().to_string()
                ))
            }
            Ok(_) => {
                return Some(format!(
                    "{:?} cannot be a directory: {:?} is a file; {hint}",
                    dir.display().to_string(),
                    existing.display().to_string()
                ))
            }
            // Missing, or below a file ("not a directory"): the answer is further up. A
            // permission problem is found further up too, and left to the file operations.
            Err(_) => continue,
        }
    }
    None
}

/// An opened stack: what a run shares between its steps, the state's owner, and the lock (when
/// the command changes AWS), held until the session is dropped.
pub struct Session {
    pub ctx: Ctx,
    pub store: StateStore,
    /// Whether the backend held a state for the environment when the session was opened (read
    /// once, under the lock when there is one).
    pub found_state: bool,
    _lock: Option<EnvLock>,
}

impl Target {
    /// The configuration file this run reads.
    pub fn config_path(&self) -> PathBuf {
        self.config
            .clone()
            .unwrap_or_else(|| Path::new("envs").join(format!("{}.toml", self.env)))
    }

    /// Reads and validates the configuration, and the options that name AWS or local places:
    /// `--region` by the same rule as the file's `region`, `--state-dir` as a directory. Any
    /// problem is invalid input: the run stops here, before any AWS call. The options' problems
    /// are reported together with the file's, so one run shows them all. Warnings (a secret's
    /// value written in the file) are shown on stderr and change nothing else, so every command
    /// that reads the file says them.
    pub fn load_config(&self, printer: &Printer) -> Result<Config> {
        let path = self.config_path();
        let mut options = Vec::new();
        if let Some(why) = self.region.as_deref().and_then(region_error) {
            options.push(format!("--region: {why}"));
        }
        if let Some(why) = state_dir_problem(&self.state_dir) {
            options.push(format!("--state-dir: {why}"));
        }
        // Checked against the configuration's own `[state]` below; here only the syntax.
        if let Some(why) = self
            .state
            .as_deref()
            .and_then(|url| parse_state_url(url, &StateConfig::Local).err())
        {
            options.push(format!("--state: {why}"));
        }
        let mut config = match Config::load_with_warnings(&path) {
            Ok((config, warnings)) if options.is_empty() => {
                for warning in &warnings {
                    printer.warn(&warning.to_string());
                }
                config
            }
            Err(e) if options.is_empty() => {
                return Err(ExitError::new(Exit::InvalidInput, e).into())
            }
            loaded => {
                let mut lines: Vec<String> =
                    loaded.err().map(|e| e.to_string()).into_iter().collect();
                lines.extend(options);
                return Err(ExitError::new(Exit::InvalidInput, anyhow!(lines.join("\n"))).into());
            }
        };
        // With --config, the file names the environment unless --env says otherwise: a file
        // of another environment would act on that environment's stack and state.
        if (self.config.is_none() || self.env_given) && config.environment != self.env {
            let chosen = if self.config.is_none() {
                "the file was chosen with"
            } else {
                "the run was given"
            };
            return Err(ExitError::new(
                Exit::InvalidInput,
                anyhow!(
                    "{}: environment is \"{}\" but {chosen} --env {}; make them the same",
                    path.display(),
                    config.environment,
                    self.env
                ),
            )
            .into());
        }
        if let Some(url) = &self.state {
            config.state = parse_state_url(url, &config.state)
                .map_err(|why| ExitError::new(Exit::InvalidInput, anyhow!("--state: {why}")))?;
        }
        Ok(config)
    }

    /// The region the stack lives in: `--region`, or the configuration's.
    pub fn region<'a>(&'a self, config: &'a Config) -> &'a str {
        self.region.as_deref().unwrap_or(&config.region)
    }

    /// How the AWS clients of this run are built.
    pub fn connect_options(&self, config: &Config) -> ConnectOptions {
        ConnectOptions {
            profile: self.profile.clone(),
            region: self.region(config).to_owned(),
            endpoint_url: config.endpoint_url.clone(),
        }
    }

    /// The backend of the configured environment, with `aws` for S3.
    pub fn backend(&self, config: &Config, aws: &AwsClients) -> Backend {
        Backend::new(
            &config.state,
            &self.state_dir,
            &config.project,
            &config.environment,
            aws,
        )
    }

    /// The backend of the configured environment, building AWS clients only for S3: for a
    /// command that only reads the state.
    pub async fn reading_backend(&self, config: &Config) -> Backend {
        match &config.state {
            StateConfig::Local => Backend::local(&self.state_dir, &config.environment),
            StateConfig::S3(_) => {
                let aws = AwsClients::connect(&self.connect_options(config)).await;
                self.backend(config, &aws)
            }
        }
    }

    /// Reads the state of the configured environment from `backend`; a broken state is invalid
    /// input.
    pub async fn load_state(
        &self,
        config: &Config,
        backend: &Backend,
    ) -> Result<(Option<State>, Revision)> {
        let (state, revision) = backend.load(&config.project, &config.environment).await?;
        // A stack lives in one region: a different one would build a second stack and lose track
        // of the first.
        if let Some(state) = &state {
            let region = self.region(config);
            if !state.resources.is_empty() && state.region != region {
                return Err(ExitError::new(
                    Exit::InvalidInput,
                    anyhow!(
                        "{} records a stack in {}, but this run targets {region}; use --region {} \
                         (or destroy that stack first)",
                        backend.location(),
                        state.region,
                        state.region
                    ),
                )
                .into());
            }
        }
        Ok((state, revision))
    }

    /// Opens the stack for a command: validates the configuration, takes the environment's lock
    /// when `lock_for` names a command that changes AWS, reads the state and builds the clients
    /// (which makes no call by itself).
    pub async fn open(&self, printer: &Printer, lock_for: Option<&str>) -> Result<Session> {
        let config = self.load_config(printer)?;
        self.open_with(config, printer, lock_for).await
    }

    /// [`Target::open`] with a configuration already read and validated (`import` makes it
    /// from a Terraform state): takes the lock when `lock_for` names a command, then reads the
    /// state once.
    pub async fn open_with(
        &self,
        config: Config,
        printer: &Printer,
        lock_for: Option<&str>,
    ) -> Result<Session> {
        let aws = AwsClients::connect(&self.connect_options(&config)).await;
        let backend = self.backend(&config, &aws);
        let lock = match lock_for {
            Some(command) => Some(backend.lock(command, self.lock_timeout, printer).await?),
            None => None,
        };
        let (state, revision) = self.load_state(&config, &backend).await?;
        let found_state = state.is_some();
        let ctx = Ctx::new(config, aws, state, printer.clone());
        let store = StateStore::new(backend, revision, ctx.recorded.clone());
        Ok(Session {
            ctx,
            store,
            found_state,
            _lock: lock,
        })
    }
}
