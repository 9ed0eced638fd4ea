//! The workflows of `deployer state` and `force-unlock`: look at the state, set up a bucket to
//! keep it in, move it between backends, and remove a lock left by a run that is gone.

use anyhow::{anyhow, Result};

use super::backend::Backend;
use super::Target;
use crate::aws::s3;
use crate::aws::AwsClients;
use crate::config::{bucket_name_error, parse_state_url, StateConfig};
use crate::exit::{Exit, ExitError};
use crate::lock::Unlocked;
use crate::printer::Printer;
use crate::state::State;

/// The state of `target`'s environment and where it is; `None` when nothing is recorded.
pub async fn show(target: &Target, printer: &Printer) -> Result<(String, Option<State>)> {
    let config = target.load_config(printer)?;
    let backend = target.reading_backend(&config).await;
    let (state, _) = target.load_state(&config, &backend).await?;
    Ok((backend.location(), state))
}

/// Removes the lock of `target`'s environment, whoever holds it; gives back the environment and
/// what was removed.
pub async fn force_unlock(target: &Target, printer: &Printer) -> Result<(String, Unlocked)> {
    let config = target.load_config(printer)?;
    let backend = target.reading_backend(&config).await;
    let unlocked = backend.force_unlock().await?;
    Ok((config.environment, unlocked))
}

/// What `state init` is asked for; unset values come from `[state]`, then the stack.
#[derive(Debug, Clone, Default)]
pub struct InitOptions {
    pub bucket: Option<String>,
    pub kms_key_id: Option<String>,
}

/// What `state init` did.
#[derive(Debug, Clone)]
pub struct Initialized {
    pub bucket: String,
    pub region: String,
    /// The settings made now; empty when the bucket was already set up.
    pub changed: Vec<&'static str>,
}

/// Creates (or completes) the bucket that keeps the state: see [`s3::ensure_state_bucket`].
///
/// Errors: no bucket named (invalid input), a bucket name S3 refuses (invalid input), AWS errors.
pub async fn init(
    target: &Target,
    printer: &Printer,
    options: &InitOptions,
) -> Result<Initialized> {
    let config = target.load_config(printer)?;
    let configured = match &config.state {
        StateConfig::S3(s3) => Some(s3),
        StateConfig::Local => None,
    };
    let bucket = options
        .bucket
        .clone()
        .or_else(|| configured.map(|s3| s3.bucket.clone()))
        .ok_or_else(|| {
            invalid(anyhow!(
                "name the bucket with --bucket NAME (or set bucket in [state] of {})",
                target.config_path().display()
            ))
        })?;
    if let Some(why) = bucket_name_error(&bucket) {
        return Err(invalid(anyhow!("--bucket: {why}")));
    }
    let same_bucket = configured.filter(|s3| s3.bucket == bucket);
    let kms_key_id = options
        .kms_key_id
        .clone()
        .or_else(|| same_bucket.and_then(|s3| s3.kms_key_id.clone()));
    let region = same_bucket
        .and_then(|s3| s3.region.clone())
        .unwrap_or_else(|| target.region(&config).to_owned());
    let aws = AwsClients::connect(&target.connect_options(&config)).await;
    let client = aws.s3_in(Some(&region));
    let setup = s3::ensure_state_bucket(&client, &bucket, &region, kms_key_id.as_deref()).await?;
    Ok(Initialized {
        bucket,
        region,
        changed: setup.changed,
    })
}

/// What `state migrate` did.
#[derive(Debug, Clone)]
pub struct Migrated {
    pub environment: String,
    pub from: String,
    pub to: String,
    /// `--state` (or `DEPLOYER_STATE`) that names the new place.
    pub state_option: String,
}

/// Moves the state of `target`'s environment from the backend it uses now (`--state`, else
/// `[state]`) to `to` (`s3://BUCKET/PREFIX/` or `local`): holding both locks, it writes the state
/// there (only where none is yet), then removes it from where it was.
///
/// Errors: `to` not a state location, or the same as now (invalid input); no state to move; a
/// different state already at `to` (left as it is); a held lock; AWS or file system errors.
pub async fn migrate(target: &Target, printer: &Printer, to: &str) -> Result<Migrated> {
    let config = target.load_config(printer)?;
    let destination_config =
        parse_state_url(to, &config.state).map_err(|why| invalid(anyhow!("--to: {why}")))?;
    if destination_config == config.state {
        return Err(invalid(anyhow!(
            "--to: the state of {} is already kept there",
            config.environment
        )));
    }
    let aws = AwsClients::connect(&target.connect_options(&config)).await;
    let source = target.backend(&config, &aws);
    let destination = Backend::new(
        &destination_config,
        &target.state_dir,
        &config.project,
        &config.environment,
        &aws,
    );
    let _source_lock = source
        .lock("state migrate", target.lock_timeout, printer)
        .await?;
    let _destination_lock = destination
        .lock("state migrate", target.lock_timeout, printer)
        .await?;
    let (state, mut source_revision) = target.load_state(&config, &source).await?;
    let Some(state) = state else {
        return Err(anyhow!(
            "no state of {}-{} at {} to move",
            config.project,
            config.environment,
            source.location()
        ));
    };
    let (existing, mut destination_revision) = target.load_state(&config, &destination).await?;
    match existing {
        Some(existing) if !same_content(&existing, &state) => {
            return Err(anyhow!(
                "{} already holds a different state of {}-{}; it was left as it is. Move or \
                 delete one of the two first",
                destination.location(),
                config.project,
                config.environment
            ))
        }
        Some(_) => {}
        None => destination.save(&state, &mut destination_revision)?,
    }
    source.remove(&mut source_revision)?;
    Ok(Migrated {
        environment: config.environment.clone(),
        from: source.location(),
        to: destination.location(),
        state_option: state_option(&destination_config),
    })
}

/// Whether two states record the same, whenever they were written.
fn same_content(a: &State, b: &State) -> bool {
    State {
        updated_at: 0,
        ..a.clone()
    } == State {
        updated_at: 0,
        ..b.clone()
    }
}

fn state_option(state: &StateConfig) -> String {
    match state {
        StateConfig::Local => "local".to_owned(),
        StateConfig::S3(s3) => s3.url(),
    }
}

fn invalid(error: anyhow::Error) -> anyhow::Error {
    ExitError::new(Exit::InvalidInput, error).into()
}
