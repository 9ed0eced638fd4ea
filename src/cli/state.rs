//! `deployer state`: `show` prints the state, `init` sets up an S3 bucket to keep it in, `migrate`
//! moves it between the local and the S3 backend.

use anyhow::Result;
use clap::{Args, Subcommand};

use super::{confirm, GlobalArgs};
use crate::exit::Exit;
use crate::ops::state::{InitOptions, Initialized};
use crate::printer::Printer;

#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// Print the environment's state as JSON: IDs, ARNs and outputs (never a secret).
    #[command(after_help = "Examples:
  deployer state show --env dev
  deployer state show --env prod --state s3://acme-deployer-state/deployer/")]
    Show,
    /// Create or complete the S3 bucket for the state: versioning, default encryption (SSE-S3,
    /// or SSE-KMS with --kms-key-id), public access blocked, TLS-only policy. A second run only
    /// reads.
    #[command(after_help = "Examples:
  deployer state init --bucket acme-deployer-state
  deployer state init --bucket acme-deployer-state --kms-key-id alias/deployer-state")]
    Init(InitArgs),
    /// Move the environment's state to another backend (s3://BUCKET/PREFIX/ or local), lock
    /// and all; the old copy is removed once the new one is written.
    #[command(after_help = "Examples:
  deployer state migrate --env dev --to s3://acme-deployer-state/deployer/
  deployer state migrate --env dev --state s3://acme-deployer-state/deployer/ --to local")]
    Migrate(MigrateArgs),
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The bucket (default: bucket in [state]).
    #[arg(long, value_name = "NAME")]
    bucket: Option<String>,
    /// Encrypt with this KMS key (ID, alias/NAME or ARN) instead of SSE-S3 (default:
    /// kms_key_id in [state]).
    #[arg(long, value_name = "KEY")]
    kms_key_id: Option<String>,
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Where the state goes: s3://BUCKET/PREFIX/ or local.
    #[arg(long, value_name = "URL")]
    to: String,
    /// Go ahead without asking.
    #[arg(long, short, alias = "auto-approve")]
    yes: bool,
}

impl StateCommand {
    /// Whether the command changes anything (and so handles Ctrl-C as a changing command does).
    pub fn changes(&self) -> bool {
        !matches!(self, StateCommand::Show)
    }
}

pub async fn run(global: &GlobalArgs, command: &StateCommand, printer: &Printer) -> Result<Exit> {
    let target = global.target();
    match command {
        StateCommand::Show => {
            let (location, state) = crate::ops::state::show(&target, printer).await?;
            match state {
                Some(state) => {
                    printer.info(&format!("State at {location}:"));
                    printer.data(&serde_json::to_string_pretty(&state)?);
                }
                None => printer.info(&format!("No state at {location}: nothing is recorded.")),
            }
        }
        StateCommand::Init(args) => {
            let options = InitOptions {
                bucket: args.bucket.clone(),
                kms_key_id: args.kms_key_id.clone(),
            };
            let Initialized {
                bucket,
                region,
                changed,
            } = crate::ops::state::init(&target, printer, &options).await?;
            if changed.is_empty() {
                printer.info(&format!(
                    "Bucket {bucket} ({region}) is already set up for the state; nothing changed."
                ));
            } else {
                printer.info(&format!(
                    "Bucket {bucket} ({region}) set up for the state: {}.",
                    changed.join(", ")
                ));
            }
            printer.info(&format!(
                "Use it with [state] backend = \"s3\", bucket = \"{bucket}\" in the environment \
                 file, or --state s3://{bucket}/deployer/ (DEPLOYER_STATE); `deployer state \
                 migrate --to s3://{bucket}/deployer/` moves an existing state there."
            ));
        }
        StateCommand::Migrate(args) => {
            if !confirm(
                printer,
                args.yes,
                &format!("Move the state of {} to {}?", target.env, args.to),
            )? {
                printer.info("Nothing moved.");
                return Ok(Exit::Success);
            }
            let migrated = crate::ops::state::migrate(&target, printer, &args.to).await?;
            printer.info(&format!(
                "Moved the state of {} from {} to {}. Make every run use it: --state {} (or \
                 DEPLOYER_STATE), or [state] in the environment file.",
                migrated.environment, migrated.from, migrated.to, migrated.state_option
            ));
        }
    }
    Ok(Exit::Success)
}
