//! The command line: argument definitions, and one module per command that turns arguments into
//! a call of the workflows in [`crate::ops`] and prints what it gives back. Nothing here knows
//! about AWS or its resources.

mod apply;
mod destroy;
mod exec;
mod force_unlock;
mod iam_policy;
mod import;
mod logs;
mod outputs;
mod plan;
mod report;
mod restart;
mod rollback;
mod run;
mod scale;
mod state;
mod status;
mod validate;
mod wait;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};

use crate::exit::{exit_for, Exit, ExitError};
use crate::interrupt::Interrupt;
use crate::ops::Target;
use crate::printer::Printer;

/// What `deployer --version` says after the name: the package version and the commit it was
/// built from (`unknown` for a source without git history or package metadata; see `build.rs`).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("DEPLOYER_BUILD_COMMIT"),
    ")"
);

/// Deploys a containerized web app to AWS ECS Fargate behind an Application Load Balancer.
///
/// The stack is described by a TOML file per environment (`envs/<env>.toml`). `apply` creates or
/// updates everything to match it, `destroy` removes everything it created, `outputs` prints the
/// values other tools need (such as the load balancer's DNS name) without calling AWS.
#[derive(Debug, Parser)]
#[command(
    name = "deployer",
    version = VERSION,
    propagate_version = true,
    max_term_width = 100
)]
#[command(after_help = "Examples:
  deployer plan --env dev                 show what apply would change
  deployer apply --env dev --yes          converge the dev stack without asking (CI)
  deployer apply --image-tag v42 --yes    deploy a freshly pushed image and follow it
  curl \"http://$(deployer outputs alb_dns_name)/\"
  deployer logs --follow                  the app's log lines as they come
  deployer run --yes -- flask db upgrade  a one-off task; exits with its exit code
  deployer destroy --env dev              remove the stack, after confirmation
  deployer state init --bucket acme-deployer-state      a bucket for a team's state
  deployer state migrate --to s3://acme-deployer-state/deployer/

Exit codes: 0 success, 1 error, 2 changes pending (plan --detailed-exitcode),
3 invalid input, 4 deployment failed or rolled back, 5 timed out, 6 release command failed,
130 interrupted; `run` exits with its task's exit code, or 125 when the task could not start.")]
pub struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// The environment: reads envs/<ENV>.toml [default: dev]. With --config, the file's
    /// `environment` must be ENV when it is given.
    #[arg(long, short, global = true, env = "DEPLOYER_ENV")]
    env: Option<String>,

    /// Read the configuration from this file instead of envs/<ENV>.toml.
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,

    /// Where state files are kept (one JSON file per environment).
    #[arg(
        long,
        global = true,
        env = "DEPLOYER_STATE_DIR",
        default_value = ".deployer",
        value_name = "DIR"
    )]
    state_dir: PathBuf,

    /// Where the state and the lock are kept: s3://BUCKET/PREFIX/ (shared by every machine), or
    /// "local" (files in --state-dir). Overrides [state] of the configuration file.
    #[arg(long, global = true, env = "DEPLOYER_STATE", value_name = "URL")]
    state: Option<String>,

    /// When another run holds the environment's lock, wait up to this many seconds for it
    /// instead of failing at once.
    #[arg(
        long,
        global = true,
        env = "DEPLOYER_LOCK_TIMEOUT",
        default_value_t = 0,
        value_name = "SECONDS"
    )]
    lock_timeout: u64,

    /// The AWS profile to use (default: the standard chain: environment, AWS_PROFILE, SSO, ...).
    #[arg(long, global = true, value_name = "NAME")]
    profile: Option<String>,

    /// Override the region of the configuration file.
    #[arg(long, global = true, value_name = "REGION")]
    region: Option<String>,

    /// Print only errors and warnings on stderr.
    #[arg(long, short, global = true)]
    quiet: bool,

    /// Log what the tool does, including every AWS call (-vv for more).
    #[arg(long, short, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create or update every resource so the stack matches the configuration.
    Apply(apply::ApplyArgs),
    /// Show what apply (or destroy) would change, without changing anything.
    Plan(plan::PlanArgs),
    /// Delete everything this tool created for the environment.
    Destroy(destroy::DestroyArgs),
    /// Print the stack's outputs from the state file (no AWS call, no credentials).
    Outputs(outputs::OutputsArgs),
    /// Show the service's deployments, running tasks, target health and URL.
    Status(status::StatusArgs),
    /// Put the service back on the previously deployed task definition revision.
    Rollback(rollback::RollbackArgs),
    /// Start a new deployment of the revision the service runs (new tasks, same image).
    Restart(restart::RestartArgs),
    /// Set the service's desired count now (within [autoscaling] min-max when configured).
    Scale(scale::ScaleArgs),
    /// Follow the service's current deployment until it completes, fails or times out.
    Wait(wait::WaitArgs),
    /// Print the stack's log lines (with their time and task), or follow them.
    Logs(logs::LogsArgs),
    /// Run a command in a one-off task of the revision the service runs; exits with its code.
    Run(run::RunArgs),
    /// Open a shell (or run a command) in a running task of the service (ECS Exec).
    Exec(exec::ExecArgs),
    /// Check the configuration file and report every problem; no AWS call.
    Validate,
    /// Remove the lock of an environment left by a run that is gone (on another machine).
    ForceUnlock,
    /// Look at the state, set up an S3 bucket for it, or move it between backends.
    #[command(subcommand)]
    State(state::StateCommand),
    /// Take over a running stack that Terraform made: writes envs/<ENV>.toml, the state and a
    /// removed.tf; changes nothing in AWS.
    Import(import::ImportArgs),
    /// Print the least-privilege IAM policy the other commands need for this stack (no AWS call).
    IamPolicy(iam_policy::IamPolicyArgs),
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                Exit::InvalidInput.code()
            } else {
                Exit::Success.code()
            });
        }
    };
    init_tracing(cli.global.verbose);
    let printer = Printer::new(cli.global.quiet);
    let global = &cli.global;
    let outcome = match &cli.command {
        // These touch only local files, so they answer at once, without an async runtime.
        Command::Validate => validate::run(global, &printer),
        Command::IamPolicy(args) => iam_policy::run(global, args, &printer),
        // These read the state, which may be on S3.
        Command::Outputs(args) => block_on(false, outputs::run(global, args, &printer)),
        Command::ForceUnlock => block_on(false, force_unlock::run(global, &printer)),
        Command::State(command) => {
            block_on(command.changes(), state::run(global, command, &printer))
        }
        Command::Apply(args) => block_on(true, apply::run(global, args, &printer)),
        Command::Plan(args) => block_on(false, plan::run(global, args, &printer)),
        Command::Destroy(args) => block_on(true, destroy::run(global, args, &printer)),
        Command::Status(args) => block_on(false, status::run(global, args, &printer)),
        Command::Rollback(args) => block_on(true, rollback::run(global, args, &printer)),
        Command::Restart(args) => block_on(true, restart::run(global, args, &printer)),
        Command::Scale(args) => block_on(true, scale::run(global, args, &printer)),
        Command::Wait(args) => block_on(false, wait::run(global, args, &printer)),
        Command::Import(args) => block_on(false, import::run(global, args, &printer)),
        Command::Logs(args) => block_on(false, logs::run(global, args, &printer)),
        Command::Run(args) => block_on(false, run::run(global, args, &printer)),
        Command::Exec(args) => block_on(false, exec::run(global, args, &printer)),
    };
    match outcome {
        Ok(exit) => ExitCode::from(exit.code()),
        Err(error) => {
            // The whole cause chain on one line: what failed, and why.
            eprintln!("error: {error:#}");
            ExitCode::from(exit_for(&error).code())
        }
    }
}

/// Runs a command that talks to AWS on a small runtime: its concurrency is waiting on the
/// network, so two workers are plenty. A command that takes the lock (`changes`) handles Ctrl-C
/// and SIGTERM from its first moment: exit 130, lock released (see `interrupt`).
fn block_on(
    changes: bool,
    command: impl std::future::Future<Output = Result<Exit>>,
) -> Result<Exit> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(async {
            if changes {
                Interrupt::install();
            }
            command.await
        })
}

fn init_tracing(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "warn",
        1 => "deployer=debug,aws_smithy_runtime=debug",
        _ => "debug",
    };
    let filter =
        EnvFilter::try_from_env("DEPLOYER_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    // Colours only for a person at a terminal; a CI log gets plain text. Without -v only
    // warnings are logged, and a timestamp adds nothing to those.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(ansi);
    if verbose == 0 {
        subscriber.without_time().init();
    } else {
        subscriber.init();
    }
}

/// The environment when neither `--env` nor `DEPLOYER_ENV` names one.
const DEFAULT_ENV: &str = "dev";

impl GlobalArgs {
    /// The stack these options name, for the workflows.
    fn target(&self) -> Target {
        Target {
            env: self.env.clone().unwrap_or_else(|| DEFAULT_ENV.to_owned()),
            env_given: self.env.is_some(),
            config: self.config.clone(),
            state_dir: self.state_dir.clone(),
            profile: self.profile.clone(),
            region: self.region.clone(),
            // An empty DEPLOYER_STATE (an unset CI variable) is no choice.
            state: self.state.clone().filter(|s| !s.is_empty()),
            lock_timeout: std::time::Duration::from_secs(self.lock_timeout),
        }
    }
}

/// Asks before a change unless `--yes`; refuses when nobody can be asked.
fn confirm(printer: &Printer, yes: bool, question: &str) -> Result<bool> {
    if yes {
        return Ok(true);
    }
    if !printer.can_prompt() {
        return Err(ExitError::new(
            Exit::InvalidInput,
            anyhow::anyhow!(
                "not running on a terminal, so there is nobody to confirm; pass --yes (or \
                 --auto-approve) to go ahead without asking"
            ),
        )
        .into());
    }
    Ok(printer.confirm(question)?)
}
